//! `backfill`: archive trees loaded in place, resumable, shardable, never modified. The walk
//! and the parsers are the run's (see `crate::run`); what is the backfill's own is here: what
//! it reads again, how it resumes ([`resume`]), its report ([`report`]) and its dry run.

pub mod report;
pub mod resume;

use std::path::PathBuf;
use std::sync::Arc;

use crate::extract::archive::Shard;
use crate::parse::{parse_tree, TreeEntry};
use crate::settings::Pipeline;
use crate::stats::{bump, RunStats};
pub use report::{default_report_path, inside_any, ReportLine, ReportSink};

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

/// `--dry-run`: walks and parses everything exactly as a backfill would, writes the report,
/// and counts, without touching any database.
pub fn dry_run(
    pipeline: &Pipeline,
    roots: &[PathBuf],
    shard: Option<Shard>,
    report: &ReportSink,
    stats: &RunStats,
    stopped: &(dyn Fn() -> bool + Sync),
) {
    let opts = pipeline.parse_options("backfill");
    parse_tree(
        roots,
        &pipeline.filter,
        shard,
        &pipeline.packed,
        &opts,
        Some(stats),
        stopped,
        || (),
        |_, entry| {
            bump(&stats.seen);
            match entry {
                TreeEntry::Parsed(_, Ok(_)) => {}
                TreeEntry::Parsed(file, Err(e)) => {
                    bump(&stats.quarantined);
                    report.write(&ReportLine {
                        path: &file.location(),
                        code: e.code(),
                        message: &e.kind.to_string(),
                        line: e.line,
                    });
                }
                TreeEntry::Unreadable {
                    path,
                    code,
                    message,
                } => {
                    bump(&stats.quarantined);
                    report.write(&ReportLine {
                        path,
                        code,
                        message,
                        line: None,
                    });
                }
            }
        },
    );
    report.flush();
}
