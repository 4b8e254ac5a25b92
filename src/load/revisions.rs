//! The versions corrections replace, kept in `article_revisions`.

use std::collections::HashMap;

use bson::{doc, Bson, Document};

use super::{insert_ignoring_duplicates, LoadError, Loader};

/// Named once, for the loader and the tools that read it.
pub const REVISIONS: &str = "article_revisions";

impl Loader {
    /// Copies the stored versions about to be replaced into `article_revisions`, keyed
    /// `<id>@<revision>` so that a retry or a concurrent loader saving the same version
    /// collides harmlessly instead of duplicating it.
    pub(super) async fn save_revisions(&self, items: &[(&str, i32)]) -> Result<(), LoadError> {
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
        insert_ignoring_duplicates(&self.revisions, &copies).await
    }
}

pub(super) fn revision_of(d: &Document) -> i32 {
    match d.get("revision") {
        Some(Bson::Int32(n)) => *n,
        Some(Bson::Int64(n)) => i32::try_from(*n).unwrap_or(i32::MAX),
        Some(Bson::Double(n)) => *n as i32,
        _ => 0,
    }
}
