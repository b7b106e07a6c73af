//! Erasure that reaches the relay and the therapist (issue 16 §3), through
//! a relay process on SQLite and on PostgreSQL: the patient erases online →
//! the relay holds no envelopes for the channel and a signed tombstone →
//! the therapist's next sync verifies it, the caseload shows "left" and
//! nothing more can be sent. Offline erase and a replayed (forged for this
//! channel) revocation are covered too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::path::PathBuf;
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::insights::{caseload_for_store, PatientStatus};
use collabzium_core::session;
use collabzium_core::sync::state::{ChannelState, ChannelStatus};
use collabzium_core::sync::{self, HttpRequest, HttpResponse, HttpTransport, TransportError};
use collabzium_core::Error;
use collabzium_e2e::*;

/// Where the relay keeps its rows, read from outside as an operator would.
enum Backend {
    Sqlite(PathBuf),
    Pg(String),
}

impl Backend {
    fn psql(url: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args([url, "-tAq", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn envelopes(&self, cid: &[u8]) -> i64 {
        match self {
            Backend::Sqlite(p) => rusqlite::Connection::open(p)
                .unwrap()
                .query_row(
                    "SELECT COUNT(*) FROM envelopes WHERE channel_id = ?1",
                    [cid],
                    |r| r.get(0),
                )
                .unwrap(),
            Backend::Pg(url) => Self::psql(
                url,
                &format!(
                    "SELECT COUNT(*) FROM envelopes WHERE channel_id = '\\x{}'::bytea",
                    hex(cid)
                ),
            )
            .parse()
            .unwrap(),
        }
    }

    /// The channel's tombstone: `revoked_at` and the signed statement.
    fn tombstone(&self, cid: &[u8]) -> Option<(i64, Vec<u8>)> {
        match self {
            Backend::Sqlite(p) => rusqlite::Connection::open(p)
                .unwrap()
                .query_row(
                    "SELECT revoked_at, revocation FROM channels WHERE channel_id = ?1",
                    [cid],
                    |r| {
                        Ok(r.get::<_, Option<i64>>(0)?
                            .zip(r.get::<_, Option<Vec<u8>>>(1)?))
                    },
                )
                .unwrap(),
            Backend::Pg(url) => {
                let row = Self::psql(
                    url,
                    &format!(
                        "SELECT revoked_at, encode(revocation, 'hex') FROM channels WHERE channel_id = '\\x{}'::bytea AND revoked_at IS NOT NULL",
                        hex(cid)
                    ),
                );
                let (at, st) = row.split_once('|')?;
                Some((at.parse().unwrap(), unhex(st)))
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cid_bytes(store: &collabzium_core::store::Store, id: &str) -> Vec<u8> {
    store
        .get::<ChannelState>(id)
        .unwrap()
        .unwrap()
        .value
        .cid()
        .unwrap()
        .to_vec()
}

/// Answers fetches on one channel with a genuine revocation statement that
/// was signed for another channel: a replay, which must not end this one.
struct Replayer {
    inner: collabzium_http::UreqTransport,
    target_cid: String,
    revoked_at: i64,
    statement: Vec<u8>,
}

impl HttpTransport for Replayer {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        if req.method == "GET" && req.url.contains(&self.target_cid) {
            let body = serde_json::json!({
                "type": "urn:collabzium:relay:channel_revoked", "status": 403,
                "code": "channel_revoked",
                "revocation": {
                    "revoked_at": self.revoked_at,
                    "statement": URL_SAFE_NO_PAD.encode(&self.statement),
                    "by": "patient",
                },
            });
            return Ok(HttpResponse {
                status: 403,
                headers: vec![],
                body: body.to_string().into_bytes(),
            });
        }
        self.inner.send(req)
    }
}

fn online_erase_reaches_the_relay_and_the_therapist(url: &str, backend: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let t = transport();
    let th = party(dir.path(), "therapist");
    let (pa, pb) = (
        party(dir.path(), "patient-a"),
        party(dir.path(), "patient-b"),
    );
    let cid_a = pair(url, &t, &th.store, &pa.store, "Ann");
    let cid_b = pair(url, &t, &th.store, &pb.store, "Bo");
    let (raw_a, raw_b) = (cid_bytes(&pa.store, &cid_a), cid_bytes(&pb.store, &cid_b));

    // Patient A's check-in and message wait at the relay (the therapist has
    // not synced): ciphertext queued for the channel.
    phq9(&pa.store, [1, 1, 1, 1, 1, 1, 1, 1, 0]);
    sync::send_message(&pa.store, None, "queued for the therapist", None).unwrap();
    let s = session::sync(&pa.store, &t).unwrap();
    assert!(s.sent >= 2, "{s:?}");
    assert!(
        backend.envelopes(&raw_a) >= 2,
        "envelopes queued at the relay"
    );
    assert_eq!(backend.tombstone(&raw_a), None);

    // A erases, online: the relay is told first, then the store is shredded.
    let provider = MemoryKeyProvider::new([b"patient-a".len() as u8; 32]);
    let r = sync::erase_everywhere(&pa.store, &provider, Some(&t)).unwrap();
    assert_eq!(r.revoked_at_relay, vec![cid_a.clone()], "{r:?}");
    assert!(r.not_reached.is_empty(), "{r:?}");
    assert!(!pa.path.exists(), "the store file is gone");
    assert!(r.local.files_removed.iter().any(|f| f.ends_with(".db")));

    // The relay: no envelopes for the channel, a tombstone holding A's statement.
    assert_eq!(backend.envelopes(&raw_a), 0);
    let (revoked_at, statement) = backend.tombstone(&raw_a).expect("tombstone");
    assert_eq!(statement.len(), 64, "an Ed25519 signature");
    // Patient B's channel is untouched.
    assert_eq!(backend.tombstone(&raw_b), None);

    // A replay of A's genuine statement on B's channel does not end B.
    let replayer = Replayer {
        inner: transport(),
        target_cid: URL_SAFE_NO_PAD.encode(&raw_b),
        revoked_at,
        statement: statement.clone(),
    };
    let s = session::sync(&th.store, &replayer).unwrap();
    let views = sync::channel_views(&th.store).unwrap();
    let status = |id: &str| views.iter().find(|v| v.channel_id == id).unwrap().status;
    assert_eq!(status(&cid_b), ChannelStatus::Active, "{s:?}");
    // This round reached A's channel through the real relay: A left.
    assert_eq!(status(&cid_a), ChannelStatus::Revoked, "{s:?}");
    assert_eq!(s.channels_revoked, 1, "{s:?}");
    assert_eq!(s.received, 0, "A's queued envelopes were deleted: {s:?}");

    // The caseload shows A as left (not active, not missing), B as active.
    let now = chrono::Utc::now();
    let caseload = caseload_for_store(&th.store, now).unwrap();
    assert_eq!(caseload.len(), 2, "A is still on the caseload");
    let entry = |id: &str| caseload.iter().find(|e| e.channel_id == id).unwrap();
    assert_eq!(entry(&cid_a).status, PatientStatus::Left);
    assert!(entry(&cid_a).status_since.is_some());
    assert_eq!(entry(&cid_b).status, PatientStatus::Active);
    let json = serde_json::to_value(entry(&cid_a)).unwrap();
    assert_eq!(json["status"], "left");

    // Nothing more is sent to A: a typed refusal, and nothing queued.
    match sync::send_message(&th.store, Some(&cid_a), "are you there?", None) {
        Err(Error::ChannelRevoked { by }) => assert_eq!(by, "peer"),
        other => panic!("expected ChannelRevoked, got {other:?}"),
    }
    assert_eq!(backend.envelopes(&raw_a), 0);
    // B still works both ways.
    sync::send_message(&th.store, Some(&cid_b), "see you Tuesday", None).unwrap();
    sync_until_quiet(&[&th, &pb], &t);
    assert_eq!(sync::thread(&pb.store, None).unwrap().len(), 1);
}

#[test]
fn erase_online_sqlite_relay_process() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.sqlite3");
    let relay = RelayProcess::start(&format!("sqlite:{}", db.display()), "127.0.0.1:0");
    online_erase_reaches_the_relay_and_the_therapist(&relay.url, &Backend::Sqlite(db));
}

#[test]
fn erase_online_postgres_relay_process() {
    let Some(base) = postgres_url() else { return };
    let url = fresh_pg_database(&base, "erase");
    let relay = RelayProcess::start(&url, "127.0.0.1:0");
    online_erase_reaches_the_relay_and_the_therapist(&relay.url, &Backend::Pg(url));
}

/// Offline, the erase still happens; the relay is not told, so its queued
/// envelopes stay until retention and the therapist sees no "left".
#[test]
fn erase_offline_still_erases_and_says_what_was_not_reached() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.sqlite3");
    let database = format!("sqlite:{}", db.display());
    let mut relay = RelayProcess::start(&database, "127.0.0.1:0");
    let t = transport();
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    let cid = pair(&relay.url, &t, &th.store, &pt.store, "Sam");
    let raw = cid_bytes(&pt.store, &cid);
    sync::send_message(&pt.store, None, "sent before going offline", None).unwrap();
    session::sync(&pt.store, &t).unwrap();
    let backend = Backend::Sqlite(db);
    assert_eq!(backend.envelopes(&raw), 1);

    relay.kill();
    let provider = MemoryKeyProvider::new([b"patient".len() as u8; 32]);
    let r = sync::erase_everywhere(&pt.store, &provider, Some(&t)).unwrap();
    assert_eq!(r.not_reached, vec![cid.clone()], "{r:?}");
    assert_eq!(r.not_reached_reason.as_deref(), Some("offline"));
    assert!(r.revoked_at_relay.is_empty());
    assert!(!pt.path.exists(), "erased locally all the same");

    // The relay comes back: no tombstone, the envelope waits (retention).
    let addr = relay.url.replace("http://", "");
    let _relay = RelayProcess::start(&database, &addr);
    assert_eq!(backend.tombstone(&raw), None);
    assert_eq!(backend.envelopes(&raw), 1);
    let s = session::sync(&th.store, &t).unwrap();
    assert_eq!(s.received, 1, "{s:?}");
    let caseload = caseload_for_store(&th.store, chrono::Utc::now()).unwrap();
    assert_eq!(caseload[0].status, PatientStatus::Active);
}

/// `--offline` (no transport): only the local erase; every channel listed.
#[test]
fn erase_without_a_transport_skips_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    let cid = pair(&r.url(), &t, &th.store, &pt.store, "Sam");
    let provider = MemoryKeyProvider::new([b"patient".len() as u8; 32]);
    let rep = sync::erase_everywhere(&pt.store, &provider, None).unwrap();
    assert_eq!(rep.not_reached, vec![cid]);
    assert_eq!(rep.not_reached_reason.as_deref(), Some("skipped"));
    assert!(!pt.path.exists());
    let s = session::sync(&th.store, &t).unwrap();
    assert_eq!(s.channels_revoked, 0);
}

/// The therapist's copy of a patient who left: kept (the retention setting
/// only lists it as due), exported for the clinic, and deleted here only by
/// a forget that presents that export, written after the patient left.
#[test]
fn a_left_patient_is_forgotten_only_after_their_export() {
    use collabzium_core::session::retention::{self, RetentionSettings};
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let th = party(dir.path(), "therapist");
    let (pa, pb) = (
        party(dir.path(), "patient-a"),
        party(dir.path(), "patient-b"),
    );
    let cid_a = pair(&r.url(), &t, &th.store, &pa.store, "Ann");
    let cid_b = pair(&r.url(), &t, &th.store, &pb.store, "Bo");
    phq9(&pa.store, [2, 2, 1, 1, 1, 1, 0, 0, 0]);
    sync::send_message(&pa.store, None, "thanks for today", None).unwrap();
    sync_until_quiet(&[&th, &pa, &pb], &t);
    sync::send_message(&th.store, Some(&cid_a), "take care", None).unwrap();
    sync_until_quiet(&[&th, &pa], &t);

    // An active patient cannot be forgotten, export or not.
    let early = retention::export_patient(&th.store, &cid_a).unwrap();
    let refused = retention::forget_patient(&th.store, &cid_a, early.as_bytes());
    assert!(
        matches!(&refused, Err(Error::InvalidInput { field, .. }) if field == "channel"),
        "{refused:?}"
    );

    // A erases; the therapist learns it.
    let provider = MemoryKeyProvider::new([b"patient-a".len() as u8; 32]);
    sync::erase_everywhere(&pa.store, &provider, Some(&t)).unwrap();
    let s = session::sync(&th.store, &t).unwrap();
    assert_eq!(s.channels_revoked, 1, "{s:?}");

    // Retention: unset by default (keep until exported and forgotten).
    assert_eq!(
        retention::retention_settings(&th.store).unwrap(),
        RetentionSettings::default()
    );
    let now = th.store.now_millis();
    assert!(retention::retention_due(&th.store, now + 4000 * 86_400_000)
        .unwrap()
        .is_empty());
    for bad in [0, 40_000] {
        let e = retention::set_retention_settings(
            &th.store,
            &RetentionSettings {
                left_patient_retention_days: Some(bad),
            },
        );
        assert!(
            matches!(&e, Err(Error::InvalidInput { field, .. }) if field == "left_patient_retention_days"),
            "{e:?}"
        );
    }
    retention::set_retention_settings(
        &th.store,
        &RetentionSettings {
            left_patient_retention_days: Some(30),
        },
    )
    .unwrap();
    assert!(retention::retention_due(&th.store, now).unwrap().is_empty());
    let due = retention::retention_due(&th.store, now + 31 * 86_400_000).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].channel_id, cid_a);
    assert!(!due[0].exported, "the early export predates the leaving");

    // An export from before the patient left may miss events: refused.
    let e = retention::forget_patient(&th.store, &cid_a, early.as_bytes());
    assert!(
        matches!(&e, Err(Error::InvalidInput { field, .. }) if field == "export"),
        "{e:?}"
    );

    let export = retention::export_patient(&th.store, &cid_a).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&export).unwrap();
    assert_eq!(doc["format"], "collabzium.patient_export");
    assert_eq!(doc["revoked_by"], "peer");
    assert_eq!(doc["record"]["status"], "left");
    assert!(doc["received"].as_array().unwrap().len() >= 2);
    assert_eq!(doc["sent_messages"][0]["text"], "take care");
    assert!(retention::retention_due(&th.store, now + 31 * 86_400_000).unwrap()[0].exported);

    // Changed after export, another patient's export, or not an export: refused.
    let changed = export.replace("take care", "take cars");
    for (bytes, why) in [
        (changed.as_bytes().to_vec(), "changed"),
        (b"{}".to_vec(), "not an export"),
        (
            retention::export_patient(&th.store, &cid_b)
                .unwrap()
                .into_bytes(),
            "B's export",
        ),
    ] {
        let e = retention::forget_patient(&th.store, &cid_a, &bytes);
        assert!(
            matches!(&e, Err(Error::InvalidInput { field, .. }) if field == "export"),
            "{why}: {e:?}"
        );
    }
    // Still all there after the refusals.
    assert_eq!(
        caseload_for_store(&th.store, chrono::Utc::now())
            .unwrap()
            .len(),
        2
    );

    let rep = retention::forget_patient(&th.store, &cid_a, export.as_bytes()).unwrap();
    assert!(rep.received_events >= 2, "{rep:?}");
    assert_eq!(rep.sent_messages, 1);
    let caseload = caseload_for_store(&th.store, chrono::Utc::now()).unwrap();
    assert_eq!(caseload.len(), 1);
    assert_eq!(caseload[0].channel_id, cid_b);
    assert!(sync::inbox(&th.store, &[])
        .unwrap()
        .iter()
        .all(|i| i.channel_id != cid_a));
    assert!(th
        .store
        .audit_entries()
        .unwrap()
        .iter()
        .any(|e| e.event == "patient_forgotten"));
    assert!(th.store.verify_audit().unwrap().ok);
    // Forgetting twice: the patient is no longer there.
    assert!(matches!(
        retention::forget_patient(&th.store, &cid_a, export.as_bytes()),
        Err(Error::NotFound { .. })
    ));
}
