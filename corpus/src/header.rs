//! Header lines: page furniture, the date line, the page label, kicker, headline, subtitle,
//! byline, and what the CMS kept of them for the trailer.

use chrono::{Datelike, NaiveDate, Weekday};

use crate::text::{chance, name, pick, quantity};
use crate::words::{
    ACTIVITIES, KICKERS, OBJECTS, ORGS, PLACES, QUOTE_WORDS, REPORTER_ROLES, ROLE_WORDS, SECTIONS,
    SHORT_RESULTS, SHORT_VERBS, VERBS,
};
use crate::PAPER;

pub(crate) fn furniture_lines(rng: &mut fastrand::Rng, date: NaiveDate, out: &mut Vec<String>) {
    if chance(rng, 50) {
        out.push(format!(
            "国内统一刊号:CN45-{:04} {PAPER}社出版",
            rng.u16(1..10000)
        ));
    }
    if chance(rng, 60) {
        out.push(pick(rng, &["上一篇 下一篇", "放大 缩小 默认", "上一版 下一版"]).to_owned());
    }
    if chance(rng, 40) || out.is_empty() {
        out.push(format!(
            "《 {PAPER} 》 ( {} 第 {:02} 版)",
            date.format("%Y年%m月%d日"),
            rng.u8(1..17)
        ));
    }
}

pub(crate) fn date_line(rng: &mut fastrand::Rng, date: NaiveDate) -> String {
    let mut s = if chance(rng, 20) {
        format!("{}年{}月{}日", date.year(), date.month(), date.day())
    } else {
        date.format("%Y年%m月%d日").to_string()
    };
    if chance(rng, 30) {
        s.push(' ');
        s.push_str(match date.weekday() {
            Weekday::Mon => "星期一",
            Weekday::Tue => "星期二",
            Weekday::Wed => "星期三",
            Weekday::Thu => "星期四",
            Weekday::Fri => "星期五",
            Weekday::Sat => "星期六",
            Weekday::Sun => "星期日",
        });
    }
    s
}

pub(crate) fn page_label(rng: &mut fastrand::Rng) -> String {
    let label = if chance(rng, 60) {
        format!("A{:02}", rng.u8(1..17))
    } else if chance(rng, 70) {
        format!("{:02}", rng.u8(1..17))
    } else {
        rng.u8(1..9).to_string()
    };
    match rng.u8(..100) {
        0..=69 => format!("第{label}版:{}", pick(rng, SECTIONS)),
        70..=84 => format!("第{label}版:{} PDF版", pick(rng, SECTIONS)),
        _ => format!("第{label}版:"),
    }
}

pub(crate) fn kicker(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..6) {
        0 | 1 => format!("{}:", pick(rng, PLACES)),
        2 => format!("{}:", pick(rng, ORGS)),
        3 => format!("聚焦{}", pick(rng, OBJECTS)),
        4 => format!("{}进行时", pick(rng, OBJECTS)),
        _ => pick(rng, KICKERS).to_owned(),
    }
}

pub(crate) fn headline(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..7) {
        0 | 1 => format!(
            "{}{}{}{}",
            pick(rng, PLACES),
            pick(rng, VERBS),
            pick(rng, OBJECTS),
            pick(rng, ACTIVITIES)
        ),
        2 => format!(
            "“{}”{} {}{}",
            pick(rng, QUOTE_WORDS),
            pick(rng, SHORT_VERBS),
            pick(rng, OBJECTS),
            pick(rng, SHORT_RESULTS)
        ),
        3 => format!(
            "{}{} {}{}",
            pick(rng, VERBS),
            pick(rng, OBJECTS),
            pick(rng, VERBS),
            pick(rng, OBJECTS)
        ),
        4 => format!(
            "{}{}{}{}",
            pick(rng, ORGS),
            pick(rng, VERBS),
            pick(rng, OBJECTS),
            pick(rng, ACTIVITIES)
        ),
        5 => format!(
            "{}{}跑出“{}”",
            pick(rng, PLACES),
            pick(rng, OBJECTS),
            pick(rng, QUOTE_WORDS)
        ),
        _ => format!(
            "{}{}{}{}",
            pick(rng, PLACES),
            quantity(rng),
            pick(rng, OBJECTS),
            pick(rng, SHORT_RESULTS)
        ),
    }
}

pub(crate) fn subtitle(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..4) {
        0 => format!(
            "——{}{}{}工作综述",
            pick(rng, PLACES),
            pick(rng, VERBS),
            pick(rng, OBJECTS)
        ),
        1 => format!(
            "——记{}{}{}",
            pick(rng, PLACES),
            pick(rng, ROLE_WORDS),
            name(rng)
        ),
        2 => format!(
            "——{}{}{}见闻",
            pick(rng, ORGS),
            pick(rng, VERBS),
            pick(rng, OBJECTS)
        ),
        _ => format!("——{}{}观察", pick(rng, PLACES), pick(rng, OBJECTS)),
    }
}

/// `王 五`: a name with spaces between its characters, as split bylines have them.
fn spaced(name: &str) -> String {
    name.chars().map(String::from).collect::<Vec<_>>().join(" ")
}

/// The byline lines and the names they hold.
pub(crate) fn byline(rng: &mut fastrand::Rng) -> (Vec<String>, Vec<String>) {
    let marker = pick(rng, &["□", "□", "□", "■", "◎", "●"]);
    let n = match rng.u8(..10) {
        0..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    let names: Vec<String> = (0..n).map(|_| name(rng)).collect();
    let lines = match rng.u8(..10) {
        // `□ 张三 李四`
        0..=3 => vec![format!("{marker} {}", names.join(" "))],
        // `□ 本报记者 张三 通讯员 李四`
        4..=6 => {
            let role = pick(rng, REPORTER_ROLES);
            let mut s = format!("{marker} {role} {}", names[0]);
            if n > 1 {
                s.push_str(&format!(" 通讯员 {}", names[1..].join(" ")));
            }
            vec![s]
        }
        // `本报记者 张三 李四` without a marker
        7 => vec![format!("{} {}", pick(rng, REPORTER_ROLES), names.join(" "))],
        // `■融媒体记者 张三` then `通 讯 员 李 四 王五`
        8 if n > 1 => vec![
            format!("■融媒体记者 {}", names[0]),
            format!("通 讯 员 {} {}", spaced(&names[1]), names[2..].join(" "))
                .trim_end()
                .to_owned(),
        ],
        // `◎ 文/图 张三`
        _ => vec![format!("{marker} 文/图 {}", names.join(" "))],
    };
    (lines, names)
}

/// What the CMS kept in its author and title fields.
pub(crate) fn slot(
    rng: &mut fastrand::Rng,
    byline: &[String],
    authors: &[String],
    kicker: Option<&str>,
    subtitle: Option<&str>,
) -> Option<String> {
    for _ in 0..8 {
        match rng.u8(..100) {
            0..=34 => {
                if let Some(b) = byline.first() {
                    return Some(b.clone());
                }
            }
            35..=54 => return None,
            55..=69 => {
                if !authors.is_empty() {
                    return Some(authors.join(" "));
                }
            }
            70..=79 => {
                if let Some(k) = kicker {
                    return Some(k.to_owned());
                }
            }
            80..=89 => {
                if let Some(s) = subtitle {
                    return Some(if chance(rng, 50) {
                        s.to_owned()
                    } else {
                        s.trim_start_matches('—').to_owned()
                    });
                }
            }
            _ => {
                if let (Some(a), Some(k)) = (authors.first(), kicker) {
                    return Some(format!("{a} {k}"));
                }
            }
        }
    }
    None
}
