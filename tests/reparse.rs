//! Parser upgrades (issue 18): the raw bytes decide. The same bytes read again by a newer
//! parser are *reparsed*, replaced in place with no revision; a true correction still makes
//! one; an older parser never downgrades a document; `backfill --reparse` reads again only
//! what an older parser wrote, `--reparse=all` everything (resumable), `--retry-quarantined`
//! what was quarantined. Two parser versions come from one binary through the test-only
//! `ARTICLE_ETL_TEST_PARSER_VERSION`.

mod common;

use std::path::Path;

use article_etl::document::{PARSER_VERSION, TEST_PARSER_VERSION_ENV};
use common::*;
use mongodb::bson::{doc, Bson, Document};

/// A parser generation older than this build's.
const OLD: &str = "article-etl/0.0.1+p1";
const APIS: [&str; 2] = ["bulk-write", "legacy"];

fn ws_for(test: &str, api: &'static str) -> Workspace {
    Workspace::with(
        test,
        Options {
            write_api: api,
            ..Options::default()
        },
    )
}

fn by_id(docs: &[Document]) -> std::collections::BTreeMap<String, Document> {
    docs.iter()
        .map(|d| (d.get_str("_id").unwrap().to_owned(), d.clone()))
        .collect()
}

fn version(d: &Document) -> &str {
    d.get_document("ingest")
        .unwrap()
        .get_str("parser_version")
        .unwrap()
}

/// The files of `done/` put back in the inbox, byte for byte.
fn redrop_done(ws: &Workspace) {
    for e in walkdir::WalkDir::new(ws.work.join("done"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        let name = e.file_name().to_string_lossy().into_owned();
        ws.drop_file(&name, std::fs::read(e.path()).unwrap());
        std::fs::remove_file(e.path()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_reparses_in_place_and_a_correction_still_makes_a_revision() {
    for api in APIS {
        let ws = ws_for("reparse_inbox", api);
        fill_inbox(&ws, 3000, 5);
        ws.cmd()
            .env(TEST_PARSER_VERSION_ENV, OLD)
            .args(["run", "--once"])
            .assert()
            .success();
        assert_eq!(count(&ws.last_run().await, "inserted"), 5, "{api}");
        // What the old parser read differently from the same bytes: a headline, so a content
        // hash, that the new parser no longer reads.
        let db = ws.database().await;
        let articles = db.collection::<Document>("articles");
        articles
            .update_one(
                doc! { "_id": "test-daily:3000" },
                doc! { "$set": { "headline": "旧解析器读错的标题", "content_hash": "sha256:old-reading" } },
            )
            .await
            .unwrap();
        let before = by_id(&ws.articles().await);

        // The upgrade: the same bytes, the current parser.
        redrop_done(&ws);
        let out = ws.cmd().args(["run", "--once"]).assert().success();
        let summary = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        let run = ws.last_run().await;
        assert_eq!(
            (
                count(&run, "reparsed"),
                count(&run, "inserted"),
                count(&run, "updated"),
                count(&run, "unchanged")
            ),
            (5, 0, 0, 0),
            "{api}: {summary}"
        );
        assert!(
            summary
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["reparsed", "5"]),
            "{api}: the summary counts reparsed files: {summary}"
        );
        let after = by_id(&ws.articles().await);
        for (id, d) in &after {
            let old = &before[id];
            assert_eq!(
                d.get_i32("revision").unwrap(),
                1,
                "{api} {id}: same revision"
            );
            assert_eq!(
                d.get("first_seen_at"),
                old.get("first_seen_at"),
                "{api} {id}"
            );
            assert_ne!(
                d.get("updated_at"),
                old.get("updated_at"),
                "{api} {id}: rewritten"
            );
            assert_eq!(version(d), PARSER_VERSION, "{api} {id}");
        }
        assert_eq!(
            after["test-daily:3000"].get_str("headline").unwrap(),
            "测试新闻第3000号稿件",
            "{api}: the new reading replaced the old one"
        );
        assert!(
            ws.collection("article_revisions").await.is_empty(),
            "{api}: a reparse keeps no revision"
        );

        // Again: up to date, nothing written.
        redrop_done(&ws);
        ws.cmd().args(["run", "--once"]).assert().success();
        assert_eq!(count(&ws.last_run().await, "unchanged"), 5, "{api}");
        assert_eq!(by_id(&ws.articles().await), after, "{api}");

        // An older binary after the newer one: never a downgrade.
        redrop_done(&ws);
        ws.cmd()
            .env(TEST_PARSER_VERSION_ENV, OLD)
            .args(["run", "--once"])
            .assert()
            .success();
        let run = ws.last_run().await;
        assert_eq!(
            (count(&run, "unchanged"), count(&run, "reparsed")),
            (5, 0),
            "{api}"
        );
        assert_eq!(by_id(&ws.articles().await), after, "{api}");

        // A true correction (other bytes, other text): a revision, as before.
        let mut corrected = paragraphs(3001, 3);
        corrected[0] = "更正:本文第一段的数字有误。".to_owned();
        ws.drop_file(
            "content_3001.txt",
            article(3001, "测试新闻第3001号稿件", &corrected),
        );
        ws.cmd().args(["run", "--once"]).assert().success();
        let run = ws.last_run().await;
        assert_eq!(
            (count(&run, "updated"), count(&run, "reparsed")),
            (1, 0),
            "{api}"
        );
        let d = ws
            .database()
            .await
            .collection::<Document>("articles")
            .find_one(doc! { "_id": "test-daily:3001" })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.get_i32("revision").unwrap(), 2, "{api}");
        let revisions = ws.collection("article_revisions").await;
        assert_eq!(revisions.len(), 1, "{api}");
        assert_eq!(revisions[0].get_str("_id").unwrap(), "test-daily:3001@1");

        // Other bytes with the same content (a CRLF re-export): no revision, nothing written.
        let crlf =
            article(3002, "测试新闻第3002号稿件", &paragraphs(3002, 3)).replace('\n', "\r\n");
        ws.drop_file("content_3002.txt", crlf);
        ws.cmd().args(["run", "--once"]).assert().success();
        let run = ws.last_run().await;
        assert_eq!(
            (
                count(&run, "unchanged"),
                count(&run, "updated"),
                count(&run, "reparsed")
            ),
            (1, 0, 0),
            "{api}"
        );
        ws.cleanup().await;
    }
}

fn make_tree(root: &Path, n: u64) {
    for i in 0..n {
        let id = 7000 + i;
        let dir = root.join(format!("{:02}", i % 4));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("content_{id}.txt")),
            article(id, &format!("回填测试第{id}号"), &paragraphs(id, 2)),
        )
        .unwrap();
    }
    // A correction of 7000, walked after it: the document is read from this file.
    let mut corrected = paragraphs(7000, 2);
    corrected[0] = "更正:第一段的日期有误。".to_owned();
    std::fs::write(
        root.join("03/z_correction.txt"),
        article(7000, "回填测试第7000号", &corrected),
    )
    .unwrap();
    std::fs::write(root.join("00/empty.txt"), "").unwrap();
    std::fs::write(root.join("01/binary.txt"), b"\x00\x01binary").unwrap();
}

fn backfill(ws: &Workspace, tree: &Path, extra: &[&str], parser: Option<&str>) -> Document {
    let mut cmd = ws.cmd();
    if let Some(v) = parser {
        cmd.env(TEST_PARSER_VERSION_ENV, v);
    }
    let out = cmd
        .args([
            "--log-format",
            "json",
            "backfill",
            "--pipeline",
            "test-daily",
        ])
        .args(extra)
        .arg(tree)
        .assert()
        .success();
    let line = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let c = &v["counts"];
    let n = |k: &str| c[k].as_i64().unwrap();
    doc! {
        "seen": n("seen"), "skipped": n("skipped"), "inserted": n("inserted"),
        "updated": n("updated"), "unchanged": n("unchanged"), "reparsed": n("reparsed"),
        "quarantined": n("quarantined"),
    }
}

fn counts(c: &Document) -> [i64; 6] {
    [
        "skipped",
        "inserted",
        "updated",
        "unchanged",
        "reparsed",
        "quarantined",
    ]
    .map(|k| c.get_i64(k).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_reparse_reads_again_only_what_an_older_parser_wrote() {
    let ws = Workspace::new("reparse_backfill");
    let tree_dir = tempfile::tempdir().unwrap();
    let tree = tree_dir.path().join("archive");
    make_tree(&tree, 24);
    let before_tree = snapshot(&tree);
    let revision = |id: &str| if id == "test-daily:7000" { 2 } else { 1 };

    // Counts: skipped, inserted, updated, unchanged, reparsed, quarantined.
    let first = backfill(&ws, &tree, &[], Some(OLD));
    assert_eq!(counts(&first), [0, 24, 1, 0, 0, 2]);
    let loaded = by_id(&ws.articles().await);
    // A plain second backfill after the upgrade reads nothing.
    assert_eq!(
        counts(&backfill(&ws, &tree, &[], None)),
        [27, 0, 0, 0, 0, 0]
    );
    // The reparse: every file a document was read from by an older parser, in place; the
    // quarantined ones, and the version the correction replaced, skipped.
    assert_eq!(
        counts(&backfill(&ws, &tree, &["--reparse"], None)),
        [3, 0, 0, 0, 24, 0]
    );
    let reparsed = by_id(&ws.articles().await);
    for (id, d) in &reparsed {
        assert_eq!(version(d), PARSER_VERSION, "{id}");
        assert_eq!(d.get_i32("revision").unwrap(), revision(id), "{id}");
        assert_eq!(d.get("first_seen_at"), loaded[id].get("first_seen_at"));
    }
    assert_eq!(
        ws.collection("article_revisions").await.len(),
        1,
        "only the correction's revision"
    );
    // Done: a second reparse (an interrupted one started again) finds nothing left.
    assert_eq!(
        counts(&backfill(&ws, &tree, &["--reparse=outdated"], None)),
        [27, 0, 0, 0, 0, 0]
    );
    // Quarantined files, and only those, read again.
    let mark = mongodb::bson::DateTime::now();
    assert_eq!(
        counts(&backfill(&ws, &tree, &["--retry-quarantined"], None)),
        [25, 0, 0, 0, 0, 2]
    );
    // `--reparse=all` resumed: a record says it began at `mark`, and the pages saved since
    // (the two quarantined files) are what it finished; the rest is read and rewritten.
    ws.database()
        .await
        .collection::<Document>("backfill_progress")
        .insert_one(
            doc! { "_id": "reparse-all:test-daily:all", "started_at": mark, "run_id": "interrupted" },
        )
        .await
        .unwrap();
    assert_eq!(
        counts(&backfill(&ws, &tree, &["--reparse=all"], None)),
        [3, 0, 0, 0, 24, 0]
    );
    assert!(
        ws.database()
            .await
            .collection::<Document>("backfill_progress")
            .find_one(doc! { "_id": "reparse-all:test-daily:all" })
            .await
            .unwrap()
            .is_none(),
        "a finished --reparse=all removes its record"
    );
    // A fresh one reads every file again, the quarantined ones too, but not the version the
    // correction replaced.
    assert_eq!(
        counts(&backfill(&ws, &tree, &["--reparse=all"], None)),
        [1, 0, 0, 0, 24, 2]
    );
    // An older binary's --reparse=all never downgrades.
    assert_eq!(
        counts(&backfill(&ws, &tree, &["--reparse=all"], Some(OLD))),
        [1, 0, 0, 24, 0, 2]
    );
    for d in ws.articles().await {
        let id = d.get_str("_id").unwrap();
        assert_eq!(version(&d), PARSER_VERSION);
        assert_eq!(d.get("revision"), Some(&Bson::Int32(revision(id))), "{id}");
    }
    assert_eq!(ws.collection("article_revisions").await.len(), 1);
    assert_eq!(snapshot(&tree), before_tree, "the tree is never changed");

    // `status` says which parser wrote how many documents.
    let out = ws
        .cmd()
        .args(["--log-format", "json", "status"])
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.get_output().stdout).trim()).unwrap();
    assert_eq!(
        v["parser_versions"],
        serde_json::json!([{ "version": PARSER_VERSION, "articles": 24 }]),
        "{v}"
    );
    assert_eq!(v["outdated"], 0);
    ws.cleanup().await;
}

/// A reparse whose reply was lost after the server applied it (the connection dropped): the
/// retry meets its own write and counts it as the reparse it was, not as an insert (revision
/// 1 alone cannot tell) nor as unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_reply_to_a_reparse_is_counted_as_reparsed() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start(storage.path());
    for api in APIS {
        let proxy = common::proxy::Proxy::start(server.addr());
        let ws = Workspace::with(
            "lost_reparse",
            Options {
                uri: Some(proxy.uri()),
                write_api: api,
                batch_size: 50,
                retry_budget_ms: 60_000,
                ..Options::default()
            },
        );
        fill_inbox(&ws, 90_000, 100);
        ws.cmd()
            .env(TEST_PARSER_VERSION_ENV, OLD)
            .args(["run", "--once"])
            .assert()
            .success();
        assert_eq!(count(&ws.last_run().await, "inserted"), 100, "{api}");
        redrop_done(&ws);
        // The replaces of whole batches: an `update` command, or `bulkWrite` update operations.
        proxy.drop_replies_to(20_000, b"update\0", 2);
        ws.cmd().args(["run", "--once"]).assert().success();
        assert_eq!(proxy.drops(), 2, "{api}: the replies were not dropped");
        let run = ws.last_run().await;
        assert_eq!(
            (
                count(&run, "reparsed"),
                count(&run, "inserted"),
                count(&run, "updated"),
                count(&run, "unchanged")
            ),
            (100, 0, 0, 0),
            "{api}: {run}"
        );
        let docs = ws.articles().await;
        assert_eq!(docs.len(), 100);
        for d in &docs {
            assert_eq!(d.get_i32("revision").unwrap(), 1, "{api}");
            assert_eq!(version(d), PARSER_VERSION, "{api}");
        }
        assert!(ws.collection("article_revisions").await.is_empty(), "{api}");
        ws.cleanup().await;
    }
}
