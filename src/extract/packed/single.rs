//! A single compressed file (`.gz`, `.zst`, `.xz`): one member, named after the file.

use std::io::Read;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};

use super::member::{Named, Run};

/// Reads the one member of the decompressed stream `reader` (already counted by the meter). A
/// truncated or corrupt stream is the archive's `corrupt` problem: nothing of it is delivered.
pub(super) fn read(
    reader: impl Read,
    name: String,
    mtime: Option<DateTime<Utc>>,
    run: &mut Run,
) -> ControlFlow<()> {
    run.entry()?;
    let (named, flow) = run.name(&name);
    flow?;
    let Named::Take(name) = named else {
        return ControlFlow::Continue(());
    };
    match run.read_member(reader, name, None, mtime) {
        Ok(flow) => flow,
        Err(e) => run.corrupt(&format!("compressed stream: {e}")),
    }
}
