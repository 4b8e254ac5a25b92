//! The staged pipeline: extract → transform → load, wired by bounded channels.
//!
//! ```text
//! extract                       transform (1 thread per core)      load (batcher + writers)
//! inbox: list/watch, claim ──▶ [files] ──▶ read, parse ──▶ [items] ──▶ batch ─▶ bulk write ─▶ done/ | progress
//! archive: walk, skip done ─┘                 └─▶ quarantine/ (inbox files)          └─▶ quarantine/ | report
//! ```
//! Every channel is bounded: when MongoDB is slow the queues fill and intake waits, so memory
//! stays flat whatever the inbox or archive holds. A file is acknowledged (moved out of
//! `processing/`, or recorded as done in the backfill progress) only after the batch that
//! carries its document was acknowledged; when the run gives up (retry budget spent, fatal
//! database error, shutdown), inbox files not yet written go back to the inbox and archive
//! files are simply left for the next run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{doc, Document, RawDocumentBuf};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;
use tracing::{error, info, info_span, warn, Instrument};

use crate::backfill::{fingerprint, FinishedDirs, FinishedFile};
use crate::document::Article;
use crate::extract::archive::{self, ArchiveFile, Shard, Walked};
use crate::extract::read::{read_file, FileRead, FileReader};
use crate::extract::{watch, Claim, Inbox, QuarantineReport, WatchRules};
use crate::load::retry::Backoff;
use crate::load::{
    BatchWrite, LoadError, Loader, Outcome, Prepared, ProgressEntry, ProgressPages, ProgressQuery,
    Receipt, StoredSource,
};
use crate::settings::{LoadSettings, Pipeline};
use crate::transform::{self, ParseOptions, TransformError};

/// Files waiting for a transform worker. Small: a claimed inbox file is a file taken from
/// other instances sharing the inbox, so claim only a little ahead of the parsers.
const FILE_QUEUE: usize = 64;
/// Files handed to the workers at once (a watcher's claims go one by one): one wake-up of a
/// sleeping worker, and of the stage feeding them, for many files rather than for each.
const FILE_CHUNK: usize = 16;
/// Parsed and encoded documents waiting for the batcher. The batcher fills a batch from it, so
/// it only needs to absorb the parsers' jitter; every item is a whole document (~15 KB).
const ITEM_QUEUE: usize = 128;
/// Items a transform worker hands over at once (fewer when no file is waiting). When the
/// database sets the pace, the workers sleep on a full queue: handing over one item at a time
/// woke a worker thread for every file.
const ITEM_CHUNK: usize = 16;
/// Chunks of walked archive entries (up to 64 each) waiting for the progress check.
const WALK_QUEUE: usize = 64;
/// Directories whose finished files the progress check keeps between batches.
const FINISHED_DIRS: usize = 64;
/// How long the progress check waits to fill a lookup batch.
const WALK_LINGER: Duration = Duration::from_millis(100);

/// Counters of one run, shared by every stage.
#[derive(Debug, Default)]
pub struct RunStats {
    /// Inbox files claimed, or archive files found by the walk (this shard's).
    pub seen: AtomicU64,
    /// Archive files skipped because an earlier run finished them (unchanged size and mtime).
    pub skipped: AtomicU64,
    /// Files read and parsed.
    pub parsed: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
    pub inserted: AtomicU64,
    pub updated: AtomicU64,
    pub unchanged: AtomicU64,
    /// Replaced in place: the same bytes read again by a newer parser.
    pub reparsed: AtomicU64,
    pub quarantined: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
    /// Set when the archive walk has found every file (for the ETA).
    pub walk_done: AtomicBool,
    /// Document warnings, by code.
    pub warnings: Mutex<BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub seen: u64,
    pub skipped: u64,
    pub parsed: u64,
    pub bytes: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub reparsed: u64,
    pub quarantined: u64,
    pub failed: u64,
    pub retries: u64,
}

impl Counts {
    /// Files with a final outcome.
    pub fn done(&self) -> u64 {
        self.skipped
            + self.inserted
            + self.updated
            + self.unchanged
            + self.reparsed
            + self.quarantined
            + self.failed
    }
}

impl RunStats {
    pub fn snapshot(&self) -> Counts {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            seen: g(&self.seen),
            skipped: g(&self.skipped),
            parsed: g(&self.parsed),
            bytes: g(&self.bytes),
            inserted: g(&self.inserted),
            updated: g(&self.updated),
            unchanged: g(&self.unchanged),
            reparsed: g(&self.reparsed),
            quarantined: g(&self.quarantined),
            failed: g(&self.failed),
            retries: g(&self.retries),
        }
    }

    pub fn warnings(&self) -> BTreeMap<String, u64> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    fn count_warnings(&self, article: &Article) {
        if article.warnings.is_empty() {
            return;
        }
        if let Ok(mut w) = self.warnings.lock() {
            for warning in &article.warnings {
                *w.entry(warning.code.clone()).or_default() += 1;
            }
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// How a run ended.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every file was processed (quarantined files included).
    Ok,
    /// Some files were left for a later run.
    Incomplete,
    /// Stopped by a signal; unfinished files were left for a later run.
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub mode: String,
    pub pipelines: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub counts: Counts,
    /// Document warnings, by code.
    pub warnings: BTreeMap<String, u64>,
    /// The last database error, when the run gave up because of one.
    pub error: Option<String>,
    /// Backfill: where the quarantine report went.
    pub report_file: Option<String>,
}

impl RunReport {
    pub fn to_document(&self) -> Document {
        let c = &self.counts;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let warnings: Document = self
            .warnings
            .iter()
            .map(|(k, v)| (k.clone(), n(*v).into()))
            .collect();
        doc! {
            "_id": &self.run_id,
            "mode": &self.mode,
            "pipelines": &self.pipelines,
            "started_at": bson::DateTime::from_chrono(self.started_at),
            "ended_at": self.ended_at.map(bson::DateTime::from_chrono),
            "status": bson::to_bson(&self.status).unwrap_or(bson::Bson::Null),
            "counts": {
                "seen": n(c.seen),
                "skipped": n(c.skipped),
                "parsed": n(c.parsed),
                "bytes": n(c.bytes),
                "inserted": n(c.inserted),
                "updated": n(c.updated),
                "unchanged": n(c.unchanged),
                "reparsed": n(c.reparsed),
                "quarantined": n(c.quarantined),
                "failed": n(c.failed),
                "retries": n(c.retries),
            },
            "warnings": warnings,
            "error": self.error.clone(),
            "report_file": self.report_file.clone(),
            "host": hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
            "pid": std::process::id() as i64,
            "version": env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Where run records that could not be written wait: `<work_dir>/.runs/`.
pub const RUN_SPOOL_DIR: &str = ".runs";
/// How long one attempt to write a run record may take: the database may be why the run ends.
const RUN_RECORD_TIMEOUT: Duration = Duration::from_secs(5);
/// Kept run records written at once, at most: the rest wait for the next chance.
const RUN_SPOOL_BATCH: usize = 1000;

/// Run records that could not be written (the database unreachable when the run ended), kept
/// until a run reaches the database: `<work_dir>/.runs/<run id>.json` in the work dir of each
/// of the run's pipelines, as canonical extended JSON. Writing one is an upsert by run id, so a
/// record kept twice, or written twice, is one record.
#[derive(Debug, Clone)]
pub struct RunSpool {
    dirs: Vec<PathBuf>,
}

impl RunSpool {
    pub fn new(pipelines: &[Pipeline]) -> RunSpool {
        let mut dirs: Vec<PathBuf> = Vec::with_capacity(pipelines.len());
        for p in pipelines {
            let dir = p.work_dir.join(RUN_SPOOL_DIR);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        RunSpool { dirs }
    }

    /// How many records are kept, waiting for a run to write them.
    pub fn waiting(&self) -> usize {
        read_kept_runs(&self.dirs).len()
    }

    /// Keeps a record that could not be written; `false` when it could be kept nowhere.
    pub async fn keep(&self, record: &Document) -> bool {
        let id = record.get_str("_id").unwrap_or("unknown").to_owned();
        let json = match serde_json::to_vec(
            &bson::Bson::Document(record.clone()).into_canonical_extjson(),
        ) {
            Ok(j) => j,
            Err(e) => {
                error!(error = %e, run_id = %id, "cannot encode the run record to keep it");
                return false;
            }
        };
        let dirs = self.dirs.clone();
        let kept = tokio::task::spawn_blocking(move || {
            let mut kept = false;
            for dir in dirs {
                let path = dir.join(format!("{id}.json"));
                match std::fs::create_dir_all(&dir)
                    .and_then(|()| crate::extract::inbox::write_atomically(&path, &json))
                {
                    Ok(()) => {
                        warn!(run_id = %id, path = %path.display(), "kept the run record; the next run that reaches the database writes it");
                        kept = true;
                    }
                    Err(e) => {
                        error!(run_id = %id, path = %path.display(), error = %e, "cannot keep the run record")
                    }
                }
            }
            kept
        })
        .await;
        kept.unwrap_or(false)
    }

    /// Writes the kept records to the database and removes them; those that fail stay.
    pub async fn flush(&self, loader: &Loader) {
        let dirs = self.dirs.clone();
        let Ok(kept) = tokio::task::spawn_blocking(move || read_kept_runs(&dirs)).await else {
            return;
        };
        for (paths, record) in kept {
            let id = record.get_str("_id").unwrap_or("unknown").to_owned();
            match tokio::time::timeout(RUN_RECORD_TIMEOUT, loader.save_run(&record)).await {
                Ok(Ok(())) => {
                    for path in &paths {
                        if let Err(e) = std::fs::remove_file(path) {
                            warn!(path = %path.display(), error = %e, "wrote the kept run record, but cannot remove its file");
                        }
                    }
                    info!(run_id = %id, "wrote a run record kept by an earlier run");
                }
                Ok(Err(e)) => {
                    warn!(run_id = %id, error = %e, "cannot write a kept run record yet");
                    return;
                }
                Err(_) => {
                    warn!(run_id = %id, "cannot write a kept run record yet: timed out");
                    return;
                }
            }
        }
    }
}

/// The kept run records of `dirs`, each with the files that hold it (one per work dir).
fn read_kept_runs(dirs: &[PathBuf]) -> Vec<(Vec<PathBuf>, Document)> {
    let mut out: Vec<(Vec<PathBuf>, Document)> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue; // none kept here
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Only whole records: a temp file is a write in progress or one that died.
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let record = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string())
                })
                .and_then(|v| bson::Bson::try_from(v).map_err(|e| e.to_string()));
            match record {
                Ok(bson::Bson::Document(d)) => {
                    let id = d.get_str("_id").ok();
                    match out.iter_mut().find(|(_, o)| o.get_str("_id").ok() == id) {
                        Some((paths, _)) => paths.push(path),
                        None => {
                            if out.len() >= RUN_SPOOL_BATCH {
                                return out;
                            }
                            out.push((vec![path], d))
                        }
                    }
                }
                Ok(_) => {
                    warn!(path = %path.display(), "a kept run record is not a document; left alone")
                }
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "cannot read a kept run record; left alone")
                }
            }
        }
    }
    out
}

/// A new run id: sortable by time, unique across machines.
pub fn new_run_id() -> String {
    format!(
        "{}-{:08x}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        fastrand::u32(..)
    )
}

/// Stops intake: set by a signal, a spent retry budget or a fatal database error.
#[derive(Debug, Default)]
pub struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once triggered (at once if it already was).
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// What `/readyz` reports: is the database answering, are the inboxes readable and watched.
#[derive(Debug)]
pub struct Health {
    db_ok: AtomicBool,
    inboxes_ok: AtomicBool,
    /// Per inbox (pipeline order), the directory its watch is on, if it has one; inboxes not
    /// listed (a run that does not watch) need none.
    watched: Mutex<Vec<Option<watch::DirId>>>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            db_ok: AtomicBool::new(true),
            inboxes_ok: AtomicBool::new(true),
            watched: Mutex::new(Vec::new()),
        }
    }
}

impl Health {
    pub fn set_db(&self, ok: bool) {
        self.db_ok.store(ok, Ordering::Relaxed);
        metrics::gauge!("article_etl_database_up").set(if ok { 1.0 } else { 0.0 });
    }

    pub fn set_inboxes(&self, ok: bool) {
        self.inboxes_ok.store(ok, Ordering::Relaxed);
    }

    pub fn db_ok(&self) -> bool {
        self.db_ok.load(Ordering::Relaxed)
    }

    pub fn inboxes_ok(&self) -> bool {
        self.inboxes_ok.load(Ordering::Relaxed)
    }

    pub fn set_watched(&self, inbox: usize, on: Option<watch::DirId>) {
        if let Ok(mut w) = self.watched.lock() {
            if w.len() <= inbox {
                w.resize(inbox + 1, None);
            }
            w[inbox] = on;
        }
    }

    /// Whether inbox `i` (pipeline order), at `path`, has a working watch or needs none. The
    /// directory now at the path is compared with the watched one: an inbox made again a
    /// moment ago is not watched yet, whatever the watch loop last saw.
    pub fn watched(&self, inbox: usize, path: &Path) -> bool {
        let on = match self.watched.lock() {
            Ok(w) if inbox < w.len() => w[inbox],
            _ => return true,
        };
        on.is_some() && on == watch::dir_id(path)
    }
}

/// The backfill's report of quarantined files: JSON lines `{path, code, message, line}`.
#[derive(Debug)]
pub struct ReportSink {
    pub path: PathBuf,
    out: Mutex<std::io::BufWriter<std::fs::File>>,
}

#[derive(Debug, Serialize)]
pub struct ReportLine<'a> {
    pub path: &'a str,
    pub code: &'a str,
    pub message: &'a str,
    pub line: Option<usize>,
}

impl ReportSink {
    pub fn create(path: &Path) -> std::io::Result<ReportSink> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(ReportSink {
            path: path.to_path_buf(),
            out: Mutex::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        })
    }

    pub fn write(&self, line: &ReportLine<'_>) {
        if let Ok(mut out) = self.out.lock() {
            let written = serde_json::to_writer(&mut *out, line)
                .map_err(std::io::Error::other)
                .and_then(|()| out.write_all(b"\n"));
            if let Err(e) = written {
                error!(error = %e, report = %self.path.display(), "cannot write the report");
            }
        }
    }

    pub fn flush(&self) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.flush();
        }
    }
}

/// What a backfill walks.
pub struct BackfillPlan {
    pub roots: Vec<PathBuf>,
    pub shard: Option<Shard>,
    pub report: Arc<ReportSink>,
    /// Which finished files to read again besides changed ones.
    pub again: ReadAgain,
}

/// Finished archive files a backfill reads again (besides those whose size or mtime changed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadAgain {
    pub reparse: Option<Reparse>,
    /// `--retry-quarantined`: files every earlier run that read them quarantined.
    pub quarantined: bool,
    /// `--reparse=all`: when it began (earlier than now when it is resumed); the files it
    /// finished since are skipped.
    pub since: Option<bson::DateTime>,
}

/// `backfill --reparse[=outdated|all]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reparse {
    /// Files whose stored document an older parser generation wrote.
    Outdated,
    /// Every finished file (rewritten in place unless a newer parser wrote it).
    All,
}

impl std::str::FromStr for Reparse {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "outdated" => Ok(Reparse::Outdated),
            "all" => Ok(Reparse::All),
            _ => Err(format!("{s:?}: expected outdated or all")),
        }
    }
}

/// How a run finds its files.
pub enum Mode {
    /// Drain the inboxes as they are now, with a bounded retry budget.
    Once,
    /// Watch the inboxes without end, retrying the database without limit.
    Watch(Vec<WatchRules>),
    /// Walk archive trees in place (pipeline 0), skipping what earlier runs finished.
    Backfill(BackfillPlan),
    /// Take the quarantined files whose report has one of these codes (all when empty) back
    /// through the pipelines, then drain like `Once` (the inboxes are left alone).
    Replay(Vec<String>),
}

/// How often a watching run refreshes its run record.
const RUN_RECORD_INTERVAL: Duration = Duration::from_secs(60);

/// Where a file came from, which decides what happens to it once written.
#[derive(Debug)]
pub enum Origin {
    Inbox(Claim),
    Archive(ArchiveFile),
}

impl Origin {
    fn pipeline(&self) -> usize {
        match self {
            Origin::Inbox(c) => c.pipeline,
            Origin::Archive(_) => 0,
        }
    }

    fn path(&self) -> &Path {
        match self {
            Origin::Inbox(c) => &c.path,
            Origin::Archive(f) => &f.path,
        }
    }

    /// How the file is named in documents, logs and reports.
    fn shown(&self) -> String {
        match self {
            Origin::Inbox(c) => c.display_name(),
            Origin::Archive(f) => f.key.clone(),
        }
    }
}

/// A parsed (or unparseable) file on its way to the database.
struct Item {
    origin: Origin,
    result: Result<Prepared, TransformError>,
}

impl Item {
    /// What the item weighs in a batch: its encoded document.
    fn bytes(&self) -> usize {
        self.result.as_ref().map_or(0, Prepared::bytes)
    }
}

/// Everything one run needs.
pub struct Run {
    pub loader: Loader,
    pub pipelines: Vec<Pipeline>,
    /// The pipelines' inboxes (empty for a backfill).
    pub inboxes: Vec<Arc<Inbox>>,
    pub load: LoadSettings,
    pub run_id: String,
    pub mode: String,
    pub stats: Arc<RunStats>,
    /// Set by the caller on SIGINT/SIGTERM.
    pub shutdown: Arc<Stop>,
    pub health: Arc<Health>,
}

impl Run {
    /// `run --once`: drain what the inboxes hold now (and what earlier crashes left in
    /// `processing/`), then return the report.
    pub async fn once(self) -> RunReport {
        self.execute(Mode::Once).await
    }

    /// Runs the stages until the files are drained (`Once`, `Backfill`) or shutdown (`Watch`).
    pub async fn execute(self, mode: Mode) -> RunReport {
        let mut report = RunReport {
            run_id: self.run_id.clone(),
            mode: self.mode.clone(),
            pipelines: self.pipelines.iter().map(|p| p.name.clone()).collect(),
            started_at: Utc::now(),
            ended_at: None,
            status: RunStatus::Running,
            counts: Counts::default(),
            warnings: BTreeMap::new(),
            error: None,
            report_file: match &mode {
                Mode::Backfill(plan) => Some(plan.report.path.display().to_string()),
                _ => None,
            },
        };
        let spool = RunSpool::new(&self.pipelines);
        match self.loader.save_run(&report.to_document()).await {
            Ok(()) => spool.flush(&self.loader).await,
            Err(e) => warn!(error = %e, "could not write the run record at start"),
        }

        let options: Arc<Vec<ParseOptions>> = Arc::new(
            self.pipelines
                .iter()
                .map(|p| p.parse_options(&self.mode))
                .collect(),
        );
        let stop = Arc::new(Stop::default());
        let (file_tx, file_rx) = flume::bounded::<Vec<Origin>>(FILE_QUEUE / FILE_CHUNK);
        let (item_tx, item_rx) = flume::bounded::<Vec<Item>>(ITEM_QUEUE / ITEM_CHUNK);
        let queued = Arc::new(AtomicU64::new(0));
        let budget = match &mode {
            Mode::Watch(_) => None,
            _ => self.load.retry_budget(),
        };
        let report_sink = match &mode {
            Mode::Backfill(plan) => Some(plan.report.clone()),
            _ => None,
        };

        let extract = self.spawn_extract(mode, file_tx, &stop, budget);

        // Transform.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut transform_tasks = Vec::with_capacity(workers);
        for _ in 0..workers {
            let file_rx = file_rx.clone();
            let item_tx = item_tx.clone();
            let ctx = WorkerContext {
                inboxes: self.inboxes.clone(),
                options: options.clone(),
                stats: self.stats.clone(),
                run_id: self.run_id.clone(),
                stop: stop.clone(),
                shutdown: self.shutdown.clone(),
                queued: queued.clone(),
            };
            transform_tasks.push(tokio::task::spawn_blocking(move || {
                let mut reader = FileReader::new();
                let mut done = Vec::with_capacity(ITEM_CHUNK);
                loop {
                    let chunk = match file_rx.try_recv() {
                        Ok(chunk) => chunk,
                        Err(flume::TryRecvError::Empty) => {
                            // Nothing waiting: what is done goes on before this worker sleeps.
                            ctx.hand_over(&mut done, &item_tx);
                            match file_rx.recv() {
                                Ok(chunk) => chunk,
                                Err(_) => break,
                            }
                        }
                        Err(flume::TryRecvError::Disconnected) => break,
                    };
                    ctx.transform_chunk(chunk, &mut reader, &mut done, &item_tx);
                }
                ctx.hand_over(&mut done, &item_tx);
            }));
        }
        drop(file_rx);
        drop(item_tx);

        // Load.
        let record = self.spawn_record_refresh(&report, budget.is_none(), &spool);
        let load_error = self
            .load_all(item_rx, &queued, &stop, budget, report_sink.clone())
            .await;
        if let Some(task) = record {
            task.abort();
        }

        match extract.await {
            Ok(Err(e)) => {
                error!(error = %e, "extract failed");
                report.error.get_or_insert(e);
            }
            Err(e) => {
                error!(error = %e, "extract panicked");
                report.error.get_or_insert_with(|| e.to_string());
            }
            Ok(Ok(())) => {}
        }
        for t in transform_tasks {
            let _ = t.await;
        }
        if let Some(sink) = &report_sink {
            sink.flush();
        }
        report.counts = self.stats.snapshot();
        report.warnings = self.stats.warnings();
        report.ended_at = Some(Utc::now());
        if let Some(e) = load_error {
            report.error = Some(e.to_string());
        }
        report.status = if self.shutdown.is_set() {
            RunStatus::Interrupted
        } else if report.counts.failed > 0 || report.error.is_some() {
            RunStatus::Incomplete
        } else {
            RunStatus::Ok
        };
        // The database may be the reason the run failed: try once, briefly, else keep the
        // record for the next run that reaches the database.
        let record = report.to_document();
        let failed =
            match tokio::time::timeout(RUN_RECORD_TIMEOUT, self.loader.save_run(&record)).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("timed out".to_owned()),
            };
        match failed {
            None => spool.flush(&self.loader).await,
            Some(e) => {
                warn!(error = %e, "could not write the run record");
                spool.keep(&record).await;
            }
        }
        report
    }

    /// Starts the extract stage for `mode`; it ends when the files are exhausted or intake
    /// stops, dropping `files` so that the later stages drain and finish.
    fn spawn_extract(
        &self,
        mode: Mode,
        files: flume::Sender<Vec<Origin>>,
        stop: &Arc<Stop>,
        budget: Option<Duration>,
    ) -> tokio::task::JoinHandle<Result<(), String>> {
        let inboxes = self.inboxes.clone();
        let stats = self.stats.clone();
        let stop = stop.clone();
        let shutdown = self.shutdown.clone();
        let pipelines: Vec<String> = self.pipelines.iter().map(|p| p.name.clone()).collect();
        match mode {
            Mode::Once => tokio::task::spawn_blocking(move || {
                let stopped = || stop.is_set() || shutdown.is_set();
                let send = |claims: Vec<Claim>| {
                    send_claims(&inboxes, &files, claims, &stats, &pipelines, &stopped)
                };
                extract_once(&inboxes, &send, &stopped)
                    .map_err(|e| format!("listing an inbox: {e}"))
            }),
            Mode::Replay(codes) => tokio::task::spawn_blocking(move || {
                let stopped = || stop.is_set() || shutdown.is_set();
                let send = |claims: Vec<Claim>| {
                    send_claims(&inboxes, &files, claims, &stats, &pipelines, &stopped)
                };
                extract_replay(&inboxes, &codes, &send, &stopped)
                    .map_err(|e| format!("replaying a quarantine: {e}"))
            }),
            Mode::Watch(rules) => {
                let health = self.health.clone();
                // Not ready until the watches are made.
                for i in 0..inboxes.len() {
                    health.set_watched(i, None);
                }
                tokio::task::spawn_blocking(move || {
                    let stopped = || stop.is_set() || shutdown.is_set();
                    // A watcher's claims go on one at a time: the next may be long in coming.
                    let send = |claim: Claim| {
                        send_claims(&inboxes, &files, vec![claim], &stats, &pipelines, &stopped)
                    };
                    let watched = |i: usize, on| health.set_watched(i, on);
                    watch::watch_inboxes(&inboxes, &rules, &send, &stopped, &watched)
                        .map_err(|e| format!("watching: {e}"))
                })
            }
            Mode::Backfill(plan) => {
                let (walk_tx, walk_rx) = flume::bounded::<Vec<Walked>>(WALK_QUEUE);
                let Some(pipeline) = self.pipelines.first() else {
                    return tokio::spawn(async { Err("backfill needs a pipeline".to_owned()) });
                };
                let filter = pipeline.filter.clone();
                let walker = {
                    let (stop, shutdown, stats) = (stop.clone(), shutdown.clone(), stats.clone());
                    let roots = plan.roots.clone();
                    let shard = plan.shard;
                    tokio::task::spawn_blocking(move || {
                        let stopped = || stop.is_set() || shutdown.is_set();
                        archive::walk(&roots, &filter, shard, &walk_tx, &stopped);
                        stats.walk_done.store(true, Ordering::Relaxed);
                    })
                };
                let checker = ProgressCheck {
                    again: plan.again,
                    generation: crate::document::parser_generation(
                        crate::document::parser_version(),
                    ),
                    loader: self.loader.clone(),
                    pipeline: pipeline.name.clone(),
                    stats,
                    report: plan.report,
                    batch: self.load.batch_size,
                    budget,
                    stop,
                    shutdown,
                };
                tokio::spawn(async move {
                    let checked = checker.run(walk_rx, files).await;
                    let _ = walker.await;
                    checked
                })
            }
        }
    }

    /// In watch mode, refreshes the run record's counts now and then.
    /// In watch mode, refreshes the run record's counts now and then, and writes the records
    /// kept by earlier runs once the database answers.
    fn spawn_record_refresh(
        &self,
        report: &RunReport,
        watching: bool,
        spool: &RunSpool,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !watching {
            return None;
        }
        let loader = self.loader.clone();
        let stats = self.stats.clone();
        let spool = spool.clone();
        let mut report = report.clone();
        Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(RUN_RECORD_INTERVAL).await;
                report.counts = stats.snapshot();
                report.warnings = stats.warnings();
                match loader.save_run(&report.to_document()).await {
                    Ok(()) => spool.flush(&loader).await,
                    Err(e) => warn!(error = %e, "could not refresh the run record"),
                }
            }
        }))
    }

    /// Batches items and writes them; returns the error that made the run give up.
    async fn load_all(
        &self,
        items: flume::Receiver<Vec<Item>>,
        queued: &AtomicU64,
        stop: &Arc<Stop>,
        budget: Option<Duration>,
        report: Option<Arc<ReportSink>>,
    ) -> Option<LoadError> {
        let linger = Duration::from_millis(self.load.batch_linger_ms);
        let writers = self.load.writers.max(1);
        // A rendezvous: a full batch waits in the batcher's hands until a writer is free, so
        // at most `writers` batches are in flight plus the one being filled.
        let (batch_tx, batch_rx) = flume::bounded::<Vec<Item>>(0);
        let pages = Arc::new(AtomicU64::new(0));
        let mut writer_tasks = Vec::with_capacity(writers);
        for _ in 0..writers {
            let batch_rx = batch_rx.clone();
            let writer = Writer {
                loader: self.loader.clone(),
                inboxes: self.inboxes.clone(),
                stats: self.stats.clone(),
                run_id: self.run_id.clone(),
                budget,
                stop: stop.clone(),
                shutdown: self.shutdown.clone(),
                health: self.health.clone(),
                pipelines: self.pipelines.iter().map(|p| p.name.clone()).collect(),
                report: report.clone(),
                pages: pages.clone(),
            };
            let writer = Arc::new(writer);
            writer_tasks.push(tokio::spawn(async move {
                let mut last_error = None;
                // The files of a written batch are moved (or recorded done) while the next
                // batch is written: the database does not wait for the filesystem. One such
                // disposal per writer at a time.
                let mut disposing: Option<tokio::task::JoinHandle<()>> = None;
                while let Ok(batch) = batch_rx.recv_async().await {
                    match writer.write(batch).await {
                        Ok(disposals) => {
                            if let Some(previous) = disposing.take() {
                                let _ = previous.await;
                            }
                            let writer = writer.clone();
                            disposing =
                                Some(tokio::spawn(async move { writer.dispose(disposals).await }));
                        }
                        Err(e) => last_error = Some(e),
                    }
                }
                if let Some(last) = disposing.take() {
                    let _ = last.await;
                }
                last_error
            }));
        }
        drop(batch_rx);

        let mut batch: Vec<Item> = Vec::with_capacity(self.load.batch_size);
        let mut batch_bytes = 0;
        let mut deadline = Instant::now() + linger;
        // The rest of a chunk that did not fit the batch it arrived for.
        let mut carried: std::vec::IntoIter<Item> = Vec::new().into_iter();
        loop {
            let next = if carried.len() > 0 {
                Some(std::mem::take(&mut carried))
            } else if batch.is_empty() {
                items.recv_async().await.ok().map(|c| took(queued, c))
            } else {
                let wait = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(wait, items.recv_async()).await {
                    Ok(r) => r.ok().map(|c| took(queued, c)),
                    Err(_) => {
                        batch_bytes = 0;
                        if batch_tx
                            .send_async(std::mem::take(&mut batch))
                            .await
                            .is_err()
                        {
                            break;
                        }
                        continue;
                    }
                }
            };
            let Some(mut chunk) = next else { break };
            if batch.is_empty() {
                deadline = Instant::now() + linger;
            }
            let mut closed = false;
            for item in chunk.by_ref() {
                batch_bytes += item.bytes();
                batch.push(item);
                if batch.len() >= self.load.batch_size || batch_bytes >= self.load.batch_bytes {
                    batch_bytes = 0;
                    closed = batch_tx
                        .send_async(std::mem::take(&mut batch))
                        .await
                        .is_err();
                    break;
                }
            }
            if closed {
                break;
            }
            carried = chunk;
        }
        if !batch.is_empty() {
            let _ = batch_tx.send_async(batch).await;
        }
        drop(batch_tx);
        let mut last_error = None;
        for t in writer_tasks {
            if let Ok(Some(e)) = t.await {
                last_error = Some(e);
            }
        }
        last_error
    }
}

/// A chunk taken from the workers: counted out of the `parsed` queue depth.
fn took(queued: &AtomicU64, chunk: Vec<Item>) -> std::vec::IntoIter<Item> {
    let n = chunk.len() as u64;
    let waiting = queued.fetch_sub(n, Ordering::Relaxed).saturating_sub(n);
    metrics::gauge!("article_etl_queue_depth", "queue" => "parsed").set(waiting as f64);
    chunk.into_iter()
}

/// Hands claimed files to the transform stage, waiting while the queue is full; when intake
/// stops meanwhile, the files go back to the inbox.
fn send_claims(
    inboxes: &[Arc<Inbox>],
    files: &flume::Sender<Vec<Origin>>,
    claims: Vec<Claim>,
    stats: &RunStats,
    pipelines: &[String],
    stopped: &dyn Fn() -> bool,
) -> bool {
    if claims.is_empty() {
        return true;
    }
    for claim in &claims {
        bump(&stats.seen);
        metrics::counter!("article_etl_files_claimed_total", "pipeline" => pipelines[claim.pipeline].clone()).increment(1);
    }
    metrics::gauge!("article_etl_queue_depth", "queue" => "claims").set(files.len() as f64);
    let mut item: Vec<Origin> = claims.into_iter().map(Origin::Inbox).collect();
    let give_back = |back: Vec<Origin>| {
        for origin in back {
            if let Origin::Inbox(claim) = origin {
                release(&inboxes[claim.pipeline], &claim, stats);
            }
        }
    };
    loop {
        match files.send_timeout(item, Duration::from_millis(100)) {
            Ok(()) => return true,
            Err(flume::SendTimeoutError::Timeout(back)) => {
                if stopped() {
                    give_back(back);
                    return false;
                }
                item = back;
            }
            Err(flume::SendTimeoutError::Disconnected(back)) => {
                give_back(back);
                return false;
            }
        }
    }
}

fn extract_once(
    inboxes: &[Arc<Inbox>],
    send: &dyn Fn(Vec<Claim>) -> bool,
    stopped: &dyn Fn() -> bool,
) -> std::io::Result<()> {
    // Claims go on FILE_CHUNK at a time, the last ones of the listing as they are.
    let mut chunk = Vec::with_capacity(FILE_CHUNK);
    let flush = |chunk: &mut Vec<Claim>| chunk.is_empty() || send(std::mem::take(chunk));
    // Files left by crashed runs first: they were taken from the inbox longest ago.
    for inbox in inboxes {
        for claim in inbox.recover()? {
            info!(pipeline = %inbox.pipeline_name, file = %claim.display_name(), "recovered a file left in processing/");
            chunk.push(claim);
            if chunk.len() >= FILE_CHUNK && !flush(&mut chunk) {
                return Ok(());
            }
        }
    }
    for inbox in inboxes {
        for name in inbox.list()? {
            if stopped() {
                // What is claimed goes on, for the workers to give back.
                flush(&mut chunk);
                return Ok(());
            }
            // Still being written in place: left for the next run.
            if watch::open_for_writing(&inbox.inbox.join(&name)) {
                info!(pipeline = %inbox.pipeline_name, file = %name.to_string_lossy(), "skipped: open for writing");
                continue;
            }
            match inbox.claim(&name) {
                Ok(Some(claim)) => {
                    chunk.push(claim);
                    if chunk.len() >= FILE_CHUNK && !flush(&mut chunk) {
                        return Ok(());
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(pipeline = %inbox.pipeline_name, file = %name.to_string_lossy(), error = %e, "cannot claim")
                }
            }
        }
    }
    flush(&mut chunk);
    Ok(())
}

/// `replay`: what crashed runs left in `processing/` first (a killed replay's claims among
/// them), then the quarantined files with one of `codes` (any when empty).
fn extract_replay(
    inboxes: &[Arc<Inbox>],
    codes: &[String],
    send: &dyn Fn(Vec<Claim>) -> bool,
    stopped: &dyn Fn() -> bool,
) -> std::io::Result<()> {
    let mut chunk = Vec::with_capacity(FILE_CHUNK);
    let flush = |chunk: &mut Vec<Claim>| chunk.is_empty() || send(std::mem::take(chunk));
    for inbox in inboxes {
        for claim in inbox.recover()? {
            info!(pipeline = %inbox.pipeline_name, file = %claim.display_name(), "recovered a file left in processing/");
            chunk.push(claim);
            if chunk.len() >= FILE_CHUNK && !flush(&mut chunk) {
                return Ok(());
            }
        }
    }
    for inbox in inboxes {
        let waiting = crate::extract::inbox::quarantined_files(&inbox.quarantine)?;
        for q in waiting {
            if !codes.is_empty() && !codes.contains(&q.code) {
                continue;
            }
            if stopped() {
                flush(&mut chunk);
                return Ok(());
            }
            match inbox.claim_quarantined(&q.name) {
                Ok(Some(claim)) => {
                    info!(pipeline = %inbox.pipeline_name, file = %claim.display_name(), code = %q.code, "replaying a quarantined file");
                    chunk.push(claim);
                    if chunk.len() >= FILE_CHUNK && !flush(&mut chunk) {
                        return Ok(());
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(pipeline = %inbox.pipeline_name, file = %q.name.to_string_lossy(), error = %e, "cannot take a quarantined file back")
                }
            }
        }
    }
    flush(&mut chunk);
    Ok(())
}

/// Backfill: skips the walked files an earlier run finished (same size and mtime), with at
/// most one progress lookup per batch (for its directories not loaded yet), and passes the
/// rest on.
struct ProgressCheck {
    again: ReadAgain,
    /// This build's parser generation.
    generation: u32,
    loader: Loader,
    pipeline: String,
    stats: Arc<RunStats>,
    report: Arc<ReportSink>,
    batch: usize,
    budget: Option<Duration>,
    stop: Arc<Stop>,
    shutdown: Arc<Stop>,
}

impl ProgressCheck {
    async fn run(
        &self,
        walked: flume::Receiver<Vec<Walked>>,
        files: flume::Sender<Vec<Origin>>,
    ) -> Result<(), String> {
        let mut pending: Vec<ArchiveFile> = Vec::with_capacity(self.batch);
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
                    pending.push(f);
                    if pending.len() < self.batch {
                        continue;
                    }
                }
                Some(Walked::Unreadable { path, message }) => {
                    bump(&self.stats.seen);
                    bump(&self.stats.quarantined);
                    warn!(path = %path, error = %message, "cannot read an archive entry");
                    self.report.write(&ReportLine {
                        path: &path,
                        code: "io",
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
            if self.stop.is_set() || self.shutdown.is_set() {
                return Ok(());
            }
            let batch = std::mem::take(&mut pending);
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
        self.lookup("parser version lookup", || self.loader.stored_sources(&ids))
            .await
    }

    /// Runs a lookup the walk needs, retried with backoff while its errors are transient and
    /// the run goes on; when it gives up, the run stops.
    async fn lookup<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, LoadError>>,
    {
        let mut backoff = Backoff::new(self.budget);
        loop {
            match attempt().await {
                Ok(found) => return Ok(found),
                Err(e) if e.is_transient() && !self.shutdown.is_set() => {
                    bump(&self.stats.retries);
                    if let Some(delay) = backoff.next_delay() {
                        warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "{what} failed, retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    self.stop.trigger();
                    return Err(format!("{what}: {e}"));
                }
                Err(e) => {
                    self.stop.trigger();
                    return Err(format!("{what}: {e}"));
                }
            }
        }
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
            .lookup("progress lookup", || async {
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

struct WorkerContext {
    /// Items handed to the batcher and not yet taken (the `parsed` queue depth).
    queued: Arc<AtomicU64>,
    inboxes: Vec<Arc<Inbox>>,
    options: Arc<Vec<ParseOptions>>,
    stats: Arc<RunStats>,
    run_id: String,
    stop: Arc<Stop>,
    shutdown: Arc<Stop>,
}

impl WorkerContext {
    /// Hands the finished items over to the batcher, waiting while its queue is full.
    fn hand_over(&self, done: &mut Vec<Item>, out: &flume::Sender<Vec<Item>>) {
        if done.is_empty() {
            return;
        }
        let chunk = std::mem::replace(done, Vec::with_capacity(ITEM_CHUNK));
        self.queued.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if let Err(flume::SendError(chunk)) = out.send(chunk) {
            // The loader is gone (it gave up).
            for item in chunk {
                self.give_back(item.origin);
            }
        }
    }

    /// Reads a chunk of files together, then transforms them one by one.
    fn transform_chunk(
        &self,
        chunk: Vec<Origin>,
        reader: &mut FileReader,
        done: &mut Vec<Item>,
        out: &flume::Sender<Vec<Item>>,
    ) {
        if self.stopping() {
            for origin in chunk {
                self.give_back(origin);
            }
            return;
        }
        let files: Vec<(&Path, u64)> = chunk
            .iter()
            .map(|o| (o.path(), self.options[o.pipeline()].max_file_bytes))
            .collect();
        let batch = reader.read_batch(&files);
        drop(files);
        debug_assert_eq!(batch.len(), chunk.len());
        for (origin, read) in chunk.into_iter().zip(batch) {
            if self.stopping() {
                self.give_back(origin);
                continue;
            }
            let read = read.unwrap_or_else(|| {
                read_file(
                    origin.path(),
                    self.options[origin.pipeline()].max_file_bytes,
                )
            });
            self.transform_one(origin, read, done);
            if done.len() >= ITEM_CHUNK {
                self.hand_over(done, out);
            }
        }
    }

    fn stopping(&self) -> bool {
        self.stop.is_set() || self.shutdown.is_set()
    }

    fn transform_one(&self, origin: Origin, read: FileRead, out: &mut Vec<Item>) {
        let opts = &self.options[origin.pipeline()];
        let shown = origin.shown();
        let result = read.and_then(|(bytes, mtime)| {
            self.stats
                .bytes
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            transform::transform(
                &transform::RawFile {
                    path: &shown,
                    bytes: &bytes,
                    mtime,
                },
                opts,
            )
        });
        bump(&self.stats.parsed);
        if let Ok(article) = &result {
            self.stats.count_warnings(article);
        }
        // Encoded here, on a worker thread, rather than by the writers.
        let result = result.and_then(|article| {
            Prepared::new(article, &self.run_id).map_err(|e| {
                TransformError::new(
                    shown.as_str(),
                    transform::TransformErrorKind::Io(format!(
                        "cannot encode the document as BSON: {e}"
                    )),
                    None,
                )
            })
        });
        match (origin, result) {
            // An inbox file that cannot be parsed needs no database: quarantine it now.
            (Origin::Inbox(claim), Err(e)) => {
                let inbox = &self.inboxes[claim.pipeline];
                quarantine_parse_error(inbox, &claim, &e, &self.run_id, &self.stats);
            }
            (origin, result) => out.push(Item { origin, result }),
        }
    }

    fn give_back(&self, origin: Origin) {
        match origin {
            Origin::Inbox(claim) => release(&self.inboxes[claim.pipeline], &claim, &self.stats),
            // Nothing to undo: the next run finds it not done.
            Origin::Archive(_) => bump(&self.stats.failed),
        }
    }
}

fn quarantine_parse_error(
    inbox: &Inbox,
    claim: &Claim,
    e: &TransformError,
    run_id: &str,
    stats: &RunStats,
) {
    let report = QuarantineReport {
        file: claim.display_name(),
        code: e.code().to_owned(),
        message: e.kind.to_string(),
        line: e.line,
        pipeline: inbox.pipeline_name.clone(),
        run_id: run_id.to_owned(),
        time: Utc::now(),
    };
    quarantine(inbox, claim, &report, stats);
}

fn quarantine(inbox: &Inbox, claim: &Claim, report: &QuarantineReport, stats: &RunStats) {
    match inbox.quarantine(claim, report) {
        Ok(to) => {
            bump(&stats.quarantined);
            metrics::counter!("article_etl_files_total", "pipeline" => inbox.pipeline_name.clone(), "outcome" => "quarantined").increment(1);
            warn!(
                pipeline = %inbox.pipeline_name,
                file = %report.file,
                outcome = "quarantined",
                code = %report.code,
                line = report.line,
                reason = %report.message,
                to = %to.display(),
                "file quarantined"
            );
        }
        Err(err) => {
            bump(&stats.failed);
            error!(pipeline = %inbox.pipeline_name, file = %report.file, error = %err, "cannot quarantine; the file stays in processing/");
        }
    }
}

fn release(inbox: &Inbox, claim: &Claim, stats: &RunStats) {
    bump(&stats.failed);
    metrics::counter!("article_etl_files_total", "pipeline" => inbox.pipeline_name.clone(), "outcome" => "returned").increment(1);
    if let Err(e) = inbox.release(claim) {
        error!(pipeline = %inbox.pipeline_name, file = %claim.display_name(), error = %e, "cannot return the file to the inbox; it stays in processing/");
    }
}

/// Writes batches and disposes of their files.
struct Writer {
    loader: Loader,
    inboxes: Vec<Arc<Inbox>>,
    stats: Arc<RunStats>,
    run_id: String,
    budget: Option<Duration>,
    stop: Arc<Stop>,
    shutdown: Arc<Stop>,
    health: Arc<Health>,
    pipelines: Vec<String>,
    report: Option<Arc<ReportSink>>,
    /// Numbers the backfill progress pages of the run, across its writers.
    pages: Arc<AtomicU64>,
}

/// What became of one item of a written batch.
enum Disposal {
    Written(Outcome),
    Unparsed(TransformError),
}

/// A written batch's files, with their documents' receipts and what became of them.
type Disposals = Vec<(Origin, Option<Receipt>, Disposal)>;

impl Writer {
    /// Writes a batch; returns what to do with its files, or the error that made the run
    /// give up (the files given back).
    async fn write(&self, batch: Vec<Item>) -> Result<Disposals, LoadError> {
        let size = batch.len();
        let span = info_span!("batch", size, run_id = %self.run_id);
        async move {
            if self.stop.is_set() {
                self.give_back(batch.into_iter().map(|i| i.origin).collect()).await;
                return Ok(Vec::new());
            }
            let started = Instant::now();
            let mut origins = Vec::with_capacity(size);
            let mut articles = Vec::with_capacity(size);
            let mut errors: Vec<Option<TransformError>> = Vec::with_capacity(size);
            for item in batch {
                origins.push(item.origin);
                match item.result {
                    Ok(a) => {
                        articles.push(a);
                        errors.push(None);
                    }
                    Err(e) => errors.push(Some(e)),
                }
            }
            let outcomes = if articles.is_empty() {
                Vec::new()
            } else {
                match self.write_with_retry(&articles).await {
                    Ok(outcomes) => outcomes,
                    Err(e) => {
                        error!(error = %e, "giving up on the batch; its files are left for a later run");
                        self.stop.trigger();
                        self.give_back(origins).await;
                        return Err(e);
                    }
                }
            };
            let latency = started.elapsed();
            if !articles.is_empty() {
                self.health.set_db(true);
                metrics::histogram!("article_etl_batch_write_seconds").record(latency.as_secs_f64());
                info!(size, ms = latency.as_millis() as u64, "batch written");
            }
            let mut outcomes = outcomes.into_iter();
            let mut articles_iter = articles.into_iter();
            let mut disposals = Vec::with_capacity(size);
            for (origin, err) in origins.into_iter().zip(errors) {
                match err {
                    Some(e) => disposals.push((origin, None, Disposal::Unparsed(e))),
                    None => {
                        let article = articles_iter.next().map(Prepared::into_receipt);
                        let outcome = outcomes.next().unwrap_or(Outcome::Rejected {
                            code: "db_rejected",
                            message: "no outcome for this document".into(),
                        });
                        disposals.push((origin, article, Disposal::Written(outcome)));
                    }
                }
            }
            Ok(disposals)
        }
        .instrument(span)
        .await
    }

    async fn write_with_retry(&self, articles: &[Prepared]) -> Result<Vec<Outcome>, LoadError> {
        let mut backoff = Backoff::new(self.budget);
        // Kept across attempts: a retry resumes the batch and recognises its own writes.
        let mut batch = BatchWrite::new(articles);
        loop {
            match self.loader.write_batch_resuming(&mut batch).await {
                Ok(outcomes) => return Ok(outcomes),
                Err(e) if e.is_transient() => {
                    bump(&self.stats.retries);
                    metrics::counter!("article_etl_retries_total").increment(1);
                    self.health.set_db(false);
                    if self.shutdown.is_set() {
                        return Err(e);
                    }
                    match backoff.next_delay() {
                        Some(delay) => {
                            warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "batch write failed, retrying");
                            tokio::time::sleep(delay).await;
                        }
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn dispose(&self, disposals: Disposals) {
        if disposals.is_empty() {
            return;
        }
        let inboxes = self.inboxes.clone();
        let stats = self.stats.clone();
        let run_id = self.run_id.clone();
        let pipelines = self.pipelines.clone();
        let report = self.report.clone();
        let now = Utc::now();
        let page_numbers = self.pages.clone();
        let at = bson::DateTime::from_chrono(now);
        let work = move || -> Vec<RawDocumentBuf> {
            let mut pages = ProgressPages::new(&run_id, &page_numbers, at);
            // Written files per pipeline and outcome.
            let mut loaded: BTreeMap<(usize, &'static str), u64> = BTreeMap::new();
            for (origin, article, disposal) in disposals {
                let file_pipeline = origin.pipeline();
                let pipeline = &pipelines[file_pipeline];
                let shown = origin.shown();
                // Quarantine: the code and message, or a written outcome.
                let (label, quarantined) = match &disposal {
                    Disposal::Unparsed(e) => {
                        ("quarantined", Some((e.code(), e.kind.to_string(), e.line)))
                    }
                    Disposal::Written(Outcome::Rejected { code, message }) => {
                        ("quarantined", Some((*code, message.clone(), None)))
                    }
                    Disposal::Written(Outcome::Inserted) => ("inserted", None),
                    Disposal::Written(Outcome::Updated(_)) => ("updated", None),
                    Disposal::Written(Outcome::Unchanged(_)) => ("unchanged", None),
                    Disposal::Written(Outcome::Reparsed(_)) => ("reparsed", None),
                };
                if quarantined.is_none() {
                    let counter = match label {
                        "inserted" => &stats.inserted,
                        "updated" => &stats.updated,
                        "reparsed" => &stats.reparsed,
                        _ => &stats.unchanged,
                    };
                    bump(counter);
                    *loaded.entry((file_pipeline, label)).or_insert(0) += 1;
                    info!(
                        pipeline = %pipeline,
                        file = %shown,
                        outcome = label,
                        id = article.as_ref().map(|a| a.id.as_str()).unwrap_or(""),
                        revision = match &disposal { Disposal::Written(Outcome::Updated(r) | Outcome::Unchanged(r) | Outcome::Reparsed(r)) => *r, Disposal::Written(Outcome::Inserted) => 1, _ => 0 },
                        "file loaded"
                    );
                }
                match origin {
                    Origin::Inbox(claim) => {
                        let inbox = &inboxes[claim.pipeline];
                        if let Some((code, message, line)) = quarantined {
                            let r = QuarantineReport {
                                file: shown,
                                code: code.to_owned(),
                                message,
                                line,
                                pipeline: inbox.pipeline_name.clone(),
                                run_id: run_id.clone(),
                                time: now,
                            };
                            quarantine(inbox, &claim, &r, &stats);
                        } else if let Err(e) = inbox.finish(&claim, now) {
                            error!(pipeline = %inbox.pipeline_name, file = %shown, error = %e, "written, but cannot move the file out of processing/; the next run will see it unchanged");
                        }
                    }
                    Origin::Archive(file) => {
                        if let Some((code, message, line)) = &quarantined {
                            bump(&stats.quarantined);
                            metrics::counter!("article_etl_files_total", "pipeline" => pipeline.clone(), "outcome" => "quarantined").increment(1);
                            warn!(pipeline = %pipeline, file = %shown, outcome = "quarantined", code = %code, line = *line, reason = %message, "file quarantined");
                            if let Some(report) = &report {
                                report.write(&ReportLine {
                                    path: &file.path.display().to_string(),
                                    code,
                                    message,
                                    line: *line,
                                });
                            }
                        }
                        let (dir, name) = file.dir_and_name();
                        pages.add(
                            pipeline,
                            dir,
                            &ProgressEntry {
                                name,
                                size: file.size as i64,
                                mtime: file.mtime.map(bson::DateTime::from_chrono),
                                sha256: article.as_ref().map(|a| a.sha256.as_str()),
                                outcome: label,
                                code: quarantined.as_ref().map(|q| q.0),
                                article_id: article.as_ref().map(|a| a.id.as_str()),
                            },
                        );
                    }
                }
            }
            // Metrics per batch rather than per file: each update looks its labels up.
            for ((pipeline_index, outcome), n) in loaded {
                let pipeline = &pipelines[pipeline_index];
                metrics::counter!("article_etl_articles_total", "pipeline" => pipeline.clone(), "outcome" => outcome).increment(n);
                metrics::counter!("article_etl_files_total", "pipeline" => pipeline.clone(), "outcome" => "loaded").increment(n);
                metrics::gauge!("article_etl_last_write_timestamp_seconds", "pipeline" => pipeline.clone())
                    .set(now.timestamp_millis() as f64 / 1000.0);
            }
            pages.finish().unwrap_or_else(|e| {
                error!(error = %e, "cannot encode the backfill progress pages; these files will be read again next time");
                Vec::new()
            })
        };
        let progress = match tokio::task::spawn_blocking(work).await {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, "disposing of a batch's files failed");
                return;
            }
        };
        if progress.is_empty() {
            return;
        }
        let mut backoff = Backoff::new(self.budget);
        loop {
            match self.loader.save_progress(&progress).await {
                Ok(()) => return,
                Err(e) if e.is_transient() && !self.shutdown.is_set() => match backoff.next_delay()
                {
                    Some(delay) => {
                        bump(&self.stats.retries);
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        warn!(error = %e, "cannot save backfill progress; these files will be read again next time");
                        return;
                    }
                },
                Err(e) => {
                    warn!(error = %e, "cannot save backfill progress; these files will be read again next time");
                    return;
                }
            }
        }
    }

    async fn give_back(&self, origins: Vec<Origin>) {
        let inboxes = self.inboxes.clone();
        let stats = self.stats.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for origin in origins {
                match origin {
                    Origin::Inbox(claim) => release(&inboxes[claim.pipeline], &claim, &stats),
                    Origin::Archive(_) => bump(&stats.failed),
                }
            }
        })
        .await;
    }
}
