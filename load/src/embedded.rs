//! `collabzium-load embedded`: N check-ins patient → therapist through an
//! in-process relay on SQLite, over real HTTP (ADR 0006 §11, figure 1).
//!
//! Timed regions, all in one run:
//! - `local`: N filled-in check-ins submitted (score, persist, enqueue) into
//!   a store that has never synced: the local write path, the baseline.
//!   Filling in the drafts (start, answer) is timed separately.
//! - `patient_submit`: the same N submitted on the paired patient store
//!   (not part of the sync cost; shown to compare with the baseline).
//! - `sync`: patient sync (seal + push), therapist sync (fetch, open, apply,
//!   ack, receipts), patient sync (receipts) until all N are delivered.

use std::path::Path;
use std::time::{Duration, Instant};

use collabzium_core::checkin::Checkins;
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::session;
use collabzium_core::store::Store;
use collabzium_core::sync::TherapistInvitation;
use collabzium_core::sync::{self, InvitationState, SyncSummary};
use collabzium_http::UreqTransport;
use collabzium_relay::RelayConfig;
use serde_json::{json, Value};

pub struct Args {
    pub checkins: usize,
    pub keep: Option<std::path::PathBuf>,
}

type R<T> = Result<T, String>;

fn err(what: &str) -> impl Fn(collabzium_core::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn open_store(dir: &Path, name: &str, key: u8) -> R<Store> {
    Store::create(
        &dir.join(format!("{name}.db")),
        &MemoryKeyProvider::new([key; 32]),
    )
    .map_err(err("create store"))
}

/// Starts and answers a guided alliance check-in (8 items and a short
/// comment), as a patient fills it in; returns the draft id.
fn alliance_draft(c: &Checkins, i: usize) -> R<String> {
    let d = c.start("alliance", None).map_err(err("start"))?;
    let answers = json!({
        "goals_1": 6, "goals_2": 6, "goals_3": 2, "tasks_1": 5, "tasks_2": 6,
        "tasks_3": 3, "bond_1": 7, "bond_2": 6,
        "comment": format!("homework felt useful this week ({i})"),
    });
    c.answer_json(&d.checkin_id, &answers)
        .map_err(err("answer"))?;
    Ok(d.checkin_id)
}

/// Fills in N drafts, then submits them (score, persist, enqueue).
/// Returns (time filling in, time submitting).
fn submit_all(store: &Store, n: usize) -> R<(Duration, Duration)> {
    let c = Checkins::new(store.clone()).map_err(err("checkins"))?;
    let t = Instant::now();
    let drafts = (0..n)
        .map(|i| alliance_draft(&c, i))
        .collect::<R<Vec<_>>>()?;
    let t_draft = t.elapsed();
    let t = Instant::now();
    for d in &drafts {
        c.submit(d).map_err(err("submit"))?;
    }
    Ok((t_draft, t.elapsed()))
}

fn pair(url: &str, t: &UreqTransport, therapist: &Store, patient: &Store) -> R<()> {
    let mut inv =
        TherapistInvitation::create(therapist, t, url, Some("load")).map_err(err("invite"))?;
    let code = inv.view().map_err(err("view"))?.code;
    sync::join(patient, t, Some(url), &code, false, None).map_err(err("join"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match inv.poll(therapist, t).map_err(err("poll"))? {
            InvitationState::Paired { .. } => break,
            InvitationState::Waiting if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            InvitationState::Waiting => return Err("pairing timed out".into()),
        }
    }
    let s = session::sync(patient, t).map_err(err("patient completes"))?;
    if s.pairings_completed != 1 {
        return Err(format!("pairing did not complete: {s:?}"));
    }
    Ok(())
}

fn add(total: &mut SyncSummary, s: &SyncSummary) {
    total.sent += s.sent;
    total.received += s.received;
    total.duplicates += s.duplicates;
    total.resent += s.resent;
    total.delivered += s.delivered;
    for (k, v) in &s.rejected {
        *total.rejected.entry(k.clone()).or_default() += v;
    }
}

/// Syncs `store` until `done` holds for the accumulated summary (at most
/// `max` rounds). Returns the time taken, the rounds and the summary.
fn sync_until(
    store: &Store,
    t: &UreqTransport,
    max: usize,
    done: impl Fn(&SyncSummary) -> bool,
) -> R<(Duration, usize, SyncSummary)> {
    let mut total = SyncSummary::default();
    let start = Instant::now();
    for round in 1..=max {
        let s = session::sync(store, t).map_err(err("sync"))?;
        if let Some(e) = &s.error {
            return Err(format!("sync stopped: {e} ({s:?})"));
        }
        add(&mut total, &s);
        total.pending_outbound = s.pending_outbound;
        if done(&total) {
            return Ok((start.elapsed(), round, total));
        }
    }
    Err(format!("no progress after {max} sync rounds: {total:?}"))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub fn run(a: Args) -> R<Value> {
    let n = a.checkins;
    let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let dir = a.keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let relay = collabzium_relay::spawn_background(RelayConfig {
        database: format!("sqlite:{}", dir.join("relay.sqlite3").display()),
        listen: (std::net::Ipv4Addr::LOCALHOST, 0).into(),
        rate_limit_per_s: 0,
        ip_rate_limit_per_s: 0,
        // N check-ins plus the engagement summary wait in one direction.
        channel_quota: (n as u64 + 100).max(10_000),
        ..RelayConfig::default()
    })
    .map_err(|e| format!("relay: {e}"))?;
    let url = relay.url();
    let t = UreqTransport::new(Duration::from_secs(60));

    let local = open_store(&dir, "local", 1)?;
    let patient = open_store(&dir, "patient", 2)?;
    let therapist = open_store(&dir, "therapist", 3)?;
    pair(&url, &t, &therapist, &patient)?;

    // Baseline: the local write path on a store that never synced.
    let (t_local_draft, t_local) = submit_all(&local, n)?;
    drop(local);
    let (_, t_patient_submit) = submit_all(&patient, n)?;

    // The sync: one patient round pushes everything (100 envelopes a request).
    let start = Instant::now();
    let (t_push, push_rounds, ps) = sync_until(&patient, &t, 10, |s| s.sent >= n as u64)?;
    let (t_pull, pull_rounds, ts) = sync_until(&therapist, &t, 10, |s| s.received >= n as u64)?;
    let t_applied = start.elapsed();
    let (t_receipts, receipt_rounds, rs) = sync_until(&patient, &t, 10, |s| {
        s.delivered >= n as u64 && s.pending_outbound == 0
    })?;
    let t_sync = start.elapsed();

    // Check outside the timed region: every check-in arrived once.
    let inbox = sync::inbox(&therapist, &["checkin"])
        .map_err(err("inbox"))?
        .len();
    if inbox != n {
        return Err(format!("therapist inbox holds {inbox} check-ins, not {n}"));
    }
    if !ps.rejected.is_empty() || !ts.rejected.is_empty() || !rs.rejected.is_empty() {
        return Err(format!("rejections: {ps:?} {ts:?} {rs:?}"));
    }
    relay.shutdown();

    let per_s = |d: Duration| (n as f64 / d.as_secs_f64()).round();
    let ratio = |x: Duration, base: Duration| {
        (x.as_secs_f64() / base.as_secs_f64() * 100.0).round() / 100.0
    };
    Ok(json!({
        "figure": "embedded",
        "checkins": n,
        "instrument": "alliance",
        "relay": "embedded, SQLite, 127.0.0.1 (collabzium-http UreqTransport)",
        "local_submit_ms": ms(t_local),
        "local_fill_in_ms": ms(t_local_draft),
        "patient_submit_ms": ms(t_patient_submit),
        "sync_ms": ms(t_sync),
        "phases": {
            "patient_push_ms": ms(t_push),
            "patient_push_rounds": push_rounds,
            "sent": ps.sent,
            "therapist_pull_ms": ms(t_pull),
            "therapist_pull_rounds": pull_rounds,
            "received": ts.received,
            "patient_receipts_ms": ms(t_receipts),
            "patient_receipt_rounds": receipt_rounds,
            "delivered": rs.delivered,
        },
        "applied_ms": ms(t_applied),
        "checkins_per_s_applied": per_s(t_applied),
        "checkins_per_s_delivered": per_s(t_sync),
        "local_checkins_per_s": per_s(t_local),
        "ratio_sync_to_local": ratio(t_sync, t_local),
        "ratio_applied_to_local": ratio(t_applied, t_local),
        "ratio_sync_to_local_with_fill_in": ratio(t_sync, t_local + t_local_draft),
    }))
}

pub fn summary(v: &Value) -> String {
    format!(
        "embedded: {n} alliance check-ins\n  local write path (no sync): submit {l} ms ({lps}/s), filling in the drafts {f} ms\n  \
         sync total: {s} ms = patient push {pp} ms + therapist pull/apply/ack {tp} ms + receipts {rc} ms\n  \
         throughput: {a}/s until applied, {d}/s until delivered\n  \
         ratio sync / local submit: {r}x (with filling in: {rf}x)",
        n = v["checkins"],
        l = v["local_submit_ms"],
        f = v["local_fill_in_ms"],
        lps = v["local_checkins_per_s"],
        s = v["sync_ms"],
        pp = v["phases"]["patient_push_ms"],
        tp = v["phases"]["therapist_pull_ms"],
        rc = v["phases"]["patient_receipts_ms"],
        a = v["checkins_per_s_applied"],
        d = v["checkins_per_s_delivered"],
        r = v["ratio_sync_to_local"],
        rf = v["ratio_sync_to_local_with_fill_in"],
    )
}
