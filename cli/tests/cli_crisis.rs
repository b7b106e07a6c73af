//! Crisis resources by country through the real binary (issue 10, Why case 1):
//! `store init --country`, the locale's region as the default, and
//! `checkin submit --json` showing the patient's own country's lines only.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use collabzium_e2e::{cli_run as run, ok_json};

fn err_json(o: &Output) -> Value {
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    serde_json::from_slice::<Value>(&o.stdout).unwrap()["error"].clone()
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn store(d: &Path, rest: &[&str]) -> Output {
    let mut args = vec!["--store", "p.db"];
    args.extend_from_slice(rest);
    run(d, &args)
}

fn init(d: &Path, tz: &str, locale: &str, country: Option<&str>) {
    let mut args = vec![
        "store", "init", "--name", "Pat", "--tz", tz, "--locale", locale, "--mode", "guided",
    ];
    if let Some(c) = country {
        args.extend(["--country", c]);
    }
    args.push("--json");
    ok_json(&store(d, &args));
}

fn enrol(d: &Path, tz: &str) {
    let program = repo("cli/data/programs/steady-steps-12w.json");
    ok_json(&store(
        d,
        &[
            "enrol",
            "--program",
            program.to_str().unwrap(),
            "--start",
            "2026-03-02",
            "--tz",
            tz,
            "--json",
        ],
    ));
}

/// A PHQ-9 with item 9 answered 1, submitted; returns `safety_action`.
fn risk_checkin(d: &Path) -> Value {
    let start = ok_json(&store(
        d,
        &["checkin", "start", "--instrument", "phq9", "--json"],
    ));
    let id = start["checkin_id"].as_str().unwrap().to_string();
    ok_json(&store(
        d,
        &[
            "checkin",
            "answer",
            &id,
            "--answers",
            r#"{"phq9_1":2,"phq9_2":2,"phq9_3":1,"phq9_4":1,"phq9_5":0,"phq9_6":1,"phq9_7":1,"phq9_8":0,"phq9_9":1}"#,
            "--json",
        ],
    ));
    let r = ok_json(&store(d, &["checkin", "submit", &id, "--json"]));
    r["safety_action"].clone()
}

fn field<'a>(action: &'a Value, name: &str) -> Vec<&'a str> {
    action["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r[name].as_str())
        .collect()
}

/// Why case 1, as a new user would try it: a US patient in the UK-authored
/// 12-week program used to see Samaritans, Shout, NHS 111 and 999.
#[test]
fn en_us_patient_in_the_uk_program_sees_988_never_samaritans() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, "America/New_York", "en-US", None);
    enrol(d, "America/New_York");
    let action = risk_checkin(d);
    let phones = field(&action, "phone");
    let names = field(&action, "name");
    assert!(phones.contains(&"988"), "{action:#}");
    assert!(phones.contains(&"911"), "{action:#}");
    assert!(field(&action, "sms").contains(&"988"));
    for uk in ["Samaritans", "Shout", "NHS 111"] {
        assert!(!names.contains(&uk), "{uk} shown: {action:#}");
    }
    let text = action["resources"].to_string();
    assert!(
        !text.contains("116 123") && !text.contains("999"),
        "{action:#}"
    );
    for r in action["resources"].as_array().unwrap() {
        assert!(r["name"].is_string() && r["description"].is_string());
    }
    let info = ok_json(&store(d, &["store", "info", "--json"]));
    assert_eq!(info["country"], "US");
}

#[test]
fn country_flag_picks_austria_for_a_bare_german_locale() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Lower case is accepted and stored as AT.
    init(d, "Europe/Vienna", "de", Some("at"));
    let shown = ok_json(&store(d, &["profile", "show", "--json"]));
    assert_eq!(shown["profile"]["country"], "AT");
    assert_eq!(shown["country"], "AT");
    let info = ok_json(&store(d, &["store", "info", "--json"]));
    assert_eq!(info["country"], "AT");
    let action = risk_checkin(d);
    let phones = field(&action, "phone");
    assert_eq!(phones.first(), Some(&"142"), "{action:#}");
    assert!(
        !phones.contains(&"0800 111 0 111"),
        "German line in Austria"
    );
    let descriptions = field(&action, "description");
    assert!(descriptions[0].contains("Wählen Sie 142"), "{action:#}");

    // The country can be changed later in the profile.
    ok_json(&store(
        d,
        &[
            "profile",
            "set",
            "--name",
            "Pat",
            "--tz",
            "Europe/Zurich",
            "--locale",
            "de",
            "--mode",
            "guided",
            "--country",
            "CH",
            "--json",
        ],
    ));
    let action = risk_checkin(d);
    assert_eq!(field(&action, "phone").first(), Some(&"143"), "{action:#}");
}

#[test]
fn without_a_country_the_patient_gets_no_foreign_number() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, "Europe/Berlin", "de", None);
    let info = ok_json(&store(d, &["store", "info", "--json"]));
    assert!(info["country"].is_null(), "{info:#}");
    let action = risk_checkin(d);
    assert!(field(&action, "phone").is_empty(), "{action:#}");
    assert!(field(&action, "sms").is_empty(), "{action:#}");
    assert!(field(&action, "url").contains(&"https://findahelpline.com"));
}

#[test]
fn country_must_be_an_iso_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (bad, hint) in [
        ("UK", "the United Kingdom is GB"),
        ("ZZ", "ISO 3166-1 alpha-2"),
        ("Austria", "ISO 3166-1 alpha-2"),
        ("", "ISO 3166-1 alpha-2"),
    ] {
        let e = err_json(&store(
            d,
            &[
                "store",
                "init",
                "--name",
                "Pat",
                "--tz",
                "Europe/London",
                "--locale",
                "en-GB",
                "--country",
                bad,
                "--json",
            ],
        ));
        assert_eq!(e["code"], "invalid_input", "{bad}: {e}");
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.contains("country") && msg.contains(hint),
            "{bad}: {msg}"
        );
        assert!(!d.join("p.db").exists(), "{bad}: store created anyway");
    }
    // A country without a profile to hold it.
    let e = err_json(&store(d, &["store", "init", "--country", "AT", "--json"]));
    assert_eq!(e["code"], "invalid_input");
    assert!(e["message"].as_str().unwrap().contains("country"));
}
