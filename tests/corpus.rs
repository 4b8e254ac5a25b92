//! The corpus generator's files (the `article-etl-corpus` crate) through the transform: good
//! files parse as the generator intended, bad ones fail, and the format's variety is there.
//! (The generator's own tests, which need no parser, are in `corpus/src/lib.rs`.)

use std::collections::{HashMap, HashSet};

use article_etl::transform::{transform, ParseOptions, RawFile};
use article_etl_corpus::{generate, CorpusSpec, FileKind, PAPER, SOURCE};

fn opts() -> ParseOptions {
    let mut o = ParseOptions::for_source(SOURCE);
    o.paper = Some(PAPER.to_owned());
    o
}

fn spec(seed: u64, count: u64) -> CorpusSpec {
    CorpusSpec {
        seed,
        count,
        duplicate_share: 0.05,
        correction_share: 0.05,
        bad_share: 0.03,
    }
}

#[test]
fn good_files_parse_as_intended_and_bad_ones_fail() {
    let opts = opts();
    // Every (content id, content hash) seen so far, and the bytes of every good file.
    let mut versions: HashSet<(String, String)> = HashSet::new();
    let mut ids: HashSet<String> = HashSet::new();
    let mut seen_bytes: HashSet<Vec<u8>> = HashSet::new();
    let mut names = HashSet::new();
    let mut kinds: HashMap<FileKind, u64> = HashMap::new();
    for f in generate(spec(11, 600)) {
        assert!(names.insert(f.name.clone()), "name used twice: {}", f.name);
        *kinds.entry(f.kind).or_default() += 1;
        let path = format!("{}/{}", f.rel_dir, f.name);
        let got = transform(
            &RawFile {
                path: &path,
                bytes: &f.bytes,
                mtime: None,
            },
            &opts,
        );
        match (&f.expected, got) {
            (Some(want), Ok(doc)) => {
                assert_eq!(doc.content_id, want.content_id, "{path}");
                assert_eq!(doc.headline, want.headline, "{path}");
                assert_eq!(doc.pub_date.as_deref(), Some(want.pub_date.as_str()));
                assert_eq!(doc.paper.as_deref(), Some(PAPER));
                assert!(!doc.text.is_empty(), "{path}: no text");
                let version = (doc.content_id.clone(), doc.content_hash.clone());
                match f.kind {
                    FileKind::Article => {
                        assert!(ids.insert(doc.content_id.clone()), "{path}: id reused");
                        versions.insert(version);
                    }
                    FileKind::Duplicate => {
                        assert!(seen_bytes.contains(&f.bytes), "{path}: not a copy");
                        assert!(versions.contains(&version));
                    }
                    FileKind::Correction => {
                        assert!(ids.contains(&doc.content_id), "{path}: corrects nothing");
                        assert!(versions.insert(version), "{path}: the text is unchanged");
                    }
                    FileKind::Bad => unreachable!("bad files expect nothing"),
                }
                seen_bytes.insert(f.bytes.clone());
            }
            (Some(_), Err(e)) => panic!("{path} ({:?}) failed: {e}", f.kind),
            (None, Ok(doc)) => panic!("bad file {path} parsed: {}", doc.id),
            (None, Err(_)) => assert_eq!(f.kind, FileKind::Bad),
        }
    }
    for kind in [
        FileKind::Article,
        FileKind::Duplicate,
        FileKind::Correction,
        FileKind::Bad,
    ] {
        assert!(
            kinds.get(&kind).copied().unwrap_or(0) > 0,
            "no {kind:?} file"
        );
    }
}

#[test]
fn the_variety_of_the_format_is_there() {
    let opts = opts();
    let mut seen: HashSet<&'static str> = HashSet::new();
    let (mut min, mut max) = (usize::MAX, 0);
    for f in generate(CorpusSpec::new(21, 1500)) {
        if f.kind == FileKind::Bad {
            continue;
        }
        if std::str::from_utf8(&f.bytes).is_ok() {
            min = min.min(f.bytes.len());
            max = max.max(f.bytes.len());
        }
        if f.bytes.windows(2).any(|w| w == b"\r\n") {
            seen.insert("crlf");
        }
        let path = format!("{}/{}", f.rel_dir, f.name);
        let doc = transform(
            &RawFile {
                path: &path,
                bytes: &f.bytes,
                mtime: None,
            },
            &opts,
        )
        .expect("a good file");
        let t = doc.trailer.as_ref().expect("a trailer");
        let mut see = |cond: bool, what: &'static str| {
            if cond {
                seen.insert(what);
            }
        };
        see(doc.source_file.encoding == "gb18030", "gb18030");
        see(doc.source_file.encoding == "utf-8-bom", "bom");
        see(doc.page.is_some(), "page");
        see(
            doc.page.as_ref().is_some_and(|p| p.section.is_none()),
            "page without a name",
        );
        see(doc.kicker.is_some(), "kicker");
        see(doc.subtitle.is_some(), "subtitle");
        see(doc.authors.len() >= 3, "three authors");
        see(doc.authors.iter().any(|a| a.role.is_some()), "roles");
        see(
            doc.byline
                .as_deref()
                .is_some_and(|b| b.contains("通 讯 员")),
            "split byline",
        );
        see(doc.stats.headings >= 2, "headings");
        see(doc.stats.artefacts > 0, "artefacts");
        see(!doc.furniture.is_empty(), "furniture");
        see(t.time.is_some(), "trailer time");
        see(!t.raw.starts_with("-->"), "trailer without -->");
        see(t.url.ends_with(".htm"), "htm");
        see(
            t.url.starts_with('c') && !t.url.starts_with("content"),
            "short url",
        );
        see(t.numbers_after_url.len() == 2, "two numbers after the url");
        see(t.article_id.is_some(), "article id");
        see(t.raw.contains("<p>"), "html headline");
        see(t.slot.is_none(), "empty slot");
        see(doc.headline.contains(' '), "two-part headline");
    }
    for what in [
        "crlf",
        "gb18030",
        "bom",
        "page",
        "page without a name",
        "kicker",
        "subtitle",
        "three authors",
        "roles",
        "split byline",
        "headings",
        "artefacts",
        "furniture",
        "trailer time",
        "trailer without -->",
        "htm",
        "short url",
        "two numbers after the url",
        "article id",
        "html headline",
        "empty slot",
        "two-part headline",
    ] {
        assert!(seen.contains(what), "no generated file has: {what}");
    }
    assert!((1000..3000).contains(&min), "smallest file {min} bytes");
    assert!(max > 15_000 && max < 24_000, "largest file {max} bytes");
}
