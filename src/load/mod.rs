//! Load: the MongoDB sink (FORMAT.md §5).
//!
//! Per batch: one read of the stored content hashes, raw-file digests and parser versions,
//! then one bulk write. The raw bytes decide (docs/schema.md, "One rule"):
//! - new content id → insert with `revision: 1`;
//! - the same raw bytes (`source_file.sha256`) read by the same parser generation → no write
//!   (*unchanged*); by an older one → *reparsed*: replaced in place, same revision and
//!   `first_seen_at`, no copy in `article_revisions` (the newspaper changed nothing, our reading
//!   did); by a newer one → *unchanged*: a document is never downgraded;
//! - other bytes, same content hash → *unchanged*, or *reparsed* when the stored parser is
//!   older;
//! - other bytes, other content hash (a correction) → the stored version is copied to
//!   `article_revisions`, then replaced by the new one with `revision + 1`.
//!
//! Replaces are conditional on the stored hash and revision (and, for a reparse, the parser
//! version) still being what was read. A conditional write that loses a race (duplicate key on
//! insert, no match on replace) is planned again from a fresh read, so concurrent loaders never
//! lose a revision or create a duplicate.
//!
//! A batch whose write failed may have been applied all the same (the connection dropped after
//! the server applied it, before its reply arrived). Its retry must not count those articles as
//! unchanged: every write of a round is stamped with the round's `updated_at`, unique within
//! the loader and kept across the attempts of the batch, so a stored document carrying this
//! run's id and that stamp is this round's own write, counted as the insert or replace it was.
//!
//! Two write paths: `Client::bulk_write` (the `bulkWrite` command, MongoDB 8.0+) and, for
//! 6.0/7.0, `insert_many` plus one `update` command with many statements. The server's wire
//! version picks one unless the settings force it.

mod command;
pub mod encode;
pub mod retry;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, IndexOptions, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::Deserialize;

use crate::document::{parser_generation, Article};
use command::CommandWriter;
use retry::is_transient_code;

/// Collections, named once.
pub const REVISIONS: &str = "article_revisions";
pub const RUNS: &str = "ingest_runs";
/// Backfill progress: pages of finished archive files, one per directory and written batch
/// (see `ProgressPage`), found by `(pipeline, dir)`.
pub const PROGRESS: &str = "backfill_progress";
/// Files per progress page: a page stays far under the 16 MB document limit.
pub const PAGE_FILES: usize = 1000;
/// Directories per progress lookup.
const PROGRESS_LOOKUP_DIRS: usize = 50;
/// Ids per `$in` lookup, and such lookups in flight at once (see `find_by_ids`).
const LOOKUP_CHUNK: usize = 50;
const LOOKUPS_IN_FLIGHT: usize = 4;

/// Wire version of MongoDB 8.0, the first with the `bulkWrite` command.
const WIRE_VERSION_8_0: i32 = 25;
/// How often one batch may lose races before its losers are given up on (another loader
/// keeps changing the same ids): far beyond any real contention.
const MAX_CONFLICT_ROUNDS: usize = 16;
/// An upper bound of what `revision`, `first_seen_at` and `updated_at` add to an article's
/// BSON (names, types, values).
const LOADER_FIELDS_BYTES: usize = 64;
/// How often the driver checks the server, unless the URI says (`heartbeatFrequencyMS`).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Upper bound for one write command's documents, in bytes: a command sent whole (not as an
/// OP_MSG document sequence) must stay under 16 MB, and each writer holds the command about
/// three times while sending it (ours, the driver's encoding and its wire message).
const COMMAND_BYTES: usize = 2 * 1024 * 1024;

/// Which bulk write API to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteApi {
    /// `bulk-write` on MongoDB 8.0+, `legacy` before.
    #[default]
    Auto,
    BulkWrite,
    Legacy,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Worth retrying: network, elections, write-concern trouble.
    #[error("transient database error: {0}")]
    Transient(String),
    /// Not worth retrying: authentication, bad settings, a server that refuses the commands.
    #[error("database error: {0}")]
    Fatal(String),
}

impl LoadError {
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Transient(_) => "db_transient",
            LoadError::Fatal(_) => "db_fatal",
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, LoadError::Transient(_))
    }
}

impl From<mongodb::error::Error> for LoadError {
    fn from(e: mongodb::error::Error) -> Self {
        let message = crate::redact::redact_text(&e.to_string());
        if retry::is_transient(&e) {
            LoadError::Transient(message)
        } else {
            LoadError::Fatal(message)
        }
    }
}

/// What became of one document of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Inserted,
    /// Updated to this revision; the previous one is in `article_revisions`.
    Updated(i32),
    /// Already stored with the same content, at this revision.
    Unchanged(i32),
    /// The same raw bytes (or content) read again by a newer parser: replaced in place at
    /// this revision, with no copy in `article_revisions`.
    Reparsed(i32),
    /// Refused by the database for good (e.g. too large): the file goes to quarantine.
    Rejected {
        code: &'static str,
        message: String,
    },
}

/// An article ready for the database: encoded once, off the async runtime, by the transform
/// workers (with its run id), and kept with the few fields the loader and the file stages need.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: String,
    pub content_hash: String,
    /// The raw file's SHA-256, for the backfill progress and for telling a reparse from a
    /// correction.
    pub sha256: String,
    /// `ingest.parser_version`.
    parser_version: String,
    /// The run writing it (`ingest.run_id`): with a round's stamp, how a retry recognises the
    /// writes an earlier attempt made.
    run_id: String,
    raw: RawDocumentBuf,
}

impl Prepared {
    pub fn new(mut article: Article, run_id: &str) -> Result<Prepared, bson::ser::Error> {
        article.ingest.run_id = Some(run_id.to_owned());
        article.ingest.parser_version = crate::document::parser_version().to_owned();
        let raw = RawDocumentBuf::from_bytes(encode::article_bson(&article)).map_err(|e| {
            <bson::ser::Error as serde::ser::Error>::custom(format!(
                "encoded an invalid document: {e}"
            ))
        })?;
        Ok(Prepared {
            id: article.id,
            content_hash: article.content_hash,
            sha256: article.source_file.sha256,
            parser_version: article.ingest.parser_version,
            run_id: run_id.to_owned(),
            raw,
        })
    }

    /// What the file stages need once the document is written.
    pub fn into_receipt(self) -> Receipt {
        Receipt {
            id: self.id,
            sha256: self.sha256,
        }
    }

    /// The size of the encoded document.
    pub fn bytes(&self) -> usize {
        self.raw.as_bytes().len()
    }
}

/// A written article, as the file stages record it.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: String,
    /// The raw file's SHA-256.
    pub sha256: String,
}

/// The loader's own fields, written after the article's.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    revision: i32,
    first_seen_at: bson::DateTime,
    updated_at: bson::DateTime,
}

/// One write of a round, before it is sent: the encoded article is borrowed, and copied only
/// into the command.
enum Op<'a> {
    Insert(&'a Prepared, Stamp),
    /// Replaces the stored version, if it is still the one read (its hash and revision, and
    /// for a reparse (`true`) its parser version).
    Replace(&'a Prepared, Stamp, Stored, bool),
}

impl Op<'_> {
    /// An upper bound of what the operation adds to a command.
    fn size(&self) -> usize {
        match self {
            Op::Insert(a, _) => a.bytes() + LOADER_FIELDS_BYTES + 48,
            Op::Replace(a, _, s, _) => {
                a.bytes()
                    + LOADER_FIELDS_BYTES
                    + a.id.len()
                    + s.hash.len()
                    + s.parser_version.as_ref().map_or(0, String::len)
                    + 200
            }
        }
    }

    fn is_insert(&self) -> bool {
        matches!(self, Op::Insert(..))
    }
}

/// The MongoDB side of article-etl.
#[derive(Clone)]
pub struct Loader {
    client: Client,
    db: Database,
    articles: Collection<Document>,
    revisions: Collection<Document>,
    runs: Collection<Document>,
    progress: Collection<Document>,
    /// `<database>.<collection>` of the articles, for `bulkWrite`.
    namespace: String,
    api: WriteApi,
    max_bson_bytes: usize,
    /// Whether to insert a batch before reading what is stored (see `write_round`); shared by
    /// the loader's clones, learnt from the batches written.
    optimistic: Arc<AtomicBool>,
    /// The last round stamp handed out (ms since the epoch), shared by the clones: stamps only
    /// go up, so no two rounds of a run share one.
    last_stamp: Arc<AtomicI64>,
    /// `backfill --reparse=all`: rewrite documents of the same parser generation too.
    reparse_all: bool,
}

/// A batch being written, kept across the attempts of its write: the outcomes of the rounds
/// finished, the rounds still to write, and the stamp of the round in progress.
pub struct BatchWrite<'a> {
    articles: &'a [Prepared],
    outcomes: Vec<Option<Outcome>>,
    /// Rounds of distinct ids, in file order (the same id twice goes in a later round).
    rounds: VecDeque<Vec<usize>>,
    /// The `updated_at` of every write of the round in progress, in every attempt: a stored
    /// document with this run's id and this stamp was written by this round.
    stamp: Option<bson::DateTime>,
    /// Articles of the round in progress whose last planned write was a reparse: when a retry
    /// finds that write applied, it is counted as the reparse it was (its revision alone
    /// cannot tell a reparse of revision 1 from an insert).
    reparsing: HashSet<usize>,
}

impl<'a> BatchWrite<'a> {
    pub fn new(articles: &'a [Prepared]) -> Self {
        let mut rounds = VecDeque::new();
        let mut remaining: Vec<usize> = (0..articles.len()).collect();
        while !remaining.is_empty() {
            let mut seen = HashSet::new();
            let (round, later): (Vec<usize>, Vec<usize>) = remaining
                .iter()
                .partition(|&&i| seen.insert(articles[i].id.as_str()));
            rounds.push_back(round);
            remaining = later;
        }
        BatchWrite {
            articles,
            outcomes: vec![None; articles.len()],
            rounds,
            stamp: None,
            reparsing: HashSet::new(),
        }
    }
}

/// The stored state of one article, as read before writing.
#[derive(Debug, Clone)]
struct Stored {
    hash: String,
    revision: i32,
    first_seen_at: Option<bson::DateTime>,
    /// `ingest.run_id` and `updated_at`: who wrote this version, in which round.
    run_id: Option<String>,
    updated_at: Option<bson::DateTime>,
    /// `source_file.sha256`: the raw bytes it was read from.
    sha256: Option<String>,
    /// `ingest.parser_version`: which parser read them.
    parser_version: Option<String>,
}

impl Stored {
    /// Is this version `a` as written by the round stamped `stamp`? A new insert is revision
    /// 1 and a replace revision 2 or more, so the revision tells which of the two it was.
    fn written_by(&self, a: &Prepared, stamp: bson::DateTime) -> bool {
        self.updated_at == Some(stamp)
            && self.run_id.as_deref() == Some(a.run_id.as_str())
            && self.hash == a.content_hash
    }
}

impl Stored {
    /// What to do with `a` given this stored version (the rule of the module doc). With
    /// `reparse_all`, a document read by the same parser generation is rewritten too (after a
    /// change of pipeline settings, say), but never one a newer parser wrote.
    fn plan(self, a: &Prepared, reparse_all: bool) -> Plan {
        let ours = parser_generation(&a.parser_version);
        let theirs = parser_generation(self.parser_version.as_deref().unwrap_or(""));
        let same_bytes = self.sha256.as_deref() == Some(a.sha256.as_str());
        if same_bytes || self.hash == a.content_hash {
            if theirs < ours || (reparse_all && theirs == ours) {
                Plan::Reparse(self)
            } else {
                Plan::Unchanged(self.revision)
            }
        } else {
            Plan::Replace(self)
        }
    }
}

enum Plan {
    Insert,
    /// Already written by this round (an earlier attempt): stored at this revision.
    Done(i32),
    Unchanged(i32),
    Replace(Stored),
    /// Replace in place: same revision, no copy kept.
    Reparse(Stored),
}

/// One write of a round and how it went.
enum WriteResult {
    Applied,
    Conflict,
    /// The server did not say for this one (a conditional replace when not all matched).
    Unsure,
    Rejected(&'static str, String),
}

impl Loader {
    /// Connects and checks the server answers (within the URI's or the given server selection
    /// timeout), then picks the write path.
    pub async fn connect(
        uri: &str,
        database: &str,
        collection: &str,
        api: WriteApi,
        server_selection_timeout: Duration,
    ) -> Result<Loader, LoadError> {
        let mut options = ClientOptions::parse(uri).await?;
        if options.server_selection_timeout.is_none() {
            options.server_selection_timeout = Some(server_selection_timeout);
        }
        if options.connect_timeout.is_none() {
            options.connect_timeout = Some(server_selection_timeout);
        }
        // After an error such as "shutting down" or "not primary" the driver waits for its
        // next heartbeat before using the server again; the default 10 s would eat most of a
        // retry budget. A `hello` a second is a negligible load.
        if options.heartbeat_freq.is_none() {
            options.heartbeat_freq = Some(HEARTBEAT);
        }
        options
            .app_name
            .get_or_insert_with(|| "article-etl".to_owned());
        let client = Client::with_options(options)?;
        let db = client.database(database);
        let hello = db.run_command(doc! { "hello": 1 }).await?;
        let wire = hello.get_i32("maxWireVersion").unwrap_or(0);
        let max_bson_bytes = hello
            .get_i32("maxBsonObjectSize")
            .map(|n| n as usize)
            .unwrap_or(16 * 1024 * 1024);
        let api = match api {
            WriteApi::Auto if wire >= WIRE_VERSION_8_0 => WriteApi::BulkWrite,
            WriteApi::Auto => WriteApi::Legacy,
            forced => forced,
        };
        let write_concern = WriteConcern::majority();
        let coll = |name: &str| {
            db.collection_with_options::<Document>(
                name,
                mongodb::options::CollectionOptions::builder()
                    .write_concern(write_concern.clone())
                    .build(),
            )
        };
        Ok(Loader {
            articles: coll(collection),
            revisions: coll(REVISIONS),
            runs: coll(RUNS),
            progress: coll(PROGRESS),
            namespace: format!("{database}.{collection}"),
            client,
            db,
            api,
            max_bson_bytes,
            optimistic: Arc::new(AtomicBool::new(true)),
            last_stamp: Arc::new(AtomicI64::new(0)),
            reparse_all: false,
        })
    }

    /// Rewrites in place every document read from the same bytes by the same parser
    /// generation, as if it were older (`backfill --reparse=all`).
    pub fn reparse_all(mut self) -> Loader {
        self.reparse_all = true;
        self
    }

    pub fn api(&self) -> WriteApi {
        self.api
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn articles(&self) -> &Collection<Document> {
        &self.articles
    }

    pub fn runs(&self) -> &Collection<Document> {
        &self.runs
    }

    /// Stops the driver's background work (monitors, pool workers) in order before the
    /// runtime goes away; dropping the runtime under them makes the driver panic.
    pub async fn shutdown(&self) {
        self.client.clone().shutdown().immediate(true).await;
    }

    pub async fn ping(&self) -> Result<(), LoadError> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    /// Creates the indexes the queries and the revision bookkeeping rely on; a no-op when they
    /// exist.
    pub async fn ensure_indexes(&self) -> Result<(), LoadError> {
        self.articles.create_indexes(article_indexes()).await?;
        self.revisions
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "article_id": 1, "revision": 1 })
                    .options(IndexOptions::builder().unique(true).build())
                    .build(),
            )
            .await?;
        self.runs
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "started_at": -1 })
                    .build(),
            )
            .await?;
        self.progress
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "pipeline": 1, "dir": 1 })
                    .build(),
            )
            .await?;
        Ok(())
    }

    /// Writes one batch in one attempt; returns one outcome per article, in order.
    pub async fn write_batch(&self, articles: &[Prepared]) -> Result<Vec<Outcome>, LoadError> {
        self.write_batch_resuming(&mut BatchWrite::new(articles))
            .await
    }

    /// Writes a batch, or what is left of it after an earlier attempt; returns one outcome per
    /// article, in order. Errors are transient or fatal for the batch as a whole; the caller
    /// retries transient ones with the same `batch`: the rounds already written are not written
    /// again, and writes of the failed attempt that the server applied are counted as such.
    pub async fn write_batch_resuming(
        &self,
        batch: &mut BatchWrite<'_>,
    ) -> Result<Vec<Outcome>, LoadError> {
        // The same id twice in a batch: later copies go in later rounds, in file order, so
        // each one sees the state the previous one left.
        while let Some(round) = batch.rounds.front() {
            let stamp = *batch.stamp.get_or_insert_with(|| self.next_stamp());
            self.write_round(
                batch.articles,
                round,
                stamp,
                &mut batch.outcomes,
                &mut batch.reparsing,
            )
            .await?;
            batch.rounds.pop_front();
            batch.stamp = None;
            batch.reparsing.clear();
        }
        Ok(batch
            .outcomes
            .iter()
            .map(|o| {
                o.clone().unwrap_or(Outcome::Rejected {
                    code: "db_conflict",
                    message: "the document kept changing under concurrent writers".into(),
                })
            })
            .collect())
    }

    /// A round's stamp: now, or just after the last one handed out when that is not earlier.
    fn next_stamp(&self) -> bson::DateTime {
        let now = bson::DateTime::now().timestamp_millis();
        let previous = self
            .last_stamp
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        bson::DateTime::from_millis(now.max(previous + 1))
    }

    /// Writes articles with distinct ids, replanning the ones that lose races.
    async fn write_round(
        &self,
        articles: &[Prepared],
        round: &[usize],
        stamp: bson::DateTime,
        outcomes: &mut [Option<Outcome>],
        reparsing: &mut HashSet<usize>,
    ) -> Result<(), LoadError> {
        let mut todo: Vec<usize> = round.to_vec();
        for pass in 0..MAX_CONFLICT_ROUNDS {
            if todo.is_empty() {
                return Ok(());
            }
            // While batches are mostly new articles (a first load), the first pass inserts them
            // all without reading what is stored: the ones that exist fail with a duplicate
            // key, a conflict like any lost race, and the next pass reads and plans them. A
            // round trip saved per batch; once batches are mostly known articles, read first.
            let optimistic = pass == 0 && self.optimistic.load(Ordering::Relaxed);
            let mut stored = if optimistic {
                HashMap::new()
            } else {
                let ids: Vec<&str> = todo.iter().map(|&i| articles[i].id.as_str()).collect();
                self.read_stored(&ids).await?
            };
            let now = stamp;

            let mut inserts: Vec<(usize, Stamp)> = Vec::new();
            let mut replaces: Vec<(usize, Stored, Stamp, bool)> = Vec::new();
            for &i in &todo {
                let a = &articles[i];
                let plan = match stored.remove(a.id.as_str()) {
                    None => Plan::Insert,
                    // Written by this round in an earlier attempt whose reply was lost.
                    Some(s) if s.written_by(a, stamp) => Plan::Done(s.revision),
                    Some(s) => s.plan(a, self.reparse_all),
                };
                if !matches!(plan, Plan::Done(_)) {
                    reparsing.remove(&i);
                }
                match plan {
                    Plan::Done(revision) if reparsing.contains(&i) => {
                        outcomes[i] = Some(Outcome::Reparsed(revision))
                    }
                    Plan::Done(1) => outcomes[i] = Some(Outcome::Inserted),
                    Plan::Done(revision) => outcomes[i] = Some(Outcome::Updated(revision)),
                    Plan::Unchanged(revision) => outcomes[i] = Some(Outcome::Unchanged(revision)),
                    Plan::Insert => match self.check_size(a) {
                        Ok(()) => inserts.push((
                            i,
                            Stamp {
                                revision: 1,
                                first_seen_at: now,
                                updated_at: now,
                            },
                        )),
                        Err(r) => outcomes[i] = Some(r),
                    },
                    Plan::Replace(s) => match self.check_size(a) {
                        Ok(()) => {
                            let stamp = Stamp {
                                revision: s.revision + 1,
                                first_seen_at: s.first_seen_at.unwrap_or(now),
                                updated_at: now,
                            };
                            replaces.push((i, s, stamp, false));
                        }
                        Err(r) => outcomes[i] = Some(r),
                    },
                    Plan::Reparse(s) => match self.check_size(a) {
                        Ok(()) => {
                            let stamp = Stamp {
                                revision: s.revision,
                                first_seen_at: s.first_seen_at.unwrap_or(now),
                                updated_at: now,
                            };
                            reparsing.insert(i);
                            replaces.push((i, s, stamp, true));
                        }
                        Err(r) => outcomes[i] = Some(r),
                    },
                }
            }
            // Only corrections keep the version they replace: a reparse changes our reading,
            // not the newspaper's text.
            let pairs: Vec<(&str, i32)> = replaces
                .iter()
                .filter(|(_, _, _, reparse)| !reparse)
                .map(|(i, s, _, _)| (articles[*i].id.as_str(), s.revision))
                .collect();
            if !pairs.is_empty() {
                self.save_revisions(&pairs).await?;
            }
            // Per write: for a replace, the revision it writes and whether it is a reparse.
            let planned: Vec<(usize, Option<(i32, bool)>)> = inserts
                .iter()
                .map(|(i, _)| (*i, None))
                .chain(
                    replaces
                        .iter()
                        .map(|(i, _, stamp, reparse)| (*i, Some((stamp.revision, *reparse)))),
                )
                .collect();
            let planned_inserts = inserts.len();
            let results = self.write(articles, inserts, replaces).await?;
            // Conditional replaces whose outcome the server did not say one by one: read back
            // which of ours are in place.
            let unsure: Vec<&str> = planned
                .iter()
                .zip(&results)
                .filter(|(_, r)| matches!(r, WriteResult::Unsure))
                .map(|((i, _), _)| articles[*i].id.as_str())
                .collect();
            let in_place = if unsure.is_empty() {
                HashMap::new()
            } else {
                self.read_stored(&unsure).await?
            };
            let mut again = Vec::new();
            for ((i, replace), result) in planned.into_iter().zip(results) {
                let result = match (result, replace) {
                    // Ours is in place when the stored version carries this round's stamp: a
                    // reparse keeps the revision and often the hash, so those cannot tell.
                    (WriteResult::Unsure, Some((revision, _))) => {
                        match in_place.get(articles[i].id.as_str()) {
                            Some(now)
                                if now.written_by(&articles[i], stamp)
                                    && now.revision == revision =>
                            {
                                WriteResult::Applied
                            }
                            _ => WriteResult::Conflict,
                        }
                    }
                    (WriteResult::Unsure, None) => WriteResult::Conflict,
                    (r, _) => r,
                };
                match result {
                    WriteResult::Applied => {
                        outcomes[i] = Some(match replace {
                            None => Outcome::Inserted,
                            Some((r, true)) => Outcome::Reparsed(r),
                            Some((r, false)) => Outcome::Updated(r),
                        })
                    }
                    WriteResult::Conflict | WriteResult::Unsure => again.push(i),
                    WriteResult::Rejected(code, message) => {
                        outcomes[i] = Some(Outcome::Rejected { code, message })
                    }
                }
            }
            if pass == 0 {
                // Known articles under a tenth of the first pass: stay (or turn) optimistic.
                let known = if optimistic {
                    again.len()
                } else {
                    todo.len() - planned_inserts
                };
                self.optimistic
                    .store(known * 10 < todo.len(), Ordering::Relaxed);
            }
            todo = again;
        }
        Ok(())
    }

    /// Refuses a document the server would refuse, with the loader's fields added.
    fn check_size(&self, a: &Prepared) -> Result<(), Outcome> {
        let size = a.bytes() + LOADER_FIELDS_BYTES;
        if size > self.max_bson_bytes {
            return Err(Outcome::Rejected {
                code: "document_too_large",
                message: format!(
                    "the document is {size} bytes as BSON, over the server's limit of {}",
                    self.max_bson_bytes
                ),
            });
        }
        Ok(())
    }

    /// One round's writes, in command-sized chunks: inserts, then conditional replaces. On
    /// MongoDB 8.0+ they go as `bulkWrite` commands, before as `insert` and `update` commands.
    /// Results come in the order given.
    async fn write(
        &self,
        articles: &[Prepared],
        inserts: Vec<(usize, Stamp)>,
        replaces: Vec<(usize, Stored, Stamp, bool)>,
    ) -> Result<Vec<WriteResult>, LoadError> {
        let mut ops: Vec<Op> = Vec::with_capacity(inserts.len() + replaces.len());
        ops.extend(
            inserts
                .into_iter()
                .map(|(i, stamp)| Op::Insert(&articles[i], stamp)),
        );
        ops.extend(
            replaces.into_iter().map(|(i, stored, stamp, reparse)| {
                Op::Replace(&articles[i], stamp, stored, reparse)
            }),
        );
        let mut results = Vec::with_capacity(ops.len());
        let mut start = 0;
        while start < ops.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < ops.len()
                && (end == start
                    || (bytes + ops[end].size() <= COMMAND_BYTES
                        && ops[end].is_insert() == ops[start].is_insert()))
            {
                bytes += ops[end].size();
                end += 1;
            }
            results.extend(self.send(&ops[start..end], bytes).await?);
            start = end;
        }
        Ok(results)
    }

    /// Sends one chunk of operations of one kind as one command.
    async fn send(&self, ops: &[Op<'_>], bytes: usize) -> Result<Vec<WriteResult>, LoadError> {
        let n = ops.len();
        let is_insert = ops.first().is_some_and(Op::is_insert);
        let command = self
            .command(ops, bytes)
            .map_err(|e| LoadError::Fatal(format!("encoding a write command: {e}")))?;
        let db = match self.api {
            WriteApi::BulkWrite => self.client.database("admin"),
            _ => self.db.clone(),
        };
        let reply = db.run_raw_command(command).await?;
        if let Ok(wce) = reply.get_document("writeConcernError") {
            return Err(LoadError::Transient(format!(
                "write concern error: {}",
                wce.get_str("errmsg").unwrap_or("unknown")
            )));
        }
        // Per-operation errors: `writeErrors` (insert, update) or the error cursor (bulkWrite).
        let mut errors: HashMap<usize, (i32, String)> = HashMap::new();
        let mut complete = true;
        let listed = match self.api {
            WriteApi::BulkWrite => {
                let cursor = reply.get_document("cursor").ok();
                complete = cursor.and_then(|c| c.get_i64("id").ok()).unwrap_or(0) == 0;
                cursor.and_then(|c| c.get_array("firstBatch").ok())
            }
            _ => reply.get_array("writeErrors").ok(),
        };
        for e in listed.into_iter().flatten().filter_map(Bson::as_document) {
            let index = e
                .get_i32("idx")
                .or_else(|_| e.get_i32("index"))
                .unwrap_or(-1);
            let code = e.get_i32("code").unwrap_or(0);
            if index >= 0 && e.get_f64("ok").map_or(true, |ok| ok == 0.0) && code != 0 {
                errors.insert(
                    index as usize,
                    (code, e.get_str("errmsg").unwrap_or_default().to_owned()),
                );
            }
        }
        // Matched counts come as totals: when every replace matched, all are in place.
        let matched = match self.api {
            WriteApi::BulkWrite => reply
                .get_i32("nMatched")
                .map(i64::from)
                .or_else(|_| reply.get_i64("nMatched")),
            _ => reply
                .get_i32("n")
                .map(i64::from)
                .or_else(|_| reply.get_i64("n")),
        }
        .unwrap_or(-1);
        let all_matched = !is_insert && matched + errors.len() as i64 == n as i64;
        let mut out = Vec::with_capacity(n);
        for idx in 0..n {
            out.push(match errors.get(&idx) {
                Some((code, msg)) => classify_write_error(*code, msg)?,
                // An error cursor that did not fit its first batch: these may have failed.
                None if !complete => WriteResult::Unsure,
                None if is_insert || all_matched => WriteResult::Applied,
                None => WriteResult::Unsure,
            });
        }
        Ok(out)
    }

    /// The command for `ops` (all inserts or all replaces): `bulkWrite` on MongoDB 8.0+,
    /// `insert` or `update` before.
    fn command(&self, ops: &[Op<'_>], bytes: usize) -> Result<RawDocumentBuf, bson::raw::Error> {
        fn article(w: &mut CommandWriter, a: &Prepared, stamp: &Stamp) {
            w.fields_of(&a.raw)
                .int32("revision", stamp.revision)
                .datetime("first_seen_at", stamp.first_seen_at)
                .datetime("updated_at", stamp.updated_at);
        }
        fn condition(
            w: &mut CommandWriter,
            key: &str,
            a: &Prepared,
            stored: &Stored,
            reparse: bool,
        ) {
            w.document(key)
                .string("_id", &a.id)
                .string("content_hash", &stored.hash)
                .int32("revision", stored.revision);
            if reparse {
                // Two loaders reparsing the same document: the second finds it reparsed
                // already (no match), reads it again, and sees it up to date. A missing
                // version is matched by null, as documented for equality queries.
                w.opt_string("ingest.parser_version", stored.parser_version.as_deref());
            }
            w.end();
        }
        let mut w = CommandWriter::with_capacity(bytes + 512);
        let is_insert = ops.first().is_some_and(Op::is_insert);
        match self.api {
            WriteApi::BulkWrite => {
                w.int32("bulkWrite", 1).array("ops");
                for (i, op) in ops.iter().enumerate() {
                    w.document_at(i);
                    match op {
                        Op::Insert(a, stamp) => {
                            w.int32("insert", 0).document("document");
                            article(&mut w, a, stamp);
                            w.end();
                        }
                        Op::Replace(a, stamp, stored, reparse) => {
                            w.int32("update", 0);
                            condition(&mut w, "filter", a, stored, *reparse);
                            w.document("updateMods");
                            article(&mut w, a, stamp);
                            w.end().boolean("multi", false).boolean("upsert", false);
                        }
                    }
                    w.end();
                }
                w.end().array("nsInfo").document_at(0);
                w.string("ns", &self.namespace).end().end();
                w.boolean("errorsOnly", true);
            }
            _ if is_insert => {
                w.string("insert", self.articles.name()).array("documents");
                for (i, op) in ops.iter().enumerate() {
                    if let Op::Insert(a, stamp) = op {
                        w.document_at(i);
                        article(&mut w, a, stamp);
                        w.end();
                    }
                }
                w.end();
            }
            _ => {
                w.string("update", self.articles.name()).array("updates");
                for (i, op) in ops.iter().enumerate() {
                    if let Op::Replace(a, stamp, stored, reparse) = op {
                        w.document_at(i);
                        condition(&mut w, "q", a, stored, *reparse);
                        w.document("u");
                        article(&mut w, a, stamp);
                        w.end()
                            .boolean("upsert", false)
                            .boolean("multi", false)
                            .end();
                    }
                }
                w.end();
            }
        }
        w.boolean("ordered", false);
        w.document("writeConcern").string("w", "majority").end();
        w.finish()
    }

    async fn read_stored(&self, ids: &[&str]) -> Result<HashMap<String, Stored>, LoadError> {
        let found = find_by_ids(
            &self.articles,
            ids,
            doc! {
                "content_hash": 1, "revision": 1, "first_seen_at": 1, "updated_at": 1,
                "ingest.run_id": 1, "ingest.parser_version": 1, "source_file.sha256": 1,
            },
        )
        .await?;
        let mut out = HashMap::with_capacity(found.len());
        for d in found {
            let Ok(id) = d.get_str("_id") else { continue };
            let ingest = d.get_document("ingest").ok();
            out.insert(
                id.to_owned(),
                Stored {
                    hash: d.get_str("content_hash").unwrap_or_default().to_owned(),
                    revision: revision_of(&d),
                    first_seen_at: d.get_datetime("first_seen_at").ok().copied(),
                    run_id: ingest
                        .and_then(|i| i.get_str("run_id").ok())
                        .map(str::to_owned),
                    updated_at: d.get_datetime("updated_at").ok().copied(),
                    sha256: d
                        .get_document("source_file")
                        .ok()
                        .and_then(|f| f.get_str("sha256").ok())
                        .map(str::to_owned),
                    parser_version: ingest
                        .and_then(|i| i.get_str("parser_version").ok())
                        .map(str::to_owned),
                },
            );
        }
        Ok(out)
    }

    /// Copies the stored versions about to be replaced into `article_revisions`, keyed
    /// `<id>@<revision>` so that a retry or a concurrent loader saving the same version
    /// collides harmlessly instead of duplicating it.
    async fn save_revisions(&self, items: &[(&str, i32)]) -> Result<(), LoadError> {
        use futures::TryStreamExt;
        let ids: Vec<&str> = items.iter().map(|(id, _)| *id).collect();
        let mut cursor = self.articles.find(doc! { "_id": { "$in": &ids } }).await?;
        let mut copies = Vec::with_capacity(items.len());
        let wanted: HashMap<&str, i32> = items.iter().copied().collect();
        while let Some(mut d) = cursor.try_next().await? {
            let Some(Bson::String(id)) = d.remove("_id") else {
                continue;
            };
            let revision = revision_of(&d);
            // Changed since it was read: the conditional replace will lose and be replanned,
            // so this version is not (yet) being replaced.
            if wanted.get(id.as_str()) != Some(&revision) {
                continue;
            }
            d.insert("_id", format!("{id}@{revision}"));
            d.insert("article_id", id);
            d.insert("archived_at", bson::DateTime::now());
            copies.push(d);
        }
        if copies.is_empty() {
            return Ok(());
        }
        match self.revisions.insert_many(copies).ordered(false).await {
            Ok(_) => Ok(()),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(m)
                    if m.write_concern_error.is_none()
                        && m.write_errors
                            .as_ref()
                            .is_some_and(|w| w.iter().all(|w| w.code == 11000)) =>
                {
                    Ok(())
                }
                _ => Err(e.into()),
            },
        }
    }

    /// Everything the progress pages of `pipeline` record about the files of `dirs`
    /// (archive keys of directories): `each(dir, name, size, mtime in ms or -1)` once per
    /// entry, streamed, so a directory of a million files is never held as documents. A
    /// file read again after it changed has an entry per version.
    pub async fn lookup_progress<F>(
        &self,
        pipeline: &str,
        dirs: &[String],
        mut each: F,
    ) -> Result<(), LoadError>
    where
        F: FnMut(&str, &str, i64, i64),
    {
        self.lookup_progress_with(pipeline, dirs, ProgressQuery::default(), |e| {
            each(e.dir, e.name, e.size, e.mtime)
        })
        .await
    }

    /// [`Loader::lookup_progress`], with the entries' article ids, digests and pages' times
    /// when `query.ids` (a reparse or a retry of quarantined files needs them).
    pub async fn lookup_progress_with<F>(
        &self,
        pipeline: &str,
        dirs: &[String],
        query: ProgressQuery,
        mut each: F,
    ) -> Result<(), LoadError>
    where
        F: FnMut(&ProgressSeen<'_>),
    {
        use futures::TryStreamExt;
        let mut projection =
            doc! { "_id": 0, "dir": 1, "files.name": 1, "files.size": 1, "files.mtime": 1 };
        if query.ids {
            projection.insert("files.article_id", 1);
            projection.insert("files.sha256", 1);
            projection.insert("at", 1);
        }
        for chunk in dirs.chunks(PROGRESS_LOOKUP_DIRS) {
            let filter = doc! { "pipeline": pipeline, "dir": { "$in": chunk } };
            let mut cursor = self
                .progress
                .find(filter)
                .projection(projection.clone())
                .await?;
            while let Some(page) = cursor.try_next().await? {
                let (Ok(dir), Ok(files)) = (page.get_str("dir"), page.get_array("files")) else {
                    continue;
                };
                let at = page
                    .get_datetime("at")
                    .map(|t| t.timestamp_millis())
                    .unwrap_or(-1);
                for entry in files.iter().filter_map(Bson::as_document) {
                    let Ok(name) = entry.get_str("name") else {
                        continue;
                    };
                    each(&ProgressSeen {
                        at,
                        sha256: entry.get_str("sha256").ok(),
                        dir,
                        name,
                        size: entry.get_i64("size").unwrap_or(-1),
                        mtime: entry
                            .get_datetime("mtime")
                            .map(|t| t.timestamp_millis())
                            .unwrap_or(-1),
                        article_id: entry.get_str("article_id").ok(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Of the articles `ids`, what a `backfill --reparse` needs to know: which parser
    /// generation wrote each, and from which raw bytes (`source_file.sha256`).
    pub async fn stored_sources(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, StoredSource>, LoadError> {
        let found = find_by_ids(
            &self.articles,
            ids,
            doc! { "ingest.parser_version": 1, "source_file.sha256": 1 },
        )
        .await?;
        Ok(found
            .into_iter()
            .filter_map(|d| {
                let id = d.get_str("_id").ok()?.to_owned();
                let generation = parser_generation(
                    d.get_document("ingest")
                        .ok()
                        .and_then(|i| i.get_str("parser_version").ok())
                        .unwrap_or(""),
                );
                let sha256 = d
                    .get_document("source_file")
                    .ok()
                    .and_then(|f| f.get_str("sha256").ok())
                    .map(str::to_owned);
                Some((id, StoredSource { generation, sha256 }))
            })
            .collect())
    }

    /// When the `--reparse=all` of `key` (pipeline and shard) still to finish began: now, for
    /// a new one. Kept in `backfill_progress` as `_id: "reparse-all:<key>"` until
    /// [`Loader::end_reparse_all`], so that a run started again after an interruption skips
    /// what the interrupted ones finished (their progress pages are newer) and reads the rest.
    pub async fn begin_reparse_all(
        &self,
        key: &str,
        run_id: &str,
    ) -> Result<bson::DateTime, LoadError> {
        let id = format!("reparse-all:{key}");
        let started = |d: Option<Document>| {
            d.as_ref()
                .and_then(|d| d.get_datetime("started_at").ok().copied())
        };
        if let Some(at) = started(self.progress.find_one(doc! { "_id": &id }).await?) {
            return Ok(at);
        }
        let now = bson::DateTime::now();
        match self
            .progress
            .insert_one(doc! { "_id": &id, "started_at": now, "run_id": run_id })
            .await
        {
            Ok(_) => Ok(now),
            // Another shard's run of the same key began it a moment ago: its start counts.
            Err(e) if matches!(e.kind.as_ref(), ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) if w.code == 11000) => {
                started(self.progress.find_one(doc! { "_id": &id }).await?)
                    .ok_or_else(|| LoadError::Fatal(format!("{PROGRESS} lost the record {id}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A `--reparse=all` finished: the next one starts afresh.
    pub async fn end_reparse_all(&self, key: &str) -> Result<(), LoadError> {
        self.progress
            .delete_one(doc! { "_id": format!("reparse-all:{key}") })
            .await?;
        Ok(())
    }

    /// Saves progress pages (see `ProgressPage`). Idempotent: a page already saved (a retry
    /// after a lost reply) is a duplicate `_id`, and counts as saved.
    pub async fn save_progress(&self, pages: &[RawDocumentBuf]) -> Result<(), LoadError> {
        if pages.is_empty() {
            return Ok(());
        }
        let progress = self.progress.clone_with_type::<RawDocumentBuf>();
        match progress.insert_many(pages).ordered(false).await {
            Ok(_) => Ok(()),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(m)
                    if m.write_concern_error.is_none()
                        && m.write_errors.iter().flatten().all(|w| w.code == 11000) =>
                {
                    Ok(())
                }
                _ => Err(e.into()),
            },
        }
    }

    /// Writes or updates a run record (`ingest_runs`), keyed by the run id.
    pub async fn save_run(&self, record: &Document) -> Result<(), LoadError> {
        let id = record.get("_id").cloned().unwrap_or(Bson::Null);
        self.runs
            .replace_one(doc! { "_id": id }, record.clone())
            .upsert(true)
            .await?;
        Ok(())
    }
}

/// What a progress lookup asks for besides the files' names, sizes and mtimes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProgressQuery {
    /// The entries' article ids and digests, and their pages' times, too.
    pub ids: bool,
}

/// Where a stored article came from, for `backfill --reparse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSource {
    /// The parser generation that wrote it.
    pub generation: u32,
    /// `source_file.sha256`.
    pub sha256: Option<String>,
}

/// One entry of a progress page, as a lookup returns it.
#[derive(Debug, Clone, Copy)]
pub struct ProgressSeen<'a> {
    pub dir: &'a str,
    pub name: &'a str,
    pub size: i64,
    /// In ms since the epoch, -1 when unknown.
    pub mtime: i64,
    /// Asked for with [`ProgressQuery::ids`]; `None` for a quarantined file.
    pub article_id: Option<&'a str>,
    /// Asked for with [`ProgressQuery::ids`].
    pub sha256: Option<&'a str>,
    /// The page's time (ms since the epoch), asked for with [`ProgressQuery::ids`]; else -1.
    pub at: i64,
}

/// A progress page: the files of one directory (`dir`, an archive key) finished in one written
/// batch of one pipeline, each entry `{ name, size, mtime, sha256, outcome, code, article_id }`,
/// at most `PAGE_FILES` of them. A page per directory and batch rather than a record per file:
/// on a busy server, inserting and finding a few pages costs a fraction of 500 small
/// documents, and a lookup by directory is an equality match. `id` is unique to the page (run
/// id, page number), which makes saving it again a no-op.
///
/// Encoded as it is filled, entry by entry, into the page's one buffer.
pub struct ProgressPage {
    w: CommandWriter,
    files: usize,
}

/// One finished file of a [`ProgressPage`].
#[derive(Debug, Clone, Copy)]
pub struct ProgressEntry<'a> {
    pub name: &'a str,
    pub size: i64,
    pub mtime: Option<bson::DateTime>,
    /// The raw file's SHA-256 (hex), when it was read.
    pub sha256: Option<&'a str>,
    /// `inserted`, `updated`, `unchanged` or `quarantined`.
    pub outcome: &'a str,
    /// The quarantine's error code.
    pub code: Option<&'a str>,
    pub article_id: Option<&'a str>,
}

impl ProgressPage {
    pub fn new(id: &str, pipeline: &str, dir: &str, run_id: &str, at: bson::DateTime) -> Self {
        let mut w = CommandWriter::with_capacity(4096);
        w.string("_id", id)
            .string("pipeline", pipeline)
            .string("dir", dir)
            .string("run_id", run_id)
            .datetime("at", at)
            .array("files");
        ProgressPage { w, files: 0 }
    }

    pub fn push(&mut self, e: &ProgressEntry<'_>) {
        self.w
            .document_at(self.files)
            .string("name", e.name)
            .int64("size", e.size);
        match e.mtime {
            Some(at) => self.w.datetime("mtime", at),
            None => self.w.null("mtime"),
        };
        self.w
            .opt_string("sha256", e.sha256)
            .string("outcome", e.outcome)
            .opt_string("code", e.code)
            .opt_string("article_id", e.article_id)
            .end();
        self.files += 1;
    }

    /// Files listed so far.
    pub fn len(&self) -> usize {
        self.files
    }

    pub fn is_empty(&self) -> bool {
        self.files == 0
    }

    pub fn finish(self) -> Result<RawDocumentBuf, bson::raw::Error> {
        self.w.finish()
    }
}

/// The secondary indexes of `articles`, for the loader and for tools that mimic it.
pub fn article_indexes() -> Vec<IndexModel> {
    vec![
        IndexModel::builder()
            .keys(doc! { "source": 1, "pub_date": -1 })
            .build(),
        IndexModel::builder()
            .keys(doc! { "paper": 1, "pub_date": -1 })
            .build(),
    ]
}

fn revision_of(d: &Document) -> i32 {
    match d.get("revision") {
        Some(Bson::Int32(n)) => *n,
        Some(Bson::Int64(n)) => i32::try_from(*n).unwrap_or(i32::MAX),
        Some(Bson::Double(n)) => *n as i32,
        _ => 0,
    }
}

/// A per-operation error: a lost race, a transient failure (the whole batch is retried), or a
/// document the server refuses for good.
fn classify_write_error(code: i32, message: &str) -> Result<WriteResult, LoadError> {
    if code == 11000 {
        return Ok(WriteResult::Conflict);
    }
    if is_transient_code(code) {
        return Err(LoadError::Transient(format!(
            "write error {code}: {message}"
        )));
    }
    let kind = match code {
        10334 | 17419 | 17420 => "document_too_large",
        _ => "db_rejected",
    };
    Ok(WriteResult::Rejected(
        kind,
        format!("server error {code}: {message}"),
    ))
}
/// The documents of `coll` whose `_id` is among `ids`, with `projection`.
///
/// Asked in chunks of `LOOKUP_CHUNK` ids, a few at a time: one `$in` of a whole batch costs
/// SecantusDB time quadratic in the documents it finds (500 found: ~260 ms, 50 found: ~6 ms),
/// and a genuine mongod answers small `$in` queries as well as big ones.
async fn find_by_ids<S: AsRef<str>>(
    coll: &Collection<Document>,
    ids: &[S],
    projection: Document,
) -> Result<Vec<Document>, LoadError> {
    use futures::{StreamExt, TryStreamExt};
    // Owned chunks, made before the first await: a future holding closures over borrowed
    // slices is not `Send` enough for `tokio::spawn`.
    let chunks: Vec<Vec<String>> = ids
        .chunks(LOOKUP_CHUNK)
        .map(|chunk| chunk.iter().map(|id| id.as_ref().to_owned()).collect())
        .collect();
    let found: Vec<Vec<Document>> = futures::stream::iter(chunks)
        .map(|chunk| {
            let projection = projection.clone();
            async move {
                let cursor = coll
                    .find(doc! { "_id": { "$in": chunk } })
                    .projection(projection)
                    .await?;
                cursor.try_collect::<Vec<Document>>().await
            }
        })
        .buffer_unordered(LOOKUPS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// The progress pages of one written batch: a page per pipeline and directory, a new one
/// every `PAGE_FILES` files. Files of a batch come grouped by directory (walk order), so few
/// pages are open at once.
pub struct ProgressPages<'a> {
    run_id: &'a str,
    /// Numbers pages across the run's writers: `<run id>:<n>` is each page's `_id`.
    numbers: &'a AtomicU64,
    at: bson::DateTime,
    open: Vec<(String, String, ProgressPage)>,
    full: Vec<ProgressPage>,
}

impl<'a> ProgressPages<'a> {
    pub fn new(run_id: &'a str, numbers: &'a AtomicU64, at: bson::DateTime) -> Self {
        ProgressPages {
            run_id,
            numbers,
            at,
            open: Vec::new(),
            full: Vec::new(),
        }
    }

    pub fn add(&mut self, pipeline: &str, dir: &str, entry: &ProgressEntry<'_>) {
        let at = match self
            .open
            .iter()
            .position(|(p, d, _)| p == pipeline && d == dir)
        {
            Some(i) => i,
            None => {
                let n = self.numbers.fetch_add(1, Ordering::Relaxed);
                let id = format!("{}:{n:08}", self.run_id);
                let page = ProgressPage::new(&id, pipeline, dir, self.run_id, self.at);
                self.open.push((pipeline.to_owned(), dir.to_owned(), page));
                self.open.len() - 1
            }
        };
        let page = &mut self.open[at].2;
        page.push(entry);
        if page.len() >= PAGE_FILES {
            let (_, _, full) = self.open.swap_remove(at);
            self.full.push(full);
        }
    }

    /// Every page, encoded.
    pub fn finish(self) -> Result<Vec<RawDocumentBuf>, bson::raw::Error> {
        self.full
            .into_iter()
            .chain(self.open.into_iter().map(|(_, _, page)| page))
            .map(ProgressPage::finish)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page lays out what `docs/schema.md` describes: the page's fields, then one entry per
    /// file, absent values as nulls.
    #[test]
    fn a_progress_page_is_the_documented_document() {
        let at = bson::DateTime::from_millis(1_700_000_000_000);
        let mtime = bson::DateTime::from_millis(1_600_000_000_000);
        let mut page = ProgressPage::new("run-1:00000007", "daily", "2004/01/02", "run-1", at);
        assert!(page.is_empty());
        page.push(&ProgressEntry {
            name: "content_1.txt",
            size: 7000,
            mtime: Some(mtime),
            sha256: Some("ab12"),
            outcome: "inserted",
            code: None,
            article_id: Some("daily:1"),
        });
        page.push(&ProgressEntry {
            name: "bad.txt",
            size: 0,
            mtime: None,
            sha256: None,
            outcome: "quarantined",
            code: Some("empty"),
            article_id: None,
        });
        assert_eq!(page.len(), 2);
        let got = page.finish().unwrap().to_document().unwrap();
        let want = doc! {
            "_id": "run-1:00000007",
            "pipeline": "daily",
            "dir": "2004/01/02",
            "run_id": "run-1",
            "at": at,
            "files": [
                { "name": "content_1.txt", "size": 7000_i64, "mtime": mtime, "sha256": "ab12",
                  "outcome": "inserted", "code": Bson::Null, "article_id": "daily:1" },
                { "name": "bad.txt", "size": 0_i64, "mtime": Bson::Null, "sha256": Bson::Null,
                  "outcome": "quarantined", "code": "empty", "article_id": Bson::Null },
            ],
        };
        assert_eq!(got, want);
    }

    /// A batch's pages: one per pipeline and directory, a new one past PAGE_FILES files, each
    /// with its own id.
    #[test]
    fn a_batch_makes_a_page_per_directory_and_thousand_files() {
        let numbers = AtomicU64::new(5);
        let mut pages = ProgressPages::new("run-1", &numbers, bson::DateTime::now());
        fn entry(name: &str) -> ProgressEntry<'_> {
            ProgressEntry {
                name,
                size: 1,
                mtime: None,
                sha256: None,
                outcome: "inserted",
                code: None,
                article_id: None,
            }
        }
        for i in 0..=PAGE_FILES {
            pages.add("daily", "a", &entry(&format!("{i}.txt")));
        }
        pages.add("daily", "b", &entry("x.txt"));
        pages.add("weekly", "a", &entry("y.txt"));
        let mut got: Vec<(String, String, String, usize)> = pages
            .finish()
            .unwrap()
            .iter()
            .map(|p| {
                let d = p.to_document().unwrap();
                (
                    d.get_str("_id").unwrap().to_owned(),
                    d.get_str("pipeline").unwrap().to_owned(),
                    d.get_str("dir").unwrap().to_owned(),
                    d.get_array("files").unwrap().len(),
                )
            })
            .collect();
        got.sort();
        let want = [
            ("run-1:00000005", "daily", "a", PAGE_FILES),
            ("run-1:00000006", "daily", "a", 1),
            ("run-1:00000007", "daily", "b", 1),
            ("run-1:00000008", "weekly", "a", 1),
        ]
        .map(|(i, p, d, n)| (i.to_owned(), p.to_owned(), d.to_owned(), n));
        assert_eq!(got, want);
        assert_eq!(numbers.load(Ordering::Relaxed), 9);
    }

    /// The rule of docs/schema.md ("the raw bytes decide"), case by case.
    #[test]
    fn the_raw_bytes_decide_between_unchanged_reparsed_and_a_correction() {
        let text = "2024年03月05日\n\n城区道路改造完工\n\n□ 本报记者 柳晓岚\n\n今年城区完成道路改造十二条。\n\n--> 2024-03-05 □ 本报记者 柳晓岚 1 1 测试日报 content_1.html 1 城区道路改造完工 /enpproperty-->\n";
        let article = crate::transform::transform(
            &crate::transform::RawFile {
                path: "content_1.txt",
                bytes: text.as_bytes(),
                mtime: None,
            },
            &crate::transform::ParseOptions::for_source("t"),
        )
        .unwrap();
        let a = Prepared::new(article, "run-1").unwrap();
        let ours = crate::document::parser_version();
        let stored = |sha: &str, hash: &str, version: &str| Stored {
            hash: hash.to_owned(),
            revision: 3,
            first_seen_at: None,
            run_id: None,
            updated_at: None,
            sha256: Some(sha.to_owned()),
            parser_version: Some(version.to_owned()),
        };
        let (sha, hash) = (a.sha256.clone(), a.content_hash.clone());
        let older = "article-etl/0.0.1+p0";
        let newer = "article-etl/9.9.9+p999";
        let plan = |s: Stored, all: bool| s.plan(&a, all);
        // Same bytes.
        assert!(matches!(
            plan(stored(&sha, &hash, ours), false),
            Plan::Unchanged(3)
        ));
        assert!(matches!(
            plan(stored(&sha, "sha256:other", ours), false),
            Plan::Unchanged(3)
        ));
        assert!(matches!(
            plan(stored(&sha, "sha256:other", older), false),
            Plan::Reparse(_)
        ));
        assert!(matches!(
            plan(stored(&sha, &hash, older), false),
            Plan::Reparse(_)
        ));
        assert!(matches!(
            plan(stored(&sha, "sha256:other", newer), false),
            Plan::Unchanged(3)
        ));
        assert!(matches!(
            plan(stored(&sha, &hash, ours), true),
            Plan::Reparse(_)
        ));
        assert!(matches!(
            plan(stored(&sha, &hash, newer), true),
            Plan::Unchanged(3)
        ));
        // Other bytes.
        assert!(matches!(
            plan(stored("other", &hash, ours), false),
            Plan::Unchanged(3)
        ));
        assert!(matches!(
            plan(stored("other", &hash, older), false),
            Plan::Reparse(_)
        ));
        assert!(matches!(
            plan(stored("other", "sha256:other", ours), false),
            Plan::Replace(_)
        ));
        assert!(matches!(
            plan(stored("other", "sha256:other", older), false),
            Plan::Replace(_)
        ));
        assert!(matches!(
            plan(stored("other", "sha256:other", newer), true),
            Plan::Replace(_)
        ));
        // A document stored before parser versions were recorded is older than any.
        let mut unversioned = stored(&sha, &hash, ours);
        unversioned.parser_version = None;
        assert!(matches!(plan(unversioned, false), Plan::Reparse(_)));
    }
}
