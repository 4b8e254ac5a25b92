//! Text normalization (FORMAT.md §3.2–3.4): line endings, NFKC, spaces, trimming.
//!
//! Most lines of real exports are already normal (CJK ideographs, ASCII, a handful of Chinese
//! punctuation marks that NFKC leaves alone), so each line is first checked by a byte scan and
//! copied as it is; only lines that fail the scan go through NFKC. That keeps normalization
//! from dominating the transform.

use unicode_normalization::UnicodeNormalization;

/// A non-blank normalized line and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number in the input.
    pub no: usize,
    pub text: &'a str,
}

/// The normalized text of a file: every non-blank line, in order.
#[derive(Debug, Default)]
pub struct Normalized {
    buf: String,
    spans: Vec<(usize, usize, usize)>,
}

impl Normalized {
    pub fn lines(&self) -> impl DoubleEndedIterator<Item = Line<'_>> + ExactSizeIterator + '_ {
        self.spans.iter().map(move |&(no, start, end)| Line {
            no,
            text: &self.buf[start..end],
        })
    }

    pub fn line(&self, index: usize) -> Line<'_> {
        let (no, start, end) = self.spans[index];
        Line {
            no,
            text: &self.buf[start..end],
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Normalizes a whole decoded text, line by line (`\r\n`, `\r` and `\n` all end a line).
pub fn normalize(text: &str) -> Normalized {
    let mut out = Normalized {
        buf: String::with_capacity(text.len()),
        spans: Vec::with_capacity(text.len() / 64 + 8),
    };
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut no = 1;
    while start <= bytes.len() {
        let end = memchr::memchr2(b'\n', b'\r', &bytes[start..])
            .map(|i| start + i)
            .unwrap_or(bytes.len());
        push_line(&mut out, &text[start..end], no);
        no += 1;
        if end >= bytes.len() {
            break;
        }
        start = if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
    }
    out
}

/// Normalizes one line on its own (no line breaks expected): for trailer fields, settings, tests.
pub fn normalize_line(line: &str) -> String {
    if is_clean(line.as_bytes()) {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    slow_normalize_into(line, &mut out);
    out
}

fn push_line(out: &mut Normalized, line: &str, no: usize) {
    let start = out.buf.len();
    if is_clean(line.as_bytes()) {
        out.buf.push_str(line);
    } else {
        slow_normalize_into(line, &mut out.buf);
    }
    let end = out.buf.len();
    if end > start {
        out.spans.push((no, start, end));
    }
}

/// NFKC, then: whitespace (U+3000, NBSP, tabs… which NFKC mostly turns into U+0020) becomes
/// one space, invisible characters vanish, and the line is trimmed.
fn slow_normalize_into(line: &str, out: &mut String) {
    let start = out.len();
    let mut pending_space = false;
    // Invisible and control characters go before NFKC, not after: removed afterwards, they
    // would leave a base character and a combining mark side by side, uncombined, and a
    // second normalization would combine them (`か\u{200B}\u{3099}` must become `が`).
    let visible = line
        .chars()
        .filter(|&c| !is_invisible(c) && (c.is_whitespace() || !c.is_control()));
    for c in visible.nfkc() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && out.len() > start {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
}

/// Zero-width and other characters that print as nothing.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
    )
}

/// True when the line is certainly unchanged by normalization: no leading, trailing or doubled
/// space, and only characters known to be NFKC-stable starters: printable ASCII, CJK
/// ideographs (U+4000–U+9FFF, lead bytes E4–E9), and the common Chinese punctuation marks.
fn is_clean(b: &[u8]) -> bool {
    if b.first() == Some(&b' ') || b.last() == Some(&b' ') {
        return false;
    }
    let mut i = 0;
    let mut prev_space = false;
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            if c == b' ' {
                if prev_space {
                    return false;
                }
                prev_space = true;
            } else if !(0x21..0x7f).contains(&c) {
                return false;
            } else {
                prev_space = false;
            }
            i += 1;
            continue;
        }
        prev_space = false;
        match c {
            0xE4..=0xE9 => {
                // Input is valid UTF-8, so a lead byte is followed by its continuation bytes.
                i += 3;
            }
            0xE2 if i + 2 < b.len() && b[i + 1] == 0x80 => {
                // U+2014 —, U+2018 ‘, U+2019 ’, U+201C “, U+201D ”
                if !matches!(b[i + 2], 0x94 | 0x98 | 0x99 | 0x9C | 0x9D) {
                    return false;
                }
                i += 3;
            }
            // U+25A0–U+25FF, geometric shapes (the byline markers □ ■ ◎ ●): none decomposes.
            0xE2 if i + 2 < b.len()
                && (b[i + 1] == 0x97 || (b[i + 1] == 0x96 && b[i + 2] >= 0xA0)) =>
            {
                i += 3;
            }
            0xE3 if i + 2 < b.len() && b[i + 1] == 0x80 => {
                // U+3001 、 U+3002 。 U+3008–U+3011 〈〉《》「」『』【】
                if !matches!(b[i + 2], 0x81 | 0x82 | 0x88..=0x91) {
                    return false;
                }
                i += 3;
            }
            0xC2 if b.get(i + 1) == Some(&0xB7) => {
                // U+00B7 ·
                i += 2;
            }
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(usize, String)> {
        normalize(text)
            .lines()
            .map(|l| (l.no, l.text.to_owned()))
            .collect()
    }

    #[test]
    fn line_endings_and_blank_lines() {
        assert_eq!(
            lines("a\r\n\r\nb\rc\n\n"),
            vec![(1, "a".into()), (3, "b".into()), (4, "c".into())]
        );
    }

    #[test]
    fn full_width_forms_and_spaces() {
        assert_eq!(
            lines("\u{3000}\u{3000}兴宾区：大力（推进），好\u{00A0}\u{00A0}的\u{200B}"),
            vec![(1, "兴宾区:大力(推进),好 的".into())]
        );
    }

    #[test]
    fn clean_lines_are_copied_and_stay_stable() {
        for s in [
            "“四下基层”出实招 主题教育见实效",
            "2024年01月02日",
            "党的声音“聚民力”、《报》。",
            "—— 副题",
            "□ 韦素莹 ■ ◎ ●",
        ] {
            assert!(is_clean(s.as_bytes()), "{s}");
            assert_eq!(normalize_line(s), s.nfkc().collect::<String>());
        }
        for s in ["a  b", " a", "a ", "，", "…", "\u{3000}x", "x\u{200B}"] {
            assert!(!is_clean(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn invisible_characters_do_not_keep_marks_apart() {
        let once = normalize_line("か\u{200B}\u{3099}");
        assert_eq!(once, "が");
        assert_eq!(normalize_line(&once), once);
        assert_eq!(normalize_line("e\u{0007}\u{301}"), "é");
    }

    #[test]
    fn ellipsis_becomes_three_dots() {
        assert_eq!(normalize_line("等等……"), "等等......");
    }
}
