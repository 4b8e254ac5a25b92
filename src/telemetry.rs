//! What the service tells its operators, as named events (the shape of Vector's
//! `internal_events`): one struct per event, whose `emit()` writes its log line and updates its
//! metrics. A metric's name, labels and description live here and nowhere else; `/metrics`
//! describes every one of [`METRICS`].
//!
//! Run accounting (the counts of the run record and summary) is not telemetry: it lives in
//! [`crate::stats`], and the stages update it beside the event.

use std::path::Path;
use std::time::Duration;

use tracing::{error, info, warn};

/// Kinds of metric, for [`METRICS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// In seconds.
    Histogram,
}

pub const FILES_TOTAL: &str = "article_etl_files_total";
pub const ARTICLES_TOTAL: &str = "article_etl_articles_total";
pub const FILES_CLAIMED_TOTAL: &str = "article_etl_files_claimed_total";
pub const RETRIES_TOTAL: &str = "article_etl_retries_total";
pub const BATCH_WRITE_SECONDS: &str = "article_etl_batch_write_seconds";
pub const WATCH_RENEWALS_TOTAL: &str = "article_etl_watch_renewals_total";
pub const QUEUE_DEPTH: &str = "article_etl_queue_depth";
pub const LAST_WRITE_TIMESTAMP_SECONDS: &str = "article_etl_last_write_timestamp_seconds";
pub const DATABASE_UP: &str = "article_etl_database_up";
pub const WRITERS: &str = "article_etl_writers";

/// Every metric: name, kind, description (labels in the description).
pub const METRICS: &[(&str, Kind, &str)] = &[
    (
        FILES_TOTAL,
        Kind::Counter,
        "Input files by pipeline and outcome (loaded, quarantined, returned)",
    ),
    (
        ARTICLES_TOTAL,
        Kind::Counter,
        "Articles written by pipeline and outcome (inserted, updated, unchanged, reparsed)",
    ),
    (
        FILES_CLAIMED_TOTAL,
        Kind::Counter,
        "Files claimed from the inboxes",
    ),
    (
        RETRIES_TOTAL,
        Kind::Counter,
        "Batch writes retried after a transient database error",
    ),
    (
        BATCH_WRITE_SECONDS,
        Kind::Histogram,
        "Time to write one batch, retries included",
    ),
    (
        WATCH_RENEWALS_TOTAL,
        Kind::Counter,
        "Inbox watches made again after they ended (inbox deleted, moved or mounted over, queue overflow, watch error)",
    ),
    (QUEUE_DEPTH, Kind::Gauge, "Items waiting between stages"),
    (
        LAST_WRITE_TIMESTAMP_SECONDS,
        Kind::Gauge,
        "Unix time of the last acknowledged write, by pipeline",
    ),
    (
        DATABASE_UP,
        Kind::Gauge,
        "1 when the last database operation succeeded",
    ),
    (
        WRITERS,
        Kind::Gauge,
        "Batches written at once: fixed by load.writers, or chosen by the adaptive controller",
    ),
];

/// Registers the descriptions of [`METRICS`] with the installed recorder.
pub fn describe_metrics() {
    for &(name, kind, description) in METRICS {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, description),
            Kind::Gauge => metrics::describe_gauge!(name, description),
            Kind::Histogram => {
                metrics::describe_histogram!(name, metrics::Unit::Seconds, description)
            }
        }
    }
}

/// A file taken from an inbox.
pub struct FileClaimed<'a> {
    pub pipeline: &'a str,
}

impl FileClaimed<'_> {
    pub fn emit(self) {
        metrics::counter!(FILES_CLAIMED_TOTAL, "pipeline" => self.pipeline.to_owned()).increment(1);
    }
}

/// Items waiting between two stages.
pub struct QueueDepth {
    /// `claims` (files waiting for a parser) or `parsed` (documents waiting for a batch).
    pub queue: &'static str,
    pub depth: u64,
}

impl QueueDepth {
    pub fn emit(self) {
        metrics::gauge!(QUEUE_DEPTH, "queue" => self.queue).set(self.depth as f64);
    }
}

/// A file set aside with the reason it cannot become a document.
pub struct FileQuarantined<'a> {
    pub pipeline: &'a str,
    pub file: &'a str,
    pub code: &'a str,
    pub line: Option<usize>,
    pub reason: &'a str,
    /// Where an inbox file went (a backfill's file stays where it is).
    pub to: Option<&'a Path>,
}

impl FileQuarantined<'_> {
    pub fn emit(self) {
        metrics::counter!(FILES_TOTAL, "pipeline" => self.pipeline.to_owned(), "outcome" => "quarantined")
            .increment(1);
        warn!(
            pipeline = %self.pipeline,
            file = %self.file,
            outcome = "quarantined",
            code = %self.code,
            line = self.line,
            reason = %self.reason,
            to = self.to.map(|to| to.display().to_string()),
            "file quarantined"
        );
    }
}

/// A file given back to its inbox, unwritten, for a later run.
pub struct FileReturned<'a> {
    pub pipeline: &'a str,
}

impl FileReturned<'_> {
    pub fn emit(self) {
        metrics::counter!(FILES_TOTAL, "pipeline" => self.pipeline.to_owned(), "outcome" => "returned")
            .increment(1);
    }
}

/// A file whose document is acknowledged.
pub struct FileLoaded<'a> {
    pub pipeline: &'a str,
    pub file: &'a str,
    /// inserted, updated, unchanged or reparsed.
    pub outcome: &'static str,
    pub id: &'a str,
    pub revision: i32,
}

impl FileLoaded<'_> {
    /// The log line only: a batch's metrics go in one [`BatchLoaded`], each metric update
    /// looking its labels up.
    pub fn emit(self) {
        info!(
            pipeline = %self.pipeline,
            file = %self.file,
            outcome = self.outcome,
            id = self.id,
            revision = self.revision,
            "file loaded"
        );
    }
}

/// The files of one pipeline with one outcome in a written batch.
pub struct BatchLoaded<'a> {
    pub pipeline: &'a str,
    pub outcome: &'static str,
    pub files: u64,
    /// When the batch was acknowledged.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl BatchLoaded<'_> {
    pub fn emit(self) {
        let pipeline = self.pipeline.to_owned();
        metrics::counter!(ARTICLES_TOTAL, "pipeline" => pipeline.clone(), "outcome" => self.outcome)
            .increment(self.files);
        metrics::counter!(FILES_TOTAL, "pipeline" => pipeline.clone(), "outcome" => "loaded")
            .increment(self.files);
        metrics::gauge!(LAST_WRITE_TIMESTAMP_SECONDS, "pipeline" => pipeline)
            .set(self.at.timestamp_millis() as f64 / 1000.0);
    }
}

/// A batch acknowledged by the database.
pub struct BatchWritten {
    pub size: usize,
    pub latency: Duration,
}

impl BatchWritten {
    pub fn emit(self) {
        metrics::histogram!(BATCH_WRITE_SECONDS).record(self.latency.as_secs_f64());
        info!(
            size = self.size,
            ms = self.latency.as_millis() as u64,
            "batch written"
        );
    }
}

/// What a database operation that is retried was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    BatchWrite,
    ProgressLookup,
    ParserVersionLookup,
    ProgressSave,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::BatchWrite => "batch write",
            Operation::ProgressLookup => "progress lookup",
            Operation::ParserVersionLookup => "parser version lookup",
            Operation::ProgressSave => "progress save",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A database operation failed with a transient error: tried again after `delay`, or not
/// (`None`: the retry budget is spent or a signal came).
pub struct Retrying<'a> {
    pub operation: Operation,
    pub error: &'a dyn std::fmt::Display,
    pub delay: Option<Duration>,
}

impl Retrying<'_> {
    pub fn emit(self) {
        if self.operation == Operation::BatchWrite {
            metrics::counter!(RETRIES_TOTAL).increment(1);
        }
        if let Some(delay) = self.delay {
            warn!(
                error = %self.error,
                retry_in_ms = delay.as_millis() as u64,
                "{} failed, retrying",
                self.operation
            );
        }
    }
}

/// Whether the database answered the last operation.
pub struct DatabaseUp(pub bool);

impl DatabaseUp {
    pub fn emit(self) {
        metrics::gauge!(DATABASE_UP).set(if self.0 { 1.0 } else { 0.0 });
    }
}

/// The number of batches written at once, as set or as the controller chose it.
pub struct WriterConcurrency(pub usize);

impl WriterConcurrency {
    pub fn emit(self) {
        metrics::gauge!(WRITERS).set(self.0 as f64);
    }
}

/// An inbox watch made again after it ended.
pub struct WatchRenewed<'a> {
    pub pipeline: &'a str,
    pub inbox: &'a Path,
}

impl WatchRenewed<'_> {
    pub fn emit(self) {
        metrics::counter!(WATCH_RENEWALS_TOTAL, "pipeline" => self.pipeline.to_owned())
            .increment(1);
        info!(pipeline = %self.pipeline, inbox = %self.inbox.display(), "watching the inbox again");
    }
}

/// A file operation on a claimed file failed; the file stays where it is (named by `to_do`).
pub struct FileStuck<'a> {
    pub pipeline: &'a str,
    pub file: &'a str,
    pub error: &'a dyn std::fmt::Display,
    /// What could not be done and what follows from it.
    pub what: &'static str,
}

impl FileStuck<'_> {
    pub fn emit(self) {
        error!(pipeline = %self.pipeline, file = %self.file, error = %self.error, "{}", self.what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_described_once_under_its_own_name() {
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        assert!(names.iter().all(|n| n.starts_with("article_etl_")));
    }
}
