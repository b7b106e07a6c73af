//! One relay suite, run against both backends (ADR 0006 §10): real HTTP to a
//! real server on 127.0.0.1:0 where the wire matters, the store directly
//! where the clock must be injected.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

mod common;

use collabzium_relay::store::{
    PairingState, PushStatus, StoreError, StoreLimits, DAY_MS, PAIRING_TTL_MS,
};
use collabzium_relay::{spawn_background, RelayConfig};
use common::*;
use serde_json::{json, Value};

both_backends!(
    push_fetch_ack_round_trip,
    duplicate_and_replaced,
    push_rules_reject_the_whole_request,
    fetch_pages_by_limit,
    expiry_with_injected_clock,
    pairing_lifecycle,
    pairing_expiry_and_limits,
    one_channel_per_pair,
    revocation_deletes_both_directions_and_keeps_tombstone,
    device_revocation,
    body_limit_rate_limit_and_quota,
    stale_and_replayed_signatures,
    two_instances_share_one_database,
    service_endpoints,
);

async fn push_fetch_ack_round_trip(db: TestDb) {
    let relay = db.spawn();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;

    let envs: Vec<Vec<u8>> = (1..=3).map(|s| envelope(&cid, 1, s, 40, s as u8)).collect();
    let r = t.push(&cid, &envs).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["results"],
        json!([{"seq":1,"status":"stored"},{"seq":2,"status":"stored"},{"seq":3,"status":"stored"}])
    );
    let back = p.envelopes_of(&cid, 0).await;
    assert_eq!(
        back,
        envs.iter()
            .enumerate()
            .map(|(i, e)| (i as u64 + 1, e.clone()))
            .collect::<Vec<_>>()
    );
    // The sender does not get its own direction back.
    assert!(t.envelopes_of(&cid, 0).await.is_empty());

    let ch = p.channels().await;
    assert_eq!(ch["channels"][0]["role"], "patient");
    assert_eq!(ch["channels"][0]["state"], "active");
    assert_eq!(ch["channels"][0]["pending_for_me"], 3);
    assert_eq!(t.channels().await["channels"][0]["pending_from_me"], 3);

    // The patient pushes the other way; the therapist receives it.
    let pe = envelope(&cid, 2, 1, 64, 9);
    assert_eq!(p.push(&cid, std::slice::from_ref(&pe)).await.status, 200);
    assert_eq!(t.envelopes_of(&cid, 0).await, vec![(1, pe)]);

    // A sender cannot ack (delete) what it sent: acks address the caller.
    assert_eq!(t.ack(&cid, 10, &[]).await.json()["deleted"], 1);
    assert_eq!(p.envelopes_of(&cid, 0).await.len(), 3);
    let r = p.ack(&cid, 1, &[3]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["deleted"], 2);
    assert_eq!(
        p.envelopes_of(&cid, 0)
            .await
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(p.ack(&cid, 2, &[]).await.json()["deleted"], 1);
    assert_eq!(db.store().await.counts().await.unwrap().envelopes, 0);
}

async fn duplicate_and_replaced(db: TestDb) {
    let relay = db.spawn();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    let a = envelope(&cid, 1, 7, 40, 1);
    let b = envelope(&cid, 1, 7, 40, 2);
    assert_eq!(
        t.push(&cid, std::slice::from_ref(&a)).await.json()["results"][0]["status"],
        "stored"
    );
    assert_eq!(
        t.push(&cid, std::slice::from_ref(&a)).await.json()["results"][0]["status"],
        "duplicate"
    );
    assert_eq!(p.envelopes_of(&cid, 0).await, vec![(7, a.clone())]);
    assert_eq!(
        t.push(&cid, std::slice::from_ref(&b)).await.json()["results"][0]["status"],
        "replaced"
    );
    assert_eq!(p.envelopes_of(&cid, 0).await, vec![(7, b)]);
    assert_eq!(db.store().await.counts().await.unwrap().envelopes, 1);
}

async fn push_rules_reject_the_whole_request(db: TestDb) {
    let relay = db.spawn();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    let good = envelope(&cid, 1, 1, 40, 0);
    let mut bad_version = envelope(&cid, 1, 2, 40, 0);
    bad_version[0] = 2;
    let mut short = envelope(&cid, 1, 3, 16, 0);
    short.truncate(41);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("other channel", envelope(&rand_bytes(), 1, 2, 40, 0)),
        ("wrong direction", envelope(&cid, 2, 2, 40, 0)),
        ("seq 0", envelope(&cid, 1, 0, 40, 0)),
        ("seq above 2^53", envelope(&cid, 1, (1 << 53) + 1, 40, 0)),
        ("version", bad_version),
        ("short", short),
        ("too long", envelope(&cid, 1, 2, 256 * 1024, 0)),
    ];
    for (what, bad) in cases {
        let r = t.push(&cid, &[good.clone(), bad]).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert_eq!(r.code(), "malformed");
    }
    // The largest seq is fine; so is an envelope of exactly 256 KiB.
    let max = envelope(&cid, 1, 1 << 53, 40, 0);
    let big = envelope(&cid, 1, 5, 256 * 1024 - 26, 0);
    let r = t.push(&cid, &[max, big]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(db.store().await.counts().await.unwrap().envelopes, 2);
    // Not JSON, not base64, too many, none.
    let path = format!("/v1/channels/{}/envelopes", b64(&cid));
    for body in [
        json!("x"),
        json!({"envelopes": ["***"]}),
        json!({"envelopes": vec![b64(&good); 101]}),
        json!({"envelopes": []}),
    ] {
        assert_eq!(t.call("POST", &path, "", body).await.status, 400);
    }
}

async fn fetch_pages_by_limit(db: TestDb) {
    let relay = db.spawn();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    let envs: Vec<Vec<u8>> = (1..=7).map(|s| envelope(&cid, 1, s, 40, 0)).collect();
    t.push(&cid, &envs).await;
    let r = p.fetch(&cid, 3, 2).await.json();
    assert_eq!(r["more"], true);
    assert_eq!(
        r["envelopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![3, 4]
    );
    let r = p.fetch(&cid, 6, 2).await.json();
    assert_eq!(r["more"], false);
    assert_eq!(r["envelopes"].as_array().unwrap().len(), 2);
    let path = format!("/v1/channels/{}/envelopes", b64(&cid));
    assert_eq!(
        p.call("GET", &path, "from_seq=x", Value::Null).await.status,
        400
    );
    assert_eq!(
        p.call("GET", &path, "", Value::Null).await.json()["envelopes"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
}

async fn expiry_with_injected_clock(db: TestDb) {
    let store = db
        .store_with(StoreLimits {
            retention_ms: DAY_MS,
            ..StoreLimits::default()
        })
        .await;
    let t = Device::new("unused");
    let p = Device::new("unused");
    let t0 = now_ms();
    let np = store
        .create_pairing(t.auth(), b"a".to_vec(), t0)
        .await
        .unwrap()
        .nameplate;
    store
        .join_pairing(p.auth(), np, b"j".to_vec(), t0)
        .await
        .unwrap();
    let cid: [u8; 16] = rand_bytes();
    store
        .finish_pairing(t.auth(), np, cid, b"f".to_vec(), t0)
        .await
        .unwrap();

    let env = |s| envelope(&cid, 1, s, 40, 0);
    store
        .push(t.auth(), cid, vec![env(1), env(2)], t0)
        .await
        .unwrap();
    // Re-pushing seq 2 a day later resets its expiry.
    let r = store
        .push(t.auth(), cid, vec![env(2)], t0 + DAY_MS / 2)
        .await
        .unwrap();
    assert_eq!(r, vec![(2, PushStatus::Duplicate)]);
    // Expired but not yet swept: already invisible.
    let f = store
        .fetch(p.auth(), cid, 0, 100, 1 << 20, t0 + DAY_MS + 1)
        .await
        .unwrap();
    assert_eq!(f.envelopes.iter().map(|e| e.0).collect::<Vec<_>>(), vec![2]);
    let s = store.sweep(t0 + DAY_MS + 1).await.unwrap();
    assert_eq!(s.envelopes, 1);
    assert_eq!(s.queued, 1);
    assert!(s.nonces > 0, "nonces expire too");
    assert_eq!(store.counts().await.unwrap().envelopes, 1);
    let s = store.sweep(t0 + 2 * DAY_MS).await.unwrap();
    assert_eq!(s.envelopes, 1);
    let c = store.counts().await.unwrap();
    assert_eq!((c.envelopes, c.nonces, c.pairings), (0, 0, 1));
    // The finished pairing goes after its 7 days.
    assert_eq!(store.sweep(t0 + 8 * DAY_MS).await.unwrap().pairings, 1);
}

async fn pairing_lifecycle(db: TestDb) {
    let relay = db.spawn();
    let base = relay.url();
    let (t, p, x) = (Device::new(&base), Device::new(&base), Device::new(&base));
    let r = t
        .call("POST", "/v1/pairings", "", json!({"msg_a": b64(b"A")}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let np = r.json()["nameplate"].as_str().unwrap().to_owned();
    assert!((4..=5).contains(&np.len()) && np.bytes().all(|b| b.is_ascii_digit()));
    let exp = r.json()["expires_at"].as_i64().unwrap();
    assert!((exp - now_ms() - PAIRING_TTL_MS).abs() < 60_000);
    let pp = format!("/v1/pairings/{np}");

    let v = p.call("GET", &pp, "", Value::Null).await.json();
    assert_eq!(
        v,
        json!({"state": "open", "msg_a": b64(b"A"), "expires_at": exp})
    );
    // The creator cannot join its own pairing; finish before join conflicts.
    let join = json!({"join": b64(b"JOIN")});
    assert_eq!(
        t.call("POST", &format!("{pp}/join"), "", join.clone())
            .await
            .code(),
        "forbidden"
    );
    let fin = |cid: &[u8; 16]| json!({"channel_id": b64(cid), "finish": b64(b"FIN")});
    let cid: [u8; 16] = rand_bytes();
    assert_eq!(
        t.call("POST", &format!("{pp}/finish"), "", fin(&cid))
            .await
            .status,
        409
    );
    // Oversized box.
    let huge = json!({"join": b64(&[0u8; 2049])});
    assert_eq!(
        p.call("POST", &format!("{pp}/join"), "", huge).await.status,
        400
    );

    let r = p
        .call("POST", &format!("{pp}/join"), "", join.clone())
        .await;
    assert_eq!((r.status, r.json()), (200, json!({"state": "joined"})));
    // Single join.
    assert_eq!(
        x.call("POST", &format!("{pp}/join"), "", join.clone())
            .await
            .status,
        409
    );
    assert_eq!(
        p.call("POST", &format!("{pp}/join"), "", join.clone())
            .await
            .status,
        409
    );
    // Only the creator sees the join message; third parties see no boxes.
    let v = t.call("GET", &pp, "", Value::Null).await.json();
    assert_eq!(v["state"], "joined");
    assert_eq!(v["join"], b64(b"JOIN"));
    for d in [&p, &x] {
        let v = d.call("GET", &pp, "", Value::Null).await.json();
        assert!(v.get("join").is_none() && v.get("finish").is_none(), "{v}");
    }
    // Creator-only finish.
    assert_eq!(
        p.call("POST", &format!("{pp}/finish"), "", fin(&cid))
            .await
            .code(),
        "forbidden"
    );
    assert_eq!(
        x.call("POST", &format!("{pp}/finish"), "", fin(&cid))
            .await
            .code(),
        "forbidden"
    );
    let bad_cid = json!({"channel_id": b64(&[1u8; 15]), "finish": b64(b"FIN")});
    assert_eq!(
        t.call("POST", &format!("{pp}/finish"), "", bad_cid)
            .await
            .status,
        400
    );
    let r = t.call("POST", &format!("{pp}/finish"), "", fin(&cid)).await;
    assert_eq!(
        (r.status, r.json()),
        (201, json!({"channel_id": b64(&cid)}))
    );
    assert_eq!(
        t.call("POST", &format!("{pp}/finish"), "", fin(&cid))
            .await
            .status,
        409
    );

    // Only the joiner gets the finish.
    let v = x.call("GET", &pp, "", Value::Null).await.json();
    assert_eq!(v["state"], "finished");
    assert!(v.get("finish").is_none() && v.get("channel_id").is_none());
    assert!(t
        .call("GET", &pp, "", Value::Null)
        .await
        .json()
        .get("finish")
        .is_none());
    let v = p.call("GET", &pp, "", Value::Null).await.json();
    assert_eq!(
        (v["channel_id"].clone(), v["finish"].clone()),
        (json!(b64(&cid)), json!(b64(b"FIN")))
    );
    // Once read, the row only lives for a short grace period.
    assert!(v["expires_at"].as_i64().unwrap() <= now_ms() + 11 * 60_000);
    assert_eq!(t.channels().await["channels"][0]["role"], "therapist");
    assert_eq!(p.channels().await["channels"][0]["id"], b64(&cid));
    // A finished pairing cannot be burned.
    assert_eq!(t.call("DELETE", &pp, "", Value::Null).await.status, 409);

    // Burn: third parties cannot, creator and joiner can.
    let r = t
        .call("POST", "/v1/pairings", "", json!({"msg_a": b64(b"A2")}))
        .await;
    let pp2 = format!("/v1/pairings/{}", r.json()["nameplate"].as_str().unwrap());
    assert_eq!(
        x.call("DELETE", &pp2, "", Value::Null).await.code(),
        "forbidden"
    );
    assert_eq!(
        p.call("POST", &format!("{pp2}/join"), "", join.clone())
            .await
            .status,
        200
    );
    let r = p.call("DELETE", &pp2, "", Value::Null).await;
    assert_eq!((r.status, r.json()), (200, json!({"state": "aborted"})));
    let v = t.call("GET", &pp2, "", Value::Null).await.json();
    assert_eq!(v["state"], "aborted");
    assert!(v.get("join").is_none(), "a burned pairing drops its boxes");
    assert_eq!(
        t.call("POST", &format!("{pp2}/finish"), "", fin(&rand_bytes()))
            .await
            .status,
        409
    );
    // Unknown or impossible nameplates are 404.
    for np in ["0000", "123", "abcd", "999999"] {
        assert_eq!(
            t.call("GET", &format!("/v1/pairings/{np}"), "", Value::Null)
                .await
                .status,
            404,
            "{np}"
        );
    }
}

async fn pairing_expiry_and_limits(db: TestDb) {
    let store = db.store().await;
    let t = Device::new("unused");
    let p = Device::new("unused");
    let t0 = now_ms();
    let np = store
        .create_pairing(t.auth(), b"a".to_vec(), t0)
        .await
        .unwrap()
        .nameplate;
    assert_eq!(
        store
            .get_pairing(p.auth(), np, t0 + PAIRING_TTL_MS - 1)
            .await
            .unwrap()
            .state,
        PairingState::Open
    );
    assert_eq!(
        store.get_pairing(p.auth(), np, t0 + PAIRING_TTL_MS).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .join_pairing(p.auth(), np, b"j".to_vec(), t0 + PAIRING_TTL_MS)
            .await,
        Err(StoreError::NotFound)
    );
    // Kept for the hourly count, then swept.
    assert_eq!(
        store.sweep(t0 + PAIRING_TTL_MS + 1).await.unwrap().pairings,
        0
    );
    assert_eq!(store.sweep(t0 + 3_600_001).await.unwrap().pairings, 1);

    // At most 5 open pairings per device.
    let t1 = t0 + 2 * 3_600_000;
    for _ in 0..5 {
        store
            .create_pairing(t.auth(), b"a".to_vec(), t1)
            .await
            .unwrap();
    }
    assert!(matches!(
        store.create_pairing(t.auth(), b"a".to_vec(), t1).await,
        Err(StoreError::Limited { .. })
    ));
    // At most 30 creations per hour, even when burned right away.
    let t1 = t1 + PAIRING_TTL_MS;
    for i in 5..30 {
        let np = store
            .create_pairing(t.auth(), b"a".to_vec(), t1 + i)
            .await
            .unwrap()
            .nameplate;
        store.delete_pairing(t.auth(), np, t1 + i).await.unwrap();
    }
    assert!(matches!(
        store.create_pairing(t.auth(), b"a".to_vec(), t1 + 30).await,
        Err(StoreError::Limited { .. })
    ));
    let later = t1 - PAIRING_TTL_MS + 3_600_001;
    store
        .create_pairing(t.auth(), b"a".to_vec(), later)
        .await
        .expect("the first five left the window");
    // Joins: 10 per hour per device.
    let t2 = t1 + 10 * 3_600_000;
    let mut last = Ok(());
    for i in 0..11 {
        let creator = Device::new("unused");
        let np = store
            .create_pairing(creator.auth(), b"a".to_vec(), t2 + i)
            .await
            .unwrap()
            .nameplate;
        last = store
            .join_pairing(p.auth(), np, b"j".to_vec(), t2 + i)
            .await;
        if i < 10 {
            assert_eq!(last, Ok(()));
        }
    }
    assert!(matches!(last, Err(StoreError::Limited { .. })));
}

async fn one_channel_per_pair(db: TestDb) {
    let relay = db.spawn();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    let r = t
        .call("POST", "/v1/pairings", "", json!({"msg_a": b64(b"A")}))
        .await;
    let np = r.json()["nameplate"].as_str().unwrap().to_owned();
    p.call(
        "POST",
        &format!("/v1/pairings/{np}/join"),
        "",
        json!({"join": b64(b"J")}),
    )
    .await;
    let finish = |c: &[u8; 16]| json!({"channel_id": b64(c), "finish": b64(b"F")});
    let r = t
        .call(
            "POST",
            &format!("/v1/pairings/{np}/finish"),
            "",
            finish(&rand_bytes()),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "conflict"));
    // Reusing an existing channel id is a conflict too, even for new devices.
    let (t2, p2) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let r = t2
        .call("POST", "/v1/pairings", "", json!({"msg_a": b64(b"A")}))
        .await;
    let np2 = r.json()["nameplate"].as_str().unwrap().to_owned();
    p2.call(
        "POST",
        &format!("/v1/pairings/{np2}/join"),
        "",
        json!({"join": b64(b"J")}),
    )
    .await;
    assert_eq!(
        t2.call(
            "POST",
            &format!("/v1/pairings/{np2}/finish"),
            "",
            finish(&cid)
        )
        .await
        .status,
        409
    );
    // After revocation the pair may pair again.
    assert_eq!(t.revoke(&cid).await.status, 200);
    let again = pair(&t, &p).await;
    assert_ne!(again, cid);
    assert_eq!(db.store().await.counts().await.unwrap().channels, 2);
}

async fn revocation_deletes_both_directions_and_keeps_tombstone(db: TestDb) {
    let relay = db.spawn();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    t.push(
        &cid,
        &[envelope(&cid, 1, 1, 40, 0), envelope(&cid, 1, 2, 40, 0)],
    )
    .await;
    p.push(&cid, &[envelope(&cid, 2, 1, 40, 0)]).await;
    let store = db.store().await;
    assert_eq!(store.counts().await.unwrap().envelopes, 3);

    // A statement by the wrong key, or over another time, is refused.
    let revoked_at = now_ms();
    let path = format!("/v1/channels/{}", b64(&cid));
    let mut forged = p.revoke_body(&cid, revoked_at);
    forged["statement"] = t.revoke_body(&cid, revoked_at)["statement"].clone();
    assert_eq!(p.call("DELETE", &path, "", forged).await.status, 400);
    let mut shifted = p.revoke_body(&cid, revoked_at);
    shifted["revoked_at"] = json!(revoked_at + 1);
    assert_eq!(p.call("DELETE", &path, "", shifted).await.status, 400);
    assert_eq!(store.counts().await.unwrap().envelopes, 3);

    let body = p.revoke_body(&cid, revoked_at);
    let r = p.call("DELETE", &path, "", body.clone()).await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"revoked_at": revoked_at}))
    );
    assert_eq!(
        store.counts().await.unwrap().envelopes,
        0,
        "both directions deleted"
    );
    // Idempotent, for either member.
    assert_eq!(
        p.call("DELETE", &path, "", body.clone()).await.json(),
        json!({"revoked_at": revoked_at})
    );
    assert_eq!(
        t.revoke(&cid).await.json(),
        json!({"revoked_at": revoked_at})
    );

    // The peer learns of it with the statement it can verify.
    let expect_tomb =
        json!({"revoked_at": revoked_at, "statement": body["statement"], "by": b64(&p.id())});
    for r in [
        t.fetch(&cid, 0, 10).await,
        t.push(&cid, &[envelope(&cid, 1, 3, 40, 0)]).await,
        t.ack(&cid, 5, &[]).await,
    ] {
        assert_eq!((r.status, r.code().as_str()), (403, "channel_revoked"));
        assert_eq!(r.json()["revocation"], expect_tomb);
    }
    let ch = t.channels().await;
    assert_eq!(ch["channels"][0]["state"], "revoked");
    assert_eq!(ch["channels"][0]["revocation"], expect_tomb);
    assert_eq!(store.counts().await.unwrap().envelopes, 0);
    // Tombstones go after their retention.
    assert_eq!(
        store
            .sweep(revoked_at + 401 * DAY_MS)
            .await
            .unwrap()
            .tombstones,
        1
    );
    assert_eq!(t.channels().await["channels"], json!([]));
}

async fn device_revocation(db: TestDb) {
    let relay = db.spawn();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    let r = t.call("DELETE", "/v1/devices/self", "", Value::Null).await;
    assert_eq!((r.status, r.code().as_str()), (409, "conflict"));
    t.revoke(&cid).await;
    let r = t.call("DELETE", "/v1/devices/self", "", Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text());
    for r in [
        t.call("GET", "/v1/channels", "", Value::Null).await,
        t.call("POST", "/v1/pairings", "", json!({"msg_a": b64(b"A")}))
            .await,
        t.fetch(&cid, 0, 1).await,
        t.call("DELETE", "/v1/devices/self", "", Value::Null).await,
    ] {
        assert_eq!((r.status, r.code().as_str()), (401, "device_revoked"));
    }
    // The peer is unaffected.
    assert_eq!(p.channels().await["channels"][0]["state"], "revoked");
}

async fn body_limit_rate_limit_and_quota(db: TestDb) {
    let relay = spawn_background(RelayConfig {
        max_body: 64 * 1024,
        channel_quota: 3,
        rate_limit_per_s: 1,
        rate_burst: 1000,
        ..db.config()
    })
    .unwrap();
    let (t, p) = (Device::new(&relay.url()), Device::new(&relay.url()));
    let cid = pair(&t, &p).await;
    // 413: over max_body on a push, over 16 KiB elsewhere.
    let r = t.push(&cid, &[envelope(&cid, 1, 1, 70 * 1024, 0)]).await;
    assert_eq!((r.status, r.code().as_str()), (413, "too_large"));
    let r = t
        .call(
            "POST",
            "/v1/pairings",
            "",
            json!({"msg_a": "A".repeat(17 * 1024)}),
        )
        .await;
    assert_eq!(r.status, 413);
    // 507: the fourth queued envelope; nothing of the request is stored.
    let envs: Vec<Vec<u8>> = (1..=3).map(|s| envelope(&cid, 1, s, 40, 0)).collect();
    assert_eq!(t.push(&cid, &envs).await.status, 200);
    let r = t.push(&cid, &[envelope(&cid, 1, 4, 40, 0)]).await;
    assert_eq!((r.status, r.code().as_str()), (507, "quota_exceeded"));
    // The other direction has its own quota; acking frees space.
    assert_eq!(
        p.push(&cid, &[envelope(&cid, 2, 1, 40, 0)]).await.status,
        200
    );
    p.ack(&cid, 1, &[]).await;
    assert_eq!(
        t.push(&cid, &[envelope(&cid, 1, 4, 40, 0)]).await.status,
        200
    );
    drop(relay);

    // 429 with Retry-After once a device's bucket is empty.
    let relay = spawn_background(RelayConfig {
        rate_limit_per_s: 1,
        rate_burst: 3,
        ..db.config()
    })
    .unwrap();
    let d = Device::new(&relay.url());
    let mut codes = vec![];
    for _ in 0..5 {
        let r = d.call("GET", "/v1/channels", "", Value::Null).await;
        if r.status == 429 {
            assert!(r.headers.get("retry-after").is_some());
            assert_eq!(r.code(), "rate_limited");
        }
        codes.push(r.status);
    }
    assert_eq!(&codes[..3], &[200, 200, 200]);
    assert_eq!(codes[4], 429);
    // Another device is not affected.
    assert_eq!(
        Device::new(&relay.url())
            .call("GET", "/v1/channels", "", Value::Null)
            .await
            .status,
        200
    );
    // Per-IP pre-auth limit.
    drop(relay);
    let relay = spawn_background(RelayConfig {
        ip_rate_limit_per_s: 1,
        ..db.config()
    })
    .unwrap();
    let mut last = 0;
    for _ in 0..10 {
        last = Device::new(&relay.url())
            .call("GET", "/v1/channels", "", Value::Null)
            .await
            .status;
    }
    assert_eq!(last, 429);
}

async fn stale_and_replayed_signatures(db: TestDb) {
    let relay = db.spawn();
    let d = Device::new(&relay.url());
    let old = sign_at(&d.key, "GET", "/v1/channels", "", b"", now_s() - 301);
    let r = d.send(&old).await;
    assert_eq!((r.status, r.code().as_str()), (401, "stale_signature"));
    let st = r.json()["server_time"].as_i64().expect("server_time");
    assert!((st - now_s()).abs() < 5);
    let future = sign_at(&d.key, "GET", "/v1/channels", "", b"", now_s() + 301);
    assert_eq!(d.send(&future).await.code(), "stale_signature");
    let ok = sign_at(&d.key, "GET", "/v1/channels", "", b"", now_s() - 250);
    assert_eq!(d.send(&ok).await.status, 200);
    // The same request again: replayed, also after a restart.
    assert_eq!(d.send(&ok).await.code(), "replayed");
    let url = relay.url();
    relay.shutdown();
    let relay = db.spawn();
    let _ = url;
    let d2 = d.at(&relay.url());
    assert_eq!(d2.send(&ok).await.code(), "replayed");
    // A replayed mutation changes nothing.
    let t = Device::new(&relay.url());
    let create = t.req("POST", "/v1/pairings", "", &json!({"msg_a": b64(b"A")}));
    assert_eq!(t.send(&create).await.status, 201);
    let digest = db.store().await.state_digest().await.unwrap();
    let r = t.send(&create).await;
    assert_eq!((r.status, r.code().as_str()), (401, "replayed"));
    assert_eq!(db.store().await.state_digest().await.unwrap(), digest);
    assert_eq!(db.store().await.counts().await.unwrap().pairings, 1);
}

async fn two_instances_share_one_database(db: TestDb) {
    let a = db.spawn();
    let b = db.spawn();
    let (t, p) = (Device::new(&a.url()), Device::new(&a.url()));
    let cid = pair(&t, &p).await;
    let env = envelope(&cid, 1, 1, 40, 0);
    t.push(&cid, std::slice::from_ref(&env)).await;
    let pb = p.at(&b.url());
    assert_eq!(pb.envelopes_of(&cid, 0).await, vec![(1, env)]);
    // A request replayed from A to B is refused.
    let req = pb.req(
        "POST",
        &format!("/v1/channels/{}/acks", b64(&cid)),
        "",
        &json!({"through": 1}),
    );
    assert_eq!(p.send(&req).await.json()["deleted"], 1);
    assert_eq!(pb.send(&req).await.code(), "replayed");
    // Revocation through B is seen at A on the next request.
    assert_eq!(pb.revoke(&cid).await.status, 200);
    assert_eq!(t.fetch(&cid, 0, 1).await.code(), "channel_revoked");
}

async fn service_endpoints(db: TestDb) {
    let relay = db.spawn();
    let http = Http::new();
    let base = relay.url();
    let r = http.get(&base, "/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert!(r.json()["version"].is_string());
    assert_eq!(http.get(&base, "/ready").await.status, 200);
    let d = Device::new(&base);
    d.call("GET", "/v1/channels", "", Value::Null).await;
    let m = http.get(&base, "/metrics").await;
    assert_eq!(m.status, 200);
    let text = m.text();
    assert!(text.contains("relay_http_requests_total{"), "{text}");
    assert!(text.contains(r#"route="/v1/channels""#), "{text}");
    assert!(!text.contains(&b64(&d.id())));
    let o = http.get(&base, "/openapi.json").await;
    assert_eq!(o.status, 200);
    assert_eq!(o.json()["openapi"], "3.1.0");
    // Unsigned /v1 calls and unknown routes are problems.
    let r = http.get(&base, "/v1/channels").await;
    assert_eq!((r.status, r.code().as_str()), (401, "missing_signature"));
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert_eq!(http.get(&base, "/v2/nothing").await.code(), "not_found");
}

impl Device {
    /// Everything addressed to this device from `from_seq`, following `more`.
    async fn envelopes_of(&self, cid: &[u8; 16], from_seq: u64) -> Vec<(u64, Vec<u8>)> {
        let mut out = vec![];
        let mut from = from_seq;
        loop {
            let r = self.fetch(cid, from, 500).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let v = r.json();
            for e in v["envelopes"].as_array().unwrap() {
                let seq = e["seq"].as_u64().unwrap();
                out.push((seq, unb64(e["env"].as_str().unwrap())));
                from = seq + 1;
            }
            if v["more"] != true {
                return out;
            }
        }
    }
}
