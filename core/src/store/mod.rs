//! The encrypted patient store: SQLite in WAL mode, every sensitive value
//! sealed on its own (see `docs/adr/0001-store-encryption.md`).
//!
//! One writer connection serializes writes; a small pool of read-only
//! connections lets readers run while a write is in progress. A store that
//! fails to open is never written to, moved or deleted
//! (`docs/adr/0002-wrong-key-and-corruption.md`).

pub(crate) mod delivery;
pub mod export;
pub mod outbox;
pub mod records;
pub mod schema;
pub mod snapshot;

pub use export::{Export, EXPORT_FORMAT, EXPORT_FORMAT_VERSION};
pub use records::{Damaged, RawRecord, ReadTx, Record, RowStamp, Stored, WriteTx, HIDDEN_KINDS};

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::audit::{self, AuditEntry, AuditEvent, AuditVerification};
use crate::crypto::{random_id, Aad, DataKey, SealError, StoreKeys};
use crate::domain::consent::{check_consent_input, current_states};
use crate::domain::{ConsentDecision, ConsentRecord, ConsentState, Profile};
use crate::error::{Error, Result};
use crate::platform::{Clock, KeyProvider, KeyProviderError, SystemClock};

const KEY_CHECK_PLAINTEXT: &[u8] = b"collabzium key check v1";
const STORE_FORMAT: &str = "collabzium.store";
const MAX_IDLE_READERS: usize = 8;
/// Past this WAL size the background thread copies it into the database.
const CHECKPOINT_WAL_BYTES: u64 = 4 * 1024 * 1024;
/// How often (in commits) the writer looks at the WAL size: one stat call.
const CHECKPOINT_CHECK_EVERY: u64 = 16;

/// Summary for `store info` and the apps' settings screen. No personal data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreInfo {
    pub store_id: String,
    pub schema_version: i64,
    pub created_at_millis: i64,
    pub has_profile: bool,
    pub record_counts: std::collections::BTreeMap<String, u64>,
    pub consent_decisions: u64,
    pub audit_entries: u64,
}

/// What an erase removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EraseReport {
    pub files_removed: Vec<String>,
    /// False when the platform could not delete its own key-encryption key;
    /// the data is unreadable anyway, since the wrapped data key is gone.
    pub provider_key_destroyed: bool,
}

/// Held for the length of one sync round, so rounds on a store never overlap.
pub type SyncGuard<'a> = std::sync::MutexGuard<'a, ()>;

/// A handle to an unlocked store. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Option<Connection>>,
    checkpointer: Mutex<Option<Checkpointer>>,
    commits: std::sync::atomic::AtomicU64,
    readers: Mutex<Vec<Connection>>,
    keys: StoreKeys,
    data_key: DataKey,
    store_id: String,
    created_at: i64,
    clock: Arc<dyn Clock>,
    closed: AtomicBool,
    /// Serializes sync rounds on this store (ADR 0005 §6); never held by a
    /// write transaction, so the UI does not wait on the network.
    sync_lock: Mutex<()>,
}

/// Copies the WAL into the database on its own thread and connection.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses the
/// threshold, so about one write in a hundred would pay tens of
/// milliseconds. A PASSIVE checkpoint here never blocks writers or readers.
struct Checkpointer {
    nudge: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer> {
        let conn = open_writer(path, false)?;
        let (nudge, wake) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("collabzium-checkpoint".into())
            .spawn(move || {
                while wake.recv().is_ok() {
                    // Busy or locked just means "next time".
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(Error::from)?;
        Ok(Checkpointer { nudge, thread })
    }

    fn stop(self) {
        drop(self.nudge);
        let _ = self.thread.join();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Join the thread so that its connection is gone when the handle is.
        if let Some(c) = lock(&self.checkpointer).take() {
            c.stop();
        }
    }
}

/// What a read-only look at the file tells us before any key is used.
struct Header {
    version: i64,
    store_id: String,
    created_at: i64,
    wrapped_key: Vec<u8>,
    key_check: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread must not brick the store; SQLite's own
    // transaction state is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `store.db` -> `store.db-wal` etc.
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn key_check_aad(store_id: &str) -> Aad<'_> {
    Aad {
        table: "meta",
        kind: "key_check",
        id: store_id,
    }
}

fn profile_aad() -> Aad<'static> {
    Aad {
        table: "profile",
        kind: "profile",
        id: "1",
    }
}

fn consent_aad(id: &str) -> Aad<'_> {
    Aad {
        table: "consents",
        kind: "consent",
        id,
    }
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(30))?;
    Ok(conn)
}

fn open_writer(path: &Path, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    if create {
        // Only takes effect on a new, empty file; see schema::PAGE_SIZE.
        conn.pragma_update(None, "page_size", schema::PAGE_SIZE)?;
    }
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Storage(format!("cannot enable WAL (got {mode})")));
    }
    // NORMAL in WAL mode: a commit survives a process crash; only an OS
    // crash may lose the last transactions, never corrupt the file.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Freed pages are zeroed, so old wrapped keys and rows do not linger.
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "cell_size_check", "ON")?;
    // Checkpoints run on the Checkpointer thread, never inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

fn provider_error(e: KeyProviderError) -> Error {
    match e {
        KeyProviderError::WrongKey => Error::WrongKey,
        KeyProviderError::Malformed => {
            Error::corrupt("wrapped key", "the wrapped data key is malformed")
        }
        KeyProviderError::Unavailable(reason) => Error::KeyUnavailable(reason),
    }
}

fn read_header(path: &Path) -> Result<Header> {
    let conn = open_reader(path)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let has_meta: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n == 1)?;
    if version == 0 || !has_meta {
        return Err(Error::corrupt("database", "not a collabzium store"));
    }
    if version > schema::LATEST_VERSION {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: schema::LATEST_VERSION,
        });
    }
    let get = |key: &str| -> Result<Vec<u8>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .optional()?
        .ok_or_else(|| Error::corrupt("store header", format!("missing {key}")))
    };
    let text = |key: &str| -> Result<String> {
        String::from_utf8(get(key)?)
            .map_err(|_| Error::corrupt("store header", format!("bad {key}")))
    };
    if text("format")? != STORE_FORMAT {
        return Err(Error::corrupt("store header", "not a collabzium store"));
    }
    Ok(Header {
        version,
        store_id: text("store_id")?,
        created_at: text("created_at")?
            .parse()
            .map_err(|_| Error::corrupt("store header", "bad created_at"))?,
        wrapped_key: get("wrapped_key")?,
        key_check: get("key_check")?,
    })
}

/// Failed unlocks go to a sidecar so that the store file itself is never
/// touched by a failed open; the next successful unlock moves them into
/// the audit chain.
fn note_failed_unlock(path: &Path, now: i64) {
    let mut opts = fs::OpenOptions::new();
    opts.create(true).append(true);
    owner_only(&mut opts);
    let file = opts.open(sidecar(path, "-unlock-failures"));
    if let Ok(mut f) = file {
        let _ = writeln!(f, "{now}");
    }
}

/// New files get mode 0600 (on Unix): only their owner may read them.
pub fn owner_only(opts: &mut fs::OpenOptions) -> &mut fs::OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Creates `path` empty with mode 0600 before SQLite opens it. SQLite gives
/// its `-wal`, `-shm` and `-journal` files the main file's mode, so the
/// whole set stays owner-only without touching the process umask.
fn create_owner_only(path: &Path) -> Result<()> {
    owner_only(fs::OpenOptions::new().write(true).create_new(true)).open(path)?;
    Ok(())
}

/// Takes group and other access away from a store made by an older build
/// (and its sidecars); new sidecars then inherit 0600 from the main file.
fn tighten_modes(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm", "-unlock-failures"] {
            let p = sidecar(path, suffix);
            if let Ok(m) = fs::symlink_metadata(&p) {
                if m.is_file() && m.permissions().mode() & 0o077 != 0 {
                    let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o600));
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

pub(crate) fn audit_append(
    conn: &Connection,
    keys: &StoreKeys,
    now: i64,
    event: AuditEvent,
    detail: &str,
) -> Result<()> {
    let last: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (last_seq, prev) = match last {
        Some((seq, mac)) => (seq, mac),
        None => (0, audit::GENESIS.to_vec()),
    };
    // The head says how long the log was at the last append. If it is
    // longer than what is left, the tail was deleted: say so in the chain
    // itself before going on, so the next append cannot paper over it.
    // (A forged larger head can only cause a false alarm, never hide one.)
    let head_seq = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([AUDIT_HEAD], |r| r.get::<_, Vec<u8>>(0))
        .optional()?
        .and_then(|h| h.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()))
        .map(i64::from_be_bytes);
    // Every store has a head from its first entry on (v5 writes one at
    // upgrade), so entries without a head mean the head row was deleted.
    let lost = match head_seq {
        Some(h) => h > last_seq,
        None => last_seq > 0,
    };
    let (seq, prev) = match head_seq {
        h if lost && event != AuditEvent::AuditTruncated => {
            let note = serde_json::json!({
                "last_present": last_seq,
                "head": h,
            })
            .to_string();
            let seq = last_seq + 1;
            let event = AuditEvent::AuditTruncated.as_str();
            let mac = audit::chain_mac(&keys.audit, &prev, seq, now, event, &note);
            conn.prepare_cached(
                "INSERT INTO audit_log (seq, at, event, detail, mac) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![seq, now, event, note, mac])?;
            (seq + 1, mac)
        }
        _ => (last_seq + 1, prev),
    };
    let mac = audit::chain_mac(&keys.audit, &prev, seq, now, event.as_str(), detail);
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, event, detail, mac) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![seq, now, event.as_str(), detail, mac])?;
    // Same transaction: the head never lags or leads the log.
    write_audit_head(conn, keys, seq, &mac)
}

const AUDIT_HEAD: &str = "audit_head";

fn write_audit_head(conn: &Connection, keys: &StoreKeys, seq: i64, mac: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![
        AUDIT_HEAD,
        audit::encode_head(&keys.audit, seq, mac)
    ])?;
    Ok(())
}

/// v5: hidden kinds get their keyed labels (the sealed values are bound to
/// the real name, so only the column changes), and the audit log gets its
/// keyed head. Needs the keys, so it runs here rather than in `schema`.
fn upgrade_to_v5(conn: &Connection, keys: &StoreKeys) -> Result<()> {
    for kind in HIDDEN_KINDS {
        let label = records::kind_label(keys, kind);
        conn.execute(
            "UPDATE records SET kind = ?1 WHERE kind = ?2",
            params![label, kind],
        )?;
        conn.execute(
            "UPDATE outbox SET kind = ?1, priority = 0 WHERE kind = ?2",
            params![label, kind],
        )?;
    }
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match last {
        Some((seq, mac)) => write_audit_head(conn, keys, seq, &mac),
        None => write_audit_head(conn, keys, 0, &audit::GENESIS),
    }
}

/// Overwrites a file with zeros before unlinking it. On flash this is best
/// effort; the guarantee comes from the wrapped key being gone.
fn shred_file(path: &Path) -> std::io::Result<bool> {
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    {
        let mut f = fs::OpenOptions::new().write(true).open(path)?;
        let zeros = vec![0u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        f.sync_all()?;
    }
    fs::remove_file(path)?;
    Ok(true)
}

impl Store {
    /// Creates a new store at `path`. Refuses to touch an existing file.
    pub fn create(path: &Path, provider: &dyn KeyProvider) -> Result<Store> {
        Self::create_with_clock(path, provider, Arc::new(SystemClock))
    }

    pub fn create_with_clock(
        path: &Path,
        provider: &dyn KeyProvider,
        clock: Arc<dyn Clock>,
    ) -> Result<Store> {
        if path.exists() || sidecar(path, "-wal").exists() {
            return Err(Error::AlreadyExists {
                what: "store file".into(),
            });
        }
        let data_key = DataKey::generate();
        let wrapped = provider
            .wrap_key(data_key.as_bytes())
            .map_err(provider_error)?;
        let keys = data_key.derive();
        let store_id = random_id();
        let now = clock.now_millis();

        // Build under a temporary name, then rename: a crash mid-create
        // leaves no half-made store at `path`.
        let tmp = sidecar(path, &format!(".creating-{}", &random_id()[..8]));
        let built = (|| -> Result<()> {
            create_owner_only(&tmp)?;
            let mut conn = open_writer(&tmp, true)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            schema::create_latest(&tx)?;
            let key_check = keys
                .sealer
                .seal(key_check_aad(&store_id), KEY_CHECK_PLAINTEXT)
                .map_err(|e| Error::Internal(e.to_string()))?;
            for (k, v) in [
                ("format", STORE_FORMAT.as_bytes().to_vec()),
                ("store_id", store_id.as_bytes().to_vec()),
                ("created_at", now.to_string().into_bytes()),
                ("wrapped_key", wrapped.clone()),
                ("key_check", key_check),
            ] {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    params![k, v],
                )?;
            }
            audit_append(&tx, &keys, now, AuditEvent::StoreCreated, "{}")?;
            tx.commit()?;
            conn.close().map_err(|(_, e)| Error::from(e))?;
            fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        })();
        if let Err(e) = built {
            for suffix in ["", "-wal", "-shm"] {
                let _ = fs::remove_file(sidecar(&tmp, suffix));
            }
            return Err(e);
        }
        Self::finish_open(
            path,
            data_key,
            keys,
            store_id,
            now,
            schema::LATEST_VERSION,
            clock,
            false,
        )
    }

    /// Opens an existing store. On any failure the file is left exactly as it was.
    pub fn open(path: &Path, provider: &dyn KeyProvider) -> Result<Store> {
        Self::open_with_clock(path, provider, Arc::new(SystemClock))
    }

    pub fn open_with_clock(
        path: &Path,
        provider: &dyn KeyProvider,
        clock: Arc<dyn Clock>,
    ) -> Result<Store> {
        if !path.is_file() {
            return Err(Error::NotFound {
                what: "store file".into(),
            });
        }
        let header = read_header(path)?;
        let unwrapped = match provider.unwrap_key(&header.wrapped_key) {
            Ok(bytes) => DataKey::from_slice(&bytes),
            Err(KeyProviderError::WrongKey) => None,
            Err(e) => return Err(provider_error(e)),
        };
        let Some(data_key) = unwrapped else {
            note_failed_unlock(path, clock.now_millis());
            return Err(Error::WrongKey);
        };
        let keys = data_key.derive();
        match keys
            .sealer
            .open(key_check_aad(&header.store_id), &header.key_check)
        {
            Ok(pt) if pt == KEY_CHECK_PLAINTEXT => {}
            Ok(_) | Err(SealError::Authentication) => {
                note_failed_unlock(path, clock.now_millis());
                return Err(Error::WrongKey);
            }
            Err(e) => return Err(Error::corrupt("key check", e.to_string())),
        }
        Self::finish_open(
            path,
            data_key,
            keys,
            header.store_id,
            header.created_at,
            header.version,
            clock,
            true,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_open(
        path: &Path,
        data_key: DataKey,
        keys: StoreKeys,
        store_id: String,
        created_at: i64,
        version: i64,
        clock: Arc<dyn Clock>,
        audit_unlock: bool,
    ) -> Result<Store> {
        tighten_modes(path);
        let mut writer = open_writer(path, false)?;
        {
            let tx = writer.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if version < schema::LATEST_VERSION {
                schema::upgrade_from(&tx, version)?;
                if version < 5 {
                    upgrade_to_v5(&tx, &keys)?;
                }
            }
            let failures_path = sidecar(path, "-unlock-failures");
            let failures = fs::read_to_string(&failures_path).unwrap_or_default();
            for at in failures
                .lines()
                .filter_map(|l| l.trim().parse::<i64>().ok())
            {
                audit_append(&tx, &keys, at, AuditEvent::FailedUnlock, "{}")?;
            }
            if audit_unlock {
                audit_append(&tx, &keys, clock.now_millis(), AuditEvent::Unlock, "{}")?;
            }
            tx.commit()?;
            if !failures.is_empty() {
                let _ = fs::remove_file(&failures_path);
            }
        }
        let checkpointer = Checkpointer::start(path)?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(Some(writer)),
                checkpointer: Mutex::new(Some(checkpointer)),
                commits: std::sync::atomic::AtomicU64::new(0),
                readers: Mutex::new(Vec::new()),
                keys,
                data_key,
                store_id,
                created_at,
                clock,
                closed: AtomicBool::new(false),
                sync_lock: Mutex::new(()),
            }),
        })
    }

    /// Held for the whole of one sync round.
    pub fn sync_guard(&self) -> SyncGuard<'_> {
        self.inner
            .sync_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn store_id(&self) -> &str {
        &self.inner.store_id
    }

    pub fn now_millis(&self) -> i64 {
        self.inner.clock.now_millis()
    }

    /// Runs `f` in one write transaction; commits if it returns `Ok`.
    pub fn write<T>(&self, f: impl FnOnce(&WriteTx<'_>) -> Result<T>) -> Result<T> {
        self.write_with(false, f)
    }

    /// [`Store::write`] whose commit is on disk when it returns, even after
    /// a power cut (`synchronous=FULL` for this commit; the default NORMAL
    /// survives a killed app, not a lost WAL). Sync uses it before telling
    /// the relay anything: an ack or a push must never outlive the local
    /// commit it reports, or an event is lost or a chain key reused.
    pub fn write_durable<T>(&self, f: impl FnOnce(&WriteTx<'_>) -> Result<T>) -> Result<T> {
        self.write_with(true, f)
    }

    fn write_with<T>(&self, durable: bool, f: impl FnOnce(&WriteTx<'_>) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.write_dyn(durable, &mut |tx| {
            if let Some(f) = f.take() {
                out = Some(f(tx)?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| Error::Internal("write transaction ran no body".into()))
    }

    /// The body of every write, compiled once: a generic one was stamped out
    /// (with its closure inlined) for each caller's result type (size, issue 11).
    fn write_dyn(
        &self,
        durable: bool,
        f: &mut dyn FnMut(&WriteTx<'_>) -> Result<()>,
    ) -> Result<()> {
        {
            let mut guard = lock(&self.inner.writer);
            let conn = guard.as_mut().ok_or(Error::Closed)?;
            if durable {
                conn.pragma_update(None, "synchronous", "FULL")?;
            }
            let result: Result<()> = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // Every write transaction takes the next change sequence, so
                // "anything new?" is one read of it (records stamp it too).
                let seq = records::next_change_seq(&tx)?;
                let wtx = WriteTx {
                    tx,
                    keys: &self.inner.keys,
                    now: self.inner.clock.now_millis(),
                    seq,
                };
                f(&wtx)?;
                wtx.tx.commit()?;
                Ok(())
            })();
            if durable {
                conn.pragma_update(None, "synchronous", "NORMAL")?;
            }
            result?;
        }
        self.maybe_checkpoint();
        Ok(())
    }

    fn maybe_checkpoint(&self) {
        let n = self.inner.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if !n.is_multiple_of(CHECKPOINT_CHECK_EVERY) {
            return;
        }
        let wal = fs::metadata(sidecar(&self.inner.path, "-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        if wal > CHECKPOINT_WAL_BYTES {
            if let Some(c) = lock(&self.inner.checkpointer).as_ref() {
                // A full channel means a checkpoint is already pending.
                let _ = c.nudge.try_send(());
            }
        }
    }

    fn stop_checkpointer(&self) {
        if let Some(c) = lock(&self.inner.checkpointer).take() {
            c.stop();
        }
    }

    /// Runs `f` on a consistent snapshot without waiting for writers.
    pub fn read<T>(&self, f: impl FnOnce(&ReadTx<'_>) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.read_dyn(&mut |tx| {
            if let Some(f) = f.take() {
                out = Some(f(tx)?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| Error::Internal("read transaction ran no body".into()))
    }

    /// The body of every read, compiled once (see [`Store::write_dyn`]).
    fn read_dyn(&self, f: &mut dyn FnMut(&ReadTx<'_>) -> Result<()>) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let idle = lock(&self.inner.readers).pop();
        let conn = match idle {
            Some(c) => c,
            None => open_reader(&self.inner.path)?,
        };
        let result = (|| {
            let tx = conn.unchecked_transaction()?;
            f(&ReadTx {
                conn: &tx,
                keys: &self.inner.keys,
            })
        })();
        let mut pool = lock(&self.inner.readers);
        if !self.inner.closed.load(Ordering::Acquire) && pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        result
    }

    pub fn put<R: Record>(&self, id: &str, value: &R) -> Result<()> {
        self.write(|tx| tx.put(id, value))
    }

    pub fn insert<R: Record>(&self, value: &R) -> Result<String> {
        self.write(|tx| tx.insert(value))
    }

    pub fn get<R: Record>(&self, id: &str) -> Result<Option<Stored<R>>> {
        self.read(|tx| tx.get(id))
    }

    pub fn list<R: Record>(&self) -> Result<Vec<Stored<R>>> {
        self.read(|tx| tx.list())
    }

    /// The records of `R`'s kind that open, plus where the damaged ones
    /// are; each damaged one is noted in the audit log the first time.
    pub fn list_lenient<R: Record>(&self) -> Result<(Vec<Stored<R>>, Vec<Damaged>)> {
        let (ok, damaged) = self.read(|tx| tx.list_lenient())?;
        self.note_damaged(&damaged)?;
        Ok((ok, damaged))
    }

    /// Appends one `record_damaged` audit entry per damaged value not yet
    /// noted, keyed by (table, kind label, id): reading a damaged record
    /// again does not grow the log. Returns how many were new. Never call
    /// it inside a `write` closure (the writer is not reentrant).
    pub fn note_damaged(&self, damaged: &[Damaged]) -> Result<usize> {
        if damaged.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            let mut new = 0;
            for d in damaged {
                let detail = d.audit_detail(&self.inner.keys);
                let seen: bool = tx.connection().query_row(
                    "SELECT EXISTS (SELECT 1 FROM audit_log WHERE event = ?1 AND detail = ?2)",
                    params![AuditEvent::RecordDamaged.as_str(), detail],
                    |r| r.get(0),
                )?;
                if !seen {
                    tx.audit(AuditEvent::RecordDamaged, &detail)?;
                    new += 1;
                }
            }
            Ok(new)
        })
    }

    pub fn set_profile(&self, profile: &Profile) -> Result<()> {
        profile.validate()?;
        let body = serde_json::to_vec(profile)
            .map_err(|e| Error::Internal(crate::error::json_error_reason(&e)))?;
        self.write(|tx| {
            let sealed = tx.seal(profile_aad(), &body)?;
            tx.connection().execute(
                "INSERT INTO profile (id, updated_at, body) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body",
                params![tx.now_millis(), sealed],
            )?;
            Ok(())
        })
    }

    pub fn profile(&self) -> Result<Option<Profile>> {
        self.read(read_profile)
    }

    /// Appends a consent decision and audits it; `also` runs in the same
    /// transaction (the session layer queues the decision for the therapist
    /// there: `session::record_consent`).
    pub(crate) fn record_consent(
        &self,
        scope: &str,
        text_version: &str,
        decision: ConsentDecision,
        also: impl FnOnce(&WriteTx<'_>, &ConsentRecord) -> Result<()>,
    ) -> Result<ConsentRecord> {
        check_consent_input(scope, text_version)?;
        self.write(|tx| {
            let record = ConsentRecord {
                id: random_id(),
                scope: scope.to_string(),
                text_version: text_version.to_string(),
                decision,
                at_millis: tx.now_millis(),
            };
            let body = serde_json::to_vec(&record)
                .map_err(|e| Error::Internal(crate::error::json_error_reason(&e)))?;
            let sealed = tx.seal(consent_aad(&record.id), &body)?;
            tx.connection().execute(
                "INSERT INTO consents (id, at, body) VALUES (?1, ?2, ?3)",
                params![record.id, record.at_millis, sealed],
            )?;
            let detail = serde_json::json!({
                "scope": scope,
                "text_version": text_version,
                "decision": decision,
            })
            .to_string();
            tx.audit(AuditEvent::ConsentChanged, &detail)?;
            also(tx, &record)?;
            Ok(record)
        })
    }

    /// Every decision, oldest first.
    pub fn consent_history(&self) -> Result<Vec<ConsentRecord>> {
        self.read(consent_history)
    }

    /// The latest decision per scope.
    pub fn consents(&self) -> Result<Vec<ConsentState>> {
        Ok(current_states(&self.consent_history()?))
    }

    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        self.read(audit_entries)
    }

    /// Walks the chain and checks it ends at the keyed head, so a deleted
    /// tail is reported (`code: truncated`), not just an edited entry.
    pub fn verify_audit(&self) -> Result<AuditVerification> {
        let (entries, head) = self.read(|tx| {
            let head: Option<Vec<u8>> = tx
                .connection()
                .query_row("SELECT value FROM meta WHERE key = ?1", [AUDIT_HEAD], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok((audit_entries(tx)?, head))
        })?;
        Ok(audit::verify_with_head(
            &self.inner.keys.audit,
            &entries,
            head.as_deref(),
        ))
    }

    pub fn info(&self) -> Result<StoreInfo> {
        self.read(|tx| {
            let c = tx.connection();
            let count = |sql: &str| -> Result<u64> {
                Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
            };
            Ok(StoreInfo {
                store_id: self.inner.store_id.clone(),
                schema_version: c.pragma_query_value(None, "user_version", |r| r.get(0))?,
                created_at_millis: self.inner.created_at,
                has_profile: count("SELECT count(*) FROM profile")? > 0,
                record_counts: tx.counts()?.into_iter().collect(),
                consent_decisions: count("SELECT count(*) FROM consents")?,
                audit_entries: count("SELECT count(*) FROM audit_log")?,
            })
        })
    }

    /// Everything still readable, decrypted, in the documented export
    /// format, with the damaged values named in `damaged`. Audited.
    pub fn export(&self) -> Result<Export> {
        self.write(|tx| tx.audit(AuditEvent::Export, "{}"))?;
        let (export, damaged) = self.read(|tx| {
            export::build(
                tx,
                &self.inner.store_id,
                self.inner.created_at,
                self.now_millis(),
            )
        })?;
        self.note_damaged(&damaged)?;
        Ok(export)
    }

    /// Re-wraps the data key under a new provider. Data is not re-encrypted.
    pub fn rekey(&self, new_provider: &dyn KeyProvider) -> Result<()> {
        let wrapped = new_provider
            .wrap_key(self.inner.data_key.as_bytes())
            .map_err(provider_error)?;
        self.write(|tx| {
            tx.connection().execute(
                "UPDATE meta SET value = ?1 WHERE key = 'wrapped_key'",
                params![wrapped],
            )?;
            tx.audit(AuditEvent::Rekey, "{}")
        })?;
        // Push the old wrapped key out of the WAL; secure_delete zeroes it in the file.
        self.checkpoint()
    }

    /// Copies the WAL into the database now, so freed pages (old keys)
    /// are zeroed by `secure_delete` rather than lingering in the WAL.
    pub fn checkpoint(&self) -> Result<()> {
        let guard = lock(&self.inner.writer);
        let conn = guard.as_ref().ok_or(Error::Closed)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Crypto-shreds the store: destroys the wrapped key and key check,
    /// then overwrites and deletes every file. The handle is closed after.
    pub fn erase(&self, provider: &dyn KeyProvider) -> Result<EraseReport> {
        self.stop_checkpointer();
        {
            let mut guard = lock(&self.inner.writer);
            let conn = guard.as_mut().ok_or(Error::Closed)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            audit_append(
                &tx,
                &self.inner.keys,
                self.now_millis(),
                AuditEvent::Erase,
                "{}",
            )?;
            tx.execute(
                "UPDATE meta SET value = zeroblob(length(value)) WHERE key IN ('wrapped_key', 'key_check')",
                [],
            )?;
            tx.execute(
                "DELETE FROM meta WHERE key IN ('wrapped_key', 'key_check')",
                [],
            )?;
            tx.commit()?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            self.inner.closed.store(true, Ordering::Release);
            if let Some(conn) = guard.take() {
                let _ = conn.close();
            }
        }
        lock(&self.inner.readers).clear();
        let mut files_removed = Vec::new();
        for suffix in ["-wal", "-shm", "", "-unlock-failures"] {
            let p = sidecar(&self.inner.path, suffix);
            if shred_file(&p)? {
                files_removed.push(
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        let provider_key_destroyed = provider.destroy().is_ok();
        Ok(EraseReport {
            files_removed,
            provider_key_destroyed,
        })
    }

    /// Closes all connections; later calls fail with `Closed`.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.stop_checkpointer();
        if let Some(conn) = lock(&self.inner.writer).take() {
            let _ = conn.close();
        }
        lock(&self.inner.readers).clear();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}

/// The profile row's time, for naming it when it is damaged.
pub(crate) fn profile_damaged(tx: &ReadTx<'_>) -> Result<Option<Damaged>> {
    let at: Option<i64> = tx
        .connection()
        .query_row("SELECT updated_at FROM profile WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(at.map(|at| Damaged {
        table: "profile".into(),
        kind: "profile".into(),
        id: "1".into(),
        created_at_millis: at,
        updated_at_millis: at,
    }))
}

/// Strict: the profile carries the time zone every schedule is read in,
/// so a damaged one stops the operation (ADR 0002 §4).
pub(crate) fn read_profile(tx: &ReadTx<'_>) -> Result<Option<Profile>> {
    let sealed: Option<Vec<u8>> = tx
        .connection()
        .query_row("SELECT body FROM profile WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    sealed
        .map(|s| records::decode("profile", &tx.open(profile_aad(), &s)?))
        .transpose()
}

/// Strict: the current consent state is read from the whole history, and
/// a missing withdrawal must not turn into a grant (ADR 0002 §4).
fn consent_history(tx: &ReadTx<'_>) -> Result<Vec<ConsentRecord>> {
    let (out, damaged) = consent_history_lenient(tx)?;
    if !damaged.is_empty() {
        return Err(Error::corrupt(
            "consent",
            "a consent decision does not open",
        ));
    }
    Ok(out)
}

/// Every consent decision that opens, plus where the others are (export).
fn consent_history_lenient(tx: &ReadTx<'_>) -> Result<(Vec<ConsentRecord>, Vec<Damaged>)> {
    let mut stmt = tx
        .connection()
        .prepare_cached("SELECT id, at, body FROM consents ORDER BY at, rowid")?;
    let mut rows = stmt.query([])?;
    let (mut out, mut damaged) = (Vec::new(), Vec::new());
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let at: i64 = row.get(1)?;
        let sealed: Vec<u8> = row.get(2)?;
        let record: Option<ConsentRecord> = tx
            .open(consent_aad(&id), &sealed)
            .and_then(|pt| records::decode("consent", &pt))
            .ok()
            .filter(|r: &ConsentRecord| r.id == id);
        match record {
            Some(r) => out.push(r),
            None => damaged.push(Damaged {
                table: "consents".into(),
                kind: "consent".into(),
                id,
                created_at_millis: at,
                updated_at_millis: at,
            }),
        }
    }
    Ok((out, damaged))
}

fn audit_entries(tx: &ReadTx<'_>) -> Result<Vec<AuditEntry>> {
    let mut stmt = tx
        .connection()
        .prepare_cached("SELECT seq, at, event, detail, mac FROM audit_log ORDER BY seq")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at_millis: r.get(1)?,
                event: r.get(2)?,
                detail: r.get(3)?,
                mac: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

// Compile-time proof that handles can cross threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
};
