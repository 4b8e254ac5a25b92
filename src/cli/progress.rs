//! Progress of a run that ends (`backfill`, `run --once`, `replay`). On a terminal it is a bar
//! at the bottom of the screen, and log lines (warnings and quarantines; per-file events only
//! with `-v`) are printed above it through the bar, so it never tears or scrolls away. Off a
//! terminal (a log file, `--log-format json`) a backfill logs a progress line every few
//! seconds, and nothing else changes.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use article_etl::stats::RunStats;

/// The bar on screen, if one is: every log line goes through it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Whether this process draws a bar: stderr is a terminal and the logs are for people.
pub fn on_terminal(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// Where log lines go: stderr, above the bar when one is drawn.
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            // The formatter hands over one whole event per call: printed above the bar.
            Some(bar) => {
                let mut written = Ok(());
                bar.suspend(|| written = std::io::stderr().write_all(buf));
                written.map(|()| buf.len())
            }
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A run's progress, shown until [`Progress::finish`].
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
    stats: Arc<RunStats>,
    started: Instant,
}

impl Progress {
    /// Starts showing `stats`: a bar on a terminal (`json` false), else, when `log_off_tty`,
    /// a log line every few seconds.
    pub fn start(stats: Arc<RunStats>, json: bool, log_off_tty: bool) -> Progress {
        let bar = on_terminal(json).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} files  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            if let Ok(mut slot) = BAR.lock() {
                *slot = Some(bar.clone());
            }
            bar
        });
        let started = Instant::now();
        let task = {
            let (stats, bar) = (stats.clone(), bar.clone());
            tokio::spawn(async move {
                let mut last_log = Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_millis(if bar.is_some() {
                        200
                    } else {
                        1000
                    }))
                    .await;
                    match &bar {
                        Some(bar) => update(bar, &stats, started),
                        None if log_off_tty && last_log.elapsed() >= Duration::from_secs(5) => {
                            last_log = Instant::now();
                            let c = stats.snapshot();
                            tracing::info!(
                                files_found = c.seen,
                                files_done = c.done(),
                                walk_done = stats.walk_is_done(),
                                "{}",
                                message(&stats, started)
                            );
                        }
                        None => {}
                    }
                }
            })
        };
        Progress {
            task,
            bar,
            stats,
            started,
        }
    }

    /// Stops updating; the bar stays on screen at its last state, above the summary.
    pub fn finish(self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            update(bar, &self.stats, self.started);
            bar.finish();
        }
        if let Ok(mut slot) = BAR.lock() {
            *slot = None;
        }
    }
}

fn update(bar: &ProgressBar, stats: &RunStats, started: Instant) {
    let c = stats.snapshot();
    bar.set_length(c.seen);
    bar.set_position(c.done());
    bar.set_message(message(stats, started));
}

fn message(stats: &RunStats, started: Instant) -> String {
    let c = stats.snapshot();
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rate = c.loaded() as f64 / secs;
    let mb_s = c.bytes as f64 / secs / 1_048_576.0;
    let eta = if stats.walk_is_done() && c.done() > 0 {
        let left = c.seen.saturating_sub(c.done()) as f64;
        format!("  eta {:.0} s", left * secs / c.done() as f64)
    } else {
        String::new()
    };
    format!(
        "{rate:.0} articles/s  {mb_s:.1} MB/s  inserted {} updated {} unchanged {} reparsed {} skipped {} quarantined {} failed {}{eta}",
        c.inserted, c.updated, c.unchanged, c.reparsed, c.skipped, c.quarantined, c.failed
    )
}
