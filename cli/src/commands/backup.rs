//! `collabzium backup ...`: encrypted backups under the recovery key and
//! restore into a new store (docs/backup.md, ADR 0011).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use collabzium_core::backup::{self, RecoveryKey};
use collabzium_core::store::export::rfc3339;
use collabzium_core::{Error, Result};
use serde_json::json;

use super::{open_store, require_store};
use crate::output::Output;
use crate::passphrase;

/// Where scripts pass the recovery key; a terminal is prompted instead.
pub const RECOVERY_KEY_ENV: &str = "COLLABZIUM_RECOVERY_KEY";
/// Largest backup file read (a store of years is a few MiB).
const MAX_BACKUP_BYTES: u64 = 1024 * 1024 * 1024;

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Write an encrypted backup of the store (owner-only file, replaced if it is a backup).
    Create {
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a new store at --store (new passphrase).
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// Check that a backup opens with the recovery key, without restoring it.
    Verify {
        #[arg(long)]
        from: PathBuf,
    },
    /// Set up a recovery key on an existing store and print it once.
    SetupKey,
    /// Whether an automatic backup is due (daily, or after a check-in) and when the last was made.
    Status,
}

fn recovery_key() -> Result<RecoveryKey> {
    let text = match std::env::var(RECOVERY_KEY_ENV) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(_) if std::io::stdin().is_terminal() => zeroize::Zeroizing::new(
            rpassword::prompt_password("Recovery key: ").map_err(Error::from)?,
        ),
        Err(_) => {
            return Err(Error::invalid(
                "recovery key",
                format!("set {RECOVERY_KEY_ENV} or run on a terminal"),
            ))
        }
    };
    RecoveryKey::parse(&text)
}

fn read_backup(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            what: "backup file".into(),
        },
        _ => Error::from(e),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_BACKUP_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BACKUP_BYTES {
        return Err(Error::corrupt("backup", "larger than any backup can be"));
    }
    Ok(bytes)
}

/// Replaces an earlier backup, never some other file (only its first
/// bytes are read: `--out` may name anything).
fn check_target(path: &Path) -> Result<()> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let mut head = Vec::with_capacity(backup::MAGIC.len());
    file.take(backup::MAGIC.len() as u64)
        .read_to_end(&mut head)?;
    if head != backup::MAGIC {
        return Err(Error::AlreadyExists {
            what: "output file that is not a backup".into(),
        });
    }
    Ok(())
}

pub fn run(out: &Output, path: Option<&Path>, cmd: BackupCommand) -> Result<()> {
    match cmd {
        BackupCommand::Create { out: file } => {
            check_target(&file)?;
            let store = open_store(path)?;
            let key = recovery_key()?;
            let (bytes, summary) = backup::create(&store, &key)?;
            super::write_private(&file, &bytes)?;
            // Only now is it saved: the schedule counts from this backup.
            backup::record_saved(&store, summary.created_at_millis)?;
            out.emit(&json!({"created": true, "backup": summary}), || {
                format!(
                    "backup written: {} records, {} bytes, encrypted under the recovery key{}",
                    summary.records,
                    summary.bytes,
                    if summary.damaged == 0 {
                        String::new()
                    } else {
                        format!(
                            "; {} damaged value(s) could not be included",
                            summary.damaged
                        )
                    }
                )
            });
            Ok(())
        }
        BackupCommand::Status => {
            let store = open_store(path)?;
            let now = store.now_millis();
            let has_key = backup::has_recovery_key(&store)?;
            let due = backup::due(&store, now)?;
            let last = backup::last_backup_at(&store)?;
            out.emit(
                &json!({
                    "recovery_key": has_key,
                    "due": due,
                    "last_backup_at_millis": last,
                    "last_backup_at": last.map(rfc3339),
                }),
                || {
                    let last = last.map_or("never".to_string(), rfc3339);
                    if !has_key {
                        format!("no recovery key set up (backup setup-key); last backup: {last}")
                    } else if due {
                        format!("a backup is due; last backup: {last}")
                    } else {
                        format!("no backup due; last backup: {last}")
                    }
                },
            );
            Ok(())
        }
        BackupCommand::Restore { from } => {
            let target = require_store(path)?;
            if target.exists() {
                return Err(Error::AlreadyExists {
                    what: "store file (restore makes a new store)".into(),
                });
            }
            let bytes = read_backup(&from)?;
            let key = recovery_key()?;
            let provider = passphrase::for_new_store()?;
            let (_store, report) = backup::restore(&bytes, &key, target, &provider)?;
            out.emit(&json!({"restored": true, "report": report}), || {
                format!(
                    "restored into store {}: {} records, {} consent decisions, {} audit entries carried; backup made {} (anything after it is not included){}",
                    report.store_id,
                    report.records,
                    report.consents,
                    report.audit_entries,
                    rfc3339(report.backup_created_at_millis),
                    if report.channels_resumed > 0 {
                        format!("; {} channel(s) resume at the next sync", report.channels_resumed)
                    } else {
                        String::new()
                    }
                )
            });
            Ok(())
        }
        BackupCommand::Verify { from } => {
            let bytes = read_backup(&from)?;
            let key = recovery_key()?;
            let summary = backup::verify(&bytes, &key)?;
            out.emit(&json!({"ok": true, "backup": summary}), || {
                format!(
                    "backup ok: {} records, made {}",
                    summary.records,
                    rfc3339(summary.created_at_millis)
                )
            });
            Ok(())
        }
        BackupCommand::SetupKey => {
            let store = open_store(path)?;
            let key = backup::set_up_recovery_key(&store)?;
            let text = key.to_text();
            out.emit(&json!({"recovery_key": text.as_str()}), || {
                format!(
                    "Recovery key (shown only now; write it down and keep it apart from this device):\n\n    {}",
                    text.as_str()
                )
            });
            Ok(())
        }
    }
}
