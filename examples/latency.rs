//! Latency from a file landing in an idle inbox to its document being readable in MongoDB.
//! Run by `scripts/bench-latency`, against a daemon it started:
//!
//! ```text
//! cargo run --release --example latency -- URI DATABASE INBOX COUNT
//! ```
//! Each file is written beside the inbox and renamed in (how producers should deliver), then
//! MongoDB is polled every millisecond until the document is there. Files are dropped one at a
//! time with a pause, so the inbox is idle each time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, uri, database, inbox, count] = args.as_slice() else {
        return Err("usage: latency URI DATABASE INBOX COUNT".into());
    };
    let inbox = PathBuf::from(inbox);
    let count: u64 = count.parse()?;
    let client = mongodb::Client::with_uri_str(uri).await?;
    let articles = client.database(database).collection::<Document>("articles");
    let staging = inbox
        .parent()
        .ok_or("the inbox has no parent")?
        .join("staging");
    std::fs::create_dir_all(&staging)?;

    let mut samples = Vec::with_capacity(count as usize);
    for n in 0..count {
        let id = 900_000 + n;
        let text = format!(
            "2024年03月05日\n\n延迟测试:\n\n第{n}号延迟测试稿件\n\n□ 本报记者 柳晓岚\n\n这是一篇用来测量从文件落地到文档可读之间延迟的稿件,第{n}号。\n\n--> 2024-03-05 □ 本报记者 柳晓岚 延迟测试: 1 1 测试日报 content_{id}.html 1 第{n}号延迟测试稿件 /enpproperty-->\n"
        );
        let tmp = staging.join(format!("content_{id}.txt"));
        std::fs::write(&tmp, text)?;
        let started = Instant::now();
        std::fs::rename(&tmp, inbox.join(format!("content_{id}.txt")))?;
        let key = format!("test-daily:{id}");
        loop {
            if articles.find_one(doc! { "_id": &key }).await?.is_some() {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!("{key} not readable after 30 s").into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "files {}  median_ms {:.1}  p99_ms {:.1}  max_ms {:.1}",
        samples.len(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    Ok(())
}
