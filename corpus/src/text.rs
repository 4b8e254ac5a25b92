//! Body text (paragraphs, sentences, heading pairs, captions), names, and the two draws
//! everything is built from.

use crate::words::{
    ACTIVITIES, GIVEN, HEAD_PEOPLE, HEAD_ROLES, HEAD_SUBJECTS, HEAD_TOPICS, HEAD_VERBS, MEASURES,
    MODIFIERS, OBJECTS, OPENERS, ORGS, PEOPLE, PEOPLE_DOING, PLACES, QUOTE_WORDS, RESULTS,
    ROLE_WORDS, SCENES, STATES, SURNAMES, UNITS, VERBS,
};

pub(crate) fn chance(rng: &mut fastrand::Rng, percent: u8) -> bool {
    rng.u8(..100) < percent
}

pub(crate) fn pick<'a>(rng: &mut fastrand::Rng, words: &[&'a str]) -> &'a str {
    words[rng.usize(..words.len())]
}

pub(crate) fn name(rng: &mut fastrand::Rng) -> String {
    let mut n = pick(rng, SURNAMES).to_owned();
    n.push_str(pick(rng, GIVEN));
    if chance(rng, 60) {
        n.push_str(pick(rng, GIVEN));
    }
    n
}

pub(crate) fn heading_pair(rng: &mut fastrand::Rng) -> (String, String) {
    if chance(rng, 60) {
        (
            format!("当好{}“{}”", pick(rng, HEAD_TOPICS), pick(rng, HEAD_ROLES)),
            format!(
                "{}“{}{}”",
                pick(rng, HEAD_SUBJECTS),
                pick(rng, HEAD_VERBS),
                pick(rng, HEAD_PEOPLE)
            ),
        )
    } else {
        (
            format!("{}{}", pick(rng, VERBS), pick(rng, OBJECTS)),
            format!(
                "{}{}{}",
                pick(rng, MODIFIERS),
                pick(rng, VERBS),
                pick(rng, OBJECTS)
            ),
        )
    }
}

pub(crate) fn caption(rng: &mut fastrand::Rng) -> String {
    let what = format!(
        "{}在{}{}",
        pick(rng, PEOPLE),
        pick(rng, SCENES),
        pick(rng, PEOPLE_DOING)
    );
    match rng.u8(..4) {
        0 => format!("{what}。 本报记者 {} 摄", name(rng)),
        1 => format!("▶ {what}。 通讯员 {} 摄", name(rng)),
        2 => format!("图为{what}。 {} 摄", name(rng)),
        _ => format!("{what}。 新华社发 {} 摄", name(rng)),
    }
}

pub(crate) fn paragraph(rng: &mut fastrand::Rng) -> String {
    let n = rng.usize(1..=5);
    let mut p = String::with_capacity(n * 120);
    for i in 0..n {
        sentence(rng, i == 0, &mut p);
    }
    p
}

fn sentence(rng: &mut fastrand::Rng, first: bool, out: &mut String) {
    match rng.u8(..10) {
        0 => {
            out.push('“');
            out.push_str(&clause(rng));
            out.push(',');
            out.push_str(&clause(rng));
            out.push_str("。”");
            out.push_str(&person(rng));
            out.push_str(pick(rng, &["说", "告诉记者", "介绍说", "笑着说"]));
            out.push('。');
        }
        1 => {
            out.push_str(&format!("据{}相关负责人介绍,", pick(rng, ORGS)));
            out.push_str(&clause(rng));
            out.push(',');
            out.push_str(&clause(rng));
            out.push('。');
        }
        2 => {
            out.push_str("下一步,");
            out.push_str(pick(rng, ORGS));
            out.push('将');
            out.push_str(pick(rng, MODIFIERS));
            out.push_str(pick(rng, VERBS));
            out.push_str(pick(rng, OBJECTS));
            out.push_str(pick(rng, ACTIVITIES));
            out.push(',');
            out.push_str(pick(rng, RESULTS));
            out.push('。');
        }
        _ => {
            if first || chance(rng, 30) {
                out.push_str(pick(rng, OPENERS));
                out.push(',');
            }
            let clauses = rng.usize(1..=3);
            for k in 0..clauses {
                if k > 0 {
                    out.push(',');
                }
                out.push_str(&clause(rng));
            }
            if chance(rng, 40) {
                out.push(',');
                out.push_str(pick(rng, RESULTS));
            }
            out.push('。');
        }
    }
}

fn person(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..4) {
        0 => format!("村民{}", name(rng)),
        1 => format!("{}负责人{}", pick(rng, ORGS), name(rng)),
        2 => format!("市民{}", name(rng)),
        _ => format!("{}{}", pick(rng, ROLE_WORDS), name(rng)),
    }
}

pub(crate) fn quantity(rng: &mut fastrand::Rng) -> String {
    let unit = pick(rng, UNITS);
    let n = match rng.u8(..4) {
        0 => rng.u32(2..20),
        1 => rng.u32(20..200),
        2 => rng.u32(200..5000),
        _ => rng.u32(1..100) * 100,
    };
    // `余` (more than) goes with round numbers.
    let n = if unit.starts_with('余') {
        (n / 10).max(1) * 10
    } else {
        n
    };
    format!("{n}{unit}")
}

fn clause(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..9) {
        0 => format!(
            "{}{}{}{}{}",
            pick(rng, ORGS),
            pick(rng, MODIFIERS),
            pick(rng, VERBS),
            pick(rng, OBJECTS),
            pick(rng, ACTIVITIES)
        ),
        1 => format!(
            "{}{}{}{},共{}",
            pick(rng, PLACES),
            pick(rng, VERBS),
            pick(rng, OBJECTS),
            pick(rng, ACTIVITIES),
            quantity(rng)
        ),
        2 => format!("{}{}", pick(rng, PEOPLE), pick(rng, PEOPLE_DOING)),
        3 => format!(
            "累计{}{}{}",
            pick(rng, VERBS),
            pick(rng, OBJECTS),
            quantity(rng)
        ),
        4 => format!(
            "{}、{}和{}{}",
            pick(rng, OBJECTS),
            pick(rng, OBJECTS),
            pick(rng, OBJECTS),
            pick(rng, STATES)
        ),
        5 => format!(
            "{}同比增长{}.{}%",
            pick(rng, MEASURES),
            rng.u8(1..40),
            rng.u8(..10)
        ),
        6 => format!(
            "{}{}{}",
            pick(rng, MODIFIERS),
            pick(rng, VERBS),
            pick(rng, OBJECTS)
        ),
        7 => format!(
            "在{}{},{}{}",
            pick(rng, PLACES),
            pick(rng, SCENES),
            pick(rng, PEOPLE),
            pick(rng, PEOPLE_DOING)
        ),
        _ => format!(
            "{}“{}”{}",
            pick(rng, OBJECTS),
            pick(rng, QUOTE_WORDS),
            pick(rng, STATES)
        ),
    }
}
