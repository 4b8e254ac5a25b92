//! Transform: the bytes of one article file → its [`Article`] document, or a typed
//! [`TransformError`]. Pure and synchronous, no I/O (files are read by the extract stage, and
//! `crate::parse` is the one path from a file to a document), so it runs on worker threads
//! and in benchmarks alone.

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

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use decode::EncodingSetting;
pub use error::{TransformError, TransformErrorKind};

use crate::document::{
    Article, Author, BlockKind, Ingest, SlotKind, SlotPart, SourceFile, Stats, Warning,
    PARSER_VERSION,
};
use normalize::Line;
use text::{chars_at_most, compact, HEADER_LINE_MAX_CHARS};

/// What to do with a file that names no content id (docs/format.md §5.1).
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

/// The content id in a file name: `content_156059.txt` (anywhere in the stem, after a
/// non-alphanumeric), `c156059.txt`, `c_156059.txt`, `con156059.txt`, `156059.txt`. Read by hand:
/// it runs once per file, where a capturing regex costs more than the rest of the name's work.
pub fn content_id_from_file_name(path: &str) -> Option<String> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // `content_<digits>[_<digits>…]`, at the start or after a separator.
    let mut from = 0;
    while let Some(at) = stem[from..].find("content_").map(|i| i + from) {
        let after_separator = stem[..at]
            .bytes()
            .last()
            .is_none_or(|b| !b.is_ascii_alphanumeric());
        let rest = &stem[at + "content_".len()..];
        let groups = rest.split('_').take_while(|g| digits(g)).count();
        if after_separator && groups > 0 {
            let id: Vec<&str> = rest.split('_').take(groups).collect();
            return Some(id.join("_"));
        }
        from = at + 1;
    }
    ["c_", "con", "c", ""]
        .iter()
        .find_map(|prefix| stem.strip_prefix(prefix).filter(|rest| digits(rest)))
        .map(str::to_owned)
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
    let mut norm = normalize::normalize(&decoded.text);
    // Converter residue is looked for in the normalized text, where every bracket is ASCII and
    // one byte search finds them; the rare file that has some is normalized again without it.
    let mut residue = 0;
    if text::may_hold_pinyin_residue(norm.text()) {
        let (stripped, n) = text::strip_pinyin_residue(&decoded.text);
        if n > 0 {
            residue = n;
            norm = normalize::normalize(&stripped);
        }
    }
    if norm.is_empty() {
        return Err(fail(TransformErrorKind::Empty, None));
    }
    let lines: Vec<Line<'_>> = norm.lines().collect();
    let mut warnings = Vec::new();
    let mut furniture = Vec::new();
    if residue > 0 {
        warnings.push(Warning::new(
            "conversion_residue",
            format!("removed {residue} pinyin syllables a character converter left in parentheses"),
        ));
    }

    // The trailer, found by its grammar wherever its lines break (see `trailer::locate`).
    let texts: Vec<&str> = lines.iter().map(|l| l.text).collect();
    let located = trailer::locate(&texts, norm.text()).map_err(|(kind, at)| {
        let kind = match kind {
            TransformErrorKind::MultipleTrailers { first, second } => {
                TransformErrorKind::MultipleTrailers {
                    first: lines[first].no,
                    second: lines[second].no,
                }
            }
            other => other,
        };
        fail(kind, Some(lines[at].no))
    })?;
    let mut salvaged_id = None;
    // A broken trailer set aside has its own warning; `no_trailer` would say less.
    let mut set_aside = false;
    // The first lines without their spaces: where the trailer's headline is looked for.
    let mut early: Vec<Cow<'_, str>> = Vec::new();
    let (content_end, parsed) = match located {
        None => (lines.len(), None),
        Some(span) => {
            // A line too long for the header's zone cannot be a headline: it is not compacted.
            early = lines[..span.first.min(HEADLINE_SEARCH_LINES)]
                .iter()
                .map(|l| {
                    if chars_at_most(l.text, HEADER_LINE_MAX_CHARS) {
                        compact(l.text)
                    } else {
                        Cow::Borrowed("")
                    }
                })
                .collect();
            let early = &early;
            let in_header = |candidate: &str| {
                let c = compact(candidate);
                !c.is_empty() && early.contains(&c)
            };
            let after: Vec<(usize, &str)> = span
                .after_marker
                .map(|t| (lines[span.last].no, t))
                .into_iter()
                .chain(lines[span.last + 1..].iter().map(|l| (l.no, l.text)))
                .collect();
            for (no, text) in after {
                furniture.push(text.to_owned());
                warnings.push(Warning::new(
                    "text_after_trailer",
                    format!("line {no}: {text:?}"),
                ));
            }
            let at = lines[span.first].no;
            match trailer::parse_span(&span, &in_header) {
                Ok(p) => {
                    if p.unterminated {
                        warnings.push(Warning::new(
                            "trailer_unterminated",
                            format!("line {at}: the trailer has no /enpproperty--> end marker"),
                        ));
                    }
                    (span.first, Some(p))
                }
                Err(broken) => {
                    // A trailer that still names its content id does not cost the article:
                    // it loads without a trailer, and says why.
                    let known = broken
                        .content_id
                        .clone()
                        .or_else(|| content_id_from_file_name(raw.path));
                    if known.is_none() {
                        return Err(fail(broken.kind, Some(at)));
                    }
                    warnings.push(Warning::new(
                        broken.warning,
                        format!("line {at}: {}; the trailer was set aside", broken.kind),
                    ));
                    for l in &lines[span.first..=span.last] {
                        furniture.push(l.text.to_owned());
                    }
                    salvaged_id = broken.content_id;
                    set_aside = true;
                    (span.first, None)
                }
            }
        }
    };
    let content = &lines[..content_end];
    if content.is_empty() {
        let line = lines.first().map(|l| l.no);
        return Err(fail(TransformErrorKind::NoBody, line));
    }

    // The header, told by the trailer which line is the headline.
    let (trailer_headline, mut slot_headline) = match &parsed {
        Some(p) => effective_headline(&p.trailer, content, &early),
        None => (None, None),
    };
    let slot_compact = parsed
        .as_ref()
        .and_then(|p| p.trailer.slot.as_deref())
        .map(|s| compact(s).into_owned());
    // A closing `(张三 李四)` names the authors too, which tells a line of bare names above.
    let closing_names: Vec<String> = content
        .iter()
        .rev()
        .take(CLOSING_SEARCH_LINES)
        .filter(|l| l.text.starts_with('('))
        .filter_map(|l| byline::parse_closing(l.text))
        .flatten()
        .map(|a| a.name)
        .collect();
    let header = header::parse(
        content,
        &header::HeaderContext {
            trailer_headline: trailer_headline.as_deref(),
            slot_compact: slot_compact.as_deref(),
            closing_names: &closing_names,
            has_trailer: parsed.is_some(),
        },
        &mut furniture,
        &mut warnings,
    );
    let body_lines = header.body_between.iter().map(|&k| content[k]).chain(
        content[header.body_start.min(content.len())..]
            .iter()
            .copied(),
    );
    let mut body = body::parse(body_lines, &header.captions, &mut furniture);

    // Headline: the trailer is the authority; the header when there is no trailer.
    let headline = match (&trailer_headline, &header.headline) {
        (Some(t), _) if !t.is_empty() => t.clone(),
        (_, Some(h)) => h.clone(),
        _ => {
            // An article without a headline is still an article: stored with an empty one and
            // flagged, rather than refused.
            warnings.push(Warning::new(
                "no_headline",
                "neither the trailer nor the header names a headline",
            ));
            String::new()
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
    // Then a byline closing the body (`本报记者 张三` as the last line), then the lead's
    // `本报讯(记者 张三 通讯员 李四)`.
    if authors.is_empty() {
        if let Some(last) = body.blocks.last().filter(|b| b.text.chars().count() <= 40) {
            if let Some(found) = byline::parse(&last.text).filter(|a| !a.is_empty()) {
                authors = found;
                if byline.is_none() {
                    byline = Some(last.text.clone());
                }
                // A photo credit stays where it is, a caption; a writer's line is furniture.
                if last.artefact.is_none() {
                    if let Some(b) = body.blocks.pop() {
                        furniture.push(b.text);
                    }
                }
            }
        }
    }
    if authors.is_empty() {
        authors = body
            .blocks
            .iter()
            .take(2)
            .find_map(|b| byline::parse_lead(&b.text))
            .unwrap_or_default();
    }
    // The slot's people against the header's: where they share nobody, the trailer's reading
    // is kept (the header's line was likely not a byline) and both are named.
    let named: Vec<&SlotPart> = trailer
        .iter()
        .flat_map(|t| &t.slot_parts)
        .filter(|p| matches!(p.kind, SlotKind::Authors | SlotKind::Byline))
        .collect();
    if !named.is_empty() && !authors.is_empty() {
        let slot_authors = slot::authors(named.iter().copied());
        let shares = slot_authors
            .iter()
            .any(|s| authors.iter().any(|a| a.name == s.name));
        if !slot_authors.is_empty() && !authors.is_empty() && !shares {
            warnings.push(Warning::new(
                "authors_mismatch",
                format!(
                    "header {:?}, trailer {:?}",
                    byline.as_deref().unwrap_or(""),
                    named
                        .iter()
                        .map(|p| p.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ));
            authors = slot_authors;
            // The header's line is kept, as furniture: no line of the file is lost.
            if let Some(b) = byline.take() {
                furniture.push(b);
            }
            byline = named.first().map(|p| p.text.clone());
        }
    }
    // A subtitle the slot holds (`——…`) but the header does not show: the trailer's.
    let mut subtitle = header.subtitle.clone();
    if subtitle.is_none() {
        let kicker_key = header.kicker.as_deref().map(compact);
        if let Some(part) = trailer.as_ref().and_then(|t| {
            t.slot_parts
                .iter()
                .find(|p| p.kind == SlotKind::Subtitle && p.text.starts_with(['—', '─']))
                .filter(|p| {
                    let key = compact(p.text.trim_start_matches(['—', '─'])).into_owned();
                    !kicker_key.as_deref().is_some_and(|k| k.contains(&key))
                })
        }) {
            warnings.push(Warning::new(
                "subtitle_from_trailer",
                format!(
                    "the header shows no subtitle; the trailer's slot has {:?}",
                    part.text
                ),
            ));
            subtitle = Some(part.text.clone());
        }
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
                warnings.push(Warning::new(
                    "invalid_header_date",
                    format!("line {}: {:?}", h.line, h.written),
                ));
                None
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
    if trailer.is_none() && !set_aside {
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
            subtitle.as_deref(),
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
        (None, name) if salvaged_id.is_some() => {
            let id = salvaged_id.unwrap_or_default();
            if let Some(name) = name.filter(|n| *n != id) {
                warnings.push(Warning::new(
                    "content_id_mismatch",
                    format!("file name {name}, trailer {id}"),
                ));
            }
            id
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
        .and_then(iso_to_date)
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
        subtitle,
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
            archive: None,
            member: None,
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

/// How many lines from the end a closing `(张三 李四)` is looked for in.
const CLOSING_SEARCH_LINES: usize = 4;

/// How many lines from the top the trailer's headline is looked for in.
const HEADLINE_SEARCH_LINES: usize = 16;

/// The headline to look for in the header. Usually the trailer's; when the CMS kept the first
/// line of a two-line headline in its slot, the slot's tail and the trailer's headline together
/// (returned with that slot part, to classify it).
/// `compacted` holds the first lines of `content` without their spaces, computed once.
fn effective_headline(
    trailer: &crate::document::Trailer,
    content: &[Line<'_>],
    compacted: &[Cow<'_, str>],
) -> (Option<String>, Option<String>) {
    let th = trailer.headline.as_str();
    if th.is_empty() {
        return (None, None);
    }
    let early = &content[..compacted.len()];
    let want = compact(th);
    if compacted.contains(&want) {
        return (Some(th.to_owned()), None);
    }
    if let Some(slot) = trailer.slot.as_deref() {
        let tokens: Vec<&str> = slot.split(' ').collect();
        for k in 0..tokens.len() {
            let prefix = tokens[k..].join(" ");
            let joined = format!("{}{}", compact(&prefix), want);
            if let Some(k) = compacted.iter().position(|c| *c == joined) {
                return (Some(early[k].text.to_owned()), Some(prefix));
            }
            // The header may show the two lines one above the other.
            let pair = (1..compacted.len()).find(|&k| {
                !compacted[k - 1].is_empty()
                    && !compacted[k].is_empty()
                    && joined.len() == compacted[k - 1].len() + compacted[k].len()
                    && joined.starts_with(compacted[k - 1].as_ref())
                    && joined.ends_with(compacted[k].as_ref())
            });
            if let Some(k) = pair {
                return (
                    Some(format!("{} {}", early[k - 1].text, early[k].text)),
                    Some(prefix),
                );
            }
        }
    }
    (Some(th.to_owned()), None)
}

/// `YYYY-MM-DD`, as the transform writes dates, without a format string to interpret.
fn iso_to_date(d: &str) -> Option<NaiveDate> {
    let mut parts = d.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (y, m, day) = (parts.next()??, parts.next()??, parts.next()??);
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, day)
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
        assert_eq!(
            content_id_from_file_name("x/page-content_2_77.htm").as_deref(),
            Some("2_77")
        );
        assert_eq!(content_id_from_file_name("c_77.txt").as_deref(), Some("77"));
        assert_eq!(
            content_id_from_file_name("con77.txt").as_deref(),
            Some("77")
        );
        assert_eq!(content_id_from_file_name("xcontent_77.txt"), None);
        assert_eq!(content_id_from_file_name("content_.txt"), None);
        assert_eq!(
            iso_to_date("2024-01-02"),
            NaiveDate::from_ymd_opt(2024, 1, 2)
        );
        assert_eq!(iso_to_date("2024-02-30"), None);
        assert_eq!(content_id_from_file_name("abc123.txt"), None);
    }
}
