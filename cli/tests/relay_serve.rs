//! `collabzium relay serve` start-up checks: secrets stay out of --help,
//! out-of-range durations fail before anything starts, documented flags exist.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::process::Command;
use std::time::Duration;

fn relay_serve(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_collabzium"));
    c.args(["relay", "serve"]).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run collabzium")
}

#[test]
fn help_does_not_print_the_database_password_from_the_environment() {
    let out = relay_serve(
        &["--help"],
        &[(
            "COLLABZIUM_RELAY_DATABASE",
            "postgres://relay:Sup3rSecretPw@db.example/relay",
        )],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("COLLABZIUM_RELAY_DATABASE"), "{text}");
    assert!(
        !text.contains("Sup3rSecretPw"),
        "password in --help:\n{text}"
    );
}

#[test]
fn out_of_range_durations_fail_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("r.sqlite3").display());
    for (flag, value, says) in [
        (
            "--retention",
            "0s",
            "retention must be between 1h and 365d, not 0s",
        ),
        (
            "--retention",
            "106751991000d",
            "retention must be between 1h and 365d",
        ),
        (
            "--tombstone-retention",
            "0s",
            "tombstone_retention must be between",
        ),
        ("--idle-timeout", "0s", "idle_timeout must be between"),
        (
            "--header-timeout",
            "1d",
            "header_read_timeout must be between",
        ),
    ] {
        let out = relay_serve(
            &["--database", &db, "--listen", "127.0.0.1:0", flag, value],
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} {value} started");
        assert!(err.contains(says), "{flag} {value}: {err}");
        assert!(out.stdout.is_empty(), "{flag} {value} bound before failing");
    }
}

#[test]
fn documented_tombstone_retention_and_metrics_listen_flags_work() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("r.sqlite3").display());
    // Reserve a free port for the metrics listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_collabzium"))
        .args([
            "relay",
            "serve",
            "--database",
            &db,
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--tombstone-retention", "30d", "--metrics-listen", &metrics])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let get = |addr: &str, path: &str| -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let v: serde_json::Value = serde_json::from_str(&first).expect("listening line");
    let main = v["listening"].as_str().unwrap().to_owned();
    let on_main = get(&main, "/metrics");
    let on_metrics = get(&metrics, "/metrics");
    let _ = child.kill();
    let _ = child.wait();
    assert!(on_main.starts_with("HTTP/1.1 404"), "{on_main}");
    assert!(on_metrics.starts_with("HTTP/1.1 200"), "{on_metrics}");
    assert!(on_metrics.contains("relay_http_requests"), "{on_metrics}");
}
