//! docs/program.schema.json agrees with the serde types: the samples pass
//! it, and structurally broken files fail it. A small evaluator covers the
//! keywords the schema uses; `pattern` is skipped (no regex engine here),
//! the Rust validator checks those strings instead.

#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the size rules (crate::sort, crate::json) are for the library"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(rel: &str) -> Value {
    let text = fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

struct Checker<'a> {
    root: &'a Value,
    errors: Vec<String>,
}

impl Checker<'_> {
    fn check(&mut self, schema: &Value, v: &Value, at: &str) {
        let Value::Object(s) = schema else { return };
        if let Some(Value::String(r)) = s.get("$ref") {
            let name = r.strip_prefix("#/$defs/").expect("local $ref");
            let target = &self.root["$defs"][name];
            assert!(!target.is_null(), "dangling $ref {r}");
            self.check(target, v, at);
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            let ok = match t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "boolean" => v.is_boolean(),
                other => panic!("type {other} not handled"),
            };
            if !ok {
                self.errors.push(format!("{at}: not {t}"));
                return;
            }
        }
        if let Some(c) = s.get("const") {
            if c != v {
                self.errors.push(format!("{at}: not {c}"));
            }
        }
        if let Some(Value::Array(options)) = s.get("enum") {
            if !options.contains(v) {
                self.errors.push(format!("{at}: {v} not in enum"));
            }
        }
        for (key, cmp) in [("minimum", true), ("maximum", false)] {
            if let (Some(limit), Some(n)) = (s.get(key).and_then(Value::as_f64), v.as_f64()) {
                if (cmp && n < limit) || (!cmp && n > limit) {
                    self.errors.push(format!("{at}: {n} beyond {key} {limit}"));
                }
            }
        }
        if let (Some(min), Some(text)) = (s.get("minLength").and_then(Value::as_u64), v.as_str()) {
            if (text.chars().count() as u64) < min {
                self.errors.push(format!("{at}: shorter than {min}"));
            }
        }
        if let Value::Array(items) = v {
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    self.errors.push(format!("{at}: fewer than {min} items"));
                }
            }
            if s.get("uniqueItems") == Some(&Value::Bool(true)) {
                for (i, x) in items.iter().enumerate() {
                    if items[..i].contains(x) {
                        self.errors.push(format!("{at}[{i}]: duplicate item"));
                    }
                }
            }
            if let Some(item_schema) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    self.check(item_schema, x, &format!("{at}[{i}]"));
                }
            }
        }
        if let Value::Object(map) = v {
            if let Some(Value::Array(req)) = s.get("required") {
                for r in req.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        self.errors.push(format!("{at}.{r}: required"));
                    }
                }
            }
            if let Some(min) = s.get("minProperties").and_then(Value::as_u64) {
                if (map.len() as u64) < min {
                    self.errors
                        .push(format!("{at}: fewer than {min} properties"));
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, x) in map {
                let path = format!("{at}.{k}");
                match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                    (Some(p), _) => self.check(p, x, &path),
                    (None, Some(Value::Bool(false))) => {
                        self.errors.push(format!("{path}: not allowed"))
                    }
                    (None, Some(extra @ Value::Object(_))) => self.check(extra, x, &path),
                    (None, _) => {}
                }
            }
        }
        for (key, want_exactly_one) in [("oneOf", true), ("anyOf", false)] {
            if let Some(Value::Array(branches)) = s.get(key) {
                let passing = branches.iter().filter(|b| self.passes(b, v, at)).count();
                if (want_exactly_one && passing != 1) || passing == 0 {
                    self.errors
                        .push(format!("{at}: {passing} branches of {key} match"));
                }
            }
        }
    }

    fn passes(&mut self, schema: &Value, v: &Value, at: &str) -> bool {
        let mut sub = Checker {
            root: self.root,
            errors: Vec::new(),
        };
        sub.check(schema, v, at);
        sub.errors.is_empty()
    }
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let schema = load("docs/program.schema.json");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let mut c = Checker {
        root: &schema,
        errors: Vec::new(),
    };
    c.check(&schema, doc, "$");
    c.errors
}

#[test]
fn samples_match_the_schema() {
    for rel in [
        "cli/data/programs/low-mood-8w.json",
        "cli/data/programs/worry-6w.json",
        "core/tests/data/programs/valid/minimal.json",
    ] {
        let errors = schema_errors(&load(rel));
        assert!(errors.is_empty(), "{rel}: {errors:#?}");
    }
}

#[test]
fn structural_breakage_fails_the_schema() {
    for name in [
        "not-an-object",
        "format-version-unsupported",
        "missing-sections",
        "typo-field-names",
        "wrong-types",
        "unknown-enum-values",
        "unlock-rule-shapes",
        "weeks-too-many",
        "weeks-too-few",
        "reminder-limits",
        "no-modules",
        "checkin-modes",
        "crisis-resources-bad",
    ] {
        let doc = load(&format!("core/tests/data/programs/broken/{name}.json"));
        assert!(!schema_errors(&doc).is_empty(), "{name} passes the schema");
    }
}

#[test]
fn every_optional_field_is_in_the_schema() {
    // A program using every optional field the serde types know.
    let mut doc = load("core/tests/data/programs/valid/minimal.json");
    doc["metadata"]["summary"] = "All fields".into();
    doc["metadata"]["default_time_zone"] = "Europe/Berlin".into();
    let ex = &mut doc["modules"][0]["exercises"][0];
    ex["kind"] = "homework".into();
    ex["fields"][0] = serde_json::json!({
        "id": "n", "label": "N", "kind": "number", "required": false, "min": 0, "max": 5
    });
    doc["checkins"][0]["when"]["recurring"]["start_day"] = 7.into();
    doc["checkins"][0]["modes"] = serde_json::json!(["guided"]);
    doc["crisis_resources"]["en-US"][0]["sms"] = "988".into();
    let errors = schema_errors(&doc);
    assert!(errors.is_empty(), "{errors:#?}");
    let text = serde_json::to_string(&doc).unwrap();
    let p = collabzium_core::program::load(&text).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(serde_json::to_value(&p).unwrap(), doc);
}
