//! Load: the MongoDB sink (FORMAT.md §5).
//!
//! Per batch: one read of the stored content hashes, then one bulk write. New content id →
//! insert with `revision: 1`; same hash → no write (*unchanged*); changed hash → the stored
//! version is copied to `article_revisions`, then replaced by the new one with `revision + 1`,
//! conditionally on the stored hash and revision still being what was read. A conditional
//! write that loses a race (duplicate key on insert, no match on replace) is planned again
//! from a fresh read, so concurrent loaders never lose a revision or create a duplicate.
//!
//! Two write paths: `Client::bulk_write` (the `bulkWrite` command, MongoDB 8.0+) and, for
//! 6.0/7.0, `insert_many` plus one `update` command with many statements. The server's wire
//! version picks one unless the settings force it.

pub mod retry;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bson::{doc, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{
    ClientOptions, IndexOptions, InsertOneModel, ReplaceOneModel, WriteConcern, WriteModel,
};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::Deserialize;

use crate::document::Article;
use retry::is_transient_code;

/// Collections, named once.
pub const REVISIONS: &str = "article_revisions";
pub const RUNS: &str = "ingest_runs";
/// Backfill progress: one document per archive file finished, keyed `<pipeline>:<key>`.
pub const PROGRESS: &str = "backfill_progress";
/// Statements per `update` command when saving progress.
const PROGRESS_CHUNK: usize = 1000;

/// Wire version of MongoDB 8.0, the first with the `bulkWrite` command.
const WIRE_VERSION_8_0: i32 = 25;
/// How often one batch may lose races before its losers are given up on (another loader
/// keeps changing the same ids): far beyond any real contention.
const MAX_CONFLICT_ROUNDS: usize = 16;
/// An upper bound of what `revision`, `first_seen_at`, `updated_at` and `ingest.run_id` add
/// to an article's BSON (names, types, values), beyond the run id's own length.
const LOADER_FIELDS_BYTES: usize = 128;
/// How often the driver checks the server, unless the URI says (`heartbeatFrequencyMS`).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Upper bound for one `update` command's statements, in bytes, well under the 48 MB message.
const UPDATE_COMMAND_BYTES: usize = 8 * 1024 * 1024;

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
    Unchanged,
    /// Refused by the database for good (e.g. too large): the file goes to quarantine.
    Rejected {
        code: &'static str,
        message: String,
    },
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
    api: WriteApi,
    max_bson_bytes: usize,
    write_concern: WriteConcern,
}

/// The stored state of one article, as read before writing.
#[derive(Debug, Clone)]
struct Stored {
    hash: String,
    revision: i32,
    first_seen_at: Option<Bson>,
}

enum Plan {
    Insert,
    Unchanged,
    Replace(Stored),
}

/// One write of a round and how it went.
enum WriteResult {
    Applied,
    Conflict,
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
            client,
            db,
            api,
            max_bson_bytes,
            write_concern,
        })
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
        self.articles
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! { "source": 1, "pub_date": -1 })
                    .build(),
                IndexModel::builder()
                    .keys(doc! { "paper": 1, "pub_date": -1 })
                    .build(),
            ])
            .await?;
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
        Ok(())
    }

    /// Writes one batch; returns one outcome per article, in order. Errors are transient or
    /// fatal for the batch as a whole; the caller retries transient ones (every step is
    /// idempotent).
    pub async fn write_batch(
        &self,
        articles: &[Article],
        run_id: &str,
    ) -> Result<Vec<Outcome>, LoadError> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; articles.len()];
        // The same id twice in a batch: later copies go in later rounds, in file order, so
        // each one sees the state the previous one left.
        let mut remaining: Vec<usize> = (0..articles.len()).collect();
        while !remaining.is_empty() {
            let mut seen = HashSet::new();
            let (round, later): (Vec<usize>, Vec<usize>) = remaining
                .iter()
                .partition(|&&i| seen.insert(articles[i].id.as_str()));
            self.write_round(articles, &round, run_id, &mut outcomes)
                .await?;
            remaining = later;
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(Outcome::Rejected {
                    code: "db_conflict",
                    message: "the document kept changing under concurrent writers".into(),
                })
            })
            .collect())
    }

    /// Writes articles with distinct ids, replanning the ones that lose races.
    async fn write_round(
        &self,
        articles: &[Article],
        round: &[usize],
        run_id: &str,
        outcomes: &mut [Option<Outcome>],
    ) -> Result<(), LoadError> {
        let mut todo: Vec<usize> = round.to_vec();
        for _ in 0..MAX_CONFLICT_ROUNDS {
            if todo.is_empty() {
                return Ok(());
            }
            let ids: Vec<&str> = todo.iter().map(|&i| articles[i].id.as_str()).collect();
            let mut stored = self.read_stored(&ids).await?;
            let now = bson::DateTime::now();

            let mut inserts: Vec<(usize, Document)> = Vec::new();
            let mut replaces: Vec<(usize, Stored, Document)> = Vec::new();
            for &i in &todo {
                let a = &articles[i];
                let plan = match stored.remove(a.id.as_str()) {
                    None => Plan::Insert,
                    Some(s) if s.hash == a.content_hash => Plan::Unchanged,
                    Some(s) => Plan::Replace(s),
                };
                match plan {
                    Plan::Unchanged => outcomes[i] = Some(Outcome::Unchanged),
                    Plan::Insert => match self.prepare(a, 1, Bson::DateTime(now), now, run_id) {
                        Ok(d) => inserts.push((i, d)),
                        Err(r) => outcomes[i] = Some(r),
                    },
                    Plan::Replace(s) => {
                        let first = s.first_seen_at.clone().unwrap_or(Bson::DateTime(now));
                        match self.prepare(a, s.revision + 1, first, now, run_id) {
                            Ok(d) => replaces.push((i, s, d)),
                            Err(r) => outcomes[i] = Some(r),
                        }
                    }
                }
            }
            if !replaces.is_empty() {
                self.save_revisions(
                    &replaces
                        .iter()
                        .map(|(i, s, _)| (articles[*i].id.as_str(), s.revision))
                        .collect::<Vec<_>>(),
                )
                .await?;
            }
            let planned: Vec<(usize, Option<i32>)> = inserts
                .iter()
                .map(|(i, _)| (*i, None))
                .chain(replaces.iter().map(|(i, s, _)| (*i, Some(s.revision + 1))))
                .collect();
            let results = match self.api {
                WriteApi::BulkWrite => self.write_bulk(inserts, replaces).await?,
                _ => self.write_legacy(&inserts, replaces).await?,
            };
            let mut again = Vec::new();
            for ((i, revision), result) in planned.into_iter().zip(results) {
                match result {
                    WriteResult::Applied => {
                        outcomes[i] = Some(match revision {
                            None => Outcome::Inserted,
                            Some(r) => Outcome::Updated(r),
                        })
                    }
                    WriteResult::Conflict => again.push(i),
                    WriteResult::Rejected(code, message) => {
                        outcomes[i] = Some(Outcome::Rejected { code, message })
                    }
                }
            }
            todo = again;
        }
        Ok(())
    }

    /// The document to write: the article with the loader's fields set.
    fn prepare(
        &self,
        a: &Article,
        revision: i32,
        first_seen_at: Bson,
        now: bson::DateTime,
        run_id: &str,
    ) -> Result<Document, Outcome> {
        let encode_error = |e: &dyn std::fmt::Display| Outcome::Rejected {
            code: "db_rejected",
            message: format!("cannot encode as BSON: {e}"),
        };
        // Encoded once; the size is the encoding's plus room for the loader's few fields.
        let raw = bson::to_raw_document_buf(a).map_err(|e| encode_error(&e))?;
        let size = raw.as_bytes().len() + LOADER_FIELDS_BYTES + run_id.len();
        let mut d = raw.to_document().map_err(|e| encode_error(&e))?;
        d.insert("revision", revision);
        d.insert("first_seen_at", first_seen_at);
        d.insert("updated_at", now);
        if let Ok(ingest) = d.get_document_mut("ingest") {
            ingest.insert("run_id", run_id);
        }
        if size > self.max_bson_bytes {
            return Err(Outcome::Rejected {
                code: "document_too_large",
                message: format!(
                    "the document is {size} bytes as BSON, over the server's limit of {}",
                    self.max_bson_bytes
                ),
            });
        }
        Ok(d)
    }

    async fn read_stored(&self, ids: &[&str]) -> Result<HashMap<String, Stored>, LoadError> {
        use futures::TryStreamExt;
        let mut cursor = self
            .articles
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "content_hash": 1, "revision": 1, "first_seen_at": 1 })
            .await?;
        let mut out = HashMap::with_capacity(ids.len());
        while let Some(d) = cursor.try_next().await? {
            let Ok(id) = d.get_str("_id") else { continue };
            out.insert(
                id.to_owned(),
                Stored {
                    hash: d.get_str("content_hash").unwrap_or_default().to_owned(),
                    revision: revision_of(&d),
                    first_seen_at: d.get("first_seen_at").cloned(),
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

    /// MongoDB 8.0+: one `bulkWrite` command, unordered, with per-operation results.
    async fn write_bulk(
        &self,
        inserts: Vec<(usize, Document)>,
        replaces: Vec<(usize, Stored, Document)>,
    ) -> Result<Vec<WriteResult>, LoadError> {
        let insert_count = inserts.len();
        let ns = self.articles.namespace();
        let mut models: Vec<WriteModel> = Vec::with_capacity(inserts.len() + replaces.len());
        for (_, d) in inserts {
            models.push(WriteModel::InsertOne(
                InsertOneModel::builder()
                    .namespace(ns.clone())
                    .document(d)
                    .build(),
            ));
        }
        for (_, s, d) in replaces {
            models.push(WriteModel::ReplaceOne(
                ReplaceOneModel::builder()
                    .namespace(ns.clone())
                    .filter(conditional_filter(&d, &s))
                    .replacement(d)
                    .upsert(false)
                    .build(),
            ));
        }
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let n = models.len();
        let (write_errors, updates) = match self
            .client
            .bulk_write(models)
            .ordered(false)
            .write_concern(self.write_concern.clone())
            .verbose_results()
            .await
        {
            Ok(r) => (HashMap::new(), r.update_results),
            Err(e) => {
                let ErrorKind::BulkWrite(b) = e.kind.as_ref() else {
                    return Err(e.into());
                };
                if !b.write_concern_errors.is_empty() {
                    return Err(e.into());
                }
                let updates = match &b.partial_result {
                    Some(mongodb::error::PartialBulkWriteResult::Verbose(v)) => {
                        v.update_results.clone()
                    }
                    _ => HashMap::new(),
                };
                let errors: HashMap<usize, (i32, String)> = b
                    .write_errors
                    .iter()
                    .map(|(i, w)| (*i, (w.code, w.message.clone())))
                    .collect();
                (errors, updates)
            }
        };
        let mut out = Vec::with_capacity(n);
        for idx in 0..n {
            out.push(match write_errors.get(&idx) {
                Some((code, msg)) => classify_write_error(*code, msg)?,
                None if idx < insert_count => WriteResult::Applied,
                None => match updates.get(&idx) {
                    Some(u) if u.matched_count == 1 => WriteResult::Applied,
                    _ => WriteResult::Conflict,
                },
            });
        }
        Ok(out)
    }

    /// MongoDB 6.0/7.0: `insert_many` for new articles, one `update` command for the changed.
    async fn write_legacy(
        &self,
        inserts: &[(usize, Document)],
        replaces: Vec<(usize, Stored, Document)>,
    ) -> Result<Vec<WriteResult>, LoadError> {
        let mut out: Vec<WriteResult> = Vec::with_capacity(inserts.len() + replaces.len());
        if !inserts.is_empty() {
            let docs = inserts.iter().map(|(_, d)| d);
            let mut errors: HashMap<usize, (i32, String)> = HashMap::new();
            if let Err(e) = self.articles.insert_many(docs).ordered(false).await {
                match e.kind.as_ref() {
                    ErrorKind::InsertMany(m) if m.write_concern_error.is_none() => {
                        for w in m.write_errors.iter().flatten() {
                            errors.insert(w.index, (w.code, w.message.clone()));
                        }
                    }
                    _ => return Err(e.into()),
                }
            }
            for idx in 0..inserts.len() {
                out.push(match errors.get(&idx) {
                    Some((code, msg)) => classify_write_error(*code, msg)?,
                    None => WriteResult::Applied,
                });
            }
        }
        if !replaces.is_empty() {
            let mut applied_total = 0i64;
            let mut errors: HashMap<usize, (i32, String)> = HashMap::new();
            let mut start = 0;
            while start < replaces.len() {
                let mut bytes = 0;
                let mut end = start;
                let mut statements = Vec::new();
                while end < replaces.len()
                    && (statements.is_empty() || bytes < UPDATE_COMMAND_BYTES)
                {
                    let (_, s, d) = &replaces[end];
                    bytes += bson::to_vec(d).map(|v| v.len()).unwrap_or(0);
                    statements.push(doc! {
                        "q": conditional_filter(d, s),
                        "u": d.clone(),
                        "upsert": false,
                        "multi": false,
                    });
                    end += 1;
                }
                let reply = self
                    .db
                    .run_command(doc! {
                        "update": self.articles.name(),
                        "updates": statements,
                        "ordered": false,
                        "writeConcern": { "w": "majority" },
                    })
                    .await?;
                if let Ok(wce) = reply.get_document("writeConcernError") {
                    return Err(LoadError::Transient(format!(
                        "write concern error: {}",
                        wce.get_str("errmsg").unwrap_or("unknown")
                    )));
                }
                applied_total += reply
                    .get_i32("n")
                    .map(i64::from)
                    .or_else(|_| reply.get_i64("n"))
                    .unwrap_or(0);
                if let Ok(errs) = reply.get_array("writeErrors") {
                    for e in errs.iter().filter_map(Bson::as_document) {
                        let idx = e.get_i32("index").unwrap_or(-1);
                        if idx >= 0 {
                            errors.insert(
                                start + idx as usize,
                                (
                                    e.get_i32("code").unwrap_or(0),
                                    e.get_str("errmsg").unwrap_or_default().to_owned(),
                                ),
                            );
                        }
                    }
                }
                start = end;
            }
            // The update command reports only how many statements matched. When some did not,
            // read back which of ours are in place.
            let mut in_place: Option<HashMap<String, Stored>> = None;
            if applied_total + (errors.len() as i64) < replaces.len() as i64 {
                let ids: Vec<&str> = replaces
                    .iter()
                    .filter_map(|(_, _, d)| d.get_str("_id").ok())
                    .collect();
                in_place = Some(self.read_stored(&ids).await?);
            }
            for (idx, (_, s, d)) in replaces.iter().enumerate() {
                out.push(match errors.get(&idx) {
                    Some((code, msg)) => classify_write_error(*code, msg)?,
                    None => match &in_place {
                        None => WriteResult::Applied,
                        Some(now) => {
                            let id = d.get_str("_id").unwrap_or_default();
                            let ours = d.get_str("content_hash").unwrap_or_default();
                            match now.get(id) {
                                Some(n) if n.hash == ours && n.revision == s.revision + 1 => {
                                    WriteResult::Applied
                                }
                                _ => WriteResult::Conflict,
                            }
                        }
                    },
                });
            }
        }
        Ok(out)
    }

    /// What a backfill already finished among `ids` (`<pipeline>:<key>`): size and mtime (ms).
    pub async fn lookup_progress(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, (i64, i64)>, LoadError> {
        use futures::TryStreamExt;
        let mut cursor = self
            .progress
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "size": 1, "mtime": 1 })
            .await?;
        let mut out = HashMap::with_capacity(ids.len());
        while let Some(d) = cursor.try_next().await? {
            let Ok(id) = d.get_str("_id") else { continue };
            let size = d.get_i64("size").unwrap_or(-1);
            let mtime = d
                .get_datetime("mtime")
                .map(|t| t.timestamp_millis())
                .unwrap_or(-1);
            out.insert(id.to_owned(), (size, mtime));
        }
        Ok(out)
    }

    /// Records finished archive files (upserts keyed by `_id`), in few commands.
    pub async fn save_progress(&self, docs: &[Document]) -> Result<(), LoadError> {
        for chunk in docs.chunks(PROGRESS_CHUNK) {
            let updates: Vec<Document> = chunk
                .iter()
                .map(|d| {
                    doc! {
                        "q": { "_id": d.get("_id").cloned().unwrap_or(Bson::Null) },
                        "u": d.clone(),
                        "upsert": true,
                        "multi": false,
                    }
                })
                .collect();
            let reply = self
                .db
                .run_command(doc! {
                    "update": self.progress.name(),
                    "updates": updates,
                    "ordered": false,
                    "writeConcern": { "w": "majority" },
                })
                .await?;
            if reply.get_document("writeConcernError").is_ok()
                || reply.get_array("writeErrors").is_ok()
            {
                return Err(LoadError::Transient(format!(
                    "saving backfill progress: {reply}"
                )));
            }
        }
        Ok(())
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

/// Replace only the version that was read: same hash, same revision.
fn conditional_filter(new: &Document, stored: &Stored) -> Document {
    doc! {
        "_id": new.get("_id").cloned().unwrap_or(Bson::Null),
        "content_hash": &stored.hash,
        "revision": stored.revision,
    }
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
