//! SHA-256 of two messages at once: every article needs the digest of its raw file and of its
//! content, and on one core these two hashes were a quarter of the transform.
//!
//! With the x86 SHA extensions, one message's rounds form a single dependency chain: each
//! `sha256rnds2` waits for the one before, and the SHA unit idles in between. Stepping a second,
//! independent message through the same rounds fills those gaps, so two digests cost little
//! more than one. The `sha2` crate hashes one message at a time and no well-kept crate hashes
//! two unequal messages together, hence this module: the paired block function is written
//! here, everything else (the single-message block function for the longer message's last
//! blocks, and the whole fallback on other CPUs) is `sha2`'s. The tests compare it with `sha2`
//! on every length up to several blocks and on random messages.

use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};

/// The SHA-256 digests of `a` and of `b`.
pub fn sha256_pair(a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if shani::available() {
            return paired(a, b);
        }
    }
    (Sha256::digest(a).into(), Sha256::digest(b).into())
}

/// The initial hash value (FIPS 180-4, 5.3.3).
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A message cut into 64-byte blocks: its whole blocks in place, then its last bytes with the
/// padding (one or two blocks).
struct Blocks<'a> {
    whole: &'a [u8],
    tail: [u8; 128],
    tail_blocks: usize,
}

impl<'a> Blocks<'a> {
    fn new(message: &'a [u8]) -> Self {
        let split = message.len() - message.len() % 64;
        let (whole, rest) = message.split_at(split);
        let mut tail = [0u8; 128];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()] = 0x80;
        // The bit length goes in the last eight bytes; with more than 55 bytes left over it
        // does not fit the same block.
        let tail_blocks = if rest.len() < 56 { 1 } else { 2 };
        let bits = (message.len() as u64).wrapping_mul(8);
        tail[tail_blocks * 64 - 8..tail_blocks * 64].copy_from_slice(&bits.to_be_bytes());
        Blocks {
            whole,
            tail,
            tail_blocks,
        }
    }

    fn len(&self) -> usize {
        self.whole.len() / 64 + self.tail_blocks
    }

    fn block(&self, i: usize) -> &[u8; 64] {
        let whole = self.whole.len() / 64;
        let bytes = if i < whole {
            &self.whole[i * 64..(i + 1) * 64]
        } else {
            &self.tail[(i - whole) * 64..(i - whole + 1) * 64]
        };
        bytes.try_into().expect("64-byte block")
    }
}

fn finish(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(target_arch = "x86_64")]
fn paired(a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
    let (a, b) = (Blocks::new(a), Blocks::new(b));
    let (mut sa, mut sb) = (H0, H0);
    let both = a.len().min(b.len());
    // SAFETY: `paired` runs only when `shani::available()` said the CPU has the instructions.
    unsafe { shani::compress_pairs(&mut sa, &mut sb, both, |i| (a.block(i), b.block(i))) };
    for (state, blocks) in [(&mut sa, &a), (&mut sb, &b)] {
        for i in both..blocks.len() {
            sha2::compress256(state, &[*GenericArray::from_slice(blocks.block(i))]);
        }
    }
    (finish(&sa), finish(&sb))
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use std::arch::x86_64::*;

    /// Does this CPU have the SHA extensions (and SSE4.1, SSSE3 for the shuffles)?
    pub fn available() -> bool {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            is_x86_feature_detected!("sha")
                && is_x86_feature_detected!("sse4.1")
                && is_x86_feature_detected!("ssse3")
        })
    }

    /// The round constants (FIPS 180-4, 4.2.2), four to a vector.
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// A state as the instructions hold it: words A, B, E, F in one vector, C, D, G, H in the
    /// other (highest lane first).
    #[derive(Clone, Copy)]
    struct State {
        abef: __m128i,
        cdgh: __m128i,
    }

    #[inline]
    #[target_feature(enable = "sha,sse4.1,ssse3")]
    unsafe fn load(h: &[u32; 8]) -> State {
        let abcd = _mm_loadu_si128(h.as_ptr().cast());
        let efgh = _mm_loadu_si128(h.as_ptr().add(4).cast());
        // Lanes (low to high) A B C D and E F G H become F E B A and H G D C.
        let cdab = _mm_shuffle_epi32(abcd, 0xB1);
        let hgfe = _mm_shuffle_epi32(efgh, 0x1B);
        State {
            abef: _mm_alignr_epi8(cdab, hgfe, 8),
            cdgh: _mm_blend_epi16(hgfe, cdab, 0xF0),
        }
    }

    #[inline]
    #[target_feature(enable = "sha,sse4.1,ssse3")]
    unsafe fn store(s: State, h: &mut [u32; 8]) {
        let feba = _mm_shuffle_epi32(s.abef, 0x1B);
        let dchg = _mm_shuffle_epi32(s.cdgh, 0xB1);
        let abcd = _mm_blend_epi16(feba, dchg, 0xF0);
        let efgh = _mm_alignr_epi8(dchg, feba, 8);
        _mm_storeu_si128(h.as_mut_ptr().cast(), abcd);
        _mm_storeu_si128(h.as_mut_ptr().add(4).cast(), efgh);
    }

    /// The message words of a block, big-endian, four to a vector.
    #[inline]
    #[target_feature(enable = "sha,sse4.1,ssse3")]
    unsafe fn words(block: &[u8; 64]) -> [__m128i; 4] {
        let swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let p: *const __m128i = block.as_ptr().cast();
        [
            _mm_shuffle_epi8(_mm_loadu_si128(p), swap),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), swap),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), swap),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), swap),
        ]
    }

    /// Four rounds with the message words `w` (already in schedule order).
    #[inline]
    #[target_feature(enable = "sha,sse4.1,ssse3")]
    unsafe fn rounds4(s: &mut State, w: __m128i, group: usize) {
        let k = _mm_loadu_si128(K.as_ptr().add(4 * group).cast());
        let wk = _mm_add_epi32(w, k);
        s.cdgh = _mm_sha256rnds2_epu32(s.cdgh, s.abef, wk);
        s.abef = _mm_sha256rnds2_epu32(s.abef, s.cdgh, _mm_shuffle_epi32(wk, 0x0E));
    }

    /// The next four schedule words from the sixteen before them (`w0` oldest).
    #[inline]
    #[target_feature(enable = "sha,sse4.1,ssse3")]
    unsafe fn schedule(w0: __m128i, w1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
        let sigma0 = _mm_sha256msg1_epu32(w0, w1);
        let w7 = _mm_alignr_epi8(w3, w2, 4);
        _mm_sha256msg2_epu32(_mm_add_epi32(sigma0, w7), w3)
    }

    /// Compresses `count` pairs of blocks, `block(i)` giving the i-th block of each message,
    /// into the two states, one round of one message beside the same round of the other.
    ///
    /// # Safety
    /// The CPU must have the SHA extensions, SSE4.1 and SSSE3 (`available()`).
    #[target_feature(enable = "sha,sse4.1,ssse3")]
    pub unsafe fn compress_pairs<'a>(
        ha: &mut [u32; 8],
        hb: &mut [u32; 8],
        count: usize,
        block: impl Fn(usize) -> (&'a [u8; 64], &'a [u8; 64]),
    ) {
        let (mut a, mut b) = (load(ha), load(hb));
        for i in 0..count {
            let (block_a, block_b) = block(i);
            let (start_a, start_b) = (a, b);
            let (mut wa, mut wb) = (words(block_a), words(block_b));
            for group in 0..4 {
                rounds4(&mut a, wa[group], group);
                rounds4(&mut b, wb[group], group);
            }
            for group in 4..16 {
                let n = group % 4;
                wa[n] = schedule(wa[n], wa[(n + 1) % 4], wa[(n + 2) % 4], wa[(n + 3) % 4]);
                wb[n] = schedule(wb[n], wb[(n + 1) % 4], wb[(n + 2) % 4], wb[(n + 3) % 4]);
                rounds4(&mut a, wa[n], group);
                rounds4(&mut b, wb[n], group);
            }
            a.abef = _mm_add_epi32(a.abef, start_a.abef);
            a.cdgh = _mm_add_epi32(a.cdgh, start_a.cdgh);
            b.abef = _mm_add_epi32(b.abef, start_b.abef);
            b.cdgh = _mm_add_epi32(b.cdgh, start_b.cdgh);
        }
        store(a, ha);
        store(b, hb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(m: &[u8]) -> [u8; 32] {
        Sha256::digest(m).into()
    }

    #[test]
    fn every_length_pairing_up_to_several_blocks() {
        let data: Vec<u8> = (0..400u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for la in 0..=200 {
            for lb in [
                0,
                1,
                55,
                56,
                63,
                64,
                65,
                119,
                120,
                128,
                129,
                la,
                200 - la,
                399,
            ] {
                let (a, b) = (&data[..la], &data[1..1 + lb]);
                assert_eq!(sha256_pair(a, b), (expected(a), expected(b)), "{la} {lb}");
            }
        }
    }

    /// The tests above go through the paired block function wherever the CPU has it (on
    /// others, `sha256_pair` is `sha2` twice and they compare it with itself).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_paired_path_is_the_one_tested_here() {
        let has = is_x86_feature_detected!("sha")
            && is_x86_feature_detected!("sse4.1")
            && is_x86_feature_detected!("ssse3");
        assert_eq!(shani::available(), has);
        if !has {
            eprintln!("NOTE: no SHA extensions on this CPU: the paired path is not exercised");
        }
    }

    #[test]
    fn known_digests() {
        let (empty, abc) = sha256_pair(b"", b"abc");
        assert_eq!(
            hex::encode(empty),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(abc),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest::proptest! {
        #[test]
        fn random_messages(
            a in proptest::collection::vec(proptest::num::u8::ANY, 0..5000),
            b in proptest::collection::vec(proptest::num::u8::ANY, 0..5000),
        ) {
            proptest::prop_assert_eq!(sha256_pair(&a, &b), (expected(&a), expected(&b)));
        }
    }
}
