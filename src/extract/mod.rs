//! Extract: finding and claiming input files.

pub mod inbox;

pub use inbox::{Claim, Inbox, InboxError, QuarantineReport};
