//! A corpus of malformed inputs, generated here: every one gets a clear outcome (loaded with
//! warnings, quarantined with a code and a report, or left alone when it is not a regular
//! file of the pipeline), the service never panics or stops, and the good files around them
//! all load. Run through `run --once` and through the daemon.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::Duration;

use common::*;

/// What must become of a file.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Quarantined with this code.
    Quarantine(&'static str),
    /// Loaded (possibly with warnings).
    Load,
    /// Never taken: stays in the inbox as it is.
    Untouched,
}

const TRAILER: &str = "--> 2024-03-05 1 1 测试日报 content_{ID}.html 1 标题{ID} /enpproperty-->";

fn trailer(id: u64) -> String {
    TRAILER.replace("{ID}", &id.to_string())
}

fn with_trailer(id: u64, head: &str) -> Vec<u8> {
    format!("{head}\n\n{}\n", trailer(id)).into_bytes()
}

/// (file name as bytes, content, expectation). At least 50 distinct shapes.
fn corpus() -> Vec<(Vec<u8>, Vec<u8>, Expect)> {
    use Expect::*;
    let good_body = "标题{ID}\n\n□ 本报记者 柳晓岚\n\n正文第一段,内容完整。\n";
    let body = |id: u64| good_body.replace("{ID}", &id.to_string());
    let utf16 = |text: &str, le: bool| -> Vec<u8> {
        let mut out = if le {
            vec![0xFF, 0xFE]
        } else {
            vec![0xFE, 0xFF]
        };
        for unit in text.encode_utf16() {
            out.extend_from_slice(&if le {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            });
        }
        out
    };
    let mut c: Vec<(Vec<u8>, Vec<u8>, Expect)> = vec![
        (b"empty.txt".to_vec(), vec![], Quarantine("empty")),
        (b"spaces.txt".to_vec(), b"   \t  ".to_vec(), Quarantine("empty")),
        (b"newlines.txt".to_vec(), b"\n\n\r\n\r\n".to_vec(), Quarantine("empty")),
        (b"fullwidth-spaces.txt".to_vec(), "\u{3000}\u{3000}\n\u{00A0}".as_bytes().to_vec(), Quarantine("empty")),
        (b"zero-width-only.txt".to_vec(), "\u{200B}\u{FEFF}\u{200D}".as_bytes().to_vec(), Quarantine("empty")),
        (b"bom-only.txt".to_vec(), b"\xEF\xBB\xBF".to_vec(), Quarantine("empty")),
        (b"png.txt".to_vec(), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0".to_vec(), Quarantine("binary")),
        (b"nul-in-text.txt".to_vec(), [body(9001).as_bytes(), b"\0", trailer(9001).as_bytes()].concat(), Quarantine("binary")),
        (b"elf.txt".to_vec(), b"\x7fELF\x02\x01\x01\0\0\0\0\0".to_vec(), Quarantine("binary")),
        (b"gzip.txt".to_vec(), b"\x1f\x8b\x08\0\0\0\0\0\0\x03\x4b\x4c\x4a\x06\0".to_vec(), Quarantine("binary")),
        (b"pdf.txt".to_vec(), b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<\x00>>".to_vec(), Quarantine("binary")),
        (b"controls.txt".to_vec(), (0u8..32).cycle().take(400).filter(|b| *b != 0).collect(), Quarantine("binary")),
        (b"utf16-no-bom.txt".to_vec(), utf16(&body(9002), true)[2..].to_vec(), Quarantine("binary")),
        (b"utf16-odd-length.txt".to_vec(), [utf16("标题", true), vec![0x41]].concat(), Quarantine("undecodable")),
        (b"utf16-lone-surrogate.txt".to_vec(), [vec![0xFF, 0xFE], vec![0x00, 0xD8, 0x41, 0x00]].concat(), Quarantine("undecodable")),
        (b"not-utf8-nor-gb18030.txt".to_vec(), [body(9003).as_bytes(), b"\xff\xfe\xff\n"].concat(), Quarantine("undecodable")),
        (b"bom-then-invalid.txt".to_vec(), [b"\xEF\xBB\xBF".as_slice(), b"ok\n\x80\x80"].concat(), Quarantine("undecodable")),
        (b"truncated-trailer.txt".to_vec(), format!("{}\n\n--> 2024-03-05 1 1 测试日报 content_9004.ht", body(9004)).into_bytes(), Quarantine("malformed_trailer")),
        (b"trailer-cut-before-end.txt".to_vec(), format!("{}\n\n--> 2024-03-05 1 1 测试日报 content_9005.html 1 标题 /enpprop", body(9005)).into_bytes(), Load),
        (b"doubled-trailer.txt".to_vec(), format!("{}\n\n{}\n{}\n", body(9006), trailer(9006), trailer(9007)).into_bytes(), Quarantine("multiple_trailers")),
        (b"two-trailers-one-line.txt".to_vec(), format!("{}\n\n{} {}\n", body(9008), trailer(9008), trailer(9008)).into_bytes(), Quarantine("malformed_trailer")),
        (b"trailer-only.txt".to_vec(), format!("{}\n", trailer(9009)).into_bytes(), Quarantine("no_body")),
        (b"trailer-only-two-lines.txt".to_vec(), b"--> 2024-03-05\n1 1 \xe6\xb5\x8b content_9010.html 1 t /enpproperty-->\n".to_vec(), Quarantine("no_body")),
        (b"trailer-no-url.txt".to_vec(), format!("{}\n\n--> 2024-03-05 1 1 测试日报 1 标题 /enpproperty-->\n", body(9011)).into_bytes(), Quarantine("malformed_trailer")),
        (b"trailer-no-date.txt".to_vec(), format!("{}\n\n--> 1 1 测试日报 content_9012.html 1 标题 /enpproperty-->\n", body(9012)).into_bytes(), Load),
        (b"trailer-bad-date.txt".to_vec(), format!("{}\n\n--> 2024-02-30 1 1 测试日报 content_9013.html 1 标题 /enpproperty-->\n", body(9013)).into_bytes(), Load),
        (b"trailer-month-13.txt".to_vec(), format!("{}\n\n--> 2024-13-01 1 1 测试日报 content_9014.html 1 标题 /enpproperty-->\n", body(9014)).into_bytes(), Load),
        (b"trailer-garbage-date.txt".to_vec(), format!("{}\n\n--> 2024-1x-02 1 1 测试日报 content_9015.html 1 标题 /enpproperty-->\n", body(9015)).into_bytes(), Load),
        (b"enpproperty-in-body.txt".to_vec(), format!("{}\nthe enpproperty comment was here\n", body(9016)).into_bytes(), Quarantine("missing_content_id")),
        (b"bare-arrow.txt".to_vec(), b"-->\n".to_vec(), Quarantine("malformed_trailer")),
        (b"bare-end-marker.txt".to_vec(), b"/enpproperty-->\n".to_vec(), Quarantine("malformed_trailer")),
        (b"header-impossible-date.txt".to_vec(), "2024年02月30日\n\n标题\n\n正文。\n".as_bytes().to_vec(), Quarantine("missing_content_id")),
        (b"header-zero-date.txt".to_vec(), "0000年00月00日\n\n标题\n\n正文。\n".as_bytes().to_vec(), Quarantine("missing_content_id")),
        (b"no-id-anywhere.txt".to_vec(), "标题\n\n正文,没有尾部也没有编号。\n".as_bytes().to_vec(), Quarantine("missing_content_id")),
        (b"html-page.txt".to_vec(), b"<html><head><title>x</title></head><body><p>hello</p></body></html>\n".to_vec(), Quarantine("missing_content_id")),
        (b"only-furniture.txt".to_vec(), "上一篇 下一篇\n\n放大 缩小 默认\n".as_bytes().to_vec(), Quarantine("missing_content_id")),
        // No headline but an id (its name) and a text: an article, flagged `no_headline`.
        (b"c9017.txt".to_vec(), "这是一段很长的正文,没有任何标题,也没有尾部,只有一段又一段的文字,一直写到结束为止,没有停顿。\n".repeat(3).into_bytes(), Load),
        // Odd but well-formed: loaded, with warnings where they apply.
        (b"no-header.txt".to_vec(), format!("正文第一段,内容完整。\n\n{}\n", trailer(9018)).into_bytes(), Load),
        (b"text-after-trailer.txt".to_vec(), format!("{}\n\n{}\n\n尾部之后还有文字。\n", body(9019), trailer(9019)).into_bytes(), Load),
        (b"cr-only.txt".to_vec(), format!("{}\r\r{}\r", body(9020), trailer(9020)).replace('\n', "\r").into_bytes(), Load),
        (b"tabs.txt".to_vec(), format!("\t标题9021\t\n\n\t正文\t第一段。\n\n{}\n", trailer(9021)).into_bytes(), Load),
        (b"zero-width-everywhere.txt".to_vec(), format!("标\u{200B}题9022\n\n正\u{200B}文。\n\n{}\n", trailer(9022)).into_bytes(), Load),
        (b"huge-number-in-trailer.txt".to_vec(), format!("{}\n\n--> 2024-03-05 1 1 测试日报 content_9023.html 99999999999999999999999 标题9023 /enpproperty-->\n", body(9023)).into_bytes(), Load),
        (b"long-content-id.txt".to_vec(), with_trailer(123456789012345678, &body(9024)), Load),
        (b"huge-headline.txt".to_vec(), format!("{}\n\n--> 2024-03-05 1 1 测试日报 content_9025.html 1 {} /enpproperty-->\n", body(9025), "长".repeat(10_000)).into_bytes(), Load),
        (b"one-megabyte-line.txt".to_vec(), format!("标题9026\n\n{}。\n\n{}\n", "字".repeat(350_000), trailer(9026)).into_bytes(), Load),
        (b"gb18030-mixed-utf8.txt".to_vec(), [body(9027).as_bytes(), &encoding_rs::GB18030.encode("混合编码").0, trailer(9027).as_bytes()].concat(), Quarantine("undecodable")),
        // Names.
        (b"name with spaces.txt".to_vec(), with_trailer(9028, &body(9028)), Load),
        (b"name\nwith\nnewlines.txt".to_vec(), with_trailer(9029, &body(9029)), Load),
        (b"non-utf8-\xff\xfe-name.txt".to_vec(), with_trailer(9030, &body(9030)), Load),
        (b"-rf.txt".to_vec(), with_trailer(9031, &body(9031)), Load),
        ("稿件 第一.txt".as_bytes().to_vec(), with_trailer(9032, &body(9032)), Load),
        ([vec![b'x'; 250], b".txt".to_vec()].concat(), with_trailer(9033, &body(9033)), Load),
        (b"..txt".to_vec(), with_trailer(9034, &body(9034)), Untouched),
        (b"partial.txt.part".to_vec(), with_trailer(9035, &body(9035)), Untouched),
        (b"upload.tmp".to_vec(), with_trailer(9036, &body(9036)), Untouched),
        (b"not-an-article.md".to_vec(), with_trailer(9037, &body(9037)), Untouched),
    ];
    // Over max_file_bytes (set to 4 MB for this test), and a 100 MB single line.
    c.push((
        b"over-limit.txt".to_vec(),
        with_trailer(9038, &"大".repeat(1_500_000)),
        Quarantine("too_large"),
    ));
    c.push((
        b"hundred-mb-line.txt".to_vec(),
        vec![b'a'; 100 * 1024 * 1024],
        Quarantine("too_large"),
    ));
    c
}

fn name(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// Drops the corpus, the special entries and `good` good files into the inbox.
fn populate(ws: &Workspace, outside: &Path) -> Vec<(Vec<u8>, Expect)> {
    let mut expectations = Vec::new();
    for (n, content, expect) in corpus() {
        std::fs::write(ws.inbox.join(name(&n)), content).unwrap();
        expectations.push((n, expect));
    }
    // Not regular files: never taken.
    std::fs::create_dir_all(ws.inbox.join("directory.txt")).unwrap();
    std::fs::write(
        outside.join("secret.txt"),
        with_trailer(9100, "标题\n\n正文。"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), ws.inbox.join("symlink-out.txt"))
        .unwrap();
    std::os::unix::fs::symlink("/nonexistent/dangling", ws.inbox.join("dangling.txt")).unwrap();
    expectations.push((b"symlink-out.txt".to_vec(), Expect::Untouched));
    expectations.push((b"dangling.txt".to_vec(), Expect::Untouched));
    fill_inbox(ws, 1, 20);
    expectations
}

fn check(ws: &Workspace, expectations: &[(Vec<u8>, Expect)], outside: &Path) {
    let quarantine = ws.work.join("quarantine");
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for (n, expect) in expectations {
        let shown = String::from_utf8_lossy(n).into_owned();
        let os = name(n);
        let in_inbox = ws.inbox.join(&os).symlink_metadata().is_ok();
        match expect {
            Expect::Untouched => assert!(in_inbox, "{shown:?} was taken"),
            Expect::Load => {
                assert!(!in_inbox, "{shown:?} was not taken");
                assert!(!quarantine.join(&os).exists(), "{shown:?} was quarantined");
            }
            Expect::Quarantine(code) => {
                assert!(quarantine.join(&os).exists(), "{shown:?} not quarantined");
                let mut report_name = os.clone();
                report_name.push(".error.json");
                let report: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(quarantine.join(report_name)).unwrap())
                        .unwrap();
                assert_eq!(report["code"], *code, "{shown:?}: {report}");
                assert!(report["message"].as_str().is_some_and(|m| !m.is_empty()));
                *codes.entry(code.to_string()).or_default() += 1;
            }
        }
    }
    assert!(ws.inbox.join("directory.txt").is_dir());
    assert!(outside.join("secret.txt").is_file());
    assert!(ws.files("processing").is_empty());
    // The good files around them all loaded.
    let done = ws.files("done");
    for id in 1..=20 {
        assert!(
            done.contains(&format!("content_{id}.txt")),
            "good file {id} not loaded"
        );
    }
    assert!(codes.len() >= 8, "{codes:?}");
    // Nothing was written outside the work dir and the inbox.
    let stray: Vec<_> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !["inbox", "work", "pipelines", "settings.toml", "daemon.log"].contains(&n.as_str())
        })
        .collect();
    assert!(stray.is_empty(), "written outside: {stray:?}");
}

fn options() -> Options {
    Options {
        max_file_bytes: 4 * 1024 * 1024,
        settle_ms: 300,
        rescan_interval_ms: 1000,
        ..Options::default()
    }
}

#[test]
fn at_least_fifty_distinct_shapes() {
    let c = corpus();
    assert!(c.len() >= 50, "{} shapes", c.len());
    let names: std::collections::BTreeSet<&Vec<u8>> = c.iter().map(|(n, _, _)| n).collect();
    assert_eq!(names.len(), c.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_gives_every_malformed_file_a_clear_outcome() {
    let ws = Workspace::with("bad_once", options());
    let outside = tempfile::tempdir().unwrap();
    let expectations = populate(&ws, outside.path());
    let out = ws.cmd().args(["run", "--once"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    check(&ws, &expectations, outside.path());
    let run = ws.last_run().await;
    assert_eq!(run.get_str("status").unwrap(), "ok");
    assert_eq!(count(&run, "failed"), 0);
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_never_stops_on_malformed_files() {
    let ws = Workspace::with("bad_daemon", options());
    let outside = tempfile::tempdir().unwrap();
    let mut daemon = ws.start_daemon();
    let expectations = populate(&ws, outside.path());
    // Done when only what must never be taken is left in the inbox (+1: the directory).
    let untouched = expectations
        .iter()
        .filter(|(_, e)| *e == Expect::Untouched)
        .count()
        + 1;
    let settled = wait_for(Duration::from_secs(90), || {
        std::fs::read_dir(&ws.inbox).map(|d| d.count()).unwrap_or(0) == untouched
            && ws.files("processing").is_empty()
    });
    let left: Vec<String> = std::fs::read_dir(&ws.inbox)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(settled, "left in the inbox: {left:?}\n{}", ws.daemon_log());
    assert_eq!(
        ws.http_get("/healthz").map(|r| r.0),
        Some(200),
        "the daemon is still up"
    );
    signal(&daemon, libc::SIGTERM);
    assert_eq!(wait_exit(&mut daemon, Duration::from_secs(30)), Some(0));
    assert!(!ws.daemon_log().contains("panicked"));
    check(&ws, &expectations, outside.path());
    ws.cleanup().await;
}
