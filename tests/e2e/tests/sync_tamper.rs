//! A misbehaving relay (issue 5 acceptance, "Tampering"): at least 200
//! seeded cases of bit flips in header, ciphertext and tag, truncation,
//! replay, reorder, drop, splicing from another channel, reflection and seq
//! rewriting. Each case must be detected as the class predicts, and after
//! syncing to quiescence the receiver holds exactly the sender's events,
//! each applied once.
//!
//! The relay is real (HTTP, SQLite). Tampering happens where a malicious
//! relay would do it: in the fetch responses it serves (rewritten between
//! relay and client) and, for drops, by deleting rows from its database.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use std::collections::BTreeSet;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use collabzium_core::session;
use collabzium_core::sync::{self, SyncSummary};
use collabzium_core::sync::{HttpRequest, HttpResponse, HttpTransport, TransportError};
use collabzium_e2e::*;
use collabzium_relay::{spawn_background, RelayConfig};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    FlipHeader,
    FlipCiphertext,
    FlipTag,
    Truncate,
    Replay,
    Reorder,
    Drop,
    Splice,
    Reflect,
    SeqRewrite,
}

const CLASSES: [Class; 10] = [
    Class::FlipHeader,
    Class::FlipCiphertext,
    Class::FlipTag,
    Class::Truncate,
    Class::Replay,
    Class::Reorder,
    Class::Drop,
    Class::Splice,
    Class::Reflect,
    Class::SeqRewrite,
];
const CASES_PER_CLASS: u64 = 22;
const EVENTS_PER_CASE: usize = 3;

/// xorshift, so every case is reproducible from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Default)]
struct Seen {
    /// Envelopes fetched, by channel path segment.
    fetched: Vec<(String, u64, Vec<u8>)>,
    /// Envelopes this party pushed.
    pushed: Vec<(String, Vec<u8>)>,
}

/// The client's view of a relay that rewrites what it serves.
struct Tamper {
    inner: collabzium_http::UreqTransport,
    armed: Mutex<Option<(Class, u64)>>,
    seen: Mutex<Seen>,
    /// Envelopes of another channel, for splicing.
    foreign: Mutex<Vec<Vec<u8>>>,
    applied: Mutex<u32>,
}

fn channel_segment(url: &str) -> Option<String> {
    let rest = url.split("/v1/channels/").nth(1)?;
    Some(rest.split('/').next()?.to_string())
}

impl Tamper {
    fn new() -> Self {
        Tamper {
            inner: transport(),
            armed: Mutex::new(None),
            seen: Mutex::new(Seen::default()),
            foreign: Mutex::new(Vec::new()),
            applied: Mutex::new(0),
        }
    }

    fn arm(&self, class: Class, seed: u64) {
        *self.armed.lock().unwrap() = Some((class, seed));
    }

    fn mutate(&self, cid: &str, list: &mut Vec<Value>, class: Class, seed: u64) -> bool {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let decode = |v: &Value| URL_SAFE_NO_PAD.decode(v["env"].as_str().unwrap()).unwrap();
        let encode = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let i = rng.below(list.len());
        let mut env = decode(&list[i]);
        match class {
            Class::FlipHeader | Class::FlipCiphertext | Class::FlipTag => {
                let (lo, hi) = match class {
                    Class::FlipHeader => (0, 26),
                    Class::FlipCiphertext => (26, env.len() - 16),
                    _ => (env.len() - 16, env.len()),
                };
                let pos = lo + rng.below(hi - lo);
                env[pos] ^= 1 << rng.below(8);
                list[i]["env"] = json!(encode(&env));
            }
            Class::Truncate => {
                env.truncate(rng.below(env.len()));
                list[i]["env"] = json!(encode(&env));
            }
            Class::Replay => {
                let seen = self.seen.lock().unwrap();
                let old: Vec<_> = seen.fetched.iter().filter(|(c, _, _)| c == cid).collect();
                if old.is_empty() {
                    return false;
                }
                let (_, seq, bytes) = old[rng.below(old.len())];
                list.insert(
                    rng.below(list.len() + 1),
                    json!({"seq": seq, "env": encode(bytes)}),
                );
            }
            Class::Reorder => {
                if list.len() < 2 {
                    return false;
                }
                list.reverse();
                let j = rng.below(list.len());
                list.swap(0, j);
            }
            Class::Drop => unreachable!("drops happen in the relay's database"),
            Class::Splice => {
                let foreign = self.foreign.lock().unwrap();
                if foreign.is_empty() {
                    return false;
                }
                let bytes = &foreign[rng.below(foreign.len())];
                let seq = u64::from_be_bytes(bytes[18..26].try_into().unwrap());
                list.insert(
                    rng.below(list.len() + 1),
                    json!({"seq": seq, "env": encode(bytes)}),
                );
            }
            Class::Reflect => {
                let seen = self.seen.lock().unwrap();
                let own: Vec<_> = seen.pushed.iter().filter(|(c, _)| c == cid).collect();
                if own.is_empty() {
                    return false;
                }
                let bytes = &own[rng.below(own.len())].1;
                let seq = u64::from_be_bytes(bytes[18..26].try_into().unwrap());
                list.insert(
                    rng.below(list.len() + 1),
                    json!({"seq": seq, "env": encode(bytes)}),
                );
            }
            Class::SeqRewrite => {
                let seq = u64::from_be_bytes(env[18..26].try_into().unwrap());
                let new = seq + 5 + rng.below(50) as u64;
                env[18..26].copy_from_slice(&new.to_be_bytes());
                list[i] = json!({"seq": new, "env": encode(&env)});
            }
        }
        true
    }
}

impl HttpTransport for Tamper {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let cid = channel_segment(&req.url);
        if req.method == "POST" && req.url.ends_with("/envelopes") {
            let v: Value = serde_json::from_slice(&req.body).unwrap();
            let mut seen = self.seen.lock().unwrap();
            for e in v["envelopes"].as_array().unwrap() {
                let b = URL_SAFE_NO_PAD.decode(e.as_str().unwrap()).unwrap();
                seen.pushed.push((cid.clone().unwrap(), b));
            }
        }
        let mut resp = self.inner.send(req.clone())?;
        let is_fetch = req.method == "GET" && req.url.contains("/envelopes?");
        if !is_fetch || resp.status != 200 {
            return Ok(resp);
        }
        let cid = cid.unwrap();
        let mut v: Value = serde_json::from_slice(&resp.body).unwrap();
        let list = v["envelopes"].as_array_mut().unwrap();
        // Record the genuine envelopes before any tampering.
        {
            let mut seen = self.seen.lock().unwrap();
            for e in list.iter() {
                let b = URL_SAFE_NO_PAD.decode(e["env"].as_str().unwrap()).unwrap();
                seen.fetched
                    .push((cid.clone(), e["seq"].as_u64().unwrap(), b));
            }
        }
        if list.is_empty() {
            return Ok(resp);
        }
        let armed = self.armed.lock().unwrap().take();
        if let Some((class, seed)) = armed {
            if self.mutate(&cid, list, class, seed) {
                *self.applied.lock().unwrap() += 1;
            }
            resp.body = serde_json::to_vec(&v).unwrap();
        }
        Ok(resp)
    }
}

/// Deletes the `k`-th queued envelope addressed to the receiver: a relay
/// that acknowledged a push and then lost it.
fn drop_at_relay(db: &std::path::Path, dir: i64, k: usize) -> bool {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let rows: Vec<(Vec<u8>, i64)> = c
        .prepare("SELECT channel_id, seq FROM envelopes WHERE dir = ?1 ORDER BY seq")
        .unwrap()
        .query_map([dir], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let Some((cid, seq)) = rows.get(k % rows.len().max(1)) else {
        return false;
    };
    c.execute(
        "DELETE FROM envelopes WHERE channel_id = ?1 AND dir = ?2 AND seq = ?3",
        rusqlite::params![cid, dir, seq],
    )
    .unwrap()
        == 1
}

fn event_ids_received(store: &collabzium_core::store::Store, channel: &str) -> Vec<String> {
    sync::inbox(store, &["message"])
        .unwrap()
        .into_iter()
        .filter(|i| i.channel_id == channel)
        .map(|i| i.event_id)
        .collect()
}

fn event_ids_sent(store: &collabzium_core::store::Store) -> BTreeSet<String> {
    sync::outbound(store)
        .unwrap()
        .into_iter()
        .filter(|o| o.kind == "message")
        .map(|o| o.event_id)
        .collect()
}

fn rejected(s: &SyncSummary) -> u64 {
    s.rejected
        .iter()
        .filter(|(k, _)| k.as_str() != "too_far_ahead")
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn misbehaving_relay_is_detected_and_nothing_is_lost_or_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let relay = spawn_background(RelayConfig {
        database: format!("sqlite:{}", db.display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        rate_limit_per_s: 0,
        ip_rate_limit_per_s: 0,
        ..RelayConfig::default()
    })
    .unwrap();
    let url = relay.url();
    let th = party(dir.path(), "therapist");
    let pt = party(dir.path(), "patient");
    let other = party(dir.path(), "other-patient");
    let plain = transport();
    let cid = pair(&url, &plain, &th.store, &pt.store, "Sam");
    let cid_other = pair(&url, &plain, &th.store, &other.store, "Alex");
    let tamper_t = Tamper::new();
    let tamper_p = Tamper::new();
    // Warm-up: history for replays, and envelopes of another channel
    // (as the therapist fetched them) for splicing.
    sync::send_message(&pt.store, None, "warm-up", None).unwrap();
    sync::send_message(&th.store, Some(&cid), "warm-up", None).unwrap();
    for i in 0..5 {
        sync::send_message(&other.store, None, &format!("other {i}"), None).unwrap();
    }
    session::sync(&other.store, &plain).unwrap();
    let cid_other_b64 =
        URL_SAFE_NO_PAD.encode(collabzium_core::sync::state::channel_id_bytes(&cid_other).unwrap());
    session::sync(&th.store, &tamper_t).unwrap();
    let spliceable: Vec<Vec<u8>> = tamper_t
        .seen
        .lock()
        .unwrap()
        .fetched
        .iter()
        .filter(|(c, _, _)| *c == cid_other_b64)
        .map(|(_, _, b)| b.clone())
        .collect();
    assert!(!spliceable.is_empty());
    *tamper_t.foreign.lock().unwrap() = spliceable.clone();
    // The patient side splices from the therapist's other direction: the
    // other channel's t2p envelopes are what it would see.
    sync::send_message(&th.store, Some(&cid_other), "to other", None).unwrap();
    session::sync(&th.store, &plain).unwrap();
    sync_until_quiet(&[&th, &pt, &other], &plain);
    {
        let mut p = Vec::new();
        let seen = tamper_t.seen.lock().unwrap();
        p.extend(
            seen.pushed
                .iter()
                .filter(|(c, _)| *c == cid_other_b64)
                .map(|(_, b)| b.clone()),
        );
        *tamper_p.foreign.lock().unwrap() = p;
    }
    assert!(!tamper_p.foreign.lock().unwrap().is_empty());
    // Prime the patient's history (replay) and own pushes (reflection).
    sync::send_message(&th.store, Some(&cid), "prime", None).unwrap();
    sync::send_message(&pt.store, None, "prime", None).unwrap();
    session::sync(&th.store, &tamper_t).unwrap();
    session::sync(&pt.store, &tamper_p).unwrap();
    sync_until_quiet(&[&th, &pt, &other], &plain);

    let mut cases = 0;
    let mut detections = std::collections::BTreeMap::<&str, u64>::new();
    for (ci, class) in CLASSES.iter().enumerate() {
        for n in 0..CASES_PER_CLASS {
            let seed = (ci as u64 + 1) * 1000 + n;
            // Alternate direction: even cases patient → therapist.
            let to_therapist = n % 2 == 0;
            let (sender, receiver, tamper, dir) = if to_therapist {
                (&pt, &th, &tamper_t, 2)
            } else {
                (&th, &pt, &tamper_p, 1)
            };
            let before = event_ids_received(&receiver.store, &cid).len();
            for k in 0..EVENTS_PER_CASE {
                let ch = (!to_therapist).then_some(cid.as_str());
                sync::send_message(&sender.store, ch, &format!("case {seed} msg {k}"), None)
                    .unwrap();
            }
            let s = session::sync(&sender.store, &plain).unwrap();
            assert_eq!(s.sent as usize, EVENTS_PER_CASE, "seed {seed}: {s:?}");
            if *class == Class::Drop {
                assert!(
                    drop_at_relay(&db, dir, seed as usize % EVENTS_PER_CASE),
                    "seed {seed}"
                );
            } else {
                tamper.arm(*class, seed);
            }
            let applied_before = *tamper.applied.lock().unwrap();
            let first = session::sync(&receiver.store, tamper).unwrap();
            assert!(first.error.is_none(), "seed {seed}: {first:?}");
            if *class != Class::Drop {
                assert_eq!(
                    *tamper.applied.lock().unwrap(),
                    applied_before + 1,
                    "seed {seed}: {class:?} was not applied"
                );
            }
            let mut total = first.clone();
            let rest = sync_until_quiet(&[sender, receiver], &plain);
            add(&mut total, &rest);
            // Detected as the class predicts.
            let detected = match class {
                Class::FlipHeader
                | Class::FlipCiphertext
                | Class::FlipTag
                | Class::Truncate
                | Class::SeqRewrite => rejected(&first) >= 1,
                Class::Splice => first.rejected.get("wrong_channel") == Some(&1),
                Class::Reflect => first.rejected.get("wrong_direction") == Some(&1),
                Class::Replay => first.duplicates >= 1 && rejected(&first) == 0,
                Class::Reorder => rejected(&first) == 0,
                // The gap shows at the receiver; the sender re-pushes.
                Class::Drop => total.resent >= 1 && rejected(&total) == 0,
            };
            assert!(detected, "seed {seed} {class:?}: {first:?} then {rest:?}");
            *detections.entry(format!("{class:?}").leak()).or_default() += 1;
            // Exactly the sender's events, each applied once.
            let got = event_ids_received(&receiver.store, &cid);
            let unique: BTreeSet<String> = got.iter().cloned().collect();
            assert_eq!(unique.len(), got.len(), "seed {seed}: duplicate apply");
            assert_eq!(
                got.len(),
                before + EVENTS_PER_CASE,
                "seed {seed}: lost event"
            );
            assert_eq!(
                total.received as usize, EVENTS_PER_CASE,
                "seed {seed}: applied count {total:?}"
            );
            let sent = event_ids_sent(&sender.store);
            assert!(
                unique.iter().all(|e| sent.contains(e)),
                "seed {seed}: unknown event"
            );
            cases += 1;
        }
    }
    assert!(cases >= 200, "{cases} cases");
    eprintln!("tamper cases: {cases}, detected per class: {detections:?}");
}
