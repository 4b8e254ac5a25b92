//! Which database errors are worth retrying, and how long to wait between tries.
//!
//! Every write the loader makes is idempotent (keyed by `_id`, conditional on the stored
//! hash), so any transient failure can be retried from the start of the batch. A backoff of a
//! few lines is written here rather than pulled in as a crate: the policy (exponential, jittered, capped,
//! an overall deadline) is all we need, and it has to cooperate with shutdown.

use std::future::Future;
use std::time::{Duration, Instant};

use mongodb::error::{Error, ErrorKind};

use super::LoadError;
use crate::shutdown::Shutdown;
use crate::stats::{bump, RunStats};
use crate::telemetry::{Operation, Retrying};

/// Server error codes that mean "try again": network trouble, elections, shutdowns,
/// write-concern timeouts (MongoDB's own list for retryable writes plus a few).
const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    64,    // WriteConcernFailed
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    133,   // FailedToSatisfyReadPreference
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
    50,    // MaxTimeMSExpired
    462,   // IngressRequestRateLimitExceeded
];

pub fn is_transient_code(code: i32) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// Is this error worth retrying?
pub fn is_transient(err: &Error) -> bool {
    if err.contains_label("RetryableWriteError")
        || err.contains_label("TransientTransactionError")
        || err.contains_label("SystemOverloadedError")
    {
        return true;
    }
    match err.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::DnsResolve { .. } => true,
        ErrorKind::Command(c) => is_transient_code(c.code),
        ErrorKind::Write(mongodb::error::WriteFailure::WriteConcernError(_)) => true,
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => is_transient_code(w.code),
        ErrorKind::InsertMany(e) => {
            e.write_concern_error.is_some()
                || e.write_errors
                    .as_ref()
                    .is_some_and(|errs| errs.iter().any(|w| is_transient_code(w.code)))
        }
        ErrorKind::BulkWrite(e) => {
            !e.write_concern_errors.is_empty()
                || e.write_errors.values().any(|w| is_transient_code(w.code))
        }
        _ => false,
    }
}

/// Exponential backoff with jitter (each wait drawn from the upper half of its step), under an
/// optional overall deadline.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    deadline: Option<Instant>,
}

impl Backoff {
    pub const INITIAL: Duration = Duration::from_millis(100);
    pub const MAX: Duration = Duration::from_secs(10);

    /// `budget`: how long retries may go on in all; `None` retries for ever (daemon mode).
    pub fn new(budget: Option<Duration>) -> Self {
        Backoff {
            next: Self::INITIAL,
            max: Self::MAX,
            deadline: budget.map(|b| Instant::now() + b),
        }
    }

    /// The wait before the next try, or `None` when the budget is spent.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let ceiling = self.next;
        self.next = (self.next * 2).min(self.max);
        let delay = Duration::from_millis(fastrand::u64(
            ceiling.as_millis() as u64 / 2..=ceiling.as_millis() as u64,
        ));
        match self.deadline {
            None => Some(delay),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    None
                } else {
                    Some(delay.min(d - now))
                }
            }
        }
    }

    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Runs a database operation, trying it again with backoff while its errors are transient,
/// the retry `budget` lasts (`None`: for ever) and no signal came. Every transient failure
/// counts as a retry in `stats`. Returns the last error when it gives up; what giving up
/// means (the run stops, files go back) is the caller's.
pub async fn retry_until<T, F, Fut>(
    operation: Operation,
    budget: Option<Duration>,
    shutdown: &Shutdown,
    stats: &RunStats,
    mut attempt: F,
) -> Result<T, LoadError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LoadError>>,
{
    let mut backoff = Backoff::new(budget);
    loop {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(e) if e.is_transient() => {
                bump(&stats.retries);
                let delay = if shutdown.signalled() {
                    None
                } else {
                    backoff.next_delay()
                };
                Retrying {
                    operation,
                    error: &e,
                    delay,
                }
                .emit();
                match delay {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let mut b = Backoff::new(None);
        let first = b.next_delay().unwrap();
        assert!(first <= Backoff::INITIAL);
        for _ in 0..20 {
            assert!(b.next_delay().unwrap() <= Backoff::MAX);
        }
    }

    #[test]
    fn budget_runs_out() {
        let mut b = Backoff::new(Some(Duration::ZERO));
        assert_eq!(b.next_delay(), None);
        assert!(b.expired());
    }

    #[tokio::test]
    async fn retry_until_retries_transient_errors_and_counts_them() {
        let (shutdown, _drained) = Shutdown::new(crate::shutdown::Signal::new());
        let stats = RunStats::default();
        let mut failures = 2;
        let done = retry_until(Operation::ProgressSave, None, &shutdown, &stats, || {
            let fail = failures > 0;
            failures -= 1;
            async move {
                if fail {
                    Err(LoadError::Transient("blip".into()))
                } else {
                    Ok(7)
                }
            }
        })
        .await;
        assert_eq!(done.unwrap(), 7);
        assert_eq!(stats.snapshot().retries, 2);
    }

    #[tokio::test]
    async fn retry_until_gives_up_on_fatal_errors_a_spent_budget_and_a_signal() {
        let signal = crate::shutdown::Signal::new();
        let (shutdown, _drained) = Shutdown::new(signal.clone());
        let stats = RunStats::default();
        let fatal = retry_until(Operation::BatchWrite, None, &shutdown, &stats, || async {
            Err::<(), _>(LoadError::Fatal("auth".into()))
        })
        .await;
        assert!(matches!(fatal, Err(LoadError::Fatal(_))));
        assert_eq!(stats.snapshot().retries, 0);
        let spent = retry_until(
            Operation::BatchWrite,
            Some(Duration::ZERO),
            &shutdown,
            &stats,
            || async { Err::<(), _>(LoadError::Transient("down".into())) },
        )
        .await;
        assert!(matches!(spent, Err(LoadError::Transient(_))));
        signal.raise();
        let signalled = retry_until(Operation::BatchWrite, None, &shutdown, &stats, || async {
            Err::<(), _>(LoadError::Transient("down".into()))
        })
        .await;
        assert!(signalled.is_err(), "no retry after a signal");
        assert_eq!(stats.snapshot().retries, 2);
    }
}
