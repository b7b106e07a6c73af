//! The signed-request verifier the relay runs on every /v1 request
//! (RFC 9421 profile + RFC 9530 digest).
//!
//! Input: `method \n path \n query \n digest \n signature-input \n signature
//! \n now \n body`. A line equal to `-` stands for a missing header.
#![no_main]

use collabzium_protocol::signing::{self, MAX_SKEW_S};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(8, |&b| b == b'\n');
    let mut next = || parts.next().unwrap_or(b"");
    let (method, path, query) = (next(), next(), next());
    let (digest, input, sig, now, body) = (next(), next(), next(), next(), next());
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let header = |b: &[u8]| (b != b"-").then(|| text(b));
    let now: i64 = text(now).trim().parse().unwrap_or(1_764_090_000);
    let (digest, input, sig) = (header(digest), header(input), header(sig));
    let r = signing::verify_request(
        &text(method),
        &text(path),
        &text(query),
        body,
        digest.as_deref(),
        input.as_deref(),
        sig.as_deref(),
        now,
    );
    if let Ok(v) = r {
        // Accepted only with the body's own digest and a fresh clock.
        assert_eq!(
            digest.as_deref(),
            Some(signing::content_digest(body).as_str())
        );
        let skew = (i128::from(now) - i128::from(v.created)).abs();
        assert!(skew <= i128::from(MAX_SKEW_S), "stale request accepted");
    }
    // The digest itself on arbitrary bytes.
    assert!(signing::content_digest(data).starts_with("sha-256=:"));
});
