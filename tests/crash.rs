//! Crash safety: `run --once`, `daemon` and `backfill` killed with SIGKILL at random moments
//! (claiming, parsing, writing, moving files), restarted each time until they finish. Then
//! every input file is in `done/` or `quarantine/` exactly once, MongoDB holds exactly the
//! expected documents, at revision 1, with no duplicates and no orphan revisions, and nothing
//! is left in `processing/`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use article_etl::transform::{transform, ParseOptions, RawFile};
use common::*;

const GOOD: u64 = 2000;
const BAD: usize = 10;

/// Fills the inbox (or a tree) and returns the expected `_id → content_hash`.
fn make_inputs(dir: &Path, nested: bool) -> BTreeMap<String, String> {
    let mut opts = ParseOptions::for_source("test-daily");
    opts.paper = Some("测试日报".into());
    let mut expected = BTreeMap::new();
    for i in 0..GOOD {
        let id = 500_000 + i;
        let text = article(id, &format!("崩溃测试第{id}号"), &paragraphs(id, 3));
        let sub = if nested {
            dir.join(format!("{:02}", i % 17))
        } else {
            dir.to_path_buf()
        };
        std::fs::create_dir_all(&sub).unwrap();
        let name = format!("content_{id}.txt");
        let a = transform(
            &RawFile {
                path: &name,
                bytes: text.as_bytes(),
                mtime: None,
            },
            &opts,
        )
        .unwrap();
        expected.insert(a.id.clone(), a.content_hash.clone());
        std::fs::write(sub.join(&name), text).unwrap();
    }
    for b in 0..BAD {
        let body: &[u8] = match b % 3 {
            0 => b"",
            1 => b"\x00binary\x00",
            _ => "只有正文,没有尾部也没有编号。\n".as_bytes(),
        };
        std::fs::write(dir.join(format!("bad-{b}.txt")), body).unwrap();
    }
    expected
}

/// Kills `start()`ed processes with SIGKILL after random delays, at least `kills` times, then
/// lets one finish. Returns how many were killed while running.
fn kill_repeatedly(
    kills: usize,
    seed: u64,
    mut start: impl FnMut() -> std::process::Child,
    mut finished: impl FnMut() -> bool,
) -> usize {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut killed = 0;
    for _ in 0..200 {
        if killed >= kills {
            break;
        }
        let mut child = start();
        // Short enough that a quiet machine, loading a few thousand files a second, cannot
        // finish the inbox before the kills wanted have landed.
        std::thread::sleep(Duration::from_millis(rng.u64(30..300)));
        match child.try_wait().unwrap() {
            Some(_) => {
                if finished() {
                    break;
                }
            }
            None => {
                signal(&child, libc::SIGKILL);
                let _ = child.wait();
                killed += 1;
            }
        }
    }
    killed
}

async fn assert_database(ws: &Workspace, expected: &BTreeMap<String, String>) {
    let docs = ws.articles().await;
    let got: BTreeMap<String, String> = docs
        .iter()
        .map(|d| {
            (
                d.get_str("_id").unwrap().to_owned(),
                d.get_str("content_hash").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(docs.len(), got.len(), "duplicate _id");
    assert_eq!(&got, expected, "exactly the expected documents and hashes");
    for d in &docs {
        assert_eq!(d.get_i32("revision").unwrap(), 1, "{:?}", d.get_str("_id"));
    }
    assert!(
        ws.collection("article_revisions").await.is_empty(),
        "orphan revisions"
    );
}

fn assert_files_disposed_once(ws: &Workspace) {
    let done = ws.files("done");
    let unique: BTreeSet<&String> = done.iter().collect();
    assert_eq!(done.len() as u64, GOOD, "every good file in done/ once");
    assert_eq!(unique.len(), done.len());
    assert!(done.iter().all(|n| n.starts_with("content_")));
    let quarantine = ws.files("quarantine");
    let files: Vec<&String> = quarantine
        .iter()
        .filter(|n| !n.ends_with(".error.json"))
        .collect();
    let reports = quarantine.len() - files.len();
    assert_eq!(
        files.len(),
        BAD,
        "every bad file in quarantine/ once: {quarantine:?}"
    );
    assert_eq!(reports, BAD);
    assert!(ws.files("processing").is_empty(), "nothing left claimed");
    assert!(ws.files("inbox").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_killed_at_random_moments_loses_and_duplicates_nothing() {
    let ws = Workspace::with(
        "crash_once",
        Options {
            batch_size: 10,
            writers: 1,
            ..Options::default()
        },
    );
    let expected = make_inputs(&ws.inbox, false);
    let killed = kill_repeatedly(
        12,
        0xC0FFEE,
        || ws.std_cmd().args(["-q", "run", "--once"]).spawn().unwrap(),
        || ws.files("inbox").is_empty() && ws.files("processing").is_empty(),
    );
    assert!(killed >= 10, "only {killed} kills landed");
    ws.cmd().args(["-q", "run", "--once"]).assert().success();
    assert_files_disposed_once(&ws);
    assert_database(&ws, &expected).await;
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_killed_at_random_moments_loses_and_duplicates_nothing() {
    let ws = Workspace::with(
        "crash_daemon",
        Options {
            batch_size: 50,
            settle_ms: 200,
            rescan_interval_ms: 500,
            ..Options::default()
        },
    );
    let expected = make_inputs(&ws.inbox, false);
    let log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(ws.dir.path().join("daemon.log"))
            .unwrap()
    };
    let killed = kill_repeatedly(
        10,
        0xBADC0DE,
        || {
            ws.std_cmd()
                .args(["-q", "daemon"])
                .stdout(log())
                .stderr(log())
                .spawn()
                .unwrap()
        },
        || false,
    );
    assert!(killed >= 10);
    let mut daemon = ws.start_daemon();
    assert!(
        wait_for(Duration::from_secs(120), || ws.files("done").len() as u64
            == GOOD
            && ws.files("quarantine").len() == 2 * BAD),
        "{}",
        ws.daemon_log()
    );
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
    assert_files_disposed_once(&ws);
    assert_database(&ws, &expected).await;
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_killed_at_random_moments_touches_no_file_and_loads_everything() {
    let ws = Workspace::with(
        "crash_backfill",
        Options {
            batch_size: 10,
            writers: 1,
            ..Options::default()
        },
    );
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("tree");
    let expected = make_inputs(&tree, true);
    let before = snapshot(&tree);
    let report = ws.dir.path().join("report.jsonl");
    let killed = kill_repeatedly(
        10,
        0xFEED,
        || {
            ws.std_cmd()
                .args(["-q", "backfill", "--report"])
                .arg(&report)
                .arg(&tree)
                .spawn()
                .unwrap()
        },
        || false,
    );
    assert!(killed >= 10);
    ws.cmd()
        .args(["-q", "backfill", "--report"])
        .arg(&report)
        .arg(&tree)
        .assert()
        .success();
    let after = snapshot(&tree);
    assert!(before == after, "the tree changed");
    assert_database(&ws, &expected).await;
    ws.cleanup().await;
}
