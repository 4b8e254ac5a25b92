//! Fidelity on real pages: the development set in `../shared/real-pages/` (outside text, read
//! in place and never copied here). Every hand-checked field of `expected.jsonl` must hold, and
//! every page must get a verdict (a document or a typed refusal) without a panic.
//! `scripts/fidelity` prints the same figures and writes `docs/fidelity.md`.

use std::path::{Path, PathBuf};

use article_etl::document::Article;
use article_etl::transform::{transform_path, ParseOptions};

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
        let a = match transform_path(&dir.join(file), &opts()) {
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
        let verdict = std::panic::catch_unwind(|| transform_path(page, &opts()));
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
