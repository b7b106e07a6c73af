//! APNs provider API: `POST {base}/3/device/{token}` over HTTP/2 with
//! token-based authentication (an ES256 JWT with `kid`, `iss`, `iat`) and a
//! background notification (`content-available`), which wakes the app to
//! run one sync and shows nothing.

use std::sync::Mutex;

use async_trait::async_trait;
use ring::signature::EcdsaKeyPair;

use super::net::{self, HttpVersion};
use super::{jwt_es256, Provider, SendError, Subscription};

/// Apple refuses tokens older than an hour and throttles renewals more
/// often than every 20 minutes; 40 minutes sits between.
const TOKEN_REUSE_S: i64 = 40 * 60;

pub struct Apns {
    pub base_url: String,
    pub key: EcdsaKeyPair,
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    pub allow_loopback_http: bool,
    /// The current provider token and when it was made.
    pub cached: Mutex<Option<(String, i64)>>,
}

impl Apns {
    fn token(&self, now_s: i64) -> Result<String, SendError> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, iat)) = cached.as_ref() {
            if now_s - iat < TOKEN_REUSE_S && now_s >= *iat {
                return Ok(t.clone());
            }
        }
        let t = jwt_es256(
            &self.key,
            serde_json::json!({"alg": "ES256", "kid": self.key_id}),
            serde_json::json!({"iss": self.team_id, "iat": now_s}),
        )?;
        *cached = Some((t.clone(), now_s));
        Ok(t)
    }
}

#[async_trait]
impl Provider for Apns {
    fn name(&self) -> &'static str {
        "apns"
    }

    async fn wake(&self, sub: &Subscription) -> Result<(), SendError> {
        let Subscription::Apns { token } = sub else {
            return Err(SendError::BadEndpoint);
        };
        let url = format!("{}/3/device/{token}", self.base_url.trim_end_matches('/'));
        let body = br#"{"aps":{"content-available":1}}"#.to_vec();
        let req = hyper::Request::post(url)
            .header(
                "authorization",
                format!("bearer {}", self.token(super::now_s())?),
            )
            .header("apns-topic", self.topic.as_str())
            .header("apns-push-type", "background")
            // Background pushes must use priority 5.
            .header("apns-priority", "5")
            .header("apns-expiration", (super::now_s() + 4 * 3600).to_string())
            .header("apns-collapse-id", "wake")
            .header("content-type", "application/json")
            .body(body)
            .map_err(|_| SendError::BadEndpoint)?;
        net::send(req, HttpVersion::Http2, self.allow_loopback_http)
            .await
            .and_then(|(status, _)| net::status_result(status))
    }
}
