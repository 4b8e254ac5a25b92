//! One fixture per input shape (docs/format.md §2–§3): each file under `tests/fixtures/` is an
//! invented article written for these tests, parsed with the library API, with its field
//! values asserted.

use std::path::{Path, PathBuf};

use article_etl::document::{Artefact, Article, BlockKind, SlotKind};
use article_etl::parse::parse_file;
use article_etl::transform::{OnMissingId, ParseOptions};

const PAPER: &str = "青溪日报";

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn opts() -> ParseOptions {
    ParseOptions::for_source("test-paper")
}

fn fixture(name: &str) -> Article {
    fixture_with(name, &opts())
}

fn fixture_with(name: &str, opts: &ParseOptions) -> Article {
    parse_file(&path(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn raw_bytes(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap()
}

fn authors(a: &Article) -> Vec<(&str, Option<&str>)> {
    a.authors
        .iter()
        .map(|x| (x.name.as_str(), x.role.as_deref()))
        .collect()
}

fn slot_parts(a: &Article) -> Vec<(SlotKind, &str)> {
    let t = a.trailer.as_ref().expect("a trailer");
    t.slot_parts
        .iter()
        .map(|p| (p.kind, p.text.as_str()))
        .collect()
}

fn blocks(a: &Article) -> Vec<(BlockKind, &str, Option<Artefact>)> {
    a.blocks
        .iter()
        .map(|b| (b.kind, b.text.as_str(), b.artefact))
        .collect()
}

fn codes(a: &Article) -> Vec<&str> {
    a.warnings.iter().map(|w| w.code.as_str()).collect()
}

fn detail<'a>(a: &'a Article, code: &str) -> &'a str {
    a.warnings
        .iter()
        .find(|w| w.code == code)
        .map(|w| w.detail.as_str())
        .unwrap_or_else(|| panic!("no {code} warning in {:?}", a.warnings))
}

/// The usual trailer-backed article: id, URL, paper and date as the trailer has them, no warnings.
fn assert_clean(a: &Article, content_id: &str, pub_date: &str) {
    assert_eq!(a.content_id, content_id);
    assert_eq!(a.id, format!("test-paper:{content_id}"));
    assert_eq!(
        a.url.as_deref(),
        Some(&*format!("content_{content_id}.html"))
    );
    assert_eq!(a.paper.as_deref(), Some(PAPER));
    assert_eq!(a.pub_date.as_deref(), Some(pub_date));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

const P: BlockKind = BlockKind::Paragraph;
const H: BlockKind = BlockKind::Heading;

// ---------------------------------------------------------------------------------------
// Encodings and line endings
// ---------------------------------------------------------------------------------------

const ELEVATOR_TEXT: [&str; 4] = [
    "今年以来,青溪区把老旧小区加装电梯列入为民办实事项目清单,采取“政府补一点、居民出一点、企业让一点”的方式筹措资金,已为32个小区加装电梯57部,惠及居民2100余户。",
    "“以前下楼买个菜都要歇好几回,现在按个按钮就到家门口了。”家住朝阳小区6楼的李大爷说。",
    "为破解加装电梯中的意见协调难题,青溪区组织社区干部、楼栋长上门逐户沟通,推行“一梯一议”工作法,做到方案公开、费用公开、进度公开。",
    "下一步,青溪区将继续摸排有加装需求的楼栋,力争年内再完成40部电梯的加装任务。",
];

#[test]
fn crlf_line_endings() {
    // Shape: CRLF line endings (the sample's own layout otherwise: date, kicker, headline, □ byline).
    assert!(raw_bytes("crlf.txt").windows(2).any(|w| w == b"\r\n"));
    let a = fixture("crlf.txt");
    assert_clean(&a, "210001", "2024-03-15");
    assert_eq!(a.source_file.encoding, "utf-8");
    assert_eq!(
        a.published_at.map(|d| d.to_rfc3339()).as_deref(),
        Some("2024-03-15T00:00:00+08:00")
    );
    assert_eq!(a.kicker.as_deref(), Some("青溪区:"));
    assert_eq!(a.headline, "老旧小区加装电梯 居民出行更方便");
    assert_eq!(a.subtitle, None);
    assert_eq!(a.byline.as_deref(), Some("□ 张三"));
    assert_eq!(authors(&a), vec![("张三", None)]);
    assert_eq!(a.text, ELEVATOR_TEXT.join("\n"));
    assert!(!a.text.contains('\r'));
    assert_eq!(a.stats.paragraphs, 4);
    assert_eq!(a.stats.headings, 0);
    assert_eq!(a.stats.chars, a.text.chars().count() as i64);
    assert!(a.furniture.is_empty());
    assert_eq!(a.page, None);
}

#[test]
fn utf8_bom() {
    // Shape: UTF-8 with a byte order mark.
    assert!(raw_bytes("bom.txt").starts_with(b"\xEF\xBB\xBF"));
    let a = fixture("bom.txt");
    assert_clean(&a, "210002", "2024-03-16");
    assert_eq!(a.source_file.encoding, "utf-8-bom");
    assert_eq!(a.headline, "社区长者食堂开门迎客");
    assert_eq!(a.kicker, None);
    assert_eq!(a.byline.as_deref(), Some("□ 本报记者 李四"));
    assert_eq!(authors(&a), vec![("李四", Some("本报记者"))]);
    assert_eq!(a.blocks.len(), 3);
    assert!(a.text.starts_with("3月15日,青溪区河畔街道"));
    assert!(!a.text.contains('\u{feff}'));
}

#[test]
fn gb18030_bytes() {
    // Shape: GB18030 bytes (not UTF-8), with a four-byte sequence (䶮, CJK extension A).
    let bytes = raw_bytes("gb18030.txt");
    assert!(std::str::from_utf8(&bytes).is_err());
    let a = fixture("gb18030.txt");
    assert_clean(&a, "210003", "2024-03-17");
    assert_eq!(a.source_file.encoding, "gb18030");
    assert_eq!(a.source_file.size, bytes.len() as i64);
    assert_eq!(a.kicker.as_deref(), Some("青溪镇:"));
    assert_eq!(a.headline, "农家书屋里书香浓");
    assert_eq!(authors(&a), vec![("王五", None)]);
    assert_eq!(
        a.blocks[1].text,
        "“以前农闲时打打牌,现在更愿意来书屋坐坐,学点种养技术。”村民周䶮说。"
    );
    assert_eq!(a.stats.paragraphs, 3);
}

#[test]
fn utf16_le_and_be_with_bom() {
    // Shape: UTF-16 LE and BE, each with its BOM; the same article in both.
    assert!(raw_bytes("utf16le.txt").starts_with(b"\xFF\xFE"));
    assert!(raw_bytes("utf16be.txt").starts_with(b"\xFE\xFF"));
    let le = fixture("utf16le.txt");
    let be = fixture("utf16be.txt");
    assert_eq!(le.source_file.encoding, "utf-16le");
    assert_eq!(be.source_file.encoding, "utf-16be");
    for a in [&le, &be] {
        assert_clean(a, "210004", "2024-03-18");
        assert_eq!(a.headline, "夜市经济点亮城市烟火气");
        assert_eq!(authors(a), vec![("赵六", Some("本报记者"))]);
        assert_eq!(a.blocks.len(), 3);
        assert_eq!(
            a.blocks[2].text,
            "据统计,一季度全区夜间消费额同比增长18.6%。"
        );
    }
    assert_eq!(le.text, be.text);
    assert_eq!(le.content_hash, be.content_hash);
}

#[test]
fn raw_full_width_export_equals_normalized_export() {
    // Shape: a raw export (full-width ，：（）！；％ and digits, 　　 indentation, U+3000 inside the
    // headline and byline) against the same article already NFKC-normalized.
    let raw_text = String::from_utf8(raw_bytes("fullwidth_raw.txt")).unwrap();
    assert!(raw_text.contains("　　") && raw_text.contains('，') && raw_text.contains('（'));
    let raw = fixture("fullwidth_raw.txt");
    let norm = fixture("fullwidth_nfkc.txt");
    assert_ne!(raw.source_file.sha256, norm.source_file.sha256);
    for a in [&raw, &norm] {
        assert_clean(a, "210005", "2024-03-19");
        assert_eq!(a.headline, "植树添新绿 共建美家园");
        assert_eq!(a.byline.as_deref(), Some("□ 本报记者 张三 通讯员 李四"));
        assert_eq!(
            authors(a),
            vec![("张三", Some("本报记者")), ("李四", Some("通讯员"))]
        );
        assert_eq!(a.blocks.len(), 4);
    }
    assert_eq!(
        raw.blocks[0].text,
        "3月18日,青溪区在城东森林公园举行春季义务植树活动,机关干部、志愿者和周边居民共500余人参加。"
    );
    assert_eq!(
        raw.blocks[3].text,
        "据了解,今年青溪区计划完成植树造林1200亩,新建口袋公园8个;全区森林覆盖率将提高到62.5%。"
    );
    assert_eq!(raw.text, norm.text);
    assert_eq!(raw.content_hash, norm.content_hash);
    assert_eq!(
        raw.trailer.as_ref().unwrap().headline,
        "植树添新绿 共建美家园"
    );
}

// ---------------------------------------------------------------------------------------
// Trailers
// ---------------------------------------------------------------------------------------

#[test]
fn trailer_without_leading_arrow() {
    // Shape: the trailer does not start with `-->`.
    let a = fixture("trailer_no_arrow.txt");
    assert_clean(&a, "210006", "2024-03-20");
    let t = a.trailer.as_ref().unwrap();
    assert!(t.raw.starts_with("2024-03-20 "));
    assert_eq!(t.date, "2024-03-20");
    assert_eq!(t.slot.as_deref(), Some("□ 李四"));
    assert_eq!(t.numbers_before_paper, vec![1, 1]);
    assert_eq!(t.headline, "青溪区开通首条定制公交线路");
    assert_eq!(a.headline, "青溪区开通首条定制公交线路");
    assert_eq!(a.blocks.len(), 3);
    assert!(!a.text.contains("enpproperty"));
}

#[test]
fn trailer_over_two_lines() {
    // Shape: a two-line trailer, `--> DATE` alone on the line before the rest.
    let a = fixture("trailer_two_lines.txt");
    assert_clean(&a, "210007", "2024-03-21");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(
        t.raw,
        "--> 2024-03-21 张三 1 1 青溪日报 content_210007.html 1 清淤疏浚护河畅 碧水绕城景更美 /enpproperty-->"
    );
    assert_eq!(t.slot.as_deref(), Some("张三"));
    assert_eq!(slot_parts(&a), vec![(SlotKind::Authors, "张三")]);
    assert_eq!(a.headline, "清淤疏浚护河畅 碧水绕城景更美");
    // The date line of the trailer is not body text.
    assert_eq!(a.blocks.len(), 3);
    assert!(!a.text.contains("2024-03-21"));
}

#[test]
fn trailer_over_two_lines_with_empty_slot() {
    // Shape: a two-line trailer whose second line starts with the `N N` ids (empty slot).
    let a = fixture("trailer_two_lines_empty_slot.txt");
    assert_clean(&a, "210008", "2024-03-22");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(t.date, "2024-03-22");
    assert_eq!(t.slot, None);
    assert!(t.slot_parts.is_empty());
    assert_eq!(t.numbers_before_paper, vec![1, 1]);
    assert_eq!(a.headline, "课后服务“延时”不“减质”");
    assert_eq!(authors(&a), vec![("王五", Some("本报记者"))]);
    assert_eq!(a.blocks.len(), 3);
    assert!(!a.text.contains("2024-03-22"));
}

#[test]
fn trailer_with_date_and_time() {
    // Shape: `2023-12-13 09:28:27.0` in the trailer (and other site/node ids, `2 2`).
    let a = fixture("trailer_time.txt");
    assert_clean(&a, "210009", "2023-12-13");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(t.date, "2023-12-13");
    assert_eq!(t.time.as_deref(), Some("09:28:27.0"));
    assert_eq!(t.slot.as_deref(), Some("□ 赵六"));
    assert_eq!(t.numbers_before_paper, vec![2, 2]);
    assert_eq!(
        a.published_at.map(|d| d.to_rfc3339()).as_deref(),
        Some("2023-12-13T00:00:00+08:00")
    );
    assert_eq!(a.headline, "冬季“菜篮子”供应足价格稳");
}

// ---------------------------------------------------------------------------------------
// Slot contents
// ---------------------------------------------------------------------------------------

#[test]
fn slot_matching_byline_and_kicker() {
    // Shape: the sample's slot, a marked byline then a kicker, each matched to a header line.
    let a = fixture("crlf.txt");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(t.slot.as_deref(), Some("□ 张三 青溪区:"));
    assert_eq!(
        slot_parts(&a),
        vec![(SlotKind::Byline, "□ 张三"), (SlotKind::Kicker, "青溪区:")]
    );
}

#[test]
fn slot_empty() {
    // Shape: nothing in the CMS author and title fields.
    let a = fixture("slot_empty.txt");
    assert_clean(&a, "210010", "2024-03-23");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(t.slot, None);
    assert!(t.slot_parts.is_empty());
    assert_eq!(t.numbers_before_paper, vec![1, 1]);
    assert_eq!(t.paper.as_deref(), Some(PAPER));
    assert_eq!(a.headline, "青溪区举办春季招聘会");
    assert_eq!(authors(&a), vec![("李四", Some("本报记者"))]);
}

#[test]
fn slot_one_author() {
    // Shape: one plain author `张三` in the slot; the header's unmarked byline `本报记者 张三`.
    let a = fixture("slot_one_author.txt");
    assert_clean(&a, "210011", "2024-03-24");
    assert_eq!(slot_parts(&a), vec![(SlotKind::Authors, "张三")]);
    assert_eq!(a.byline.as_deref(), Some("本报记者 张三"));
    assert_eq!(authors(&a), vec![("张三", Some("本报记者"))]);
    assert_eq!(a.headline, "青溪区新增公共充电桩300个");
    // The unmarked byline is not the first paragraph.
    assert!(a.text.starts_with("记者从青溪区发展改革局获悉"));
    assert_eq!(a.blocks.len(), 2);
}

#[test]
fn slot_several_authors() {
    // Shape: several plain authors `张三 李四` in the slot.
    let a = fixture("slot_two_authors.txt");
    assert_clean(&a, "210012", "2024-03-25");
    assert_eq!(slot_parts(&a), vec![(SlotKind::Authors, "张三 李四")]);
    assert_eq!(a.byline.as_deref(), Some("□ 张三 李四"));
    assert_eq!(authors(&a), vec![("张三", None), ("李四", None)]);
}

#[test]
fn slot_byline_with_marker_and_no_header_byline() {
    // Shape: a byline with its marker `□ 韦某某` in the slot, and none on the page: the slot's
    // byline and author are used.
    let a = fixture("slot_byline_marker.txt");
    assert_clean(&a, "210013", "2024-03-26");
    assert_eq!(slot_parts(&a), vec![(SlotKind::Byline, "□ 韦某某")]);
    assert_eq!(a.byline.as_deref(), Some("□ 韦某某"));
    assert_eq!(authors(&a), vec![("韦某某", None)]);
    assert_eq!(a.headline, "青溪区开展防汛应急演练");
    assert_eq!(a.blocks.len(), 2);
}

#[test]
fn slot_picture_credit() {
    // Shape: a credit `通讯员 张三 摄` in the slot (a picture story: the caption is an artefact).
    let a = fixture("slot_credit.txt");
    assert_clean(&a, "210014", "2024-03-27");
    assert_eq!(slot_parts(&a), vec![(SlotKind::Credit, "通讯员 张三 摄")]);
    assert_eq!(a.byline, None);
    assert_eq!(authors(&a), vec![("张三", Some("通讯员"))]);
    assert_eq!(a.headline, "春耕时节农机忙");
    assert_eq!(
        blocks(&a),
        vec![
            (
                P,
                "连日来,青溪区各乡镇抢抓农时开展春耕生产,田间地头处处是农机轰鸣、农户忙碌的景象。",
                None
            ),
            (
                P,
                "3月26日,在青溪镇石桥村,农机手驾驶旋耕机平整水田,为早稻插秧做准备。 通讯员 张三 摄",
                Some(Artefact::Caption)
            ),
        ]
    );
    assert_eq!(a.text, a.blocks[0].text);
}

#[test]
fn slot_kicker() {
    // Shape: a kicker alone in the slot (the CMS author field empty).
    let a = fixture("slot_kicker.txt");
    assert_clean(&a, "210015", "2024-03-28");
    assert_eq!(slot_parts(&a), vec![(SlotKind::Kicker, "创建全国文明城市")]);
    assert_eq!(a.kicker.as_deref(), Some("创建全国文明城市"));
    assert_eq!(a.headline, "青溪区开展背街小巷环境整治");
    assert_eq!(authors(&a), vec![("王五", None)]);
}

#[test]
fn slot_subtitle_with_dashes() {
    // Shape: a subtitle with `——` in the slot and under the headline.
    let a = fixture("slot_subtitle_dash.txt");
    assert_clean(&a, "210016", "2024-03-29");
    assert_eq!(
        slot_parts(&a),
        vec![(SlotKind::Subtitle, "——记青溪镇石桥村党支部书记王五")]
    );
    assert_eq!(a.headline, "扎根乡村二十年 甘当群众“贴心人”");
    assert_eq!(
        a.subtitle.as_deref(),
        Some("——记青溪镇石桥村党支部书记王五")
    );
    assert_eq!(a.kicker, None);
    assert_eq!(authors(&a), vec![("李四", Some("本报记者"))]);
    assert_eq!(a.blocks.len(), 2);
}

#[test]
fn slot_subtitle_without_dashes() {
    // Shape: a subtitle without `——`, no byline: only the slot tells it from the body.
    let a = fixture("slot_subtitle_plain.txt");
    assert_clean(&a, "210017", "2024-03-30");
    assert_eq!(
        slot_parts(&a),
        vec![(SlotKind::Subtitle, "地区生产总值同比增长6.2%")]
    );
    assert_eq!(a.headline, "青溪区一季度经济运行稳中向好");
    assert_eq!(a.subtitle.as_deref(), Some("地区生产总值同比增长6.2%"));
    assert_eq!(a.byline, None);
    assert!(a.authors.is_empty());
    assert_eq!(a.blocks.len(), 2);
    assert!(a.text.starts_with("今年一季度"));
}

#[test]
fn slot_first_line_of_two_line_headline() {
    // Shape: the CMS kept the first line of a two-line headline in the slot and the second as
    // the title; the page shows both on one line. The headline is the whole line.
    let a = fixture("slot_headline_first_line.txt");
    assert_clean(&a, "210018", "2024-03-31");
    assert_eq!(
        slot_parts(&a),
        vec![(SlotKind::Headline, "青溪区首条城市快速路")]
    );
    assert_eq!(a.trailer.as_ref().unwrap().headline, "今日正式通车");
    assert_eq!(a.headline, "青溪区首条城市快速路 今日正式通车");
    assert_eq!(a.kicker, None);
    assert_eq!(authors(&a), vec![("赵六", Some("本报记者"))]);
}

#[test]
fn slot_author_then_kicker() {
    // Shape: an author followed by a kicker in the slot.
    let a = fixture("slot_author_kicker.txt");
    assert_clean(&a, "210019", "2024-04-01");
    assert_eq!(
        slot_parts(&a),
        vec![
            (SlotKind::Authors, "李四"),
            (SlotKind::Kicker, "乡村振兴进行时")
        ]
    );
    assert_eq!(a.kicker.as_deref(), Some("乡村振兴进行时"));
    assert_eq!(a.headline, "小小香菇撑起致富“大产业”");
    assert_eq!(authors(&a), vec![("李四", Some("本报记者"))]);
}

#[test]
fn slot_authors_then_subtitle() {
    // Shape: authors followed by a subtitle in the slot.
    let a = fixture("slot_author_subtitle.txt");
    assert_clean(&a, "210020", "2024-04-02");
    assert_eq!(
        slot_parts(&a),
        vec![
            (SlotKind::Authors, "张三 李四"),
            (SlotKind::Subtitle, "——青溪区深化“一网通办”改革见闻")
        ]
    );
    assert_eq!(a.headline, "让“数据多跑路” 群众少跑腿");
    assert_eq!(
        a.subtitle.as_deref(),
        Some("——青溪区深化“一网通办”改革见闻")
    );
    assert_eq!(
        authors(&a),
        vec![("张三", Some("本报记者")), ("李四", Some("本报记者"))]
    );
}

// ---------------------------------------------------------------------------------------
// URL forms and what follows the URL
// ---------------------------------------------------------------------------------------

#[test]
fn short_url_form() {
    // Shape: the short URL form `c<id>.html` (and another paper's name).
    let a = fixture("url_short.txt");
    assert_eq!(a.content_id, "210021");
    assert_eq!(a.id, "test-paper:210021");
    assert_eq!(a.url.as_deref(), Some("c210021.html"));
    assert_eq!(a.paper.as_deref(), Some("青溪晚报"));
    assert_eq!(a.headline, "青溪区老年大学春季班开课");
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn htm_url() {
    // Shape: `content_<id>.htm`.
    let a = fixture("url_htm.txt");
    assert_eq!(a.content_id, "210022");
    assert_eq!(a.url.as_deref(), Some("content_210022.htm"));
    assert_eq!(a.trailer.as_ref().unwrap().url, "content_210022.htm");
    assert_eq!(a.headline, "清明祭扫倡导文明新风");
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn two_numbers_after_url() {
    // Shape: two integers after the URL.
    let a = fixture("two_numbers_after_url.txt");
    assert_clean(&a, "210023", "2024-04-05");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(t.numbers_after_url, vec![2, 4]);
    assert_eq!(t.headline, "青溪区启动全民反诈宣传月活动");
    assert_eq!(a.headline, "青溪区启动全民反诈宣传月活动");
}

#[test]
fn headline_with_html_tags() {
    // Shape: the trailer's headline still carries HTML tags, `<p> 图片新闻 </p>`.
    let a = fixture("headline_html.txt");
    assert_clean(&a, "210024", "2024-04-06");
    let t = a.trailer.as_ref().unwrap();
    assert!(t.raw.contains("<p> 图片新闻 </p>"));
    assert_eq!(t.headline, "图片新闻");
    assert_eq!(t.numbers_after_url, vec![2]);
    assert_eq!(t.article_id, None);
    assert_eq!(a.headline, "图片新闻");
    assert!(a.authors.is_empty());
    assert_eq!(
        blocks(&a),
        vec![
            (
                P,
                "4月5日,青溪区实验小学的学生在校园“开心农场”里给蔬菜浇水、除草,在劳动中体验收获的快乐。",
                None
            ),
            (
                P,
                "▶ 学生们在老师指导下给菜苗浇水。 通讯员 李四 摄",
                Some(Artefact::Caption)
            ),
        ]
    );
}

#[test]
fn repeated_article_id_after_headline() {
    // Shape: the article id repeated after the headline, `54,180`.
    let a = fixture("article_id_repeated.txt");
    assert_clean(&a, "210025", "2024-04-07");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(t.article_id.as_deref(), Some("54180"));
    assert_eq!(t.headline, "青溪区首届油菜花节开幕");
    assert_eq!(t.numbers_before_paper, vec![3, 3]);
    assert_eq!(a.headline, "青溪区首届油菜花节开幕");
    assert_eq!(a.content_id, "210025");
}

// ---------------------------------------------------------------------------------------
// Page labels and furniture
// ---------------------------------------------------------------------------------------

#[test]
fn page_label_without_date_line() {
    // Shape: `第A03版:要闻` heads the file, no date line: the date is the trailer's.
    let a = fixture("page_label_no_date.txt");
    assert_clean(&a, "210026", "2024-04-08");
    let page = a.page.as_ref().unwrap();
    assert_eq!(page.label, "A03");
    assert_eq!(page.section.as_deref(), Some("要闻"));
    assert_eq!(a.kicker, None);
    assert_eq!(a.headline, "青溪区召开安全生产工作会议");
    assert!(a.furniture.is_empty());
    assert_eq!(a.blocks.len(), 2);
}

#[test]
fn page_label_with_pdf_suffix() {
    // Shape: `第04版:时事新闻 PDF版` under the date line.
    let a = fixture("page_label_pdf.txt");
    assert_clean(&a, "210027", "2024-04-09");
    let page = a.page.as_ref().unwrap();
    assert_eq!(page.label, "04");
    assert_eq!(page.section.as_deref(), Some("时事新闻"));
    assert_eq!(a.kicker, None);
    assert_eq!(a.headline, "青溪区开展食品安全专项检查");
    assert!(!a.text.contains("PDF"));
}

#[test]
fn page_label_with_empty_name() {
    // Shape: `第A02版:` with an empty section name.
    let a = fixture("page_label_empty_name.txt");
    assert_clean(&a, "210028", "2024-04-10");
    let page = a.page.as_ref().unwrap();
    assert_eq!(page.label, "A02");
    assert_eq!(page.section, None);
    assert_eq!(a.kicker, None);
    assert_eq!(a.headline, "青溪区图书馆推出“夜读”服务");
}

#[test]
fn furniture_before_date_line() {
    // Shape: registration line, navigation and source line before the date line.
    let a = fixture("furniture_before_date.txt");
    assert_clean(&a, "210029", "2024-04-11");
    assert_eq!(
        a.furniture,
        vec![
            "国内统一刊号:CN00-0000 青溪日报社出版",
            "上一篇 下一篇",
            "《 青溪日报 》 ( 2024年04月11日 第 02 版)",
        ]
    );
    assert_eq!(a.kicker.as_deref(), Some("青溪区:"));
    assert_eq!(a.headline, "“小区微更新”换来居民大满意");
    assert_eq!(authors(&a), vec![("张三", None)]);
    assert_eq!(a.blocks.len(), 2);
    for f in &a.furniture {
        assert!(!a.text.contains(f.as_str()));
    }
}

// ---------------------------------------------------------------------------------------
// Bylines
// ---------------------------------------------------------------------------------------

#[test]
fn byline_with_roles() {
    // Shape: several authors with roles, `□ 本报记者 张三 通讯员 李四`.
    let a = fixture("byline_roles.txt");
    assert_clean(&a, "210030", "2024-04-12");
    assert_eq!(a.byline.as_deref(), Some("□ 本报记者 张三 通讯员 李四"));
    assert_eq!(
        authors(&a),
        vec![("张三", Some("本报记者")), ("李四", Some("通讯员"))]
    );
    assert_eq!(
        slot_parts(&a),
        vec![(SlotKind::Byline, "□ 本报记者 张三 通讯员 李四")]
    );
    assert_eq!(a.blocks.len(), 2);
}

#[test]
fn byline_over_two_lines() {
    // Shape: `■融媒体记者 张三 李四` then `通 讯 员 王 五 赵六` (spaced role and name).
    let a = fixture("byline_two_lines.txt");
    assert_clean(&a, "210031", "2024-04-13");
    assert_eq!(
        a.byline.as_deref(),
        Some("■融媒体记者 张三 李四 通 讯 员 王 五 赵六")
    );
    assert_eq!(
        authors(&a),
        vec![
            ("张三", Some("融媒体记者")),
            ("李四", Some("融媒体记者")),
            ("王五", Some("通讯员")),
            ("赵六", Some("通讯员")),
        ]
    );
    assert_eq!(a.headline, "青溪区春季茶叶开采上市");
    assert_eq!(a.blocks.len(), 2);
    assert!(a.text.starts_with("连日来"));
}

#[test]
fn no_byline() {
    // Shape: no byline anywhere (header, slot or closing line).
    let a = fixture("no_byline.txt");
    assert_clean(&a, "210032", "2024-04-14");
    assert_eq!(a.byline, None);
    assert!(a.authors.is_empty());
    assert_eq!(a.headline, "青溪区公布一批便民服务热线");
    assert_eq!(a.blocks.len(), 2);
    assert!(a.text.starts_with("为方便群众办事"));
}

#[test]
fn closing_author_in_parentheses() {
    // Shape: a closing author line `(张三 李四)`, the only naming of the authors.
    let a = fixture("closing_author.txt");
    assert_clean(&a, "210039", "2024-04-22");
    assert_eq!(a.byline, None);
    assert_eq!(authors(&a), vec![("张三", None), ("李四", None)]);
    assert_eq!(a.furniture, vec!["(张三 李四)"]);
    assert_eq!(a.blocks.len(), 2);
    assert!(!a.text.contains("张三"));
}

// ---------------------------------------------------------------------------------------
// Missing trailer, missing id
// ---------------------------------------------------------------------------------------

#[test]
fn no_trailer_id_from_file_name() {
    // Shape: no trailer; the content id comes from the file name `content_4321.txt`.
    let a = fixture("content_4321.txt");
    assert_eq!(a.content_id, "4321");
    assert_eq!(a.id, "test-paper:4321");
    assert_eq!(a.trailer, None);
    assert_eq!(a.url, None);
    assert_eq!(a.paper, None);
    assert_eq!(a.pub_date.as_deref(), Some("2024-04-15"));
    assert_eq!(codes(&a), vec!["headline_guessed", "no_trailer"]);
    assert_eq!(a.kicker.as_deref(), Some("民生实事"));
    assert_eq!(a.headline, "青溪区今年将新建改建农村公路120公里");
    assert_eq!(authors(&a), vec![("王五", Some("本报记者"))]);
    assert_eq!(a.blocks.len(), 2);
}

#[test]
fn no_id_anywhere_with_content_hash_rule() {
    // Shape: no trailer, no id in the file name; `on_missing_id = content-hash`.
    let err = parse_file(&path("no_id.txt"), &opts()).unwrap_err();
    assert_eq!(err.code(), "missing_content_id");

    let mut o = opts();
    o.on_missing_id = OnMissingId::ContentHash;
    let a = fixture_with("no_id.txt", &o);
    let hex = a.content_hash.strip_prefix("sha256:").unwrap();
    assert_eq!(hex.len(), 64);
    assert_eq!(a.content_id, format!("h:{}", &hex[..16]));
    assert!(a.content_id[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a.id, format!("test-paper:{}", a.content_id));
    assert_eq!(a.headline, "青溪区开展世界读书日系列活动");
    assert_eq!(a.pub_date.as_deref(), Some("2024-04-16"));
    assert!(a.has_warning("no_trailer"));
    // Stable: the same bytes give the same id.
    assert_eq!(fixture_with("no_id.txt", &o).content_id, a.content_id);
}

// ---------------------------------------------------------------------------------------
// Header and trailer disagreeing, header dates
// ---------------------------------------------------------------------------------------

#[test]
fn date_mismatch_keeps_trailer_date() {
    // Shape: the header's date line says 2024-04-16, the trailer 2024-04-17.
    let a = fixture("date_mismatch.txt");
    assert_eq!(a.pub_date.as_deref(), Some("2024-04-17"));
    assert_eq!(codes(&a), vec!["date_mismatch"]);
    let d = detail(&a, "date_mismatch");
    assert!(d.contains("2024-04-16") && d.contains("2024-04-17"), "{d}");
    assert_eq!(a.headline, "青溪区启动夏季防溺水安全教育");
}

#[test]
fn headline_mismatch_keeps_trailer_headline() {
    // Shape: the CMS title differs from the page's headline.
    let a = fixture("headline_mismatch.txt");
    assert_eq!(a.headline, "城乡环境卫生大扫除全面启动");
    assert_eq!(codes(&a), vec!["headline_mismatch"]);
    let d = detail(&a, "headline_mismatch");
    assert!(
        d.contains("青溪区全面启动城乡环境卫生大扫除") && d.contains("城乡环境卫生大扫除全面启动"),
        "{d}"
    );
    // The page's headline is neither kicker nor text.
    assert_eq!(a.kicker, None);
    assert!(!a.text.contains("青溪区全面启动城乡环境卫生大扫除"));
    assert_eq!(authors(&a), vec![("张三", None)]);
    assert_eq!(a.blocks.len(), 2);
}

#[test]
fn date_line_with_weekday() {
    // Shape: `2024年1月2日 星期二` (no zero padding, a weekday).
    let a = fixture("date_weekday.txt");
    assert_clean(&a, "210035", "2024-01-02");
    assert!(a.furniture.is_empty());
    assert_eq!(a.kicker, None);
    assert_eq!(a.headline, "青溪区元旦假期文旅市场红火");
    assert_eq!(a.blocks.len(), 2);
}

// ---------------------------------------------------------------------------------------
// Body shapes
// ---------------------------------------------------------------------------------------

#[test]
fn body_artefacts_are_flagged_and_left_out_of_text() {
    // Shape: a caption ending in 摄, `本文字数:137` and `责任编辑:张三` among the body lines.
    let a = fixture("artefacts.txt");
    assert_clean(&a, "210036", "2024-04-19");
    assert_eq!(
        blocks(&a),
        vec![
            (
                P,
                "4月18日,青溪区非遗文化进校园活动走进城南中学,剪纸、竹编、木偶戏等非遗项目传承人现场展示技艺。",
                None
            ),
            (
                P,
                "学生们在传承人指导下动手体验剪纸。 本报记者 李四 摄",
                Some(Artefact::Caption)
            ),
            (
                P,
                "“原来一张红纸能剪出这么多花样,太神奇了!”初二学生小吴说。",
                None
            ),
            (P, "本文字数:137", Some(Artefact::WordCount)),
            (P, "责任编辑:张三", Some(Artefact::Editor)),
        ]
    );
    assert_eq!(
        a.text,
        [a.blocks[0].text.as_str(), a.blocks[2].text.as_str()].join("\n")
    );
    assert_eq!(a.stats.paragraphs, 2);
    assert_eq!(a.stats.artefacts, 3);
    assert!(a.furniture.is_empty(), "{:?}", a.furniture);
    assert_eq!(authors(&a), vec![("李四", Some("本报记者"))]);
}

#[test]
fn jump_markers_go_to_furniture() {
    // Shape: `(下转A2版)` closing a paragraph, `(上接A1版)` on a line of its own.
    let a = fixture("jump_marker.txt");
    assert_clean(&a, "210037", "2024-04-20");
    assert_eq!(a.furniture, vec!["(下转A2版)", "(上接A1版)"]);
    assert_eq!(
        a.blocks.iter().map(|b| b.text.as_str()).collect::<Vec<_>>(),
        vec![
            "今年一季度,青溪区82个重点项目完成投资56.3亿元,占年度计划的27.5%,项目开工率、投资完成率均创近年同期新高。",
            "在青溪高新区,新能源电池材料项目主体厂房已封顶,预计6月底试生产。",
            "区发展改革局相关负责人表示,将继续实行重点项目领导包联制度,及时协调解决项目建设中的困难和问题。",
        ]
    );
    assert!(!a.text.contains("版)"));
}

#[test]
fn counters_go_to_furniture() {
    // Shape: a counter `阅读数:876` after the text.
    let a = fixture("counter.txt");
    assert_clean(&a, "210038", "2024-04-21");
    assert_eq!(a.furniture, vec!["阅读数:876"]);
    assert_eq!(a.blocks.len(), 2);
    assert!(!a.text.contains("阅读数"));
}

#[test]
fn headings_and_paragraphs() {
    // Shape: short lines ending in `”` are headings (also a heading pair), short lines ending
    // in `。”` or `!”` are paragraphs.
    let a = fixture("headings.txt");
    assert_clean(&a, "210040", "2024-04-23");
    let got: Vec<(BlockKind, &str)> = a.blocks.iter().map(|b| (b.kind, b.text.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (
                P,
                "今年以来,青溪区围绕群众关心的食品安全问题,从源头治理、过程监管、社会共治三个方面持续发力。"
            ),
            (H, "筑牢源头“防火墙”"),
            (H, "严把农产品产地准出关"),
            (
                P,
                "全区建立农产品质量安全快速检测点46个,对上市蔬菜、水果实行批批抽检。"
            ),
            (P, "“现在买菜心里踏实多了。”"),
            (H, "织密监管“安全网”"),
            (
                P,
                "市场监管部门对农贸市场、超市、餐饮单位实行分级分类监管,今年已开展专项检查1200余家次,立案查处违法案件23起。"
            ),
            (P, "“我们会把好每一道关!”"),
        ]
    );
    assert_eq!(a.stats.headings, 3);
    assert_eq!(a.stats.paragraphs, 5);
    assert!(a.blocks.iter().all(|b| b.artefact.is_none()));
    // Headings are part of the text.
    assert!(a
        .text
        .contains("\n筑牢源头“防火墙”\n严把农产品产地准出关\n"));
}

// ---------------------------------------------------------------------------------------
// Every fixture
// ---------------------------------------------------------------------------------------

#[test]
fn every_fixture_parses_and_keeps_the_trailer_out_of_the_text() {
    let mut o = opts();
    o.on_missing_id = OnMissingId::ContentHash;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if !matches!(p.extension(), Some(e) if e == "txt") {
            continue;
        }
        let a = parse_file(&p, &o).unwrap_or_else(|e| panic!("{e}"));
        let name = p.display();
        // The trailer never reaches the text: only a body line quoting the word may.
        let quoting = p.ends_with("shape_enpproperty_in_body.txt");
        assert!(quoting || !a.text.contains("enpproperty"), "{name}");
        if let Some(t) = &a.trailer {
            assert!(!a.text.contains(&t.raw), "{name}");
        }
        // A picture story has no text, and says so.
        assert!(!a.text.is_empty() || a.has_warning("empty_body"), "{name}");
        assert!(
            !a.headline.is_empty() || a.has_warning("no_headline"),
            "{name}"
        );
        assert_eq!(a.stats.chars, a.text.chars().count() as i64, "{name}");
        assert!(a.content_hash.starts_with("sha256:"), "{name}");
        assert_eq!(a.id, format!("test-paper:{}", a.content_id), "{name}");
        seen += 1;
    }
    assert!(seen >= 40, "{seen} fixtures");
}

// Shape: two marked byline lines (`□ 本报记者 张三` then `□ 通讯员 李四`): both are the
// byline, neither is body text.
#[test]
fn byline_on_two_marked_lines() {
    let a = fixture("byline_two_marked_lines.txt");
    assert_eq!(a.byline.as_deref(), Some("□ 本报记者 张三 □ 通讯员 李四"));
    assert_eq!(
        authors(&a),
        vec![("张三", Some("本报记者")), ("李四", Some("通讯员"))]
    );
    assert_eq!(a.stats.headings, 0);
    assert_eq!(a.stats.paragraphs, 2);
    assert!(!a.text.contains('□'));
}

// Shape: a picture story (the only body line is a caption) whose trailer's `-->` stands alone
// on the line above: the `-->` is part of the trailer, and the empty text is flagged.
#[test]
fn picture_story_with_a_bare_comment_opener() {
    let a = fixture("picture_story_bare_arrow.txt");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(
        t.raw,
        "--> 2024-05-07 1 1 青溪日报 content_220102.html 1 图片新闻 /enpproperty-->"
    );
    assert_eq!(a.content_id, "220102");
    assert_eq!(a.headline, "图片新闻");
    assert_eq!(a.text, "");
    assert_eq!(a.blocks.len(), 1);
    assert_eq!(a.blocks[0].artefact, Some(Artefact::Caption));
    assert!(a.has_warning("empty_body"));
    assert!(a.furniture.is_empty());
}

// ---------------------------------------------------------------------------------------
// Shapes seen on real pages of many papers (docs/fidelity.md): every fixture below is an
// invented article in the shape of one class.
// ---------------------------------------------------------------------------------------

const PARK_TEXT: [&str; 3] = [
    "青溪区今年新建口袋公园14个,见缝插绿,让居民出门五分钟就能走进绿地。",
    "公园建设坚持“小而美”,每处都配有座椅、步道和儿童游乐设施,并由社区志愿者认领管护。",
    "下一步,青溪区还将在老城区再建一批口袋公园,力争年底前实现城区全覆盖。",
];

/// The park article's header and body, whatever the trailer's shape.
fn assert_park(a: &Article, content_id: &str) {
    assert_eq!(a.content_id, content_id);
    assert_eq!(a.pub_date.as_deref(), Some("2024-06-03"));
    assert_eq!(a.headline, "口袋公园 推窗见绿");
    assert_eq!(a.byline.as_deref(), Some("□ 本报记者 林晓峰"));
    assert_eq!(authors(a), vec![("林晓峰", Some("本报记者"))]);
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn trailer_end_marker_with_a_space() {
    let a = fixture("shape_end_marker_spaced.txt");
    assert_park(&a, "310001");
    assert_eq!(a.paper.as_deref(), Some(PAPER));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn trailer_without_an_end_marker() {
    let a = fixture("shape_no_end_marker.txt");
    assert_park(&a, "310002");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(t.headline, "口袋公园 推窗见绿");
    assert_eq!(t.slot.as_deref(), Some("□ 本报记者 林晓峰"));
    assert_eq!(codes(&a), vec!["trailer_unterminated"]);
}

#[test]
fn trailer_split_one_token_per_line() {
    let a = fixture("shape_trailer_split_per_token.txt");
    assert_park(&a, "310003");
    let t = a.trailer.as_ref().unwrap();
    assert_eq!(t.numbers_before_paper, vec![1, 1]);
    assert_eq!(t.paper.as_deref(), Some(PAPER));
    assert_eq!(t.numbers_after_url, vec![1]);
    assert_eq!(t.headline, "口袋公园 推窗见绿");
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn trailer_followed_by_a_list_of_other_articles() {
    let a = fixture("shape_trailer_then_navigation.txt");
    assert_park(&a, "310004");
    assert_eq!(a.url.as_deref(), Some("content_310004.html"));
    // The list is furniture, flagged, never the trailer or the text.
    assert_eq!(
        codes(&a)
            .iter()
            .filter(|c| **c == "text_after_trailer")
            .count(),
        3
    );
    assert!(a.furniture.iter().any(|f| f.contains("content_310005")));
}

#[test]
fn trailer_url_forms() {
    let a = fixture("shape_url_c_underscore.txt");
    assert_park(&a, "310008");
    assert_eq!(a.url.as_deref(), Some("c_310008.html"));
    let a = fixture("shape_url_con.txt");
    assert_park(&a, "310009");
    assert_eq!(a.url.as_deref(), Some("con310009.htm"));
}

#[test]
fn empty_trailer_headline_takes_the_headers() {
    let a = fixture("shape_empty_trailer_headline.txt");
    assert_eq!(a.content_id, "310010");
    assert_eq!(a.kicker.as_deref(), Some("青溪区:"));
    assert_eq!(a.headline, "老旧楼道装上感应灯");
    assert!(detail(&a, "headline_guessed").contains("headline field is empty"));
}

#[test]
fn slot_with_the_subtitle_before_the_kicker() {
    let a = fixture("shape_slot_subtitle_before_kicker.txt");
    assert_eq!(a.kicker.as_deref(), Some("夏粮丰收在望:"));
    assert_eq!(a.headline, "十万亩小麦开镰收割");
    assert_eq!(a.subtitle.as_deref(), Some("——青溪区三夏生产见闻"));
    assert_eq!(
        slot_parts(&a),
        vec![
            (SlotKind::Subtitle, "——青溪区三夏生产见闻"),
            (SlotKind::Kicker, "夏粮丰收在望:")
        ]
    );
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn bare_names_named_by_the_slot_are_the_byline() {
    let a = fixture("shape_bare_names_slot.txt");
    assert_eq!(a.headline, "端午龙舟赛 两岸欢呼声");
    assert_eq!(
        a.subtitle.as_deref(),
        Some("青溪区举办第五届龙舟邀请赛吸引上万市民观赛")
    );
    assert_eq!(a.byline.as_deref(), Some("宋明远 韩静怡"));
    assert_eq!(authors(&a), vec![("宋明远", None), ("韩静怡", None)]);
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn bare_names_repeated_by_a_closing_line_are_the_byline() {
    let a = fixture("shape_bare_names_closing.txt");
    assert_eq!(a.headline, "社区食堂开进老街巷");
    assert_eq!(a.subtitle, None);
    assert_eq!(a.byline.as_deref(), Some("方志成 谭慧"));
    assert_eq!(authors(&a), vec![("方志成", None), ("谭慧", None)]);
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn a_name_alone_after_the_headline_is_the_byline() {
    let a = fixture("shape_bare_name_alone.txt");
    assert_eq!(a.headline, "夜间集市开张");
    assert_eq!(a.subtitle, None);
    assert_eq!(authors(&a), vec![("邵雅琴", None)]);
    assert_eq!(a.page.as_ref().map(|p| p.label.as_str()), Some("03"));
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn byline_markers_diamond_and_doubled() {
    let a = fixture("shape_marker_diamond.txt");
    assert_eq!(authors(&a), vec![("曾凡宇", Some("融媒体记者"))]);
    let a = fixture("shape_marker_doubled.txt");
    assert_eq!(authors(&a), vec![("曾凡宇", Some("全媒体记者"))]);
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn photo_labels_between_headline_and_byline_are_captions() {
    let a = fixture("shape_photo_labels.txt");
    assert_eq!(a.headline, "老旧电梯换新颜");
    assert_eq!(a.subtitle, None);
    assert_eq!(authors(&a), vec![("苏文博", Some("本报通讯员"))]);
    let captions: Vec<&str> = a
        .blocks
        .iter()
        .filter(|b| b.artefact == Some(Artefact::Caption))
        .map(|b| b.text.as_str())
        .collect();
    assert_eq!(
        captions,
        vec!["更换前", "更换后", "图为工人正在调试新电梯。"]
    );
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn short_captions_before_the_byline() {
    let a = fixture("shape_captions_before_byline.txt");
    assert_eq!(a.headline, "山歌声声唱丰年");
    assert_eq!(a.subtitle, None);
    assert_eq!(authors(&a), vec![("潘思琪", Some("全媒体记者"))]);
    assert_eq!(a.stats.artefacts, 3);
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn no_date_line_and_no_page_label() {
    let a = fixture("shape_no_date_no_page.txt");
    assert_eq!(a.pub_date.as_deref(), Some("2024-06-12"));
    assert_eq!(a.headline, "青溪河清淤工程完工");
    assert!(a.page.is_none());
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn traditional_mirror_without_converter_residue() {
    let a = fixture("shape_traditional_mirror.txt");
    assert_eq!(a.paper.as_deref(), Some("青溪日報"));
    assert_eq!(a.headline, "青溪區新建三座圖書館");
    assert_eq!(authors(&a), vec![("林曉峰", Some("本報記者"))]);
    assert!(!a.text.contains('('), "{}", a.text);
    assert!(detail(&a, "conversion_residue").contains("removed"));
}

#[test]
fn literary_page_verse_and_a_column_headline() {
    let a = fixture("shape_poem.txt");
    // The trailer names the column: it stays the headline, and the header's title is named.
    assert_eq!(a.headline, "青溪文苑");
    assert!(detail(&a, "headline_mismatch").contains("江边的晚风(外一首)"));
    assert_eq!(authors(&a), vec![("柳岸青", None)]);
    // Four short lines in a row are verse, not headings.
    assert_eq!(a.stats.headings, 0);
    assert_eq!(a.stats.paragraphs, 4);
    assert_eq!(slot_parts(&a), vec![(SlotKind::Unknown, "(外一首)")]);
}

#[test]
fn trailer_without_a_date_still_loads_by_its_url() {
    let a = fixture("shape_trailer_no_date.txt");
    assert_eq!(a.content_id, "310022");
    assert!(a.trailer.is_none());
    assert!(detail(&a, "malformed_trailer").contains("date"));
    assert!(!codes(&a).contains(&"no_trailer"));
    assert_eq!(
        a.pub_date.as_deref(),
        Some("2024-06-03"),
        "the header's date"
    );
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn no_headline_anywhere_loads_flagged() {
    let a = fixture("shape_no_headline_anywhere.txt");
    assert_eq!(a.content_id, "310023");
    assert_eq!(a.headline, "");
    assert!(codes(&a).contains(&"no_headline"));
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn a_body_line_mentioning_enpproperty_is_text() {
    let a = fixture("shape_enpproperty_in_body.txt");
    assert_eq!(a.content_id, "310024");
    assert_eq!(a.blocks.len(), 3);
    assert!(a.blocks[1].text.contains("enpproperty"));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn roles_that_name_their_newsroom() {
    let a = fixture("shape_newsroom_roles.txt");
    assert_eq!(
        authors(&a),
        vec![("邱文涛", Some("晚报记者")), ("江一鸣", Some("文/记者"))]
    );
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn where_slot_and_header_name_different_people_the_slot_wins() {
    let a = fixture("shape_slot_authors_disagree.txt");
    assert_eq!(authors(&a), vec![("贺晓东", None)]);
    assert_eq!(a.byline.as_deref(), Some("贺晓东"));
    assert!(detail(&a, "authors_mismatch").contains("江一鸣"));
    // The header's line is set aside, never lost.
    assert!(a.furniture.iter().any(|f| f == "江一鸣"));
}

#[test]
fn a_subtitle_only_the_slot_holds() {
    let a = fixture("shape_subtitle_only_in_slot.txt");
    assert_eq!(a.subtitle.as_deref(), Some("——青溪区24小时城市书房走访记"));
    assert_eq!(codes(&a), vec!["subtitle_from_trailer"]);
}

#[test]
fn empty_trailer_headline_with_a_long_colon_kicker() {
    let a = fixture("shape_empty_headline_colon_kicker.txt");
    assert_eq!(a.kicker.as_deref(), Some("青溪区城西街道办事处:"));
    assert_eq!(a.headline, "议事厅里议出幸福事");
}

#[test]
fn a_paper_name_of_two_words_a_slashed_date_and_an_escaped_end_marker() {
    let a = fixture("shape_paper_of_two_words.txt");
    assert_eq!(a.content_id, "310029");
    assert_eq!(a.paper.as_deref(), Some("青溪日报 海外版"));
    assert_eq!(a.pub_date.as_deref(), Some("2024-06-21"));
    assert_eq!(a.trailer.as_ref().unwrap().slot, None);
    // `作者:` is a role like any other.
    assert_eq!(authors(&a), vec![("欧阳明月", Some("作者"))]);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn a_photo_report_credit_as_byline() {
    let a = fixture("shape_photo_report_credit.txt");
    assert_eq!(authors(&a), vec![("周航", Some("本报记者"))]);
    assert_eq!(a.text, PARK_TEXT.join("\n"));
}

#[test]
fn the_leads_parentheses_name_the_authors() {
    let a = fixture("shape_lead_names_authors.txt");
    assert_eq!(
        authors(&a),
        vec![("林晓峰", Some("融媒体记者")), ("苏文博", Some("通讯员"))]
    );
    // The lead keeps its words: only the authors are read from it.
    assert!(a.text.starts_with("本报讯(融媒体记者"), "{}", a.text);
}

#[test]
fn a_byline_closing_the_body() {
    let a = fixture("shape_byline_at_the_end.txt");
    assert_eq!(authors(&a), vec![("郑雨桐", Some("青溪日报社全媒体记者"))]);
    assert_eq!(a.text, PARK_TEXT.join("\n"));
    assert!(a
        .furniture
        .iter()
        .any(|f| f == "青溪日报社全媒体记者 郑雨桐"));
}
