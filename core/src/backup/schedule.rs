//! When an automatic backup is due (issue 16 §2, docs/backup.md).
//!
//! The core decides, the app schedules: after each sync or check-in, and
//! from its daily background job, the app asks [`due`]; when true it makes
//! a backup with the recovery key, stores the bytes where the user chose,
//! and then calls [`record_saved`]. A backup is due when none was saved
//! yet, when the last one is a day old, or when a check-in was submitted
//! after it: a check-in is the patient's most valuable entry, so it is not
//! left a whole day without a copy.

use super::{has_recovery_key, Header, MAGIC, MAX_HEADER, PREFIX_LEN};
use crate::checkin::Checkin;
use crate::error::{Error, Result};
use crate::store::{Record, Store};

/// A saved backup is at most this old before the next one is due.
pub const BACKUP_INTERVAL_MS: i64 = 86_400_000;

/// Device-local numbers (`meta`, not records: a backup must not carry the
/// time of its own making into the restored store, which then backs up at
/// once, and an export stays what the person entered).
const LAST_AT: &str = "backup_last_at";
/// The check-in change sequence when the last backup was saved (an index
/// look-up tells whether any check-in changed since, without opening them);
/// -1 when a check-in was made after the backup.
const CHECKIN_SEQ: &str = "backup_checkin_seq";

/// Records that the backup made at `created_at_millis` (its
/// `BackupSummary::created_at_millis`) is saved. An older time than the
/// one recorded is ignored, so a late report never makes a backup look
/// newer than it is.
pub fn record_saved(store: &Store, created_at_millis: i64) -> Result<()> {
    store.write(|tx| {
        let read = tx.as_read();
        if read
            .local_number(LAST_AT)?
            .is_some_and(|last| last >= created_at_millis)
        {
            return Ok(());
        }
        // A check-in submitted after the backup was made (while it was being
        // saved) is not in it: leave the sequence unset so `due` says so.
        let missed = read
            .list::<Checkin>()?
            .iter()
            .any(|c| c.value.submitted_at_millis >= created_at_millis);
        let checkin_seq = if missed {
            -1
        } else {
            read.kind_change_seq(Checkin::KIND)?
        };
        tx.set_local_number(LAST_AT, created_at_millis)?;
        tx.set_local_number(CHECKIN_SEQ, checkin_seq)
    })
}

/// When the last saved backup was made; `None` before the first.
pub fn last_backup_at(store: &Store) -> Result<Option<i64>> {
    store.read(|tx| tx.local_number(LAST_AT))
}

/// Whether a backup should be made now. Always false without a recovery
/// key (there is nothing to encrypt a backup with).
pub fn due(store: &Store, now_millis: i64) -> Result<bool> {
    if !has_recovery_key(store)? {
        return Ok(false);
    }
    store.read(|tx| {
        let Some(last) = tx.local_number(LAST_AT)? else {
            return Ok(true);
        };
        if now_millis.saturating_sub(last) >= BACKUP_INTERVAL_MS {
            return Ok(true);
        }
        let seq = tx.local_number(CHECKIN_SEQ)?.unwrap_or(-1);
        if seq >= 0 && tx.kind_change_seq(Checkin::KIND)? <= seq {
            return Ok(false);
        }
        // Something changed among check-ins: due if one was submitted after
        // the backup was made (a check-in made while it was written counts).
        Ok(tx
            .list::<Checkin>()?
            .iter()
            .any(|c| c.value.submitted_at_millis >= last))
    })
}

/// When the backup in `bytes` was made, read from its header (no key
/// needed; the header is authenticated only when the backup is opened).
/// For apps that hold the bytes rather than the summary.
pub fn backup_created_at(bytes: &[u8]) -> Result<i64> {
    let not_backup = || Error::corrupt("backup", "not a collabzium backup file");
    if bytes.len() < PREFIX_LEN || &bytes[..8] != MAGIC {
        return Err(not_backup());
    }
    let header_len = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
    if header_len > MAX_HEADER || bytes.len() < PREFIX_LEN + header_len {
        return Err(not_backup());
    }
    let header: Header = serde_json::from_slice(&bytes[PREFIX_LEN..PREFIX_LEN + header_len])
        .map_err(|_| Error::corrupt("backup", "unreadable header"))?;
    Ok(header.created_at_millis)
}
