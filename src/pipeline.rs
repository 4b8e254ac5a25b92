//! The staged pipeline of `run`: extract → transform → load, wired by bounded channels.
//!
//! ```text
//! extract (1 thread)        transform (1 thread per core)        load (batcher + writers)
//! list inbox, claim  ──▶ [claims] ──▶ read, parse ──▶ [articles] ──▶ batch ─▶ bulk write ─▶ done/
//!                                        └─▶ quarantine/                        └─▶ quarantine/ (refused)
//! ```
//! Every channel is bounded: when MongoDB is slow, the queues fill and intake waits, so memory
//! stays flat whatever the inbox holds. A file leaves `processing/` only after the batch that
//! carries its document was acknowledged; when the run gives up (retry budget spent, fatal
//! database error, shutdown), every file not yet written goes back to the inbox.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;
use tracing::{error, info, info_span, warn, Instrument};

use crate::document::Article;
use crate::extract::{watch, Claim, Inbox, QuarantineReport, WatchRules};
use crate::load::retry::Backoff;
use crate::load::{LoadError, Loader, Outcome};
use crate::settings::{LoadSettings, Pipeline};
use crate::transform::{self, ParseOptions, TransformError};

/// Claimed files waiting for a transform worker. Small: a claimed file is a file taken from
/// other instances sharing the inbox, so claim only a little ahead of the parsers.
const CLAIM_QUEUE: usize = 64;

/// Counters of one run, shared by every stage.
#[derive(Debug, Default)]
pub struct RunStats {
    pub seen: AtomicU64,
    pub inserted: AtomicU64,
    pub updated: AtomicU64,
    pub unchanged: AtomicU64,
    pub quarantined: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub seen: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub quarantined: u64,
    pub failed: u64,
    pub retries: u64,
}

impl RunStats {
    pub fn snapshot(&self) -> Counts {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            seen: g(&self.seen),
            inserted: g(&self.inserted),
            updated: g(&self.updated),
            unchanged: g(&self.unchanged),
            quarantined: g(&self.quarantined),
            failed: g(&self.failed),
            retries: g(&self.retries),
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
    /// Some files went back to the inbox for a later run.
    Incomplete,
    /// Stopped by a signal; unfinished files went back to the inbox.
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
    /// The last database error, when the run gave up because of one.
    pub error: Option<String>,
}

impl RunReport {
    pub fn to_document(&self) -> Document {
        let c = &self.counts;
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        doc! {
            "_id": &self.run_id,
            "mode": &self.mode,
            "pipelines": &self.pipelines,
            "started_at": bson::DateTime::from_chrono(self.started_at),
            "ended_at": self.ended_at.map(bson::DateTime::from_chrono),
            "status": bson::to_bson(&self.status).unwrap_or(bson::Bson::Null),
            "counts": {
                "seen": as_i64(c.seen),
                "inserted": as_i64(c.inserted),
                "updated": as_i64(c.updated),
                "unchanged": as_i64(c.unchanged),
                "quarantined": as_i64(c.quarantined),
                "failed": as_i64(c.failed),
                "retries": as_i64(c.retries),
            },
            "error": self.error.clone(),
            "host": hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
            "pid": std::process::id() as i64,
            "version": env!("CARGO_PKG_VERSION"),
        }
    }
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

/// What `/readyz` reports: is the database answering, are the inboxes readable.
#[derive(Debug)]
pub struct Health {
    db_ok: AtomicBool,
    inboxes_ok: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            db_ok: AtomicBool::new(true),
            inboxes_ok: AtomicBool::new(true),
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
}

/// How a run finds its files.
pub enum Mode {
    /// Drain what is there now, with a bounded retry budget.
    Once,
    /// Watch without end, retrying the database without limit.
    Watch(Vec<WatchRules>),
}

/// How often a watching run refreshes its run record.
const RUN_RECORD_INTERVAL: Duration = Duration::from_secs(60);

/// Everything one run needs.
pub struct Run {
    pub loader: Loader,
    pub pipelines: Vec<Pipeline>,
    pub inboxes: Vec<Arc<Inbox>>,
    pub load: LoadSettings,
    pub run_id: String,
    pub mode: String,
    pub stats: Arc<RunStats>,
    /// Set by the caller on SIGINT/SIGTERM.
    pub shutdown: Arc<Stop>,
    pub health: Arc<Health>,
}

/// A parsed file on its way to the database.
struct Parsed {
    claim: Claim,
    article: Article,
}

impl Run {
    /// `run --once`: drain what the inboxes hold now (and what earlier crashes left in
    /// `processing/`), then return the report.
    pub async fn once(self) -> RunReport {
        self.execute(Mode::Once).await
    }

    /// Runs the stages until the files are drained (`Once`) or shutdown (`Watch`).
    pub async fn execute(self, mode: Mode) -> RunReport {
        let started_at = Utc::now();
        let mut report = RunReport {
            run_id: self.run_id.clone(),
            mode: self.mode.clone(),
            pipelines: self.pipelines.iter().map(|p| p.name.clone()).collect(),
            started_at,
            ended_at: None,
            status: RunStatus::Running,
            counts: Counts::default(),
            error: None,
        };
        if let Err(e) = self.loader.save_run(&report.to_document()).await {
            warn!(error = %e, "could not write the run record at start");
        }

        let options: Arc<Vec<ParseOptions>> = Arc::new(
            self.pipelines
                .iter()
                .map(|p| p.parse_options(&self.mode))
                .collect(),
        );
        let stop = Arc::new(Stop::default());
        let (claim_tx, claim_rx) = flume::bounded::<Claim>(CLAIM_QUEUE);
        let (parsed_tx, parsed_rx) = flume::bounded::<Parsed>(self.load.batch_size * 2);

        // Extract.
        let budget = match &mode {
            Mode::Once => self.load.retry_budget(),
            Mode::Watch(_) => None,
        };
        let extract = {
            let inboxes = self.inboxes.clone();
            let stats = self.stats.clone();
            let stop = stop.clone();
            let shutdown = self.shutdown.clone();
            let pipelines: Vec<String> = self.pipelines.iter().map(|p| p.name.clone()).collect();
            let queue = claim_rx.clone();
            tokio::task::spawn_blocking(move || match mode {
                Mode::Once => extract_once(&inboxes, &claim_tx, &stats, &stop, &shutdown),
                Mode::Watch(rules) => {
                    let on_claim = |c: &Claim| {
                        bump(&stats.seen);
                        metrics::counter!("article_etl_files_claimed_total", "pipeline" => pipelines[c.pipeline].clone())
                            .increment(1);
                        metrics::gauge!("article_etl_queue_depth", "queue" => "claims")
                            .set(queue.len() as f64);
                    };
                    let stopped = || stop.is_set() || shutdown.is_set();
                    watch::watch_inboxes(&inboxes, &rules, &claim_tx, &on_claim, &stopped)
                }
            })
        };

        // Transform.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut transform_tasks = Vec::with_capacity(workers);
        for _ in 0..workers {
            let claim_rx = claim_rx.clone();
            let parsed_tx = parsed_tx.clone();
            let ctx = WorkerContext {
                inboxes: self.inboxes.clone(),
                options: options.clone(),
                stats: self.stats.clone(),
                run_id: self.run_id.clone(),
                stop: stop.clone(),
                shutdown: self.shutdown.clone(),
            };
            transform_tasks.push(tokio::task::spawn_blocking(move || {
                for claim in claim_rx.iter() {
                    ctx.transform_one(claim, &parsed_tx);
                }
            }));
        }
        drop(claim_rx);
        drop(parsed_tx);

        // Load.
        let record = self.spawn_record_refresh(&report, budget.is_none());
        let load_error = self.load_all(parsed_rx, &stop, budget).await;
        if let Some(task) = record {
            task.abort();
        }

        if let Ok(Err(e)) = extract.await {
            error!(error = %e, "listing an inbox failed");
            report.error.get_or_insert_with(|| format!("extract: {e}"));
        }
        for t in transform_tasks {
            let _ = t.await;
        }
        report.counts = self.stats.snapshot();
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
        // The database may be the reason the run failed: try once, briefly.
        match tokio::time::timeout(
            Duration::from_secs(5),
            self.loader.save_run(&report.to_document()),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "could not write the run record"),
            Err(_) => warn!("could not write the run record: timed out"),
        }
        report
    }

    /// In watch mode, refreshes the run record's counts now and then.
    fn spawn_record_refresh(
        &self,
        report: &RunReport,
        watching: bool,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !watching {
            return None;
        }
        let loader = self.loader.clone();
        let stats = self.stats.clone();
        let mut report = report.clone();
        Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(RUN_RECORD_INTERVAL).await;
                report.counts = stats.snapshot();
                if let Err(e) = loader.save_run(&report.to_document()).await {
                    warn!(error = %e, "could not refresh the run record");
                }
            }
        }))
    }

    /// Batches parsed articles and writes them; returns the error that made the run give up.
    async fn load_all(
        &self,
        parsed_rx: flume::Receiver<Parsed>,
        stop: &Arc<Stop>,
        budget: Option<Duration>,
    ) -> Option<LoadError> {
        let linger = Duration::from_millis(self.load.batch_linger_ms);
        let writers = self.load.writers.max(1);
        let (batch_tx, batch_rx) = flume::bounded::<Vec<Parsed>>(writers);
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
            };
            writer_tasks.push(tokio::spawn(async move {
                let mut last_error = None;
                while let Ok(batch) = batch_rx.recv_async().await {
                    if let Some(e) = writer.write(batch).await {
                        last_error = Some(e);
                    }
                }
                last_error
            }));
        }
        drop(batch_rx);

        let mut batch: Vec<Parsed> = Vec::with_capacity(self.load.batch_size);
        let mut deadline = Instant::now() + linger;
        loop {
            let next = if batch.is_empty() {
                parsed_rx.recv_async().await.map_err(|_| ())
            } else {
                let wait = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(wait, parsed_rx.recv_async()).await {
                    Ok(r) => r.map_err(|_| ()),
                    Err(_) => {
                        let full = std::mem::take(&mut batch);
                        if batch_tx.send_async(full).await.is_err() {
                            break;
                        }
                        continue;
                    }
                }
            };
            match next {
                Ok(p) => {
                    metrics::gauge!("article_etl_queue_depth", "queue" => "parsed")
                        .set(parsed_rx.len() as f64);
                    if batch.is_empty() {
                        deadline = Instant::now() + linger;
                    }
                    batch.push(p);
                    if batch.len() >= self.load.batch_size {
                        let full = std::mem::take(&mut batch);
                        if batch_tx.send_async(full).await.is_err() {
                            break;
                        }
                    }
                }
                Err(()) => break,
            }
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

fn extract_once(
    inboxes: &[Arc<Inbox>],
    claims: &flume::Sender<Claim>,
    stats: &RunStats,
    stop: &Stop,
    shutdown: &Stop,
) -> std::io::Result<()> {
    let stopped = || stop.is_set() || shutdown.is_set();
    // Files left by crashed runs first: they were taken from the inbox longest ago.
    for inbox in inboxes {
        for claim in inbox.recover()? {
            info!(pipeline = %inbox.pipeline_name, file = %claim.display_name(), "recovered a file left in processing/");
            bump(&stats.seen);
            if claims.send(claim).is_err() {
                return Ok(());
            }
        }
    }
    for inbox in inboxes {
        for name in inbox.list()? {
            if stopped() {
                return Ok(());
            }
            match inbox.claim(&name) {
                Ok(Some(claim)) => {
                    bump(&stats.seen);
                    if claims.send(claim).is_err() {
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
    Ok(())
}

struct WorkerContext {
    inboxes: Vec<Arc<Inbox>>,
    options: Arc<Vec<ParseOptions>>,
    stats: Arc<RunStats>,
    run_id: String,
    stop: Arc<Stop>,
    shutdown: Arc<Stop>,
}

impl WorkerContext {
    fn transform_one(&self, claim: Claim, out: &flume::Sender<Parsed>) {
        let inbox = &self.inboxes[claim.pipeline];
        if self.stop.is_set() || self.shutdown.is_set() {
            release(inbox, &claim, &self.stats);
            return;
        }
        let opts = &self.options[claim.pipeline];
        let shown = claim.display_name();
        let result =
            transform::read_file(&claim.path, opts.max_file_bytes).and_then(|(bytes, mtime)| {
                transform::transform(
                    &transform::RawFile {
                        path: &shown,
                        bytes: &bytes,
                        mtime,
                    },
                    opts,
                )
            });
        match result {
            Ok(article) => {
                if let Err(flume::SendError(p)) = out.send(Parsed { claim, article }) {
                    // The loader is gone (it gave up): the file goes back.
                    release(inbox, &p.claim, &self.stats);
                }
            }
            Err(e) => quarantine_parse_error(inbox, &claim, &e, &self.run_id, &self.stats),
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
}

impl Writer {
    async fn write(&self, batch: Vec<Parsed>) -> Option<LoadError> {
        let size = batch.len();
        let span = info_span!("batch", size, run_id = %self.run_id);
        async move {
            if self.stop.is_set() {
                self.give_back(batch).await;
                return None;
            }
            let started = Instant::now();
            let (claims, articles): (Vec<Claim>, Vec<Article>) =
                batch.into_iter().map(|p| (p.claim, p.article)).unzip();
            match self.write_with_retry(&articles).await {
                Ok(outcomes) => {
                    let latency = started.elapsed();
                    self.health.set_db(true);
                    metrics::histogram!("article_etl_batch_write_seconds")
                        .record(latency.as_secs_f64());
                    info!(size, ms = latency.as_millis() as u64, "batch written");
                    self.dispose(claims, articles, outcomes).await;
                    None
                }
                Err(e) => {
                    error!(error = %e, "giving up on the batch; its files go back to the inbox");
                    self.stop.trigger();
                    let parsed = claims
                        .into_iter()
                        .zip(articles)
                        .map(|(claim, article)| Parsed { claim, article })
                        .collect();
                    self.give_back(parsed).await;
                    Some(e)
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn write_with_retry(&self, articles: &[Article]) -> Result<Vec<Outcome>, LoadError> {
        let mut backoff = Backoff::new(self.budget);
        loop {
            match self.loader.write_batch(articles, &self.run_id).await {
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

    async fn dispose(&self, claims: Vec<Claim>, articles: Vec<Article>, outcomes: Vec<Outcome>) {
        let inboxes = self.inboxes.clone();
        let stats = self.stats.clone();
        let run_id = self.run_id.clone();
        let pipelines = self.pipelines.clone();
        let now = Utc::now();
        let work = move || {
            for ((claim, article), outcome) in claims.iter().zip(&articles).zip(outcomes) {
                let inbox = &inboxes[claim.pipeline];
                let (label, counter) = match &outcome {
                    Outcome::Inserted => ("inserted", &stats.inserted),
                    Outcome::Updated(_) => ("updated", &stats.updated),
                    Outcome::Unchanged => ("unchanged", &stats.unchanged),
                    Outcome::Rejected { code, message } => {
                        let report = QuarantineReport {
                            file: claim.display_name(),
                            code: (*code).to_owned(),
                            message: message.clone(),
                            line: None,
                            pipeline: inbox.pipeline_name.clone(),
                            run_id: run_id.clone(),
                            time: now,
                        };
                        quarantine(inbox, claim, &report, &stats);
                        continue;
                    }
                };
                bump(counter);
                let pipeline = pipelines[claim.pipeline].clone();
                metrics::counter!("article_etl_articles_total", "pipeline" => pipeline.clone(), "outcome" => label).increment(1);
                metrics::counter!("article_etl_files_total", "pipeline" => pipeline.clone(), "outcome" => "loaded").increment(1);
                metrics::gauge!("article_etl_last_write_timestamp_seconds", "pipeline" => pipeline)
                    .set(now.timestamp_millis() as f64 / 1000.0);
                info!(
                    pipeline = %inbox.pipeline_name,
                    file = %claim.display_name(),
                    outcome = label,
                    id = %article.id,
                    revision = match outcome { Outcome::Updated(r) => r, Outcome::Inserted => 1, _ => 0 },
                    "file loaded"
                );
                if let Err(e) = inbox.finish(claim, now) {
                    error!(pipeline = %inbox.pipeline_name, file = %claim.display_name(), error = %e, "written, but cannot move the file out of processing/; the next run will see it unchanged");
                }
            }
        };
        if let Err(e) = tokio::task::spawn_blocking(work).await {
            error!(error = %e, "disposing of a batch's files failed");
        }
    }

    async fn give_back(&self, batch: Vec<Parsed>) {
        let inboxes = self.inboxes.clone();
        let stats = self.stats.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for p in batch {
                release(&inboxes[p.claim.pipeline], &p.claim, &stats);
            }
        })
        .await;
    }
}
