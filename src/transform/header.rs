//! The header: date line and/or page label, then kicker, headline, subtitle and byline
//! (FORMAT.md §2, "Header"). Which line is the headline is told by the trailer when there is
//! one; otherwise it is guessed (the longest of the first short lines) and flagged.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

use super::byline;
use super::furniture::{artefact, is_furniture, page_label};
use super::normalize::Line;
use super::text::{chars_at_most, compact, iso_date, HEADER_LINE_MAX_CHARS};
use crate::document::{Artefact, Author, Page, Warning};

/// How many lines after the date/page preamble may still be header lines (kicker, headline,
/// subtitle lines, byline lines).
const HEADER_ZONE_LINES: usize = 7;
/// How many of the first short lines compete to be the guessed headline.
const GUESS_CANDIDATES: usize = 3;

static DATE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(?:(?:星期|周|礼拜)[一二三四五六日天])?\s*(.*)$",
    )
    .expect("static regex")
});

/// A header date: its value when valid, and the line it was on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderDate {
    /// `YYYY-MM-DD`, or `None` when the line names an impossible date.
    pub date: Option<String>,
    pub written: String,
    pub line: usize,
}

#[derive(Debug, Default)]
pub struct Header {
    pub date: Option<HeaderDate>,
    pub page: Option<Page>,
    pub kicker: Option<String>,
    /// The headline as the header has it, when a line (or two) holds it.
    pub headline: Option<String>,
    pub subtitle: Option<String>,
    pub byline: Option<String>,
    pub authors: Vec<Author>,
    /// Index (into the lines given) of the first body line.
    pub body_start: usize,
}

/// Everything the header parser needs from the rest of the file.
pub struct HeaderContext<'a> {
    /// The trailer's headline, the authority when present.
    pub trailer_headline: Option<&'a str>,
    /// The trailer's slot with spaces removed: a line found in it is a header line.
    pub slot_compact: Option<&'a str>,
}

/// `2024年01月02日`, `2024年1月2日 星期二`, optionally followed by a page label.
fn date_line(line: &str, no: usize) -> Option<(HeaderDate, &str)> {
    if !line.as_bytes().first().is_some_and(u8::is_ascii_digit) || !chars_at_most(line, 48) {
        return None;
    }
    let caps = DATE_LINE.captures(line)?;
    let num = |i: usize| caps[i].parse::<u32>().unwrap_or(0);
    let year = caps[1].parse::<i32>().unwrap_or(0);
    let date = NaiveDate::from_ymd_opt(year, num(2), num(3)).map(iso_date);
    let rest = caps.get(4).map_or("", |m| m.as_str());
    let written = line[..line.len() - rest.len()].trim_end().to_owned();
    Some((
        HeaderDate {
            date,
            written,
            line: no,
        },
        rest,
    ))
}

/// Parses the header of `lines` (the file without its trailer). Furniture found on the way is
/// appended to `furniture`.
pub fn parse(
    lines: &[Line<'_>],
    ctx: &HeaderContext<'_>,
    furniture: &mut Vec<String>,
    warnings: &mut Vec<Warning>,
) -> Header {
    let mut header = Header::default();
    let mut i = 0;

    // Preamble: furniture, the date line, the page label, in any order.
    while let Some(line) = lines.get(i) {
        let t = line.text;
        if header.date.is_none() {
            if let Some((date, rest)) = date_line(t, line.no) {
                header.date = Some(date);
                if !rest.is_empty() {
                    match page_label(rest) {
                        Some(page) if header.page.is_none() => header.page = Some(page),
                        _ => furniture.push(rest.to_owned()),
                    }
                }
                i += 1;
                continue;
            }
        }
        if let Some(page) = page_label(t) {
            if header.page.is_none() {
                header.page = Some(page);
            } else {
                furniture.push(t.to_owned());
            }
            i += 1;
            continue;
        }
        if is_furniture(t) || artefact(t) == Some(Artefact::WordCount) {
            furniture.push(t.to_owned());
            i += 1;
            continue;
        }
        break;
    }

    // The zone: short lines up to the byline or the first paragraph.
    let mut zone: Vec<usize> = Vec::with_capacity(HEADER_ZONE_LINES);
    let mut byline_lines: Vec<usize> = Vec::new();
    let mut j = i;
    while let Some(line) = lines.get(j) {
        if zone.len() >= HEADER_ZONE_LINES {
            break;
        }
        let t = line.text;
        if is_furniture(t) {
            furniture.push(t.to_owned());
            j += 1;
            continue;
        }
        if let Some(authors) = byline::parse(t) {
            header.authors = authors;
            byline_lines.push(j);
            j += 1;
            // A byline split over two lines (`■融媒体记者 张三` / `通 讯 员 李四`, or two
            // marked lines): the second is a byline too.
            if let Some(next) = lines.get(j) {
                if let Some(more) = byline::parse(next.text) {
                    header.authors.extend(more);
                    byline_lines.push(j);
                    j += 1;
                }
            }
            break;
        }
        if !chars_at_most(t, HEADER_LINE_MAX_CHARS) || t.ends_with('。') {
            break;
        }
        zone.push(j);
        j += 1;
    }
    let after_zone = j;
    if !byline_lines.is_empty() {
        let text: Vec<&str> = byline_lines.iter().map(|&k| lines[k].text).collect();
        header.byline = Some(text.join(" "));
    }

    // The headline: the trailer's, found among the zone lines (alone, or over two lines).
    let found = ctx
        .trailer_headline
        .filter(|h| !h.is_empty())
        .and_then(|h| find_headline(lines, &zone, h));
    let (head_from, head_to) = match found {
        Some(span) => span,
        None => {
            let candidates = &zone[..zone.len().min(GUESS_CANDIDATES)];
            let Some(guess) = longest(lines, candidates) else {
                // No header line at all: the body starts right after the preamble.
                header.body_start = if byline_lines.is_empty() {
                    i
                } else {
                    after_zone
                };
                return header;
            };
            match ctx.trailer_headline.filter(|h| !h.is_empty()) {
                Some(th) => warnings.push(Warning::new(
                    "headline_mismatch",
                    format!("header {:?}, trailer {th:?}", lines[zone[guess]].text),
                )),
                None => warnings.push(Warning::new(
                    "headline_guessed",
                    format!(
                        "no trailer: took line {} as the headline",
                        lines[zone[guess]].no
                    ),
                )),
            }
            (guess, guess)
        }
    };
    let text_of = |range: &[usize]| -> String {
        range
            .iter()
            .map(|&k| lines[k].text)
            .collect::<Vec<_>>()
            .join(" ")
    };
    header.headline = Some(text_of(&zone[head_from..=head_to]));

    // Above the headline: the kicker; anything higher is unexplained, so it is set aside.
    if head_from >= 1 {
        header.kicker = Some(lines[zone[head_from - 1]].text.to_owned());
        for &k in &zone[..head_from - 1] {
            furniture.push(lines[k].text.to_owned());
            warnings.push(Warning::new(
                "unrecognised_header_line",
                format!("line {}: {:?}", lines[k].no, lines[k].text),
            ));
        }
    }

    // Below it: with a byline, every line up to the byline is the subtitle; without one, only
    // lines that look like a subtitle (`——…`) or that the CMS slot names.
    let below = &zone[head_to + 1..];
    let subtitle_len = if !byline_lines.is_empty() {
        below.len()
    } else {
        below
            .iter()
            .take_while(|&&k| looks_like_subtitle(lines[k].text, ctx.slot_compact))
            .count()
    };
    if subtitle_len > 0 {
        header.subtitle = Some(text_of(&below[..subtitle_len]));
    }
    header.body_start = if !byline_lines.is_empty() {
        after_zone
    } else {
        below.get(subtitle_len).copied().unwrap_or(after_zone)
    };
    header
}

fn looks_like_subtitle(line: &str, slot_compact: Option<&str>) -> bool {
    line.starts_with(['—', '-', '─'])
        || slot_compact.is_some_and(|slot| slot.contains(compact(line).as_ref()))
}

/// The zone positions `(from, to)` of the line or pair of lines that hold `headline`.
fn find_headline(lines: &[Line<'_>], zone: &[usize], headline: &str) -> Option<(usize, usize)> {
    let want = compact(headline);
    let texts: Vec<std::borrow::Cow<'_, str>> =
        zone.iter().map(|&k| compact(lines[k].text)).collect();
    if let Some(p) = texts.iter().position(|t| *t == want) {
        return Some((p, p));
    }
    (0..texts.len().saturating_sub(1))
        .find(|&p| {
            want.len() == texts[p].len() + texts[p + 1].len()
                && want.starts_with(texts[p].as_ref())
                && want.ends_with(texts[p + 1].as_ref())
        })
        .map(|p| (p, p + 1))
}

/// The position (in `candidates`) of the longest line; the first wins ties.
fn longest(lines: &[Line<'_>], candidates: &[usize]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (p, &k) in candidates.iter().enumerate() {
        let n = lines[k].text.chars().count();
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((p, n));
        }
    }
    best.map(|(p, _)| p)
}
