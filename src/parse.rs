//! The one path from a file on disk to a document: read (many files at a time, see
//! [`crate::extract::read`]) → transform → tally. The run's workers, the backfill dry run,
//! `inspect` and `validate` all parse through here, so what a dry run or `validate` measures
//! and reports is what a run does.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use chrono::{DateTime, FixedOffset, Utc};

use crate::document::Article;
use crate::extract::archive::{self, ArchiveFile, Shard, Walked};
use crate::extract::packed::Limits;
use crate::extract::read::{self, FileRead, FileReader, ReadError};
use crate::extract::FileFilter;
use crate::stats::{bump, RunStats};
use crate::transform::{self, ParseOptions, RawFile, TransformError, TransformErrorKind};

/// A file's parse: its document, or why it cannot become one.
pub type Parsed = Result<Article, TransformError>;

/// A file to parse.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a Path,
    /// How the file is named in its document, logs and reports.
    pub shown: &'a str,
    pub opts: &'a ParseOptions,
    /// A member of a packed input, already read (`path` is then its archive's).
    pub member: Option<Member<'a>>,
}

/// A member of a packed input, read by whoever unpacked it.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// The archive, as the document names it.
    pub archive: &'a str,
    /// The member's path inside the archive.
    pub name: &'a str,
    pub bytes: &'a [u8],
    pub mtime: Option<DateTime<Utc>>,
}

impl<'a> Source<'a> {
    /// A file on disk.
    pub fn file(path: &'a Path, shown: &'a str, opts: &'a ParseOptions) -> Self {
        Source {
            path,
            shown,
            opts,
            member: None,
        }
    }
}

/// Parses files, reading each chunk of them together. One per thread.
pub struct Parser {
    reader: FileReader,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl Parser {
    /// A parser whose reads are batched where the kernel allows it.
    pub fn new() -> Parser {
        Parser {
            reader: FileReader::new(),
        }
    }

    /// Reads `files` together, then transforms them one by one in order, counting what was
    /// read, parsed and warned about in `tally`. Before each file, `skip()` is asked: a file
    /// it says to skip is not transformed, and `each` gets `None` for it.
    pub fn parse_chunk(
        &mut self,
        files: &[Source<'_>],
        tally: Option<&RunStats>,
        skip: &dyn Fn() -> bool,
        mut each: impl FnMut(usize, Option<Parsed>),
    ) {
        // Members are in memory already: only files on disk are read.
        let wanted: Vec<(&Path, u64)> = files
            .iter()
            .filter(|f| f.member.is_none())
            .map(|f| (f.path, f.opts.max_file_bytes))
            .collect();
        let mut batch = self.reader.read_batch(&wanted).into_iter();
        for (i, source) in files.iter().enumerate() {
            let read = match source.member {
                Some(_) => None,
                None => batch.next().flatten(),
            };
            if skip() {
                each(i, None);
                continue;
            }
            let parsed = match &source.member {
                Some(m) => {
                    let mtime = m.mtime.map(|t| t.fixed_offset());
                    parse_bytes(source, Ok((m.bytes, mtime)), tally)
                }
                None => {
                    // Left out of the batch (a big file, or no batching here): read alone.
                    let read = read.unwrap_or_else(|| {
                        read::read_file(source.path, source.opts.max_file_bytes)
                    });
                    parse_read(source, read, tally)
                }
            };
            each(i, Some(parsed));
        }
    }
}

/// Reads and parses one file (`inspect`, tests).
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Parsed {
    let shown = path.display().to_string();
    let source = Source::file(path, &shown, opts);
    parse_read(&source, read::read_file(path, opts.max_file_bytes), None)
}

/// Reads one file whole, refusing it over `max_bytes` without reading it, with the error a
/// parse would give.
pub fn read_file(
    path: &Path,
    max_bytes: u64,
) -> Result<(Vec<u8>, Option<DateTime<FixedOffset>>), TransformError> {
    read::read_file(path, max_bytes).map_err(TransformError::from)
}

/// A file read from disk → its document, tallied.
fn parse_read(source: &Source<'_>, read: FileRead, tally: Option<&RunStats>) -> Parsed {
    match read {
        Ok((bytes, mtime)) => parse_bytes(source, Ok((&bytes, mtime)), tally),
        Err(e) => parse_bytes(source, Err(e), tally),
    }
}

/// The step every parse shares: a file's bytes → its document, tallied, a member's archive
/// and name recorded in it.
fn parse_bytes(
    source: &Source<'_>,
    read: Result<(&[u8], Option<DateTime<FixedOffset>>), ReadError>,
    tally: Option<&RunStats>,
) -> Parsed {
    let parsed = read
        .map_err(TransformError::from)
        .and_then(|(bytes, mtime)| {
            if let Some(t) = tally {
                t.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            transform::transform(
                &RawFile {
                    path: source.shown,
                    bytes,
                    mtime,
                },
                source.opts,
            )
        });
    let parsed = parsed.map(|mut article| {
        if let Some(m) = &source.member {
            article.source_file.archive = Some(m.archive.to_owned());
            article.source_file.member = Some(m.name.to_owned());
        }
        article
    });
    if let Some(t) = tally {
        bump(&t.parsed);
        if let Ok(article) = &parsed {
            t.count_warnings(article);
        }
    }
    parsed
}

impl From<ReadError> for TransformError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io { path, message } => {
                TransformError::new(path, TransformErrorKind::Io(message), None)
            }
            ReadError::TooLarge { path, size, limit } => {
                TransformError::new(path, TransformErrorKind::TooLarge { size, limit }, None)
            }
        }
    }
}

/// One entry of a parsed tree. Handed to the visitor once and never stored, so its size
/// does not matter.
#[allow(clippy::large_enum_variant)]
pub enum TreeEntry<'a> {
    Parsed(&'a ArchiveFile, Parsed),
    /// An entry the walk could not read.
    Unreadable {
        path: &'a str,
        /// `io`, or a packed input's problem code.
        code: &'a str,
        message: &'a str,
    },
}

/// Walks `roots` (the crate's one walk, [`archive::walk_each`]; packed inputs within
/// `limits`) and parses every file on one
/// thread per core, each with its own [`Parser`] and state (`init`); `visit` sees every entry
/// with its thread's state. Stops early when `stopped()` says so. Returns the threads'
/// states.
#[allow(clippy::too_many_arguments)]
pub fn parse_tree<S: Send>(
    roots: &[PathBuf],
    filter: &FileFilter,
    shard: Option<Shard>,
    limits: &Limits,
    opts: &ParseOptions,
    tally: Option<&RunStats>,
    stopped: &(dyn Fn() -> bool + Sync),
    init: impl Fn() -> S + Sync,
    visit: impl Fn(&mut S, TreeEntry<'_>) + Sync,
) -> Vec<S> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    // A few chunks ahead of the parsers: the walk is far faster than they are.
    let (tx, rx) = flume::bounded::<Vec<Walked>>(threads * 2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            archive::walk(roots, filter, shard, limits, &tx, stopped);
            if let Some(t) = tally {
                t.walk_finished();
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (rx, init, visit) = (rx.clone(), &init, &visit);
                scope.spawn(move || {
                    let mut state = init();
                    let mut parser = Parser::new();
                    for chunk in rx.iter() {
                        parse_walked(&mut parser, &chunk, opts, tally, stopped, |entry| {
                            visit(&mut state, entry)
                        });
                    }
                    state
                })
            })
            .collect();
        drop(rx);
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    })
}

/// Parses one chunk of walked entries; those skipped because the walk was stopped are not
/// visited.
fn parse_walked(
    parser: &mut Parser,
    chunk: &[Walked],
    opts: &ParseOptions,
    tally: Option<&RunStats>,
    stopped: &(dyn Fn() -> bool + Sync),
    mut visit: impl FnMut(TreeEntry<'_>),
) {
    let files: Vec<&ArchiveFile> = chunk
        .iter()
        .filter_map(|w| match w {
            Walked::File(f) => Some(f),
            Walked::Unreadable { .. } => None,
        })
        .collect();
    for w in chunk {
        if let Walked::Unreadable {
            path,
            code,
            message,
        } = w
        {
            visit(TreeEntry::Unreadable {
                path,
                code,
                message,
            });
        }
    }
    let sources: Vec<Source<'_>> = files
        .iter()
        .map(|f| Source {
            path: &f.path,
            shown: &f.key,
            opts,
            member: f.member.as_deref().map(|m| Member {
                archive: &m.archive,
                name: &m.name,
                bytes: &m.bytes,
                mtime: f.mtime,
            }),
        })
        .collect();
    parser.parse_chunk(&sources, tally, stopped, |i, parsed| {
        if let Some(parsed) = parsed {
            visit(TreeEntry::Parsed(files[i], parsed));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_parsed_once_per_file_and_tallied() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(
            root.join("a/content_1.txt"),
            "标题\n正文第一段。\n--> 2024-01-02 □ 1 1 青溪日报 content_1.html 1 标题 /enpproperty-->\n",
        )
        .unwrap();
        std::fs::write(root.join("a/empty.txt"), "").unwrap();
        std::fs::write(root.join("a/skipped.md"), "x").unwrap();
        let filter = FileFilter::new(&["*.txt".to_owned()], &[]).unwrap();
        let opts = ParseOptions::for_source("test");
        let stats = RunStats::default();
        let states = parse_tree(
            &[root],
            &filter,
            None,
            &Limits::default(),
            &opts,
            Some(&stats),
            &|| false,
            Vec::new,
            |seen: &mut Vec<(String, Option<String>)>, entry| match entry {
                TreeEntry::Parsed(f, parsed) => {
                    seen.push((f.key.clone(), parsed.err().map(|e| e.code().to_owned())))
                }
                TreeEntry::Unreadable { path, .. } => panic!("unreadable {path}"),
            },
        );
        let mut seen: Vec<_> = states.into_iter().flatten().collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("tree/a/content_1.txt".to_owned(), None),
                ("tree/a/empty.txt".to_owned(), Some("empty".to_owned())),
            ]
        );
        let counts = stats.snapshot();
        assert_eq!(counts.parsed, 2);
        assert!(stats.walk_is_done());
    }

    #[test]
    fn read_errors_keep_their_codes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, "0123456789").unwrap();
        let err = read_file(&path, 4).unwrap_err();
        assert_eq!(err.code(), "too_large");
        assert_eq!(err.file, path.display().to_string());
        let err = read_file(&dir.path().join("missing.txt"), 4).unwrap_err();
        assert_eq!(err.code(), "io");
    }
}
