//! FCM HTTP v1: `POST {base}/v1/projects/{project}/messages:send` over
//! HTTP/2 with a high-priority data message that names nothing.
//!
//! Authorization is an OAuth2 access token read from a file the operator
//! keeps fresh (e.g. a workload-identity or `gcloud auth print-access-token`
//! job). The file is re-read before every send, so a rotated token is used
//! at once; the relay holds no service-account private key.

use async_trait::async_trait;

use super::net::{self, HttpVersion};
use super::{Provider, SendError, Subscription};

pub struct Fcm {
    pub base_url: String,
    pub project_id: String,
    pub access_token_file: std::path::PathBuf,
    pub allow_loopback_http: bool,
}

impl Fcm {
    fn access_token(&self) -> Result<String, SendError> {
        let t =
            std::fs::read_to_string(&self.access_token_file).map_err(|_| SendError::Credentials)?;
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SendError::Credentials);
        }
        Ok(t.to_owned())
    }
}

#[async_trait]
impl Provider for Fcm {
    fn name(&self) -> &'static str {
        "fcm"
    }

    async fn wake(&self, sub: &Subscription) -> Result<(), SendError> {
        let Subscription::Fcm { token } = sub else {
            return Err(SendError::BadEndpoint);
        };
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.base_url.trim_end_matches('/'),
            self.project_id
        );
        // A data message (no notification): the app's receiver runs one sync.
        let body = serde_json::json!({
            "message": {
                "token": token,
                "data": { "wake": "1" },
                "android": { "priority": "high", "ttl": "14400s", "collapse_key": "wake" },
            }
        });
        let req = hyper::Request::post(url)
            .header("authorization", format!("Bearer {}", self.access_token()?))
            .header("content-type", "application/json; charset=UTF-8")
            .body(serde_json::to_vec(&body).map_err(|_| SendError::Crypto)?)
            .map_err(|_| SendError::BadEndpoint)?;
        net::send(req, HttpVersion::Http2, self.allow_loopback_http)
            .await
            .and_then(|(status, _)| net::status_result(status))
    }
}
