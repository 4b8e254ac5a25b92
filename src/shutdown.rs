//! How a run stops, in one place (the shape of mini-redis's `Shutdown`): a broadcast tells
//! every stage to stop taking work, then the run waits until every stage has let go of its
//! [`Shutdown`] handle, so nothing it started is still writing when the run reports.
//!
//! Two things stop intake, and they are told apart because they end differently:
//! - a **signal** (SIGINT/SIGTERM): the batches in flight are finished and acknowledged, no
//!   database operation is retried any more, and the run is `interrupted`;
//! - the run **giving up** (the retry budget spent, a fatal database error): what was not
//!   written goes back to the inbox or is left for the next backfill, and the run is
//!   `incomplete`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

/// A flag set once, which tasks can poll or wait for.
#[derive(Debug, Default)]
struct Latch {
    flag: AtomicBool,
    notify: Notify,
}

impl Latch {
    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a `set` in between is not missed.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// The stop signal of a process (SIGINT/SIGTERM), shared by everything the command starts.
#[derive(Debug, Clone, Default)]
pub struct Signal(Arc<Latch>);

impl Signal {
    pub fn new() -> Signal {
        Signal::default()
    }

    pub fn raise(&self) {
        self.0.set();
    }

    pub fn is_raised(&self) -> bool {
        self.0.is_set()
    }

    /// Resolves once raised (at once if it already was).
    pub async fn wait(&self) {
        self.0.wait().await
    }
}

/// One run's stop: the process's [`Signal`], the run's own decision to give up, and the
/// count of tasks still holding a handle. Cloned into every stage.
#[derive(Debug, Clone)]
pub struct Shutdown {
    signal: Signal,
    give_up: Arc<Latch>,
    /// Never sent on: the receiver learns that every clone is gone when `recv` ends.
    _alive: mpsc::Sender<()>,
}

/// Waits for every [`Shutdown`] handle of a run to be dropped.
#[derive(Debug)]
pub struct Drained(mpsc::Receiver<()>);

impl Drained {
    /// Resolves once every handle made from the run's [`Shutdown`] is dropped.
    pub async fn wait(mut self) {
        let _ = self.0.recv().await;
    }
}

impl Shutdown {
    /// A run's stop, following `signal`; drop the returned handle's original when the run has
    /// spawned its stages, then [`Drained::wait`].
    pub fn new(signal: Signal) -> (Shutdown, Drained) {
        let (alive, drained) = mpsc::channel(1);
        (
            Shutdown {
                signal,
                give_up: Arc::new(Latch::default()),
                _alive: alive,
            },
            Drained(drained),
        )
    }

    /// The run gives up: intake stops, and unwritten files are left for a later run.
    pub fn give_up(&self) {
        self.give_up.set();
    }

    /// Stopped by a signal.
    pub fn signalled(&self) -> bool {
        self.signal.is_raised()
    }

    /// The run gave up.
    pub fn gave_up(&self) -> bool {
        self.give_up.is_set()
    }

    /// No more files are taken, for either reason.
    pub fn stopping(&self) -> bool {
        self.signalled() || self.gave_up()
    }

    /// Resolves once the run is stopping.
    pub async fn wait(&self) {
        tokio::select! {
            _ = self.signal.wait() => {}
            _ = self.give_up.wait() => {}
        }
    }

    /// The process's signal, for what outlives the run (the HTTP endpoint, the progress bar).
    pub fn signal(&self) -> &Signal {
        &self.signal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_signal_stops_every_handle_and_the_run_drains_when_they_are_dropped() {
        let signal = Signal::new();
        let (shutdown, drained) = Shutdown::new(signal.clone());
        let stage = shutdown.clone();
        let task = tokio::spawn(async move {
            stage.wait().await;
            stage.signalled()
        });
        drop(shutdown);
        signal.raise();
        assert!(task.await.unwrap());
        tokio::time::timeout(Duration::from_secs(5), drained.wait())
            .await
            .expect("every handle was dropped");
    }

    #[tokio::test]
    async fn giving_up_stops_intake_without_a_signal() {
        let (shutdown, _drained) = Shutdown::new(Signal::new());
        assert!(!shutdown.stopping());
        shutdown.clone().give_up();
        assert!(shutdown.stopping() && shutdown.gave_up() && !shutdown.signalled());
        tokio::time::timeout(Duration::from_secs(5), shutdown.wait())
            .await
            .expect("wait resolves once given up");
    }

    #[tokio::test]
    async fn the_run_is_not_drained_while_a_handle_lives() {
        let (shutdown, drained) = Shutdown::new(Signal::new());
        let held = shutdown.clone();
        drop(shutdown);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), drained.wait())
                .await
                .is_err()
        );
        drop(held);
    }
}
