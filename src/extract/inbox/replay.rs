//! `replay`'s side of the inbox protocol: quarantined files claimed back with their reports
//! parked, and the reports put beside wherever the files go next (see the module above).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::files::{
    at, fit_name, free_target, link_then_unlink, move_file, move_no_replace, rename_no_replace,
    with_suffix,
};
use super::{Claim, Inbox, MOVE_SUFFIX, REPLAYED_SUFFIX, REPLAY_DIR, REPORT_SUFFIX};

impl Inbox {
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
    pub(super) fn archive_replayed(&self, claim: &Claim, dir: &Path) -> io::Result<()> {
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

    /// A replayed file given up on: back in `quarantine/` with its earlier report, as it was.
    pub(super) fn requarantine(&self, claim: &Claim, parked: &Path) -> io::Result<()> {
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
pub(super) fn report_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(".error.json");
    target.with_file_name(name)
}
