//! Zip (stored, deflate, zip64) with the `zip` crate: by its central directory when it can be
//! read, in that order; else (a truncated zip) from its local headers as a stream, as far as
//! they go, then `corrupt` for the rest.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::ops::ControlFlow;

use chrono::{DateTime, NaiveDate, Utc};
use zip::read::read_zipfile_from_stream;
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use super::limits::Counted;
use super::member::{Named, Run};

/// The file type bits of a unix mode, and a symlink's.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// What we need of an entry before deciding to read it, taken from either of the crate's entry
/// types (they share methods, not a trait).
struct Info {
    raw_name: String,
    is_dir: bool,
    is_link: bool,
    encrypted: bool,
    method: CompressionMethod,
    size: u64,
    mtime: Option<DateTime<Utc>>,
}

macro_rules! info {
    ($entry:expr) => {{
        let e = &$entry;
        // Zip names are `/`-separated by the specification; some Windows tools wrote `\`, and
        // a `..\` must not slip past the path checks.
        let raw_name = match e.name() {
            Ok(name) => name.into_owned(),
            Err(_) => String::from_utf8_lossy(e.name_raw()).into_owned(),
        }
        .replace('\\', "/");
        Info {
            is_dir: raw_name.ends_with('/'),
            raw_name,
            is_link: e.unix_mode().is_some_and(|m| m & S_IFMT == S_IFLNK),
            encrypted: e.encrypted(),
            method: e.compression(),
            size: e.size(),
            mtime: e.last_modified().and_then(utc),
        }
    }};
}

/// A zip date-time (local time of whoever packed it, no zone) taken as UTC.
fn utc(t: zip::DateTime) -> Option<DateTime<Utc>> {
    NaiveDate::from_ymd_opt(t.year().into(), t.month().into(), t.day().into())?
        .and_hms_opt(t.hour().into(), t.minute().into(), t.second().into())
        .map(|t| t.and_utc())
}

/// Judges an entry before it is read: `Some(name)` when it is a wanted file to read; else it
/// was skipped or reported (the flow says whether to go on).
fn judge(info: &Info, run: &mut Run) -> (Option<String>, ControlFlow<()>) {
    if info.is_dir {
        return (None, ControlFlow::Continue(()));
    }
    let (named, flow) = run.name(&info.raw_name);
    let Named::Take(name) = named else {
        return (None, flow);
    };
    let refused = if info.is_link {
        Some((
            "link_member",
            "a symbolic link: links are not followed".to_owned(),
        ))
    } else if info.encrypted {
        Some((
            "encrypted",
            "an encrypted entry: no password is known".to_owned(),
        ))
    } else if !matches!(
        info.method,
        CompressionMethod::Stored | CompressionMethod::Deflated
    ) {
        let message = format!(
            "compression method {:?}: only stored and deflate are read",
            info.method
        );
        Some(("unsupported", message))
    } else {
        None
    };
    match refused {
        Some((code, message)) => (None, run.problem(Some(name), code, message)),
        None => (Some(name), ControlFlow::Continue(())),
    }
}

/// Reads the zip `file`.
pub(super) fn read(file: File, run: &mut Run) -> ControlFlow<()> {
    // A second handle for the stream fallback: the archive takes the first one.
    let mut again = match file.try_clone() {
        Ok(f) => f,
        Err(e) => return run.corrupt(&e),
    };
    match ZipArchive::new(BufReader::new(file)) {
        Ok(mut archive) => by_directory(&mut archive, run),
        Err(cd_error) => {
            if let Err(e) = again.seek(SeekFrom::Start(0)) {
                return run.corrupt(&e);
            }
            by_stream(BufReader::new(again), &cd_error, run)
        }
    }
}

/// By the central directory: each entry found by its offset, so a corrupt member is reported
/// and the next one read.
fn by_directory(archive: &mut ZipArchive<BufReader<File>>, run: &mut Run) -> ControlFlow<()> {
    let meter = run.meter();
    for index in 0..archive.len() {
        run.entry()?;
        let info = match archive.by_index_data(index) {
            Ok(entry) => info!(entry),
            Err(e) => {
                run.failed(
                    Some(format!("#{index}")),
                    &format!("zip entry #{index}: {e}"),
                )?;
                continue;
            }
        };
        let (name, flow) = judge(&info, run);
        flow?;
        let Some(name) = name else { continue };
        let read = match archive.by_index(index) {
            Ok(mut member) => run.read_member(
                Counted::new(&mut member, &meter),
                name.clone(),
                Some(info.size),
                info.mtime,
            ),
            Err(e) => Err(std::io::Error::other(e)),
        };
        match read {
            Ok(flow) => flow?,
            Err(e) => run.failed(Some(name), &format!("zip: {e}"))?,
        }
    }
    ControlFlow::Continue(())
}

/// From the local headers, when the central directory is missing or broken: as far as they
/// go, then the archive's `corrupt` problem, which names why the directory could not be read.
/// (Local headers carry no unix mode, so a symlink is not told apart here.)
fn by_stream(mut reader: BufReader<File>, cd_error: &ZipError, run: &mut Run) -> ControlFlow<()> {
    let meter = run.meter();
    loop {
        let mut member = match read_zipfile_from_stream(&mut reader) {
            Ok(Some(member)) => member,
            // The start of a central directory that could not be read as a whole.
            Ok(None) => break,
            Err(e) => {
                let message = format!("zip central directory: {cd_error}; local headers: {e}");
                return run.corrupt(&message);
            }
        };
        run.entry()?;
        let info = info!(member);
        let (name, flow) = judge(&info, run);
        flow?;
        let Some(name) = name else { continue };
        let read = run.read_member(
            Counted::new(&mut member, &meter),
            name,
            Some(info.size),
            info.mtime,
        );
        match read {
            Ok(flow) => flow?,
            Err(e) => return run.corrupt(&format!("zip: {e}")),
        }
    }
    run.corrupt(&format!("zip central directory: {cd_error}"))
}
