//! Hostile and broken archives: each ends in its stable problem code, what came before a
//! corruption stays delivered, and limits stop the read.

use super::*;

fn stored() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
}

/// Edits a zip's headers of the entry `name` in place: `local` gets the local header (at its
/// signature), `central` the central directory header.
fn patch_zip(bytes: &mut [u8], name: &str, local: impl Fn(&mut [u8]), central: impl Fn(&mut [u8])) {
    let n = name.as_bytes();
    let mut patched = 0;
    for at in 0..bytes.len().saturating_sub(46 + n.len()) {
        if bytes[at..].starts_with(b"PK\x03\x04") && bytes[at + 30..].starts_with(n) {
            local(&mut bytes[at..]);
            patched += 1;
        } else if bytes[at..].starts_with(b"PK\x01\x02") && bytes[at + 46..].starts_with(n) {
            central(&mut bytes[at..]);
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "both headers of {name}");
}

#[test]
fn unsafe_names_are_refused_and_reported_only_when_wanted() {
    let dir = TempDir::new().unwrap();
    let names: [&str; 6] = [
        "../evil.txt",
        "/etc/evil.txt",
        "a/../../up.txt",
        "./ok.txt",
        "../skip.bin",
        "a/./b//c.txt",
    ];
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, b"x" as &[u8])).collect();
    let tar = put(&dir, "u.tar", &tar_bytes(&files));
    let mut zip_files = files.clone();
    zip_files.push(("..\\win.txt", b"x"));
    zip_files.push(("C:/drive.txt", b"x"));
    let zip = put(&dir, "u.zip", &zip_bytes(&zip_files));
    for (path, format, unsafe_count) in [(tar, Format::Tar, 3), (zip, Format::Zip, 5)] {
        let got = read_with(&path, format, &Limits::default(), &|n| n.ends_with(".txt"));
        assert_eq!(got.names(), vec!["ok.txt", "a/b/c.txt"], "{format:?}");
        assert_eq!(
            got.codes(),
            vec!["unsafe_path"; unsafe_count],
            "{format:?}: not ../skip.bin"
        );
        assert_eq!(got.problems[0].member.as_deref(), Some("../evil.txt"));
    }
}

#[test]
fn links_are_never_followed() {
    let dir = TempDir::new().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    tar_add(&mut b, "real.txt", EntryType::Regular, b"real");
    let mut link = tar_header("soft.txt", EntryType::Symlink, 0);
    link.set_link_name("/etc/passwd").unwrap();
    link.set_cksum();
    b.append(&link, &[][..]).unwrap();
    let mut hard = tar_header("hard.txt", EntryType::Link, 0);
    hard.set_link_name("real.txt").unwrap();
    hard.set_cksum();
    b.append(&hard, &[][..]).unwrap();
    let tar = put(&dir, "l.tar", &b.into_inner().unwrap());
    let got = read_all(&tar, Format::Tar);
    assert_eq!(got.names(), vec!["real.txt"]);
    assert_eq!(got.codes(), vec!["link_member", "link_member"]);

    let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("real.txt", SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"real").unwrap();
    w.add_symlink("soft.txt", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    let zip = put(&dir, "l.zip", &w.finish().unwrap().into_inner());
    let got = read_all(&zip, Format::Zip);
    assert_eq!(got.names(), vec!["real.txt"]);
    assert_eq!(got.codes(), vec!["link_member"]);
    assert_eq!(got.problems[0].member.as_deref(), Some("soft.txt"));
}

#[test]
fn encrypted_and_unsupported_zip_entries_are_reported_and_skipped() {
    let dir = TempDir::new().unwrap();
    let files: [(&str, &[u8]); 3] = [
        ("secret.txt", b"hidden"),
        ("bzip.txt", b"bz"),
        ("ok.txt", b"fine"),
    ];
    let mut bytes = zip_with(&files, SimpleFileOptions::default());
    // Bit 0 of the general purpose flags: encrypted (local header at 6, central at 8).
    patch_zip(&mut bytes, "secret.txt", |h| h[6] |= 1, |h| h[8] |= 1);
    // Method 12 is bzip2, which this build does not read (local header at 8, central at 10).
    patch_zip(&mut bytes, "bzip.txt", |h| h[8] = 12, |h| h[10] = 12);
    let path = put(&dir, "e.zip", &bytes);
    let got = read_all(&path, Format::Zip);
    assert_eq!(got.names(), vec!["ok.txt"]);
    assert_eq!(got.codes(), vec!["encrypted", "unsupported"]);
    assert_eq!(got.problems[1].member.as_deref(), Some("bzip.txt"));
    let got = read_with(&path, Format::Zip, &Limits::default(), &|n| n == "ok.txt");
    assert_eq!(
        got.codes(),
        Vec::<&str>::new(),
        "unwanted entries' problems are not reported"
    );
}

#[test]
fn a_truncated_zip_is_read_from_its_local_headers_then_corrupt() {
    let dir = TempDir::new().unwrap();
    let (a, b, c) = (noise(3000, 1), noise(3000, 2), noise(3000, 3));
    let bytes = zip_with(&[("a.txt", &a), ("b.txt", &b), ("c.txt", &c)], stored());
    // Cut inside c.txt's data: no central directory, two members whole.
    let cut = put(&dir, "cut.zip", &bytes[..2 * 3040 + 1500]);
    let got = read_all(&cut, Format::Zip);
    assert_eq!(got.names(), vec!["a.txt", "b.txt"]);
    assert_eq!(got.members[1].bytes, b);
    assert_eq!(got.codes(), vec!["corrupt"]);
    assert_eq!(got.problems[0].member, None);
    // Cut inside the central directory: every member, then corrupt.
    let end = bytes.len() - 30;
    let got = read_all(&put(&dir, "cd.zip", &bytes[..end]), Format::Zip);
    assert_eq!(got.names(), vec!["a.txt", "b.txt", "c.txt"]);
    assert_eq!(got.codes(), vec!["corrupt"]);
}

#[test]
fn a_corrupt_zip_member_is_reported_and_the_next_read() {
    let dir = TempDir::new().unwrap();
    let mut bytes = zip_with(
        &[
            ("a.txt", b"aaaa"),
            ("b.txt", b"bbbbbbbb"),
            ("c.txt", b"cccc"),
        ],
        stored(),
    );
    let at = bytes.windows(8).position(|w| w == b"bbbbbbbb").unwrap();
    bytes[at + 3] = b'X'; // the CRC no longer matches
    let got = read_all(&put(&dir, "crc.zip", &bytes), Format::Zip);
    assert_eq!(got.names(), vec!["a.txt", "c.txt"]);
    assert_eq!(got.codes(), vec!["corrupt"]);
    assert_eq!(got.problems[0].member.as_deref(), Some("b.txt"));
}

#[test]
fn a_truncated_or_corrupt_stream_keeps_what_came_before() {
    let dir = TempDir::new().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("m{i}.txt"), noise(60_000, i + 1)))
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let tar = tar_bytes(&refs);
    for (name, packed, format) in [
        ("t.tar", tar.clone(), Format::Tar),
        ("t.tar.gz", gz(&tar), Format::TarGz),
        ("t.tar.zst", zst(&tar), Format::TarZst),
        ("t.tar.xz", xz(&tar), Format::TarXz),
    ] {
        let cut = &packed[..packed.len() * 6 / 10];
        let got = read_all(&put(&dir, name, cut), format);
        assert!(
            !got.members.is_empty() && got.members.len() < 4,
            "{name}: {:?} {:?}",
            got.names(),
            got.problems
        );
        assert_eq!(got.members[0].bytes, files[0].1, "{name}");
        assert_eq!(got.codes(), vec!["corrupt"], "{name}");
        assert_eq!(got.problems[0].member, None, "{name}");
    }
    // A header in the middle of a tar that fails its checksum.
    let mut bad = tar.clone();
    // zstd decodes a block (up to 128 KiB) at once: the members are big enough for several.
    let second = 512 + 60_416;
    bad[second] ^= 0x20;
    let got = read_all(&put(&dir, "mid.tar", &bad), Format::Tar);
    assert_eq!(got.names(), vec!["m0.txt"]);
    assert_eq!(got.codes(), vec!["corrupt"]);
    assert!(
        got.problems[0].message.contains("checksum"),
        "{}",
        got.problems[0].message
    );
    // Single compressed files, cut short.
    let text = noise(50_000, 5);
    for (name, packed, format) in [
        ("s.gz", gz(&text), Format::Gz),
        ("s.zst", zst(&text), Format::Zst),
        ("s.xz", xz(&text), Format::Xz),
    ] {
        let got = read_all(&put(&dir, name, &packed[..packed.len() / 2]), format);
        assert_eq!(
            (got.names().len(), got.codes()),
            (0, vec!["corrupt"]),
            "{name}"
        );
    }
}

#[test]
fn too_many_members_stops() {
    let dir = TempDir::new().unwrap();
    let files: [(&str, &[u8]); 5] = [
        ("1", b"1"),
        ("2/", b""),
        ("3", b"3"),
        ("4", b"4"),
        ("5", b"5"),
    ];
    let limits = Limits {
        max_members: 3,
        ..Limits::default()
    };
    for (name, bytes, format) in [
        ("m.tar", tar_bytes(&files), Format::Tar),
        ("m.zip", zip_bytes(&files), Format::Zip),
    ] {
        let got = read_with(&put(&dir, name, &bytes), format, &limits, &|_| true);
        assert_eq!(
            got.names(),
            vec!["1", "3"],
            "the directory counts as an entry"
        );
        assert_eq!(got.codes(), vec!["too_many_members"]);
        assert_eq!(got.summary.entries, 4);
    }
}

#[test]
fn too_many_bytes_in_all_stops() {
    let dir = TempDir::new().unwrap();
    let data = noise(10_000, 4);
    let files: Vec<(&str, &[u8])> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| (*n, data.as_slice()))
        .collect();
    let limits = Limits {
        max_total_bytes: 25_000,
        ..Limits::default()
    };
    for (name, bytes, format) in [
        ("t.zip", zip_bytes(&files), Format::Zip),
        ("t.tar.gz", gz(&tar_bytes(&files)), Format::TarGz),
    ] {
        let got = read_with(&put(&dir, name, &bytes), format, &limits, &|_| true);
        assert_eq!(got.names(), vec!["a", "b"], "{name}");
        assert_eq!(got.codes(), vec!["archive_too_large"], "{name}");
        assert!(
            got.summary.bytes <= 25_000 + 64 * 1024,
            "{name}: stopped near the limit"
        );
    }
}

#[test]
fn a_decompression_bomb_trips_the_ratio() {
    let dir = TempDir::new().unwrap();
    let zeros = vec![0u8; 8 << 20];
    let files: [(&str, &[u8]); 2] = [("small.txt", b"hello"), ("zeros.txt", &zeros)];
    for (name, bytes, format) in [
        ("b.zip", zip_bytes(&files), Format::Zip),
        ("b.tar.gz", gz(&tar_bytes(&files)), Format::TarGz),
        ("b.tar.zst", zst(&tar_bytes(&files)), Format::TarZst),
        ("b.txt.xz", xz(&zeros), Format::Xz),
    ] {
        let got = read_all(&put(&dir, name, &bytes), format);
        assert_eq!(got.codes(), vec!["compression_ratio"], "{name}");
        assert!(!got.names().contains(&"zeros.txt"), "{name}");
        assert!(
            got.summary.bytes < 4 << 20,
            "{name}: stopped early ({})",
            got.summary.bytes
        );
    }
    // The same bomb is fine under a ratio that allows it.
    let lenient = Limits {
        max_ratio: 1_000_000,
        ..Limits::default()
    };
    let got = read_with(&dir.path().join("b.zip"), Format::Zip, &lenient, &|_| true);
    assert_eq!(
        (got.names(), got.codes()),
        (vec!["small.txt", "zeros.txt"], vec![])
    );
}

#[test]
fn a_member_over_the_limit_is_too_large_by_header_or_as_read() {
    let dir = TempDir::new().unwrap();
    let big = noise(5000, 6);
    let files: [(&str, &[u8]); 2] = [("big.txt", &big), ("small.txt", b"ok")];
    let limits = Limits {
        max_member_bytes: 1000,
        ..Limits::default()
    };
    for (name, bytes, format) in [
        ("l.tar", tar_bytes(&files), Format::Tar),
        ("l.zip", zip_bytes(&files), Format::Zip),
    ] {
        let got = read_with(&put(&dir, name, &bytes), format, &limits, &|_| true);
        assert_eq!(got.names(), vec!["small.txt"], "{name}");
        assert_eq!(got.codes(), vec!["too_large"], "{name}");
        assert!(
            got.problems[0].message.contains("5000") && got.problems[0].message.contains("1000")
        );
    }
    // A single file has no header: it is measured as read, never past the limit and a byte.
    let got = read_with(
        &put(&dir, "big.txt.gz", &gz(&big)),
        Format::Gz,
        &limits,
        &|_| true,
    );
    assert_eq!(got.codes(), vec!["too_large"]);
    assert!(got.problems[0].message.contains("as read"));
    assert!(got.summary.bytes <= 1001);
    // A zip header that lies (claims 10 bytes) is not believed: the crate stops at the
    // declared size, and the member is reported, not delivered.
    let mut lying = zip_with(&[("liar.txt", &big)], SimpleFileOptions::default());
    let size = 10u32.to_le_bytes();
    patch_zip(
        &mut lying,
        "liar.txt",
        |h| h[22..26].copy_from_slice(&size),
        |h| h[24..28].copy_from_slice(&size),
    );
    let got = read_with(
        &put(&dir, "liar.zip", &lying),
        Format::Zip,
        &limits,
        &|_| true,
    );
    assert_eq!((got.names().len(), got.codes()), (0, vec!["corrupt"]));
}

#[test]
fn a_nested_archive_is_refused_by_name_or_by_magic() {
    let dir = TempDir::new().unwrap();
    let inner_zip = zip_bytes(&[("a.txt", b"a")]);
    let inner_gz = gz(b"compressed");
    let files: [(&str, &[u8]); 4] = [
        ("inner.zip", &inner_zip),
        ("data.bin", &inner_gz),
        ("notes.tar", b"just text"),
        ("ok.txt", b"ok"),
    ];
    for (name, bytes, format) in [
        ("n.tar", tar_bytes(&files), Format::Tar),
        ("n.zip", zip_bytes(&files), Format::Zip),
    ] {
        let got = read_all(&put(&dir, name, &bytes), format);
        assert_eq!(got.names(), vec!["ok.txt"], "{name}");
        assert_eq!(got.codes(), vec!["nested_archive"; 3], "{name}");
    }
    // A single file holding another compressed file.
    let got = read_all(&put(&dir, "twice.txt.gz", &gz(&gz(b"x"))), Format::Gz);
    assert_eq!(got.codes(), vec!["nested_archive"]);
}

#[test]
fn devices_and_fifos_are_not_files() {
    let dir = TempDir::new().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    tar_add(&mut b, "dev/null", EntryType::Char, b"");
    tar_add(&mut b, "pipe", EntryType::Fifo, b"");
    tar_add(&mut b, "ok.txt", EntryType::Regular, b"ok");
    let got = read_all(&put(&dir, "d.tar", &b.into_inner().unwrap()), Format::Tar);
    assert_eq!(got.names(), vec!["ok.txt"]);
    assert_eq!(got.codes(), vec!["unsupported", "unsupported"]);
}

#[test]
fn a_flipped_byte_inside_a_compressed_stream_ends_in_corrupt() {
    let dir = TempDir::new().unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("m{i}.txt"), noise(30_000, i + 20)))
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let tar = tar_bytes(&refs);
    for (name, mut packed, format) in [
        ("f.tar.gz", gz(&tar), Format::TarGz),
        ("f.tar.xz", xz(&tar), Format::TarXz),
    ] {
        let middle = packed.len() / 2;
        packed[middle] ^= 0xff;
        let got = read_all(&put(&dir, name, &packed), format);
        // gzip's checksum covers the whole stream: the flip may only be seen at its end, after
        // members were delivered. The problem is the last event either way.
        assert_eq!(got.codes(), vec!["corrupt"], "{name}");
    }
}

#[test]
fn an_xz_asking_for_gigabytes_of_dictionary_is_refused() {
    let dir = TempDir::new().unwrap();
    let mut bytes = xz(&tar_bytes(&[("a.txt", b"a")]));
    // The block header after the 12-byte stream header: its size, flags (no sizes here), the
    // LZMA2 filter (0x21, one property byte: the dictionary size), padding, then its CRC32.
    let size = (usize::from(bytes[12]) + 1) * 4;
    assert_eq!(
        (bytes[13], bytes[14], bytes[15]),
        (0x00, 0x21, 0x01),
        "layout as expected"
    );
    bytes[16] = 40; // 4 GiB - 1
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[12..12 + size - 4]);
    bytes[12 + size - 4..12 + size].copy_from_slice(&crc.sum().to_le_bytes());
    let got = read_all(&put(&dir, "huge-dict.tar.xz", &bytes), Format::TarXz);
    assert_eq!((got.names().len(), got.codes()), (0, vec!["corrupt"]));
    assert!(
        got.problems[0].message.to_lowercase().contains("mem"),
        "{}",
        got.problems[0].message
    );
}
