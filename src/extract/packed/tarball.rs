//! Tar, plain or inside a compressed stream, read with the `tar` crate in archive order. A
//! stream cannot be read past a corruption, so the first one stops the read.

use std::io::Read;
use std::ops::ControlFlow;

use chrono::DateTime;
use tar::EntryType;

use super::member::{Named, Run};

/// What an entry is, for us.
enum Kind {
    File,
    /// Directories and metadata entries: counted, never reported.
    Skip,
    Link,
    /// Devices, fifos and types we do not know: not a file to read.
    Other,
}

fn kind(entry_type: EntryType) -> Kind {
    match entry_type {
        // GNU sparse files read as their data expanded, like a regular file.
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
        EntryType::Directory
        | EntryType::XGlobalHeader
        | EntryType::XHeader
        | EntryType::GNULongName
        | EntryType::GNULongLink => Kind::Skip,
        EntryType::Symlink | EntryType::Link => Kind::Link,
        _ => Kind::Other,
    }
}

/// Reads every entry of the tar stream `reader` (already counted by the meter).
pub(super) fn read(reader: impl Read, run: &mut Run) -> ControlFlow<()> {
    let mut archive = tar::Archive::new(reader);
    entries(&mut archive, run)?;
    // The tar ends at its end-of-archive blocks, before the compressed stream's own end: read
    // on to it (counted, so the limits hold) so that a checksum or a truncation in the
    // compression's trailer is seen, not taken for a clean end.
    match std::io::copy(&mut archive.into_inner(), &mut std::io::sink()) {
        Ok(_) => run.limit_crossed(),
        Err(e) => run.corrupt(&format!("after the tar's end: {e}")),
    }
}

fn entries<R: Read>(archive: &mut tar::Archive<R>, run: &mut Run) -> ControlFlow<()> {
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => return run.corrupt(&e),
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) => return run.corrupt(&format!("tar: {e}")),
        };
        run.entry()?;
        let entry_type = entry.header().entry_type();
        let kind = kind(entry_type);
        if let Kind::Skip = kind {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let (named, flow) = run.name(&raw);
        flow?;
        let Named::Take(name) = named else {
            continue;
        };
        match kind {
            Kind::Link => {
                let message = format!("a {entry_type:?} entry: links are not followed");
                run.problem(Some(name), "link_member", message)?;
            }
            Kind::Other => {
                let message = format!("a {entry_type:?} entry, not a regular file");
                run.problem(Some(name), "unsupported", message)?;
            }
            Kind::File => {
                let mtime = entry
                    .header()
                    .mtime()
                    .ok()
                    .and_then(|secs| i64::try_from(secs).ok())
                    .and_then(|secs| DateTime::from_timestamp(secs, 0));
                let size = entry.size();
                match run.read_member(&mut entry, name, Some(size), mtime) {
                    Ok(flow) => flow?,
                    Err(e) => return run.corrupt(&format!("tar: {e}")),
                }
            }
            Kind::Skip => {}
        }
    }
    // A limit crossed while skipping to the end still counts.
    run.limit_crossed()
}
