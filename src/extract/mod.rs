//! Extract: finding input files: claiming them from inboxes (once or watching), or walking
//! archive trees in place.

pub mod archive;
pub mod inbox;
pub mod read;
pub mod watch;

pub use inbox::{Claim, Inbox, InboxError, QuarantineReport};
pub use watch::WatchRules;
