//! Packed inputs through the real binary against a real server (README, "Packed inputs"):
//! every format in a backfill and in an inbox, members keyed `archive!member`, an interrupted
//! backfill resumed inside a zip and a tar.gz, shards by member key, `inspect` and `validate`,
//! and hostile archives, each with its outcome. The archives are made here, from the tests'
//! own articles and the corpus generator.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// A member: its path inside the archive and its bytes.
type Entry = (String, Vec<u8>);

fn good_members(first: u64, n: u64, dir: &str) -> Vec<Entry> {
    (first..first + n)
        .map(|id| {
            (
                format!("{dir}content_{id}.txt"),
                article(id, &format!("打包稿件第{id}号"), &paragraphs(id, 2)).into_bytes(),
            )
        })
        .collect()
}

fn zip_bytes(entries: &[Entry], method: zip::CompressionMethod) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        z.start_file(name.as_str(), options).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
    out.into_inner()
}

fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        // Written by hand: the builder refuses `..` and absolute names, which the hostile
        // cases need.
        let raw = &mut h.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, bytes.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zst(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The archive of `entries` in `format`, written at `path`.
fn pack(path: &Path, format: &str, entries: &[Entry]) {
    let bytes = match format {
        "zip" => zip_bytes(entries, zip::CompressionMethod::Deflated),
        "zip-stored" => zip_bytes(entries, zip::CompressionMethod::Stored),
        "tar" => tar_bytes(entries),
        "tar.gz" => gz(&tar_bytes(entries)),
        "tar.zst" => zst(&tar_bytes(entries)),
        "tar.xz" => xz(&tar_bytes(entries)),
        other => panic!("no format {other}"),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

fn ids(docs: &[mongodb::bson::Document]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect()
}

fn report_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_loads_in_a_backfill_with_its_members_named() {
    let ws = Workspace::new("packed_formats");
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("papers");
    let formats = ["zip", "zip-stored", "tar", "tar.gz", "tar.zst", "tar.xz"];
    let mut expected = BTreeSet::new();
    for (i, format) in formats.iter().enumerate() {
        let first = 700_000 + 100 * i as u64;
        let members = good_members(first, 20, "2024/01/");
        expected.extend((first..first + 20).map(|id| format!("test-daily:{id}")));
        let ext = if *format == "zip-stored" {
            "zip"
        } else {
            format
        };
        pack(&tree.join(format!("{i}/export.{ext}")), format, &members);
    }
    // Single compressed files: one member each, named without the compression extension.
    let single = good_members(709_000, 2, "");
    std::fs::write(tree.join("content_709000.txt.gz"), gz(&single[0].1)).unwrap();
    std::fs::write(tree.join("content_709001.txt.zst"), zst(&single[1].1)).unwrap();
    expected.insert("test-daily:709000".into());
    expected.insert("test-daily:709001".into());
    // A zip named .tar.gz is read by its magic bytes.
    pack(
        &tree.join("misnamed.tar.gz"),
        "zip",
        &good_members(709_100, 3, ""),
    );
    expected.extend((709_100..709_103).map(|id| format!("test-daily:{id}")));
    let before = snapshot(&tree);

    ws.cmd().arg("backfill").arg(&tree).assert().success();

    assert_eq!(snapshot(&tree), before, "archives are never modified");
    let docs = ws.articles().await;
    assert_eq!(ids(&docs), expected);
    let d = docs
        .iter()
        .find(|d| d.get_str("_id") == Ok("test-daily:700105"))
        .unwrap();
    let f = d.get_document("source_file").unwrap();
    assert_eq!(
        f.get_str("path").unwrap(),
        "papers/1/export.zip!2024/01/content_700105.txt"
    );
    assert_eq!(f.get_str("archive").unwrap(), "papers/1/export.zip");
    assert_eq!(f.get_str("member").unwrap(), "2024/01/content_700105.txt");
    let single = docs
        .iter()
        .find(|d| d.get_str("_id") == Ok("test-daily:709000"))
        .unwrap();
    assert_eq!(
        single
            .get_document("source_file")
            .unwrap()
            .get_str("path")
            .unwrap(),
        "papers/content_709000.txt.gz!content_709000.txt"
    );
    // A second backfill finds every member finished.
    let out = ws
        .cmd()
        .args(["--log-format", "json", "backfill"])
        .arg(&tree)
        .assert()
        .success();
    let summary: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("summary");
    assert_eq!(
        summary["counts"]["skipped"].as_u64(),
        Some(expected.len() as u64)
    );
    assert_eq!(summary["counts"]["inserted"].as_u64(), Some(0));
    ws.cleanup().await;
}

/// A backfill stopped inside a big archive goes on from its finished members: they are
/// skipped, not written again, and every member ends loaded exactly once.
async fn resumes_inside(format: &str) {
    let ws = Workspace::new(&format!("packed_resume_{}", format.replace('.', "_")));
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("big");
    let spec = article_etl_corpus::CorpusSpec::new(11, 3000);
    let members: Vec<Entry> = article_etl_corpus::generate(spec)
        .map(|f| (format!("{}/{}", f.rel_dir, f.name), f.bytes.clone()))
        .collect();
    pack(&tree.join(format!("all.{format}")), format, &members);

    // Interrupted (SIGINT finishes the batches in flight) once some members are written.
    let mut child = ws
        .std_cmd()
        .arg("backfill")
        .arg(&tree)
        .spawn()
        .expect("backfill");
    let db = ws.database().await;
    let progress = db.collection::<mongodb::bson::Document>("backfill_progress");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while progress
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap_or(0)
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "no progress recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&child, libc::SIGINT);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), Some(0));
    let first = ws.articles().await.len();

    let out = ws
        .cmd()
        .args(["--log-format", "json", "backfill"])
        .arg(&tree)
        .assert()
        .success();
    let summary: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("summary");
    let skipped = summary["counts"]["skipped"].as_u64().unwrap();
    assert!(skipped > 0, "{format}: nothing skipped: {summary}");
    assert!(first > 0 && first < 3000, "{format}: stopped at {first}");
    // Every member once: the documents are those a single uninterrupted read gives.
    let docs = ws.articles().await;
    let unique = ids(&docs);
    assert_eq!(docs.len(), unique.len(), "duplicates");
    let opts = article_etl::transform::ParseOptions::for_source("test-daily");
    let expected: BTreeSet<String> = members
        .iter()
        .filter_map(|(name, bytes)| {
            article_etl::transform::transform(
                &article_etl::transform::RawFile {
                    path: name,
                    bytes,
                    mtime: None,
                },
                &opts,
            )
            .ok()
            .map(|a| a.id)
        })
        .collect();
    assert_eq!(unique, expected, "{format}");
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_backfill_resumes_inside_a_zip() {
    resumes_inside("zip").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_backfill_resumes_inside_a_tar_gz() {
    resumes_inside("tar.gz").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_split_an_archive_by_member_key_without_overlap() {
    let ws = Workspace::new("packed_shards");
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("sharded");
    pack(
        &tree.join("all.tar.zst"),
        "tar.zst",
        &good_members(720_000, 300, "d/"),
    );
    let mut inserted = 0;
    for k in 0..3 {
        let out = ws
            .cmd()
            .args(["--log-format", "json", "backfill", "--shard"])
            .arg(format!("{k}/3"))
            .arg(&tree)
            .assert()
            .success();
        let summary: serde_json::Value =
            serde_json::from_slice(&out.get_output().stdout).expect("summary");
        let n = summary["counts"]["inserted"].as_u64().unwrap();
        assert!(n > 50, "shard {k} took {n}");
        inserted += n;
    }
    assert_eq!(inserted, 300, "each member by exactly one shard");
    assert_eq!(ws.articles().await.len(), 300);
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_in_an_inbox_is_done_with_its_last_member_and_lists_its_failures() {
    let ws = Workspace::new("packed_inbox");
    let mut members = good_members(730_000, 30, "a/");
    members.push(("a/empty.txt".into(), Vec::new()));
    members.push(("a/notes.md".into(), b"not taken".to_vec()));
    members.push(("a/binary.txt".into(), b"\x00\x01binary".to_vec()));
    pack(&ws.inbox.join("day.zip"), "zip", &members);
    // None of these loads: quarantined whole, its report listing every member.
    pack(
        &ws.inbox.join("broken.tar.gz"),
        "tar.gz",
        &[("x/empty.txt".into(), Vec::new())],
    );
    ws.drop_file(
        "content_731000.txt",
        article(731_000, "散件", &paragraphs(1, 1)),
    );

    ws.cmd().args(["run", "--once"]).assert().code(0);

    assert_eq!(ws.articles().await.len(), 31);
    let done = ws.files("done");
    assert!(done.contains(&"day.zip".to_owned()), "{done:?}");
    assert!(done.contains(&"content_731000.txt".to_owned()), "{done:?}");
    let report = find(&ws.work.join("done"), "day.zip.error.json").expect("report in done/");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(report["code"], "members_failed");
    let failed: BTreeMap<String, String> = report["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert!(m.get("line").is_some() && m["message"].as_str().is_some());
            (
                m["member"].as_str().unwrap().to_owned(),
                m["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        BTreeMap::from([
            ("a/binary.txt".to_owned(), "binary".to_owned()),
            ("a/empty.txt".to_owned(), "empty".to_owned()),
        ])
    );
    let quarantine = ws.files("quarantine");
    assert!(
        quarantine.contains(&"broken.tar.gz".to_owned()),
        "{quarantine:?}"
    );
    let q: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.work.join("quarantine/broken.tar.gz.error.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(q["code"], "no_member_loaded");
    assert_eq!(q["members"][0]["member"], "x/empty.txt");
    assert!(ws.files("processing").is_empty());
    let run = ws.last_run().await;
    // Members are the run's files: 30 + 1 loose inserted, 3 failed members.
    assert_eq!(count(&run, "inserted"), 31);
    assert_eq!(count(&run, "quarantined"), 3);
    assert_eq!(count(&run, "seen"), 34);
    ws.cleanup().await;
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy() == name)
        .map(|e| e.into_path())
}

const ARCHIVES: u64 = 8;
const PER_ARCHIVE: u64 = 600;

#[tokio::test(flavor = "multi_thread")]
async fn archives_in_an_inbox_killed_at_random_moments_load_once_and_reach_done_once() {
    let ws = Workspace::with(
        "packed_crash",
        Options {
            batch_size: 50,
            ..Options::default()
        },
    );
    let mut expected = BTreeSet::new();
    // Enough members that the first kill always lands while the run is going (a quiet
    // machine loads a few thousand a second).
    for a in 0..ARCHIVES {
        let first = 740_000 + a * PER_ARCHIVE;
        expected.extend((first..first + PER_ARCHIVE).map(|id| format!("test-daily:{id}")));
        let format = ["zip", "tar.gz", "tar.zst"][a as usize % 3];
        pack(
            &ws.inbox.join(format!("batch{a}.{format}")),
            format,
            &good_members(first, PER_ARCHIVE, ""),
        );
    }
    let mut rng = fastrand::Rng::with_seed(16);
    let mut killed = 0;
    for _ in 0..60 {
        if killed >= 6 {
            break;
        }
        let mut child = ws.std_cmd().args(["run", "--once"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(30..400)));
        match child.try_wait().unwrap() {
            Some(_) => break,
            None => {
                signal(&child, libc::SIGKILL);
                let _ = child.wait();
                killed += 1;
            }
        }
    }
    assert!(killed > 0, "never killed while running");
    ws.cmd().args(["run", "--once"]).assert().code(0);

    let docs = ws.articles().await;
    assert_eq!(docs.len(), expected.len(), "duplicates or losses");
    assert_eq!(ids(&docs), expected);
    for d in &docs {
        assert_eq!(d.get_i32("revision").unwrap(), 1);
    }
    let done: Vec<String> = ws
        .files("done")
        .into_iter()
        .filter(|n| !n.ends_with(".json"))
        .collect();
    let unique: BTreeSet<&String> = done.iter().collect();
    assert_eq!(
        done.len(),
        ARCHIVES as usize,
        "each archive in done/ once: {done:?}"
    );
    assert_eq!(unique.len(), ARCHIVES as usize);
    assert!(ws.files("processing").is_empty());
    assert!(ws.files("quarantine").is_empty());
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_and_validate_read_archives() {
    let ws = Workspace::new("packed_inspect");
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("x.zip");
    let mut members = good_members(750_000, 3, "p/");
    members.push(("p/empty.txt".into(), Vec::new()));
    pack(&zip, "zip", &members);

    let out = ws.cmd().arg("inspect").arg(&zip).assert().code(1);
    let docs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["source_file"]["member"], "p/content_750000.txt");
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("empty"));

    let one = format!("{}!p/content_750001.txt", zip.display());
    let out = ws.cmd().args(["inspect", &one]).assert().code(0);
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["content_id"], "750001");

    let out = ws
        .cmd()
        .args(["--log-format", "json", "validate"])
        .arg(dir.path())
        .assert()
        .code(1);
    let summary: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(summary["files"], 4);
    assert_eq!(summary["ok"], 3);
    assert_eq!(summary["failed_by_code"]["empty"], 1);
    assert!(summary["problems"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("x.zip!p/empty.txt"));
}

/// Sets the "encrypted" flag of every entry of a zip (local headers and central directory).
fn mark_encrypted(zip: &mut [u8]) {
    patch_zip(zip, |flags, _| *flags |= 1);
}

/// Gives every entry of a zip the compression method 12 (bzip2), which we do not read.
fn mark_bzip2(zip: &mut [u8]) {
    patch_zip(zip, |_, method| *method = 12);
}

fn patch_zip(zip: &mut [u8], edit: impl Fn(&mut u16, &mut u16)) {
    let mut i = 0;
    while i + 12 < zip.len() {
        let (flags_at, method_at) = match &zip[i..i + 4] {
            b"PK\x03\x04" => (i + 6, i + 8),
            b"PK\x01\x02" => (i + 8, i + 10),
            _ => {
                i += 1;
                continue;
            }
        };
        let mut flags = u16::from_le_bytes([zip[flags_at], zip[flags_at + 1]]);
        let mut method = u16::from_le_bytes([zip[method_at], zip[method_at + 1]]);
        edit(&mut flags, &mut method);
        zip[flags_at..flags_at + 2].copy_from_slice(&flags.to_le_bytes());
        zip[method_at..method_at + 2].copy_from_slice(&method.to_le_bytes());
        i += 4;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_archives_get_a_clear_outcome_and_their_readable_members_load() {
    let ws = Workspace::new("packed_hostile");
    // Small limits, so that a bomb is cheap to make.
    let settings = std::fs::read_to_string(&ws.config).unwrap();
    std::fs::write(
        &ws.config,
        format!(
            "{settings}[archive]\nmax_members = 50\nmax_total_bytes = 4000000\nmax_ratio = 50\n"
        ),
    )
    .unwrap();
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("hostile");
    let outside = archive.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();

    // Paths out of the archive: refused, the good member loads.
    let mut escaping = good_members(760_000, 1, "");
    escaping.push(("../escape/content_760001.txt".into(), b"x".to_vec()));
    escaping.push(("/abs/content_760002.txt".into(), b"x".to_vec()));
    pack(&tree.join("escape.tar"), "tar", &escaping);
    // Links: skipped.
    let mut b = tar::Builder::new(Vec::new());
    for (kind, name) in [
        (tar::EntryType::Symlink, "link.txt"),
        (tar::EntryType::Link, "hard.txt"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_link(&mut h, name, "/etc/passwd").unwrap();
    }
    let (good_name, good_bytes) = good_members(760_010, 1, "").remove(0);
    let mut h = tar::Header::new_gnu();
    h.set_size(good_bytes.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, &good_name, good_bytes.as_slice())
        .unwrap();
    std::fs::write(tree.join("links.tar"), b.into_inner().unwrap()).unwrap();
    // Encrypted and unsupported zip entries.
    let mut enc = zip_bytes(
        &good_members(760_020, 1, ""),
        zip::CompressionMethod::Stored,
    );
    mark_encrypted(&mut enc);
    std::fs::write(tree.join("encrypted.zip"), enc).unwrap();
    let mut bz = zip_bytes(
        &good_members(760_030, 1, ""),
        zip::CompressionMethod::Stored,
    );
    mark_bzip2(&mut bz);
    std::fs::write(tree.join("bzip2.zip"), bz).unwrap();
    // Truncated: the first members load, the rest is reported.
    let full = gz(&tar_bytes(&good_members(760_100, 40, "t/")));
    std::fs::write(tree.join("truncated.tar.gz"), &full[..full.len() * 2 / 3]).unwrap();
    // Too many members: the first 50 entries are read, then it stops.
    pack(
        &tree.join("many.tar"),
        "tar",
        &good_members(760_200, 80, "m/"),
    );
    // A bomb: a highly compressible member far over the ratio.
    let bomb = vec![("bomb/content_760300.txt".to_owned(), vec![b'a'; 3_000_000])];
    pack(&tree.join("bomb.tar.zst"), "tar.zst", &bomb);
    // An archive inside an archive: refused, not opened.
    let inner = zip_bytes(
        &good_members(760_400, 1, ""),
        zip::CompressionMethod::Deflated,
    );
    let mut outer = good_members(760_401, 1, "");
    outer.push(("inner.zip".into(), inner));
    pack(&tree.join("nested.zip"), "zip", &outer);
    let before = snapshot(archive.path());
    let report = ws.dir.path().join("report.jsonl");

    ws.cmd()
        .args(["backfill", "--report"])
        .arg(&report)
        .arg(&tree)
        .assert()
        .success();

    assert_eq!(snapshot(archive.path()), before, "nothing written anywhere");
    let lines = report_lines(&report);
    let by_code: BTreeMap<String, Vec<String>> = lines.iter().fold(BTreeMap::new(), |mut m, l| {
        m.entry(l["code"].as_str().unwrap().to_owned())
            .or_default()
            .push(l["path"].as_str().unwrap().to_owned());
        m
    });
    for code in [
        "unsafe_path",
        "link_member",
        "encrypted",
        "unsupported",
        "corrupt",
        "too_many_members",
        "compression_ratio",
        "nested_archive",
    ] {
        assert!(by_code.contains_key(code), "no {code}: {by_code:?}");
    }
    assert_eq!(by_code["unsafe_path"].len(), 2);
    assert_eq!(by_code["link_member"].len(), 2);
    assert!(by_code["nested_archive"][0].ends_with("nested.zip!inner.zip"));
    let loaded = ids(&ws.articles().await);
    for id in [760_000, 760_010, 760_100, 760_200, 760_401] {
        assert!(
            loaded.contains(&format!("test-daily:{id}")),
            "{id} did not load: {loaded:?}"
        );
    }
    assert!(
        !loaded.contains("test-daily:760400"),
        "the nested archive was opened"
    );
    let truncated = loaded
        .iter()
        .filter(|id| id.starts_with("test-daily:7601"))
        .count();
    assert!(truncated > 0 && truncated < 40, "truncated: {truncated}");
    let many = loaded
        .iter()
        .filter(|id| id.starts_with("test-daily:7602"))
        .count();
    assert!(many <= 50, "too many members: {many}");
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_takes_an_archive_named_directly() {
    let ws = Workspace::new("packed_direct");
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("2024-01.zip");
    pack(&zip, "zip", &good_members(770_000, 5, "01/"));
    std::fs::write(dir.path().join("notes.txt"), "not an archive").unwrap();

    ws.cmd().arg("backfill").arg(&zip).assert().success();

    let docs = ws.articles().await;
    assert_eq!(docs.len(), 5);
    let paths: BTreeSet<String> = docs
        .iter()
        .map(|d| {
            d.get_document("source_file")
                .unwrap()
                .get_str("path")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        paths.contains("2024-01.zip!01/content_770000.txt"),
        "{paths:?}"
    );
    // A plain file is neither a tree nor an archive.
    ws.cmd()
        .arg("backfill")
        .arg(dir.path().join("notes.txt"))
        .assert()
        .code(3);
    ws.cleanup().await;
}
