//! A deterministic corpus generator for benchmarks and tests: N invented article files in the
//! export format of docs/format.md §2, with its variety, from a seed.
//!
//! What a corpus holds:
//! - **articles**: a date line (with or without a weekday, zero-padded or not) and/or a page
//!   label (`第A03版:要闻`, `… PDF版`, `第A02版:`), sometimes page furniture before them, a
//!   kicker, the headline (one line, sometimes in two parts), a `——` subtitle, a byline of one
//!   to three authors with or without roles (sometimes split over two lines), 1–20 KB of body
//!   built from a vocabulary of a few hundred words and phrases (paragraphs, heading pairs,
//!   captions ending in `摄`, `本文字数:N`, `责任编辑:…`, a closing `(张三 李四)`), and the
//!   trailer in its variants (with or without `-->`, with a time, on two lines, `.htm` and
//!   `c<id>.html` URLs, one or two numbers after the URL, `<p>` tags around the headline, a
//!   repeated `54,180` article id). Most files are NFKC UTF-8 like the real sample; some are
//!   raw exports (full-width punctuation, U+3000 indentation), some CRLF, a few GB18030 or
//!   with a BOM.
//! - **duplicates**: byte-identical copies of a recent article under another name;
//! - **corrections**: a recent article again (same content id) with one paragraph changed;
//! - **bad files**: empty, blank, binary, or an article with no content id anywhere (no
//!   trailer, a file name without an id).
//!
//! Generation streams: memory stays bounded whatever the count (duplicates and corrections
//! pick from a small ring of recent articles). Every decision is drawn from one seeded
//! [`fastrand::Rng`] and none depends on the count, so the first N files of a larger corpus
//! are the corpus of N files of the same seed.
//!
//! Content ids are `FIRST_CONTENT_ID + i` for the i-th new article; the paper is [`PAPER`]. Files
//! carry the date of the day they are "published" in `rel_dir` (`YYYY/MM/DD`), starting on
//! 2020-01-01 with 24–72 files a day.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate, Weekday};

/// The paper every generated trailer names.
pub const PAPER: &str = "测试日报";
/// The source key the generated corpus is meant to be loaded under.
pub const SOURCE: &str = "test-daily";
/// The content id of the first new article.
pub const FIRST_CONTENT_ID: u64 = 1_000_000;
/// How many recent articles duplicates and corrections pick from.
const RING: usize = 64;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorpusSpec {
    pub seed: u64,
    /// Files in all (articles, duplicates, corrections and bad files).
    pub count: u64,
    /// Share of files that are byte-identical copies of a recent article under another name.
    pub duplicate_share: f64,
    /// Share of files that are corrections: a recent article's content id with a changed paragraph.
    pub correction_share: f64,
    /// Share of files that cannot be loaded (empty, binary, no content id).
    pub bad_share: f64,
}

impl CorpusSpec {
    /// `count` files from `seed`, with 5% duplicates, 2% corrections and 0.5% bad files.
    pub fn new(seed: u64, count: u64) -> Self {
        CorpusSpec {
            seed,
            count,
            duplicate_share: 0.05,
            correction_share: 0.02,
            bad_share: 0.005,
        }
    }
}

impl Default for CorpusSpec {
    fn default() -> Self {
        CorpusSpec::new(42, 1000)
    }
}

/// What a generated file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A new article (a new content id).
    Article,
    /// A byte-identical copy of an earlier article, under another name.
    Duplicate,
    /// An earlier article's content id with one paragraph changed.
    Correction,
    /// A file the loader must quarantine.
    Bad,
}

/// What the transform should make of a good file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub content_id: String,
    /// As the document has it (normalized, tags stripped).
    pub headline: String,
    /// `YYYY-MM-DD`.
    pub pub_date: String,
}

/// One generated file.
#[derive(Debug, Clone)]
pub struct GeneratedFile {
    /// File name, unique in the corpus (so a flat layout works).
    pub name: String,
    /// `YYYY/MM/DD`: where the tree layout puts it.
    pub rel_dir: String,
    pub bytes: Vec<u8>,
    pub kind: FileKind,
    /// `None` for bad files.
    pub expected: Option<Expected>,
}

/// Counts of a written corpus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorpusSummary {
    pub files: u64,
    pub articles: u64,
    pub duplicates: u64,
    pub corrections: u64,
    pub bad: u64,
    pub bytes: u64,
}

impl CorpusSummary {
    /// Counts one more file.
    pub fn add(&mut self, f: &GeneratedFile) {
        self.files += 1;
        self.bytes += f.bytes.len() as u64;
        match f.kind {
            FileKind::Article => self.articles += 1,
            FileKind::Duplicate => self.duplicates += 1,
            FileKind::Correction => self.corrections += 1,
            FileKind::Bad => self.bad += 1,
        }
    }
}

/// The corpus of `spec`, one file at a time.
pub fn generate(spec: CorpusSpec) -> Generator {
    let mut rng = fastrand::Rng::with_seed(spec.seed);
    let left_today = rng.u32(24..=72);
    Generator {
        spec,
        rng,
        seq: 0,
        articles: 0,
        day: NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date"),
        left_today,
        ring: VecDeque::with_capacity(RING),
    }
}

/// Writes the corpus as an archive tree: `dir/YYYY/MM/DD/NAME`.
pub fn write_tree(dir: &Path, spec: CorpusSpec) -> io::Result<CorpusSummary> {
    write(dir, spec, true)
}

/// Writes the corpus into one directory, as an inbox.
pub fn write_flat(dir: &Path, spec: CorpusSpec) -> io::Result<CorpusSummary> {
    write(dir, spec, false)
}

fn write(dir: &Path, spec: CorpusSpec, tree: bool) -> io::Result<CorpusSummary> {
    std::fs::create_dir_all(dir)?;
    let mut summary = CorpusSummary::default();
    let mut current: Option<PathBuf> = None;
    for file in generate(spec) {
        let target = if tree {
            let sub = dir.join(&file.rel_dir);
            if current.as_deref() != Some(sub.as_path()) {
                std::fs::create_dir_all(&sub)?;
                current = Some(sub.clone());
            }
            sub
        } else {
            dir.to_path_buf()
        };
        std::fs::write(target.join(&file.name), &file.bytes)?;
        summary.add(&file);
    }
    Ok(summary)
}

/// The streaming generator returned by [`generate`].
pub struct Generator {
    spec: CorpusSpec,
    rng: fastrand::Rng,
    seq: u64,
    articles: u64,
    day: NaiveDate,
    left_today: u32,
    ring: VecDeque<Draft>,
}

impl Iterator for Generator {
    type Item = GeneratedFile;

    fn next(&mut self) -> Option<GeneratedFile> {
        if self.seq >= self.spec.count {
            return None;
        }
        if self.left_today == 0 {
            self.day = self.day.succ_opt().expect("date in range");
            self.left_today = self.rng.u32(24..=72);
        }
        self.left_today -= 1;
        let rel_dir = format!(
            "{:04}/{:02}/{:02}",
            self.day.year(),
            self.day.month(),
            self.day.day()
        );
        let s = self.spec;
        let roll = self.rng.f64();
        let file = if roll < s.bad_share {
            self.bad(rel_dir)
        } else if roll < s.bad_share + s.duplicate_share && !self.ring.is_empty() {
            self.duplicate(rel_dir)
        } else if roll < s.bad_share + s.duplicate_share + s.correction_share
            && !self.ring.is_empty()
        {
            self.correction(rel_dir)
        } else {
            self.article(rel_dir)
        };
        self.seq += 1;
        Some(file)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.spec.count - self.seq).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl Generator {
    /// `0000042_3f9a…​.txt`: like the real exports' names, no content id in them.
    fn plain_name(&mut self) -> String {
        format!("{:07}_{:016x}.txt", self.seq, self.rng.u64(..))
    }

    fn keep(&mut self, draft: Draft) {
        if self.ring.len() == RING {
            self.ring.pop_front();
        }
        self.ring.push_back(draft);
    }

    fn article(&mut self, rel_dir: String) -> GeneratedFile {
        let id = FIRST_CONTENT_ID + self.articles;
        self.articles += 1;
        let draft = Draft::new(&mut self.rng, id, self.day);
        let name = if self.rng.u8(..100) < 10 {
            format!("content_{id}.txt")
        } else {
            self.plain_name()
        };
        let file = GeneratedFile {
            name,
            rel_dir,
            bytes: draft.render(true),
            kind: FileKind::Article,
            expected: Some(draft.expected()),
        };
        self.keep(draft);
        file
    }

    fn duplicate(&mut self, rel_dir: String) -> GeneratedFile {
        let k = self.rng.usize(..self.ring.len());
        let draft = &self.ring[k];
        let (bytes, expected) = (draft.render(true), draft.expected());
        GeneratedFile {
            name: self.plain_name(),
            rel_dir,
            bytes,
            kind: FileKind::Duplicate,
            expected: Some(expected),
        }
    }

    fn correction(&mut self, rel_dir: String) -> GeneratedFile {
        let k = self.rng.usize(..self.ring.len());
        let mut draft = self.ring[k].clone();
        draft.correct(&mut self.rng);
        let file = GeneratedFile {
            name: self.plain_name(),
            rel_dir,
            bytes: draft.render(true),
            kind: FileKind::Correction,
            expected: Some(draft.expected()),
        };
        self.keep(draft);
        file
    }

    fn bad(&mut self, rel_dir: String) -> GeneratedFile {
        let name = self.plain_name();
        let bytes = match self.rng.u8(..4) {
            0 => Vec::new(),
            1 => b"\n  \n\n".to_vec(),
            2 => {
                let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
                let n = self.rng.usize(256..4096);
                b.extend((0..n).map(|_| self.rng.u8(..)));
                b
            }
            _ => Draft::new(&mut self.rng, 0, self.day).render(false),
        };
        GeneratedFile {
            name,
            rel_dir,
            bytes,
            kind: FileKind::Bad,
            expected: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One article, with every choice that shapes its bytes.

#[derive(Debug, Clone)]
struct Draft {
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

fn chance(rng: &mut fastrand::Rng, percent: u8) -> bool {
    rng.u8(..100) < percent
}

fn pick<'a>(rng: &mut fastrand::Rng, words: &[&'a str]) -> &'a str {
    words[rng.usize(..words.len())]
}

impl Draft {
    fn new(rng: &mut fastrand::Rng, content_id: u64, date: NaiveDate) -> Draft {
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

    fn expected(&self) -> Expected {
        Expected {
            content_id: self.content_id.to_string(),
            headline: self.headline.clone(),
            pub_date: self.date.format("%Y-%m-%d").to_string(),
        }
    }

    /// A correction: one paragraph rewritten.
    fn correct(&mut self, rng: &mut fastrand::Rng) {
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

    fn render(&self, with_trailer: bool) -> Vec<u8> {
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

// ---------------------------------------------------------------------------------------------
// Header lines.

fn furniture_lines(rng: &mut fastrand::Rng, date: NaiveDate, out: &mut Vec<String>) {
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

fn date_line(rng: &mut fastrand::Rng, date: NaiveDate) -> String {
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

fn page_label(rng: &mut fastrand::Rng) -> String {
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

fn kicker(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..6) {
        0 | 1 => format!("{}:", pick(rng, PLACES)),
        2 => format!("{}:", pick(rng, ORGS)),
        3 => format!("聚焦{}", pick(rng, OBJECTS)),
        4 => format!("{}进行时", pick(rng, OBJECTS)),
        _ => pick(rng, KICKERS).to_owned(),
    }
}

fn headline(rng: &mut fastrand::Rng) -> String {
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

fn subtitle(rng: &mut fastrand::Rng) -> String {
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

fn name(rng: &mut fastrand::Rng) -> String {
    let mut n = pick(rng, SURNAMES).to_owned();
    n.push_str(pick(rng, GIVEN));
    if chance(rng, 60) {
        n.push_str(pick(rng, GIVEN));
    }
    n
}

/// `王 五`: a name with spaces between its characters, as split bylines have them.
fn spaced(name: &str) -> String {
    name.chars().map(String::from).collect::<Vec<_>>().join(" ")
}

/// The byline lines and the names they hold.
fn byline(rng: &mut fastrand::Rng) -> (Vec<String>, Vec<String>) {
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
fn slot(
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

// ---------------------------------------------------------------------------------------------
// Body text.

fn heading_pair(rng: &mut fastrand::Rng) -> (String, String) {
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

fn caption(rng: &mut fastrand::Rng) -> String {
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

fn paragraph(rng: &mut fastrand::Rng) -> String {
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

fn quantity(rng: &mut fastrand::Rng) -> String {
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

// ---------------------------------------------------------------------------------------------
// The vocabulary (invented, in the style of city papers).

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "梁", "郑", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "蓝", "覃", "韦", "莫", "潘", "廖", "黎", "卢",
];

const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "华", "晓", "岚", "素", "莹", "婷", "雪", "鹏", "辉", "宇",
    "浩", "凯", "俊", "帆", "琳", "倩", "颖", "欣", "博", "斌", "峰", "亮", "燕", "玲", "丹", "宁",
    "萍", "鑫", "健", "海", "波", "春", "梅", "兰", "松", "志", "永", "振",
];

const REPORTER_ROLES: &[&str] = &[
    "本报记者",
    "本报记者",
    "记者",
    "融媒体记者",
    "见习记者",
    "特约记者",
];

const SECTIONS: &[&str] = &[
    "要闻",
    "综合",
    "时政",
    "经济",
    "社会",
    "民生",
    "文体",
    "县区新闻",
    "特别报道",
    "理论",
    "副刊",
    "时事新闻",
    "专题",
    "城事",
];

const PLACES: &[&str] = &[
    "青溪区",
    "城南区",
    "河西区",
    "江北新区",
    "高新区",
    "东湖街道",
    "石桥镇",
    "云岭乡",
    "柳江村",
    "桂中新城",
    "北岸社区",
    "南山镇",
    "凤凰街道",
    "龙潭村",
    "金沙湾片区",
    "白云乡",
    "清水河镇",
    "新华路社区",
    "滨江片区",
    "古榕村",
    "红水河畔",
    "大塘镇",
    "良江镇",
    "三五村",
    "迁江镇",
    "城厢乡",
    "桥巩镇",
    "五山乡",
    "北五乡",
    "蒙村镇",
];

const ORGS: &[&str] = &[
    "区委宣传部",
    "市教育局",
    "区卫健局",
    "市场监管局",
    "区文旅局",
    "市住建局",
    "区农业农村局",
    "市交通运输局",
    "区人社局",
    "市生态环境局",
    "市公安局",
    "区消防救援大队",
    "区总工会",
    "团区委",
    "区妇联",
    "市税务局",
    "区民政局",
    "区应急管理局",
    "市自然资源局",
    "区水利局",
    "区发展改革局",
    "市商务局",
    "区科技局",
    "区司法局",
    "市图书馆",
    "区人民医院",
    "城南中学",
    "实验小学",
    "区融媒体中心",
    "市供电局",
    "区城管局",
    "市医保局",
];

const PEOPLE: &[&str] = &[
    "党员干部",
    "志愿者",
    "村民们",
    "居民们",
    "游客",
    "企业负责人",
    "种植户",
    "学生们",
    "家长们",
    "老人们",
    "医护人员",
    "执法人员",
    "网格员",
    "群众",
    "商户",
    "技术人员",
    "返乡青年",
    "村干部",
    "施工人员",
    "快递小哥",
];

const PEOPLE_DOING: &[&str] = &[
    "纷纷点赞",
    "参与热情高涨",
    "忙着采摘新鲜蔬菜",
    "认真听取讲解",
    "排起了长队",
    "抢抓农时忙生产",
    "有序开展作业",
    "在现场咨询有关政策",
    "体验非遗手工技艺",
    "为群众提供义诊服务",
    "逐户上门走访",
    "在田间地头指导生产",
    "加班加点赶进度",
    "一起打扫卫生",
    "观看文艺演出",
    "踊跃报名参加",
];

const SCENES: &[&str] = &[
    "施工现场",
    "活动现场",
    "田间地头",
    "生产车间",
    "社区广场",
    "服务大厅",
    "农贸市场",
    "校园里",
    "展销会上",
    "文化广场",
    "工地上",
    "茶园里",
];

const VERBS: &[&str] = &[
    "开展", "推进", "落实", "组织", "举办", "启动", "建设", "完善", "加强", "深化", "优化", "提升",
    "推动", "实施", "打造", "培育", "引导", "聚焦", "围绕", "服务", "保障", "排查", "整治", "宣传",
    "走访", "调研", "指导", "部署", "筹备", "改造", "巩固", "拓展", "壮大", "创新", "规范", "守护",
    "助力", "护航", "发展", "升级",
];

const OBJECTS: &[&str] = &[
    "乡村振兴",
    "营商环境",
    "基层治理",
    "安全生产",
    "食品安全",
    "文明城市创建",
    "垃圾分类",
    "河道治理",
    "产业发展",
    "就业服务",
    "养老服务",
    "医疗保障",
    "教育资源",
    "交通设施",
    "民生实事",
    "人居环境",
    "农田水利",
    "特色产业",
    "电商直播",
    "文化惠民",
    "全民健身",
    "消防安全",
    "防汛工作",
    "春耕生产",
    "招商引资",
    "项目建设",
    "社区服务",
    "便民设施",
    "数字化转型",
    "生态保护",
    "老旧小区改造",
    "义务教育",
    "职业技能培训",
    "反诈宣传",
    "法治宣传",
    "非遗保护",
    "旅游市场",
    "农产品销售",
    "冷链物流",
    "新能源汽车",
    "中小企业",
    "科技创新",
    "人才引进",
    "住房保障",
    "森林防火",
    "秸秆禁烧",
    "耕地保护",
    "林下经济",
    "糖料蔗种植",
    "优质稻生产",
    "村集体经济",
    "农村公路",
    "校园安全",
    "爱国卫生运动",
    "无偿献血",
    "移风易俗",
    "智慧城市",
    "政务服务",
    "退役军人服务",
    "困难群众帮扶",
];

const ACTIVITIES: &[&str] = &[
    "工作",
    "专项行动",
    "活动",
    "试点",
    "工程",
    "项目",
    "服务",
    "攻坚战",
    "宣传月活动",
    "大排查",
    "集中整治",
    "培训班",
];

const MODIFIERS: &[&str] = &[
    "扎实",
    "有序",
    "全面",
    "持续",
    "积极",
    "稳步",
    "切实",
    "深入",
    "大力",
    "不断",
    "进一步",
    "集中",
    "精准",
    "高效",
    "主动",
];

const OPENERS: &[&str] = &[
    "近日",
    "今年以来",
    "日前",
    "连日来",
    "入冬以来",
    "春节前夕",
    "截至目前",
    "与此同时",
    "据了解",
    "据介绍",
    "记者了解到",
    "此外",
    "目前",
    "去年以来",
    "今年上半年",
    "在活动现场",
    "近年来",
    "眼下",
    "当天",
    "为进一步巩固成果",
];

const RESULTS: &[&str] = &[
    "取得明显成效",
    "受到群众普遍欢迎",
    "群众满意度不断提升",
    "为高质量发展注入新动能",
    "形成了可复制可推广的经验",
    "有效解决了群众急难愁盼问题",
    "进一步增强了群众的获得感、幸福感、安全感",
    "实现了经济效益和社会效益双赢",
    "营造了良好的社会氛围",
    "推动各项工作落地见效",
    "让群众办事更方便、更快捷",
    "为全市大局作出积极贡献",
];

const STATES: &[&str] = &[
    "明显改善",
    "稳步提升",
    "走在全市前列",
    "持续向好",
    "初见成效",
    "全面铺开",
    "有序推进",
    "不断完善",
];

const MEASURES: &[&str] = &[
    "地区生产总值",
    "规模以上工业增加值",
    "固定资产投资",
    "社会消费品零售总额",
    "农村居民人均可支配收入",
    "城镇居民人均可支配收入",
    "外贸进出口总额",
    "旅游总收入",
    "财政收入",
];

const UNITS: &[&str] = &[
    "个", "家", "项", "场次", "人次", "户", "亩", "公里", "万元", "亿元", "吨", "所", "处", "名",
    "余人", "余场",
];

const QUOTE_WORDS: &[&str] = &[
    "四下基层",
    "小区微更新",
    "一站式服务",
    "最多跑一次",
    "菜篮子",
    "家门口",
    "指尖上",
    "钱袋子",
    "领头雁",
    "加速度",
    "新引擎",
    "金钥匙",
    "连心桥",
    "暖心包",
    "充电站",
    "主心骨",
    "幸福账单",
    "民生清单",
    "红色引擎",
    "绿色银行",
];

const SHORT_VERBS: &[&str] = &[
    "出实招",
    "亮新招",
    "按下快进键",
    "跑出加速度",
    "织密保障网",
    "打通最后一公里",
    "解锁新场景",
    "激活新动能",
];

const SHORT_RESULTS: &[&str] = &[
    "见实效",
    "显成效",
    "提质效",
    "惠民生",
    "暖民心",
    "聚民力",
    "添活力",
    "促发展",
    "开新局",
    "谱新篇",
    "结硕果",
    "绘新景",
];

const KICKERS: &[&str] = &[
    "新春走基层",
    "奋进新征程 建功新时代",
    "一线直击",
    "基层传真",
    "高质量发展调研行",
    "我为群众办实事",
    "文明创建在行动",
    "在希望的田野上",
];

const ROLE_WORDS: &[&str] = &[
    "党支部书记",
    "驻村第一书记",
    "乡村医生",
    "退役军人",
    "返乡创业青年",
    "社区网格员",
    "非遗传承人",
    "乡村教师",
];

const HEAD_TOPICS: &[&str] = &[
    "政策", "基层", "问题", "群众", "服务", "发展", "安全", "产业",
];
const HEAD_ROLES: &[&str] = &[
    "宣传员",
    "调研员",
    "化解员",
    "办事员",
    "服务员",
    "领航员",
    "守护员",
    "推销员",
];
const HEAD_SUBJECTS: &[&str] = &[
    "党的声音",
    "决策部署",
    "群众工作",
    "一线解题",
    "产业发展",
    "民生实事",
    "基层治理",
    "平安建设",
];
const HEAD_VERBS: &[&str] = &["聚", "顺", "惠", "暖", "稳", "富", "强", "安"];
const HEAD_PEOPLE: &[&str] = &["民力", "民意", "民生", "民心"];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn spec(seed: u64, count: u64) -> CorpusSpec {
        CorpusSpec {
            seed,
            count,
            duplicate_share: 0.05,
            correction_share: 0.05,
            bad_share: 0.03,
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let a: Vec<GeneratedFile> = generate(spec(7, 300)).collect();
        let b: Vec<GeneratedFile> = generate(spec(7, 300)).collect();
        assert_eq!(a.len(), 300);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (&x.name, &x.rel_dir, &x.bytes, x.kind),
                (&y.name, &y.rel_dir, &y.bytes, y.kind)
            );
        }
        let c: Vec<GeneratedFile> = generate(spec(8, 300)).collect();
        assert!(a.iter().zip(&c).any(|(x, y)| x.bytes != y.bytes));
    }

    #[test]
    fn a_smaller_count_is_a_prefix() {
        let small: Vec<GeneratedFile> = generate(spec(3, 120)).collect();
        let large: Vec<GeneratedFile> = generate(spec(3, 400)).take(120).collect();
        for (x, y) in small.iter().zip(&large) {
            assert_eq!((&x.name, &x.bytes), (&y.name, &y.bytes));
        }
    }

    #[test]
    fn shares_are_roughly_right() {
        let s = CorpusSpec {
            seed: 5,
            count: 5000,
            duplicate_share: 0.10,
            correction_share: 0.04,
            bad_share: 0.02,
        };
        let mut counts: HashMap<FileKind, u64> = HashMap::new();
        for f in generate(s) {
            *counts.entry(f.kind).or_default() += 1;
        }
        let near = |kind, share: f64| {
            let want = share * s.count as f64;
            let got = counts.get(&kind).copied().unwrap_or(0) as f64;
            assert!(
                (got - want).abs() <= want * 0.25,
                "{kind:?}: {got} files, expected about {want}"
            );
        };
        near(FileKind::Duplicate, 0.10);
        near(FileKind::Correction, 0.04);
        near(FileKind::Bad, 0.02);
        near(FileKind::Article, 0.84);
    }

    #[test]
    fn writes_trees_and_flat_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = spec(9, 150);
        let tree = write_tree(&dir.path().join("tree"), s).expect("tree");
        let flat = write_flat(&dir.path().join("flat"), s).expect("flat");
        assert_eq!(tree, flat);
        assert_eq!(tree.files, 150);
        assert_eq!(
            tree.articles + tree.duplicates + tree.corrections + tree.bad,
            150
        );
        let files = |p: &Path| {
            walkdir::WalkDir::new(p)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .count()
        };
        assert_eq!(files(&dir.path().join("tree")), 150);
        assert_eq!(files(&dir.path().join("flat")), 150);
        assert!(dir.path().join("tree/2020/01/01").is_dir());
    }
}
