//! The data-subject export: everything in the store, decrypted, as JSON.
//! The format is documented in `docs/export-format.md`; bump
//! `EXPORT_FORMAT_VERSION` on any incompatible change.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::records::ReadTx;

/// Record kinds that hold key material and never appear in an export.
const SECRET_KINDS: &[&str] = &["sync_identity", "sync_channel", "insights_cache"];
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

pub(crate) fn build(tx: &ReadTx<'_>, store_id: &str, created_at: i64, now: i64) -> Result<Export> {
    let profile = super::read_profile(tx)?;
    let consents = super::consent_history(tx)?
        .into_iter()
        .map(|c: ConsentRecord| ExportConsent {
            scope: c.scope,
            text_version: c.text_version,
            decision: c.decision,
            at: rfc3339(c.at_millis),
        })
        .collect();
    let records = tx
        .all_raw()?
        .into_iter()
        // Sync keys (device key, chain keys) are secrets, not the user's data.
        .filter(|r| !SECRET_KINDS.contains(&r.kind.as_str()))
        .map(|r| {
            let data = serde_json::from_slice(&r.body)
                .map_err(|e| Error::corrupt(r.kind.clone(), json_error_reason(&e)))?;
            Ok(ExportRecord {
                created_at: rfc3339(r.created_at_millis),
                updated_at: rfc3339(r.updated_at_millis),
                kind: r.kind,
                id: r.id,
                data,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let outbox = super::outbox::all(tx)?
        .into_iter()
        .map(|e| {
            let data = serde_json::from_slice(&e.body)
                .map_err(|err| Error::corrupt("outbox", json_error_reason(&err)))?;
            Ok(ExportOutboxEvent {
                seq: e.seq,
                kind: e.kind,
                ref_id: e.ref_id,
                priority: e.priority,
                created_at: rfc3339(e.created_at_millis),
                sent_at: e.sent_at_millis.map(rfc3339),
                data,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let audit_log = super::audit_entries(tx)?
        .into_iter()
        .map(|e| ExportAuditEntry {
            seq: e.seq,
            at: rfc3339(e.at_millis),
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
            event: e.event,
        })
        .collect();
    Ok(Export {
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
    })
}
