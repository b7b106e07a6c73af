//! Request bodies, path parameters and queries the relay decodes before any
//! store call. Input: `route byte ‖ path param \n query \n body`.
#![no_main]

use libfuzzer_sys::fuzz_target;

const CODES: &[&str] = &["malformed", "not_found", "forbidden"];

fuzz_target!(|data: &[u8]| {
    let Some((&route, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let path = String::from_utf8_lossy(parts.next().unwrap_or(b""));
    let query = String::from_utf8_lossy(parts.next().unwrap_or(b""));
    let body = parts.next().unwrap_or(b"");
    if let Some(code) = collabzium_relay::decode_for_fuzzing(route, &path, &query, body) {
        assert!(CODES.contains(&code), "unexpected refusal {code}");
    }
});
