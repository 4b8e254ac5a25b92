//! The body: paragraphs and headings in order, artefacts flagged, furniture set aside
//! (docs/format.md §2.3).

use super::byline;
use super::furniture::{artefact, is_furniture, split_jump_marker};
use super::normalize::Line;
use super::text::{chars_at_most, ends_sentence, HEADING_MAX_CHARS};
use crate::document::{Artefact, Author, Block, BlockKind};

#[derive(Debug, Default)]
pub struct Body {
    pub blocks: Vec<Block>,
    /// Authors named by a closing `(张三 李四)` line.
    pub closing_authors: Vec<Author>,
}

/// `captions` are the line numbers the header found to be picture labels and captions (lines
/// between the headline and the byline): they are kept as caption artefacts.
pub fn parse<'a>(
    lines: impl Iterator<Item = Line<'a>>,
    captions: &[usize],
    furniture: &mut Vec<String>,
) -> Body {
    let mut body = Body {
        blocks: Vec::with_capacity(lines.size_hint().0),
        closing_authors: Vec::new(),
    };
    for line in lines {
        let mut t = line.text;
        // Why the exception: `本文字数:137` is also a counter (furniture), but in the body it is
        // an artefact of the article's page, kept as a flagged block (docs/format.md §2.3).
        if is_furniture(t) && artefact(t) != Some(Artefact::WordCount) {
            furniture.push(t.to_owned());
            continue;
        }
        if let Some((text, marker)) = split_jump_marker(t) {
            furniture.push(marker.to_owned());
            if text.is_empty() {
                continue;
            }
            t = text;
        }
        if t.starts_with('(') {
            if let Some(authors) = byline::parse_closing(t) {
                furniture.push(t.to_owned());
                body.closing_authors.extend(authors);
                continue;
            }
        }
        let kind = if chars_at_most(t, HEADING_MAX_CHARS) && !ends_sentence(t) {
            BlockKind::Heading
        } else {
            BlockKind::Paragraph
        };
        let artefact =
            artefact(t).or_else(|| captions.contains(&line.no).then_some(Artefact::Caption));
        body.blocks.push(Block {
            // An artefact is never a heading, whatever its length.
            kind: if artefact.is_some() {
                BlockKind::Paragraph
            } else {
                kind
            },
            text: t.to_owned(),
            artefact,
        });
    }
    verse_is_text(&mut body.blocks);
    body
}

/// Headings come alone or in pairs; three or more short lines in a row are verse (a poem of a
/// literary page) or a list, and read as text.
const VERSE_MIN_LINES: usize = 3;

fn verse_is_text(blocks: &mut [Block]) {
    let mut run = 0;
    for k in 0..=blocks.len() {
        if blocks.get(k).is_some_and(|b| b.kind == BlockKind::Heading) {
            run += 1;
            continue;
        }
        if run >= VERSE_MIN_LINES {
            for b in &mut blocks[k - run..k] {
                b.kind = BlockKind::Paragraph;
            }
        }
        run = 0;
    }
}
