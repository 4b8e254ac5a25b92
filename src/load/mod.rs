//! Load: the MongoDB sink (docs/format.md §5).
//!
//! `Loader` holds the connection; each concern it writes has its own file:
//! - `articles`: the article write protocol (the raw bytes decide, conditional writes,
//!   rounds, retries);
//! - `revisions`: the versions corrections replace (`article_revisions`);
//! - `runs`: run records (`ingest_runs`);
//! - `progress`: backfill progress (`backfill_progress`).

mod articles;
mod command;
pub mod encode;
mod progress;
pub mod retry;
mod revisions;
mod runs;

use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, IndexOptions, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

pub use articles::{BatchWrite, Outcome, Prepared, Receipt};
pub use progress::{
    ProgressEntry, ProgressPage, ProgressPages, ProgressQuery, ProgressSeen, StoredSource,
    PAGE_FILES, PROGRESS,
};
pub use revisions::REVISIONS;
pub use runs::RUNS;

/// Ids per `$in` lookup, and such lookups in flight at once (see `find_by_ids`).
const LOOKUP_CHUNK: usize = 50;
const LOOKUPS_IN_FLIGHT: usize = 4;

/// Wire version of MongoDB 8.0, the first with the `bulkWrite` command.
const WIRE_VERSION_8_0: i32 = 25;
/// How often the driver checks the server, unless the URI says (`heartbeatFrequencyMS`).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Which write commands to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteApi {
    /// The `insert` and `update` commands (`legacy`) on every server. Measured side by side
    /// (docs/benchmarks.md), `bulkWrite` was never faster for the one collection we write: it
    /// exists for writes that span namespaces, and its per-operation results cost the server
    /// more to build and us more to read.
    #[default]
    Auto,
    /// The `bulkWrite` command (MongoDB 8.0+).
    BulkWrite,
    /// The `insert` and `update` commands (every MongoDB from 6.0 on).
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
            WriteApi::Auto => WriteApi::Legacy,
            WriteApi::BulkWrite if wire < WIRE_VERSION_8_0 => {
                return Err(LoadError::Fatal(format!(
                    "load.write_api = \"bulk-write\" needs MongoDB 8.0 or later (this server's maxWireVersion is {wire}); use \"auto\""
                )));
            }
            chosen => chosen,
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

/// Inserts `docs`, a duplicate `_id` counting as saved: callers key what they save so that
/// saving it again (a retry after a lost reply, a concurrent loader) collides instead of
/// making a copy. Unordered, so that a duplicate does not stop the documents after it.
async fn insert_ignoring_duplicates<T>(coll: &Collection<T>, docs: &[T]) -> Result<(), LoadError>
where
    T: Serialize + Send + Sync,
{
    // The driver refuses an empty insert.
    if docs.is_empty() {
        return Ok(());
    }
    match coll.insert_many(docs).ordered(false).await {
        Ok(_) => Ok(()),
        Err(e) => match e.kind.as_ref() {
            // Every write error a duplicate (or none listed): everything is stored.
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
