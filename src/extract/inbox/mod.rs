//! The inbox protocol (docs/format.md §6).
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

mod dispose;
mod files;
mod owner;
mod packed;
mod replay;

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::FileFilter;
pub use dispose::Fate;
use files::{
    at, create_dirs, free_target, move_file, move_no_replace, remove_if_present, rename_no_replace,
    with_suffix,
};
pub use files::{fit_name, write_atomically};
use owner::Owner;
pub use packed::{MemberFailure, MemberFate, PackedClaim};
use replay::report_path;
pub use replay::{quarantined_files, Quarantined};

const OWNER_ID_LEN: usize = 16;
/// Room for `.N` when a name is taken in `done/` or `quarantine/`.
const MOVE_SUFFIX: usize = 8;
/// Room for `.error.json` and its temporary `.tmp-<pid>`.
const REPORT_SUFFIX: usize = 32;
const OWNER_SEP: &[u8] = b"__";
/// Under `processing/`: the quarantine reports of files being replayed.
const REPLAY_DIR: &str = ".replay";
/// How a replayed file's earlier report is named beside its new outcome.
const REPLAYED_SUFFIX: &str = ".replayed.error.json";

/// What happens to a file after its document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AfterLoad {
    /// Move to `done/YYYY/MM/DD/`.
    #[default]
    Archive,
    Delete,
}

/// What the inbox protocol needs of a pipeline.
#[derive(Debug, Clone)]
pub struct InboxSpec {
    /// The pipeline's name, in logs, metrics and reports.
    pub name: String,
    pub inbox: PathBuf,
    /// Holds `processing/`, `done/`, `quarantine/`.
    pub work_dir: PathBuf,
    pub after_load: AfterLoad,
    pub filter: FileFilter,
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
    /// A packed input's members that did not load.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberFailure>,
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
    pub fn open(index: usize, p: &InboxSpec) -> Result<Inbox, InboxError> {
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
            self.filter.takes(&name).then_some(name)
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

    /// Does the pipeline take this member of a packed input (by its file name)?
    pub fn accepts_member(&self, member: &str) -> bool {
        self.filter
            .takes(super::archive::member_file_name(member).as_ref())
    }

    /// Does the pipeline take files of this name?
    pub fn accepts(&self, name: &OsStr) -> bool {
        self.filter.takes(name)
    }

    fn claim_name(&self, name: &OsStr) -> OsString {
        let mut s = OsString::from(&self.owner.id);
        s.push(OsStr::from_bytes(OWNER_SEP));
        s.push(fit_name(name, OWNER_ID_LEN + OWNER_SEP.len()));
        s
    }
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
        let p = InboxSpec {
            name: "p".into(),
            inbox: dir.path().join("inbox"),
            work_dir: work.clone(),
            after_load: AfterLoad::Archive,
            filter: FileFilter::new(&["*.txt".to_owned()], &[]).unwrap(),
        };
        let err = Inbox::open(0, &p).unwrap_err().to_string();
        assert!(err.contains(".owners"), "{err}");
        let left: Vec<_> = fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [OsString::from(".owners")]);
    }

    #[test]
    fn claim_names_round_trip() {
        let (owner, name) = split_claim_name(OsStr::new("0123456789abcdef__a b.txt"));
        assert_eq!(owner.as_deref(), Some("0123456789abcdef"));
        assert_eq!(name, "a b.txt");
        let (owner, name) = split_claim_name(OsStr::new("by-hand.txt"));
        assert_eq!((owner, name), (None, OsString::from("by-hand.txt")));
    }
}
