//! Watch mode's extract stage: take only finished files, as soon as they are finished.
//!
//! Filesystem events (inotify, through `notify`) are a speed-up, not the truth: events get lost
//! when the queue overflows, and network filesystems send none. So every inbox is also rescanned
//! every `rescan_interval_ms` (and at the times of the pipeline's cron `schedule`).
//!
//! A watch also ends without warning: the inbox is deleted or moved and recreated, a directory
//! is mounted over it, the kernel's queue overflows, the watch reports an error. Each tick the
//! loop checks that every watch is still on the directory now at the inbox's path, and renews
//! the ones that are not (or that said they broke) as soon as the inbox is back, rescanning it
//! at once for what landed meanwhile.
//!
//! A file that arrives by rename is complete: it is claimed at once. A file written in place is
//! claimed when its size and mtime have not changed for `settle_ms` and no process holds it
//! open for writing (asked of the kernel with a read lease, where leases are available).

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tracing::{debug, info, warn};

use super::inbox::{Claim, Inbox};

/// How often pending files are looked at again, and how long the loop sleeps without events.
const TICK: Duration = Duration::from_millis(100);
/// Events waiting for the watch loop. When full, events are dropped: the next rescan finds the
/// files anyway, and memory stays bounded during floods.
const EVENT_QUEUE: usize = 16_384;
/// How long after a failed attempt to watch an inbox the next one is made.
const WATCH_RETRY: Duration = Duration::from_secs(1);
/// How soon events dropped by a full queue are made up for by a rescan: during a flood they
/// are dropped tick after tick, and a big inbox is not listed ten times a second.
const LOST_EVENTS_RESCAN: Duration = Duration::from_secs(1);

/// What a look at an inbox's watch asks of the next rescan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rescan {
    /// Nothing was missed.
    No,
    /// Events were dropped: a rescan soon.
    Soon,
    /// Watched again (files may have landed unseen): a rescan now.
    Now,
}

impl Rescan {
    fn soon_if(lost: bool) -> Rescan {
        if lost {
            Rescan::Soon
        } else {
            Rescan::No
        }
    }
}

/// One pipeline's watch rules.
#[derive(Debug, Clone)]
pub struct WatchRules {
    pub rescan_interval: Duration,
    pub settle: Duration,
    pub schedule: Option<croner::Cron>,
}

/// A file seen being written, waiting to settle.
#[derive(Debug)]
struct Pending {
    size: u64,
    mtime: Option<SystemTime>,
    changed_at: Instant,
}

/// A directory's device, inode and birth time (ns, 0 where the filesystem keeps none): which
/// directory a path names now. The birth time tells a directory made again at once, which
/// often gets the inode number of the one just deleted.
pub type DirId = (u64, u64, u128);

/// The directory at `path` now, if it is one.
pub fn dir_id(path: &Path) -> Option<DirId> {
    let m = std::fs::metadata(path).ok().filter(|m| m.is_dir())?;
    let born = m
        .created()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Some((m.dev(), m.ino(), born))
}

/// One inbox's watch, and how to tell it no longer works.
struct InboxWatch {
    watcher: Option<notify::RecommendedWatcher>,
    /// The directory the watch is on: a watch follows its directory, so another one at the
    /// inbox's path (recreated, moved in, mounted over) goes unwatched.
    on: Option<DirId>,
    /// Set by the watcher's thread when the watch broke: the inbox itself deleted or moved
    /// away, the kernel's queue overflowed (events lost), an error.
    broken: Arc<AtomicBool>,
    /// Set when events were dropped because the loop's queue was full: a rescan finds them.
    lost: Arc<AtomicBool>,
    /// No new attempt to watch before then (after a failed one).
    next_try: Instant,
    /// Whether the last attempt failed, to warn once per failing streak.
    failing: bool,
    /// Whether the inbox has been watched before: a watch made again is counted.
    renewal: bool,
}

impl InboxWatch {
    fn new() -> InboxWatch {
        InboxWatch {
            watcher: None,
            on: None,
            broken: Arc::new(AtomicBool::new(false)),
            lost: Arc::new(AtomicBool::new(false)),
            next_try: Instant::now(),
            failing: false,
            renewal: false,
        }
    }

    /// Checks the watch is still on the inbox's directory, and renews it when it is not and
    /// the inbox is there; says when the inbox must be rescanned.
    fn heal(
        &mut self,
        i: usize,
        inbox: &Inbox,
        events: &mpsc::SyncSender<(usize, notify::Event)>,
        watched: &dyn Fn(usize, Option<DirId>),
    ) -> Rescan {
        let here = dir_id(&inbox.inbox);
        let broken = self.broken.swap(false, Ordering::Relaxed);
        let lost = self.lost.swap(false, Ordering::Relaxed);
        if self.watcher.is_some() && !broken && self.on == here {
            return Rescan::soon_if(lost);
        }
        if self.watcher.take().is_some() {
            info!(pipeline = %inbox.pipeline_name, inbox = %inbox.inbox.display(), "the inbox's watch ended; watching it again once it is back");
        }
        self.on = None;
        watched(i, None);
        let Some(here) = here else {
            return Rescan::soon_if(lost);
        };
        if Instant::now() < self.next_try {
            return Rescan::soon_if(lost);
        }
        match self.watch(i, inbox, events) {
            Ok(w) => {
                self.watcher = Some(w);
                self.on = Some(here);
                self.failing = false;
                watched(i, Some(here));
                if self.renewal {
                    crate::telemetry::WatchRenewed {
                        pipeline: &inbox.pipeline_name,
                        inbox: &inbox.inbox,
                    }
                    .emit();
                }
                self.renewal = true;
                Rescan::Now
            }
            Err(e) => {
                self.next_try = Instant::now() + WATCH_RETRY;
                // Rescans alone still find every file, only later.
                if !self.failing {
                    warn!(pipeline = %inbox.pipeline_name, inbox = %inbox.inbox.display(), error = %e, "cannot watch the inbox; relying on rescans, trying again every second");
                }
                self.failing = true;
                Rescan::soon_if(lost)
            }
        }
    }

    fn watch(
        &mut self,
        i: usize,
        inbox: &Inbox,
        events: &mpsc::SyncSender<(usize, notify::Event)>,
    ) -> notify::Result<notify::RecommendedWatcher> {
        let tx = events.clone();
        // Flags of this watch alone: a late event of the one it replaces cannot break it.
        self.broken = Arc::new(AtomicBool::new(false));
        let (broken, lost) = (self.broken.clone(), self.lost.clone());
        let dir = inbox.inbox.clone();
        let handler = move |res: notify::Result<notify::Event>| match res {
            Ok(event) => {
                let gone = event.paths.iter().any(|p| p == &dir)
                    && matches!(
                        event.kind,
                        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                    );
                if event.need_rescan() || gone {
                    broken.store(true, Ordering::Relaxed);
                } else if tx.try_send((i, event)).is_err() {
                    lost.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => {
                debug!(error = %e, "watch error; watching the inbox again");
                broken.store(true, Ordering::Relaxed);
            }
        };
        let mut w = notify::recommended_watcher(handler)?;
        w.watch(&inbox.inbox, RecursiveMode::NonRecursive)?;
        Ok(w)
    }
}

/// Runs until `stopped()`: recovers dead claims, then claims finished files as they come.
/// `send` hands a claim on (waiting while the next stage is full); `false` ends the watch.
/// `watched(i, dir)` tells which directory inbox `i`'s watch is on, if it has one.
pub fn watch_inboxes(
    inboxes: &[Arc<Inbox>],
    rules: &[WatchRules],
    send: &dyn Fn(Claim) -> bool,
    stopped: &dyn Fn() -> bool,
    watched: &dyn Fn(usize, Option<DirId>),
) -> std::io::Result<()> {
    let (event_tx, event_rx) = mpsc::sync_channel::<(usize, notify::Event)>(EVENT_QUEUE);
    let mut watches: Vec<InboxWatch> = inboxes.iter().map(|_| InboxWatch::new()).collect();
    for (i, (inbox, w)) in inboxes.iter().zip(&mut watches).enumerate() {
        w.heal(i, inbox, &event_tx, watched);
    }

    for inbox in inboxes {
        for claim in inbox.recover()? {
            info!(pipeline = %inbox.pipeline_name, file = %claim.display_name(), "recovered a file left in processing/");
            if !send(claim) {
                return Ok(());
            }
        }
    }

    let mut pending: HashMap<(usize, OsString), Pending> = HashMap::new();
    let now = Instant::now();
    let mut next_rescan: Vec<Instant> = vec![now; inboxes.len()];
    let mut next_scheduled: Vec<Option<chrono::DateTime<chrono::Utc>>> = rules
        .iter()
        .map(|r| next_occurrence(r.schedule.as_ref()))
        .collect();

    while !stopped() {
        let mut ready: Vec<(usize, OsString)> = Vec::new();
        match event_rx.recv_timeout(TICK) {
            Ok(first) => {
                for (i, event) in std::iter::once(first).chain(event_rx.try_iter()) {
                    on_event(&inboxes[i], i, &event, &mut pending, &mut ready);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
        }

        let now = Instant::now();
        let wall = chrono::Utc::now();
        for (i, inbox) in inboxes.iter().enumerate() {
            match watches[i].heal(i, inbox, &event_tx, watched) {
                Rescan::Now => next_rescan[i] = now,
                Rescan::Soon => next_rescan[i] = next_rescan[i].min(now + LOST_EVENTS_RESCAN),
                Rescan::No => {}
            }
            let scheduled = next_scheduled[i].is_some_and(|t| wall >= t);
            if now >= next_rescan[i] || scheduled {
                next_rescan[i] = now + rules[i].rescan_interval;
                if scheduled {
                    next_scheduled[i] = next_occurrence(rules[i].schedule.as_ref());
                }
                rescan(inbox, i, rules[i].settle, &mut pending, &mut ready, stopped);
            }
        }

        // Files written in place: settled, and nobody writing.
        pending.retain(|(i, name), p| {
            let path = inboxes[*i].inbox.join(name);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                return false; // gone: claimed elsewhere or deleted
            };
            let (size, mtime) = (meta.len(), meta.modified().ok());
            if size != p.size || mtime != p.mtime {
                *p = Pending {
                    size,
                    mtime,
                    changed_at: Instant::now(),
                };
                return true;
            }
            if p.changed_at.elapsed() >= rules[*i].settle && !open_for_writing(&path) {
                ready.push((*i, name.clone()));
                return false;
            }
            true
        });

        for (i, name) in ready {
            if stopped() {
                break;
            }
            match inboxes[i].claim(&name) {
                Ok(Some(claim)) => {
                    if !send(claim) {
                        return Ok(());
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(pipeline = %inboxes[i].pipeline_name, file = %name.to_string_lossy(), error = %e, "cannot claim")
                }
            }
        }
    }
    drop(watches);
    Ok(())
}

fn on_event(
    inbox: &Inbox,
    i: usize,
    event: &notify::Event,
    pending: &mut HashMap<(usize, OsString), Pending>,
    ready: &mut Vec<(usize, OsString)>,
) {
    // For a rename within the watched directory, the destination is the last path.
    let Some(path) = event.paths.last() else {
        return;
    };
    if path.parent() != Some(inbox.inbox.as_path()) {
        return;
    }
    let Some(name) = path.file_name().map(|n| n.to_owned()) else {
        return;
    };
    if !inbox.accepts(&name) {
        return;
    }
    match event.kind {
        // Moved in: complete by construction. Only regular files are taken.
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) =>
        {
            pending.remove(&(i, name.clone()));
            ready.push((i, name));
        }
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Access(_) => {
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                if meta.is_file() {
                    pending.insert(
                        (i, name),
                        Pending {
                            size: meta.len(),
                            mtime: meta.modified().ok(),
                            changed_at: Instant::now(),
                        },
                    );
                }
            }
        }
        EventKind::Remove(_) => {
            pending.remove(&(i, name));
        }
        _ => {}
    }
}

/// Lists the inbox: files unchanged for `settle` are ready; newer ones wait in `pending`.
fn rescan(
    inbox: &Inbox,
    i: usize,
    settle: Duration,
    pending: &mut HashMap<(usize, OsString), Pending>,
    ready: &mut Vec<(usize, OsString)>,
    stopped: &dyn Fn() -> bool,
) {
    let names = match inbox.list() {
        Ok(names) => names,
        Err(e) => {
            warn!(pipeline = %inbox.pipeline_name, error = %e, "cannot list the inbox");
            return;
        }
    };
    let now = SystemTime::now();
    for name in names {
        if stopped() {
            return;
        }
        let key = (i, name);
        if pending.contains_key(&key) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(inbox.inbox.join(&key.1)) else {
            continue;
        };
        let mtime = meta.modified().ok();
        let age = mtime
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age >= settle {
            ready.push(key);
        } else {
            pending.insert(
                key,
                Pending {
                    size: meta.len(),
                    mtime,
                    changed_at: Instant::now() - age,
                },
            );
        }
    }
}

fn next_occurrence(schedule: Option<&croner::Cron>) -> Option<chrono::DateTime<chrono::Utc>> {
    schedule.and_then(|c| c.find_next_occurrence(&chrono::Utc::now(), false).ok())
}

/// Is any process holding the file open for writing? Linux refuses a read lease on such a
/// file (EAGAIN). Where leases are unavailable (no CAP_LEASE and not the owner, network
/// filesystems, leases disabled) the answer is "not known", taken as no.
pub fn open_for_writing(path: &Path) -> bool {
    ignore_lease_breaks();
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let taken = unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK) };
    if taken == 0 {
        // SAFETY: as above; releases the lease just taken.
        unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_UNLCK) };
        return false;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN)
}

/// A writer that opens the file while the lease is held breaks it, and the kernel signals the
/// lease holder with SIGIO, whose default action ends the process. The lease is held for two
/// system calls only, but that window must not be able to kill the service: SIGIO is ignored
/// (the writer's open then waits the microseconds until the lease is released). A program
/// this process started would inherit the disposition; it starts none.
fn ignore_lease_breaks() {
    static IGNORED: std::sync::Once = std::sync::Once::new();
    IGNORED.call_once(|| {
        // SAFETY: sets a signal's disposition to "ignore"; no handler runs.
        unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Mutex;

    fn inbox_in(dir: &Path) -> Inbox {
        std::fs::create_dir_all(dir.join("inbox")).unwrap();
        let spec = crate::extract::InboxSpec {
            name: "p".into(),
            inbox: dir.join("inbox"),
            work_dir: dir.join("work"),
            after_load: crate::extract::AfterLoad::Archive,
            filter: crate::extract::FileFilter::new(
                &["*.txt".to_owned()],
                &[".*".to_owned(), "*.tmp".to_owned(), "*.part".to_owned()],
            )
            .unwrap(),
        };
        Inbox::open(0, &spec).unwrap()
    }

    /// A watch that said it broke (an overflowed queue, an error) is made again at the next
    /// tick, and so is one whose inbox was replaced; a missing inbox is unwatched until back.
    #[test]
    fn a_broken_or_replaced_watch_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = inbox_in(dir.path());
        let (tx, _rx) = mpsc::sync_channel(16);
        let seen: Mutex<Vec<Option<DirId>>> = Mutex::new(Vec::new());
        let watched = |_: usize, on: Option<DirId>| seen.lock().unwrap().push(on);
        let last = || *seen.lock().unwrap().last().unwrap();
        let mut w = InboxWatch::new();
        let (i, tx) = (&inbox, &tx);

        assert_eq!(w.heal(0, i, tx, &watched), Rescan::Now, "a new watch");
        assert_eq!(last(), dir_id(&inbox.inbox));
        assert_eq!(w.heal(0, i, tx, &watched), Rescan::No, "left alone");

        w.broken.store(true, Ordering::Relaxed);
        assert_eq!(w.heal(0, i, tx, &watched), Rescan::Now, "renewed");
        assert!(w.watcher.is_some() && last() == dir_id(&inbox.inbox));

        w.lost.store(true, Ordering::Relaxed);
        assert_eq!(w.heal(0, i, tx, &watched), Rescan::Soon, "events lost");

        std::fs::remove_dir(&inbox.inbox).unwrap();
        assert_eq!(w.heal(0, i, tx, &watched), Rescan::No);
        assert!(w.watcher.is_none() && last().is_none());
        std::fs::create_dir(&inbox.inbox).unwrap();
        assert_eq!(w.heal(0, i, tx, &watched), Rescan::Now, "back");
        assert!(w.watcher.is_some() && last() == dir_id(&inbox.inbox));
    }

    #[test]
    fn a_file_open_for_writing_is_seen_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        let mut writer = std::fs::File::create(&path).unwrap();
        writer.write_all(b"partial").unwrap();
        // As root (tests and CI), leases are always available.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            assert!(open_for_writing(&path));
        }
        drop(writer);
        assert!(!open_for_writing(&path));
    }

    #[test]
    fn a_lease_break_cannot_end_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "done").unwrap();
        assert!(!open_for_writing(&path));
        // SAFETY: reads the current disposition without changing it.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::sigaction(libc::SIGIO, std::ptr::null(), &mut current) };
        assert_eq!(rc, 0);
        assert_eq!(current.sa_sigaction, libc::SIG_IGN);
    }
}
