//! The daemon as a real process against a real server: only finished files are taken, a burst
//! is loaded once, SIGTERM and restarts lose nothing, outages are ridden out, and `/metrics`
//! and `/readyz` tell the truth.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use mongodb::bson::{doc, Document};

async fn article_count(ws: &Workspace) -> u64 {
    ws.database()
        .await
        .collection::<Document>("articles")
        .count_documents(doc! {})
        .await
        .unwrap_or(0)
}

async fn wait_articles(ws: &Workspace, n: u64, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if article_count(ws).await >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn renamed_files_slow_writes_and_a_burst_are_each_loaded_once() {
    let ws = Workspace::with(
        "daemon_burst",
        Options {
            settle_ms: 2000,
            rescan_interval_ms: 5000,
            ..Options::default()
        },
    );
    let mut daemon = ws.start_daemon();

    // Dropped by rename: taken at once.
    fill_inbox(&ws, 1, 5);

    // Written in place, slowly, over 10 s, with pauses shorter than settle_ms: taken once, whole.
    let slow_paragraphs = paragraphs(999, 10);
    let slow = article(999, "慢慢写入的稿件", &slow_paragraphs);
    let slow_path = ws.inbox.join("content_999.txt");
    let writer = {
        let slow_path = slow_path.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(&slow_path).unwrap();
            let bytes = slow.as_bytes();
            let chunk = bytes.len() / 10 + 1;
            for part in bytes.chunks(chunk) {
                f.write_all(part).unwrap();
                f.flush().unwrap();
                std::thread::sleep(Duration::from_millis(1000));
            }
        })
    };

    // A burst of 1,000 renamed files while the slow one is being written.
    fill_inbox(&ws, 10_000, 1000);
    writer.join().unwrap();

    assert!(
        wait_articles(&ws, 1006, Duration::from_secs(120)).await,
        "only {} of 1006 loaded\n{}",
        article_count(&ws).await,
        ws.daemon_log()
    );
    // Let any late duplicate show itself before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let slow_doc = ws
        .database()
        .await
        .collection::<Document>("articles")
        .find_one(doc! { "_id": "test-daily:999" })
        .await
        .unwrap()
        .expect("the slow file is loaded");
    assert_eq!(slow_doc.get_i32("revision").unwrap(), 1);
    let text = slow_doc.get_str("text").unwrap();
    assert!(
        text.ends_with(slow_paragraphs.last().unwrap().as_str()),
        "the slow file was taken whole"
    );
    assert!(slow_doc.get_document("trailer").is_ok());

    // /metrics agrees with what was loaded, and nothing was written twice.
    assert_eq!(
        ws.metric("article_etl_articles_total", &[("outcome", "inserted")]),
        1006.0
    );
    assert_eq!(
        ws.metric("article_etl_articles_total", &[("outcome", "unchanged")]),
        0.0
    );
    assert_eq!(
        ws.metric("article_etl_files_total", &[("outcome", "loaded")]),
        1006.0
    );
    assert_eq!(ws.metric("article_etl_files_claimed_total", &[]), 1006.0);
    assert!(ws.metric("article_etl_batch_write_seconds_count", &[]) >= 1.0);
    assert_eq!(ws.http_get("/readyz").map(|r| r.0), Some(200));

    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
    assert_eq!(ws.files("done").len(), 1006);
    assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
    let run = ws.last_run().await;
    assert_eq!(run.get_str("mode").unwrap(), "daemon");
    assert_eq!(count(&run, "inserted"), 1006);
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_in_a_burst_then_a_restart_loads_every_file_exactly_once() {
    let ws = Workspace::with(
        "daemon_sigterm",
        Options {
            batch_size: 20,
            writers: 1,
            ..Options::default()
        },
    );
    let total = 1000;
    fill_inbox(&ws, 30_000, total);
    let mut daemon = ws.start_daemon();
    assert!(wait_for(Duration::from_secs(60), || ws.files("done").len() >= 40));
    signal(&daemon, libc::SIGTERM);
    assert_eq!(
        wait_exit(&mut daemon, Duration::from_secs(40)),
        Some(0),
        "{}",
        ws.daemon_log()
    );
    let after_first = ws.files("done").len() as u64;
    assert!(after_first < total, "the burst was interrupted");
    assert!(
        ws.files("processing").is_empty(),
        "a clean stop leaves nothing claimed"
    );

    let mut daemon = ws.start_daemon();
    assert!(
        wait_articles(&ws, total, Duration::from_secs(120)).await,
        "{}",
        ws.daemon_log()
    );
    assert!(wait_for(Duration::from_secs(30), || ws.files("done").len()
        as u64
        == total));
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(40)), Some(0));

    let runs = ws.collection("ingest_runs").await;
    assert_eq!(runs.len(), 2);
    let inserted: i64 = runs.iter().map(|r| count(r, "inserted")).sum();
    let unchanged: i64 = runs.iter().map(|r| count(r, "unchanged")).sum();
    assert_eq!(inserted, total as i64, "every file inserted once");
    assert_eq!(unchanged, 0, "no file written twice");
    assert!(runs
        .iter()
        .all(|r| r.get_str("status") == Ok("interrupted")));
    assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_is_ridden_out_and_readyz_follows_it() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start(storage.path());
    let ws = Workspace::with(
        "daemon_outage",
        Options {
            uri: Some(server.uri.clone()),
            batch_size: 20,
            server_selection_timeout_ms: 1000,
            rescan_interval_ms: 2000,
            ..Options::default()
        },
    );
    let mut daemon = ws.start_daemon();
    fill_inbox(&ws, 40_000, 300);
    assert!(
        wait_articles(&ws, 300, Duration::from_secs(60)).await,
        "{}",
        ws.daemon_log()
    );
    assert_eq!(ws.http_get("/readyz").map(|r| r.0), Some(200));

    server.stop();
    assert!(
        wait_for(Duration::from_secs(30), || ws
            .http_get("/readyz")
            .map(|r| r.0)
            == Some(503)),
        "/readyz did not report the outage"
    );
    // Files keep arriving during the outage; none is lost.
    fill_inbox(&ws, 41_000, 200);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        ws.http_get("/healthz").map(|r| r.0),
        Some(200),
        "the daemon stays up"
    );

    server.restart();
    assert!(
        wait_articles(&ws, 500, Duration::from_secs(120)).await,
        "{}",
        ws.daemon_log()
    );
    assert!(
        wait_for(Duration::from_secs(30), || ws
            .http_get("/readyz")
            .map(|r| r.0)
            == Some(200)),
        "/readyz did not recover"
    );
    assert!(wait_for(Duration::from_secs(30), || ws.files("done").len() == 500));
    assert!(ws.metric("article_etl_retries_total", &[]) >= 1.0);
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(40)), Some(0));
    assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
    assert!(ws.files("quarantine").is_empty());
}

#[test]
fn excluded_and_partial_names_are_never_taken() {
    let ws = Workspace::with(
        "daemon_exclude",
        Options {
            settle_ms: 300,
            rescan_interval_ms: 500,
            ..Options::default()
        },
    );
    let mut daemon = ws.start_daemon();
    for name in [".hidden.txt", "upload.txt.part", "upload.tmp"] {
        ws.drop_file(name, article(1, "不该被取走", &paragraphs(1, 1)));
    }
    fill_inbox(&ws, 50_000, 1);
    assert!(wait_for(Duration::from_secs(30), || ws.files("done").len() == 1));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        ws.files("inbox"),
        vec![".hidden.txt", "upload.tmp", "upload.txt.part"]
    );
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
}

/// Issue 14: an inbox deleted, or moved away, and made again under the daemon is watched
/// again: `/readyz` says 503 while it is missing, 200 once it is back and watched, and a file
/// renamed into it is taken at once, not at the next rescan (five minutes here).
#[test]
fn an_inbox_deleted_and_recreated_is_watched_again() {
    let ws = Workspace::with(
        "daemon_inbox_back",
        Options {
            rescan_interval_ms: 300_000,
            ..Options::default()
        },
    );
    let mut daemon = ws.start_daemon();
    fill_inbox(&ws, 90_000, 3);
    assert!(
        wait_for(Duration::from_secs(30), || ws.files("done").len() == 3),
        "{}",
        ws.daemon_log()
    );
    let ready = || ws.http_get("/readyz").map(|r| r.0);
    assert!(wait_for(Duration::from_secs(30), || ready() == Some(200)));
    for (round, how) in ["deleted", "moved away"].into_iter().enumerate() {
        match how {
            "deleted" => std::fs::remove_dir_all(&ws.inbox).unwrap(),
            _ => std::fs::rename(&ws.inbox, ws.dir.path().join("inbox.old")).unwrap(),
        }
        assert!(
            wait_for(Duration::from_secs(30), || ready() == Some(503)),
            "{how}: /readyz did not report the missing inbox"
        );
        std::fs::create_dir(&ws.inbox).unwrap();
        assert!(
            wait_for(Duration::from_secs(30), || ready() == Some(200)),
            "{how}: /readyz did not recover"
        );
        let landed = Instant::now();
        fill_inbox(&ws, 91_000 + round as u64, 1);
        let taken = wait_for(Duration::from_secs(30), || {
            ws.files("done").len() == 4 + round
        });
        let latency = landed.elapsed();
        eprintln!("inbox {how} and made again: the next file was taken after {latency:?}");
        assert!(
            taken && latency < Duration::from_secs(15),
            "{how}: the file waited for a rescan ({latency:?})\n{}",
            ws.daemon_log()
        );
    }
    assert_eq!(ws.metric("article_etl_watch_renewals_total", &[]), 2.0);
    assert_eq!(
        ws.metric("article_etl_articles_total", &[("outcome", "inserted")]),
        5.0
    );
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
    assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
}

/// An idle daemon does not hold a lone file for `batch_linger_ms`: with nothing else on its
/// way, the batch is written as soon as the file is parsed (README, `load.batch_linger_ms`).
/// The linger here is a minute; the file must be readable long before.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_daemon_writes_a_lone_file_without_lingering() {
    let ws = Workspace::with(
        "daemon_idle_flush",
        Options {
            batch_linger_ms: 60_000,
            ..Options::default()
        },
    );
    let _daemon = ws.start_daemon();
    assert!(
        wait_for(Duration::from_secs(30), || ws
            .http_get("/readyz")
            .is_some_and(|(code, _)| code == 200)),
        "{}",
        ws.daemon_log()
    );
    fill_inbox(&ws, 50_000, 1);
    assert!(
        wait_articles(&ws, 1, Duration::from_secs(20)).await,
        "the lone file waited for the linger\n{}",
        ws.daemon_log()
    );
    // And a second one later, on its own.
    fill_inbox(&ws, 50_001, 1);
    assert!(wait_articles(&ws, 2, Duration::from_secs(20)).await);
    ws.cleanup().await;
}
