//! Issue 16 §1 acceptance: a patient's risk answer wakes the therapist's
//! device within seconds, through a relay *process* and Web Push to a test
//! subscriber that holds the subscription keys. The test decrypts the push
//! (RFC 8291 receive side, written here with ring), checks the VAPID token
//! (RFC 8292) and that nothing the patient typed, and no channel id, is in
//! what the push service receives. Run on SQLite, and on PostgreSQL when
//! COLLABZIUM_TEST_PG_URL is set.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use collabzium_core::session;
use collabzium_core::sync::{self, PushEndpoint};
use collabzium_e2e::*;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use ring::{aead, agreement, hkdf};

/// One request as the push service received it.
#[derive(Clone)]
struct Received {
    head: String,
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
    fn raw(&self) -> Vec<u8> {
        let mut r = self.head.clone().into_bytes();
        r.extend_from_slice(&self.body);
        r
    }
}

/// A minimal HTTP/1.1 push service on loopback: records each request and
/// answers 201 Created, as RFC 8030 §5 says.
fn subscriber() -> (String, Arc<Mutex<Vec<Received>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", l.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let out = log.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_end..].to_vec();
            log.lock().unwrap().push(Received {
                head,
                body,
                at: Instant::now(),
            });
            let _ = s.write_all(
                b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (origin, out)
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, info: &[&[u8]], n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    prk.expand(info, Len(n)).unwrap().fill(&mut out).unwrap();
    out
}

/// RFC 8291 §3 / RFC 8188 receive side: the user agent's view.
fn decrypt(
    ua: agreement::EphemeralPrivateKey,
    ua_public: &[u8],
    auth: &[u8],
    body: &[u8],
) -> Vec<u8> {
    let salt = &body[..16];
    let rs = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
    let idlen = body[20] as usize;
    assert_eq!(idlen, 65, "keyid is the sender's P-256 key");
    let as_public = &body[21..21 + idlen];
    let record = &body[21 + idlen..];
    assert!(record.len() <= rs, "one record");
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, as_public);
    let ikm = agreement::agree_ephemeral(ua, &peer, |ecdh| {
        let prk_key = hkdf::Salt::new(hkdf::HKDF_SHA256, auth).extract(ecdh);
        expand(&prk_key, &[b"WebPush: info\0", ua_public, as_public], 32)
    })
    .unwrap();
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&ikm);
    let cek = expand(&prk, &[b"Content-Encoding: aes128gcm\0"], 16);
    let nonce: [u8; 12] = expand(&prk, &[b"Content-Encoding: nonce\0"], 12)
        .try_into()
        .unwrap();
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).unwrap());
    let mut rec = record.to_vec();
    let plain = key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut rec,
        )
        .expect("the wake-up decrypts with the subscription keys");
    // Strip padding: zeros, then the last-record delimiter 2.
    let end = plain.iter().rposition(|b| *b != 0).unwrap();
    assert_eq!(plain[end], 2, "last-record delimiter");
    plain[..end].to_vec()
}

fn canary() -> String {
    let mut b = [0u8; 9];
    SystemRandom::new().fill(&mut b).unwrap();
    format!("CNRY{}", URL_SAFE_NO_PAD.encode(b))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn risk_alert_wakes_the_therapist(database: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rng = SystemRandom::new();
    let vapid_doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let vapid =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, vapid_doc.as_ref(), &rng)
            .unwrap();
    // PEM, as an operator would keep it.
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(vapid_doc.as_ref())
    );
    let vapid_file = dir.path().join("vapid.pem");
    std::fs::write(&vapid_file, pem).unwrap();
    let (origin, received) = subscriber();

    let relay = RelayProcess::start_with_args(
        database,
        "127.0.0.1:0",
        &[
            "--push-vapid-key",
            vapid_file.to_str().unwrap(),
            "--push-vapid-subject",
            "mailto:relay-ops@clinic.test",
            "--push-allow-loopback-http",
            "--push-interval",
            "10s",
        ],
        Arc::new(Mutex::new(Vec::new())),
    );
    let t = transport();
    let therapist = party(dir.path(), "therapist");
    let patient = party(dir.path(), "patient");
    let cid = pair(&relay.url, &t, &therapist.store, &patient.store, "P-17");
    sync_until_quiet(&[&therapist, &patient], &t);

    // The therapist's phone subscribes: its own P-256 key and auth secret.
    let ua = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).unwrap();
    let ua_public = ua.compute_public_key().unwrap().as_ref().to_vec();
    let mut auth = [0u8; 16];
    rng.fill(&mut auth).unwrap();
    let endpoint = format!("{origin}/push/v2/a8f3");
    let reg = sync::register_push(
        &therapist.store,
        &t,
        &PushEndpoint::WebPush {
            endpoint: endpoint.clone(),
            p256dh: URL_SAFE_NO_PAD.encode(&ua_public),
            auth: URL_SAFE_NO_PAD.encode(auth),
        },
    )
    .unwrap();
    assert_eq!(reg.relays, 1);
    assert!(
        received.lock().unwrap().is_empty(),
        "registering sends nothing"
    );

    // The patient answers PHQ-9 item 9 above 0 and writes a comment.
    let secret = canary();
    phq9(&patient.store, [1, 1, 2, 1, 0, 1, 1, 0, 1]);
    alliance_checkin(&patient.store, &secret);
    let sent_at = Instant::now();
    let s = session::sync(&patient.store, &t).unwrap();
    assert!(s.sent >= 2, "{s:?}");

    let until = Instant::now() + Duration::from_secs(5);
    while received.lock().unwrap().is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = received
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("a wake-up within 5 s");
    assert!(first.at - sent_at < Duration::from_secs(5));

    // RFC 8030: POST to the push resource, with TTL; RFC 8188 coding.
    assert!(
        first.head.starts_with("POST /push/v2/a8f3 HTTP/1.1"),
        "{}",
        first.head
    );
    assert!(first.header("ttl").unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(
        first.header("content-encoding").as_deref(),
        Some("aes128gcm")
    );
    assert_eq!(
        decrypt(ua, &ua_public, &auth, &first.body),
        br#"{"wake":1}"#,
        "the plaintext is the constant wake-up"
    );

    // RFC 8292: vapid t=JWT, k=the relay's public key; ES256 over it.
    let authz = first.header("authorization").unwrap();
    let rest = authz.strip_prefix("vapid ").expect("vapid scheme");
    let (mut jwt, mut k) = ("", "");
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').unwrap();
        match name {
            "t" => jwt = value,
            "k" => k = value,
            _ => panic!("unexpected vapid parameter {name}"),
        }
    }
    assert_eq!(
        URL_SAFE_NO_PAD.decode(k).unwrap(),
        vapid.public_key().as_ref()
    );
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        vapid.public_key().as_ref(),
    )
    .verify(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
    )
    .expect("the VAPID signature verifies");
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        claims["aud"],
        origin.as_str(),
        "aud is the endpoint's origin"
    );
    assert_eq!(claims["sub"], "mailto:relay-ops@clinic.test");
    let exp = claims["exp"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "exp within 24 h: {exp} vs {now}"
    );

    // Canary: nothing typed, no channel id, no check-in kind in the push.
    let raw = first.raw();
    for needle in [
        secret.as_bytes().to_vec(),
        STANDARD.encode(&secret).into_bytes(),
        URL_SAFE_NO_PAD.encode(&secret).into_bytes(),
        cid.as_bytes().to_vec(),
        b"phq9".to_vec(),
        b"safety".to_vec(),
    ] {
        assert!(
            !contains(&raw, &needle),
            "{:?} leaked into the push",
            String::from_utf8_lossy(&needle)
        );
    }
    if let Ok(cid_bytes) = URL_SAFE_NO_PAD.decode(&cid) {
        assert!(!contains(&raw, &cid_bytes));
        assert!(!contains(&raw, STANDARD.encode(&cid_bytes).as_bytes()));
    }

    // The app answers the wake-up with one sync, which brings the alert.
    let s = session::sync(&therapist.store, &t).unwrap();
    assert!(s.received >= 2, "{s:?}");
    let alerts = sync::inbox(&therapist.store, &["safety_alert"]).unwrap();
    assert_eq!(
        alerts.len(),
        1,
        "the risk alert arrived with the wake-up's sync"
    );

    // Coalescing (interval 10 s): ten more check-ins synced one by one
    // inside the interval give one trailing wake-up at its end, not ten.
    for i in 0..10 {
        alliance_checkin(&patient.store, &format!("note {i}"));
        session::sync(&patient.store, &t).unwrap();
    }
    let interval = Duration::from_secs(10);
    assert!(first.at.elapsed() < interval, "the burst fits one interval");
    assert_eq!(
        received.lock().unwrap().len(),
        1,
        "nothing more inside the interval"
    );
    std::thread::sleep(
        (first.at + interval + Duration::from_secs(3)).saturating_duration_since(Instant::now()),
    );
    let n = received.lock().unwrap().len();
    assert_eq!(n, 2, "one wake-up, then one for the whole burst");
    let all = received.lock().unwrap().clone();
    assert_eq!(
        all[0].body.len(),
        all[1].body.len(),
        "every wake-up has the same size"
    );

    // The relay's log names neither the endpoint nor the channel.
    let log = relay.log_bytes();
    assert!(contains(&log, b"wake-up"), "the relay logged the sends");
    assert!(!contains(&log, endpoint.as_bytes()) && !contains(&log, cid.as_bytes()));
}

#[test]
fn risk_alert_wakes_the_therapist_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    risk_alert_wakes_the_therapist(&format!("sqlite:{}", dir.path().join("relay.db").display()));
}

#[test]
fn risk_alert_wakes_the_therapist_postgres() {
    if let Some(base) = postgres_url() {
        risk_alert_wakes_the_therapist(&fresh_pg_database(&base, "push_wake"));
    }
}
