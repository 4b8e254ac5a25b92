//! Text normalization (docs/format.md §3.2–3.4): line endings, NFKC, spaces, trimming.
//!
//! Most lines of real exports are already normal (CJK ideographs, ASCII, a handful of Chinese
//! punctuation marks that NFKC leaves alone), so each line is first checked by a byte scan and
//! copied as it is. Most other lines are raw exports whose only difference is full-width ASCII
//! forms and U+3000 spaces: those are mapped character by character. Only what is left goes
//! through NFKC. That keeps normalization from dominating the transform.

use unicode_normalization::UnicodeNormalization;

/// A non-blank normalized line and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number in the input.
    pub no: usize,
    pub text: &'a str,
}

/// The normalized text of a file: every non-blank line, in order.
#[derive(Debug, Default)]
pub struct Normalized {
    buf: String,
    spans: Vec<(usize, usize, usize)>,
}

impl Normalized {
    /// The buffer every line is a slice of, in order (with whatever separates them).
    pub fn text(&self) -> &str {
        &self.buf
    }

    pub fn lines(&self) -> impl DoubleEndedIterator<Item = Line<'_>> + ExactSizeIterator + '_ {
        self.spans.iter().map(move |&(no, start, end)| Line {
            no,
            text: &self.buf[start..end],
        })
    }

    pub fn line(&self, index: usize) -> Line<'_> {
        let (no, start, end) = self.spans[index];
        Line {
            no,
            text: &self.buf[start..end],
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Normalizes a whole decoded text, line by line (`\r\n`, `\r` and `\n` all end a line).
pub fn normalize(text: &str) -> Normalized {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { normalize_avx2(text) };
        }
    }
    normalize_portable(text)
}

/// `normalize` compiled for AVX2: the byte checks go 32 bytes a step instead of SSE2's 16.
/// The portable build cannot assume AVX2; this copy is chosen at run time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn normalize_avx2(text: &str) -> Normalized {
    normalize_portable(text)
}

#[inline(always)]
fn normalize_portable(text: &str) -> Normalized {
    let mut out = Normalized {
        buf: String::with_capacity(text.len()),
        spans: Vec::with_capacity(text.len() / 64 + 8),
    };
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut no = 1;
    while start <= bytes.len() {
        let end = memchr::memchr2(b'\n', b'\r', &bytes[start..])
            .map(|i| start + i)
            .unwrap_or(bytes.len());
        push_line(&mut out, &text[start..end], no);
        no += 1;
        if end >= bytes.len() {
            break;
        }
        start = if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
    }
    out
}

/// Normalizes one line on its own (no line breaks expected): for trailer fields, settings, tests.
pub fn normalize_line(line: &str) -> String {
    if is_clean(line.as_bytes()) {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    if !map_full_width_into(line, &mut out) {
        slow_normalize_into(line, &mut out);
    }
    out
}

#[inline(always)]
fn push_line(out: &mut Normalized, line: &str, no: usize) {
    let start = out.buf.len();
    if is_clean(line.as_bytes()) {
        out.buf.push_str(line);
    } else if !map_full_width_into(line, &mut out.buf) {
        slow_normalize_into(line, &mut out.buf);
    }
    let end = out.buf.len();
    if end > start {
        out.spans.push((no, start, end));
    }
}

/// NFKC, then: whitespace (U+3000, NBSP, tabs… which NFKC mostly turns into U+0020) becomes
/// one space, invisible characters vanish, and the line is trimmed.
fn slow_normalize_into(line: &str, out: &mut String) {
    let start = out.len();
    let mut pending_space = false;
    // Invisible and control characters go before NFKC, not after: removed afterwards, they
    // would leave a base character and a combining mark side by side, uncombined, and a
    // second normalization would combine them (`か\u{200B}\u{3099}` must become `が`).
    let visible = line
        .chars()
        .filter(|&c| !is_invisible(c) && (c.is_whitespace() || !c.is_control()));
    for c in visible.nfkc() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && out.len() > start {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
}

/// The raw exports' usual line: clean characters (`is_clean_at`), full-width ASCII forms
/// (U+FF01–U+FF5E, which NFKC maps to U+0021–U+007E: the Chinese comma, colon, brackets…) and
/// spaces (U+0020, tab, U+3000). Every one of them is a starter that composes with none of the
/// others, so NFKC maps the line character by character; this does the same on bytes, copying
/// runs of clean characters whole. Any other character: returns false with `out` as it was,
/// for `slow_normalize_into`.
#[inline(always)]
fn map_full_width_into(line: &str, out: &mut String) -> bool {
    let b = line.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let start = out.len();
    let mut pending_space = false;
    // Where the run of clean characters being passed over began.
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        // The bulk of the text, 16 bytes at a time (a branch-free test the compiler
        // vectorizes): ideographs (U+4000–U+9FFF) and printable ASCII but space. The chunk
        // may end inside a character: its continuation bytes are passed one by one below.
        if let Some(chunk) = b.get(i..i + 16) {
            if chunk.iter().fold(true, |ok, &c| ok & is_plain(c)) {
                i += 16;
                continue;
            }
        }
        let c = b[i];
        if c.wrapping_sub(0xE4) < 6 {
            i += 3;
            continue;
        }
        if (c.wrapping_sub(0x21) < 0x5E) | (c.wrapping_sub(0x80) < 0x40) {
            i += 1;
            continue;
        }
        let (n1, n2) = (at(i + 1), at(i + 2));
        let (width, mapped, space) = match (c, n1, n2) {
            (b' ' | b'\t', _, _) => (1, None, true),
            (0xE3, 0x80, 0x80) => (3, None, true),
            // U+FF01–U+FF3F and U+FF40–U+FF5E.
            (0xEF, 0xBC, 0x81..=0xBF) => (3, Some(n2 - 0x60), false),
            (0xEF, 0xBD, 0x80..=0x9E) => (3, Some(n2 - 0x20), false),
            _ if is_clean_at(c, n1, n2) => {
                // Clean punctuation: two or three bytes, part of the run.
                i += if c < 0xE0 { 2 } else { 3 };
                continue;
            }
            _ => {
                out.truncate(start);
                return false;
            }
        };
        push_run(out, start, &line[run..i], &mut pending_space);
        if space {
            pending_space = true;
        } else if let Some(ascii) = mapped {
            push_run(
                out,
                start,
                char::from(ascii).encode_utf8(&mut [0; 4]),
                &mut pending_space,
            );
        }
        i += width;
        run = i;
    }
    push_run(out, start, &line[run..], &mut pending_space);
    true
}

/// Printable ASCII but space, a UTF-8 continuation byte, or the lead byte of an ideograph
/// (U+4000–U+9FFF): bytes of text that normalization leaves as they are.
#[inline(always)]
fn is_plain(c: u8) -> bool {
    (c.wrapping_sub(0x21) < 0x5E) | (c.wrapping_sub(0x80) < 0x40) | (c.wrapping_sub(0xE4) < 6)
}

/// Appends `text` (nothing when empty), after one space when spaces came before it and it is
/// not the line's first text.
fn push_run(out: &mut String, start: usize, text: &str, pending_space: &mut bool) {
    if text.is_empty() {
        return;
    }
    if *pending_space && out.len() > start {
        out.push(' ');
    }
    *pending_space = false;
    out.push_str(text);
}

/// Zero-width and other characters that print as nothing.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
    )
}

/// True when the line is certainly unchanged by normalization: no leading, trailing or doubled
/// space, and only characters known to be NFKC-stable starters: printable ASCII, CJK
/// ideographs (U+4000–U+9FFF, lead bytes E4–E9), and the common Chinese punctuation marks.
///
/// One branch-free pass over each byte and the two after it, which the compiler vectorizes,
/// rather than a branchy walk over the characters.
#[inline(always)]
fn is_clean(b: &[u8]) -> bool {
    if b.first() == Some(&b' ') || b.last() == Some(&b' ') {
        return false;
    }
    let n = b.len();
    let body = if n >= 2 {
        b.iter()
            .zip(&b[1..])
            .zip(&b[2..])
            .fold(true, |ok, ((&c, &n1), &n2)| ok & is_clean_at(c, n1, n2))
    } else {
        true
    };
    // The last two bytes, with nothing after them.
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let tail = n.saturating_sub(2)..n;
    body && tail
        .into_iter()
        .all(|i| is_clean_at(b[i], at(i + 1), at(i + 2)))
}

/// Is byte `c`, followed by `n1` and `n2`, part of a clean line? Continuation bytes are, as
/// their lead byte was checked (the input is valid UTF-8).
#[inline(always)]
fn is_clean_at(c: u8, n1: u8, n2: u8) -> bool {
    let alone = ((c.wrapping_sub(0x20) < 0x5F) & !((c == b' ') & (n1 == b' ')))
        | (c.wrapping_sub(0x80) < 0x40)
        | (c.wrapping_sub(0xE4) < 6);
    // U+2014 —, U+2018 ‘, U+2019 ’, U+201C “, U+201D ”, and U+25A0–U+25FF (geometric shapes,
    // the byline markers □ ■ ◎ ●: none decomposes).
    let e2 = (c == 0xE2)
        & (((n1 == 0x80)
            & ((n2 == 0x94) | (n2 == 0x98) | (n2 == 0x99) | (n2 == 0x9C) | (n2 == 0x9D)))
            | (n1 == 0x97)
            | ((n1 == 0x96) & (n2 >= 0xA0)));
    // U+3001 、 U+3002 。 U+3008–U+3011 〈〉《》「」『』【】
    let e3 =
        (c == 0xE3) & (n1 == 0x80) & ((n2 == 0x81) | (n2 == 0x82) | (n2.wrapping_sub(0x88) < 10));
    // U+00B7 ·
    let c2 = (c == 0xC2) & (n1 == 0xB7);
    alone | e2 | e3 | c2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(usize, String)> {
        normalize(text)
            .lines()
            .map(|l| (l.no, l.text.to_owned()))
            .collect()
    }

    #[test]
    fn line_endings_and_blank_lines() {
        assert_eq!(
            lines("a\r\n\r\nb\rc\n\n"),
            vec![(1, "a".into()), (3, "b".into()), (4, "c".into())]
        );
    }

    #[test]
    fn full_width_forms_and_spaces() {
        assert_eq!(
            lines("\u{3000}\u{3000}兴宾区：大力（推进），好\u{00A0}\u{00A0}的\u{200B}"),
            vec![(1, "兴宾区:大力(推进),好 的".into())]
        );
    }

    #[test]
    fn clean_lines_are_copied_and_stay_stable() {
        for s in [
            "“四下基层”出实招 主题教育见实效",
            "2024年01月02日",
            "党的声音“聚民力”、《报》。",
            "—— 副题",
            "□ 韦素莹 ■ ◎ ●",
        ] {
            assert!(is_clean(s.as_bytes()), "{s}");
            assert_eq!(normalize_line(s), s.nfkc().collect::<String>());
        }
        for s in ["a  b", " a", "a ", "，", "…", "\u{3000}x", "x\u{200B}"] {
            assert!(!is_clean(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn invisible_characters_do_not_keep_marks_apart() {
        let once = normalize_line("か\u{200B}\u{3099}");
        assert_eq!(once, "が");
        assert_eq!(normalize_line(&once), once);
        assert_eq!(normalize_line("e\u{0007}\u{301}"), "é");
    }

    /// The general path, for comparing the fast ones with.
    fn slow(line: &str) -> String {
        let mut out = String::new();
        slow_normalize_into(line, &mut out);
        out
    }

    #[test]
    fn full_width_lines_are_mapped_as_nfkc_would() {
        for s in [
            "\u{3000}\u{3000}记者：张三，李四（实习）！",
            "ａｂｃ１２３～",
            "\t“引号”\u{3000}\u{3000}、。 《书名》 ",
            "",
        ] {
            let mut out = String::new();
            assert!(map_full_width_into(s, &mut out), "{s:?}");
            assert_eq!(out, slow(s), "{s:?}");
        }
        let mut out = String::from("kept");
        assert!(!map_full_width_into("，…", &mut out));
        assert_eq!(out, "kept", "a refused line leaves the buffer as it was");
    }

    /// The clean characters are listed twice, as bytes (`is_clean_at`, vectorized) and as
    /// characters (`map_full_width_into`): the two lists must agree.
    #[test]
    fn both_fast_paths_know_the_same_clean_characters() {
        for c in (0x21..0x10000).filter_map(char::from_u32) {
            let line = c.to_string();
            let mut mapped = String::new();
            let kept = map_full_width_into(&line, &mut mapped) && mapped == line;
            assert_eq!(is_clean(line.as_bytes()), kept, "U+{:04X}", c as u32);
        }
    }

    proptest::proptest! {
        /// Lines from an alphabet around the fast paths' edges: whatever path a line takes,
        /// it comes out as NFKC plus the space rules make it.
        #[test]
        fn fast_paths_agree_with_nfkc(
            chars in proptest::collection::vec(proptest::sample::select(vec![
                'a', 'Z', '1', ' ', ' ', '\t', ',', '~', '\u{7F}', '\u{1F}', '中', '国', '䀀', '鿿',
                '\u{3000}', '，', '：', '（', '～', '！', '、', '。', '《', '》', '〒', '“', '”', '—',
                '…', '·', '□', '■', '◎', '●', '▶', '\u{200B}', '\u{FEFF}', '\u{3099}', 'か',
                'é', '\u{301}', 'ｶ', '①', '㈱', '\u{A0}',
            ]), 0..40)
        ) {
            let line: String = chars.into_iter().collect();
            proptest::prop_assert_eq!(normalize_line(&line), slow(&line), "{:?}", line);
        }
    }

    #[test]
    fn ellipsis_becomes_three_dots() {
        assert_eq!(normalize_line("等等……"), "等等......");
    }
}
