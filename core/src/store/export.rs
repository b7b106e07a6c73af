//! The data-subject export: everything in the store, decrypted, as JSON.
//! The format is documented in `docs/export-format.md`; bump
//! `EXPORT_FORMAT_VERSION` on any incompatible change.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::records::{Damaged, ReadTx};

/// Record kinds that hold key material and never appear in an export.
const SECRET_KINDS: &[&str] = &[
    "sync_identity",
    "sync_channel",
    "insights_cache",
    "recovery_check",
];
use crate::domain::{ConsentRecord, Profile};
use crate::error::{json_error_reason, Error, Result};

pub const EXPORT_FORMAT: &str = "collabzium.export";
pub const EXPORT_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub format: &'static str,
    pub format_version: u32,
    pub store_id: String,
    pub created_at: String,
    pub exported_at: String,
    pub profile: Option<Profile>,
    pub consents: Vec<ExportConsent>,
    pub records: Vec<ExportRecord>,
    /// Events queued for the therapist, with their delivery state.
    pub outbox: Vec<ExportOutboxEvent>,
    pub audit_log: Vec<ExportAuditEntry>,
    /// Values that failed to open or decode: where they were, no content.
    /// Everything else above is complete.
    pub damaged: Vec<ExportDamaged>,
}

/// A damaged value in the export: `table`, `kind`, `id` and its times.
#[derive(Debug, Clone, Serialize)]
pub struct ExportDamaged {
    pub table: String,
    pub kind: String,
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Damaged> for ExportDamaged {
    fn from(d: &Damaged) -> Self {
        ExportDamaged {
            table: d.table.clone(),
            kind: d.kind.clone(),
            id: d.id.clone(),
            created_at: rfc3339(d.created_at_millis),
            updated_at: rfc3339(d.updated_at_millis),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportOutboxEvent {
    pub seq: i64,
    pub kind: String,
    pub ref_id: String,
    pub priority: super::outbox::Priority,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportConsent {
    pub scope: String,
    pub text_version: String,
    pub decision: crate::domain::ConsentDecision,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportRecord {
    pub kind: String,
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportAuditEntry {
    pub seq: i64,
    pub at: String,
    pub event: String,
    pub detail: serde_json::Value,
}

impl Export {
    /// The export as pretty-printed JSON: the one encoding every surface writes.
    pub fn to_json_pretty(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| {
            Error::Internal(format!("cannot encode export: {}", json_error_reason(&e)))
        })
    }
}

pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The export, and the damaged values it names (for the audit note).
pub(crate) fn build(
    tx: &ReadTx<'_>,
    store_id: &str,
    created_at: i64,
    now: i64,
) -> Result<(Export, Vec<Damaged>)> {
    let mut damaged = Vec::new();
    // The export is the patient's way out: a damaged profile is named,
    // not allowed to hold back everything else.
    let profile = match super::read_profile(tx) {
        Ok(p) => p,
        Err(Error::Corrupt { .. }) => {
            damaged.extend(super::profile_damaged(tx)?);
            None
        }
        Err(e) => return Err(e),
    };
    let (consents, bad) = super::consent_history_lenient(tx)?;
    damaged.extend(bad);
    let consents = consents
        .into_iter()
        .map(|c: ConsentRecord| ExportConsent {
            scope: c.scope,
            text_version: c.text_version,
            decision: c.decision,
            at: rfc3339(c.at_millis),
        })
        .collect();
    let (raws, bad) = tx.all_raw_lenient()?;
    damaged.extend(bad);
    let mut records = Vec::with_capacity(raws.len());
    // Sync keys (device key, chain keys) are secrets, not the user's data.
    for r in raws
        .into_iter()
        .filter(|r| !SECRET_KINDS.contains(&r.kind.as_str()))
    {
        match serde_json::from_slice(&r.body) {
            Ok(data) => records.push(ExportRecord {
                created_at: rfc3339(r.created_at_millis),
                updated_at: rfc3339(r.updated_at_millis),
                kind: r.kind,
                id: r.id,
                data,
            }),
            Err(_) => damaged.push(r.damaged()),
        }
    }
    let (entries, bad) = super::outbox::all_lenient(tx)?;
    damaged.extend(bad);
    let mut outbox = Vec::with_capacity(entries.len());
    for e in entries {
        match serde_json::from_slice(&e.body) {
            Ok(data) => outbox.push(ExportOutboxEvent {
                seq: e.seq,
                kind: e.kind,
                ref_id: e.ref_id,
                priority: e.priority,
                created_at: rfc3339(e.created_at_millis),
                sent_at: e.sent_at_millis.map(rfc3339),
                data,
            }),
            Err(_) => damaged.push(Damaged {
                table: super::outbox::OUTBOX_TABLE.into(),
                kind: e.kind,
                id: e.ref_id,
                created_at_millis: e.created_at_millis,
                updated_at_millis: e.created_at_millis,
            }),
        }
    }
    let audit_log = super::audit_entries(tx)?
        .into_iter()
        .map(|e| ExportAuditEntry {
            seq: e.seq,
            at: rfc3339(e.at_millis),
            detail: crate::json::from_text(&e.detail).unwrap_or(serde_json::Value::Null),
            event: e.event,
        })
        .collect();
    let export = Export {
        format: EXPORT_FORMAT,
        format_version: EXPORT_FORMAT_VERSION,
        store_id: store_id.to_string(),
        created_at: rfc3339(created_at),
        exported_at: rfc3339(now),
        profile,
        consents,
        records,
        outbox,
        audit_log,
        damaged: damaged.iter().map(ExportDamaged::from).collect(),
    };
    Ok((export, damaged))
}
