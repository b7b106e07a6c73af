//! Clinic-supplied instrument definitions (JSON).
#![no_main]

use collabzium_core::instruments::{load_instrument, Registry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match load_instrument(text) {
        Ok(inst) => {
            let again = load_instrument(&inst.to_json_pretty()).expect("re-serialised loads");
            assert_eq!(again, inst);
        }
        Err(issues) => assert!(!issues.is_empty(), "refusal without a reason"),
    }
    // The registry path the CLI takes (also refuses shipped ids).
    let mut reg = Registry::shipped();
    let _ = reg.add_definition(text);
});
