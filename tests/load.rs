//! `run --once` against a real server: dedup, revisions, the file life cycle, concurrency,
//! outages. Every test has its own database and workspace; the write-path tests run on both
//! the `bulkWrite` path (MongoDB 8.0+) and the legacy `insert` + `update` path (6.0/7.0).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use mongodb::bson::{doc, Bson, Document};

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

#[tokio::test(flavor = "multi_thread")]
async fn first_load_inserts_and_a_second_run_writes_nothing() {
    for api in APIS {
        let ws = ws_for("second_run", api);
        fill_inbox(&ws, 1000, 5);
        ws.cmd().args(["run", "--once"]).assert().success();
        let run = ws.last_run().await;
        assert_eq!(count(&run, "inserted"), 5, "{api}");
        assert_eq!(ws.files("done").len(), 5);
        assert!(ws.files("inbox").is_empty() && ws.files("processing").is_empty());
        let first = ws.articles().await;
        assert_eq!(first.len(), 5);
        for d in &first {
            assert_eq!(d.get_i32("revision").unwrap(), 1);
            assert!(matches!(d.get("first_seen_at"), Some(Bson::DateTime(_))));
        }

        // The same files again: nothing in `articles` changes, not even updated_at.
        fill_inbox(&ws, 1000, 5);
        ws.cmd().args(["run", "--once"]).assert().success();
        let run = ws.last_run().await;
        assert_eq!(count(&run, "unchanged"), 5, "{api}");
        assert_eq!(count(&run, "inserted"), 0);
        assert_eq!(
            ws.articles().await,
            first,
            "{api}: a re-run changed stored documents"
        );
        assert!(ws.collection("article_revisions").await.is_empty());
        // Both copies are archived, none overwritten.
        assert_eq!(ws.files("done").len(), 10);
        ws.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrected_file_becomes_revision_2_and_the_old_version_is_kept() {
    for api in APIS {
        let ws = ws_for("correction", api);
        let v1 = article(2001, "城区道路改造完工", &paragraphs(1, 3));
        let mut corrected = paragraphs(1, 3);
        corrected[1] = "更正:改造工程于三月四日全部完工。".to_owned();
        let v2 = article(2001, "城区道路改造完工", &corrected);
        ws.drop_file("content_2001.txt", &v1);
        ws.cmd().args(["run", "--once"]).assert().success();
        let before = ws.articles().await.remove(0);

        ws.drop_file("content_2001.txt", &v2);
        ws.cmd().args(["run", "--once"]).assert().success();
        assert_eq!(count(&ws.last_run().await, "updated"), 1, "{api}");
        let after = ws.articles().await.remove(0);
        assert_eq!(after.get_i32("revision").unwrap(), 2);
        assert_ne!(
            after.get_str("content_hash"),
            before.get_str("content_hash")
        );
        assert!(after.get_str("text").unwrap().contains("更正"));
        assert_eq!(after.get("first_seen_at"), before.get("first_seen_at"));

        let revisions = ws.collection("article_revisions").await;
        assert_eq!(revisions.len(), 1, "{api}");
        let old = &revisions[0];
        assert_eq!(old.get_str("article_id").unwrap(), "test-daily:2001");
        assert_eq!(old.get_i32("revision").unwrap(), 1);
        assert_eq!(old.get_str("content_hash"), before.get_str("content_hash"));
        assert_eq!(old.get_str("text"), before.get_str("text"));
        ws.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_id_twice_in_one_batch_and_identical_copies() {
    for api in APIS {
        let ws = ws_for("same_batch", api);
        // Two versions of one article in one batch: one insert, one update, no lost version.
        ws.drop_file("a.txt", article(3001, "同批两版", &paragraphs(10, 2)));
        ws.drop_file("b.txt", article(3001, "同批两版", &paragraphs(11, 2)));
        // Three byte-identical copies under other names.
        let same = article(3002, "三份相同", &paragraphs(12, 2));
        for name in ["x.txt", "y.txt", "z.txt"] {
            ws.drop_file(name, &same);
        }
        ws.cmd().args(["run", "--once"]).assert().success();
        let run = ws.last_run().await;
        assert_eq!(count(&run, "inserted"), 2, "{api}");
        assert_eq!(count(&run, "updated"), 1, "{api}");
        assert_eq!(count(&run, "unchanged"), 2, "{api}");
        let docs = ws.articles().await;
        assert_eq!(docs.len(), 2);
        let twice = &docs[0];
        assert_eq!(twice.get_str("_id").unwrap(), "test-daily:3001");
        assert_eq!(twice.get_i32("revision").unwrap(), 2);
        let revisions = ws.collection("article_revisions").await;
        assert_eq!(revisions.len(), 1);
        let hashes: HashSet<&str> = [
            twice.get_str("content_hash").unwrap(),
            revisions[0].get_str("content_hash").unwrap(),
        ]
        .into();
        assert_eq!(hashes.len(), 2, "both versions are kept");
        assert_eq!(docs[1].get_i32("revision").unwrap(), 1);
        assert_eq!(ws.files("done").len(), 5);
        ws.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_on_one_inbox_process_every_file_once() {
    let ws = Workspace::with(
        "two_procs",
        Options {
            batch_size: 20,
            ..Options::default()
        },
    );
    fill_inbox(&ws, 10_000, 400);
    let mut a = ws
        .std_cmd()
        .args(["run", "--once"])
        .spawn()
        .expect("spawn a");
    let mut b = ws
        .std_cmd()
        .args(["run", "--once"])
        .spawn()
        .expect("spawn b");
    assert!(a.wait().expect("wait a").success());
    assert!(b.wait().expect("wait b").success());

    let runs = ws.collection("ingest_runs").await;
    assert_eq!(runs.len(), 2);
    let seen: i64 = runs.iter().map(|r| count(r, "seen")).sum();
    let inserted: i64 = runs.iter().map(|r| count(r, "inserted")).sum();
    assert_eq!(seen, 400, "every file claimed by exactly one process");
    assert_eq!(inserted, 400);
    assert_eq!(ws.articles().await.len(), 400);
    assert_eq!(ws.files("done").len(), 400);
    assert!(ws.files("inbox").is_empty());
    assert!(ws.files("processing").is_empty());
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mixed_inbox_gets_the_right_dispositions_and_reports() {
    let ws = Workspace::new("mixed");
    fill_inbox(&ws, 4000, 3);
    ws.drop_file("empty.txt", "");
    ws.drop_file("binary.txt", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    ws.drop_file(
        "no-id.txt",
        "2024年03月05日\n\n标题一则\n\n没有尾部也没有编号的正文。\n",
    );
    ws.drop_file(
        "notes.md",
        "not an article: excluded by the include pattern",
    );
    ws.cmd().args(["run", "--once"]).assert().success();

    assert_eq!(ws.files("done").len(), 3);
    assert_eq!(ws.files("inbox"), vec!["notes.md"]);
    assert_eq!(
        ws.files("quarantine"),
        vec![
            "binary.txt",
            "binary.txt.error.json",
            "empty.txt",
            "empty.txt.error.json",
            "no-id.txt",
            "no-id.txt.error.json",
        ]
    );
    for (name, code) in [
        ("empty.txt", "empty"),
        ("binary.txt", "binary"),
        ("no-id.txt", "missing_content_id"),
    ] {
        let report: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                ws.work
                    .join("quarantine")
                    .join(format!("{name}.error.json")),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(report["code"], code, "{name}");
        assert_eq!(report["file"], name);
        assert_eq!(report["pipeline"], "test-daily");
        assert!(report["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(report["time"].as_str().is_some());
        assert!(report.get("line").is_some());
    }
    let run = ws.last_run().await;
    assert_eq!(count(&run, "quarantined"), 3);
    assert_eq!(count(&run, "inserted"), 3);
    assert_eq!(run.get_str("status").unwrap(), "ok");
    ws.cleanup().await;
}

#[test]
fn an_unreachable_database_exits_3_and_touches_no_file() {
    let ws = Workspace::with(
        "unreachable",
        Options {
            uri: Some(format!(
                "mongodb://127.0.0.1:{}/?directConnection=true",
                free_port()
            )),
            server_selection_timeout_ms: 1000,
            ..Options::default()
        },
    );
    fill_inbox(&ws, 5000, 3);
    ws.cmd()
        .args(["run", "--once"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("cannot reach MongoDB"));
    assert_eq!(ws.files("inbox").len(), 3);
    assert!(ws.files("processing").is_empty());
}

#[test]
fn the_password_never_appears_in_output() {
    let port = free_port();
    let ws = Workspace::with(
        "password",
        Options {
            uri: Some(format!(
                "mongodb://etl:Hunter2-Sekrit@127.0.0.1:{port}/?directConnection=true"
            )),
            server_selection_timeout_ms: 500,
            ..Options::default()
        },
    );
    let out = ws.cmd().args(["-v", "run", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("Hunter2-Sekrit"), "password leaked: {all}");
    assert!(all.contains("etl:***@"), "the masked URI is shown: {all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_the_database_mid_run_exits_1_and_loses_no_file() {
    let storage = tempfile::tempdir().unwrap();
    let server = PrivateServer::start(storage.path());
    let ws = Workspace::with(
        "outage",
        Options {
            uri: Some(server.uri.clone()),
            batch_size: 10,
            writers: 1,
            retry_budget_ms: 2000,
            server_selection_timeout_ms: 500,
            ..Options::default()
        },
    );
    let total = 3000;
    fill_inbox(&ws, 20_000, total);
    let mut child = ws.std_cmd().args(["run", "--once"]).spawn().unwrap();
    assert!(
        wait_for(Duration::from_secs(60), || !ws.files("done").is_empty()),
        "no batch was written"
    );
    server.stop();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "giving up is exit 1");

    let done = ws.files("done");
    let inbox = ws.files("inbox");
    assert!(ws.files("processing").is_empty(), "nothing left claimed");
    assert!(ws.files("quarantine").is_empty());
    assert!(
        !inbox.is_empty(),
        "the unfinished files are back in the inbox"
    );
    let all: HashSet<String> = done.iter().chain(&inbox).cloned().collect();
    assert_eq!(
        all.len() as u64,
        total,
        "every file is in done/ or back in the inbox"
    );

    // Everything acknowledged before the outage is stored; a second run finishes the rest.
    server.restart();
    let stored = ws.articles().await.len();
    assert!(
        stored >= done.len(),
        "{stored} stored, {} archived",
        done.len()
    );
    ws.cmd().args(["run", "--once"]).assert().success();
    assert_eq!(ws.articles().await.len() as u64, total);
    assert_eq!(ws.files("done").len() as u64, total);
    assert!(ws.files("inbox").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_the_database_refuses_is_quarantined_alone() {
    let ws = Workspace::with(
        "too_large",
        Options {
            max_file_bytes: 64 * 1024 * 1024,
            ..Options::default()
        },
    );
    fill_inbox(&ws, 6000, 2);
    // ~9 MB of text: the document carries it twice (blocks and text), over 16 MB as BSON.
    let para = "大".repeat(3000) + "。";
    let huge: Vec<String> = (0..1000).map(|_| para.clone()).collect();
    ws.drop_file("content_6100.txt", article(6100, "超大稿件", &huge));
    ws.cmd().args(["run", "--once"]).assert().success();
    assert_eq!(ws.files("done").len(), 2, "the batch-mates are loaded");
    assert_eq!(
        ws.files("quarantine"),
        vec!["content_6100.txt", "content_6100.txt.error.json"]
    );
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.work.join("quarantine/content_6100.txt.error.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["code"], "document_too_large");
    assert_eq!(ws.articles().await.len(), 2);
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_load_delete_removes_the_files() {
    let ws = Workspace::with(
        "delete",
        Options {
            after_load: "delete",
            ..Options::default()
        },
    );
    fill_inbox(&ws, 7000, 3);
    ws.cmd().args(["run", "--once"]).assert().success();
    assert!(ws.files("done").is_empty());
    assert!(ws.files("processing").is_empty());
    assert!(ws.files("inbox").is_empty());
    assert_eq!(ws.articles().await.len(), 3);
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_left_in_processing_by_a_crash_are_taken_first() {
    let ws = Workspace::new("recovery");
    fill_inbox(&ws, 8000, 2);
    // A crashed run's claim: an owner id whose lock nobody holds.
    let processing = ws.work.join("processing");
    std::fs::create_dir_all(&processing).unwrap();
    std::fs::write(
        processing.join("00000000deadbeef__content_8100.txt"),
        article(8100, "崩溃前认领的稿件", &paragraphs(8100, 2)),
    )
    .unwrap();
    ws.cmd().args(["run", "--once"]).assert().success();
    assert_eq!(count(&ws.last_run().await, "inserted"), 3);
    assert!(ws.files("processing").is_empty());
    assert!(ws.files("done").contains(&"content_8100.txt".to_owned()));
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_sample_is_stored_field_by_field() {
    let Some(sample) = sample_path() else { return };
    let ws = Workspace::new("sample");
    // The sample's pipeline: source laibin-daily.
    std::fs::write(
        ws.dir.path().join("pipelines/test-daily.toml"),
        "name = \"laibin-daily\"\nsource = \"laibin-daily\"\npaper = \"来宾日报\"\ninbox = \"../inbox\"\nwork_dir = \"../work\"\n",
    )
    .unwrap();
    std::fs::copy(&sample, ws.inbox.join("000_322ca562a41e70a6.txt")).unwrap();
    ws.cmd().args(["run", "--once"]).assert().success();
    let run = ws.last_run().await;
    let docs = ws.articles().await;
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.get_str("_id").unwrap(), "laibin-daily:156059");
    assert_eq!(d.get_str("source").unwrap(), "laibin-daily");
    assert_eq!(d.get_str("content_id").unwrap(), "156059");
    assert_eq!(d.get_str("url").unwrap(), "content_156059.html");
    assert_eq!(d.get_str("paper").unwrap(), "来宾日报");
    assert_eq!(d.get_str("pub_date").unwrap(), "2024-01-02");
    let published = d.get_datetime("published_at").unwrap();
    assert_eq!(
        published.try_to_rfc3339_string().unwrap(),
        "2024-01-01T16:00:00Z"
    );
    assert_eq!(d.get("page"), Some(&Bson::Null));
    assert_eq!(d.get_str("kicker").unwrap(), "兴宾区:");
    assert_eq!(
        d.get_str("headline").unwrap(),
        "“四下基层”出实招 主题教育见实效"
    );
    assert_eq!(d.get("subtitle"), Some(&Bson::Null));
    assert_eq!(d.get_str("byline").unwrap(), "□ 韦素莹");
    assert_eq!(
        d.get_array("authors").unwrap(),
        &vec![Bson::Document(
            doc! { "name": "韦素莹", "role": Bson::Null }
        )]
    );
    let blocks = d.get_array("blocks").unwrap();
    assert_eq!(blocks.len(), 24);
    let headings: Vec<&str> = blocks
        .iter()
        .filter_map(Bson::as_document)
        .filter(|b| b.get_str("kind") == Ok("heading"))
        .map(|b| b.get_str("text").unwrap())
        .collect();
    assert_eq!(
        headings,
        [
            "当好政策“宣传员”",
            "党的声音“聚民力”",
            "当好基层“调研员”",
            "决策部署“顺民意”",
            "当好问题“化解员”",
            "群众工作“惠民生”",
            "当好群众“办事员”",
            "一线解题“暖民心”"
        ]
    );
    let text = d.get_str("text").unwrap();
    assert!(text.starts_with("2023年第二批主题教育开展以来"));
    assert_eq!(text.split('\n').count(), 24);
    let stats = d.get_document("stats").unwrap();
    assert_eq!(stats.get_i32("paragraphs").unwrap(), 16);
    assert_eq!(stats.get_i32("headings").unwrap(), 8);
    assert_eq!(stats.get_i64("chars").unwrap(), text.chars().count() as i64);
    let t = d.get_document("trailer").unwrap();
    assert_eq!(t.get_str("date").unwrap(), "2024-01-02");
    assert_eq!(t.get_str("slot").unwrap(), "□ 韦素莹 兴宾区:");
    assert_eq!(
        t.get_array("numbers_before_paper").unwrap(),
        &vec![Bson::Int64(1), Bson::Int64(1)]
    );
    assert_eq!(t.get_str("paper").unwrap(), "来宾日报");
    assert_eq!(t.get_str("url").unwrap(), "content_156059.html");
    assert_eq!(
        t.get_array("numbers_after_url").unwrap(),
        &vec![Bson::Int64(1)]
    );
    assert_eq!(
        t.get_str("headline").unwrap(),
        "“四下基层”出实招 主题教育见实效"
    );
    assert_eq!(t.get("article_id"), Some(&Bson::Null));
    assert!(t.get_str("raw").unwrap().ends_with("/enpproperty-->"));
    assert!(d.get_str("content_hash").unwrap().starts_with("sha256:"));
    assert_eq!(
        d.get_str("content_hash").unwrap().len(),
        "sha256:".len() + 64
    );
    assert_eq!(d.get_i32("revision").unwrap(), 1);
    assert!(matches!(d.get("first_seen_at"), Some(Bson::DateTime(_))));
    assert!(matches!(d.get("updated_at"), Some(Bson::DateTime(_))));
    let f = d.get_document("source_file").unwrap();
    assert_eq!(f.get_str("path").unwrap(), "000_322ca562a41e70a6.txt");
    assert_eq!(f.get_i64("size").unwrap(), 6264);
    assert_eq!(f.get_str("encoding").unwrap(), "utf-8");
    assert_eq!(f.get_str("sha256").unwrap().len(), 64);
    assert!(matches!(f.get("mtime"), Some(Bson::DateTime(_))));
    let ingest = d.get_document("ingest").unwrap();
    assert_eq!(
        ingest.get_str("run_id").unwrap(),
        run.get_str("_id").unwrap()
    );
    assert_eq!(ingest.get_str("pipeline").unwrap(), "laibin-daily");
    assert_eq!(ingest.get_str("mode").unwrap(), "run");
    assert!(ingest.get_str("parser_version").is_ok());
    assert_eq!(d.get_array("furniture").unwrap(), &Vec::<Bson>::new());
    assert_eq!(d.get_array("warnings").unwrap(), &Vec::<Bson>::new());
    ws.cleanup().await;
}

/// Two loaders writing different versions of the same ids at the same time: no lost revision,
/// no duplicate, no failed write, on both write paths.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_loaders_never_lose_a_revision() {
    use article_etl::load::{Loader, Prepared, WriteApi};
    use article_etl::transform::{transform, ParseOptions, RawFile};

    for api in [WriteApi::BulkWrite, WriteApi::Legacy] {
        let db = unique_db("concurrent");
        let uri = server_uri();
        let connect = || Loader::connect(&uri, &db, "articles", api, Duration::from_secs(5));
        let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
        a.ensure_indexes().await.unwrap();
        let opts = ParseOptions::for_source("test-daily");
        let version = |v: u64, run: &str| -> Vec<Prepared> {
            (0..60)
                .map(|id| {
                    let text = article(id, &format!("并发稿件{id}"), &paragraphs(id * 10 + v, 2));
                    let a = transform(
                        &RawFile {
                            path: "x.txt",
                            bytes: text.as_bytes(),
                            mtime: None,
                        },
                        &opts,
                    )
                    .unwrap();
                    Prepared::new(a, run).unwrap()
                })
                .collect()
        };
        let (v1, v2, v3) = (version(1, "r1"), version(2, "r2"), version(3, "r3"));
        a.write_batch(&v1).await.unwrap();
        let (ra, rb) = tokio::join!(a.write_batch(&v2), b.write_batch(&v3));
        for outcome in ra.unwrap().into_iter().chain(rb.unwrap()) {
            assert!(
                matches!(outcome, article_etl::load::Outcome::Updated(_)),
                "{api:?}: {outcome:?}"
            );
        }
        let database = a.database().clone();
        let docs: Vec<Document> = {
            use futures::TryStreamExt;
            database
                .collection::<Document>("articles")
                .find(doc! {})
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap()
        };
        assert_eq!(docs.len(), 60);
        for d in &docs {
            assert_eq!(d.get_i32("revision").unwrap(), 3, "{api:?}");
        }
        let revisions = database.collection::<Document>("article_revisions");
        assert_eq!(
            revisions.count_documents(doc! {}).await.unwrap(),
            120,
            "{api:?}"
        );
        for (i, d) in docs.iter().enumerate().take(60) {
            let id = d.get_str("_id").unwrap();
            let mut hashes = HashSet::new();
            hashes.insert(d.get_str("content_hash").unwrap().to_owned());
            for rev in [1, 2] {
                let r = revisions
                    .find_one(doc! { "article_id": id, "revision": rev })
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("{api:?} {i}: revision {rev} missing"));
                hashes.insert(r.get_str("content_hash").unwrap().to_owned());
            }
            assert_eq!(hashes.len(), 3, "{api:?}: all three versions kept for {id}");
        }
        database.drop().await.unwrap();
    }
}

/// Big articles close a batch by bytes (`load.batch_bytes`) long before `batch_size`: the
/// load stage's memory is bounded whatever the articles weigh.
#[tokio::test(flavor = "multi_thread")]
async fn big_articles_are_batched_by_bytes() {
    let ws = Workspace::with(
        "batch_bytes",
        Options {
            batch_size: 500,
            ..Options::default()
        },
    );
    for id in 0..24u64 {
        // About 100 KB of BSON each: the text and its paragraphs, 45 KB apiece.
        let body = paragraphs(id, 150);
        ws.drop_file(
            &format!("content_{id}.txt"),
            article(id, &format!("长篇报道第{id}号"), &body),
        );
    }
    let out = ws
        .cmd()
        .env("ARTICLE_ETL__LOAD__BATCH_BYTES", "1048576")
        .args(["--log-format", "json", "run", "--once"])
        .assert()
        .success();
    let logs = String::from_utf8_lossy(&out.get_output().stderr).into_owned()
        + &String::from_utf8_lossy(&out.get_output().stdout);
    let sizes: Vec<u64> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "batch written")
        .map(|v| v["fields"]["size"].as_u64().expect("size"))
        .collect();
    assert_eq!(sizes.iter().sum::<u64>(), 24, "{sizes:?}\n{logs}");
    assert!(sizes.len() >= 3, "{sizes:?}");
    assert!(sizes.iter().all(|&s| s <= 12), "{sizes:?}");
    assert_eq!(ws.articles().await.len(), 24);
    ws.cleanup().await;
}
