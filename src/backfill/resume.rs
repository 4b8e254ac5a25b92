//! Resuming a backfill: the walked files an earlier run finished (same size and mtime) are
//! skipped, or read again when `--reparse` or `--retry-quarantined` asks for them, with at
//! most one progress lookup per batch. Memory holds a few directories' fingerprints, whatever
//! the archive's size.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::warn;

use super::report::{ReportLine, ReportSink};
use super::{ReadAgain, Reparse};
use crate::extract::archive::{ArchiveFile, Walked};
use crate::extract::Origin;
use crate::load::retry::retry_until;
use crate::load::{LoadError, Loader, ProgressQuery, StoredSource};
use crate::shutdown::Shutdown;
use crate::stats::{bump, RunStats};
use crate::telemetry::Operation;

/// Files handed on to the parsers at once.
const FILE_CHUNK: usize = 16;
/// Directories whose finished files the check keeps between batches.
const FINISHED_DIRS: usize = 64;
/// Members' bytes the check holds at most while it fills a lookup batch.
const PENDING_BYTES: usize = 32 << 20;
/// How long the check waits to fill a lookup batch.
const WALK_LINGER: Duration = Duration::from_millis(100);

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

/// The check between the walk and the parsers: skips the walked files an earlier run finished
/// (same size and mtime), with at most one progress lookup per batch (for its directories not
/// loaded yet), and passes the rest on.
pub struct ProgressCheck {
    pub again: ReadAgain,
    /// This build's parser generation.
    pub generation: u32,
    pub loader: Loader,
    pub pipeline: String,
    pub stats: Arc<RunStats>,
    pub report: Arc<ReportSink>,
    /// Files per progress lookup.
    pub batch: usize,
    pub budget: Option<Duration>,
    pub shutdown: Shutdown,
}

impl ProgressCheck {
    /// Runs until the walk is done or the run stops; an error when a lookup gave up (the run
    /// is then stopping).
    pub async fn run(
        &self,
        walked: flume::Receiver<Vec<Walked>>,
        files: flume::Sender<Vec<Origin>>,
    ) -> Result<(), String> {
        let mut pending: Vec<ArchiveFile> = Vec::with_capacity(self.batch);
        // Members of packed inputs carry their bytes: a batch of big ones is checked early.
        let mut pending_bytes = 0;
        let mut finished = FinishedDirs::new(FINISHED_DIRS);
        let mut chunk = Vec::new().into_iter();
        loop {
            let next = match chunk.next() {
                Some(entry) => Some(entry),
                None => {
                    let received = if pending.is_empty() {
                        walked.recv_async().await.ok()
                    } else {
                        tokio::time::timeout(WALK_LINGER, walked.recv_async())
                            .await
                            .ok()
                            .and_then(Result::ok)
                    };
                    if let Some(received) = received {
                        chunk = received.into_iter();
                        continue;
                    }
                    None
                }
            };
            match next {
                Some(Walked::File(f)) => {
                    bump(&self.stats.seen);
                    pending_bytes += f.member.as_ref().map_or(0, |m| m.bytes.len());
                    pending.push(f);
                    if pending.len() < self.batch && pending_bytes < PENDING_BYTES {
                        continue;
                    }
                }
                Some(Walked::Unreadable {
                    path,
                    code,
                    message,
                }) => {
                    bump(&self.stats.seen);
                    bump(&self.stats.quarantined);
                    warn!(path = %path, code, error = %message, "cannot read an archive entry");
                    self.report.write(&ReportLine {
                        path: &path,
                        code,
                        message: &message,
                        line: None,
                    });
                    continue;
                }
                None if pending.is_empty() => {
                    if walked.is_disconnected() && walked.is_empty() {
                        return Ok(());
                    }
                    continue;
                }
                None => {}
            }
            if self.shutdown.stopping() {
                return Ok(());
            }
            let batch = std::mem::take(&mut pending);
            pending_bytes = 0;
            self.load_dirs(&mut finished, &batch).await?;
            let sources = self.stored_sources(&finished, &batch).await?;
            let mut chunk = Vec::with_capacity(FILE_CHUNK);
            for f in batch {
                if finished.is_finished(&f) && !self.read_again(&finished, &f, &sources) {
                    bump(&self.stats.skipped);
                    continue;
                }
                chunk.push(Origin::Archive(f));
                if chunk.len() >= FILE_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(FILE_CHUNK));
                    if files.send_async(full).await.is_err() {
                        return Ok(());
                    }
                }
            }
            if !chunk.is_empty() && files.send_async(chunk).await.is_err() {
                return Ok(());
            }
            finished.trim();
        }
    }

    /// Should this finished file be read again all the same?
    fn read_again(
        &self,
        finished: &FinishedDirs,
        f: &ArchiveFile,
        sources: &HashMap<String, StoredSource>,
    ) -> bool {
        let Some(file) = finished.file(f) else {
            return false;
        };
        // `--reparse=all` started again: what it finished before is done.
        let done_since = self
            .again
            .since
            .is_some_and(|since| file.at >= since.timestamp_millis());
        let all = self.again.reparse == Some(Reparse::All);
        match &file.article_id {
            // Quarantined by every run that read it.
            None => self.again.quarantined || (all && !done_since),
            Some(id) => {
                if self.again.reparse.is_none() || done_since {
                    return false;
                }
                match sources.get(&**id) {
                    // The document is gone: nothing to lose by reading it.
                    None => true,
                    // Only the file the document was read from: an older version of a
                    // corrected article read again would look like a correction back.
                    Some(s) if s.sha256.as_deref() != file.sha256.as_deref() => false,
                    Some(s) => all || s.generation < self.generation,
                }
            }
        }
    }

    /// `--reparse`: where the articles of the batch's finished files came from; one lookup per
    /// batch, of the finished files only.
    async fn stored_sources(
        &self,
        finished: &FinishedDirs,
        batch: &[ArchiveFile],
    ) -> Result<HashMap<String, StoredSource>, String> {
        if self.again.reparse.is_none() {
            return Ok(HashMap::new());
        }
        let ids: Vec<&str> = batch
            .iter()
            .filter(|f| finished.is_finished(f))
            .filter_map(|f| finished.file(f)?.article_id.as_deref())
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.lookup(Operation::ParserVersionLookup, || {
            self.loader.stored_sources(&ids)
        })
        .await
    }

    /// Runs a lookup the walk needs, retried while its errors are transient and the run goes
    /// on; when it gives up, the run stops.
    async fn lookup<T, F, Fut>(&self, operation: Operation, attempt: F) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, LoadError>>,
    {
        retry_until(operation, self.budget, &self.shutdown, &self.stats, attempt)
            .await
            .map_err(|e| {
                self.shutdown.give_up();
                format!("{operation}: {e}")
            })
    }

    /// Loads what earlier runs finished in the batch's directories not loaded yet.
    async fn load_dirs(
        &self,
        finished: &mut FinishedDirs,
        batch: &[ArchiveFile],
    ) -> Result<(), String> {
        let dirs = finished.unknown(batch);
        if dirs.is_empty() {
            return Ok(());
        }
        let query = ProgressQuery {
            ids: self.again.reparse.is_some() || self.again.quarantined,
        };
        let (loaded, files) = self
            .lookup(Operation::ProgressLookup, || async {
                // Filled afresh on every attempt: a lookup cut short loads nothing.
                let mut loaded: HashMap<String, HashSet<u128>> =
                    dirs.iter().map(|d| (d.clone(), HashSet::new())).collect();
                let mut files: HashMap<String, HashMap<u128, FinishedFile>> = HashMap::new();
                self.loader
                    .lookup_progress_with(&self.pipeline, &dirs, query, |e| {
                        if let Some(prints) = loaded.get_mut(e.dir) {
                            let print = fingerprint(e.name, e.size, e.mtime);
                            prints.insert(print);
                            if query.ids {
                                files
                                    .entry(e.dir.to_owned())
                                    .or_default()
                                    .entry(print)
                                    .or_default()
                                    .add(e.article_id, e.sha256, e.at);
                            }
                        }
                    })
                    .await?;
                Ok((loaded, files))
            })
            .await?;
        finished.load(loaded);
        for (dir, files) in files {
            finished.load_files(&dir, files);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::path::PathBuf;

    fn file(key: &str, size: u64, mtime_ms: i64) -> ArchiveFile {
        ArchiveFile {
            path: PathBuf::from("/archive").join(key),
            key: key.to_owned(),
            size,
            mtime: chrono::Utc.timestamp_millis_opt(mtime_ms).single(),
            member: None,
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
