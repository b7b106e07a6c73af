//! Issue 15 case 10: display text in instrument definitions refuses control
//! characters and bidirectional overrides (programs: the validator corpus,
//! `data/programs/broken/control-and-bidi-text.json`).
#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the size rules (crate::sort, crate::json) are for the library"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use collabzium_core::instruments::{load_instrument, SHIPPED};
use serde_json::Value;

fn phq9() -> Value {
    let (_, json) = SHIPPED.iter().find(|(id, _)| *id == "phq9").unwrap();
    serde_json::from_str(json).unwrap()
}

/// (path, edit of the definition, expected message fragment).
type Case = (&'static str, fn(&mut Value), &'static str);

fn issues_for(def: &Value) -> Vec<String> {
    match load_instrument(&def.to_string()) {
        Ok(_) => Vec::new(),
        Err(issues) => issues.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_shipped_definition_is_clean() {
    assert_eq!(issues_for(&phq9()), Vec::<String>::new());
}

#[test]
fn instrument_text_refuses_controls_and_bidi_overrides() {
    let cases: [Case; 5] = [
        (
            "title",
            |d| d["title"] = "PHQ\u{202E}9".into(),
            "bidirectional override (U+202E)",
        ),
        (
            "items[0].text",
            |d| d["items"][0]["text"] = "Little interest\u{0}".into(),
            "control character (U+0000)",
        ),
        (
            "preamble",
            |d| d["preamble"] = "Over the last two weeks\u{7}".into(),
            "control character (U+0007)",
        ),
        (
            "scoring.bands[0].label",
            |d| d["scoring"]["bands"][0]["label"] = "Minimal\u{2067}".into(),
            "bidirectional override (U+2067)",
        ),
        (
            "title",
            |d| d["title"] = "Two\nlines".into(),
            "control character (U+000A)",
        ),
    ];
    for (path, edit, fragment) in cases {
        let mut def = phq9();
        edit(&mut def);
        let issues = issues_for(&def);
        assert!(
            issues
                .iter()
                .any(|i| i.starts_with(path) && i.contains(fragment)),
            "{path}: {issues:?}"
        );
    }
}

#[test]
fn prose_keeps_newlines_and_tabs() {
    let mut def = phq9();
    def["preamble"] = "Over the last two weeks,\n\thow often...".into();
    def["items"][0]["text"] = "First line\nsecond line".into();
    assert_eq!(issues_for(&def), Vec::<String>::new());
}
