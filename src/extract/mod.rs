//! Extract: finding and claiming input files.

pub mod inbox;
pub mod watch;

pub use inbox::{Claim, Inbox, InboxError, QuarantineReport};
pub use watch::WatchRules;
