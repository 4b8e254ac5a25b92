//! One run: the stages of the pipeline, wired by bounded channels, here and only here.
//!
//! ```text
//!  intake ──[files]──▶ workers ──[items]──▶ batcher ──[batches]──▶ writers ──▶ disposal
//!  inbox: claim          read, parse,         fill by count,         write,       done/ | quarantine/
//!  backfill: walk,       encode (1 thread     bytes or linger        retry        | progress pages
//!  skip finished         per core)                                                 | report
//! ```
//! Every channel is bounded: when MongoDB is slow the queues fill and intake waits, so memory
//! stays flat whatever the inbox or archive holds. A file is acknowledged (moved out of
//! `processing/`, or recorded as done in the backfill progress) only after the batch that
//! carries its document was acknowledged; when the run gives up (retry budget spent, fatal
//! database error) or is signalled, inbox files not yet written go back to the inbox and
//! archive files are simply left for the next run. See `docs/architecture.md`.

mod batcher;
pub mod concurrency;
mod intake;
pub mod record;
mod workers;
mod writer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;
use tracing::{error, info_span, Instrument, Span};

use crate::backfill::BackfillPlan;
use crate::extract::packed::Limits;
use crate::extract::{Inbox, Origin, WatchRules};
use crate::health::Health;
use crate::load::{Loader, Prepared};
use crate::settings::{LoadSettings, Pipeline};
use crate::shutdown::{Shutdown, Signal};
use crate::stats::{Counts, RunStats};
use crate::transform::TransformError;
use concurrency::Concurrency;
pub use record::RunSpool;

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

/// What a run does.
pub enum Job {
    /// `run --once`: drain the inboxes as they are now (and what crashes left in
    /// `processing/`), with a bounded retry budget.
    Once,
    /// `run` and `daemon`: watch the inboxes without end, retrying the database without limit.
    Watch {
        rules: Vec<WatchRules>,
        /// With the HTTP endpoints (`daemon`).
        daemon: bool,
    },
    /// `backfill`: walk archive trees in place (pipeline 0), skipping what earlier runs
    /// finished.
    Backfill(BackfillPlan),
    /// `replay`: take the quarantined files whose report has one of these codes (all when
    /// empty) back through the pipelines, then drain like `Once`.
    Replay(Vec<String>),
}

impl Job {
    /// The run's mode, in its record, summary and every document's `ingest.mode`.
    pub fn mode(&self) -> &'static str {
        match self {
            Job::Once => "run",
            Job::Watch { daemon: true, .. } => "daemon",
            Job::Watch { daemon: false, .. } => "watch",
            Job::Backfill(_) => "backfill",
            Job::Replay(_) => "replay",
        }
    }

    fn watches(&self) -> bool {
        matches!(self, Job::Watch { .. })
    }
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
    /// Batches written at once when the run ended (`load.writers`, or as the adaptive
    /// controller chose).
    pub writers: u64,
}

/// A new run id: sortable by time, unique across machines.
pub fn new_run_id() -> String {
    format!(
        "{}-{:08x}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        fastrand::u32(..)
    )
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

/// What every stage of a run shares.
struct Shared {
    loader: Loader,
    /// The pipelines' inboxes (empty for a backfill).
    inboxes: Vec<Arc<Inbox>>,
    /// The pipelines' names, in the run's order.
    pipelines: Vec<String>,
    run_id: String,
    stats: Arc<RunStats>,
    health: Arc<Health>,
    /// How long database operations are retried (`None`: for ever).
    budget: Option<Duration>,
    /// Per pipeline, the bounds on a packed input.
    packed: Vec<Limits>,
    /// Items handed to the batcher and not yet taken (the `parsed` queue depth).
    parsed_waiting: AtomicU64,
    /// Numbers the backfill progress pages of the run, across its writers.
    page_numbers: AtomicU64,
    /// How many batches are written at once.
    concurrency: Concurrency,
    /// Workers parsing or holding parsed files (not waiting for files): none, and nothing
    /// queued for the batcher, means no file is on its way, so a batch need not linger.
    busy_workers: AtomicUsize,
    /// Told when a worker runs out of files.
    workers_idle: Notify,
}

/// One run, ready to execute.
pub struct Run {
    loader: Loader,
    pipelines: Vec<Pipeline>,
    inboxes: Vec<Arc<Inbox>>,
    load: LoadSettings,
    run_id: String,
    stats: Arc<RunStats>,
    signal: Signal,
    health: Arc<Health>,
}

impl Run {
    /// A run of `pipelines` (with their opened `inboxes`, none for a backfill), stopped by
    /// `signal`.
    pub fn new(
        loader: Loader,
        pipelines: Vec<Pipeline>,
        inboxes: Vec<Arc<Inbox>>,
        load: LoadSettings,
        signal: Signal,
    ) -> Run {
        Run {
            loader,
            pipelines,
            inboxes,
            load,
            run_id: new_run_id(),
            stats: Arc::new(RunStats::default()),
            signal,
            health: Arc::new(Health::default()),
        }
    }

    /// Under an id chosen beforehand (a backfill names its report after it).
    pub fn with_run_id(mut self, run_id: String) -> Run {
        self.run_id = run_id;
        self
    }

    /// Reporting to the daemon's `/readyz`.
    pub fn with_health(mut self, health: Arc<Health>) -> Run {
        self.health = health;
        self
    }

    /// Counting into `stats` (a progress bar reads them as the run goes).
    pub fn with_stats(mut self, stats: Arc<RunStats>) -> Run {
        self.stats = stats;
        self
    }

    /// Runs the stages until the files are drained (`Once`, `Replay`, `Backfill`) or the
    /// signal (`Watch`), then writes the run record.
    pub async fn execute(self, job: Job) -> RunReport {
        let mut report = RunReport {
            run_id: self.run_id.clone(),
            mode: job.mode().to_owned(),
            pipelines: self.pipelines.iter().map(|p| p.name.clone()).collect(),
            started_at: Utc::now(),
            ended_at: None,
            status: RunStatus::Running,
            counts: Counts::default(),
            warnings: BTreeMap::new(),
            error: None,
            report_file: match &job {
                Job::Backfill(plan) => Some(plan.report.path.display().to_string()),
                _ => None,
            },
            writers: 0,
        };
        let spool = RunSpool::new(&self.pipelines);
        record::save_at_start(&self.loader, &report, &spool).await;

        let options = Arc::new(
            self.pipelines
                .iter()
                .map(|p| p.parse_options(job.mode()))
                .collect::<Vec<_>>(),
        );
        let shared = Arc::new(Shared {
            loader: self.loader.clone(),
            inboxes: self.inboxes.clone(),
            pipelines: report.pipelines.clone(),
            run_id: self.run_id.clone(),
            stats: self.stats.clone(),
            health: self.health.clone(),
            budget: if job.watches() {
                None
            } else {
                self.load.retry_budget()
            },
            packed: self.pipelines.iter().map(|p| p.packed).collect(),
            parsed_waiting: AtomicU64::new(0),
            page_numbers: AtomicU64::new(0),
            concurrency: Concurrency::new(self.load.writers, self.load.max_writers),
            busy_workers: AtomicUsize::new(0),
            workers_idle: Notify::new(),
        });
        let (shutdown, drained) = Shutdown::new(self.signal.clone());
        let stage = |name: &'static str| info_span!("stage", stage = name, pipeline = %report.pipelines.join(","), run_id = %self.run_id);

        // The queues between the stages.
        let (files_tx, files_rx) = flume::bounded::<Vec<Origin>>(FILE_QUEUE / FILE_CHUNK);
        let (items_tx, items_rx) = flume::bounded::<Vec<Item>>(ITEM_QUEUE / ITEM_CHUNK);
        // A rendezvous: a full batch waits in the batcher's hands until a writer is free, so
        // at most `writers` batches are in flight plus the one being filled.
        let (batches_tx, batches_rx) = flume::bounded::<Vec<Item>>(0);

        let watching = job.watches();
        let backfill_report = match &job {
            Job::Backfill(plan) => Some(plan.report.clone()),
            _ => None,
        };
        let intake = intake::spawn(
            job,
            &shared,
            &self.pipelines,
            self.load.batch_size,
            shutdown.clone(),
            files_tx,
            stage("intake"),
        );
        let workers = workers::spawn(
            &shared,
            &options,
            shutdown.clone(),
            files_rx,
            items_tx,
            stage("transform"),
        );
        let batcher = tokio::spawn(
            batcher::run(
                shared.clone(),
                self.load.clone(),
                items_rx,
                batches_tx,
                shutdown.clone(),
            )
            .instrument(stage("batcher")),
        );
        let writers: Vec<_> = (0..shared.concurrency.writers())
            .map(|_| {
                writer::spawn(
                    &shared,
                    backfill_report.clone(),
                    shutdown.clone(),
                    batches_rx.clone(),
                    stage("writer"),
                )
            })
            .collect();
        drop(batches_rx);
        let refresh = watching.then(|| {
            tokio::spawn(
                record::refresh(shared.clone(), report.clone(), spool.clone())
                    .instrument(stage("record")),
            )
        });
        drop(shutdown);

        // The writers end when the batcher does, which ends when the workers do, which end
        // when intake does: each when the stage before it has dropped its sender.
        let mut load_error = None;
        for w in writers {
            if let Ok(Some(e)) = w.await {
                load_error = Some(e);
            }
        }
        if let Some(task) = refresh {
            task.abort();
        }
        match intake.await {
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
        for w in workers {
            let _ = w.await;
        }
        let _ = batcher.await;
        drained.wait().await;

        if let Some(sink) = &backfill_report {
            sink.flush();
        }
        report.writers = shared.concurrency.limit() as u64;
        report.counts = self.stats.snapshot();
        report.warnings = self.stats.warnings();
        report.ended_at = Some(Utc::now());
        if let Some(e) = load_error {
            report.error = Some(e.to_string());
        }
        report.status = if self.signal.is_raised() {
            RunStatus::Interrupted
        } else if report.counts.failed > 0 || report.error.is_some() {
            RunStatus::Incomplete
        } else {
            RunStatus::Ok
        };
        record::save_at_end(&self.loader, &report, &spool).await;
        report
    }
}

/// Runs `f` on a blocking thread inside `span`.
fn spawn_blocking_in<T: Send + 'static>(
    span: Span,
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(move || span.in_scope(f))
}
