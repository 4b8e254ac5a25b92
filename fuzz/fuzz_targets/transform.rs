//! Fuzz target: `transform` on arbitrary bytes never panics, and what it returns keeps the
//! contract: a document that satisfies the invariants of docs/format.md §4.3, or a typed error with
//! a known code that names the file.

#![no_main]

use std::sync::LazyLock;

use article_etl::document::Article;
use article_etl::transform::{
    transform, EncodingSetting, OnMissingId, ParseOptions, RawFile, TransformErrorKind,
};
use libfuzzer_sys::fuzz_target;

const PATH: &str = "fuzz/input.txt";

static DEFAULT: LazyLock<ParseOptions> = LazyLock::new(|| ParseOptions::for_source("fuzz"));

/// The other pipeline rules: content-hash ids, and each encoding setting.
static OTHERS: LazyLock<Vec<ParseOptions>> = LazyLock::new(|| {
    [
        EncodingSetting::Auto,
        EncodingSetting::Utf8,
        EncodingSetting::Gb18030,
    ]
    .into_iter()
    .map(|encoding| ParseOptions {
        encoding,
        on_missing_id: OnMissingId::ContentHash,
        ..ParseOptions::for_source("fuzz")
    })
    .collect()
});

fn check(data: &[u8], opts: &ParseOptions) {
    let raw = RawFile {
        path: PATH,
        bytes: data,
        mtime: None,
    };
    match transform(&raw, opts) {
        Ok(article) => check_article(&article, data),
        Err(e) => {
            assert!(
                TransformErrorKind::ALL_CODES.contains(&e.code()),
                "unknown code {}",
                e.code()
            );
            assert_eq!(e.file, PATH);
            assert!(e.to_string().contains(PATH));
            assert!(e.line.is_none_or(|l| l >= 1));
        }
    }
}

fn check_article(a: &Article, data: &[u8]) {
    assert_eq!(a.id, format!("{}:{}", a.source, a.content_id));
    assert!(!a.headline.is_empty(), "empty headline");
    let kept: Vec<&str> = a
        .blocks
        .iter()
        .filter(|b| b.artefact.is_none())
        .map(|b| b.text.as_str())
        .collect();
    assert_eq!(a.text, kept.join("\n"));
    assert_eq!(a.stats.chars, a.text.chars().count() as i64);
    assert_eq!(a.source_file.size, data.len() as i64);
    assert!(a.content_hash.starts_with("sha256:") && a.content_hash.len() == 71);
    serde_json::to_string(a).expect("the document serializes to JSON");
    a.to_bson().expect("the document serializes to BSON");
}

fuzz_target!(|data: &[u8]| {
    check(data, &DEFAULT);
    // One of the other rule sets, chosen by the input's length.
    check(data, &OTHERS[data.len() % OTHERS.len()]);
});
