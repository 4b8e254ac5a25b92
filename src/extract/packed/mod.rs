//! Packed inputs read in place: `.zip` (stored, deflate, zip64), `.tar`, `.tar.gz`/`.tgz`,
//! `.tar.zst`, `.tar.xz`, and single compressed files (`.txt.gz`, `.txt.zst`, `.txt.xz`),
//! recognised by their magic bytes. Members are streamed, never unpacked to disk, one at a
//! time in memory and each at most `max_member_bytes`. Hostile archives get a clear outcome:
//! every member that cannot be read is a [`Problem`] with a stable code, and limits stop a
//! decompression bomb.

use std::ops::ControlFlow;
use std::path::Path;

use chrono::{DateTime, Utc};

/// What kind of packed input a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Zip,
    Tar,
    TarGz,
    TarZst,
    TarXz,
    /// One gzip-compressed file.
    Gz,
    /// One zstd-compressed file.
    Zst,
    /// One xz-compressed file.
    Xz,
}

/// Bounds on what one archive may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries read at most (members, directories and skipped entries alike).
    pub max_members: u64,
    /// Uncompressed bytes of the members read, in all.
    pub max_total_bytes: u64,
    /// Uncompressed bytes read per byte of the archive on disk, at most (checked once more
    /// than a megabyte was read).
    pub max_ratio: u64,
    /// One member's bytes at most: a bigger one is a `too_large` problem, never read whole.
    pub max_member_bytes: u64,
}

/// A member, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its path inside the archive, `/`-separated, without a leading `./`.
    pub name: String,
    pub size: u64,
    pub mtime: Option<DateTime<Utc>>,
    pub bytes: Vec<u8>,
}

/// A member (or the archive itself, `member: None`) that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub member: Option<String>,
    /// Stable machine code: see [`PROBLEM_CODES`].
    pub code: &'static str,
    pub message: String,
}

/// Every problem code, for documentation and tests.
pub const PROBLEM_CODES: &[&str] = &[
    "unsafe_path",
    "link_member",
    "encrypted",
    "unsupported",
    "corrupt",
    "too_many_members",
    "archive_too_large",
    "compression_ratio",
    "nested_archive",
    "too_large",
];

/// What reading an archive yields, in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Member(Member),
    Problem(Problem),
}
