//! One round's writes, as commands, and what their replies say of each write.
//!
//! Two write paths: `Client::bulk_write` (the `bulkWrite` command, MongoDB 8.0+) and, for
//! 6.0/7.0, `insert_many` plus one `update` command with many statements. The server's wire
//! version picks one unless the settings force it.

use std::collections::HashMap;

use bson::{Bson, RawDocumentBuf};

use super::{Prepared, Stamp, Stored, LOADER_FIELDS_BYTES};
use crate::load::command::CommandWriter;
use crate::load::retry::is_transient_code;
use crate::load::{LoadError, Loader, WriteApi};

/// Upper bound for one write command's documents, in bytes: a command sent whole (not as an
/// OP_MSG document sequence) must stay under 16 MB, and each writer holds the command about
/// three times while sending it (ours, the driver's encoding and its wire message).
const COMMAND_BYTES: usize = 2 * 1024 * 1024;

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

/// One write of a round and how it went.
pub(super) enum WriteResult {
    Applied,
    Conflict,
    /// The server did not say for this one (a conditional replace when not all matched).
    Unsure,
    Rejected(&'static str, String),
}

impl Loader {
    /// One round's writes, in command-sized chunks: inserts, then conditional replaces. On
    /// MongoDB 8.0+ they go as `bulkWrite` commands, before as `insert` and `update` commands.
    /// Results come in the order given.
    pub(super) async fn write(
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
