//! article-etl: ingest archived Chinese newspaper articles (数字报 text exports) into MongoDB,
//! deduplicated on the content id.
//!
//! The library holds every stage; the binary (`src/main.rs`) only parses flags and maps
//! results to exit codes.
//!
//! - [`transform`]: bytes → [`document::Article`] (decode, normalize, header, body, trailer).
//! - [`settings`]: the settings file, the environment and the pipeline files.
//! - [`validate`]: walking files and trees to report on what they would become.
//! - [`extract`]: the inbox claim protocol.
//! - [`load`]: the MongoDB sink: indexes, batched conditional upserts, revisions, retries.
//! - [`backfill`]: the dry run and report placement of `backfill`.
//! - [`pipeline`]: the stages wired by bounded channels, run records.
//! - [`service`]: the daemon's `/healthz`, `/readyz` and `/metrics`.
//! - [`redact`]: keeping the password out of everything printed or stored.

pub mod backfill;
pub mod document;
pub mod extract;
pub mod load;
pub mod pipeline;
pub mod redact;
pub mod service;
pub mod settings;
pub mod transform;
pub mod validate;
