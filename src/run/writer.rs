//! The writers: each writes a batch (retried with backoff while the database's errors are
//! transient), then disposes of its files, which acknowledges them: inbox files finished or
//! quarantined by the inbox protocol, archive files recorded in the backfill's progress (and
//! its report). A batch's files are disposed of while the next batch is written: the database
//! does not wait for the filesystem.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bson::RawDocumentBuf;
use chrono::Utc;
use tracing::{error, info_span, warn, Instrument, Span};

use super::workers::give_back;
use super::{Item, Shared};
use crate::backfill::{ReportLine, ReportSink};
use crate::extract::{Fate, MemberFailure, MemberFate, Origin, QuarantineReport};
use crate::load::retry::retry_until;
use crate::load::{
    BatchWrite, LoadError, Outcome, Prepared, ProgressEntry, ProgressPages, Receipt,
};
use crate::shutdown::Shutdown;
use crate::stats::bump;
use crate::telemetry::{BatchLoaded, BatchWritten, FileLoaded, FileQuarantined, Operation};
use crate::transform::TransformError;

/// Starts a writer taking batches from `batches` until the batcher is done; its result is the
/// error that made the run give up, if one did.
pub(super) fn spawn(
    shared: &Arc<Shared>,
    report: Option<Arc<ReportSink>>,
    shutdown: Shutdown,
    batches: flume::Receiver<Vec<Item>>,
    span: Span,
) -> tokio::task::JoinHandle<Option<LoadError>> {
    let writer = Arc::new(Writer {
        shared: shared.clone(),
        report,
        shutdown,
    });
    tokio::spawn(
        async move {
            let mut last_error = None;
            // One disposal per writer at a time.
            let mut disposing: Option<tokio::task::JoinHandle<()>> = None;
            loop {
                // A slot under the concurrency limit first, then a batch to write in it.
                let slot = writer.shared.concurrency.acquire().await;
                let Ok(batch) = batches.recv_async().await else {
                    break;
                };
                let written = writer.write(batch).await;
                drop(slot);
                match written {
                    Ok(disposals) => {
                        if let Some(previous) = disposing.take() {
                            let _ = previous.await;
                        }
                        let writer = writer.clone();
                        disposing = Some(tokio::spawn(
                            async move { writer.dispose(disposals).await }.in_current_span(),
                        ));
                    }
                    Err(e) => last_error = Some(e),
                }
            }
            if let Some(last) = disposing.take() {
                let _ = last.await;
            }
            last_error
        }
        .instrument(span),
    )
}

struct Writer {
    shared: Arc<Shared>,
    /// Backfill: the report of quarantined files.
    report: Option<Arc<ReportSink>>,
    shutdown: Shutdown,
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
        let span = info_span!("batch", size, run_id = %self.shared.run_id);
        async move {
            if self.shutdown.gave_up() {
                self.give_back(batch.into_iter().map(|i| i.origin).collect())
                    .await;
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
                        self.shutdown.give_up();
                        self.give_back(origins).await;
                        return Err(e);
                    }
                }
            };
            if !articles.is_empty() {
                self.shared.health.set_db(true);
                BatchWritten {
                    size,
                    latency: started.elapsed(),
                }
                .emit();
            }
            let mut outcomes = outcomes.into_iter();
            let mut articles = articles.into_iter();
            let disposals = origins
                .into_iter()
                .zip(errors)
                .map(|(origin, err)| match err {
                    Some(e) => (origin, None, Disposal::Unparsed(e)),
                    None => {
                        let receipt = articles.next().map(Prepared::into_receipt);
                        let outcome = outcomes.next().unwrap_or(Outcome::Rejected {
                            code: "db_rejected",
                            message: "no outcome for this document".into(),
                        });
                        (origin, receipt, Disposal::Written(outcome))
                    }
                })
                .collect();
            Ok(disposals)
        }
        .instrument(span)
        .await
    }

    async fn write_with_retry(&self, articles: &[Prepared]) -> Result<Vec<Outcome>, LoadError> {
        // Kept across attempts: a retry resumes the batch and recognises its own writes.
        let batch = tokio::sync::Mutex::new(BatchWrite::new(articles));
        let shared = &self.shared;
        retry_until(
            Operation::BatchWrite,
            shared.budget,
            &self.shutdown,
            &shared.stats,
            || async {
                let started = Instant::now();
                let written = shared
                    .loader
                    .write_batch_resuming(&mut *batch.lock().await)
                    .await;
                // Every attempt tells the concurrency controller: a failed one is its cue to
                // write with fewer writers.
                shared
                    .concurrency
                    .record(started.elapsed(), articles.len(), written.is_ok());
                if matches!(&written, Err(e) if e.is_transient()) {
                    shared.health.set_db(false);
                }
                written
            },
        )
        .await
    }

    /// Acknowledges a written batch's files.
    async fn dispose(&self, disposals: Disposals) {
        if disposals.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        let report = self.report.clone();
        let work = move || -> Vec<RawDocumentBuf> {
            let now = Utc::now();
            let mut pages = ProgressPages::new(
                &shared.run_id,
                &shared.page_numbers,
                bson::DateTime::from_chrono(now),
            );
            // Written files per pipeline and outcome.
            let mut loaded: BTreeMap<(usize, &'static str), u64> = BTreeMap::new();
            for (origin, receipt, disposal) in disposals {
                let pipeline = &shared.pipelines[origin.pipeline()];
                let shown = origin.shown();
                let fate = Settled::of(&disposal);
                if let Settled::Loaded { outcome, revision } = fate {
                    let stats = &shared.stats;
                    bump(match outcome {
                        "inserted" => &stats.inserted,
                        "updated" => &stats.updated,
                        "reparsed" => &stats.reparsed,
                        _ => &stats.unchanged,
                    });
                    *loaded.entry((origin.pipeline(), outcome)).or_insert(0) += 1;
                    FileLoaded {
                        pipeline,
                        file: &shown,
                        outcome,
                        id: receipt.as_ref().map_or("", |r| r.id.as_str()),
                        revision,
                    }
                    .emit();
                }
                match origin {
                    Origin::Inbox(claim) => {
                        let inbox = &shared.inboxes[claim.pipeline];
                        match fate {
                            Settled::Quarantined {
                                code,
                                message,
                                line,
                            } => {
                                let r = QuarantineReport {
                                    file: shown,
                                    code: code.to_owned(),
                                    message,
                                    line,
                                    pipeline: inbox.pipeline_name.clone(),
                                    run_id: shared.run_id.clone(),
                                    time: now,
                                    members: Vec::new(),
                                };
                                inbox.dispose(&claim, Fate::Quarantined(&r), &shared.stats);
                            }
                            Settled::Loaded { .. } => {
                                inbox.dispose(&claim, Fate::Loaded { at: now }, &shared.stats)
                            }
                        }
                    }
                    Origin::Packed(member) => {
                        let fate = match fate {
                            Settled::Quarantined {
                                code,
                                message,
                                line,
                            } => MemberFate::Failed(MemberFailure {
                                member: member.name,
                                code: code.to_owned(),
                                message,
                                line,
                            }),
                            Settled::Loaded { .. } => MemberFate::Loaded,
                        };
                        shared.inboxes[member.unit.claim.pipeline].settle_member(
                            &member.unit,
                            fate,
                            &shared.stats,
                            &shared.run_id,
                        );
                    }
                    Origin::Archive(file) => {
                        let (label, code) = match &fate {
                            Settled::Quarantined {
                                code,
                                message,
                                line,
                            } => {
                                bump(&shared.stats.quarantined);
                                FileQuarantined {
                                    pipeline,
                                    file: &shown,
                                    code,
                                    line: *line,
                                    reason: message,
                                    to: None,
                                }
                                .emit();
                                if let Some(report) = &report {
                                    report.write(&ReportLine {
                                        path: &file.location(),
                                        code,
                                        message,
                                        line: *line,
                                    });
                                }
                                ("quarantined", Some(*code))
                            }
                            Settled::Loaded { outcome, .. } => (*outcome, None),
                        };
                        let (dir, name) = file.dir_and_name();
                        pages.add(
                            pipeline,
                            dir,
                            &ProgressEntry {
                                name,
                                size: file.size as i64,
                                mtime: file.mtime.map(bson::DateTime::from_chrono),
                                sha256: receipt.as_ref().map(|r| r.sha256.as_str()),
                                outcome: label,
                                code,
                                article_id: receipt.as_ref().map(|r| r.id.as_str()),
                            },
                        );
                    }
                }
            }
            // Metrics per batch rather than per file: each update looks its labels up.
            for ((pipeline, outcome), files) in loaded {
                BatchLoaded {
                    pipeline: &shared.pipelines[pipeline],
                    outcome,
                    files,
                    at: now,
                }
                .emit();
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
        let shared = &self.shared;
        let saved = retry_until(
            Operation::ProgressSave,
            shared.budget,
            &self.shutdown,
            &shared.stats,
            || shared.loader.save_progress(&progress),
        )
        .await;
        if let Err(e) = saved {
            warn!(error = %e, "cannot save backfill progress; these files will be read again next time");
        }
    }

    async fn give_back(&self, origins: Vec<Origin>) {
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for origin in origins {
                give_back(&shared, origin);
            }
        })
        .await;
    }
}

/// A written item's outcome, as its file's disposal needs it.
enum Settled {
    Loaded {
        /// inserted, updated, unchanged or reparsed.
        outcome: &'static str,
        revision: i32,
    },
    Quarantined {
        code: &'static str,
        message: String,
        line: Option<usize>,
    },
}

impl Settled {
    fn of(disposal: &Disposal) -> Settled {
        let loaded = |outcome, revision| Settled::Loaded { outcome, revision };
        match disposal {
            Disposal::Unparsed(e) => Settled::Quarantined {
                code: e.code(),
                message: e.kind.to_string(),
                line: e.line,
            },
            Disposal::Written(Outcome::Rejected { code, message }) => Settled::Quarantined {
                code,
                message: message.clone(),
                line: None,
            },
            Disposal::Written(Outcome::Inserted) => loaded("inserted", 1),
            Disposal::Written(Outcome::Updated(r)) => loaded("updated", *r),
            Disposal::Written(Outcome::Unchanged(r)) => loaded("unchanged", *r),
            Disposal::Written(Outcome::Reparsed(r)) => loaded("reparsed", *r),
        }
    }
}
