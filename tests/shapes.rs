use article_etl::transform::{transform_path, ParseOptions};
use std::path::Path;

#[test]
fn dump() {
    let mut names: Vec<_> = std::fs::read_dir("tests/fixtures")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    for p in names {
        let opts = ParseOptions::for_source("test-paper");
        match transform_path(Path::new(&p), &opts) {
            Ok(mut a) => {
                a.trailer.as_mut().map(|t| t.raw.clear());
                let mut v = serde_json::to_value(&a).unwrap();
                let o = v.as_object_mut().unwrap();
                for k in [
                    "source_file",
                    "ingest",
                    "source",
                    "_id",
                    "published_at",
                    "content_hash",
                    "text",
                ] {
                    o.remove(k);
                }
                println!(
                    "=== {}\n{}",
                    p.display(),
                    serde_json::to_string(&v).unwrap()
                );
            }
            Err(e) => println!("=== {}\nERR {e}", p.display()),
        }
    }
}
