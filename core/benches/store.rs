//! Encrypted store vs plain rusqlite, same schema and durability, same run.
//! `cargo bench -p collabzium-core --bench store`; figures in docs/benchmarks.md.

#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the sort rule keeps the library small"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench fails by panicking"
)]

use std::path::Path;

use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::store::{schema, Store};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rusqlite::{params, Connection};

const BATCH: usize = 20_000;
const SINGLE: usize = 2_000;
const VALUE_LEN: usize = 512;

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:032x}")).collect()
}

fn value(i: usize) -> Vec<u8> {
    (0..VALUE_LEN).map(|j| (i * 31 + j) as u8).collect()
}

/// Plain baseline: the store's own schema, page size, journal mode and
/// durability (`synchronous`), no sealing. With `in_commit_checkpoints`
/// SQLite checkpoints inside commits as it does by default; the store
/// instead checkpoints on a background thread.
fn plain_with(path: &Path, in_commit_checkpoints: bool) -> Connection {
    let c = Connection::open(path).unwrap();
    c.pragma_update(None, "page_size", schema::PAGE_SIZE)
        .unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "NORMAL").unwrap();
    c.pragma_update(None, "secure_delete", "ON").unwrap();
    c.pragma_update(None, "cell_size_check", "ON").unwrap();
    if !in_commit_checkpoints {
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    }
    schema::create_latest(&c).unwrap();
    c
}

/// Plain rusqlite as an app would open it: SQLite's default checkpointing.
fn plain(path: &Path) -> Connection {
    plain_with(path, true)
}

/// Plain with no checkpoint work at all, to isolate the cost of sealing.
fn plain_no_checkpoint(path: &Path) -> Connection {
    plain_with(path, false)
}

fn plain_insert(c: &mut Connection, ids: &[String], values: &[Vec<u8>]) {
    let tx = c.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO records (kind, id, created_at, updated_at, body) VALUES (?1, ?2, ?3, ?3, ?4)
                 ON CONFLICT (kind, id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body",
            )
            .unwrap();
        // A real timestamp, as the store writes: SQLite stores small
        // integers in zero bytes, which would flatter the baseline.
        let now = chrono::Utc::now().timestamp_millis();
        for (id, v) in ids.iter().zip(values) {
            stmt.execute(params!["bench", id, now, v]).unwrap();
        }
    }
    tx.commit().unwrap();
}

fn encrypted(path: &Path) -> Store {
    Store::create(path, &MemoryKeyProvider::new([1; 32])).unwrap()
}

fn encrypted_insert(s: &Store, ids: &[String], values: &[Vec<u8>]) {
    s.write(|tx| {
        tx.put_raw_many(
            "bench",
            ids.iter()
                .map(|i| i.as_str())
                .zip(values.iter().map(|v| v.as_slice())),
        )
    })
    .unwrap();
}

fn bench(c: &mut Criterion) {
    let ids_all = ids(BATCH);
    let values: Vec<Vec<u8>> = (0..BATCH).map(value).collect();
    let mut g = c.benchmark_group("store");
    g.sample_size(10);

    g.bench_function("insert_20k_one_tx/plain", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().unwrap();
                let c = plain(&d.path().join("p.db"));
                (d, c)
            },
            |(d, mut c)| {
                plain_insert(&mut c, &ids_all, &values);
                (d, c) // dropped (checkpoint, delete) outside the timing
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("insert_20k_one_tx/encrypted", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().unwrap();
                let s = encrypted(&d.path().join("e.db"));
                (d, s)
            },
            |(d, s)| {
                encrypted_insert(&s, &ids_all, &values);
                (d, s)
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("insert_2k_one_per_tx/plain", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().unwrap();
                let c = plain(&d.path().join("p.db"));
                (d, c)
            },
            |(d, mut c)| {
                for i in 0..SINGLE {
                    plain_insert(&mut c, &ids_all[i..i + 1], &values[i..i + 1]);
                }
                (d, c)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("insert_2k_one_per_tx/encrypted", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().unwrap();
                let s = encrypted(&d.path().join("e.db"));
                (d, s)
            },
            |(d, s)| {
                for i in 0..SINGLE {
                    encrypted_insert(&s, &ids_all[i..i + 1], &values[i..i + 1]);
                }
                (d, s)
            },
            BatchSize::PerIteration,
        )
    });

    let d = tempfile::tempdir().unwrap();
    let mut pc = plain(&d.path().join("p.db"));
    plain_insert(&mut pc, &ids_all, &values);
    let es = encrypted(&d.path().join("e.db"));
    encrypted_insert(&es, &ids_all, &values);
    g.bench_function("read_all_20k/plain", |b| {
        b.iter(|| {
            let mut stmt = pc
                .prepare_cached("SELECT id, created_at, updated_at, body FROM records WHERE kind = ?1 ORDER BY rowid")
                .unwrap();
            let rows: Vec<(String, i64, i64, Vec<u8>)> = stmt
                .query_map(["bench"], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(rows.len(), BATCH);
            rows
        })
    });
    g.bench_function("read_all_20k/encrypted", |b| {
        b.iter(|| {
            let rows = es.read(|tx| tx.list_raw("bench")).unwrap();
            assert_eq!(rows.len(), BATCH);
            rows
        })
    });
    g.finish();
}

/// This thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), exact to the
/// nanosecond; `/proc/thread-self/schedstat` lags by up to a scheduler tick.
fn thread_cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Criterion measures each variant in its own time slice, so background load
/// skews the ratio. This alternates plain and encrypted runs round by round
/// and reports the median of the per-round ratios.
fn paired_ratios(_: &mut Criterion) {
    let ids_all = ids(BATCH);
    let values: Vec<Vec<u8>> = (0..BATCH).map(value).collect();
    let rounds = 31;
    let mut batch = Vec::new();
    let mut single = Vec::new();
    let mut read = Vec::new();
    // Thread CPU time, not wall time: on a shared 2-core machine other
    // processes stretch wall time at random, but not our own CPU seconds.
    let time = |f: &mut dyn FnMut()| {
        let t = thread_cpu_seconds();
        f();
        thread_cpu_seconds() - t
    };
    for round in 0..rounds {
        // Alternate which side goes first so writeback of one run's pages
        // does not always land on the same side.
        let plain_first = round % 2 == 0;
        let dp = tempfile::tempdir().unwrap();
        let de = tempfile::tempdir().unwrap();
        let mut pc = plain_no_checkpoint(&dp.path().join("p.db"));
        let es = encrypted(&de.path().join("e.db"));
        let (mut p, mut e) = (0.0, 0.0);
        for side in [plain_first, !plain_first] {
            if side {
                p = time(&mut || plain_insert(&mut pc, &ids_all, &values));
            } else {
                e = time(&mut || encrypted_insert(&es, &ids_all, &values));
            }
        }
        batch.push(e / p);

        // Steady state, as in an app: one untimed read warms each side's
        // reader (the store's pooled read-only connection, plain's own).
        let read_plain = |pc: &Connection| {
            pc.prepare_cached(
                "SELECT id, created_at, updated_at, body FROM records WHERE kind = ?1 ORDER BY rowid",
            )
            .unwrap()
            .query_map(["bench"], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })
            .unwrap()
            .count()
        };
        let read_encrypted = |es: &Store| es.read(|tx| tx.list_raw("bench")).unwrap().len();
        assert_eq!(read_plain(&pc), BATCH);
        assert_eq!(read_encrypted(&es), BATCH);
        for side in [plain_first, !plain_first] {
            if side {
                p = time(&mut || assert_eq!(read_plain(&pc), BATCH));
            } else {
                e = time(&mut || assert_eq!(read_encrypted(&es), BATCH));
            }
        }
        read.push(e / p);
        drop((pc, es, dp, de));

        let dp = tempfile::tempdir().unwrap();
        let de = tempfile::tempdir().unwrap();
        let mut pc = plain_no_checkpoint(&dp.path().join("p.db"));
        let es = encrypted(&de.path().join("e.db"));
        for side in [plain_first, !plain_first] {
            if side {
                p = time(&mut || {
                    for i in 0..SINGLE {
                        plain_insert(&mut pc, &ids_all[i..i + 1], &values[i..i + 1]);
                    }
                });
            } else {
                e = time(&mut || {
                    for i in 0..SINGLE {
                        encrypted_insert(&es, &ids_all[i..i + 1], &values[i..i + 1]);
                    }
                });
            }
        }
        single.push(e / p);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let quartiles = |v: &mut Vec<f64>| {
        let m = median(v);
        (v[v.len() / 4], m, v[v.len() * 3 / 4])
    };
    println!("sealing cost isolated: thread CPU time, encrypted / plain without any checkpointing,\n  median [q1, q3] of {rounds} alternating rounds:");
    for (name, v) in [
        ("insert 20k in one transaction", &mut batch),
        ("insert 2k, one per transaction", &mut single),
        ("read all 20k", &mut read),
    ] {
        let (q1, m, q3) = quartiles(v);
        println!("  {name:<32} {m:.3}x  [{q1:.3}, {q3:.3}]");
    }
}

/// The sealing cost alone, to separate crypto from storage effects.
fn seal_only(c: &mut Criterion) {
    use collabzium_core::crypto::{Aad, Sealer};
    let sealer = Sealer::from_key_bytes(&[3; 32]);
    let v = value(1);
    let aad = Aad {
        table: "records",
        kind: "bench",
        id: "00000000000000000000000000000001",
    };
    let env = sealer.seal(aad, &v).unwrap();
    c.bench_function("seal_512B", |b| b.iter(|| sealer.seal(aad, &v).unwrap()));
    c.bench_function("open_512B", |b| b.iter(|| sealer.open(aad, &env).unwrap()));
}

criterion_group!(benches, bench, seal_only, paired_ratios);
criterion_main!(benches);
