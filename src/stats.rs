//! A run's accounting: the counts its summary, run record, progress bar and exit code are made
//! of. Every stage adds to one shared [`RunStats`]; a [`Counts`] is a snapshot of it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::document::Article;

/// Counters of one run, shared by every stage.
#[derive(Debug, Default)]
pub struct RunStats {
    /// Inbox files claimed, or archive files found by the walk (this shard's).
    pub seen: AtomicU64,
    /// Archive files skipped because an earlier run finished them (unchanged size and mtime).
    pub skipped: AtomicU64,
    /// Files read and parsed.
    pub parsed: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
    pub inserted: AtomicU64,
    pub updated: AtomicU64,
    pub unchanged: AtomicU64,
    /// Replaced in place: the same bytes read again by a newer parser.
    pub reparsed: AtomicU64,
    pub quarantined: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
    /// Set when the archive walk has found every file (for the ETA).
    pub walk_done: AtomicBool,
    /// Document warnings, by code.
    pub warnings: Mutex<BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub seen: u64,
    pub skipped: u64,
    pub parsed: u64,
    pub bytes: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub reparsed: u64,
    pub quarantined: u64,
    pub failed: u64,
    pub retries: u64,
}

impl Counts {
    /// Files with a final outcome.
    pub fn done(&self) -> u64 {
        self.skipped
            + self.inserted
            + self.updated
            + self.unchanged
            + self.reparsed
            + self.quarantined
            + self.failed
    }

    /// Files whose document was written (or found already there).
    pub fn loaded(&self) -> u64 {
        self.inserted + self.updated + self.unchanged + self.reparsed
    }
}

impl RunStats {
    pub fn snapshot(&self) -> Counts {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            seen: g(&self.seen),
            skipped: g(&self.skipped),
            parsed: g(&self.parsed),
            bytes: g(&self.bytes),
            inserted: g(&self.inserted),
            updated: g(&self.updated),
            unchanged: g(&self.unchanged),
            reparsed: g(&self.reparsed),
            quarantined: g(&self.quarantined),
            failed: g(&self.failed),
            retries: g(&self.retries),
        }
    }

    pub fn warnings(&self) -> BTreeMap<String, u64> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Tallies a parsed document's warnings by code.
    pub fn count_warnings(&self, article: &Article) {
        if article.warnings.is_empty() {
            return;
        }
        if let Ok(mut w) = self.warnings.lock() {
            for warning in &article.warnings {
                *w.entry(warning.code.clone()).or_default() += 1;
            }
        }
    }

    pub fn walk_finished(&self) {
        self.walk_done.store(true, Ordering::Relaxed);
    }

    pub fn walk_is_done(&self) -> bool {
        self.walk_done.load(Ordering::Relaxed)
    }
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}
