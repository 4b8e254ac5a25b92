//! Throughput of `transform` (bytes → `Article`, no I/O), with criterion.
//!
//! Groups:
//! - `sample`: the real sample, read at bench time from `../shared/samples/inbox` (skipped with
//!   a message when it is not there);
//! - `generated`: the project's corpus generator (`article_etl_corpus`, the one `scripts/bench`
//!   loads), its bad files left out: page labels, kickers, subtitles, several authors, captions,
//!   1–20 KB bodies, and its mix of forms (NFKC UTF-8, raw full-width exports with U+3000
//!   indentation, CRLF, GB18030, BOMs) as `mix`.
//!
//! Throughput is in bytes, so criterion reports MB/s; one iteration transforms the whole
//! group input, so articles/s is the number of articles (printed at start) over the time.
//!
//! `cargo bench --bench transform -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;

use article_etl::transform::{transform, ParseOptions, RawFile};
use article_etl_corpus::{generate, CorpusSpec, FileKind};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// How many files the generated mix holds (before the bad ones are left out).
const FILES: u64 = 400;
const SEED: u64 = 42;

fn opts() -> ParseOptions {
    ParseOptions::for_source("bench")
}

/// Transforms every input once; panics on a failure (a bench input must parse).
fn transform_all(inputs: &Inputs, opts: &ParseOptions) -> usize {
    let mut blocks = 0;
    for (path, bytes) in inputs {
        let raw = RawFile {
            path,
            bytes,
            mtime: None,
        };
        match transform(black_box(&raw), opts) {
            Ok(a) => blocks += a.blocks.len(),
            Err(e) => panic!("bench input does not parse: {e}"),
        }
    }
    blocks
}

/// Named inputs: (path, bytes).
type Inputs = Vec<(String, Vec<u8>)>;

fn bench_group(c: &mut Criterion, group: &str, forms: &[(&str, Inputs)]) {
    let opts = opts();
    let mut g = c.benchmark_group(group);
    for (name, inputs) in forms {
        let bytes: usize = inputs.iter().map(|(_, b)| b.len()).sum();
        eprintln!(
            "{group}/{name}: {} article(s), {bytes} bytes per iteration ({} bytes per article on average)",
            inputs.len(),
            bytes / inputs.len().max(1)
        );
        // Check once, outside the measurement, that every input parses, and say how.
        let mut warnings = std::collections::BTreeMap::<String, usize>::new();
        for (path, bytes) in inputs {
            let raw = RawFile {
                path,
                bytes,
                mtime: None,
            };
            let a = transform(&raw, &opts)
                .unwrap_or_else(|e| panic!("bench input does not parse: {e}"));
            for w in a.warnings {
                *warnings.entry(w.code).or_default() += 1;
            }
        }
        if !warnings.is_empty() {
            eprintln!("{group}/{name}: warnings by code: {warnings:?}");
        }
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(*name, |b| b.iter(|| transform_all(inputs, &opts)));
    }
    g.finish();
}

fn sample(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples/inbox");
    let mut inputs: Inputs = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
        .collect();
    if inputs.is_empty() {
        eprintln!(
            "SKIPPED: bench group `sample`: the real sample {} not found",
            dir.display()
        );
        return;
    }
    inputs.sort();
    bench_group(c, "sample", &[("utf8", inputs)]);
}

fn generated(c: &mut Criterion) {
    let mix: Inputs = generate(CorpusSpec::new(SEED, FILES))
        .filter(|f| f.kind != FileKind::Bad)
        .map(|f| (format!("{}/{}", f.rel_dir, f.name), f.bytes))
        .collect();
    bench_group(c, "generated", &[("mix", mix)]);
}

criterion_group!(benches, sample, generated);
criterion_main!(benches);
