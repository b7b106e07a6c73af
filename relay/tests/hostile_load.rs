//! One bounded run of the relay under hostile load (issue 15, "Done when"):
//! a legitimate pair keeps working while the relay takes 500 idle or slow
//! connections, 5,000 junk-method requests and oversized bodies; `/metrics`
//! and the relay's memory stay bounded. The relay runs as a separate process
//! (this test binary re-run in child mode) so its RSS can be read from /proc.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use collabzium_relay::RelayConfig;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHILD_ENV: &str = "COLLABZIUM_HOSTILE_CHILD_DB";

/// Child mode: serve until killed (or 90 s, so a stray child cannot linger).
#[test]
fn relay_child() {
    let Ok(db) = std::env::var(CHILD_ENV) else {
        return;
    };
    let config = RelayConfig {
        database: db,
        listen: "127.0.0.1:0".parse().unwrap(),
        header_read_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(5),
        body_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        ..RelayConfig::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let stop = tokio::time::sleep(Duration::from_secs(90));
        collabzium_relay::serve(config, stop).await
    })
    .unwrap();
}

struct Relay {
    child: Child,
    url: String,
    addr: SocketAddr,
    log_bytes: Arc<AtomicU64>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_child(db: &str) -> Relay {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["relay_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited");
        // The harness prints "test relay_child ... " on the same line.
        let json = line.find('{').map(|i| &line[i..]).unwrap_or("");
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(json) {
            if let Some(a) = v["listening"].as_str() {
                break a.parse::<SocketAddr>().unwrap();
            }
        }
    };
    let log_bytes = Arc::new(AtomicU64::new(0));
    let counted = log_bytes.clone();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        while out
            .read_until(b'\n', &mut buf)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            counted.fetch_add(buf.len() as u64, Ordering::Relaxed);
            buf.clear();
        }
    });
    Relay {
        child,
        url: format!("http://{addr}"),
        addr,
        log_bytes,
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn connect_from(last_octet: u8, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(IpAddr::from([127, 0, 0, last_octet]), 0))?;
    s.connect(to).await
}

/// Send one raw request on a fresh connection; the status code, or 0 when
/// the relay closed without answering.
async fn one_shot(from: u8, to: SocketAddr, head: &[u8], body: &[u8]) -> u16 {
    let Ok(mut s) = connect_from(from, to).await else {
        return 0;
    };
    if s.write_all(head).await.is_err() {
        return 0;
    }
    if !body.is_empty() {
        let _ = s.write_all(body).await;
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !out.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    std::str::from_utf8(out.get(9..12).unwrap_or(b"000"))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn junk_method(len: usize) -> String {
    use ring::rand::SecureRandom;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_serves_a_legitimate_pair_under_hostile_load() {
    let t0 = Instant::now();
    let db = TestDb::sqlite();
    let relay = start_child(&db.url);
    let pid = relay.child.id();
    let (therapist, patient) = (Device::new(&relay.url), Device::new(&relay.url));
    let cid = pair(&therapist, &patient).await;
    let rss_before = rss_kib(pid);

    // The legitimate pair: /health every 100 ms, a signed push + fetch every 500 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let peak_rss = Arc::new(AtomicU64::new(rss_before));
    let legit = {
        let (stop, peak_rss, url) = (stop.clone(), peak_rss.clone(), relay.url.clone());
        tokio::spawn(async move {
            let http = Http::new();
            let (mut health_ok, mut health_bad, mut worst) = (0u32, 0u32, Duration::ZERO);
            let (mut synced, mut sync_bad, mut seq) = (0u32, 0u32, 0u64);
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r =
                    tokio::time::timeout(Duration::from_secs(3), http.get(&url, "/health")).await;
                worst = worst.max(t.elapsed());
                match r {
                    Ok(r) if r.status == 200 => health_ok += 1,
                    _ => health_bad += 1,
                }
                if i.is_multiple_of(5) {
                    seq += 1;
                    let p = therapist
                        .push(&cid, &[envelope(&cid, 1, seq, 256, 7)])
                        .await;
                    let f = patient.fetch(&cid, seq, 10).await;
                    let got = f.json()["envelopes"].as_array().map(Vec::len);
                    if p.status == 200 && f.status == 200 && got == Some(1) {
                        synced += 1;
                    } else {
                        sync_bad += 1;
                    }
                }
                peak_rss.fetch_max(rss_kib(pid), Ordering::Relaxed);
                i += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (health_ok, health_bad, worst, synced, sync_bad)
        })
    };

    // 500 idle or slow connections, 50 per source IP (under the per-IP cap).
    let mut held = Vec::new();
    for i in 0..500u32 {
        let mut s = connect_from(10 + (i / 50) as u8, relay.addr).await.unwrap();
        if i % 2 == 1 {
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nx-slow: ").await;
        }
        held.push(s);
    }

    // 5,000 junk-method requests (8 KiB methods) from ten IPs, 20 at a time.
    let junk = tokio::spawn({
        let addr = relay.addr;
        async move {
            let mut counts = std::collections::BTreeMap::<u16, u32>::new();
            let mut set = tokio::task::JoinSet::new();
            for w in 0..20u32 {
                set.spawn(async move {
                    let mut v = vec![];
                    for _ in 0..250 {
                        let head = format!(
                            "{} /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                            junk_method(8 * 1024)
                        );
                        v.push(one_shot(30 + (w % 10) as u8, addr, head.as_bytes(), b"").await);
                    }
                    v
                });
            }
            while let Some(Ok(v)) = set.join_next().await {
                for s in v {
                    *counts.entry(s).or_default() += 1;
                }
            }
            counts
        }
    });
    // Oversized bodies: 100 announced with `Expect: 100-continue` (never
    // sent), 20 sent in full (2 MiB over the 1 MiB push limit).
    let big = tokio::spawn({
        let addr = relay.addr;
        async move {
            let mut counts = std::collections::BTreeMap::<u16, u32>::new();
            let path = format!("/v1/channels/{}/envelopes", b64(&[9u8; 16]));
            for i in 0..120 {
                let (head, body) = if i < 100 {
                    (format!("POST {path} HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 104857600\r\n\r\n"), vec![])
                } else {
                    (format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 2097152\r\nconnection: close\r\n\r\n"), vec![b'x'; 2 << 20])
                };
                let s = one_shot(50 + (i % 5) as u8, addr, head.as_bytes(), &body).await;
                *counts.entry(s).or_default() += 1;
            }
            counts
        }
    });
    let junk = junk.await.unwrap();
    let big = big.await.unwrap();
    let attack_done = t0.elapsed();

    // The held connections are dropped by the relay's timeouts (2 s head, 5 s idle).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut closed_by_relay = 0;
    for s in &mut held {
        let mut b = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(20), s.read(&mut b)).await {
            // EOF, or a 408 that precedes it.
            let _ = n;
            closed_by_relay += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (health_ok, health_bad, worst, synced, sync_bad) = legit.await.unwrap();
    let metrics = Http::new().get(&relay.url, "/metrics").await;
    let rss_after = rss_kib(pid);
    let peak = peak_rss.load(Ordering::Relaxed).max(rss_after);
    let log = relay.log_bytes.load(Ordering::Relaxed);
    eprintln!(
        "hostile load: {:.1} s total ({:.1} s of attack); junk {junk:?}; oversized {big:?}; \
         held closed by relay {closed_by_relay}/500; health {health_ok} ok / {health_bad} failed, \
         worst {} ms; signed push+fetch {synced} ok / {sync_bad} failed; /metrics {} bytes; \
         RSS {} -> peak {} -> {} KiB; log {} bytes",
        t0.elapsed().as_secs_f64(),
        attack_done.as_secs_f64(),
        worst.as_millis(),
        metrics.body.len(),
        rss_before,
        peak,
        rss_after,
        log
    );
    assert_eq!(health_bad, 0, "/health failed under load");
    assert!(health_ok >= 10);
    assert_eq!(sync_bad, 0, "signed push/fetch failed under load");
    assert!(synced >= 2);
    assert_eq!(junk.values().sum::<u32>(), 5000);
    assert!(
        junk.keys().all(|s| *s == 405 || *s == 429),
        "junk answers: {junk:?}"
    );
    assert_eq!(big.get(&413), Some(&120), "oversized answers: {big:?}");
    assert_eq!(closed_by_relay, 500, "idle/slow connections left open");
    assert!(
        metrics.body.len() < 32 * 1024,
        "/metrics grew to {}",
        metrics.body.len()
    );
    assert!(
        peak < rss_before + 64 * 1024,
        "RSS {rss_before} -> {peak} KiB"
    );
    assert!(log < 5_200 * 1024, "log grew by {log} bytes");
    assert!(t0.elapsed() < Duration::from_secs(60));
}
