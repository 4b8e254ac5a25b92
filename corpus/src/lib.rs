//! A deterministic corpus generator for benchmarks and tests: N invented article files in the
//! export format of docs/format.md §2, with its variety, from a seed.
//!
//! What a corpus holds:
//! - **articles**: a date line (with or without a weekday, zero-padded or not) and/or a page
//!   label (`第A03版:要闻`, `… PDF版`, `第A02版:`), sometimes page furniture before them, a
//!   kicker, the headline (one line, sometimes in two parts), a `——` subtitle, a byline of one
//!   to three authors with or without roles (sometimes split over two lines), 1–20 KB of body
//!   built from a vocabulary of a few hundred words and phrases (paragraphs, heading pairs,
//!   captions ending in `摄`, `本文字数:N`, `责任编辑:…`, a closing `(张三 李四)`), and the
//!   trailer in its variants (with or without `-->`, with a time, on two lines, `.htm` and
//!   `c<id>.html` URLs, one or two numbers after the URL, `<p>` tags around the headline, a
//!   repeated `54,180` article id). Most files are NFKC UTF-8 like the real sample; some are
//!   raw exports (full-width punctuation, U+3000 indentation), some CRLF, a few GB18030 or
//!   with a BOM.
//! - **duplicates**: byte-identical copies of a recent article under another name;
//! - **corrections**: a recent article again (same content id) with one paragraph changed;
//! - **bad files**: empty, blank, binary, or an article with no content id anywhere (no
//!   trailer, a file name without an id).
//!
//! Generation streams: memory stays bounded whatever the count (duplicates and corrections
//! pick from a small ring of recent articles). Every decision is drawn from one seeded
//! [`fastrand::Rng`] and none depends on the count, so the first N files of a larger corpus
//! are the corpus of N files of the same seed.
//!
//! Content ids are `FIRST_CONTENT_ID + i` for the i-th new article; the paper is [`PAPER`]. Files
//! carry the date of the day they are "published" in `rel_dir` (`YYYY/MM/DD`), starting on
//! 2020-01-01 with 24–72 files a day.

mod article;
mod generator;
mod header;
mod text;
mod words;

use std::io;
use std::path::{Path, PathBuf};

pub use generator::Generator;

/// The paper every generated trailer names.
pub const PAPER: &str = "测试日报";
/// The source key the generated corpus is meant to be loaded under.
pub const SOURCE: &str = "test-daily";
/// The content id of the first new article.
pub const FIRST_CONTENT_ID: u64 = 1_000_000;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorpusSpec {
    pub seed: u64,
    /// Files in all (articles, duplicates, corrections and bad files).
    pub count: u64,
    /// Share of files that are byte-identical copies of a recent article under another name.
    pub duplicate_share: f64,
    /// Share of files that are corrections: a recent article's content id with a changed paragraph.
    pub correction_share: f64,
    /// Share of files that cannot be loaded (empty, binary, no content id).
    pub bad_share: f64,
}

impl CorpusSpec {
    /// `count` files from `seed`, with 5% duplicates, 2% corrections and 0.5% bad files.
    pub fn new(seed: u64, count: u64) -> Self {
        CorpusSpec {
            seed,
            count,
            duplicate_share: 0.05,
            correction_share: 0.02,
            bad_share: 0.005,
        }
    }
}

impl Default for CorpusSpec {
    fn default() -> Self {
        CorpusSpec::new(42, 1000)
    }
}

/// What a generated file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A new article (a new content id).
    Article,
    /// A byte-identical copy of an earlier article, under another name.
    Duplicate,
    /// An earlier article's content id with one paragraph changed.
    Correction,
    /// A file the loader must quarantine.
    Bad,
}

/// What the transform should make of a good file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub content_id: String,
    /// As the document has it (normalized, tags stripped).
    pub headline: String,
    /// `YYYY-MM-DD`.
    pub pub_date: String,
}

/// One generated file.
#[derive(Debug, Clone)]
pub struct GeneratedFile {
    /// File name, unique in the corpus (so a flat layout works).
    pub name: String,
    /// `YYYY/MM/DD`: where the tree layout puts it.
    pub rel_dir: String,
    pub bytes: Vec<u8>,
    pub kind: FileKind,
    /// `None` for bad files.
    pub expected: Option<Expected>,
}

/// Counts of a written corpus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorpusSummary {
    pub files: u64,
    pub articles: u64,
    pub duplicates: u64,
    pub corrections: u64,
    pub bad: u64,
    pub bytes: u64,
}

impl CorpusSummary {
    /// Counts one more file.
    pub fn add(&mut self, f: &GeneratedFile) {
        self.files += 1;
        self.bytes += f.bytes.len() as u64;
        match f.kind {
            FileKind::Article => self.articles += 1,
            FileKind::Duplicate => self.duplicates += 1,
            FileKind::Correction => self.corrections += 1,
            FileKind::Bad => self.bad += 1,
        }
    }
}

/// The corpus of `spec`, one file at a time.
pub fn generate(spec: CorpusSpec) -> Generator {
    Generator::new(spec)
}

/// Writes the corpus as an archive tree: `dir/YYYY/MM/DD/NAME`.
pub fn write_tree(dir: &Path, spec: CorpusSpec) -> io::Result<CorpusSummary> {
    write(dir, spec, true)
}

/// Writes the corpus into one directory, as an inbox.
pub fn write_flat(dir: &Path, spec: CorpusSpec) -> io::Result<CorpusSummary> {
    write(dir, spec, false)
}

fn write(dir: &Path, spec: CorpusSpec, tree: bool) -> io::Result<CorpusSummary> {
    std::fs::create_dir_all(dir)?;
    let mut summary = CorpusSummary::default();
    let mut current: Option<PathBuf> = None;
    for file in generate(spec) {
        let target = if tree {
            let sub = dir.join(&file.rel_dir);
            if current.as_deref() != Some(sub.as_path()) {
                std::fs::create_dir_all(&sub)?;
                current = Some(sub.clone());
            }
            sub
        } else {
            dir.to_path_buf()
        };
        std::fs::write(target.join(&file.name), &file.bytes)?;
        summary.add(&file);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_trees_and_flat_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = CorpusSpec {
            seed: 9,
            count: 150,
            duplicate_share: 0.05,
            correction_share: 0.05,
            bad_share: 0.03,
        };
        let tree = write_tree(&dir.path().join("tree"), s).expect("tree");
        let flat = write_flat(&dir.path().join("flat"), s).expect("flat");
        assert_eq!(tree, flat);
        assert_eq!(tree.files, 150);
        assert_eq!(
            tree.articles + tree.duplicates + tree.corrections + tree.bad,
            150
        );
        let files = |p: &Path| {
            walkdir::WalkDir::new(p)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .count()
        };
        assert_eq!(files(&dir.path().join("tree")), 150);
        assert_eq!(files(&dir.path().join("flat")), 150);
        assert!(dir.path().join("tree/2020/01/01").is_dir());
    }
}
