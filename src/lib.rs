//! article-etl: ingest archived Chinese newspaper articles (数字报 text exports) into MongoDB,
//! deduplicated on the content id. `docs/architecture.md` draws the stages and says where
//! each concern lives; `docs/format.md` is the specification.
//!
//! The library holds every stage; the binary (`src/main.rs`, `src/cli/`) only parses flags
//! and maps results to exit codes.
//!
//! - [`transform`]: bytes → [`document::Article`] (decode, normalize, header, body, trailer);
//!   pure, no I/O.
//! - [`extract`]: finding and reading files: the inbox claim protocol, watching, walking trees.
//! - [`parse`]: the one path from a file on disk to a document (read → transform → tally).
//! - [`load`]: the MongoDB sink: indexes, batched conditional upserts, revisions, run records,
//!   backfill progress, retries.
//! - [`run`]: one run: the stages wired by bounded channels.
//! - [`backfill`]: what is the backfill's own: resuming, its report, its dry run.
//! - [`validate`]: what files and trees would become, without a database.
//! - [`settings`]: the settings file, the environment and the pipeline files.
//! - [`shutdown`], [`stats`], [`telemetry`], [`health`]: how a run stops, what it counts,
//!   what it tells operators, what `/readyz` says.
//! - [`service`]: the daemon's `/healthz`, `/readyz` and `/metrics`.
//! - [`redact`]: keeping the password out of everything printed or stored.

pub mod backfill;
pub mod document;
pub mod extract;
pub mod health;
pub mod load;
pub mod parse;
pub mod redact;
pub mod run;
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod stats;
pub mod telemetry;
pub mod transform;
pub mod validate;
