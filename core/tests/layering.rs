//! The layers of ADR 0007, checked on the source: no module of the core
//! imports one above it, so there are no cycles between modules.
//!
//! Each top-level module has a rank; code may name `crate::m` only for a
//! module of lower rank (or its own). Comments and `#[cfg(test)]` modules
//! are skipped: tests may reach anywhere.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// From the ground up (ADR 0007 §2). Modules in one group share a rank only
/// when they never import each other.
const LAYERS: &[(&str, &[&str])] = &[
    // Lower layer: errors, text and domain values, platform traits, crypto.
    ("base", &["error", "text", "platform", "tz", "sort", "json"]),
    ("domain", &["domain"]),
    ("crypto", &["crypto"]),
    ("audit", &["audit"]),
    ("store", &["store"]),
    // Pure domains over the store's values.
    ("schedule", &["schedule", "risk_language", "research"]),
    ("instruments", &["instruments"]),
    ("crisis", &["crisis"]),
    ("program", &["program"]),
    // Features, in the order they may build on each other.
    ("sync", &["sync"]),
    ("agenda", &["agenda"]),
    ("checkin", &["checkin"]),
    ("insights", &["insights"]),
    // Backup and restore: a whole store, with its channels' state.
    ("backup", &["backup"]),
    // One open store's life.
    ("session", &["session"]),
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source dir") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `crate::<name>` references outside comments and test modules, with the
/// line they are on; `crate::{a, b::X}` groups count each name.
fn crate_refs(src: &str) -> Vec<(usize, String)> {
    let body = match src.find("#[cfg(test)]\nmod tests") {
        Some(i) => &src[..i],
        None => src,
    };
    let code: String = body
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let at = from + i;
        from = at + "crate::".len();
        // `collabzium_crate::` or similar is not ours.
        if code[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let after = &code[from..];
        if let Some(group) = after.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            for item in group.split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    out.push((line_of(at), name));
                }
            }
        } else {
            let name = ident(after);
            if !name.is_empty() {
                out.push((line_of(at), name));
            }
        }
    }
    out
}

fn top_module(src_root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src_root).expect("under src");
    let first = rel.components().next().expect("non-empty path");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

#[test]
fn no_module_imports_one_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut violations = Vec::new();
    let mut unranked = BTreeMap::new();
    for f in &files {
        let module = top_module(&root, f);
        if module == "lib" {
            continue;
        }
        let Some(own) = rank(&module) else {
            unranked.insert(module.clone(), f.display().to_string());
            continue;
        };
        let src = fs::read_to_string(f).expect("readable source");
        for (line, target) in crate_refs(&src) {
            // Items re-exported at the crate root (`crate::Error`, `crate::Result`).
            let target = match target.as_str() {
                "Error" | "Result" => "error".to_string(),
                _ => target,
            };
            if target == module {
                continue;
            }
            match rank(&target) {
                Some(r) if r < own => {}
                Some(_) => violations.push(format!(
                    "{}:{line}: {module} imports crate::{target}, which is not below it",
                    f.strip_prefix(&root).unwrap_or(f).display()
                )),
                None => unranked
                    .insert(target.clone(), f.display().to_string())
                    .map_or((), |_| ()),
            }
        }
    }
    assert!(
        unranked.is_empty(),
        "modules missing from LAYERS (add them to ADR 0007 and this table): {unranked:?}"
    );
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    // A known-bad snippet must be caught, so the test above cannot pass vacuously.
    let refs = crate_refs(
        "use crate::session::sync;\n// crate::insights in a comment\nfn f() { crate::agenda::x() }\nuse crate::{store::Store, sync};\nuse crate::{\n    checkin::X,\n    research,\n};\n",
    );
    let names: Vec<_> = refs.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        names,
        ["session", "agenda", "store", "sync", "checkin", "research"]
    );
    assert_eq!(refs[4].0, 5, "line numbers count from 1");
    assert!(rank("session") > rank("agenda"));
    assert!(rank("store") < rank("sync"));
}

#[test]
fn the_protocol_crate_and_the_relay_stand_without_the_core() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for manifest in ["protocol/Cargo.toml", "relay/Cargo.toml"] {
        let text = fs::read_to_string(ws.join(manifest)).expect("manifest");
        assert!(
            !text.contains("collabzium-core"),
            "{manifest} must not depend on collabzium-core (ADR 0007)"
        );
    }
}
