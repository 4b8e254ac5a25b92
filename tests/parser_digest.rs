//! The parser version is bumped whenever the transform's output for the same bytes changes
//! (README, "Development"). This holds the transform to it: `tests/parser_digest.txt` records
//! a digest of what every `tests/fixtures/*.txt` becomes (the `inspect` document, or the error
//! code and line) with the `PARSER_VERSION` it was made with. Output changed and parser
//! generation (`+pN`) not bumped: this test fails. Bumped: it fails until the digest is made
//! again, with
//!
//! ```sh
//! UPDATE_PARSER_DIGEST=1 cargo test -q --test parser_digest
//! ```

use std::path::Path;

use article_etl::document::{parser_generation, PARSER_VERSION};
use article_etl::transform::{transform, ParseOptions, RawFile};
use sha2::{Digest, Sha256};

const DIGEST_FILE: &str = "tests/parser_digest.txt";
const REGENERATE: &str = "UPDATE_PARSER_DIGEST=1 cargo test -q --test parser_digest";

/// One line per fixture, `<16 hex of SHA-256 of its output> <file name>`, in name order.
fn fixture_lines() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    let opts = ParseOptions::for_source("fixtures");
    names
        .iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            // No mtime: the digest is of the bytes' reading, not of the checkout's dates.
            let out = match transform(
                &RawFile {
                    path: name,
                    bytes: &bytes,
                    mtime: None,
                },
                &opts,
            ) {
                Ok(mut article) => {
                    // The version is what this digest checks against, not part of the output.
                    article.ingest.parser_version.clear();
                    serde_json::to_string(&article).unwrap()
                }
                Err(e) => format!("error {} line {:?}", e.code(), e.line),
            };
            format!(
                "{} {name}",
                &hex::encode(Sha256::digest(out.as_bytes()))[..16]
            )
        })
        .collect()
}

struct Recorded {
    version: String,
    lines: Vec<String>,
}

fn read_recorded(path: &Path) -> Option<Recorded> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut version = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("parser_version ") {
            version = Some(v.to_owned());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            lines.push(line.to_owned());
        }
    }
    Some(Recorded {
        version: version?,
        lines,
    })
}

fn write_recorded(path: &Path, lines: &[String]) {
    let mut text = format!(
        "# What tests/fixtures/*.txt become, per file (16 hex of SHA-256 of the inspect JSON, or of\n\
         # the error), with the parser version it was made with. Checked by tests/parser_digest.rs;\n\
         # made again with: {REGENERATE}\n\
         parser_version {PARSER_VERSION}\n"
    );
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_transform_output_changes_only_with_a_parser_version_bump() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIGEST_FILE);
    let now = fixture_lines();
    if std::env::var_os("UPDATE_PARSER_DIGEST").is_some() {
        write_recorded(&path, &now);
        eprintln!(
            "wrote {} ({} fixtures, {PARSER_VERSION})",
            path.display(),
            now.len()
        );
        return;
    }
    let recorded = read_recorded(&path).unwrap_or_else(|| {
        panic!(
            "{} is missing or unreadable: make it with {REGENERATE}",
            path.display()
        )
    });
    if recorded.lines == now {
        return;
    }
    let changed: Vec<&str> = now
        .iter()
        .filter(|l| !recorded.lines.contains(l))
        .map(|l| l.split_once(' ').map_or(l.as_str(), |(_, n)| n))
        .collect();
    if parser_generation(&recorded.version) == parser_generation(PARSER_VERSION) {
        panic!(
            "the transform reads the fixtures differently ({} changed or new: {changed:?}) but \
             the parser version is still {PARSER_VERSION}: bump +pN in PARSER_VERSION \
             (src/document.rs), so that `backfill --reparse` brings stored documents up to the new \
             reading, then record the new output with {REGENERATE}",
            changed.len()
        );
    }
    panic!(
        "the parser version was bumped ({} → {PARSER_VERSION}) and the output changed ({changed:?}): \
         record the new output with {REGENERATE}",
        recorded.version
    );
}
