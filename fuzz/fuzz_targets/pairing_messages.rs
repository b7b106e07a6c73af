//! Pairing messages as fetched from the relay mailbox, and the pending join
//! state read back from the store.
#![no_main]

use collabzium_protocol::{FinishMessage, JoinMessage, PendingJoin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(j) = JoinMessage::from_bytes(data) {
        // The wire form is canonical: what parses re-encodes to the same bytes.
        assert_eq!(j.to_bytes(), data);
    }
    let finish = FinishMessage::from_bytes(data);
    if let Ok(f) = &finish {
        assert_eq!(f.to_bytes(), data);
    }
    // A pending join from the first 112 bytes, completed with a finish
    // message from the rest: confirmation must fail, never panic.
    if data.len() >= 112 {
        let (state, rest) = data.split_at(112);
        let pending = PendingJoin::from_bytes(state).expect("112 bytes is a pending join");
        assert_eq!(&pending.to_bytes()[..], state);
        if let Ok(f) = FinishMessage::from_bytes(rest) {
            let _ = pending.complete(&f);
        }
    } else {
        assert!(PendingJoin::from_bytes(data).is_none());
    }
});
