//! `replay` (issue 18): quarantined files of an inbox pipeline back through it, chosen by
//! code; each earlier report archived beside the file's new outcome; those that fail again
//! quarantined again with a fresh report. Killed with SIGKILL at random moments, a replay
//! started again loses no file and loads none twice.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use mongodb::bson::Document;

const HEAD: &str =
    "2024年05月20日\n\n城西街道:\n\n老旧小区改造 居民笑开颜\n\n□ 本报记者 周海燕\n\n";
const BODY: &str = "今年以来,城西街道完成老旧小区改造12个,惠及居民3200余户。\n\n走进幸福里小区,外墙粉刷一新,绿化带错落有致。\n\n";
const TRAILER: &str = "--> 2024-05-20 □ 本报记者 周海燕 城西街道: 1 1 测试日报 content_5566.html 1 老旧小区改造 居民笑开颜 /enpproperty-->\n";

/// A file without a trailer or an id in its name: `missing_content_id` under the default
/// rule, loaded under `on_missing_id = "content-hash"`.
fn no_id(i: u64) -> String {
    format!("{HEAD}{}", paragraphs(i, 2).join("\n\n"))
}

/// Switches the test pipeline to other rules, as an operator would before a replay.
fn set_pipeline(ws: &Workspace, from: &str, to: &str) {
    let path = ws.dir.path().join("pipelines/test-daily.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Puts a good file in quarantine by hand, with a report of `code`: what an earlier run left
/// for the codes a test cannot provoke (an I/O error, the server refusing a document).
fn quarantine_by_hand(ws: &Workspace, name: &str, code: &str, bytes: &str) {
    let q = ws.work.join("quarantine");
    std::fs::create_dir_all(&q).unwrap();
    std::fs::write(q.join(name), bytes).unwrap();
    let r = serde_json::json!({
        "file": name, "code": code, "message": "by hand", "line": null,
        "pipeline": "test-daily", "run_id": "earlier", "time": "2024-01-01T00:00:00Z",
    });
    std::fs::write(q.join(format!("{name}.error.json")), r.to_string()).unwrap();
}

/// Quarantined files (not reports) by name.
fn quarantined(ws: &Workspace) -> BTreeSet<String> {
    ws.files("quarantine")
        .into_iter()
        .filter(|n| !n.ends_with(".error.json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_takes_each_code_back_and_requarantines_what_fails_again() {
    let ws = Workspace::with(
        "replay_codes",
        Options {
            max_file_bytes: 4096,
            ..Options::default()
        },
    );
    let big = format!("{HEAD}{}{TRAILER}", "很长的段落。".repeat(400))
        .replace("content_5566", "content_6001");
    let inputs: [(&str, String); 8] = [
        ("empty.txt", String::new()),
        ("binary.txt", "a\u{0}b".to_owned()),
        ("big.txt", big),
        ("story.txt", no_id(1)),
        (
            "two.txt",
            format!("{HEAD}{BODY}{TRAILER}\n{HEAD}{BODY}{TRAILER}"),
        ),
        (
            "bad-trailer.txt",
            format!("{HEAD}{BODY}--> 2024-05-20 1 1 测试日报 1 老旧小区改造 /enpproperty-->\n"),
        ),
        ("only-trailer.txt", format!("\n\n{TRAILER}")),
        (
            "good.txt",
            format!("{HEAD}{BODY}{TRAILER}").replace("content_5566", "content_6002"),
        ),
    ];
    for (name, text) in &inputs {
        ws.drop_file(name, text);
    }
    let mut undecodable = format!("{HEAD}{BODY}{TRAILER}").into_bytes();
    undecodable.extend_from_slice(b"\xff\xfe\xfd\n");
    ws.drop_file("undecodable.txt", undecodable);
    ws.cmd().args(["run", "--once"]).assert().success();
    for (name, code) in [
        ("io.txt", "io"),
        ("huge.txt", "document_too_large"),
        ("refused.txt", "db_rejected"),
    ] {
        let id = 6100 + name.len() as u64;
        quarantine_by_hand(
            &ws,
            name,
            code,
            &article(id, "人工隔离的稿件", &paragraphs(id, 2)),
        );
    }
    let codes = [
        ("empty.txt", "empty"),
        ("binary.txt", "binary"),
        ("undecodable.txt", "undecodable"),
        ("big.txt", "too_large"),
        ("story.txt", "missing_content_id"),
        ("two.txt", "multiple_trailers"),
        ("bad-trailer.txt", "malformed_trailer"),
        ("only-trailer.txt", "no_body"),
        ("io.txt", "io"),
        ("huge.txt", "document_too_large"),
        ("refused.txt", "db_rejected"),
    ];
    for (name, code) in codes {
        let r = report(
            &ws.work
                .join("quarantine")
                .join(format!("{name}.error.json")),
        );
        assert_eq!(r["code"], code, "{name}: {r}");
    }

    // `status` counts them by code; a dry run lists them and changes nothing.
    let out = ws
        .cmd()
        .args(["--log-format", "json", "status"])
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.get_output().stdout).trim()).unwrap();
    for (_, code) in codes {
        assert_eq!(v["quarantine"]["test-daily"][code], 1, "{code}: {v}");
    }
    let before = snapshot(&ws.work);
    let out = ws
        .cmd()
        .args([
            "--log-format",
            "json",
            "replay",
            "--dry-run",
            "--code",
            "empty",
            "--code",
            "io",
        ])
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.get_output().stdout).trim()).unwrap();
    assert_eq!(
        v["by_code"],
        serde_json::json!({ "empty": 1, "io": 1 }),
        "{v}"
    );
    assert_eq!(snapshot(&ws.work), before, "a dry run changes nothing");

    // What the operator fixed: a larger size limit, ids from the content hash.
    set_pipeline(&ws, "max_file_bytes = 4096", "max_file_bytes = 1048576");
    set_pipeline(
        &ws,
        "on_missing_id = \"quarantine\"",
        "on_missing_id = \"content-hash\"",
    );
    let fixed = [
        "too_large",
        "missing_content_id",
        "io",
        "document_too_large",
        "db_rejected",
    ];
    for (name, code) in codes {
        let others: BTreeSet<String> = quarantined(&ws).into_iter().filter(|n| n != name).collect();
        ws.cmd().args(["replay", "--code", code]).assert().success();
        let run = ws.last_run().await;
        assert_eq!(run.get_str("mode").unwrap(), "replay");
        assert_eq!(count(&run, "seen"), 1, "{code}");
        let now: BTreeSet<String> = quarantined(&ws);
        let earlier = format!("{name}.replayed.error.json");
        if fixed.contains(&code) {
            assert_eq!(count(&run, "inserted"), 1, "{code}");
            assert_eq!(now, others, "{code}: only {name} left the quarantine");
            let done = ws.files("done");
            assert!(done.contains(&name.to_owned()), "{code}: {done:?}");
            assert!(
                done.contains(&earlier),
                "{code}: the report is archived beside it: {done:?}"
            );
        } else {
            assert_eq!(count(&run, "quarantined"), 1, "{code}");
            assert!(now.contains(name), "{code}: back in quarantine");
            let fresh = report(
                &ws.work
                    .join("quarantine")
                    .join(format!("{name}.error.json")),
            );
            assert_eq!(fresh["code"], code, "{code}");
            assert_eq!(
                fresh["run_id"],
                run.get_str("_id").unwrap(),
                "{code}: a fresh report"
            );
            let old = report(&ws.work.join("quarantine").join(&earlier));
            assert_eq!(
                old["code"], code,
                "{code}: the earlier report kept beside it"
            );
        }
    }
    let ids: BTreeSet<String> = ws
        .articles()
        .await
        .iter()
        .map(|d: &Document| d.get_str("_id").unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        6,
        "good, big, story and the three by hand: {ids:?}"
    );
    assert!(ws.files("processing").is_empty());
    assert!(ws.files("inbox").is_empty());
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_killed_at_random_moments_loses_and_duplicates_nothing() {
    const N: u64 = 2000;
    let ws = Workspace::with(
        "replay_crash",
        Options {
            batch_size: 100,
            ..Options::default()
        },
    );
    for i in 0..N {
        ws.drop_file(&format!("story-{i}.txt"), no_id(10_000 + i));
    }
    ws.cmd().args(["run", "--once"]).assert().success();
    assert_eq!(quarantined(&ws).len() as u64, N);
    set_pipeline(
        &ws,
        "on_missing_id = \"quarantine\"",
        "on_missing_id = \"content-hash\"",
    );

    let mut rng = fastrand::Rng::with_seed(18);
    let mut killed = 0;
    for _ in 0..40 {
        if killed >= 10 || quarantined(&ws).is_empty() {
            break;
        }
        let mut child = ws.std_cmd().args(["-q", "replay"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(20..500)));
        if child.try_wait().unwrap().is_none() {
            signal(&child, libc::SIGKILL);
            let _ = child.wait();
            killed += 1;
        }
    }
    // Then one that finishes.
    ws.cmd()
        .args(["replay"])
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    eprintln!("killed {killed} replays");
    assert!(
        killed >= 1,
        "no replay was killed while it ran: make the inputs larger"
    );

    let done: Vec<String> = ws
        .files("done")
        .into_iter()
        .filter(|n| !n.ends_with(".error.json"))
        .collect();
    let unique: BTreeSet<&String> = done.iter().collect();
    assert_eq!(done.len() as u64, N, "every file in done/ once: {done:?}");
    assert_eq!(unique.len(), done.len(), "no file twice");
    assert!(quarantined(&ws).is_empty(), "{:?}", quarantined(&ws));
    assert!(
        ws.files("processing").is_empty(),
        "{:?}",
        ws.files("processing")
    );
    // Every earlier report archived once, none left behind.
    let reports: Vec<String> = ws
        .files("done")
        .into_iter()
        .filter(|n| n.ends_with(".replayed.error.json"))
        .collect();
    assert_eq!(reports.len() as u64, N, "{reports:?}");
    assert!(
        ws.files("quarantine").is_empty(),
        "{:?}",
        ws.files("quarantine")
    );
    let docs = ws.articles().await;
    let ids: BTreeSet<&str> = docs.iter().map(|d| d.get_str("_id").unwrap()).collect();
    assert_eq!(docs.len() as u64, N);
    assert_eq!(ids.len(), docs.len());
    assert!(ws.collection("article_revisions").await.is_empty());
    ws.cleanup().await;
}
