//! The backfill's report of quarantined files: JSON lines `{path, code, message, line}`,
//! under the pipeline's work dir unless `--report` says where (never inside a tree being read).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use tracing::error;

use crate::settings::Pipeline;

#[derive(Debug)]
pub struct ReportSink {
    pub path: PathBuf,
    out: Mutex<std::io::BufWriter<std::fs::File>>,
}

#[derive(Debug, Serialize)]
pub struct ReportLine<'a> {
    pub path: &'a str,
    pub code: &'a str,
    pub message: &'a str,
    pub line: Option<usize>,
}

impl ReportSink {
    pub fn create(path: &Path) -> std::io::Result<ReportSink> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(ReportSink {
            path: path.to_path_buf(),
            out: Mutex::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        })
    }

    pub fn write(&self, line: &ReportLine<'_>) {
        if let Ok(mut out) = self.out.lock() {
            let written = serde_json::to_writer(&mut *out, line)
                .map_err(std::io::Error::other)
                .and_then(|()| out.write_all(b"\n"));
            if let Err(e) = written {
                error!(error = %e, report = %self.path.display(), "cannot write the report");
            }
        }
    }

    pub fn flush(&self) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.flush();
        }
    }
}

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
