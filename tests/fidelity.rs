//! Fidelity on real pages: the development set in `../shared/real-pages/` (outside text, read
//! in place and never copied here). Every hand-checked field of `expected.jsonl` must hold, and
//! every page must get a verdict (a document or a typed refusal) without a panic.
//! `scripts/fidelity` prints the same figures and writes `docs/fidelity.md`.

use std::path::{Path, PathBuf};

use article_etl::document::Article;
use article_etl::parse::parse_file;
use article_etl::transform::ParseOptions;

fn real_pages() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/real-pages");
    if dir.join("expected.jsonl").is_file() {
        return Some(dir);
    }
    eprintln!(
        "\n*** SKIPPED: no development set at {} (it is beside the repository in CI) ***\n",
        dir.display()
    );
    None
}

fn opts() -> ParseOptions {
    let mut o = ParseOptions::for_source("laibin-daily");
    o.paper = Some("来宾日报".to_owned());
    o
}

fn field(a: &Article, key: &str) -> serde_json::Value {
    match key {
        "_id" => a.id.clone().into(),
        "content_id" => a.content_id.clone().into(),
        "pub_date" => a.pub_date.clone().into(),
        "paper" => a.paper.clone().into(),
        "headline" => a.headline.clone().into(),
        "subtitle" => a.subtitle.clone().into(),
        "authors" => a
            .authors
            .iter()
            .map(|x| serde_json::Value::from(x.name.clone()))
            .collect::<Vec<_>>()
            .into(),
        other => panic!("expected.jsonl has a key this test does not know: {other}"),
    }
}

#[test]
fn every_hand_checked_field_holds() {
    let Some(dir) = real_pages() else { return };
    let expected = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
    let mut misses = Vec::new();
    let mut checked = 0;
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let e: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        let file = e["file"].as_str().unwrap();
        let a = match parse_file(&dir.join(file), &opts()) {
            Ok(a) => a,
            Err(err) => {
                misses.push(format!("{file}: refused: {err}"));
                continue;
            }
        };
        for (key, want) in e.iter().filter(|(k, _)| *k != "file") {
            checked += 1;
            let got = field(&a, key);
            if &got != want {
                misses.push(format!("{file} {key}: expected {want}, got {got}"));
            }
        }
    }
    assert!(checked >= 120, "only {checked} expectations read");
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn every_page_gets_a_verdict_without_a_panic() {
    let Some(dir) = real_pages() else { return };
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir.join("pages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    pages.sort();
    assert!(pages.len() >= 100, "{} pages", pages.len());
    let mut refused = Vec::new();
    for page in &pages {
        let verdict = std::panic::catch_unwind(|| parse_file(page, &opts()));
        match verdict {
            Err(_) => panic!("{}: the parser panicked", page.display()),
            Ok(Ok(a)) => {
                assert!(!a.content_id.is_empty(), "{}", page.display());
                assert!(!a.text.is_empty() || a.has_warning("empty_body"));
            }
            Ok(Err(e)) => {
                // A refusal names its file and a stable code.
                assert!(e.to_string().contains(&page.display().to_string()), "{e}");
                refused.push(format!("{}: {}", page.display(), e.kind.code()));
            }
        }
    }
    // The pages are named by number, which the file-name rule reads as a content id; every
    // one has a text, so none may be refused.
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

/// Every page's trailer in the shapes other papers give it (docs/format.md §2.6,
/// "Shapes of real pages"): the marker spaced or missing, the trailer split over lines anywhere or one token a
/// line, other URLs after it, other URL forms, the comment's opening on a line of its own or
/// glued, no date line in the header, an empty headline field. Made in memory from the real
/// pages at test time; every hand-checked field must still hold.
#[test]
fn every_hand_checked_field_holds_in_every_trailer_shape() {
    let Some(dir) = real_pages() else { return };
    let expected = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
    let date_or_page = regex::Regex::new(r"^\s*(\d{4}年\d{1,2}月\d{1,2}日|第\S+版)").unwrap();
    let content_url = regex::Regex::new(r"content_(\d+)\.html?").unwrap();
    let headline_field = regex::Regex::new(
        r"^(.*?(?:content_|c)\d+\.html?(?: \d+){1,2}) .*?(?: \d{1,3}(?:,\d{3})+)? ?/enpproperty-->",
    )
    .unwrap();
    let mut misses = Vec::new();
    let mut variants_checked = 0;
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let e: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        let file = e["file"].as_str().unwrap();
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        let at = lines
            .iter()
            .rposition(|l| l.contains("enpproperty"))
            .expect("a page with a trailer");
        let t = lines[at];
        let tokens: Vec<&str> = t.split(' ').collect();
        let with = |replacement: &[String]| -> String {
            let mut out: Vec<String> = lines[..at].iter().map(|l| l.to_string()).collect();
            out.extend(replacement.iter().cloned());
            out.extend(lines[at + 1..].iter().map(|l| l.to_string()));
            out.join("\n")
        };
        let no_marker = t.replace(" /enpproperty-->", "");
        let third = (tokens.len() / 3).max(1);
        let mut variants: Vec<(&str, String)> = vec![
            ("spaced marker", with(&[t.replace("/enpproperty-->", "/enpproperty -->")])),
            ("no marker", with(std::slice::from_ref(&no_marker))),
            ("one token a line", with(&tokens.iter().map(|s| s.to_string()).collect::<Vec<_>>())),
            (
                "one token a line, no marker",
                with(&no_marker.split(' ').map(str::to_owned).collect::<Vec<_>>()),
            ),
            (
                "cut in three",
                with(&[
                    tokens[..third].join(" "),
                    tokens[third..2 * third].join(" "),
                    tokens[2 * third..].join(" "),
                ]),
            ),
            (
                "other articles after it",
                format!("{text}\n\n上一篇 content_1.html\n下一篇 content_2.html\nhttp://x.cn/content_3.htm"),
            ),
            (
                "other articles after it, no marker",
                with(&[no_marker.clone(), "content_11.html 另一篇".into(), "content_12.html 又一篇".into()]),
            ),
            ("c_ URL", with(&[content_url.replace(t, "c_${1}.html").into_owned()])),
            ("con URL", with(&[content_url.replace(t, "con${1}.htm").into_owned()])),
            ("opening on its own line", with(&["-->".into(), t.trim_start_matches("--> ").to_owned()])),
            ("opening glued", with(&[t.replacen("--> ", "-->", 1)])),
            ("opening comment", with(&[format!("<!--enpproperty {}", t.trim_start_matches("--> "))])),
            (
                "no date line or page label",
                lines
                    .iter()
                    .enumerate()
                    .filter(|(k, l)| *k >= at || !date_or_page.is_match(l))
                    .map(|(_, l)| *l)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ];
        if let Some(c) = headline_field.captures(t) {
            variants.push((
                "empty headline field",
                with(&[format!("{} /enpproperty-->", &c[1])]),
            ));
        }
        for (shape, body) in variants {
            variants_checked += 1;
            let raw = article_etl::transform::RawFile {
                path: file,
                bytes: body.as_bytes(),
                mtime: None,
            };
            let a = match article_etl::transform::transform(&raw, &opts()) {
                Ok(a) => a,
                Err(err) => {
                    misses.push(format!("{file} [{shape}]: refused: {err}"));
                    continue;
                }
            };
            for (key, want) in e.iter().filter(|(k, _)| *k != "file") {
                let got = field(&a, key);
                if &got != want {
                    misses.push(format!(
                        "{file} [{shape}] {key}: expected {want}, got {got}"
                    ));
                }
            }
        }
    }
    assert!(variants_checked >= 300, "only {variants_checked} variants");
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}
