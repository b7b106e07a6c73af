//! Black-box test of the sync commands (issue 5 §7) through the real binary
//! and a real `collabzium relay serve` process: invite (with QR), join,
//! check-in, message, sync, inbox, status, unpair.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::Value;

mod support;

use support::{cmd, ok_json, run};

#[test]
fn pair_checkin_message_sync_inbox_and_unpair_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = format!("sqlite:{}", d.join("relay.sqlite3").display());
    let relay = collabzium_e2e::RelayProcess::start(&db, "127.0.0.1:0");
    let url = relay.url.clone();
    for (store, name) in [("t.db", "Dr Lee"), ("p.db", "Sam")] {
        ok_json(&run(
            d,
            &[
                "--store",
                store,
                "--json",
                "store",
                "init",
                "--name",
                name,
                "--tz",
                "Europe/Berlin",
            ],
        ));
    }
    // The therapist's invite prints the code at once, then waits.
    let mut invite = cmd(d)
        .args([
            "--store",
            "t.db",
            "--json",
            "therapist",
            "invite",
            "--relay",
            &url,
        ])
        .args(["--label", "Sam K", "--qr", "qr.png", "--wait", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(invite.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let code = first["code"].as_str().unwrap().to_string();
    assert!(first["qr"]
        .as_str()
        .unwrap()
        .starts_with("collabzium://pair?v=1&relay="));
    let png = std::fs::read(d.join("qr.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The image is the core's QR matrix: the core's own reader gets the payload back.
    let mut reader = png::Decoder::new(std::io::Cursor::new(&png))
        .read_info()
        .unwrap();
    let mut luma = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut luma).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    let scanned = collabzium_core::sync::qr::decode_qr_luma(
        frame.width,
        frame.height,
        &luma[..frame.buffer_size()],
    )
    .unwrap();
    assert_eq!(scanned, first["qr"].as_str().unwrap());

    // A typo in the check character fails locally with a stable code.
    let mut typo = code.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == '0' { '1' } else { '0' });
    let o = run(
        d,
        &[
            "--store", "p.db", "--json", "patient", "join", "--relay", &url, "--code", &typo,
        ],
    );
    assert!(!o.status.success());
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["error"]["code"], "invalid_code");

    let joined = ok_json(&run(
        d,
        &[
            "--store", "p.db", "--json", "patient", "join", "--relay", &url, "--code", &code,
        ],
    ));
    assert_eq!(joined["status"], "active");
    let paired: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(invite.wait().unwrap().success());
    assert_eq!(paired["paired"], true);
    let cid = paired["channel"].as_str().unwrap().to_string();
    assert_eq!(paired["safety_number"], joined["safety_number"]);

    // A PHQ-9 check-in and a message from the patient.
    let started = ok_json(&run(
        d,
        &[
            "--store",
            "p.db",
            "--json",
            "checkin",
            "start",
            "--instrument",
            "phq9",
        ],
    ));
    let id = started["checkin_id"].as_str().unwrap().to_string();
    let answers = r#"{"phq9_1":1,"phq9_2":2,"phq9_3":1,"phq9_4":1,"phq9_5":0,"phq9_6":1,"phq9_7":0,"phq9_8":0,"phq9_9":0}"#;
    ok_json(&run(
        d,
        &[
            "--store",
            "p.db",
            "--json",
            "checkin",
            "answer",
            &id,
            "--answers",
            answers,
        ],
    ));
    ok_json(&run(
        d,
        &["--store", "p.db", "--json", "checkin", "submit", &id],
    ));
    ok_json(&run(
        d,
        &[
            "--store",
            "p.db",
            "--json",
            "message",
            "send",
            "The week went better",
        ],
    ));
    let s = ok_json(&run(d, &["--store", "p.db", "--json", "sync"]));
    assert_eq!(s["sent"], 2, "{s}");
    assert_eq!(s["received"], 0);
    let s = ok_json(&run(d, &["--store", "t.db", "--json", "sync"]));
    assert_eq!(s["received"], 2, "{s}");

    let inbox = ok_json(&run(
        d,
        &["--store", "t.db", "--json", "therapist", "inbox"],
    ));
    let items = inbox.as_array().unwrap();
    let checkin = items.iter().find(|i| i["kind"] == "checkin").unwrap();
    assert_eq!(checkin["patient"], "Sam K");
    assert_eq!(checkin["body"]["checkin"]["instrument"], "phq9");
    assert_eq!(
        checkin["body"]["checkin"]["score"]["total"].as_f64(),
        Some(6.0)
    );

    ok_json(&run(
        d,
        &[
            "--store",
            "t.db",
            "--json",
            "message",
            "send",
            "--channel",
            &cid,
            "Good to hear",
        ],
    ));
    ok_json(&run(d, &["--store", "t.db", "--json", "sync"]));
    ok_json(&run(d, &["--store", "p.db", "--json", "sync"]));
    let thread = ok_json(&run(d, &["--store", "p.db", "--json", "message", "list"]));
    let texts: Vec<&str> = thread
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["The week went better", "Good to hear"]);
    let status = ok_json(&run(d, &["--store", "p.db", "--json", "patient", "status"]));
    let ck = status["outbound"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "checkin")
        .unwrap();
    assert_eq!(ck["delivery"], "delivered", "{status}");

    // Unpair from the patient side; the therapist learns at its next sync.
    let v = ok_json(&run(d, &["--store", "p.db", "--json", "unpair"]));
    assert_eq!(v["status"], "revoked");
    let s = ok_json(&run(d, &["--store", "t.db", "--json", "sync"]));
    assert_eq!(s["channels_revoked"], 1, "{s}");
    let chans = ok_json(&run(d, &["--store", "t.db", "--json", "channels"]));
    assert_eq!(chans[0]["status"], "revoked");
    drop(relay);
}
