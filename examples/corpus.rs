//! Writes a deterministic corpus of invented article files (see the `article-etl-corpus` crate
//! in `corpus/`).
//!
//! ```text
//! cargo run --release --example corpus -- --seed 42 --count 100000 --layout tree|flat|zip|tar-zst OUT_DIR
//!     [--duplicate-share 0.05] [--correction-share 0.02] [--bad-share 0.005]
//! ```
//! `tree` writes `OUT_DIR/YYYY/MM/DD/NAME` (an archive, for `backfill`), `flat` writes every
//! file into `OUT_DIR` (an inbox, for `run --once`), `zip` and `tar-zst` write the tree packed
//! into one `OUT_DIR/corpus.zip` (deflate) or `OUT_DIR/corpus.tar.zst` (zstd level 3), for the
//! packed-input benchmark. The same seed gives the same bytes, and a
//! smaller count gives the first files of a larger one. Prints one summary line.

use std::path::PathBuf;
use std::time::Instant;

use std::io::Write;

use article_etl_corpus::{generate, write_flat, write_tree, CorpusSpec, CorpusSummary};
use clap::{Parser, ValueEnum};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Layout {
    Tree,
    Flat,
    Zip,
    TarZst,
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
        Layout::Zip | Layout::TarZst => write_packed(&args.out_dir, spec, args.layout)?,
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

/// The tree layout packed into one archive in `dir`, streamed (one file in memory at a time).
fn write_packed(
    dir: &std::path::Path,
    spec: CorpusSpec,
    layout: Layout,
) -> Result<CorpusSummary, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let mut summary = CorpusSummary::default();
    let name = |f: &article_etl_corpus::GeneratedFile| format!("{}/{}", f.rel_dir, f.name);
    if layout == Layout::Zip {
        let out = std::io::BufWriter::new(std::fs::File::create(dir.join("corpus.zip"))?);
        let mut zip = zip::ZipWriter::new(out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for f in generate(spec) {
            zip.start_file(name(&f), options)?;
            zip.write_all(&f.bytes)?;
            summary.add(&f);
        }
        zip.finish()?.flush()?;
    } else {
        let out = std::fs::File::create(dir.join("corpus.tar.zst"))?;
        let mut tar = tar::Builder::new(zstd::Encoder::new(out, 3)?);
        for f in generate(spec) {
            let mut header = tar::Header::new_gnu();
            header.set_size(f.bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(1_700_000_000);
            header.set_cksum();
            tar.append_data(&mut header, name(&f), f.bytes.as_slice())?;
            summary.add(&f);
        }
        tar.into_inner()?.finish()?.flush()?;
    }
    Ok(summary)
}
