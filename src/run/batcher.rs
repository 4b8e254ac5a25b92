//! The batcher: fills batches from the workers' items until one is full (by count or bytes),
//! has waited `batch_linger_ms`, or no more files are on their way (every worker waiting for
//! files and none of their items queued: an idle daemon writes a file as soon as it is
//! parsed, while under load batches still fill), and hands each to the next free writer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Item, Shared};
use crate::settings::LoadSettings;
use crate::shutdown::Shutdown;
use crate::telemetry::QueueDepth;

/// Runs until the workers are done (or the writers gone), then hands over the last batch.
/// Holds `_shutdown` so that the run waits for it.
pub(super) async fn run(
    shared: Arc<Shared>,
    load: LoadSettings,
    items: flume::Receiver<Vec<Item>>,
    batches: flume::Sender<Vec<Item>>,
    _shutdown: Shutdown,
) {
    let linger = Duration::from_millis(load.batch_linger_ms);
    let mut batch: Vec<Item> = Vec::with_capacity(load.batch_size);
    let mut batch_bytes = 0;
    let mut deadline = Instant::now() + linger;
    // The rest of a chunk that did not fit the batch it arrived for.
    let mut carried: std::vec::IntoIter<Item> = Vec::new().into_iter();
    let took = |chunk: Vec<Item>| taken(&shared, chunk);
    loop {
        let next = if carried.len() > 0 {
            Some(std::mem::take(&mut carried))
        } else if batch.is_empty() {
            items.recv_async().await.ok().map(took)
        } else {
            let idle = shared.workers_idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let nothing_coming =
                items.is_empty() && shared.busy_workers.load(Ordering::SeqCst) == 0;
            let wait = deadline.saturating_duration_since(Instant::now());
            let received = if nothing_coming {
                None
            } else {
                tokio::select! {
                    r = items.recv_async() => Some(r),
                    _ = tokio::time::sleep(wait) => None,
                    _ = &mut idle => continue,
                }
            };
            match received {
                Some(r) => r.ok().map(took),
                None => {
                    batch_bytes = 0;
                    if batches
                        .send_async(std::mem::take(&mut batch))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
            }
        };
        let Some(mut chunk) = next else { break };
        if batch.is_empty() {
            deadline = Instant::now() + linger;
        }
        let mut closed = false;
        for item in chunk.by_ref() {
            batch_bytes += item.bytes();
            batch.push(item);
            if batch.len() >= load.batch_size || batch_bytes >= load.batch_bytes {
                batch_bytes = 0;
                closed = batches
                    .send_async(std::mem::take(&mut batch))
                    .await
                    .is_err();
                break;
            }
        }
        if closed {
            break;
        }
        carried = chunk;
    }
    if !batch.is_empty() {
        let _ = batches.send_async(batch).await;
    }
}

/// A chunk taken from the workers: counted out of the `parsed` queue depth.
fn taken(shared: &Shared, chunk: Vec<Item>) -> std::vec::IntoIter<Item> {
    let n = chunk.len() as u64;
    let waiting = shared
        .parsed_waiting
        .fetch_sub(n, Ordering::Relaxed)
        .saturating_sub(n);
    QueueDepth {
        queue: "parsed",
        depth: waiting,
    }
    .emit();
    chunk.into_iter()
}
