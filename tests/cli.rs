//! The real `article-etl` binary, driven as an operator would (README.md, "Commands" and "Exit codes"): `inspect` on the real
//! sample, `validate` on trees of good and bad files, and the exit codes and messages of bad
//! usage and bad configuration.
//!
//! Every test writes its own settings file and pipeline into a temporary directory and passes
//! `--config`, runs in that directory, and clears the `ARTICLE_ETL…` environment, so nothing
//! depends on the working directory or on the caller's environment.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// A settings file and one pipeline (`name = source = "laibin-daily"`), in a temporary directory.
struct Setup {
    dir: TempDir,
    settings: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        Setup::with_settings("")
    }

    /// `extra` is appended to the settings file (TOML).
    fn with_settings(extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pipelines = dir.path().join("pipelines");
        std::fs::create_dir(&pipelines).unwrap();
        let settings = dir.path().join("settings.toml");
        std::fs::write(
            &settings,
            format!(
                "pipelines_dir = {:?}\n{extra}",
                pipelines.display().to_string()
            ),
        )
        .unwrap();
        let setup = Setup { dir, settings };
        setup.pipeline(
            "laibin-daily.toml",
            "name = \"laibin-daily\"\nsource = \"laibin-daily\"\ninbox = \"inbox\"\nwork_dir = \"work\"\n",
        );
        setup
    }

    fn pipeline(&self, file: &str, toml: &str) {
        std::fs::write(self.dir.path().join("pipelines").join(file), toml).unwrap();
    }

    /// The command, hermetic: `--config` given, run in the temporary directory, no
    /// `ARTICLE_ETL…` variables from the caller.
    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("article-etl").expect("the article-etl binary");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ARTICLE_ETL") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .arg("--config")
            .arg(&self.settings);
        cmd
    }

    /// A fresh directory for input files.
    fn files_dir(&self, name: &str) -> PathBuf {
        let d = self.dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// The directory of the real sample, or `None` (with a loud message) when it is not there.
fn sample_files(test: &str) -> Option<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples/inbox");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect(),
        Err(_) => Vec::new(),
    };
    if files.is_empty() {
        eprintln!(
            "SKIPPED: {test}: the real sample {} not found",
            dir.display()
        );
        return None;
    }
    files.sort();
    Some(files)
}

// ---------------------------------------------------------------------------------------------
// Articles written for these tests (invented).

fn good_article(id: u32, headline: &str) -> String {
    format!(
        "2024年06月0{d}日\n\n\
         城南新区:\n\n\
         {headline}\n\n\
         □ 本报记者 黄立新\n\n\
         近日,城南新区组织开展夏季防汛应急演练,区应急管理局、水利局等12个部门参加,检验了各部门协同处置突发汛情的能力。\n\n\
         演练设置“群众转移”\n\n\
         演练现场,救援人员驾驶冲锋舟迅速转移“被困群众”,医疗队伍同步开展伤员救治,整个过程紧张有序。\n\n\
         --> 2024-06-0{d} □ 本报记者 黄立新 城南新区: 1 1 江城日报 content_{id}.html 1 {headline} /enpproperty-->\n",
        d = id % 9 + 1,
    )
}

/// A valid article without a trailer, in a file whose name carries no id: `missing_content_id`.
fn article_without_id() -> String {
    "城南新区举办消夏音乐会\n\n□ 本报记者 黄立新\n\n6月8日晚,城南新区滨江公园举办消夏音乐会,吸引市民2000余人观看。\n".to_owned()
}

// ---------------------------------------------------------------------------------------------
// inspect on the real sample

#[test]
fn inspect_the_real_sample() {
    let Some(files) = sample_files("inspect_the_real_sample") else {
        return;
    };
    let setup = Setup::new();
    let out = setup.cmd().arg("inspect").args(&files).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "inspect failed: {}",
        stderr_of(&out)
    );
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), files.len(), "one JSON document per line");
    let doc: Value = serde_json::from_str(lines[0]).expect("stdout is JSON");

    assert_eq!(doc["_id"], "laibin-daily:156059");
    assert_eq!(doc["source"], "laibin-daily");
    assert_eq!(doc["content_id"], "156059");
    assert_eq!(doc["url"], "content_156059.html");
    assert_eq!(doc["paper"], "来宾日报");
    assert_eq!(doc["pub_date"], "2024-01-02");
    assert_eq!(doc["published_at"], "2024-01-02T00:00:00+08:00");
    assert_eq!(doc["page"], Value::Null);
    assert_eq!(doc["kicker"], "兴宾区:");
    assert_eq!(doc["headline"], "“四下基层”出实招 主题教育见实效");
    assert_eq!(doc["subtitle"], Value::Null);
    assert_eq!(doc["byline"], "□ 韦素莹");
    assert_eq!(
        doc["authors"],
        serde_json::json!([{ "name": "韦素莹", "role": null }])
    );

    // Blocks: 24, 16 paragraphs and 8 headings, the headings in order.
    let blocks = doc["blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 24);
    let of_kind = |kind: &str| -> Vec<&str> {
        blocks
            .iter()
            .filter(|b| b["kind"] == kind)
            .map(|b| b["text"].as_str().unwrap())
            .collect()
    };
    assert_eq!(of_kind("paragraph").len(), 16);
    assert_eq!(
        of_kind("heading"),
        [
            "当好政策“宣传员”",
            "党的声音“聚民力”",
            "当好基层“调研员”",
            "决策部署“顺民意”",
            "当好问题“化解员”",
            "群众工作“惠民生”",
            "当好群众“办事员”",
            "一线解题“暖民心”",
        ]
    );
    assert_eq!(doc["stats"]["paragraphs"], 16);
    assert_eq!(doc["stats"]["headings"], 8);
    let joined: Vec<&str> = blocks.iter().map(|b| b["text"].as_str().unwrap()).collect();
    assert_eq!(doc["text"], joined.join("\n"));
    assert_eq!(
        doc["stats"]["chars"],
        doc["text"].as_str().unwrap().chars().count()
    );

    // The trailer, field by field as docs/format.md §2.4 (and docs/schema.md, `trailer`) has it; `raw` is the file's last line.
    let sample = std::fs::read_to_string(&files[0]).unwrap();
    let last_line = sample.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    let t = &doc["trailer"];
    assert_eq!(t["raw"], last_line.trim());
    assert_eq!(t["date"], "2024-01-02");
    assert_eq!(t["slot"], "□ 韦素莹 兴宾区:");
    assert_eq!(t["numbers_before_paper"], serde_json::json!([1, 1]));
    assert_eq!(t["paper"], "来宾日报");
    assert_eq!(t["url"], "content_156059.html");
    assert_eq!(t["numbers_after_url"], serde_json::json!([1]));
    assert_eq!(t["headline"], "“四下基层”出实招 主题教育见实效");
    assert_eq!(t["article_id"], Value::Null);

    let hash = doc["content_hash"].as_str().unwrap();
    assert!(
        hash.starts_with("sha256:") && hash.len() == 71,
        "content_hash {hash}"
    );
    assert_eq!(doc["source_file"]["encoding"], "utf-8");
    assert_eq!(doc["source_file"]["size"], sample.len());
    assert_eq!(doc["ingest"]["pipeline"], "laibin-daily");
    assert_eq!(doc["ingest"]["mode"], "inspect");
    assert_eq!(doc["furniture"], serde_json::json!([]));
    assert_eq!(doc["warnings"], serde_json::json!([]));

    // Only the loader sets these (README.md, "Commands": `inspect`).
    for key in ["revision", "first_seen_at", "updated_at"] {
        assert!(doc.get(key).is_none(), "inspect printed {key}");
    }
    assert!(
        doc["ingest"].get("run_id").is_none(),
        "inspect printed ingest.run_id"
    );
}

// ---------------------------------------------------------------------------------------------
// validate

#[test]
fn validate_reports_every_bad_file_and_counts_by_code() {
    let setup = Setup::new();
    let dir = setup.files_dir("tree");
    std::fs::write(
        dir.join("a_good.txt"),
        good_article(71001, "防汛演练筑牢安全防线"),
    )
    .unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("sub/b_good.txt"),
        good_article(71002, "夏季防汛 未雨绸缪"),
    )
    .unwrap();
    let empty = dir.join("c_empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let binary = dir.join("d_binary.txt");
    std::fs::write(&binary, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10").unwrap();
    let no_id = dir.join("sub/e_no_id.txt");
    std::fs::write(&no_id, article_without_id()).unwrap();
    // Not a *.txt: not taken from a tree.
    std::fs::write(dir.join("notes.md"), b"").unwrap();

    let out = setup.cmd().arg("validate").arg(&dir).output().unwrap();
    let stdout = stdout_of(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "validate must fail when files fail\nstdout:\n{stdout}\nstderr:\n{}",
        stderr_of(&out)
    );
    assert!(
        stdout.contains("5 files: 2 ok"),
        "summary counts:\n{stdout}"
    );
    assert!(stdout.contains("3 failed"), "summary counts:\n{stdout}");
    assert!(stdout.contains("failed by code:"), "{stdout}");
    for code in ["empty", "binary", "missing_content_id"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [code, "1"]),
            "no count for {code}:\n{stdout}"
        );
    }
    for (path, code) in [
        (&empty, "empty"),
        (&binary, "binary"),
        (&no_id, "missing_content_id"),
    ] {
        let shown = path.display().to_string();
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&shown) && l.contains(&format!("error {code}"))),
            "{shown} not reported with {code}:\n{stdout}"
        );
    }
    // Good files are not reported as problems.
    assert!(!stdout.contains("a_good.txt"), "{stdout}");
    assert!(!stdout.contains("b_good.txt"), "{stdout}");

    // The same in JSON.
    let out = setup
        .cmd()
        .args(["--log-format", "json", "validate"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let summary: Value = serde_json::from_str(stdout_of(&out).trim()).expect("JSON summary");
    assert_eq!(summary["files"], 5);
    assert_eq!(summary["ok"], 2);
    assert_eq!(summary["failed"], 3);
    assert_eq!(
        summary["failed_by_code"],
        serde_json::json!({ "binary": 1, "empty": 1, "missing_content_id": 1 })
    );
    let problems = summary["problems"].as_array().unwrap();
    for (path, code) in [
        (&empty, "empty"),
        (&binary, "binary"),
        (&no_id, "missing_content_id"),
    ] {
        let shown = path.display().to_string();
        assert!(
            problems
                .iter()
                .any(|p| p["path"] == shown.as_str() && p["code"] == code),
            "{shown} not in problems with {code}: {problems:?}"
        );
    }
}

#[test]
fn validate_of_good_files_only_exits_0() {
    let setup = Setup::new();
    let dir = setup.files_dir("good");
    for (i, h) in [
        "防汛演练筑牢安全防线",
        "夏季防汛 未雨绸缪",
        "应急救援队伍集结",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(
            dir.join(format!("article_{i}.txt")),
            good_article(72000 + i as u32, h),
        )
        .unwrap();
    }
    let out = setup.cmd().arg("validate").arg(&dir).output().unwrap();
    let stdout = stdout_of(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        stderr_of(&out)
    );
    assert!(stdout.contains("3 files: 3 ok"), "{stdout}");
    assert!(stdout.contains("0 failed"), "{stdout}");
}

#[test]
fn inspect_of_a_bad_file_names_it_and_its_code() {
    let setup = Setup::new();
    let dir = setup.files_dir("bad");
    let path = dir.join("empty.txt");
    std::fs::write(&path, b"  \n").unwrap();
    let out = setup.cmd().arg("inspect").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(&path.display().to_string()) && stderr.contains("[empty]"),
        "{stderr}"
    );
    assert!(stdout_of(&out).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Bad usage and bad configuration: exit 2, naming what is wrong.

#[test]
fn inspect_with_an_unknown_pipeline_exits_2() {
    let setup = Setup::new();
    let dir = setup.files_dir("in");
    let file = dir.join("a.txt");
    std::fs::write(&file, good_article(73001, "防汛演练筑牢安全防线")).unwrap();
    let out = setup
        .cmd()
        .args(["inspect", "--pipeline", "no-such-paper"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("no-such-paper"), "{stderr}");
    assert!(
        stderr.contains("laibin-daily"),
        "lists the known ones: {stderr}"
    );
    assert!(stdout_of(&out).is_empty());
}

#[test]
fn unknown_key_in_the_settings_file_exits_2() {
    let setup = Setup::with_settings("[load]\nbatch_size = 100\nbatch_sise_typo = 7\n");
    let out = setup
        .cmd()
        .args(["validate"])
        .arg(setup.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("batch_sise_typo"),
        "names the key: {stderr}"
    );
    assert!(
        stderr.contains(&setup.settings.display().to_string()),
        "names the file: {stderr}"
    );
}

#[test]
fn unknown_key_in_a_pipeline_file_exits_2() {
    let setup = Setup::new();
    setup.pipeline(
        "other.toml",
        "name = \"other\"\nsource = \"other\"\ninbox = \"i\"\nwork_dir = \"w\"\nmax_file_byts = 5\n",
    );
    let out = setup
        .cmd()
        .args(["inspect", "--pipeline", "laibin-daily", "x.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("max_file_byts"), "names the key: {stderr}");
    assert!(stderr.contains("other.toml"), "names the file: {stderr}");
}

#[test]
fn a_batch_under_one_mebibyte_exits_2() {
    let setup = Setup::new();
    let dir = setup.files_dir("in");
    let file = dir.join("a.txt");
    std::fs::write(&file, good_article(74002, "防汛演练筑牢安全防线")).unwrap();
    let out = setup
        .cmd()
        .env("ARTICLE_ETL__LOAD__BATCH_BYTES", "4096")
        .arg("inspect")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("load.batch_bytes"));
}

#[test]
fn batch_size_0_from_the_environment_exits_2() {
    let setup = Setup::new();
    let dir = setup.files_dir("in");
    let file = dir.join("a.txt");
    std::fs::write(&file, good_article(74001, "防汛演练筑牢安全防线")).unwrap();
    let out = setup
        .cmd()
        .env("ARTICLE_ETL__LOAD__BATCH_SIZE", "0")
        .arg("inspect")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("load.batch_size"),
        "names the key: {stderr}"
    );
    assert!(stdout_of(&out).is_empty());
    // And a valid override is taken.
    let out = setup
        .cmd()
        .env("ARTICLE_ETL__LOAD__BATCH_SIZE", "50")
        .arg("inspect")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

// ---------------------------------------------------------------------------------------------
// backfill --shard auto/N (a Kubernetes Indexed Job's pod index)

/// The files a `backfill --dry-run` with `shard_args` takes from `tree`, as the report lists
/// them: every file of the tree is empty, so each one taken is reported (`empty`). `index` is
/// `JOB_COMPLETION_INDEX` (removed when `None`).
fn dry_run_takes(
    setup: &Setup,
    tree: &Path,
    shard: &str,
    index: Option<&str>,
) -> std::collections::BTreeSet<String> {
    let report = setup.dir.path().join(format!(
        "report-{}-{}.jsonl",
        shard.replace('/', "-"),
        index.unwrap_or("none")
    ));
    let mut cmd = setup.cmd();
    cmd.env_remove("JOB_COMPLETION_INDEX");
    if let Some(k) = index {
        cmd.env("JOB_COMPLETION_INDEX", k);
    }
    let out = cmd
        .args([
            "--log-format",
            "json",
            "backfill",
            "--dry-run",
            "--shard",
            shard,
        ])
        .arg("--report")
        .arg(&report)
        .arg(tree)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let summary: Value = serde_json::from_str(stdout_of(&out).trim()).unwrap();
    let taken: std::collections::BTreeSet<String> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| {
            let line: Value = serde_json::from_str(l).unwrap();
            assert_eq!(line["code"], "empty", "{l}");
            line["path"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(summary["files"], taken.len() as u64, "{summary}");
    taken
}

#[test]
fn shard_auto_takes_k_from_the_job_completion_index() {
    use article_etl::extract::archive::{key_of, Shard};
    let setup = Setup::new();
    let tree = setup.files_dir("archive");
    let mut all = Vec::new();
    for day in 1..=3 {
        let dir = tree.join(format!("2004/01/0{day}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..20 {
            let file = dir.join(format!("content_{day}{i:02}.txt"));
            std::fs::write(&file, "").unwrap();
            all.push(file);
        }
    }
    let auto = dry_run_takes(&setup, &tree, "auto/3", Some("1"));
    let fixed = dry_run_takes(&setup, &tree, "1/3", None);
    assert_eq!(auto, fixed, "auto/3 with index 1 takes what 1/3 takes");
    // Exactly shard 1's files by the keys' hash: some, not all.
    let expected: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|f| Shard { k: 1, n: 3 }.owns(&key_of(&tree, f)))
        .map(|f| f.display().to_string())
        .collect();
    assert_eq!(auto, expected);
    assert!(!auto.is_empty() && auto.len() < all.len(), "{}", auto.len());
    // Every index a share, together the whole tree; K/N ignores the variable.
    let mut union = auto.clone();
    for k in ["0", "2"] {
        let other = dry_run_takes(&setup, &tree, "auto/3", Some(k));
        assert!(other.is_disjoint(&auto), "index {k} overlaps index 1");
        union.extend(other);
    }
    assert_eq!(union.len(), all.len());
    assert_eq!(dry_run_takes(&setup, &tree, "1/3", Some("2")), fixed);
}

#[test]
fn shard_auto_without_a_valid_job_completion_index_exits_2() {
    let setup = Setup::new();
    let tree = setup.files_dir("archive");
    std::fs::write(tree.join("content_1.txt"), "").unwrap();
    for index in [None, Some("3"), Some("x")] {
        let mut cmd = setup.cmd();
        cmd.env_remove("JOB_COMPLETION_INDEX");
        if let Some(k) = index {
            cmd.env("JOB_COMPLETION_INDEX", k);
        }
        let out = cmd
            .args(["backfill", "--dry-run", "--shard", "auto/3"])
            .arg(&tree)
            .output()
            .unwrap();
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{index:?}: {stderr}");
        assert!(
            stderr.contains("JOB_COMPLETION_INDEX") && stderr.contains("auto/3"),
            "{index:?}: names the variable: {stderr}"
        );
        assert!(stdout_of(&out).is_empty(), "{index:?}: nothing was run");
    }
}
