//! The header: date line and/or page label, then kicker, headline, subtitle and byline
//! (docs/format.md §2.2). Which line is the headline is told by the trailer when there is
//! one; otherwise it is guessed (the longest of the first short lines) and flagged.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

use super::byline;
use super::furniture::{artefact, is_caption_start, is_furniture, page_label};
use super::normalize::Line;
use super::text::{chars_at_most, compact, iso_date, HEADER_LINE_MAX_CHARS};
use crate::document::{Artefact, Author, Page, Warning};

/// How many lines after the date/page preamble may still be header lines (kicker, headline,
/// subtitle lines, byline lines).
const HEADER_ZONE_LINES: usize = 7;
/// How many of the first short lines compete to be the guessed headline.
const GUESS_CANDIDATES: usize = 3;
/// A sentence this short between the headline and a byline is a picture caption.
const CAPTION_MAX_CHARS: usize = 20;
/// A line shaped like a subtitle (no `——`, not named by the slot) has at least this many
/// characters: shorter ones are picture labels (`更换前`).
const SUBTITLE_MIN_CHARS: usize = 6;

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
    /// The body's lines (indices into the lines given): `body_between` (picture labels and
    /// captions the header found between its lines, usually none), then every line from
    /// `body_start` on.
    pub body_between: Vec<usize>,
    pub body_start: usize,
    /// Line numbers of picture labels and captions the header found between its lines.
    pub captions: Vec<usize>,
}

/// Everything the header parser needs from the rest of the file.
pub struct HeaderContext<'a> {
    /// The trailer's headline, the authority when present.
    pub trailer_headline: Option<&'a str>,
    /// The trailer's slot with spaces removed: a line found in it is a header line.
    pub slot_compact: Option<&'a str>,
    /// Names of a closing `(张三 李四)` line at the end of the body.
    pub closing_names: &'a [String],
    pub has_trailer: bool,
}

/// `2024年01月02日`, `2024年1月2日 星期二`, optionally followed by a page label.
fn date_line(line: &str, no: usize) -> Option<(HeaderDate, &str)> {
    if !line.as_bytes().first().is_some_and(u8::is_ascii_digit) || !chars_at_most(line, 48) {
        return None;
    }
    // `YYYY 年 M 月 D 日 [星期X]`, read by hand: it is tried on every header line that starts
    // with a digit.
    let mut rest = line;
    let mut part = |unit: char, digits_range: std::ops::RangeInclusive<usize>| -> Option<u32> {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if !digits_range.contains(&digits) {
            return None;
        }
        let value = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start().strip_prefix(unit)?.trim_start();
        Some(value)
    };
    let year = part('年', 4..=4)?;
    let month = part('月', 1..=2)?;
    let day = part('日', 1..=2)?;
    if let Some(after) = ["星期", "周", "礼拜"]
        .iter()
        .find_map(|w| rest.strip_prefix(w))
    {
        if let Some(c) = after
            .chars()
            .next()
            .filter(|c| "一二三四五六日天".contains(*c))
        {
            rest = after[c.len_utf8()..].trim_start();
        }
    }
    let date = i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
        .map(iso_date);
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
    // The header's own reading of its lines: a zone line that carries a date at its end
    // (`秋风吹 稻谷熟 2020年10月13日`) is read without it. The body keeps the lines as they are.
    // Copied only when a line is changed (rare).
    let mut lines: std::borrow::Cow<'_, [Line<'_>]> = std::borrow::Cow::Borrowed(lines);

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

    // The zone: short lines up to the first paragraph, and the byline if one comes (maybe
    // after picture labels and short captions, which then start the body).
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
        // A date line or page label after some furniture the preamble did not know.
        if header.date.is_none() {
            if let Some((date, rest)) = date_line(t, line.no) {
                header.date = Some(date);
                // What stood above the date is page furniture the preamble did not know.
                for k in zone.drain(..) {
                    furniture.push(lines[k].text.to_owned());
                    warnings.push(Warning::new(
                        "unrecognised_header_line",
                        format!("line {}: {:?}", lines[k].no, lines[k].text),
                    ));
                }
                if !rest.is_empty() {
                    furniture.push(rest.to_owned());
                }
                j += 1;
                continue;
            }
        }
        // A date again (viewers repeat it), or a date at the end of a meta line or headline.
        if let Some((date, before)) = trailing_date(t, line.no) {
            if header.date.is_none() {
                header.date = Some(date);
            }
            if before.is_empty() || looks_like_paper_name(before) {
                furniture.push(t.to_owned());
                j += 1;
                continue;
            }
            furniture.push(t[before.len()..].trim().to_owned());
            lines.to_mut()[j].text = before;
        }
        let t = lines[j].text;
        let short_caption = chars_at_most(t, CAPTION_MAX_CHARS) && t.ends_with('。');
        if !chars_at_most(t, HEADER_LINE_MAX_CHARS) || (t.ends_with('。') && !short_caption) {
            break;
        }
        zone.push(j);
        j += 1;
    }
    // Short sentences are captions only when a byline follows them; otherwise they are text.
    if byline_lines.is_empty() {
        if let Some(p) = zone.iter().position(|&k| lines[k].text.ends_with('。')) {
            zone.truncate(p);
            j = zone.last().map_or(i, |&k| k + 1);
        }
    }
    let after_zone = j;
    let lines: &[Line<'_>] = &lines;

    // The headline: the trailer's, found among the zone lines (alone, or over two lines).
    let found = ctx
        .trailer_headline
        .filter(|h| !h.is_empty())
        .and_then(|h| find_headline(lines, &zone, h));
    let (head_from, head_to) = match found {
        Some(span) => span,
        None => {
            // Names, captions and labels are not headlines.
            let candidates: Vec<usize> = zone
                .iter()
                .take(GUESS_CANDIDATES)
                .copied()
                .filter(|&k| {
                    let t = lines[k].text;
                    // A line the slot names is its kicker, subtitle or author, not the headline.
                    let in_slot = ctx
                        .slot_compact
                        .is_some_and(|slot| slot.contains(compact(t).as_ref()));
                    !is_name_line(t) && !is_caption_like(t) && !in_slot
                })
                .collect();
            // A line ending in a colon leads into the next one: a kicker, when another follows.
            let mut candidates = candidates;
            if candidates.len() > 1 {
                candidates.retain(|&k| !lines[k].text.ends_with(':'));
            }
            let Some(guess) = longest(lines, &candidates)
                .and_then(|g| zone.iter().position(|&k| k == candidates[g]))
            else {
                // No header line at all: the body starts right after the preamble.
                header.body_between = zone
                    .iter()
                    .copied()
                    .filter(|k| !byline_lines.contains(k))
                    .collect();
                header.body_start = after_zone;
                if !byline_lines.is_empty() {
                    set_byline(&mut header, lines, &byline_lines);
                }
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
                        "{}: took line {} as the headline",
                        if ctx.has_trailer {
                            "the trailer's headline field is empty"
                        } else {
                            "no trailer"
                        },
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

    // Below it: subtitle lines (`——…`, what the slot names, or one line shaped like a
    // subtitle), then maybe a byline of bare names; picture labels and captions are body.
    let below = &zone[head_to + 1..];
    let mut subtitle_len = 0;
    while let Some(&k) = below.get(subtitle_len) {
        let t = lines[k].text;
        let backed = looks_like_subtitle(t, ctx.slot_compact);
        let shaped = subtitle_len == 0
            && !byline_lines.is_empty()
            && chars_at_most(t, HEADER_LINE_MAX_CHARS)
            && !chars_at_most(t, SUBTITLE_MIN_CHARS - 1)
            && !is_caption_like(t)
            && !is_name_line(t);
        if !(backed || shaped) || is_name_backed(t, ctx) {
            break;
        }
        subtitle_len += 1;
    }
    if subtitle_len > 0 {
        header.subtitle = Some(text_of(&below[..subtitle_len]));
    }
    let mut rest = &below[subtitle_len..];
    // A line of bare names right after the headline or the subtitle: a byline when the slot or
    // a closing `(张三 李四)` names them, or when every token is shaped like a person's name.
    if byline_lines.is_empty() {
        if let Some(&k) = rest.first() {
            let t = lines[k].text;
            if is_name_backed(t, ctx) || is_name_line(t) {
                if let Some(authors) = byline::parse_names(t) {
                    header.authors = authors;
                    byline_lines.push(k);
                    rest = &rest[1..];
                }
            }
        }
    }
    if !byline_lines.is_empty() {
        set_byline(&mut header, lines, &byline_lines);
    }
    // Between the header's lines and a byline below them: picture labels and captions.
    if byline_lines
        .iter()
        .any(|&b| rest.first().is_some_and(|&r| r < b))
    {
        header.captions = rest
            .iter()
            .filter(|&&k| byline_lines.iter().any(|&b| k < b))
            .map(|&k| lines[k].no)
            .collect();
    }
    // The body: what the header left between its lines (labels, captions), then the rest.
    header.body_between = rest
        .iter()
        .copied()
        .filter(|k| !byline_lines.contains(k))
        .collect();
    header.body_start = after_zone;
    header
}

/// A date ending a short line (`… 2020年10月13日`, `… 2024-03-07`, maybe with a weekday), and
/// what stands before it.
fn trailing_date(line: &str, no: usize) -> Option<(HeaderDate, &str)> {
    if !line.ends_with(['日', '一', '二', '三', '四', '五', '六', '天'])
        && !line.ends_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    if !chars_at_most(line, HEADER_LINE_MAX_CHARS) {
        return None;
    }
    let caps = TRAILING_DATE.captures(line)?;
    let m = caps.get(0)?;
    let num = |i: usize| caps.get(i).and_then(|g| g.as_str().parse::<u32>().ok());
    let year = caps.get(1).and_then(|g| g.as_str().parse::<i32>().ok())?;
    let date = NaiveDate::from_ymd_opt(year, num(2).or(num(4))?, num(3).or(num(5))?).map(iso_date);
    Some((
        HeaderDate {
            date,
            written: m.as_str().trim().to_owned(),
            line: no,
        },
        line[..m.start()].trim_end(),
    ))
}

/// A paper's name before a date (`上海法治报 2021年03月31日`): the viewer's meta line.
fn looks_like_paper_name(s: &str) -> bool {
    chars_at_most(s, 12)
        && !s.contains(' ')
        && (s.ends_with('报')
            || s.ends_with("报社")
            || s.ends_with('網')
            || s.ends_with('网')
            || s.ends_with('報'))
}

static TRAILING_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|\s)(\d{4})(?:年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日|-(\d{2})-(\d{2}))\s*(?:(?:星期|周)[一二三四五六日天])?$",
    )
    .expect("static regex")
});

fn set_byline(header: &mut Header, lines: &[Line<'_>], byline_lines: &[usize]) {
    let mut sorted = byline_lines.to_vec();
    sorted.sort_unstable();
    let text: Vec<&str> = sorted.iter().map(|&k| lines[k].text).collect();
    header.byline = Some(text.join(" "));
}

/// Does the slot, or a closing `(张三 李四)` line, name every person on this line?
fn is_name_backed(line: &str, ctx: &HeaderContext<'_>) -> bool {
    let Some(names) = byline::parse_names(line) else {
        return false;
    };
    if names.is_empty() {
        return false;
    }
    let slot_names = |n: &str| ctx.slot_compact.is_some_and(|s| s.contains(n));
    let closing_names = |n: &str| ctx.closing_names.iter().any(|c| c == n);
    names.iter().all(|a| slot_names(&a.name)) || names.iter().all(|a| closing_names(&a.name))
}

/// A line of person names alone, by their shape (see `byline::is_person_name`).
fn is_name_line(line: &str) -> bool {
    byline::parse_names(line).is_some_and(|names| {
        !names.is_empty() && names.iter().all(|a| byline::is_person_name(&a.name))
    })
}

/// Picture captions and labels: `▶ …`, `图为…`, a line ending in `摄`, a short sentence.
fn is_caption_like(line: &str) -> bool {
    is_caption_start(line)
        || artefact(line) == Some(Artefact::Caption)
        || (chars_at_most(line, CAPTION_MAX_CHARS) && line.ends_with('。'))
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
