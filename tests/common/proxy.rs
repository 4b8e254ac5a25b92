//! A TCP proxy between article-etl and the server, on loopback, that injects faults below the
//! driver: connections reset after a byte budget, replies dropped after their requests were
//! forwarded (the server applied the write, the client never hears of it), and stalls.
//!
//! It runs on a runtime of its own, on its own thread, so a test that blocks its own threads
//! (polling the filesystem, waiting for a child) cannot starve it. Every loop ends: on the
//! proxy's drop, when either side closes, or at a fault.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How often idle loops look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Bytes read at once from either side.
const CHUNK: usize = 64 * 1024;
/// How much of a request's start is kept to match `drop_needle`: the message header, the
/// command's name and its first fields.
const HEAD: usize = 128;

#[derive(Default)]
struct Faults {
    /// A connection is reset once it has carried this many bytes, both ways (0: never)...
    reset_after: AtomicU64,
    /// ...this many more times.
    resets_left: AtomicU32,
    /// The reply to a request of at least this many bytes is swallowed and the connection
    /// reset (0: never)...
    drop_min_request: AtomicU64,
    /// ...this many more times...
    drops_left: AtomicU32,
    /// ...when the request's first bytes hold these (a command name, an operation's key).
    drop_needle: Mutex<Vec<u8>>,
    /// No byte moves either way until then.
    stalled_until: Mutex<Option<Instant>>,
    resets: AtomicU32,
    drops: AtomicU32,
    connections: AtomicU32,
    stop: AtomicBool,
}

impl Faults {
    fn stalled(&self) -> bool {
        self.stalled_until
            .lock()
            .unwrap()
            .is_some_and(|t| Instant::now() < t)
    }

    /// Takes one of `left`, if any is left.
    fn take(left: &AtomicU32) -> bool {
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

pub struct Proxy {
    pub port: u16,
    faults: Arc<Faults>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        assert!(
            upstream.ip().is_loopback(),
            "the proxy is for loopback only"
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults = Arc::new(Faults::default());
        let f = faults.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                while !f.stop.load(Ordering::SeqCst) {
                    let accepted = tokio::time::timeout(POLL, listener.accept()).await;
                    if let Ok(Ok((client, _))) = accepted {
                        f.connections.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(forward(client, upstream, f.clone()));
                    }
                }
            });
            // Dropping the runtime ends the connections' tasks and closes their sockets.
        });
        Proxy {
            port,
            faults,
            thread: Some(thread),
        }
    }

    /// The URI of the server behind the proxy. A direct connection: discovery would hand the
    /// driver the server's own address, around the proxy.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// Resets the next `times` connections that carry more than `bytes`, mid-stream.
    pub fn reset_after(&self, bytes: u64, times: u32) {
        self.faults.resets_left.store(times, Ordering::SeqCst);
        self.faults.reset_after.store(bytes, Ordering::SeqCst);
    }

    /// Forwards the next `times` requests of at least `min_request` bytes whole, then swallows
    /// their replies and resets the connection.
    pub fn drop_replies(&self, min_request: u64, times: u32) {
        self.drop_replies_to(min_request, b"", times);
    }

    /// The same, for requests whose first bytes hold `needle`: `b"update\0"` is the key of an
    /// `update` command and of a `bulkWrite` update operation.
    pub fn drop_replies_to(&self, min_request: u64, needle: &[u8], times: u32) {
        *self.faults.drop_needle.lock().unwrap() = needle.to_vec();
        self.faults.drops_left.store(times, Ordering::SeqCst);
        self.faults
            .drop_min_request
            .store(min_request, Ordering::SeqCst);
    }

    /// Holds every byte, both ways, for `d`.
    pub fn stall(&self, d: Duration) {
        *self.faults.stalled_until.lock().unwrap() = Some(Instant::now() + d);
    }

    pub fn resets(&self) -> u32 {
        self.faults.resets.load(Ordering::SeqCst)
    }

    pub fn drops(&self) -> u32 {
        self.faults.drops.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u32 {
        self.faults.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.faults.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Closes with a reset (RST) rather than an orderly FIN, as a dropped network path does.
// A zero linger never blocks the drop (the deprecation's worry): the reset is sent at once.
#[allow(deprecated)]
fn reset(s: TcpStream) {
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, f: Arc<Faults>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut up = vec![0u8; CHUNK];
    let mut down = vec![0u8; CHUNK];
    // Bytes the connection carried, both ways, and the request bytes since the last reply.
    let mut carried: u64 = 0;
    let mut request: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(HEAD);
    while !f.stop.load(Ordering::SeqCst) {
        if f.stalled() {
            tokio::time::sleep(POLL).await;
            continue;
        }
        let budget = f.reset_after.load(Ordering::SeqCst);
        tokio::select! {
            r = client.read(&mut up) => {
                let Ok(n @ 1..) = r else { break };
                let mut n = n as u64;
                let over = budget > 0 && carried + n > budget;
                if over && Faults::take(&f.resets_left) {
                    n = budget.saturating_sub(carried);
                    let _ = server.write_all(&up[..n as usize]).await;
                    f.resets.fetch_add(1, Ordering::SeqCst);
                    reset(client);
                    reset(server);
                    return;
                }
                if server.write_all(&up[..n as usize]).await.is_err() {
                    break;
                }
                if request == 0 {
                    head.clear();
                }
                let room = HEAD.saturating_sub(head.len()).min(n as usize);
                head.extend_from_slice(&up[..room]);
                carried += n;
                request += n;
            }
            r = server.read(&mut down) => {
                let Ok(n @ 1..) = r else { break };
                let n = n as u64;
                let min = f.drop_min_request.load(Ordering::SeqCst);
                let wanted = {
                    let needle = f.drop_needle.lock().unwrap();
                    needle.is_empty() || head.windows(needle.len()).any(|w| w == needle.as_slice())
                };
                if min > 0 && request >= min && wanted && Faults::take(&f.drops_left) {
                    // The server has answered, so it has applied the request: the reply is
                    // lost on the way.
                    f.drops.fetch_add(1, Ordering::SeqCst);
                    reset(client);
                    reset(server);
                    return;
                }
                let over = budget > 0 && carried + n > budget;
                if over && Faults::take(&f.resets_left) {
                    let keep = budget.saturating_sub(carried) as usize;
                    let _ = client.write_all(&down[..keep]).await;
                    f.resets.fetch_add(1, Ordering::SeqCst);
                    reset(client);
                    reset(server);
                    return;
                }
                if client.write_all(&down[..n as usize]).await.is_err() {
                    break;
                }
                carried += n;
                request = 0;
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}
