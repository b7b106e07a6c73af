//! Envelope v1 from the relay: header parse, padding, and a channel's open path.
#![no_main]

use collabzium_protocol::envelope::{self, Header, HEADER_LEN};
use collabzium_protocol::ratchet::{ChainKey, ReceiveChain, SendChain};
use collabzium_protocol::{Channel, Role};
use libfuzzer_sys::fuzz_target;

const CID: [u8; 16] = [7; 16];
const THERAPIST: [u8; 32] = [1; 32];
const PATIENT: [u8; 32] = [2; 32];
const NOW_MS: i64 = 1_764_090_000_000;

fn patient() -> Channel {
    // Fixed keys, so a corpus envelope sealed by `therapist()` opens here.
    Channel::from_parts(
        CID,
        Role::Patient,
        PATIENT,
        THERAPIST,
        SendChain::new(ChainKey::from_bytes([0x22; 32])),
        ReceiveChain::new(ChainKey::from_bytes([0x11; 32])),
    )
}

fn therapist() -> Channel {
    Channel::from_parts(
        CID,
        Role::Therapist,
        THERAPIST,
        PATIENT,
        SendChain::new(ChainKey::from_bytes([0x11; 32])),
        ReceiveChain::new(ChainKey::from_bytes([0x22; 32])),
    )
}

fuzz_target!(|data: &[u8]| {
    // The header alone, as the relay reads it on push.
    if let Ok(h) = Header::parse(data) {
        assert_eq!(&h.encode()[..], &data[..HEADER_LEN], "header round trip");
        assert!(h.seq > 0);
    }
    // Padding framing on arbitrary bytes.
    if let Ok(body) = envelope::unpad(data) {
        assert_eq!(envelope::padme(4 + body.len()), data.len());
    }
    // The receiving channel: anything not sealed with its chain is refused,
    // and a refusal leaves the chain as it was.
    let mut p = patient();
    let before = p.receive_chain().to_bytes();
    if p.open(data, NOW_MS).is_err() {
        assert_eq!(
            p.receive_chain().to_bytes(),
            before,
            "refusal changed state"
        );
    }
    // Seal the input as a payload and open it on the other side.
    if data.len() <= envelope::MAX_PAYLOAD_LEN {
        let mut t = therapist();
        let env = t.seal(data).expect("seal within limits");
        let mut p = patient();
        let opened = p.open(&env, NOW_MS).expect("own envelope opens");
        assert_eq!(opened.payload, data);
        assert!(p.open(&env, NOW_MS).is_err(), "replay accepted");
    }
});
