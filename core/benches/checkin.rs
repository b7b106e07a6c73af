//! Score + persist (sealed) + enqueue of one check-in: `Checkins::submit`.
//! `cargo bench -p collabzium-core --bench checkin`; figures in docs/benchmarks.md
//! ("Check-ins"). Besides criterion's estimates it prints p50/p99 over
//! individually timed submissions, since the target is a p99.

#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the sort rule keeps the library small"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench fails by panicking"
)]

use std::time::{Duration, Instant};

use collabzium_core::checkin::Checkins;
use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::domain::{Profile, TreatmentMode};
use collabzium_core::instruments::{score, AnswerValue, Answers, Registry};
use collabzium_core::store::Store;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::json;

fn service(dir: &tempfile::TempDir) -> Checkins {
    let store = Store::create(
        &dir.path().join("bench.db"),
        &MemoryKeyProvider::new([1; 32]),
    )
    .unwrap();
    store
        .set_profile(&Profile {
            display_name: "Bench".into(),
            time_zone: "Europe/Berlin".into(),
            locale: "en-GB".into(),
            mode: TreatmentMode::Guided,
            country: None,
        })
        .unwrap();
    Checkins::new(store).unwrap()
}

fn phq9(risk: i64) -> serde_json::Value {
    json!({"phq9_1": 2, "phq9_2": 1, "phq9_3": 3, "phq9_4": 2, "phq9_5": 0,
           "phq9_6": 1, "phq9_7": 2, "phq9_8": 1, "phq9_9": risk})
}

fn draft(c: &Checkins, answers: &serde_json::Value) -> String {
    let d = c.start("phq9", None).unwrap();
    c.answer_json(&d.checkin_id, answers).unwrap();
    d.checkin_id
}

fn percentiles(
    c: &Checkins,
    answers: &serde_json::Value,
    n: usize,
) -> (Duration, Duration, Duration) {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let id = draft(c, answers);
        let t = Instant::now();
        c.submit(&id).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    (times[n / 2], times[n * 99 / 100], times[n - 1])
}

fn bench(cr: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let c = service(&dir);
    let reg = Registry::shipped();
    let inst = reg.get("phq9").unwrap().clone();
    let answers: Answers = (1..=9)
        .map(|i| (format!("phq9_{i}"), AnswerValue::Integer(i % 4)))
        .collect();

    cr.bench_function("score phq9 (pure)", |b| b.iter(|| score(&inst, &answers)));
    let plain = phq9(0);
    cr.bench_function("submit phq9: score + seal + persist + enqueue", |b| {
        b.iter_batched(
            || draft(&c, &plain),
            |id| c.submit(&id).unwrap(),
            BatchSize::PerIteration,
        )
    });
    let risky = phq9(2);
    cr.bench_function("submit phq9 with risk answer (alert path)", |b| {
        b.iter_batched(
            || draft(&c, &risky),
            |id| c.submit(&id).unwrap(),
            BatchSize::PerIteration,
        )
    });

    for (name, a) in [("no risk", &plain), ("risk", &risky)] {
        let (p50, p99, max) = percentiles(&c, a, 2000);
        println!(
            "checkin submit ({name}), 2000 timed submissions: p50 {:.0} us, p99 {:.0} us, max {:.0} us",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            max.as_secs_f64() * 1e6
        );
        assert!(p99 < Duration::from_millis(1), "p99 target is under 1 ms");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
