//! The Kubernetes manifests of `deploy/k8s/` held to the CLI they run (README, "Running on
//! Kubernetes"). Every YAML document is read; for each container of a Job, CronJob or
//! Deployment that runs `article-etl`:
//! - its arguments are checked against the real binary's `--help`: the subcommand is one of
//!   the CLI's, every flag one that subcommand lists;
//! - then the binary is run with them, in a pod laid out in a temporary directory (the
//!   ConfigMap's files written where the pod mounts them, every other volume an empty
//!   directory, the init containers' `mkdir -p` done), with side effects only there: a
//!   backfill as `--dry-run` once per index of its Job, `run` and `daemon` against a MongoDB
//!   that cannot be reached, which must fail only at connecting (exit 3), after the settings,
//!   the pipelines and the inboxes were accepted.
//!
//! And what the CLI cannot see: the Job's `--shard auto/N` against its `completions`, the
//! Deployment's probes and port against the settings' `http.listen`, its grace period against
//! `daemon.shutdown_timeout_ms`, the URI from the Secret and never inline.
//!
//! No cluster runs here: this checks that the manifests say what the CLI understands, not
//! that Kubernetes runs them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde::Deserialize;
use serde_json::Value;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const IMAGE: &str = "article-etl:latest";
const URI_VAR: &str = "ARTICLE_ETL__MONGODB__URI";

/// One YAML document of `deploy/k8s/`.
struct Manifest {
    file: String,
    doc: Value,
}

impl Manifest {
    fn kind(&self) -> &str {
        self.doc["kind"].as_str().unwrap_or("")
    }

    fn name(&self) -> &str {
        self.doc["metadata"]["name"].as_str().unwrap_or("")
    }

    /// `deploy/k8s/FILE: Kind/name`, for messages.
    fn label(&self) -> String {
        format!("deploy/k8s/{}: {}/{}", self.file, self.kind(), self.name())
    }

    /// The pod template of a workload.
    fn pod_spec(&self) -> Option<&Value> {
        let spec = &self.doc["spec"];
        let pod = match self.kind() {
            "Job" | "Deployment" | "StatefulSet" | "DaemonSet" => &spec["template"]["spec"],
            "CronJob" => &spec["jobTemplate"]["spec"]["template"]["spec"],
            _ => return None,
        };
        assert!(pod.is_object(), "{}: no pod template", self.label());
        Some(pod)
    }
}

fn manifests() -> Vec<Manifest> {
    let dir = Path::new(REPO).join("deploy/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, de) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let doc = Value::deserialize(de)
                .unwrap_or_else(|e| panic!("deploy/k8s/{file}: document {i} is not YAML: {e}"));
            if doc.is_null() {
                continue;
            }
            assert!(
                doc["apiVersion"].is_string() && doc["kind"].is_string(),
                "deploy/k8s/{file}: document {i} has no apiVersion or kind"
            );
            out.push(Manifest {
                file: file.clone(),
                doc,
            });
        }
    }
    assert!(!out.is_empty(), "no manifest in {}", dir.display());
    out
}

fn find<'a>(all: &'a [Manifest], kind: &str, name: &str) -> &'a Manifest {
    all.iter()
        .find(|m| m.kind() == kind && m.name() == name)
        .unwrap_or_else(|| panic!("no {kind} named {name:?} in deploy/k8s/"))
}

fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn strings(v: &Value) -> Vec<String> {
    array(v)
        .iter()
        .map(|s| match s {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// A container that runs article-etl, and where.
struct Invocation<'a> {
    manifest: &'a Manifest,
    pod: &'a Value,
    container: &'a Value,
    /// What follows the binary in `command` + `args`.
    args: Vec<String>,
}

impl Invocation<'_> {
    fn label(&self) -> String {
        format!(
            "{}, container {}",
            self.manifest.label(),
            self.container["name"].as_str().unwrap_or("?")
        )
    }

    /// The subcommand and the arguments after it; the global flags before it are known to
    /// the top-level help (`takes_value` says which take a value).
    fn subcommand(&self, cli: &Cli) -> (String, Vec<String>) {
        let mut i = 0;
        while i < self.args.len() {
            let a = &self.args[i];
            if !a.starts_with('-') {
                return (a.clone(), self.args[i + 1..].to_vec());
            }
            let flag = a.split('=').next().unwrap();
            let takes = cli.global.get(flag).unwrap_or_else(|| {
                panic!(
                    "{}: {flag} before the subcommand is not a global flag of article-etl (its --help lists {:?})",
                    self.label(),
                    cli.global.keys().collect::<Vec<_>>()
                )
            });
            i += if *takes && !a.contains('=') { 2 } else { 1 };
        }
        panic!("{}: no subcommand in {:?}", self.label(), self.args);
    }

    /// The value of `--flag VALUE` or `--flag=VALUE`.
    fn flag(&self, flag: &str) -> Option<&str> {
        let prefix = format!("{flag}=");
        self.args.iter().enumerate().find_map(|(i, a)| {
            if a == flag {
                self.args.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix(&prefix)
            }
        })
    }

    fn mounts(&self) -> Vec<(String, String, bool)> {
        array(&self.container["volumeMounts"])
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["mountPath"].as_str().unwrap().to_owned(),
                    m["readOnly"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    }

    fn volume(&self, name: &str) -> &Value {
        array(&self.pod["volumes"])
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{}: mounts volume {name:?}, not declared", self.label()))
    }
}

/// Every container of a workload that runs the `article-etl` binary.
fn invocations(all: &[Manifest]) -> Vec<Invocation<'_>> {
    let mut out = Vec::new();
    for m in all {
        let Some(pod) = m.pod_spec() else { continue };
        let before = out.len();
        for container in array(&pod["containers"]) {
            let mut line = strings(&container["command"]);
            line.extend(strings(&container["args"]));
            let Some(at) = line
                .iter()
                .position(|a| a.rsplit('/').next() == Some("article-etl"))
            else {
                continue;
            };
            out.push(Invocation {
                manifest: m,
                pod,
                container,
                args: line[at + 1..].to_vec(),
            });
        }
        assert!(
            out.len() > before,
            "{}: no container runs article-etl (command or args naming the binary)",
            m.label()
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What the CLI says of itself.

fn binary() -> Command {
    let mut cmd = Command::cargo_bin("article-etl").expect("the article-etl binary");
    for (key, _) in std::env::vars_os() {
        let key_s = key.to_string_lossy();
        if key_s.starts_with("ARTICLE_ETL") || key_s == "JOB_COMPLETION_INDEX" {
            cmd.env_remove(&key);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

fn help(args: &[&str]) -> String {
    let out = binary().args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "article-etl {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The options a `--help` lists: long (and short) names, and whether each takes a value.
fn options(help: &str) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for line in help.lines() {
        let t = line.trim_start();
        if !t.starts_with('-') {
            continue;
        }
        // "-v, --verbose...", "--config <FILE>  Settings file…"
        let head = t.split("  ").next().unwrap();
        let takes = head.contains('<');
        for word in head.split([',', ' ']) {
            let word = word
                .split(['=', '['])
                .next()
                .unwrap()
                .trim_end_matches("...");
            if word.starts_with('-') && word.len() > 1 {
                out.insert(word.to_owned(), takes);
            }
        }
    }
    out
}

struct Cli {
    subcommands: BTreeSet<String>,
    global: BTreeMap<String, bool>,
}

fn cli() -> Cli {
    let top = help(&[]);
    let subcommands = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .map(str::to_owned)
        .collect();
    Cli {
        subcommands,
        global: options(&top),
    }
}

// ---------------------------------------------------------------------------------------------
// A pod laid out in a temporary directory.

/// The container's filesystem as far as article-etl sees it: each mount a directory under
/// `root`, the ConfigMap volumes' files written (their paths rewritten to `root`).
struct Pod {
    root: tempfile::TempDir,
    mounts: Vec<String>,
}

impl Pod {
    fn lay_out(all: &[Manifest], inv: &Invocation<'_>) -> Pod {
        let root = tempfile::tempdir().unwrap();
        let mounts: Vec<String> = inv.mounts().into_iter().map(|(_, p, _)| p).collect();
        let pod = Pod { root, mounts };
        for (name, path, _) in inv.mounts() {
            let dir = pod.path(&path);
            std::fs::create_dir_all(&dir).unwrap();
            let volume = inv.volume(&name);
            let Some(cm) = volume["configMap"]["name"].as_str() else {
                continue;
            };
            let data = &find(all, "ConfigMap", cm).doc["data"];
            let items: Vec<(String, String)> = match volume["configMap"]["items"].as_array() {
                Some(items) => items
                    .iter()
                    .map(|i| {
                        let key = i["key"].as_str().unwrap().to_owned();
                        (key, i["path"].as_str().unwrap().to_owned())
                    })
                    .collect(),
                None => data
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|k| (k.clone(), k.clone()))
                    .collect(),
            };
            for (key, rel) in items {
                let text = data[&key].as_str().unwrap_or_else(|| {
                    panic!("{}: ConfigMap {cm} has no key {key:?}", inv.label())
                });
                let file = dir.join(rel);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, pod.rewrite_text(text)).unwrap();
            }
        }
        // The init containers' `mkdir -p`: the only kind known here.
        for init in array(&inv.pod["initContainers"]) {
            let mut line = strings(&init["command"]);
            line.extend(strings(&init["args"]));
            assert!(
                line.first()
                    .is_some_and(|c| c.rsplit('/').next() == Some("mkdir")),
                "{}: init container {} runs {line:?}; tests/deploy.rs only knows `mkdir -p`",
                inv.label(),
                init["name"]
            );
            for dir in line.iter().skip(1).filter(|a| !a.starts_with('-')) {
                std::fs::create_dir_all(pod.rewrite_arg(dir)).unwrap();
            }
        }
        pod
    }

    /// Where the pod's absolute `path` lies here.
    fn path(&self, path: &str) -> PathBuf {
        self.root.path().join(path.trim_start_matches('/'))
    }

    /// A path under one of the mounts, moved under `root`; anything else as it is.
    fn rewrite_arg(&self, arg: &str) -> String {
        let under = self.mounts.iter().any(|m| {
            arg == m
                || arg
                    .strip_prefix(m.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        });
        if under {
            self.path(arg).display().to_string()
        } else {
            arg.to_owned()
        }
    }

    /// Quoted paths under the mounts, in a TOML file, moved under `root`.
    fn rewrite_text(&self, text: &str) -> String {
        let root = self.root.path().display().to_string();
        let mut text = text.to_owned();
        for m in &self.mounts {
            text = text.replace(&format!("\"{m}"), &format!("\"{root}{m}"));
        }
        text
    }
}

/// The settings the container runs with, as article-etl reads them.
fn settings_of(pod: &Pod, inv: &Invocation<'_>) -> article_etl::settings::Settings {
    let config = inv
        .flag("--config")
        .unwrap_or_else(|| panic!("{}: no --config", inv.label()));
    let path = PathBuf::from(pod.rewrite_arg(config));
    assert!(
        path.is_file(),
        "{}: --config {config} is not a file the pod mounts (from a ConfigMap)",
        inv.label()
    );
    article_etl::settings::Settings::load(Some(&path))
        .unwrap_or_else(|e| panic!("{}: the settings of {config}: {e}", inv.label()))
}

/// A literal `env` value of the container (not from a Secret).
fn env_value<'a>(inv: &'a Invocation<'_>, name: &str) -> Option<&'a str> {
    array(&inv.container["env"])
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
}

// ---------------------------------------------------------------------------------------------
// The checks.

#[test]
fn every_manifest_is_yaml_of_a_known_kind() {
    let known = [
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "Job",
        "CronJob",
        "Deployment",
        "Service",
    ];
    for m in manifests() {
        assert!(
            known.contains(&m.kind()),
            "{}: a kind tests/deploy.rs does not check; add the checks it needs",
            m.label()
        );
        assert!(!m.name().is_empty(), "{}: no metadata.name", m.label());
    }
}

#[test]
fn every_container_runs_a_subcommand_and_flags_the_cli_has() {
    let all = manifests();
    let cli = cli();
    assert!(
        cli.subcommands.contains("backfill"),
        "{:?}",
        cli.subcommands
    );
    let mut seen = BTreeSet::new();
    for inv in invocations(&all) {
        let (sub, rest) = inv.subcommand(&cli);
        assert!(
            cli.subcommands.contains(&sub),
            "{}: `{sub}` is not a subcommand of article-etl (it has {:?})",
            inv.label(),
            cli.subcommands
        );
        let flags = options(&help(&[&sub]));
        let mut i = 0;
        while i < rest.len() {
            let a = &rest[i];
            i += 1;
            if !a.starts_with('-') {
                continue;
            }
            let flag = a.split('=').next().unwrap();
            let takes = flags.get(flag).unwrap_or_else(|| {
                panic!(
                    "{}: `article-etl {sub}` has no option {flag} (its --help lists {:?})",
                    inv.label(),
                    flags.keys().collect::<Vec<_>>()
                )
            });
            if *takes && !a.contains('=') && flag != "--reparse" {
                i += 1;
            }
        }
        assert_eq!(
            inv.container["image"],
            IMAGE,
            "{}: the image built from deploy/Dockerfile is {IMAGE}",
            inv.label()
        );
        seen.insert((sub.clone(), rest.contains(&"--once".to_owned())));
    }
    for want in [("backfill", false), ("run", true), ("daemon", false)] {
        assert!(
            seen.contains(&(want.0.to_owned(), want.1)),
            "no workload runs `{}{}`: {seen:?}",
            want.0,
            if want.1 { " --once" } else { "" }
        );
    }
}

/// The real binary on each container's arguments, in the pod laid out in a temporary
/// directory: it must get as far as its work (a backfill's dry run), or as connecting to a
/// MongoDB it cannot reach (exit 3, "cannot reach MongoDB"), never to a usage or settings
/// error (exit 2).
#[test]
fn every_container_command_starts_with_the_configmap_settings() {
    let all = manifests();
    let cli = cli();
    for inv in invocations(&all) {
        let pod = Pod::lay_out(&all, &inv);
        let (sub, _) = inv.subcommand(&cli);
        let mut args: Vec<String> = inv.args.iter().map(|a| pod.rewrite_arg(a)).collect();
        if sub == "backfill" && !args.contains(&"--dry-run".to_owned()) {
            let at = args.iter().position(|a| a == "backfill").unwrap();
            args.insert(at + 1, "--dry-run".to_owned());
        }
        let args = args;
        let run = |args: &[String], index: Option<u64>| -> Output {
            let mut cmd = binary();
            cmd.current_dir(pod.root.path());
            for e in array(&inv.container["env"]) {
                let name = e["name"].as_str().unwrap();
                if let Some(v) = e["value"].as_str() {
                    cmd.env(name, pod.rewrite_arg(v));
                } else if name == URI_VAR {
                    // The Secret's URI, as one that cannot be reached.
                    cmd.env(name, "mongodb://127.0.0.1:9/");
                }
            }
            cmd.env("ARTICLE_ETL__MONGODB__SERVER_SELECTION_TIMEOUT_MS", "500")
                // The port is checked against the probes below; here it must be free.
                .env("ARTICLE_ETL__HTTP__LISTEN", "127.0.0.1:0");
            if let Some(k) = index {
                cmd.env("JOB_COMPLETION_INDEX", k.to_string());
            }
            cmd.args(args).timeout(std::time::Duration::from_secs(60));
            cmd.output().unwrap()
        };
        let said = |out: &Output| {
            format!(
                "{}: article-etl {args:?} exited {:?}:\n{}{}",
                inv.label(),
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        match sub.as_str() {
            "backfill" => {
                // Every pod of an Indexed Job; one run otherwise.
                let spec = &inv.manifest.doc["spec"];
                let indexes: Vec<Option<u64>> = if spec["completionMode"] == "Indexed" {
                    (0..spec["completions"].as_u64().unwrap_or(1))
                        .map(Some)
                        .collect()
                } else {
                    vec![None]
                };
                for index in indexes {
                    let out = run(&args, index);
                    assert_eq!(
                        out.status.code(),
                        Some(0),
                        "index {index:?}: {}",
                        said(&out)
                    );
                }
            }
            "run" | "daemon" | "replay" => {
                let out = run(&args, None);
                assert_eq!(out.status.code(), Some(3), "{}", said(&out));
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("cannot reach MongoDB"),
                    "{}",
                    said(&out)
                );
            }
            other => panic!(
                "{}: tests/deploy.rs has no check for `{other}`: add one",
                inv.label()
            ),
        }
    }
}

#[test]
fn the_backfill_job_is_indexed_with_as_many_shards_as_completions() {
    let all = manifests();
    let cli = cli();
    let backfills: Vec<_> = invocations(&all)
        .into_iter()
        .filter(|inv| inv.subcommand(&cli).0 == "backfill")
        .collect();
    assert!(!backfills.is_empty(), "no backfill Job in deploy/k8s/");
    for inv in backfills {
        let label = inv.label();
        assert_eq!(inv.manifest.kind(), "Job", "{label}");
        let spec = &inv.manifest.doc["spec"];
        assert_eq!(
            spec["completionMode"], "Indexed",
            "{label}: --shard auto/N needs an Indexed Job (JOB_COMPLETION_INDEX)"
        );
        let completions = spec["completions"]
            .as_u64()
            .unwrap_or_else(|| panic!("{label}: no completions"));
        let shard = inv
            .flag("--shard")
            .unwrap_or_else(|| panic!("{label}: no --shard auto/N"));
        let n: u64 = shard
            .strip_prefix("auto/")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{label}: --shard {shard}, not auto/N"));
        assert_eq!(
            n, completions,
            "{label}: --shard auto/{n} but completions: {completions}: N must be the number of \
             pods (fewer shards: the extra pods exit 2; more: some shards' files are never loaded)"
        );
        assert_eq!(
            spec["parallelism"].as_u64(),
            Some(completions),
            "{label}: parallelism should be N, every shard at once"
        );
        let restart = inv.pod["restartPolicy"].as_str().unwrap_or("");
        assert!(
            restart == "OnFailure" || spec["backoffLimitPerIndex"].is_u64(),
            "{label}: a failed shard must be retried: restartPolicy: OnFailure or backoffLimitPerIndex"
        );
        // The trees: mounted read-only.
        let (_, rest) = inv.subcommand(&cli);
        let flags = options(&help(&["backfill"]));
        let takes_value = |a: &str| flags.get(a).copied().unwrap_or(false) && a != "--reparse";
        let dirs: Vec<&String> = rest
            .iter()
            .enumerate()
            .filter(|(i, a)| !a.starts_with('-') && (*i == 0 || !takes_value(&rest[i - 1])))
            .map(|(_, a)| a)
            .collect();
        assert!(!dirs.is_empty(), "{label}: no DIR");
        for dir in dirs {
            let mount = inv
                .mounts()
                .into_iter()
                .filter(|(_, p, _)| dir == p || dir.starts_with(&format!("{p}/")))
                .max_by_key(|(_, p, _)| p.len())
                .unwrap_or_else(|| panic!("{label}: the tree {dir} is on no volume"));
            assert!(
                mount.2,
                "{label}: the tree {dir} is mounted read-write ({})",
                mount.1
            );
        }
    }
}

#[test]
fn the_daemon_probes_port_and_grace_period_match_the_settings() {
    let all = manifests();
    let cli = cli();
    let daemons: Vec<_> = invocations(&all)
        .into_iter()
        .filter(|inv| inv.subcommand(&cli).0 == "daemon")
        .collect();
    assert!(!daemons.is_empty(), "no daemon Deployment in deploy/k8s/");
    for inv in daemons {
        let label = inv.label();
        assert_eq!(inv.manifest.kind(), "Deployment", "{label}");
        let pod = Pod::lay_out(&all, &inv);
        let settings = settings_of(&pod, &inv);
        let listen = env_value(&inv, "ARTICLE_ETL__HTTP__LISTEN")
            .map(str::to_owned)
            .unwrap_or(settings.http.listen.clone());
        let (host, port) = listen
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{label}: http.listen {listen:?} has no port"));
        let port: u64 = port.parse().unwrap();
        assert!(
            host == "0.0.0.0" || host == "[::]",
            "{label}: http.listen is {listen}: the kubelet and Prometheus reach the pod from \
             outside, it must listen on 0.0.0.0"
        );
        // Container ports by name; a probe's port is a name or a number.
        let ports: BTreeMap<String, u64> = array(&inv.container["ports"])
            .iter()
            .map(|p| {
                let n = p["containerPort"].as_u64().unwrap();
                (p["name"].as_str().map_or(n.to_string(), str::to_owned), n)
            })
            .collect();
        assert!(
            ports.values().any(|&n| n == port),
            "{label}: no containerPort {port} (http.listen {listen}): {ports:?}"
        );
        let resolve = |p: &Value| -> u64 {
            p.as_u64().unwrap_or_else(|| {
                let name = p.as_str().unwrap_or("");
                *ports
                    .get(name)
                    .unwrap_or_else(|| panic!("{label}: no container port named {name:?}"))
            })
        };
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let get = &inv.container[probe]["httpGet"];
            assert_eq!(
                get["path"], path,
                "{label}: the {probe} must ask {path} (README, \"Running as a daemon\")"
            );
            assert_eq!(
                resolve(&get["port"]),
                port,
                "{label}: the {probe} asks a port the daemon does not listen on ({listen})"
            );
        }
        let grace = inv.pod["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap_or(30);
        let shutdown_ms = env_value(&inv, "ARTICLE_ETL__DAEMON__SHUTDOWN_TIMEOUT_MS")
            .map(|v| v.parse().unwrap())
            .unwrap_or(settings.daemon.shutdown_timeout_ms);
        assert!(
            grace * 1000 > shutdown_ms,
            "{label}: terminationGracePeriodSeconds {grace} s is not longer than \
             daemon.shutdown_timeout_ms {shutdown_ms} ms: the kubelet would kill the daemon \
             before its batches in flight are acknowledged"
        );
        // A Service in front of the pods for /metrics.
        let labels = inv.manifest.doc["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .unwrap();
        let service = all
            .iter()
            .filter(|m| m.kind() == "Service")
            .find(|m| {
                m.doc["spec"]["selector"]
                    .as_object()
                    .is_some_and(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
            })
            .unwrap_or_else(|| panic!("{label}: no Service selects the daemon's pods"));
        let scraped = service.doc["metadata"]["annotations"]["prometheus.io/scrape"] == "true";
        let mut metrics_port = false;
        for p in array(&service.doc["spec"]["ports"]) {
            let target = if p["targetPort"].is_null() {
                &p["port"]
            } else {
                &p["targetPort"]
            };
            assert_eq!(
                resolve(target),
                port,
                "{}: targets a port the daemon does not listen on",
                service.label()
            );
            metrics_port |= p["name"] == "metrics";
        }
        if let Some(p) = service.doc["metadata"]["annotations"]["prometheus.io/port"].as_str() {
            assert_eq!(
                p,
                port.to_string(),
                "{}: prometheus.io/port",
                service.label()
            );
        }
        assert!(
            scraped || metrics_port,
            "{}: neither prometheus.io/scrape annotations nor a port named \"metrics\"",
            service.label()
        );
    }
}

#[test]
fn the_mongodb_uri_comes_from_the_secret_never_inline() {
    let all = manifests();
    let secrets: BTreeMap<&str, &Manifest> = all
        .iter()
        .filter(|m| m.kind() == "Secret")
        .map(|m| (m.name(), m))
        .collect();
    for m in &secrets {
        assert!(
            m.1.file.contains("example"),
            "{}: a Secret with a password belongs in the cluster, not in git; keep only an \
             example (*.example.yaml)",
            m.1.label()
        );
    }
    for inv in invocations(&all) {
        let label = inv.label();
        assert!(
            inv.flag("--mongodb-uri").is_none(),
            "{label}: --mongodb-uri puts the password in the pod spec; use the Secret"
        );
        let uri = array(&inv.container["env"])
            .iter()
            .find(|e| e["name"] == URI_VAR)
            .unwrap_or_else(|| panic!("{label}: no {URI_VAR} in env"));
        assert!(
            uri["value"].is_null(),
            "{label}: {URI_VAR} inline; take it from the Secret (valueFrom.secretKeyRef)"
        );
        let from = &uri["valueFrom"]["secretKeyRef"];
        let (name, key) = (from["name"].as_str(), from["key"].as_str());
        let secret = name.and_then(|n| secrets.get(n)).unwrap_or_else(|| {
            panic!("{label}: {URI_VAR} from {from}, not a Secret of deploy/k8s")
        });
        let data = &secret.doc;
        let key = key.unwrap_or("");
        assert!(
            !data["stringData"][key].is_null() || !data["data"][key].is_null(),
            "{label}: the Secret {} has no key {key:?}",
            secret.name()
        );
    }
    // Nowhere else: no connection string in a ConfigMap or a workload.
    for m in all.iter().filter(|m| m.kind() != "Secret") {
        let text = m.doc.to_string();
        assert!(
            !text.contains("mongodb://") && !text.contains("mongodb+srv://"),
            "{}: a MongoDB URI outside the Secret",
            m.label()
        );
    }
}

#[test]
fn inboxes_and_work_dirs_share_a_volume() {
    let all = manifests();
    let cli = cli();
    for inv in invocations(&all) {
        let (sub, _) = inv.subcommand(&cli);
        if !matches!(sub.as_str(), "run" | "daemon" | "replay") {
            continue;
        }
        let pod = Pod::lay_out(&all, &inv);
        let settings = settings_of(&pod, &inv);
        let root = pod.root.path();
        let pipelines = settings
            .pipelines()
            .unwrap_or_else(|e| panic!("{}: the pipelines: {e}", inv.label()));
        for p in pipelines {
            let mount_of = |dir: &Path| -> String {
                let rel = format!("/{}", dir.strip_prefix(root).unwrap().display());
                inv.mounts()
                    .into_iter()
                    .filter(|(_, m, _)| rel == *m || rel.starts_with(&format!("{m}/")))
                    .max_by_key(|(_, m, _)| m.len())
                    .map(|(name, _, ro)| {
                        assert!(!ro, "{}: {rel} is on a read-only mount", inv.label());
                        name
                    })
                    .unwrap_or_else(|| {
                        panic!("{}: {rel} is on no volume (lost with the pod)", inv.label())
                    })
            };
            assert_eq!(
                mount_of(&p.inbox),
                mount_of(&p.work_dir),
                "{}: pipeline {}: the inbox and the work dir must be on one filesystem \
                 (files are claimed by rename)",
                inv.label(),
                p.name
            );
        }
    }
}
