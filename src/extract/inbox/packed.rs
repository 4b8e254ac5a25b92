//! A packed input (a zip, a tar…) claimed from an inbox is one claim whose members go through
//! the pipeline as files of their own. The archive is settled with its last member:
//! - some member was given back (the run stopped first) → the whole archive goes back to the
//!   inbox, to be read again (every write is idempotent: what was written is `unchanged`);
//! - some member loaded → `done/`, with `<archive>.error.json` beside it listing the members
//!   that did not (member, code, message, line);
//! - none loaded → `quarantine/`, its report listing every member's reason.
//!
//! Killed before that, the archive is still a claim in `processing/`, and the next start reads
//! it again.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde::Serialize;

use super::{report_path, write_atomically, Claim, Inbox, QuarantineReport};
use crate::stats::{bump, RunStats};
use crate::telemetry::{FileQuarantined, FileStuck};

/// A member that did not load, as the archive's report lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MemberFailure {
    pub member: String,
    pub code: String,
    pub message: String,
    pub line: Option<usize>,
}

/// What became of one member.
#[derive(Debug)]
pub enum MemberFate {
    /// Its document is acknowledged.
    Loaded,
    /// It cannot become a document.
    Failed(MemberFailure),
    /// Unwritten when the run stopped.
    Returned,
}

/// A claimed packed input whose members are on their way.
#[derive(Debug)]
pub struct PackedClaim {
    pub claim: Claim,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Members sent on, once the unpacking is done.
    expected: Option<u64>,
    settled: u64,
    loaded: u64,
    returned: u64,
    /// The unpacking stopped before the end: the archive goes back, whatever its members did.
    cut_short: bool,
    failures: Vec<MemberFailure>,
}

impl PackedClaim {
    pub fn new(claim: Claim) -> Arc<PackedClaim> {
        Arc::new(PackedClaim {
            claim,
            state: Mutex::new(State::default()),
        })
    }

    /// The archive's name, as its members' documents and reports name it.
    pub fn name(&self) -> String {
        self.claim.display_name()
    }
}

impl Inbox {
    /// Settles one member of `unit`; the archive itself is settled with its last member.
    pub fn settle_member(
        &self,
        unit: &PackedClaim,
        fate: MemberFate,
        stats: &RunStats,
        run_id: &str,
    ) {
        let Ok(mut state) = unit.state.lock() else {
            return;
        };
        state.settled += 1;
        match fate {
            MemberFate::Loaded => state.loaded += 1,
            MemberFate::Returned => {
                bump(&stats.failed);
                state.returned += 1;
            }
            MemberFate::Failed(failure) => {
                self.member_failed(unit, &failure, stats);
                state.failures.push(failure);
            }
        }
        if state.expected == Some(state.settled) {
            self.settle_archive(unit, &state, run_id);
        }
    }

    /// The unpacking of `unit` is over: `sent` members went on, the `problems` did not;
    /// `complete` is false when it stopped before the archive's end.
    pub fn unpacked(
        &self,
        unit: &PackedClaim,
        sent: u64,
        problems: Vec<MemberFailure>,
        complete: bool,
        stats: &RunStats,
        run_id: &str,
    ) {
        let Ok(mut state) = unit.state.lock() else {
            return;
        };
        for failure in problems {
            bump(&stats.seen);
            self.member_failed(unit, &failure, stats);
            state.failures.push(failure);
        }
        state.cut_short = !complete;
        state.expected = Some(sent);
        if state.settled == sent {
            self.settle_archive(unit, &state, run_id);
        }
    }

    fn member_failed(&self, unit: &PackedClaim, failure: &MemberFailure, stats: &RunStats) {
        bump(&stats.quarantined);
        FileQuarantined {
            pipeline: &self.pipeline_name,
            file: &format!("{}!{}", unit.name(), failure.member),
            code: &failure.code,
            line: failure.line,
            reason: &failure.message,
            to: None,
        }
        .emit();
    }

    fn settle_archive(&self, unit: &PackedClaim, state: &State, run_id: &str) {
        let claim = &unit.claim;
        let now = Utc::now();
        let report = |code: &str, message: String| QuarantineReport {
            file: claim.display_name(),
            code: code.to_owned(),
            message,
            line: None,
            pipeline: self.pipeline_name.clone(),
            run_id: run_id.to_owned(),
            time: now,
            members: state.failures.clone(),
        };
        if state.returned > 0 || state.cut_short {
            // Its members were counted as they were given back: the archive is not a file of
            // the run's counts.
            if let Err(e) = self.release(claim) {
                self.stuck(
                    claim,
                    &e,
                    "cannot return the archive to the inbox; it stays in processing/",
                );
            }
        } else if state.loaded > 0 {
            match self.finish(claim, now) {
                Ok(to) if !state.failures.is_empty() => {
                    let r = report(
                        "members_failed",
                        format!(
                            "{} of its {} members did not load",
                            state.failures.len(),
                            state.failures.len() as u64 + state.loaded
                        ),
                    );
                    let written = serde_json::to_vec_pretty(&r)
                        .map_err(std::io::Error::other)
                        .and_then(|json| write_atomically(&report_path(&to), &json));
                    if let Err(e) = written {
                        self.stuck(claim, &e, "the archive is done, but its report of failed members could not be written");
                    }
                }
                Ok(_) => {}
                Err(e) => self.stuck(
                    claim,
                    &e,
                    "written, but cannot move the archive out of processing/; the next run will read it again",
                ),
            }
        } else {
            let r = report(
                "no_member_loaded",
                format!(
                    "none of its members loaded ({} failed)",
                    state.failures.len()
                ),
            );
            // The members were counted one by one; the archive's own move is not a file.
            if let Err(e) = self.quarantine(claim, &r) {
                self.stuck(
                    claim,
                    &e,
                    "cannot quarantine the archive; it stays in processing/",
                );
            }
        }
    }

    fn stuck(&self, claim: &Claim, error: &std::io::Error, what: &'static str) {
        FileStuck {
            pipeline: &self.pipeline_name,
            file: &claim.display_name(),
            error,
            what,
        }
        .emit();
    }
}
