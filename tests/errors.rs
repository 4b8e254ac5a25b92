//! Every error code of `TransformErrorKind::ALL_CODES`, reached on purpose: each test asserts
//! the code, that the message names the file, and the line where one applies.
//!
//! `TESTED_CODES` lists the codes these tests reach; `every_code_is_tested` fails when a code
//! is added to `ALL_CODES` without a test here.

use std::path::Path;

use article_etl::parse::{parse_file, read_file};
use article_etl::transform::{
    transform, EncodingSetting, OnMissingId, ParseOptions, RawFile, TransformError,
    TransformErrorKind,
};

/// The codes the tests below reach. Add a test and its code here for every new code.
const TESTED_CODES: &[&str] = &[
    "empty",
    "binary",
    "undecodable",
    "too_large",
    "missing_content_id",
    "malformed_trailer",
    "multiple_trailers",
    "no_body",
    "io",
];

#[test]
fn every_code_is_tested() {
    let missing: Vec<&&str> = TransformErrorKind::ALL_CODES
        .iter()
        .filter(|c| !TESTED_CODES.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a test in tests/errors.rs: {missing:?}"
    );
    let unknown: Vec<&&str> = TESTED_CODES
        .iter()
        .filter(|c| !TransformErrorKind::ALL_CODES.contains(c))
        .collect();
    assert!(unknown.is_empty(), "not codes of ALL_CODES: {unknown:?}");
}

/// Codes are stable: `code()` of each variant is the one listed, and listed once.
#[test]
fn codes_are_distinct_and_match_the_variants() {
    let mut seen = std::collections::BTreeSet::new();
    for code in TransformErrorKind::ALL_CODES {
        assert!(seen.insert(*code), "{code} listed twice");
    }
    let variants = [
        TransformErrorKind::Empty,
        TransformErrorKind::Binary(String::new()),
        TransformErrorKind::Undecodable(String::new()),
        TransformErrorKind::TooLarge { size: 2, limit: 1 },
        TransformErrorKind::MissingContentId,
        TransformErrorKind::MalformedTrailer(String::new()),
        TransformErrorKind::MultipleTrailers {
            first: 1,
            second: 2,
        },
        TransformErrorKind::NoBody,
        TransformErrorKind::Io(String::new()),
    ];
    let codes: Vec<&str> = variants.iter().map(TransformErrorKind::code).collect();
    assert_eq!(codes, TransformErrorKind::ALL_CODES);
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// How the in-memory cases are named: a name with no content id in it.
const PATH: &str = "inbox/errors_case.txt";

/// An invented article that parses: its parts are reused to build the failing ones.
const HEAD: &str =
    "2024年05月20日\n\n城西街道:\n\n老旧小区改造 居民笑开颜\n\n□ 本报记者 周海燕\n\n";
const BODY: &str = "今年以来,城西街道完成老旧小区改造12个,惠及居民3200余户,加装电梯28部,新增停车位460个。\n\n改造前后“两重天”\n\n走进幸福里小区,外墙粉刷一新,绿化带错落有致,居民们在健身广场上锻炼身体,脸上洋溢着笑容。\n\n";
const TRAILER: &str = "--> 2024-05-20 □ 本报记者 周海燕 城西街道: 1 1 江城日报 content_5566.html 1 老旧小区改造 居民笑开颜 /enpproperty-->\n";

fn good() -> String {
    format!("{HEAD}{BODY}{TRAILER}")
}

fn opts() -> ParseOptions {
    ParseOptions::for_source("errors-test")
}

fn run_as(path: &str, bytes: &[u8], opts: &ParseOptions) -> Result<(), TransformError> {
    transform(
        &RawFile {
            path,
            bytes,
            mtime: None,
        },
        opts,
    )
    .map(|_| ())
}

/// Transforms `bytes` (named `PATH`) and checks the error: its code, that its message names the
/// file and carries the code, and its line.
fn expect(bytes: &[u8], code: &str, line: Option<usize>) -> TransformError {
    expect_with(bytes, &opts(), code, line)
}

fn expect_with(
    bytes: &[u8],
    opts: &ParseOptions,
    code: &str,
    line: Option<usize>,
) -> TransformError {
    let err = run_as(PATH, bytes, opts).expect_err("the input must be refused");
    check(&err, PATH, code, line);
    err
}

fn check(err: &TransformError, path: &str, code: &str, line: Option<usize>) {
    assert_eq!(err.code(), code, "wrong code: {err}");
    assert_eq!(err.kind.code(), code);
    assert_eq!(err.file, path);
    let shown = err.to_string();
    assert!(
        shown.contains(path),
        "message does not name the file: {shown}"
    );
    assert!(
        shown.contains(&format!("[{code}]")),
        "message does not carry the code: {shown}"
    );
    assert_eq!(err.line, line, "wrong line: {shown}");
    if let Some(line) = line {
        assert!(
            shown.starts_with(&format!("{path}:{line}:")),
            "message does not give the line as path:line: {shown}"
        );
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn the_good_article_parses() {
    let a = transform(
        &RawFile {
            path: PATH,
            bytes: good().as_bytes(),
            mtime: None,
        },
        &opts(),
    )
    .expect("the base article parses");
    assert_eq!(a.id, "errors-test:5566");
    assert_eq!(a.headline, "老旧小区改造 居民笑开颜");
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

// ---------------------------------------------------------------------------------------------
// empty

#[test]
fn empty_file() {
    expect(b"", "empty", None);
}

#[test]
fn whitespace_only_file() {
    // Spaces of every kind, zero-width characters, blank lines in all line endings.
    expect(
        " \t\r\n\u{3000}\u{3000}\r\n\u{00A0}\n\u{200B}\r\n\r".as_bytes(),
        "empty",
        None,
    );
    expect(b"\xEF\xBB\xBF\n\n", "empty", None);
}

#[test]
fn empty_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "content_1.txt", b"");
    let err = parse_file(&path, &opts()).unwrap_err();
    check(&err, &path.display().to_string(), "empty", None);
}

// ---------------------------------------------------------------------------------------------
// binary

#[test]
fn nul_byte_is_binary_with_its_line() {
    let mut bytes = good().into_bytes();
    // Line 5 is the headline.
    let at = bytes
        .windows("居民笑开颜".len())
        .position(|w| w == "居民笑开颜".as_bytes())
        .unwrap();
    bytes.insert(at, 0);
    let err = expect(&bytes, "binary", Some(5));
    assert!(err.to_string().contains("NUL"), "{err}");
}

#[test]
fn control_bytes_are_binary() {
    // A binary header: control bytes make more than a tenth of the first bytes, no NUL.
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    for _ in 0..4 {
        bytes.extend((1u8..32).filter(|b| !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)));
    }
    bytes.extend_from_slice(good().as_bytes());
    let err = expect(&bytes, "binary", None);
    assert!(err.to_string().contains("control bytes"), "{err}");
}

#[test]
fn nul_after_utf16_decoding_is_binary() {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in "标题\n正文\n\0尾".encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    expect(&bytes, "binary", Some(3));
}

// ---------------------------------------------------------------------------------------------
// undecodable

/// A UTF-8 file with one bad byte on line 16: the line must be the one of the bad byte.
/// (Found here: the decoder reports the line where *GB18030* decoding of the UTF-8 text
/// failed, line 1, instead of line 16 where the file stops being UTF-8.)
#[test]
fn neither_utf8_nor_gb18030() {
    let bytes = [good().as_bytes(), b"\xff\xfe\xfd\n"].concat();
    // The good article has 15 lines; the bad bytes are on line 16.
    expect(&bytes, "undecodable", Some(16));
}

/// The mirror case: a GB18030 file with a byte GB18030 never uses, on line 16.
#[test]
fn neither_gb18030_nor_utf8() {
    let text = good();
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    let bytes = [gb.as_ref(), b"\xff\xfe\xfd\n"].concat();
    expect(&bytes, "undecodable", Some(16));
}

#[test]
fn invalid_utf8_after_a_bom() {
    let bytes = [b"\xEF\xBB\xBF".as_slice(), b"line one\nline two\xC3\n"].concat();
    let err = expect(&bytes, "undecodable", Some(2));
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn invalid_utf8_when_the_pipeline_says_utf8() {
    let mut o = opts();
    o.encoding = EncodingSetting::Utf8;
    // Valid GB18030, but the pipeline forbids it.
    let (gb, _, _) = encoding_rs::GB18030.encode("第一行\n第二行\n");
    expect_with(&gb, &o, "undecodable", Some(1));
}

#[test]
fn invalid_gb18030_when_the_pipeline_says_gb18030() {
    let mut o = opts();
    o.encoding = EncodingSetting::Gb18030;
    expect_with(b"ok\nok\n\x81\x20\n", &o, "undecodable", Some(3));
}

#[test]
fn unpaired_utf16_surrogate() {
    let mut bytes = vec![0xFE, 0xFF];
    for unit in [0x6807u16, 0x000A, 0xD800, 0x0041] {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    expect(&bytes, "undecodable", None);
}

// ---------------------------------------------------------------------------------------------
// too_large

#[test]
fn too_large_in_memory() {
    let mut o = opts();
    o.max_file_bytes = 64;
    let bytes = good().into_bytes();
    let err = expect_with(&bytes, &o, "too_large", None);
    assert_eq!(
        err.kind,
        TransformErrorKind::TooLarge {
            size: bytes.len() as u64,
            limit: 64
        }
    );
    assert!(err.to_string().contains("64"), "{err}");
    // At the limit exactly, the file is accepted.
    o.max_file_bytes = bytes.len() as u64;
    run_as(PATH, &bytes, &o).expect("a file of exactly max_file_bytes is taken");
}

/// A sparse file of 8 GiB with a limit of 1 KiB: refused from its size, without reading it
/// (reading it whole would take gigabytes of memory and seconds).
#[test]
fn too_large_on_disk_is_refused_without_reading() {
    const SIZE: u64 = 8 << 30;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("content_9.txt");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(SIZE).unwrap();
    drop(file);
    let shown = path.display().to_string();

    let started = std::time::Instant::now();
    let err = read_file(&path, 1024).unwrap_err();
    check(&err, &shown, "too_large", None);
    assert_eq!(
        err.kind,
        TransformErrorKind::TooLarge {
            size: SIZE,
            limit: 1024
        }
    );

    let mut o = opts();
    o.max_file_bytes = 1024;
    let err = parse_file(&path, &o).unwrap_err();
    check(&err, &shown, "too_large", None);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "refusing a large file took {:?}: was it read?",
        started.elapsed()
    );
}

#[test]
fn too_large_on_disk_by_one_byte() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = good().into_bytes();
    let path = write(dir.path(), "content_5566.txt", &bytes);
    let limit = bytes.len() as u64 - 1;
    let mut o = opts();
    o.max_file_bytes = limit;
    let err = parse_file(&path, &o).unwrap_err();
    check(&err, &path.display().to_string(), "too_large", None);
    // And at the limit exactly it is read.
    let (read, _) = read_file(&path, limit + 1).unwrap();
    assert_eq!(read, bytes);
}

// ---------------------------------------------------------------------------------------------
// missing_content_id

#[test]
fn no_trailer_and_no_id_in_the_file_name() {
    let bytes = format!("{HEAD}{BODY}");
    expect(bytes.as_bytes(), "missing_content_id", None);
}

#[test]
fn missing_content_id_on_disk_and_the_content_hash_rule() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = format!("{HEAD}{BODY}");
    let path = write(dir.path(), "000_abcdef.txt", bytes.as_bytes());
    let err = parse_file(&path, &opts()).unwrap_err();
    check(
        &err,
        &path.display().to_string(),
        "missing_content_id",
        None,
    );
    // With on_missing_id = content-hash the same file loads under h:<16 hex>.
    let mut o = opts();
    o.on_missing_id = OnMissingId::ContentHash;
    let a = parse_file(&path, &o).unwrap();
    let hex = a.content_hash.trim_start_matches("sha256:");
    assert_eq!(a.content_id, format!("h:{}", &hex[..16]));
    // And a file name with an id supplies it.
    let named = write(dir.path(), "content_4242.txt", bytes.as_bytes());
    assert_eq!(parse_file(&named, &opts()).unwrap().content_id, "4242");
}

// ---------------------------------------------------------------------------------------------
// What is no longer a refusal: a file with a content id and a text loads, flagged.

/// Transforms `bytes` (named `PATH`) and checks that it loads with a warning `code`.
fn loads_with(bytes: &[u8], code: &str) -> article_etl::document::Article {
    let a = transform(
        &RawFile {
            path: "inbox/content_5566.txt",
            bytes,
            mtime: None,
        },
        &opts(),
    )
    .unwrap_or_else(|e| panic!("refused ({e}), expected a document with warning {code}"));
    assert!(
        a.warnings.iter().any(|w| w.code == code),
        "no {code} warning: {:?}",
        a.warnings
    );
    a
}

#[test]
fn no_headline_without_a_trailer_loads_flagged() {
    // Only long paragraphs: no short line can be the headline.
    let bytes = format!("\n\n{BODY}").replace("改造前后“两重天”\n\n", "");
    let a = loads_with(bytes.as_bytes(), "no_headline");
    assert_eq!(a.headline, "");
    assert_eq!(a.content_id, "5566");
    assert!(a.text.starts_with("今年以来"), "{}", a.text);
}

#[test]
fn no_headline_when_the_trailer_names_none_loads_flagged() {
    // The trailer's headline field is empty, and the file starts with a paragraph.
    let body = BODY.replace("改造前后“两重天”\n\n", "");
    let bytes = format!("{body}2024-05-20 1 1 江城日报 content_5566.html 1 /enpproperty-->\n");
    let a = loads_with(bytes.as_bytes(), "no_headline");
    assert_eq!(a.headline, "");
    assert_eq!(a.pub_date.as_deref(), Some("2024-05-20"));
}

// ---------------------------------------------------------------------------------------------
// malformed_trailer

#[test]
fn trailer_without_a_url() {
    let bytes = format!(
        "{HEAD}{BODY}--> 2024-05-20 1 1 江城日报 1 老旧小区改造 居民笑开颜 /enpproperty-->\n"
    );
    let err = expect(bytes.as_bytes(), "malformed_trailer", Some(15));
    assert!(err.to_string().contains("URL"), "{err}");
}

#[test]
fn trailer_without_a_date_still_names_the_article() {
    // Its URL still carries the content id: the article loads without a trailer, flagged.
    let bytes = format!(
        "{HEAD}{BODY}--> 江城日报 content_5566.html 1 老旧小区改造 居民笑开颜 /enpproperty-->\n"
    );
    let a = loads_with(bytes.as_bytes(), "malformed_trailer");
    assert_eq!(a.content_id, "5566");
    assert!(a.trailer.is_none());
    assert_eq!(
        a.pub_date.as_deref(),
        Some("2024-05-20"),
        "the header's date"
    );
    // Under a name without an id, too: the id is the URL's.
    assert_eq!(
        transform(
            &RawFile {
                path: PATH,
                bytes: bytes.as_bytes(),
                mtime: None
            },
            &opts()
        )
        .unwrap()
        .content_id,
        "5566"
    );
}

#[test]
fn trailer_cut_before_its_url_without_an_id() {
    let bytes =
        format!("{HEAD}{BODY}--> 2024-05-20 □ 本报记者 周海燕 城西街道: 1 1 江城日报 conte");
    let err = expect(bytes.as_bytes(), "malformed_trailer", Some(15));
    assert!(err.to_string().contains("cut short"), "{err}");
}

#[test]
fn enpproperty_comment_cut_off() {
    // The CMS comment lost its end: the line mentions enpproperty but does not close it.
    let bytes =
        format!("{HEAD}{BODY}<!--enpproperty <date>2024-05-20</date><title>老旧小区改造</title>\n");
    expect(bytes.as_bytes(), "malformed_trailer", Some(15));
}

// ---------------------------------------------------------------------------------------------
// multiple_trailers

#[test]
fn two_articles_in_one_file() {
    let bytes = format!("{}\n{}", good(), good());
    // The first trailer is on line 15; the second article starts on line 17, its trailer on 31.
    let err = expect(bytes.as_bytes(), "multiple_trailers", Some(15));
    assert_eq!(
        err.kind,
        TransformErrorKind::MultipleTrailers {
            first: 15,
            second: 31
        }
    );
    let shown = err.to_string();
    assert!(shown.contains("15") && shown.contains("31"), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Impossible dates: warnings, since the article is still named and has its text.

#[test]
fn impossible_date_in_the_trailer_loads_flagged() {
    let bytes = format!(
        "{HEAD}{BODY}{}",
        TRAILER.replace("2024-05-20", "2024-02-30")
    );
    let a = loads_with(bytes.as_bytes(), "invalid_date");
    assert_eq!(a.content_id, "5566");
    assert_eq!(
        a.pub_date.as_deref(),
        Some("2024-05-20"),
        "the header's date"
    );
    let w = a
        .warnings
        .iter()
        .find(|w| w.code == "invalid_date")
        .unwrap();
    assert!(
        w.detail.contains("2024-02-30") && w.detail.contains("line 15"),
        "{w:?}"
    );
}

#[test]
fn impossible_header_date_without_a_trailer_loads_flagged() {
    let bytes = format!("{HEAD}{BODY}").replace("2024年05月20日", "2024年13月32日");
    let a = loads_with(bytes.as_bytes(), "invalid_header_date");
    assert_eq!(a.pub_date, None);
    // Without an id anywhere it is refused for that, not for the date.
    expect(bytes.as_bytes(), "missing_content_id", None);
}

#[test]
fn impossible_header_date_with_a_trailer_is_only_a_warning() {
    let bytes = good().replace("2024年05月20日", "2024年02月30日");
    let a = transform(
        &RawFile {
            path: PATH,
            bytes: bytes.as_bytes(),
            mtime: None,
        },
        &opts(),
    )
    .expect("the trailer's date is the authority");
    assert_eq!(a.pub_date.as_deref(), Some("2024-05-20"));
    assert!(a.has_warning("invalid_header_date"), "{:?}", a.warnings);
}

// ---------------------------------------------------------------------------------------------
// no_body

#[test]
fn only_a_trailer() {
    let bytes = format!("\n\n{TRAILER}");
    expect(bytes.as_bytes(), "no_body", Some(3));
}

#[test]
fn only_a_two_line_trailer() {
    let bytes = "2024-05-20\n江城日报 content_5566.html 1 老旧小区改造 /enpproperty-->\n";
    expect(bytes.as_bytes(), "no_body", Some(1));
}

// ---------------------------------------------------------------------------------------------
// io

#[test]
fn file_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("content_404.txt");
    let shown = path.display().to_string();
    let err = parse_file(&path, &opts()).unwrap_err();
    check(&err, &shown, "io", None);
    let err = read_file(&path, 1024).unwrap_err();
    check(&err, &shown, "io", None);
}

#[test]
fn directory_instead_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("content_77.txt");
    std::fs::create_dir(&path).unwrap();
    let err = parse_file(&path, &opts()).unwrap_err();
    check(&err, &path.display().to_string(), "io", None);
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[cfg(unix)]
#[test]
fn unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "content_13.txt", good().as_bytes());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&path).is_ok() {
        // Root reads whatever the permissions say; nothing to test then.
        eprintln!("SKIPPED: unreadable_file: running as a user that ignores permissions");
        return;
    }
    let err = parse_file(&path, &opts()).unwrap_err();
    check(&err, &path.display().to_string(), "io", None);
}
