//! The integration-test harness: a real MongoDB-compatible server, one database per test,
//! one temporary workspace (settings, pipeline, inbox, work dir) per test.
//!
//! The server is `MONGODB_URI` when set (a genuine MongoDB works), else a local SecantusDB
//! started once by `scripts/testdb` (which installs it into `.venv-testdb/` on first use).
//! Tests that must stop and restart a server start a private SecantusDB of their own.

#![allow(dead_code)]

pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use sha2::Digest;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The shared test server's URI.
pub fn server_uri() -> String {
    static URI: OnceLock<String> = OnceLock::new();
    URI.get_or_init(|| match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => uri,
        _ => start_testdb(&["--port", "27117"])
            .expect("cannot start the local test server (scripts/testdb start)"),
    })
    .clone()
}

fn start_testdb(args: &[&str]) -> Result<String, String> {
    let out = StdCommand::new(Path::new(REPO).join("scripts/testdb"))
        .arg("start")
        .args(args)
        .output()
        .map_err(|e| format!("scripts/testdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/testdb start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A database name no other test uses.
pub fn unique_db(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mut name = format!("t_{}_{}_{n}", std::process::id(), test);
    name.truncate(60);
    name
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A SecantusDB of a test's own, on its own port and storage directory, to stop and restart.
pub struct PrivateServer {
    pub port: u16,
    pub storage: PathBuf,
    pub uri: String,
    /// The extra flags it was started with, used again by `restart`.
    flags: Vec<String>,
}

impl PrivateServer {
    pub fn start(storage: &Path) -> PrivateServer {
        PrivateServer::start_with(storage, &[])
    }

    /// With extra server flags (`--enable-test-commands`, `--auth`, TLS files…).
    pub fn start_with(storage: &Path, flags: &[&str]) -> PrivateServer {
        let port = free_port();
        let port_s = port.to_string();
        let mut args = vec![
            "--port",
            &port_s,
            "--storage",
            storage.to_str().expect("utf-8 temp path"),
        ];
        args.extend_from_slice(flags);
        let uri = start_testdb(&args).expect("cannot start a private SecantusDB");
        PrivateServer {
            port,
            storage: storage.to_path_buf(),
            uri,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// The server's process id, from the pid file `scripts/testdb` keeps.
    pub fn pid(&self) -> i32 {
        let file = Path::new(REPO).join(format!("target/testdb/{}.pid", self.port));
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .trim()
            .parse()
            .expect("a pid")
    }

    /// Sends the server a signal (SIGSTOP, SIGCONT, SIGKILL).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with the pid of a server this test started and a plain signal number.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({sig}) of the server");
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn stop(&self) {
        let status = StdCommand::new(Path::new(REPO).join("scripts/testdb"))
            .args(["stop", "--port", &self.port.to_string()])
            .status()
            .expect("scripts/testdb stop");
        assert!(status.success(), "scripts/testdb stop failed");
    }

    pub fn restart(&self) {
        let port = self.port.to_string();
        let mut args = vec![
            "--port",
            &port,
            "--storage",
            self.storage.to_str().expect("utf-8 temp path"),
        ];
        args.extend(self.flags.iter().map(String::as_str));
        start_testdb(&args).expect("cannot restart the private SecantusDB");
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = StdCommand::new(Path::new(REPO).join("scripts/testdb"))
            .args(["stop", "--port", &self.port.to_string()])
            .status();
    }
}

/// Settings a test can change before the workspace is written.
#[derive(Clone)]
pub struct Options {
    pub batch_size: usize,
    /// How long a batch may wait to fill (the settings' `batch_linger_ms`).
    pub batch_linger_ms: u64,
    pub write_api: &'static str,
    pub retry_budget_ms: u64,
    pub writers: usize,
    pub max_file_bytes: u64,
    pub on_missing_id: &'static str,
    pub after_load: &'static str,
    pub uri: Option<String>,
    pub server_selection_timeout_ms: u64,
    pub settle_ms: u64,
    pub rescan_interval_ms: u64,
    /// The daemon's HTTP port (0: a free one is picked).
    pub http_port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch_size: 100,
            batch_linger_ms: 50,
            write_api: "auto",
            retry_budget_ms: 20_000,
            writers: 2,
            max_file_bytes: 16 * 1024 * 1024,
            on_missing_id: "quarantine",
            after_load: "archive",
            uri: None,
            server_selection_timeout_ms: 5_000,
            settle_ms: 2_000,
            rescan_interval_ms: 60_000,
            http_port: 0,
        }
    }
}

/// One test's directories, settings and database.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub db: String,
    pub uri: String,
    pub config: PathBuf,
    pub inbox: PathBuf,
    pub work: PathBuf,
    pub http_port: u16,
}

impl Workspace {
    pub fn new(test: &str) -> Workspace {
        Workspace::with(test, Options::default())
    }

    pub fn with(test: &str, o: Options) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let uri = o.uri.clone().unwrap_or_else(server_uri);
        let db = unique_db(test);
        let root = dir.path();
        let inbox = root.join("inbox");
        let work = root.join("work");
        std::fs::create_dir_all(&inbox).expect("inbox");
        std::fs::create_dir_all(root.join("pipelines")).expect("pipelines");
        let config = root.join("settings.toml");
        let http_port = if o.http_port == 0 {
            free_port()
        } else {
            o.http_port
        };
        std::fs::write(
            &config,
            format!(
                r#"pipelines_dir = "pipelines"
[mongodb]
uri = "{uri}"
database = "{db}"
server_selection_timeout_ms = {sst}
[load]
batch_size = {batch}
batch_linger_ms = {linger}
writers = {writers}
retry_budget_ms = {budget}
write_api = "{api}"
[log]
level = "info"
[http]
listen = "127.0.0.1:{http_port}"
[daemon]
shutdown_timeout_ms = 30000
"#,
                sst = o.server_selection_timeout_ms,
                batch = o.batch_size,
                linger = o.batch_linger_ms,
                writers = o.writers,
                budget = o.retry_budget_ms,
                api = o.write_api,
            ),
        )
        .expect("settings");
        std::fs::write(
            root.join("pipelines/test-daily.toml"),
            format!(
                r#"name = "test-daily"
source = "test-daily"
paper = "测试日报"
inbox = "../inbox"
work_dir = "../work"
max_file_bytes = {max}
on_missing_id = "{missing}"
after_load = "{after}"
settle_ms = {settle}
rescan_interval_ms = {rescan}
"#,
                settle = o.settle_ms,
                rescan = o.rescan_interval_ms,
                max = o.max_file_bytes,
                missing = o.on_missing_id,
                after = o.after_load,
            ),
        )
        .expect("pipeline");
        Workspace {
            dir,
            db,
            uri,
            config,
            inbox,
            work,
            http_port,
        }
    }

    /// `GET path` on the daemon's HTTP port: (status, body), or `None` when nothing answers.
    pub fn http_get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.http_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let status = out.split(' ').nth(1)?.parse().ok()?;
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Some((status, body))
    }

    /// Starts `article-etl daemon` in the background, its output in the workspace's `daemon.log`.
    pub fn start_daemon(&self) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("daemon log");
        let child = self
            .std_cmd()
            .arg("daemon")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        assert!(
            wait_for(Duration::from_secs(30), || self
                .http_get("/healthz")
                .is_some()),
            "the daemon did not come up:\n{}",
            self.daemon_log()
        );
        Daemon(child)
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// A counter's value from `/metrics` (summed over the series matching every label given).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let Some((200, body)) = self.http_get("/metrics") else {
            return -1.0;
        };
        body.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The real binary, with this workspace's settings and nothing from the environment.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("article-etl").expect("binary");
        self.scrub(c.arg("--config").arg(&self.config));
        c
    }

    /// The same, as a std command (for processes run in the background).
    pub fn std_cmd(&self) -> StdCommand {
        let mut c = StdCommand::new(assert_cmd::cargo::cargo_bin("article-etl"));
        c.arg("--config").arg(&self.config);
        for (k, _) in std::env::vars() {
            if k.starts_with("ARTICLE_ETL") {
                c.env_remove(k);
            }
        }
        c
    }

    fn scrub<'a>(&self, c: &'a mut assert_cmd::Command) -> &'a mut assert_cmd::Command {
        for (k, _) in std::env::vars() {
            if k.starts_with("ARTICLE_ETL") {
                c.env_remove(k);
            }
        }
        c
    }

    pub fn drop_file(&self, name: &str, bytes: impl AsRef<[u8]>) {
        let tmp = self.dir.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).expect("write");
        std::fs::rename(tmp, self.inbox.join(name)).expect("rename into inbox");
    }

    /// Names of the regular files under `sub` (relative to the work dir, or `inbox`), sorted.
    pub fn files(&self, sub: &str) -> Vec<String> {
        let root = if sub == "inbox" {
            self.inbox.clone()
        } else {
            self.work.join(sub)
        };
        let mut out: Vec<String> = walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }

    pub async fn database(&self) -> mongodb::Database {
        let client = mongodb::Client::with_uri_str(&self.uri)
            .await
            .expect("client");
        client.database(&self.db)
    }

    pub async fn articles(&self) -> Vec<Document> {
        self.collection("articles").await
    }

    pub async fn collection(&self, name: &str) -> Vec<Document> {
        use futures::TryStreamExt;
        self.database()
            .await
            .collection::<Document>(name)
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("collect")
    }

    pub async fn last_run(&self) -> Document {
        self.database()
            .await
            .collection::<Document>("ingest_runs")
            .find_one(doc! {})
            .sort(doc! { "started_at": -1 })
            .await
            .expect("find run")
            .expect("a run record")
    }

    pub async fn cleanup(&self) {
        if std::env::var("KEEP_TEST_DBS").is_err() {
            let _ = self.database().await.drop().await;
        }
    }
}

/// A count from a run record.
pub fn count(run: &Document, key: &str) -> i64 {
    run.get_document("counts")
        .ok()
        .and_then(|c| c.get_i64(key).ok())
        .unwrap_or(-1)
}

/// An article of our own in the export format, with a trailer naming `id`.
pub fn article(id: u64, headline: &str, paragraphs: &[String]) -> String {
    let body = paragraphs.join("\n\n");
    format!(
        "2024年03月05日\n\n本地新闻:\n\n{headline}\n\n□ 本报记者 柳晓岚\n\n{body}\n\n--> 2024-03-05 □ 本报记者 柳晓岚 本地新闻: 1 1 测试日报 content_{id}.html 1 {headline} /enpproperty-->\n"
    )
}

/// Deterministic filler paragraphs of Chinese text, different for each seed.
pub fn paragraphs(seed: u64, count: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "城区", "农户", "道路", "学校", "医院", "项目", "工程", "村民", "产业", "服务", "改造",
        "建设", "推进", "完成", "提升", "开展", "计划", "今年", "全市", "群众",
    ];
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..count)
        .map(|p| {
            let mut s = String::new();
            for k in 0..(30 + rng.usize(..40)) {
                s.push_str(WORDS[rng.usize(..WORDS.len())]);
                if k % 7 == 6 {
                    s.push(',');
                }
            }
            s.push_str(&format!("第{p}段{seed}号。"));
            s
        })
        .collect()
}

/// Fills the inbox with `n` distinct articles, ids `first..first+n`.
pub fn fill_inbox(ws: &Workspace, first: u64, n: u64) {
    for id in first..first + n {
        ws.drop_file(
            &format!("content_{id}.txt"),
            article(id, &format!("测试新闻第{id}号稿件"), &paragraphs(id, 3)),
        );
    }
}

/// A daemon process that is killed when the test ends, whether it passed or not.
pub struct Daemon(pub std::process::Child);

impl std::ops::Deref for Daemon {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends a signal to a child process.
pub fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: kill(2) with a pid we spawned and a plain signal number.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Waits for a child to exit, up to `timeout`; its exit code.
pub fn wait_exit(child: &mut std::process::Child, timeout: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// Waits for `cond`, polling, up to `timeout`.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The shared sample, or `None` (with a loud message) when this checkout has no `../shared`.
pub fn sample_path() -> Option<PathBuf> {
    let p = Path::new(REPO).join("../shared/samples/inbox/000_322ca562a41e70a6.txt");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: the real sample {} is not here", p.display());
        None
    }
}

/// Every entry under `root` with its type, size, mtime and content digest.
pub fn snapshot(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| {
            let meta = e.metadata().unwrap();
            let digest = if meta.is_file() {
                hex::encode(sha2::Sha256::digest(std::fs::read(e.path()).unwrap()))
            } else {
                "dir".to_owned()
            };
            let mtime = meta.modified().unwrap();
            (
                e.path().to_path_buf(),
                format!("{digest} {} {mtime:?}", meta.len()),
            )
        })
        .collect()
}
