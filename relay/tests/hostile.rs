//! The relay under hostile clients (issue 15): connection timeouts and caps,
//! a pre-auth limit on every answer, bounded metric labels, 413 before
//! `100 Continue`, range-checked settings, and the signature clock.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use collabzium_relay::{spawn_background, RelayConfig, RelayHandle};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(db: &TestDb) -> RelayConfig {
    db.config()
}

fn start(cfg: RelayConfig) -> RelayHandle {
    spawn_background(cfg).expect("relay starts")
}

/// A blocking connection from a chosen loopback source address (the whole
/// 127/8 is local on Linux), so tests can play several client IPs.
fn connect_from(src: [u8; 4], to: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(SocketAddr::new(IpAddr::from(src), 0)).unwrap();
        s.connect(to).await.unwrap().into_std().unwrap()
    });
    s.set_nonblocking(false).unwrap();
    s
}

/// Did the server close the connection (EOF or reset) within `within`?
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. a 408 before the close
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // The status line is enough for these checks.
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn junk_method(len: usize) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    use ring::rand::SecureRandom;
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect()
}

// ------------------------------------------------------------ case 1

#[test]
fn idle_slow_header_and_slow_body_connections_are_closed() {
    let db = TestDb::sqlite();
    let relay = start(RelayConfig {
        header_read_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        ..config(&db)
    });
    let addr = relay.addr();
    // Idle: connect and send nothing.
    let mut idle = TcpStream::connect(addr).unwrap();
    // Slow head: half a request line, then silence.
    let mut head = TcpStream::connect(addr).unwrap();
    head.write_all(b"GET /hea").unwrap();
    // Slow body: a signed-route head promising 100 bytes, then 10.
    let mut body = TcpStream::connect(addr).unwrap();
    body.write_all(
        b"POST /v1/pairings HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789",
    )
    .unwrap();
    for (name, s) in [
        ("idle", &mut idle),
        ("head", &mut head),
        ("body", &mut body),
    ] {
        assert!(
            closed_within(s, Duration::from_secs(4)),
            "{name} connection still open after 4 s"
        );
    }
}

#[test]
fn connections_beyond_the_caps_are_closed_at_once_and_health_still_answers() {
    let db = TestDb::sqlite();
    let relay = start(RelayConfig {
        max_connections_per_ip: 4,
        max_connections: 8,
        ..config(&db)
    });
    let addr = relay.addr();
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect_from([127, 0, 0, 2], addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = connect_from([127, 0, 0, 2], addr);
    assert!(
        closed_within(&mut extra, Duration::from_secs(2)),
        "the 5th connection from one IP stayed open"
    );
    // Held connections stay open (within the idle timeout).
    assert!(!closed_within(&mut held[0], Duration::from_millis(200)));
    // Another IP still gets served.
    let r = raw(
        addr,
        b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    // Fill the total cap from other IPs: the next one is closed at once.
    held.extend((0..3).map(|_| connect_from([127, 0, 0, 3], addr)));
    std::thread::sleep(Duration::from_millis(200));
    held.push(connect_from([127, 0, 0, 4], addr));
    std::thread::sleep(Duration::from_millis(200));
    let mut over = connect_from([127, 0, 0, 5], addr);
    assert!(closed_within(&mut over, Duration::from_secs(2)));
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let r = raw(
        addr,
        b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[test]
fn the_pre_auth_ip_limit_covers_404_and_405() {
    let db = TestDb::sqlite();
    let relay = start(RelayConfig {
        ip_rate_limit_per_s: 2,
        ..config(&db)
    });
    let addr = relay.addr();
    for req in [
        &b"PATCH /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"[..],
        &b"GET /nothing/here HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"[..],
    ] {
        let statuses: Vec<String> = (0..30)
            .map(|_| raw(addr, req).chars().skip(9).take(3).collect())
            .collect();
        assert!(
            statuses.iter().any(|s| s == "429"),
            "no 429 among {statuses:?}"
        );
    }
}

#[test]
fn oversized_body_gets_413_without_100_continue() {
    let db = TestDb::sqlite();
    let relay = start(config(&db));
    let r = raw(
        relay.addr(),
        b"POST /v1/channels/AAAAAAAAAAAAAAAAAAAAAA/envelopes HTTP/1.1\r\nhost: x\r\n\
          expect: 100-continue\r\ncontent-length: 2000000\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 413"), "first answer: {r:?}");
}

// ------------------------------------------------------------ case 2

#[tokio::test]
async fn junk_methods_do_not_grow_metrics_or_logs() {
    let db = TestDb::sqlite();
    let relay = start(config(&db));
    let addr = relay.addr();
    for _ in 0..200 {
        let m = junk_method(8 * 1024);
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("{m} /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        assert!(
            out.starts_with(b"HTTP/1.1 405"),
            "{:?}",
            String::from_utf8_lossy(&out[..out.len().min(40)])
        );
    }
    let m = Http::new().get(&relay.url(), "/metrics").await;
    let text = m.text();
    assert!(text.len() < 16 * 1024, "/metrics is {} bytes", text.len());
    assert!(text.contains("method=\"other\""), "{text}");
}

// ------------------------------------------------------------ case 6

#[tokio::test]
async fn signature_created_at_extremes_is_refused_not_overflowed() {
    let db = TestDb::sqlite();
    let relay = start(config(&db));
    let dev = Device::new(&relay.url());
    let now = now_s();
    for created in [
        i64::MIN,
        i64::MAX,
        now.wrapping_add(i64::MIN),
        now.wrapping_add(i64::MAX),
        now - (1 << 62),
        now + (1 << 62),
    ] {
        let r = sign_at(&dev.key, "GET", "/v1/channels", "", b"", created);
        let resp = dev.send(&r).await;
        assert_eq!(
            (resp.status, resp.code().as_str()),
            (401, "stale_signature"),
            "created = {created}"
        );
    }
    // Sanity: the same request signed now is accepted.
    let ok = dev
        .send(&sign_at(&dev.key, "GET", "/v1/channels", "", b"", now))
        .await;
    assert_eq!(ok.status, 200);
}

// ------------------------------------------------------------ case 7

#[test]
fn out_of_range_settings_fail_start_up_with_a_clear_message() {
    let db = TestDb::sqlite();
    let day = 86_400;
    let cases: Vec<(RelayConfig, &str)> = vec![
        (
            RelayConfig {
                retention: Duration::ZERO,
                ..config(&db)
            },
            "retention must be between 1h and 365d, not 0s",
        ),
        (
            RelayConfig {
                retention: Duration::from_secs(106_751_991_000 * day),
                ..config(&db)
            },
            "retention must be between 1h and 365d",
        ),
        (
            RelayConfig {
                tombstone_retention: Duration::from_secs(60),
                ..config(&db)
            },
            "tombstone_retention must be between 1d and 3650d",
        ),
        (
            RelayConfig {
                idle_timeout: Duration::ZERO,
                ..config(&db)
            },
            "idle_timeout must be between",
        ),
        (
            RelayConfig {
                request_timeout: Duration::from_secs(7 * day),
                ..config(&db)
            },
            "request_timeout must be between",
        ),
        (
            RelayConfig {
                max_connections: 0,
                ..config(&db)
            },
            "max_connections must be between",
        ),
        (
            RelayConfig {
                max_connections: 10,
                max_connections_per_ip: 11,
                ..config(&db)
            },
            "max_connections_per_ip must be between",
        ),
    ];
    for (cfg, says) in cases {
        let err = match spawn_background(cfg) {
            Ok(_) => panic!("started despite: {says}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(says), "{err}");
    }
    // The bounds themselves are valid.
    let relay = start(RelayConfig {
        retention: Duration::from_secs(3600),
        tombstone_retention: Duration::from_secs(3650 * day),
        ..config(&db)
    });
    drop(relay);
}

#[tokio::test]
async fn an_envelope_pushed_with_the_longest_retention_stays_fetchable() {
    let db = TestDb::sqlite();
    let relay = start(RelayConfig {
        retention: Duration::from_secs(365 * 86_400),
        ..config(&db)
    });
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    let r = t.push(&cid, &[envelope(&cid, 1, 1, 64, 1)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let f = p.fetch(&cid, 0, 10).await;
    assert_eq!(f.json()["envelopes"].as_array().map(Vec::len), Some(1));
}

// ------------------------------------------------------------ case 8

#[test]
fn database_passwords_are_redacted() {
    use collabzium_relay::redact_database_url as r;
    assert_eq!(
        r("postgres://relay:s3cret@db:5432/relay?sslmode=require"),
        "postgres://relay:***@db:5432/relay?sslmode=require"
    );
    assert_eq!(
        r("postgresql://db/relay?user=a&password=s3cret"),
        "postgresql://db/relay?user=a&password=***"
    );
    assert_eq!(
        r("host=db password=s3cret user=a"),
        "host=db password=*** user=a"
    );
    assert_eq!(r("sqlite:relay.sqlite3"), "sqlite:relay.sqlite3");
    let cfg = RelayConfig {
        database: "postgres://relay:s3cret@db/relay".into(),
        ..RelayConfig::default()
    };
    assert!(!format!("{cfg:?}").contains("s3cret"));
}
