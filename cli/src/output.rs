//! One place decides between human and `--json` output.

use collabzium_core::Error;
use serde::Serialize;

pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or `human` otherwise.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            #[allow(
                clippy::expect_used,
                reason = "output types are plain data with string map keys, which serde_json always serializes"
            )]
            let text = serde_json::to_string(value).expect("serializable output");
            println!("{text}");
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }

    pub fn error(&self, e: &Error) {
        if self.json {
            let v = serde_json::json!({ "error": { "code": e.code(), "message": e.to_string() } });
            println!("{v}");
        } else {
            eprintln!("error: {e}");
        }
    }
}
