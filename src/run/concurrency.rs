//! How many batches are written at once: fixed (`load.writers = N`), or adapted while the
//! run goes (`auto`, the default), the way Vector's adaptive request concurrency does it:
//! additive increase, multiplicative decrease.
//!
//! Each window of written batches gives a throughput (documents/s) and a mean latency. The
//! limit goes up by one while latency holds, and stays up only if throughput rose with it; it
//! is halved when a write fails or latency grows well past its running average: the server is
//! saturated, and more writers would only queue. After a step down it holds for a while before
//! it probes again. A server that writes one command at a time settles at one writer (probing
//! two now and then); a replica set that writes in parallel climbs to `load.max_writers`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::settings::Writers;
use crate::telemetry::WriterConcurrency;

/// A window closes after this long, with at least two batches per writer in it.
const WINDOW: Duration = Duration::from_millis(500);
/// Latency "holds" below this multiple of its running average…
const LATENCY_HOLDS: f64 = 1.25;
/// …and has "grown" past this one.
const LATENCY_GROWN: f64 = 1.5;
/// Throughput "rises" past this multiple of the last window's.
const RATE_RISES: f64 = 1.05;
/// Weight of a new window in the running latency average.
const EWMA: f64 = 0.3;
/// Windows the limit holds after a step down before it probes upward again.
const COOLDOWN: u32 = 10;

pub struct Concurrency {
    adaptive: bool,
    max: usize,
    state: Mutex<State>,
    freed: Notify,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    window: Window,
    aimd: Aimd,
}

/// The rule, apart from the clock and the locks.
#[derive(Debug, Clone, PartialEq)]
struct Aimd {
    limit: usize,
    max: usize,
    past_latency: Option<f64>,
    past_rate: Option<f64>,
    /// The last window raised the limit: the next one must show it paid.
    raised: bool,
    cooldown: u32,
}

impl Aimd {
    /// One window's figures: documents/s, mean latency (s), whether a write failed.
    fn step(&mut self, rate: f64, latency: f64, errors: bool) {
        let grown = self
            .past_latency
            .is_some_and(|p| latency > p * LATENCY_GROWN);
        let holds = self
            .past_latency
            .is_none_or(|p| latency <= p * LATENCY_HOLDS);
        let rose = self.past_rate.is_some_and(|r| rate > r * RATE_RISES);
        let raised = std::mem::take(&mut self.raised);
        if errors || grown {
            self.limit = (self.limit / 2).max(1);
            self.cooldown = COOLDOWN;
        } else if raised && !rose {
            // The last writer added bought nothing: take it back.
            self.limit = (self.limit - 1).max(1);
            self.cooldown = COOLDOWN;
        } else if self.cooldown > 0 {
            self.cooldown -= 1;
        } else if holds && self.limit < self.max {
            self.limit += 1;
            self.raised = true;
        }
        self.past_latency = Some(match self.past_latency {
            Some(p) => p + EWMA * (latency - p),
            None => latency,
        });
        self.past_rate = Some(rate);
    }
}

#[derive(Debug)]
struct Window {
    started: Instant,
    batches: u64,
    documents: u64,
    latency_sum: f64,
    errors: u64,
}

impl Window {
    fn new() -> Window {
        Window {
            started: Instant::now(),
            batches: 0,
            documents: 0,
            latency_sum: 0.0,
            errors: 0,
        }
    }
}

/// A writer's right to write one batch; dropping it frees the slot.
pub struct Permit<'a>(&'a Concurrency);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.0.freed.notify_one();
    }
}

impl Concurrency {
    /// `load.writers` and `load.max_writers`.
    pub fn new(writers: Writers, max_writers: usize) -> Concurrency {
        let (adaptive, limit, max) = match writers {
            Writers::Fixed(n) => (false, n.max(1), n.max(1)),
            // Two to start: one writer leaves the server idle while we encode the next batch.
            Writers::Auto => (true, 2.min(max_writers.max(1)), max_writers.max(1)),
        };
        WriterConcurrency(limit).emit();
        Concurrency {
            adaptive,
            max,
            state: Mutex::new(State {
                in_flight: 0,
                window: Window::new(),
                aimd: Aimd {
                    limit,
                    max,
                    past_latency: None,
                    past_rate: None,
                    raised: false,
                    cooldown: 0,
                },
            }),
            freed: Notify::new(),
        }
    }

    /// How many writer tasks to start: enough for the highest limit.
    pub fn writers(&self) -> usize {
        self.max
    }

    /// The limit now.
    pub fn limit(&self) -> usize {
        self.state.lock().map_or(1, |s| s.aimd.limit)
    }

    /// Waits for a free slot under the limit.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Ok(mut s) = self.state.lock() {
                if s.in_flight < s.aimd.limit {
                    s.in_flight += 1;
                    return Permit(self);
                }
            }
            freed.await;
        }
    }

    /// One batch written (`ok`) or failed, with its latency (retries included).
    pub fn record(&self, latency: Duration, documents: usize, ok: bool) {
        if !self.adaptive {
            return;
        }
        let Ok(mut guard) = self.state.lock() else {
            return;
        };
        let s = &mut *guard;
        let w = &mut s.window;
        w.batches += 1;
        w.documents += documents as u64;
        w.latency_sum += latency.as_secs_f64();
        w.errors += u64::from(!ok);
        let elapsed = w.started.elapsed();
        let enough = w.batches >= 2 * s.aimd.limit as u64 && elapsed >= WINDOW;
        if !(enough || w.errors > 0) {
            return;
        }
        let rate = w.documents as f64 / elapsed.as_secs_f64().max(1e-3);
        let latency = w.latency_sum / w.batches as f64;
        let errors = w.errors > 0;
        let before = s.aimd.limit;
        s.aimd.step(rate, latency, errors);
        s.window = Window::new();
        let after = s.aimd.limit;
        if after != before {
            WriterConcurrency(after).emit();
            tracing::debug!(
                from = before,
                to = after,
                docs_per_sec = rate as u64,
                latency_ms = (latency * 1000.0) as u64,
                "writer concurrency changed"
            );
            drop(guard);
            self.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aimd(limit: usize) -> Aimd {
        Aimd {
            limit,
            max: 4,
            past_latency: None,
            past_rate: None,
            raised: false,
            cooldown: 0,
        }
    }

    #[test]
    fn the_rule_adds_while_throughput_rises_and_halves_on_trouble() {
        let mut a = aimd(2);
        // Latency holds: one more, kept while throughput rises with it, up to the maximum.
        a.step(1000.0, 0.1, false);
        assert_eq!(a.limit, 3);
        a.step(1500.0, 0.1, false);
        assert_eq!(a.limit, 4);
        a.step(2000.0, 0.1, false);
        assert_eq!(a.limit, 4);
        // Latency grown: halved, then held for the cooldown.
        a.step(2000.0, 0.3, false);
        assert_eq!(a.limit, 2);
        for _ in 0..COOLDOWN {
            a.step(2000.0, 0.1, false);
            assert_eq!(a.limit, 2);
        }
        // Then it probes again.
        a.step(2000.0, 0.1, false);
        assert_eq!(a.limit, 3);
        // Errors: halved, never below one.
        a.step(2000.0, 0.3, true);
        assert_eq!(a.limit, 1);
        a.step(2000.0, 0.3, true);
        assert_eq!(a.limit, 1);
    }

    #[test]
    fn a_writer_that_buys_no_throughput_is_taken_back() {
        let mut a = aimd(1);
        a.step(1000.0, 0.1, false);
        assert_eq!(a.limit, 2);
        // Same throughput with two: back to one, and no probing for a while.
        a.step(1010.0, 0.12, false);
        assert_eq!(a.limit, 1);
        a.step(1010.0, 0.1, false);
        assert_eq!(a.limit, 1);
    }

    /// A simulated server that writes one batch at a time: more writers only queue, so the
    /// latency grows with the limit and the limit stays low (probing one more now and then);
    /// on a server that writes in parallel it climbs to the maximum.
    #[test]
    fn a_serial_server_keeps_few_writers_and_a_parallel_one_gets_the_maximum() {
        let simulate = |parallel: bool| {
            let mut a = Aimd { max: 8, ..aimd(2) };
            let mut limits = Vec::new();
            for _ in 0..200 {
                let n = a.limit as f64;
                // Batches of 500 documents, 20 ms each on their own.
                let latency = if parallel { 0.020 } else { 0.020 * n };
                let rate = n * 500.0 / latency;
                a.step(rate, latency, false);
                limits.push(a.limit);
            }
            limits
        };
        let serial = simulate(false);
        let low = serial[100..].iter().filter(|&&l| l <= 2).count();
        assert!(low >= 80, "serial: {:?}", &serial[100..]);
        let parallel = simulate(true);
        assert_eq!(parallel.last(), Some(&8), "parallel: {parallel:?}");
    }

    #[tokio::test]
    async fn a_fixed_count_never_changes() {
        let c = Concurrency::new(Writers::Fixed(3), 8);
        assert_eq!(c.writers(), 3);
        let a = c.acquire().await;
        let b = c.acquire().await;
        let d = c.acquire().await;
        c.record(Duration::from_secs(5), 1, false);
        assert_eq!(c.limit(), 3);
        drop((a, b, d));
    }
}
