//! When an automatic backup is due (issue 16 §2, docs/backup.md).
//!
//! The core decides, the app schedules: after each sync or check-in, and
//! from its daily background job, the app asks [`due`]; when true it makes
//! a backup with the recovery key, stores the bytes where the user chose,
//! and then calls [`record_saved`]. A backup is due when none was saved
//! yet, when the last one is a day old, or when a check-in was submitted
//! after it: a check-in is the patient's most valuable entry, so it is not
//! left a whole day without a copy.

use serde::{Deserialize, Serialize};

use super::{has_recovery_key, Header, MAGIC, MAX_HEADER, PREFIX_LEN};
use crate::checkin::Checkin;
use crate::error::{Error, Result};
use crate::store::{Record, Store};

/// A saved backup is at most this old before the next one is due.
pub const BACKUP_INTERVAL_MS: i64 = 86_400_000;

const STATE_ID: &str = "last";

/// When the last backup that the app reported as saved was made, and the
/// check-in change sequence at that time (an index look-up tells whether
/// any check-in changed since, without opening them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct BackupState {
    last_backup_at_millis: i64,
    checkin_seq: i64,
}

impl Record for BackupState {
    const KIND: &'static str = "backup_state";
}

/// Records that the backup made at `created_at_millis` (its
/// `BackupSummary::created_at_millis`) is saved. An older time than the
/// one recorded is ignored, so a late report never makes a backup look
/// newer than it is.
pub fn record_saved(store: &Store, created_at_millis: i64) -> Result<()> {
    store.write(|tx| {
        if let Some(s) = tx.get::<BackupState>(STATE_ID)? {
            if s.value.last_backup_at_millis >= created_at_millis {
                return Ok(());
            }
        }
        let read = tx.as_read();
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
        tx.put(
            STATE_ID,
            &BackupState {
                last_backup_at_millis: created_at_millis,
                checkin_seq,
            },
        )
    })
}

/// When the last saved backup was made; `None` before the first.
pub fn last_backup_at(store: &Store) -> Result<Option<i64>> {
    Ok(store
        .get::<BackupState>(STATE_ID)?
        .map(|s| s.value.last_backup_at_millis))
}

/// Whether a backup should be made now. Always false without a recovery
/// key (there is nothing to encrypt a backup with).
pub fn due(store: &Store, now_millis: i64) -> Result<bool> {
    if !has_recovery_key(store)? {
        return Ok(false);
    }
    let Some(state) = store.get::<BackupState>(STATE_ID)?.map(|s| s.value) else {
        return Ok(true);
    };
    if now_millis.saturating_sub(state.last_backup_at_millis) >= BACKUP_INTERVAL_MS {
        return Ok(true);
    }
    store.read(|tx| {
        if tx.kind_change_seq(Checkin::KIND)? <= state.checkin_seq {
            return Ok(false);
        }
        // Something changed among check-ins: due if one was submitted after
        // the backup was made (a check-in made while it was written counts).
        Ok(tx
            .list::<Checkin>()?
            .iter()
            .any(|c| c.value.submitted_at_millis >= state.last_backup_at_millis))
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
