//! The pairing code a person types and the QR payload a camera reads.
#![no_main]

use collabzium_protocol::code::canonical_origin;
use collabzium_protocol::PairingCode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(code) = PairingCode::parse(text) {
        // The displayed form parses back to the same code.
        let shown = code.display();
        assert!(PairingCode::parse(&shown).expect("displayed code parses") == code);
    }
    if let Ok(origin) = canonical_origin(text) {
        assert_eq!(
            canonical_origin(&origin).as_deref(),
            Ok(origin.as_str()),
            "not idempotent"
        );
    }
    if let Ok((origin, code)) = PairingCode::parse_qr(text) {
        // Both devices bind the origin into the PAKE: it must survive a re-encode.
        let payload = code.qr_payload(&origin).expect("canonical origin encodes");
        let (o2, c2) = PairingCode::parse_qr(&payload).expect("own payload parses");
        assert_eq!(o2, origin);
        assert!(c2 == code);
    }
});
