//! The end of a claim: what becomes of a claimed file once its fate is known, the last step of
//! the protocol above. A file's document is acknowledged by the database before it is
//! finished; a file that cannot become a document is quarantined with its report; a file the
//! run gives up on goes back to the inbox for a later run.

use chrono::{DateTime, Utc};

use super::{Claim, Inbox, QuarantineReport};
use crate::stats::{bump, RunStats};
use crate::telemetry::{FileQuarantined, FileReturned, FileStuck};

/// What becomes of a claimed file.
#[derive(Debug)]
pub enum Fate<'a> {
    /// Its document is acknowledged (`at`: when): to `done/` or deleted, per the pipeline.
    Loaded { at: DateTime<Utc> },
    /// It cannot become a document: to `quarantine/`, with this report beside it.
    Quarantined(&'a QuarantineReport),
    /// Unwritten when the run stopped: back to the inbox.
    Returned,
}

impl Inbox {
    /// Carries out a claimed file's fate, counts it in `stats` (loaded files are counted by the
    /// writer, by outcome) and tells the operators. A file that cannot be moved stays in
    /// `processing/`, where the next start finds it.
    pub fn dispose(&self, claim: &Claim, fate: Fate<'_>, stats: &RunStats) {
        let pipeline = self.pipeline_name.as_str();
        match fate {
            Fate::Loaded { at } => {
                if let Err(e) = self.finish(claim, at) {
                    FileStuck {
                        pipeline,
                        file: &claim.display_name(),
                        error: &e,
                        what: "written, but cannot move the file out of processing/; the next run will see it unchanged",
                    }
                    .emit();
                }
            }
            Fate::Quarantined(report) => match self.quarantine(claim, report) {
                Ok(to) => {
                    bump(&stats.quarantined);
                    FileQuarantined {
                        pipeline,
                        file: &report.file,
                        code: &report.code,
                        line: report.line,
                        reason: &report.message,
                        to: Some(&to),
                    }
                    .emit();
                }
                Err(e) => {
                    bump(&stats.failed);
                    FileStuck {
                        pipeline,
                        file: &report.file,
                        error: &e,
                        what: "cannot quarantine; the file stays in processing/",
                    }
                    .emit();
                }
            },
            Fate::Returned => {
                bump(&stats.failed);
                FileReturned { pipeline }.emit();
                if let Err(e) = self.release(claim) {
                    FileStuck {
                        pipeline,
                        file: &claim.display_name(),
                        error: &e,
                        what: "cannot return the file to the inbox; it stays in processing/",
                    }
                    .emit();
                }
            }
        }
    }
}
