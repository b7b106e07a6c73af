//! Program files (JSON) through load and validation.
#![no_main]

use collabzium_core::program;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match program::load(text) {
        Ok(p) => {
            // What validates re-serialises to a program that validates the same.
            let again = program::load(&p.to_json_pretty()).expect("re-serialised program loads");
            assert_eq!(again, p);
        }
        Err(issues) => assert!(!issues.is_empty(), "refusal without a reason"),
    }
});
