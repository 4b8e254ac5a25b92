//! Page furniture (lines of the web page that are not the article) and body artefacts (lines
//! that belong to the page of the article but not to its text): FORMAT.md §2, "Body" and
//! "What else real pages carry".

use std::sync::LazyLock;

use regex::Regex;

use super::text::chars_at_most;
use crate::document::{Artefact, Page};

/// Furniture lines are short; anything longer is text, which saves the checks on paragraphs.
const FURNITURE_MAX_CHARS: usize = 80;

const NAVIGATION: &[&str] = &[
    "上一篇",
    "下一篇",
    "上一版",
    "下一版",
    "放大",
    "缩小",
    "默认",
    "返回",
    "返回目录",
    "返回首页",
    "打印",
    "关闭",
    "版面导航",
    "标题导航",
    "分享到",
    "分享",
    "PDF",
    "PDF版",
    "收藏",
    "字号",
    "大",
    "中",
    "小",
    "|",
    "/",
];

/// The longest word of `NAVIGATION`, in bytes.
const NAVIGATION_MAX_BYTES: usize = 12;

static REGISTRATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"国内统一刊号|国际标准连续出版物号|CN\s?\d{2}-\d{4}").expect("static regex")
});
static SOURCE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^《\s*[^》]{1,30}》\s*\(.*第\s*\S+\s*版\s*\)$").expect("static regex")
});
static JUMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\((?:下转|上接|转|接)\s*(?:第\s*)?[A-Za-z]{0,2}\s*\d{1,3}\s*版\s*\)$")
        .expect("static regex")
});
static COUNTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:阅读数|阅读量|阅读次数|浏览量|浏览次数|点击数|点击量|访问量|本文字数)\s*:?\s*\d+$",
    )
    .expect("static regex")
});
static PAGE_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^第\s*([A-Za-z]{0,2}\s*\d{1,3}[A-Za-z]?)\s*版\s*:?\s*(.*?)\s*(?:PDF版?)?$")
        .expect("static regex")
});
static WORD_COUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^本文字数\s*:?\s*\d+$").expect("static regex"));
static EDITOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\(?(?:责任编辑|责编|值班编辑|编辑|校对|审核|审校|美编|终审|二审|一审|签发)\s*:")
        .expect("static regex")
});
static CAPTION_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:▶|◀|▲|△|▼|图\s*[①-⑳\d]|图为|[上下左右中]图\s*[::]|图\s*[::])")
        .expect("static regex")
});

/// A line that opens like a picture caption: `▶ …`, `图为…`, `图① …`, `上图:…`.
pub fn is_caption_start(line: &str) -> bool {
    line.starts_with(['▶', '◀', '▲', '△', '▼', '图', '上', '下', '左', '右', '中'])
        && CAPTION_START.is_match(line)
}

/// `第A03版:要闻` → `A03`, `要闻`; `第A02版:` has no section; a trailing `PDF版` is dropped.
pub fn page_label(line: &str) -> Option<Page> {
    if !line.starts_with('第') || !chars_at_most(line, 40) {
        return None;
    }
    let caps = PAGE_LABEL.captures(line)?;
    let label: String = caps[1].chars().filter(|&c| c != ' ').collect();
    let section = caps[2].trim();
    Some(Page {
        label,
        section: (!section.is_empty()).then(|| section.to_owned()),
    })
}

/// Is this whole line page furniture?
pub fn is_furniture(line: &str) -> bool {
    if !chars_at_most(line, FURNITURE_MAX_CHARS) {
        return false;
    }
    // Navigation words are at most 12 bytes: a line whose first 13 bytes hold no space
    // starts with something longer.
    let short_first_word = line.len() <= NAVIGATION_MAX_BYTES
        || line.as_bytes()[..=NAVIGATION_MAX_BYTES].contains(&b' ');
    if short_first_word && line.split(' ').all(|t| NAVIGATION.contains(&t)) {
        return true;
    }
    // Each regex behind a test of a character its matches must hold: most lines are text, and
    // a regex call costs more than these checks.
    ((line.as_bytes().contains(&b'C') || line.contains("国")) && REGISTRATION.is_match(line))
        || (line.starts_with('《') && SOURCE_LINE.is_match(line))
        || (line.starts_with('(') && JUMP.is_match(line) && line.find(')') == Some(line.len() - 1))
        || (line.starts_with(['阅', '浏', '点', '访', '本']) && COUNTER.is_match(line))
        || page_label(line).is_some()
}

/// A jump marker at the end of a paragraph (`……(下转A2版)`): the paragraph without it, and the
/// marker.
pub fn split_jump_marker(line: &str) -> Option<(&str, &str)> {
    if !line.ends_with("版)") {
        return None;
    }
    let m = JUMP.find(line)?;
    Some((line[..m.start()].trim_end(), m.as_str()))
}

/// Recognised artefacts among body lines.
pub fn artefact(line: &str) -> Option<Artefact> {
    if line.starts_with('本') && WORD_COUNT.is_match(line) {
        return Some(Artefact::WordCount);
    }
    if line.starts_with([
        '(', '责', '值', '编', '校', '审', '美', '终', '二', '一', '签',
    ]) && chars_at_most(line, FURNITURE_MAX_CHARS)
        && EDITOR.is_match(line)
    {
        return Some(Artefact::Editor);
    }
    let end = line.trim_end_matches([')', ']', '】']);
    if end.ends_with('摄')
        || end.ends_with("摄影")
        || end.ends_with("新华社发")
        || is_caption_start(line)
    {
        return Some(Artefact::Caption);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_words_are_short() {
        let longest = NAVIGATION.iter().map(|w| w.len()).max();
        assert_eq!(longest, Some(NAVIGATION_MAX_BYTES));
        assert!(is_furniture("返回目录"));
        assert!(is_furniture("上一篇 下一篇"));
        assert!(is_furniture("大 中 小"));
        assert!(!is_furniture("返回目录下一篇"));
    }

    #[test]
    fn page_labels() {
        let p = page_label("第A03版:要闻").unwrap();
        assert_eq!(
            (p.label.as_str(), p.section.as_deref()),
            ("A03", Some("要闻"))
        );
        let p = page_label("第04版:时事新闻 PDF版").unwrap();
        assert_eq!(
            (p.label.as_str(), p.section.as_deref()),
            ("04", Some("时事新闻"))
        );
        let p = page_label("第A02版:").unwrap();
        assert_eq!((p.label.as_str(), p.section), ("A02", None));
        assert!(page_label("第一书记带头干").is_none());
    }

    #[test]
    fn furniture_lines() {
        for line in [
            "国内统一刊号:CN00-0000 某某日报社出版",
            "上一篇 下一篇",
            "放大 缩小 默认",
            "《 某某报 》 ( 2023年12月13日 第 02 版)",
            "(下转A2版)",
            "阅读数:876",
            "第04版:时事新闻 PDF版",
        ] {
            assert!(is_furniture(line), "{line}");
        }
        for line in ["当好政策“宣传员”", "(张三 李四)", "上一篇文章说到"] {
            assert!(!is_furniture(line), "{line}");
        }
    }

    #[test]
    fn artefacts() {
        assert_eq!(artefact("本文字数:137"), Some(Artefact::WordCount));
        assert_eq!(artefact("责任编辑:张三"), Some(Artefact::Editor));
        assert_eq!(
            artefact("市民在公园里赏花。 本报记者 李四 摄"),
            Some(Artefact::Caption)
        );
        assert_eq!(artefact("▶ 活动现场"), Some(Artefact::Caption));
        assert_eq!(artefact("当好政策“宣传员”"), None);
    }

    #[test]
    fn jump_marker_after_text() {
        assert_eq!(
            split_jump_marker("会议强调了三点。(下转A2版)"),
            Some(("会议强调了三点。", "(下转A2版)"))
        );
    }
}
