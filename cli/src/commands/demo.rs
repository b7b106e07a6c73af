//! `collabzium demo`: a simulated clinic on embedded defaults. One therapist
//! and a cohort of patients (12 by default) work through the 12-week
//! `steady-steps-12w` program for real: encrypted stores in a temporary
//! directory, pairing and end-to-end encrypted sync through an in-process
//! relay on SQLite, check-ins, modules, messages, approvals, safety alerts and
//! the therapist's own alliance ratings. Time is simulated on one shared
//! clock, so twelve weeks take seconds and `--seed` makes every output byte
//! identical between runs.
//!
//! Afterwards it prints the therapist's caseload with reasons and writes
//! charts (SVG), the research CSV, the alliance–outcome result and the
//! caseload (JSON) into an output folder. `docs/demo.md` describes the cohort.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use clap::Args;
use collabzium_core::agenda::{self, ItemKind};
use collabzium_core::checkin::Checkins;
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::domain::{consent::scopes, Profile, TreatmentMode};
use collabzium_core::insights::{self, CaseloadEntry, FlagConfig, PatientRecord, Priority};
use collabzium_core::platform::Clock;
use collabzium_core::program::Program;
use collabzium_core::research;
use collabzium_core::session;
use collabzium_core::store::Store;
use collabzium_core::sync::{self, InvitationState};
use collabzium_core::sync::{HttpTransport, TherapistInvitation};
use collabzium_core::{Error, Result};
use collabzium_http::UreqTransport;
use collabzium_relay::{spawn_background, RelayConfig};
use serde_json::{json, Value};

use crate::charts::{self, Band, LineChart, Markers, Note, OverviewRow, Series};
use crate::output::Output;

/// The program the cohort follows; embedded so the binary runs anywhere.
pub const PROGRAM_JSON: &str = include_str!("../../data/programs/steady-steps-12w.json");

/// Day 0 of the simulated program (a Monday). Fixed, so that a seed gives
/// byte-identical outputs whatever the date of the run.
const START: (i32, u32, u32) = (2025, 1, 6);
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const ZONE: &str = "Europe/London";

#[derive(Args)]
pub struct DemoArgs {
    /// Seed of the simulation; the same seed gives the same outputs (default: from the time).
    #[arg(long)]
    seed: Option<u64>,
    /// Output folder (default: ./collabzium-demo-<seed>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Patients in the cohort (8 to 60).
    #[arg(long, default_value_t = 12)]
    patients: usize,
    /// Weeks of the 12-week program to simulate (4 to 12).
    #[arg(long, default_value_t = 12)]
    weeks: u32,
    /// Afterwards, open the therapist's workstation over the demo's therapist
    /// store (a local web app; stop with Ctrl-C, the stores are then deleted).
    #[arg(long)]
    serve: bool,
    /// Where the workstation listens with --serve (loopback only).
    #[arg(long, default_value = "127.0.0.1:0", requires = "serve")]
    listen: std::net::SocketAddr,
}

// ------------------------------------------------------------------ clock, rng

/// The simulation's clock, shared by every store: it moves only when the
/// simulation moves it.
struct SimClock(AtomicI64);

impl SimClock {
    fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0.load(Ordering::SeqCst))
            .single()
            .unwrap_or_default()
    }
}

impl Clock for SimClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// xorshift64*: small, fast and plenty for a simulation.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f()
    }
    /// Approximately normal (sum of uniforms).
    fn normal(&mut self, sd: f64) -> f64 {
        ((0..6).map(|_| self.f()).sum::<f64>() - 3.0) * sd / std::f64::consts::FRAC_1_SQRT_2
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next_u64() % xs.len() as u64) as usize]
    }
    fn key(&mut self) -> [u8; 32] {
        let mut k = [0u8; 32];
        for chunk in k.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        k
    }
}

// ------------------------------------------------------------------ cohort

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Improver,
    SlowImprover,
    NonResponder,
    Rupture,
    Dropout,
    Deteriorates,
    Safety,
    Unguided,
}

impl Scenario {
    fn as_str(self) -> &'static str {
        match self {
            Scenario::Improver => "improves",
            Scenario::SlowImprover => "improves slowly (one risk answer early on, acknowledged)",
            Scenario::NonResponder => "no reliable improvement",
            Scenario::Rupture => "alliance rupture and repair",
            Scenario::Dropout => "drops out mid-program",
            Scenario::Deteriorates => "deteriorates",
            Scenario::Safety => "safety event in the last week (unacknowledged)",
            Scenario::Unguided => "unguided (self-help), improves",
        }
    }
}

/// The first 12 cover every required case; larger cohorts add the usual mix.
const SCENARIOS: [Scenario; 12] = [
    Scenario::Improver,
    Scenario::Rupture,
    Scenario::Dropout,
    Scenario::Deteriorates,
    Scenario::Safety,
    Scenario::Unguided,
    Scenario::Improver,
    Scenario::SlowImprover,
    Scenario::Improver,
    Scenario::NonResponder,
    Scenario::Improver,
    Scenario::SlowImprover,
];
const EXTRA: [Scenario; 5] = [
    Scenario::Improver,
    Scenario::SlowImprover,
    Scenario::Improver,
    Scenario::NonResponder,
    Scenario::Improver,
];

const FIRST: [&str; 20] = [
    "Alex", "Priya", "Jonas", "Mei", "Tomás", "Amara", "Sam", "Leila", "Noah", "Ines", "Kofi",
    "Hanna", "Ravi", "Zofia", "Omar", "Elin", "Luca", "Aiyana", "Dara", "Yusuf",
];
const INITIAL: [&str; 12] = ["B", "S", "K", "L", "R", "O", "W", "H", "F", "D", "A", "J"];

/// The simulated course of one patient: weekly latent scores.
struct Plan {
    label: String,
    scenario: Scenario,
    /// PHQ-9 total by week (0..=weeks).
    phq: Vec<f64>,
    /// Alliance (goals, tasks, bond) by week, 1 to 7.
    alliance: Vec<[f64; 3]>,
    /// Last week with any activity (dropout), else `weeks`.
    active_until: u32,
    /// Weeks of the rupture (goals and tasks low).
    rupture: Option<(u32, u32)>,
    /// Week of the PHQ-9 with a risk answer.
    risk_week: Option<u32>,
    /// How readily modules and check-ins are done (0 to 1).
    diligence: f64,
}

fn plan(i: usize, weeks: u32, rng: &mut Rng) -> Plan {
    let scenario = if i < SCENARIOS.len() {
        SCENARIOS[i]
    } else {
        EXTRA[(i - SCENARIOS.len()) % EXTRA.len()]
    };
    let label = if i < FIRST.len() {
        format!("{} {}.", FIRST[i], INITIAL[i % INITIAL.len()])
    } else {
        format!(
            "{} {}. ({})",
            FIRST[i % FIRST.len()],
            INITIAL[i % 12],
            i + 1
        )
    };
    let w = weeks as f64;
    // Scenario timings scale with the simulated length.
    let at = |frac: f64| ((w * frac).round() as u32).clamp(1, weeks);
    // Better early alliance goes with more improvement (the seed's r ≈ .2),
    // so quality drives both.
    let quality = rng.range(0.0, 1.0);
    let baseline = rng.range(11.0, 18.0);
    let mut alliance_base = [
        3.9 + 2.2 * quality + rng.normal(0.3),
        3.8 + 2.3 * quality + rng.normal(0.3),
        4.8 + 1.4 * quality + rng.normal(0.3),
    ];
    let (phq_at, mut drift): (Box<dyn Fn(f64) -> f64>, f64) = match scenario {
        Scenario::Improver | Scenario::Unguided | Scenario::Rupture => {
            let target = rng.range(3.0, 7.5) - 2.0 * quality;
            let tau = rng.range(2.5, 4.5);
            (
                Box::new(move |t: f64| target + (baseline - target) * (-t / tau).exp()),
                0.04,
            )
        }
        Scenario::SlowImprover => {
            let target = baseline * rng.range(0.5, 0.65);
            (
                Box::new(move |t: f64| target + (baseline - target) * (-t / 6.0).exp()),
                0.02,
            )
        }
        Scenario::NonResponder => {
            let slope = rng.range(-0.25, 0.1);
            (Box::new(move |t: f64| baseline + slope * t), -0.01)
        }
        Scenario::Dropout => {
            let target = baseline - 3.0;
            (
                Box::new(move |t: f64| target + 3.0 * (-t / 3.0).exp()),
                -0.05,
            )
        }
        Scenario::Deteriorates => {
            let base = rng.range(9.0, 11.5);
            (Box::new(move |t: f64| base + 11.0 * t / 12.0), -0.09)
        }
        Scenario::Safety => {
            let base = rng.range(16.0, 19.0);
            (Box::new(move |t: f64| base - 0.15 * t), -0.02)
        }
    };
    if scenario == Scenario::Deteriorates {
        alliance_base = [4.6, 4.5, 5.2];
    }
    if scenario == Scenario::Unguided {
        drift = 0.03;
    }
    let rupture = (scenario == Scenario::Rupture).then(|| (at(0.42), at(0.42) + 1));
    let mut phq = Vec::new();
    let mut alliance = Vec::new();
    for wk in 0..=weeks {
        let t = wk as f64;
        let mut p = phq_at(t) + rng.normal(1.0);
        let mut a = [0.0; 3];
        for (k, base) in alliance_base.iter().enumerate() {
            a[k] = base + drift * t + rng.normal(0.12);
        }
        if let Some((r0, r1)) = rupture {
            if (r0..=r1).contains(&wk) {
                a[0] -= 2.6;
                a[1] -= 2.9;
                a[2] -= 0.5;
                p += 2.5;
            } else if wk > r1 {
                a[0] += 0.3;
                a[1] += 0.3;
            }
        }
        phq.push(p.clamp(0.0, 24.0));
        alliance.push(a.map(|v| v.clamp(1.0, 7.0)));
    }
    let active_until = if scenario == Scenario::Dropout {
        at(0.34)
    } else {
        weeks
    };
    let risk_week = match scenario {
        Scenario::Safety => Some(weeks),
        Scenario::SlowImprover if i == 7 => Some(2.min(weeks)),
        _ => None,
    };
    let diligence = match scenario {
        Scenario::Improver | Scenario::Unguided => rng.range(0.8, 0.95),
        Scenario::Dropout => 0.6,
        Scenario::NonResponder | Scenario::Deteriorates => rng.range(0.55, 0.75),
        _ => rng.range(0.7, 0.9),
    };
    Plan {
        label,
        scenario,
        phq,
        alliance,
        active_until,
        rupture,
        risk_week,
        diligence,
    }
}

/// PHQ-9 answers summing to `total` over items 1–8 (item 9 is the risk item).
fn phq9_answers(total: f64, risk: i64, rng: &mut Rng) -> Value {
    let mut items = [0i64; 9];
    let mut left = (total.round() as i64).clamp(0, 24);
    // Spread evenly, then place the remainder at random items.
    for (i, item) in items.iter_mut().enumerate().take(8) {
        let share = left / (8 - i as i64);
        *item = share.min(3);
    }
    left -= items.iter().sum::<i64>();
    while left > 0 {
        let i = (rng.next_u64() % 8) as usize;
        if items[i] < 3 {
            items[i] += 1;
            left -= 1;
        }
    }
    // Jitter: move a point between two items, keeping the total.
    for _ in 0..3 {
        let a = (rng.next_u64() % 8) as usize;
        let b = (rng.next_u64() % 8) as usize;
        if items[a] > 0 && items[b] < 3 {
            items[a] -= 1;
            items[b] += 1;
        }
    }
    items[8] = risk;
    let mut m = serde_json::Map::new();
    for (i, v) in items.iter().enumerate() {
        m.insert(format!("phq9_{}", i + 1), (*v).into());
    }
    Value::Object(m)
}

fn gad7_answers(total: f64, rng: &mut Rng) -> Value {
    let mut left = (total.round() as i64).clamp(0, 21);
    let mut items = [0i64; 7];
    while left > 0 {
        let i = (rng.next_u64() % 7) as usize;
        if items[i] < 3 {
            items[i] += 1;
            left -= 1;
        }
    }
    let mut m = serde_json::Map::new();
    for (i, v) in items.iter().enumerate() {
        m.insert(format!("gad7_{}", i + 1), (*v).into());
    }
    Value::Object(m)
}

/// Alliance answers (patient or therapist form): items near each subscale's
/// level; `goals_3` and `tasks_3` are reverse-keyed, so they are answered
/// as `8 - level` and the subscale means move as intended.
fn alliance_answers(level: [f64; 3], sd: f64, rng: &mut Rng) -> serde_json::Map<String, Value> {
    let mut item = |v: f64, reverse: bool| {
        let a = (v + rng.normal(sd)).round().clamp(1.0, 7.0) as i64;
        Value::from(if reverse { 8 - a } else { a })
    };
    let mut m = serde_json::Map::new();
    m.insert("goals_1".into(), item(level[0], false));
    m.insert("goals_2".into(), item(level[0], false));
    m.insert("goals_3".into(), item(level[0], true));
    m.insert("tasks_1".into(), item(level[1], false));
    m.insert("tasks_2".into(), item(level[1], false));
    m.insert("tasks_3".into(), item(level[1], true));
    m.insert("bond_1".into(), item(level[2], false));
    m.insert("bond_2".into(), item(level[2], false));
    m
}

// ------------------------------------------------------------------ words

const FEEDBACK_BETTER: [&str; 4] = [
    "Thank you for this week's check-in. Your scores have come down since you started, and your day records show why: you kept going on the harder days too.",
    "Good to see the week's exercise done. Notice which small step made the biggest difference, and keep that one in the plan.",
    "Your answers this week look steadier. The next module builds on what you have already practised, so take it at your own pace.",
    "Thanks for keeping up the check-ins. It is clear you are putting the ideas into practice; what would you like to focus on next week?",
];
const FEEDBACK_SAME: [&str; 3] = [
    "Thank you for checking in. Things have not shifted much yet, which is common at this stage. Shall we make next week's plan a little smaller?",
    "I read your check-in. When weeks feel flat it can help to pick one activity you used to enjoy and schedule ten minutes of it.",
    "Thanks for staying with it. Which part of the program has felt most useful so far, and which least?",
];
const FEEDBACK_WORSE: [&str; 2] = [
    "I notice your scores have gone up over the last weeks. I would like to understand what has changed. Could we arrange a call this week?",
    "Thank you for being honest in your check-ins. Things look harder at the moment; let us look at what support would help, including options outside the program.",
];
const PATIENT_REPLIES: [&str; 5] = [
    "Thanks, that helps. The walk in the mornings is the part that works best.",
    "Thank you. This week was busy but I managed most of the plan.",
    "I found the day record hard to keep up, but I will try again.",
    "Good to hear from you. I will start the next module at the weekend.",
    "Thanks. I think the smaller steps suit me better.",
];
const RUPTURE_COMMENT: &str =
    "To be honest the exercises feel like they are for someone else, and I am not sure what we are aiming for any more.";
const REPAIR_MESSAGE: &str = "Thank you for telling me the exercises do not fit at the moment; that is really useful. Could we agree together what you want to get out of the next weeks, and make the tasks fit that? I have a few ideas but I would like to hear yours first.";
const REPAIR_REPLY: &str =
    "That would help. What matters most to me is getting back to seeing my friends, so maybe the plans could be about that.";
const DROPOUT_NUDGE: &str = "Hello, I have not seen a check-in from you for a little while. There is no pressure; if the program is not working for you right now, just let me know and we can talk about what would suit you better.";
const SAFETY_REPLY: &str = "I saw your answer about thoughts of being better off dead, and I am glad you told us. I will phone you tomorrow morning. If things feel unsafe before then, please use the numbers under Get help now.";

// ------------------------------------------------------------------ parties

struct Patient {
    plan: Plan,
    store: Store,
    checkins: Checkins,
    channel: String,
    path: PathBuf,
    guided: bool,
    /// Chart file stem, e.g. `p01`.
    stem: String,
}

fn therapist_profile() -> Profile {
    Profile {
        display_name: "Demo Therapist".into(),
        time_zone: ZONE.into(),
        locale: "en-GB".into(),
        mode: TreatmentMode::Guided,
        country: None,
    }
}

fn pair(
    url: &str,
    t: &dyn HttpTransport,
    therapist: &Store,
    patient: &Store,
    label: &str,
) -> Result<String> {
    let mut inv = TherapistInvitation::create(therapist, t, url, Some(label))?;
    let code = inv.view()?.code;
    sync::join(patient, t, Some(url), &code, false, None)?;
    for _ in 0..200 {
        match inv.poll(therapist, t)? {
            InvitationState::Paired { channel_id, .. } => {
                session::sync(patient, t)?;
                return Ok(channel_id);
            }
            InvitationState::Waiting => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    Err(Error::Internal("pairing did not complete".into()))
}

/// The therapist assigns the program to one patient: the same event as
/// `sync::send_program_assignment`, queued with a per-channel ref id.
fn assign_program(therapist: &Store, channel: &str, start: NaiveDate) -> Result<()> {
    sync::send_program_assignment(therapist, channel, PROGRAM_JSON, start)
}

fn approve_module(therapist: &Store, channel: &str, module_id: &str) -> Result<()> {
    sync::send_unlock_approval(therapist, channel, module_id)
}

fn sync(store: &Store, t: &dyn HttpTransport) -> Result<sync::SyncSummary> {
    let s = session::sync(store, t)?;
    if let Some(e) = &s.error {
        return Err(Error::Internal(format!("demo sync stopped: {e}")));
    }
    Ok(s)
}

/// A hand-written progress bar on stderr: `[#####.....]  42% label`.
struct Progress {
    on: bool,
    total: usize,
    done: usize,
}

impl Progress {
    fn step(&mut self, label: &str) {
        self.done = (self.done + 1).min(self.total);
        if !self.on {
            return;
        }
        let pct = self.done * 100 / self.total.max(1);
        let filled = pct * 30 / 100;
        let bar: String = "#".repeat(filled) + &".".repeat(30 - filled);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r[{bar}] {pct:>3}% {label:<28}");
        let _ = err.flush();
    }
    fn finish(&self) {
        if self.on {
            let _ = writeln!(std::io::stderr(), "\r{:<70}\r", "");
        }
    }
}

// ------------------------------------------------------------------ run

pub fn run(out: &Output, args: DemoArgs) -> Result<()> {
    if !(8..=60).contains(&args.patients) {
        return Err(Error::invalid("patients", "must be 8 to 60"));
    }
    if !(4..=12).contains(&args.weeks) {
        return Err(Error::invalid("weeks", "must be 4 to 12"));
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() % 100_000)
            .unwrap_or(1)
    });
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("collabzium-demo-{seed}")));
    super::create_private_dir(&dir.join("charts"))?;
    let started = Instant::now();
    if !out.json {
        println!(
            "Collabzium demo: 1 therapist, {} patients, {} weeks of \"Steady steps\", synced end-to-end encrypted through a local relay (seed {seed})",
            args.patients, args.weeks
        );
    }
    let program = collabzium_core::program::load(PROGRAM_JSON)
        .map_err(|issues| Error::Internal(format!("embedded program invalid: {}", issues[0])))?;
    let sim = simulate(out, &args, seed, &program)?;
    let files = write_outputs(&dir, &args, seed, &sim)?;
    let elapsed = started.elapsed().as_secs_f64();

    let caseload_json = rounded(caseload_json(&sim), 3);
    out.emit(
        &json!({
            "seed": seed,
            "output_dir": dir,
            "weeks": args.weeks,
            "now": sim.now,
            "patients": sim.patients.iter().map(|p| json!({
                "label": p.label, "scenario": p.scenario, "mode": p.mode,
                "charts": {"alliance": format!("charts/{}-alliance.svg", p.stem),
                           "symptoms": format!("charts/{}-symptoms.svg", p.stem)},
                "points": p.points,
            })).collect::<Vec<_>>(),
            "caseload": caseload_json,
            "files": files,
            "checks": sim.checks,
            "elapsed_s": (elapsed * 10.0).round() / 10.0,
        }),
        || human_report(&sim, &dir, &files, elapsed),
    );
    let failed: Vec<&String> = sim
        .checks
        .iter()
        .filter(|(_, ok)| !**ok)
        .map(|(k, _)| k)
        .collect();
    if !failed.is_empty() {
        return Err(Error::Internal(format!("demo checks failed: {failed:?}")));
    }
    if let Some(kept) = sim.kept {
        if !out.json {
            println!("\nOpening the therapist's workstation over the demo's therapist store.");
        }
        let result = super::workstation::serve(
            out,
            session::Session::new(kept.therapist),
            super::workstation::ServeOptions {
                relay: Some(kept.relay.url()),
                listen: args.listen,
                allow_non_loopback: false,
                sync_interval: Duration::from_secs(30),
            },
        );
        kept.relay.shutdown();
        drop(kept.dir);
        result?;
    }
    Ok(())
}

/// With `--serve`: the therapist's store, its relay and their folder, kept
/// open for the workstation.
struct Kept {
    dir: tempfile::TempDir,
    therapist: Store,
    relay: collabzium_relay::RelayHandle,
}

/// What the simulation leaves for reporting.
struct Simulated {
    now: DateTime<Utc>,
    weeks: u32,
    /// Sorted by label (deterministic).
    records: Vec<PatientRecord>,
    caseload: Vec<CaseloadEntry>,
    patients: Vec<PatientSummary>,
    checks: BTreeMap<String, bool>,
    kept: Option<Kept>,
}

struct PatientSummary {
    label: String,
    stem: String,
    scenario: &'static str,
    mode: &'static str,
    points: BTreeMap<String, usize>,
}

fn simulate(out: &Output, args: &DemoArgs, seed: u64, program: &Program) -> Result<Simulated> {
    let mut rng = Rng::new(seed);
    let tmp = tempfile::Builder::new()
        .prefix("collabzium-demo-stores-")
        .tempdir()?;
    let relay = spawn_background(RelayConfig {
        database: format!("sqlite:{}", tmp.path().join("relay.db").display()),
        listen: (std::net::Ipv4Addr::LOCALHOST, 0).into(),
        rate_limit_per_s: 0,
        ip_rate_limit_per_s: 0,
        ..RelayConfig::default()
    })
    .map_err(|e| Error::Internal(format!("relay: {e}")))?;
    let url = relay.url();
    let t = UreqTransport::new(Duration::from_secs(30));

    let start_date = NaiveDate::from_ymd_opt(START.0, START.1, START.2)
        .ok_or_else(|| Error::Internal(format!("demo start date {START:?} is not a date")))?;
    let day0 = Utc
        .from_utc_datetime(&start_date.and_time(NaiveTime::MIN))
        .timestamp_millis();
    let clock = Arc::new(SimClock(AtomicI64::new(day0 - DAY_MS + 9 * HOUR_MS)));
    let days = args.weeks as i64 * 7;
    let mut progress = Progress {
        on: !out.json && std::io::stderr().is_terminal(),
        total: args.patients + days as usize + 3,
        done: 0,
    };

    // The therapist, the cohort, pairing and program assignment (day -1).
    let therapist_path = tmp.path().join("therapist.db");
    let therapist = Store::create_with_clock(
        &therapist_path,
        &MemoryKeyProvider::new(rng.key()),
        clock.clone(),
    )?;
    therapist.set_profile(&therapist_profile())?;
    let mut patients = Vec::new();
    for i in 0..args.patients {
        let plan = plan(i, args.weeks, &mut rng);
        let guided = plan.scenario != Scenario::Unguided;
        let path = tmp.path().join(format!("patient-{:02}.db", i + 1));
        let store =
            Store::create_with_clock(&path, &MemoryKeyProvider::new(rng.key()), clock.clone())?;
        store.set_profile(&Profile {
            display_name: plan.label.clone(),
            time_zone: ZONE.into(),
            locale: "en-GB".into(),
            mode: if guided {
                TreatmentMode::Guided
            } else {
                TreatmentMode::Unguided
            },
            country: None,
        })?;
        collabzium_core::session::grant_consent(&store, scopes::DATA_PROCESSING, "v1")?;
        collabzium_core::session::grant_consent(&store, scopes::THERAPIST_SHARING, "v1")?;
        let channel = pair(&url, &t, &therapist, &store, &plan.label)?;
        // After pairing, so the decision syncs to the therapist (joined
        // without sharing history); before any data, so every simulated
        // measurement is under consent and the research export keeps all.
        collabzium_core::session::grant_consent(&store, scopes::RESEARCH_EXPORT, "v1")?;
        assign_program(&therapist, &channel, start_date)?;
        let checkins = Checkins::new(store.clone())?.with_program(program.clone());
        patients.push(Patient {
            stem: format!("p{:02}", i + 1),
            plan,
            store,
            checkins,
            channel,
            path,
            guided,
        });
        progress.step("pairing");
    }
    sync(&therapist, &t)?;
    for p in &patients {
        sync(&p.store, &t)?;
        agenda::load_state(&p.store)?; // enrolled through sync
    }

    // Day by day.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut approved: BTreeSet<usize> = BTreeSet::new();
    let mut nudged: BTreeSet<usize> = BTreeSet::new();
    let mut unacked_alerts = 0usize;
    for day in 0..=days {
        let week = (day / 7) as u32;
        let at = |h: i64, m: i64| day0 + day * DAY_MS + h * HOUR_MS + m * 60_000;
        let mut active_today = vec![false; patients.len()];
        for (i, p) in patients.iter_mut().enumerate() {
            if week > p.plan.active_until || (week == p.plan.active_until && day % 7 > 2) {
                continue;
            }
            // Morning: read a module that is open (at most one a day).
            clock.set(at(8, 30) + i as i64 * 60_000);
            let st = agenda::load_state(&p.store)?;
            let now = clock.now();
            let items = agenda::items(&st, now);
            if let Some(m) = items
                .iter()
                .find(|it| it.kind == ItemKind::Module && it.state.is_actionable())
            {
                if rng.chance(p.plan.diligence * 0.75) {
                    agenda::complete(&p.store, &m.id, now)?;
                    active_today[i] = true;
                }
            }
            // Evening: the open check-ins (after 18:00 local).
            clock.set(at(19, 10) + i as i64 * 60_000);
            let now = clock.now();
            let st = agenda::load_state(&p.store)?;
            let due: Vec<(String, String)> = agenda::items(&st, now)
                .into_iter()
                .filter(|it| it.kind == ItemKind::Checkin && it.state.is_actionable())
                .map(|it| (it.id, it.instrument.unwrap_or_default()))
                .collect();
            for (item, instrument) in due {
                // Most do it on the day; some a day or two late; a few never.
                let is_late = item_opened_days_ago(&item, now) >= 1;
                let p_do = if is_late { 0.75 } else { p.plan.diligence };
                let forced = instrument == "phq9" && p.plan.risk_week == Some(week);
                if !forced && !rng.chance(p_do) {
                    continue;
                }
                let w = week.min(args.weeks) as usize;
                let answers = match instrument.as_str() {
                    "phq9" => {
                        let risk = i64::from(p.plan.risk_week == Some(week));
                        let total = if risk > 0 {
                            p.plan.phq[w].max(16.0)
                        } else {
                            p.plan.phq[w]
                        };
                        phq9_answers(total, risk, &mut rng)
                    }
                    "gad7" => gad7_answers(p.plan.phq[w] * 0.75 + rng.normal(1.5), &mut rng),
                    _ => {
                        let mut a = alliance_answers(p.plan.alliance[w], 0.3, &mut rng);
                        if p.plan.rupture.map(|r| r.0) == Some(week) {
                            a.insert("comment".into(), RUPTURE_COMMENT.into());
                        }
                        Value::Object(a)
                    }
                };
                let draft = p.checkins.start_from_agenda(&item)?;
                p.checkins.answer_json(&draft.checkin_id, &answers)?;
                p.checkins.submit(&draft.checkin_id)?;
                active_today[i] = true;
            }
            // Some patients answer the therapist's last message.
            if p.guided && active_today[i] && day % 7 == 5 && rng.chance(0.35) {
                let text = if p.plan.rupture.map(|r| r.1 + 1) == Some(week) {
                    REPAIR_REPLY
                } else {
                    *rng.pick(&PATIENT_REPLIES)
                };
                clock.set(at(19, 50) + i as i64 * 60_000);
                sync::send_message(&p.store, None, text, None)?;
            }
            if active_today[i] || day % 3 == 0 {
                clock.set(at(20, 0) + i as i64 * 60_000);
                sync(&p.store, &t)?;
            }
        }

        // The therapist reviews the evening's events.
        clock.set(at(21, 0));
        sync(&therapist, &t)?;
        let inbox = sync::inbox(&therapist, &["safety_alert", "module_progress"])?;
        for e in inbox.iter().rev() {
            if !seen.insert(e.event_id.clone()) {
                continue;
            }
            let Some(pi) = patients.iter().position(|p| p.channel == e.channel_id) else {
                continue;
            };
            match e.kind.as_str() {
                "safety_alert" => {
                    let alert_id = e
                        .event_id
                        .split_once(':')
                        .map(|(_, id)| id.to_string())
                        .unwrap_or_default();
                    // The last-week event is still waiting when the demo ends.
                    if patients[pi].plan.scenario == Scenario::Safety {
                        unacked_alerts += 1;
                    } else {
                        sync::send_alert_ack(
                            &therapist,
                            &e.channel_id,
                            &alert_id,
                            collabzium_core::checkin::AckAction::Phone,
                            None,
                        )?;
                        sync::send_message(&therapist, Some(&e.channel_id), SAFETY_REPLY, None)?;
                    }
                }
                _ => {
                    let done = e.body.get("ref_id").and_then(Value::as_str);
                    if done == Some("worry-and-rumination")
                        && patients[pi].guided
                        && approved.insert(pi)
                    {
                        approve_module(&therapist, &e.channel_id, "solving-problems")?;
                    }
                }
            }
        }
        // Weekly feedback, the therapist's own alliance ratings, nudges.
        if day % 7 == 4 {
            for (i, p) in patients.iter().enumerate() {
                if !p.guided {
                    continue;
                }
                let w = week as usize;
                if week > p.plan.active_until {
                    if nudged.insert(i) {
                        sync::send_message(&therapist, Some(&p.channel), DROPOUT_NUDGE, None)?;
                    }
                    continue;
                }
                let text = if p.plan.rupture.map(|r| r.1) == Some(week) {
                    REPAIR_MESSAGE
                } else {
                    let change = p.plan.phq[w] - p.plan.phq[0];
                    if change <= -4.0 {
                        *rng.pick(&FEEDBACK_BETTER)
                    } else if change >= 4.0 {
                        *rng.pick(&FEEDBACK_WORSE)
                    } else {
                        *rng.pick(&FEEDBACK_SAME)
                    }
                };
                sync::send_message(&therapist, Some(&p.channel), text, None)?;
                if week % 3 == 2 {
                    // The therapist sees the alliance a little rosier than
                    // the patient, and misses most of a rupture.
                    let mut level = p.plan.alliance[w].map(|v| (v + 0.3).min(7.0));
                    if let Some((r0, r1)) = p.plan.rupture {
                        if (r0..=r1).contains(&week) {
                            level = p.plan.alliance[r0.saturating_sub(1) as usize];
                        }
                    }
                    let answers = Value::Object(alliance_answers(level, 0.3, &mut rng));
                    insights::rate_alliance(&therapist, &p.channel, &answers)?;
                }
            }
        }
        // The therapist's messages, approvals and acks go out tonight.
        clock.set(at(21, 30));
        sync(&therapist, &t)?;
        progress.step(&format!("week {week} of {}", args.weeks));
    }

    // The last evening: everyone still active syncs until nothing moves.
    let end = day0 + days * DAY_MS + 22 * HOUR_MS;
    clock.set(end);
    for _ in 0..4 {
        for p in &patients {
            if p.plan.active_until >= args.weeks {
                sync(&p.store, &t)?;
            }
        }
        sync(&therapist, &t)?;
    }
    progress.step("final sync");

    // What the therapist's device knows.
    let now = clock.now();
    let mut records = insights::load_patients(&therapist)?;
    records.sort_by(|a, b| a.label.cmp(&b.label));
    let caseload = insights::caseload(&records, now, &FlagConfig::default());
    progress.step("caseload");

    // Checks that keep the demo honest (from the earlier demo): nothing a
    // patient wrote is in plaintext in any database file, and the audit
    // chains are intact.
    let mut checks = BTreeMap::new();
    let relay_db = std::fs::read(tmp.path().join("relay.db")).unwrap_or_default();
    let therapist_db = std::fs::read(&therapist_path).unwrap_or_default();
    let mut leaked = false;
    for p in &patients {
        let db = std::fs::read(&p.path).unwrap_or_default();
        for needle in [p.plan.label.as_bytes(), RUPTURE_COMMENT.as_bytes()] {
            for hay in [&db, &relay_db, &therapist_db] {
                leaked |= hay.windows(needle.len()).any(|w| w == needle);
            }
        }
    }
    checks.insert("no_plaintext_in_database_files".to_string(), !leaked);
    let mut audit_ok = therapist.verify_audit()?.ok;
    for p in &patients {
        audit_ok &= p.store.verify_audit()?.ok;
    }
    checks.insert("audit_chains_intact".to_string(), audit_ok);
    checks.insert(
        "every_patient_on_the_caseload".to_string(),
        caseload.len() == patients.len(),
    );
    checks.insert(
        "safety_first".to_string(),
        caseload.first().map(|e| e.priority) == Some(Priority::Safety) || unacked_alerts == 0,
    );

    let summaries = patients
        .iter()
        .map(|p| {
            let rec = records.iter().find(|r| r.channel_id == p.channel).cloned();
            let mut points = BTreeMap::new();
            if let Some(r) = rec {
                for c in &r.checkins {
                    *points.entry(c.instrument.clone()).or_insert(0) += 1;
                }
                points.insert("alliance_therapist".into(), r.therapist_ratings.len());
            }
            PatientSummary {
                label: p.plan.label.clone(),
                stem: p.stem.clone(),
                scenario: p.plan.scenario.as_str(),
                mode: if p.guided { "guided" } else { "unguided" },
                points,
            }
        })
        .collect();
    // Stem by channel, for the writers (records carry only the channel).
    let stems: BTreeMap<String, String> = patients
        .iter()
        .map(|p| (p.channel.clone(), p.stem.clone()))
        .collect();
    for r in &mut records {
        // Keep channel ids out of the outputs: they are random per run.
        if let Some(s) = stems.get(&r.channel_id) {
            r.channel_id = s.clone();
        }
    }
    let caseload = caseload
        .into_iter()
        .map(|mut e| {
            if let Some(s) = stems.get(&e.channel_id) {
                e.channel_id = s.clone();
            }
            e
        })
        .collect();
    for p in &patients {
        p.store.close();
    }
    let kept = if args.serve {
        Some(Kept {
            dir: tmp,
            therapist,
            relay,
        })
    } else {
        therapist.close();
        relay.shutdown();
        None
    };
    progress.step("done");
    progress.finish();
    Ok(Simulated {
        now,
        weeks: args.weeks,
        records,
        caseload,
        patients: summaries,
        checks,
        kept,
    })
}

/// Days since a check-in item's occurrence (`checkin:<schedule>:<local time>`).
fn item_opened_days_ago(item: &str, now: DateTime<Utc>) -> i64 {
    item.rsplit_once(':')
        .and_then(|(head, mm)| {
            let (_, hh) = head.rsplit_once(':')?;
            let local = format!("{hh}:{mm}");
            chrono::NaiveDateTime::parse_from_str(&local, "%Y-%m-%dT%H:%M").ok()
        })
        .map(|t| (now.naive_utc() - t).num_hours() / 24)
        .unwrap_or(0)
}

// ------------------------------------------------------------------ outputs

fn priority_color(p: Priority) -> &'static str {
    match p {
        Priority::Safety => "#c53030",
        Priority::Deterioration => "#dd6b20",
        Priority::RecentRisk => "#9b2c2c",
        Priority::Rupture => "#b7791f",
        Priority::Disengagement => "#6b46c1",
        Priority::NonResponse => "#2b6cb0",
        Priority::Routine => "#2f855a",
    }
}

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Safety => "Safety",
        Priority::Deterioration => "Deterioration",
        Priority::RecentRisk => "Recent risk",
        Priority::Rupture => "Rupture",
        Priority::Disengagement => "Disengagement",
        Priority::NonResponse => "Non-response",
        Priority::Routine => "Routine",
    }
}

/// The headline score for a caseload row: "PHQ-9 19 (Moderately severe)",
/// with its age when stale ("…, 21 days ago").
fn headline_text(e: &CaseloadEntry) -> String {
    let Some(h) = &e.headline else {
        return "-".into();
    };
    let mut s = format!("{} {}", h.display_name, trim_num(h.total));
    if let Some(l) = &h.severity_label {
        s.push_str(&format!(" ({l})"));
    }
    if h.stale {
        s.push_str(&format!(", {} days ago", h.age_days));
    }
    s
}

fn instrument_name(id: &str) -> String {
    match id {
        "phq9" => "PHQ-9".into(),
        "gad7" => "GAD-7".into(),
        other => other.to_string(),
    }
}

/// Pale band colours from least to most severe.
/// Severity bands from none to severe: one hue step each, the highest
/// clearly darker (they were hard to tell apart; issue 14).
const BAND_COLORS: [&str; 5] = ["#d9efd9", "#eef3c4", "#fde3a7", "#f8b98c", "#e57373"];

fn caseload_json(sim: &Simulated) -> Value {
    Value::Array(
        sim.caseload
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    // `channel_id` was replaced by the chart stem.
                    if let Some(stem) = m.remove("channel_id") {
                        m.insert("patient".into(), stem);
                    }
                }
                v
            })
            .collect(),
    )
}

fn write_outputs(dir: &Path, args: &DemoArgs, seed: u64, sim: &Simulated) -> Result<Vec<String>> {
    let mut files = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<()> {
        super::write_private(&dir.join(name), bytes)?;
        files.push(name.to_string());
        Ok(())
    };
    let weeks = args.weeks;
    let mut overview = Vec::new();
    let timelines: BTreeMap<String, insights::Timeline> = sim
        .records
        .iter()
        .map(|r| (r.channel_id.clone(), insights::timeline(r, sim.now)))
        .collect();
    for p in &sim.patients {
        let Some(tl) = timelines.get(&p.stem) else {
            continue;
        };
        let (alliance, symptoms) = patient_charts(p, tl, weeks);
        put(
            &format!("charts/{}-alliance.svg", p.stem),
            alliance.as_bytes(),
        )?;
        put(
            &format!("charts/{}-symptoms.svg", p.stem),
            symptoms.as_bytes(),
        )?;
    }
    for e in &sim.caseload {
        let tl = timelines.get(&e.channel_id);
        let alliance = tl
            .map(|t| {
                t.alliance
                    .iter()
                    .filter(|a| a.source == "patient")
                    .filter_map(|a| a.total.map(|v| (a.week as f64, v)))
                    .collect()
            })
            .unwrap_or_default();
        let latest = headline_text(e);
        overview.push(OverviewRow {
            label: e.label.clone().unwrap_or_else(|| e.channel_id.clone()),
            priority: priority_name(e.priority).into(),
            color: priority_color(e.priority).into(),
            week: Some(e.week),
            latest,
            alliance,
            reason: e
                .reasons
                .first()
                .map(|f| f.reason.clone())
                .unwrap_or_else(|| "On track".into()),
        });
    }
    let svg = charts::caseload_svg(
        "Caseload: whom to contact and why",
        &format!(
            "Simulated clinic, seed {seed}, {} patients, as of week {weeks} ({}). Ordered by priority (safety, deterioration, recent risk, rupture, disengagement, non-response, routine), then by the headline score's severity.",
            sim.caseload.len(),
            sim.now.format("%Y-%m-%d")
        ),
        weeks,
        &overview,
    );
    put("caseload.svg", svg.as_bytes())?;

    // Research CSV with pseudonyms drawn from the seed, and its analysis.
    // Everyone in the simulation consented before their first check-in,
    // so the note says 0 left out.
    let export = insights::research_export(&sim.records, Some(seed));
    let csv = research::rows_to_csv(&export.rows).map_err(|e| Error::Internal(e.to_string()))?;
    put("research.csv", csv.as_bytes())?;
    put(
        "research.csv.note.json",
        (serde_json::to_string_pretty(&export.note).map_err(|e| Error::Internal(e.to_string()))?
            + "\n")
            .as_bytes(),
    )?;
    let analysis = research::analyze_csv(&csv).map_err(|e| Error::Internal(e.to_string()))?;
    let analysis = rounded(
        serde_json::to_value(&analysis).map_err(|e| Error::Internal(e.to_string()))?,
        3,
    );
    put(
        "alliance-outcome.json",
        (serde_json::to_string_pretty(&analysis).map_err(|e| Error::Internal(e.to_string()))?
            + "\n")
            .as_bytes(),
    )?;
    put(
        "caseload.json",
        (serde_json::to_string_pretty(&rounded(caseload_json(sim), 3))
            .map_err(|e| Error::Internal(e.to_string()))?
            + "\n")
            .as_bytes(),
    )?;
    put("index.html", index_html(sim, seed, &analysis).as_bytes())?;
    Ok(files)
}

/// The files are for people: numbers to `digits` decimals, not 16 (the
/// workstation's research page shows the same three decimals).
fn rounded(v: Value, digits: i32) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => {
            let scale = 10f64.powi(digits);
            n.as_f64()
                .map(|x| (x * scale).round() / scale)
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Number(n), Value::Number)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|x| rounded(x, digits)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, rounded(x, digits)))
                .collect(),
        ),
        other => other,
    }
}

fn patient_charts(p: &PatientSummary, tl: &insights::Timeline, weeks: u32) -> (String, String) {
    let title = format!("{}: {}", p.label, p.scenario);
    let patient: Vec<&insights::AlliancePoint> = tl
        .alliance
        .iter()
        .filter(|a| a.source == "patient")
        .collect();
    let line = |id: &str,
                label: &str,
                color: &str,
                f: &dyn Fn(&insights::AlliancePoint) -> Option<f64>| Series {
        id: id.into(),
        label: label.into(),
        color: color.into(),
        dashed: false,
        points: patient
            .iter()
            .filter_map(|a| f(a).map(|v| (a.week as f64, v)))
            .collect(),
    };
    let therapist: Vec<(f64, f64)> = tl
        .alliance
        .iter()
        .filter(|a| a.source == "therapist")
        .filter_map(|a| a.total.map(|v| (a.week as f64, v)))
        .collect();
    // Flags become marks at their week: a rupture where it happened, a
    // repair where it was repaired, a safety alert on the symptom chart.
    let week_of = |at: chrono::DateTime<chrono::Utc>| {
        tl.alliance
            .iter()
            .map(|a| (a.at, a.week))
            .chain(
                tl.symptoms
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| (p.at, p.week))),
            )
            .min_by_key(|(t, _)| (*t - at).num_seconds().abs())
            .map(|(_, w)| w as f64)
    };
    let mut notes: Vec<Note> = Vec::new();
    let mut safety_notes: Vec<Note> = Vec::new();
    let mark = |into: &mut Vec<Note>, at, label: &str, color: &str| {
        if let Some(week) = week_of(at) {
            if !into.iter().any(|n| n.week == week && n.label == label) {
                into.push(Note {
                    week,
                    label: label.into(),
                    color: color.into(),
                });
            }
        }
    };
    for f in &tl.flags {
        let latest = f.evidence.iter().filter_map(|e| e.at).max();
        let ruptures = f
            .evidence
            .iter()
            .filter(|e| e.label.ends_with(" at rupture"))
            .filter_map(|e| e.at);
        match f.kind {
            insights::FlagKind::AllianceRupture | insights::FlagKind::Repair => {
                for at in ruptures {
                    mark(&mut notes, at, "rupture", "#c53030");
                }
                if f.kind == insights::FlagKind::Repair {
                    if let Some(at) = latest {
                        mark(&mut notes, at, "repair", "#2f855a");
                    }
                }
            }
            insights::FlagKind::Discrepancy => {
                if let Some(at) = latest {
                    mark(&mut notes, at, "discrepancy", "#6b46c1");
                }
            }
            insights::FlagKind::Safety | insights::FlagKind::RecentRisk => {
                let alerts = f
                    .evidence
                    .iter()
                    .filter(|e| {
                        e.label.ends_with(" answer") || e.label.starts_with("risk language")
                    })
                    .filter_map(|e| e.at);
                for at in alerts {
                    mark(&mut safety_notes, at, "safety alert", "#b00020");
                }
            }
            _ => {}
        }
    }
    let alliance = LineChart {
        title: format!("Alliance: {title}"),
        subtitle: format!(
            "Patient check-ins ({}), subscale means 1-7; diamonds: the therapist's own ratings (total)",
            if p.mode == "unguided" {
                "self-guided form: bond with the program"
            } else {
                "guided form"
            }
        ),
        y_label: "Agreement (1-7)".into(),
        weeks,
        y_min: 1.0,
        y_max: 7.0,
        y_ticks: (1..=7).map(f64::from).collect(),
        bands: vec![],
        series: vec![
            line("goals", "Goals", "#2b6cb0", &|a| a.goals),
            line("tasks", "Tasks", "#dd6b20", &|a| a.tasks),
            line("bond", "Bond", "#2f855a", &|a| a.bond),
        ],
        markers: if therapist.is_empty() {
            vec![]
        } else {
            vec![Markers {
                id: "therapist".into(),
                label: "Therapist rating".into(),
                color: "#553c9a".into(),
                points: therapist,
            }]
        },
        notes,
    };
    let alliance_svg = charts::render(&format!("Alliance: {title}"), &[alliance]);
    // PHQ-9 first, then the others by id.
    let mut symptoms: Vec<&insights::SymptomSeries> = tl.symptoms.iter().collect();
    symptoms.sort_by_key(|s| (s.instrument != "phq9", s.instrument.clone()));
    let panels: Vec<LineChart> = symptoms
        .into_iter()
        .map(|s| {
            let y_max = s.bands.iter().map(|b| b.max).fold(0.0, f64::max).max(1.0);
            let name = instrument_name(&s.instrument);
            let step = 3.0;
            LineChart {
                title: format!("{name}: {title}"),
                subtitle: format!(
                    "Total score by week, {} is worse; reliable change: {} points",
                    if s.higher_is_worse { "higher" } else { "lower" },
                    s.reliable_change_threshold
                ),
                y_label: format!("{name} total"),
                weeks,
                y_min: 0.0,
                y_max,
                y_ticks: (0..)
                    .map(|k| k as f64 * step)
                    .take_while(|v| *v <= y_max)
                    .collect(),
                bands: s
                    .bands
                    .iter()
                    .enumerate()
                    .map(|(k, b)| Band {
                        label: b.label.clone(),
                        // Integer scores: a band covers min-0.5 to max+0.5.
                        min: (b.min - 0.5).max(0.0),
                        max: (b.max + 0.5).min(y_max),
                        color: BAND_COLORS[k.min(BAND_COLORS.len() - 1)].into(),
                    })
                    .collect(),
                series: vec![Series {
                    id: s.instrument.clone(),
                    label: name.clone(),
                    color: "#1a202c".into(),
                    dashed: false,
                    points: s
                        .points
                        .iter()
                        .map(|pt| (pt.week as f64, pt.score))
                        .collect(),
                }],
                markers: vec![],
                notes: safety_notes.clone(),
            }
        })
        .collect();
    let symptoms_svg = charts::render(&format!("Symptoms: {title}"), &panels);
    (alliance_svg, symptoms_svg)
}

/// A page a newcomer can read: the caseload with its reasons, the
/// alliance–outcome result beside the meta-analysis, then every chart.
/// Self-contained (an inline style sheet, no script), like the files.
fn index_html(sim: &Simulated, seed: u64, analysis: &Value) -> String {
    let esc = charts::escape;
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Collabzium demo, seed {seed}</title>\n<style>\
body{{font-family:system-ui,Helvetica,Arial,sans-serif;max-width:1320px;margin:0 auto;padding:1rem 1.5rem;color:#1a202c;line-height:1.45}}\
h1{{font-size:1.6rem}} h2{{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}}\
table{{border-collapse:collapse;margin:.5rem 0}} th,td{{border:1px solid #bbb;padding:.3rem .55rem;text-align:left;vertical-align:top}}\
th{{background:#edf2f7}} td.num{{text-align:right;font-variant-numeric:tabular-nums}}\
.tier{{font-weight:bold}} img{{max-width:100%;height:auto;display:block;margin:.5rem 0}} .note{{color:#4a5568}}\
</style></head>\n<body>\n<h1>Collabzium demo (seed {seed})</h1>\n\
<p class=\"note\">Simulated patients only. For the same data in the therapist's workstation, run \
<code>collabzium demo --serve</code>. Files: <a href=\"caseload.json\">caseload.json</a>, \
<a href=\"research.csv\">research.csv</a> (consent note: <a href=\"research.csv.note.json\">research.csv.note.json</a>), \
<a href=\"alliance-outcome.json\">alliance-outcome.json</a>.</p>\n\
<h2>Caseload on {} (week {} of the program)</h2>\n<img src=\"caseload.svg\" alt=\"The caseload as a chart: priority, patient, week, latest symptoms, alliance and top reason, as in the table below\">\n\
<table><thead><tr><th scope=\"col\">#</th><th scope=\"col\">Priority</th><th scope=\"col\">Patient</th><th scope=\"col\">Week</th><th scope=\"col\">Reasons</th></tr></thead><tbody>\n",
        sim.now.format("%Y-%m-%d"),
        sim.weeks
    );
    for (i, e) in sim.caseload.iter().enumerate() {
        let reasons: Vec<String> = e.reasons.iter().map(|f| esc(&f.reason)).collect();
        s.push_str(&format!(
            "<tr><td class=\"num\">{}</td><td class=\"tier\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
            i + 1,
            esc(priority_name(e.priority)),
            esc(e.label.as_deref().unwrap_or("?")),
            e.week,
            if reasons.is_empty() { "-".to_string() } else { reasons.join("<br>") }
        ));
    }
    let cell = |v: &Value| match (v["r"].as_f64(), v["ci"][0].as_f64(), v["ci"][1].as_f64()) {
        (Some(r), Some(lo), Some(hi)) => format!("{r:.3} [{lo:.3}, {hi:.3}]"),
        _ => "too few patients".to_string(),
    };
    // The reference travels with the analysis (core's research module).
    let benchmark = analysis
        .as_array()
        .and_then(|a| a.first())
        .map(|r| cell(&r["benchmark"]))
        .unwrap_or_default();
    s.push_str(&format!("</tbody></table>\n<h2>Alliance and outcome</h2>\n<p>Correlation of the early alliance with the change in symptoms, \
with its 95% confidence interval, beside the meta-analytic estimate for internet-based treatment: \
r = {benchmark}. With a dozen simulated patients the interval is wide.</p>\n\
<table><thead><tr><th scope=\"col\">Instrument</th><th scope=\"col\">Alliance scale</th><th scope=\"col\">n</th><th scope=\"col\">r [95% CI]</th></tr></thead><tbody>\n"));
    for r in analysis.as_array().into_iter().flatten() {
        let name = instrument_name(r["instrument"].as_str().unwrap_or("?"));
        s.push_str(&format!(
            "<tr><td>{}</td><td>total</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            esc(&name),
            r["n"],
            cell(r)
        ));
        for (scale, v) in r["subscales"].as_object().into_iter().flatten() {
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                esc(&name),
                esc(scale),
                v["n"],
                cell(v)
            ));
        }
    }
    s.push_str(&format!("<tr><td colspan=\"3\">Meta-analysis (reference)</td><td class=\"num\">{benchmark}</td></tr>\n</tbody></table>\n<h2>Patients</h2>\n"));
    for e in &sim.caseload {
        let label = esc(e.label.as_deref().unwrap_or(&e.channel_id));
        s.push_str(&format!(
            "<h3>{label}</h3>\n<img src=\"charts/{0}-alliance.svg\" alt=\"Alliance of {label} by week: goals, tasks and bond, with the therapist's ratings and any rupture or repair marked\">\n<img src=\"charts/{0}-symptoms.svg\" alt=\"Symptoms of {label} by week, with severity bands and any safety alert marked\">\n",
            esc(&e.channel_id)
        ));
    }
    s.push_str("</body></html>\n");
    s
}

fn human_report(sim: &Simulated, dir: &Path, files: &[String], elapsed: f64) -> String {
    let mut s = format!(
        "\nCaseload on {} (week {} of the program), most urgent first:\n",
        sim.now.format("%Y-%m-%d"),
        sim.weeks
    );
    for (i, e) in sim.caseload.iter().enumerate() {
        let latest = match &e.headline {
            Some(h) => {
                let mut t = format!(
                    "{} {} on {}",
                    h.display_name,
                    trim_num(h.total),
                    h.at.format("%Y-%m-%d")
                );
                if h.stale {
                    t.push_str(&format!(" ({} days ago)", h.age_days));
                }
                t
            }
            None => "no scores".into(),
        };
        let alliance = e
            .latest_alliance
            .as_ref()
            .and_then(|p| p.total)
            .map(|v| format!("alliance {v:.1}"))
            .unwrap_or_else(|| "no alliance".into());
        s.push_str(&format!(
            "{:>2}. {:<14} {:<16} week {:>2}  {latest}, {alliance}\n",
            i + 1,
            priority_name(e.priority),
            e.label.as_deref().unwrap_or("?"),
            e.week
        ));
        for f in e.reasons.iter().take(3) {
            let evidence: Vec<String> = f
                .evidence
                .iter()
                .take(3)
                .map(|ev| {
                    let mut t = ev.label.clone();
                    if let Some(v) = ev.value {
                        t.push_str(&format!(" {}", trim_num(v)));
                    }
                    if let Some(at) = ev.at {
                        t.push_str(&format!(" on {}", at.format("%Y-%m-%d")));
                    }
                    t
                })
                .collect();
            s.push_str(&format!("      - {}", f.reason));
            if !evidence.is_empty() {
                s.push_str(&format!(" [{}]", evidence.join("; ")));
            }
            s.push('\n');
        }
    }
    s.push_str(&format!(
        "\nWrote {} files to {} in {elapsed:.1} s:\n  caseload.svg, caseload.json, research.csv (+ .note.json), alliance-outcome.json, index.html\n  charts/pNN-alliance.svg and charts/pNN-symptoms.svg for each patient\n",
        files.len(),
        dir.display()
    ));
    s.push_str("Checks: ");
    let checks: Vec<String> = sim
        .checks
        .iter()
        .map(|(k, ok)| format!("{k} {}", if *ok { "ok" } else { "FAILED" }))
        .collect();
    s.push_str(&checks.join(", "));
    s
}

fn trim_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
