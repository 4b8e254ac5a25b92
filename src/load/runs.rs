//! Run records, kept in `ingest_runs`.

use bson::{doc, Bson, Document};
use mongodb::Collection;

use super::{LoadError, Loader};

/// Named once, for the loader and the tools that read it.
pub const RUNS: &str = "ingest_runs";

impl Loader {
    pub fn runs(&self) -> &Collection<Document> {
        &self.runs
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
