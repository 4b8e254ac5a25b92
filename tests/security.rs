//! Security: SCRAM authentication and TLS against servers started for the test, the password
//! kept out of logs, errors, run records, documents, metrics and panic output, settings files
//! that expose a password, and symlinks that point out of an inbox or archive.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command as StdCommand;
use std::time::Duration;

use common::*;
use mongodb::bson::doc;

const PASSWORD: &str = "Sup3r-Secret_pw";

/// A server with a user `etl` (readWrite on `db`), restarted with `--auth`.
async fn server_with_auth(storage: &Path, db: &str) -> PrivateServer {
    let server = PrivateServer::start(storage);
    let client = mongodb::Client::with_uri_str(&server.uri).await.unwrap();
    client
        .database("admin")
        .run_command(doc! {
            "createUser": "etl",
            "pwd": PASSWORD,
            "roles": [ { "role": "readWrite", "db": db } ],
        })
        .await
        .expect("createUser");
    drop(client);
    server.stop();
    // Restart on the same port and storage, now requiring authentication.
    let port = server.port.to_string();
    let out = StdCommand::new(Path::new(REPO).join("scripts/testdb"))
        .args([
            "start",
            "--port",
            &port,
            "--storage",
            storage.to_str().unwrap(),
            "--auth",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server
}

fn with_password(uri: &str, password: &str) -> String {
    uri.replacen("mongodb://", &format!("mongodb://etl:{password}@"), 1) + "&authSource=admin"
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_authentication_works_and_the_password_never_appears() {
    let storage = tempfile::tempdir().unwrap();
    let db = unique_db("scram");
    let server = server_with_auth(storage.path(), &db).await;
    let uri = with_password(&server.uri, PASSWORD);

    let mut ws = Workspace::with(
        "scram",
        Options {
            uri: Some(uri.clone()),
            ..Options::default()
        },
    );
    // The test's own database name must match the user's role.
    std::fs::write(
        &ws.config,
        std::fs::read_to_string(&ws.config).unwrap().replace(
            &format!("database = \"{}\"", ws.db),
            &format!("database = \"{db}\""),
        ),
    )
    .unwrap();
    ws.db = db.clone();
    fill_inbox(&ws, 1, 20);
    ws.drop_file("bad.txt", "");

    // Unauthenticated and wrong-password clients are refused at startup, with the URI masked.
    for bad in [
        server.uri.clone(),
        with_password(&server.uri, "wrong-password"),
    ] {
        let bad_ws = Workspace::with(
            "scram_bad",
            Options {
                uri: Some(bad),
                server_selection_timeout_ms: 2000,
                ..Options::default()
            },
        );
        fill_inbox(&bad_ws, 1, 1);
        let out = bad_ws.cmd().args(["-v", "run", "--once"]).output().unwrap();
        assert_ne!(out.status.code(), Some(0));
        assert_eq!(
            bad_ws.files("inbox").len(),
            1,
            "nothing claimed without a database"
        );
        let all = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!all.contains("wrong-password"), "{all}");
    }

    // The real run, with debug logs: the password is in none of the output.
    let out = ws.cmd().args(["-vv", "run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut everything =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);

    // Nor in what was stored.
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let database = client.database(&db);
    for coll in ["articles", "ingest_runs", "article_revisions"] {
        use futures::TryStreamExt;
        let docs: Vec<mongodb::bson::Document> = database
            .collection(coll)
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        if coll == "articles" {
            assert_eq!(docs.len(), 20);
        }
        for d in docs {
            everything.push_str(&d.to_string());
        }
    }
    // Nor in the quarantine reports.
    for name in ws.files("quarantine") {
        everything
            .push_str(&std::fs::read_to_string(ws.work.join("quarantine").join(name)).unwrap());
    }
    // Nor in the daemon's metrics and logs.
    let mut daemon = ws.start_daemon();
    fill_inbox(&ws, 100, 5);
    assert!(wait_for(Duration::from_secs(30), || ws.files("done").len() == 25));
    let (_, metrics) = ws.http_get("/metrics").unwrap();
    everything.push_str(&metrics);
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
    everything.push_str(&ws.daemon_log());
    // Nor in a panic.
    let out = ws
        .cmd()
        .env("ARTICLE_ETL_TEST_PANIC", "1")
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101));
    let panic = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        panic.contains("panicked") && panic.contains("etl:***@"),
        "{panic}"
    );
    everything.push_str(&panic);

    assert!(!everything.contains(PASSWORD), "the password leaked");
    assert!(everything.contains("file loaded"), "the logs were captured");
    // The private server and its storage go away with the test.
}

/// A CA and a server certificate for 127.0.0.1/localhost, made with openssl.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = StdCommand::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=article-etl test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_a_generated_ca() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let ca = certs.path().join("ca.pem");
    let storage = tempfile::tempdir().unwrap();
    let port = free_port();
    let options = format!("&tls=true&tlsCAFile={}", ca.display());
    let out = StdCommand::new(Path::new(REPO).join("scripts/testdb"))
        .env("TESTDB_URI_OPTIONS", &options)
        .args([
            "start",
            "--port",
            &port.to_string(),
            "--storage",
            storage.path().to_str().unwrap(),
            "--tls-cert-file",
            certs.path().join("server.pem").to_str().unwrap(),
            "--tls-key-file",
            certs.path().join("server.key").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uri = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stop = || {
        let _ = StdCommand::new(Path::new(REPO).join("scripts/testdb"))
            .args(["stop", "--port", &port.to_string()])
            .status();
    };

    let ws = Workspace::with(
        "tls",
        Options {
            uri: Some(uri.clone()),
            ..Options::default()
        },
    );
    fill_inbox(&ws, 1, 10);
    let ok = ws.cmd().args(["run", "--once"]).output().unwrap();
    // Without the CA the server's certificate is not trusted: refused at startup.
    let untrusted = Workspace::with(
        "tls_untrusted",
        Options {
            uri: Some(format!(
                "mongodb://127.0.0.1:{port}/?directConnection=true&tls=true"
            )),
            server_selection_timeout_ms: 2000,
            ..Options::default()
        },
    );
    let refused = untrusted.cmd().args(["run", "--once"]).output().unwrap();
    let stored = ws.articles().await.len();
    stop();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(stored, 10);
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn a_settings_file_others_can_read_must_not_hold_a_password() {
    let ws = Workspace::with(
        "perm",
        Options {
            uri: Some("mongodb://etl:pw-in-file@127.0.0.1:1/?directConnection=true".into()),
            ..Options::default()
        },
    );
    let sample = ws.dir.path().join("content_1.txt");
    std::fs::write(&sample, article(1, "权限测试", &paragraphs(1, 1))).unwrap();
    std::fs::set_permissions(&ws.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = ws.cmd().arg("inspect").arg(&sample).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("readable by group or others"), "{err}");
    assert!(!err.contains("pw-in-file"), "{err}");
    std::fs::set_permissions(&ws.config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = ws.cmd().arg("inspect").arg(&sample).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("readable by group or others"));
}

#[tokio::test(flavor = "multi_thread")]
async fn symlinks_are_never_followed_out_of_an_inbox_or_an_archive() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("content_777.txt");
    std::fs::write(&secret, article(777, "不该被读取", &paragraphs(777, 1))).unwrap();
    std::fs::create_dir_all(outside.path().join("tree")).unwrap();
    std::fs::write(
        outside.path().join("tree/content_778.txt"),
        article(778, "也不该被读取", &paragraphs(778, 1)),
    )
    .unwrap();

    let ws = Workspace::new("symlinks");
    fill_inbox(&ws, 1, 2);
    std::os::unix::fs::symlink(&secret, ws.inbox.join("link.txt")).unwrap();
    ws.cmd().args(["run", "--once"]).assert().success();
    assert_eq!(ws.files("done").len(), 2);
    assert!(
        ws.inbox.join("link.txt").is_symlink(),
        "the link is left alone"
    );
    assert!(secret.is_file(), "the target is untouched");

    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("laibin");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(
        tree.join("content_5.txt"),
        article(5, "树内稿件", &paragraphs(5, 1)),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path().join("tree"), tree.join("linked-dir")).unwrap();
    std::os::unix::fs::symlink(&secret, tree.join("linked-file.txt")).unwrap();
    ws.cmd().arg("backfill").arg(&tree).assert().success();
    let ids: Vec<String> = ws
        .articles()
        .await
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec!["test-daily:1", "test-daily:2", "test-daily:5"]);
    ws.cleanup().await;
}
