//! The commands that ingest inboxes: `run` (`--once` or watching), `daemon` and `replay`, and
//! the one path every run takes from a connection to an exit code ([`connect`], [`execute`],
//! [`conclude`]), which `backfill` takes too.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use article_etl::extract::Inbox;
use article_etl::health::Health;
use article_etl::load::Loader;
use article_etl::redact::redact_text;
use article_etl::run::{Job, Run, RunReport, RunStatus};
use article_etl::settings::Settings;
use article_etl::shutdown::Signal;
use article_etl::stats::RunStats;

use super::progress::Progress;
use super::{exit, signals, Exit};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Pipelines to process (default: every configured pipeline).
    #[arg(long)]
    pipeline: Vec<String>,
    /// Drain what the inboxes hold now, then exit; without it, keep watching.
    #[arg(long)]
    once: bool,
}

impl RunArgs {
    /// `--once`: the run ends.
    pub fn once(&self) -> bool {
        self.once
    }
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Pipelines to watch (default: every configured pipeline).
    #[arg(long)]
    pipeline: Vec<String>,
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

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Connects, or ends the command with exit code 3.
pub async fn connect(settings: &Settings) -> anyhow::Result<Loader> {
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

/// Connects and makes sure the indexes exist: what every run needs before its first write.
pub async fn connect_for_writing(settings: &Settings) -> anyhow::Result<Loader> {
    let loader = connect(settings).await?;
    loader.ensure_indexes().await.map_err(|e| {
        Exit(
            exit::CANNOT_START,
            format!("cannot create the indexes: {e}"),
        )
    })?;
    let writers = match settings.load.writers {
        article_etl::settings::Writers::Auto => {
            format!("auto (adaptive, up to {})", settings.load.max_writers)
        }
        article_etl::settings::Writers::Fixed(n) => n.to_string(),
    };
    tracing::info!(
        write_api = ?loader.api(),
        configured = ?settings.load.write_api,
        writers = %writers,
        "write path chosen: the insert/update commands unless load.write_api = \"bulk-write\""
    );
    Ok(loader)
}

/// Executes `run` until it ends, or until `signal` and then at most `limit` more for the
/// batches in flight (`None`: as long as they take).
pub async fn execute(
    run: Run,
    job: Job,
    signal: &Signal,
    limit: Option<Duration>,
) -> anyhow::Result<RunReport> {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut task = tokio::spawn(run.execute(job));
    Ok(tokio::select! {
        r = &mut task => r?,
        _ = signal.wait() => {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
            match limit {
                None => task.await?,
                Some(limit) => match tokio::time::timeout(limit, &mut task).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(Exit(
                            exit::FILES_FAILED,
                            format!("shutdown took longer than {} ms; unwritten files stay in processing/ for the next start", limit.as_millis()),
                        )
                        .into());
                    }
                },
            }
        }
    })
}

/// The end of every run: the connection closed, the summary printed, the exit code.
pub async fn conclude(loader: &Loader, report: &RunReport, json: bool) -> anyhow::Result<u8> {
    loader.shutdown().await;
    print_report(report, json)?;
    Ok(match report.status {
        RunStatus::Ok | RunStatus::Interrupted => exit::OK,
        RunStatus::Incomplete | RunStatus::Running => exit::FILES_FAILED,
    })
}

pub fn run(settings: &Settings, args: RunArgs, json: bool) -> anyhow::Result<u8> {
    let job = |pipelines: &[article_etl::settings::Pipeline]| match args.once {
        true => Job::Once,
        false => Job::Watch {
            rules: pipelines.iter().map(|p| p.watch.clone()).collect(),
            daemon: false,
        },
    };
    ingest(settings, &args.pipeline, job, json)
}

pub fn daemon(settings: &Settings, args: DaemonArgs, json: bool) -> anyhow::Result<u8> {
    let job = |pipelines: &[article_etl::settings::Pipeline]| Job::Watch {
        rules: pipelines.iter().map(|p| p.watch.clone()).collect(),
        daemon: true,
    };
    ingest(settings, &args.pipeline, job, json)
}

/// `replay`: quarantined files back through their pipeline, then drained like `run --once`.
pub fn replay(settings: &Settings, args: ReplayArgs, json: bool) -> anyhow::Result<u8> {
    let pipeline = settings.select_one(args.pipeline.as_deref())?;
    if args.dry_run {
        return replay_dry_run(&pipeline, &args.codes, json);
    }
    let codes = args.codes;
    ingest(
        settings,
        std::slice::from_ref(&pipeline.name),
        move |_: &[article_etl::settings::Pipeline]| Job::Replay(codes.clone()),
        json,
    )
}

fn replay_dry_run(
    pipeline: &article_etl::settings::Pipeline,
    codes: &[String],
    json: bool,
) -> anyhow::Result<u8> {
    let quarantine = pipeline.work_dir.join("quarantine");
    let files: Vec<_> = article_etl::extract::inbox::quarantined_files(&quarantine)
        .map_err(|e| Exit(exit::CANNOT_START, e.to_string()))?
        .into_iter()
        .filter(|q| codes.is_empty() || codes.contains(&q.code))
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
    Ok(exit::OK)
}

/// `run --once`, `run` (watching), `daemon` (watching, with the HTTP endpoints) and `replay`.
fn ingest(
    settings: &Settings,
    names: &[String],
    job: impl FnOnce(&[article_etl::settings::Pipeline]) -> Job,
    json: bool,
) -> anyhow::Result<u8> {
    let pipelines = settings.select_pipelines(names, false)?;
    let job = job(&pipelines);
    let inboxes = pipelines
        .iter()
        .enumerate()
        .map(|(i, p)| Inbox::open(i, &p.inbox_spec()).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Exit(exit::CANNOT_START, e.to_string()))?;
    let http = matches!(job, Job::Watch { daemon: true, .. });
    let watching = matches!(job, Job::Watch { .. });
    runtime()?.block_on(async {
        let health = Arc::new(Health::default());
        let signal = Signal::new();
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
        let loader = connect_for_writing(settings).await?;
        tracing::info!(api = ?loader.api(), pipelines = ?pipelines.iter().map(|p| &p.name).collect::<Vec<_>>(), once = !watching, "connected");
        signals::spawn_handler(signal.clone());
        let mut background = Vec::new();
        if let Some((addr, metrics)) = endpoint {
            let inbox_dirs = pipelines.iter().map(|p| p.inbox.clone()).collect();
            let (h, s) = (health.clone(), signal.clone());
            background.push(tokio::spawn(async move {
                if let Err(e) = article_etl::service::serve(addr, h, inbox_dirs, metrics, s).await {
                    tracing::error!(error = %e, "the HTTP endpoint stopped");
                }
            }));
            tracing::info!(%addr, "serving /healthz /readyz /metrics");
        }
        if watching {
            background.push(article_etl::service::spawn_pinger(loader.clone(), health.clone()));
        }
        let run = Run::new(
            loader.clone(),
            pipelines,
            inboxes,
            settings.load.clone(),
            signal.clone(),
        )
        .with_health(health);
        let limit = Duration::from_millis(settings.daemon.shutdown_timeout_ms);
        // A run that ends shows its progress (a bar on a terminal); a watch has no end.
        let stats = Arc::new(RunStats::default());
        let progress = (!watching).then(|| Progress::start(stats.clone(), json, false));
        let report = execute(run.with_stats(stats), job, &signal, Some(limit)).await;
        if let Some(progress) = progress {
            progress.finish();
        }
        let report = report?;
        for b in background {
            b.abort();
        }
        conclude(&loader, &report, json).await
    })
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
