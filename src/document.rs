//! The article document of docs/format.md §4: what one input file becomes, and what the loader
//! upserts into the `articles` collection.
//!
//! The same type serves two outputs. Serialized for BSON (a non-human-readable serializer,
//! which is what the driver and [`Article::to_bson`] use) dates become BSON dates; serialized
//! for JSON (`inspect`) they become RFC 3339 strings. Loader-only fields are `Option`s that
//! `inspect` leaves out.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// Bumped whenever a change to the parser can change a document built from the same bytes,
/// so stored documents say which parser made them. `p2`: trailers by their grammar, bare-name
/// bylines, captions out of the subtitle, converter residue removed, verse as text.
pub const PARSER_VERSION: &str = concat!("article-etl/", env!("CARGO_PKG_VERSION"), "+p2");

/// For tests only: the parser version the loader stamps and compares instead of
/// [`PARSER_VERSION`], to simulate an upgrade (or a downgrade) with one binary. Not a setting:
/// an operator who sets it makes the loader misjudge which documents are up to date.
pub const TEST_PARSER_VERSION_ENV: &str = "ARTICLE_ETL_TEST_PARSER_VERSION";

/// The parser version documents written by this process carry: [`PARSER_VERSION`], unless
/// a test overrides it (see [`TEST_PARSER_VERSION_ENV`]).
pub fn parser_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| match std::env::var(TEST_PARSER_VERSION_ENV) {
        Ok(v) if !v.is_empty() => v,
        _ => PARSER_VERSION.to_owned(),
    })
}

/// The parser generation of a version string: N of its `+pN` suffix, the part bumped when the
/// reading of the same bytes changes. The crate version before it is not compared: a release
/// that leaves the parser alone must not make every stored document look outdated. A version
/// without a generation (written before generations existed, or missing) is generation 0.
pub fn parser_generation(version: &str) -> u32 {
    version
        .rsplit_once("+p")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// One article, as stored in `articles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// `<source>:<content_id>`: the dedup key (docs/format.md §5.1–§5.2).
    #[serde(rename = "_id")]
    pub id: String,
    /// The pipeline's source key: the namespace of the content ids.
    pub source: String,
    pub content_id: String,
    /// The trailer's `content_<id>.html` / `c<id>.html`; `None` when the id came from elsewhere.
    pub url: Option<String>,
    pub paper: Option<String>,
    /// `YYYY-MM-DD`, the trailer's date, else the header's.
    pub pub_date: Option<String>,
    /// Midnight of `pub_date` in the pipeline's time zone.
    #[serde(with = "date_opt")]
    pub published_at: Option<DateTime<FixedOffset>>,
    pub page: Option<Page>,
    pub kicker: Option<String>,
    pub headline: String,
    pub subtitle: Option<String>,
    pub byline: Option<String>,
    pub authors: Vec<Author>,
    pub blocks: Vec<Block>,
    /// The article's blocks (artefacts excluded) joined by `\n`.
    pub text: String,
    pub stats: Stats,
    pub trailer: Option<Trailer>,
    /// `sha256:<hex>` of the normalized kicker, headline, subtitle, authors and text.
    pub content_hash: String,
    /// Set by the loader: 1 on first load, +1 per content change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i32>,
    /// Set by the loader.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "date_opt")]
    pub first_seen_at: Option<DateTime<FixedOffset>>,
    /// Set by the loader.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "date_opt")]
    pub updated_at: Option<DateTime<FixedOffset>>,
    pub source_file: SourceFile,
    pub ingest: Ingest,
    /// Page furniture dropped from the header and body, in file order.
    pub furniture: Vec<String>,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// `A03`, `1`, `04`: as printed, without `第`/`版`.
    pub label: String,
    pub section: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Author {
    pub name: String,
    /// `本报记者`, `记者`, `通讯员`, `文/图`…, as written; `None` when the byline names no role.
    pub role: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Paragraph,
    Heading,
}

/// A recurring non-article line that is kept as a block but flagged, and left out of `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Artefact {
    /// A picture caption: a line ending in `摄`, or starting with `▶`/`图①`.
    Caption,
    /// `本文字数:137`.
    WordCount,
    /// `责任编辑:…`, `编辑:…`, `校对:…`.
    Editor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub kind: BlockKind,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artefact: Option<Artefact>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Characters (Unicode scalar values) of `text`.
    pub chars: i64,
    pub paragraphs: i32,
    pub headings: i32,
    /// Flagged blocks, not counted in `paragraphs`.
    pub artefacts: i32,
}

/// What is left of the CMS's `enpproperty` comment (docs/format.md §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// The trailer as found (both lines joined by a space when it spans two).
    pub raw: String,
    pub date: String,
    /// `09:28:27.0` when the CMS kept a time.
    pub time: Option<String>,
    /// The author/title fields of the CMS, as one string; `None` when empty.
    pub slot: Option<String>,
    /// The slot split into parts, each told apart by matching the header lines.
    pub slot_parts: Vec<SlotPart>,
    pub numbers_before_paper: Vec<i64>,
    pub paper: Option<String>,
    pub url: String,
    pub numbers_after_url: Vec<i64>,
    /// HTML tags stripped.
    pub headline: String,
    /// The repeated article id, separators removed (`54,180` → `"54180"`).
    pub article_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    /// A byline with its marker or role (`□ 韦素莹`, `本报记者 李四`).
    Byline,
    /// Plain names (`张三 李四`).
    Authors,
    /// A picture credit (`通讯员 张三 摄`).
    Credit,
    Kicker,
    Subtitle,
    /// The first line of a two-line headline.
    Headline,
    /// Matched nothing in the header.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotPart {
    pub kind: SlotKind,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: String,
    pub size: i64,
    #[serde(with = "date_opt")]
    pub mtime: Option<DateTime<FixedOffset>>,
    /// Hex SHA-256 of the raw bytes.
    pub sha256: String,
    /// `utf-8`, `utf-8-bom`, `gb18030`, `utf-16le`, `utf-16be`.
    pub encoding: String,
    /// A member of a packed input: the archive (named like `path` before its `!`) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// ... and the member's path inside it (`path` after the `!`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingest {
    /// Set by the loader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub pipeline: String,
    /// `run`, `daemon`, `backfill`, `inspect`, `validate`.
    pub mode: String,
    pub parser_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Stable machine code: `date_mismatch`, `headline_mismatch`, `headline_guessed`, …
    pub code: String,
    pub detail: String,
}

impl Warning {
    pub fn new(code: &str, detail: impl Into<String>) -> Self {
        Warning {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }
}

impl Article {
    /// The document as BSON, dates as BSON dates. Goes through the raw serializer, the one
    /// the driver uses, so this is exactly what the loader sends.
    pub fn to_bson(&self) -> Result<bson::Document, bson::ser::Error> {
        let raw = bson::to_raw_document_buf(self)?;
        raw.to_document()
            .map_err(|e| <bson::ser::Error as serde::ser::Error>::custom(e.to_string()))
    }

    pub fn has_warning(&self, code: &str) -> bool {
        self.warnings.iter().any(|w| w.code == code)
    }
}

/// Dates: RFC 3339 strings for humans (JSON), BSON dates for the database.
mod date_opt {
    use chrono::{DateTime, FixedOffset, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<DateTime<FixedOffset>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => serializer.serialize_none(),
            Some(dt) if serializer.is_human_readable() => {
                serializer.serialize_some(&dt.to_rfc3339())
            }
            Some(dt) => {
                serializer.serialize_some(&bson::DateTime::from_chrono(dt.with_timezone(&Utc)))
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Bson(bson::DateTime),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
        let repr: Option<Repr> = Option::deserialize(deserializer)?;
        match repr {
            None => Ok(None),
            Some(Repr::Bson(dt)) => Ok(Some(dt.to_chrono().fixed_offset())),
            Some(Repr::Text(s)) => DateTime::parse_from_rfc3339(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_generations_are_read_from_the_suffix() {
        assert!(parser_generation(PARSER_VERSION) >= 2);
        assert_eq!(parser_generation("article-etl/0.1.0+p1"), 1);
        assert_eq!(parser_generation("article-etl/9.0.0+p12"), 12);
        assert_eq!(parser_generation("article-etl/0.1.0"), 0);
        assert_eq!(parser_generation(""), 0);
        assert_eq!(parser_generation("article-etl/0.1.0+pX"), 0);
    }
}
