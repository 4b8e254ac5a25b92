//! The article write protocol.
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

mod wire;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;

use bson::{doc, RawDocumentBuf};

use super::revisions::revision_of;
use super::{encode, find_by_ids, LoadError, Loader};
use crate::document::{parser_generation, Article};
use wire::WriteResult;

/// How often one batch may lose races before its losers are given up on (another loader
/// keeps changing the same ids): far beyond any real contention.
const MAX_CONFLICT_ROUNDS: usize = 16;
/// An upper bound of what `revision`, `first_seen_at` and `updated_at` add to an article's
/// BSON (names, types, values).
const LOADER_FIELDS_BYTES: usize = 64;

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

impl Loader {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
