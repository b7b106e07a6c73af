//! A therapist's patients who left: the caseload with each one's status,
//! the per-patient export for the clinic's records, the retention setting
//! and forgetting a left patient after that export (docs/erasure.md).

use std::io::Read;
use std::path::Path;

use collabzium_core::insights::{caseload_for_store, PatientStatus};
use collabzium_core::session::retention::{self, RetentionSettings};
use collabzium_core::store::export::rfc3339;
use collabzium_core::store::Store;
use collabzium_core::{Error, Result};
use serde_json::json;

use crate::output::Output;

/// An export larger than this is not one of ours.
const MAX_EXPORT_BYTES: u64 = 512 * 1024 * 1024;

fn status_name(s: PatientStatus) -> &'static str {
    match s {
        PatientStatus::Active => "active",
        PatientStatus::Left => "left",
        PatientStatus::Ended => "ended",
    }
}

pub fn caseload(out: &Output, store: &Store) -> Result<()> {
    let now = chrono::DateTime::from_timestamp_millis(store.now_millis()).unwrap_or_default();
    let entries = caseload_for_store(store, now)?;
    out.emit(&entries, || {
        if entries.is_empty() {
            return "no patients yet".into();
        }
        entries
            .iter()
            .map(|e| {
                let since = e
                    .status_since
                    .map(|t| format!(" since {}", t.format("%Y-%m-%d")))
                    .unwrap_or_default();
                format!(
                    "{}  {}  {:?}  {}{}  reasons: {}",
                    e.channel_id,
                    e.label.as_deref().unwrap_or("-"),
                    e.priority,
                    status_name(e.status),
                    since,
                    e.reasons.len()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub fn export_patient(
    out: &Output,
    store: &Store,
    channel: &str,
    file: &Path,
    force: bool,
) -> Result<()> {
    super::check_export_target(file, force)?;
    let text = retention::export_patient(store, channel)?;
    super::write_export(file, text.as_bytes(), force)?;
    out.emit(&json!({"exported": true, "channel_id": channel}), || {
        "wrote the patient's record (plaintext: file it in the clinic's records and keep it safe)"
            .into()
    });
    Ok(())
}

pub fn forget(out: &Output, store: &Store, channel: &str, export: Option<&Path>) -> Result<()> {
    let Some(export) = export else {
        return Err(Error::invalid(
            "after_export",
            "is required: export the patient first (therapist export-patient), file it in the clinic's records, then pass that file",
        ));
    };
    let file = std::fs::File::open(export).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            what: "export file".into(),
        },
        _ => Error::from(e),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_EXPORT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_EXPORT_BYTES {
        return Err(Error::invalid(
            "export",
            "is larger than any patient export",
        ));
    }
    let r = retention::forget_patient(store, channel, &bytes)?;
    out.emit(&json!({"forgotten": true, "report": r}), || {
        format!(
            "forgot the patient on this device: {} received events, {} sent messages, {} acknowledgements, {} ratings deleted",
            r.received_events, r.sent_messages, r.acknowledgements, r.ratings
        )
    });
    Ok(())
}

pub fn retention(out: &Output, store: &Store, days: Option<u32>, keep: bool) -> Result<()> {
    if days.is_some() || keep {
        retention::set_retention_settings(
            store,
            &RetentionSettings {
                left_patient_retention_days: days,
            },
        )?;
    }
    let s = retention::retention_settings(store)?;
    let due = retention::retention_due(store, store.now_millis())?;
    out.emit(
        &json!({
            "left_patient_retention_days": s.left_patient_retention_days,
            "due": due,
        }),
        || {
            let mut t = match s.left_patient_retention_days {
                Some(d) => {
                    format!("left patients are due for export and forget {d} days after leaving")
                }
                None => "left patients are kept until you export and forget them".into(),
            };
            for d in &due {
                t.push_str(&format!(
                    "\n{}  {}  due since {}  {}",
                    d.channel_id,
                    d.label.as_deref().unwrap_or("-"),
                    rfc3339(d.due_at_millis),
                    if d.exported {
                        "exported"
                    } else {
                        "not exported yet"
                    }
                ));
            }
            t
        },
    );
    Ok(())
}
