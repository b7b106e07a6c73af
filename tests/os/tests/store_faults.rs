//! Disk-full and I/O errors in the middle of a commit. A SQLite VFS shim
//! wraps the platform VFS and fails the Nth write, sync or truncate of a
//! transaction; the test walks N over every such position of a check-in
//! submit and of a durable sync commit. After each fault:
//! - the failed call returned a typed error (no panic);
//! - every call that returned `Ok` is readable after a reopen;
//! - the failed transaction is all or nothing;
//! - `PRAGMA integrity_check` is `ok` and the audit chain verifies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

#[path = "../../../core/tests/checkin_support/mod.rs"]
mod checkin_support;

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

use checkin_support::{clock, create, phq9, reopen};
use collabzium_core::domain::TreatmentMode;
use collabzium_core::store::outbox::{self, Priority};
use collabzium_core::store::{Record, Store};
use collabzium_core::Error;
use rusqlite::ffi;
use serde::{Deserialize, Serialize};

// ------------------------------------------------------------- the VFS shim

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Write number N and every later write fail with SQLITE_FULL.
    DiskFull,
    /// Only operation number N (write, sync or truncate) fails with SQLITE_IOERR_*.
    IoError,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Write,
    Sync,
    Truncate,
}

#[derive(Clone, Copy)]
struct Plan {
    armed: bool,
    mode: Mode,
    at: u64,
    seen: u64,
    fired: u64,
}

thread_local! {
    // Per thread: only the test thread's own connection calls are faulted,
    // so the store's checkpointer thread cannot make a run nondeterministic.
    static PLAN: Cell<Plan> = const { Cell::new(Plan {
        armed: false,
        mode: Mode::IoError,
        at: 0,
        seen: 0,
        fired: 0,
    }) };
}

fn arm(mode: Mode, at: u64) {
    PLAN.with(|p| {
        p.set(Plan {
            armed: true,
            mode,
            at,
            seen: 0,
            fired: 0,
        })
    });
}

/// Disarms and returns (operations seen, faults injected).
fn disarm() -> (u64, u64) {
    PLAN.with(|p| {
        let mut plan = p.get();
        plan.armed = false;
        p.set(plan);
        (plan.seen, plan.fired)
    })
}

/// The error code to return instead of doing `op`, if the plan says so.
fn inject(op: Op) -> Option<c_int> {
    PLAN.with(|p| {
        let mut plan = p.get();
        if !plan.armed {
            return None;
        }
        let counted = match plan.mode {
            Mode::DiskFull => op == Op::Write,
            Mode::IoError => true,
        };
        if !counted {
            return None;
        }
        let index = plan.seen;
        plan.seen += 1;
        let code = match plan.mode {
            Mode::DiskFull if index >= plan.at => Some(ffi::SQLITE_FULL),
            Mode::IoError if index == plan.at => Some(match op {
                Op::Write => ffi::SQLITE_IOERR_WRITE,
                Op::Sync => ffi::SQLITE_IOERR_FSYNC,
                Op::Truncate => ffi::SQLITE_IOERR_TRUNCATE,
            }),
            _ => None,
        };
        if code.is_some() {
            plan.fired += 1;
        }
        p.set(plan);
        code
    })
}

static REAL_VFS: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());

/// Our file: SQLite's header, then a pointer to the wrapped file, which
/// lives in the same allocation right after it.
#[repr(C)]
struct ShimFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
}

unsafe fn real_file(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    (*(f as *mut ShimFile)).real
}

unsafe fn real_methods(f: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    &*(*real_file(f)).pMethods
}

macro_rules! forward {
    ($f:expr, $method:ident $(, $arg:expr)*) => {{
        let real = real_file($f);
        match real_methods($f).$method {
            Some(m) => m(real $(, $arg)*),
            None => ffi::SQLITE_IOERR,
        }
    }};
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    forward!(f, xClose)
}
unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    n: c_int,
    off: i64,
) -> c_int {
    forward!(f, xRead, buf, n, off)
}
unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    n: c_int,
    off: i64,
) -> c_int {
    if let Some(rc) = inject(Op::Write) {
        return rc;
    }
    forward!(f, xWrite, buf, n, off)
}
unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    if let Some(rc) = inject(Op::Truncate) {
        return rc;
    }
    forward!(f, xTruncate, size)
}
unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    if let Some(rc) = inject(Op::Sync) {
        return rc;
    }
    forward!(f, xSync, flags)
}
unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    forward!(f, xFileSize, size)
}
unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    forward!(f, xLock, l)
}
unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    forward!(f, xUnlock, l)
}
unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    forward!(f, xCheckReservedLock, out)
}
unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    forward!(f, xFileControl, op, arg)
}
unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    forward!(f, xSectorSize)
}
unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    forward!(f, xDeviceCharacteristics)
}
unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    forward!(f, xShmMap, region, size, extend, out)
}
unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    off: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    forward!(f, xShmLock, off, n, flags)
}
unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    if let Some(m) = real_methods(f).xShmBarrier {
        m(real_file(f))
    }
}
unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    forward!(f, xShmUnmap, delete)
}
unsafe extern "C" fn x_fetch(
    f: *mut ffi::sqlite3_file,
    off: i64,
    n: c_int,
    out: *mut *mut c_void,
) -> c_int {
    if real_methods(f).iVersion < 3 {
        *out = ptr::null_mut();
        return ffi::SQLITE_OK;
    }
    forward!(f, xFetch, off, n, out)
}
unsafe extern "C" fn x_unfetch(f: *mut ffi::sqlite3_file, off: i64, p: *mut c_void) -> c_int {
    if real_methods(f).iVersion < 3 {
        return ffi::SQLITE_OK;
    }
    forward!(f, xUnfetch, off, p)
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real_vfs = REAL_VFS.load(Ordering::Acquire);
    let shim = file as *mut ShimFile;
    let real = (file as *mut u8).add(std::mem::size_of::<ShimFile>()) as *mut ffi::sqlite3_file;
    (*shim).real = real;
    (*shim).base.pMethods = ptr::null();
    (*real).pMethods = ptr::null();
    let Some(open) = (*real_vfs).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let rc = open(real_vfs, name, real, flags, out_flags);
    // SQLite calls xClose whenever pMethods is set, even after a failed open.
    if !(*real).pMethods.is_null() {
        (*shim).base.pMethods = &METHODS;
    }
    rc
}

/// Makes the shim the default VFS of this process (this test binary only).
fn install_vfs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        let real = ffi::sqlite3_vfs_find(ptr::null());
        assert!(!real.is_null(), "no default SQLite VFS");
        REAL_VFS.store(real, Ordering::Release);
        let mut vfs = *real;
        vfs.szOsFile = (std::mem::size_of::<ShimFile>() as c_int) + (*real).szOsFile;
        vfs.pNext = ptr::null_mut();
        vfs.zName = c"collabzium-faults".as_ptr() as *const c_char;
        vfs.xOpen = Some(x_open);
        let vfs = Box::leak(Box::new(vfs));
        assert_eq!(ffi::sqlite3_vfs_register(vfs, 1), ffi::SQLITE_OK);
    });
}

// ---------------------------------------------------------------- checks

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    text: String,
}
impl Record for Note {
    const KIND: &'static str = "note";
}

fn integrity_ok(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(rows, vec!["ok".to_string()], "integrity_check of {path:?}");
}

/// A failed call must say it is a storage or I/O failure, and a disk-full
/// fault must say so by name.
fn check_error(e: &Error, mode: Mode, at: u64) {
    match (mode, e) {
        (Mode::DiskFull, Error::Storage(m)) => {
            assert!(m.contains("disk full"), "{mode:?}@{at}: {m}")
        }
        (Mode::IoError, Error::Storage(_) | Error::Io(_)) => {}
        _ => panic!("{mode:?}@{at}: untyped or wrong error {e:?}"),
    }
}

/// What one fault position showed.
#[derive(Default)]
struct Tally {
    positions: u64,
    failed_calls: u64,
    committed_despite_error: u64,
}

/// Runs `scenario(mode, at)` for at = 0, 1, … until a run in which the
/// fault never fired (every position of the transaction has been tried).
fn walk(name: &str, mode: Mode, scenario: impl Fn(Mode, u64, &mut Tally) -> bool) -> Tally {
    let mut tally = Tally::default();
    for at in 0.. {
        let fired = catch_unwind(AssertUnwindSafe(|| scenario(mode, at, &mut tally)))
            .unwrap_or_else(|_| panic!("{name} {mode:?}: panic at fault position {at}"));
        if !fired {
            break;
        }
        tally.positions += 1;
        assert!(at < 10_000, "{name}: the transaction never ends");
    }
    assert!(
        tally.positions > 0,
        "{name} {mode:?}: the fault never fired; the shim is not in the path"
    );
    eprintln!(
        "{name} {mode:?}: {} fault positions, {} failed calls, {} committed though the call failed",
        tally.positions, tally.failed_calls, tally.committed_despite_error
    );
    tally
}

/// A check-in whose answers raise a safety alert: the submit writes the
/// check-in, deletes the draft, queues the event and the alert, and audits.
fn submit_scenario(mode: Mode, at: u64, tally: &mut Tally) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let clock = clock();
    let c = create(&path, clock.clone(), Some(TreatmentMode::Guided));
    for i in 0..3 {
        c.store()
            .put(
                &format!("before-{i}"),
                &Note {
                    text: format!("n{i}"),
                },
            )
            .unwrap();
    }
    let d = c.start("phq9", None).unwrap();
    let d = c
        .answer_json(&d.checkin_id, &phq9([2, 2, 1, 3, 0, 1, 2, 1, 2]))
        .unwrap();
    let pending_before = c.store().read(outbox::pending).unwrap().len();

    arm(mode, at);
    let result = c.submit(&d.checkin_id);
    let (_, fired) = disarm();
    if fired == 0 {
        assert!(result.is_ok(), "{mode:?}@{at}: no fault yet an error");
    }
    if let Err(e) = &result {
        check_error(e, mode, at);
        tally.failed_calls += 1;
    }
    // The same handle keeps working once the disk recovers.
    let after = c.store().put(
        "after",
        &Note {
            text: "after".into(),
        },
    );
    assert!(
        after.is_ok(),
        "{mode:?}@{at}: store unusable after fault: {after:?}"
    );
    c.store().close();
    drop(c);

    integrity_ok(&path);
    let c = reopen(&path, clock);
    for i in 0..3 {
        let n = c.store().get::<Note>(&format!("before-{i}")).unwrap();
        assert_eq!(n.map(|s| s.value.text), Some(format!("n{i}")));
    }
    assert!(c.store().get::<Note>("after").unwrap().is_some());
    let stored = c.get(&d.checkin_id).ok();
    let draft = c.draft(&d.checkin_id).ok();
    let pending = c.store().read(outbox::pending).unwrap().len();
    match (&result, &stored) {
        (Ok(r), Some(s)) => assert_eq!(s.score, r.score, "{mode:?}@{at}"),
        (Ok(_), None) => panic!("{mode:?}@{at}: acknowledged submit lost"),
        (Err(_), Some(_)) => tally.committed_despite_error += 1,
        (Err(_), None) => {}
    }
    // All or nothing: the check-in replaces its draft and adds its events.
    if stored.is_some() {
        assert!(
            draft.is_none(),
            "{mode:?}@{at}: check-in and draft both kept"
        );
        assert!(
            pending > pending_before,
            "{mode:?}@{at}: check-in without its event"
        );
    } else {
        assert!(
            draft.is_some(),
            "{mode:?}@{at}: draft lost without a check-in"
        );
        assert_eq!(
            pending, pending_before,
            "{mode:?}@{at}: event without its check-in"
        );
    }
    assert!(
        c.store().verify_audit().unwrap().ok,
        "{mode:?}@{at}: audit chain broken"
    );
    fired > 0
}

/// The shape of a sync commit: mark the queue sent and save channel state,
/// durably (`synchronous=FULL`, so syncs are fault positions too).
fn sync_scenario(mode: Mode, at: u64, tally: &mut Tally) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let store = Store::create(&path, &checkin_support::provider()).unwrap();
    let mut last = 0;
    for i in 0..4 {
        last = store
            .write(|tx| outbox::enqueue(tx, "note", &format!("n{i}"), Priority::Normal, &[i; 300]))
            .unwrap();
    }
    store
        .put(
            "channel",
            &Note {
                text: "state-1".into(),
            },
        )
        .unwrap();

    arm(mode, at);
    let result = store.write_durable(|tx| {
        outbox::mark_sent_through(tx, last)?;
        tx.put(
            "channel",
            &Note {
                text: "state-2".into(),
            },
        )
    });
    let (_, fired) = disarm();
    if fired == 0 {
        assert!(result.is_ok(), "{mode:?}@{at}: no fault yet an error");
    }
    if let Err(e) = &result {
        check_error(e, mode, at);
        tally.failed_calls += 1;
    }
    let after = store.put(
        "after",
        &Note {
            text: "after".into(),
        },
    );
    assert!(
        after.is_ok(),
        "{mode:?}@{at}: store unusable after fault: {after:?}"
    );
    store.close();
    drop(store);

    integrity_ok(&path);
    let store = Store::open(&path, &checkin_support::provider()).unwrap();
    let state = store.get::<Note>("channel").unwrap().unwrap().value.text;
    let pending = store.read(outbox::pending).unwrap().len();
    assert!(store.get::<Note>("after").unwrap().is_some());
    match state.as_str() {
        "state-2" => {
            assert_eq!(pending, 0, "{mode:?}@{at}: state saved, queue not marked");
            if result.is_err() {
                tally.committed_despite_error += 1;
            }
        }
        "state-1" => {
            assert!(
                result.is_err(),
                "{mode:?}@{at}: acknowledged sync commit lost"
            );
            assert_eq!(pending, 4, "{mode:?}@{at}: queue marked, state not saved");
        }
        other => panic!("{mode:?}@{at}: unexpected state {other}"),
    }
    assert!(store.verify_audit().unwrap().ok);
    fired > 0
}

/// A large transaction (many WAL frames), then a checkpoint that copies
/// the WAL into the main file and truncates it: faults in either step.
fn bulk_and_checkpoint_scenario(mode: Mode, at: u64, tally: &mut Tally) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let store = Store::create(&path, &checkin_support::provider()).unwrap();
    store.put("before", &Note { text: "b".into() }).unwrap();
    let big = |i: usize| Note {
        text: format!("{i}-{}", "y".repeat(3000)),
    };

    arm(mode, at);
    let bulk = store.write(|tx| {
        for i in 0..40 {
            tx.put(&format!("bulk-{i}"), &big(i))?;
        }
        Ok(())
    });
    // Checkpoint only over a committed bulk write, so its faults are its own.
    let checkpoint = bulk.as_ref().ok().map(|_| store.checkpoint());
    let (_, fired) = disarm();
    for r in [Some(&bulk), checkpoint.as_ref()].into_iter().flatten() {
        if let Err(e) = r {
            check_error(e, mode, at);
            tally.failed_calls += 1;
        }
    }
    if fired == 0 {
        assert!(bulk.is_ok() && matches!(checkpoint, Some(Ok(()))));
    }
    let after = store.put(
        "after",
        &Note {
            text: "after".into(),
        },
    );
    assert!(
        after.is_ok(),
        "{mode:?}@{at}: store unusable after fault: {after:?}"
    );
    store.close();
    drop(store);

    integrity_ok(&path);
    let store = Store::open(&path, &checkin_support::provider()).unwrap();
    assert!(store.get::<Note>("before").unwrap().is_some());
    assert!(store.get::<Note>("after").unwrap().is_some());
    let kept = (0..40)
        .filter(|i| {
            store
                .get::<Note>(&format!("bulk-{i}"))
                .unwrap()
                .map(|n| n.value == big(*i))
                .unwrap_or(false)
        })
        .count();
    match (&bulk, kept) {
        (Ok(()), 40) => {}
        (Ok(()), n) => panic!(
            "{mode:?}@{at}: acknowledged bulk write lost {} rows",
            40 - n
        ),
        (Err(_), 0) => {}
        (Err(_), 40) => tally.committed_despite_error += 1,
        (Err(_), n) => panic!("{mode:?}@{at}: half a transaction kept ({n} of 40 rows)"),
    }
    assert!(store.verify_audit().unwrap().ok);
    fired > 0
}

#[test]
fn every_write_position_of_a_commit_survives_disk_full_and_io_errors() {
    install_vfs();
    let mut total = 0;
    for mode in [Mode::DiskFull, Mode::IoError] {
        let t = walk("check-in submit", mode, submit_scenario);
        assert!(t.failed_calls > 0, "{mode:?}: no submit ever failed");
        total += t.positions;
        let t = walk("durable sync commit", mode, sync_scenario);
        assert!(t.failed_calls > 0, "{mode:?}: no sync commit ever failed");
        total += t.positions;
        let t = walk(
            "bulk write + checkpoint",
            mode,
            bulk_and_checkpoint_scenario,
        );
        assert!(
            t.failed_calls > 0,
            "{mode:?}: no bulk write or checkpoint ever failed"
        );
        total += t.positions;
    }
    eprintln!("store faults: {total} fault positions exercised");
}
