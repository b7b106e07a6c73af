//! The validator never panics and always explains a rejection, whatever it
//! is fed: truncated files, spliced bytes, or values swapped for junk.
#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the size rules (crate::sort, crate::json) are for the library"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::path::Path;

use collabzium_core::program;
use proptest::prelude::*;
use serde_json::Value;

fn minimal() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/programs/valid/minimal.json");
    std::fs::read_to_string(path).unwrap()
}

fn assert_explained(json: &str) {
    if let Err(issues) = program::load(json) {
        assert!(!issues.is_empty());
        for i in &issues {
            assert!(!i.message.is_empty());
            assert!(!i.path.is_empty() || i.line.is_some(), "{i}");
        }
    }
}

/// Every node of a JSON tree, as a JSON pointer.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| pointers(x, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
        _ => {}
    }
}

fn junk() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z_:0-9 -]{0,12}".prop_map(Value::from),
        Just(serde_json::json!({})),
        Just(serde_json::json!([])),
        Just(serde_json::json!({"after_module": "m1", "x": 1})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn truncated_or_spliced_text_is_explained(cut in 0usize..4000, insert in "[\\[\\]{},:\"a0 ]{0,3}") {
        let text = minimal();
        let cut = cut.min(text.len());
        assert_explained(&text[..cut]);
        let spliced = format!("{}{insert}{}", &text[..cut], &text[cut..]);
        assert_explained(&spliced);
    }

    #[test]
    fn replaced_values_are_explained(pick in any::<prop::sample::Index>(), replacement in junk()) {
        let mut doc: Value = serde_json::from_str(&minimal()).unwrap();
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let at = pick.get(&all).clone();
        if let Some(slot) = doc.pointer_mut(&at) {
            *slot = replacement;
        }
        let text = serde_json::to_string_pretty(&doc).unwrap();
        assert_explained(&text);
        // Whatever validates also survives a round trip.
        if let Ok(p) = program::load(&text) {
            prop_assert_eq!(program::load(&p.to_json_pretty()).unwrap(), p);
        }
    }
}
