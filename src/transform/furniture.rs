//! Page furniture (lines of the web page that are not the article) and body artefacts (lines
//! that belong to the page of the article but not to its text): docs/format.md §2.3
//! (artefacts) and §2.5 (page furniture).

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
    "前一天",
    "后一天",
    "上一期",
    "下一期",
    "前一版",
    "后一版",
    "展开通版",
    "收缩通版",
    "标题导航",
    "下载",
    "我知道了",
    "×",
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
    // Read by hand: it runs on many short lines, and a capturing regex costs more than the
    // whole grammar, `[第] LABEL 版 [:] [SECTION] [PDF版[阅读]]`.
    if !(line.starts_with('第') || line.as_bytes().first()?.is_ascii_alphanumeric()) {
        return None;
    }
    let (numbered, rest) = match line.strip_prefix('第') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, line),
    };
    if !chars_at_most(line, 40) {
        return None;
    }
    let at = rest.find('版')?;
    let label: String = rest[..at].chars().filter(|&c| c != ' ').collect();
    let ascii_label = {
        let letters = label.bytes().take_while(u8::is_ascii_alphabetic).count();
        let digits = label[letters..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let tail = label.len() - letters - digits;
        letters <= 2
            && (1..=5).contains(&digits)
            && (tail == 0 || (tail == 1 && label.as_bytes()[label.len() - 1].is_ascii_alphabetic()))
    };
    let numeral_label = numbered
        && (1..=3).contains(&label.chars().count())
        && label.chars().all(|c| "一二三四五六七八九十".contains(c));
    if !(ascii_label || numeral_label) {
        return None;
    }
    let after = rest[at + '版'.len_utf8()..].trim_start();
    let (colon, after) = match after.strip_prefix([':', ':']) {
        Some(a) => (true, a.trim_start()),
        None => (false, after),
    };
    // A bare `05版` with neither `第` nor a colon is too little to go on; so is `第一书记…`.
    if !numbered && !colon {
        return None;
    }
    let section = ["PDF版阅读", "PDF版", "PDF"]
        .iter()
        .find_map(|suffix| after.strip_suffix(suffix))
        .unwrap_or(after)
        .trim();
    Some(Page {
        label,
        section: (!section.is_empty()).then(|| section.to_owned()),
    })
}

/// How e-paper viewers' own lines start: their toolbars, date pickers and article meta.
const CHROME_PREFIXES: &[&str] = &[
    "通版阅读请点击",
    "当前版:",
    "发布日期:",
    "刊发日期:",
    "版次:",
    "版面:",
    "字数:",
    "字号:",
    "日期:",
    "来源:",
    "稿件来源:",
    "当前报纸名称:",
    "本版导航",
    "各版导航",
    "选择其他日期",
    "历史数字报",
    "【PDF版】",
    "PDF版阅读",
    "分享到",
    "分享:",
    "内容详情",
    "读报纸首页",
    "过往期刊",
    "数字版首页",
    "新闻搜索",
    "内容检索",
    "语音朗读",
    "电子报阅读机",
];

/// The first characters of `CHROME_PREFIXES`: most lines start with none of them.
fn is_chrome_first(c: char) -> bool {
    matches!(
        c,
        '通' | '当'
            | '发'
            | '刊'
            | '版'
            | '字'
            | '日'
            | '来'
            | '稿'
            | '本'
            | '各'
            | '选'
            | '历'
            | '【'
            | 'P'
            | '分'
            | '内'
            | '读'
            | '过'
            | '数'
            | '新'
            | '语'
            | '电'
    )
}

/// A navigation token: a word of `NAVIGATION`, maybe with the page numbers viewers glue to it
/// (`上一版3`, `4下一版`), a bare page number beside such words, or a run of table bars.
fn is_navigation_token(t: &str) -> bool {
    let word = t.trim_matches(|c: char| c.is_ascii_digit());
    NAVIGATION.contains(&word) || word.is_empty() || word.bytes().all(|b| b == b'|')
}

/// Is this whole line page furniture?
pub fn is_furniture(line: &str) -> bool {
    if !chars_at_most(line, FURNITURE_MAX_CHARS) {
        return false;
    }
    // Navigation words are at most 12 bytes: a line whose first 13 bytes hold no space starts
    // with something longer.
    let short_first_word = line.len() <= NAVIGATION_MAX_BYTES
        || line.as_bytes()[..=NAVIGATION_MAX_BYTES].contains(&b' ');
    // Table rules of an extracted layout: bars alone, however many.
    if line.starts_with('|') && line.bytes().all(|b| b == b'|' || b == b' ') {
        return true;
    }
    if short_first_word
        && line.split(' ').all(is_navigation_token)
        && line
            .split(' ')
            .any(|t| !t.bytes().all(|b| b.is_ascii_digit()))
    {
        return true;
    }
    if (line.chars().next().is_some_and(is_chrome_first)
        && CHROME_PREFIXES.iter().any(|p| line.starts_with(p)))
        // Byte lengths first: a CJK character is three bytes, so these lines are short ones.
        || (line.len() <= 120
            && memchr::memchr(b':', line.as_bytes()).is_some()
            && line.contains("来源:"))
        || (line.len() <= 60 && (line.ends_with("数字报纸") || line.ends_with("数字报")))
    {
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
        let p = page_label("00001版:第一要闻版").unwrap();
        assert_eq!(
            (p.label.as_str(), p.section.as_deref()),
            ("00001", Some("第一要闻版"))
        );
        let p = page_label("第四版:影像生活").unwrap();
        assert_eq!(
            (p.label.as_str(), p.section.as_deref()),
            ("四", Some("影像生活"))
        );
        let p = page_label("第07版:综合新闻 PDF版阅读").unwrap();
        assert_eq!(p.section.as_deref(), Some("综合新闻"));
        assert!(page_label("5版").is_none());
        assert!(page_label("2024年全市新增学位1200个").is_none());
    }

    #[test]
    fn chrome_first_characters_cover_the_prefixes() {
        for p in CHROME_PREFIXES {
            assert!(p.chars().next().is_some_and(is_chrome_first), "{p}");
        }
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
            "3 上一篇 下一篇 4",
            "上一版3 4下一版",
            "前一天 后一天",
            "展开通版",
            "通版阅读请点击:",
            "当前版:04版",
            "(2025年06月08日) 来源:青溪日报",
            "青溪日报 数字报纸",
            "【PDF版】",
            "|||| ||",
            "||||||||||||||||||||",
        ] {
            assert!(is_furniture(line), "{line}");
        }
        for line in [
            "当好政策“宣传员”",
            "(张三 李四)",
            "上一篇文章说到",
            "2024",
            "返回家乡的年轻人",
        ] {
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
