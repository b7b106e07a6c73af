//! FCM HTTP v1: `POST {base}/v1/projects/{project}/messages:send` over
//! HTTP/2 with a high-priority data message that names nothing.
//!
//! Authorization is an OAuth2 access token, from one of:
//! - a Google service-account key (preferred): the relay signs an RS256 JWT
//!   and trades it at the key's `token_uri` (RFC 7523 JWT bearer grant),
//!   caches the token until a minute before it expires and fetches a new
//!   one once when FCM answers 401;
//! - a file the operator keeps fresh (e.g. a workload-identity job), re-read
//!   before every send, so the relay holds no private key.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

use super::net::{self, HttpVersion};
use super::{now_s, Provider, SendError, Subscription};

/// The OAuth2 scope FCM HTTP v1 needs.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_S: i64 = 3600;
/// A cached access token is replaced this long before it expires.
const EXPIRY_MARGIN_S: i64 = 60;
/// Longest access token accepted from the token endpoint.
const MAX_ACCESS_TOKEN: usize = 4096;

pub struct Fcm {
    pub base_url: String,
    pub project_id: String,
    pub auth: FcmAuth,
    pub allow_loopback_http: bool,
}

/// Where FCM access tokens come from.
pub enum FcmAuth {
    ServiceAccount(Box<ServiceAccount>),
    TokenFile(std::path::PathBuf),
}

/// A Google service-account key, parsed and checked at startup.
pub struct ServiceAccount {
    client_email: String,
    key: RsaKeyPair,
    token_uri: String,
    project_id: Option<String>,
    /// The current access token and the second from which it is no
    /// longer used; one refresh at a time.
    cached: tokio::sync::Mutex<Option<(String, i64)>>,
}

impl std::fmt::Debug for ServiceAccount {
    // Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// Why a service-account file was refused at startup: the field and what is
/// wrong with it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("FCM service account {field}: {why}")]
pub struct ServiceAccountError {
    pub field: &'static str,
    pub why: String,
}

fn sa_err(field: &'static str, why: impl Into<String>) -> ServiceAccountError {
    ServiceAccountError {
        field,
        why: why.into(),
    }
}

#[derive(serde::Deserialize)]
struct ServiceAccountFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
    project_id: Option<String>,
}

impl ServiceAccount {
    /// Reads and checks Google's service-account JSON.
    pub fn from_file(
        path: &std::path::Path,
        allow_loopback_http: bool,
    ) -> Result<Self, ServiceAccountError> {
        let raw = std::fs::read(path)
            .map_err(|e| sa_err("file", format!("cannot read: {}", e.kind())))?;
        Self::from_json(&raw, allow_loopback_http)
    }

    pub fn from_json(raw: &[u8], allow_loopback_http: bool) -> Result<Self, ServiceAccountError> {
        let f: ServiceAccountFile =
            serde_json::from_slice(raw).map_err(|_| sa_err("file", "not service-account JSON"))?;
        if f.kind.as_deref().is_some_and(|k| k != "service_account") {
            return Err(sa_err("type", "must be service_account"));
        }
        let client_email = f
            .client_email
            .filter(|e| !e.is_empty() && e.len() <= 320 && e.contains('@'))
            .ok_or_else(|| sa_err("client_email", "missing or not an address"))?;
        let token_uri = f.token_uri.ok_or_else(|| sa_err("token_uri", "missing"))?;
        super::check_endpoint(&token_uri, allow_loopback_http)
            .map_err(|e| sa_err("token_uri", e.why))?;
        let pem = f
            .private_key
            .ok_or_else(|| sa_err("private_key", "missing"))?;
        let der = pem_pkcs8(&pem)?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| sa_err("private_key", format!("not an RSA PKCS#8 key ({e})")))?;
        Ok(Self {
            client_email,
            key,
            token_uri,
            project_id: f.project_id,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// The project named in the file, if any.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// The signed assertion for the JWT bearer grant.
    fn assertion(&self, now: i64) -> Result<String, SendError> {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": FCM_SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| SendError::Crypto)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// A current access token: the cached one, or a new one from the token
    /// endpoint. `stale` (a token FCM refused) is never returned again.
    async fn access_token(
        &self,
        stale: Option<&str>,
        allow_loopback_http: bool,
    ) -> Result<String, SendError> {
        let mut cached = self.cached.lock().await;
        let now = now_s();
        if let Some((t, until)) = cached.as_ref() {
            if now < *until && stale != Some(t.as_str()) {
                return Ok(t.clone());
            }
        }
        *cached = None;
        // The assertion is base64url and dots; only the grant type needs
        // form encoding.
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}",
            self.assertion(now)?
        );
        let req = hyper::Request::post(self.token_uri.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body.into_bytes())
            .map_err(|_| SendError::BadEndpoint)?;
        let (status, resp) = net::send(req, HttpVersion::Http1, allow_loopback_http).await?;
        if !status.is_success() {
            return Err(SendError::Credentials);
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            access_token: String,
            expires_in: Option<i64>,
        }
        let r: TokenResponse = serde_json::from_slice(&resp).map_err(|_| SendError::Credentials)?;
        if r.access_token.is_empty()
            || r.access_token.len() > MAX_ACCESS_TOKEN
            || !r.access_token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(SendError::Credentials);
        }
        let lifetime = r.expires_in.unwrap_or(0).clamp(0, 86_400);
        if lifetime > EXPIRY_MARGIN_S {
            *cached = Some((r.access_token.clone(), now + lifetime - EXPIRY_MARGIN_S));
        }
        Ok(r.access_token)
    }
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` PEM block.
fn pem_pkcs8(pem: &str) -> Result<Vec<u8>, ServiceAccountError> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let start = pem
        .find(BEGIN)
        .ok_or_else(|| sa_err("private_key", "no PEM private-key block"))?
        + BEGIN.len();
    let len = pem[start..]
        .find(END)
        .ok_or_else(|| sa_err("private_key", "PEM block not closed"))?;
    let b64: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| sa_err("private_key", "malformed PEM"))
}

impl Fcm {
    fn file_token(path: &std::path::Path) -> Result<String, SendError> {
        let t = std::fs::read_to_string(path).map_err(|_| SendError::Credentials)?;
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SendError::Credentials);
        }
        Ok(t.to_owned())
    }

    async fn access_token(&self, stale: Option<&str>) -> Result<String, SendError> {
        match &self.auth {
            FcmAuth::ServiceAccount(sa) => sa.access_token(stale, self.allow_loopback_http).await,
            FcmAuth::TokenFile(path) => Self::file_token(path),
        }
    }

    async fn send(&self, token: &str, access_token: &str) -> Result<hyper::StatusCode, SendError> {
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
            .header("authorization", format!("Bearer {access_token}"))
            .header("content-type", "application/json; charset=UTF-8")
            .body(serde_json::to_vec(&body).map_err(|_| SendError::Crypto)?)
            .map_err(|_| SendError::BadEndpoint)?;
        net::send(req, HttpVersion::Http2, self.allow_loopback_http)
            .await
            .map(|(status, _)| status)
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
        let access = self.access_token(None).await?;
        let mut status = self.send(token, &access).await?;
        // A token revoked or expired early: fetch a new one, once.
        if status == hyper::StatusCode::UNAUTHORIZED
            && matches!(self.auth, FcmAuth::ServiceAccount(_))
        {
            let fresh = self.access_token(Some(&access)).await?;
            status = self.send(token, &fresh).await?;
        }
        net::status_result(status)
    }
}
