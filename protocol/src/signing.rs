//! Request signing for the relay API: a strict RFC 9421 profile with an
//! RFC 9530 `Content-Digest` (ADR 0006 §3). One implementation serves the
//! client (sign) and the relay (verify), so the two cannot drift apart.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

use super::device::{self, DeviceKey, DEVICE_PUB_LEN};

/// Header names, lowercase as HTTP/2 sends them.
pub const CONTENT_DIGEST: &str = "content-digest";
pub const SIGNATURE_INPUT: &str = "signature-input";
pub const SIGNATURE: &str = "signature";

/// The only component list and tag the relay accepts.
const COMPONENTS: &str = r#"("@method" "@path" "@query" "content-digest")"#;
const TAG: &str = "collabzium-v1";
/// Allowed distance between `created` and the verifier's clock.
pub const MAX_SKEW_S: i64 = 300;
/// How long the relay must remember a nonce: beyond twice the skew window a
/// replay is already refused as stale.
pub const NONCE_TTL_S: i64 = 2 * MAX_SKEW_S;
pub const NONCE_LEN: usize = 16;

/// The three headers a signed request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub content_digest: String,
    pub signature_input: String,
    pub signature: String,
}

impl SignedHeaders {
    /// As `(name, value)` pairs, for an HTTP client.
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            (CONTENT_DIGEST, self.content_digest.clone()),
            (SIGNATURE_INPUT, self.signature_input.clone()),
            (SIGNATURE, self.signature.clone()),
        ]
    }
}

/// What a valid signature proves: which device sent it, when, with which
/// single-use nonce (the relay stores the nonce to refuse replays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    pub device: [u8; DEVICE_PUB_LEN],
    pub nonce: [u8; NONCE_LEN],
    pub created: i64,
}

/// Why a request's signature was refused. All map to HTTP 401.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("signature headers missing")]
    Missing,
    #[error("signature headers malformed")]
    Malformed,
    #[error("signature created too far from server time")]
    Stale { server_time: i64 },
    #[error("signature does not verify")]
    BadSignature,
    #[error("content digest does not match the body")]
    DigestMismatch,
}

impl SignatureError {
    /// Stable machine-readable code (relay problem details, client errors).
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::Malformed => "malformed_signature",
            SignatureError::Stale { .. } => "stale_signature",
            SignatureError::BadSignature => "bad_signature",
            SignatureError::DigestMismatch => "digest_mismatch",
        }
    }
}

/// `sha-256=:<base64>:` over `body` (RFC 9530).
pub fn content_digest(body: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, body);
    format!("sha-256=:{}:", STANDARD.encode(d.as_ref()))
}

/// The `@query` component: `?` plus the raw query, or `?` when there is none.
fn query_component(query: &str) -> String {
    format!("?{}", query.strip_prefix('?').unwrap_or(query))
}

fn params(created: i64, nonce: &[u8; NONCE_LEN], keyid: &[u8; DEVICE_PUB_LEN]) -> String {
    format!(
        "{COMPONENTS};created={created};nonce=\"{}\";keyid=\"{}\";alg=\"ed25519\";tag=\"{TAG}\"",
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(keyid)
    )
}

fn signature_base(method: &str, path: &str, query: &str, digest: &str, params: &str) -> String {
    format!(
        "\"@method\": {}\n\"@path\": {}\n\"@query\": {}\n\"content-digest\": {}\n\"@signature-params\": {}",
        method.to_ascii_uppercase(),
        path,
        query_component(query),
        digest,
        params
    )
}

/// Sign a request with a fresh random nonce.
#[allow(
    clippy::expect_used,
    reason = "no supported platform lacks an OS random source"
)]
pub fn sign_request(
    key: &DeviceKey,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    created: i64,
) -> SignedHeaders {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .expect("system RNG unavailable");
    sign_request_with_nonce(key, method, path, query, body, created, nonce)
}

/// Sign with a given nonce (tests and replay experiments).
pub fn sign_request_with_nonce(
    key: &DeviceKey,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    created: i64,
    nonce: [u8; NONCE_LEN],
) -> SignedHeaders {
    let digest = content_digest(body);
    let params = params(created, &nonce, &key.public_key());
    let base = signature_base(method, path, query, &digest, &params);
    let sig = key.sign(base.as_bytes());
    SignedHeaders {
        content_digest: digest,
        signature_input: format!("sig1={params}"),
        signature: format!("sig1=:{}:", STANDARD.encode(sig)),
    }
}

/// Pull `name="value"` out of the parameter list (values never contain `"`).
fn quoted_param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(";{name}=\"");
    let start = params.find(&key)? + key.len();
    let end = params[start..].find('"')? + start;
    Some(&params[start..end])
}

/// Verify a request. `now_s` is the verifier's Unix time in seconds.
/// The replay check (nonce uniqueness) is the caller's, in its transaction.
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    digest_header: Option<&str>,
    input_header: Option<&str>,
    signature_header: Option<&str>,
    now_s: i64,
) -> Result<VerifiedRequest, SignatureError> {
    let (Some(digest_header), Some(input), Some(sig)) =
        (digest_header, input_header, signature_header)
    else {
        return Err(SignatureError::Missing);
    };
    let params = input
        .strip_prefix("sig1=")
        .ok_or(SignatureError::Malformed)?;
    let sig_b64 = sig
        .strip_prefix("sig1=:")
        .and_then(|s| s.strip_suffix(':'))
        .ok_or(SignatureError::Malformed)?;
    let sig_bytes = STANDARD
        .decode(sig_b64)
        .map_err(|_| SignatureError::Malformed)?;
    if !params.starts_with(COMPONENTS) {
        return Err(SignatureError::Malformed);
    }
    let created: i64 = {
        let key = ";created=";
        let start = params.find(key).ok_or(SignatureError::Malformed)? + key.len();
        let rest = &params[start..];
        let end = rest.find(';').unwrap_or(rest.len());
        rest[..end].parse().map_err(|_| SignatureError::Malformed)?
    };
    let nonce_b64 = quoted_param(params, "nonce").ok_or(SignatureError::Malformed)?;
    let keyid_b64 = quoted_param(params, "keyid").ok_or(SignatureError::Malformed)?;
    let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
        .decode(nonce_b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(SignatureError::Malformed)?;
    let device: [u8; DEVICE_PUB_LEN] = URL_SAFE_NO_PAD
        .decode(keyid_b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(SignatureError::Malformed)?;
    // Exactly our parameter set, in our order: rebuild it and compare.
    if params != self::params(created, &nonce, &device) {
        return Err(SignatureError::Malformed);
    }
    // Checked: `created` is the client's; `now - created` can overflow i64.
    let skew = now_s.checked_sub(created).and_then(i64::checked_abs);
    if !matches!(skew, Some(d) if d <= MAX_SKEW_S) {
        return Err(SignatureError::Stale { server_time: now_s });
    }
    let base = signature_base(method, path, query, digest_header, params);
    if !device::verify(&device, base.as_bytes(), &sig_bytes) {
        return Err(SignatureError::BadSignature);
    }
    // The digest header is covered by the signature; now bind it to the body.
    if digest_header != content_digest(body) {
        return Err(SignatureError::DigestMismatch);
    }
    Ok(VerifiedRequest {
        device,
        nonce,
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify_h(
        h: &SignedHeaders,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        now: i64,
    ) -> Result<VerifiedRequest, SignatureError> {
        verify_request(
            method,
            path,
            query,
            body,
            Some(&h.content_digest),
            Some(&h.signature_input),
            Some(&h.signature),
            now,
        )
    }

    #[test]
    fn round_trip_and_every_component_is_covered() {
        let k = DeviceKey::generate();
        let now = 1_764_090_000;
        let path = "/v1/channels/abc/envelopes";
        let h = sign_request(&k, "GET", path, "from_seq=4&limit=9", b"", now);
        let ok = verify_h(&h, "GET", path, "from_seq=4&limit=9", b"", now + 10).unwrap();
        assert_eq!(ok.device, k.public_key());
        assert_eq!(ok.created, now);
        let bad = |r: Result<VerifiedRequest, SignatureError>| r.unwrap_err();
        assert_eq!(
            bad(verify_h(&h, "POST", path, "from_seq=4&limit=9", b"", now)),
            SignatureError::BadSignature
        );
        assert_eq!(
            bad(verify_h(
                &h,
                "GET",
                "/v1/channels/abd/envelopes",
                "from_seq=4&limit=9",
                b"",
                now
            )),
            SignatureError::BadSignature
        );
        assert_eq!(
            bad(verify_h(&h, "GET", path, "from_seq=0&limit=9", b"", now)),
            SignatureError::BadSignature
        );
        assert_eq!(
            bad(verify_h(&h, "GET", path, "from_seq=4&limit=9", b"x", now)),
            SignatureError::DigestMismatch
        );
        assert_eq!(
            bad(verify_h(
                &h,
                "GET",
                path,
                "from_seq=4&limit=9",
                b"",
                now + MAX_SKEW_S + 1
            )),
            SignatureError::Stale {
                server_time: now + MAX_SKEW_S + 1
            }
        );
    }

    #[test]
    fn refuses_missing_foreign_and_altered_headers() {
        let k = DeviceKey::generate();
        let other = DeviceKey::generate();
        let now = 1_764_090_000;
        let h = sign_request(&k, "POST", "/v1/pairings", "", b"{}", now);
        let v = |d: Option<&str>, i: Option<&str>, s: Option<&str>| {
            verify_request("POST", "/v1/pairings", "", b"{}", d, i, s, now)
        };
        assert_eq!(
            v(None, Some(&h.signature_input), Some(&h.signature)),
            Err(SignatureError::Missing)
        );
        // Another key's id with this signature.
        let forged_input = h.signature_input.replace(
            &URL_SAFE_NO_PAD.encode(k.public_key()),
            &URL_SAFE_NO_PAD.encode(other.public_key()),
        );
        assert_eq!(
            v(
                Some(&h.content_digest),
                Some(&forged_input),
                Some(&h.signature)
            ),
            Err(SignatureError::BadSignature)
        );
        // Dropping a covered component or adding a parameter is malformed.
        let fewer = h.signature_input.replace(" \"content-digest\"", "");
        assert_eq!(
            v(Some(&h.content_digest), Some(&fewer), Some(&h.signature)),
            Err(SignatureError::Malformed)
        );
        let extra = format!("{};expires=1", h.signature_input);
        assert_eq!(
            v(Some(&h.content_digest), Some(&extra), Some(&h.signature)),
            Err(SignatureError::Malformed)
        );
        // A new body with its own matching digest still fails the signature.
        let d2 = content_digest(b"{\"x\":1}");
        assert_eq!(
            verify_request(
                "POST",
                "/v1/pairings",
                "",
                b"{\"x\":1}",
                Some(&d2),
                Some(&h.signature_input),
                Some(&h.signature),
                now
            ),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn digest_matches_rfc9530_example_for_empty_body() {
        assert_eq!(
            content_digest(b""),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }
}
