//! The gate in front of every page (docs/workstation.md, ADR 0009):
//! - `Host` must name this listener (DNS rebinding);
//! - `/login?token=…` trades the one-time launch token for the session cookie;
//! - every other request needs that cookie (401 without it);
//! - a state-changing request needs a same-origin `Origin` and the CSRF token;
//! - every response carries a strict CSP, `frame-ancestors 'none'` and `no-store`.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::App;

pub const COOKIE: &str = "cz_ws";
/// Largest form body accepted (a program definition pasted into a form fits).
pub const MAX_FORM_BYTES: usize = 512 * 1024;

pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh 256-bit secret as hex.
pub fn new_secret() -> String {
    collabzium_core::crypto::hex(&collabzium_core::crypto::random_bytes::<32>())
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why,
    )
        .into_response()
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The form field `name` from an urlencoded body (CSRF tokens are hex, so
/// no percent-decoding is needed to compare them).
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn harden(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // `same-origin`, not `no-referrer`: with no referrer, Chromium sends
    // `Origin: null` on our own form posts, and those would be refused.
    set(h, header::REFERRER_POLICY, "same-origin");
    set(
        h,
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        h,
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    // Health data: never kept in the browser's cache. Assets set their own.
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    resp
}

pub async fn gate(State(app): State<Arc<App>>, req: Request<Body>, next: Next) -> Response {
    harden(check(app, req, next).await)
}

async fn check(app: Arc<App>, req: Request<Body>, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !app.hosts.iter().any(|h| h == host) {
        return refuse(StatusCode::MISDIRECTED_REQUEST, "wrong Host");
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    // A browser sends Origin on every cross-site request and on same-origin
    // POSTs; anything but this listener's origin is refused.
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let o = origin.to_str().unwrap_or("");
        if !app.origins.iter().any(|a| a == o) {
            return refuse(StatusCode::FORBIDDEN, "cross-origin request refused");
        }
    } else if !safe {
        return refuse(StatusCode::FORBIDDEN, "Origin header required");
    }
    if let Some(site) = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
    {
        if !matches!(site, "same-origin" | "none") {
            return refuse(StatusCode::FORBIDDEN, "cross-site request refused");
        }
    }

    if req.uri().path() == "/login" && safe {
        let token = query_param(req.uri().query(), "token").unwrap_or("");
        let ok = {
            let mut slot = app
                .login_token
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match slot.as_deref() {
                Some(t) if same_secret(t, token) => {
                    *slot = None;
                    true
                }
                _ => false,
            }
        };
        if !ok {
            return refuse(
                StatusCode::FORBIDDEN,
                "this login link was already used or is wrong; restart `collabzium workstation` for a new one",
            );
        }
        let cookie = format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
            app.session_secret
        );
        let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return resp;
    }

    let authed =
        cookie_value(req.headers(), COOKIE).is_some_and(|c| same_secret(c, &app.session_secret));
    if !authed {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "not logged in: open the URL `collabzium workstation` printed",
        );
    }
    if safe {
        return next.run(req).await;
    }
    // State changes: the CSRF token from the form must match this launch's.
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "form too large");
    };
    let token = form_field(&bytes, "csrf")
        .or_else(|| {
            parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    if !same_secret(&token, &app.csrf) {
        return refuse(StatusCode::FORBIDDEN, "missing or wrong CSRF token");
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content_and_length() {
        let s = new_secret();
        assert_eq!(s.len(), 64);
        assert_ne!(s, new_secret());
        assert!(same_secret(&s, &s.clone()));
        assert!(!same_secret(&s, &s[..63]));
        assert!(!same_secret(&s, ""));
        let mut other = s.clone().into_bytes();
        other[10] ^= 1;
        assert!(!same_secret(&s, &String::from_utf8(other).unwrap()));
    }

    #[test]
    fn reads_the_cookie_the_query_and_the_form_field_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x_cz_ws=1; cz_ws=abc; other=2"),
        );
        assert_eq!(cookie_value(&h, COOKIE), Some("abc"));
        assert_eq!(query_param(Some("a=1&token=t0"), "token"), Some("t0"));
        assert_eq!(query_param(Some("xtoken=t0"), "token"), None);
        assert_eq!(query_param(None, "token"), None);
        assert_eq!(
            form_field(b"a=1&csrf=ff&b=2", "csrf").as_deref(),
            Some("ff")
        );
        assert_eq!(form_field(b"notcsrf=ff", "csrf"), None);
        assert_eq!(form_field(&[0xff, 0xfe], "csrf"), None);
    }
}
