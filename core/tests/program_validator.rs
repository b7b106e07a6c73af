//! Validator corpus: every file in `data/programs/broken/` must produce
//! exactly the issues listed in its `.expected` sidecar, one per line as
//! `PATH: MESSAGE FRAGMENT` (or `line L column C: FRAGMENT` when only a
//! position is known). An issue matches a line when its text starts with
//! the part before the first ": " and its message contains the rest.

#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the sort rule keeps the library small"
)]
use std::fs;
use std::path::{Path, PathBuf};

use collabzium_core::program::{
    self, validate, ValidationContext, ValidationIssue, DEFAULT_INSTRUMENTS,
};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/programs")
        .join(rel)
}

fn matches(issue: &ValidationIssue, expected: &str) -> bool {
    let text = issue.to_string();
    let (head, fragment) = expected.split_once(": ").unwrap_or((expected, ""));
    text.strip_prefix(head)
        .and_then(|rest| rest.strip_prefix(": "))
        .is_some_and(|message| message.contains(fragment))
}

/// Pairs issues with expected lines one to one; returns what is left over.
fn compare(issues: &[ValidationIssue], expected: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut unmatched_expected: Vec<&str> = expected.to_vec();
    let mut unexpected = Vec::new();
    for issue in issues {
        match unmatched_expected.iter().position(|e| matches(issue, e)) {
            Some(i) => {
                unmatched_expected.remove(i);
            }
            None => unexpected.push(issue.to_string()),
        }
    }
    (
        unexpected,
        unmatched_expected.into_iter().map(String::from).collect(),
    )
}

#[test]
fn broken_corpus_reports_expected_issues() {
    let dir = data("broken");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "corpus has only {} files", files.len());

    let ctx = ValidationContext::default();
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let json = fs::read_to_string(file).unwrap();
        let expected_text = fs::read_to_string(file.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{name}: missing .expected file"));
        let expected: Vec<&str> = expected_text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(!expected.is_empty(), "{name}: .expected is empty");
        let issues = match validate(&json, &ctx) {
            Ok(_) => {
                failures.push(format!("{name}: validated, but should not"));
                continue;
            }
            Err(issues) => issues,
        };
        let (unexpected, missing) = compare(&issues, &expected);
        if !unexpected.is_empty() || !missing.is_empty() {
            failures.push(format!(
                "{name}:\n  unexpected: {unexpected:#?}\n  missing: {missing:#?}"
            ));
        }
        for issue in &issues {
            assert!(
                issue.line.is_some() || !issue.path.is_empty(),
                "{name}: issue with neither path nor position: {issue}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn minimal_program_is_valid() {
    let json = fs::read_to_string(data("valid/minimal.json")).unwrap();
    let p = program::load(&json).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(p.modules.len(), 4);
}

#[test]
fn issues_are_formatted_with_their_path() {
    let json = fs::read_to_string(data("broken/unknown-module.json")).unwrap();
    let issues = program::load(&json).unwrap_err();
    let unknown = issues
        .iter()
        .find(|i| i.path.ends_with("after_module"))
        .expect("unknown module issue");
    assert_eq!(
        unknown.to_string(),
        r#"modules[2].unlock.all_of[0].after_module: unknown module "m9""#
    );
    // Positions point into the original file.
    let line = json
        .lines()
        .position(|l| l.contains("\"m9\""))
        .map(|i| i + 1);
    assert_eq!(unknown.line, line);
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let issues = program::load("{\n  \"format_version\": 1,\n  oops\n}").unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "");
    assert_eq!(issues[0].line, Some(3));
    assert!(
        issues[0].to_string().starts_with("line 3 column 3: "),
        "{}",
        issues[0]
    );
}

#[test]
fn context_decides_which_instruments_exist() {
    let json = fs::read_to_string(data("valid/minimal.json")).unwrap();
    assert!(validate(&json, &ValidationContext::new(["gad7"])).is_err());
    let ctx = ValidationContext::new(["phq9", "alliance"]);
    assert!(validate(&json, &ctx).is_ok());

    let with_clinic = json.replace("\"alliance\"", "\"wai_sr\"");
    assert!(validate(&with_clinic, &ValidationContext::default()).is_err());
    let ctx = ValidationContext::default().with_instrument("wai_sr");
    assert!(validate(&with_clinic, &ctx).is_ok());
    assert_eq!(
        ValidationContext::default()
            .instruments()
            .collect::<Vec<_>>()
            .len(),
        DEFAULT_INSTRUMENTS.len()
    );
}

#[test]
fn issues_come_back_in_file_order() {
    let json = fs::read_to_string(data("broken/many-problems.json")).unwrap();
    let issues = program::load(&json).unwrap_err();
    let lines: Vec<usize> = issues.iter().filter_map(|i| i.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
}
