//! Wake-ups (issue 16 §1) against local push services: a Web Push
//! subscriber over HTTP/1.1 and FCM / APNs stand-ins over HTTP/2 (h2c), each
//! checking the documented request format. The real services were not
//! reached from here.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

mod common;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use collabzium_relay::push::PushConfig;
use collabzium_relay::spawn_background;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

both_backends!(
    registration_is_signed_and_checked,
    wakeups_are_coalesced_and_constant,
    fcm_and_apns_requests_match_the_documented_format,
    gone_endpoints_are_forgotten,
    fcm_service_account_tokens_are_fetched_cached_and_refreshed,
    bad_fcm_service_accounts_stop_startup,
);

/// One request as a push service saw it.
#[derive(Debug, Clone)]
struct Seen {
    version: hyper::Version,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A local push service: records every request, answers `status`.
struct Service {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn service(h2: bool, status: u16) -> Service {
    service_with(h2, move |_| (status, b"{}".to_vec())).await
}

/// A local service whose answer `respond` picks from the request.
async fn service_with(
    h2: bool,
    respond: impl Fn(&Seen) -> (u16, Vec<u8>) + Send + Sync + 'static,
) -> Service {
    let respond = Arc::new(respond);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let respond = respond.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let log = log.clone();
                let respond = respond.clone();
                async move {
                    let version = req.version();
                    let path = req.uri().path().to_owned();
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                    let s = Seen {
                        version,
                        path,
                        headers,
                        body,
                    };
                    let (status, answer) = respond(&s);
                    log.lock().unwrap().push(s);
                    let mut r = Response::new(Full::new(Bytes::from(answer)));
                    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                    Ok::<_, Infallible>(r)
                }
            });
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                if h2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, svc)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                }
            });
        }
    });
    Service { url, seen }
}

impl Service {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Seen> {
        let until = Instant::now() + within;
        while self.seen().len() < n && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.seen()
    }
}

/// A P-256 PKCS#8 key written to `dir`; returns its path and the key pair.
fn p256_key(dir: &std::path::Path, name: &str) -> (PathBuf, EcdsaKeyPair) {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, doc.as_ref()).unwrap();
    let kp =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng).unwrap();
    (path, kp)
}

fn webpush_config(dir: &std::path::Path, interval: Duration) -> PushConfig {
    PushConfig {
        vapid_key_file: Some(p256_key(dir, "vapid.der").0),
        vapid_subject: Some("mailto:ops@relay.test".into()),
        interval,
        allow_loopback_http: true,
        ..PushConfig::default()
    }
}

fn subscription(endpoint: &str) -> Value {
    let rng = SystemRandom::new();
    let k =
        ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &rng).unwrap();
    let p = k.compute_public_key().unwrap();
    json!({"kind": "webpush", "endpoint": endpoint, "p256dh": b64(p.as_ref()), "auth": b64(&rand_bytes::<16>())})
}

/// Verifies a compact ES256 JWS with `key`; returns (header, claims).
fn verify_jwt(jwt: &str, key: &[u8]) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let input = format!("{}.{}", parts[0], parts[1]);
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key)
        .verify(input.as_bytes(), &unb64(parts[2]))
        .expect("the JWT signature verifies");
    (
        serde_json::from_slice(&unb64(parts[0])).unwrap(),
        serde_json::from_slice(&unb64(parts[1])).unwrap(),
    )
}

async fn registration_is_signed_and_checked(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let relay = spawn_background(collabzium_relay::RelayConfig {
        push: webpush_config(dir.path(), Duration::from_secs(1)),
        ..db.config()
    })
    .unwrap();
    let d = Device::new(&relay.url());
    let good = subscription("https://push.example.net/sub/1");
    let path = "/v1/devices/self/push";

    // Unsigned.
    let mut r = d.req("PUT", path, "", &good);
    r.headers.clear();
    assert_eq!(d.send(&r).await.status, 401);
    // Signed, then the body altered: the digest no longer matches.
    let mut r = d.req("PUT", path, "", &good);
    r.body = serde_json::to_vec(&subscription("https://evil.example/x")).unwrap();
    let resp = d.send(&r).await;
    assert_eq!(resp.status, 401, "{}", resp.text());
    // Signed by another key than the one it names.
    let other = Device::new(&relay.url());
    let mut r = d.req("PUT", path, "", &good);
    let forged = other.req("PUT", path, "", &good);
    for (k, v) in &mut r.headers {
        if k == "signature" {
            *v = forged
                .headers
                .iter()
                .find(|(k2, _)| k2 == "signature")
                .unwrap()
                .1
                .clone();
        }
    }
    assert_eq!(d.send(&r).await.status, 401);

    // Bad endpoints: typed 400s naming the field.
    for (body, field) in [
        (subscription("http://push.example.net/x"), "endpoint"),
        (subscription("https://10.1.2.3/x"), "endpoint"),
        (subscription("not a url"), "endpoint"),
        (
            json!({"kind": "webpush", "endpoint": "https://push.example.net/x", "p256dh": "AAAA", "auth": b64(&[0; 16])}),
            "p256dh",
        ),
        (json!({"kind": "pager", "token": "x"}), "kind"),
        (json!({"kind": "apns", "token": "not-hex"}), "token"),
    ] {
        let resp = d.call("PUT", path, "", body).await;
        assert_eq!(resp.status, 400, "{}", resp.text());
        assert_eq!(resp.code(), "invalid_push_endpoint");
        assert_eq!(resp.json()["invalid"]["field"], field, "{}", resp.text());
    }
    // A provider this relay has no credentials for.
    let resp = d
        .call(
            "PUT",
            path,
            "",
            json!({"kind": "fcm", "token": "abc:DEF-123"}),
        )
        .await;
    assert_eq!(
        (resp.status, resp.code().as_str()),
        (400, "push_provider_off")
    );

    let resp = d.call("PUT", path, "", good.clone()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json(), json!({"kind": "webpush", "replaced": false}));
    let resp = d.call("PUT", path, "", good).await;
    assert_eq!(resp.json()["replaced"], true);
    let store = db.store().await;
    assert_eq!(store.push_endpoints(None, 10).await.unwrap().len(), 1);
    let resp = d.call("DELETE", path, "", Value::Null).await;
    assert_eq!(resp.json(), json!({"removed": true}));
    assert!(store.push_endpoints(None, 10).await.unwrap().is_empty());
}

async fn wakeups_are_coalesced_and_constant(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let sub = service(false, 201).await;
    let interval = Duration::from_secs(2);
    let relay = spawn_background(collabzium_relay::RelayConfig {
        push: webpush_config(dir.path(), interval),
        ..db.config()
    })
    .unwrap();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    let endpoint = format!("{}/wake/therapist", sub.url);
    let r = t
        .call("PUT", "/v1/devices/self/push", "", subscription(&endpoint))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The therapist's own pushes do not wake the therapist.
    assert_eq!(
        t.push(&cid, &[envelope(&cid, 1, 1, 40, 1)]).await.status,
        200
    );
    let start = Instant::now();
    assert_eq!(
        p.push(&cid, &[envelope(&cid, 2, 1, 40, 1)]).await.status,
        200
    );
    let first = sub.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(first.len(), 1, "one wake-up for the patient's envelope");
    assert!(start.elapsed() < Duration::from_secs(3));
    // A burst within the interval: exactly one trailing wake-up.
    for seq in 2..=12u64 {
        let size = 40 + 50 * seq as usize;
        assert_eq!(
            p.push(&cid, &[envelope(&cid, 2, seq, size, 2)])
                .await
                .status,
            200
        );
    }
    let all = sub.wait_for(2, interval * 3).await;
    // A resend of known envelopes wakes nobody.
    let r = p.push(&cid, &[envelope(&cid, 2, 1, 40, 1)]).await;
    assert_eq!(r.json()["results"][0]["status"], "duplicate");
    tokio::time::sleep(interval + Duration::from_millis(500)).await;
    let all2 = sub.seen();
    assert_eq!(all.len(), 2, "12 pushes, one interval later: 2 wake-ups");
    assert_eq!(all2.len(), 2, "and no more after it");
    // Every wake-up looks the same from outside: same path, same header
    // names, same body length, whatever was sent.
    let names = |s: &Seen| {
        let mut n: Vec<String> = s.headers.iter().map(|(k, _)| k.clone()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&all2[0]), names(&all2[1]));
    assert_eq!(all2[0].body.len(), all2[1].body.len());
    let cid_b64 = b64(&cid);
    for s in &all2 {
        assert_eq!(s.path, "/wake/therapist");
        assert_eq!(s.header("content-encoding"), Some("aes128gcm"));
        assert_eq!(s.header("topic"), Some("wake"));
        let raw = format!("{:?}{}", s.headers, String::from_utf8_lossy(&s.body));
        assert!(!raw.contains(&cid_b64), "no channel id in a wake-up");
        assert!(!s.body.windows(16).any(|w| w == cid), "no raw channel id");
    }
    // No wake-up after the channel is revoked.
    assert_eq!(p.revoke(&cid).await.status, 200);
    tokio::time::sleep(interval).await;
    let _ = p.push(&cid, &[envelope(&cid, 2, 13, 40, 3)]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sub.seen().len(), 2);
}

async fn fcm_and_apns_requests_match_the_documented_format(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let fcm = service(true, 200).await;
    let apns = service(true, 200).await;
    let token_file = dir.path().join("fcm-token");
    std::fs::write(&token_file, "ya29.test-access-token\n").unwrap();
    let (apns_key_file, apns_key) = p256_key(dir.path(), "AuthKey_ABC123DEFG.p8");
    let relay = spawn_background(collabzium_relay::RelayConfig {
        push: PushConfig {
            fcm_project_id: Some("collabzium-test".into()),
            fcm_token_file: Some(token_file),
            fcm_url: fcm.url.clone(),
            apns_key_file: Some(apns_key_file),
            apns_key_id: Some("ABC123DEFG".into()),
            apns_team_id: Some("TEAM123456".into()),
            apns_topic: Some("org.collabzium.app".into()),
            apns_url: apns.url.clone(),
            allow_loopback_http: true,
            interval: Duration::from_secs(1),
            ..PushConfig::default()
        },
        ..db.config()
    })
    .unwrap();
    let (t1, p1) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let (t2, p2) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let c1 = pair(&t1, &p1).await;
    let c2 = pair(&t2, &p2).await;
    let fcm_token = "fGx1:APA91bTestToken_-.x";
    let apns_token = "a1".repeat(32);
    let r = t1
        .call(
            "PUT",
            "/v1/devices/self/push",
            "",
            json!({"kind": "fcm", "token": fcm_token}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = t2
        .call(
            "PUT",
            "/v1/devices/self/push",
            "",
            json!({"kind": "apns", "token": apns_token}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let before = now_s();
    assert_eq!(
        p1.push(&c1, &[envelope(&c1, 2, 1, 40, 1)]).await.status,
        200
    );
    assert_eq!(
        p2.push(&c2, &[envelope(&c2, 2, 1, 40, 1)]).await.status,
        200
    );
    let f = fcm.wait_for(1, Duration::from_secs(5)).await;
    let a = apns.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!((f.len(), a.len()), (1, 1));

    // FCM HTTP v1.
    let f = &f[0];
    assert_eq!(f.version, hyper::Version::HTTP_2);
    assert_eq!(f.path, "/v1/projects/collabzium-test/messages:send");
    assert_eq!(
        f.header("authorization"),
        Some("Bearer ya29.test-access-token")
    );
    assert!(f
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let body: Value = serde_json::from_slice(&f.body).unwrap();
    assert_eq!(
        body,
        json!({"message": {"token": fcm_token, "data": {"wake": "1"},
               "android": {"priority": "high", "ttl": "14400s", "collapse_key": "wake"}}})
    );

    // APNs.
    let a = &a[0];
    assert_eq!(a.version, hyper::Version::HTTP_2);
    assert_eq!(a.path, format!("/3/device/{apns_token}"));
    assert_eq!(a.header("apns-topic"), Some("org.collabzium.app"));
    assert_eq!(a.header("apns-push-type"), Some("background"));
    assert_eq!(a.header("apns-priority"), Some("5"));
    let body: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(body, json!({"aps": {"content-available": 1}}));
    let jwt = a
        .header("authorization")
        .unwrap()
        .strip_prefix("bearer ")
        .unwrap();
    let (header, claims) = verify_jwt(jwt, apns_key.public_key().as_ref());
    assert_eq!(header, json!({"alg": "ES256", "kid": "ABC123DEFG"}));
    assert_eq!(claims["iss"], "TEAM123456");
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before - 1..=now_s() + 1).contains(&iat), "iat {iat}");
    for s in [f, a] {
        let raw = format!("{:?}{}", s.headers, String::from_utf8_lossy(&s.body));
        assert!(!raw.contains(&b64(&c1)) && !raw.contains(&b64(&c2)));
    }
}

async fn gone_endpoints_are_forgotten(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let sub = service(false, 410).await;
    let relay = spawn_background(collabzium_relay::RelayConfig {
        push: webpush_config(dir.path(), Duration::from_secs(1)),
        ..db.config()
    })
    .unwrap();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    let r = t
        .call(
            "PUT",
            "/v1/devices/self/push",
            "",
            subscription(&format!("{}/x", sub.url)),
        )
        .await;
    assert_eq!(r.status, 200);
    let store = db.store().await;
    assert_eq!(store.push_endpoints(None, 10).await.unwrap().len(), 1);
    assert_eq!(
        p.push(&cid, &[envelope(&cid, 2, 1, 40, 1)]).await.status,
        200
    );
    assert_eq!(sub.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    let until = Instant::now() + Duration::from_secs(5);
    while !store.push_endpoints(None, 10).await.unwrap().is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        store.push_endpoints(None, 10).await.unwrap().is_empty(),
        "410 forgets the endpoint"
    );
}

/// A 2048-bit RSA key made by openssl: (PKCS#8 PEM, RSAPublicKey DER).
/// `None` when openssl is missing outside CI; under CI that fails.
fn openssl_rsa_key(dir: &std::path::Path) -> Option<(String, Vec<u8>)> {
    let key = dir.join("sa-key.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output();
    match out {
        Ok(o) => assert!(
            o.status.success(),
            "openssl genpkey: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) if std::env::var_os("CI").is_some() => panic!("openssl is needed under CI: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: openssl not found ({e}); the FCM service-account test needs it");
            return None;
        }
    }
    let o = std::process::Command::new("openssl")
        .args(["rsa", "-RSAPublicKey_out", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl rsa: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some((std::fs::read_to_string(&key).unwrap(), o.stdout))
}

/// `application/x-www-form-urlencoded` fields, decoded.
fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    let decode = |s: &str| {
        let b = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(
                    u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
                );
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// What the token endpoint checks in a JWT bearer grant: the grant type,
/// the RS256 signature against the service account's public key, and the
/// claims. Returns the claims, or what is wrong.
fn check_grant(s: &Seen, public_der: &[u8], aud: &str) -> Result<Value, String> {
    if s.header("content-type") != Some("application/x-www-form-urlencoded") {
        return Err(format!("content-type {:?}", s.header("content-type")));
    }
    let f = form(&s.body);
    if f.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return Err(format!("grant_type {:?}", f.get("grant_type")));
    }
    let jwt = f.get("assertion").ok_or("no assertion")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("not a compact JWS".into());
    }
    let input = format!("{}.{}", parts[0], parts[1]);
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_der)
        .verify(input.as_bytes(), &unb64(parts[2]))
        .map_err(|_| "the signature does not verify".to_string())?;
    let header: Value = serde_json::from_slice(&unb64(parts[0])).unwrap();
    let claims: Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
    if header != json!({"alg": "RS256", "typ": "JWT"}) {
        return Err(format!("header {header}"));
    }
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    let now = now_s();
    if claims["iss"] != "relay@collabzium-sa.iam.gserviceaccount.com"
        || claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging"
        || claims["aud"] != aud
        || !(now - 5..=now + 1).contains(&iat)
        || exp - iat != 3600
    {
        return Err(format!("claims {claims}"));
    }
    Ok(claims)
}

fn service_account(pem: &str, token_uri: &str) -> Value {
    json!({
        "type": "service_account",
        "project_id": "collabzium-sa",
        "private_key_id": "0123abcd",
        "private_key": pem,
        "client_email": "relay@collabzium-sa.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    })
}

async fn fcm_service_account_tokens_are_fetched_cached_and_refreshed(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let Some((pem, public_der)) = openssl_rsa_key(dir.path()) else {
        return;
    };
    // The token endpoint: a new access token per valid grant, 400 otherwise.
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let token_uri = Arc::new(Mutex::new(String::new()));
    let tokens = {
        let (issued, public_der, token_uri) =
            (issued.clone(), public_der.clone(), token_uri.clone());
        service_with(false, move |s| {
            match check_grant(s, &public_der, &token_uri.lock().unwrap()) {
                Ok(_) => {
                    let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    let body = json!({"access_token": format!("ya29.sa-token-{n}"), "expires_in": 3599, "token_type": "Bearer"});
                    (200, body.to_string().into_bytes())
                }
                Err(why) => (400, json!({"error": "invalid_grant", "error_description": why}).to_string().into_bytes()),
            }
        })
        .await
    };
    let uri = format!("{}/token", tokens.url);
    *token_uri.lock().unwrap() = uri.clone();
    // FCM: refuses the access token named in `revoked` with 401.
    let revoked = Arc::new(Mutex::new(String::new()));
    let fcm = {
        let revoked = revoked.clone();
        service_with(true, move |s| {
            let r = revoked.lock().unwrap();
            if !r.is_empty() && s.header("authorization") == Some(&format!("Bearer {r}")) {
                (401, b"{}".to_vec())
            } else {
                (200, b"{}".to_vec())
            }
        })
        .await
    };
    let sa_file = dir.path().join("service-account.json");
    std::fs::write(&sa_file, service_account(&pem, &uri).to_string()).unwrap();
    let relay = spawn_background(collabzium_relay::RelayConfig {
        push: PushConfig {
            fcm_service_account: Some(sa_file),
            fcm_url: fcm.url.clone(),
            allow_loopback_http: true,
            interval: Duration::from_millis(200),
            ..PushConfig::default()
        },
        ..db.config()
    })
    .unwrap();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    let fcm_token = "fGx1:APA91bServiceAccount_-.x";
    let r = t
        .call(
            "PUT",
            "/v1/devices/self/push",
            "",
            json!({"kind": "fcm", "token": fcm_token}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let bearer = |s: &Seen| s.header("authorization").unwrap().to_owned();

    // First wake-up: one grant, and FCM gets the token it returned.
    assert_eq!(
        p.push(&cid, &[envelope(&cid, 2, 1, 40, 1)]).await.status,
        200
    );
    let f = fcm.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(f.len(), 1);
    let g = tokens.seen();
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].path, "/token");
    let claims = check_grant(&g[0], &public_der, &uri).unwrap();
    assert_eq!(claims["aud"], uri.as_str());
    assert_eq!(f[0].version, hyper::Version::HTTP_2);
    assert_eq!(
        f[0].path, "/v1/projects/collabzium-sa/messages:send",
        "project from the file"
    );
    assert_eq!(bearer(&f[0]), "Bearer ya29.sa-token-1");

    // Second, within the token's lifetime: the cached token, no new grant.
    assert_eq!(
        p.push(&cid, &[envelope(&cid, 2, 2, 40, 2)]).await.status,
        200
    );
    let f = fcm.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(f.len(), 2);
    assert_eq!(bearer(&f[1]), "Bearer ya29.sa-token-1");
    assert_eq!(tokens.seen().len(), 1, "the token endpoint is asked once");

    // FCM revokes the token: one 401, one new grant, the same wake-up resent.
    *revoked.lock().unwrap() = "ya29.sa-token-1".into();
    assert_eq!(
        p.push(&cid, &[envelope(&cid, 2, 3, 40, 3)]).await.status,
        200
    );
    let f = fcm.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(f.len(), 4);
    assert_eq!(bearer(&f[2]), "Bearer ya29.sa-token-1");
    assert_eq!(bearer(&f[3]), "Bearer ya29.sa-token-2");
    assert_eq!(f[2].body, f[3].body);
    assert_eq!(tokens.seen().len(), 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fcm.seen().len(), 4, "no further retry");
    for s in tokens.seen().iter().chain(f.iter()) {
        let raw = format!("{:?}{}", s.headers, String::from_utf8_lossy(&s.body));
        assert!(!raw.contains(&b64(&cid)), "no channel id");
        assert!(!raw.contains("PRIVATE KEY"), "no key material");
    }
}

async fn bad_fcm_service_accounts_stop_startup(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let Some((pem, _)) = openssl_rsa_key(dir.path()) else {
        return;
    };
    let uri = "https://oauth2.googleapis.com/token";
    let good = service_account(&pem, uri);
    let ec_key = {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let b = STANDARD.encode(doc.as_ref());
        format!("-----BEGIN PRIVATE KEY-----\n{b}\n-----END PRIVATE KEY-----\n")
    };
    let with = |k: &str, v: Value| {
        let mut j = good.clone();
        j[k] = v;
        j.to_string()
    };
    let without = |k: &str| {
        let mut j = good.clone();
        j.as_object_mut().unwrap().remove(k);
        j.to_string()
    };
    for (name, content, expect) in [
        (
            "not-json",
            "{not json".to_owned(),
            "not service-account JSON",
        ),
        (
            "garbage-key",
            with(
                "private_key",
                json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            ),
            "private_key",
        ),
        ("no-pem", with("private_key", json!("MIIEv")), "private_key"),
        (
            "ec-key",
            with("private_key", json!(ec_key)),
            "not an RSA PKCS#8 key",
        ),
        ("no-email", without("client_email"), "client_email"),
        (
            "http-token-uri",
            with("token_uri", json!("http://oauth2.example/token")),
            "token_uri",
        ),
        ("no-project", without("project_id"), "--push-fcm-project"),
    ] {
        let file = dir.path().join(format!("{name}.json"));
        std::fs::write(&file, content).unwrap();
        let err = spawn_background(collabzium_relay::RelayConfig {
            push: PushConfig {
                fcm_service_account: Some(file),
                ..PushConfig::default()
            },
            ..db.config()
        })
        .err()
        .unwrap_or_else(|| panic!("{name}: the relay started"));
        assert!(
            matches!(err, collabzium_relay::RelayError::Config(_)),
            "{name}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(expect), "{name}: {msg}");
        assert!(
            !msg.contains("PRIVATE KEY") && !msg.contains("MII"),
            "{name}: no key in {msg}"
        );
    }
    // A missing file, and both credential kinds at once.
    let err = spawn_background(collabzium_relay::RelayConfig {
        push: PushConfig {
            fcm_service_account: Some(dir.path().join("absent.json")),
            ..PushConfig::default()
        },
        ..db.config()
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("cannot read"), "{err}");
    let good_file = dir.path().join("good.json");
    std::fs::write(&good_file, good.to_string()).unwrap();
    let err = spawn_background(collabzium_relay::RelayConfig {
        push: PushConfig {
            fcm_service_account: Some(good_file.clone()),
            fcm_token_file: Some(good_file.clone()),
            fcm_project_id: Some("p".into()),
            ..PushConfig::default()
        },
        ..db.config()
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("not both"), "{err}");
    // The same file, well formed, starts a relay.
    let relay = spawn_background(collabzium_relay::RelayConfig {
        push: PushConfig {
            fcm_service_account: Some(good_file),
            ..PushConfig::default()
        },
        ..db.config()
    });
    assert!(relay.is_ok(), "{:?}", relay.err());
}
