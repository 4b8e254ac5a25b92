//! The daemon's HTTP side: `/healthz` (the process runs), `/readyz` (MongoDB answers and every
//! inbox is readable and watched), `/metrics` (Prometheus text, from the `metrics` facade).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::health::Health;
use crate::load::Loader;
use crate::shutdown::Signal;
use crate::telemetry::BATCH_WRITE_SECONDS;

/// Buckets of the batch write latency histogram, in seconds.
const BATCH_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// How often the database is pinged for `/readyz`.
const PING_INTERVAL: Duration = Duration::from_secs(2);

/// Installs the Prometheus recorder behind the `metrics` macros.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(BATCH_WRITE_SECONDS.into()),
            BATCH_BUCKETS,
        )?
        .install_recorder()?;
    crate::telemetry::describe_metrics();
    Ok(handle)
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    inboxes: Arc<Vec<PathBuf>>,
    metrics: PrometheusHandle,
}

/// Serves the endpoints on `listen` until `shutdown` is triggered.
pub async fn serve(
    listen: SocketAddr,
    health: Arc<Health>,
    inboxes: Vec<PathBuf>,
    metrics: PrometheusHandle,
    shutdown: Signal,
) -> std::io::Result<()> {
    let state = AppState {
        health,
        inboxes: Arc::new(inboxes),
        metrics,
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}

/// Binds first, so a taken port is a startup error (exit 3), not a log line later.
pub async fn bind_check(listen: &str) -> std::io::Result<SocketAddr> {
    let addr: SocketAddr = listen.parse().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("http.listen {listen:?}: {e}"),
        )
    })?;
    let probe = tokio::net::TcpListener::bind(addr).await?;
    let bound = probe.local_addr()?;
    drop(probe);
    Ok(bound)
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    let readable: Vec<bool> = s
        .inboxes
        .iter()
        .map(|p| std::fs::read_dir(p).is_ok())
        .collect();
    let inboxes_ok = readable.iter().all(|&r| r);
    s.health.set_inboxes(inboxes_ok);
    // A readable inbox without a watch is found by the rescans only, a minute late.
    let watches_ok = readable
        .iter()
        .enumerate()
        .all(|(i, &r)| !r || s.health.watched(i, &s.inboxes[i]));
    let db_ok = s.health.db_ok();
    if db_ok && inboxes_ok && watches_ok {
        (StatusCode::OK, "ready\n".into())
    } else {
        let mut why = Vec::new();
        if !db_ok {
            why.push("database unreachable");
        }
        if !inboxes_ok {
            why.push("an inbox is not readable");
        }
        if !watches_ok {
            why.push("an inbox is not watched");
        }
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", why.join(", ")),
        )
    }
}

async fn render_metrics(State(s): State<AppState>) -> String {
    s.metrics.render()
}

/// Pings the database now and then, so `/readyz` follows an outage even when no batch is
/// being written.
pub fn spawn_pinger(loader: Loader, health: Arc<Health>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let ok = matches!(
                tokio::time::timeout(Duration::from_secs(2), loader.ping()).await,
                Ok(Ok(()))
            );
            health.set_db(ok);
            tokio::time::sleep(PING_INTERVAL).await;
        }
    })
}
