//! Issue 10, Why cases 2, 3, 5 and 6, through the real binary and a real
//! `collabzium relay serve` process: the crisis message says only what is
//! true about who was told, names when the therapist will see it, the
//! therapist sees what triggered it and records what they did, and
//! corrections neither hide the resources nor raise a second alert.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};

use chrono::{Datelike, Duration, TimeZone, Utc};
use serde_json::Value;

const RISKY: &str = r#"{"phq9_1":2,"phq9_2":2,"phq9_3":1,"phq9_4":2,"phq9_5":1,"phq9_6":2,"phq9_7":1,"phq9_8":0,"phq9_9":1}"#;
/// Words that claim a therapist was told; never true before delivery.
const CLAIMS: [&str; 3] = [
    "let your therapist know",
    "reached your therapist",
    "has seen",
];

use collabzium_e2e::{cli as cmd, cli_run as run, ok_json, repo_path, RelayProcess};

fn store_json(d: &Path, store: &str, args: &[&str]) -> Value {
    let mut all = vec!["--store", store, "--json"];
    all.extend_from_slice(args);
    ok_json(&run(d, &all))
}

fn init(d: &Path, store: &str, tz: &str, locale: &str, mode: &str) {
    store_json(
        d,
        store,
        &[
            "store", "init", "--name", "Sam", "--tz", tz, "--locale", locale, "--mode", mode,
        ],
    );
}

/// Starts, answers and submits a PHQ-9; returns the submit JSON.
fn phq9(d: &Path, store: &str, answers: &str) -> Value {
    let started = store_json(d, store, &["checkin", "start", "--instrument", "phq9"]);
    let id = started["checkin_id"].as_str().unwrap().to_string();
    store_json(d, store, &["checkin", "answer", &id, "--answers", answers]);
    store_json(d, store, &["checkin", "submit", &id])
}

fn assert_no_claim(message: &str) {
    for c in CLAIMS {
        assert!(!message.contains(c), "claims {c:?}: {message}");
    }
}

/// The therapist's `invite` process, its output lines, and the code it
/// printed first.
fn invite(d: &Path, url: &str, wait: &str) -> (Child, Lines<BufReader<ChildStdout>>, String) {
    let mut child = cmd(d)
        .args([
            "--store",
            "t.db",
            "--json",
            "therapist",
            "invite",
            "--relay",
            url,
        ])
        .args(["--label", "Sam K", "--wait", wait])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let code = first["code"].as_str().unwrap().to_string();
    (child, lines, code)
}

/// The therapist invites, the patient joins with `join_args`; returns the
/// channel id once both sides are active.
fn pair(d: &Path, url: &str, patient: &str, join_args: &[&str]) -> String {
    let (mut child, mut lines, code) = invite(d, url, "60");
    let mut args = vec!["patient", "join", "--relay", url, "--code", &code];
    args.extend_from_slice(join_args);
    let joined = store_json(d, patient, &args);
    assert_eq!(joined["status"], "active");
    let paired: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(child.wait().unwrap().success());
    paired["channel"].as_str().unwrap().to_string()
}

fn alert_states(d: &Path, store: &str) -> Vec<String> {
    store_json(d, store, &["checkin", "alerts"])["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alert_state"].as_str().unwrap().to_string())
        .collect()
}

fn sync(d: &Path, store: &str) -> Value {
    store_json(d, store, &["sync"])
}

#[test]
fn the_crisis_message_says_who_was_told_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = format!("sqlite:{}", d.join("relay.sqlite3").display());
    let mut relay = RelayProcess::start(&db, "127.0.0.1:0");
    let url = relay.url.clone();
    init(d, "t.db", "Europe/London", "en-GB", "guided");
    init(d, "p.db", "America/New_York", "en-US", "guided");

    // Case 2a: guided, not yet paired: nobody was told, and it says so.
    let r = phq9(d, "p.db", RISKY);
    let sa = &r["safety_action"];
    assert_eq!(sa["alert_state"], "not_connected");
    let msg = sa["message"].as_str().unwrap();
    assert_no_claim(msg);
    assert!(msg.contains("nobody has been told"), "{msg}");
    assert!(msg.contains("pairing code"), "how to connect: {msg}");
    assert!(!sa["resources"].as_array().unwrap().is_empty());
    assert_eq!(alert_states(d, "p.db"), ["not_connected"]);

    // Joining while an alert is unsent asks whether to share it.
    let (mut pending, _lines, code) = invite(d, &url, "5");
    let o = run(
        d,
        &[
            "--store", "p.db", "--json", "patient", "join", "--relay", &url, "--code", &code,
        ],
    );
    assert!(!o.status.success());
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("share_alerts"),
        "{e}"
    );
    let _ = pending.wait();

    // Case 2b: paired without history and without the alert: the alert
    // never leaves, and the patient is not told otherwise.
    pair(d, &url, "p.db", &["--no-share-alerts"]);
    sync(d, "p.db");
    sync(d, "t.db");
    sync(d, "p.db");
    assert_eq!(alert_states(d, "p.db"), ["not_connected"]);
    // Paired, so "not connected to a therapist" would be untrue: it says
    // the patient kept this alert.
    let crisis = store_json(d, "p.db", &["checkin", "crisis"]);
    let msg = crisis["message"].as_str().unwrap();
    assert!(msg.contains("chose not to share it"), "{msg}");
    assert!(!msg.contains("not connected"), "{msg}");
    assert_no_claim(msg);
    let inbox = store_json(d, "t.db", &["therapist", "inbox"]);
    assert!(
        !inbox
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "safety_alert"),
        "{inbox}"
    );

    // Case 3: the therapist is away until a known window three days ahead.
    let opens = Utc::now() + Duration::days(3);
    let day =
        ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][opens.weekday().num_days_from_monday() as usize];
    let cid = store_json(d, "t.db", &["channels"])[0]["channel_id"]
        .as_str()
        .map(str::to_string)
        .unwrap();
    store_json(
        d,
        "t.db",
        &[
            "therapist",
            "availability",
            "--tz",
            "UTC",
            "--days",
            day,
            "--start",
            "09:00",
            "--end",
            "10:00",
        ],
    );
    sync(d, "t.db");
    sync(d, "p.db");

    // A new risk answer: sending while the relay is down.
    relay.kill();
    let r = phq9(d, "p.db", RISKY);
    assert_eq!(r["safety_action"]["alert_state"], "sending");
    let msg = r["safety_action"]["message"].as_str().unwrap().to_string();
    assert_no_claim(&msg);
    assert!(msg.contains("has not reached them yet"), "{msg}");
    let s = sync(d, "p.db");
    assert!(s["error"].is_string(), "offline round: {s}");
    assert_eq!(alert_states(d, "p.db")[0], "sending");

    // The relay is back: delivered once the therapist's device confirms.
    let relay = RelayProcess::start(&db, &url.replace("http://", ""));
    assert_eq!(relay.url, url);
    sync(d, "p.db");
    assert_eq!(alert_states(d, "p.db")[0], "sending");
    sync(d, "t.db");
    sync(d, "p.db");
    let alerts = store_json(d, "p.db", &["checkin", "alerts"]);
    let latest = &alerts["alerts"][0];
    assert_eq!(latest["alert_state"], "delivered", "{alerts}");
    let crisis = store_json(d, "p.db", &["checkin", "crisis"]);
    assert_eq!(crisis["alert_state"], "delivered");
    // 09:00 UTC that day, told in the patient's own zone and words.
    let ny: collabzium_core::schedule::Tz = "America/New_York".parse().unwrap();
    let at = Utc
        .with_ymd_and_hms(opens.year(), opens.month(), opens.day(), 9, 0, 0)
        .unwrap();
    assert_eq!(
        crisis["therapist_next_available_millis"].as_i64(),
        Some(at.timestamp_millis())
    );
    let local = at.with_timezone(&ny);
    let words = format!("{} at {}", local.format("%A %-d %B"), local.format("%H:%M"));
    let msg = crisis["message"].as_str().unwrap();
    assert!(msg.contains(&words), "{words:?} in {msg}");
    assert!(msg.contains("reached your therapist's device"), "{msg}");

    // Case 5: the therapist sees what triggered it, and acknowledges with
    // an action and a note; the patient sees only "seen".
    let inbox = store_json(d, "t.db", &["therapist", "inbox"]);
    let alert = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "safety_alert")
        .unwrap()
        .clone();
    let body = &alert["body"]["alert"];
    assert_eq!(body["items"][0]["item"], "phq9_9");
    assert_eq!(body["items"][0]["answer"].as_f64(), Some(1.0));
    assert_eq!(body["items"][0]["answer_text"], "Several days");
    assert_eq!(body["total"].as_f64(), Some(12.0));
    let text =
        String::from_utf8(run(d, &["--store", "t.db", "therapist", "inbox"]).stdout).unwrap();
    assert!(
        text.contains("item 9 answered 1 (Several days), total 12"),
        "{text}"
    );
    let alert_id = alert["body"]["alert_id"].as_str().unwrap().to_string();
    let o = run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "therapist",
            "ack-alert",
            "--channel",
            &cid,
            "--alert",
            &alert_id,
            "--action",
            "sometime",
        ],
    );
    assert!(!o.status.success(), "an unknown action is refused");
    store_json(
        d,
        "t.db",
        &[
            "therapist",
            "ack-alert",
            "--channel",
            &cid,
            "--alert",
            &alert_id,
            "--action",
            "phone",
            "--note",
            "Called; safety plan agreed",
        ],
    );
    sync(d, "t.db");
    sync(d, "p.db");
    assert_eq!(alert_states(d, "p.db")[0], "seen");
    let crisis = store_json(d, "p.db", &["checkin", "crisis"]);
    assert_eq!(crisis["alert_state"], "seen");
    let msg = crisis["message"].as_str().unwrap();
    assert!(msg.contains("has seen your alert"), "{msg}");
    assert!(
        !msg.contains("safety plan") && !msg.contains("Called"),
        "{msg}"
    );
    let patient_side = std::fs::read(d.join("p.db")).unwrap();
    assert!(!String::from_utf8_lossy(&patient_side).contains("safety plan agreed"));

    // Case 2c: after the therapist unpairs, a new alert reaches nobody.
    store_json(d, "t.db", &["unpair", "--channel", &cid]);
    sync(d, "p.db");
    let r = phq9(d, "p.db", RISKY);
    assert_eq!(r["safety_action"]["alert_state"], "not_connected");
    assert_no_claim(r["safety_action"]["message"].as_str().unwrap());
    drop(relay);
}

#[test]
fn an_alert_made_before_pairing_can_be_shared_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = format!("sqlite:{}", d.join("relay.sqlite3").display());
    let relay = RelayProcess::start(&db, "127.0.0.1:0");
    init(d, "t.db", "Europe/Berlin", "de-DE", "guided");
    init(d, "p.db", "Europe/Berlin", "de-DE", "guided");
    phq9(
        d,
        "p.db",
        r#"{"phq9_1":0,"phq9_2":0,"phq9_3":0,"phq9_4":0,"phq9_5":0,"phq9_6":0,"phq9_7":0,"phq9_8":0,"phq9_9":0}"#,
    );
    let r = phq9(d, "p.db", RISKY);
    // The German message, not the English one.
    let msg = r["safety_action"]["message"].as_str().unwrap();
    assert!(msg.contains("Ihre Antworten"), "{msg}");
    pair(d, &relay.url, "p.db", &["--share-alerts"]);
    sync(d, "p.db");
    sync(d, "t.db");
    sync(d, "p.db");
    assert_eq!(alert_states(d, "p.db"), ["delivered"]);
    let inbox = store_json(d, "t.db", &["therapist", "inbox"]);
    let kinds: Vec<&str> = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    // The alert, but none of the check-ins made before pairing.
    assert!(kinds.contains(&"safety_alert"), "{kinds:?}");
    assert!(!kinds.contains(&"checkin"), "{kinds:?}");
    let crisis = store_json(d, "p.db", &["checkin", "crisis"]);
    assert!(
        crisis["message"].as_str().unwrap().contains("angekommen"),
        "{crisis}"
    );
}

#[test]
fn an_unguided_patient_is_told_nobody_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, "p.db", "Europe/London", "en-GB", "unguided");
    let r = phq9(d, "p.db", RISKY);
    assert_eq!(r["safety_action"]["alert_state"], "unguided");
    let msg = r["safety_action"]["message"].as_str().unwrap();
    assert!(msg.contains("nobody is told automatically"), "{msg}");
    assert_no_claim(msg);
    assert!(r["safety_action"]["therapist_alert_id"].is_null());
}

#[test]
fn corrections_show_resources_at_once_and_raise_no_second_alert() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, "p.db", "Europe/London", "en-GB", "guided");
    let r = phq9(d, "p.db", RISKY);
    let id = r["checkin_id"].as_str().unwrap().to_string();

    // Case 6: opening the correction shows the resources before any edit.
    let c = store_json(d, "p.db", &["checkin", "correct", &id]);
    let cid = c["checkin_id"].as_str().unwrap().to_string();
    assert!(c["safety_action"].is_object(), "{c}");
    assert!(!c["safety_action"]["resources"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        c["safety_action"]["therapist_alert_id"].as_str(),
        Some(id.as_str())
    );

    // One open correction per check-in: asking again resumes it.
    let again = store_json(d, "p.db", &["checkin", "correct", &id]);
    assert_eq!(again["checkin_id"].as_str(), Some(cid.as_str()));

    // Editing another item keeps the same risk answer: no second alert.
    store_json(
        d,
        "p.db",
        &["checkin", "answer", &cid, "--answers", r#"{"phq9_1":3}"#],
    );
    store_json(d, "p.db", &["checkin", "submit", &cid]);
    assert_eq!(alert_states(d, "p.db").len(), 1);

    // A changed risk answer is new information: it raises its own alert.
    let c2 = store_json(d, "p.db", &["checkin", "correct", &cid]);
    let c2id = c2["checkin_id"].as_str().unwrap().to_string();
    store_json(
        d,
        "p.db",
        &["checkin", "answer", &c2id, "--answers", r#"{"phq9_9":3}"#],
    );
    let s = store_json(d, "p.db", &["checkin", "submit", &c2id]);
    assert_eq!(
        s["safety_action"]["therapist_alert_id"].as_str(),
        Some(c2id.as_str())
    );
    assert_eq!(alert_states(d, "p.db").len(), 2);
}

#[test]
fn a_check_in_before_its_window_is_refused_with_its_opening_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, "p.db", "Europe/London", "en-GB", "guided");
    let program = repo_path("cli/data/programs/steady-steps-12w.json");
    let program = program.to_str().unwrap();
    let today = Utc::now().format("%Y-%m-%d").to_string();
    store_json(
        d,
        "p.db",
        &[
            "enrol",
            "--program",
            program,
            "--start",
            &today,
            "--tz",
            "Europe/London",
        ],
    );
    let agenda = store_json(d, "p.db", &["agenda"]);
    let upcoming = agenda
        .to_string()
        .split('"')
        .find(|s| s.starts_with("checkin:"))
        .map(str::to_string);
    let items: Vec<Value> = collect_items(&agenda);
    let item = items
        .iter()
        .find(|i| i["state"] == "upcoming" && i["kind"] == "checkin")
        .unwrap_or_else(|| panic!("an upcoming check-in in {agenda} ({upcoming:?})"));
    let o = run(
        d,
        &[
            "--store",
            "p.db",
            "--json",
            "checkin",
            "start",
            "--agenda-item",
            item["id"].as_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("agenda_item"),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not open yet"),
        "{e}"
    );
}

/// Every object with an `id` and a `state` anywhere in the agenda JSON.
fn collect_items(v: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    match v {
        Value::Object(m) => {
            if m.contains_key("id") && m.contains_key("state") {
                out.push(v.clone());
            }
            for x in m.values() {
                out.extend(collect_items(x));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| out.extend(collect_items(x))),
        _ => {}
    }
    out
}

#[test]
fn risk_language_in_a_message_or_a_comment_shows_help_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = format!("sqlite:{}", d.join("relay.sqlite3").display());
    let relay = RelayProcess::start(&db, "127.0.0.1:0");
    init(d, "t.db", "Europe/Berlin", "de-DE", "guided");
    init(d, "p.db", "Europe/Berlin", "de-DE", "guided");
    let cid = pair(d, &relay.url, "p.db", &[]);

    // An ordinary message: no safety action.
    let m = store_json(
        d,
        "p.db",
        &["message", "send", "Die Übung hat mir gut getan"],
    );
    assert!(m["safety_action"].is_null(), "{m}");
    // Risk language in German: resources at once, worded about the words.
    let m = store_json(
        d,
        "p.db",
        &["message", "send", "Ich will einfach nicht mehr leben"],
    );
    let sa = &m["safety_action"];
    assert!(!sa["resources"].as_array().unwrap().is_empty(), "{m}");
    let msg = sa["message"].as_str().unwrap();
    assert!(msg.contains("Manche Worte"), "{msg}");
    assert_eq!(sa["concerns"][0]["concern"], "possible_risk_language");
    // An alliance comment in English.
    let started = store_json(d, "p.db", &["checkin", "start", "--instrument", "alliance"]);
    let id = started["checkin_id"].as_str().unwrap().to_string();
    let answers = r#"{"goals_1":5,"goals_2":5,"goals_3":5,"tasks_1":5,"tasks_2":5,"tasks_3":5,"bond_1":5,"bond_2":5,"comment":"sometimes I think everyone would be better off without me"}"#;
    store_json(d, "p.db", &["checkin", "answer", &id, "--answers", answers]);
    let s = store_json(d, "p.db", &["checkin", "submit", &id]);
    assert_eq!(
        s["safety_action"]["concerns"][0]["concern"], "possible_risk_language",
        "{s}"
    );

    sync(d, "p.db");
    sync(d, "t.db");
    let inbox = store_json(d, "t.db", &["therapist", "inbox"]);
    let phrases: Vec<String> = inbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "safety_alert")
        .map(|i| {
            i["body"]["alert"]["phrase"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(phrases.len(), 2, "{inbox}");
    assert!(phrases.iter().all(|p| !p.is_empty()), "{phrases:?}");
    // The alert names the list entry, never the patient's sentence.
    for i in inbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "safety_alert")
    {
        let a = i["body"]["alert"].to_string();
        assert!(!a.contains("einfach nicht mehr leben"), "{a}");
        assert!(!a.contains("everyone would be"), "{a}");
    }
    // The therapist's own words are not screened.
    let t = store_json(
        d,
        "t.db",
        &[
            "message",
            "send",
            "--channel",
            &cid,
            "Did you mean you want to die?",
        ],
    );
    assert!(t["safety_action"].is_null(), "{t}");
}
