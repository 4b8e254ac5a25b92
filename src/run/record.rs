//! Run records: one document per run in `ingest_runs` (written at the start, refreshed while a
//! daemon runs, and at the end), and the spool that keeps a record the database could not take
//! until a later run can write it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Document};
use tracing::{error, info, warn};

use super::{RunReport, Shared};
use crate::extract::inbox::write_atomically;
use crate::load::Loader;
use crate::settings::Pipeline;

/// How often a watching run refreshes its run record.
const RUN_RECORD_INTERVAL: Duration = Duration::from_secs(60);

impl RunReport {
    pub fn to_document(&self) -> Document {
        let c = &self.counts;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let warnings: Document = self
            .warnings
            .iter()
            .map(|(k, v)| (k.clone(), n(*v).into()))
            .collect();
        doc! {
            "_id": &self.run_id,
            "mode": &self.mode,
            "pipelines": &self.pipelines,
            "started_at": bson::DateTime::from_chrono(self.started_at),
            "ended_at": self.ended_at.map(bson::DateTime::from_chrono),
            "status": bson::to_bson(&self.status).unwrap_or(bson::Bson::Null),
            "counts": {
                "seen": n(c.seen),
                "skipped": n(c.skipped),
                "parsed": n(c.parsed),
                "bytes": n(c.bytes),
                "inserted": n(c.inserted),
                "updated": n(c.updated),
                "unchanged": n(c.unchanged),
                "reparsed": n(c.reparsed),
                "quarantined": n(c.quarantined),
                "failed": n(c.failed),
                "retries": n(c.retries),
            },
            "warnings": warnings,
            "error": self.error.clone(),
            "report_file": self.report_file.clone(),
            "writers": n(self.writers),
            "host": hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
            "pid": std::process::id() as i64,
            "version": env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Where run records that could not be written wait: `<work_dir>/.runs/`.
pub const RUN_SPOOL_DIR: &str = ".runs";
/// How long one attempt to write a run record may take: the database may be why the run ends.
const RUN_RECORD_TIMEOUT: Duration = Duration::from_secs(5);
/// Kept run records written at once, at most: the rest wait for the next chance.
const RUN_SPOOL_BATCH: usize = 1000;

/// Run records that could not be written (the database unreachable when the run ended), kept
/// until a run reaches the database: `<work_dir>/.runs/<run id>.json` in the work dir of each
/// of the run's pipelines, as canonical extended JSON. Writing one is an upsert by run id, so a
/// record kept twice, or written twice, is one record.
#[derive(Debug, Clone)]
pub struct RunSpool {
    dirs: Vec<PathBuf>,
}

impl RunSpool {
    pub fn new(pipelines: &[Pipeline]) -> RunSpool {
        let mut dirs: Vec<PathBuf> = Vec::with_capacity(pipelines.len());
        for p in pipelines {
            let dir = p.work_dir.join(RUN_SPOOL_DIR);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        RunSpool { dirs }
    }

    /// How many records are kept, waiting for a run to write them.
    pub fn waiting(&self) -> usize {
        read_kept_runs(&self.dirs).len()
    }

    /// Keeps a record that could not be written; `false` when it could be kept nowhere.
    pub async fn keep(&self, record: &Document) -> bool {
        let id = record.get_str("_id").unwrap_or("unknown").to_owned();
        let json = match serde_json::to_vec(
            &bson::Bson::Document(record.clone()).into_canonical_extjson(),
        ) {
            Ok(j) => j,
            Err(e) => {
                error!(error = %e, run_id = %id, "cannot encode the run record to keep it");
                return false;
            }
        };
        let dirs = self.dirs.clone();
        let kept = tokio::task::spawn_blocking(move || {
            let mut kept = false;
            for dir in dirs {
                let path = dir.join(format!("{id}.json"));
                match std::fs::create_dir_all(&dir)
                    .and_then(|()| write_atomically(&path, &json))
                {
                    Ok(()) => {
                        warn!(run_id = %id, path = %path.display(), "kept the run record; the next run that reaches the database writes it");
                        kept = true;
                    }
                    Err(e) => {
                        error!(run_id = %id, path = %path.display(), error = %e, "cannot keep the run record")
                    }
                }
            }
            kept
        })
        .await;
        kept.unwrap_or(false)
    }

    /// Writes the kept records to the database and removes them; those that fail stay.
    pub async fn flush(&self, loader: &Loader) {
        let dirs = self.dirs.clone();
        let Ok(kept) = tokio::task::spawn_blocking(move || read_kept_runs(&dirs)).await else {
            return;
        };
        for (paths, record) in kept {
            let id = record.get_str("_id").unwrap_or("unknown").to_owned();
            match tokio::time::timeout(RUN_RECORD_TIMEOUT, loader.save_run(&record)).await {
                Ok(Ok(())) => {
                    for path in &paths {
                        if let Err(e) = std::fs::remove_file(path) {
                            warn!(path = %path.display(), error = %e, "wrote the kept run record, but cannot remove its file");
                        }
                    }
                    info!(run_id = %id, "wrote a run record kept by an earlier run");
                }
                Ok(Err(e)) => {
                    warn!(run_id = %id, error = %e, "cannot write a kept run record yet");
                    return;
                }
                Err(_) => {
                    warn!(run_id = %id, "cannot write a kept run record yet: timed out");
                    return;
                }
            }
        }
    }
}

/// The kept run records of `dirs`, each with the files that hold it (one per work dir).
fn read_kept_runs(dirs: &[PathBuf]) -> Vec<(Vec<PathBuf>, Document)> {
    let mut out: Vec<(Vec<PathBuf>, Document)> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue; // none kept here
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Only whole records: a temp file is a write in progress or one that died.
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let record = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string())
                })
                .and_then(|v| bson::Bson::try_from(v).map_err(|e| e.to_string()));
            match record {
                Ok(bson::Bson::Document(d)) => {
                    let id = d.get_str("_id").ok();
                    match out.iter_mut().find(|(_, o)| o.get_str("_id").ok() == id) {
                        Some((paths, _)) => paths.push(path),
                        None => {
                            if out.len() >= RUN_SPOOL_BATCH {
                                return out;
                            }
                            out.push((vec![path], d))
                        }
                    }
                }
                Ok(_) => {
                    warn!(path = %path.display(), "a kept run record is not a document; left alone")
                }
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "cannot read a kept run record; left alone")
                }
            }
        }
    }
    out
}

/// Writes the run record as the run starts, then the records earlier runs kept.
pub(super) async fn save_at_start(loader: &Loader, report: &RunReport, spool: &RunSpool) {
    match loader.save_run(&report.to_document()).await {
        Ok(()) => spool.flush(loader).await,
        Err(e) => warn!(error = %e, "could not write the run record at start"),
    }
}

/// Writes the final run record. The database may be the reason the run failed: it is tried
/// once, briefly, else the record is kept for the next run that reaches the database.
pub(super) async fn save_at_end(loader: &Loader, report: &RunReport, spool: &RunSpool) {
    let record = report.to_document();
    let failed = match tokio::time::timeout(RUN_RECORD_TIMEOUT, loader.save_run(&record)).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("timed out".to_owned()),
    };
    match failed {
        None => spool.flush(loader).await,
        Some(e) => {
            warn!(error = %e, "could not write the run record");
            spool.keep(&record).await;
        }
    }
}

/// In watch mode: refreshes the run record's counts now and then, and writes the records
/// kept by earlier runs once the database answers. Runs until aborted.
pub(super) async fn refresh(shared: Arc<Shared>, mut report: RunReport, spool: RunSpool) {
    loop {
        tokio::time::sleep(RUN_RECORD_INTERVAL).await;
        report.counts = shared.stats.snapshot();
        report.warnings = shared.stats.warnings();
        match shared.loader.save_run(&report.to_document()).await {
            Ok(()) => spool.flush(&shared.loader).await,
            Err(e) => warn!(error = %e, "could not refresh the run record"),
        }
    }
}
