//! The typed relay API (ADR 0006 §2) over a platform [`HttpTransport`].
//! Every request is signed with the device key (ADR 0006 §3); a `stale`
//! answer carries the relay's clock, and the request is re-signed once with
//! that offset.

use std::sync::atomic::{AtomicI64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::device::DeviceKey;
use super::signing;
use super::transport::{HttpRequest, HttpResponse, HttpTransport};
use crate::error::ClientError as Error;

type Result<T, E = Error> = std::result::Result<T, E>;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| Error::Relay {
        status: 0,
        code: "malformed_response".into(),
    })
}

/// A relay's refusal, decoded from its problem+json body.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub code: String,
    pub body: Value,
    pub retry_after_s: Option<u64>,
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::Relay {
            status: r.status,
            code: r.code,
        }
    }
}

/// Outcome of one relay call: transport failures are `Err(Error::Offline)`,
/// relay refusals are `Ok(Err(refusal))` so callers can act on the code.
pub type Call<T> = Result<std::result::Result<T, Refusal>>;

pub struct RelayClient<'a> {
    base: String,
    transport: &'a dyn HttpTransport,
    device: &'a DeviceKey,
    now_s: Box<dyn Fn() -> i64 + 'a>,
    offset_s: AtomicI64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PairingView {
    pub state: String,
    pub msg_a: String,
    pub expires_at: i64,
    #[serde(default)]
    pub join: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub finish: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RelayChannel {
    pub id: String,
    pub role: String,
    pub state: String,
    #[serde(default)]
    pub pending_for_me: u64,
    #[serde(default)]
    pub revocation: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PushResult {
    pub seq: u64,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Fetched {
    pub seq: u64,
    pub env: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FetchPage {
    pub envelopes: Vec<Fetched>,
    #[serde(default)]
    pub more: bool,
}

impl<'a> RelayClient<'a> {
    pub fn new(
        base_url: &str,
        transport: &'a dyn HttpTransport,
        device: &'a DeviceKey,
        now_s: impl Fn() -> i64 + 'a,
    ) -> Self {
        Self {
            base: base_url.trim_end_matches('/').to_string(),
            transport,
            device,
            now_s: Box::new(now_s),
            offset_s: AtomicI64::new(0),
        }
    }

    fn send_once(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Result<HttpResponse> {
        let created = (self.now_s)() + self.offset_s.load(Ordering::Relaxed);
        let h = signing::sign_request(self.device, method, path, query, body, created);
        let mut headers: Vec<(String, String)> = h
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if !body.is_empty() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let url = if query.is_empty() {
            format!("{}{}", self.base, path)
        } else {
            format!("{}{}?{}", self.base, path, query)
        };
        self.transport
            .send(HttpRequest {
                method: method.to_string(),
                url,
                headers,
                body: body.to_vec(),
            })
            .map_err(|e| Error::Offline(e.to_string()))
    }

    /// Sends a signed request; on `stale_signature` adopts the relay's clock
    /// and retries once.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Call<T> {
        let bytes = match body {
            Some(v) => serde_json::to_vec(v).map_err(|e| Error::Internal(e.to_string()))?,
            None => Vec::new(),
        };
        let mut resp = self.send_once(method, path, query, &bytes)?;
        if resp.status == 401 {
            let r = refusal(&resp);
            if r.code == "stale_signature" {
                if let Some(server) = r.body.get("server_time").and_then(Value::as_i64) {
                    self.offset_s
                        .store(server - (self.now_s)(), Ordering::Relaxed);
                    resp = self.send_once(method, path, query, &bytes)?;
                }
            }
        }
        if (200..300).contains(&resp.status) {
            let body: &[u8] = if resp.body.is_empty() {
                b"null"
            } else {
                &resp.body
            };
            let v = serde_json::from_slice(body).map_err(|_| Error::Relay {
                status: resp.status,
                code: "malformed_response".into(),
            })?;
            Ok(Ok(v))
        } else {
            Ok(Err(refusal(&resp)))
        }
    }

    pub fn create_pairing(&self, msg_a: &[u8]) -> Call<Value> {
        self.call(
            "POST",
            "/v1/pairings",
            "",
            Some(&json!({ "msg_a": b64(msg_a) })),
        )
    }

    pub fn get_pairing(&self, nameplate: &str) -> Call<PairingView> {
        self.call("GET", &format!("/v1/pairings/{nameplate}"), "", None)
    }

    pub fn join_pairing(&self, nameplate: &str, join: &[u8]) -> Call<Value> {
        self.call(
            "POST",
            &format!("/v1/pairings/{nameplate}/join"),
            "",
            Some(&json!({ "join": b64(join) })),
        )
    }

    pub fn finish_pairing(&self, nameplate: &str, cid: &[u8], finish: &[u8]) -> Call<Value> {
        self.call(
            "POST",
            &format!("/v1/pairings/{nameplate}/finish"),
            "",
            Some(&json!({ "channel_id": b64(cid), "finish": b64(finish) })),
        )
    }

    pub fn delete_pairing(&self, nameplate: &str) -> Call<Value> {
        self.call("DELETE", &format!("/v1/pairings/{nameplate}"), "", None)
    }

    pub fn channels(&self) -> Call<Vec<RelayChannel>> {
        #[derive(Deserialize)]
        struct L {
            channels: Vec<RelayChannel>,
        }
        Ok(self
            .call::<L>("GET", "/v1/channels", "", None)?
            .map(|l| l.channels))
    }

    pub fn push(&self, cid: &[u8], envelopes: &[&[u8]]) -> Call<Vec<PushResult>> {
        #[derive(Deserialize)]
        struct R {
            results: Vec<PushResult>,
        }
        let list: Vec<String> = envelopes.iter().map(|e| b64(e)).collect();
        Ok(self
            .call::<R>(
                "POST",
                &format!("/v1/channels/{}/envelopes", b64(cid)),
                "",
                Some(&json!({ "envelopes": list })),
            )?
            .map(|r| r.results))
    }

    pub fn fetch(&self, cid: &[u8], from_seq: u64, limit: u32) -> Call<FetchPage> {
        self.call(
            "GET",
            &format!("/v1/channels/{}/envelopes", b64(cid)),
            &format!("from_seq={from_seq}&limit={limit}"),
            None,
        )
    }

    pub fn ack(&self, cid: &[u8], through: u64, seqs: &[u64]) -> Call<Value> {
        self.call(
            "POST",
            &format!("/v1/channels/{}/acks", b64(cid)),
            "",
            Some(&json!({ "through": through, "seqs": seqs })),
        )
    }

    pub fn revoke(&self, cid: &[u8], revoked_at: i64, statement: &[u8]) -> Call<Value> {
        self.call(
            "DELETE",
            &format!("/v1/channels/{}", b64(cid)),
            "",
            Some(&json!({ "revoked_at": revoked_at, "statement": b64(statement) })),
        )
    }
}

impl RelayClient<'_> {
    /// Registers this device's one push endpoint (replacing any earlier).
    pub fn set_push_endpoint(&self, endpoint: &crate::push::PushEndpoint) -> Call<Value> {
        let body = serde_json::to_value(endpoint).map_err(|e| Error::Internal(e.to_string()))?;
        self.call("PUT", "/v1/devices/self/push", "", Some(&body))
    }

    /// Removes this device's push endpoint.
    pub fn delete_push_endpoint(&self) -> Call<Value> {
        self.call("DELETE", "/v1/devices/self/push", "", None)
    }
}

fn refusal(resp: &HttpResponse) -> Refusal {
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let code = body
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or(match resp.status {
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            409 => "conflict",
            429 => "rate_limited",
            s if s >= 500 => "relay_unavailable",
            _ => "refused",
        })
        .to_string();
    Refusal {
        status: resp.status,
        code,
        retry_after_s: resp.header("retry-after").and_then(|v| v.parse().ok()),
        body,
    }
}

/// The message a revocation statement signs (ADR 0005 §7).
pub fn revocation_message(cid: &[u8], revoked_at_ms: i64) -> Vec<u8> {
    let mut m = b"collabzium revoke v1".to_vec();
    m.extend_from_slice(cid);
    m.extend_from_slice(&(revoked_at_ms as u64).to_be_bytes());
    m
}
