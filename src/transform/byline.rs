//! Bylines and the people they name: `□ 韦素莹`, `□ 本报记者 张三 通讯员 李四`,
//! `■融媒体记者 张三 李四` followed by `通 讯 员 王 五 赵六`, `(张三 李四)` at the end.

use super::text::{chars_at_most, ends_sentence, is_han, is_name_token};
use crate::document::Author;

/// Characters that open a byline.
pub const MARKERS: &[char] = &['□', '■', '◎', '●', '○', '◆', '◇', '☆', '★'];

/// Roles, longest first so that a prefix match takes the whole role.
const ROLES: &[&str] = &[
    // With a colon first: `记者:张三` must not read as the role `记者` and a name `:张三`.
    "通讯员:",
    "记者:",
    "作者:",
    "摄影:",
    "作者",
    "文:",
    "图:",
    "新华社特约记者",
    "新华社通讯员",
    "新华社记者",
    "本报首席记者",
    "本报见习记者",
    "本报特约记者",
    "本报通讯员",
    "本报记者",
    "融媒体记者",
    "全媒体记者",
    "特约通讯员",
    "首席记者",
    "见习记者",
    "特约记者",
    "通讯员",
    "实习生",
    "见习生",
    "记者",
    // Traditional-character mirrors of simplified pages.
    "新華社記者",
    "本報通訊員",
    "本報記者",
    "融媒體記者",
    "全媒體記者",
    "通訊員",
    "實習生",
    "記者",
    "攝影",
    "文/记者",
    "图/记者",
    "文/图",
    "图/文",
    "文/摄",
    "撰文",
    "摄影",
];

/// The first characters of `ROLES` (a test checks that they are all here).
const ROLE_FIRST_CHARS: &str = "作全图实實摄撰攝文新本特融见記记通首";

/// The longest byline line we accept; longer lines are text.
const BYLINE_MAX_CHARS: usize = 60;

fn role_prefix(token: &str) -> Option<&'static str> {
    // Most tokens asked are names: the first character rules nearly all of them out.
    if !token.starts_with(|c: char| ROLE_FIRST_CHARS.contains(c)) {
        return None;
    }
    ROLES.iter().copied().find(|r| token.starts_with(r))
}

/// Parses `line` as a byline. `None` when it is not one: without a marker, a byline must start
/// with a role and hold nothing but roles and names.
pub fn parse(line: &str) -> Option<Vec<Author>> {
    // Some papers double the marker (`○○全媒体记者 张三`).
    let rest = line.trim_start_matches(MARKERS);
    let (marked, rest) = if rest.len() < line.len() {
        (true, rest.trim_start())
    } else {
        (false, line)
    };
    if !chars_at_most(line, BYLINE_MAX_CHARS) || (!marked && ends_sentence(line)) {
        return None;
    }
    // Most lines asked are headlines and text: a first word that cannot open a role says so
    // before the line is split.
    if !marked && !rest.split(' ').next().is_some_and(may_open_role) {
        return None;
    }
    let tokens: Vec<&str> = rest.split(' ').filter(|t| !t.is_empty()).collect();
    if !marked && !starts_with_role(&tokens) {
        return None;
    }
    authors(&tokens, marked)
}

/// A line of bare names (`黎海平 陈宇平`, `秦 旭`): the people, or `None` when a token is not a
/// name. Whether the line is a byline is for the caller to decide from other clues.
pub fn parse_names(line: &str) -> Option<Vec<Author>> {
    if !chars_at_most(line, NAME_LINE_MAX_CHARS) || ends_sentence(line) {
        return None;
    }
    let tokens: Vec<&str> = line.split(' ').filter(|t| !t.is_empty()).collect();
    if tokens.is_empty() || tokens.len() > 8 {
        return None;
    }
    authors(&tokens, false).filter(|a| !a.is_empty())
}

/// Shaped like a Chinese person's name: two or three characters led by a common surname, or
/// four led by a compound one (`欧阳`, `司马`, …). The surname test is what tells `黎海平` from
/// a short phrase of the same length.
pub fn is_person_name(name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        2 | 3 => SURNAMES.contains(chars[0]),
        4 => COMPOUND_SURNAMES.iter().any(|s| name.starts_with(s)),
        _ => false,
    }
}

/// A line of names is at most this long.
const NAME_LINE_MAX_CHARS: usize = 40;

/// The commonest Chinese surnames, simplified and traditional (they cover the names of nearly
/// every reporter; a rarer surname only loses the shape clue, not the slot's or a closing line's).
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由劉陳楊黃趙吳孫馬鄭謝韓馮鄧蔣蘇魏呂盧鍾譚陸賈韋鄒熊閆龍陶賀顧龔錢嚴湯溫龐顏聶魯葉蕭許羅張";
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "令狐", "端木", "西门", "南宫", "独孤", "歐陽",
];

/// The people a news lead names: `本报讯(记者 张三 通讯员 李四)…`, `晚报讯 (张三)…`.
pub fn parse_lead(paragraph: &str) -> Option<Vec<Author>> {
    let open = paragraph.find('(')?;
    let lead = &paragraph[..open];
    if !lead.trim_end().ends_with('讯') || !chars_at_most(lead, 16) {
        return None;
    }
    let close = paragraph[open..].find(')')? + open;
    parse_closing(&paragraph[open..=close])
}

/// A closing author line, `(张三 李四)` or `(本报记者 张三)`.
pub fn parse_closing(line: &str) -> Option<Vec<Author>> {
    let inner = line.strip_prefix('(')?.strip_suffix(')')?.trim();
    if inner.is_empty() || !chars_at_most(inner, 30) {
        return None;
    }
    let tokens: Vec<&str> = inner.split(' ').collect();
    authors(&tokens, false).filter(|a| !a.is_empty())
}

/// Without a marker, the role must stand alone (`本报记者 张三`): a role glued to what follows
/// (`记者了解到`) is how paragraphs start, not bylines.
fn starts_with_role(tokens: &[&str]) -> bool {
    spaced_role(tokens).is_some()
        || tokens.first().is_some_and(|t| {
            // `作者:张三`: a role with its colon says as much as one standing alone.
            role_prefix(t).is_some_and(|r| r.ends_with(':') && is_name_token(&t[r.len()..]))
        })
}

/// A role written with spaces between its characters (`通 讯 员`): how many tokens it takes.
/// A role that names its newsroom (`晚报记者`, `郑报全媒体记者`, `文/记者`) takes one.
fn spaced_role<'a>(tokens: &[&'a str]) -> Option<(&'a str, usize)> {
    let first = *tokens.first()?;
    // Only a token of one or two characters can start a role written with spaces (`通 讯 员`,
    // `本报 记者`); a longer one is a role whole or not at all.
    let short = first.chars().nth(2).is_none();
    if !short {
        return ROLES
            .iter()
            .copied()
            .find(|r| *r == first)
            .or_else(|| newsroom_role(first).then_some(first))
            .map(|r| (r, 1));
    }
    // The spaced characters of a role: one-character tokens after the first.
    let mut joined = String::new();
    for (k, t) in tokens.iter().take(7).enumerate() {
        // `本报 记者` as two words, `通 讯 员` as characters.
        if (k > 1 || (k == 1 && first.chars().nth(1).is_none())) && t.chars().nth(1).is_some() {
            return None;
        }
        joined.push_str(t);
        if let Some(role) = ROLES.iter().copied().find(|r| *r == joined) {
            return Some((role, k + 1));
        }
    }
    None
}

/// Could `first` be, or begin, a role: a short token (a role written with spaces), a role
/// whole, a newsroom's role, or a role glued to a name (`作者:张三`)?
fn may_open_role(first: &str) -> bool {
    first.chars().nth(2).is_none() || role_prefix(first).is_some() || newsroom_role(first)
}

/// The roles every newsroom's titles end in.
const CORE_ROLES: &[&str] = &[
    "记者",
    "通讯员",
    "实习生",
    "见习生",
    "摄影师",
    "記者",
    "通訊員",
];

/// A token that is a whole role: a few characters of newsroom (or `文/`, `图/`) and a core role.
fn newsroom_role(t: &str) -> bool {
    CORE_ROLES.iter().any(|r| t.ends_with(r))
        && (3..=14).contains(&t.chars().count())
        && t.chars().all(|c| is_han(c) || c == '/')
}

/// Walks role and name tokens. Runs of one-character tokens are names written with spaces
/// (`王 五` is 王五). With `lenient`, tokens that are neither are skipped instead of refusing
/// the line (a marked byline is a byline whatever it holds).
fn authors(tokens: &[&str], lenient: bool) -> Option<Vec<Author>> {
    let mut out = Vec::new();
    let mut role: Option<&str> = None;
    let mut singles = String::new();
    let mut i = 0;
    while i < tokens.len() {
        // A marker again inside the line (`■本报记者 张三 ■通讯员 李四`) opens the next role.
        let t = tokens[i].trim_start_matches(MARKERS);
        if t.is_empty() {
            i += 1;
            continue;
        }
        if let Some((r, used)) = spaced_role(&tokens[i..]).filter(|_| t.len() == tokens[i].len()) {
            flush_singles(&mut singles, role, &mut out);
            role = Some(r);
            i += used;
            continue;
        }
        if matches!(
            t,
            "摄" | "摄影" | "报道" | "摄影报道" | "图文" | "攝" | "報道" | "攝影報道"
        ) {
            i += 1;
            continue;
        }
        if let Some(r) = role_prefix(t) {
            let name = &t[r.len()..];
            flush_singles(&mut singles, role, &mut out);
            role = Some(r);
            if is_name_token(name) {
                push(&mut out, name, role);
            }
            i += 1;
            continue;
        }
        // `张三/文`, `李四/图`: a name with what it did.
        if let Some((name, work)) = t.split_once('/') {
            if is_name_token(name) && matches!(work, "文" | "图" | "摄" | "摄影" | "文图" | "图文")
            {
                flush_singles(&mut singles, role, &mut out);
                push(&mut out, name, Some(work));
                i += 1;
                continue;
            }
        }
        let name = t
            .strip_suffix(['摄', '攝'])
            .filter(|n| !n.is_empty())
            .unwrap_or(t);
        if is_name_token(name) {
            if name.chars().count() == 1 {
                singles.push_str(name);
            } else {
                flush_singles(&mut singles, role, &mut out);
                push(&mut out, name, role);
            }
        } else if !lenient {
            return None;
        }
        i += 1;
    }
    flush_singles(&mut singles, role, &mut out);
    Some(out)
}

fn push(out: &mut Vec<Author>, name: &str, role: Option<&str>) {
    out.push(Author {
        name: name.to_owned(),
        role: role.map(|r| r.trim_end_matches(':').to_owned()),
    });
}

/// One-character tokens joined back into names: up to three make one name, more are split
/// into names of two (the commonest length).
fn flush_singles(singles: &mut String, role: Option<&str>, out: &mut Vec<Author>) {
    let chars: Vec<char> = singles.chars().filter(|&c| is_han(c)).collect();
    singles.clear();
    // A single character is never a whole name: `(完)` closes an article, it names nobody.
    if chars.len() < 2 {
        return;
    }
    let mut rest = &chars[..];
    while !rest.is_empty() {
        let take = if rest.len() <= 3 { rest.len() } else { 2 };
        let name: String = rest[..take].iter().collect();
        push(out, &name, role);
        rest = &rest[take..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, Option<String>)> {
        parse(line)
            .unwrap_or_else(|| panic!("not a byline: {line}"))
            .into_iter()
            .map(|a| (a.name, a.role))
            .collect()
    }

    fn a(name: &str, role: Option<&str>) -> (String, Option<String>) {
        (name.to_owned(), role.map(str::to_owned))
    }

    #[test]
    fn marker_and_roles() {
        assert_eq!(names("□ 韦素莹"), vec![a("韦素莹", None)]);
        assert_eq!(
            names("□ 本报记者 张三 通讯员 李四"),
            vec![a("张三", Some("本报记者")), a("李四", Some("通讯员"))]
        );
        assert_eq!(
            names("■融媒体记者 张三 李四"),
            vec![a("张三", Some("融媒体记者")), a("李四", Some("融媒体记者"))]
        );
        assert_eq!(
            names("通 讯 员 王 五 赵六"),
            vec![a("王五", Some("通讯员")), a("赵六", Some("通讯员"))]
        );
        assert_eq!(names("本报记者 李四 摄"), vec![a("李四", Some("本报记者"))]);
    }

    #[test]
    fn role_first_characters_cover_the_roles() {
        for r in ROLES {
            assert!(r.starts_with(|c: char| ROLE_FIRST_CHARS.contains(c)), "{r}");
        }
        assert_eq!(names("本报 记者 张三"), vec![a("张三", Some("本报记者"))]);
    }

    #[test]
    fn names_with_what_they_did_and_markers_inside() {
        assert_eq!(
            names("□ 张三/文 李四/图"),
            vec![a("张三", Some("文")), a("李四", Some("图"))]
        );
        assert_eq!(
            names("■本报记者 张三 ■通讯员 李四"),
            vec![a("张三", Some("本报记者")), a("李四", Some("通讯员"))]
        );
    }

    #[test]
    fn text_is_not_a_byline() {
        assert_eq!(parse("记者从市教育局获悉,今年全市新增学位1200个。"), None);
        assert_eq!(parse("记者了解到"), None);
        assert_eq!(parse("当好政策“宣传员”"), None);
    }

    #[test]
    fn lead_names() {
        let got = parse_lead("本报讯(记者 张三 通讯员 李四)近日,青溪区……").unwrap();
        assert_eq!(
            got.iter()
                .map(|a| (a.name.as_str(), a.role.as_deref()))
                .collect::<Vec<_>>(),
            vec![("张三", Some("记者")), ("李四", Some("通讯员"))]
        );
        assert_eq!(parse_lead("晚报讯 (王五)昨日……").unwrap()[0].name, "王五");
        assert_eq!(parse_lead("据了解(记者 张三)……"), None);
        assert_eq!(parse_lead("本报讯 近日,青溪区(含开发区)……"), None);
    }

    #[test]
    fn closing_author() {
        let got = parse_closing("(张三 李四)").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(parse_closing("(下转A2版)"), None);
        assert_eq!(parse_closing("(完)"), None);
    }
}
