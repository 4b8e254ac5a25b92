//! `backfill`: archive trees loaded in place, with a progress bar (a log line off a
//! terminal), or parsed only (`--dry-run`).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use article_etl::backfill::{default_report_path, inside_any, BackfillPlan, ReadAgain, Reparse};
use article_etl::backfill::{dry_run, ReportSink};
use article_etl::extract::archive::{Shard, ShardSpec, JOB_INDEX_VAR};
use article_etl::run::{new_run_id, Job, Run, RunStatus};
use article_etl::settings::{Pipeline, Settings};
use article_etl::shutdown::Signal;
use article_etl::stats::RunStats;

use super::ingest::{conclude, connect_for_writing, execute, runtime};
use super::progress::Progress;
use super::{exit, signals, Exit};

#[derive(Args, Debug)]
pub struct BackfillArgs {
    /// The pipeline whose rules and source key apply (may be left out when only one is configured).
    #[arg(long)]
    pipeline: Option<String>,
    /// Take only the files whose path hashes to K of N (N machines, no overlap): `--shard 0/4`;
    /// `--shard auto/N` takes K from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's pod index).
    #[arg(long, value_name = "K/N")]
    shard: Option<ShardSpec>,
    /// Parse and report everything without writing to MongoDB.
    #[arg(long)]
    dry_run: bool,
    /// Where to write the quarantine report (JSON lines); default: under the pipeline's work dir.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Read finished files again: those whose stored document an older parser wrote
    /// (`--reparse`, `--reparse=outdated`), or all of them (`--reparse=all`); resumable.
    #[arg(long, value_name = "WHICH", num_args = 0..=1, require_equals = true, default_missing_value = "outdated")]
    reparse: Option<Reparse>,
    /// Read again the files earlier runs quarantined.
    #[arg(long)]
    retry_quarantined: bool,
    /// Archive trees or packed archives (zip, tar…), read in place and never modified.
    #[arg(required = true, value_name = "DIR_OR_ARCHIVE")]
    dirs: Vec<PathBuf>,
}

pub fn backfill(settings: &Settings, args: BackfillArgs, json: bool) -> anyhow::Result<u8> {
    // `auto/N` reads the pod's index here, once: everything after sees a plain K/N.
    let shard = args
        .shard
        .map(|spec| spec.resolve(std::env::var_os(JOB_INDEX_VAR).as_deref()))
        .transpose()
        .map_err(|e| Exit(exit::USAGE, e))?;
    let pipeline = settings.select_one(args.pipeline.as_deref())?;
    for dir in &args.dirs {
        // A tree, or one packed input (a zip, a tar…) read in place: the walker's own test.
        let packed = || {
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            dir.is_file() && article_etl::extract::packed::packed_format(&name, dir).is_some()
        };
        if !dir.is_dir() && !packed() {
            return Err(Exit(
                exit::CANNOT_START,
                format!(
                    "{} is not a directory, nor a zip or tar archive",
                    dir.display()
                ),
            )
            .into());
        }
    }
    let run_id = new_run_id();
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| default_report_path(&pipeline, &run_id));
    if inside_any(&report_path, &args.dirs) {
        return Err(Exit(
            exit::USAGE,
            format!(
                "--report {} is inside a tree being backfilled; backfill never writes there",
                report_path.display()
            ),
        )
        .into());
    }
    let report = Arc::new(ReportSink::create(&report_path).map_err(|e| {
        Exit(
            exit::CANNOT_START,
            format!("cannot create the report {}: {e}", report_path.display()),
        )
    })?);
    let stats = Arc::new(RunStats::default());
    runtime()?.block_on(async {
        let signal = Signal::new();
        signals::spawn_handler(signal.clone());
        let progress = Progress::start(stats.clone(), json, true);
        if args.dry_run {
            let code =
                backfill_dry_run(&pipeline, &args, shard, &report, &stats, &signal, json).await;
            progress.finish();
            return code;
        }
        let loader = connect_for_writing(settings).await?;
        let mut again = ReadAgain {
            reparse: args.reparse,
            quarantined: args.retry_quarantined,
            since: None,
        };
        // A `--reparse=all` per pipeline and shard: started again after an interruption, it
        // goes on from where it was rather than from the start.
        let campaign = format!(
            "{}:{}",
            pipeline.name,
            shard.map_or("all".to_owned(), |s| format!("{}/{}", s.k, s.n))
        );
        let loader = if args.reparse == Some(Reparse::All) {
            let since = loader
                .begin_reparse_all(&campaign, &run_id)
                .await
                .map_err(|e| Exit(exit::CANNOT_START, format!("cannot record the reparse: {e}")))?;
            again.since = Some(since);
            loader.reparse_all()
        } else {
            loader
        };
        let plan = BackfillPlan {
            roots: args.dirs.clone(),
            shard,
            report,
            again,
        };
        let run = Run::new(
            loader.clone(),
            vec![pipeline],
            Vec::new(),
            settings.load.clone(),
            signal.clone(),
        )
        .with_run_id(run_id)
        .with_stats(stats);
        let report = execute(run, Job::Backfill(plan), &signal, None).await;
        progress.finish();
        let report = report?;
        if again.since.is_some() && report.status == RunStatus::Ok {
            if let Err(e) = loader.end_reparse_all(&campaign).await {
                tracing::warn!(error = %e, "the reparse finished, but its record stays: the next --reparse=all goes on from it");
            }
        }
        conclude(&loader, &report, json).await
    })
}

/// `--dry-run`: every file parsed and reported as a backfill would, nothing written.
async fn backfill_dry_run(
    pipeline: &Pipeline,
    args: &BackfillArgs,
    shard: Option<Shard>,
    report: &Arc<ReportSink>,
    stats: &Arc<RunStats>,
    signal: &Signal,
    json: bool,
) -> anyhow::Result<u8> {
    let (p, dirs, shard, r, s, sd) = (
        pipeline.clone(),
        args.dirs.clone(),
        shard,
        report.clone(),
        stats.clone(),
        signal.clone(),
    );
    let started = chrono::Utc::now();
    tokio::task::spawn_blocking(move || dry_run(&p, &dirs, shard, &r, &s, &|| sd.is_raised()))
        .await?;
    let c = stats.snapshot();
    let ok = c.parsed.saturating_sub(c.quarantined);
    if json {
        let summary = serde_json::json!({
            "mode": "backfill --dry-run",
            "pipeline": pipeline.name,
            "started_at": started,
            "files": c.seen,
            "parsed": c.parsed,
            "ok": ok,
            "quarantined": c.quarantined,
            "bytes": c.bytes,
            "warnings": stats.warnings(),
            "report_file": report.path.display().to_string(),
            "interrupted": signal.is_raised(),
        });
        println!("{summary}");
    } else {
        println!(
            "dry run of pipeline {}: {} files, {ok} would load, {} would be quarantined (report: {})",
            pipeline.name,
            c.seen,
            c.quarantined,
            report.path.display()
        );
        for (code, n) in stats.warnings() {
            println!("  warning {code:<24} {n}");
        }
    }
    Ok(exit::OK)
}
