//! Runs the transform over files in a loop, for profilers (`perf record`, callgrind) and for
//! `scripts/bench`: `cargo run --release --example transform_loop -- ITERATIONS PATH...`, where
//! a directory stands for every file under it. The files are read first; only the transform
//! is timed, on one thread.
//!
//! The reading is measured too, on stderr: the CPU of finding and reading the files (16 at a
//! time, with the pipeline's reader), the floor of what any run over these files costs. Read
//! an archive that is not in the page cache (`sync; echo 3 > /proc/sys/vm/drop_caches` as
//! root) to see what a backfill pays for it.

#[path = "support/cpu.rs"]
mod cpu;

use article_etl::extract::read::{read_file, FileReader};
use article_etl::transform::{transform, ParseOptions, RawFile, DEFAULT_MAX_FILE_BYTES};

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let cpu0 = cpu::cpu_seconds();
    let mut paths = Vec::new();
    for arg in args {
        collect(std::path::Path::new(&arg), &mut paths);
    }
    paths.sort();
    let mut reader = FileReader::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(16) {
        let asked: Vec<_> = chunk
            .iter()
            .map(|p| (p.as_path(), DEFAULT_MAX_FILE_BYTES))
            .collect();
        for ((p, read), &(path, max)) in chunk.iter().zip(reader.read_batch(&asked)).zip(&asked) {
            let read = read.unwrap_or_else(|| read_file(path, max));
            let (bytes, _) = read.unwrap_or_else(|e| panic!("{e}"));
            files.push((p.display().to_string(), bytes));
        }
    }
    let read_cpu = cpu::cpu_seconds() - cpu0;
    eprintln!(
        "read {} files (listed and read, {}): {:.1} ms of CPU per 1,000 files",
        files.len(),
        if reader.batches() {
            "16 at a time with io_uring"
        } else {
            "one at a time"
        },
        1e6 * read_cpu / files.len().max(1) as f64
    );
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
