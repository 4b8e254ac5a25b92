//! The database commands of the binary: `run`, `status`, `show`. Thin: settings in, library
//! calls, a summary and an exit code out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bson::{doc, Bson, Document};
use clap::Args;
use futures::TryStreamExt;

use article_etl::extract::archive::Shard;
use article_etl::extract::Inbox;
use article_etl::load::Loader;
use article_etl::pipeline::{
    new_run_id, BackfillPlan, Health, Mode, ReadAgain, Reparse, ReportSink, Run, RunReport,
    RunSpool, RunStats, RunStatus, Stop,
};
use article_etl::redact::redact_text;
use article_etl::settings::Settings;

use crate::{exit, Exit};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Pipelines to process (default: every configured pipeline).
    #[arg(long)]
    pipeline: Vec<String>,
    /// Drain what the inboxes hold now, then exit; without it, keep watching.
    #[arg(long)]
    once: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// How many recent runs to list.
    #[arg(long, default_value_t = 10)]
    runs: i64,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The article's `_id`: `<source>:<content_id>`.
    id: String,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Connects, or ends the command with exit code 3.
async fn connect(settings: &Settings) -> anyhow::Result<Loader> {
    let m = &settings.mongodb;
    Loader::connect(
        &m.uri,
        &m.database,
        &m.collection,
        settings.load.write_api,
        Duration::from_millis(m.server_selection_timeout_ms),
    )
    .await
    .map_err(|e| {
        Exit(
            exit::CANNOT_START,
            format!(
                "cannot reach MongoDB at {}: {}",
                article_etl::redact::redact_uri(&m.uri),
                redact_text(&e.to_string())
            ),
        )
        .into()
    })
}

pub fn run(settings: &Settings, args: RunArgs, json: bool) -> anyhow::Result<u8> {
    start(settings, &args.pipeline, args.once, false, json, None)
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The inbox pipeline whose quarantine to replay (may be left out when only one is
    /// configured).
    #[arg(long)]
    pipeline: Option<String>,
    /// Only files quarantined with this code (repeat for several; default: every code).
    #[arg(long = "code", value_name = "CODE")]
    codes: Vec<String>,
    /// List what would be replayed, by code, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `replay`: quarantined files back through their pipeline, then drained like `run --once`.
pub fn replay(settings: &Settings, args: ReplayArgs, json: bool) -> anyhow::Result<u8> {
    let pipeline = settings.select_one(args.pipeline.as_deref())?;
    if args.dry_run {
        let quarantine = pipeline.work_dir.join("quarantine");
        let files: Vec<_> = article_etl::extract::inbox::quarantined_files(&quarantine)
            .map_err(|e| Exit(exit::CANNOT_START, e.to_string()))?
            .into_iter()
            .filter(|q| args.codes.is_empty() || args.codes.contains(&q.code))
            .collect();
        let mut by_code: std::collections::BTreeMap<&str, u64> = Default::default();
        for q in &files {
            *by_code.entry(q.code.as_str()).or_default() += 1;
        }
        if json {
            let value = serde_json::json!({
                "mode": "replay --dry-run",
                "pipeline": pipeline.name,
                "files": files.iter().map(|q| serde_json::json!({
                    "file": q.name.to_string_lossy(),
                    "code": q.code,
                    "message": q.message,
                })).collect::<Vec<_>>(),
                "by_code": by_code,
            });
            println!("{value}");
        } else {
            for q in &files {
                println!("{}  {}: {}", q.name.to_string_lossy(), q.code, q.message);
            }
            println!(
                "dry run of pipeline {}: {} quarantined files would be replayed",
                pipeline.name,
                files.len()
            );
            for (code, n) in &by_code {
                println!("  {code:<24} {n}");
            }
        }
        return Ok(exit::OK);
    }
    start(
        settings,
        std::slice::from_ref(&pipeline.name),
        true,
        false,
        json,
        Some(args.codes),
    )
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Pipelines to watch (default: every configured pipeline).
    #[arg(long)]
    pipeline: Vec<String>,
}

pub fn daemon(settings: &Settings, args: DaemonArgs, json: bool) -> anyhow::Result<u8> {
    start(settings, &args.pipeline, false, true, json, None)
}

/// `run --once`, `run` (watching), `daemon` (watching, with the HTTP endpoints) and `replay`
/// (`replay`: the codes to replay, once).
fn start(
    settings: &Settings,
    names: &[String],
    once: bool,
    http: bool,
    json: bool,
    replay: Option<Vec<String>>,
) -> anyhow::Result<u8> {
    let pipelines = settings.select_pipelines(names, false)?;
    let inboxes = pipelines
        .iter()
        .enumerate()
        .map(|(i, p)| Inbox::open(i, p).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Exit(exit::CANNOT_START, e.to_string()))?;
    let rt = runtime()?;
    rt.block_on(async {
        let health = Arc::new(Health::default());
        let shutdown = Arc::new(Stop::default());
        // Bind the HTTP port before anything else: a taken port is a startup error.
        let endpoint = if http {
            let metrics = article_etl::service::install_metrics()
                .map_err(|e| Exit(exit::CANNOT_START, format!("metrics: {e}")))?;
            let addr = article_etl::service::bind_check(&settings.http.listen)
                .await
                .map_err(|e| Exit(exit::CANNOT_START, format!("cannot listen on {}: {e}", settings.http.listen)))?;
            Some((addr, metrics))
        } else {
            None
        };
        let loader = connect(settings).await?;
        loader
            .ensure_indexes()
            .await
            .map_err(|e| Exit(exit::CANNOT_START, format!("cannot create the indexes: {e}")))?;
        tracing::info!(api = ?loader.api(), pipelines = ?pipelines.iter().map(|p| &p.name).collect::<Vec<_>>(), once, "connected");
        spawn_signal_handler(shutdown.clone());
        let mut background = Vec::new();
        if let Some((addr, metrics)) = endpoint {
            let inbox_dirs = pipelines.iter().map(|p| p.inbox.clone()).collect();
            let (h, s) = (health.clone(), shutdown.clone());
            background.push(tokio::spawn(async move {
                if let Err(e) = article_etl::service::serve(addr, h, inbox_dirs, metrics, s).await {
                    tracing::error!(error = %e, "the HTTP endpoint stopped");
                }
            }));
            tracing::info!(%addr, "serving /healthz /readyz /metrics");
        }
        if !once {
            background.push(article_etl::service::spawn_pinger(loader.clone(), health.clone()));
        }
        let replaying = replay.is_some();
        let mode = match replay {
            Some(codes) => Mode::Replay(codes),
            None if once => Mode::Once,
            None => Mode::Watch(pipelines.iter().map(|p| p.watch.clone()).collect()),
        };
        let shutdown_loader = loader.clone();
        let run = Run {
            loader,
            pipelines,
            inboxes,
            load: settings.load.clone(),
            run_id: new_run_id(),
            mode: if replaying { "replay".into() } else if once { "run".into() } else if http { "daemon".into() } else { "watch".into() },
            stats: Arc::new(RunStats::default()),
            shutdown: shutdown.clone(),
            health,
        };
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        let mut task = tokio::spawn(run.execute(mode));
        let report = tokio::select! {
            r = &mut task => r?,
            _ = shutdown.wait() => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
                let limit = Duration::from_millis(settings.daemon.shutdown_timeout_ms);
                match tokio::time::timeout(limit, &mut task).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(Exit(
                            exit::FILES_FAILED,
                            format!("shutdown took longer than {} ms; unwritten files stay in processing/ for the next start", limit.as_millis()),
                        )
                        .into());
                    }
                }
            }
        };
        for b in background {
            b.abort();
        }
        shutdown_loader.shutdown().await;
        print_report(&report, json)?;
        Ok(match report.status {
            RunStatus::Ok | RunStatus::Interrupted => exit::OK,
            RunStatus::Incomplete | RunStatus::Running => exit::FILES_FAILED,
        })
    })
}

#[derive(Args, Debug)]
pub struct BackfillArgs {
    /// The pipeline whose rules and source key apply (may be left out when only one is configured).
    #[arg(long)]
    pipeline: Option<String>,
    /// Take only the files whose path hashes to K of N (N machines, no overlap): `--shard 0/4`.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
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
    /// Archive trees, read in place and never modified.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
}

pub fn backfill(settings: &Settings, args: BackfillArgs, json: bool) -> anyhow::Result<u8> {
    let pipeline = settings.select_one(args.pipeline.as_deref())?;
    for dir in &args.dirs {
        if !dir.is_dir() {
            return Err(Exit(
                exit::CANNOT_START,
                format!("{} is not a directory", dir.display()),
            )
            .into());
        }
    }
    let run_id = new_run_id();
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| article_etl::backfill::default_report_path(&pipeline, &run_id));
    if article_etl::backfill::inside_any(&report_path, &args.dirs) {
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
    let rt = runtime()?;
    rt.block_on(async {
        let shutdown = Arc::new(Stop::default());
        spawn_signal_handler(shutdown.clone());
        let progress = spawn_progress(stats.clone(), shutdown.clone());
        if args.dry_run {
            let (p, dirs, shard, r, s, sd) = (pipeline.clone(), args.dirs.clone(), args.shard, report.clone(), stats.clone(), shutdown.clone());
            let started = chrono::Utc::now();
            tokio::task::spawn_blocking(move || {
                article_etl::backfill::dry_run(&p, &dirs, shard, &r, &s, &|| sd.is_set());
            })
            .await?;
            progress.abort();
            let c = stats.snapshot();
            let summary = serde_json::json!({
                "mode": "backfill --dry-run",
                "pipeline": pipeline.name,
                "started_at": started,
                "files": c.seen,
                "parsed": c.parsed,
                "ok": c.parsed.saturating_sub(c.quarantined),
                "quarantined": c.quarantined,
                "bytes": c.bytes,
                "warnings": stats.warnings(),
                "report_file": report_path.display().to_string(),
                "interrupted": shutdown.is_set(),
            });
            if json {
                println!("{summary}");
            } else {
                println!(
                    "dry run of pipeline {}: {} files, {} would load, {} would be quarantined (report: {})",
                    pipeline.name,
                    c.seen,
                    c.parsed.saturating_sub(c.quarantined),
                    c.quarantined,
                    report_path.display()
                );
                for (code, n) in stats.warnings() {
                    println!("  warning {code:<24} {n}");
                }
            }
            return Ok(exit::OK);
        }
        let loader = connect(settings).await?;
        loader
            .ensure_indexes()
            .await
            .map_err(|e| Exit(exit::CANNOT_START, format!("cannot create the indexes: {e}")))?;
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
            args.shard.map_or("all".to_owned(), |s| format!("{}/{}", s.k, s.n))
        );
        let loader = if args.reparse == Some(Reparse::All) {
            let since = loader.begin_reparse_all(&campaign, &run_id).await.map_err(|e| {
                Exit(exit::CANNOT_START, format!("cannot record the reparse: {e}"))
            })?;
            again.since = Some(since);
            loader.reparse_all()
        } else {
            loader
        };
        let shutdown_loader = loader.clone();
        let run = Run {
            loader,
            pipelines: vec![pipeline],
            inboxes: Vec::new(),
            load: settings.load.clone(),
            run_id,
            mode: "backfill".into(),
            stats: stats.clone(),
            shutdown,
            health: Arc::new(Health::default()),
        };
        let plan = BackfillPlan {
            roots: args.dirs.clone(),
            shard: args.shard,
            report,
            again,
        };
        let report = run.execute(Mode::Backfill(plan)).await;
        progress.abort();
        if again.since.is_some() && report.status == RunStatus::Ok {
            if let Err(e) = shutdown_loader.end_reparse_all(&campaign).await {
                tracing::warn!(error = %e, "the reparse finished, but its record stays: the next --reparse=all goes on from it");
            }
        }
        shutdown_loader.shutdown().await;
        print_report(&report, json)?;
        Ok(match report.status {
            RunStatus::Ok | RunStatus::Interrupted => exit::OK,
            RunStatus::Incomplete | RunStatus::Running => exit::FILES_FAILED,
        })
    })
}

/// Progress of a backfill: a bar on a terminal, a log line every few seconds otherwise.
fn spawn_progress(stats: Arc<RunStats>, shutdown: Arc<Stop>) -> tokio::task::JoinHandle<()> {
    use std::io::IsTerminal;
    use std::sync::atomic::Ordering;
    let tty = std::io::stderr().is_terminal();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let bar = tty.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files  {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let mut last_log = std::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(if tty { 200 } else { 1000 })).await;
            let c = stats.snapshot();
            let secs = started.elapsed().as_secs_f64().max(0.001);
            let articles = c.inserted + c.updated + c.unchanged + c.reparsed;
            let rate = articles as f64 / secs;
            let mb_s = c.bytes as f64 / secs / 1_048_576.0;
            let walk_done = stats.walk_done.load(Ordering::Relaxed);
            let eta = if walk_done && c.done() > 0 {
                let left = c.seen.saturating_sub(c.done()) as f64;
                let per_file = secs / c.done() as f64;
                format!("  eta {:.0} s", left * per_file)
            } else {
                "  (still walking)".to_owned()
            };
            let msg = format!(
                "{rate:.0} articles/s  {mb_s:.1} MB/s  inserted {} updated {} unchanged {} reparsed {} skipped {} quarantined {} failed {}{eta}",
                c.inserted, c.updated, c.unchanged, c.reparsed, c.skipped, c.quarantined, c.failed
            );
            match &bar {
                Some(bar) => {
                    bar.set_length(c.seen);
                    bar.set_position(c.done());
                    bar.set_message(msg);
                }
                None if last_log.elapsed() >= Duration::from_secs(5) => {
                    last_log = std::time::Instant::now();
                    tracing::info!(
                        files_found = c.seen,
                        files_done = c.done(),
                        walk_done,
                        "{msg}"
                    );
                }
                None => {}
            }
            if shutdown.is_set() && bar.is_some() {
                // Keep drawing while the batches in flight finish.
            }
        }
    })
}

/// First SIGINT/SIGTERM: stop intake and finish what is in flight. Second: exit at once,
/// leaving claimed files in `processing/` for the next start.
fn spawn_signal_handler(shutdown: Arc<Stop>) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        for n in 0.. {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if n == 0 {
                tracing::warn!(
                    "signal received: finishing the batches in flight (again to exit at once)"
                );
                shutdown.trigger();
            } else {
                tracing::error!("second signal: exiting now; claimed files stay in processing/ for the next start");
                std::process::exit(130);
            }
        }
    });
}

fn print_report(r: &RunReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    let took = r
        .ended_at
        .map(|e| (e - r.started_at).num_milliseconds() as f64 / 1000.0)
        .unwrap_or(0.0);
    let c = &r.counts;
    println!(
        "run {} ({}; pipelines: {}): {:?} in {took:.2} s",
        r.run_id,
        r.mode,
        r.pipelines.join(", "),
        r.status
    );
    for (label, n) in [
        ("seen", c.seen),
        ("inserted", c.inserted),
        ("updated", c.updated),
        ("unchanged", c.unchanged),
        ("reparsed", c.reparsed),
        ("quarantined", c.quarantined),
        ("failed", c.failed),
        ("retries", c.retries),
    ] {
        println!("  {label:<12} {n:>8}");
    }
    if let Some(e) = &r.error {
        println!("  error: {e}");
    }
    Ok(())
}

pub fn status(settings: &Settings, args: StatusArgs, json: bool) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let loader = connect(settings).await?;
        let articles = loader.articles().estimated_document_count().await?;
        let revisions = loader
            .database()
            .collection::<Document>(article_etl::load::REVISIONS)
            .estimated_document_count()
            .await?;
        let runs: Vec<Document> = loader
            .runs()
            .find(doc! {})
            .sort(doc! { "started_at": -1 })
            .limit(args.runs)
            .await?
            .try_collect()
            .await?;
        // A full pass over `articles`, on the server: the price of knowing what an upgrade
        // would reparse.
        let versions: Vec<(String, i64)> = loader
            .articles()
            .aggregate([
                doc! { "$group": { "_id": "$ingest.parser_version", "n": { "$sum": 1 } } },
                doc! { "$sort": { "_id": 1 } },
            ])
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .into_iter()
            .map(|d| {
                let version = d.get_str("_id").unwrap_or("(none)").to_owned();
                let n = d
                    .get_i64("n")
                    .or_else(|_| d.get_i32("n").map(i64::from))
                    .unwrap_or(0);
                (version, n)
            })
            .collect();
        let current = article_etl::document::parser_version();
        let ours = article_etl::document::parser_generation(current);
        let outdated: i64 = versions
            .iter()
            .filter(|(v, _)| article_etl::document::parser_generation(v) < ours)
            .map(|(_, n)| n)
            .sum();
        let quarantines = quarantines_by_code(settings);
        if json {
            let value = serde_json::json!({
                "articles": articles,
                "article_revisions": revisions,
                "parser_version": current,
                "parser_versions": versions.iter().map(|(v, n)| serde_json::json!({ "version": v, "articles": n })).collect::<Vec<_>>(),
                "outdated": outdated,
                "quarantine": quarantines.iter().map(|(p, codes)| (p.clone(), serde_json::json!(codes))).collect::<serde_json::Map<_, _>>(),
                "runs": runs.into_iter().map(|d| plain_json(Bson::Document(d))).collect::<Vec<_>>(),
            });
            println!("{value}");
            loader.shutdown().await;
            return Ok(exit::OK);
        }
        println!("articles: {articles}   article_revisions: {revisions}");
        println!("articles by parser version (this binary: {current}):");
        for (version, n) in &versions {
            println!("  {version:<40} {n:>8}");
        }
        if outdated > 0 {
            println!("  {outdated} written by an older parser: `backfill --reparse` rereads their files");
        }
        for (pipeline, codes) in &quarantines {
            let total: u64 = codes.values().sum();
            println!("quarantine of {pipeline}: {total} files");
            for (code, n) in codes {
                println!("  {code:<24} {n:>8}");
            }
        }
        // Runs that ended while the database was unreachable: not in the list until the next
        // run writes their records.
        if let Ok(pipelines) = settings.select_pipelines(&[], false) {
            let waiting = RunSpool::new(&pipelines).waiting();
            if waiting > 0 {
                println!("run records kept in the work dirs (.runs/), written by the next run: {waiting}");
            }
        }
        println!("recent runs:");
        for r in runs {
            let counts = r.get_document("counts").cloned().unwrap_or_default();
            let n = |k: &str| counts.get_i64(k).unwrap_or(0);
            println!(
                "  {:<28} {:<8} {:<11} seen {:>6}  ins {:>6}  upd {:>5}  same {:>6}  repa {:>6}  quar {:>5}  fail {:>5}",
                r.get_str("_id").unwrap_or("?"),
                r.get_str("mode").unwrap_or("?"),
                r.get_str("status").unwrap_or("?"),
                n("seen"),
                n("inserted"),
                n("updated"),
                n("unchanged"),
                n("reparsed"),
                n("quarantined"),
                n("failed"),
            );
        }
        loader.shutdown().await;
        Ok(exit::OK)
    })
}

/// Per configured pipeline, the files in its `quarantine/` by their reports' codes.
fn quarantines_by_code(
    settings: &Settings,
) -> Vec<(String, std::collections::BTreeMap<String, u64>)> {
    let Ok(pipelines) = settings.select_pipelines(&[], false) else {
        return Vec::new();
    };
    pipelines
        .iter()
        .map(|p| {
            let mut codes = std::collections::BTreeMap::new();
            match article_etl::extract::inbox::quarantined_files(&p.work_dir.join("quarantine")) {
                Ok(files) => {
                    for q in files {
                        *codes.entry(q.code).or_insert(0) += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(pipeline = %p.name, error = %e, "cannot list the quarantine")
                }
            }
            (p.name.clone(), codes)
        })
        .collect()
}

pub fn show(settings: &Settings, args: ShowArgs) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let loader = connect(settings).await?;
        let found = loader.articles().find_one(doc! { "_id": &args.id }).await?;
        loader.shutdown().await;
        match found {
            Some(d) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&plain_json(Bson::Document(d)))?
                );
                Ok(exit::OK)
            }
            None => {
                eprintln!("article-etl: no article with _id {:?}", args.id);
                Ok(exit::FILES_FAILED)
            }
        }
    })
}

/// BSON → JSON for people: dates as RFC 3339 strings, numbers as numbers.
fn plain_json(value: Bson) -> serde_json::Value {
    match value {
        Bson::DateTime(d) => {
            serde_json::Value::String(d.try_to_rfc3339_string().unwrap_or_else(|_| d.to_string()))
        }
        Bson::Document(d) => {
            serde_json::Value::Object(d.into_iter().map(|(k, v)| (k, plain_json(v))).collect())
        }
        Bson::Array(a) => serde_json::Value::Array(a.into_iter().map(plain_json).collect()),
        Bson::Int32(n) => n.into(),
        Bson::Int64(n) => n.into(),
        other => other.into_relaxed_extjson(),
    }
}
