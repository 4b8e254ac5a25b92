//! Runs the transform over files in a loop, for profilers (`perf record`, callgrind) and for
//! `scripts/bench`: `cargo run --release --example transform_loop -- ITERATIONS PATH...`, where
//! a directory stands for every file under it. The files are read first; only the transform
//! is timed, on one thread.

use article_etl::transform::{transform, ParseOptions, RawFile};

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mut paths = Vec::new();
    for arg in args {
        collect(std::path::Path::new(&arg), &mut paths);
    }
    paths.sort();
    let files: Vec<(String, Vec<u8>)> = paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), bytes)
        })
        .collect();
    let opts = ParseOptions::for_source("profile");
    let started = std::time::Instant::now();
    let mut bytes = 0usize;
    let mut ok = 0usize;
    for _ in 0..iterations {
        for (path, data) in &files {
            bytes += data.len();
            if transform(
                &RawFile {
                    path,
                    bytes: data,
                    mtime: None,
                },
                &opts,
            )
            .is_ok()
            {
                ok += 1;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{ok} documents, {:.1} MB/s, {:.0} articles/s",
        bytes as f64 / secs / 1e6,
        (iterations * files.len()) as f64 / secs
    );
}

/// `path` itself, or every file under it.
fn collect(path: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    match std::fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries.flatten() {
                collect(&entry.path(), out);
            }
        }
        Err(_) => out.push(path.to_owned()),
    }
}
