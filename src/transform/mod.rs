//! Transform: the bytes of one article file → its [`Article`] document, or a typed
//! [`TransformError`]. Pure and synchronous, no I/O (reading files is the extract stage's:
//! [`read_file`] is re-exported here for its callers), so it runs on worker threads and in
//! benchmarks alone.

pub mod body;
pub mod byline;
pub mod decode;
pub mod digest;
pub mod error;
pub mod furniture;
pub mod header;
pub mod normalize;
pub mod slot;
pub mod text;
pub mod trailer;

use std::borrow::Cow;
use std::path::Path;
use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use chrono_tz::Tz;
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::extract::read::read_file;
pub use decode::EncodingSetting;
pub use error::{TransformError, TransformErrorKind};

use crate::document::{
    Article, Author, BlockKind, Ingest, SlotKind, SourceFile, Stats, Warning, PARSER_VERSION,
};
use normalize::Line;
use text::compact;

/// What to do with a file that names no content id (FORMAT.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnMissingId {
    #[default]
    Quarantine,
    /// `content_id = "h:<first 16 hex of the content hash>"`.
    ContentHash,
}

/// The per-pipeline settings the transform needs.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    pub source: String,
    pub pipeline: String,
    /// Used when the trailer names no paper.
    pub paper: Option<String>,
    pub timezone: Tz,
    pub encoding: EncodingSetting,
    pub on_missing_id: OnMissingId,
    pub max_file_bytes: u64,
    /// `run`, `daemon`, `backfill`, `inspect`, `validate`: recorded in `ingest.mode`.
    pub mode: String,
}

impl ParseOptions {
    /// Options for a source key alone, everything else at its default: for tests and tools.
    pub fn for_source(source: &str) -> Self {
        ParseOptions {
            source: source.to_owned(),
            pipeline: source.to_owned(),
            paper: None,
            timezone: chrono_tz::Asia::Shanghai,
            encoding: EncodingSetting::Auto,
            on_missing_id: OnMissingId::Quarantine,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            mode: "inspect".to_owned(),
        }
    }
}

pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// One input file, read.
#[derive(Debug, Clone, Copy)]
pub struct RawFile<'a> {
    /// How the file is named in the document and in errors.
    pub path: &'a str,
    pub bytes: &'a [u8],
    pub mtime: Option<DateTime<FixedOffset>>,
}

/// Reads and transforms one file.
pub fn transform_path(path: &Path, opts: &ParseOptions) -> Result<Article, TransformError> {
    let (bytes, mtime) = read_file(path, opts.max_file_bytes)?;
    let shown = path.display().to_string();
    transform(
        &RawFile {
            path: &shown,
            bytes: &bytes,
            mtime,
        },
        opts,
    )
}

/// The content id in a file name: `content_156059.txt`, `c156059.txt`, `156059.txt`.
static FILE_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^A-Za-z0-9])content_(\d+)|^c?(\d+)$").expect("static regex")
});

pub fn content_id_from_file_name(path: &str) -> Option<String> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    let caps = FILE_ID.captures(stem)?;
    caps.get(1).or(caps.get(2)).map(|m| m.as_str().to_owned())
}

/// Bytes → document.
pub fn transform(raw: &RawFile<'_>, opts: &ParseOptions) -> Result<Article, TransformError> {
    let fail = |kind, line| TransformError::new(raw.path, kind, line);
    let size = raw.bytes.len() as u64;
    if size > opts.max_file_bytes {
        return Err(fail(
            TransformErrorKind::TooLarge {
                size,
                limit: opts.max_file_bytes,
            },
            None,
        ));
    }
    let decoded =
        decode::decode(raw.bytes, opts.encoding).map_err(|(kind, line)| fail(kind, line))?;
    let norm = normalize::normalize(&decoded.text);
    if norm.is_empty() {
        return Err(fail(TransformErrorKind::Empty, None));
    }
    let lines: Vec<Line<'_>> = norm.lines().collect();
    let mut warnings = Vec::new();
    let mut furniture = Vec::new();

    // The trailer: the last line ending in /enpproperty-->, maybe with its date on the line before.
    let located = locate_trailer(&lines).map_err(|(kind, line)| fail(kind, Some(line)))?;
    let (content_end, parsed) = match located {
        None => (lines.len(), None),
        Some(loc) => {
            let early: Vec<Cow<'_, str>> = lines[..loc.first.min(HEADLINE_SEARCH_LINES)]
                .iter()
                .map(|l| compact(l.text))
                .collect();
            let in_header = |candidate: &str| {
                let c = compact(candidate);
                !c.is_empty() && early.contains(&c)
            };
            let parsed = trailer::parse(&loc.raw, &in_header)
                .map_err(|kind| fail(kind, Some(lines[loc.last].no)))?;
            for line in &lines[loc.last + 1..] {
                furniture.push(line.text.to_owned());
                warnings.push(Warning::new(
                    "text_after_trailer",
                    format!("line {}: {:?}", line.no, line.text),
                ));
            }
            (loc.first, Some(parsed))
        }
    };
    let content = &lines[..content_end];
    if content.is_empty() {
        let line = lines.first().map(|l| l.no);
        return Err(fail(TransformErrorKind::NoBody, line));
    }

    // The header, told by the trailer which line is the headline.
    let (trailer_headline, mut slot_headline) = match &parsed {
        Some(p) => effective_headline(&p.trailer, content),
        None => (None, None),
    };
    let slot_compact = parsed
        .as_ref()
        .and_then(|p| p.trailer.slot.as_deref())
        .map(|s| compact(s).into_owned());
    let header = header::parse(
        content,
        &header::HeaderContext {
            trailer_headline: trailer_headline.as_deref(),
            slot_compact: slot_compact.as_deref(),
        },
        &mut furniture,
        &mut warnings,
    );
    let body = body::parse(&content[header.body_start..], &mut furniture);

    // Headline: the trailer is the authority; the header when there is no trailer.
    let headline = match (&trailer_headline, &header.headline) {
        (Some(t), _) if !t.is_empty() => t.clone(),
        (_, Some(h)) => h.clone(),
        _ => {
            let line = content.first().map(|l| l.no);
            return Err(fail(TransformErrorKind::NoHeadline, line));
        }
    };

    let mut trailer = parsed.as_ref().map(|p| p.trailer.clone());
    if let Some(t) = trailer.as_mut() {
        if let Some(slot) = t.slot.as_deref() {
            t.slot_parts = slot::classify(slot, &header);
        }
        if let Some(prefix) = slot_headline.take() {
            for part in t.slot_parts.iter_mut() {
                if part.text == prefix {
                    part.kind = SlotKind::Headline;
                }
            }
        }
    }

    // Authors: the header's byline, else the trailer's slot, else a closing `(张三 李四)`.
    let mut byline = header.byline.clone();
    let mut authors = header.authors.clone();
    if authors.is_empty() {
        if let Some(t) = &trailer {
            authors = slot::authors(&t.slot_parts);
            if byline.is_none() {
                byline = t
                    .slot_parts
                    .iter()
                    .find(|p| p.kind == SlotKind::Byline)
                    .map(|p| p.text.clone());
            }
        }
    }
    if authors.is_empty() {
        authors = body.closing_authors.clone();
    }

    // Dates: the trailer's, checked against the header's.
    let header_date = header.date.as_ref();
    let pub_date = match (&trailer, header_date) {
        (Some(t), Some(h)) => {
            match &h.date {
                Some(d) if *d != t.date => warnings.push(Warning::new(
                    "date_mismatch",
                    format!("header {d}, trailer {}", t.date),
                )),
                None => warnings.push(Warning::new(
                    "invalid_header_date",
                    format!("line {}: {:?}", h.line, h.written),
                )),
                _ => {}
            }
            Some(t.date.clone())
        }
        (Some(t), None) => Some(t.date.clone()),
        (None, Some(h)) => match &h.date {
            Some(d) => Some(d.clone()),
            None => {
                return Err(fail(
                    TransformErrorKind::InvalidDate(h.written.clone()),
                    Some(h.line),
                ))
            }
        },
        (None, None) => {
            warnings.push(Warning::new("no_date", "neither a trailer nor a date line"));
            None
        }
    };
    if let (Some(t), Some(h)) = (&trailer_headline, &header.headline) {
        if !t.is_empty() && compact(t) != compact(h) && !has(&warnings, "headline_mismatch") {
            warnings.push(Warning::new(
                "headline_mismatch",
                format!("header {h:?}, trailer {t:?}"),
            ));
        }
    }
    if trailer.is_none() {
        warnings.push(Warning::new(
            "no_trailer",
            "the file has no enpproperty trailer",
        ));
    }
    let paper = match trailer.as_ref().and_then(|t| t.paper.clone()) {
        Some(p) => {
            if let Some(expected) = opts.paper.as_deref() {
                if expected != p {
                    warnings.push(Warning::new(
                        "paper_mismatch",
                        format!("pipeline {expected}, trailer {p}"),
                    ));
                }
            }
            Some(p)
        }
        None => opts.paper.clone(),
    };

    // Text and hash.
    let mut text = String::with_capacity(decoded.text.len());
    let (mut paragraphs, mut headings, mut artefacts) = (0, 0, 0);
    for block in &body.blocks {
        if block.artefact.is_some() {
            artefacts += 1;
            continue;
        }
        match block.kind {
            BlockKind::Paragraph => paragraphs += 1,
            BlockKind::Heading => headings += 1,
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&block.text);
    }
    if text.is_empty() {
        warnings.push(Warning::new(
            "empty_body",
            "the article has no text (a picture story, or a header alone)",
        ));
    }
    // Both digests at once: the raw file's and the content's (see `digest`).
    let (raw_digest, content_digest) = digest::sha256_pair(
        raw.bytes,
        &content_message(
            header.kicker.as_deref(),
            &headline,
            header.subtitle.as_deref(),
            &authors,
            &text,
        ),
    );
    let content_hash = content_hash_text(&content_digest);

    // The content id: trailer, else file name, else the pipeline's rule.
    let from_name = content_id_from_file_name(raw.path);
    let content_id = match (&parsed, from_name) {
        (Some(p), name) => {
            if let Some(name) = name.filter(|n| *n != p.content_id) {
                warnings.push(Warning::new(
                    "content_id_mismatch",
                    format!("file name {name}, trailer {}", p.content_id),
                ));
            }
            p.content_id.clone()
        }
        (None, Some(name)) => name,
        (None, None) => match opts.on_missing_id {
            OnMissingId::Quarantine => {
                return Err(fail(TransformErrorKind::MissingContentId, None));
            }
            OnMissingId::ContentHash => {
                let hex = content_hash.trim_start_matches("sha256:");
                format!("h:{}", &hex[..16])
            }
        },
    };

    let published_at = pub_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .and_then(|d| midnight(d, opts.timezone));

    Ok(Article {
        id: format!("{}:{}", opts.source, content_id),
        source: opts.source.clone(),
        content_id,
        url: trailer.as_ref().map(|t| t.url.clone()),
        paper,
        pub_date,
        published_at,
        page: header.page,
        kicker: header.kicker,
        headline,
        subtitle: header.subtitle,
        byline,
        authors,
        stats: Stats {
            chars: text.chars().count() as i64,
            paragraphs,
            headings,
            artefacts,
        },
        text,
        blocks: body.blocks,
        trailer,
        content_hash,
        revision: None,
        first_seen_at: None,
        updated_at: None,
        source_file: SourceFile {
            path: raw.path.to_owned(),
            size: size as i64,
            mtime: raw.mtime,
            sha256: hex::encode(raw_digest),
            encoding: decoded.encoding.to_owned(),
        },
        ingest: Ingest {
            run_id: None,
            pipeline: opts.pipeline.clone(),
            mode: opts.mode.clone(),
            parser_version: PARSER_VERSION.to_owned(),
        },
        furniture,
        warnings,
    })
}

/// How many lines from the top the trailer's headline is looked for in.
const HEADLINE_SEARCH_LINES: usize = 16;

struct TrailerLocation {
    /// First and last line index of the trailer.
    first: usize,
    last: usize,
    raw: String,
}

fn locate_trailer(
    lines: &[Line<'_>],
) -> Result<Option<TrailerLocation>, (TransformErrorKind, usize)> {
    // Built once: `str::contains` would build its searcher again for every line.
    static ENPPROPERTY: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new("enpproperty"));
    let mut found: Option<usize> = None;
    for (i, line) in lines.iter().enumerate().rev() {
        if ENPPROPERTY.find(line.text.as_bytes()).is_none() {
            continue;
        }
        if !trailer::is_trailer_line(line.text) {
            if found.is_none() {
                return Err((
                    TransformErrorKind::MalformedTrailer(
                        "a line mentions enpproperty but does not end in /enpproperty-->".into(),
                    ),
                    line.no,
                ));
            }
            continue;
        }
        if let Some(last) = found {
            return Err((
                TransformErrorKind::MultipleTrailers {
                    first: line.no,
                    second: lines[last].no,
                },
                line.no,
            ));
        }
        found = Some(i);
    }
    let Some(last) = found else {
        // A last line that opens like a trailer but never closes: an export cut short.
        if let Some(line) = lines.last().filter(|l| l.text.starts_with("-->")) {
            return Err((
                TransformErrorKind::MalformedTrailer(
                    "the trailer is cut short: it does not end in /enpproperty-->".into(),
                ),
                line.no,
            ));
        }
        return Ok(None);
    };
    let text = lines[last].text;
    // Why a date and not just a digit: with an empty slot the second line of a two-line
    // trailer starts with the site and node ids (`1 1 某报 content_…`).
    let first_token = text
        .strip_prefix("-->")
        .unwrap_or(text)
        .trim_start()
        .split(' ')
        .next()
        .unwrap_or("");
    let starts_with_date = trailer::is_trailer_date_line(first_token);
    if !starts_with_date && last > 0 && trailer::is_trailer_date_line(lines[last - 1].text) {
        return Ok(Some(TrailerLocation {
            first: last - 1,
            last,
            raw: format!("{} {}", lines[last - 1].text, text),
        }));
    }
    // The comment's opening `-->` alone on the line above.
    if last > 0 && lines[last - 1].text == "-->" && !text.starts_with("-->") {
        return Ok(Some(TrailerLocation {
            first: last - 1,
            last,
            raw: format!("--> {text}"),
        }));
    }
    Ok(Some(TrailerLocation {
        first: last,
        last,
        raw: text.to_owned(),
    }))
}

/// The headline to look for in the header. Usually the trailer's; when the CMS kept the first
/// line of a two-line headline in its slot, the slot's tail and the trailer's headline together
/// (returned with that slot part, to classify it).
fn effective_headline(
    trailer: &crate::document::Trailer,
    content: &[Line<'_>],
) -> (Option<String>, Option<String>) {
    let th = trailer.headline.as_str();
    if th.is_empty() {
        return (None, None);
    }
    let early = &content[..content.len().min(HEADLINE_SEARCH_LINES)];
    let want = compact(th);
    let in_lines = |c: &str| early.iter().any(|l| compact(l.text) == c);
    if in_lines(&want) {
        return (Some(th.to_owned()), None);
    }
    if let Some(slot) = trailer.slot.as_deref() {
        let tokens: Vec<&str> = slot.split(' ').collect();
        for k in 0..tokens.len() {
            let prefix = tokens[k..].join(" ");
            let joined = format!("{}{}", compact(&prefix), want);
            if let Some(line) = early.iter().find(|l| compact(l.text) == joined) {
                return (Some(line.text.to_owned()), Some(prefix));
            }
            // The header may show the two lines one above the other.
            let pair = early
                .windows(2)
                .find(|w| format!("{}{}", compact(w[0].text), compact(w[1].text)) == joined);
            if let Some(w) = pair {
                return (Some(format!("{} {}", w[0].text, w[1].text)), Some(prefix));
            }
        }
    }
    (Some(th.to_owned()), None)
}

fn has(warnings: &[Warning], code: &str) -> bool {
    warnings.iter().any(|w| w.code == code)
}

fn midnight(date: NaiveDate, tz: Tz) -> Option<DateTime<FixedOffset>> {
    let naive = date.and_hms_opt(0, 0, 0)?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|dt| dt.fixed_offset())
}

/// `sha256:<hex>` over the normalized kicker, headline, subtitle, authors and text (see
/// `content_message`).
pub fn content_hash(
    kicker: Option<&str>,
    headline: &str,
    subtitle: Option<&str>,
    authors: &[Author],
    text: &str,
) -> String {
    let message = content_message(kicker, headline, subtitle, authors, text);
    content_hash_text(&Sha256::digest(&message))
}

/// How the content hash is written in documents: `sha256:<hex>`.
fn content_hash_text(digest: &[u8]) -> String {
    format!("sha256:{}", hex::encode(digest))
}

/// What the content hash is taken over. Fields are separated by control characters that
/// normalization removes from the text, so no two different articles can produce the same
/// input to the hash.
pub fn content_message(
    kicker: Option<&str>,
    headline: &str,
    subtitle: Option<&str>,
    authors: &[Author],
    text: &str,
) -> Vec<u8> {
    const PREFIX: &[u8] = b"article-etl content v1";
    const FIELD: u8 = 0x1f;
    const ITEM: u8 = 0x1e;
    let mut m = Vec::with_capacity(PREFIX.len() + headline.len() + text.len() + 128);
    m.extend_from_slice(PREFIX);
    for field in [kicker.unwrap_or(""), headline, subtitle.unwrap_or("")] {
        m.push(FIELD);
        m.extend_from_slice(field.as_bytes());
    }
    m.push(FIELD);
    for a in authors {
        m.extend_from_slice(a.name.as_bytes());
        m.push(b'/');
        m.extend_from_slice(a.role.as_deref().unwrap_or("").as_bytes());
        m.push(ITEM);
    }
    m.push(FIELD);
    m.extend_from_slice(text.as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_file_names() {
        assert_eq!(
            content_id_from_file_name("a/content_156059.txt").as_deref(),
            Some("156059")
        );
        assert_eq!(
            content_id_from_file_name("c8812.txt").as_deref(),
            Some("8812")
        );
        assert_eq!(
            content_id_from_file_name("8812.txt").as_deref(),
            Some("8812")
        );
        assert_eq!(content_id_from_file_name("000_322ca562a41e70a6.txt"), None);
        assert_eq!(content_id_from_file_name("abc123.txt"), None);
    }
}
