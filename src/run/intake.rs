//! The intake stage: where a run's files come from. Inboxes are drained (`run --once`),
//! watched (`run`, `daemon`) or their quarantines replayed (`replay`), each file claimed
//! before it goes on; archive trees are walked and what earlier backfills finished is skipped
//! (`backfill`). The stage ends by dropping its sender, so the later stages drain and finish.

use std::ops::ControlFlow;
use std::sync::Arc;

use tracing::{info, warn, Instrument, Span};

use super::workers::give_back;
use super::{spawn_blocking_in, Job, Shared, FILE_CHUNK, WALK_QUEUE};
use crate::backfill::resume::ProgressCheck;
use crate::backfill::BackfillPlan;
use crate::extract::archive::{self, Walked};
use crate::extract::inbox::quarantined_files;
use crate::extract::packed::{self, Event};
use crate::extract::{watch, Claim, Inbox, InboxMember, MemberFailure, Origin, PackedClaim};
use crate::settings::Pipeline;
use crate::shutdown::Shutdown;
use crate::stats::bump;
use crate::telemetry::{FileClaimed, QueueDepth};

type Intake = tokio::task::JoinHandle<Result<(), String>>;

/// Members' bytes a chunk of them holds at most before it is sent on.
const MEMBER_CHUNK_BYTES: usize = 1 << 20;

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
        let limits = pipeline.packed;
        let (stats, shutdown) = (shared.stats.clone(), shutdown.clone());
        spawn_blocking_in(span.clone(), move || {
            archive::walk(&roots, &filter, shard, &limits, &walk_tx, &|| {
                shutdown.stopping()
            });
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

    /// Hands claimed files to the workers (a packed input's members, unpacked), waiting while
    /// the queue is full; when intake stops meanwhile, the files go back to the inbox.
    fn send(&self, claims: Vec<Claim>) -> bool {
        let stats = &self.shared.stats;
        let mut claims = claims.into_iter();
        let mut plain = Vec::new();
        while let Some(claim) = claims.next() {
            FileClaimed {
                pipeline: &self.shared.pipelines[claim.pipeline],
            }
            .emit();
            let format = packed_format(&claim);
            let sent = match format {
                None => {
                    bump(&stats.seen);
                    plain.push(Origin::Inbox(claim));
                    continue;
                }
                Some(format) => match self.send_origins(std::mem::take(&mut plain)) {
                    true => self.unpack(claim, format),
                    false => {
                        bump(&stats.seen);
                        give_back(self.shared, Origin::Inbox(claim));
                        false
                    }
                },
            };
            if !sent {
                for rest in claims {
                    bump(&stats.seen);
                    give_back(self.shared, Origin::Inbox(rest));
                }
                return false;
            }
        }
        self.send_origins(plain)
    }

    /// Sends the members of a claimed packed input on, and tells the inbox when they are all
    /// on their way (or the unpacking stopped), so that it can settle the archive with its
    /// last member.
    fn unpack(&self, claim: Claim, format: packed::Format) -> bool {
        let shared = self.shared;
        let inbox = &shared.inboxes[claim.pipeline];
        let limits = shared.packed[claim.pipeline];
        let unit = PackedClaim::new(claim);
        let (mut sent, mut problems, mut complete) = (0, Vec::new(), true);
        let mut chunk: Vec<Origin> = Vec::with_capacity(FILE_CHUNK);
        let mut chunk_bytes = 0;
        let wanted = |member: &str| inbox.accepts_member(member);
        let read = packed::read(&unit.claim.path, format, &limits, &wanted, &mut |event| {
            match event {
                Event::Member(m) => {
                    bump(&shared.stats.seen);
                    sent += 1;
                    chunk_bytes += m.bytes.len();
                    chunk.push(Origin::Packed(InboxMember {
                        unit: unit.clone(),
                        name: m.name,
                        mtime: m.mtime,
                        bytes: m.bytes,
                    }));
                    let full = chunk.len() >= FILE_CHUNK || chunk_bytes >= MEMBER_CHUNK_BYTES;
                    if self.stopped() || (full && !self.send_origins(std::mem::take(&mut chunk))) {
                        complete = false;
                        return ControlFlow::Break(());
                    }
                    if full {
                        chunk_bytes = 0;
                    }
                }
                Event::Problem(p) => problems.push(MemberFailure {
                    member: p.member.unwrap_or_default(),
                    code: p.code.to_owned(),
                    message: p.message,
                    line: None,
                }),
            }
            ControlFlow::Continue(())
        });
        if let Err(e) = read {
            problems.push(MemberFailure {
                member: String::new(),
                code: "io".to_owned(),
                message: e.to_string(),
                line: None,
            });
        }
        if !complete {
            for origin in chunk.drain(..) {
                give_back(shared, origin);
            }
        } else if !self.send_origins(std::mem::take(&mut chunk)) {
            complete = false;
        }
        inbox.unpacked(
            &unit,
            sent,
            problems,
            complete,
            &shared.stats,
            &shared.run_id,
        );
        complete
    }

    /// Hands files to the workers, waiting while the queue is full; when intake stops
    /// meanwhile, they go back.
    fn send_origins(&self, mut origins: Vec<Origin>) -> bool {
        if origins.is_empty() {
            return true;
        }
        QueueDepth {
            queue: "claims",
            depth: self.files.len() as u64,
        }
        .emit();
        let give_back_all = |back: Vec<Origin>| {
            for origin in back {
                give_back(self.shared, origin);
            }
        };
        loop {
            match self
                .files
                .send_timeout(origins, std::time::Duration::from_millis(100))
            {
                Ok(()) => return true,
                Err(flume::SendTimeoutError::Timeout(back)) => {
                    if self.stopped() {
                        give_back_all(back);
                        return false;
                    }
                    origins = back;
                }
                Err(flume::SendTimeoutError::Disconnected(back)) => {
                    give_back_all(back);
                    return false;
                }
            }
        }
    }
}

/// The format of a claimed packed input; `None` for a plain file (or one that cannot be read:
/// the parse says why).
fn packed_format(claim: &Claim) -> Option<packed::Format> {
    packed::packed_format(&claim.name.to_string_lossy(), &claim.path)
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
