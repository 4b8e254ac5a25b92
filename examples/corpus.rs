//! Writes a deterministic corpus of invented article files (see the `article-etl-corpus` crate
//! in `corpus/`).
//!
//! ```text
//! cargo run --release --example corpus -- --seed 42 --count 100000 --layout tree|flat OUT_DIR
//!     [--duplicate-share 0.05] [--correction-share 0.02] [--bad-share 0.005]
//! ```
//! `tree` writes `OUT_DIR/YYYY/MM/DD/NAME` (an archive, for `backfill`), `flat` writes every
//! file into `OUT_DIR` (an inbox, for `run --once`). The same seed gives the same bytes, and a
//! smaller count gives the first files of a larger one. Prints one summary line.

use std::path::PathBuf;
use std::time::Instant;

use article_etl_corpus::{write_flat, write_tree, CorpusSpec};
use clap::{Parser, ValueEnum};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Layout {
    Tree,
    Flat,
}

#[derive(Parser, Debug)]
#[command(about = "Write a deterministic corpus of invented article files")]
struct Args {
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Files in all (articles, duplicates, corrections, bad files).
    #[arg(long, default_value_t = 1000)]
    count: u64,
    #[arg(long, value_enum, default_value_t = Layout::Tree)]
    layout: Layout,
    #[arg(long, default_value_t = 0.05)]
    duplicate_share: f64,
    #[arg(long, default_value_t = 0.02)]
    correction_share: f64,
    #[arg(long, default_value_t = 0.005)]
    bad_share: f64,
    out_dir: PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let shares = [args.duplicate_share, args.correction_share, args.bad_share];
    if shares.iter().any(|s| !(0.0..=1.0).contains(s)) || shares.iter().sum::<f64>() > 1.0 {
        return Err("the shares must be between 0 and 1 and add up to at most 1".into());
    }
    let spec = CorpusSpec {
        seed: args.seed,
        count: args.count,
        duplicate_share: args.duplicate_share,
        correction_share: args.correction_share,
        bad_share: args.bad_share,
    };
    let started = Instant::now();
    let s = match args.layout {
        Layout::Tree => write_tree(&args.out_dir, spec)?,
        Layout::Flat => write_flat(&args.out_dir, spec)?,
    };
    println!(
        "corpus seed={} layout={:?} files={} articles={} duplicates={} corrections={} bad={} bytes={} secs={:.2} dir={}",
        args.seed,
        args.layout,
        s.files,
        s.articles,
        s.duplicates,
        s.corrections,
        s.bad,
        s.bytes,
        started.elapsed().as_secs_f64(),
        args.out_dir.display()
    );
    Ok(())
}
