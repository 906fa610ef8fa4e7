//! A fault-injecting proxy in front of a real Datasette: it delays, fails or
//! cuts the batch reads passing through it, as a flaky network would.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the proxy does to the batch reads (`_size=1000`) passing through it.
#[derive(Default, Clone)]
pub struct Rule {
    /// Batch reads forwarded untouched before the faults start.
    pub skip: usize,
    /// Status answered instead, `times` times (0 = none).
    pub status: u16,
    pub times: usize,
    /// Delay added to every forwarded batch read.
    pub delay_ms: u64,
    /// Drops Datasette's `_next` from batch reads: the source then answers
    /// its first page again and again (a server that ignores paging).
    pub strip_next: bool,
    /// Batch reads from this one on (counted from 0) wait for `release`.
    pub hold_from: Option<usize>,
}

/// A TCP proxy in front of the real Datasette that can answer batch reads
/// with an error status or slow them down. Everything else passes through
/// unchanged; it never makes up data.
pub struct FaultProxy {
    pub base: String,
    pub rule: Arc<Mutex<Rule>>,
    pub batches: Arc<AtomicUsize>,
    pub faults: Arc<AtomicUsize>,
    pub gate: Arc<tokio::sync::Semaphore>,
    /// The batch reads seen, for tests that wait until one has arrived.
    pub seen: Arc<tokio::sync::watch::Sender<usize>>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let rule = Arc::new(Mutex::new(Rule::default()));
        let batches = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let seen = Arc::new(tokio::sync::watch::Sender::new(0));
        let (r, b, f, g, w) = (rule.clone(), batches.clone(), faults.clone(), gate.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                let (rule, batches, faults, upstream, gate, seen_tx) =
                    (r.clone(), b.clone(), f.clone(), upstream.clone(), g.clone(), w.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16384];
                    let n = client.read(&mut buf).await.unwrap_or(0);
                    let mut req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let first = req.lines().next().unwrap_or("").to_owned();
                    let mut delay = 0;
                    if first.contains("_size=1000") {
                        let seen = batches.fetch_add(1, Ordering::SeqCst);
                        seen_tx.send_replace(seen + 1);
                        let rule = rule.lock().unwrap().clone();
                        delay = rule.delay_ms;
                        if rule.hold_from.is_some_and(|from| seen >= from) {
                            gate.acquire().await.unwrap().forget();
                        }
                        if rule.strip_next
                            && let Some(at) = first.find("&_next=")
                        {
                            let end = first[at + 1..].find(['&', ' ']).map_or(first.len(), |e| at + 1 + e);
                            req = req.replacen(&first[at..end], "", 1);
                        }
                        if rule.status != 0 && seen >= rule.skip && seen < rule.skip + rule.times {
                            faults.fetch_add(1, Ordering::SeqCst);
                            let body = format!(
                                r#"{{"ok": false, "error": "injected {}", "status": {}}}"#,
                                rule.status, rule.status
                            );
                            let res = format!(
                                "HTTP/1.1 {} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                rule.status,
                                body.len()
                            );
                            let _ = client.write_all(res.as_bytes()).await;
                            return;
                        }
                    }
                    if delay > 0 {
                        // The fault itself (a slow upstream), not a test waiting for something.
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    // One request per connection: ask the upstream to close, and tell the client so.
                    let req = req.replacen("\r\n", "\r\nConnection: close\r\n", 1);
                    let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    let _ = up.write_all(req.as_bytes()).await;
                    let mut res = Vec::new();
                    let _ = up.read_to_end(&mut res).await;
                    let text = String::from_utf8_lossy(&res);
                    let head_end = text.find("\r\n\r\n").unwrap_or(0);
                    let head: String = text[..head_end]
                        .lines()
                        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                        .collect::<Vec<_>>()
                        .join("\r\n");
                    let _ = client.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes()).await;
                    let _ = client.write_all(&res[head_end + 4..]).await;
                });
            }
        });
        FaultProxy { base: format!("http://127.0.0.1:{port}"), rule, batches, faults, gate, seen }
    }

    /// Resolves once `n` batch reads (since the last `set`) have arrived.
    pub async fn reached(&self, n: usize) {
        let mut rx = self.seen.subscribe();
        let _ = rx.wait_for(|seen| *seen >= n).await;
    }

    /// Lets `n` held batch reads through.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }

    pub fn set(&self, rule: Rule) {
        *self.rule.lock().unwrap() = rule;
        self.batches.store(0, Ordering::SeqCst);
        self.seen.send_replace(0);
        self.faults.store(0, Ordering::SeqCst);
    }
}
