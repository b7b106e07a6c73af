//! Wake-ups that carry nothing (issue 16 §1, ADR 0006 §10). A device may
//! register one push endpoint; when an envelope is queued for it the relay
//! asks the device's push service to wake it, and the app runs one sync.
//!
//! A wake-up is the same constant for every cause: no channel id, sender,
//! kind, count or size. Wake-ups are sent off the request path (a bounded
//! queue and one worker), at most one per device per `interval`, with a
//! trailing one when more arrived meanwhile, so nothing waits unannounced.
//! Optional random delay and cover wake-ups blur the timing (their cost is
//! in docs/push.md).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::store::{ChannelId, DeviceId, RelayStore};

pub mod apns;
pub mod fcm;
pub mod net;
pub mod webpush;

/// The plaintext of every Web Push wake-up (encrypted, so the push service
/// sees only its fixed length).
pub const WAKE_PAYLOAD: &[u8] = br#"{"wake":1}"#;
/// Queued wake-up requests; beyond this new ones are dropped (the device's
/// periodic sync still runs), never the push that caused them.
const QUEUE: usize = 4096;
/// Endpoints woken for one envelope push (the peer has one device).
const TARGETS: usize = 8;
/// Devices sent cover wake-ups in one round.
const COVER_MAX: usize = 100_000;

pub(crate) fn now_s() -> i64 {
    crate::http::now_ms().div_euclid(1000)
}

/// A device's push endpoint, as registered (`PUT /v1/devices/self/push`):
/// the wire type the clients send, from the protocol crate.
pub use collabzium_protocol::push::PushEndpoint as Subscription;

/// Why a registration was refused: the field and what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{field}: {why}")]
pub struct InvalidSubscription {
    pub field: &'static str,
    pub why: &'static str,
}

fn invalid(field: &'static str, why: &'static str) -> InvalidSubscription {
    InvalidSubscription { field, why }
}

pub const MAX_ENDPOINT_LEN: usize = 2048;
pub const MAX_TOKEN_LEN: usize = 4096;

/// The relay's rules for a registered endpoint: its kind, parsing and
/// checking a registration body, and the stored form.
pub trait SubscriptionRules: Sized {
    fn kind(&self) -> &'static str;
    fn parse(body: &[u8], allow_loopback_http: bool) -> Result<Self, InvalidSubscription>;
    fn check(&self, allow_loopback_http: bool) -> Result<(), InvalidSubscription>;
    fn to_stored(&self) -> String;
    fn from_stored(s: &str) -> Option<Self>;
}

impl SubscriptionRules for Subscription {
    fn kind(&self) -> &'static str {
        match self {
            Subscription::WebPush { .. } => "webpush",
            Subscription::Fcm { .. } => "fcm",
            Subscription::Apns { .. } => "apns",
        }
    }

    /// Parses and checks a registration body.
    fn parse(body: &[u8], allow_loopback_http: bool) -> Result<Self, InvalidSubscription> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| invalid("body", "not JSON"))?;
        match v.get("kind").and_then(|k| k.as_str()) {
            Some("webpush" | "fcm" | "apns") => {}
            _ => return Err(invalid("kind", "must be webpush, fcm or apns")),
        }
        let s: Subscription = serde_json::from_value(v)
            .map_err(|_| invalid("body", "a required field is missing"))?;
        s.check(allow_loopback_http)?;
        Ok(s)
    }

    fn check(&self, allow_loopback_http: bool) -> Result<(), InvalidSubscription> {
        match self {
            Subscription::WebPush {
                endpoint,
                p256dh,
                auth,
            } => {
                check_endpoint(endpoint, allow_loopback_http)?;
                let key = URL_SAFE_NO_PAD
                    .decode(p256dh.trim_end_matches('='))
                    .map_err(|_| invalid("p256dh", "not base64url"))?;
                if key.len() != 65 || key[0] != 4 {
                    return Err(invalid("p256dh", "not an uncompressed P-256 point"));
                }
                let a = URL_SAFE_NO_PAD
                    .decode(auth.trim_end_matches('='))
                    .map_err(|_| invalid("auth", "not base64url"))?;
                if a.len() != 16 {
                    return Err(invalid("auth", "must be 16 bytes"));
                }
            }
            Subscription::Fcm { token } => {
                if token.is_empty() || token.len() > MAX_TOKEN_LEN {
                    return Err(invalid("token", "length out of range"));
                }
                if !token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
                {
                    return Err(invalid("token", "unexpected characters"));
                }
            }
            Subscription::Apns { token } => {
                if !(64..=200).contains(&token.len()) || token.len() % 2 != 0 {
                    return Err(invalid("token", "length out of range"));
                }
                if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid("token", "not hexadecimal"));
                }
            }
        }
        Ok(())
    }

    /// The stored form (JSON text).
    fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn from_stored(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }
}

/// `https://` with a host name; IP literals and plain `http://` only for
/// loopback test servers when allowed. Anything else could make the relay
/// post into its own network.
fn check_endpoint(endpoint: &str, allow_loopback_http: bool) -> Result<(), InvalidSubscription> {
    if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(invalid("endpoint", "length out of range"));
    }
    let uri: hyper::Uri = endpoint
        .parse()
        .map_err(|_| invalid("endpoint", "not a URL"))?;
    let authority = uri
        .authority()
        .ok_or(invalid("endpoint", "not an absolute URL"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("endpoint", "must not carry user information"));
    }
    let host = authority.host();
    let loopback_ok = allow_loopback_http && net::is_loopback_host(host);
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if loopback_ok => {}
        Some("http") => return Err(invalid("endpoint", "must be https")),
        _ => return Err(invalid("endpoint", "must be an https URL")),
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let is_ip = bare.parse::<std::net::IpAddr>().is_ok();
    if (is_ip || bare.eq_ignore_ascii_case("localhost")) && !loopback_ok {
        return Err(invalid("endpoint", "must name a host, not an address"));
    }
    Ok(())
}

/// Why one wake-up could not be delivered (logged by kind only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SendError {
    #[error("unusable endpoint")]
    BadEndpoint,
    #[error("network")]
    Network,
    #[error("crypto")]
    Crypto,
    #[error("credentials unavailable")]
    Credentials,
    /// The push service says the subscription or token is gone.
    #[error("gone")]
    Gone,
    #[error("status {0}")]
    Status(u16),
}

impl SendError {
    fn label(self) -> &'static str {
        match self {
            SendError::BadEndpoint => "bad_endpoint",
            SendError::Network => "network",
            SendError::Crypto => "crypto",
            SendError::Credentials => "credentials",
            SendError::Gone => "gone",
            SendError::Status(_) => "refused",
        }
    }
}

/// One push service.
#[async_trait]
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    /// Delivers one content-free wake-up to `sub`.
    async fn wake(&self, sub: &Subscription) -> Result<(), SendError>;
}

/// A compact JWS with ES256 (`r ‖ s`, RFC 7518 §3.4).
pub(crate) fn jwt_es256(
    key: &EcdsaKeyPair,
    header: serde_json::Value,
    claims: serde_json::Value,
) -> Result<String, SendError> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key
        .sign(&SystemRandom::new(), input.as_bytes())
        .map_err(|_| SendError::Crypto)?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
}

/// A PKCS#8 key from a PEM file (`-----BEGIN PRIVATE KEY-----`, as Apple's
/// `.p8` files are) or raw DER.
pub fn read_pkcs8(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let raw =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    if !raw.starts_with(b"-----BEGIN") {
        return Ok(raw);
    }
    let text = String::from_utf8(raw).map_err(|_| format!("{} is not PEM text", path.display()))?;
    let b64: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    STANDARD
        .decode(b64)
        .map_err(|_| format!("{} holds malformed PEM", path.display()))
}

/// Push settings (`collabzium relay serve --push-*`). A provider whose
/// credentials are missing is off; registrations for it are refused.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// VAPID signing key (P-256 PKCS#8, PEM or DER) and its contact.
    pub vapid_key_file: Option<PathBuf>,
    pub vapid_subject: Option<String>,
    /// Firebase project id; from the service-account file when not given.
    pub fcm_project_id: Option<String>,
    /// A Google service-account key (JSON) the relay gets FCM access
    /// tokens with (preferred).
    pub fcm_service_account: Option<PathBuf>,
    /// Or: a file holding a current OAuth2 access token for FCM.
    pub fcm_token_file: Option<PathBuf>,
    pub fcm_url: String,
    /// APNs auth key (`.p8`), its key id, the team id and the app's bundle id.
    pub apns_key_file: Option<PathBuf>,
    pub apns_key_id: Option<String>,
    pub apns_team_id: Option<String>,
    pub apns_topic: Option<String>,
    pub apns_url: String,
    /// At most one wake-up per device per this interval.
    pub interval: Duration,
    /// Each wake-up waits a further uniform random 0..max_delay.
    pub max_delay: Duration,
    /// Every registered device also gets one cover wake-up per this period,
    /// at a random moment; `None` sends none.
    pub cover_period: Option<Duration>,
    /// Accept and use `http://` endpoints on loopback (tests only).
    pub allow_loopback_http: bool,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            vapid_key_file: None,
            vapid_subject: None,
            fcm_project_id: None,
            fcm_service_account: None,
            fcm_token_file: None,
            fcm_url: "https://fcm.googleapis.com".into(),
            apns_key_file: None,
            apns_key_id: None,
            apns_team_id: None,
            apns_topic: None,
            apns_url: "https://api.push.apple.com".into(),
            interval: Duration::from_secs(10),
            max_delay: Duration::ZERO,
            cover_period: None,
            allow_loopback_http: false,
        }
    }
}

impl PushConfig {
    /// Every setting in range and every half-given provider named.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval < Duration::from_millis(100) || self.interval > Duration::from_secs(3600) {
            return Err("push_interval must be between 100ms and 1h".into());
        }
        if self.max_delay > Duration::from_secs(3600) {
            return Err("push_max_delay must be at most 1h".into());
        }
        if self
            .cover_period
            .is_some_and(|c| c < Duration::from_secs(60) || c > Duration::from_secs(7 * 86_400))
        {
            return Err("push_cover_period must be between 1m and 7d".into());
        }
        if self.fcm_service_account.is_some() && self.fcm_token_file.is_some() {
            return Err(
                "FCM takes --push-fcm-service-account or --push-fcm-token-file, not both".into(),
            );
        }
        if self.fcm_project_id.is_some()
            && self.fcm_service_account.is_none()
            && self.fcm_token_file.is_none()
        {
            return Err("FCM needs --push-fcm-service-account or --push-fcm-token-file".into());
        }
        if self.fcm_token_file.is_some() && self.fcm_project_id.is_none() {
            return Err("FCM needs --push-fcm-project with --push-fcm-token-file".into());
        }
        let groups: [(&str, &[bool]); 2] = [
            (
                "Web Push needs --push-vapid-key and --push-vapid-subject",
                &[self.vapid_key_file.is_some(), self.vapid_subject.is_some()],
            ),
            (
                "APNs needs --push-apns-key, --push-apns-key-id, --push-apns-team-id and --push-apns-topic",
                &[
                    self.apns_key_file.is_some(),
                    self.apns_key_id.is_some(),
                    self.apns_team_id.is_some(),
                    self.apns_topic.is_some(),
                ],
            ),
        ];
        for (msg, set) in groups {
            if set.iter().any(|b| *b) && !set.iter().all(|b| *b) {
                return Err(msg.into());
            }
        }
        Ok(())
    }

    fn providers(&self) -> Result<Providers, String> {
        let webpush = match (&self.vapid_key_file, &self.vapid_subject) {
            (Some(f), Some(s)) => Some(Arc::new(webpush::WebPush {
                vapid: webpush::Vapid::new(&read_pkcs8(f)?, s)?,
                allow_loopback_http: self.allow_loopback_http,
            }) as Arc<dyn Provider>),
            _ => None,
        };
        let auth = match (&self.fcm_service_account, &self.fcm_token_file) {
            (Some(f), _) => Some(fcm::FcmAuth::ServiceAccount(Box::new(
                fcm::ServiceAccount::from_file(f, self.allow_loopback_http)
                    .map_err(|e| e.to_string())?,
            ))),
            (None, Some(f)) => Some(fcm::FcmAuth::TokenFile(f.clone())),
            (None, None) => None,
        };
        let fcm = match auth {
            Some(auth) => {
                let project = match (&self.fcm_project_id, &auth) {
                    (Some(p), _) => p.clone(),
                    (None, fcm::FcmAuth::ServiceAccount(sa)) => sa
                        .project_id()
                        .ok_or(
                            "FCM needs --push-fcm-project: the service account names no project_id",
                        )?
                        .to_owned(),
                    (None, fcm::FcmAuth::TokenFile(_)) => {
                        return Err(
                            "FCM needs --push-fcm-project with --push-fcm-token-file".into()
                        );
                    }
                };
                if project.is_empty()
                    || !project
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err("the FCM project id has unexpected characters".into());
                }
                Some(Arc::new(fcm::Fcm {
                    base_url: self.fcm_url.clone(),
                    project_id: project,
                    auth,
                    allow_loopback_http: self.allow_loopback_http,
                }) as Arc<dyn Provider>)
            }
            None => None,
        };
        let apns = match (
            &self.apns_key_file,
            &self.apns_key_id,
            &self.apns_team_id,
            &self.apns_topic,
        ) {
            (Some(f), Some(kid), Some(team), Some(topic)) => {
                let key = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &read_pkcs8(f)?,
                    &SystemRandom::new(),
                )
                .map_err(|e| format!("the APNs key is not a P-256 PKCS#8 key ({e})"))?;
                Some(Arc::new(apns::Apns {
                    base_url: self.apns_url.clone(),
                    key,
                    key_id: kid.clone(),
                    team_id: team.clone(),
                    topic: topic.clone(),
                    allow_loopback_http: self.allow_loopback_http,
                    cached: Mutex::new(None),
                }) as Arc<dyn Provider>)
            }
            _ => None,
        };
        Ok(Providers { webpush, fcm, apns })
    }
}

struct Providers {
    webpush: Option<Arc<dyn Provider>>,
    fcm: Option<Arc<dyn Provider>>,
    apns: Option<Arc<dyn Provider>>,
}

impl Providers {
    fn for_kind(&self, kind: &str) -> Option<&Arc<dyn Provider>> {
        match kind {
            "webpush" => self.webpush.as_ref(),
            "fcm" => self.fcm.as_ref(),
            "apns" => self.apns.as_ref(),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Slot {
    last: Option<Instant>,
    pending: bool,
}

struct Inner {
    store: Arc<dyn RelayStore>,
    providers: Providers,
    interval: Duration,
    max_delay: Duration,
    slots: Mutex<HashMap<DeviceId, Slot>>,
}

/// The handle the HTTP layer holds: checks registrations and queues
/// wake-ups without waiting.
pub struct Waker {
    tx: mpsc::Sender<(ChannelId, DeviceId)>,
    inner: Arc<Inner>,
    pub allow_loopback_http: bool,
}

fn random_below(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut b = [0u8; 8];
    let _ = SystemRandom::new().fill(&mut b);
    let ms = max.as_millis().max(1) as u64;
    Duration::from_millis(u64::from_be_bytes(b) % ms)
}

impl Waker {
    /// Builds the providers and starts the worker (and the cover task) on
    /// the current runtime.
    pub fn start(config: &PushConfig, store: Arc<dyn RelayStore>) -> Result<Arc<Waker>, String> {
        config.validate()?;
        let providers = config.providers()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let inner = Arc::new(Inner {
            store,
            providers,
            interval: config.interval,
            max_delay: config.max_delay,
            slots: Mutex::new(HashMap::new()),
        });
        tokio::spawn(worker(inner.clone(), rx));
        if let Some(period) = config.cover_period {
            tokio::spawn(cover(inner.clone(), period));
        }
        Ok(Arc::new(Waker {
            tx,
            inner,
            allow_loopback_http: config.allow_loopback_http,
        }))
    }

    /// Whether this relay can deliver to `kind`.
    pub fn supports(&self, kind: &str) -> bool {
        self.inner.providers.for_kind(kind).is_some()
    }

    /// True when at least one provider is configured.
    pub fn any(&self) -> bool {
        let p = &self.inner.providers;
        p.webpush.is_some() || p.fcm.is_some() || p.apns.is_some()
    }

    /// `sender` queued envelopes in `channel`: wake the other side. Never
    /// blocks; a full queue drops the request.
    pub fn envelopes_queued(&self, channel: ChannelId, sender: DeviceId) {
        if self.any() && self.tx.try_send((channel, sender)).is_err() {
            tracing::warn!(target: "collabzium_relay::push", "wake-up queue full; dropped");
        }
    }
}

async fn worker(inner: Arc<Inner>, mut rx: mpsc::Receiver<(ChannelId, DeviceId)>) {
    while let Some((cid, sender)) = rx.recv().await {
        match inner
            .store
            .push_endpoints(Some((cid, sender)), TARGETS)
            .await
        {
            Ok(targets) => {
                for (device, stored) in targets {
                    schedule(&inner, device, stored, Duration::ZERO);
                }
            }
            Err(_) => {
                tracing::warn!(target: "collabzium_relay::push", "endpoint lookup failed");
            }
        }
    }
}

/// Every `period`, one wake-up for every registered device at a random
/// moment within the period: the same message as a real one.
async fn cover(inner: Arc<Inner>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Ok(all) = inner.store.push_endpoints(None, COVER_MAX).await {
            for (device, stored) in all {
                schedule(&inner, device, stored, random_below(period));
            }
        }
    }
}

/// Coalesces: a device with a wake-up already scheduled gets no second
/// one; otherwise it is sent once `interval` has passed since the last.
fn schedule(inner: &Arc<Inner>, device: DeviceId, stored: String, extra: Duration) {
    let now = Instant::now();
    let wait = {
        let mut slots = inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() > 100_000 {
            let interval = inner.interval;
            slots.retain(|_, s| s.pending || s.last.is_some_and(|l| now - l < interval));
        }
        let slot = slots.entry(device).or_default();
        if slot.pending {
            return;
        }
        slot.pending = true;
        let due = match slot.last {
            Some(l) if now < l + inner.interval => l + inner.interval - now,
            _ => Duration::ZERO,
        };
        due + extra + random_below(inner.max_delay)
    };
    let inner = inner.clone();
    tokio::spawn(async move {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        {
            let mut slots = inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(device).or_default();
            slot.pending = false;
            slot.last = Some(Instant::now());
        }
        deliver(&inner, device, &stored).await;
    });
}

async fn deliver(inner: &Inner, device: DeviceId, stored: &str) {
    let Some(sub) = Subscription::from_stored(stored) else {
        return;
    };
    let Some(provider) = inner.providers.for_kind(sub.kind()) else {
        return;
    };
    let outcome = provider.wake(&sub).await;
    let label = match outcome {
        Ok(()) => "sent",
        Err(e) => e.label(),
    };
    tracing::info!(target: "collabzium_relay::push", provider = provider.name(), outcome = label, "wake-up");
    if outcome == Err(SendError::Gone) {
        let _ = inner
            .store
            .drop_push_endpoint(device, stored.to_owned())
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn registrations_are_checked_field_by_field() {
        let key = URL_SAFE_NO_PAD.encode([4u8; 65]);
        let auth = URL_SAFE_NO_PAD.encode([1u8; 16]);
        let ok = |v| Subscription::parse(&body(v), false);
        assert!(ok(serde_json::json!({"kind":"webpush","endpoint":"https://push.example/x","p256dh":key,"auth":auth})).is_ok());
        let field = |v, loopback| Subscription::parse(&body(v), loopback).unwrap_err().field;
        assert_eq!(
            field(
                serde_json::json!({"kind":"webpush","endpoint":"http://push.example/x","p256dh":key,"auth":auth}),
                false
            ),
            "endpoint"
        );
        assert_eq!(
            field(
                serde_json::json!({"kind":"webpush","endpoint":"http://127.0.0.1:9/x","p256dh":key,"auth":auth}),
                false
            ),
            "endpoint"
        );
        assert!(Subscription::parse(&body(serde_json::json!({"kind":"webpush","endpoint":"http://127.0.0.1:9/x","p256dh":key,"auth":auth})), true).is_ok());
        assert_eq!(
            field(
                serde_json::json!({"kind":"webpush","endpoint":"https://10.0.0.1/x","p256dh":key,"auth":auth}),
                false
            ),
            "endpoint"
        );
        assert_eq!(
            field(
                serde_json::json!({"kind":"webpush","endpoint":"https://u:p@push.example/x","p256dh":key,"auth":auth}),
                false
            ),
            "endpoint"
        );
        assert_eq!(
            field(
                serde_json::json!({"kind":"webpush","endpoint":"https://push.example/x","p256dh":"AAAA","auth":auth}),
                false
            ),
            "p256dh"
        );
        assert_eq!(
            field(
                serde_json::json!({"kind":"webpush","endpoint":"https://push.example/x","p256dh":key,"auth":"AAAA"}),
                false
            ),
            "auth"
        );
        assert_eq!(
            field(serde_json::json!({"kind":"sms","token":"x"}), false),
            "kind"
        );
        assert_eq!(
            field(serde_json::json!({"kind":"fcm","token":""}), false),
            "token"
        );
        assert_eq!(
            field(serde_json::json!({"kind":"fcm","token":"a b"}), false),
            "token"
        );
        assert_eq!(
            field(serde_json::json!({"kind":"apns","token":"zz"}), false),
            "token"
        );
        let long = "https://push.example/".to_string() + &"a".repeat(MAX_ENDPOINT_LEN);
        assert_eq!(
            field(
                serde_json::json!({"kind":"webpush","endpoint":long,"p256dh":key,"auth":auth}),
                false
            ),
            "endpoint"
        );
        let s = ok(serde_json::json!({"kind":"apns","token":"ab".repeat(32)})).unwrap();
        assert_eq!(Subscription::from_stored(&s.to_stored()), Some(s));
    }

    #[test]
    fn half_configured_providers_are_named() {
        let c = PushConfig {
            apns_key_id: Some("K".into()),
            ..PushConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("APNs"));
        assert!(PushConfig::default().validate().is_ok());
        let both = PushConfig {
            fcm_service_account: Some("sa.json".into()),
            fcm_token_file: Some("token".into()),
            ..PushConfig::default()
        };
        assert!(both.validate().unwrap_err().contains("not both"));
        let no_project = PushConfig {
            fcm_token_file: Some("token".into()),
            ..PushConfig::default()
        };
        assert!(no_project
            .validate()
            .unwrap_err()
            .contains("--push-fcm-project"));
        let no_credentials = PushConfig {
            fcm_project_id: Some("p".into()),
            ..PushConfig::default()
        };
        assert!(no_credentials.validate().is_err());
        // The project may come from the service-account file.
        let sa_only = PushConfig {
            fcm_service_account: Some("sa.json".into()),
            ..PushConfig::default()
        };
        assert!(sa_only.validate().is_ok());
        let c = PushConfig {
            interval: Duration::from_millis(1),
            ..PushConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
