//! Backfill progress, kept in `backfill_progress`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::error::ErrorKind;

use super::command::CommandWriter;
use super::{find_by_ids, insert_ignoring_duplicates, LoadError, Loader};
use crate::document::parser_generation;

/// Backfill progress: pages of finished archive files, one per directory and written batch
/// (see `ProgressPage`), found by `(pipeline, dir)`.
pub const PROGRESS: &str = "backfill_progress";
/// Files per progress page: a page stays far under the 16 MB document limit.
pub const PAGE_FILES: usize = 1000;
/// Directories per progress lookup.
const PROGRESS_LOOKUP_DIRS: usize = 50;

impl Loader {
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
        let progress = self.progress.clone_with_type::<RawDocumentBuf>();
        insert_ignoring_duplicates(&progress, pages).await
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
}
