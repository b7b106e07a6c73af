//! Encrypted store vs plain rusqlite, same schema and durability, same run.
//! `cargo bench -p collabzium-core --bench store`; figures in docs/benchmarks.md.

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

/// Plain baseline: the store's own schema and pragmas, no sealing.
fn plain(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "NORMAL").unwrap();
    c.pragma_update(None, "secure_delete", "ON").unwrap();
    c.pragma_update(None, "cell_size_check", "ON").unwrap();
    schema::create_latest(&c).unwrap();
    c
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
        for (id, v) in ids.iter().zip(values) {
            stmt.execute(params!["bench", id, 1_i64, v]).unwrap();
        }
    }
    tx.commit().unwrap();
}

fn encrypted(path: &Path) -> Store {
    Store::create(path, &MemoryKeyProvider::new([1; 32])).unwrap()
}

fn encrypted_insert(s: &Store, ids: &[String], values: &[Vec<u8>]) {
    s.write(|tx| {
        for (id, v) in ids.iter().zip(values) {
            tx.put_raw("bench", id, v)?;
        }
        Ok(())
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
            |(_d, mut c)| plain_insert(&mut c, &ids_all, &values),
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
            |(_d, s)| encrypted_insert(&s, &ids_all, &values),
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
            |(_d, mut c)| {
                for i in 0..SINGLE {
                    plain_insert(&mut c, &ids_all[i..i + 1], &values[i..i + 1]);
                }
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
            |(_d, s)| {
                for i in 0..SINGLE {
                    encrypted_insert(&s, &ids_all[i..i + 1], &values[i..i + 1]);
                }
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

/// Criterion measures each variant in its own time slice, so background load
/// skews the ratio. This alternates plain and encrypted runs round by round
/// and reports the median of the per-round ratios.
fn paired_ratios(_: &mut Criterion) {
    use std::time::Instant;
    let ids_all = ids(BATCH);
    let values: Vec<Vec<u8>> = (0..BATCH).map(value).collect();
    let rounds = 15;
    let mut batch = Vec::new();
    let mut single = Vec::new();
    let mut read = Vec::new();
    for _ in 0..rounds {
        let d = tempfile::tempdir().unwrap();
        let mut pc = plain(&d.path().join("p.db"));
        let es = encrypted(&d.path().join("e.db"));
        let t = Instant::now();
        plain_insert(&mut pc, &ids_all, &values);
        let p = t.elapsed().as_secs_f64();
        let t = Instant::now();
        encrypted_insert(&es, &ids_all, &values);
        batch.push(t.elapsed().as_secs_f64() / p);

        let t = Instant::now();
        let n = pc
            .prepare_cached("SELECT id, created_at, updated_at, body FROM records WHERE kind = ?1 ORDER BY rowid")
            .unwrap()
            .query_map(["bench"], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Vec<u8>>(3)?)))
            .unwrap()
            .count();
        let p = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let m = es.read(|tx| tx.list_raw("bench")).unwrap().len();
        read.push(t.elapsed().as_secs_f64() / p);
        assert_eq!((n, m), (BATCH, BATCH));

        let d = tempfile::tempdir().unwrap();
        let mut pc = plain(&d.path().join("p.db"));
        let es = encrypted(&d.path().join("e.db"));
        let t = Instant::now();
        for i in 0..SINGLE {
            plain_insert(&mut pc, &ids_all[i..i + 1], &values[i..i + 1]);
        }
        let p = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for i in 0..SINGLE {
            encrypted_insert(&es, &ids_all[i..i + 1], &values[i..i + 1]);
        }
        single.push(t.elapsed().as_secs_f64() / p);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    println!("paired ratios (encrypted / plain, median of {rounds} alternating rounds):");
    println!("  insert 20k in one transaction: {:.3}x", median(&mut batch));
    println!("  insert 2k, one per transaction: {:.3}x", median(&mut single));
    println!("  read all 20k:                  {:.3}x", median(&mut read));
}

criterion_group!(benches, bench, paired_ratios);
criterion_main!(benches);
