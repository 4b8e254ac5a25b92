//! The article document as BSON, written field by field.
//!
//! Serde's BSON serializer spent about 9 µs on a 7 KB article (each field through the generic
//! serializer, the buffer grown by doubling, then shrunk): the largest part of the encoding
//! the transform workers do per file. This writes the same bytes in one pass into a buffer
//! sized from the article. "The same bytes" is checked, not assumed: the tests compare it with
//! `bson::to_vec` on every generated and property-tested article, so a field added to
//! [`Article`] without being added here fails them.

use bson::DateTime as BsonDateTime;
use chrono::{DateTime, FixedOffset};

use super::command::CommandWriter;
use crate::document::{Artefact, Article, BlockKind, SlotKind};

/// Bytes an element adds around its value at most: type, key (the longest is
/// `numbers_before_paper`), NUL, string length and NUL.
const ELEMENT: usize = 32;

/// The article as BSON, exactly as `bson::to_vec(article)` writes it.
pub fn article_bson(a: &Article) -> Vec<u8> {
    let mut w = CommandWriter::with_capacity(capacity(a));
    w.string("_id", &a.id)
        .string("source", &a.source)
        .string("content_id", &a.content_id)
        .opt_string("url", a.url.as_deref())
        .opt_string("paper", a.paper.as_deref())
        .opt_string("pub_date", a.pub_date.as_deref());
    date(&mut w, "published_at", a.published_at.as_ref());
    match &a.page {
        Some(page) => {
            w.document("page")
                .string("label", &page.label)
                .opt_string("section", page.section.as_deref())
                .end();
        }
        None => {
            w.null("page");
        }
    }
    w.opt_string("kicker", a.kicker.as_deref())
        .string("headline", &a.headline)
        .opt_string("subtitle", a.subtitle.as_deref())
        .opt_string("byline", a.byline.as_deref());
    w.array("authors");
    for (i, author) in a.authors.iter().enumerate() {
        w.document_at(i)
            .string("name", &author.name)
            .opt_string("role", author.role.as_deref())
            .end();
    }
    w.end().array("blocks");
    for (i, block) in a.blocks.iter().enumerate() {
        w.document_at(i)
            .string("kind", block_kind(block.kind))
            .string("text", &block.text);
        if let Some(artefact) = block.artefact {
            w.string("artefact", artefact_name(artefact));
        }
        w.end();
    }
    w.end()
        .string("text", &a.text)
        .document("stats")
        .int64("chars", a.stats.chars)
        .int32("paragraphs", a.stats.paragraphs)
        .int32("headings", a.stats.headings)
        .int32("artefacts", a.stats.artefacts)
        .end();
    match &a.trailer {
        Some(t) => {
            w.document("trailer")
                .string("raw", &t.raw)
                .string("date", &t.date)
                .opt_string("time", t.time.as_deref())
                .opt_string("slot", t.slot.as_deref())
                .array("slot_parts");
            for (i, part) in t.slot_parts.iter().enumerate() {
                w.document_at(i)
                    .string("kind", slot_kind(part.kind))
                    .string("text", &part.text)
                    .end();
            }
            w.end().array("numbers_before_paper");
            for (i, &n) in t.numbers_before_paper.iter().enumerate() {
                w.int64_at(i, n);
            }
            w.end()
                .opt_string("paper", t.paper.as_deref())
                .string("url", &t.url)
                .array("numbers_after_url");
            for (i, &n) in t.numbers_after_url.iter().enumerate() {
                w.int64_at(i, n);
            }
            w.end()
                .string("headline", &t.headline)
                .opt_string("article_id", t.article_id.as_deref())
                .end();
        }
        None => {
            w.null("trailer");
        }
    }
    w.string("content_hash", &a.content_hash);
    if let Some(revision) = a.revision {
        w.int32("revision", revision);
    }
    if let Some(at) = &a.first_seen_at {
        w.datetime("first_seen_at", bson_date(at));
    }
    if let Some(at) = &a.updated_at {
        w.datetime("updated_at", bson_date(at));
    }
    let f = &a.source_file;
    w.document("source_file")
        .string("path", &f.path)
        .int64("size", f.size);
    date(&mut w, "mtime", f.mtime.as_ref());
    w.string("sha256", &f.sha256)
        .string("encoding", &f.encoding);
    if let Some(archive) = &f.archive {
        w.string("archive", archive);
    }
    if let Some(member) = &f.member {
        w.string("member", member);
    }
    w.end();
    let ingest = &a.ingest;
    w.document("ingest");
    if let Some(run_id) = &ingest.run_id {
        w.string("run_id", run_id);
    }
    w.string("pipeline", &ingest.pipeline)
        .string("mode", &ingest.mode)
        .string("parser_version", &ingest.parser_version)
        .end()
        .array("furniture");
    for (i, line) in a.furniture.iter().enumerate() {
        w.string_at(i, line);
    }
    w.end().array("warnings");
    for (i, warning) in a.warnings.iter().enumerate() {
        w.document_at(i)
            .string("code", &warning.code)
            .string("detail", &warning.detail)
            .end();
    }
    w.end();
    // The document's own closing 0 is still to come.
    debug_assert!(w.len() < capacity(a), "the capacity is an upper bound");
    w.into_bytes()
}

/// An upper bound of the encoded size, so that the buffer is allocated once (a few hundred
/// bytes to ~2 KB over the document: no doubling, no shrinking copy).
fn capacity(a: &Article) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len) + ELEMENT;
    let mut n = 64 * ELEMENT
        + a.id.len()
        + a.source.len()
        + a.content_id.len()
        + opt(&a.url)
        + opt(&a.paper)
        + opt(&a.pub_date)
        + opt(&a.kicker)
        + a.headline.len()
        + opt(&a.subtitle)
        + opt(&a.byline)
        + a.text.len()
        + a.content_hash.len();
    if let Some(page) = &a.page {
        n += page.label.len() + opt(&page.section) + 2 * ELEMENT;
    }
    n += a
        .authors
        .iter()
        .map(|x| x.name.len() + opt(&x.role) + 3 * ELEMENT)
        .sum::<usize>();
    n += a
        .blocks
        .iter()
        .map(|b| b.text.len() + 5 * ELEMENT)
        .sum::<usize>();
    if let Some(t) = &a.trailer {
        n += t.raw.len()
            + t.date.len()
            + opt(&t.time)
            + opt(&t.slot)
            + opt(&t.paper)
            + t.url.len()
            + t.headline.len()
            + opt(&t.article_id)
            + 16 * ELEMENT;
        n += t
            .slot_parts
            .iter()
            .map(|p| p.text.len() + 4 * ELEMENT)
            .sum::<usize>();
        n += (t.numbers_before_paper.len() + t.numbers_after_url.len()) * ELEMENT;
    }
    let f = &a.source_file;
    n += f.path.len() + f.sha256.len() + f.encoding.len() + opt(&a.ingest.run_id);
    n += opt(&f.archive) + opt(&f.member);
    n += a.ingest.pipeline.len() + a.ingest.mode.len() + a.ingest.parser_version.len();
    n += a.furniture.iter().map(|s| s.len() + ELEMENT).sum::<usize>();
    n += a
        .warnings
        .iter()
        .map(|x| x.code.len() + x.detail.len() + 4 * ELEMENT)
        .sum::<usize>();
    n
}

/// A date, or null: `document::date_opt` for a non-human-readable serializer.
fn date(w: &mut CommandWriter, key: &str, value: Option<&DateTime<FixedOffset>>) {
    match value {
        Some(at) => w.datetime(key, bson_date(at)),
        None => w.null(key),
    };
}

fn bson_date(at: &DateTime<FixedOffset>) -> BsonDateTime {
    BsonDateTime::from_chrono(at.to_utc())
}

// The names serde gives these enums (`rename_all = "snake_case"`).

fn block_kind(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::Paragraph => "paragraph",
        BlockKind::Heading => "heading",
    }
}

fn artefact_name(artefact: Artefact) -> &'static str {
    match artefact {
        Artefact::Caption => "caption",
        Artefact::WordCount => "word_count",
        Artefact::Editor => "editor",
    }
}

fn slot_kind(kind: SlotKind) -> &'static str {
    match kind {
        SlotKind::Byline => "byline",
        SlotKind::Authors => "authors",
        SlotKind::Credit => "credit",
        SlotKind::Kicker => "kicker",
        SlotKind::Subtitle => "subtitle",
        SlotKind::Headline => "headline",
        SlotKind::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Artefact, Block, BlockKind, SlotKind, SlotPart};
    use crate::transform::{transform, ParseOptions, RawFile};
    use article_etl_corpus::{generate, CorpusSpec};

    fn same_as_serde(a: &Article) {
        let ours = article_bson(a);
        let serde = bson::to_vec(a).unwrap();
        assert_eq!(ours, serde, "{}", a.id);
        assert!(ours.len() <= capacity(a));
    }

    /// The articles the transform makes of a generated corpus.
    fn articles(seed: u64, count: u64) -> impl Iterator<Item = Article> {
        let opts = ParseOptions::for_source("test-daily");
        generate(CorpusSpec::new(seed, count)).filter_map(move |f| {
            let raw = RawFile {
                path: &f.name,
                bytes: &f.bytes,
                mtime: None,
            };
            transform(&raw, &opts).ok()
        })
    }

    /// Every generated article (all the shapes the generator makes), as the transform gives
    /// it and with the loader's fields set.
    #[test]
    fn writes_what_serde_writes_for_generated_articles() {
        let mut checked = 0;
        for mut a in articles(7, 600) {
            same_as_serde(&a);
            a.revision = Some(3);
            a.first_seen_at = a.published_at;
            a.updated_at = Some(chrono::Utc::now().fixed_offset());
            a.ingest.run_id = Some("run-1".into());
            a.source_file.mtime = a.updated_at;
            same_as_serde(&a);
            checked += 1;
        }
        assert!(checked > 500, "{checked}");
    }

    /// The shapes a generated article may not have: every enum value, empty and absent
    /// fields, long arrays.
    #[test]
    fn writes_what_serde_writes_for_every_field_shape() {
        let mut a = articles(1, 50).next().unwrap();
        a.page = None;
        a.trailer = None;
        a.url = None;
        a.kicker = None;
        a.published_at = None;
        same_as_serde(&a);
        a.blocks = [
            (BlockKind::Paragraph, None),
            (BlockKind::Heading, None),
            (BlockKind::Paragraph, Some(Artefact::Caption)),
            (BlockKind::Paragraph, Some(Artefact::WordCount)),
            (BlockKind::Paragraph, Some(Artefact::Editor)),
        ]
        .into_iter()
        .cycle()
        .take(23)
        .map(|(kind, artefact)| Block {
            kind,
            text: "段落\0文字".into(),
            artefact,
        })
        .collect();
        a.furniture = (0..12).map(|i| format!("版面{i}")).collect();
        same_as_serde(&a);
        let mut b = articles(2, 50).find(|a| a.trailer.is_some()).unwrap();
        let t = b.trailer.as_mut().unwrap();
        t.slot_parts = [
            SlotKind::Byline,
            SlotKind::Authors,
            SlotKind::Credit,
            SlotKind::Kicker,
            SlotKind::Subtitle,
            SlotKind::Headline,
            SlotKind::Unknown,
        ]
        .into_iter()
        .map(|kind| SlotPart {
            kind,
            text: "某".into(),
        })
        .collect();
        t.numbers_before_paper = vec![0, -1, i64::MAX, i64::MIN, 7];
        t.numbers_after_url = (0..11).collect();
        t.time = None;
        t.slot = None;
        t.paper = None;
        t.article_id = None;
        same_as_serde(&b);
    }
}
