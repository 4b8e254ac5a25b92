//! Backfill helpers outside the staged pipeline: the dry run (parse and report, no database)
//! and the report file's default place.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rayon::iter::{ParallelBridge, ParallelIterator};

use crate::extract::archive::{self, Shard, Walked};
use crate::pipeline::{ReportLine, ReportSink, RunStats};
use crate::settings::Pipeline;
use crate::transform::{self, RawFile};

/// Where the report goes when `--report` is not given: under the pipeline's work dir, never
/// inside the trees being read.
pub fn default_report_path(pipeline: &Pipeline, run_id: &str) -> PathBuf {
    pipeline
        .work_dir
        .join("backfill")
        .join(format!("{run_id}.report.jsonl"))
}

/// Is `path` inside one of the `roots`? (Backfill never writes there.)
pub fn inside_any(path: &Path, roots: &[PathBuf]) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let path = abs(path);
    roots.iter().any(|r| path.starts_with(abs(r)))
}

/// `--dry-run`: walks and parses everything exactly as a backfill would, writes the report,
/// and counts, without touching any database.
pub fn dry_run(
    pipeline: &Pipeline,
    roots: &[PathBuf],
    shard: Option<Shard>,
    report: &ReportSink,
    stats: &Arc<RunStats>,
    stopped: &(dyn Fn() -> bool + Sync),
) {
    let opts = pipeline.parse_options("backfill");
    let (tx, rx) = flume::bounded::<Vec<Walked>>(64);
    std::thread::scope(|scope| {
        let filter = &pipeline.filter;
        let walk_stats = stats.clone();
        scope.spawn(move || {
            archive::walk(roots, filter, shard, &tx, stopped);
            walk_stats.walk_done.store(true, Ordering::Relaxed);
        });
        rx.into_iter().flatten().par_bridge().for_each(|walked| {
            stats.seen.fetch_add(1, Ordering::Relaxed);
            let file = match walked {
                Walked::File(f) => f,
                Walked::Unreadable { path, message } => {
                    stats.quarantined.fetch_add(1, Ordering::Relaxed);
                    report.write(&ReportLine {
                        path: &path,
                        code: "io",
                        message: &message,
                        line: None,
                    });
                    return;
                }
            };
            let result =
                transform::read_file(&file.path, opts.max_file_bytes).and_then(|(bytes, mtime)| {
                    stats.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    transform::transform(
                        &RawFile {
                            path: &file.key,
                            bytes: &bytes,
                            mtime,
                        },
                        &opts,
                    )
                });
            stats.parsed.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(article) => {
                    if let Ok(mut w) = stats.warnings.lock() {
                        for warning in &article.warnings {
                            *w.entry(warning.code.clone()).or_default() += 1;
                        }
                    }
                }
                Err(e) => {
                    stats.quarantined.fetch_add(1, Ordering::Relaxed);
                    report.write(&ReportLine {
                        path: &file.path.display().to_string(),
                        code: e.code(),
                        message: &e.kind.to_string(),
                        line: e.line,
                    });
                }
            }
        });
    });
    report.flush();
}
