//! Where a file came from, which decides what happens to it once its fate is known.

use std::path::Path;

use super::archive::ArchiveFile;
use super::inbox::Claim;

#[derive(Debug)]
pub enum Origin {
    /// Claimed from a pipeline's inbox: finished, quarantined or returned by the inbox
    /// protocol.
    Inbox(Claim),
    /// Found by a backfill's walk: never moved; its outcome goes to the backfill's progress.
    Archive(ArchiveFile),
}

impl Origin {
    /// The index of the file's pipeline in the run's list (a backfill has one).
    pub fn pipeline(&self) -> usize {
        match self {
            Origin::Inbox(c) => c.pipeline,
            Origin::Archive(_) => 0,
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Origin::Inbox(c) => &c.path,
            Origin::Archive(f) => &f.path,
        }
    }

    /// How the file is named in documents, logs and reports.
    pub fn shown(&self) -> String {
        match self {
            Origin::Inbox(c) => c.display_name(),
            Origin::Archive(f) => f.key.clone(),
        }
    }
}
