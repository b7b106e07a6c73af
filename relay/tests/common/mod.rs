//! Shared test harness: a fresh database per test (SQLite tempfile or a
//! throwaway PostgreSQL database), a real relay on 127.0.0.1:0, and a signing
//! HTTP client.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use collabzium_protocol::signing::{self, SignedHeaders};
use collabzium_protocol::DeviceKey;
use collabzium_relay::store::{Auth, StoreLimits};
use collabzium_relay::{spawn_background, RelayConfig, RelayHandle, RelayStore};
use serde_json::{json, Value};

pub const PG_ENV: &str = "COLLABZIUM_TEST_PG_URL";

/// A fresh database; dropped (PostgreSQL) or deleted (SQLite) with the value.
pub struct TestDb {
    pub url: String,
    pub kind: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("relay.sqlite3").display());
        TestDb {
            url,
            kind: "sqlite",
            _dir: Some(dir),
            pg_drop: None,
        }
    }

    /// `None` (with a note) when no PostgreSQL is configured, except in CI,
    /// where a missing server must fail the run rather than skip half of it.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin) = std::env::var(PG_ENV) else {
            if std::env::var_os("CI").is_some()
                || std::env::var_os("COLLABZIUM_REQUIRE_PG").is_some()
            {
                panic!("{PG_ENV} is unset in CI: the PostgreSQL half of the relay suite must run (scripts/ensure-postgres.sh)");
            }
            eprintln!("note: {PG_ENV} unset, skipping the PostgreSQL backend");
            return None;
        };
        let name = format!("relay_test_{}", hex(&rand_bytes::<8>()));
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .expect("connect to COLLABZIUM_TEST_PG_URL");
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        drop(client);
        let _ = task.await;
        let url = with_database(&admin, &name);
        Some(TestDb {
            url,
            kind: "postgres",
            _dir: None,
            pg_drop: Some((admin, name)),
        })
    }

    pub fn config(&self) -> RelayConfig {
        RelayConfig {
            database: self.url.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            ip_rate_limit_per_s: 0,
            rate_limit_per_s: 10_000,
            rate_burst: 10_000,
            sweep_interval: Duration::from_secs(3600),
            ..RelayConfig::default()
        }
    }

    pub fn spawn(&self) -> RelayHandle {
        spawn_background(self.config()).expect("relay starts")
    }

    pub async fn store(&self) -> Arc<dyn RelayStore> {
        self.store_with(StoreLimits::default()).await
    }

    pub async fn store_with(&self, limits: StoreLimits) -> Arc<dyn RelayStore> {
        collabzium_relay::open_store(&self.url, limits)
            .await
            .expect("open store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_drop.take() {
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok((client, conn)) =
                        tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(conn);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Replace the database name in a `postgres://…/db?params` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

pub fn rand_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; N];
    SystemRandom::new().fill(&mut b).unwrap();
    b
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A syntactically valid envelope: header plus `body_len` opaque bytes.
pub fn envelope(cid: &[u8; 16], dir: u8, seq: u64, body_len: usize, fill: u8) -> Vec<u8> {
    let mut e = vec![1u8, dir];
    e.extend_from_slice(cid);
    e.extend_from_slice(&seq.to_be_bytes());
    e.extend(std::iter::repeat_n(fill, body_len.max(16)));
    e
}

/// A response: status, headers, raw body.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_owned()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A fully specified request, so tests can capture, alter and replay it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

pub fn sign(key: &DeviceKey, method: &str, path: &str, query: &str, body: &[u8]) -> Req {
    sign_at(key, method, path, query, body, now_s())
}

pub fn sign_at(
    key: &DeviceKey,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    created: i64,
) -> Req {
    let h: SignedHeaders = signing::sign_request(key, method, path, query, body, created);
    Req {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        body: body.to_vec(),
        headers: h
            .pairs()
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

pub struct Http {
    client: reqwest::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        Http {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    pub async fn send(&self, base: &str, r: &Req) -> Resp {
        let url = if r.query.is_empty() {
            format!("{base}{}", r.path)
        } else {
            format!("{base}{}?{}", r.path, r.query)
        };
        let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
        let mut rb = self.client.request(method, url).body(r.body.clone());
        for (k, v) in &r.headers {
            rb = rb.header(k, v);
        }
        if !r.body.is_empty() {
            rb = rb.header("content-type", "application/json");
        }
        let resp = rb.send().await.expect("request");
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.expect("body").to_vec(),
        }
    }

    pub async fn get(&self, base: &str, path: &str) -> Resp {
        self.send(
            base,
            &Req {
                method: "GET".into(),
                path: path.into(),
                query: String::new(),
                body: vec![],
                headers: vec![],
            },
        )
        .await
    }
}

/// A device talking to one relay.
pub struct Device {
    pub key: DeviceKey,
    pub base: String,
    pub http: Arc<Http>,
}

impl Device {
    pub fn new(base: &str) -> Device {
        Device {
            key: DeviceKey::generate(),
            base: base.to_owned(),
            http: Arc::new(Http::new()),
        }
    }

    pub fn id(&self) -> [u8; 32] {
        self.key.public_key()
    }

    pub fn auth(&self) -> Auth {
        Auth {
            device: self.id(),
            nonce: rand_bytes(),
        }
    }

    pub fn at(&self, base: &str) -> Device {
        Device {
            key: DeviceKey::from_pkcs8(self.key.pkcs8()).unwrap(),
            base: base.to_owned(),
            http: self.http.clone(),
        }
    }

    pub fn req(&self, method: &str, path: &str, query: &str, body: &Value) -> Req {
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        };
        sign(&self.key, method, path, query, &body)
    }

    pub async fn call(&self, method: &str, path: &str, query: &str, body: Value) -> Resp {
        let r = self.req(method, path, query, &body);
        self.http.send(&self.base, &r).await
    }

    pub async fn send(&self, r: &Req) -> Resp {
        self.http.send(&self.base, r).await
    }

    pub async fn push(&self, cid: &[u8; 16], envs: &[Vec<u8>]) -> Resp {
        let envs: Vec<String> = envs.iter().map(|e| b64(e)).collect();
        self.call(
            "POST",
            &format!("/v1/channels/{}/envelopes", b64(cid)),
            "",
            json!({ "envelopes": envs }),
        )
        .await
    }

    pub async fn fetch(&self, cid: &[u8; 16], from_seq: u64, limit: usize) -> Resp {
        self.call(
            "GET",
            &format!("/v1/channels/{}/envelopes", b64(cid)),
            &format!("from_seq={from_seq}&limit={limit}"),
            Value::Null,
        )
        .await
    }

    pub async fn ack(&self, cid: &[u8; 16], through: u64, seqs: &[u64]) -> Resp {
        self.call(
            "POST",
            &format!("/v1/channels/{}/acks", b64(cid)),
            "",
            json!({ "through": through, "seqs": seqs }),
        )
        .await
    }

    pub fn revoke_body(&self, cid: &[u8; 16], revoked_at: i64) -> Value {
        let msg = collabzium_relay::store::revocation_message(cid, revoked_at);
        json!({ "revoked_at": revoked_at, "statement": b64(&self.key.sign(&msg)) })
    }

    pub async fn revoke(&self, cid: &[u8; 16]) -> Resp {
        let body = self.revoke_body(cid, now_ms());
        self.call("DELETE", &format!("/v1/channels/{}", b64(cid)), "", body)
            .await
    }

    pub async fn channels(&self) -> Value {
        let r = self.call("GET", "/v1/channels", "", Value::Null).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }
}

/// Pair `therapist` and `patient` through the real pairing endpoints;
/// returns the channel id.
pub async fn pair(therapist: &Device, patient: &Device) -> [u8; 16] {
    let r = therapist
        .call("POST", "/v1/pairings", "", json!({"msg_a": b64(b"msg-a")}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let np = r.json()["nameplate"].as_str().unwrap().to_owned();
    let r = patient
        .call(
            "POST",
            &format!("/v1/pairings/{np}/join"),
            "",
            json!({"join": b64(b"join-message")}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cid: [u8; 16] = rand_bytes();
    let r = therapist
        .call(
            "POST",
            &format!("/v1/pairings/{np}/finish"),
            "",
            json!({"channel_id": b64(&cid), "finish": b64(b"finish-message")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    cid
}

/// Instantiate an `async fn(TestDb)` test for both backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::TestDb::sqlite()).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) = $crate::common::TestDb::postgres().await {
                        super::$name(db).await;
                    }
                }
            }
        )*
    };
}
