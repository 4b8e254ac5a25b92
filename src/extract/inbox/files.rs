//! File operations of the inbox protocol that never replace anything and leave nothing
//! half-done behind them: moves by `renameat2(RENAME_NOREPLACE)` or link-then-unlink, atomic
//! report writes, names shortened to fit.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The longest file name (bytes) on the filesystems we run on.
const NAME_MAX: usize = 255;

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

/// Moves `from` into `dir` as `name`, or `name.1`, `name.2`… when taken, never replacing a file.
/// When a crash interrupted an earlier move of the same file (the target is the same inode),
/// the move is finished instead of made twice.
pub(super) fn move_no_replace(from: &Path, dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
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
pub(super) fn free_target(from: &Path, dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
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
pub(super) fn move_file(from: &Path, to: &Path) -> io::Result<bool> {
    match rename_no_replace(from, to)? {
        Some(true) => Ok(true),
        // Taken (by another file, or by this one when a crash interrupted a link and unlink),
        // or no RENAME_NOREPLACE here.
        Some(false) | None => link_then_unlink(from, to),
    }
}

/// `renameat2(RENAME_NOREPLACE)`: `Some(false)` when `to` exists, `None` when the filesystem
/// or kernel cannot rename without replacing.
pub(super) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<Option<bool>> {
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
pub(super) fn link_then_unlink(from: &Path, to: &Path) -> io::Result<bool> {
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
pub(super) fn with_suffix(name: &OsStr, suffix: &str) -> OsString {
    let mut out = name.to_owned();
    out.push(suffix);
    out
}

pub(super) fn remove_if_present(path: &Path) -> io::Result<()> {
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
pub(super) fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `create_dir_all`, recording in `made` every directory it made (parents first); on failure,
/// the directory that could not be made.
pub(super) fn create_dirs(dir: &Path, made: &mut Vec<PathBuf>) -> Result<(), (PathBuf, io::Error)> {
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
