//! Backfill helpers outside the staged pipeline: what earlier runs finished, the dry run
//! (parse and report, no database) and the report file's default place.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rayon::iter::{ParallelBridge, ParallelIterator};
use sha2::{Digest, Sha256};

use crate::extract::archive::{self, ArchiveFile, Shard, Walked};
use crate::pipeline::{ReportLine, ReportSink, RunStats};
use crate::settings::Pipeline;
use crate::transform::{self, RawFile};

/// What earlier backfills finished in the directories the walk is passing through: per
/// directory, a fingerprint of every (name, size, mtime) its progress pages record. The walk
/// goes in name order, so a directory is loaded once (or again after a long subtree, when it
/// was forgotten): memory holds a few directories, whatever the archive's size.
pub struct FinishedDirs {
    dirs: HashMap<String, HashSet<u128>>,
    /// Per directory, what became of each finished file, by fingerprint: loaded only for
    /// `--reparse` and `--retry-quarantined`, which need it.
    files: HashMap<String, HashMap<u128, FinishedFile>>,
    /// Directories in the order they were loaded, the oldest forgotten first.
    order: VecDeque<String>,
    capacity: usize,
}

impl FinishedDirs {
    /// Keeps at most `capacity` directories between batches.
    pub fn new(capacity: usize) -> Self {
        FinishedDirs {
            dirs: HashMap::new(),
            files: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The directories of `files` not loaded yet, each once.
    pub fn unknown(&self, files: &[ArchiveFile]) -> Vec<String> {
        let mut seen = HashSet::new();
        files
            .iter()
            .map(|f| f.dir_and_name().0)
            .filter(|d| !self.dirs.contains_key(*d) && seen.insert(*d))
            .map(str::to_owned)
            .collect()
    }

    /// Adds loaded directories (each with its fingerprints, empty when nothing is recorded).
    pub fn load(&mut self, loaded: HashMap<String, HashSet<u128>>) {
        for (dir, prints) in loaded {
            if self.dirs.insert(dir.clone(), prints).is_none() {
                self.order.push_back(dir);
            }
        }
    }

    /// Adds what became of a loaded directory's files (see `files`).
    pub fn load_files(&mut self, dir: &str, files: HashMap<u128, FinishedFile>) {
        if !files.is_empty() {
            self.files.insert(dir.to_owned(), files);
        }
    }

    /// What became of a finished file, when loaded (see `files`).
    pub fn file(&self, file: &ArchiveFile) -> Option<&FinishedFile> {
        let (dir, name) = file.dir_and_name();
        let mtime = file.mtime.map_or(-1, |t| t.timestamp_millis());
        self.files
            .get(dir)?
            .get(&fingerprint(name, file.size as i64, mtime))
    }

    /// Did an earlier run finish this file, as it is now (same size and mtime)?
    pub fn is_finished(&self, file: &ArchiveFile) -> bool {
        let (dir, name) = file.dir_and_name();
        let mtime = file.mtime.map_or(-1, |t| t.timestamp_millis());
        self.dirs
            .get(dir)
            .is_some_and(|p| p.contains(&fingerprint(name, file.size as i64, mtime)))
    }

    /// Forgets the oldest directories beyond the capacity; called between batches, so the
    /// directories of the batch being checked are never forgotten under it.
    pub fn trim(&mut self) {
        while self.order.len() > self.capacity {
            if let Some(dir) = self.order.pop_front() {
                self.dirs.remove(&dir);
                self.files.remove(&dir);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// What the progress pages say became of one finished file (all its entries merged: a file
/// quarantined once and loaded later counts as loaded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishedFile {
    /// The article it became; `None` when every run that read it quarantined it.
    pub article_id: Option<Box<str>>,
    /// The raw file's SHA-256, as read when it became that article.
    pub sha256: Option<Box<str>>,
    /// The latest page listing it (ms since the epoch).
    pub at: i64,
}

impl FinishedFile {
    /// Merges one more entry of the same file.
    pub fn add(&mut self, article_id: Option<&str>, sha256: Option<&str>, at: i64) {
        if let Some(id) = article_id {
            self.article_id = Some(id.into());
            self.sha256 = sha256.map(Into::into);
        }
        self.at = self.at.max(at);
    }
}

/// 128 bits of SHA-256 over a file's name, size and mtime: a directory of a million files
/// costs 16 MB of fingerprints rather than its names, and two different files share one with
/// a probability far below any disk error's.
pub fn fingerprint(name: &str, size: i64, mtime: i64) -> u128 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(size.to_le_bytes());
    h.update(mtime.to_le_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

/// Where the report goes when `--report` is not given: under the pipeline's work dir, never
/// inside the trees being read.
pub fn default_report_path(pipeline: &Pipeline, run_id: &str) -> PathBuf {
    pipeline
        .work_dir
        .join("backfill")
        .join(format!("{run_id}.report.jsonl"))
}

/// Is `path` inside one of the `roots`? (Backfill never writes there.)
pub fn inside_any(path: &Path, roots: &[PathBuf]) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let path = abs(path);
    roots.iter().any(|r| path.starts_with(abs(r)))
}

/// `--dry-run`: walks and parses everything exactly as a backfill would, writes the report,
/// and counts, without touching any database.
pub fn dry_run(
    pipeline: &Pipeline,
    roots: &[PathBuf],
    shard: Option<Shard>,
    report: &ReportSink,
    stats: &Arc<RunStats>,
    stopped: &(dyn Fn() -> bool + Sync),
) {
    let opts = pipeline.parse_options("backfill");
    let (tx, rx) = flume::bounded::<Vec<Walked>>(64);
    std::thread::scope(|scope| {
        let filter = &pipeline.filter;
        let walk_stats = stats.clone();
        scope.spawn(move || {
            archive::walk(roots, filter, shard, &tx, stopped);
            walk_stats.walk_done.store(true, Ordering::Relaxed);
        });
        rx.into_iter().flatten().par_bridge().for_each(|walked| {
            stats.seen.fetch_add(1, Ordering::Relaxed);
            let file = match walked {
                Walked::File(f) => f,
                Walked::Unreadable { path, message } => {
                    stats.quarantined.fetch_add(1, Ordering::Relaxed);
                    report.write(&ReportLine {
                        path: &path,
                        code: "io",
                        message: &message,
                        line: None,
                    });
                    return;
                }
            };
            let result =
                transform::read_file(&file.path, opts.max_file_bytes).and_then(|(bytes, mtime)| {
                    stats.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    transform::transform(
                        &RawFile {
                            path: &file.key,
                            bytes: &bytes,
                            mtime,
                        },
                        &opts,
                    )
                });
            stats.parsed.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(article) => {
                    if let Ok(mut w) = stats.warnings.lock() {
                        for warning in &article.warnings {
                            *w.entry(warning.code.clone()).or_default() += 1;
                        }
                    }
                }
                Err(e) => {
                    stats.quarantined.fetch_add(1, Ordering::Relaxed);
                    report.write(&ReportLine {
                        path: &file.path.display().to_string(),
                        code: e.code(),
                        message: &e.kind.to_string(),
                        line: e.line,
                    });
                }
            }
        });
    });
    report.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn file(key: &str, size: u64, mtime_ms: i64) -> ArchiveFile {
        ArchiveFile {
            path: PathBuf::from("/archive").join(key),
            key: key.to_owned(),
            size,
            mtime: chrono::Utc.timestamp_millis_opt(mtime_ms).single(),
        }
    }

    fn loaded(dir: &str, entries: &[(&str, i64, i64)]) -> HashMap<String, HashSet<u128>> {
        let prints = entries
            .iter()
            .map(|(n, s, m)| fingerprint(n, *s, *m))
            .collect();
        HashMap::from([(dir.to_owned(), prints)])
    }

    #[test]
    fn a_file_is_finished_only_with_the_recorded_size_and_mtime() {
        let mut finished = FinishedDirs::new(8);
        let batch = [
            file("root/a/1.txt", 10, 1000),
            file("root/a/2.txt", 20, 2000),
            file("root/b/1.txt", 10, 1000),
        ];
        assert_eq!(finished.unknown(&batch), vec!["root/a", "root/b"]);
        finished.load(loaded(
            "root/a",
            &[("1.txt", 10, 1000), ("2.txt", 21, 2000)],
        ));
        finished.load(loaded("root/b", &[]));
        assert!(finished.unknown(&batch).is_empty());
        assert!(finished.is_finished(&batch[0]));
        assert!(!finished.is_finished(&batch[1]), "size changed");
        assert!(
            !finished.is_finished(&batch[2]),
            "same name, other directory"
        );
        assert!(
            !finished.is_finished(&file("root/a/1.txt", 10, 1001)),
            "mtime changed"
        );
        assert!(
            !finished.is_finished(&file("root/c/1.txt", 10, 1000)),
            "not loaded"
        );
    }

    #[test]
    fn the_oldest_directories_are_forgotten_between_batches() {
        let mut finished = FinishedDirs::new(2);
        for d in ["r/1", "r/2", "r/3"] {
            finished.load(loaded(d, &[("x", 1, 1)]));
        }
        // A batch's directories stay until it is checked.
        assert_eq!(finished.len(), 3);
        assert!(finished.is_finished(&file("r/1/x", 1, 1)));
        finished.trim();
        assert_eq!(finished.len(), 2);
        assert_eq!(
            finished.unknown(&[file("r/1/x", 1, 1), file("r/3/x", 1, 1)]),
            vec!["r/1"]
        );
        // Loading again what is already there changes nothing.
        finished.load(loaded("r/3", &[("x", 1, 1)]));
        assert_eq!(finished.len(), 2);
    }

    #[test]
    fn keys_split_into_directory_and_name() {
        assert_eq!(
            file("root/2004/01/c.txt", 1, 1).dir_and_name(),
            ("root/2004/01", "c.txt")
        );
        assert_eq!(file("lone.txt", 1, 1).dir_and_name(), ("", "lone.txt"));
    }
}
