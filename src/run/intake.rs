//! The intake stage: where a run's files come from. Inboxes are drained (`run --once`),
//! watched (`run`, `daemon`) or their quarantines replayed (`replay`), each file claimed
//! before it goes on; archive trees are walked and what earlier backfills finished is skipped
//! (`backfill`). The stage ends by dropping its sender, so the later stages drain and finish.

use std::sync::Arc;

use tracing::{info, warn, Instrument, Span};

use super::{spawn_blocking_in, Job, Shared, FILE_CHUNK, WALK_QUEUE};
use crate::backfill::resume::ProgressCheck;
use crate::backfill::BackfillPlan;
use crate::extract::archive::{self, Walked};
use crate::extract::inbox::quarantined_files;
use crate::extract::{watch, Claim, Fate, Inbox, Origin};
use crate::settings::Pipeline;
use crate::shutdown::Shutdown;
use crate::stats::bump;
use crate::telemetry::{FileClaimed, QueueDepth};

type Intake = tokio::task::JoinHandle<Result<(), String>>;

/// Starts the intake of `job`, sending what it finds to `files`.
pub(super) fn spawn(
    job: Job,
    shared: &Arc<Shared>,
    pipelines: &[Pipeline],
    batch_size: usize,
    shutdown: Shutdown,
    files: flume::Sender<Vec<Origin>>,
    span: Span,
) -> Intake {
    let shared = shared.clone();
    match job {
        Job::Once => spawn_blocking_in(span, move || {
            let mut claims = Claims::new(&shared, &files, &shutdown);
            drain(&shared.inboxes, &mut claims).map_err(|e| format!("listing an inbox: {e}"))
        }),
        Job::Replay(codes) => spawn_blocking_in(span, move || {
            let mut claims = Claims::new(&shared, &files, &shutdown);
            replay(&shared.inboxes, &codes, &mut claims)
                .map_err(|e| format!("replaying a quarantine: {e}"))
        }),
        Job::Watch { rules, .. } => {
            // Not ready until the watches are made.
            for i in 0..shared.inboxes.len() {
                shared.health.set_watched(i, None);
            }
            spawn_blocking_in(span, move || {
                let claims = Claims::new(&shared, &files, &shutdown);
                // A watcher's claims go on one at a time: the next may be long in coming.
                let send = |claim: Claim| claims.send(vec![claim]);
                let watched = |i: usize, on| shared.health.set_watched(i, on);
                watch::watch_inboxes(
                    &shared.inboxes,
                    &rules,
                    &send,
                    &|| shutdown.stopping(),
                    &watched,
                )
                .map_err(|e| format!("watching: {e}"))
            })
        }
        Job::Backfill(plan) => match pipelines.first() {
            Some(pipeline) => walk(plan, pipeline, batch_size, shared, shutdown, files, span),
            None => tokio::spawn(async { Err("backfill needs a pipeline".to_owned()) }),
        },
    }
}

/// Backfill: one thread walks the trees, a task skips what earlier runs finished.
fn walk(
    plan: BackfillPlan,
    pipeline: &Pipeline,
    batch: usize,
    shared: Arc<Shared>,
    shutdown: Shutdown,
    files: flume::Sender<Vec<Origin>>,
    span: Span,
) -> Intake {
    let (walk_tx, walk_rx) = flume::bounded::<Vec<Walked>>(WALK_QUEUE);
    let walker = {
        let (filter, roots, shard) = (pipeline.filter.clone(), plan.roots.clone(), plan.shard);
        let (stats, shutdown) = (shared.stats.clone(), shutdown.clone());
        spawn_blocking_in(span.clone(), move || {
            archive::walk(&roots, &filter, shard, &walk_tx, &|| shutdown.stopping());
            stats.walk_finished();
        })
    };
    let check = ProgressCheck {
        again: plan.again,
        generation: crate::document::parser_generation(crate::document::parser_version()),
        loader: shared.loader.clone(),
        pipeline: pipeline.name.clone(),
        stats: shared.stats.clone(),
        report: plan.report,
        batch,
        budget: shared.budget,
        shutdown,
    };
    tokio::spawn(
        async move {
            let checked = check.run(walk_rx, files).await;
            let _ = walker.await;
            checked
        }
        .instrument(span),
    )
}

/// Claimed files on their way to the workers, [`FILE_CHUNK`] at a time.
struct Claims<'a> {
    shared: &'a Shared,
    files: &'a flume::Sender<Vec<Origin>>,
    shutdown: &'a Shutdown,
    chunk: Vec<Claim>,
}

impl<'a> Claims<'a> {
    fn new(
        shared: &'a Shared,
        files: &'a flume::Sender<Vec<Origin>>,
        shutdown: &'a Shutdown,
    ) -> Self {
        Claims {
            shared,
            files,
            shutdown,
            chunk: Vec::with_capacity(FILE_CHUNK),
        }
    }

    /// Adds a claim; `false` when the run no longer takes files.
    fn push(&mut self, claim: Claim) -> bool {
        self.chunk.push(claim);
        self.chunk.len() < FILE_CHUNK || self.flush()
    }

    /// Sends what is waiting, the last claims of a listing as they are.
    fn flush(&mut self) -> bool {
        let chunk = std::mem::take(&mut self.chunk);
        chunk.is_empty() || self.send(chunk)
    }

    fn stopped(&self) -> bool {
        self.shutdown.stopping()
    }

    /// Hands claimed files to the workers, waiting while the queue is full; when intake stops
    /// meanwhile, the files go back to the inbox.
    fn send(&self, claims: Vec<Claim>) -> bool {
        if claims.is_empty() {
            return true;
        }
        let stats = &self.shared.stats;
        for claim in &claims {
            bump(&stats.seen);
            FileClaimed {
                pipeline: &self.shared.pipelines[claim.pipeline],
            }
            .emit();
        }
        QueueDepth {
            queue: "claims",
            depth: self.files.len() as u64,
        }
        .emit();
        let mut item: Vec<Origin> = claims.into_iter().map(Origin::Inbox).collect();
        let give_back = |back: Vec<Origin>| {
            for origin in back {
                if let Origin::Inbox(claim) = origin {
                    self.shared.inboxes[claim.pipeline].dispose(&claim, Fate::Returned, stats);
                }
            }
        };
        loop {
            match self
                .files
                .send_timeout(item, std::time::Duration::from_millis(100))
            {
                Ok(()) => return true,
                Err(flume::SendTimeoutError::Timeout(back)) => {
                    if self.stopped() {
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
}

/// Takes over what crashed runs left in `processing/`: first, as they were taken from the
/// inbox longest ago. `false` when the run no longer takes files.
fn recover(inboxes: &[Arc<Inbox>], claims: &mut Claims<'_>) -> std::io::Result<bool> {
    for inbox in inboxes {
        for claim in inbox.recover()? {
            info!(pipeline = %inbox.pipeline_name, file = %claim.display_name(), "recovered a file left in processing/");
            if !claims.push(claim) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// `run --once`: what crashed runs left, then every file the inboxes hold now.
fn drain(inboxes: &[Arc<Inbox>], claims: &mut Claims<'_>) -> std::io::Result<()> {
    if !recover(inboxes, claims)? {
        return Ok(());
    }
    for inbox in inboxes {
        for name in inbox.list()? {
            if claims.stopped() {
                // What is claimed goes on, for the workers to give back.
                claims.flush();
                return Ok(());
            }
            // Still being written in place: left for the next run.
            if watch::open_for_writing(&inbox.inbox.join(&name)) {
                info!(pipeline = %inbox.pipeline_name, file = %name.to_string_lossy(), "skipped: open for writing");
                continue;
            }
            match inbox.claim(&name) {
                Ok(Some(claim)) => {
                    if !claims.push(claim) {
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
    claims.flush();
    Ok(())
}

/// `replay`: what crashed runs left (a killed replay's claims among them), then the
/// quarantined files with one of `codes` (any when empty).
fn replay(
    inboxes: &[Arc<Inbox>],
    codes: &[String],
    claims: &mut Claims<'_>,
) -> std::io::Result<()> {
    if !recover(inboxes, claims)? {
        return Ok(());
    }
    for inbox in inboxes {
        for q in quarantined_files(&inbox.quarantine)? {
            if !codes.is_empty() && !codes.contains(&q.code) {
                continue;
            }
            if claims.stopped() {
                claims.flush();
                return Ok(());
            }
            match inbox.claim_quarantined(&q.name) {
                Ok(Some(claim)) => {
                    info!(pipeline = %inbox.pipeline_name, file = %claim.display_name(), code = %q.code, "replaying a quarantined file");
                    if !claims.push(claim) {
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
    claims.flush();
    Ok(())
}
