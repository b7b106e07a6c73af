//! Black-box tests of `collabzium workstation` through the real binary and
//! raw HTTP over TCP (so every header, `Host` included, is ours to choose):
//! the launch token, the session cookie, Host/Origin/Sec-Fetch-Site and CSRF
//! checks, the security headers, the pages, and that nothing new is written
//! next to the store. The journeys in a real browser: tests/browser.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const PASS: &str = "a long test passphrase";

fn cli(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_collabzium"));
    c.current_dir(dir)
        .env("COLLABZIUM_PASSPHRASE", PASS)
        .env_remove("COLLABZIUM_STORE");
    c
}

struct Workstation {
    child: Child,
    addr: String,
    token: String,
}

impl Drop for Workstation {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Workstation {
    let mut child = cli(dir)
        .args([
            "--store",
            "t.db",
            "--json",
            "workstation",
            "--sync-interval",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&first).expect("first line is JSON");
    assert_eq!(v.as_object().unwrap().len(), 1, "{first}");
    let url = v["url"].as_str().unwrap();
    let rest = url.strip_prefix("http://127.0.0.1:").expect("loopback URL");
    let (port, query) = rest.split_once("/login?token=").expect("login path");
    assert_eq!(query.len(), 64, "a 256-bit token");
    Workstation {
        child,
        addr: format!("127.0.0.1:{port}"),
        token: query.to_string(),
    }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request; `extra` are raw header lines. The Host is the listener's
/// unless `extra` names one.
fn req(ws: &Workstation, method: &str, path: &str, extra: &[String], body: &str) -> Resp {
    let mut s = TcpStream::connect(&ws.addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !extra.iter().any(|h| h.to_lowercase().starts_with("host:")) {
        head.push_str(&format!("Host: {}\r\n", ws.addr));
    }
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    if method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

fn login(ws: &Workstation) -> String {
    let r = req(ws, "GET", &format!("/login?token={}", ws.token), &[], "");
    assert_eq!(r.status, 303);
    let c = r.header("set-cookie").unwrap();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    format!("Cookie: {}", c.split(';').next().unwrap())
}

fn csrf_of(page: &str) -> String {
    let i = page.find(r#"name="csrf" value=""#).expect("a CSRF field");
    page[i + 19..i + 19 + 64].to_string()
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect()
}

fn therapist_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let o = cli(tmp.path())
        .args([
            "--store",
            "t.db",
            "store",
            "init",
            "--name",
            "Dr Test",
            "--tz",
            "Europe/Vienna",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    tmp
}

#[test]
fn refuses_a_non_loopback_address_without_the_flag() {
    let tmp = therapist_dir();
    let o = cli(tmp.path())
        .args([
            "--store",
            "t.db",
            "--json",
            "workstation",
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "invalid_input", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("loopback"));
}

#[test]
fn every_request_needs_the_launch_secret() {
    let tmp = therapist_dir();
    let ws = start(tmp.path());
    for path in [
        "/",
        "/inbox",
        "/settings",
        "/invite",
        "/research",
        "/status",
        "/patient/00",
    ] {
        let r = req(&ws, "GET", path, &[], "");
        assert_eq!(r.status, 401, "{path} without the cookie");
        assert!(r.header("content-security-policy").is_some(), "{path}");
    }
    let wrong = req(&ws, "GET", "/", &["Cookie: cz_ws=00".into()], "");
    assert_eq!(wrong.status, 401);
    let bad = req(&ws, "GET", "/login?token=abc", &[], "");
    assert_eq!(bad.status, 403, "a wrong token");
    let cookie = login(&ws);
    let again = req(&ws, "GET", &format!("/login?token={}", ws.token), &[], "");
    assert_eq!(again.status, 403, "the launch token works once");
    for path in ["/", "/inbox", "/settings", "/invite", "/research"] {
        let r = req(&ws, "GET", path, std::slice::from_ref(&cookie), "");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert!(r.body.contains(r##"href="#main""##), "{path}: a skip link");
    }
    let health = req(&ws, "GET", "/status", std::slice::from_ref(&cookie), "");
    assert_eq!(health.status, 200);
    assert_eq!(health.header("cache-control"), Some("no-store"));
}

#[test]
fn wrong_host_origin_and_cross_site_posts_are_refused() {
    let tmp = therapist_dir();
    let before = files(tmp.path());
    let ws = start(tmp.path());
    let cookie = login(&ws);
    let page = req(&ws, "GET", "/settings", std::slice::from_ref(&cookie), "").body;
    let csrf = csrf_of(&page);
    let origin = format!("Origin: http://{}", ws.addr);

    // DNS rebinding: the right socket under another name.
    let r = req(
        &ws,
        "GET",
        "/",
        &[cookie.clone(), "Host: evil.example".into()],
        "",
    );
    assert_eq!(r.status, 421);
    // A cross-site read, even with the cookie.
    let r = req(
        &ws,
        "GET",
        "/",
        &[cookie.clone(), "Sec-Fetch-Site: cross-site".into()],
        "",
    );
    assert_eq!(r.status, 403);
    let form = format!("csrf={csrf}&back=%2F");
    for (headers, why) in [
        (vec![cookie.clone()], "no Origin"),
        (
            vec![cookie.clone(), "Origin: http://evil.example".into()],
            "another Origin",
        ),
        (
            vec![cookie.clone(), "Origin: null".into()],
            "an opaque Origin",
        ),
        (
            vec![
                cookie.clone(),
                origin.clone(),
                "Sec-Fetch-Site: cross-site".into(),
            ],
            "a cross-site fetch",
        ),
    ] {
        let r = req(&ws, "POST", "/sync", &headers, &form);
        assert_eq!(r.status, 403, "{why}");
    }
    let r = req(
        &ws,
        "POST",
        "/sync",
        &[cookie.clone(), origin.clone()],
        "back=%2F",
    );
    assert_eq!(r.status, 403, "no CSRF token");
    let r = req(
        &ws,
        "POST",
        "/sync",
        &[cookie.clone(), origin.clone()],
        "csrf=00&back=%2F",
    );
    assert_eq!(r.status, 403, "a wrong CSRF token");
    let r = req(&ws, "POST", "/sync", std::slice::from_ref(&origin), &form);
    assert_eq!(r.status, 401, "no cookie");
    let r = req(
        &ws,
        "POST",
        "/sync",
        &[cookie.clone(), origin.clone()],
        &form,
    );
    assert_eq!(r.status, 303, "{}", r.body);

    // A real change: the availability hours, read back from the store.
    let settings = format!(
        "csrf={csrf}&tz=Europe%2FVienna&day_mo=1&day_we=1&start=08%3A30&end=12%3A00&reply_within_hours=24&away_from=&away_until="
    );
    let r = req(
        &ws,
        "POST",
        "/settings",
        &[cookie.clone(), origin.clone()],
        &settings,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = req(&ws, "GET", "/settings", std::slice::from_ref(&cookie), "").body;
    assert!(
        page.contains(r#"value="08:30""#) && page.contains(r#"value="24""#),
        "saved"
    );
    assert!(page.contains(r#"name="day_we" value="1" checked"#));
    assert!(!page.contains(r#"name="day_tu" value="1" checked"#));
    drop(ws);
    // Nothing decrypted beside the store: only the store's own files.
    let after = files(tmp.path());
    let new: Vec<_> = after
        .difference(&before)
        .filter(|f| !f.starts_with("t.db"))
        .collect();
    assert!(new.is_empty(), "new files: {new:?}");
}
