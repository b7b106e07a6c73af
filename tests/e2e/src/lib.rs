//! Shared helpers for the end-to-end suites (tests/e2e/tests) and the CLI's
//! own tests (cli/tests): the real `collabzium` binary, stores on a
//! controllable clock, a relay (in-process or a real `collabzium relay serve`
//! process), pairing, and syncing to quiescence.
//!
//! A panic here is a test failure, which is what a helper should do when the
//! system under test misbehaves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed step fails the test that called it"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use collabzium_core::checkin::Checkins;
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::platform::Clock;
use collabzium_core::session;
use collabzium_core::store::Store;
use collabzium_core::sync::{self, InvitationState, SyncSummary};
use collabzium_core::sync::{HttpTransport, TherapistInvitation};
use collabzium_http::UreqTransport;

/// The passphrase of every store the black-box tests create.
pub const PASS: &str = "a long test passphrase";

/// A path inside the repository (`rel` from its root).
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// The real `collabzium` binary. `CARGO_BIN_EXE_collabzium` exists only in
/// the CLI package's own tests, so this finds it at run time, once per test
/// process, in this order:
/// 1. `COLLABZIUM_E2E_BIN`, a binary built beforehand (the test command sets it);
/// 2. `CARGO_BIN_EXE_collabzium` in the environment (cargo-nextest sets it);
/// 3. `cargo build -p collabzium-cli --bin collabzium` in the same target dir
///    and profile as this test, which is a no-op when it is up to date, and
///    never leaves a stale binary in use.
pub fn collabzium_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        for var in ["COLLABZIUM_E2E_BIN", "CARGO_BIN_EXE_collabzium"] {
            if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
                let p = PathBuf::from(p);
                assert!(p.is_file(), "{var}={} is not a file", p.display());
                return p;
            }
        }
        build_collabzium()
    })
}

/// Builds the binary with the cargo that runs these tests and returns the
/// executable cargo reports (so the target dir and platform suffix are its).
fn build_collabzium() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // <target>/<profile>/deps/<test>: build the binary in the same profile.
    let exe = std::env::current_exe().expect("test executable path");
    let profile = match exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
    {
        Some(d) if d == "debug" => "dev".to_string(),
        Some(d) => d.to_string_lossy().into_owned(),
        None => "dev".to_string(),
    };
    let out = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--message-format=json-render-diagnostics",
        ])
        .args([
            "-p",
            "collabzium-cli",
            "--bin",
            "collabzium",
            "--profile",
            &profile,
        ])
        .arg("--manifest-path")
        .arg(repo_path("Cargo.toml"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build -p collabzium-cli");
    assert!(out.status.success(), "cargo build -p collabzium-cli failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "collabzium")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo build reported the collabzium executable")
}

/// The real `collabzium` binary in `dir`, with the test passphrase.
pub fn cli(dir: &Path) -> Command {
    let mut c = Command::new(collabzium_bin());
    c.current_dir(dir)
        .env("COLLABZIUM_PASSPHRASE", PASS)
        .env_remove("COLLABZIUM_STORE");
    c
}

pub fn cli_run(dir: &Path, args: &[&str]) -> std::process::Output {
    cli(dir)
        .args(args)
        .output()
        .expect("run the collabzium binary")
}

/// The JSON a successful command printed; fails the test otherwise.
pub fn ok_json(o: &std::process::Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "stdout {} stderr {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

/// System time plus an adjustable offset, so tests can jump past backoffs.
#[derive(Default)]
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_millis(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.0.load(Ordering::SeqCst)
    }
}

pub struct Party {
    pub store: Store,
    pub path: PathBuf,
    pub clock: Arc<TestClock>,
}

pub fn party(dir: &Path, name: &str) -> Party {
    let clock = Arc::new(TestClock::default());
    let path = dir.join(format!("{name}.db"));
    let store = Store::create_with_clock(
        &path,
        &MemoryKeyProvider::new([name.len() as u8; 32]),
        clock.clone(),
    )
    .expect("create store");
    Party { store, path, clock }
}

/// Therapist invites, patient joins, therapist finishes, patient completes.
/// Returns the channel id.
pub fn pair(
    url: &str,
    t: &dyn HttpTransport,
    therapist: &Store,
    patient: &Store,
    label: &str,
) -> String {
    let mut inv = TherapistInvitation::create(therapist, t, url, Some(label)).expect("invite");
    let code = inv.view().unwrap().code;
    let joined = sync::join(patient, t, Some(url), &code, false, None).expect("join");
    let cid = loop {
        match inv.poll(therapist, t).expect("poll") {
            InvitationState::Paired { channel_id, .. } => break channel_id,
            InvitationState::Waiting => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert_eq!(cid, joined.channel_id);
    let s = session::sync(patient, t).expect("patient completes");
    assert_eq!(s.pairings_completed, 1, "{s:?}");
    cid
}

/// Submits a guided alliance check-in whose free-text comment is `comment`.
pub fn alliance_checkin(store: &Store, comment: &str) -> String {
    let c = Checkins::new(store.clone()).unwrap();
    let d = c.start("alliance", None).unwrap();
    let mut answers = serde_json::json!({
        "goals_1": 6, "goals_2": 6, "goals_3": 2, "tasks_1": 5, "tasks_2": 6,
        "tasks_3": 3, "bond_1": 7, "bond_2": 6,
    });
    if !comment.is_empty() {
        answers["comment"] = serde_json::Value::String(comment.into());
    }
    c.answer_json(&d.checkin_id, &answers).unwrap();
    c.submit(&d.checkin_id).unwrap().checkin_id
}

/// PHQ-9 with the given item scores (item 9 > 0 raises a safety alert).
pub fn phq9(store: &Store, items: [i64; 9]) -> String {
    let c = Checkins::new(store.clone()).unwrap();
    let d = c.start("phq9", None).unwrap();
    let mut answers = serde_json::Map::new();
    for (i, v) in items.iter().enumerate() {
        answers.insert(format!("phq9_{}", i + 1), (*v).into());
    }
    c.answer_json(&d.checkin_id, &serde_json::Value::Object(answers))
        .unwrap();
    c.submit(&d.checkin_id).unwrap().checkin_id
}

pub fn add(total: &mut SyncSummary, s: &SyncSummary) {
    total.sent += s.sent;
    total.received += s.received;
    total.duplicates += s.duplicates;
    total.resent += s.resent;
    total.delivered += s.delivered;
    for (k, v) in &s.rejected {
        *total.rejected.entry(k.clone()).or_default() += v;
    }
}

/// Syncs the parties in turn until a whole pass moves nothing and nothing
/// own is undelivered. Jumps the clocks past a backoff when stuck.
pub fn sync_until_quiet(parties: &[&Party], t: &dyn HttpTransport) -> SyncSummary {
    let mut total = SyncSummary::default();
    for round in 0..40 {
        let mut moved = 0;
        let mut pending = 0;
        for p in parties {
            let s = session::sync(&p.store, t).expect("sync");
            assert!(s.error.is_none(), "sync stopped: {s:?}");
            moved += s.sent + s.received + s.resent + s.delivered + s.duplicates;
            pending += s.pending_outbound;
            add(&mut total, &s);
        }
        if moved == 0 && pending == 0 {
            return total;
        }
        if moved == 0 && round > 2 {
            for p in parties {
                p.clock.advance_ms(11 * 60 * 1000);
            }
        }
    }
    panic!("sync did not become quiet: {total:?}");
}

/// A relay on SQLite in this process, on a free loopback port.
pub fn relay_in_process(dir: &Path) -> collabzium_relay::RelayHandle {
    collabzium_relay::spawn_background(collabzium_relay::RelayConfig {
        database: format!("sqlite:{}", dir.join("relay.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..collabzium_relay::RelayConfig::default()
    })
    .expect("relay")
}

pub fn transport() -> UreqTransport {
    UreqTransport::new(Duration::from_secs(10))
}

/// `collabzium relay serve` as a child process; its stdout and stderr are
/// collected for the log scans.
pub struct RelayProcess {
    pub url: String,
    pub child: Child,
    pub log: Arc<Mutex<Vec<u8>>>,
}

impl RelayProcess {
    pub fn start(database: &str, listen: &str) -> RelayProcess {
        Self::start_with(database, listen, Arc::new(Mutex::new(Vec::new())))
    }

    /// Starts a relay whose output goes into an existing log buffer (restarts).
    pub fn start_with(database: &str, listen: &str, log: Arc<Mutex<Vec<u8>>>) -> RelayProcess {
        Self::start_with_args(database, listen, &[], log)
    }

    /// Starts a relay with further `relay serve` flags (e.g. `--push-*`).
    pub fn start_with_args(
        database: &str,
        listen: &str,
        extra: &[&str],
        log: Arc<Mutex<Vec<u8>>>,
    ) -> RelayProcess {
        let mut child = Command::new(collabzium_bin())
            .args([
                "relay",
                "serve",
                "--database",
                database,
                "--listen",
                listen,
                "--rate-limit",
                "100000/s",
                "--ip-rate-limit",
                "0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn relay");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).expect("relay prints its address");
        let v: serde_json::Value =
            serde_json::from_str(&first).unwrap_or_else(|_| panic!("relay first line: {first:?}"));
        let addr = v["listening"].as_str().expect("listening").to_string();
        log.lock().unwrap().extend_from_slice(first.as_bytes());
        for stream in [
            Box::new(out) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(stream);
                let mut buf = Vec::new();
                while r
                    .read_until(b'\n', &mut buf)
                    .map(|n| n > 0)
                    .unwrap_or(false)
                {
                    log.lock().unwrap().extend_from_slice(&buf);
                    buf.clear();
                }
            });
        }
        RelayProcess {
            url: format!("http://{addr}"),
            child,
            log,
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_bytes(&self) -> Vec<u8> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL URL for the relay tests, from the test command. `None`
/// skips the PostgreSQL half locally; in CI that is a failure.
pub fn postgres_url() -> Option<String> {
    match std::env::var("COLLABZIUM_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none()
                    && std::env::var_os("COLLABZIUM_REQUIRE_PG").is_none(),
                "CI must run the PostgreSQL half: COLLABZIUM_TEST_PG_URL is not set"
            );
            eprintln!("note: COLLABZIUM_TEST_PG_URL unset; skipping the PostgreSQL half");
            None
        }
    }
}

/// Creates a fresh database on the test cluster and returns its URL.
pub fn fresh_pg_database(base: &str, prefix: &str) -> String {
    let name = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        chrono::Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or(0)
            .rem_euclid(1_000_000_000)
    );
    let status = Command::new("psql")
        .args([base, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql");
    assert!(status.success(), "create database");
    // Replace the database part of the URL.
    let (head, _) = base.rsplit_once('/').expect("url with database");
    format!("{head}/{name}")
}
