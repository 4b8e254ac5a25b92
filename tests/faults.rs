//! Database faults injected with `configureFailPoint` (`failCommand`): dropped connections,
//! retryable error codes and write-concern errors during loads. Nothing is lost, and the
//! retries show in the run record and in `/metrics`.

mod common;

use std::time::Duration;

use common::*;
use mongodb::bson::{doc, Document};

async fn admin(uri: &str) -> mongodb::Database {
    mongodb::Client::with_uri_str(uri)
        .await
        .unwrap()
        .database("admin")
}

/// Makes the next `times` commands named in `data` fail as `data` says.
async fn fail_next(uri: &str, times: i32, data: Document) {
    admin(uri)
        .await
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": times },
            "data": data,
        })
        .await
        .expect("configureFailPoint (the server needs --enable-test-commands)");
}

/// Turns the fail point off, whatever the run left of it: the test's own queries come next.
async fn fail_no_more(uri: &str) {
    admin(uri)
        .await
        .run_command(doc! { "configureFailPoint": "failCommand", "mode": "off" })
        .await
        .expect("configureFailPoint off");
}

const WRITES: [&str; 3] = ["bulkWrite", "insert", "update"];

#[tokio::test(flavor = "multi_thread")]
async fn injected_faults_are_retried_and_lose_nothing() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start_with(storage.path(), &["--enable-test-commands"]);
    for api in ["bulk-write", "legacy"] {
        let ws = Workspace::with(
            "faults",
            Options {
                uri: Some(server.uri.clone()),
                write_api: api,
                batch_size: 25,
                ..Options::default()
            },
        );
        let faults = [
            doc! { "failCommands": WRITES.to_vec(), "closeConnection": true },
            doc! { "failCommands": WRITES.to_vec(), "errorCode": 91, "errorLabels": ["RetryableWriteError"] },
            doc! { "failCommands": WRITES.to_vec(), "errorCode": 189 },
            doc! { "failCommands": ["find"], "closeConnection": true },
            doc! { "failCommands": WRITES.to_vec(), "writeConcernError": { "code": 64, "errmsg": "waiting for replication timed out" } },
        ];
        let mut total = 0;
        for (round, data) in faults.into_iter().enumerate() {
            let reads = data
                .get_array("failCommands")
                .is_ok_and(|c| c.iter().any(|name| name.as_str() == Some("find")));
            if reads {
                // The loader reads what is stored only for articles it may know (a batch of
                // new ones is inserted straight away): the first round's articles again.
                fill_inbox(&ws, 60_000, 100);
            } else {
                fill_inbox(&ws, 60_000 + 1000 * round as u64, 100);
                total += 100;
            }
            // More failures than the driver's own single retry absorbs (the run record
            // takes some of them too).
            fail_next(&server.uri, 6, data.clone()).await;
            ws.cmd().args(["-q", "run", "--once"]).assert().success();
            fail_no_more(&server.uri).await;
            let run = ws.last_run().await;
            assert!(
                count(&run, "retries") >= 1,
                "{api} round {round} {data}: no retry recorded"
            );
            assert_eq!(
                count(&run, "inserted") + count(&run, "unchanged"),
                100,
                "{api} round {round}: {run}"
            );
            assert_eq!(ws.articles().await.len(), total, "{api} round {round}");
            assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
        }
        for d in ws.articles().await {
            assert_eq!(d.get_i32("revision").unwrap(), 1);
        }
        ws.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_shows_retries_in_metrics() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start_with(storage.path(), &["--enable-test-commands"]);
    let ws = Workspace::with(
        "faults_daemon",
        Options {
            uri: Some(server.uri.clone()),
            ..Options::default()
        },
    );
    let mut daemon = ws.start_daemon();
    fail_next(
        &server.uri,
        4,
        doc! { "failCommands": WRITES.to_vec(), "closeConnection": true },
    )
    .await;
    fill_inbox(&ws, 70_000, 50);
    assert!(
        wait_for(Duration::from_secs(60), || ws.files("done").len() == 50),
        "{}",
        ws.daemon_log()
    );
    assert!(ws.metric("article_etl_retries_total", &[]) >= 1.0);
    assert_eq!(
        ws.metric("article_etl_articles_total", &[("outcome", "inserted")]),
        50.0
    );
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
    assert_eq!(ws.articles().await.len(), 50);
    ws.cleanup().await;
}

/// The number after `label` in a run's printed summary.
fn summary_count(stdout: &[u8], label: &str) -> i64 {
    String::from_utf8_lossy(stdout)
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(label)).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(-1)
}

/// The text of a log without its terminal colour sequences (`ESC [ … m`).
fn strip_colours(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every `file loaded` event of a run's log has `revision=want`.
fn assert_logged_revisions(stderr: &[u8], want: i32, n: usize) {
    let log = strip_colours(&String::from_utf8_lossy(stderr));
    let loaded: Vec<&str> = log.lines().filter(|l| l.contains("file loaded")).collect();
    assert_eq!(loaded.len(), n, "{log}");
    let wrong: Vec<&&str> = loaded
        .iter()
        .filter(|l| !l.contains(&format!("revision={want}")))
        .collect();
    assert!(wrong.is_empty(), "events with another revision: {wrong:?}");
}

/// Issue 14: when the connection drops after the server applied a batch, before its reply
/// arrived, the retry meets its own writes. They are counted as inserted (or updated), never as
/// unchanged, in the summary, the run record and the log, for inserts and for replaces.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_reply_is_counted_as_written_not_unchanged() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start(storage.path());
    for api in ["bulk-write", "legacy"] {
        let proxy = proxy::Proxy::start(server.addr());
        let ws = Workspace::with(
            "lost_reply",
            Options {
                uri: Some(proxy.uri()),
                write_api: api,
                batch_size: 50,
                // Room for one batch to lose all its replies, backing off each time.
                retry_budget_ms: 60_000,
                ..Options::default()
            },
        );
        // Only the write commands of whole batches are this big.
        proxy.drop_replies(20_000, 8);
        fill_inbox(&ws, 80_000, 500);
        let out = ws.cmd().args(["run", "--once"]).assert().success();
        let out = out.get_output();
        assert_eq!(
            proxy.drops(),
            8,
            "{api}: not every reply meant to be lost was"
        );
        let run = ws.last_run().await;
        assert_eq!(
            (count(&run, "inserted"), count(&run, "unchanged")),
            (500, 0),
            "{api}: {run}"
        );
        assert_eq!(summary_count(&out.stdout, "inserted"), 500, "{api}");
        assert_eq!(summary_count(&out.stdout, "unchanged"), 0, "{api}");
        assert_logged_revisions(&out.stderr, 1, 500);
        let docs = ws.articles().await;
        assert_eq!(docs.len(), 500);
        assert!(docs.iter().all(|d| d.get_i32("revision") == Ok(1)));

        // Corrections of 100 of them: replaces whose replies get lost.
        for id in 80_000..80_100 {
            ws.drop_file(
                &format!("content_{id}.txt"),
                article(id, &format!("测试新闻第{id}号稿件"), &paragraphs(id + 7, 3)),
            );
        }
        // The replaces themselves: an `update` command, or `bulkWrite` update operations.
        proxy.drop_replies_to(20_000, b"update\0", 2);
        let out = ws.cmd().args(["run", "--once"]).assert().success();
        let out = out.get_output();
        assert_eq!(
            proxy.drops(),
            10,
            "{api}: the replaces' replies were not dropped"
        );
        let run = ws.last_run().await;
        assert_eq!(
            (count(&run, "updated"), count(&run, "unchanged")),
            (100, 0),
            "{api}: {run}"
        );
        assert_eq!(summary_count(&out.stdout, "updated"), 100, "{api}");
        assert_logged_revisions(&out.stderr, 2, 100);
        let docs = ws.articles().await;
        assert_eq!(docs.len(), 500);
        let revised = docs
            .iter()
            .filter(|d| d.get_i32("revision") == Ok(2))
            .count();
        assert_eq!(revised, 100);
        assert_eq!(ws.collection("article_revisions").await.len(), 100);
        assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
        ws.cleanup().await;
    }
}

/// A small tmpfs of the test's own, unmounted when the test ends. `None` (said loudly) where
/// the test cannot mount one (not root, no CAP_SYS_ADMIN).
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_path_buf(),
            }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs on {} (root only): {}",
                    dir.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    /// Fills the filesystem up with `filler` until the last few kilobytes (less than a page,
    /// so that no file can grow any more).
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 1024];
        for _ in 0..1_000_000 {
            if f.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// Issue 14: the work area (inbox and work dir) on a small tmpfs filled to the last
/// kilobytes. A start that cannot write its lock fails with the path and the cause and leaves
/// no lock file; a daemon that cannot write a quarantine report leaves nothing in
/// `quarantine/`, keeps the file in `processing/` and goes on loading the good files; once
/// there is room, the next run quarantines it. Nothing is lost or duplicated.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_work_area_leaves_no_litter() {
    let mut ws = Workspace::with(
        "full_disk",
        Options {
            settle_ms: 300,
            ..Options::default()
        },
    );
    let area = ws.dir.path().join("area");
    let Some(fs) = Tmpfs::mount(&area, "512k") else {
        return;
    };
    let pipeline = ws.dir.path().join("pipelines/test-daily.toml");
    let settings = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("\"../inbox\"", "\"../area/inbox\"")
        .replace("\"../work\"", "\"../area/work\"");
    std::fs::write(&pipeline, settings).unwrap();
    ws.inbox = area.join("inbox");
    ws.work = area.join("work");
    let staging = area.join("staging");
    for dir in [&ws.inbox, &staging] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // Written now, while there is room; renamed into the inbox later (a rename needs none).
    for id in 95_000..95_010 {
        std::fs::write(
            staging.join(format!("content_{id}.txt")),
            article(id, &format!("满盘测试第{id}号"), &paragraphs(id, 2)),
        )
        .unwrap();
    }
    for b in 0..2 {
        std::fs::write(staging.join(format!("bad-{b}.txt")), b"\x00binary\x00").unwrap();
    }
    let land = |name: &str| std::fs::rename(staging.join(name), ws.inbox.join(name)).unwrap();
    let owners = || ws.files(".owners");

    // A start on the full disk: the lock file cannot be written.
    let filler = fs.fill();
    land("content_95000.txt");
    let out = ws.cmd().args(["run", "--once"]).assert().code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains(".owners") && stderr.contains("No space left on device"),
        "the error names the path and the cause: {stderr}"
    );
    assert!(owners().is_empty(), "a lock file was left: {:?}", owners());
    assert_eq!(ws.files("inbox"), ["content_95000.txt"]);

    // With room to start, the daemon takes its lock; then the disk fills up under it.
    std::fs::remove_file(&filler).unwrap();
    let mut daemon = ws.start_daemon();
    assert!(wait_for(Duration::from_secs(30), || ws.files("done").len() == 1));
    let filler = fs.fill();
    for b in 0..2 {
        land(&format!("bad-{b}.txt"));
    }
    for id in 95_001..95_010 {
        land(&format!("content_{id}.txt"));
    }
    assert!(
        wait_for(Duration::from_secs(30), || ws.files("done").len() == 10
            && ws.files("processing").len() == 2),
        "{}",
        ws.daemon_log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        ws.files("quarantine").is_empty(),
        "litter in quarantine/: {:?}",
        ws.files("quarantine")
    );
    let log = ws.daemon_log();
    assert!(
        log.contains("cannot quarantine")
            && log.contains("quarantine/bad-")
            && log.contains("No space left on device"),
        "{log}"
    );
    assert_eq!(ws.http_get("/readyz").map(|r| r.0), Some(200));
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
    assert!(owners().is_empty(), "a lock file was left: {:?}", owners());

    // Room again: the next run quarantines the two files it could not.
    std::fs::remove_file(&filler).unwrap();
    ws.cmd().args(["-q", "run", "--once"]).assert().success();
    let mut quarantined = ws.files("quarantine");
    quarantined.sort();
    assert_eq!(
        quarantined,
        [
            "bad-0.txt",
            "bad-0.txt.error.json",
            "bad-1.txt",
            "bad-1.txt.error.json"
        ]
    );
    assert!(ws.files("processing").is_empty() && ws.files("inbox").is_empty());
    assert!(owners().is_empty());
    let docs = ws.articles().await;
    assert_eq!(docs.len(), 10);
    assert!(docs.iter().all(|d| d.get_i32("revision") == Ok(1)));
    let runs = ws.collection("ingest_runs").await;
    let inserted: i64 = runs.iter().map(|r| count(r, "inserted")).sum();
    assert_eq!(inserted, 10, "{runs:?}");
    ws.cleanup().await;
}

/// The run ids of the stored articles, with how many each wrote.
async fn articles_by_run(ws: &Workspace) -> std::collections::BTreeMap<String, i64> {
    let mut by_run = std::collections::BTreeMap::new();
    for d in ws.articles().await {
        let run = d
            .get_document("ingest")
            .ok()
            .and_then(|i| i.get_str("run_id").ok())
            .unwrap_or("")
            .to_owned();
        *by_run.entry(run).or_insert(0) += 1;
    }
    by_run
}

/// `run --once` in the background, once it has loaded its first batches: the moment to hang
/// the server under it.
fn run_once_loading(ws: &Workspace) -> std::process::Child {
    let run = ws
        .std_cmd()
        .args(["run", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(60), || ws.files("done").len() >= 40),
        "the run did not start loading"
    );
    run
}

/// Issue 14: the server stopped (SIGSTOP) under `run --once` until the run gives up: it exits 1
/// with every unwritten file back in the inbox, and its run record, which the hung server
/// could not take, is kept in the work dir. Once the server runs again (SIGCONT), the next run
/// writes that record, then loads the rest: `status` shows both runs, nothing is lost or
/// duplicated, and every count agrees with the database.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_record_outlives_a_hung_server() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start(storage.path());
    let ws = Workspace::with(
        "hung_server",
        Options {
            uri: Some(server.uri.clone()),
            batch_size: 20,
            writers: 1,
            retry_budget_ms: 3_000,
            server_selection_timeout_ms: 1_000,
            ..Options::default()
        },
    );
    // Enough that the server is stopped long before the run could finish.
    let total = 1000;
    fill_inbox(&ws, 96_000, total);
    let mut first = run_once_loading(&ws);
    server.signal(libc::SIGSTOP);
    let code = wait_exit(&mut first, Duration::from_secs(90));
    server.signal(libc::SIGCONT);
    assert_eq!(code, Some(1), "the run gives up on a hung server");
    let kept = ws.files(".runs");
    assert_eq!(kept.len(), 1, "the run record is kept: {kept:?}");
    assert!(ws.files("processing").is_empty());
    let left = ws.files("inbox").len() as u64;
    assert!(left > 0 && left < total);
    let status = ws.cmd().args(["status"]).assert().success();
    let status = String::from_utf8_lossy(&status.get_output().stdout).into_owned();
    assert!(
        status.contains("run records kept in the work dirs (.runs/), written by the next run: 1"),
        "{status}"
    );

    let out = ws.cmd().args(["run", "--once"]).assert().success();
    assert!(ws.files(".runs").is_empty(), "the kept record was written");
    let status = ws.cmd().args(["status"]).assert().success();
    let status = String::from_utf8_lossy(&status.get_output().stdout).into_owned();
    let runs = ws.collection("ingest_runs").await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in &runs {
        assert!(
            status.contains(r.get_str("_id").unwrap()),
            "status shows every run:\n{status}"
        );
    }
    let gave_up = runs
        .iter()
        .find(|r| r.get_str("status") == Ok("incomplete"))
        .expect("the first run's record, as it ended");
    assert!(count(gave_up, "failed") >= 1 && gave_up.get_str("error").is_ok());
    assert!(gave_up.get_datetime("ended_at").is_ok());
    let second = ws.last_run().await;
    assert_eq!(second.get_str("status"), Ok("ok"));

    // Nothing lost or duplicated; each run's inserts are the documents carrying its id. The
    // first run's last batch may have been applied after it gave up (the server ran it on
    // SIGCONT): those files were back in the inbox, and the second run finds them unchanged.
    let docs = ws.articles().await;
    assert_eq!(docs.len() as u64, total);
    assert_eq!(ws.files("done").len() as u64, total);
    assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
    let by_run = articles_by_run(&ws).await;
    let id_of = |r: &Document| r.get_str("_id").unwrap().to_owned();
    assert_eq!(
        by_run.get(&id_of(&second)).copied().unwrap_or(0),
        count(&second, "inserted")
    );
    assert!(by_run.get(&id_of(gave_up)).copied().unwrap_or(0) >= count(gave_up, "inserted"));
    assert_eq!(
        count(&second, "inserted") + count(&second, "unchanged"),
        left as i64
    );
    assert_eq!(summary_count(&out.get_output().stdout, "seen"), left as i64);
    ws.cleanup().await;
}

/// Connections reset by the network after a byte budget, mid-request or mid-reply: every
/// batch is retried until written, and counted once, as inserted, on both write paths.
#[tokio::test(flavor = "multi_thread")]
async fn connections_reset_mid_stream_lose_nothing() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start(storage.path());
    for (k, api) in ["bulk-write", "legacy"].into_iter().enumerate() {
        let proxy = proxy::Proxy::start(server.addr());
        let ws = Workspace::with(
            "resets",
            Options {
                uri: Some(proxy.uri()),
                write_api: api,
                batch_size: 50,
                retry_budget_ms: 60_000,
                ..Options::default()
            },
        );
        // About one batch's command: some resets cut a request, some a reply.
        proxy.reset_after(100_000, 6);
        let first = 97_000 + 1000 * k as u64;
        fill_inbox(&ws, first, 400);
        ws.cmd().args(["-q", "run", "--once"]).assert().success();
        assert!(proxy.resets() >= 1, "{api}: no connection was reset");
        let run = ws.last_run().await;
        assert_eq!(
            (count(&run, "inserted"), count(&run, "unchanged")),
            (400, 0),
            "{api}: {run}"
        );
        assert!(count(&run, "retries") >= 1, "{api}: {run}");
        let docs = ws.articles().await;
        assert_eq!(docs.len(), 400);
        assert!(docs.iter().all(|d| d.get_i32("revision") == Ok(1)));
        assert_eq!(ws.files("done").len(), 400);
        assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
        ws.cleanup().await;
    }
}

/// The path to the server stalls (no byte moves either way for 8 s) under the daemon:
/// `/readyz` says 503 during the stall and 200 after it, and every file is loaded once.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_connection_is_ridden_out_by_the_daemon() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start(storage.path());
    let proxy = proxy::Proxy::start(server.addr());
    let ws = Workspace::with(
        "stall",
        Options {
            uri: Some(proxy.uri()),
            batch_size: 20,
            writers: 1,
            server_selection_timeout_ms: 2_000,
            ..Options::default()
        },
    );
    let mut daemon = ws.start_daemon();
    let ready = || ws.http_get("/readyz").map(|r| r.0);
    assert!(wait_for(Duration::from_secs(30), || ready() == Some(200)));
    fill_inbox(&ws, 99_000, 300);
    assert!(wait_for(Duration::from_secs(60), || ws.files("done").len() >= 20));
    let stalled = std::time::Instant::now();
    proxy.stall(Duration::from_secs(8));
    let mut saw_503 = false;
    while stalled.elapsed() < Duration::from_secs(8) {
        saw_503 |= ready() == Some(503);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_503, "/readyz did not report the stalled server");
    assert!(
        wait_for(Duration::from_secs(90), || ws.files("done").len() == 300),
        "{}",
        ws.daemon_log()
    );
    assert!(wait_for(Duration::from_secs(30), || ready() == Some(200)));
    assert_eq!(
        ws.metric("article_etl_articles_total", &[("outcome", "inserted")]),
        300.0
    );
    assert_eq!(
        ws.metric("article_etl_articles_total", &[("outcome", "unchanged")]),
        0.0
    );
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
    let run = ws.last_run().await;
    assert_eq!(count(&run, "inserted"), 300, "{run}");
    assert_eq!(ws.articles().await.len(), 300);
    assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
    ws.cleanup().await;
}

/// The server killed (SIGKILL) under a busy daemon and started again on the same storage:
/// `/readyz` says 503, then 200; every file is loaded once and counted once, as inserted.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_and_restarted_under_the_daemon_loses_nothing() {
    let storage = tempfile::tempdir().unwrap();
    // Without a log sync on commit SecantusDB loses the last acknowledged writes when killed
    // (a genuine mongod journals majority writes before acknowledging them).
    let server = PrivateServer::start_with(storage.path(), &["--sync-on-commit"]);
    let ws = Workspace::with(
        "killed_server",
        Options {
            uri: Some(server.uri.clone()),
            batch_size: 20,
            writers: 1,
            server_selection_timeout_ms: 1_000,
            rescan_interval_ms: 2_000,
            ..Options::default()
        },
    );
    let mut daemon = ws.start_daemon();
    let ready = || ws.http_get("/readyz").map(|r| r.0);
    let total = 400;
    fill_inbox(&ws, 98_000, total as u64);
    assert!(wait_for(Duration::from_secs(60), || ws.files("done").len() >= 60));
    server.signal(libc::SIGKILL);
    assert!(
        wait_for(Duration::from_secs(30), || ready() == Some(503)),
        "/readyz did not report the outage"
    );
    std::thread::sleep(Duration::from_secs(2));
    server.restart();
    assert!(
        wait_for(Duration::from_secs(120), || ws.files("done").len() == total),
        "{}",
        ws.daemon_log()
    );
    assert!(wait_for(Duration::from_secs(30), || ready() == Some(200)));
    assert_eq!(
        ws.metric("article_etl_articles_total", &[("outcome", "inserted")]),
        total as f64
    );
    assert_eq!(
        ws.metric("article_etl_articles_total", &[("outcome", "unchanged")]),
        0.0
    );
    assert!(ws.metric("article_etl_retries_total", &[]) >= 1.0);
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
    let docs = ws.articles().await;
    assert_eq!(docs.len(), total);
    assert!(docs.iter().all(|d| d.get_i32("revision") == Ok(1)));
    assert_eq!(count(&ws.last_run().await, "inserted"), total as i64);
    assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
    ws.cleanup().await;
}

/// The server stopped (SIGSTOP) for a few seconds under `run --once`, shorter than the retry
/// budget: the run waits it out and exits 0. Writes sent while it was stopped are applied when
/// it runs again (SIGCONT), after the run gave up on their replies: the retries find them and
/// count them as inserted, so every count agrees with the database.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_stopped_briefly_under_run_once_is_waited_out() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start(storage.path());
    let ws = Workspace::with(
        "stopped_briefly",
        Options {
            uri: Some(server.uri.clone()),
            batch_size: 20,
            retry_budget_ms: 30_000,
            server_selection_timeout_ms: 1_000,
            ..Options::default()
        },
    );
    // Enough that the server is stopped long before the run could finish.
    let total = 1000;
    fill_inbox(&ws, 94_000, total);
    let mut run = run_once_loading(&ws);
    server.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(4));
    server.signal(libc::SIGCONT);
    assert_eq!(wait_exit(&mut run, Duration::from_secs(90)), Some(0));
    let record = ws.last_run().await;
    assert_eq!(
        (count(&record, "inserted"), count(&record, "unchanged")),
        (total as i64, 0),
        "{record}"
    );
    assert!(count(&record, "retries") >= 1, "{record}");
    let docs = ws.articles().await;
    assert_eq!(docs.len() as u64, total);
    assert!(docs.iter().all(|d| d.get_i32("revision") == Ok(1)));
    assert_eq!(ws.files("done").len() as u64, total);
    assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
    assert!(ws.files(".runs").is_empty());
    ws.cleanup().await;
}
