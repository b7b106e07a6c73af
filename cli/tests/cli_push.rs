//! `collabzium sync push-register | push-unregister` (issue 16 §1) through
//! the real binary and a real `collabzium relay serve` process with Web
//! Push configured (delivery itself: tests/e2e/tests/push_wake.rs).
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

mod support;

use support::{cmd, run};

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
        panic!(
            "stdout {} stderr {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn register(d: &Path, store: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--store", store, "--json", "sync", "push-register"];
    args.extend_from_slice(extra);
    run(d, &args)
}

fn as_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn push_register_and_unregister_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vapid = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    std::fs::write(d.join("vapid.der"), vapid.as_ref()).unwrap();
    let db = format!("sqlite:{}", d.join("relay.sqlite3").display());
    let relay = collabzium_e2e::RelayProcess::start_with_args(
        &db,
        "127.0.0.1:0",
        &[
            "--push-vapid-key",
            d.join("vapid.der").to_str().unwrap(),
            "--push-vapid-subject",
            "mailto:ops@clinic.test",
            "--push-allow-loopback-http",
        ],
        Arc::new(Mutex::new(Vec::new())),
    );
    let url = relay.url.clone();
    for (store, name) in [("t.db", "Dr Lee"), ("p.db", "Sam")] {
        let o = run(
            d,
            &[
                "--store", store, "--json", "store", "init", "--name", name, "--tz", "UTC",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let key = URL_SAFE_NO_PAD.encode({
        let mut k = [7u8; 65];
        k[0] = 4;
        k
    });
    let auth = URL_SAFE_NO_PAD.encode([9u8; 16]);
    let webpush = |endpoint: &'static str| -> Vec<String> {
        vec![
            "--webpush".into(),
            endpoint.into(),
            "--p256dh".into(),
            key.clone(),
            "--auth".into(),
            auth.clone(),
        ]
    };

    // Before pairing there is no relay to register at.
    let o = register(d, "t.db", &as_refs(&webpush("https://push.example.net/x")));
    assert!(!o.status.success());
    assert_eq!(json_of(&o)["error"]["code"], "not_found");

    // Pair.
    let mut invite = cmd(d)
        .args(["--store", "t.db", "--json", "therapist", "invite"])
        .args(["--relay", &url, "--wait", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(invite.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let code = first["code"].as_str().unwrap().to_string();
    let o = run(
        d,
        &[
            "--store", "p.db", "--json", "patient", "join", "--relay", &url, "--code", &code,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let _ = lines.next();
    assert!(invite.wait().unwrap().success());

    // Arguments: exactly one endpoint; Web Push needs its keys.
    let o = register(d, "t.db", &[]);
    assert_eq!(o.status.code(), Some(2), "clap usage error");
    let o = register(d, "t.db", &["--webpush", "https://push.example.net/x"]);
    assert_eq!(o.status.code(), Some(2), "--p256dh and --auth are required");

    // The relay's typed refusals come back naming the field.
    let o = register(d, "t.db", &as_refs(&webpush("https://10.0.0.1/x")));
    assert!(!o.status.success());
    let e = json_of(&o);
    assert_eq!(e["error"]["code"], "invalid_input");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("push endpoint"),
        "{e}"
    );
    let o = register(d, "t.db", &["--fcm", "abc:DEF"]);
    assert!(!o.status.success());
    assert!(json_of(&o)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("push kind"));

    // Registered, replaced, removed.
    let o = register(d, "t.db", &as_refs(&webpush("https://push.example.net/x")));
    assert_eq!(json_of(&o), serde_json::json!({"relays": 1}));
    let o = run(d, &["--store", "t.db", "--json", "sync", "push-unregister"]);
    assert_eq!(json_of(&o), serde_json::json!({"relays": 1}));
    // Plain `sync` is unchanged.
    let o = run(d, &["--store", "p.db", "--json", "sync"]);
    assert!(o.status.success());
    assert!(json_of(&o).get("sent").is_some());
}

/// A service-account file the relay cannot use stops `relay serve` at
/// startup with a configuration error naming the field, given by flag or by
/// environment.
#[test]
fn relay_serve_refuses_a_bad_fcm_service_account() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sa = d.join("sa.json");
    std::fs::write(
        &sa,
        serde_json::json!({
            "type": "service_account",
            "project_id": "collabzium-sa",
            "client_email": "relay@collabzium-sa.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string(),
    )
    .unwrap();
    let db = format!("sqlite:{}", d.join("relay.sqlite3").display());
    let serve = [
        "relay",
        "serve",
        "--database",
        &db,
        "--listen",
        "127.0.0.1:0",
    ];
    let by_flag = {
        let mut c = cmd(d);
        c.args(serve)
            .args(["--push-fcm-service-account", sa.to_str().unwrap()]);
        c
    };
    let by_env = {
        let mut c = cmd(d);
        c.args(serve)
            .env("COLLABZIUM_RELAY_PUSH_FCM_SERVICE_ACCOUNT", &sa);
        c
    };
    for mut c in [by_flag, by_env] {
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A relay that ignored the file would serve forever: stop it.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("relay serve started with a bad service account");
        }
        let o = child.wait_with_output().unwrap();
        let err =
            String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
        assert!(!o.status.success(), "{err}");
        assert!(err.contains("private_key"), "{err}");
        assert!(!err.contains("BEGIN PRIVATE KEY"), "{err}");
    }
}
