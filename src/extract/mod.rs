//! Extract: finding input files: claiming them from inboxes (once or watching), or walking
//! archive trees in place, and reading them.

pub mod archive;
pub mod filter;
pub mod inbox;
pub mod origin;
pub mod packed;
pub mod read;
pub mod watch;

pub use filter::FileFilter;
pub use inbox::{
    AfterLoad, Claim, Fate, Inbox, InboxError, InboxSpec, MemberFailure, MemberFate, PackedClaim,
    QuarantineReport,
};
pub use origin::{InboxMember, Origin};
pub use watch::WatchRules;
