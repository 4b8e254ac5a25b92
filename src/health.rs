//! What `/readyz` reports: is the database answering, are the inboxes readable and watched.
//! The stages write it (the writers after each batch, the watch loop as it makes its watches);
//! the HTTP endpoint and the pinger read and refresh it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::extract::watch;
use crate::telemetry::DatabaseUp;

#[derive(Debug)]
pub struct Health {
    db_ok: AtomicBool,
    inboxes_ok: AtomicBool,
    /// Per inbox (pipeline order), the directory its watch is on, if it has one; inboxes not
    /// listed (a run that does not watch) need none.
    watched: Mutex<Vec<Option<watch::DirId>>>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            db_ok: AtomicBool::new(true),
            inboxes_ok: AtomicBool::new(true),
            watched: Mutex::new(Vec::new()),
        }
    }
}

impl Health {
    pub fn set_db(&self, ok: bool) {
        self.db_ok.store(ok, Ordering::Relaxed);
        DatabaseUp(ok).emit();
    }

    pub fn set_inboxes(&self, ok: bool) {
        self.inboxes_ok.store(ok, Ordering::Relaxed);
    }

    pub fn db_ok(&self) -> bool {
        self.db_ok.load(Ordering::Relaxed)
    }

    pub fn inboxes_ok(&self) -> bool {
        self.inboxes_ok.load(Ordering::Relaxed)
    }

    pub fn set_watched(&self, inbox: usize, on: Option<watch::DirId>) {
        if let Ok(mut w) = self.watched.lock() {
            if w.len() <= inbox {
                w.resize(inbox + 1, None);
            }
            w[inbox] = on;
        }
    }

    /// Whether inbox `i` (pipeline order), at `path`, has a working watch or needs none. The
    /// directory now at the path is compared with the watched one: an inbox made again a
    /// moment ago is not watched yet, whatever the watch loop last saw.
    pub fn watched(&self, inbox: usize, path: &Path) -> bool {
        let on = match self.watched.lock() {
            Ok(w) if inbox < w.len() => w[inbox],
            _ => return true,
        };
        on.is_some() && on == watch::dir_id(path)
    }
}
