//! Backfill's extract stage: walking archive trees in place. Nothing inside a tree is ever
//! created, changed or moved; files are only opened for reading.
//!
//! The walk (the `ignore` crate's walker, in name order) streams chunks of entries into a
//! bounded channel, so the tree is never held in memory. Each file is named by a *key*: the root directory's own
//! name and the path below it (`2004/01/02/content_1.txt` for a root `/mnt/archive/2004`), the
//! same on every machine that mounts the archive somewhere else, which is what `--shard K/N`
//! hashes and what resume progress is keyed by.
//!
//! A packed input found in a tree (a `.zip`, a `.tar.zst`…: a name with a packed extension,
//! its format told by its magic bytes, see [`super::packed`]) is read in place, and each of
//! its members is a file of its own, keyed `<archive key>!<member path>`.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ignore::WalkBuilder;
use sha2::{Digest, Sha256};

use super::packed::{self, Event, Limits};
use super::FileFilter;

/// A file of an archive tree, or a member of a packed input in it, as found by the walk.
#[derive(Debug, Clone)]
pub struct ArchiveFile {
    /// On disk (for a member: its archive).
    pub path: PathBuf,
    /// `<root name>/<path below the root>`, `/`-separated; for a member,
    /// `<archive key>!<member path>`.
    pub key: String,
    pub size: u64,
    pub mtime: Option<DateTime<Utc>>,
    /// A member of a packed input, read by the walk.
    pub member: Option<Box<PackedMember>>,
}

/// A member of a packed input, read.
#[derive(Debug, Clone)]
pub struct PackedMember {
    /// The archive's key.
    pub archive: String,
    /// The member's path inside the archive.
    pub name: String,
    pub bytes: Vec<u8>,
}

impl ArchiveFile {
    /// The key's directory and file name (`2004/01/02`, `content_1.txt`): backfill progress
    /// is kept per directory.
    pub fn dir_and_name(&self) -> (&str, &str) {
        self.key.rsplit_once('/').unwrap_or(("", &self.key))
    }

    /// Where the file is, for reports: its path, or `<archive path>!<member path>`.
    pub fn location(&self) -> String {
        match &self.member {
            Some(m) => format!("{}!{}", self.path.display(), m.name),
            None => self.path.display().to_string(),
        }
    }
}

/// What the walk yields: files, and the entries it could not read.
#[derive(Debug)]
pub enum Walked {
    File(ArchiveFile),
    Unreadable {
        path: String,
        /// `io`, or a packed input's problem code.
        code: &'static str,
        message: String,
    },
}

impl Walked {
    /// The bytes the entry holds in memory (a member's).
    fn bytes(&self) -> usize {
        match self {
            Walked::File(f) => f.member.as_ref().map_or(0, |m| m.bytes.len()),
            Walked::Unreadable { .. } => 0,
        }
    }
}

/// `--shard K/N`: this machine takes the files whose key hashes to K modulo N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected K/N, e.g. 0/4"))?;
        let k: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: K is not a number"))?;
        let n = parse_n(s, n)?;
        if k >= n {
            return Err(format!("{s:?}: need 0 <= K < N"));
        }
        Ok(Shard { k, n })
    }
}

fn parse_n(s: &str, n: &str) -> Result<u64, String> {
    match n.trim().parse::<u64>() {
        Ok(0) => Err(format!("{s:?}: N must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?}: N is not a number")),
    }
}

/// Where a Kubernetes Indexed Job puts each pod's index (0 to `completions - 1`), which
/// `--shard auto/N` takes as K.
pub const JOB_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// What `--shard` takes: `K/N`, or `auto/N`, whose K is the pod's index in a Kubernetes
/// Indexed Job ([`JOB_INDEX_VAR`]). The whole syntax is here; the environment is read by the
/// caller and handed to [`ShardSpec::resolve`], so that parsing stays a pure function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSpec {
    Fixed(Shard),
    /// `auto/N`.
    JobIndex {
        n: u64,
    },
}

impl FromStr for ShardSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((k, n)) if k.trim() == "auto" => Ok(ShardSpec::JobIndex { n: parse_n(s, n)? }),
            None if s.trim() == "auto" => Err(format!(
                "{s:?}: expected auto/N, N the number of shards (the Job's completions)"
            )),
            _ => s.parse().map(ShardSpec::Fixed),
        }
    }
}

impl ShardSpec {
    /// The shard this process takes; `job_index` is the value of [`JOB_INDEX_VAR`] (`None`
    /// when it is not set), read only by `auto/N`. The error names the variable.
    pub fn resolve(self, job_index: Option<&std::ffi::OsStr>) -> Result<Shard, String> {
        let n = match self {
            ShardSpec::Fixed(shard) => return Ok(shard),
            ShardSpec::JobIndex { n } => n,
        };
        let Some(raw) = job_index else {
            return Err(format!(
                "--shard auto/{n} takes K from {JOB_INDEX_VAR}, which is not set (a Kubernetes \
                 Indexed Job sets it; elsewhere give --shard K/{n})"
            ));
        };
        let value = raw.to_string_lossy();
        match value.trim().parse::<u64>() {
            Ok(k) if k < n => Ok(Shard { k, n }),
            Ok(k) => Err(format!(
                "--shard auto/{n}: {JOB_INDEX_VAR}={k} is not a shard of {n} (need 0 <= K < {n}: \
                 the Job's completions must equal N)"
            )),
            Err(_) => Err(format!(
                "--shard auto/{n}: {JOB_INDEX_VAR}={value:?} is not a number from 0 to {}",
                n - 1
            )),
        }
    }
}

impl Shard {
    /// A stable hash (the first 8 bytes of SHA-256 of the key), the same on every machine and
    /// every build, unlike the standard library's hasher.
    pub fn owns(&self, key: &str) -> bool {
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % self.n == self.k
    }
}

/// The key of `path` under `root`.
pub fn key_of(root: &Path, path: &Path) -> String {
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "archive".to_owned());
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut key = name;
    for part in rel.components() {
        key.push('/');
        key.push_str(&part.as_os_str().to_string_lossy());
    }
    key
}

/// Entries a walking thread sends at once: a channel hand-off per file would wake the
/// receiving side once per file.
pub const WALK_CHUNK: usize = 64;
/// Members' bytes a chunk holds at most before it is sent (a member may be bigger alone).
const WALK_CHUNK_BYTES: usize = 1 << 20;

/// The one walk of trees in this crate (backfill, its dry run, `validate`): gives `out` every
/// accepted regular file under `roots` this shard owns, every member of the packed inputs
/// among them, and every entry that cannot be read, in the order of their names. A root that
/// is itself a file is always taken (`validate FILE`); files found in directories are taken
/// when `filter` accepts their name, members when it accepts their file name. Symlinks are
/// never followed, out of the tree or within it. Stops when `out` breaks.
pub fn walk_each(
    roots: &[PathBuf],
    filter: &FileFilter,
    shard: Option<Shard>,
    limits: &Limits,
    out: &mut dyn FnMut(Walked) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let Some(first) = roots.first() else {
        return ControlFlow::Continue(());
    };
    let mut builder = WalkBuilder::new(first);
    for root in &roots[1..] {
        builder.add(root);
    }
    builder
        .standard_filters(false)
        .hidden(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b));
    for entry in builder.build() {
        visit(entry, roots, filter, shard, limits, out)?;
    }
    ControlFlow::Continue(())
}

/// Walks `roots` ([`walk_each`]), sending the entries in chunks. Returns when the walk is
/// done, `stopped()` says so, or the receiver is gone.
///
/// One thread: the walk only has to stay ahead of the database, which takes a thousand times
/// fewer files per second than a directory listing gives. A parallel walk spent most of a
/// backfill with one thread blocked on the full channel and the others polling for work every
/// millisecond (more context switches than files).
pub fn walk(
    roots: &[PathBuf],
    filter: &FileFilter,
    shard: Option<Shard>,
    limits: &Limits,
    out: &flume::Sender<Vec<Walked>>,
    stopped: &(dyn Fn() -> bool + Sync),
) {
    let mut chunk = Vec::with_capacity(WALK_CHUNK);
    let mut bytes = 0;
    let walked = walk_each(roots, filter, shard, limits, &mut |walked| {
        if stopped() {
            return ControlFlow::Break(());
        }
        bytes += walked.bytes();
        chunk.push(walked);
        if chunk.len() == WALK_CHUNK || bytes >= WALK_CHUNK_BYTES {
            bytes = 0;
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(WALK_CHUNK));
            if out.send(full).is_err() {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    if walked.is_continue() && !chunk.is_empty() {
        let _ = out.send(chunk);
    }
}

/// What the walk makes of one entry: an accepted regular file this shard owns, the members of
/// a packed input, an entry it cannot read, or nothing.
fn visit(
    entry: Result<ignore::DirEntry, ignore::Error>,
    roots: &[PathBuf],
    filter: &FileFilter,
    shard: Option<Shard>,
    limits: &Limits,
    out: &mut dyn FnMut(Walked) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let entry = match entry {
        Ok(e) => e,
        Err(err) => {
            return out(Walked::Unreadable {
                path: error_path(&err).unwrap_or_default(),
                code: "io",
                message: err.to_string(),
            })
        }
    };
    if !entry.file_type().is_some_and(|t| t.is_file()) {
        return ControlFlow::Continue(());
    }
    let named = entry.depth() == 0;
    let path = entry.path();
    let file_name = entry.file_name().to_string_lossy();
    // A file named as a root is keyed by its own name, as a root directory is: the same
    // wherever it is mounted.
    let key = if named {
        entry.file_name().to_string_lossy().into_owned()
    } else {
        let root = roots
            .iter()
            .find(|r| path.starts_with(r))
            .map_or(path, PathBuf::as_path);
        key_of(root, path)
    };
    if (named || filter.takes(entry.file_name())) && packed::has_packed_extension(&file_name) {
        match packed::sniff(path) {
            Ok(Some(format)) => return unpack(path, &key, format, filter, shard, limits, out),
            Ok(None) => {}
            Err(err) => {
                return out(Walked::Unreadable {
                    path: path.display().to_string(),
                    code: "io",
                    message: err.to_string(),
                })
            }
        }
    }
    if !(named || filter.accepts(entry.file_name())) || shard.is_some_and(|s| !s.owns(&key)) {
        return ControlFlow::Continue(());
    }
    out(match entry.metadata() {
        Ok(meta) => Walked::File(ArchiveFile {
            path: path.to_path_buf(),
            key,
            size: meta.len(),
            mtime: meta.modified().ok().map(DateTime::<Utc>::from),
            member: None,
        }),
        Err(err) => Walked::Unreadable {
            path: path.display().to_string(),
            code: "io",
            message: err.to_string(),
        },
    })
}

/// The members of the packed input at `path` (keyed under `key`) this shard owns, and its
/// problems. A member is taken as a file is: by `include`/`exclude`, or as a packed input
/// (which is then refused as nested, with a reason, rather than passed over in silence).
fn unpack(
    path: &Path,
    key: &str,
    format: packed::Format,
    filter: &FileFilter,
    shard: Option<Shard>,
    limits: &Limits,
    out: &mut dyn FnMut(Walked) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let owns = |k: &str| shard.is_none_or(|s| s.owns(k));
    let wanted = |member: &str| filter.takes(member_file_name(member).as_ref());
    let mut flow = ControlFlow::Continue(());
    let read = packed::read(path, format, limits, &wanted, &mut |event| {
        flow = match event {
            Event::Member(m) => {
                let member_key = format!("{key}!{}", m.name);
                if !owns(&member_key) {
                    return ControlFlow::Continue(());
                }
                out(Walked::File(ArchiveFile {
                    path: path.to_path_buf(),
                    key: member_key,
                    size: m.size,
                    mtime: m.mtime,
                    member: Some(Box::new(PackedMember {
                        archive: key.to_owned(),
                        name: m.name,
                        bytes: m.bytes,
                    })),
                }))
            }
            Event::Problem(p) => {
                let (owner, shown) = match &p.member {
                    Some(m) => (format!("{key}!{m}"), format!("{}!{m}", path.display())),
                    None => (key.to_owned(), path.display().to_string()),
                };
                if !owns(&owner) {
                    return ControlFlow::Continue(());
                }
                out(Walked::Unreadable {
                    path: shown,
                    code: p.code,
                    message: p.message,
                })
            }
        };
        flow
    });
    match read {
        Ok(_) => flow,
        Err(err) if owns(key) => out(Walked::Unreadable {
            path: path.display().to_string(),
            code: "io",
            message: err.to_string(),
        }),
        Err(_) => ControlFlow::Continue(()),
    }
}

/// The file name of a member path (`a/b/c.txt` → `c.txt`), which `include`/`exclude` match.
pub fn member_file_name(member: &str) -> &str {
    member.rsplit('/').next().unwrap_or(member)
}

fn error_path(err: &ignore::Error) -> Option<String> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.display().to_string()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_without_overlap() {
        let shards: Vec<Shard> = (0..3).map(|k| Shard { k, n: 3 }).collect();
        for i in 0..1000 {
            let key = format!("2004/01/{i}.txt");
            assert_eq!(shards.iter().filter(|s| s.owns(&key)).count(), 1);
        }
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { k: 1, n: 4 }));
        assert!("4/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!(
            "auto/4".parse::<Shard>().is_err(),
            "auto is --shard's, not Shard's"
        );
    }

    #[test]
    fn auto_takes_k_from_the_job_index() {
        use std::ffi::OsStr;
        let auto: ShardSpec = "auto/3".parse().unwrap();
        assert_eq!(auto, ShardSpec::JobIndex { n: 3 });
        assert_eq!(
            auto.resolve(Some(OsStr::new("1"))),
            Ok(Shard { k: 1, n: 3 })
        );
        assert_eq!(
            auto.resolve(Some(OsStr::new("0"))),
            Ok(Shard { k: 0, n: 3 })
        );
        for bad in [
            None,
            Some("3"),
            Some("7"),
            Some("-1"),
            Some(""),
            Some("one"),
        ] {
            let err = auto.resolve(bad.map(OsStr::new)).unwrap_err();
            assert!(err.contains(JOB_INDEX_VAR), "{bad:?}: {err}");
            assert!(err.contains("auto/3"), "{bad:?}: {err}");
        }
        // K/N ignores the variable, whatever it holds.
        let fixed: ShardSpec = "2/5".parse().unwrap();
        assert_eq!(fixed.resolve(None), Ok(Shard { k: 2, n: 5 }));
        assert_eq!(
            fixed.resolve(Some(OsStr::new("x"))),
            Ok(Shard { k: 2, n: 5 })
        );
        for bad in ["auto/0", "auto/x", "auto", "auto/", "5/5", "x/2"] {
            assert!(bad.parse::<ShardSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_walk_sends_every_file_once_in_chunks_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        let mut expected = Vec::new();
        for d in 0..3 {
            for f in 0..50 {
                let sub = root.join(format!("2024/0{d}"));
                std::fs::create_dir_all(&sub).unwrap();
                std::fs::write(sub.join(format!("{f:02}.txt")), "x").unwrap();
                expected.push(format!("archive/2024/0{d}/{f:02}.txt"));
            }
        }
        std::fs::write(root.join("2024.txt"), "x").unwrap();
        expected.push("archive/2024.txt".to_owned());
        let filter = FileFilter::new(&["*.txt".to_owned()], &[]).unwrap();
        let (tx, rx) = flume::unbounded();
        walk(&[root], &filter, None, &Limits::default(), &tx, &|| false);
        drop(tx);
        let chunks: Vec<Vec<Walked>> = rx.iter().collect();
        assert!(chunks
            .iter()
            .all(|c| !c.is_empty() && c.len() <= WALK_CHUNK));
        let keys: Vec<String> = chunks
            .into_iter()
            .flatten()
            .map(|w| match w {
                Walked::File(f) => f.key,
                Walked::Unreadable { path, .. } => panic!("unreadable {path}"),
            })
            .collect();
        // Name order: `2024` before `2024.txt`, as the directory sorts before its sibling.
        let mut sorted = expected.clone();
        sorted.sort_by_key(|k| k.replace(".txt", "~txt"));
        assert_eq!(keys.len(), 151);
        assert_eq!(keys, sorted);
    }

    #[test]
    fn keys_start_at_the_root_name() {
        assert_eq!(
            key_of(
                Path::new("/mnt/archive/2004"),
                Path::new("/mnt/archive/2004/01/02/a.txt")
            ),
            "2004/01/02/a.txt"
        );
    }
}
