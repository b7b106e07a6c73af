//! The live caseload (`PatientsMemo`, issue 14) against a full
//! `load_patients` on the same real store, over random histories: syncs
//! that bring new events (check-ins, corrections, alerts, progress,
//! engagement, messages, consent), read flags, acknowledgements, the
//! therapist's ratings, program assignments, pairing, relabelling and
//! revoking channels, and deletions. After every step both must agree, and
//! only a deletion may make the memo load everything again.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::BTreeMap;

use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::insights::{load_patients, load_patients_cached, PatientsMemo};
use collabzium_core::session;
use collabzium_core::store::{Record, Store};
use collabzium_core::sync::state::{inbox_id, ChannelState, InboxItem};
use collabzium_core::sync::{self, AckAction};
use proptest::prelude::*;
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_780_000_000_000;
const PROGRAM: &str = include_str!("data/programs/valid/minimal.json");

#[derive(Debug, Clone)]
enum Op {
    /// A sync: for each channel in the mask, one week of events.
    Sync {
        mask: u8,
        alert: bool,
    },
    /// The therapist opens some received events (read flags only).
    Read {
        pick: usize,
    },
    Ack {
        pick: usize,
    },
    Rate {
        channel: usize,
        level: i64,
    },
    Assign {
        channel: usize,
        day: u32,
    },
    Pair,
    Relabel {
        channel: usize,
    },
    Revoke {
        channel: usize,
    },
    /// A sync round's own writes: channel state that no insight reads.
    Touch {
        channel: usize,
    },
    DeleteEvent {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<bool>()).prop_map(|(mask, alert)| Op::Sync { mask, alert }),
        2 => any::<usize>().prop_map(|pick| Op::Read { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Ack { pick }),
        1 => (any::<usize>(), 1i64..=7).prop_map(|(channel, level)| Op::Rate { channel, level }),
        1 => (any::<usize>(), 0u32..60).prop_map(|(channel, day)| Op::Assign { channel, day }),
        1 => Just(Op::Pair),
        1 => any::<usize>().prop_map(|channel| Op::Relabel { channel }),
        1 => any::<usize>().prop_map(|channel| Op::Revoke { channel }),
        1 => any::<usize>().prop_map(|channel| Op::Touch { channel }),
        1 => any::<usize>().prop_map(|pick| Op::DeleteEvent { pick }),
    ]
}

struct World {
    store: Store,
    _dir: tempfile::TempDir,
    channels: Vec<String>,
    /// (channel, event id) of every received event, in arrival order.
    events: Vec<(String, String)>,
    /// (channel, alert id) of every received alert.
    alerts: Vec<(String, String)>,
    /// Per channel: check-in ids, so later ones can correct them.
    checkins: BTreeMap<String, Vec<String>>,
    week: i64,
    hlc: u64,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::create(&dir.path().join("t.db"), &MemoryKeyProvider::new([9; 32])).unwrap();
        let mut w = World {
            store,
            _dir: dir,
            channels: Vec::new(),
            events: Vec::new(),
            alerts: Vec::new(),
            checkins: BTreeMap::new(),
            week: 0,
            hlc: 0,
        };
        for _ in 0..3 {
            w.pair();
        }
        w
    }

    fn pair(&mut self) {
        let n = self.channels.len();
        let id = format!("{:032x}", 0xc0ffee00 + n);
        let ch: ChannelState = serde_json::from_value(json!({
            "id": id, "role": "therapist", "relay_url": "http://relay",
            "status": "active", "label": format!("Patient {n}"), "own_device": "d",
            "peer_device": "p", "send_chain": null, "recv_chain": null, "pending_join": null,
            "nameplate": null, "share_history": true, "settings": null, "hlc": 0,
            "created_at_millis": T0,
            // Two channels share a pairing time: ties keep list order.
            "paired_at_millis": T0 + (n as i64 / 2) * DAY,
            "revoked_at_millis": null, "revoked_by": null,
        }))
        .unwrap();
        self.store.put(&id, &ch).unwrap();
        self.channels.push(id);
    }

    fn channel(&self, pick: usize) -> String {
        self.channels[pick % self.channels.len()].clone()
    }

    fn edit_channel(&self, pick: usize, f: impl FnOnce(&mut Value)) {
        let id = self.channel(pick);
        let mut v =
            serde_json::to_value(self.store.get::<ChannelState>(&id).unwrap().unwrap().value)
                .unwrap();
        f(&mut v);
        let ch: ChannelState = serde_json::from_value(v).unwrap();
        self.store.put(&id, &ch).unwrap();
    }

    /// One week of events for the channels in `mask`, in one transaction
    /// as a sync round stores them.
    fn sync(&mut self, mask: u8, alert: bool) {
        self.week += 1;
        let base = T0 + self.week * 7 * DAY;
        let mut items = Vec::new();
        for (k, ch) in self.channels.iter().enumerate() {
            if mask & (1 << (k % 8)) == 0 {
                continue;
            }
            let w = self.week;
            let mut event = |kind: &str, ref_id: String, at: i64, body: Value| {
                self.hlc += 1;
                let event_id = format!("{kind}:{ref_id}");
                items.push(InboxItem {
                    channel: ch.clone(),
                    event_id,
                    kind: kind.into(),
                    seq: self.hlc,
                    hlc: self.hlc,
                    at,
                    received_at: at + 60_000,
                    body,
                    read_at: None,
                    applied: true,
                    notify_at: None,
                });
            };
            // Every fifth week repeats last week's check-in id (and so the
            // id of its alert, if it had one): the live path must notice.
            let id = match self.checkins.get(ch).and_then(|v| v.last()) {
                Some(last) if w % 5 == 0 => last.clone(),
                _ => format!("c{k}w{w}"),
            };
            // Every third week corrects the previous check-in.
            let corrects = (w % 3 == 0)
                .then(|| self.checkins.get(ch).and_then(|v| v.last().cloned()))
                .flatten();
            let total = ((k as i64 * 3 + w * 5) % 27) as f64;
            let at = base + (k as i64) * 3_600_000;
            let checkin = json!({
                "id": id, "instrument": if w % 2 == 0 { "phq9" } else { "alliance" },
                "corrects": corrects, "submitted_at_millis": at,
                "score": {"total": total, "severity": "moderate", "severity_label": "Moderate",
                          "subscales": if w % 2 == 0 { json!({}) }
                                       else { json!({"goals": 4.0, "tasks": 5.0, "bond": null}) }},
            });
            event(
                "checkin",
                format!("{id}-{w}"),
                at,
                json!({"type": "checkin", "version": 1, "checkin": checkin}),
            );
            self.checkins
                .entry(ch.clone())
                .or_default()
                .push(id.clone());
            if alert && k % 2 == 0 {
                event(
                    "safety_alert",
                    format!("{id}-{w}"),
                    at,
                    json!({"alert_id": id, "alert": {"created_at_millis": at, "instrument": "phq9",
                           "items": [{"item": "phq9_9", "answer": 1, "answer_text": "Several days"}]}}),
                );
                self.alerts.push((ch.clone(), id.clone()));
            }
            // Odd weeks: at the same time as last week's module (a tie).
            let done = at - DAY - (w % 2) * 7 * DAY;
            event(
                "module_progress",
                format!("m{w}"),
                done,
                json!({"item_id": format!("module:m{w}"), "kind": "module",
                       "completed_at": done, "ref_id": format!("m{w}"), "title": format!("Module {w}")}),
            );
            // Same time as last week's summary on odd weeks: a tie.
            let summary_at = if w % 2 == 1 { base - 7 * DAY } else { base };
            event(
                "engagement_summary",
                format!("d{w}"),
                summary_at,
                json!({"date": "2026-01-01", "engagement": {
                    "days_since_last_activity": w % 4, "current_missed_run": w % 3,
                    "longest_missed_run": 2, "stalled_modules": [], "completed_items": w,
                    "missed_items": 1, "completion_rate": 0.9}}),
            );
            event("message", format!("x{w}"), at + 1, json!({"text": "hello"}));
            if w % 4 == 1 {
                event(
                    "consent",
                    format!("r{w}"),
                    at,
                    json!({"version": 1, "scope": "research_export",
                           "decision": if w % 8 == 1 { "granted" } else { "withdrawn" },
                           "text_version": "v1", "at_millis": at}),
                );
            }
        }
        self.store
            .write(|tx| {
                for item in &items {
                    tx.put(&inbox_id(&item.channel, &item.event_id), item)?;
                }
                Ok(())
            })
            .unwrap();
        self.events
            .extend(items.into_iter().map(|i| (i.channel, i.event_id)));
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Sync { mask, alert } => self.sync(mask, alert),
            Op::Read { pick } => {
                if let Some((ch, eid)) = self.events.get(pick % self.events.len().max(1)) {
                    sync::mark_read(&self.store, ch, std::slice::from_ref(eid)).unwrap();
                }
            }
            Op::Ack { pick } => {
                if let Some((ch, id)) = self.alerts.get(pick % self.alerts.len().max(1)) {
                    // Revoked channels refuse: that is fine, nothing changes.
                    let _ =
                        sync::send_alert_ack(&self.store, ch, id, AckAction::Phone, Some("called"));
                }
            }
            Op::Rate { channel, level } => {
                let answers: serde_json::Map<String, Value> = [
                    "goals_1", "goals_2", "goals_3", "tasks_1", "tasks_2", "tasks_3", "bond_1",
                    "bond_2",
                ]
                .into_iter()
                .map(|k| (k.to_string(), Value::from(level)))
                .collect();
                let ch = self.channel(channel);
                collabzium_core::insights::rate_alliance(&self.store, &ch, &Value::Object(answers))
                    .unwrap();
            }
            Op::Assign { channel, day } => {
                let date = chrono::NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()
                    + chrono::Duration::days(i64::from(day));
                let _ = session::assign_program(
                    &self.store,
                    &self.channel(channel),
                    PROGRAM,
                    &date.to_string(),
                );
            }
            Op::Pair => {
                if self.channels.len() < 8 {
                    self.pair();
                }
            }
            Op::Relabel { channel } => self.edit_channel(channel, |v| {
                v["label"] = json!(format!("Renamed {channel}"));
            }),
            Op::Revoke { channel } => self.edit_channel(channel, |v| {
                v["status"] = json!("revoked");
                v["revoked_at_millis"] = json!(T0);
            }),
            Op::Touch { channel } => self.edit_channel(channel, |v| {
                v["hlc"] = json!(v["hlc"].as_u64().unwrap_or(0) + 1);
            }),
            Op::DeleteEvent { pick } => {
                if !self.events.is_empty() {
                    let (ch, eid) = self.events.remove(pick % self.events.len());
                    self.store
                        .write(|tx| tx.delete(InboxItem::KIND, &inbox_id(&ch, &eid)))
                        .unwrap();
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn live_patients_equal_a_full_load(ops in proptest::collection::vec(op(), 4..16)) {
        let mut w = World::new();
        let memo = PatientsMemo::default();
        w.sync(0xff, true);
        prop_assert_eq!(&*memo.patients(&w.store).unwrap(), &load_patients(&w.store).unwrap());
        prop_assert_eq!(memo.full_loads(), 1);
        let mut deletions = 0;
        for (step, op) in ops.iter().enumerate() {
            w.apply(op);
            if matches!(op, Op::DeleteEvent { .. }) {
                deletions += 1;
            }
            let full = load_patients(&w.store).unwrap();
            let live = memo.patients(&w.store).unwrap();
            prop_assert_eq!(&*live, &full, "step {}: {:?}", step, op);
            prop_assert_eq!(load_patients_cached(&w.store).unwrap(), full);
            // Asking again without a write answers from memory.
            prop_assert!(std::sync::Arc::ptr_eq(&live, &memo.patients(&w.store).unwrap()));
            prop_assert!(memo.full_loads() <= 1 + deletions, "step {}: {:?}", step, op);
        }
    }
}

/// The patients must actually change along the way, or the equality above
/// would prove nothing: a sync adds points, an acknowledgement shows.
#[test]
fn live_patients_follow_new_events_acks_and_assignments() {
    let mut w = World::new();
    let memo = PatientsMemo::default();
    w.sync(0b111, true);
    let before = memo.patients(&w.store).unwrap();
    assert_eq!(before.len(), 3);
    let points: usize = before.iter().map(|p| p.checkins.len()).sum();
    w.sync(0b001, false);
    let after = memo.patients(&w.store).unwrap();
    assert_eq!(
        after.iter().map(|p| p.checkins.len()).sum::<usize>(),
        points + 1
    );
    assert!(before[0].alerts.iter().all(|a| !a.acknowledged));
    w.apply(&Op::Ack { pick: 0 });
    let acked = memo.patients(&w.store).unwrap();
    assert_eq!(
        acked
            .iter()
            .flat_map(|p| &p.alerts)
            .filter(|a| a.acknowledged)
            .count(),
        1
    );
    w.apply(&Op::Assign { channel: 1, day: 3 });
    let assigned = memo.patients(&w.store).unwrap();
    assert_eq!(
        assigned
            .iter()
            .filter(|p| p.program_weeks == Some(6))
            .count(),
        1
    );
    w.apply(&Op::Rate {
        channel: 2,
        level: 5,
    });
    let rated = memo.patients(&w.store).unwrap();
    assert_eq!(
        rated
            .iter()
            .map(|p| p.therapist_ratings.len())
            .sum::<usize>(),
        1
    );
    assert_eq!(memo.full_loads(), 1);
    assert_eq!(*rated, load_patients(&w.store).unwrap());
    w.apply(&Op::DeleteEvent { pick: 0 });
    assert_eq!(
        *memo.patients(&w.store).unwrap(),
        load_patients(&w.store).unwrap()
    );
    assert_eq!(memo.full_loads(), 2);
}
