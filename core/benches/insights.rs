//! The therapist's caseload for 200 patients × 52 weeks (weekly PHQ-9,
//! alliance, module progress and engagement summary). Target: under 50 ms.
//! Also the store path: `load_patients` and `caseload_for_store` over a real
//! encrypted store holding the same data as synced inbox events, cold (cache
//! cleared) and through the patients cache (hit); and (issue 14) the live
//! memo right after a sync brought a week for every patient, against the
//! rebuild in the same run (printed, timed by hand: see `after_sync`).
//! `cargo bench -p collabzium-core --bench insights`; figures in docs/benchmarks.md.

#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the sort rule keeps the library small"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench fails by panicking"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::insights::{
    cache_fingerprint, caseload, caseload_for_store, clear_patients_cache, load_patients,
    load_patients_cached, EngagementSnapshot, FlagConfig, PatientRecord, PatientsMemo,
    ProgressPoint, ScoredPoint,
};
use collabzium_core::store::Store;
use collabzium_core::sync::state::{inbox_id, ChannelState, InboxItem};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::{json, Value};

const PATIENTS: usize = 200;
const WEEKS: i64 = 52;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    start() + Duration::weeks(WEEKS) + Duration::days(1)
}

/// Deterministic trajectories: improving, flat, worsening; some alliance
/// dips (ruptures, repairs), some patients stop early (disengagement).
fn phq(i: usize, w: i64) -> f64 {
    let base = 8.0 + (i % 12) as f64;
    let slope = [-0.2, 0.0, 0.12][i % 3];
    (base + slope * w as f64 + ((w + i as i64) % 3) as f64)
        .clamp(0.0, 27.0)
        .round()
}

fn alliance(i: usize, w: i64) -> (f64, f64, f64) {
    let level = 4.0 + (i % 4) as f64 * 0.5;
    let dip = if i % 7 == 3 && (20..24).contains(&w) {
        1.5
    } else {
        0.0
    };
    let r = |x: f64| (x * 3.0).round() / 3.0;
    (r(level - dip), r(level + 0.3 - dip), r(level + 0.5))
}

fn weeks_of(i: usize) -> i64 {
    if i % 10 == 9 {
        WEEKS - 4 // stopped a month ago
    } else {
        WEEKS
    }
}

fn records() -> Vec<PatientRecord> {
    (0..PATIENTS)
        .map(|i| {
            let mut checkins = Vec::new();
            let mut progress = Vec::new();
            for w in 0..weeks_of(i) {
                let at = start() + Duration::weeks(w) + Duration::hours(18);
                checkins.push(ScoredPoint {
                    at,
                    instrument: "phq9".into(),
                    total: Some(phq(i, w)),
                    subscales: BTreeMap::new(),
                    severity: Some("moderate".into()),
                    severity_label: Some("Moderate".into()),
                });
                let (g, t, b) = alliance(i, w);
                checkins.push(ScoredPoint {
                    at: at + Duration::minutes(5),
                    instrument: "alliance".into(),
                    total: Some((3.0 * g + 3.0 * t + 2.0 * b) / 8.0),
                    subscales: [("goals", g), ("tasks", t), ("bond", b)]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                    severity: None,
                    severity_label: None,
                });
                progress.push(ProgressPoint {
                    at: at - Duration::days(1),
                    module_id: format!("m{w}"),
                    title: format!("Module {w}"),
                    kind: "module".into(),
                });
            }
            let last = checkins.last().map(|c| c.at);
            PatientRecord {
                channel_id: format!("{i:032x}"),
                label: Some(format!("Patient {i}")),
                mode: Some("guided".into()),
                start: start(),
                checkins,
                therapist_ratings: Vec::new(),
                alerts: Vec::new(),
                progress,
                engagement: last.map(|at| EngagementSnapshot {
                    at,
                    days_since_last_activity: 0,
                    current_missed_run: u32::from(i % 5 == 4),
                    longest_missed_run: 1,
                    stalled_modules: 0,
                    completed_items: 100,
                    missed_items: 4,
                    last_activity_at: Some(at),
                    completion_rate: Some(0.96),
                }),
                last_activity: last,
                review_week: Some(6),
                primary_instrument: Some("phq9".into()),
                program_id: None,
                program_title: None,
                program_weeks: Some(52),
                research_consent: Vec::new(),
                status: Default::default(),
                status_since: None,
            }
        })
        .collect()
}

/// The same patients as a therapist store: a channel each and the events
/// sync would have stored (check-ins, progress, engagement summaries) up to
/// `until` (exclusive).
fn store_with(path: &std::path::Path, patients: &[PatientRecord], until: DateTime<Utc>) -> Store {
    let store = Store::create(path, &MemoryKeyProvider::new([5; 32])).unwrap();
    store
        .write(|tx| {
            for (i, p) in patients.iter().enumerate() {
                let ch: ChannelState = serde_json::from_value(json!({
                    "id": p.channel_id, "role": "therapist", "relay_url": "http://relay",
                    "status": "active", "label": p.label, "own_device": "d", "peer_device": "p",
                    "send_chain": null, "recv_chain": null, "pending_join": null,
                    "nameplate": null, "share_history": true, "settings": null, "hlc": 0,
                    "created_at_millis": start().timestamp_millis(),
                    "paired_at_millis": start().timestamp_millis() + i as i64,
                    "revoked_at_millis": null, "revoked_by": null,
                }))
                .unwrap();
                tx.put(&p.channel_id, &ch)?;
            }
            Ok(())
        })
        .unwrap();
    sync_events(&store, patients, |at| at < until);
    store
}

/// Stores, in one transaction as a sync round does, every event of the
/// patients whose time passes `keep`. Ids and sequence numbers do not
/// depend on `keep`, so later calls add to earlier ones.
fn sync_events(store: &Store, patients: &[PatientRecord], keep: impl Fn(DateTime<Utc>) -> bool) {
    store
        .write(|tx| {
            for (i, p) in patients.iter().enumerate() {
                let mut seq = 0u64;
                let mut put = |kind: &str, ref_id: String, at: DateTime<Utc>, body: Value| {
                    seq += 1;
                    if !keep(at) {
                        return Ok(());
                    }
                    let event_id = format!("{kind}:{ref_id}");
                    let item = InboxItem {
                        channel: p.channel_id.clone(),
                        event_id: event_id.clone(),
                        kind: kind.into(),
                        seq,
                        hlc: seq,
                        at: at.timestamp_millis(),
                        received_at: at.timestamp_millis() + 60_000,
                        body,
                        read_at: None,
                        applied: true,
                        notify_at: None,
                    };
                    tx.put(&inbox_id(&p.channel_id, &event_id), &item)
                };
                for (k, c) in p.checkins.iter().enumerate() {
                    let id = format!("c{i}x{k}");
                    let subscales: BTreeMap<&String, Option<f64>> =
                        c.subscales.iter().map(|(k, v)| (k, Some(*v))).collect();
                    let answers: BTreeMap<String, i64> =
                        (1..=9).map(|n| (format!("q{n}"), 1)).collect();
                    let checkin = json!({
                        "id": id, "instrument": c.instrument, "instrument_version": "1.0.0",
                        "agenda_item": null, "corrects": null, "revision": 1, "answers": answers,
                        "score": { "instrument": c.instrument, "version": "1.0.0", "scorable": true,
                                   "total": c.total, "prorated": false, "missing": [],
                                   "severity": c.severity, "severity_label": c.severity_label,
                                   "subscales": subscales, "risk": [] },
                        "started_at_millis": c.at.timestamp_millis() - 60_000,
                        "submitted_at_millis": c.at.timestamp_millis(),
                        "utc_offset_seconds": 0, "safety": null, "outbox_seq": k,
                    });
                    put(
                        "checkin",
                        id,
                        c.at,
                        json!({"type": "checkin", "version": 1, "checkin": checkin}),
                    )?;
                }
                for (w, m) in p.progress.iter().enumerate() {
                    put(
                        "module_progress",
                        format!("m{w}"),
                        m.at,
                        json!({"item_id": format!("module:{}", m.module_id), "kind": "module",
                               "completed_at": m.at.timestamp_millis(),
                               "ref_id": m.module_id, "title": m.title}),
                    )?;
                    let e = json!({
                        "days_since_last_activity": 0, "last_activity_at": m.at,
                        "current_missed_run": 0, "longest_missed_run": 1, "stalled_modules": [],
                        "completed_items": 2 * w, "missed_items": 0, "completion_rate": 1.0,
                        "ignored_reminders": 0,
                    });
                    put(
                        "engagement_summary",
                        format!("d{w}"),
                        m.at + Duration::hours(1),
                        json!({"date": m.at.date_naive().to_string(), "engagement": e}),
                    )?;
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Where the last week's events begin: everything of week 51 (its module
/// a day before the check-ins) comes after it, everything of week 50 before.
fn last_week() -> DateTime<Utc> {
    start() + Duration::weeks(WEEKS - 1) - Duration::days(1)
}

fn median(mut v: Vec<std::time::Duration>) -> std::time::Duration {
    v.sort();
    v[v.len() / 2]
}

/// The workstation's case (issue 14): the caseload page right after a sync
/// that brought the last week for every patient (the 20 who stopped a
/// month ago send nothing) and rewrote every channel's state, through the
/// live memo, against rebuilding from
/// every event (`load_patients` + caseload) on the same store, in the same
/// run. Every round starts from a copy of the same 51-week store, so each
/// timed call is at exactly 200 × 52. Timed by hand: the store must not
/// grow between iterations, which criterion's loop would do.
fn after_sync(dir: &std::path::Path, patients: &[PatientRecord]) {
    const ROUNDS: usize = 9;
    let base = dir.join("base.db");
    let t = Instant::now();
    let store = store_with(&base, patients, last_week());
    store.checkpoint().unwrap();
    store.close();
    eprintln!("built the 51-week store in {:?}", t.elapsed());
    let cfg = FlagConfig::default();
    let (mut live, mut rebuild, mut first, mut hit) = (vec![], vec![], vec![], vec![]);
    let mut synced = 0;
    for round in 0..ROUNDS {
        let path = dir.join(format!("round{round}.db"));
        std::fs::copy(&base, &path).unwrap();
        let store = Store::open(&path, &MemoryKeyProvider::new([5; 32])).unwrap();
        let memo = PatientsMemo::default();
        let t = Instant::now();
        let before = memo.patients(&store).unwrap();
        first.push(t.elapsed());
        drop(before);
        let n0 = store.read(|tx| tx.list::<InboxItem>()).unwrap().len();
        sync_events(&store, patients, |at| at >= last_week());
        // A round also rewrites every channel's state (clock, chain keys).
        store
            .write(|tx| {
                for mut c in tx.list::<ChannelState>()? {
                    c.value.hlc += 1;
                    tx.put(&c.id, &c.value)?;
                }
                Ok(())
            })
            .unwrap();
        synced = store.read(|tx| tx.list::<InboxItem>()).unwrap().len() - n0;

        let t = Instant::now();
        let p = memo.patients(&store).unwrap();
        let entries = caseload(&p, now(), &cfg);
        live.push(t.elapsed());
        drop(p);

        let t = Instant::now();
        let full = load_patients(&store).unwrap();
        let rebuilt = caseload(&full, now(), &cfg);
        rebuild.push(t.elapsed());
        assert_eq!(*memo.patients(&store).unwrap(), full, "live equals rebuilt");
        assert_eq!(entries.len(), rebuilt.len());

        // Nothing written since: the O(1) check and the caseload.
        let t = Instant::now();
        let p = memo.patients(&store).unwrap();
        black_box(caseload(&p, now(), &cfg));
        hit.push(t.elapsed());
        store.close();
        std::fs::remove_file(&path).unwrap();
    }
    let (l, r) = (median(live.clone()), median(rebuild.clone()));
    eprintln!(
        "after a sync of {synced} events (one week, 200 patients), {ROUNDS} rounds at 200 x 52:\n\
         \x20 live memo + caseload:        median {l:?} (min {:?}, max {:?})\n\
         \x20 rebuild (load_patients + caseload): median {r:?} (min {:?}, max {:?})\n\
         \x20 ratio rebuild / live: {:.1}x\n\
         \x20 then unchanged (change_seq + caseload): median {:?}\n\
         \x20 first call on an open store (loads everything): median {:?}",
        live.iter().min().unwrap(),
        live.iter().max().unwrap(),
        rebuild.iter().min().unwrap(),
        rebuild.iter().max().unwrap(),
        r.as_secs_f64() / l.as_secs_f64(),
        median(hit),
        median(first),
    );
}

fn bench(c: &mut Criterion) {
    let patients = records();
    let cfg = FlagConfig::default();
    let entries = caseload(&patients, now(), &cfg);
    assert_eq!(entries.len(), PATIENTS);
    let points: usize = patients
        .iter()
        .map(|p| p.checkins.len() + p.progress.len())
        .sum();
    eprintln!(
        "{PATIENTS} patients, {points} points; first: {:?}",
        entries[0].priority
    );

    // Same-run baseline: touch every point once (latest score per patient)
    // and sort the patients by it — the floor any caseload must pay.
    c.bench_function("baseline: scan every point + sort 200 patients", |b| {
        b.iter(|| {
            let mut v: Vec<(Option<f64>, &str)> = black_box(&patients)
                .iter()
                .map(|p| {
                    let latest = p
                        .checkins
                        .iter()
                        .filter_map(|c| Some((c.at, c.total?)))
                        .max_by_key(|c| c.0);
                    let n = p.progress.iter().filter(|m| m.at <= now()).count();
                    (latest.map(|l| l.1 + n as f64), p.channel_id.as_str())
                })
                .collect();
            v.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(b.1)));
            v
        })
    });
    c.bench_function(
        "caseload 200 patients x 52 weeks (records in memory)",
        |b| b.iter(|| caseload(black_box(&patients), now(), &cfg)),
    );

    let dir = tempfile::tempdir().unwrap();
    after_sync(dir.path(), &patients);
    let t = Instant::now();
    let store = store_with(&dir.path().join("t.db"), &patients, now());
    eprintln!("built the store in {:?}", t.elapsed());
    let loaded = load_patients(&store).unwrap();
    assert_eq!(loaded.len(), PATIENTS);
    assert_eq!(caseload_for_store(&store, now()).unwrap().len(), PATIENTS);
    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    // Same-run baseline for the store path: decrypt and decode every
    // received event, which any reader of synced data pays.
    g.bench_function("baseline: store.list::<InboxItem>() (62,000 events)", |b| {
        b.iter(|| black_box(&store).list::<InboxItem>().unwrap().len())
    });
    g.bench_function("load_patients (200 channels, 62,000 inbox events)", |b| {
        b.iter(|| load_patients(black_box(&store)).unwrap())
    });
    g.bench_function(
        "caseload_for_store, cold (load + cache write + caseload)",
        |b| {
            b.iter_batched(
                || clear_patients_cache(&store).unwrap(),
                |()| caseload_for_store(black_box(&store), now()).unwrap(),
                BatchSize::PerIteration,
            )
        },
    );
    g.finish();

    // The cache-hit path: the first call built the cache, nothing changed since.
    assert_eq!(load_patients_cached(&store).unwrap(), loaded);
    let mut g = c.benchmark_group("store, cache hit");
    g.bench_function("fingerprint (no decryption)", |b| {
        b.iter(|| cache_fingerprint(black_box(&store)).unwrap())
    });
    g.bench_function("load_patients_cached", |b| {
        b.iter(|| load_patients_cached(black_box(&store)).unwrap())
    });
    g.bench_function("caseload_for_store (cache hit + caseload)", |b| {
        b.iter(|| caseload_for_store(black_box(&store), now()).unwrap())
    });
    // What the FFI's PatientStore.caseload() and the workstation do: the
    // decoded patients stay with the open handle, kept up to date; with
    // nothing written, a call reads the change sequence (one row).
    let memo = PatientsMemo::default();
    memo.patients(&store).unwrap();
    g.bench_function(
        "PatientStore.caseload(): memo hit (change sequence + caseload)",
        |b| {
            b.iter(|| {
                let p = memo.patients(black_box(&store)).unwrap();
                caseload(&p, now(), &FlagConfig::default())
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
