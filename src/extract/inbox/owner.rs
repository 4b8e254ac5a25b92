//! This process's owner id and the lock that shows it is alive (see the module above).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
    pub(super) fn acquire(owners_dir: &Path) -> Result<Owner, (PathBuf, io::Error)> {
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
