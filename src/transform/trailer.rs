//! The trailer: what is left of the CMS's `<!--enpproperty …/enpproperty-->` comment.
//!
//! ```text
//! [-->] DATE [TIME] [SLOT…] N N PAPER URL N [N] HEADLINE… [ARTICLE-ID] /enpproperty-->
//! ```
//! Fields are separated by single spaces but the slot and the headline contain spaces too, and
//! empty CMS fields vanish, so the grammar is anchored on the one token that cannot be
//! mistaken: the URL. Ambiguous tokens (a second number after the URL, a trailing number after
//! the headline) are settled by asking whether the header holds the resulting headline.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

use super::error::TransformErrorKind;
use super::text::{chars_at_most, is_integer, iso_date};
use crate::document::Trailer;

const TRAILER_END: &str = "/enpproperty-->";
const TRAILER_START: &str = "-->";

static TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$").expect("static regex"));
/// Every URL form seen: `content_<id>`, `c<id>`, `c_<id>`, `con<id>`, with `.html`, `.htm` or
/// `.shtml`, maybe behind a path or followed by a query. Founder's `content_<node>_<id>` keeps
/// both groups: together they name the page, and no two articles share them.
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|/)(?:content_|con|c_|c)(\d+(?:_\d+)*)\.s?html?(?:\?\S*)?$")
        .expect("static regex")
});
static THOUSANDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{1,3}(?:,\d{3})+$").expect("static regex"));
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^<>]*>").expect("static regex"));
/// The comment's end as exports leave it: `/enpproperty-->`, with stray spaces (`/enpproperty -->`,
/// `/ enpproperty-->`), or without its slash.
/// Also with one or three dashes, `>` escaped as `&gt;`, or in capitals.
static END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)/? ?enpproperty ?-{1,3} ?(?:>|&gt;)").expect("static regex"));

/// How far back from the end of the file a trailer without its end marker is looked for, in
/// lines; and how many tokens may stand between the trailer's date and its site and node ids
/// (the CMS's author and title fields).
const TAIL_LINES: usize = 80;
const SLOT_MAX_TOKENS: usize = 40;
/// A trailer split one token per line: how many lines after the URL may still be its numbers and
/// headline.
const SPLIT_HEAD_LINES: usize = 12;

/// A trailer's parsed fields plus the content id its URL carries.
#[derive(Debug)]
pub struct ParsedTrailer {
    pub trailer: Trailer,
    pub content_id: String,
    /// The end marker was missing or cut short: the trailer was recognised by its grammar.
    pub unterminated: bool,
}

/// A trailer that could not be read in full. `content_id` is set when its URL was still
/// readable: the file then loads without a trailer, with a warning.
#[derive(Debug)]
pub struct BrokenTrailer {
    pub kind: TransformErrorKind,
    pub content_id: Option<String>,
    /// The warning's code when the file loads anyway.
    pub warning: &'static str,
}

/// Where the trailer is: the lines it spans (indices into the lines given to [`locate`]), its
/// tokens (the opening `-->` and the end marker left out), and what followed the end marker on
/// its last line.
#[derive(Debug)]
pub struct TrailerSpan<'a> {
    pub first: usize,
    pub last: usize,
    pub tokens: Vec<&'a str>,
    pub raw: String,
    pub terminated: bool,
    pub after_marker: Option<&'a str>,
    /// The URL among `tokens`: the one with `N N [PAPER]` before it, else the last one.
    url: Option<usize>,
    /// Whether `url` has that shape before it.
    shaped: bool,
}

impl<'a> TrailerSpan<'a> {
    fn new(
        (first, last): (usize, usize),
        tokens: Vec<&'a str>,
        raw: String,
        terminated: bool,
        after_marker: Option<&'a str>,
    ) -> Self {
        // Found once here: locating and parsing both need it, and the URL regex is the costly
        // part of either.
        let mut url = None;
        let mut shaped = false;
        for u in (0..tokens.len()).rev() {
            if is_url(tokens[u]) {
                if ids_before(&tokens, u).is_some() {
                    url = Some(u);
                    shaped = true;
                    break;
                }
                url = url.or(Some(u));
            }
        }
        TrailerSpan {
            first,
            last,
            tokens,
            raw,
            terminated,
            after_marker,
            url,
            shaped,
        }
    }
}

/// The indices of the lines that mention enpproperty, in order: one pass over `whole`, the
/// buffer the lines are slices of (each hit is mapped to its line by address).
fn marker_lines(lines: &[&str], whole: &str) -> Vec<usize> {
    let base = whole.as_ptr() as usize;
    let within = |l: &&str| {
        let at = l.as_ptr() as usize;
        at >= base && at + l.len() <= base + whole.len()
    };
    if !lines.iter().all(within) {
        // Lines from elsewhere (tools and tests): look at each one.
        return (0..lines.len())
            .filter(|&k| end_marker(lines[k]).is_some())
            .collect();
    }
    let bytes = whole.as_bytes();
    // Capitals are a rare variant of the end marker: only the tail, where a trailer is, is
    // searched for them.
    let tail = bytes.len().saturating_sub(UPPER_TAIL_BYTES);
    let mut hits: Vec<usize> = ENP
        .find_iter(bytes)
        .chain(ENP_UPPER.find_iter(&bytes[tail..]).map(|at| at + tail))
        .filter_map(|at| {
            let k = lines.partition_point(|l| l.as_ptr() as usize - base <= at);
            k.checked_sub(1)
        })
        .collect();
    hits.sort_unstable();
    hits.dedup();
    hits
}

const UPPER_TAIL_BYTES: usize = 2048;

/// The end marker on `line`: its byte range. Only the first.
fn end_marker(line: &str) -> Option<(usize, usize)> {
    // The marker as the sample has it, where nearly every trailer has it: no regex needed.
    if let Some(before) = line.strip_suffix(TRAILER_END) {
        if ENP.find(before.as_bytes()).is_none() {
            return Some((before.len(), line.len()));
        }
    }
    let bytes = line.as_bytes();
    if ENP.find(bytes).is_none() && ENP_UPPER.find(bytes).is_none() {
        return None;
    }
    END.find(line).map(|m| (m.start(), m.end()))
}

/// One token of the file's tail and the line it is on.
#[derive(Clone, Copy)]
struct Token<'a> {
    line: usize,
    text: &'a str,
}

fn tokens_of<'a>(lines: &[&'a str], from: usize, to: usize, out: &mut Vec<Token<'a>>) {
    for (k, line) in lines.iter().enumerate().take(to).skip(from) {
        out.extend(
            line.split(' ')
                .filter(|t| !t.is_empty())
                .map(|text| Token { line: k, text }),
        );
    }
}

/// Finds the trailer among `lines` (normalized, non-blank) by its grammar
/// `[-->] DATE [TIME] [SLOT…] N N PAPER URL N [N] HEADLINE… [ARTICLE-ID] [/enpproperty-->]`,
/// wherever its lines break and whether or not its end marker survived. A line that merely
/// mentions enpproperty is text. `Err` only for a trailer that cannot be read at all and names
/// no id (the line number is the index into `lines`). `whole` is the buffer the lines are
/// slices of: the end markers are looked for in it in one pass rather than line by line.
pub fn locate<'a>(
    lines: &[&'a str],
    whole: &str,
) -> Result<Option<TrailerSpan<'a>>, (TransformErrorKind, usize)> {
    let malformed = |why: &str, at: usize| (TransformErrorKind::MalformedTrailer(why.into()), at);
    // Lines that end a comment, last first. One that the grammar does not back is text.
    let mut found: Option<TrailerSpan<'a>> = None;
    for k in marker_lines(lines, whole).into_iter().rev() {
        let Some((start, end)) = end_marker(lines[k]) else {
            continue;
        };
        if ENP.find(&lines[k].as_bytes()[end..]).is_some() && end_marker(&lines[k][end..]).is_some()
        {
            return Err(malformed("/enpproperty--> appears twice on one line", k));
        }
        let span = span_ending_at(lines, k, start, end);
        let backed = span.shaped;
        if let Some(earlier) = found.as_ref() {
            if backed {
                return Err((
                    TransformErrorKind::MultipleTrailers {
                        first: k,
                        second: earlier.last,
                    },
                    k,
                ));
            }
            continue;
        }
        // The last marker ends the trailer even when its grammar is broken (parsing it says
        // why, and salvages the id when the URL is there), unless it is a line of the body
        // that quotes the marker.
        let trailer_like = backed
            || lines.len() - k <= 2
            || span.url.is_some()
            || looks_like_trailer_start(lines[span.first]);
        if trailer_like {
            found = Some(span);
        }
    }
    if found.is_some() {
        return Ok(found);
    }
    // No end marker: the grammar alone, on the file's tail, around the lines that hold a URL.
    let from = lines.len().saturating_sub(TAIL_LINES);
    for url_line in (from..lines.len()).rev() {
        if HTM.find(lines[url_line].as_bytes()).is_none() {
            continue;
        }
        let top = window_start(lines, url_line);
        let bottom = (url_line + SPLIT_HEAD_LINES).min(lines.len() - 1);
        let mut tokens = Vec::new();
        tokens_of(lines, top, bottom + 1, &mut tokens);
        let texts: Vec<&str> = tokens.iter().map(|t| t.text).collect();
        for u in (0..tokens.len()).rev() {
            if tokens[u].line != url_line || !is_url(texts[u]) {
                continue;
            }
            let Some(start) = grammar_start(&texts, u) else {
                continue;
            };
            // The URL alone on its line: a trailer split one token per line.
            let split = tokens.get(u + 1).is_none_or(|t| t.line != url_line)
                && (u == 0 || tokens[u - 1].line != url_line);
            let mut end = u + 1;
            if split {
                let mut k = url_line + 1;
                while k <= bottom {
                    let l = lines[k];
                    if is_url(l) || l.contains("http") || !chars_at_most(l, 40) {
                        break;
                    }
                    k += 1;
                }
                while end < tokens.len() && tokens[end].line < k {
                    end += 1;
                }
            } else {
                while end < tokens.len() && tokens[end].line == url_line {
                    end += 1;
                }
            }
            let first = tokens[start].line;
            let last = tokens[end - 1].line;
            let mut own: Vec<&str> = texts[start..end].to_vec();
            strip_start(&mut own);
            return Ok(Some(TrailerSpan::new(
                (first, last),
                own,
                lines[first..=last].join(" "),
                false,
                None,
            )));
        }
    }
    // A comment that opens at the end of the file but never gets as far as its URL: an export
    // cut short.
    if let Some(k) = (from..lines.len())
        .rev()
        .take(2)
        .find(|&k| looks_like_trailer_start(lines[k]))
    {
        return Err(malformed(
            "the trailer is cut short: no content URL and no /enpproperty-->",
            k,
        ));
    }
    Ok(None)
}

/// `-->` or `<!--enpproperty` opening a line: what only a trailer does.
fn looks_like_trailer_start(line: &str) -> bool {
    line.starts_with(TRAILER_START) || line.starts_with("<!--enpproperty")
}

/// The tokens of a trailer whose end marker is on line `k` at `start..end`: backwards from the
/// marker to the line that holds its date (or opens with `-->`), at most `SLOT_MAX_TOKENS` tokens
/// before the URL.
fn span_ending_at<'a>(lines: &[&'a str], k: usize, start: usize, end: usize) -> TrailerSpan<'a> {
    let lowest = window_start(lines, k);
    let before = lines[k][..start].trim_end();
    // Nearly every trailer is whole on its last line or the two last: the window grows only
    // until the grammar is complete (a URL with its date before it), up to `lowest`.
    let mut from = k;
    let (tokens, texts) = loop {
        let mut tokens = Vec::new();
        tokens_of(lines, from, k, &mut tokens);
        tokens.extend(
            before
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(|text| Token { line: k, text }),
        );
        let texts: Vec<&str> = tokens.iter().map(|t| t.text).collect();
        let complete = (0..texts.len())
            .rev()
            .find(|&i| is_url(texts[i]))
            .is_some_and(|u| grammar_start(&texts, u).is_some());
        if complete || from <= lowest {
            // The comment's opening `-->` alone on the line above belongs to it too.
            if from > lowest && lines[from - 1] == TRAILER_START {
                from -= 1;
                continue;
            }
            break (tokens, texts);
        }
        from = if k - from < 2 { from - 1 } else { lowest };
    };
    // Where the trailer starts: its date (found from the URL), else the nearest `-->`, else the
    // marker's own line.
    let url = (0..texts.len()).rev().find(|&i| is_url(texts[i]));
    let start_at = url
        .and_then(|u| grammar_start(&texts, u).or_else(|| loose_start(&texts, &tokens, u)))
        .or_else(|| {
            (0..texts.len())
                .rev()
                .take_while(|&i| tokens[i].line + 2 >= k)
                .find(|&i| texts[i].starts_with(TRAILER_START))
        })
        .unwrap_or_else(|| {
            tokens
                .iter()
                .position(|t| t.line == k)
                .unwrap_or(texts.len())
        });
    let first = tokens.get(start_at).map_or(k, |t| t.line);
    let mut own: Vec<&str> = texts[start_at.min(texts.len())..].to_vec();
    strip_start(&mut own);
    let after = lines[k][end..].trim();
    TrailerSpan::new(
        (first, k),
        own,
        lines[first..=k].join(" "),
        true,
        (!after.is_empty()).then_some(after),
    )
}

/// The first line that may still belong to a trailer whose URL or end is on line `k`: going up
/// while lines are short (a trailer broken over lines) or hold a URL. A paragraph stops it, so
/// only the few lines that matter are split into tokens.
fn window_start(lines: &[&str], k: usize) -> usize {
    let lowest = k.saturating_sub(TAIL_LINES);
    let mut i = k;
    while i > lowest {
        let l = lines[i - 1];
        // A sentence is text; so is a long line without a URL.
        if l.ends_with('。')
            || (!chars_at_most(l, WINDOW_LINE_MAX_CHARS) && HTM.find(l.as_bytes()).is_none())
        {
            break;
        }
        i -= 1;
    }
    i
}

/// A line longer than this, without a URL, is text: no part of a trailer.
const WINDOW_LINE_MAX_CHARS: usize = 100;

/// `htm`, in every URL form (`.html`, `.htm`, `.shtml`): the cheap test before the URL regex.
static HTM: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new("htm"));
static ENP: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new("enpproperty"));
static ENP_UPPER: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new("ENPPROPERTY"));

/// The opening `-->` left out, also when it is glued to the date.
fn strip_start(tokens: &mut Vec<&str>) {
    while let Some(first) = tokens.first_mut() {
        if *first == TRAILER_START || *first == "<!--" {
            tokens.remove(0);
        } else if let Some(rest) = first.strip_prefix(TRAILER_START) {
            *first = rest;
            break;
        } else {
            break;
        }
    }
}

/// The trailer's start for the URL at `u` when the tokens before it have the grammar's shape:
/// `[PAPER] N N` right before it and a date at most `SLOT_MAX_TOKENS` before those.
fn grammar_start(texts: &[&str], u: usize) -> Option<usize> {
    let ids_at = ids_before(texts, u)?;
    let lowest = ids_at.saturating_sub(SLOT_MAX_TOKENS);
    let date = (lowest..ids_at).rev().find(|&i| is_date_token(texts[i]))?;
    // A URL between the date and the ids means this URL follows another trailer (a list of
    // other articles after it), not that it is one.
    if texts[date..ids_at].iter().any(|t| is_url(t)) {
        return None;
    }
    // The `-->` alone before the date belongs to the trailer too.
    Some(if date > 0 && texts[date - 1] == TRAILER_START {
        date - 1
    } else {
        date
    })
}

/// Where a trailer without the full grammar starts: at a date or a `-->` on the URL's line or
/// the one before, else at the start of the URL's line.
fn loose_start(texts: &[&str], tokens: &[Token<'_>], u: usize) -> Option<usize> {
    let line = tokens[u].line;
    let near = |i: &usize| tokens[*i].line + 1 >= line;
    (0..=u)
        .rev()
        .take_while(near)
        .filter(|&i| is_date_token(texts[i]) || texts[i].starts_with(TRAILER_START))
        .last()
        .or_else(|| (0..=u).find(|&i| tokens[i].line == line))
}

/// The index of the first of the two small integers before the URL at `u` (`N N PAPER URL`,
/// `N N URL` when the paper field is empty, or a paper name of a few words: `人民日报 海外版`).
fn ids_before(texts: &[&str], u: usize) -> Option<usize> {
    ids_and_paper(texts, u).map(|(ids, _)| ids)
}

/// The site and node ids' index and how many tokens the paper's name takes.
fn ids_and_paper(texts: &[&str], u: usize) -> Option<(usize, usize)> {
    let small = |i: usize| texts[i].len() <= 4 && is_integer(texts[i]);
    [1, 0, 2, PAPER_MAX_TOKENS].into_iter().find_map(|words| {
        let ids = u.checked_sub(words + 2)?;
        let paper_ok = texts[u - words..u]
            .iter()
            .all(|t| !is_integer(t) && !is_url(t));
        (paper_ok && small(ids) && small(ids + 1)).then_some((ids, words))
    })
}

/// The content id of a URL token: the digits (`2_77` for `content_2_77.htm`). Read from the
/// match without captures, which would cost a slower regex engine.
fn url_id(url: &str) -> Option<&str> {
    let m = URL.find(url)?;
    let name = url[m.start()..].trim_start_matches('/');
    let rest = ["content_", "con", "c_", "c"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let end = rest.find('.')?;
    Some(&rest[..end])
}

/// A URL token: the regex behind a byte search for `htm`, which every form holds.
fn is_url(token: &str) -> bool {
    HTM.find(token.as_bytes()).is_some() && URL.is_match(token)
}

/// A paper's name of more words than this is not a paper's name.
const PAPER_MAX_TOKENS: usize = 3;

fn is_date_token(t: &str) -> bool {
    date_parts(t.strip_prefix(TRAILER_START).unwrap_or(t)).is_some()
}

/// `2024-01-02` (some CMSs write `2024/01/02` or `2024.01.02`): year, month and day as
/// written, not yet checked as a calendar date. Read by hand: it is asked of every token
/// between a trailer's ids and its date.
fn date_parts(token: &str) -> Option<(i32, u32, u32)> {
    let b = token.as_bytes();
    if !(8..=10).contains(&b.len()) || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sep = *b.get(4)?;
    if !matches!(sep, b'-' | b'/' | b'.') {
        return None;
    }
    let mut parts = token[5..].split(sep as char);
    let mut field = || {
        parts
            .next()
            .filter(|p| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse::<u32>().ok())
    };
    let (month, day) = (field()?, field()?);
    if parts.next().is_some() {
        return None;
    }
    Some((token[..4].parse().ok()?, month, day))
}

/// Parses a one-line trailer, end marker included: for tools and tests. `in_header` tells
/// whether a candidate headline is one of the header's lines, to settle ambiguous tokens.
pub fn parse(
    raw: &str,
    in_header: &dyn Fn(&str) -> bool,
) -> Result<ParsedTrailer, TransformErrorKind> {
    let lines = [raw];
    let (start, end) = end_marker(raw).ok_or_else(|| {
        TransformErrorKind::MalformedTrailer("it does not end in /enpproperty-->".into())
    })?;
    let span = span_ending_at(&lines, 0, start, end);
    parse_span(&span, in_header).map_err(|b| b.kind)
}

/// Parses the trailer a [`locate`] found.
pub fn parse_span(
    span: &TrailerSpan<'_>,
    in_header: &dyn Fn(&str) -> bool,
) -> Result<ParsedTrailer, BrokenTrailer> {
    let malformed = |why: &str| TransformErrorKind::MalformedTrailer(why.to_owned());
    let broken = |kind, content_id: Option<&str>| BrokenTrailer {
        kind,
        content_id: content_id.map(str::to_owned),
        warning: "malformed_trailer",
    };
    let mut tokens: &[&str] = &span.tokens;
    // A marker cut short (`/enpprop`) is dropped from the headline.
    let mut unterminated = !span.terminated;
    if !span.terminated {
        if let Some((last, rest)) = tokens.split_last() {
            if last.len() >= 2 && last.starts_with('/') && TRAILER_END.starts_with(last) {
                tokens = rest;
            }
        }
    }
    let Some(url_at) = span.url.filter(|&u| u < tokens.len()) else {
        return Err(broken(malformed("no content_<id>.html URL"), None));
    };
    let url = tokens[url_at];
    let content_id = url_id(url).map(str::to_owned);
    let Some(content_id) = content_id else {
        return Err(broken(malformed("no content id in the URL"), None));
    };
    let id = Some(content_id.as_str());

    let Some(date_token) = tokens.first().filter(|t| date_parts(t).is_some()) else {
        let first = tokens.first().copied().unwrap_or("");
        return Err(broken(
            malformed(&format!("it does not start with a date: {first:?}")),
            id,
        ));
    };
    let date = parse_date(date_token).map_err(|kind| BrokenTrailer {
        warning: "invalid_date",
        ..broken(kind, id)
    })?;
    let mut pos = 1;
    let time = match tokens.get(pos) {
        Some(t) if TIME.is_match(t) => {
            pos += 1;
            Some((*t).to_owned())
        }
        _ => None,
    };
    if url_at < pos {
        return Err(broken(malformed("the URL comes before the date"), id));
    }

    // Before the URL: [SLOT…] N N PAPER, where an empty paper leaves the numbers next to the URL.
    let mut cursor = url_at;
    let paper_words = match ids_and_paper(tokens, url_at) {
        Some((ids, words)) if ids >= pos => words,
        _ => usize::from(cursor > pos && !is_integer(tokens[cursor - 1])),
    };
    let paper = (paper_words > 0).then(|| tokens[cursor - paper_words..cursor].join(" "));
    cursor -= paper_words;
    let mut numbers_before_paper = Vec::with_capacity(2);
    while numbers_before_paper.len() < 2 && cursor > pos && is_integer(tokens[cursor - 1]) {
        cursor -= 1;
        numbers_before_paper.insert(0, int(tokens[cursor]));
    }
    let slot = (cursor > pos).then(|| tokens[pos..cursor].join(" "));

    // After the URL: N [N] HEADLINE… [ARTICLE-ID].
    let after = &tokens[url_at + 1..];
    let mut numbers_after_url = Vec::with_capacity(2);
    let mut head_at = 0;
    if after.first().is_some_and(|t| is_integer(t)) {
        numbers_after_url.push(int(after[0]));
        head_at = 1;
        if after.len() > 2 && is_integer(after[1]) {
            // Either a second number or a headline that starts with a number.
            let as_headline = clean_headline(&after[1..]);
            let without = clean_headline(&after[2..]);
            if !in_header(&as_headline) || in_header(&without) {
                numbers_after_url.push(int(after[1]));
                head_at = 2;
            }
        } else if after.len() == 2 && is_integer(after[1]) {
            numbers_after_url.push(int(after[1]));
            head_at = 2;
        }
    }
    let mut headline_tokens = &after[head_at..];
    let mut article_id = None;
    if let Some((last, rest)) = headline_tokens.split_last() {
        let repeated_id = !rest.is_empty()
            && (THOUSANDS.is_match(last)
                || (is_integer(last)
                    && in_header(&clean_headline(rest))
                    && !in_header(&clean_headline(headline_tokens))));
        if repeated_id {
            article_id = Some(last.replace(',', ""));
            headline_tokens = rest;
        }
    }
    let headline = clean_headline(headline_tokens);
    if headline.is_empty() && !span.terminated {
        // Without its marker and without a headline the grammar stops at the URL: nothing
        // tells whether the line was cut there, so it is flagged like a missing marker.
        unterminated = true;
    }

    Ok(ParsedTrailer {
        trailer: Trailer {
            raw: span.raw.clone(),
            date,
            time,
            slot,
            slot_parts: Vec::new(),
            numbers_before_paper,
            paper,
            url: url.to_owned(),
            numbers_after_url,
            headline,
            article_id,
        },
        content_id,
        unterminated,
    })
}

fn parse_date(token: &str) -> Result<String, TransformErrorKind> {
    let (year, month, day) = date_parts(token).ok_or_else(|| {
        TransformErrorKind::MalformedTrailer(format!("it does not start with a date: {token:?}"))
    })?;
    NaiveDate::from_ymd_opt(year, month, day)
        .map(iso_date)
        .ok_or_else(|| TransformErrorKind::MalformedTrailer(format!("invalid date {token:?}")))
}

fn int(token: &str) -> i64 {
    // `is_integer` was checked; a value too large for i64 is kept as the largest one.
    token.parse().unwrap_or(i64::MAX)
}

/// Joins headline tokens, strips HTML tags and the few entities CMSs leave, collapses spaces.
pub fn clean_headline(tokens: &[&str]) -> String {
    let joined = tokens.join(" ");
    if !joined.contains(['<', '&']) {
        return joined;
    }
    let stripped = TAG.replace_all(&joined, " ");
    let decoded = stripped
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_alone(raw: &str) -> ParsedTrailer {
        parse(raw, &|_| false).unwrap()
    }

    #[test]
    fn the_sample_shape() {
        let p = parse_alone("--> 2024-01-02 □ 韦素莹 兴宾区: 1 1 来宾日报 content_156059.html 1 “四下基层”出实招 主题教育见实效 /enpproperty-->");
        let t = &p.trailer;
        assert_eq!(p.content_id, "156059");
        assert_eq!(t.date, "2024-01-02");
        assert_eq!(t.slot.as_deref(), Some("□ 韦素莹 兴宾区:"));
        assert_eq!(t.numbers_before_paper, vec![1, 1]);
        assert_eq!(t.paper.as_deref(), Some("来宾日报"));
        assert_eq!(t.numbers_after_url, vec![1]);
        assert_eq!(t.headline, "“四下基层”出实招 主题教育见实效");
        assert_eq!(t.article_id, None);
    }

    #[test]
    fn time_short_url_two_numbers_tags_and_article_id() {
        let p = parse_alone(
            "2023-12-13 09:28:27.0 11 11 某某晚报 c8812.htm 2 4 <p> 图片新闻 </p> 54,180 /enpproperty-->",
        );
        let t = &p.trailer;
        assert_eq!(p.content_id, "8812");
        assert_eq!(t.time.as_deref(), Some("09:28:27.0"));
        assert_eq!(t.slot, None);
        assert_eq!(t.numbers_before_paper, vec![11, 11]);
        assert_eq!(t.numbers_after_url, vec![2, 4]);
        assert_eq!(t.headline, "图片新闻");
        assert_eq!(t.article_id.as_deref(), Some("54180"));
    }

    #[test]
    fn headline_starting_with_a_number_is_settled_by_the_header() {
        let raw = "2024-03-01 2 2 某报 content_9.html 1 10 万人参加 /enpproperty-->";
        let p = parse(raw, &|h| h == "10 万人参加").unwrap();
        assert_eq!(p.trailer.numbers_after_url, vec![1]);
        assert_eq!(p.trailer.headline, "10 万人参加");
        let p = parse_alone(raw);
        assert_eq!(p.trailer.numbers_after_url, vec![1, 10]);
    }

    #[test]
    fn errors() {
        let e = parse(
            "2024-02-30 1 1 报 content_1.html 1 标题 /enpproperty-->",
            &|_| false,
        )
        .unwrap_err();
        assert_eq!(e.code(), "malformed_trailer");
        assert!(e.to_string().contains("invalid date"), "{e}");
        let e = parse("2024-02-03 1 1 报 标题 /enpproperty-->", &|_| false).unwrap_err();
        assert_eq!(e.code(), "malformed_trailer");
        let e = parse("标题 content_1.html /enpproperty-->", &|_| false).unwrap_err();
        assert_eq!(e.code(), "malformed_trailer");
    }

    /// Locates and parses the trailer of `text` (lines split on `\n`).
    fn found(text: &str) -> (TrailerSpan<'_>, ParsedTrailer) {
        let lines: Vec<&str> = text.lines().collect();
        let span = locate(&lines, text).unwrap().expect("a trailer");
        let parsed = parse_span(&span, &|_| false).unwrap();
        (span, parsed)
    }

    #[test]
    fn end_markers_with_spaces_or_none() {
        for text in [
            "正文。\n2024-05-02 1 1 某报 content_77.html 1 标题 /enpproperty -->",
            "正文。\n2024-05-02 1 1 某报 content_77.html 1 标题 / enpproperty-->",
            "正文。\n2024-05-02 1 1 某报 content_77.html 1 标题 enpproperty-->",
            "正文。\n2024-05-02 1 1 某报 content_77.html 1 标题",
            "正文。\n--> 2024-05-02 1 1 某报 content_77.html 1 标题 /enpprop",
        ] {
            let (span, p) = found(text);
            assert_eq!((span.first, span.last), (1, 1), "{text}");
            assert_eq!(p.content_id, "77", "{text}");
            assert_eq!(p.trailer.headline, "标题", "{text}");
            assert_eq!(p.trailer.date, "2024-05-02", "{text}");
        }
    }

    #[test]
    fn split_one_token_per_line() {
        let text =
            "正文。\n-->\n2024-05-02\n张三\n1\n1\n某报\ncontent_77.html\n1\n标题\n/enpproperty-->";
        let (span, p) = found(text);
        assert_eq!((span.first, span.last), (1, 10));
        assert_eq!(p.trailer.slot.as_deref(), Some("张三"));
        assert_eq!(p.trailer.headline, "标题");
        assert!(!p.unterminated);
        // Without the marker too.
        let (span, p) = found(text.trim_end_matches("\n/enpproperty-->"));
        assert_eq!((span.first, span.last), (1, 9));
        assert_eq!(p.trailer.headline, "标题");
        assert!(p.unterminated);
    }

    #[test]
    fn followed_by_a_list_of_other_articles() {
        let text = "正文。\n2024-05-02 1 1 某报 content_77.html 1 3 标题\ncontent_78.html 另一篇\nhttp://x.cn/content_79.htm";
        let (span, p) = found(text);
        assert_eq!((span.first, span.last), (1, 1));
        assert_eq!(p.content_id, "77");
        assert_eq!(p.trailer.numbers_after_url, vec![1, 3]);
    }

    #[test]
    fn dates() {
        assert_eq!(date_parts("2024-01-02"), Some((2024, 1, 2)));
        assert_eq!(date_parts("2024/1/2"), Some((2024, 1, 2)));
        assert_eq!(date_parts("2024.12.31"), Some((2024, 12, 31)));
        for t in [
            "2024-1x-02",
            "2024-01",
            "2024-01-02-03",
            "24-01-02",
            "2024-001-02",
            "2024_01_02",
        ] {
            assert_eq!(date_parts(t), None, "{t}");
        }
        // A calendar check is parse_date's: `2024-02-30` has the shape of a date.
        assert_eq!(date_parts("2024-02-30"), Some((2024, 2, 30)));
        assert!(parse_date("2024-02-30").is_err());
    }

    #[test]
    fn url_forms() {
        for (url, id) in [
            ("content_77.htm", "77"),
            ("c77.html", "77"),
            ("c_77.html", "77"),
            ("con77.htm", "77"),
            ("content_2_77.htm", "2_77"),
            ("html/2024-05/02/content_77.html", "77"),
            ("content_77.shtml", "77"),
        ] {
            let text = format!("正文。\n2024-05-02 1 1 某报 {url} 1 标题 /enpproperty-->");
            assert_eq!(found(&text).1.content_id, id, "{url}");
        }
    }

    #[test]
    fn a_body_line_that_mentions_enpproperty_is_text() {
        let lines = ["标题", "旧系统的 enpproperty 注释里存着作者。", "正文。"];
        assert!(locate(&lines, "").unwrap().is_none());
        let lines = [
            "标题",
            "它以 /enpproperty--> 结尾,这是一句正文里的话,不是尾部。",
            "正文。",
            "又一段正文。",
            "再一段。",
        ];
        assert!(locate(&lines, "").unwrap().is_none());
    }
}
