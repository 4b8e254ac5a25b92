//! The database's ceiling: how fast the documents of a corpus can be written with nothing else
//! to do (no files, no parsing), by every means the server offers, to compare article-etl
//! with. Run by `scripts/bench`.
//!
//! ```text
//! cargo run --release --example ceiling -- measure URI DATABASE CORPUS_DIR
//!     [--api bulk-write,insert,update] [--writers 1,2,4] [--batch-size 500,1000]
//!     [--limit N] [--naive-limit N] [--no-naive] [--source test-daily] [--paper 测试日报]
//! cargo run --release --example ceiling -- export URI DATABASE CORPUS_DIR OUT.jsonl --collection peer
//! cargo run --release --example ceiling -- info URI        # server version, wire version
//! cargo run --release --example ceiling -- drop URI DATABASE
//! ```
//! `measure` first parses every file under CORPUS_DIR into the document the loader writes
//! (`Article::to_bson()` plus `revision`, `first_seen_at`, `updated_at` and `ingest.run_id`),
//! untimed. Then, each into a fresh collection with the loader's secondary indexes and
//! write concern (`majority`), for every write API × writer count × batch size asked for,
//! the writers taking batches of documents concurrently:
//! - `bulk-write`: unordered `Client::bulk_write` of `ReplaceOne` upserts keyed by `_id`
//!   (the `bulkWrite` command, MongoDB 8.0+; skipped with a `skipped` line on older servers);
//! - `insert`: `insert_many` (the `insert` command with many documents, unordered): the pure
//!   insert speed. The corpus's duplicates and corrections share ids, so their inserts fail
//!   as duplicates (`write_errors`), as a first load's would;
//! - `update`: the `update` command with one `upsert: true` replacement per document,
//!   `ordered: false` (split at 8 MB per command);
//! - then the naive loop: one `replace_one(upsert)` at a time, as hand-written scripts do;
//! - and, on the first loaded collection, the other commands article-etl sends per batch: a
//!   `find` of `--lookup-batch` ids with `$in` when they exist and when they do not
//!   (`lookup kind=hit|miss … ms=…`), and one `update` command of as many small replacement
//!   upserts, the shape of backfill's progress records (`small_upserts … ms=…`).
//!
//! One machine-readable line per measurement on stdout:
//! `ceiling api=insert writers=2 batch=500 docs=10000 secs=3.900 docs_per_sec=2564 cpu_secs=0.41 cpu_ms_per_1000=41.0 write_errors=… stored=…`
//! (the tool's own user + system CPU while writing: what sending the documents costs a client),
//! `naive writers=1 docs=10000 secs=9.800 docs_per_sec=1020 first_tenth_docs_per_sec=… last_tenth_docs_per_sec=…`.
//!
//! `export` parses the corpus the same way and writes the documents as canonical extended JSON,
//! one a line (types kept: int32, int64, dates), for `scripts/peer.py`; it also makes the
//! peer's collection fresh, with the loader's secondary indexes, as `measure` does for its own.

#[path = "support/cpu.rs"]
mod cpu;

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use article_etl::transform::{transform, ParseOptions, RawFile};
use clap::{Parser, Subcommand, ValueEnum};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::{ReplaceOneModel, WriteConcern, WriteModel};
use mongodb::{Client, Collection, Namespace};
use rayon::prelude::*;

/// The first wire version of MongoDB 8.0, which has the `bulkWrite` command.
const WIRE_VERSION_8_0: i32 = 25;

#[derive(Parser, Debug)]
#[command(about = "Measure the database's write ceiling for a corpus")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse the corpus (untimed), then time every write API × writers × batch size, and the
    /// naive loop.
    Measure(Measure),
    /// Parse the corpus and write its documents as canonical extended JSON lines (for the
    /// Python peer); make the peer's collection fresh, with the loader's indexes.
    Export(Export),
    /// Print the server's version and wire version.
    Info { uri: String },
    /// Drop a database.
    Drop { uri: String, database: String },
}

/// How the documents are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Api {
    /// `Client::bulk_write` of replace upserts (the `bulkWrite` command, MongoDB 8.0+).
    BulkWrite,
    /// `insert_many`: the `insert` command.
    Insert,
    /// The `update` command with `upsert: true` replacements.
    Update,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::BulkWrite => "bulk-write",
            Api::Insert => "insert",
            Api::Update => "update",
        }
    }
}

#[derive(clap::Args, Debug)]
struct Measure {
    uri: String,
    database: String,
    corpus: PathBuf,
    /// Write APIs to measure, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "bulk-write,insert,update"
    )]
    api: Vec<Api>,
    /// Concurrent writers to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    writers: Vec<usize>,
    /// Documents per write, comma-separated.
    #[arg(
        long,
        alias = "batch-sizes",
        value_delimiter = ',',
        default_value = "500,1000"
    )]
    batch_size: Vec<usize>,
    /// Write only the first N documents in each measurement (default: all).
    #[arg(long)]
    limit: Option<usize>,
    /// Batch size of the per-batch costs (`lookup`, `small_upserts`): article-etl's.
    #[arg(long, default_value_t = 500)]
    lookup_batch: usize,
    /// Time the naive loop on the first N documents only (default: all).
    #[arg(long)]
    naive_limit: Option<usize>,
    /// Skip the naive loop.
    #[arg(long)]
    no_naive: bool,
    #[arg(long, default_value = "test-daily")]
    source: String,
    #[arg(long, default_value = "测试日报")]
    paper: String,
}

#[derive(clap::Args, Debug)]
struct Export {
    uri: String,
    database: String,
    corpus: PathBuf,
    /// Where the JSON lines go.
    out: PathBuf,
    /// The collection made fresh (dropped, indexed) for the peer.
    #[arg(long, default_value = "peer")]
    collection: String,
    #[arg(long, default_value = "test-daily")]
    source: String,
    #[arg(long, default_value = "测试日报")]
    paper: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Measure(m) => measure(m).await,
        Command::Export(e) => export(e).await,
        Command::Info { uri } => {
            let client = Client::with_uri_str(&uri).await?;
            let admin = client.database("admin");
            let build = admin.run_command(doc! { "buildInfo": 1 }).await?;
            let hello = admin.run_command(doc! { "hello": 1 }).await?;
            println!(
                "server version={} max_wire_version={} set_name={}",
                build.get_str("version").unwrap_or("?"),
                hello.get_i32("maxWireVersion").unwrap_or(0),
                hello.get_str("setName").unwrap_or("-"),
            );
            Ok(())
        }
        Command::Drop { uri, database } => {
            let client = Client::with_uri_str(&uri).await?;
            client.database(&database).drop().await?;
            Ok(())
        }
    }
}

/// Prints the `parse` line.
fn print_parsed(p: &Parsed, secs: f64) {
    let bson_bytes: usize = p
        .docs
        .iter()
        .map(|d| mongodb::bson::to_vec(d).map_or(0, |v| v.len()))
        .sum();
    println!(
        "parse files={} docs={} failed={} bytes={} bson_bytes={bson_bytes} secs={secs:.3}",
        p.files,
        p.docs.len(),
        p.failed,
        p.bytes,
    );
}

async fn measure(m: Measure) -> Result<(), Box<dyn std::error::Error>> {
    if m.batch_size.contains(&0) || m.writers.contains(&0) || m.lookup_batch == 0 {
        return Err("--batch-size, --writers and --lookup-batch must be positive".into());
    }
    let started = Instant::now();
    let parsed = parse_corpus(&m.corpus, &m.source, &m.paper);
    print_parsed(&parsed, started.elapsed().as_secs_f64());
    let all = parsed.docs;
    let docs = &all[..m.limit.unwrap_or(all.len()).min(all.len())];

    let client = Client::with_uri_str(&m.uri).await?;
    let db = client.database(&m.database);
    let hello = db.run_command(doc! { "hello": 1 }).await?;
    let wire = hello.get_i32("maxWireVersion").unwrap_or(0);

    let mut looked_up = false;
    for &api in &m.api {
        if api == Api::BulkWrite && wire < WIRE_VERSION_8_0 {
            println!(
                "ceiling api={} skipped=bulkWrite_needs_MongoDB_8.0 max_wire_version={wire}",
                api.name()
            );
            continue;
        }
        for &batch in &m.batch_size {
            for &writers in &m.writers {
                // One collection name for every measurement: a server that places each
                // collection in a file of its own (SecantusDB: one of 16 by a hash of the
                // name) reuses the dropped one's space instead of growing another file.
                let coll = fresh_collection(&client, &m.database, "ceiling").await?;
                let (secs, cpu, errors) =
                    write_all(&client, &coll, docs, api, writers, batch).await?;
                let stored = coll.count_documents(doc! {}).await?;
                println!(
                    "ceiling api={} writers={writers} batch={batch} docs={} secs={secs:.3} docs_per_sec={:.0} cpu_secs={cpu:.2} cpu_ms_per_1000={:.1} write_errors={errors} stored={stored}",
                    api.name(),
                    docs.len(),
                    docs.len() as f64 / secs,
                    1_000_000.0 * cpu / docs.len().max(1) as f64,
                );
                if !looked_up {
                    looked_up = true;
                    per_batch_costs(&coll, docs, m.lookup_batch).await?;
                }
                coll.drop().await?;
            }
        }
    }

    if !m.no_naive {
        let n = m.naive_limit.unwrap_or(all.len()).min(all.len());
        let coll = fresh_collection(&client, &m.database, "ceiling").await?;
        // The rate of the first and the last tenth too: a server may slow down as the
        // collection grows.
        let tenth = (n / 10).max(1);
        let (mut first, mut last_from) = (None, None);
        let t0 = Instant::now();
        for (i, d) in all[..n].iter().enumerate() {
            if i == n.saturating_sub(tenth) {
                last_from = Some(Instant::now());
            }
            let id = d.get("_id").cloned().unwrap_or(Bson::Null);
            coll.replace_one(doc! { "_id": id }, d).upsert(true).await?;
            if i + 1 == tenth {
                first = Some(t0.elapsed().as_secs_f64());
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let rate = |docs: usize, secs: Option<f64>| secs.map_or(0.0, |s| docs as f64 / s);
        println!(
            "naive writers=1 docs={n} secs={secs:.3} docs_per_sec={:.0} first_tenth_docs_per_sec={:.0} last_tenth_docs_per_sec={:.0}",
            n as f64 / secs,
            rate(tenth, first),
            rate(tenth, last_from.map(|t| t.elapsed().as_secs_f64())),
        );
        coll.drop().await?;
    }
    Ok(())
}

/// Writes `docs` into `coll` by `api`, `writers` batches of `batch` at a time: the seconds it
/// took, this process's CPU seconds meanwhile, and the operations the server refused.
async fn write_all(
    client: &Client,
    coll: &Collection<Document>,
    docs: &[Document],
    api: Api,
    writers: usize,
    batch: usize,
) -> mongodb::error::Result<(f64, f64, usize)> {
    // The batches are cut (cloned) before the clock starts.
    let batches: VecDeque<Vec<Document>> = docs.chunks(batch).map(<[Document]>::to_vec).collect();
    let queue = Arc::new(Mutex::new(batches));
    let ns = coll.namespace();
    let cpu0 = cpu::cpu_seconds();
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(writers);
    for _ in 0..writers {
        let (client, queue, ns, coll) = (client.clone(), queue.clone(), ns.clone(), coll.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = 0usize;
            loop {
                let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                let Some(batch) = next else { break };
                errors += match api {
                    Api::BulkWrite => write_bulk(&client, &ns, batch).await?,
                    Api::Insert => write_insert(&coll, batch).await?,
                    Api::Update => write_update_command(&coll, batch).await?,
                };
            }
            Ok::<usize, mongodb::error::Error>(errors)
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t
            .await
            .map_err(|e| mongodb::error::Error::custom(format!("a writer task failed: {e}")))??;
    }
    let secs = t0.elapsed().as_secs_f64();
    // What writing the documents costs the client, whatever the server does meanwhile.
    let cpu = cpu::cpu_seconds() - cpu0;
    Ok((secs, cpu, errors))
}

async fn export(e: Export) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let parsed = parse_corpus(&e.corpus, &e.source, &e.paper);
    print_parsed(&parsed, started.elapsed().as_secs_f64());
    let mut out = std::io::BufWriter::new(std::fs::File::create(&e.out)?);
    for d in &parsed.docs {
        serde_json::to_writer(
            &mut out,
            &Bson::Document(d.clone()).into_canonical_extjson(),
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let client = Client::with_uri_str(&e.uri).await?;
    fresh_collection(&client, &e.database, &e.collection).await?;
    println!(
        "export docs={} out={} collection={}.{} secs={:.3}",
        parsed.docs.len(),
        e.out.display(),
        e.database,
        e.collection,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Times the other commands article-etl sends per batch, on the loaded collection: a `find` of
/// `batch` ids with `$in` (the loader's read of the stored hashes, and backfill's progress
/// check), for ids that all exist (`hit`) and for ids that do not (`miss`, as in a first load);
/// and one `update` command of `batch` small replacement upserts (backfill's progress records),
/// into a scratch collection.
async fn per_batch_costs(
    coll: &Collection<Document>,
    docs: &[Document],
    batch: usize,
) -> mongodb::error::Result<()> {
    use futures::TryStreamExt;
    const ROUNDS: u32 = 5;
    let mut ids: Vec<Bson> = docs.iter().filter_map(|d| d.get("_id").cloned()).collect();
    ids.sort_by_key(|b| b.to_string());
    ids.dedup();
    let step = (ids.len() / batch).max(1);
    let hits: Vec<Bson> = ids.iter().step_by(step).take(batch).cloned().collect();
    let misses: Vec<Bson> = (0..batch)
        .map(|i| Bson::String(format!("no-such-source:{i}")))
        .collect();
    for (kind, ids) in [("hit", &hits), ("miss", &misses)] {
        let t0 = Instant::now();
        let mut found = 0;
        for _ in 0..ROUNDS {
            let got: Vec<Document> = coll
                .find(doc! { "_id": { "$in": ids.clone() } })
                .projection(doc! { "content_hash": 1, "revision": 1, "first_seen_at": 1 })
                .await?
                .try_collect()
                .await?;
            found = got.len();
        }
        println!(
            "lookup kind={kind} ids={} found={found} ms={:.1}",
            ids.len(),
            t0.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS)
        );
    }

    let scratch = coll
        .client()
        .database(&coll.namespace().db)
        .collection::<Document>("ceiling_progress");
    scratch.drop().await?;
    let now = mongodb::bson::DateTime::now();
    let t0 = Instant::now();
    for round in 0..ROUNDS {
        let updates: Vec<Document> = (0..batch)
            .map(|i| {
                let key = format!("corpus/2020/01/01/{round}_{i:07}_0123456789abcdef.txt");
                let id = format!("bench:{key}");
                doc! {
                    "q": { "_id": &id },
                    "u": {
                        "_id": &id, "pipeline": "bench", "path": key, "size": 6789_i64,
                        "mtime": now, "sha256": "0".repeat(64), "outcome": "inserted",
                        "code": Bson::Null, "article_id": format!("test-daily:{i}"),
                        "run_id": "ceiling", "at": now,
                    },
                    "upsert": true,
                    "multi": false,
                }
            })
            .collect();
        coll.client()
            .database(&coll.namespace().db)
            .run_command(doc! {
                "update": scratch.name(),
                "updates": updates,
                "ordered": false,
                "writeConcern": { "w": "majority" },
            })
            .await?;
    }
    println!(
        "small_upserts ids={batch} ms={:.1}",
        t0.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS)
    );
    scratch.drop().await?;
    Ok(())
}

/// A parsed corpus: the documents of the good files, in path order.
struct Parsed {
    docs: Vec<Document>,
    files: usize,
    failed: usize,
    bytes: u64,
}

/// Every file under `dir` parsed into the document the loader writes.
fn parse_corpus(dir: &Path, source: &str, paper: &str) -> Parsed {
    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    paths.sort();
    let mut opts = ParseOptions::for_source(source);
    opts.paper = Some(paper.to_owned());
    opts.mode = "backfill".to_owned();
    let now = mongodb::bson::DateTime::now();
    let run_id = format!("ceiling-{}", std::process::id());
    let parsed: Vec<(u64, Option<Document>)> = paths
        .par_iter()
        .map(|path| {
            let Ok(bytes) = std::fs::read(path) else {
                return (0, None);
            };
            let shown = path.display().to_string();
            let raw = RawFile {
                path: &shown,
                bytes: &bytes,
                mtime: None,
            };
            let doc = transform(&raw, &opts).ok().and_then(|a| {
                let mut d = a.to_bson().ok()?;
                d.insert("revision", 1);
                d.insert("first_seen_at", now);
                d.insert("updated_at", now);
                if let Ok(ingest) = d.get_document_mut("ingest") {
                    ingest.insert("run_id", run_id.as_str());
                }
                Some(d)
            });
            (bytes.len() as u64, doc)
        })
        .collect();
    let files = parsed.len();
    let bytes = parsed.iter().map(|(b, _)| b).sum();
    let docs: Vec<Document> = parsed.into_iter().filter_map(|(_, d)| d).collect();
    let failed = files - docs.len();
    Parsed {
        docs,
        files,
        failed,
        bytes,
    }
}

/// An empty collection with the loader's secondary indexes and write concern.
async fn fresh_collection(
    client: &Client,
    database: &str,
    name: &str,
) -> mongodb::error::Result<Collection<Document>> {
    let coll = client
        .database(database)
        .collection_with_options::<Document>(
            name,
            mongodb::options::CollectionOptions::builder()
                .write_concern(WriteConcern::majority())
                .build(),
        );
    coll.drop().await?;
    coll.create_indexes(article_etl::load::article_indexes())
        .await?;
    Ok(coll)
}

/// One unordered `bulkWrite` of replace-upserts; the number of failed operations.
async fn write_bulk(
    client: &Client,
    ns: &Namespace,
    batch: Vec<Document>,
) -> mongodb::error::Result<usize> {
    let models = batch.into_iter().map(|d| {
        let id = d.get("_id").cloned().unwrap_or(Bson::Null);
        WriteModel::ReplaceOne(
            ReplaceOneModel::builder()
                .namespace(ns.clone())
                .filter(doc! { "_id": id })
                .replacement(d)
                .upsert(true)
                .build(),
        )
    });
    match client
        .bulk_write(models)
        .ordered(false)
        .write_concern(WriteConcern::majority())
        .await
    {
        Ok(_) => Ok(0),
        Err(e) => match e.kind.as_ref() {
            mongodb::error::ErrorKind::BulkWrite(b) if b.write_concern_errors.is_empty() => {
                Ok(b.write_errors.len())
            }
            _ => Err(e),
        },
    }
}

/// One unordered `insert_many` (the `insert` command); the number of failed operations
/// (duplicate ids).
async fn write_insert(
    coll: &Collection<Document>,
    batch: Vec<Document>,
) -> mongodb::error::Result<usize> {
    match coll.insert_many(batch).ordered(false).await {
        Ok(_) => Ok(0),
        Err(e) => match e.kind.as_ref() {
            mongodb::error::ErrorKind::InsertMany(m) if m.write_concern_error.is_none() => {
                Ok(m.write_errors.as_ref().map_or(0, Vec::len))
            }
            _ => Err(e),
        },
    }
}

/// The `update` command with a statement per document, `upsert: true`, unordered (split
/// to stay well under the 16 MB command limit).
async fn write_update_command(
    coll: &Collection<Document>,
    batch: Vec<Document>,
) -> mongodb::error::Result<usize> {
    const MAX_COMMAND_BYTES: usize = 8 * 1024 * 1024;
    let db = coll.client().database(&coll.namespace().db);
    let mut errors = 0;
    let mut updates: Vec<Document> = Vec::new();
    let mut size = 0;
    let mut docs = batch.into_iter().peekable();
    while let Some(d) = docs.next() {
        size += mongodb::bson::to_vec(&d).map_or(0, |v| v.len());
        let id = d.get("_id").cloned().unwrap_or(Bson::Null);
        updates.push(doc! { "q": { "_id": id }, "u": d, "upsert": true });
        if size >= MAX_COMMAND_BYTES || docs.peek().is_none() {
            let reply = db
                .run_command(doc! {
                    "update": coll.name(),
                    "updates": std::mem::take(&mut updates),
                    "ordered": false,
                    "writeConcern": { "w": "majority" },
                })
                .await?;
            errors += reply.get_array("writeErrors").map_or(0, |e| e.len());
            size = 0;
        }
    }
    Ok(errors)
}
