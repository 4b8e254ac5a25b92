//! The trailer's slot: whatever the CMS had in its author and title fields, run together.
//! Parts are told apart by matching them against the header's lines; what matches nothing is
//! classified by its shape (marker, role, names, `——`).

use super::byline::{self, MARKERS};
use super::header::Header;
use super::text::{compact, is_name_token};
use crate::document::{Author, SlotKind, SlotPart};

pub fn classify(slot: &str, header: &Header) -> Vec<SlotPart> {
    let tokens: Vec<&str> = slot.split(' ').filter(|t| !t.is_empty()).collect();
    let known = known_lines(header);
    let headline = header
        .headline
        .as_deref()
        .map(subtitle_key)
        .unwrap_or_default();
    let match_at: Vec<Option<(usize, SlotKind)>> = (0..tokens.len())
        .map(|i| longest_match(&tokens, i, &known, &headline))
        .collect();

    let mut parts: Vec<SlotPart> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Some((end, kind)) = match_at[i] {
            push(&mut parts, kind, &tokens[i..end]);
            i = end;
            continue;
        }
        let end = (i + 1..tokens.len())
            .find(|&k| match_at[k].is_some())
            .unwrap_or(tokens.len());
        classify_unmatched(&tokens[i..end], &mut parts);
        i = end;
    }
    parts
}

/// Authors named by the slot, for articles whose header has no byline.
pub fn authors<'p>(parts: impl IntoIterator<Item = &'p SlotPart>) -> Vec<Author> {
    let mut out = Vec::new();
    for part in parts {
        match part.kind {
            SlotKind::Byline | SlotKind::Credit => {
                let line = if part.text.starts_with(MARKERS) {
                    part.text.clone()
                } else {
                    format!("□ {}", part.text)
                };
                out.extend(byline::parse(&line).unwrap_or_default());
            }
            SlotKind::Authors => out.extend(part.text.split(' ').map(|name| Author {
                name: name.to_owned(),
                role: None,
            })),
            _ => {}
        }
    }
    out
}

fn known_lines(header: &Header) -> Vec<(String, SlotKind)> {
    let mut known = Vec::new();
    let mut add = |text: &Option<String>, kind| {
        if let Some(t) = text {
            known.push((subtitle_key(t), kind));
        }
    };
    add(&header.kicker, SlotKind::Kicker);
    add(&header.subtitle, SlotKind::Subtitle);
    add(&header.byline, SlotKind::Byline);
    add(&header.headline, SlotKind::Headline);
    known.retain(|(k, _)| !k.is_empty());
    known
}

/// The comparison key: no spaces, and no leading dashes (the CMS field often lacks the `——`).
fn subtitle_key(s: &str) -> String {
    compact(s).trim_start_matches(['—', '-', '─']).to_owned()
}

/// The longest run of tokens from `i` that is a header line, or the first part of a headline
/// that spans two lines (the CMS keeps the first line in its title field).
fn longest_match(
    tokens: &[&str],
    i: usize,
    known: &[(String, SlotKind)],
    headline: &str,
) -> Option<(usize, SlotKind)> {
    (i + 1..=tokens.len()).rev().find_map(|j| {
        let key = subtitle_key(&tokens[i..j].concat());
        known
            .iter()
            .find(|(k, _)| *k == key)
            .map(|&(_, kind)| (j, kind))
            .or_else(|| {
                (key.chars().nth(1).is_some()
                    && headline.len() > key.len()
                    && headline.starts_with(&key))
                .then_some((j, SlotKind::Headline))
            })
    })
}

fn classify_unmatched(tokens: &[&str], parts: &mut Vec<SlotPart>) {
    let first = tokens[0];
    if first.starts_with(MARKERS) || byline::parse(&tokens.join(" ")).is_some() {
        let kind = if tokens.last().is_some_and(|t| t.ends_with('摄')) {
            SlotKind::Credit
        } else {
            SlotKind::Byline
        };
        push(parts, kind, tokens);
        return;
    }
    let names = tokens
        .iter()
        .take_while(|t| is_name_token(t) && t.chars().count() >= 2)
        .count();
    if names > 0 {
        push(parts, SlotKind::Authors, &tokens[..names]);
    }
    let rest = &tokens[names..];
    if let Some(first) = rest.first() {
        let kind = if first.starts_with(['—', '-']) {
            SlotKind::Subtitle
        } else {
            SlotKind::Unknown
        };
        push(parts, kind, rest);
    }
}

fn push(parts: &mut Vec<SlotPart>, kind: SlotKind, tokens: &[&str]) {
    parts.push(SlotPart {
        kind,
        text: tokens.join(" "),
    });
}
