//! Small predicates on normalized lines, shared by the header, body and trailer parsers.

use std::borrow::Cow;

/// Headings are at most this many characters (docs/format.md §2.3).
pub const HEADING_MAX_CHARS: usize = 24;

/// A header line (kicker, headline, subtitle) longer than this is a paragraph.
pub const HEADER_LINE_MAX_CHARS: usize = 64;

/// The line without spaces: how lines from the header and the trailer are compared, since the
/// CMS and the page lay out spaces differently.
pub fn compact(s: &str) -> Cow<'_, str> {
    if s.contains(' ') {
        Cow::Owned(s.replace(' ', ""))
    } else {
        Cow::Borrowed(s)
    }
}

pub fn is_integer(token: &str) -> bool {
    !token.is_empty() && token.len() <= 18 && token.bytes().all(|b| b.is_ascii_digit())
}

/// `2024-01-02`: what `format("%Y-%m-%d")` gives for the four-digit years dates here have,
/// without parsing a format string for every date.
pub fn iso_date(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Character count, stopping early once past `limit` (lines can be long; most checks only need
/// to know whether a line is short).
pub fn chars_at_most(s: &str, limit: usize) -> bool {
    // Every char is at least one byte, and at most four.
    if s.len() <= limit {
        return true;
    }
    if s.len() > limit * 4 {
        return false;
    }
    // Characters are the bytes that do not continue one (`10xxxxxx`): one pass the compiler
    // vectorizes, where walking `chars()` decodes each one.
    let continuations: u32 = s.bytes().map(|b| u32::from((b as i8) < -64)).sum();
    s.len() - continuations as usize <= limit
}

/// Does the line end in sentence punctuation, possibly followed by closing quotes or brackets?
/// (`。 ! ? ; : …` after NFKC, where `…` became `...`.)
pub fn ends_sentence(s: &str) -> bool {
    let trimmed = s.trim_end_matches([
        '”', '’', '"', '\'', ')', ']', '}', '」', '』', '》', '】', '〉',
    ]);
    trimmed.ends_with(['。', '!', '?', ';', ':', '.', '…'])
}

/// A CJK ideograph (the basic block and extension A), or the middle dot used in transliterated names.
pub fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// A token that can be (part of) a personal name: Han characters, possibly with a middle dot.
pub fn is_name_token(t: &str) -> bool {
    let n = t.chars().count();
    (1..=10).contains(&n)
        && t.chars().all(|c| is_han(c) || c == '·' || c == '•')
        && t.chars().next().is_some_and(is_han)
}

/// Pinyin in parentheses after a character, as left by some traditional-character converters
/// (`報(bào)`, `區(qū)`): one syllable with a tone mark, in ASCII or full-width parentheses.
static PINYIN_RESIDUE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(\p{Han})[(（][a-zü]{0,5}[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü]{0,5}[)）]")
        .expect("static regex")
});

/// Whether a normalized text has a `(` followed by a tone-marked letter (`(bào`, `(qū`): the
/// cheap test before [`strip_pinyin_residue`].
pub fn may_hold_pinyin_residue(normalized: &str) -> bool {
    let bytes = normalized.as_bytes();
    memchr::memchr_iter(b'(', bytes).any(|at| {
        bytes[at + 1..]
            .iter()
            .take(7)
            .take_while(|&&b| b != b')')
            .any(|&b| (0xC3..=0xC7).contains(&b))
    })
}

/// The text without converter residue, and how many were removed. Tone-marked letters are
/// two-byte UTF-8 (lead bytes `C3`–`C7`), which Chinese text otherwise never holds: one byte
/// scan keeps the regex off nearly every file.
pub fn strip_pinyin_residue(text: &str) -> (Cow<'_, str>, usize) {
    let bytes = text.as_bytes();
    if memchr::memchr3(0xC3, 0xC4, 0xC5, bytes).is_none() && memchr::memchr(0xC7, bytes).is_none() {
        return (Cow::Borrowed(text), 0);
    }
    let count = PINYIN_RESIDUE.find_iter(text).count();
    if count == 0 {
        return (Cow::Borrowed(text), 0);
    }
    (PINYIN_RESIDUE.replace_all(text, "$1"), count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_residue() {
        let (t, n) = strip_pinyin_residue("周口晚報(bào) 補(bǔ)種忙(創(chuàng)建)");
        assert_eq!(t, "周口晚報 補種忙(創建)");
        assert_eq!(n, 3);
        // Parentheses that hold words, or letters without a tone mark, stay.
        let plain = "新华社(Xinhua) 图(a) 北京(běijīng dàxué)";
        assert_eq!(strip_pinyin_residue(plain).0, plain);
        assert_eq!(strip_pinyin_residue("没有拼音的文字").1, 0);
        assert!(may_hold_pinyin_residue("周口晚報(bào)"));
        assert!(may_hold_pinyin_residue("區(qū)"));
        assert!(!may_hold_pinyin_residue("新华社(Xinhua) 图(a)"));
    }

    #[test]
    fn sentence_ends() {
        assert!(ends_sentence("……“方向正”。"));
        assert!(ends_sentence("兴宾区:"));
        assert!(ends_sentence("真的吗?”"));
        assert!(ends_sentence("等等......"));
        assert!(!ends_sentence("当好政策“宣传员”"));
        assert!(!ends_sentence("一线解题“暖民心”"));
    }

    #[test]
    fn short_lines() {
        assert!(chars_at_most("当好政策“宣传员”", 24));
        assert!(!chars_at_most(&"字".repeat(25), 24));
        assert!(chars_at_most(&"字".repeat(24), 24));
        assert!(!chars_at_most("abcdefghij", 9));
        assert!(chars_at_most("é字a", 3));
        assert!(!chars_at_most("é字ab", 3));
        let d = chrono::NaiveDate::from_ymd_opt(987, 3, 4).unwrap();
        assert_eq!(iso_date(d), d.format("%Y-%m-%d").to_string());
        let d = chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
        assert_eq!(iso_date(d), "2024-12-31");
    }
}
