//! The transform stage: one thread per core, each reading a chunk of files together and
//! parsing them (`crate::parse`), then encoding each document for the writers. An inbox file
//! that cannot be parsed needs no database: it is quarantined here, at once.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Utc;
use tracing::Span;

use super::{spawn_blocking_in, Item, Shared, ITEM_CHUNK};
use crate::extract::{Fate, MemberFailure, MemberFate, Origin, QuarantineReport};
use crate::load::Prepared;
use crate::parse::{Member, Parsed, Parser, Source};
use crate::shutdown::Shutdown;
use crate::stats::bump;
use crate::transform::{ParseOptions, TransformError, TransformErrorKind};

/// Starts one worker per core.
pub(super) fn spawn(
    shared: &Arc<Shared>,
    options: &Arc<Vec<ParseOptions>>,
    shutdown: Shutdown,
    files: flume::Receiver<Vec<Origin>>,
    items: flume::Sender<Vec<Item>>,
    span: Span,
) -> Vec<tokio::task::JoinHandle<()>> {
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    (0..n)
        .map(|_| {
            let worker = Worker {
                shared: shared.clone(),
                options: options.clone(),
                shutdown: shutdown.clone(),
            };
            let (files, items) = (files.clone(), items.clone());
            spawn_blocking_in(span.clone(), move || worker.run(&files, &items))
        })
        .collect()
}

struct Worker {
    shared: Arc<Shared>,
    options: Arc<Vec<ParseOptions>>,
    shutdown: Shutdown,
}

impl Worker {
    fn run(&self, files: &flume::Receiver<Vec<Origin>>, items: &flume::Sender<Vec<Item>>) {
        let mut parser = Parser::new();
        let mut done = Vec::with_capacity(ITEM_CHUNK);
        let busy = &self.shared.busy_workers;
        busy.fetch_add(1, Ordering::SeqCst);
        loop {
            let chunk = match files.try_recv() {
                Ok(chunk) => chunk,
                Err(flume::TryRecvError::Empty) => {
                    // Nothing waiting: what is done goes on before this worker sleeps, and
                    // the batcher learns that it need not wait for more.
                    self.hand_over(&mut done, items);
                    busy.fetch_sub(1, Ordering::SeqCst);
                    self.shared.workers_idle.notify_waiters();
                    let next = files.recv();
                    busy.fetch_add(1, Ordering::SeqCst);
                    match next {
                        Ok(chunk) => chunk,
                        Err(_) => break,
                    }
                }
                Err(flume::TryRecvError::Disconnected) => break,
            };
            self.transform_chunk(chunk, &mut parser, &mut done, items);
        }
        self.hand_over(&mut done, items);
        busy.fetch_sub(1, Ordering::SeqCst);
        self.shared.workers_idle.notify_waiters();
    }

    /// Hands the finished items over to the batcher, waiting while its queue is full.
    fn hand_over(&self, done: &mut Vec<Item>, out: &flume::Sender<Vec<Item>>) {
        if done.is_empty() {
            return;
        }
        let chunk = std::mem::replace(done, Vec::with_capacity(ITEM_CHUNK));
        self.shared
            .parsed_waiting
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if let Err(flume::SendError(chunk)) = out.send(chunk) {
            // The writers are gone (the run gave up).
            for item in chunk {
                self.give_back(item.origin);
            }
        }
    }

    /// Reads a chunk of files together, then transforms them one by one.
    fn transform_chunk(
        &self,
        chunk: Vec<Origin>,
        parser: &mut Parser,
        done: &mut Vec<Item>,
        out: &flume::Sender<Vec<Item>>,
    ) {
        if self.shutdown.stopping() {
            for origin in chunk {
                self.give_back(origin);
            }
            return;
        }
        let shown: Vec<String> = chunk.iter().map(Origin::shown).collect();
        let archives: Vec<Option<String>> = chunk
            .iter()
            .map(|o| match o {
                Origin::Packed(m) => Some(m.unit.name()),
                _ => None,
            })
            .collect();
        let sources: Vec<Source<'_>> = chunk
            .iter()
            .zip(&shown)
            .zip(&archives)
            .map(|((o, shown), archive)| Source {
                path: o.path(),
                shown,
                opts: &self.options[o.pipeline()],
                member: member_of(o, archive.as_deref()),
            })
            .collect();
        let mut parsed: Vec<Option<Parsed>> = Vec::with_capacity(chunk.len());
        parser.parse_chunk(
            &sources,
            Some(&self.shared.stats),
            &|| self.shutdown.stopping(),
            |_, p| parsed.push(p),
        );
        drop(sources);
        for ((origin, shown), parsed) in chunk.into_iter().zip(shown).zip(parsed) {
            match parsed {
                None => self.give_back(origin),
                Some(parsed) => self.prepare(origin, shown, parsed, done),
            }
            if done.len() >= ITEM_CHUNK {
                self.hand_over(done, out);
            }
        }
    }

    /// Encodes a parsed document for the writers (here, on a worker thread, rather than by
    /// them); quarantines an inbox file that cannot be parsed.
    fn prepare(&self, origin: Origin, shown: String, parsed: Parsed, out: &mut Vec<Item>) {
        let result = parsed.and_then(|article| {
            Prepared::new(article, &self.shared.run_id).map_err(|e| {
                TransformError::new(
                    shown.as_str(),
                    TransformErrorKind::Io(format!("cannot encode the document as BSON: {e}")),
                    None,
                )
            })
        });
        match (origin, result) {
            (Origin::Packed(member), Err(e)) => {
                let inbox = &self.shared.inboxes[member.unit.claim.pipeline];
                let failure = MemberFailure {
                    member: member.name,
                    code: e.code().to_owned(),
                    message: e.kind.to_string(),
                    line: e.line,
                };
                inbox.settle_member(
                    &member.unit,
                    MemberFate::Failed(failure),
                    &self.shared.stats,
                    &self.shared.run_id,
                );
            }
            (Origin::Inbox(claim), Err(e)) => {
                let inbox = &self.shared.inboxes[claim.pipeline];
                let report = QuarantineReport {
                    file: claim.display_name(),
                    code: e.code().to_owned(),
                    message: e.kind.to_string(),
                    line: e.line,
                    pipeline: inbox.pipeline_name.clone(),
                    run_id: self.shared.run_id.clone(),
                    time: Utc::now(),
                    members: Vec::new(),
                };
                inbox.dispose(&claim, Fate::Quarantined(&report), &self.shared.stats);
            }
            (origin, result) => out.push(Item { origin, result }),
        }
    }

    fn give_back(&self, origin: Origin) {
        give_back(&self.shared, origin);
    }
}

/// A file the run will not write: an inbox file back to its inbox (a packed input's, with its
/// archive); an archive file is simply not recorded as done, so the next run finds it.
pub(super) fn give_back(shared: &Shared, origin: Origin) {
    match origin {
        Origin::Inbox(claim) => {
            shared.inboxes[claim.pipeline].dispose(&claim, Fate::Returned, &shared.stats)
        }
        Origin::Packed(member) => shared.inboxes[member.unit.claim.pipeline].settle_member(
            &member.unit,
            MemberFate::Returned,
            &shared.stats,
            &shared.run_id,
        ),
        Origin::Archive(_) => bump(&shared.stats.failed),
    }
}

/// What the parser needs of a member of a packed input (`archive`: the name of an inbox
/// member's archive).
fn member_of<'a>(origin: &'a Origin, archive: Option<&'a str>) -> Option<Member<'a>> {
    match origin {
        Origin::Packed(m) => Some(Member {
            archive: archive.unwrap_or_default(),
            name: &m.name,
            bytes: &m.bytes,
            mtime: m.mtime,
        }),
        Origin::Archive(f) => f.member.as_deref().map(|m| Member {
            archive: &m.archive,
            name: &m.name,
            bytes: &m.bytes,
            mtime: f.mtime,
        }),
        Origin::Inbox(_) => None,
    }
}
