//! Where a file came from, which decides what happens to it once its fate is known.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::archive::ArchiveFile;
use super::inbox::{Claim, PackedClaim};

#[derive(Debug)]
pub enum Origin {
    /// Claimed from a pipeline's inbox: finished, quarantined or returned by the inbox
    /// protocol.
    Inbox(Claim),
    /// A member of a packed input claimed from an inbox: settled one by one, the archive with
    /// its last member.
    Packed(InboxMember),
    /// Found by a backfill's walk (a file, or a member of a packed input): never moved; its
    /// outcome goes to the backfill's progress.
    Archive(ArchiveFile),
}

/// A member of a packed input claimed from an inbox, read.
#[derive(Debug)]
pub struct InboxMember {
    pub unit: Arc<PackedClaim>,
    /// The member's path inside the archive.
    pub name: String,
    pub mtime: Option<DateTime<Utc>>,
    pub bytes: Vec<u8>,
}

impl Origin {
    /// The index of the file's pipeline in the run's list (a backfill has one).
    pub fn pipeline(&self) -> usize {
        match self {
            Origin::Inbox(c) => c.pipeline,
            Origin::Packed(m) => m.unit.claim.pipeline,
            Origin::Archive(_) => 0,
        }
    }

    /// Where the file is on disk (a member's: its archive's).
    pub fn path(&self) -> &Path {
        match self {
            Origin::Inbox(c) => &c.path,
            Origin::Packed(m) => &m.unit.claim.path,
            Origin::Archive(f) => &f.path,
        }
    }

    /// How the file is named in documents, logs and reports (a member:
    /// `<archive>!<member path>`).
    pub fn shown(&self) -> String {
        match self {
            Origin::Inbox(c) => c.display_name(),
            Origin::Packed(m) => format!("{}!{}", m.unit.name(), m.name),
            Origin::Archive(f) => f.key.clone(),
        }
    }
}
