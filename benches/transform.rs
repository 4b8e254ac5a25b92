//! Throughput of `transform` (bytes → `Article`, no I/O), with criterion.
//!
//! Groups:
//! - `sample`: the real sample, read at bench time from `../shared/samples/inbox` (skipped with
//!   a message when it is not there);
//! - `generated`: a deterministic mix of invented articles of varied shapes (page labels,
//!   kickers, subtitles, one to three authors with roles, headings, captions, trailers with and
//!   without `-->` or a time, bodies of 1–20 KB), in three forms: NFKC UTF-8 (the fast path),
//!   raw exports (full-width punctuation, U+3000 indentation, CRLF: the NFKC path), and GB18030.
//!
//! Throughput is in bytes, so criterion reports MB/s; one iteration transforms the whole
//! group input, so articles/s is the number of articles (printed at start) over the time.
//!
//! `cargo bench --bench transform -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;

use article_etl::transform::{transform, ParseOptions, RawFile};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// How many articles the generated mix holds.
const ARTICLES: usize = 48;
const SEED: u64 = 0x5EED_2024_0102;

// ---------------------------------------------------------------------------------------------
// A small deterministic generator (SplitMix64): no dependency, the same mix on every machine.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "近年来",
    "我市",
    "坚持",
    "推进",
    "高质量发展",
    "群众",
    "基层",
    "服务",
    "项目",
    "建设",
    "乡村振兴",
    "产业",
    "持续",
    "加快",
    "创新",
    "改革",
    "企业",
    "园区",
    "农业",
    "科技",
    "生态",
    "环境",
    "治理",
    "社区",
    "居民",
    "就业",
    "教育",
    "医疗",
    "养老",
    "文化",
    "旅游",
    "交通",
    "城市",
    "更新",
    "水利",
    "工程",
    "农田",
    "种植",
    "收入",
    "增长",
    "投资",
    "亿元",
    "万吨",
    "干部",
    "一线",
    "调研",
    "问题",
    "整改",
    "落实",
    "机制",
    "平台",
    "数字化",
    "智慧",
    "安全生产",
    "防汛",
    "应急",
    "演练",
    "志愿者",
    "活动",
    "宣讲",
    "理论",
    "学习",
    "培训",
    "村民",
    "合作社",
    "电商",
    "直播",
    "销售",
    "订单",
    "物流",
    "冷链",
    "蔬菜",
    "水果",
    "茶叶",
    "甘蔗",
    "稻田",
    "大棚",
    "示范",
    "带动",
    "提升",
    "保障",
    "民生",
    "实事",
    "“一站式”",
    "“最多跑一次”",
    "12个",
    "3.5万人次",
    "95%",
    "2024年",
    "(试行)",
];
const NAMES: &[&str] = &[
    "陈明远",
    "刘晓梅",
    "黄立新",
    "周海燕",
    "李思源",
    "王建国",
    "赵雅琴",
    "孙浩",
    "吴文静",
    "郑凯",
    "覃丽华",
    "蒙小军",
    "韦春燕",
    "欧阳明月",
];
const ROLES: &[&str] = &["本报记者", "记者", "通讯员", "实习生", "融媒体记者"];
const MARKERS: &[&str] = &["□", "■", "◎", "●"];
const PAPERS: &[&str] = &["江城日报", "滨海晚报", "山城都市报", "河西日报"];
const SECTIONS: &[&str] = &["要闻", "综合新闻", "特别报道", "经济", "民生", "时事新闻"];
const KICKERS: &[&str] = &[
    "城东区:",
    "高新区",
    "聚焦乡村振兴",
    "新春走基层",
    "城西街道:",
];
const WEEKDAYS: &[&str] = &["一", "二", "三", "四", "五", "六", "日"];

fn words(rng: &mut Rng, lo: usize, hi: usize) -> String {
    (0..rng.range(lo, hi))
        .map(|_| rng.pick(WORDS))
        .collect::<Vec<_>>()
        .concat()
}

fn sentence(rng: &mut Rng) -> String {
    let mut s = words(rng, 4, 9);
    for _ in 0..rng.below(3) {
        s.push(',');
        s.push_str(&words(rng, 3, 7));
    }
    s.push_str(rng.pick(&["。", "。", "。", "!", ";"]));
    s
}

fn paragraph(rng: &mut Rng) -> String {
    (0..rng.range(2, 6))
        .map(|_| sentence(rng))
        .collect::<Vec<_>>()
        .concat()
}

/// A heading: short, no closing punctuation, often with a quoted word.
fn heading(rng: &mut Rng) -> String {
    let mut h = words(rng, 1, 2);
    h.truncate(h.char_indices().nth(8).map_or(h.len(), |(i, _)| i));
    format!(
        "{h}“{}”",
        rng.pick(&["宣传员", "领跑者", "加速度", "民生账", "幸福路"])
    )
}

/// One article in NFKC form, and its content id.
fn article(rng: &mut Rng, id: u64) -> String {
    let (month, day) = (rng.range(1, 12), rng.range(1, 28));
    let date_iso = format!("2024-{month:02}-{day:02}");
    let mut lines: Vec<String> = Vec::new();
    let mut date_line = format!("2024年{month:02}月{day:02}日");
    if rng.chance(40) {
        date_line.push_str(&format!(" 星期{}", rng.pick(WEEKDAYS)));
    }
    lines.push(date_line);
    if rng.chance(50) {
        lines.push(format!(
            "第{}{:02}版:{}",
            rng.pick(&["A", "B", ""]),
            rng.range(1, 16),
            rng.pick(SECTIONS)
        ));
    }
    let kicker = rng.chance(50).then(|| rng.pick(KICKERS).to_owned());
    if let Some(k) = &kicker {
        lines.push(k.clone());
    }
    let headline = if rng.chance(50) {
        format!("{} {}", words(rng, 2, 3), words(rng, 2, 3))
    } else {
        words(rng, 2, 4)
    };
    lines.push(headline.clone());
    if rng.chance(30) {
        lines.push(format!("——{}", words(rng, 3, 5)));
    }
    let mut byline = rng.pick(MARKERS).to_owned();
    for _ in 0..rng.range(1, 3) {
        byline.push(' ');
        if rng.chance(70) {
            byline.push_str(rng.pick(ROLES));
            byline.push(' ');
        }
        byline.push_str(rng.pick(NAMES));
    }
    lines.push(byline.clone());

    // The body: 1–20 KB of paragraphs, with heading pairs and captions here and there.
    let target = rng.range(1024, 20 * 1024);
    let mut size = 0;
    while size < target {
        let block = match rng.below(12) {
            0 => {
                lines.push(heading(rng));
                heading(rng)
            }
            1 => format!(
                "{}。 {} {} 摄",
                words(rng, 3, 6),
                rng.pick(ROLES),
                rng.pick(NAMES)
            ),
            _ => paragraph(rng),
        };
        size += block.len();
        lines.push(block);
    }
    if rng.chance(20) {
        lines.push(format!("(责任编辑:{})", rng.pick(NAMES)));
    }

    // The trailer: slot = byline (+ kicker), sometimes a time, sometimes no `-->`.
    let mut trailer = String::new();
    if rng.chance(70) {
        trailer.push_str("--> ");
    }
    trailer.push_str(&date_iso);
    if rng.chance(20) {
        trailer.push_str(&format!(
            " {:02}:{:02}:17.0",
            rng.range(6, 22),
            rng.below(60)
        ));
    }
    trailer.push(' ');
    trailer.push_str(&byline);
    if let Some(k) = &kicker {
        trailer.push(' ');
        trailer.push_str(k);
    }
    let n = rng.range(1, 11);
    trailer.push_str(&format!(
        " {n} {n} {} content_{id}.html {} {headline} /enpproperty-->",
        rng.pick(PAPERS),
        rng.range(1, 3),
    ));
    lines.push(trailer);
    lines.join("\n\n") + "\n"
}

/// The same article as a raw export: full-width ASCII punctuation and digits, U+3000
/// indentation, CRLF.
fn rawify(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.lines() {
        if !line.is_empty() && !line.contains("enpproperty") {
            out.push_str("\u{3000}\u{3000}");
        }
        for c in line.chars() {
            match c {
                ',' | ':' | ';' | '!' | '?' | '(' | ')' | '0'..='9'
                    if !line.contains("enpproperty") =>
                {
                    out.push(char::from_u32(c as u32 + 0xFEE0).unwrap_or(c))
                }
                _ => out.push(c),
            }
        }
        out.push_str("\r\n");
    }
    out
}

fn opts() -> ParseOptions {
    ParseOptions::for_source("bench")
}

/// Transforms every input once; panics on a failure (a bench input must parse).
fn transform_all(inputs: &Inputs, opts: &ParseOptions) -> usize {
    let mut blocks = 0;
    for (path, bytes) in inputs {
        let raw = RawFile {
            path,
            bytes,
            mtime: None,
        };
        match transform(black_box(&raw), opts) {
            Ok(a) => blocks += a.blocks.len(),
            Err(e) => panic!("bench input does not parse: {e}"),
        }
    }
    blocks
}

/// Named inputs: (path, bytes).
type Inputs = Vec<(String, Vec<u8>)>;

fn bench_group(c: &mut Criterion, group: &str, forms: &[(&str, Inputs)]) {
    let opts = opts();
    let mut g = c.benchmark_group(group);
    for (name, inputs) in forms {
        let bytes: usize = inputs.iter().map(|(_, b)| b.len()).sum();
        eprintln!(
            "{group}/{name}: {} article(s), {bytes} bytes per iteration ({} bytes per article on average)",
            inputs.len(),
            bytes / inputs.len().max(1)
        );
        // Check once, outside the measurement, that every input parses, and say how.
        let mut warnings = std::collections::BTreeMap::<String, usize>::new();
        for (path, bytes) in inputs {
            let raw = RawFile {
                path,
                bytes,
                mtime: None,
            };
            let a = transform(&raw, &opts)
                .unwrap_or_else(|e| panic!("bench input does not parse: {e}"));
            for w in a.warnings {
                *warnings.entry(w.code).or_default() += 1;
            }
        }
        if !warnings.is_empty() {
            eprintln!("{group}/{name}: warnings by code: {warnings:?}");
        }
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(*name, |b| b.iter(|| transform_all(inputs, &opts)));
    }
    g.finish();
}

fn sample(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples/inbox");
    let mut inputs: Inputs = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
        .collect();
    if inputs.is_empty() {
        eprintln!(
            "SKIPPED: bench group `sample`: the real sample {} not found",
            dir.display()
        );
        return;
    }
    inputs.sort();
    bench_group(c, "sample", &[("utf8", inputs)]);
}

fn generated(c: &mut Criterion) {
    let mut rng = Rng(SEED);
    let texts: Vec<(String, String)> = (0..ARTICLES as u64)
        .map(|i| {
            let id = 900_000 + i;
            (format!("gen/content_{id}.txt"), article(&mut rng, id))
        })
        .collect();
    let nfkc: Inputs = texts
        .iter()
        .map(|(p, t)| (p.clone(), t.clone().into_bytes()))
        .collect();
    let raw: Inputs = texts
        .iter()
        .map(|(p, t)| (p.clone(), rawify(t).into_bytes()))
        .collect();
    let gb: Inputs = texts
        .iter()
        .map(|(p, t)| (p.clone(), encoding_rs::GB18030.encode(t).0.into_owned()))
        .collect();
    bench_group(
        c,
        "generated",
        &[("nfkc-utf8", nfkc), ("raw-utf8", raw), ("gb18030", gb)],
    );
}

criterion_group!(benches, sample, generated);
criterion_main!(benches);
