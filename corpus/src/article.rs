//! One article, with every choice that shapes its bytes: the [`Draft`] and how it is laid out
//! (header, body, trailer) and written (the form: raw punctuation, CRLF, the encoding).

use chrono::NaiveDate;

use crate::header::{
    byline, date_line, furniture_lines, headline, kicker, page_label, slot, subtitle,
};
use crate::text::{caption, chance, heading_pair, name, paragraph};
use crate::{Expected, PAPER};

#[derive(Debug, Clone)]
pub(crate) struct Draft {
    content_id: u64,
    date: NaiveDate,
    /// Furniture, the date line and the page label, in file order.
    preamble: Vec<String>,
    kicker: Option<String>,
    headline: String,
    subtitle: Option<String>,
    /// One line, or two when the byline is split.
    byline: Vec<String>,
    body: Vec<BodyLine>,
    trailer: TrailerStyle,
    form: Form,
}

#[derive(Debug, Clone)]
enum BodyLine {
    Paragraph(String),
    /// Headings, captions, counters, editor lines: not changed by corrections.
    Other(String),
}

#[derive(Debug, Clone)]
struct TrailerStyle {
    arrow: bool,
    time: Option<String>,
    two_lines: bool,
    slot: Option<String>,
    site: u32,
    url: String,
    after_url: String,
    html: bool,
    article_id: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Form {
    /// Full-width punctuation and U+3000 indentation, as raw exports have.
    raw: bool,
    crlf: bool,
    encoding: Encoding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Utf8Bom,
    Gb18030,
}

impl Draft {
    pub(crate) fn new(rng: &mut fastrand::Rng, content_id: u64, date: NaiveDate) -> Draft {
        let mut preamble = Vec::new();
        if chance(rng, 12) {
            furniture_lines(rng, date, &mut preamble);
        }
        let page = chance(rng, 70).then(|| page_label(rng));
        if chance(rng, 93) || (page.is_none() && chance(rng, 50)) {
            preamble.push(date_line(rng, date));
        }
        preamble.extend(page);

        let kicker = chance(rng, 40).then(|| kicker(rng));
        let headline = headline(rng);
        let subtitle = chance(rng, 15).then(|| subtitle(rng));
        let (byline, authors) = if chance(rng, 85) {
            byline(rng)
        } else {
            (Vec::new(), Vec::new())
        };

        // The body: 1–20 KB in all, most files small (log-uniform sizes).
        let target = (1024.0 * (rng.f64() * 20f64.ln()).exp()) as usize;
        let mut body = Vec::new();
        let mut bytes = 0;
        let pairs = chance(rng, 45);
        let captions = chance(rng, 25);
        let mut since_heading = 0;
        while bytes < target || body.is_empty() {
            if pairs && since_heading >= 2 && bytes + 600 < target && chance(rng, 30) {
                let (a, b) = heading_pair(rng);
                bytes += a.len() + b.len();
                body.push(BodyLine::Other(a));
                body.push(BodyLine::Other(b));
                since_heading = 0;
                continue;
            }
            if captions && !body.is_empty() && chance(rng, 8) {
                let c = caption(rng);
                bytes += c.len();
                body.push(BodyLine::Other(c));
                continue;
            }
            let mut p = paragraph(rng);
            if chance(rng, 1) {
                p.push_str("(下转A2版)");
            }
            bytes += p.len();
            body.push(BodyLine::Paragraph(p));
            since_heading += 1;
        }
        if chance(rng, 5) {
            body.push(BodyLine::Other(format!("({} {})", name(rng), name(rng))));
        }
        if chance(rng, 10) {
            let chars: usize = body
                .iter()
                .map(|l| match l {
                    BodyLine::Paragraph(t) | BodyLine::Other(t) => t.chars().count(),
                })
                .sum();
            body.push(BodyLine::Other(format!("本文字数:{chars}")));
        }
        if chance(rng, 15) {
            body.push(BodyLine::Other(format!("责任编辑:{}", name(rng))));
        }
        if chance(rng, 4) {
            body.push(BodyLine::Other(format!("阅读数:{}", rng.u32(100..20000))));
        }

        let slot = slot(
            rng,
            &byline,
            &authors,
            kicker.as_deref(),
            subtitle.as_deref(),
        );
        let trailer = TrailerStyle {
            arrow: chance(rng, 85),
            time: chance(rng, 10).then(|| {
                format!(
                    "{:02}:{:02}:{:02}.0",
                    rng.u8(6..23),
                    rng.u8(..60),
                    rng.u8(..60)
                )
            }),
            two_lines: chance(rng, 8),
            slot,
            site: [1, 1, 1, 1, 1, 1, 2, 3, 11][rng.usize(..9)],
            url: match rng.u8(..100) {
                0..=84 => format!("content_{content_id}.html"),
                85..=89 => format!("content_{content_id}.htm"),
                90..=94 => format!("c{content_id}.html"),
                _ => format!("c{content_id}.htm"),
            },
            after_url: match rng.u8(..100) {
                0..=79 => "1".to_owned(),
                80..=84 => "0".to_owned(),
                85..=89 => rng.u8(2..6).to_string(),
                _ => format!("{} {}", rng.u8(1..4), rng.u8(1..9)),
            },
            html: chance(rng, 3),
            article_id: chance(rng, 5).then(|| {
                let n = rng.u32(1_000..1_000_000);
                format!("{},{:03}", n / 1000, n % 1000)
            }),
        };
        let form = Form {
            raw: chance(rng, 10),
            crlf: chance(rng, 3),
            encoding: match rng.u16(..1000) {
                0..=11 => Encoding::Gb18030,
                12..=16 => Encoding::Utf8Bom,
                _ => Encoding::Utf8,
            },
        };
        Draft {
            content_id,
            date,
            preamble,
            kicker,
            headline,
            subtitle,
            byline,
            body,
            trailer,
            form,
        }
    }

    pub(crate) fn expected(&self) -> Expected {
        Expected {
            content_id: self.content_id.to_string(),
            headline: self.headline.clone(),
            pub_date: self.date.format("%Y-%m-%d").to_string(),
        }
    }

    /// A correction: one paragraph rewritten.
    pub(crate) fn correct(&mut self, rng: &mut fastrand::Rng) {
        let paragraphs: Vec<usize> = self
            .body
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l, BodyLine::Paragraph(_)))
            .map(|(i, _)| i)
            .collect();
        let i = paragraphs[rng.usize(..paragraphs.len())];
        let BodyLine::Paragraph(old) = &self.body[i] else {
            unreachable!("indices of paragraphs")
        };
        let mut new = paragraph(rng);
        while new == *old {
            new = paragraph(rng);
        }
        self.body[i] = BodyLine::Paragraph(new);
    }

    fn trailer_text(&self) -> String {
        let t = &self.trailer;
        let mut head = String::new();
        if t.arrow {
            head.push_str("--> ");
        }
        head.push_str(&self.date.format("%Y-%m-%d").to_string());
        if let Some(time) = &t.time {
            head.push(' ');
            head.push_str(time);
        }
        let mut rest: Vec<String> = Vec::new();
        rest.extend(t.slot.clone());
        rest.push(format!("{0} {0}", t.site));
        rest.push(PAPER.to_owned());
        rest.push(t.url.clone());
        rest.push(t.after_url.clone());
        if t.html {
            rest.push(format!("<p> {} </p>", self.headline));
        } else {
            rest.push(self.headline.clone());
        }
        rest.extend(t.article_id.clone());
        rest.push("/enpproperty-->".to_owned());
        let sep = if t.two_lines { "\n" } else { " " };
        format!("{head}{sep}{}", rest.join(" "))
    }

    pub(crate) fn render(&self, with_trailer: bool) -> Vec<u8> {
        let raw = self.form.raw;
        let header = |s: &str| if raw { full_width(s) } else { s.to_owned() };
        let mut blocks: Vec<String> = Vec::with_capacity(self.body.len() + 10);
        blocks.extend(self.preamble.iter().map(|l| header(l)));
        blocks.extend(self.kicker.as_deref().map(header));
        blocks.push(header(&self.headline));
        blocks.extend(self.subtitle.as_deref().map(header));
        blocks.extend(self.byline.iter().map(|l| header(l)));
        for line in &self.body {
            blocks.push(match line {
                BodyLine::Paragraph(p) if raw => format!("\u{3000}\u{3000}{}", full_width(p)),
                BodyLine::Paragraph(t) | BodyLine::Other(t) => header(t),
            });
        }
        if with_trailer {
            blocks.push(self.trailer_text());
        }
        let mut text = blocks.join("\n\n");
        text.push('\n');
        if self.form.crlf {
            text = text.replace('\n', "\r\n");
        }
        match self.form.encoding {
            Encoding::Utf8 => text.into_bytes(),
            Encoding::Utf8Bom => {
                let mut b = b"\xEF\xBB\xBF".to_vec();
                b.extend_from_slice(text.as_bytes());
                b
            }
            Encoding::Gb18030 => encoding_rs::GB18030.encode(&text).0.into_owned(),
        }
    }
}

/// ASCII punctuation → its full-width form (NFKC maps it back).
fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ',' => '\u{FF0C}',
            ':' => '\u{FF1A}',
            '(' => '\u{FF08}',
            ')' => '\u{FF09}',
            ';' => '\u{FF1B}',
            '!' => '\u{FF01}',
            '?' => '\u{FF1F}',
            c => c,
        })
        .collect()
}
