//! Authorization matrix (ADR 0006 §10): well over 100 attempts by third
//! parties and forgers against every state-bearing endpoint, on both
//! backends. Each must be refused with 401/403 and its code's fixed body,
//! leak no stored envelope or pairing box, and leave the relay's state
//! unchanged; the legitimate pair still syncs afterwards.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

mod common;

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use collabzium_protocol::signing::{self, CONTENT_DIGEST, SIGNATURE, SIGNATURE_INPUT};
use collabzium_protocol::DeviceKey;
use common::*;
use serde_json::{json, Value};

both_backends!(authorization_matrix);

/// One target: what a victim's legitimate request looks like.
#[derive(Clone)]
struct Target {
    name: &'static str,
    method: &'static str,
    path: String,
    query: String,
    body: Value,
}

impl Target {
    fn body_bytes(&self) -> Vec<u8> {
        if self.body.is_null() {
            vec![]
        } else {
            serde_json::to_vec(&self.body).unwrap()
        }
    }
}

fn header_mut<'a>(r: &'a mut Req, name: &str) -> &'a mut String {
    &mut r.headers.iter_mut().find(|(k, _)| k == name).unwrap().1
}

fn without(mut r: Req, name: &str) -> Req {
    r.headers.retain(|(k, _)| k != name);
    r
}

/// Forgeries in the victim's name; each with the code it must get.
fn forgeries(victim: &DeviceKey, t: &Target) -> Vec<(String, Req, &'static str)> {
    let body = t.body_bytes();
    let sign = |method: &str, path: &str, query: &str, body: &[u8]| {
        common::sign(victim, method, path, query, body)
    };
    let valid = || sign(t.method, &t.path, &t.query, &body);
    let as_target = |mut r: Req| {
        r.method = t.method.into();
        r.path = t.path.clone();
        r.query = t.query.clone();
        r.body = body.clone();
        r
    };
    let mut out = vec![];

    let mut r = valid();
    *header_mut(&mut r, SIGNATURE) = format!("sig1=:{}:", STANDARD.encode(rand_bytes::<64>()));
    out.push(("random signature".into(), r, "bad_signature"));

    let other = DeviceKey::generate();
    let mut r = common::sign(&other, t.method, &t.path, &t.query, &body);
    let input = header_mut(&mut r, SIGNATURE_INPUT);
    *input = input.replace(&b64(&other.public_key()), &b64(&victim.public_key()));
    out.push((
        "another key under the victim's keyid".into(),
        r,
        "bad_signature",
    ));

    out.push((
        "signed for another path".into(),
        as_target(sign(t.method, "/v1/elsewhere", &t.query, &body)),
        "bad_signature",
    ));
    out.push((
        "signed for another query".into(),
        as_target(sign(t.method, &t.path, "from_seq=999", &body)),
        "bad_signature",
    ));
    let other_method = if t.method == "GET" { "DELETE" } else { "GET" };
    out.push((
        "signed for another method".into(),
        as_target(sign(other_method, &t.path, &t.query, &body)),
        "bad_signature",
    ));
    let mut r = valid();
    r.body = br#"{"through":999999}"#.to_vec();
    out.push(("other body, old digest".into(), r, "digest_mismatch"));
    let mut r = valid();
    r.body = br#"{"through":999999}"#.to_vec();
    *header_mut(&mut r, CONTENT_DIGEST) = signing::content_digest(&r.body);
    out.push(("other body, its own digest".into(), r, "bad_signature"));

    let mut r = valid();
    let input = header_mut(&mut r, SIGNATURE_INPUT);
    let created = now_s().to_string();
    let start = input.find(";created=").unwrap() + 9;
    let end = start + input[start..].find(';').unwrap();
    let bumped = (input[start..end].parse::<i64>().unwrap() + 1).to_string();
    let _ = created;
    input.replace_range(start..end, &bumped);
    out.push(("altered created".into(), r, "bad_signature"));

    let mut r = valid();
    let input = header_mut(&mut r, SIGNATURE_INPUT);
    let start = input.find(";nonce=\"").unwrap() + 8;
    input.replace_range(start..start + 22, &b64(&rand_bytes::<16>()));
    out.push(("altered nonce".into(), r, "bad_signature"));

    for h in [CONTENT_DIGEST, SIGNATURE_INPUT, SIGNATURE] {
        out.push((
            format!("missing {h}"),
            without(valid(), h),
            "missing_signature",
        ));
    }
    let mut r = valid();
    let input = header_mut(&mut r, SIGNATURE_INPUT);
    *input = input.replace("alg=\"ed25519\"", "alg=\"hmac-sha256\"");
    out.push(("wrong alg".into(), r, "malformed_signature"));
    let mut r = valid();
    let input = header_mut(&mut r, SIGNATURE_INPUT);
    *input = input.replace(" \"@query\"", "");
    out.push(("fewer components".into(), r, "malformed_signature"));
    out
}

async fn authorization_matrix(db: TestDb) {
    let relay_a = db.spawn();
    let relay_b = db.spawn();
    let base = relay_a.url();
    let store = db.store().await;

    // The victims: therapist T with patient P on channel C, traffic both ways.
    let (t, p) = (Device::new(&base), Device::new(&base));
    let c = pair(&t, &p).await;
    let t2p: Vec<Vec<u8>> = (1..=3)
        .map(|s| envelope(&c, 1, s, 64, 0xA0 + s as u8))
        .collect();
    let p2t: Vec<Vec<u8>> = (1..=2)
        .map(|s| envelope(&c, 2, s, 64, 0xB0 + s as u8))
        .collect();
    assert_eq!(t.push(&c, &t2p).await.status, 200);
    assert_eq!(p.push(&c, &p2t).await.status, 200);
    // Another patient P2 of the same therapist (its own channel C2).
    let p2 = Device::new(&base);
    let c2 = pair(&t, &p2).await;
    // A revoked former member R (channel C3, revoked by R).
    let r = Device::new(&base);
    let c3 = pair(&t, &r).await;
    assert_eq!(r.revoke(&c3).await.status, 200);
    // A device that deleted itself.
    let gone = Device::new(&base);
    assert_eq!(
        gone.call("DELETE", "/v1/devices/self", "", Value::Null)
            .await
            .status,
        200
    );
    // An unpaired device.
    let u = Device::new(&base);
    // A joined, unfinished pairing of T's with joiner J.
    let j = Device::new(&base);
    let resp = t
        .call(
            "POST",
            "/v1/pairings",
            "",
            json!({"msg_a": b64(b"MSG-A-SECRETLESS")}),
        )
        .await;
    let np = resp.json()["nameplate"].as_str().unwrap().to_owned();
    let join_box = b"JOIN-BOX-SHOULD-NOT-LEAK".to_vec();
    assert_eq!(
        j.call(
            "POST",
            &format!("/v1/pairings/{np}/join"),
            "",
            json!({"join": b64(&join_box)})
        )
        .await
        .status,
        200
    );

    // Legitimate requests captured for replay (each sent once, successfully).
    let captured = vec![
        t.req(
            "GET",
            &format!("/v1/channels/{}/envelopes", b64(&c)),
            "from_seq=0&limit=500",
            &Value::Null,
        ),
        p.req(
            "GET",
            &format!("/v1/channels/{}/envelopes", b64(&c)),
            "from_seq=0&limit=500",
            &Value::Null,
        ),
        t.req(
            "POST",
            &format!("/v1/channels/{}/envelopes", b64(&c)),
            "",
            &json!({"envelopes": [b64(&t2p[0])]}),
        ),
        p.req(
            "POST",
            &format!("/v1/channels/{}/acks", b64(&c)),
            "",
            &json!({"through": 0}),
        ),
        t.req("GET", "/v1/channels", "", &Value::Null),
        t.req("GET", &format!("/v1/pairings/{np}"), "", &Value::Null),
    ];
    for req in &captured {
        let resp = t.send(req).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }

    let digest_before = store.state_digest().await.unwrap();
    let secrets: Vec<String> = t2p
        .iter()
        .chain(p2t.iter())
        .map(|e| b64(e))
        .chain([b64(&join_box), b64(b"finish-message")])
        .collect();

    let cid = b64(&c);
    let fake_cid: [u8; 16] = rand_bytes();
    let targets = |cid_s: &str, channel: &[u8; 16]| -> Vec<Target> {
        vec![
            Target {
                name: "fetch",
                method: "GET",
                path: format!("/v1/channels/{cid_s}/envelopes"),
                query: "from_seq=0&limit=500".into(),
                body: Value::Null,
            },
            Target {
                name: "push t2p",
                method: "POST",
                path: format!("/v1/channels/{cid_s}/envelopes"),
                query: String::new(),
                body: json!({"envelopes": [b64(&envelope(channel, 1, 9, 64, 0xEE))]}),
            },
            Target {
                name: "push p2t",
                method: "POST",
                path: format!("/v1/channels/{cid_s}/envelopes"),
                query: String::new(),
                body: json!({"envelopes": [b64(&envelope(channel, 2, 9, 64, 0xEE))]}),
            },
            Target {
                name: "ack",
                method: "POST",
                path: format!("/v1/channels/{cid_s}/acks"),
                query: String::new(),
                body: json!({"through": 1000, "seqs": [1, 2, 3]}),
            },
        ]
    };
    let mut channel_targets = targets(&cid, &c);
    let pairing_targets = [
        Target {
            name: "pairing finish",
            method: "POST",
            path: format!("/v1/pairings/{np}/finish"),
            query: String::new(),
            body: json!({"channel_id": b64(&rand_bytes::<16>()), "finish": b64(b"EVIL")}),
        },
        Target {
            name: "pairing delete",
            method: "DELETE",
            path: format!("/v1/pairings/{np}"),
            query: String::new(),
            body: Value::Null,
        },
    ];

    let mut attempts = 0usize;
    let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut check = |what: String, resp: &Resp, status: u16, code: &str| {
        attempts += 1;
        assert_eq!(
            (resp.status, resp.code().as_str()),
            (status, code),
            "{what}: {}",
            resp.text()
        );
        let text = resp.text();
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{what} leaked stored data");
        }
        if code != "stale_signature" && code != "channel_revoked" {
            let prev = bodies
                .entry(code.to_owned())
                .or_insert_with(|| resp.body.clone());
            assert_eq!(
                prev, &resp.body,
                "{what}: body differs from other {code} refusals"
            );
        }
    };

    // 1. The unknown channel: its 403 is the reference body for a foreign one.
    for tg in targets(&b64(&fake_cid), &fake_cid) {
        let resp = u
            .call(tg.method, &tg.path, &tg.query, tg.body.clone())
            .await;
        check(
            format!("unknown channel {}", tg.name),
            &resp,
            403,
            "forbidden",
        );
    }
    let revoke_by = |d: &Device, ch: &[u8; 16]| Target {
        name: "revoke",
        method: "DELETE",
        path: format!("/v1/channels/{}", b64(ch)),
        query: String::new(),
        body: d.revoke_body(ch, now_ms()),
    };
    let resp = u
        .call(
            "DELETE",
            &format!("/v1/channels/{}", b64(&fake_cid)),
            "",
            u.revoke_body(&fake_cid, now_ms()),
        )
        .await;
    check("unknown channel revoke".into(), &resp, 403, "forbidden");

    // 2. Well-signed strangers: unpaired, another patient, a revoked former member.
    for (who, d) in [
        ("unpaired", &u),
        ("other patient", &p2),
        ("former member", &r),
    ] {
        let mut tgs = channel_targets.clone();
        tgs.push(revoke_by(d, &c));
        tgs.extend(pairing_targets.iter().cloned());
        for tg in tgs {
            let resp = d
                .call(tg.method, &tg.path, &tg.query, tg.body.clone())
                .await;
            check(format!("{who} {}", tg.name), &resp, 403, "forbidden");
        }
        // Reading the pairing shows no boxes to a third party.
        let v = d
            .call("GET", &format!("/v1/pairings/{np}"), "", Value::Null)
            .await;
        assert_eq!(v.status, 200);
        assert!(v.json().get("join").is_none() && !v.text().contains(&b64(&join_box)));
    }
    // The former member on its own revoked channel: the tombstone, nothing else.
    for tg in targets(&b64(&c3), &c3) {
        let resp = r
            .call(tg.method, &tg.path, &tg.query, tg.body.clone())
            .await;
        check(
            format!("former member own {}", tg.name),
            &resp,
            403,
            "channel_revoked",
        );
    }
    // A revoked device, everywhere.
    channel_targets.push(revoke_by(&gone, &c));
    channel_targets.extend(pairing_targets.iter().cloned());
    channel_targets.push(Target {
        name: "pairing read",
        method: "GET",
        path: format!("/v1/pairings/{np}"),
        query: String::new(),
        body: Value::Null,
    });
    channel_targets.push(Target {
        name: "channels",
        method: "GET",
        path: "/v1/channels".into(),
        query: String::new(),
        body: Value::Null,
    });
    for tg in &channel_targets {
        let resp = gone
            .call(tg.method, &tg.path, &tg.query, tg.body.clone())
            .await;
        check(
            format!("revoked device {}", tg.name),
            &resp,
            401,
            "device_revoked",
        );
    }

    // 3. Forgeries in the victim therapist's name, on every target.
    let mut forged_targets = channel_targets.clone();
    forged_targets.retain(|tg| tg.name != "revoke");
    forged_targets.push(revoke_by(&t, &c));
    for tg in &forged_targets {
        for (what, req, code) in forgeries(&t.key, tg) {
            let resp = t.send(&req).await;
            check(format!("forged {} ({what})", tg.name), &resp, 401, code);
        }
    }

    // 4. Replays: to the same process, to another process, and stale.
    for req in &captured {
        let resp = t.send(req).await;
        check(
            format!("replay {} {}", req.method, req.path),
            &resp,
            401,
            "replayed",
        );
        let resp = t.at(&relay_b.url()).send(req).await;
        check(
            format!("replay to B {} {}", req.method, req.path),
            &resp,
            401,
            "replayed",
        );
    }
    for tg in &forged_targets {
        let old = sign_at(
            &t.key,
            tg.method,
            &tg.path,
            &tg.query,
            &tg.body_bytes(),
            now_s() - 400,
        );
        let resp = t.send(&old).await;
        check(format!("stale {}", tg.name), &resp, 401, "stale_signature");
    }
    // ... and after a restart of A.
    drop(relay_a);
    let relay_a2 = db.spawn();
    for req in &captured {
        let resp = t.at(&relay_a2.url()).send(req).await;
        check(
            format!("replay after restart {} {}", req.method, req.path),
            &resp,
            401,
            "replayed",
        );
    }

    eprintln!("{}: {attempts} refused attempts", db.kind);
    assert!(attempts >= 100, "only {attempts} attempts");
    assert_eq!(
        store.state_digest().await.unwrap(),
        digest_before,
        "relay state changed"
    );

    // The legitimate pair still syncs.
    let t = t.at(&relay_a2.url());
    let p = p.at(&relay_a2.url());
    let fresh = envelope(&c, 1, 4, 64, 0x44);
    assert_eq!(
        t.push(&c, std::slice::from_ref(&fresh)).await.json()["results"][0]["status"],
        "stored"
    );
    let got = p.fetch(&c, 4, 10).await.json();
    assert_eq!(got["envelopes"][0]["env"], b64(&fresh));
    assert_eq!(p.ack(&c, 4, &[]).await.json()["deleted"], 4);
    let _ = c2;
}
