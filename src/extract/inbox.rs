//! The inbox protocol (FORMAT.md §6).
//!
//! ```text
//! inbox/NAME ──rename──▶ work_dir/processing/<owner>__NAME ──after the write──▶ done/YYYY/MM/DD/NAME
//!                                       │                                     (or deleted)
//!                                       └──cannot be parsed──▶ quarantine/NAME + NAME.error.json
//! ```
//! A claim is one `rename(2)` into `processing/` under a name that carries the claiming
//! process's owner id, so it is atomic, two processes can never both claim a file, and a claim
//! never overwrites another. Each process holds an exclusive lock on
//! `work_dir/.owners/<owner>.lock` while it runs; a claim whose owner's lock can be taken
//! belongs to a process that died, and is taken over at the next start.
//!
//! Files leave `processing/` by "link, then unlink": a link never replaces an existing name,
//! so nothing in `done/`, `quarantine/` or the inbox is ever overwritten, and a crash between
//! the two steps is recognised later (same inode) and finished without a duplicate.
//!
//! `replay` takes quarantined files back the same way: the report is first parked in
//! `processing/.replay/<owner>__NAME.error.json` (the claim's name), then the file is renamed
//! from `quarantine/` into `processing/` as a claim. When the file's new outcome is decided its
//! report goes ahead of it, beside where it is going, as `NAME.replayed.error.json` (in the
//! day's `done/` directory, or in `quarantine/` beside the file's fresh report); a replay that
//! gives up puts the file back in `quarantine/` with its report. Killed at any step, the file
//! is in `quarantine/` or a claim in `processing/`, and its report in one place: `recover`
//! hands a dead process's parked report over with its claim, or back to `quarantine/` beside
//! a file that was never claimed.
//!
//! An operation that fails (a full disk, a permission refused) leaves nothing behind it: no
//! empty lock file, no half-written or orphaned report, no directory it made for nothing; its
//! error names the path and the cause.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::settings::{AfterLoad, FileFilter, Pipeline};

const OWNER_ID_LEN: usize = 16;
/// The longest file name Linux filesystems take, in bytes.
const NAME_MAX: usize = 255;
/// Room for `.N` when a name is taken in `done/` or `quarantine/`.
const MOVE_SUFFIX: usize = 8;
/// Room for `.error.json` and its temporary `.tmp-<pid>`.
const REPORT_SUFFIX: usize = 32;
const OWNER_SEP: &[u8] = b"__";
/// Under `processing/`: the quarantine reports of files being replayed.
const REPLAY_DIR: &str = ".replay";
/// How a replayed file's earlier report is named beside its new outcome.
const REPLAYED_SUFFIX: &str = ".replayed.error.json";

/// This process's identity in `processing/`, and the lock that proves it is alive.
#[derive(Debug)]
pub struct Owner {
    pub id: String,
    /// Held (flock, exclusive) for the life of the process: the kernel drops it when the
    /// process dies, however it dies.
    _lock: File,
    lock_path: PathBuf,
}

impl Owner {
    /// Creates and locks a new lock file in `owners_dir`; on failure, the path that failed.
    fn acquire(owners_dir: &Path) -> Result<Owner, (PathBuf, io::Error)> {
        loop {
            let id = format!("{:016x}", fastrand::u64(..));
            let lock_path = owners_dir.join(format!("{id}.lock"));
            let file = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock_path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err((lock_path, e)),
            };
            let locked = file
                .try_lock()
                .map_err(|e| io::Error::other(format!("cannot lock it: {e}")))
                .and_then(|()| writeln!(&file, "pid {}", std::process::id()));
            if let Err(e) = locked {
                // An empty or unlocked lock file would look like a dead owner's for ever.
                drop(file);
                let _ = fs::remove_file(&lock_path);
                return Err((lock_path, e));
            }
            return Ok(Owner {
                id,
                _lock: file,
                lock_path,
            });
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // A clean exit removes its lock file; a crash leaves it, unlocked, for the next start.
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// A file this process has claimed: it sits in `processing/` until it is done, quarantined or
/// released.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Index of the pipeline in the run's list.
    pub pipeline: usize,
    /// The file's own name, as it was in the inbox.
    pub name: OsString,
    /// Where it is now.
    pub path: PathBuf,
    /// A replayed file's earlier quarantine report, parked under `processing/.replay/` until
    /// the file's new outcome.
    pub replayed: Option<PathBuf>,
}

impl Claim {
    pub fn display_name(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }
}

/// Why a file was quarantined: written beside it as `<name>.error.json`.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineReport {
    pub file: String,
    pub code: String,
    pub message: String,
    pub line: Option<usize>,
    pub pipeline: String,
    pub run_id: String,
    pub time: DateTime<Utc>,
}

/// One pipeline's inbox and work directories.
#[derive(Debug)]
pub struct Inbox {
    pub pipeline: usize,
    pub pipeline_name: String,
    pub inbox: PathBuf,
    pub processing: PathBuf,
    pub done: PathBuf,
    pub quarantine: PathBuf,
    after_load: AfterLoad,
    filter: FileFilter,
    owners_dir: PathBuf,
    owner: Owner,
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("pipeline {pipeline}: the inbox {path} is missing or not a directory")]
    MissingInbox { pipeline: String, path: String },
    #[error("pipeline {pipeline}: {path}: {source}")]
    Io {
        pipeline: String,
        path: String,
        source: io::Error,
    },
}

impl Inbox {
    /// Checks the inbox and creates the work directories; takes this process's owner lock.
    pub fn open(index: usize, p: &Pipeline) -> Result<Inbox, InboxError> {
        let io_err = |path: &Path| {
            let pipeline = p.name.clone();
            let path = path.display().to_string();
            move |source| InboxError::Io {
                pipeline,
                path,
                source,
            }
        };
        if !p.inbox.is_dir() {
            return Err(InboxError::MissingInbox {
                pipeline: p.name.clone(),
                path: p.inbox.display().to_string(),
            });
        }
        fs::read_dir(&p.inbox).map_err(io_err(&p.inbox))?;
        let processing = p.work_dir.join("processing");
        let done = p.work_dir.join("done");
        let quarantine = p.work_dir.join("quarantine");
        let owners_dir = p.work_dir.join(".owners");
        // Directories made by a start that then fails are removed again, deepest first.
        let mut made: Vec<PathBuf> = Vec::new();
        let undo = |made: &[PathBuf]| {
            for dir in made.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
        };
        for dir in [&processing, &done, &quarantine, &owners_dir] {
            if let Err((path, e)) = create_dirs(dir, &mut made) {
                undo(&made);
                return Err(io_err(&path)(e));
            }
        }
        let owner = match Owner::acquire(&owners_dir) {
            Ok(owner) => owner,
            Err((path, e)) => {
                undo(&made);
                return Err(io_err(&path)(e));
            }
        };
        Ok(Inbox {
            pipeline: index,
            pipeline_name: p.name.clone(),
            inbox: p.inbox.clone(),
            processing,
            done,
            quarantine,
            after_load: p.after_load,
            filter: p.filter.clone(),
            owners_dir,
            owner,
        })
    }

    /// Takes over the claims of processes that died (their owner lock is free), and files put
    /// in `processing/` by hand. Another live process's claims are left alone.
    pub fn recover(&self) -> io::Result<Vec<Claim>> {
        self.remove_stale_reports()?;
        let mut taken = Vec::new();
        let mut dead_owners = Vec::new();
        for entry in fs::read_dir(&self.processing)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let file_name = entry.file_name();
            let (owner, name) = split_claim_name(&file_name);
            if owner.as_deref() == Some(self.owner.id.as_str()) {
                continue;
            }
            if let Some(owner) = &owner {
                if !self.owner_is_dead(owner, &mut dead_owners)? {
                    continue;
                }
            }
            let claim_name = self.claim_name(&name);
            let target = self.processing.join(&claim_name);
            match fs::rename(entry.path(), &target) {
                Ok(()) => taken.push(Claim {
                    pipeline: self.pipeline,
                    replayed: self.take_parked(&file_name, &claim_name)?,
                    name,
                    path: target,
                }),
                // Another process recovering at the same moment took it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.return_parked(&mut dead_owners)?;
        for (owner, lock) in dead_owners {
            let _ = fs::remove_file(self.owners_dir.join(format!("{owner}.lock")));
            drop(lock);
        }
        Ok(taken)
    }

    /// The parked report of a dead process's claim `from`, renamed for its new claim `to`.
    fn take_parked(&self, from: &OsStr, to: &OsStr) -> io::Result<Option<PathBuf>> {
        let dir = self.processing.join(REPLAY_DIR);
        let parked = dir.join(with_suffix(from, ".error.json"));
        let mine = dir.join(with_suffix(to, ".error.json"));
        match fs::rename(&parked, &mine) {
            Ok(()) => Ok(Some(mine)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(at(&parked)(e)),
        }
    }

    /// Reports dead processes parked for files they never claimed (killed between the two
    /// steps of a replay's claim): back beside their files in `quarantine/`.
    fn return_parked(&self, dead: &mut Vec<(String, File)>) -> io::Result<()> {
        let dir = self.processing.join(REPLAY_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(at(&dir)(e)),
        };
        for entry in entries {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some(claim_name) = file_name
                .as_bytes()
                .strip_suffix(b".error.json")
                .map(OsStr::from_bytes)
            else {
                continue;
            };
            let (owner, name) = split_claim_name(claim_name);
            let Some(owner) = owner else { continue };
            if owner == self.owner.id || !self.owner_is_dead(&owner, dead)? {
                continue;
            }
            if self.processing.join(claim_name).exists() {
                continue; // its claim is still there: `take_parked` hands it over
            }
            let file = self.quarantine.join(&name);
            let report = report_path(&file);
            if file.is_file() && !report.exists() {
                move_file(&entry.path(), &report).map_err(at(&report))?;
            }
        }
        Ok(())
    }

    /// Claims a quarantined file for a replay: its report parked first, then the file renamed
    /// into `processing/`. `None` when it is gone (another replay took it).
    pub fn claim_quarantined(&self, name: &OsStr) -> io::Result<Option<Claim>> {
        let from = self.quarantine.join(name);
        let claim_name = self.claim_name(name);
        let to = self.processing.join(&claim_name);
        let dir = self.processing.join(REPLAY_DIR);
        fs::create_dir_all(&dir).map_err(at(&dir))?;
        let report = report_path(&from);
        let parked = dir.join(with_suffix(&claim_name, ".error.json"));
        let replayed = match move_file(&report, &parked) {
            Ok(true) => Some(parked),
            Ok(false) => None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(at(&report)(e)),
        };
        let renamed = match rename_no_replace(&from, &to) {
            Ok(Some(true)) => Ok(true),
            Ok(Some(false)) => Ok(false),
            Ok(None) => link_then_unlink(&from, &to),
            Err(e) => Err(e),
        };
        match renamed {
            Ok(true) => Ok(Some(Claim {
                pipeline: self.pipeline,
                name: name.to_owned(),
                path: to,
                replayed,
            })),
            Ok(false) => {
                self.unpark(replayed.as_deref(), &report);
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.unpark(replayed.as_deref(), &report);
                Ok(None)
            }
            Err(e) => {
                self.unpark(replayed.as_deref(), &report);
                Err(at(&from)(e))
            }
        }
    }

    /// A parked report back where it came from, when its file could not be claimed.
    fn unpark(&self, parked: Option<&Path>, report: &Path) {
        if let Some(parked) = parked {
            let _ = move_file(parked, report);
        }
    }

    /// A replayed file's earlier report, moved into `dir` beside where the file is going.
    fn archive_replayed(&self, claim: &Claim, dir: &Path) -> io::Result<()> {
        let Some(parked) = &claim.replayed else {
            return Ok(());
        };
        if !parked.exists() {
            return Ok(());
        }
        let name = with_suffix(
            &fit_name(&claim.name, MOVE_SUFFIX + REPLAYED_SUFFIX.len()),
            REPLAYED_SUFFIX,
        );
        match move_no_replace(parked, dir, &name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && !dir.is_dir() => {
                fs::create_dir_all(dir).map_err(at(dir))?;
                move_no_replace(parked, dir, &name)
            }
            moved => moved,
        }
        .map(|_| ())
        .map_err(at(dir))
    }

    /// Half-written report files (`<name>.error.json.tmp-<pid>`) of processes that died while
    /// writing them. Their files were not moved yet, so they will be quarantined again.
    fn remove_stale_reports(&self) -> io::Result<()> {
        for entry in fs::read_dir(&self.quarantine)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            let Some((_, pid)) = name.rsplit_once(".error.json.tmp-") else {
                continue;
            };
            let alive = pid
                .parse::<u32>()
                .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                remove_if_present(&self.quarantine.join(name.as_ref()))?;
            }
        }
        Ok(())
    }

    fn owner_is_dead(&self, owner: &str, dead: &mut Vec<(String, File)>) -> io::Result<bool> {
        if dead.iter().any(|(o, _)| o == owner) {
            return Ok(true);
        }
        let path = self.owners_dir.join(format!("{owner}.lock"));
        let file = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {
                dead.push((owner.to_owned(), file));
                Ok(true)
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// The inbox's candidate files, streamed from the directory (never collected whole).
    pub fn list(&self) -> io::Result<impl Iterator<Item = OsString> + '_> {
        Ok(fs::read_dir(&self.inbox)?.filter_map(move |entry| {
            let entry = entry.ok()?;
            // Symlinks, directories and devices are never taken: only regular files.
            if !entry.file_type().ok()?.is_file() {
                return None;
            }
            let name = entry.file_name();
            self.filter.accepts(&name).then_some(name)
        }))
    }

    /// Claims one inbox file; `None` when it is gone (another process claimed it first), or
    /// when a claim of ours of the same name is still in flight.
    pub fn claim(&self, name: &OsStr) -> io::Result<Option<Claim>> {
        let from = self.inbox.join(name);
        let to = self.processing.join(self.claim_name(name));
        // Never over a claim of ours still in flight (a newer drop of the same name): that
        // one waits in the inbox for the next scan.
        let renamed = match rename_no_replace(&from, &to) {
            Ok(Some(true)) => Ok(()),
            Ok(Some(false)) => return Ok(None),
            Ok(None) => fs::rename(&from, &to),
            Err(e) => Err(e),
        };
        match renamed {
            Ok(()) => Ok(Some(Claim {
                pipeline: self.pipeline,
                name: name.to_owned(),
                path: to,
                replayed: None,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The file's document is durably written: archive it or delete it, per the pipeline.
    pub fn finish(&self, claim: &Claim, when: DateTime<Utc>) -> io::Result<PathBuf> {
        let dir = self.done.join(when.format("%Y/%m/%d").to_string());
        // Ahead of the file: killed in between, the file is still a claim and its report
        // already archived; the other order could leave the report parked for ever.
        self.archive_replayed(claim, &dir)?;
        match self.after_load {
            AfterLoad::Delete => {
                remove_if_present(&claim.path)?;
                Ok(claim.path.clone())
            }
            AfterLoad::Archive => {
                let name = fit_name(&claim.name, MOVE_SUFFIX);
                // The day's directory usually exists: created only when the move says not.
                match move_no_replace(&claim.path, &dir, &name) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        fs::create_dir_all(&dir).map_err(at(&dir))?;
                        move_no_replace(&claim.path, &dir, &name)
                    }
                    moved => moved,
                }
                .map_err(at(&dir))
            }
        }
    }

    /// Moves the file to `quarantine/` and writes its report beside it. On failure nothing
    /// is left in `quarantine/` and the file stays in `processing/`.
    pub fn quarantine(&self, claim: &Claim, report: &QuarantineReport) -> io::Result<PathBuf> {
        let name = fit_name(&claim.name, MOVE_SUFFIX + REPORT_SUFFIX);
        let json = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
        self.archive_replayed(claim, &self.quarantine)?;
        // The report is written before the file moves: killed in between, the file is still
        // in processing/ and the next run quarantines it again (same name, report rewritten);
        // the other order could leave a quarantined file without its report.
        loop {
            let target =
                free_target(&claim.path, &self.quarantine, &name).map_err(at(&self.quarantine))?;
            let report_file = report_path(&target);
            write_atomically(&report_file, &json).map_err(at(&report_file))?;
            match move_file(&claim.path, &target) {
                Ok(true) => return Ok(target),
                // Another process took that name meanwhile (the report there is its own):
                // pick the next one.
                Ok(false) => continue,
                Err(e) => {
                    // A report without its file would describe nothing.
                    let _ = fs::remove_file(&report_file);
                    return Err(at(&target)(e));
                }
            }
        }
    }

    /// Gives a claimed file back to the inbox (a run that gives up). When the inbox already
    /// holds a file of that name (a newer drop), the claim stays in `processing/` for the next
    /// start instead of overwriting it.
    pub fn release(&self, claim: &Claim) -> io::Result<()> {
        if let Some(parked) = &claim.replayed {
            return self.requarantine(claim, parked);
        }
        let target = self.inbox.join(&claim.name);
        match fs::hard_link(&claim.path, &target) {
            Ok(()) => fs::remove_file(&claim.path).map_err(at(&claim.path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(at(&target)(e)),
        }
    }

    /// A replayed file given up on: back in `quarantine/` with its earlier report, as it was.
    fn requarantine(&self, claim: &Claim, parked: &Path) -> io::Result<()> {
        let name = fit_name(&claim.name, MOVE_SUFFIX + REPORT_SUFFIX);
        loop {
            let target =
                free_target(&claim.path, &self.quarantine, &name).map_err(at(&self.quarantine))?;
            let report = report_path(&target);
            if parked.exists() && !move_file(parked, &report).map_err(at(&report))? {
                continue;
            }
            if move_file(&claim.path, &target).map_err(at(&target))? {
                return Ok(());
            }
            // Taken meanwhile: the report comes back and another name is tried.
            move_file(&report, parked).map_err(at(parked))?;
        }
    }

    /// Does the pipeline take files of this name?
    pub fn accepts(&self, name: &OsStr) -> bool {
        self.filter.accepts(name)
    }

    fn claim_name(&self, name: &OsStr) -> OsString {
        let mut s = OsString::from(&self.owner.id);
        s.push(OsStr::from_bytes(OWNER_SEP));
        s.push(fit_name(name, OWNER_ID_LEN + OWNER_SEP.len()));
        s
    }
}

/// `name`, shortened when it would not fit in a file name with `reserve` bytes added: the head
/// of the name, `~`, 16 hex digits of its SHA-256, and its extension. Names near the 255-byte
/// limit would otherwise be impossible to claim, archive or quarantine.
pub fn fit_name(name: &OsStr, reserve: usize) -> OsString {
    use sha2::{Digest, Sha256};
    let b = name.as_bytes();
    let limit = NAME_MAX.saturating_sub(reserve);
    if b.len() <= limit {
        return name.to_owned();
    }
    let ext = match b.iter().rposition(|&c| c == b'.') {
        Some(dot) if b.len() - dot <= 16 => &b[dot..],
        _ => &b[b.len()..],
    };
    let hash = hex::encode(&Sha256::digest(b)[..8]);
    let mut keep = limit.saturating_sub(1 + hash.len() + ext.len());
    // Cut on a character boundary when the name is UTF-8.
    while keep > 0 && std::str::from_utf8(&b[..keep]).is_err() && std::str::from_utf8(b).is_ok() {
        keep -= 1;
    }
    let mut out = b[..keep].to_vec();
    out.push(b'~');
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(ext);
    OsString::from_vec(out)
}

/// `<owner>__NAME` → (owner, NAME); a name without an owner prefix was put there by hand.
fn split_claim_name(file_name: &OsStr) -> (Option<String>, OsString) {
    let b = file_name.as_bytes();
    if b.len() > OWNER_ID_LEN + OWNER_SEP.len()
        && b[..OWNER_ID_LEN].iter().all(u8::is_ascii_hexdigit)
        && &b[OWNER_ID_LEN..OWNER_ID_LEN + OWNER_SEP.len()] == OWNER_SEP
    {
        let owner = String::from_utf8_lossy(&b[..OWNER_ID_LEN]).into_owned();
        let name = OsString::from_vec(b[OWNER_ID_LEN + OWNER_SEP.len()..].to_vec());
        (Some(owner), name)
    } else {
        (None, file_name.to_owned())
    }
}

/// Moves `from` into `dir` as `name`, or `name.1`, `name.2`… when taken, never replacing a file.
/// When a crash interrupted an earlier move of the same file (the target is the same inode),
/// the move is finished instead of made twice.
fn move_no_replace(from: &Path, dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
    // The name is usually free: tried first, before looking for a free one.
    let target = dir.join(name);
    if move_file(from, &target)? {
        return Ok(target);
    }
    loop {
        let target = free_target(from, dir, name)?;
        if move_file(from, &target)? {
            return Ok(target);
        }
    }
}

/// The first of `name`, `name.1`, `name.2`… in `dir` that is free or already this very file.
fn free_target(from: &Path, dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
    let source = fs::metadata(from)?;
    for n in 0u32.. {
        let mut candidate = name.to_owned();
        if n > 0 {
            candidate.push(format!(".{n}"));
        }
        let target = dir.join(&candidate);
        match fs::symlink_metadata(&target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(target),
            Err(e) => return Err(e),
            Ok(existing) if existing.ino() == source.ino() && existing.dev() == source.dev() => {
                return Ok(target)
            }
            Ok(_) => {}
        }
    }
    unreachable!("u32 candidates exhausted")
}

/// Moves `from` to `to`, never replacing anything: `false` when `to` was taken by another file
/// meanwhile. One `renameat2(RENAME_NOREPLACE)` where the filesystem has it (one directory
/// operation instead of two), else a link and an unlink.
fn move_file(from: &Path, to: &Path) -> io::Result<bool> {
    match rename_no_replace(from, to)? {
        Some(true) => Ok(true),
        // Taken (by another file, or by this one when a crash interrupted a link and unlink),
        // or no RENAME_NOREPLACE here.
        Some(false) | None => link_then_unlink(from, to),
    }
}

/// `renameat2(RENAME_NOREPLACE)`: `Some(false)` when `to` exists, `None` when the filesystem
/// or kernel cannot rename without replacing.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<Option<bool>> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(Some(true)),
        Err(Errno::EXIST) => Ok(Some(false)),
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Links `from` as `to` (never replacing anything), then removes `from`. `false` when `to` was
/// taken by another file meanwhile.
fn link_then_unlink(from: &Path, to: &Path) -> io::Result<bool> {
    match fs::hard_link(from, to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let (a, b) = (fs::metadata(from)?, fs::symlink_metadata(to)?);
            if a.ino() != b.ino() || a.dev() != b.dev() {
                return Ok(false);
            }
        }
        Err(e) => return Err(e),
    }
    fs::remove_file(from)?;
    Ok(true)
}

/// `name` + `suffix`.
fn with_suffix(name: &OsStr, suffix: &str) -> OsString {
    let mut out = name.to_owned();
    out.push(suffix);
    out
}

/// A file waiting in a quarantine, with its report's code.
#[derive(Debug, Clone)]
pub struct Quarantined {
    pub name: OsString,
    /// The report's `code`; `unknown` when the report is missing or unreadable.
    pub code: String,
    pub message: String,
}

/// The files of a `quarantine/` directory (those with an `.error.json` report beside them, or
/// without one), in name order: not the reports, not the reports of replayed files, not
/// half-written ones.
pub fn quarantined_files(quarantine: &Path) -> io::Result<Vec<Quarantined>> {
    let entries = match fs::read_dir(quarantine) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(at(quarantine)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name();
        let b = name.as_bytes();
        if b.ends_with(b".error.json") || b.windows(16).any(|w| w == b".error.json.tmp-") {
            continue;
        }
        #[derive(serde::Deserialize)]
        struct Report {
            code: String,
            #[serde(default)]
            message: String,
        }
        let report = fs::read(report_path(&entry.path()))
            .ok()
            .and_then(|b| serde_json::from_slice::<Report>(&b).ok());
        let (code, message) = match report {
            Some(r) => (r.code, r.message),
            None => ("unknown".to_owned(), String::new()),
        };
        out.push(Quarantined {
            name,
            code,
            message,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `<file>.error.json` beside a quarantined file.
fn report_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(".error.json");
    target.with_file_name(name)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// temp file → fsync → rename: a reader sees the old report or the whole new one. A write that
/// fails (a full disk) removes its temp file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| fs::rename(&tmp, path));
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

/// Prefixes an error with the path it is about.
fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `create_dir_all`, recording in `made` every directory it made (parents first); on failure,
/// the directory that could not be made.
fn create_dirs(dir: &Path, made: &mut Vec<PathBuf>) -> Result<(), (PathBuf, io::Error)> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dirs(parent, made)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => {
            made.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err((dir.to_path_buf(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A start that fails leaves the work dir as it found it, and says where and why.
    #[test]
    fn a_failed_open_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        // `.owners` cannot be made: a file has its name.
        std::fs::write(work.join(".owners"), "").unwrap();
        let file = dir.path().join("p.toml");
        std::fs::write(
            &file,
            "name = \"p\"\nsource = \"p\"\ninbox = \"inbox\"\nwork_dir = \"work\"\n",
        )
        .unwrap();
        let p = crate::settings::Pipeline::load(&file).unwrap();
        let err = Inbox::open(0, &p).unwrap_err().to_string();
        assert!(err.contains(".owners"), "{err}");
        let left: Vec<_> = fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [OsString::from(".owners")]);
    }

    #[test]
    fn write_atomically_leaves_no_temp_file_when_it_fails() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: the target is a non-empty directory.
        let target = dir.path().join("r.json");
        fs::create_dir_all(target.join("x")).unwrap();
        assert!(write_atomically(&target, b"{}").is_err());
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [OsString::from("r.json")]);
    }

    #[test]
    fn long_names_are_shortened_to_fit() {
        let long = OsString::from(format!("{}.txt", "稿".repeat(84)));
        assert_eq!(long.len(), 256);
        let fitted = fit_name(&long, 18);
        assert!(fitted.len() <= 255 - 18);
        let shown = fitted.to_string_lossy();
        assert!(shown.starts_with("稿稿") && shown.ends_with(".txt") && shown.contains('~'));
        assert_eq!(fit_name(OsStr::new("a.txt"), 18), "a.txt");
        // Different long names stay different.
        let other = OsString::from(format!("{}x.txt", "稿".repeat(84)));
        assert_ne!(fit_name(&other, 18), fitted);
    }

    #[test]
    fn claim_names_round_trip() {
        let (owner, name) = split_claim_name(OsStr::new("0123456789abcdef__a b.txt"));
        assert_eq!(owner.as_deref(), Some("0123456789abcdef"));
        assert_eq!(name, "a b.txt");
        let (owner, name) = split_claim_name(OsStr::new("by-hand.txt"));
        assert_eq!((owner, name), (None, OsString::from("by-hand.txt")));
    }

    #[test]
    fn moves_never_replace_and_finish_interrupted_moves() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let dst = dir.path().join("dst");
        fs::create_dir_all(&src).unwrap();
        fs::create_dir_all(&dst).unwrap();
        fs::write(dst.join("a.txt"), "older").unwrap();
        fs::write(src.join("a.txt"), "newer").unwrap();
        let to = move_no_replace(&src.join("a.txt"), &dst, OsStr::new("a.txt")).unwrap();
        assert_eq!(to, dst.join("a.txt.1"));
        assert_eq!(fs::read_to_string(dst.join("a.txt")).unwrap(), "older");
        // A crash after the link: both names exist, the retry just drops the source.
        fs::write(src.join("b.txt"), "b").unwrap();
        fs::hard_link(src.join("b.txt"), dst.join("b.txt")).unwrap();
        let to = move_no_replace(&src.join("b.txt"), &dst, OsStr::new("b.txt")).unwrap();
        assert_eq!(to, dst.join("b.txt"));
        assert!(!src.join("b.txt").exists());
    }

    #[test]
    fn a_move_onto_a_taken_name_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        assert!(!move_file(&a, &b).unwrap());
        assert_eq!(fs::read_to_string(&a).unwrap(), "a");
        assert_eq!(fs::read_to_string(&b).unwrap(), "b");
        let c = dir.path().join("c");
        assert!(move_file(&a, &c).unwrap());
        assert!(!a.exists());
        assert_eq!(fs::read_to_string(&c).unwrap(), "a");
        // Into a directory that does not exist: the caller creates it and tries again.
        let err = move_file(&c, &dir.path().join("missing/c")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
