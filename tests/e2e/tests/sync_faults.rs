//! Faults (issue 5 acceptance): 1,000 events flow both ways through two
//! stateless relay processes on one PostgreSQL while relays are SIGKILLed
//! and restarted at random points and PostgreSQL itself is crash-restarted.
//! Every event must arrive exactly once.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use collabzium_core::sync::{HttpRequest, HttpResponse, HttpTransport, TransportError};
use collabzium_core::{session, sync};
use collabzium_e2e::*;

/// A load balancer in front of the relays: round-robin, skipping a relay
/// that refuses connections (it is being restarted).
struct Balancer {
    inner: collabzium_http::UreqTransport,
    origins: Vec<String>,
    next: AtomicU64,
}

impl HttpTransport for Balancer {
    fn send(&self, mut req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        let path = req
            .url
            .splitn(4, '/')
            .nth(3)
            .unwrap_or_default()
            .to_string();
        let mut last = TransportError::Timeout;
        for i in 0..self.origins.len() {
            req.url = format!("{}/{}", self.origins[(n + i) % self.origins.len()], path);
            match self.inner.send(req.clone()) {
                Ok(r) => return Ok(r),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const PER_SIDE: usize = 500;
const BATCH: usize = 25;

#[test]
fn events_arrive_exactly_once_through_relay_and_postgres_crashes() {
    let Some(base) = postgres_url() else { return };
    let pg_dir = std::env::var("COLLABZIUM_TEST_PG_DIR").ok();
    let url = fresh_pg_database(&base, "faults");
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port()];
    let log = Arc::new(Mutex::new(Vec::new()));
    let relays: Vec<Arc<Mutex<RelayProcess>>> = ports
        .iter()
        .map(|p| {
            Arc::new(Mutex::new(RelayProcess::start_with(
                &url,
                &format!("127.0.0.1:{p}"),
                log.clone(),
            )))
        })
        .collect();
    let t = Arc::new(Balancer {
        inner: collabzium_http::UreqTransport::new(Duration::from_secs(5)),
        origins: ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect(),
        next: AtomicU64::new(0),
    });
    let th = Arc::new(party(dir.path(), "therapist"));
    let pt = Arc::new(party(dir.path(), "patient"));
    let cid = pair(&t.origins[0], &*t, &th.store, &pt.store, "Sam");

    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    // The killer: SIGKILL a random relay, restart it on the same port.
    let killer = {
        let (relays, done, kills, url, log) = (
            relays.clone(),
            done.clone(),
            kills.clone(),
            url.clone(),
            log.clone(),
        );
        std::thread::spawn(move || {
            let mut seed = 0x2545_F491_4F6C_DD1Du64;
            let mut pg_restarts = 0;
            while !done.load(Ordering::SeqCst) || kills.load(Ordering::SeqCst) < 20 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                std::thread::sleep(Duration::from_millis(250 + seed % 400));
                let i = (seed >> 20) as usize % relays.len();
                let mut r = relays[i].lock().unwrap();
                r.kill();
                std::thread::sleep(Duration::from_millis(seed % 60));
                let addr = r.url.trim_start_matches("http://").to_string();
                *r = RelayProcess::start_with(&url, &addr, log.clone());
                let k = kills.fetch_add(1, Ordering::SeqCst) + 1;
                if (k == 7 || k == 14) && pg_restarts < 2 {
                    if let Ok(d) = std::env::var("COLLABZIUM_TEST_PG_DIR") {
                        let ok =
                            std::process::Command::new(repo_path("scripts/ensure-postgres.sh"))
                                .args(["restart", &d])
                                .status()
                                .map(|s| s.success())
                                .unwrap_or(false);
                        assert!(ok, "PostgreSQL crash-restart");
                        pg_restarts += 1;
                    }
                }
            }
            pg_restarts
        })
    };

    // Each side queues its events in batches and syncs in between.
    let received = Arc::new(AtomicU64::new(0));
    let side = |me: Arc<Party>, to: Option<String>, tag: &'static str| {
        let (t, received) = (t.clone(), received.clone());
        std::thread::spawn(move || {
            for b in 0..PER_SIDE / BATCH {
                for k in 0..BATCH {
                    let n = b * BATCH + k;
                    if tag == "p" && n.is_multiple_of(10) {
                        alliance_checkin(&me.store, &format!("{tag}{n}"));
                    } else {
                        sync::send_message(&me.store, to.as_deref(), &format!("{tag}{n}"), None)
                            .unwrap();
                    }
                }
                let s = session::sync(&me.store, &*t).expect("sync never fails hard");
                received.fetch_add(s.received, Ordering::SeqCst);
            }
        })
    };
    let started = Instant::now();
    let a = side(pt.clone(), None, "p");
    let b = side(th.clone(), Some(cid.clone()), "t");
    a.join().unwrap();
    b.join().unwrap();
    done.store(true, Ordering::SeqCst);
    let pg_restarts = killer.join().unwrap();
    let kills = kills.load(Ordering::SeqCst);
    // Quiesce with every relay up.
    let rest = sync_until_quiet(&[&pt, &th], &*t);
    let total_received = received.load(Ordering::SeqCst) + rest.received;

    // Exactly once, both ways.
    let at_therapist: Vec<String> = sync::inbox(&th.store, &["message", "checkin"])
        .unwrap()
        .into_iter()
        .map(|i| i.event_id)
        .collect();
    let at_patient: Vec<String> = sync::inbox(&pt.store, &["message"])
        .unwrap()
        .into_iter()
        .map(|i| i.event_id)
        .collect();
    let uniq = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>().len();
    assert_eq!(at_therapist.len(), PER_SIDE);
    assert_eq!(uniq(&at_therapist), PER_SIDE);
    assert_eq!(at_patient.len(), PER_SIDE);
    assert_eq!(uniq(&at_patient), PER_SIDE);
    assert_eq!(
        total_received as usize,
        2 * PER_SIDE,
        "no event applied twice"
    );
    for p in [&pt, &th] {
        let undelivered: Vec<_> = sync::outbound(&p.store)
            .unwrap()
            .into_iter()
            .filter(|o| !matches!(o.delivery, sync::Delivery::Delivered | sync::Delivery::Read))
            .collect();
        assert!(undelivered.is_empty(), "{undelivered:?}");
    }
    assert!(kills >= 20, "{kills} relay kills");
    if pg_dir.is_some() {
        assert_eq!(pg_restarts, 2);
    } else {
        eprintln!("note: COLLABZIUM_TEST_PG_DIR unset; PostgreSQL was not restarted");
    }
    eprintln!(
        "faults: {} events, {kills} relay SIGKILLs, {pg_restarts} PostgreSQL crash-restarts, {:?}",
        2 * PER_SIDE,
        started.elapsed()
    );
}
