//! `backfill` through the real binary against a real server: archive trees are loaded in
//! place and never touched, runs resume without parsing finished files again, shards split
//! the work without overlap, and a dry run writes nothing.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use mongodb::bson::Document;

/// Writes `n` articles into `root/YYYY/MM/DD/`, plus `bad` broken files among them; returns
/// the number of good articles.
fn make_tree(root: &Path, n: u64, bad: u64) -> u64 {
    for i in 0..n {
        let dir = root.join(format!(
            "{}/{:02}/{:02}",
            2004 + i % 5,
            1 + i % 12,
            1 + i % 28
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let id = 100_000 + i;
        std::fs::write(
            dir.join(format!("content_{id}.txt")),
            article(id, &format!("档案稿件第{id}号"), &paragraphs(id, 2)),
        )
        .unwrap();
    }
    for b in 0..bad {
        let dir = root.join(format!("{}/bad", 2004 + b % 5));
        std::fs::create_dir_all(&dir).unwrap();
        match b % 3 {
            0 => std::fs::write(dir.join(format!("empty{b}.txt")), "").unwrap(),
            1 => std::fs::write(dir.join(format!("binary{b}.txt")), b"\x00\x01\x02binary").unwrap(),
            _ => std::fs::write(
                dir.join(format!("no-id{b}.txt")),
                "标题\n\n没有编号的正文。\n",
            )
            .unwrap(),
        }
    }
    // Not articles: never taken.
    std::fs::write(root.join("README.md"), "archive notes").unwrap();
    n
}

fn backfill(ws: &Workspace, tree: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    ws.cmd().arg("backfill").args(extra).arg(tree).assert()
}

async fn runs_of_mode(ws: &Workspace, mode: &str) -> Vec<Document> {
    let mut runs: Vec<Document> = ws
        .collection("ingest_runs")
        .await
        .into_iter()
        .filter(|r| r.get_str("mode") == Ok(mode))
        .collect();
    runs.sort_by_key(|r| {
        r.get_datetime("started_at")
            .map(|d| d.timestamp_millis())
            .unwrap_or(0)
    });
    runs
}

async fn stored_hashes(ws: &Workspace) -> BTreeSet<(String, String)> {
    ws.articles()
        .await
        .into_iter()
        .map(|d| {
            (
                d.get_str("_id").unwrap().to_owned(),
                d.get_str("content_hash").unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tree_is_loaded_in_place_and_left_byte_for_byte_unchanged() {
    let ws = Workspace::new("backfill_tree");
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("laibin");
    let good = make_tree(&tree, 2000, 12);
    let before = snapshot(&tree);
    let report = ws.dir.path().join("report.jsonl");

    backfill(&ws, &tree, &["--report", report.to_str().unwrap()]).success();

    assert_eq!(snapshot(&tree), before, "the tree was modified");
    let docs = ws.articles().await;
    assert_eq!(docs.len() as u64, good);
    let d = docs
        .iter()
        .find(|d| d.get_str("_id") == Ok("test-daily:100007"))
        .unwrap();
    assert_eq!(d.get_str("headline").unwrap(), "档案稿件第100007号");
    assert_eq!(
        d.get_document("ingest").unwrap().get_str("mode").unwrap(),
        "backfill"
    );
    // Named by its key: the root's name and the path below it.
    assert_eq!(
        d.get_document("source_file")
            .unwrap()
            .get_str("path")
            .unwrap(),
        "laibin/2006/08/08/content_100007.txt"
    );

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12, "every bad file is reported");
    let codes: BTreeSet<&str> = lines.iter().map(|l| l["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        BTreeSet::from(["binary", "empty", "missing_content_id"])
    );
    for l in &lines {
        assert!(l["path"].as_str().unwrap().contains("/bad/"));
        assert!(l["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(l.get("line").is_some());
    }
    let run = runs_of_mode(&ws, "backfill").await.remove(0);
    assert_eq!(count(&run, "seen"), 2012);
    assert_eq!(count(&run, "inserted"), 2000);
    assert_eq!(count(&run, "quarantined"), 12);
    assert_eq!(run.get_str("status").unwrap(), "ok");
    assert_eq!(
        run.get_str("report_file").unwrap(),
        report.to_str().unwrap()
    );
    assert!(run.get_document("warnings").is_ok());
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_backfill_resumes_without_parsing_finished_files() {
    let ws = Workspace::with(
        "backfill_resume",
        Options {
            batch_size: 20,
            writers: 1,
            ..Options::default()
        },
    );
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("laibin");
    let total = make_tree(&tree, 2000, 0);

    let mut child = ws.std_cmd().arg("backfill").arg(&tree).spawn().unwrap();
    let db = ws.database().await;
    let progress = db.collection::<Document>("backfill_progress");
    let mut done = 0;
    for _ in 0..600 {
        done = recorded_files(&progress).await;
        if done >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done >= 300, "the backfill did not start");
    signal(&child, libc::SIGINT);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), Some(0));
    let first = runs_of_mode(&ws, "backfill").await.remove(0);
    assert_eq!(first.get_str("status").unwrap(), "interrupted");
    let finished_first = count(&first, "inserted");
    assert!(
        finished_first > 0 && (finished_first as u64) < total,
        "interrupted half-way: {finished_first}"
    );

    backfill(&ws, &tree, &[]).success();
    let second = runs_of_mode(&ws, "backfill").await.remove(1);
    assert!(
        count(&second, "skipped") >= finished_first,
        "finished files are skipped"
    );
    assert_eq!(
        count(&second, "parsed") + count(&second, "skipped"),
        total as i64,
        "nothing parsed twice"
    );
    assert_eq!(
        count(&second, "unchanged"),
        0,
        "no finished file was written again"
    );

    // The same final state as one uninterrupted run.
    let reference = Workspace::new("backfill_reference");
    backfill(&reference, &tree, &[]).success();
    assert_eq!(stored_hashes(&ws).await, stored_hashes(&reference).await);

    // A third run over the loaded tree parses nothing.
    backfill(&ws, &tree, &[]).success();
    let third = runs_of_mode(&ws, "backfill").await.remove(2);
    assert_eq!(count(&third, "parsed"), 0);
    assert_eq!(count(&third, "skipped"), total as i64);
    ws.cleanup().await;
    reference.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_shards_at_once_load_exactly_the_whole_tree() {
    let ws = Workspace::new("backfill_shards");
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("laibin");
    let total = make_tree(&tree, 1500, 0);
    let mut a = ws
        .std_cmd()
        .args(["backfill", "--shard", "0/2"])
        .arg(&tree)
        .spawn()
        .unwrap();
    let mut b = ws
        .std_cmd()
        .args(["backfill", "--shard", "1/2"])
        .arg(&tree)
        .spawn()
        .unwrap();
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let runs = runs_of_mode(&ws, "backfill").await;
    assert_eq!(runs.len(), 2);
    let seen: Vec<i64> = runs.iter().map(|r| count(r, "seen")).collect();
    assert!(
        seen.iter().all(|&s| s > 0),
        "both shards took files: {seen:?}"
    );
    assert_eq!(
        seen.iter().sum::<i64>(),
        total as i64,
        "no overlap, nothing missed"
    );
    let inserted: i64 = runs.iter().map(|r| count(r, "inserted")).sum();
    assert_eq!(inserted, total as i64);
    assert_eq!(ws.articles().await.len() as u64, total);
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_writes_nothing() {
    let ws = Workspace::new("backfill_dry");
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("laibin");
    make_tree(&tree, 200, 3);
    let before = snapshot(&tree);
    let report = ws.dir.path().join("dry.jsonl");
    let out = ws
        .cmd()
        .args(["--log-format", "json", "backfill", "--dry-run", "--report"])
        .arg(&report)
        .arg(&tree)
        .output()
        .unwrap();
    assert!(out.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["files"], 203);
    assert_eq!(summary["ok"], 200);
    assert_eq!(summary["quarantined"], 3);
    assert_eq!(std::fs::read_to_string(&report).unwrap().lines().count(), 3);
    assert_eq!(snapshot(&tree), before);
    let db = ws.database().await;
    let names = db.list_collection_names().await.unwrap();
    assert!(names.is_empty(), "a dry run created {names:?}");
}

#[test]
fn the_report_may_not_be_written_inside_the_tree() {
    let ws = Workspace::new("backfill_report_inside");
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("laibin");
    make_tree(&tree, 3, 0);
    let before = snapshot(&tree);
    ws.cmd()
        .args(["backfill", "--dry-run", "--report"])
        .arg(tree.join("report.jsonl"))
        .arg(&tree)
        .assert()
        .code(2);
    assert_eq!(snapshot(&tree), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_file_is_read_again_and_the_rest_skipped() {
    let ws = Workspace::new("backfill_changed");
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("laibin");
    let total = make_tree(&tree, 50, 0) as i64;
    backfill(&ws, &tree, &[]).success();

    // One article corrected in place (new content, new mtime).
    let path = tree.join("2004/01/01/content_100000.txt");
    let mut corrected = paragraphs(100_000, 2);
    corrected[0] = "更正后的第一段。".to_owned();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&path, article(100_000, "档案稿件第100000号", &corrected)).unwrap();

    backfill(&ws, &tree, &[]).success();
    let second = runs_of_mode(&ws, "backfill").await.remove(1);
    assert_eq!(count(&second, "parsed"), 1, "only the changed file is read");
    assert_eq!(count(&second, "skipped"), total - 1);
    assert_eq!(count(&second, "updated"), 1);
    let doc = ws
        .articles()
        .await
        .into_iter()
        .find(|d| d.get_str("_id") == Ok("test-daily:100000"))
        .unwrap();
    assert_eq!(doc.get_i32("revision").unwrap(), 2);
    assert!(doc.get_str("text").unwrap().starts_with("更正后的第一段。"));

    // Its progress was rewritten: a third run skips everything.
    backfill(&ws, &tree, &[]).success();
    let third = runs_of_mode(&ws, "backfill").await.remove(2);
    assert_eq!(count(&third, "parsed"), 0);
    assert_eq!(count(&third, "skipped"), total);
    ws.cleanup().await;
}

/// Two shards one after the other, then a run without shards: it finds every file done, though
/// each directory's progress records were written by two different shards.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_after_two_shards_skips_every_file() {
    let ws = Workspace::new("backfill_after_shards");
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("laibin");
    let total = make_tree(&tree, 400, 3);
    for shard in ["0/2", "1/2"] {
        backfill(&ws, &tree, &["--shard", shard]).success();
    }
    backfill(&ws, &tree, &[]).success();
    let runs = runs_of_mode(&ws, "backfill").await;
    let last = runs.last().unwrap();
    assert_eq!(count(last, "seen"), total as i64 + 3);
    assert_eq!(count(last, "skipped"), total as i64 + 3);
    assert_eq!(count(last, "parsed"), 0);
    ws.cleanup().await;
}

/// How many files the progress pages record.
async fn recorded_files(progress: &mongodb::Collection<Document>) -> usize {
    use futures::TryStreamExt;
    let Ok(cursor) = progress.find(mongodb::bson::doc! {}).await else {
        return 0;
    };
    let pages: Vec<Document> = cursor.try_collect().await.unwrap_or_default();
    pages
        .iter()
        .filter_map(|p| p.get_array("files").ok())
        .map(Vec::len)
        .sum()
}

/// Progress pages: a lookup by directory streams every entry of that directory's pages (of
/// this pipeline), each version of a file read more than once, and nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn progress_lookups_return_exactly_the_directories_asked_for() {
    use article_etl::load::{Loader, ProgressEntry, ProgressPage, WriteApi};
    use mongodb::bson::DateTime;
    use std::collections::HashSet;

    let db = unique_db("progress_lookup");
    let uri = server_uri();
    let loader = Loader::connect(
        &uri,
        &db,
        "articles",
        WriteApi::Auto,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    loader.ensure_indexes().await.unwrap();
    let dir = |i: i64| format!("r/{:03}", i / 7);
    let name = |i: i64| format!("{i:05}.txt");
    let at = DateTime::now();
    let page = |id: &str, pipeline: &str, i: i64, size: i64| {
        let mut p = ProgressPage::new(id, pipeline, &dir(i), "run", at);
        p.push(&ProgressEntry {
            name: &name(i),
            size,
            mtime: Some(DateTime::from_millis(i * 1000)),
            sha256: None,
            outcome: "inserted",
            code: None,
            article_id: None,
        });
        p.finish().unwrap()
    };
    // Directories of seven files, every third file missing, the pages cut across directories
    // as batches would be; file 7 was read a second time after it grew.
    let mut pages = Vec::new();
    for i in (0..1400).filter(|i| i % 3 != 0) {
        pages.push(page(&format!("run:{i}"), "p", i, i));
    }
    pages.push(page("run:x", "p", 7, 7_000));
    pages.push(page("other:0", "q", 3, 3));
    loader.save_progress(&pages).await.unwrap();
    // Saving pages again (a retry after a lost reply) is harmless.
    loader.save_progress(&pages[..2]).await.unwrap();

    // 120 directories asked: more than one query's worth.
    let asked: Vec<String> = (0..120).rev().map(|d| dir(d * 7)).collect();
    let mut found = HashSet::new();
    loader
        .lookup_progress("p", &asked, |d, n, size, mtime| {
            assert!(
                found.insert((d.to_owned(), n.to_owned(), size, mtime)),
                "{d}/{n} twice"
            );
        })
        .await
        .unwrap();
    let mut expected: HashSet<_> = (0..840)
        .filter(|i| i % 3 != 0)
        .map(|i| (dir(i), name(i), i, i * 1000))
        .collect();
    expected.insert((dir(7), name(7), 7_000, 7_000));
    assert_eq!(found, expected);

    let mut none = 0;
    loader
        .lookup_progress("p", &[], |_, _, _, _| none += 1)
        .await
        .unwrap();
    loader
        .lookup_progress("p", &["r/999".to_owned()], |_, _, _, _| none += 1)
        .await
        .unwrap();
    assert_eq!(none, 0);
    let mut other = Vec::new();
    loader
        .lookup_progress("q", &[dir(0), dir(7)], |d, n, _, _| {
            other.push(format!("{d}/{n}"))
        })
        .await
        .unwrap();
    assert_eq!(
        other,
        vec![format!("{}/{}", dir(3), name(3))],
        "another pipeline's pages"
    );
    mongodb::Client::with_uri_str(&uri)
        .await
        .unwrap()
        .database(&db)
        .drop()
        .await
        .unwrap();
}

/// A flat directory written in batches bigger than a page: its progress is split into pages of
/// `PAGE_FILES`, and a second run skips every file.
#[tokio::test(flavor = "multi_thread")]
async fn a_big_batch_of_one_directory_is_recorded_in_several_pages() {
    use article_etl::load::PAGE_FILES;
    let ws = Workspace::with(
        "backfill_pages",
        Options {
            batch_size: 1_500,
            // Long enough for the whole directory to make one batch.
            batch_linger_ms: 10_000,
            writers: 1,
            ..Options::default()
        },
    );
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("flat");
    std::fs::create_dir_all(&tree).unwrap();
    let total = PAGE_FILES as u64 + 200;
    for i in 0..total {
        let id = 300_000 + i;
        std::fs::write(
            tree.join(format!("content_{id}.txt")),
            article(id, &format!("平铺目录稿件{id}"), &paragraphs(id, 1)),
        )
        .unwrap();
    }
    backfill(&ws, &tree, &[]).success();
    let pages = ws.collection("backfill_progress").await;
    let mut sizes: Vec<usize> = pages
        .iter()
        .map(|p| {
            assert_eq!(p.get_str("dir").unwrap(), "flat");
            p.get_array("files").unwrap().len()
        })
        .collect();
    sizes.sort_unstable();
    assert_eq!(
        sizes.iter().sum::<usize>() as u64,
        total,
        "every file recorded once"
    );
    assert!(sizes.iter().all(|&n| n <= PAGE_FILES), "{sizes:?}");
    assert_eq!(sizes, vec![200, PAGE_FILES], "one batch, two pages");

    backfill(&ws, &tree, &[]).success();
    let runs = runs_of_mode(&ws, "backfill").await;
    assert_eq!(count(&runs[1], "skipped"), total as i64);
    assert_eq!(count(&runs[1], "parsed"), 0);
    ws.cleanup().await;
}
