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
use super::text::{compact, is_integer, iso_date};
use crate::document::Trailer;

pub const TRAILER_END: &str = "/enpproperty-->";
const TRAILER_START: &str = "-->";

static DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{4})-(\d{1,2})-(\d{1,2})$").expect("static regex"));
static TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$").expect("static regex"));
static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|/)(?:content_|c)(\d+)\.html?$").expect("static regex"));
static THOUSANDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{1,3}(?:,\d{3})+$").expect("static regex"));
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^<>]*>").expect("static regex"));

/// A trailer's parsed fields plus the content id its URL carries.
#[derive(Debug)]
pub struct ParsedTrailer {
    pub trailer: Trailer,
    pub content_id: String,
}

/// Is this (normalized) line a trailer's last line?
pub fn is_trailer_line(line: &str) -> bool {
    line.ends_with(TRAILER_END)
}

/// Is this line the first half of a two-line trailer (the date, and maybe a time, alone)?
pub fn is_trailer_date_line(line: &str) -> bool {
    let rest = line.strip_prefix(TRAILER_START).unwrap_or(line).trim();
    let mut tokens = rest.split(' ');
    let date_ok = tokens.next().is_some_and(|t| DATE.is_match(t));
    let rest_ok = match (tokens.next(), tokens.next()) {
        (None, _) => true,
        (Some(t), None) => TIME.is_match(t),
        _ => false,
    };
    date_ok && rest_ok
}

/// Parses a whole trailer (already joined when it spans two lines). `in_header` tells whether
/// a candidate headline is one of the header's lines, to settle ambiguous tokens.
pub fn parse(
    raw: &str,
    in_header: &dyn Fn(&str) -> bool,
) -> Result<ParsedTrailer, TransformErrorKind> {
    let malformed = |why: &str| TransformErrorKind::MalformedTrailer(why.to_owned());
    let body = raw
        .strip_suffix(TRAILER_END)
        .ok_or_else(|| malformed("it does not end in /enpproperty-->"))?;
    if body.contains(TRAILER_END) {
        return Err(malformed("/enpproperty--> appears twice"));
    }
    let body = body.trim();
    let body = body.strip_prefix(TRAILER_START).unwrap_or(body).trim();
    let tokens: Vec<&str> = body.split(' ').filter(|t| !t.is_empty()).collect();

    let date_token = tokens.first().ok_or_else(|| malformed("it is empty"))?;
    let date = parse_date(date_token)?;
    let mut pos = 1;
    let time = match tokens.get(pos) {
        Some(t) if TIME.is_match(t) => {
            pos += 1;
            Some((*t).to_owned())
        }
        _ => None,
    };

    let url_at = find_url(&tokens, pos).ok_or_else(|| malformed("no content_<id>.html URL"))?;
    let url = tokens[url_at];
    let content_id = URL
        .captures(url)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
        .ok_or_else(|| malformed("no content id in the URL"))?
        .to_owned();

    // Before the URL: [SLOT…] N N PAPER, where an empty paper leaves the numbers next to the URL.
    let mut cursor = url_at;
    let paper = match cursor.checked_sub(1).map(|i| tokens[i]) {
        Some(t) if cursor > pos && !is_integer(t) => {
            cursor -= 1;
            Some(t.to_owned())
        }
        _ => None,
    };
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

    Ok(ParsedTrailer {
        trailer: Trailer {
            raw: raw.to_owned(),
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
    })
}

/// The URL token: the first one that has the `N N PAPER` (or `N N`) shape before it; failing
/// that, the first URL-looking token at all.
fn find_url(tokens: &[&str], from: usize) -> Option<usize> {
    let candidates: Vec<usize> = (from..tokens.len())
        .filter(|&i| URL.is_match(tokens[i]))
        .collect();
    let shaped = |&&i: &&usize| {
        let before = |k: usize| i.checked_sub(k).filter(|&j| j >= from).map(|j| tokens[j]);
        let int_at = |k| before(k).is_some_and(is_integer);
        (int_at(2) && int_at(3)) || (int_at(1) && int_at(2))
    };
    candidates
        .iter()
        .find(shaped)
        .or_else(|| candidates.first())
        .copied()
}

fn parse_date(token: &str) -> Result<String, TransformErrorKind> {
    let caps = DATE.captures(token).ok_or_else(|| {
        TransformErrorKind::MalformedTrailer(format!("it does not start with a date: {token:?}"))
    })?;
    let num = |i: usize| caps[i].parse::<u32>().unwrap_or(0);
    let year = caps[1].parse::<i32>().unwrap_or(0);
    NaiveDate::from_ymd_opt(year, num(2), num(3))
        .map(iso_date)
        .ok_or_else(|| TransformErrorKind::InvalidDate(token.to_owned()))
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

/// Does `a` name the same headline as `b`, spaces aside?
pub fn same_text(a: &str, b: &str) -> bool {
    compact(a) == compact(b)
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
        assert_eq!(e.code(), "invalid_date");
        let e = parse("2024-02-03 1 1 报 标题 /enpproperty-->", &|_| false).unwrap_err();
        assert_eq!(e.code(), "malformed_trailer");
        let e = parse("标题 content_1.html /enpproperty-->", &|_| false).unwrap_err();
        assert_eq!(e.code(), "malformed_trailer");
    }

    #[test]
    fn date_lines() {
        assert!(is_trailer_date_line("--> 2024-01-02"));
        assert!(is_trailer_date_line("2024-01-02 09:28:27.0"));
        assert!(!is_trailer_date_line("2024-01-02 标题"));
    }
}
