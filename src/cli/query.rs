//! The commands that only look: `inspect` and `validate` (files, no database), `status` and
//! `show` (the database, read only).

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use bson::{doc, Bson, Document};
use clap::Args;
use futures::TryStreamExt;

use article_etl::extract::archive::member_file_name;
use article_etl::extract::packed::{self, Event};
use article_etl::parse::{Member, Parsed, Parser, Source};
use article_etl::run::RunSpool;
use article_etl::settings::Settings;
use article_etl::transform::ParseOptions;
use article_etl::validate::Summary;

use super::ingest::{connect, runtime};
use super::{exit, LogFormat};

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The pipeline whose rules apply (may be left out when only one is configured).
    #[arg(long)]
    pub pipeline: Option<String>,
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[arg(long)]
    pub pipeline: Option<String>,
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// How many recent runs to list.
    #[arg(long, default_value_t = 10)]
    runs: i64,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The article's `_id`: `<source>:<content_id>`.
    id: String,
}

/// Files read together, as the run's workers read them.
const INSPECT_CHUNK: usize = 16;

/// `inspect FILE…`: each file's document, in order. A packed input gives its members'
/// documents, `ARCHIVE!MEMBER` one member's.
pub fn inspect(settings: &Settings, args: InspectArgs) -> anyhow::Result<u8> {
    let pipeline = settings.select_one(args.pipeline.as_deref())?;
    let opts = pipeline.parse_options("inspect");
    let stdout = std::io::stdout();
    let mut out = Printer {
        out: stdout.lock(),
        failed: false,
    };
    let mut parser = Parser::new();
    let mut plain: Vec<PathBuf> = Vec::new();
    for file in &args.files {
        let Some((archive, member, format)) = packed_target(file) else {
            plain.push(file.clone());
            if plain.len() >= INSPECT_CHUNK {
                inspect_files(&mut parser, &std::mem::take(&mut plain), &opts, &mut out)?;
            }
            continue;
        };
        inspect_files(&mut parser, &std::mem::take(&mut plain), &opts, &mut out)?;
        let shown_archive = archive.display().to_string();
        let wanted = |name: &str| match &member {
            Some(m) => name == m,
            None => pipeline.filter.takes(member_file_name(name).as_ref()),
        };
        let mut found = false;
        let mut written = Ok(());
        let read = packed::read(&archive, format, &pipeline.packed, &wanted, &mut |event| {
            match event {
                Event::Member(m) => {
                    found = true;
                    let shown = format!("{shown_archive}!{}", m.name);
                    let source = Source {
                        path: &archive,
                        shown: &shown,
                        opts: &opts,
                        member: Some(Member {
                            archive: &shown_archive,
                            name: &m.name,
                            bytes: &m.bytes,
                            mtime: m.mtime,
                        }),
                    };
                    parser.parse_chunk(&[source], None, &|| false, |_, parsed| {
                        if let Some(parsed) = parsed {
                            written = out.print(parsed);
                        }
                    });
                }
                Event::Problem(p) => {
                    out.failed = true;
                    let at = p.member.map(|m| format!("!{m}")).unwrap_or_default();
                    eprintln!("{shown_archive}{at}: {} [{}]", p.message, p.code);
                }
            }
            match written {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        });
        written?;
        if let Err(e) = read {
            out.failed = true;
            eprintln!("{shown_archive}: cannot read the file: {e} [io]");
        } else if let (Some(m), false) = (&member, found) {
            out.failed = true;
            eprintln!("{shown_archive}!{m}: no such member [io]");
        }
    }
    inspect_files(&mut parser, &plain, &opts, &mut out)?;
    Ok(if out.failed {
        exit::FILES_FAILED
    } else {
        exit::OK
    })
}

/// Documents to stdout, one JSON a line; failures to stderr.
struct Printer<W: Write> {
    out: W,
    failed: bool,
}

impl<W: Write> Printer<W> {
    fn print(&mut self, parsed: Parsed) -> anyhow::Result<()> {
        match parsed {
            Ok(article) => {
                serde_json::to_writer(&mut self.out, &article)?;
                writeln!(self.out)?;
            }
            Err(e) => {
                self.failed = true;
                eprintln!("{e}");
            }
        }
        Ok(())
    }
}

/// Plain files, read together.
fn inspect_files<W: Write>(
    parser: &mut Parser,
    files: &[PathBuf],
    opts: &ParseOptions,
    out: &mut Printer<W>,
) -> anyhow::Result<()> {
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let sources: Vec<Source<'_>> = files
        .iter()
        .zip(&shown)
        .map(|(path, shown)| Source::file(path, shown, opts))
        .collect();
    let mut written = Ok(());
    parser.parse_chunk(&sources, None, &|| false, |_, parsed| {
        if let (Some(parsed), true) = (parsed, written.is_ok()) {
            written = out.print(parsed);
        }
    });
    written
}

/// A packed input named on the command line: the archive, the one member asked for
/// (`ARCHIVE!MEMBER`), its format. `None` for a plain file.
fn packed_target(arg: &Path) -> Option<(PathBuf, Option<String>, packed::Format)> {
    let text = arg.to_string_lossy();
    let (archive, member) = match text.split_once('!') {
        Some((a, m)) if !arg.exists() && Path::new(a).is_file() => {
            (PathBuf::from(a), Some(m.to_owned()))
        }
        _ => (arg.to_path_buf(), None),
    };
    let name = archive.file_name()?.to_string_lossy().into_owned();
    if member.is_none() && !packed::has_packed_extension(&name) {
        return None;
    }
    let format = packed::sniff(&archive).ok().flatten()?;
    Some((archive, member, format))
}

pub fn validate(settings: &Settings, args: ValidateArgs, format: LogFormat) -> anyhow::Result<u8> {
    let pipeline = settings.select_one(args.pipeline.as_deref())?;
    let summary = article_etl::validate::validate(
        &args.paths,
        &pipeline.filter,
        &pipeline.packed,
        &pipeline.parse_options("validate"),
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        LogFormat::Json => {
            serde_json::to_writer(&mut out, &summary)?;
            writeln!(out)?;
        }
        LogFormat::Pretty => print_summary(&mut out, &summary)?,
    }
    Ok(if summary.failed > 0 {
        exit::FILES_FAILED
    } else {
        exit::OK
    })
}

fn print_summary(out: &mut impl Write, s: &Summary) -> std::io::Result<()> {
    for p in &s.problems {
        match p.line {
            Some(line) => writeln!(
                out,
                "{}:{}: {} {}: {}",
                p.path, line, p.severity, p.code, p.message
            )?,
            None => writeln!(out, "{}: {} {}: {}", p.path, p.severity, p.code, p.message)?,
        }
    }
    if !s.problems.is_empty() {
        writeln!(out)?;
    }
    writeln!(
        out,
        "{} files: {} ok ({} with warnings), {} failed",
        s.files, s.ok, s.with_warnings, s.failed
    )?;
    for (title, counts) in [
        ("warnings", &s.warnings_by_code),
        ("failed", &s.failed_by_code),
    ] {
        if !counts.is_empty() {
            writeln!(out, "{title} by code:")?;
            for (code, n) in counts {
                writeln!(out, "  {code:<24} {n}")?;
            }
        }
    }
    Ok(())
}
pub fn status(settings: &Settings, args: StatusArgs, json: bool) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let loader = connect(settings).await?;
        let articles = loader.articles().estimated_document_count().await?;
        let revisions = loader
            .database()
            .collection::<Document>(article_etl::load::REVISIONS)
            .estimated_document_count()
            .await?;
        let runs: Vec<Document> = loader
            .runs()
            .find(doc! {})
            .sort(doc! { "started_at": -1 })
            .limit(args.runs)
            .await?
            .try_collect()
            .await?;
        // A full pass over `articles`, on the server: the price of knowing what an upgrade
        // would reparse.
        let versions: Vec<(String, i64)> = loader
            .articles()
            .aggregate([
                doc! { "$group": { "_id": "$ingest.parser_version", "n": { "$sum": 1 } } },
                doc! { "$sort": { "_id": 1 } },
            ])
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .into_iter()
            .map(|d| {
                let version = d.get_str("_id").unwrap_or("(none)").to_owned();
                let n = d
                    .get_i64("n")
                    .or_else(|_| d.get_i32("n").map(i64::from))
                    .unwrap_or(0);
                (version, n)
            })
            .collect();
        let current = article_etl::document::parser_version();
        let ours = article_etl::document::parser_generation(current);
        let outdated: i64 = versions
            .iter()
            .filter(|(v, _)| article_etl::document::parser_generation(v) < ours)
            .map(|(_, n)| n)
            .sum();
        let quarantines = quarantines_by_code(settings);
        if json {
            let value = serde_json::json!({
                "articles": articles,
                "article_revisions": revisions,
                "parser_version": current,
                "parser_versions": versions.iter().map(|(v, n)| serde_json::json!({ "version": v, "articles": n })).collect::<Vec<_>>(),
                "outdated": outdated,
                "quarantine": quarantines.iter().map(|(p, codes)| (p.clone(), serde_json::json!(codes))).collect::<serde_json::Map<_, _>>(),
                "runs": runs.into_iter().map(|d| plain_json(Bson::Document(d))).collect::<Vec<_>>(),
            });
            println!("{value}");
            loader.shutdown().await;
            return Ok(exit::OK);
        }
        println!("articles: {articles}   article_revisions: {revisions}");
        println!("articles by parser version (this binary: {current}):");
        for (version, n) in &versions {
            println!("  {version:<40} {n:>8}");
        }
        if outdated > 0 {
            println!("  {outdated} written by an older parser: `backfill --reparse` rereads their files");
        }
        for (pipeline, codes) in &quarantines {
            let total: u64 = codes.values().sum();
            println!("quarantine of {pipeline}: {total} files");
            for (code, n) in codes {
                println!("  {code:<24} {n:>8}");
            }
        }
        // Runs that ended while the database was unreachable: not in the list until the next
        // run writes their records.
        if let Ok(pipelines) = settings.select_pipelines(&[], false) {
            let waiting = RunSpool::new(&pipelines).waiting();
            if waiting > 0 {
                println!("run records kept in the work dirs (.runs/), written by the next run: {waiting}");
            }
        }
        println!("recent runs:");
        for r in runs {
            let counts = r.get_document("counts").cloned().unwrap_or_default();
            let n = |k: &str| counts.get_i64(k).unwrap_or(0);
            println!(
                "  {:<28} {:<8} {:<11} seen {:>6}  ins {:>6}  upd {:>5}  same {:>6}  repa {:>6}  quar {:>5}  fail {:>5}",
                r.get_str("_id").unwrap_or("?"),
                r.get_str("mode").unwrap_or("?"),
                r.get_str("status").unwrap_or("?"),
                n("seen"),
                n("inserted"),
                n("updated"),
                n("unchanged"),
                n("reparsed"),
                n("quarantined"),
                n("failed"),
            );
        }
        loader.shutdown().await;
        Ok(exit::OK)
    })
}

/// Per configured pipeline, the files in its `quarantine/` by their reports' codes.
fn quarantines_by_code(
    settings: &Settings,
) -> Vec<(String, std::collections::BTreeMap<String, u64>)> {
    let Ok(pipelines) = settings.select_pipelines(&[], false) else {
        return Vec::new();
    };
    pipelines
        .iter()
        .map(|p| {
            let mut codes = std::collections::BTreeMap::new();
            match article_etl::extract::inbox::quarantined_files(&p.work_dir.join("quarantine")) {
                Ok(files) => {
                    for q in files {
                        *codes.entry(q.code).or_insert(0) += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(pipeline = %p.name, error = %e, "cannot list the quarantine")
                }
            }
            (p.name.clone(), codes)
        })
        .collect()
}

pub fn show(settings: &Settings, args: ShowArgs) -> anyhow::Result<u8> {
    runtime()?.block_on(async {
        let loader = connect(settings).await?;
        let found = loader.articles().find_one(doc! { "_id": &args.id }).await?;
        loader.shutdown().await;
        match found {
            Some(d) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&plain_json(Bson::Document(d)))?
                );
                Ok(exit::OK)
            }
            None => {
                eprintln!("article-etl: no article with _id {:?}", args.id);
                Ok(exit::FILES_FAILED)
            }
        }
    })
}

/// BSON → JSON for people: dates as RFC 3339 strings, numbers as numbers.
fn plain_json(value: Bson) -> serde_json::Value {
    match value {
        Bson::DateTime(d) => {
            serde_json::Value::String(d.try_to_rfc3339_string().unwrap_or_else(|_| d.to_string()))
        }
        Bson::Document(d) => {
            serde_json::Value::Object(d.into_iter().map(|(k, v)| (k, plain_json(v))).collect())
        }
        Bson::Array(a) => serde_json::Value::Array(a.into_iter().map(plain_json).collect()),
        Bson::Int32(n) => n.into(),
        Bson::Int64(n) => n.into(),
        other => other.into_relaxed_extjson(),
    }
}
