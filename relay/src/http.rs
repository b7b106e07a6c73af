//! The HTTP API (ADR 0006 §2-§4): routing, request authentication, problem
//! details, access logs and metrics. No SQL here; every state change is one
//! `RelayStore` call.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Bytes, HttpBody};
use axum::extract::{ConnectInfo, FromRequest, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use collabzium_protocol::signing::{self, SignatureError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::limits::RateLimiter;
use crate::metrics::{method_label, ClassLabels, HttpLabels, Metrics, ReasonLabels, RouteLabels};
use crate::store::{
    Auth, ChannelId, DeviceId, PairingState, PushStatus, RelayStore, Revocation, StoreError,
    MAX_BOX_LEN,
};

/// Body limit for everything but a push.
pub const SMALL_BODY: usize = 16 * 1024;
pub const MAX_PUSH_ENVELOPES: usize = 100;
pub const MAX_ACK_SEQS: usize = 1000;
pub const DEFAULT_FETCH_LIMIT: usize = 200;
pub const MAX_FETCH_LIMIT: usize = 500;
pub const MAX_FETCH_BYTES: usize = 4 * 1024 * 1024;
/// Oversized bodies up to this size are drained before the 413, unless the
/// client asked `Expect: 100-continue` (then it gets the 413 instead of 100).
const DRAIN_CAP: usize = 8 * 1024 * 1024;

pub(crate) const OPENAPI: &str = include_str!("../openapi.json");

#[derive(Clone)]
pub(crate) struct App {
    pub store: Arc<dyn RelayStore>,
    pub max_body: usize,
    pub device_limiter: Arc<RateLimiter<DeviceId>>,
    pub ip_limiter: Arc<RateLimiter<IpAddr>>,
    pub metrics: Arc<Metrics>,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// False when `/metrics` is served on its own listener instead.
    pub metrics_public: bool,
    /// Wake-ups (issue 16 §1); `None` in tests that build an `App` by hand.
    pub push: Option<Arc<crate::push::Waker>>,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Every (method, route) served; a test holds the OpenAPI document to it.
#[cfg(test)]
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("POST", "/v1/pairings"),
    ("GET", "/v1/pairings/{np}"),
    ("DELETE", "/v1/pairings/{np}"),
    ("POST", "/v1/pairings/{np}/join"),
    ("POST", "/v1/pairings/{np}/finish"),
    ("GET", "/v1/channels"),
    ("DELETE", "/v1/channels/{cid}"),
    ("POST", "/v1/channels/{cid}/envelopes"),
    ("GET", "/v1/channels/{cid}/envelopes"),
    ("POST", "/v1/channels/{cid}/acks"),
    ("DELETE", "/v1/devices/self"),
    ("PUT", "/v1/devices/self/push"),
    ("DELETE", "/v1/devices/self/push"),
];

/// The route templates, for metric labels (a fixed set).
const ROUTE_TEMPLATES: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/v1/pairings",
    "/v1/pairings/{np}",
    "/v1/pairings/{np}/join",
    "/v1/pairings/{np}/finish",
    "/v1/channels",
    "/v1/channels/{cid}",
    "/v1/channels/{cid}/envelopes",
    "/v1/channels/{cid}/acks",
    "/v1/devices/self",
    "/v1/devices/self/push",
];

fn route_label(matched: Option<&str>) -> &'static str {
    match matched {
        None => "unmatched",
        Some(m) => ROUTE_TEMPLATES
            .iter()
            .find(|t| **t == m)
            .copied()
            .unwrap_or("other"),
    }
}

/// `/metrics` alone, for `--metrics-listen`.
pub(crate) fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics_private))
        .fallback(not_found)
        .with_state(app)
}

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/pairings", post(create_pairing))
        .route("/v1/pairings/{np}", get(get_pairing).delete(delete_pairing))
        .route("/v1/pairings/{np}/join", post(join_pairing))
        .route("/v1/pairings/{np}/finish", post(finish_pairing))
        .route("/v1/channels", get(list_channels))
        .route("/v1/channels/{cid}", delete(revoke_channel))
        .route("/v1/channels/{cid}/envelopes", post(push).get(fetch))
        .route("/v1/channels/{cid}/acks", post(ack))
        .route("/v1/devices/self", delete(revoke_device))
        .route(
            "/v1/devices/self/push",
            put(put_push_endpoint).delete(delete_push_endpoint),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

// ------------------------------------------------------------------ errors

/// The error code of a response, read by the access log.
#[derive(Clone, Copy)]
struct ErrCode(&'static str);

/// An RFC 9457 problem. Bodies depend only on the code (and the tombstone or
/// server time), so equal refusals are byte-identical.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    extra: Option<(&'static str, Value)>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self {
            status,
            code,
            title,
            extra: None,
            retry_after: None,
        }
    }
    fn malformed() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", "Malformed request")
    }
    fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden")
    }
    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found")
    }
    fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "Request too large",
        )
    }
    fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
        );
        e.retry_after = Some(retry_after);
        e
    }
}

impl From<SignatureError> for ApiError {
    fn from(e: SignatureError) -> Self {
        let title = match e {
            SignatureError::Missing => "Signature missing",
            SignatureError::Malformed => "Signature malformed",
            SignatureError::Stale { .. } => "Signature time out of range",
            SignatureError::BadSignature => "Signature invalid",
            SignatureError::DigestMismatch => "Content digest mismatch",
        };
        let mut out = ApiError::new(StatusCode::UNAUTHORIZED, e.code(), title);
        if let SignatureError::Stale { server_time } = e {
            out.extra = Some(("server_time", json!(server_time)));
        }
        out
    }
}

fn revocation_json(r: &Revocation) -> Value {
    json!({
        "revoked_at": r.revoked_at,
        "statement": URL_SAFE_NO_PAD.encode(&r.statement),
        "by": URL_SAFE_NO_PAD.encode(r.by),
    })
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Replayed => {
                ApiError::new(StatusCode::UNAUTHORIZED, "replayed", "Nonce already used")
            }
            StoreError::DeviceRevoked => {
                ApiError::new(StatusCode::UNAUTHORIZED, "device_revoked", "Device revoked")
            }
            StoreError::Forbidden => ApiError::forbidden(),
            StoreError::ChannelRevoked(r) => {
                let mut out =
                    ApiError::new(StatusCode::FORBIDDEN, "channel_revoked", "Channel revoked");
                out.extra = Some(("revocation", revocation_json(&r)));
                out
            }
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "State conflict")
            }
            StoreError::Malformed => ApiError::malformed(),
            StoreError::Quota => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "quota_exceeded",
                "Channel quota exceeded",
            ),
            StoreError::Limited { retry_after_s } => ApiError::rate_limited(retry_after_s),
            StoreError::Db(code) => {
                // The code only (never driver text): it can quote key values.
                tracing::error!(db_error = %code, "database error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                )
            }
            StoreError::Unavailable => {
                let mut out = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Database unavailable",
                );
                out.retry_after = Some(1);
                out
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            Value::String(format!("urn:collabzium:relay:{}", self.code)),
        );
        body.insert("title".into(), Value::String(self.title.into()));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("code".into(), Value::String(self.code.into()));
        if let Some((k, v)) = self.extra {
            body.insert(k.into(), v);
        }
        let bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
        let mut resp = (self.status, bytes).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp.extensions_mut().insert(ErrCode(self.code));
        resp
    }
}

/// The answer when a whole request outlived `--request-timeout`.
pub(crate) fn request_timeout() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "Request took too long",
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
    )
}

// ------------------------------------------------------- access log, metrics

/// Filled by the authenticator so the access log can name the device by tag.
#[derive(Clone, Default)]
struct LogCtx(Arc<Mutex<Option<String>>>);

/// First 8 hex digits of SHA-256(device key): correlates a device's lines
/// without putting its key in the logs.
fn device_tag(device: &DeviceId) -> String {
    let d = crate::store::sha256(device);
    d[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn request_id() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 8];
    let _ = SystemRandom::new().fill(&mut b);
    b.iter().map(|b| format!("{b:02x}")).collect()
}

async fn observe(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    // The template, never the concrete path: paths carry channel ids and
    // nameplates. Both labels come from fixed lists: they are also log fields.
    let route = route_label(req.extensions().get::<MatchedPath>().map(|m| m.as_str()));
    let method = method_label(req.method().as_str());
    let req_bytes = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let ctx = LogCtx::default();
    req.extensions_mut().insert(ctx.clone());
    let rid = request_id();
    // The pre-auth limit comes first, so it covers every answer (404 and 405
    // included), not only signed routes.
    let limited = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .and_then(|ConnectInfo(addr)| app.ip_limiter.check(&addr.ip()).err());
    let mut resp = match limited {
        Some(retry) => {
            app.metrics
                .rate_limited
                .get_or_create(&ClassLabels { class: "ip" })
                .inc();
            ApiError::rate_limited(retry).into_response()
        }
        None => next.run(req).await,
    };
    let status = resp.status().as_u16();
    let code = resp
        .extensions()
        .get::<ErrCode>()
        .map(|c| c.0)
        .unwrap_or("");
    let resp_bytes = resp.body().size_hint().exact().unwrap_or(0);
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let latency = start.elapsed();
    app.metrics
        .http
        .get_or_create(&HttpLabels {
            route,
            method,
            status: status.to_string(),
        })
        .inc();
    app.metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(latency.as_secs_f64());
    let tag = ctx.0.lock().map(|t| t.clone()).unwrap_or(None);
    tracing::info!(
        target: "collabzium_relay::access",
        request_id = %rid,
        method,
        route,
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        req_bytes,
        resp_bytes,
        device_tag = tag.as_deref().unwrap_or(""),
        code,
        "request"
    );
    resp
}

// ------------------------------------------------------------ authentication

/// A verified `/v1` request: the caller, its nonce, and the raw body.
pub(crate) struct Signed {
    auth: Auth,
    body: Bytes,
}

impl FromRequest<App> for Signed {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, ApiError> {
        // Order per ADR 0006 §3: pre-auth limit (in `observe`), size, parse,
        // time, verify, digest.
        let limit = if req.method() == Method::POST && req.uri().path().ends_with("/envelopes") {
            app.max_body
        } else {
            SMALL_BODY
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            // Polling the body is what makes hyper send `100 Continue`, so a
            // client that waits for it gets the 413 without uploading.
            // Otherwise read (and drop) a moderately oversized body so the
            // client sees the 413 instead of a reset mid-upload.
            let expects = req.headers().contains_key(header::EXPECT);
            if !expects && declared.is_some_and(|n| n <= DRAIN_CAP as u64) {
                let drain = axum::body::to_bytes(req.into_body(), DRAIN_CAP);
                let _ = tokio::time::timeout(app.body_timeout, drain).await;
            }
            return Err(ApiError::too_large());
        }
        let ctx = req.extensions().get::<LogCtx>().cloned();
        let (parts, body) = req.into_parts();
        let body = tokio::time::timeout(app.body_timeout, axum::body::to_bytes(body, limit))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    "Request body too slow",
                )
            })?
            .map_err(|_| ApiError::too_large())?;
        let h = |name: &str| {
            parts
                .headers
                .get(name)
                // A non-ASCII header cannot be ours; it will not parse.
                .map(|v| v.to_str().unwrap_or("\u{0}"))
        };
        let verified = signing::verify_request(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or(""),
            &body,
            h(signing::CONTENT_DIGEST),
            h(signing::SIGNATURE_INPUT),
            h(signing::SIGNATURE),
            now_ms().div_euclid(1000),
        )
        .inspect_err(|e| {
            app.metrics
                .auth_failures
                .get_or_create(&ReasonLabels { reason: e.code() })
                .inc();
        })?;
        if let Some(ctx) = ctx {
            if let Ok(mut t) = ctx.0.lock() {
                *t = Some(device_tag(&verified.device));
            }
        }
        if let Err(retry) = app.device_limiter.check(&verified.device) {
            app.metrics
                .rate_limited
                .get_or_create(&ClassLabels { class: "device" })
                .inc();
            return Err(ApiError::rate_limited(retry));
        }
        Ok(Signed {
            auth: Auth {
                device: verified.device,
                nonce: verified.nonce,
            },
            body,
        })
    }
}

/// Store errors that are replay/auth refusals also count as auth failures.
fn store_err(app: &App, e: StoreError) -> ApiError {
    match &e {
        StoreError::Replayed => {
            app.metrics
                .auth_failures
                .get_or_create(&ReasonLabels { reason: "replayed" })
                .inc();
        }
        StoreError::DeviceRevoked => {
            app.metrics
                .auth_failures
                .get_or_create(&ReasonLabels {
                    reason: "device_revoked",
                })
                .inc();
        }
        StoreError::Db(_) | StoreError::Unavailable => {
            app.metrics.db_errors.inc();
        }
        _ => {}
    }
    e.into()
}

// --------------------------------------------------------------- parsing

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::malformed())
}

fn b64(s: &str) -> Result<Vec<u8>, ApiError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| ApiError::malformed())
}

fn b64_box(s: &str) -> Result<Vec<u8>, ApiError> {
    let v = b64(s)?;
    if v.is_empty() || v.len() > MAX_BOX_LEN {
        return Err(ApiError::malformed());
    }
    Ok(v)
}

/// Nameplates are 4-5 decimal digits; anything else cannot exist.
fn nameplate(s: &str) -> Result<u32, ApiError> {
    if !(4..=5).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::not_found());
    }
    s.parse().map_err(|_| ApiError::not_found())
}

/// A channel id that cannot exist is refused exactly like a foreign one.
fn channel_id(s: &str) -> Result<ChannelId, ApiError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(ApiError::forbidden)
}

// Body decoders, one per route that takes a body. Handlers call these, and so
// does the fuzz target (through `decode_for_fuzzing`), so both see the same
// code.

fn decode_create_pairing(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let b: CreatePairing = parse_json(body)?;
    b64_box(&b.msg_a)
}

fn decode_join_pairing(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let b: JoinPairing = parse_json(body)?;
    b64_box(&b.join)
}

fn decode_finish_pairing(body: &[u8]) -> Result<(ChannelId, Vec<u8>), ApiError> {
    let b: FinishPairing = parse_json(body)?;
    let cid: ChannelId = b64(&b.channel_id)?
        .try_into()
        .map_err(|_| ApiError::malformed())?;
    Ok((cid, b64_box(&b.finish)?))
}

fn decode_push(body: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let b: Push = parse_json(body)?;
    if b.envelopes.is_empty() || b.envelopes.len() > MAX_PUSH_ENVELOPES {
        return Err(ApiError::malformed());
    }
    b.envelopes.iter().map(|e| b64(e)).collect()
}

fn decode_ack(body: &[u8]) -> Result<Ack, ApiError> {
    let b: Ack = parse_json(body)?;
    if b.seqs.len() > MAX_ACK_SEQS {
        return Err(ApiError::malformed());
    }
    Ok(b)
}

fn decode_revoke(body: &[u8]) -> Result<(i64, Vec<u8>), ApiError> {
    let b: Revoke = parse_json(body)?;
    Ok((b.revoked_at, b64(&b.statement)?))
}

/// Runs the path, query and body decoders of route `route` (0..=7, taken
/// modulo) on untrusted input, as the handlers do before any store call.
/// Returns the refusal code, or `None` when the request would reach the
/// store. For the fuzz targets only; not a stable API.
#[doc(hidden)]
pub fn decode_for_fuzzing(
    route: u8,
    path_param: &str,
    query: &str,
    body: &[u8],
) -> Option<&'static str> {
    let r: Result<(), ApiError> = (|| {
        match route % 8 {
            0 => drop(decode_create_pairing(body)?),
            1 => drop(nameplate(path_param)?),
            2 => drop((nameplate(path_param)?, decode_join_pairing(body)?)),
            3 => drop((nameplate(path_param)?, decode_finish_pairing(body)?)),
            4 => drop((channel_id(path_param)?, decode_push(body)?)),
            5 => drop((channel_id(path_param)?, fetch_query(Some(query))?)),
            6 => drop((channel_id(path_param)?, decode_ack(body)?)),
            _ => drop((channel_id(path_param)?, decode_revoke(body)?)),
        }
        Ok(())
    })();
    r.err().map(|e| e.code)
}

// --------------------------------------------------------------- handlers

async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn ready(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(std::time::Duration::from_secs(1), app.store.ready()).await {
        Ok(Ok(())) => Ok(Json(json!({"status": "ready"}))),
        Ok(Err(e)) => Err(store_err(&app, e)),
        Err(_) => Err(store_err(&app, StoreError::Unavailable)),
    }
}

async fn metrics(State(app): State<App>) -> Response {
    if !app.metrics_public {
        return ApiError::not_found().into_response();
    }
    metrics_private(State(app)).await
}

async fn metrics_private(State(app): State<App>) -> Response {
    let mut resp = app.metrics.encode().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

async fn openapi() -> Response {
    let mut resp = OPENAPI.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[derive(Deserialize)]
struct CreatePairing {
    msg_a: String,
}

async fn create_pairing(
    State(app): State<App>,
    s: Signed,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let msg_a = decode_create_pairing(&s.body)?;
    let r = app
        .store
        .create_pairing(s.auth, msg_a, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    Metrics::outcome(&app.metrics.pairings, "created", 1);
    Ok((
        StatusCode::CREATED,
        Json(json!({"nameplate": r.nameplate.to_string(), "expires_at": r.expires_at})),
    ))
}

async fn get_pairing(
    State(app): State<App>,
    Path(np): Path<String>,
    s: Signed,
) -> Result<Json<Value>, ApiError> {
    let np = nameplate(&np)?;
    let v = app
        .store
        .get_pairing(s.auth, np, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    let mut out = json!({
        "state": v.state.as_str(),
        "msg_a": URL_SAFE_NO_PAD.encode(&v.msg_a),
        "expires_at": v.expires_at,
    });
    if let Some(j) = v.join {
        out["join"] = json!(URL_SAFE_NO_PAD.encode(j));
    }
    if let (Some(cid), Some(f)) = (v.channel_id, v.finish) {
        out["channel_id"] = json!(URL_SAFE_NO_PAD.encode(cid));
        out["finish"] = json!(URL_SAFE_NO_PAD.encode(f));
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct JoinPairing {
    join: String,
}

async fn join_pairing(
    State(app): State<App>,
    Path(np): Path<String>,
    s: Signed,
) -> Result<Json<Value>, ApiError> {
    let np = nameplate(&np)?;
    let join = decode_join_pairing(&s.body)?;
    app.store
        .join_pairing(s.auth, np, join, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    Metrics::outcome(&app.metrics.pairings, "joined", 1);
    Ok(Json(json!({"state": "joined"})))
}

#[derive(Deserialize)]
struct FinishPairing {
    channel_id: String,
    finish: String,
}

async fn finish_pairing(
    State(app): State<App>,
    Path(np): Path<String>,
    s: Signed,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let np = nameplate(&np)?;
    let (cid, finish) = decode_finish_pairing(&s.body)?;
    app.store
        .finish_pairing(s.auth, np, cid, finish, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    Metrics::outcome(&app.metrics.pairings, "finished", 1);
    Ok((
        StatusCode::CREATED,
        Json(json!({"channel_id": URL_SAFE_NO_PAD.encode(cid)})),
    ))
}

async fn delete_pairing(
    State(app): State<App>,
    Path(np): Path<String>,
    s: Signed,
) -> Result<Json<Value>, ApiError> {
    let np = nameplate(&np)?;
    let state = app
        .store
        .delete_pairing(s.auth, np, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    if state == PairingState::Aborted {
        Metrics::outcome(&app.metrics.pairings, "aborted", 1);
    }
    Ok(Json(json!({"state": state.as_str()})))
}

async fn list_channels(State(app): State<App>, s: Signed) -> Result<Json<Value>, ApiError> {
    let list = app
        .store
        .list_channels(s.auth, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    let channels: Vec<Value> = list
        .iter()
        .map(|c| {
            let mut v = json!({
                "id": URL_SAFE_NO_PAD.encode(c.id),
                "role": c.role.as_str(),
                "state": if c.revocation.is_some() { "revoked" } else { "active" },
                "pending_for_me": c.pending_for_me,
                "pending_from_me": c.pending_from_me,
            });
            if let Some(r) = &c.revocation {
                v["revocation"] = revocation_json(r);
            }
            v
        })
        .collect();
    Ok(Json(json!({ "channels": channels })))
}

#[derive(Deserialize)]
struct Push {
    envelopes: Vec<String>,
}

async fn push(
    State(app): State<App>,
    Path(cid): Path<String>,
    s: Signed,
) -> Result<Json<Value>, ApiError> {
    let cid = channel_id(&cid)?;
    let envs = decode_push(&s.body)?;
    let results = app
        .store
        .push(s.auth, cid, envs, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    if let Some(waker) = &app.push {
        // Only new content wakes the peer; the queueing never waits.
        if results.iter().any(|(_, st)| *st != PushStatus::Duplicate) {
            waker.envelopes_queued(cid, s.auth.device);
        }
    }
    let results: Vec<Value> = results
        .iter()
        .map(|(seq, st)| {
            Metrics::outcome(&app.metrics.envelopes, st.as_str(), 1);
            json!({"seq": seq, "status": st.as_str()})
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

/// `from_seq` and `limit` from the raw query; unknown keys are ignored.
fn fetch_query(query: Option<&str>) -> Result<(u64, usize), ApiError> {
    let mut from_seq = 0u64;
    let mut limit = DEFAULT_FETCH_LIMIT;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "from_seq" => from_seq = v.parse().map_err(|_| ApiError::malformed())?,
            "limit" => limit = v.parse().map_err(|_| ApiError::malformed())?,
            _ => {}
        }
    }
    if limit == 0 {
        return Err(ApiError::malformed());
    }
    Ok((from_seq, limit.min(MAX_FETCH_LIMIT)))
}

async fn fetch(
    State(app): State<App>,
    Path(cid): Path<String>,
    uri: axum::http::Uri,
    s: Signed,
) -> Result<Json<Value>, ApiError> {
    let cid = channel_id(&cid)?;
    let (from_seq, limit) = fetch_query(uri.query())?;
    let f = app
        .store
        .fetch(s.auth, cid, from_seq, limit, MAX_FETCH_BYTES, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    let envelopes: Vec<Value> = f
        .envelopes
        .iter()
        .map(|(seq, env)| json!({"seq": seq, "env": URL_SAFE_NO_PAD.encode(env)}))
        .collect();
    Ok(Json(json!({"envelopes": envelopes, "more": f.more})))
}

#[derive(Deserialize)]
struct Ack {
    #[serde(default)]
    through: u64,
    #[serde(default)]
    seqs: Vec<u64>,
}

async fn ack(
    State(app): State<App>,
    Path(cid): Path<String>,
    s: Signed,
) -> Result<Json<Value>, ApiError> {
    let cid = channel_id(&cid)?;
    let b = decode_ack(&s.body)?;
    let deleted = app
        .store
        .ack(s.auth, cid, b.through, b.seqs, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    Metrics::outcome(&app.metrics.envelopes, "acked", deleted);
    Ok(Json(json!({ "deleted": deleted })))
}

#[derive(Deserialize)]
struct Revoke {
    revoked_at: i64,
    statement: String,
}

async fn revoke_channel(
    State(app): State<App>,
    Path(cid): Path<String>,
    s: Signed,
) -> Result<Json<Value>, ApiError> {
    let cid = channel_id(&cid)?;
    let (revoked_at, statement) = decode_revoke(&s.body)?;
    let revoked_at = app
        .store
        .revoke_channel(s.auth, cid, revoked_at, statement, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    Ok(Json(json!({ "revoked_at": revoked_at })))
}

async fn revoke_device(State(app): State<App>, s: Signed) -> Result<Json<Value>, ApiError> {
    let revoked_at = app
        .store
        .revoke_device(s.auth, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    Ok(Json(json!({ "revoked_at": revoked_at })))
}

// ------------------------------------------------- push endpoint (issue 16)

/// A refused push registration: which field, and why (fixed texts).
fn invalid_push(e: crate::push::InvalidSubscription) -> ApiError {
    let mut out = ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_push_endpoint",
        "Invalid push endpoint",
    );
    out.extra = Some(("invalid", json!({"field": e.field, "reason": e.why})));
    out
}

async fn put_push_endpoint(State(app): State<App>, s: Signed) -> Result<Json<Value>, ApiError> {
    let waker = app.push.clone().filter(|w| w.any());
    let allow_loopback = waker.as_ref().is_some_and(|w| w.allow_loopback_http);
    use crate::push::SubscriptionRules as _;
    let sub = crate::push::Subscription::parse(&s.body, allow_loopback).map_err(invalid_push)?;
    if !waker.is_some_and(|w| w.supports(sub.kind())) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "push_provider_off",
            "This relay has no credentials for that push provider",
        ));
    }
    let kind = sub.kind();
    let replaced = app
        .store
        .set_push_endpoint(s.auth, Some(sub.to_stored()), now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    Ok(Json(json!({"kind": kind, "replaced": replaced})))
}

async fn delete_push_endpoint(State(app): State<App>, s: Signed) -> Result<Json<Value>, ApiError> {
    let removed = app
        .store
        .set_push_endpoint(s.auth, None, now_ms())
        .await
        .map_err(|e| store_err(&app, e))?;
    Ok(Json(json!({"removed": removed})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_path_and_query_parameters_strictly() {
        assert_eq!(nameplate("4821").ok(), Some(4821));
        assert_eq!(nameplate("48210").ok(), Some(48210));
        for bad in ["482", "482100", "48a1", "-482", "+4821", ""] {
            assert!(nameplate(bad).is_err(), "{bad}");
        }
        assert!(channel_id(&URL_SAFE_NO_PAD.encode([7u8; 16])).is_ok());
        assert!(channel_id(&URL_SAFE_NO_PAD.encode([7u8; 15])).is_err());
        assert!(channel_id("!!").is_err());
        assert_eq!(fetch_query(None).ok(), Some((0, DEFAULT_FETCH_LIMIT)));
        assert_eq!(fetch_query(Some("from_seq=42&limit=9")).ok(), Some((42, 9)));
        assert_eq!(
            fetch_query(Some("limit=9999")).ok(),
            Some((0, MAX_FETCH_LIMIT))
        );
        assert!(fetch_query(Some("from_seq=-1")).is_err());
        assert!(fetch_query(Some("limit=0")).is_err());
    }

    #[test]
    fn openapi_documents_exactly_the_routes() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = vec![];
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }

    #[tokio::test]
    async fn router_serves_exactly_the_routes() {
        use tower::ServiceExt;
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite:{}", dir.path().join("r.sqlite3").display());
        let app = App {
            store: crate::store::open_store(&db, Default::default())
                .await
                .unwrap(),
            max_body: 1 << 20,
            device_limiter: Arc::new(RateLimiter::new(0, 0)),
            ip_limiter: Arc::new(RateLimiter::new(0, 0)),
            metrics: Arc::new(Metrics::new()),
            body_timeout: Duration::from_secs(5),
            metrics_public: true,
            push: None,
        };
        let router = router(app);
        for (method, path) in ROUTES {
            let concrete = path
                .replace("{np}", "1234")
                .replace("{cid}", "AAAAAAAAAAAAAAAAAAAAAA");
            let req = Request::builder()
                .method(*method)
                .uri(&concrete)
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = router.clone().oneshot(req).await.unwrap();
            assert!(
                resp.status() != StatusCode::NOT_FOUND
                    && resp.status() != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {}",
                resp.status()
            );
        }
    }

    #[test]
    fn problem_bodies_are_fixed_per_code() {
        let a = ApiError::forbidden().into_response();
        assert_eq!(a.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            a.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
    }
}
