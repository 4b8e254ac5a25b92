//! Archives built in a temporary directory with the crates' own writers, read back: every
//! format round-trips; hostile ones (`hostile.rs`) end in the stable problem codes.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};
use tempfile::TempDir;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::*;

mod hostile;

/// The mtime of every tar entry built here.
const MTIME: u64 = 1_600_000_000;

#[derive(Debug, Default)]
struct Got {
    members: Vec<Member>,
    problems: Vec<Problem>,
    summary: Summary,
}

impl Got {
    fn names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.name.as_str()).collect()
    }
    fn codes(&self) -> Vec<&str> {
        self.problems.iter().map(|p| p.code).collect()
    }
}

fn read_with(path: &Path, format: Format, limits: &Limits, wanted: &dyn Fn(&str) -> bool) -> Got {
    let mut got = Got::default();
    let mut visit = |event| {
        match event {
            Event::Member(m) => got.members.push(m),
            Event::Problem(p) => {
                assert!(PROBLEM_CODES.contains(&p.code), "{p:?}");
                got.problems.push(p)
            }
        }
        ControlFlow::Continue(())
    };
    let summary = read(path, format, limits, wanted, &mut visit).unwrap();
    got.summary = summary;
    assert_eq!(got.summary.members, got.members.len() as u64);
    assert_eq!(got.summary.problems, got.problems.len() as u64);
    got
}

fn read_all(path: &Path, format: Format) -> Got {
    read_with(path, format, &Limits::default(), &|_| true)
}

fn put(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Bytes that do not compress (a xorshift stream), so truncating the compressed form cuts the
/// data where expected.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zst(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).unwrap()
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A tar header named with raw bytes: the crate's own setters refuse `..` and absolute paths,
/// which the hostile tests need.
fn tar_header(name: &str, kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_gnu();
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(MTIME);
    h.set_cksum();
    h
}

fn tar_add(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: EntryType, data: &[u8]) {
    b.append(&tar_header(name, kind, data.len() as u64), data)
        .unwrap();
}

/// A tar of files and (names ending in `/`) directories.
fn tar_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let kind = if name.ends_with('/') {
            EntryType::Directory
        } else {
            EntryType::Regular
        };
        tar_add(&mut b, name, kind, data);
    }
    b.into_inner().unwrap()
}

fn zip_time() -> zip::DateTime {
    zip::DateTime::from_date_and_time(2020, 1, 2, 3, 4, 6).unwrap()
}

/// A zip of files and (names ending in `/`) directories, written with `options`.
fn zip_with(entries: &[(&str, &[u8])], options: SimpleFileOptions) -> Vec<u8> {
    let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = options.last_modified_time(zip_time());
    for (name, data) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, options).unwrap();
        } else {
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(
        entries,
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated),
    )
}

/// A few members, a directory, a nested path: what every multi-member format must give back.
fn sample() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("dir/", Vec::new()),
        ("dir/a.txt", "标题：一\n正文".as_bytes().to_vec()),
        ("./b.txt", b"second".to_vec()),
        ("dir/sub/c.txt", noise(70_000, 7)),
        ("empty.txt", Vec::new()),
    ]
}

fn entries<'a>(sample: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    sample.iter().map(|(n, d)| (*n, d.as_slice())).collect()
}

fn assert_sample(got: &Got) {
    assert_eq!(got.problems, vec![], "no problem");
    assert_eq!(
        got.names(),
        vec!["dir/a.txt", "b.txt", "dir/sub/c.txt", "empty.txt"]
    );
    let expected = sample();
    for (member, (_, data)) in got.members.iter().zip(expected.iter().skip(1)) {
        assert_eq!(&member.bytes, data, "{}", member.name);
        assert_eq!(member.size, data.len() as u64);
    }
    assert_eq!(got.summary.entries, 5, "the directory is an entry");
    assert_eq!(got.summary.members, 4);
}

#[test]
fn every_multi_member_format_round_trips() {
    let dir = TempDir::new().unwrap();
    let sample = sample();
    let tar = tar_bytes(&entries(&sample));
    let zip = zip_bytes(&entries(&sample));
    let stored = zip_with(&entries(&sample), SimpleFileOptions::default());
    for (name, bytes, format) in [
        ("a.tar", tar.clone(), Format::Tar),
        ("a.tar.gz", gz(&tar), Format::TarGz),
        ("a.tar.zst", zst(&tar), Format::TarZst),
        ("a.tar.xz", xz(&tar), Format::TarXz),
        ("a.zip", zip.clone(), Format::Zip),
        ("stored.zip", stored, Format::Zip),
    ] {
        let path = put(&dir, name, &bytes);
        assert_eq!(sniff(&path).unwrap(), Some(format), "{name}");
        let got = read_all(&path, format);
        assert_sample(&got);
        let mtime = got.members[0].mtime.unwrap();
        if format == Format::Zip {
            assert_eq!(
                mtime.to_rfc3339(),
                "2020-01-02T03:04:06+00:00",
                "zip time as UTC"
            );
        } else {
            assert_eq!(mtime.timestamp(), MTIME as i64, "{name}");
            assert!(
                got.summary.bytes >= tar.len() as u64 - 1024,
                "{name}: the stream counted"
            );
        }
    }
}

#[test]
fn single_compressed_files_are_one_member_named_after_the_file() {
    let dir = TempDir::new().unwrap();
    let text = "标题：单\n正文".repeat(100).into_bytes();
    for (name, bytes, format) in [
        ("content_1.txt.gz", gz(&text), Format::Gz),
        ("content_2.txt.zst", zst(&text), Format::Zst),
        ("content_3.txt.xz", xz(&text), Format::Xz),
    ] {
        let path = put(&dir, name, &bytes);
        assert_eq!(sniff(&path).unwrap(), Some(format), "{name}");
        let got = read_all(&path, format);
        assert_eq!(got.problems, vec![]);
        assert_eq!(got.names(), vec![single_member_name(name).as_str()]);
        assert_eq!(got.members[0].bytes, text);
        let on_disk = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(got.members[0].mtime, Some(DateTime::<Utc>::from(on_disk)));
        assert_eq!(
            got.summary,
            Summary {
                entries: 1,
                members: 1,
                problems: 0,
                bytes: text.len() as u64
            }
        );
        let unwanted = read_with(&path, format, &Limits::default(), &|n| n.ends_with(".xml"));
        assert_eq!((unwanted.members.len(), unwanted.problems.len()), (0, 0));
    }
}

#[test]
fn wanted_sees_full_paths_and_filters() {
    let dir = TempDir::new().unwrap();
    let sample = sample();
    let tar = put(&dir, "a.tar", &tar_bytes(&entries(&sample)));
    let zip = put(&dir, "a.zip", &zip_bytes(&entries(&sample)));
    for (path, format) in [(tar, Format::Tar), (zip, Format::Zip)] {
        let seen = std::cell::RefCell::new(Vec::new());
        let wanted = |n: &str| {
            seen.borrow_mut().push(n.to_owned());
            n.starts_with("dir/")
        };
        let got = read_with(&path, format, &Limits::default(), &wanted);
        assert_eq!(got.names(), vec!["dir/a.txt", "dir/sub/c.txt"]);
        assert_eq!(
            *seen.borrow(),
            vec!["dir/a.txt", "b.txt", "dir/sub/c.txt", "empty.txt"],
            "no directory"
        );
    }
}

#[test]
fn zip64_entries_are_read() {
    let dir = TempDir::new().unwrap();
    let data = noise(5000, 3);
    let options = SimpleFileOptions::default().large_file(true);
    let bytes = zip_with(&[("big/one.txt", &data), ("two.txt", b"2")], options);
    // Version needed to extract 4.5 is zip64's.
    assert!(
        u16::from_le_bytes([bytes[4], bytes[5]]) >= 45,
        "written as zip64"
    );
    let path = put(&dir, "64.zip", &bytes);
    let got = read_all(&path, Format::Zip);
    assert_eq!(got.problems, vec![]);
    assert_eq!(got.names(), vec!["big/one.txt", "two.txt"]);
    assert_eq!(got.members[0].bytes, data);
}

#[test]
fn an_empty_zip_and_an_empty_tar_hold_nothing() {
    let dir = TempDir::new().unwrap();
    let zip = put(&dir, "e.zip", &zip_bytes(&[]));
    assert_eq!(sniff(&zip).unwrap(), Some(Format::Zip), "PK\\x05\\x06");
    let got = read_all(&zip, Format::Zip);
    assert_eq!((got.members.len(), got.problems.len()), (0, 0));
    let tar = put(&dir, "e.tar.gz", &gz(&tar_bytes(&[])));
    let got = read_all(&tar, Format::TarGz);
    assert_eq!((got.members.len(), got.problems.len()), (0, 0));
}

#[test]
fn sniff_goes_by_magic_not_by_name() {
    let dir = TempDir::new().unwrap();
    let tar = tar_bytes(&[("a.txt", b"a")]);
    let cases = [
        ("holds-tar-gz.zip", gz(&tar), Some(Format::TarGz)),
        ("holds-gzip.txt", gz(b"plain text"), Some(Format::Gz)),
        ("plain.txt", "标题：x\n正文".as_bytes().to_vec(), None),
        ("plain.tar.gz", b"not really".to_vec(), None),
        ("empty.zip", Vec::new(), None),
        ("tar.bin", tar.clone(), Some(Format::Tar)),
        ("zip.bin", zip_bytes(&[("a.txt", b"a")]), Some(Format::Zip)),
        ("tzst.bin", zst(&tar), Some(Format::TarZst)),
        ("txz.bin", xz(&tar), Some(Format::TarXz)),
        ("zst.bin", zst(b"x"), Some(Format::Zst)),
        ("xz.bin", xz(b"x"), Some(Format::Xz)),
        // A gzipped file as long as a tar header, without its magic.
        ("gz-512.bin", gz(&noise(4096, 9)), Some(Format::Gz)),
    ];
    for (name, bytes, expected) in cases {
        let path = put(&dir, name, &bytes);
        assert_eq!(sniff(&path).unwrap(), expected, "{name}");
    }
    assert!(sniff(&dir.path().join("missing")).is_err());
}

#[test]
fn names_extensions_and_magic() {
    for name in [
        "a.zip",
        "A.ZIP",
        "x.tar",
        "x.tgz",
        "x.tar.gz",
        "x.tar.zst",
        "x.tzst",
        "x.tar.xz",
        "x.txz",
        "c.txt.gz",
        "c.zst",
        "c.xz",
    ] {
        assert!(has_packed_extension(name), "{name}");
    }
    for name in ["a.txt", "zip", "a.zip.txt", "a.gzip", ""] {
        assert!(!has_packed_extension(name), "{name}");
    }
    assert_eq!(single_member_name("content_1.txt.gz"), "content_1.txt");
    assert_eq!(single_member_name("x.zst"), "x");
    assert_eq!(single_member_name("x.TXT.XZ"), "x.TXT");
    assert_eq!(single_member_name("x.tgz"), "x.tar");
    assert_eq!(single_member_name("holds-gzip.txt"), "holds-gzip.txt");
    assert_eq!(single_member_name(".gz"), ".gz");
    assert!(looks_packed(&gz(b"x")) && looks_packed(&zst(b"x")) && looks_packed(&xz(b"x")));
    assert!(looks_packed(&zip_bytes(&[("a", b"a")])) && looks_packed(&zip_bytes(&[])));
    assert!(looks_packed(&tar_bytes(&[("a", b"a")])));
    assert!(!looks_packed(b"PK") && !looks_packed(b"") && !looks_packed("标题".as_bytes()));
    let all = [
        Format::Zip,
        Format::Tar,
        Format::TarGz,
        Format::TarZst,
        Format::TarXz,
        Format::Gz,
        Format::Zst,
        Format::Xz,
    ];
    let names: Vec<_> = all.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        ["zip", "tar", "tar.gz", "tar.zst", "tar.xz", "gz", "zst", "xz"]
    );
    assert_eq!(all.iter().filter(|f| f.is_multi()).count(), 5);
    assert_eq!(Limits::default().max_member_bytes, 16 << 20);
}

#[test]
fn visit_stops_the_read_and_a_missing_file_is_an_error() {
    let dir = TempDir::new().unwrap();
    let sample = sample();
    let path = put(&dir, "a.tar.gz", &gz(&tar_bytes(&entries(&sample))));
    let mut seen = 0;
    let mut visit = |_| {
        seen += 1;
        ControlFlow::Break(())
    };
    let summary = read(
        &path,
        Format::TarGz,
        &Limits::default(),
        &|_| true,
        &mut visit,
    )
    .unwrap();
    assert_eq!((seen, summary.members), (1, 1));
    let missing = dir.path().join("missing.zip");
    let mut visit = |_| ControlFlow::Continue(());
    assert!(read(
        &missing,
        Format::Zip,
        &Limits::default(),
        &|_| true,
        &mut visit
    )
    .is_err());
}

#[test]
fn sniff_falls_back_on_the_name_when_the_first_block_is_out_of_reach() {
    // Four bits of entropy a byte: zstd's first block is compressed (raw blocks stream out at
    // once) and far bigger than the few KB sniffed.
    let dir = TempDir::new().unwrap();
    let text: Vec<u8> = noise(300_000, 11)
        .iter()
        .map(|b| b'a' + (b & 0x0f))
        .collect();
    let tar = tar_bytes(&[("big.txt", &text)]);
    let bytes = zst(&tar);
    assert_eq!(
        sniff(&put(&dir, "x.tar.zst", &bytes)).unwrap(),
        Some(Format::TarZst)
    );
    assert_eq!(
        sniff(&put(&dir, "x.tzst", &bytes)).unwrap(),
        Some(Format::TarZst)
    );
    assert_eq!(
        sniff(&put(&dir, "x.zst", &bytes)).unwrap(),
        Some(Format::Zst)
    );
    // Read as the single file its name made it, it is a tar inside: refused, not misread.
    let got = read_all(&dir.path().join("x.zst"), Format::Zst);
    assert_eq!(got.codes(), vec!["nested_archive"]);
}
