//! Packed inputs read in place: `.zip` (stored, deflate, zip64), `.tar`, `.tar.gz`/`.tgz`,
//! `.tar.zst`, `.tar.xz`, and single compressed files (`.txt.gz`, `.txt.zst`, `.txt.xz`),
//! recognised by their magic bytes. Members are streamed, never unpacked to disk, one at a
//! time in memory and each at most `max_member_bytes`. Hostile archives get a clear outcome:
//! every member that cannot be read is a [`Problem`] with a stable code, and limits stop a
//! decompression bomb.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;
use std::rc::Rc;

use chrono::{DateTime, Utc};

mod limits;
mod member;
mod single;
mod tarball;
mod zipfile;

#[cfg(test)]
mod tests;

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

impl Format {
    /// `zip`, `tar`, `tar.gz`, `tar.zst`, `tar.xz`, `gz`, `zst`, `xz`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::TarGz => "tar.gz",
            Format::TarZst => "tar.zst",
            Format::TarXz => "tar.xz",
            Format::Gz => "gz",
            Format::Zst => "zst",
            Format::Xz => "xz",
        }
    }

    /// Whether the format holds many members (zip, tar*) or one (gz, zst, xz).
    pub fn is_multi(self) -> bool {
        !matches!(self, Format::Gz | Format::Zst | Format::Xz)
    }
}

/// Bounds on what one archive may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries read at most (members, directories and skipped entries alike).
    pub max_members: u64,
    /// Uncompressed bytes of the members read, in all. Counted as the decoders produce them:
    /// for a tar (plain or compressed) the whole stream, headers and skipped members included,
    /// since decoding them is the work; for a zip the bytes of the members read.
    pub max_total_bytes: u64,
    /// Uncompressed bytes read per byte of the archive on disk, at most (checked once more
    /// than a megabyte was read).
    pub max_ratio: u64,
    /// One member's bytes at most: a bigger one is a `too_large` problem, never read whole.
    pub max_member_bytes: u64,
}

impl Limits {
    pub const DEFAULT_MAX_MEMBERS: u64 = 1_000_000;
    pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 64 << 30;
    pub const DEFAULT_MAX_RATIO: u64 = 100;
    pub const DEFAULT_MAX_MEMBER_BYTES: u64 = 16 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_members: Limits::DEFAULT_MAX_MEMBERS,
            max_total_bytes: Limits::DEFAULT_MAX_TOTAL_BYTES,
            max_ratio: Limits::DEFAULT_MAX_RATIO,
            max_member_bytes: Limits::DEFAULT_MAX_MEMBER_BYTES,
        }
    }
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

/// Counts of one read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Entries seen (members, directories, links and skipped entries alike).
    pub entries: u64,
    /// Members delivered to `visit`.
    pub members: u64,
    /// Problems delivered to `visit`.
    pub problems: u64,
    /// Uncompressed bytes read: the decompressed stream of a tar or single file (headers and
    /// skipped data included, since decompressing them is the cost), the members' bytes of a zip.
    pub bytes: u64,
}

/// Extensions of packed files, lowercase. `.gz` also covers `.tar.gz` and so on; the long forms
/// stay listed so the list reads as the documentation says.
const PACKED_EXTENSIONS: &[&str] = &[
    ".zip", ".tar", ".tgz", ".tar.gz", ".tar.zst", ".tzst", ".tar.xz", ".txz", ".gz", ".zst", ".xz",
];

/// Whether a file name looks packed by its extension (`.zip .tar .tgz .tar.gz .tar.zst .tzst
/// .tar.xz .txz .gz .zst .xz`, any case): the cheap first test a directory walk makes before
/// sniffing.
pub fn has_packed_extension(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    PACKED_EXTENSIONS.iter().any(|ext| lower.ends_with(ext))
}

/// The format of a file read as a packed input: its name has a packed extension and its bytes
/// a packed format's magic. `None` for anything else, including a file that cannot be read (its
/// reader says why). `name` is the file's own name, which a claim's path no longer ends with.
pub fn packed_format(name: &str, path: &Path) -> Option<Format> {
    if !has_packed_extension(name) {
        return None;
    }
    sniff(path).ok().flatten()
}

const ZIP_LOCAL: &[u8] = b"PK\x03\x04";
const ZIP_EMPTY: &[u8] = b"PK\x05\x06";
const GZIP: &[u8] = &[0x1f, 0x8b];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ: &[u8] = &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
/// `ustar` at offset 257 (POSIX `ustar\0` and old GNU `ustar  \0` alike).
const TAR_MAGIC_AT: usize = 257;
const TAR_MAGIC: &[u8] = b"ustar";
/// Bytes needed to see every magic, the tar one included.
const HEAD: usize = 512;
/// Compressed bytes read at most to see the first decompressed bytes: a few KB are plenty for
/// gzip and xz; a zstd block may be bigger, and then the name decides (see `sniff`).
const SNIFF_COMPRESSED: u64 = 16 * 1024;

fn is_tar(head: &[u8]) -> bool {
    head.get(TAR_MAGIC_AT..TAR_MAGIC_AT + TAR_MAGIC.len()) == Some(TAR_MAGIC)
}

/// The compression a head starts with, as the single-file format.
fn compression(head: &[u8]) -> Option<Format> {
    if head.starts_with(GZIP) {
        Some(Format::Gz)
    } else if head.starts_with(ZSTD) {
        Some(Format::Zst)
    } else if head.starts_with(XZ) {
        Some(Format::Xz)
    } else {
        None
    }
}

/// The same test as [`sniff`] on bytes already in memory, for members (nested archives): the
/// magic of zip, tar, gzip, zstd, xz.
pub fn looks_packed(head: &[u8]) -> bool {
    head.starts_with(ZIP_LOCAL)
        || head.starts_with(ZIP_EMPTY)
        || is_tar(head)
        || compression(head).is_some()
}

/// Fills `buf` as far as the reader goes: how much was read, and the error that stopped it
/// short, if one did.
fn read_head(reader: &mut dyn Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

/// Memory the xz decoder may take: `xz -9` needs 65 MiB; a header asking for gigabytes of
/// dictionary is refused (a `corrupt` problem) rather than allocated.
const XZ_MEMLIMIT: u64 = 256 << 20;

/// A decoder for a single-file compression, over any reader.
fn decoder<'a, R: io::BufRead + 'a>(format: Format, reader: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match format {
        Format::Gz | Format::TarGz => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Format::Zst | Format::TarZst => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        Format::Xz | Format::TarXz => {
            // The stream decoder (not the auto one): `.xz` only, never legacy `.lzma`.
            let flags = liblzma::stream::CONCATENATED;
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, flags)
                .map_err(io::Error::other)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(reader, stream))
        }
        Format::Zip | Format::Tar => Box::new(reader),
    })
}

/// The tar variant of a single-file compression.
fn with_tar(single: Format) -> Format {
    match single {
        Format::Gz => Format::TarGz,
        Format::Zst => Format::TarZst,
        Format::Xz => Format::TarXz,
        other => other,
    }
}

/// What packed format the file at `path` holds, by its magic bytes (not its name): zip
/// (`PK\x03\x04`, or `PK\x05\x06` for an empty zip), tar (`ustar` at offset 257), gzip, zstd,
/// xz. For gzip/zstd/xz, the first 512 decompressed bytes tell a tar inside from a single
/// compressed file. `Ok(None)` for anything else. Reads at most a few KB.
///
/// When the first decompressed bytes cannot be had within that budget (a zstd block bigger
/// than it, or a stream corrupt from its start), the name decides between the tar and the
/// single file; reading it later reports what is wrong.
pub fn sniff(path: &Path) -> io::Result<Option<Format>> {
    let mut file = File::open(path)?;
    let mut head = [0u8; HEAD];
    let (n, error) = read_head(&mut file, &mut head);
    if let Some(e) = error {
        return Err(e);
    }
    let head = &head[..n];
    if head.starts_with(ZIP_LOCAL) || head.starts_with(ZIP_EMPTY) {
        return Ok(Some(Format::Zip));
    }
    if is_tar(head) {
        return Ok(Some(Format::Tar));
    }
    let Some(single) = compression(head) else {
        return Ok(None);
    };
    file.seek(SeekFrom::Start(0))?;
    let mut inner = [0u8; HEAD];
    let compressed = BufReader::new(file.take(SNIFF_COMPRESSED));
    let (n, stopped) = match decoder(single, compressed) {
        Ok(mut d) => {
            let (n, error) = read_head(&mut d, &mut inner);
            (n, error.is_some())
        }
        Err(_) => (0, true),
    };
    Ok(Some(match (n, stopped) {
        _ if is_tar(&inner[..n]) => with_tar(single),
        // The whole stream was shorter than a tar header, or is not a tar.
        (_, false) => single,
        (n, true) if n >= TAR_MAGIC_AT + TAR_MAGIC.len() => single,
        (_, true) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase());
            let tar_named = name.is_some_and(|n| {
                [".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz"]
                    .iter()
                    .any(|ext| n.ends_with(ext))
            });
            if tar_named {
                with_tar(single)
            } else {
                single
            }
        }
    }))
}

/// The one member's name of a single compressed file: the file name without its compression
/// extension (`content_1.txt.gz` → `content_1.txt`; `x.zst` → `x`; `x.tgz` → `x.tar`). A name
/// without one (a `.txt` holding gzip) is kept whole.
pub fn single_member_name(file_name: &str) -> String {
    let lower = file_name.to_ascii_lowercase();
    // The extensions are ASCII, so the cut falls on a character boundary.
    for (ext, becomes) in [(".tgz", ".tar"), (".tzst", ".tar"), (".txz", ".tar")] {
        if lower.ends_with(ext) && lower.len() > ext.len() {
            return format!("{}{becomes}", &file_name[..file_name.len() - ext.len()]);
        }
    }
    for ext in [".gz", ".zst", ".xz"] {
        if lower.ends_with(ext) && lower.len() > ext.len() {
            return file_name[..file_name.len() - ext.len()].to_owned();
        }
    }
    file_name.to_owned()
}

/// Reads the archive at `path` (of `format`) in archive order, streaming: `visit` gets each
/// regular-file member whose name `wanted` accepts (directories never; `wanted` gets the
/// member's full path inside the archive), read whole into memory, and each problem. Stops
/// early when `visit` returns `ControlFlow::Break(())`. Returns `Err` only when the file itself
/// cannot be opened; everything wrong inside the archive is a [`Problem`].
///
/// Problems of entries `wanted` rejects are not reported, except the archive's own (limits,
/// corruption). A zip whose central directory is intact reports a corrupt member and goes on;
/// a stream (tar, compressed, or a zip read from its local headers) stops at its first
/// corruption, since nothing after it can be trusted.
pub fn read(
    path: &Path,
    format: Format,
    limits: &Limits,
    wanted: &dyn Fn(&str) -> bool,
    visit: &mut dyn FnMut(Event) -> ControlFlow<()>,
) -> io::Result<Summary> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    let meter = Rc::new(limits::Meter::new(*limits, meta.len()));
    let mut run = member::Run::new(*limits, Rc::clone(&meter), wanted, visit);
    // What the archive's reading returns is whether it stopped early: either way it is done.
    let _ = match format {
        Format::Zip => zipfile::read(file, &mut run),
        Format::Tar => tarball::read(limits::Counted::new(BufReader::new(file), &meter), &mut run),
        Format::TarGz | Format::TarZst | Format::TarXz => {
            match decoder(format, BufReader::new(file)) {
                Ok(d) => tarball::read(limits::Counted::new(d, &meter), &mut run),
                Err(e) => run.corrupt(&e),
            }
        }
        Format::Gz | Format::Zst | Format::Xz => {
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = single_member_name(file_name.as_deref().unwrap_or(""));
            let mtime = meta.modified().ok().map(DateTime::<Utc>::from);
            match decoder(format, BufReader::new(file)) {
                Ok(d) => single::read(limits::Counted::new(d, &meter), name, mtime, &mut run),
                Err(e) => run.corrupt(&e),
            }
        }
    };
    Ok(run.finish())
}
