//! The therapist's copy of a patient who left (issue 16 §3, docs/erasure.md).
//!
//! A patient's erasure revokes the channel; the therapist's device then
//! holds what it received as a clinical record, which record-keeping law
//! may require the clinic to keep (many jurisdictions ask for about ten
//! years after the last contact; the rules differ by country and
//! profession). So nothing here deletes on its own: the therapist exports
//! the patient's record for the clinic's record system first, and only a
//! forget that presents that very export deletes the local copy.
//! `left_patient_retention_days` says how long a left patient's copy may
//! stay on this device before it is listed as due for export and forget.

use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::checkin::Checkin;
use crate::crypto::hex;
use crate::error::{Error, Result};
use crate::insights::{load_patients, PatientRecord, TherapistRating};
use crate::store::{delivery, Record, Store};
use crate::sync::state::{ChannelState, ChannelStatus, InboxItem, SentMessage};
use crate::sync::AlertAcknowledgement;

/// `format` of a patient export.
pub const PATIENT_EXPORT_FORMAT: &str = "collabzium.patient_export";
pub const PATIENT_EXPORT_VERSION: u32 = 1;
/// Longest retention that can be set (100 years): a bound, not advice.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

const SETTINGS_ID: &str = "retention";
const DAY_MS: i64 = 86_400_000;

/// The therapist's retention rule for patients who left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionSettings {
    /// Days after a patient left before their copy on this device is due
    /// for export and forget. `None` (the default): keep until the
    /// therapist exports and forgets it. The device is a working copy; the
    /// legal retention period applies to the clinic's record, which the
    /// export feeds, so a short period here is fine once exports are filed.
    pub left_patient_retention_days: Option<u32>,
}

impl Record for RetentionSettings {
    const KIND: &'static str = "retention_settings";
}

/// Proof that an export was written from this store: its digest and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PatientExportMark {
    channel_id: String,
    sha256: String,
    at_millis: i64,
}

impl Record for PatientExportMark {
    const KIND: &'static str = "patient_export_mark";
}

/// One patient's record for the clinic: what the caseload knows (scores,
/// alerts, progress, consent, the therapist's ratings) plus every received
/// event, the therapist's own messages and alert acknowledgements.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatientExport {
    pub format: String,
    pub version: u32,
    pub channel_id: String,
    pub exported_at_millis: i64,
    pub paired_at_millis: Option<i64>,
    pub revoked_at_millis: Option<i64>,
    /// `me` (the therapist ended it) or `peer` (the patient left).
    pub revoked_by: Option<String>,
    pub record: PatientRecord,
    pub received: Vec<InboxItem>,
    pub sent_messages: Vec<SentMessage>,
    pub acknowledgements: Vec<AlertAcknowledgement>,
}

/// A left (or ended) patient whose copy is past the retention period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionDue {
    pub channel_id: String,
    pub label: Option<String>,
    pub revoked_at_millis: i64,
    pub due_at_millis: i64,
    /// An export was written after the patient left.
    pub exported: bool,
}

/// What `forget_patient` deleted (counts only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ForgetReport {
    pub channel_id: String,
    pub received_events: u64,
    pub sent_messages: u64,
    pub acknowledgements: u64,
    pub ratings: u64,
    pub outbox_rows: u64,
}

pub fn retention_settings(store: &Store) -> Result<RetentionSettings> {
    Ok(store
        .get::<RetentionSettings>(SETTINGS_ID)?
        .map(|s| s.value)
        .unwrap_or_default())
}

pub fn set_retention_settings(store: &Store, s: &RetentionSettings) -> Result<()> {
    if let Some(d) = s.left_patient_retention_days {
        if d == 0 || d > MAX_RETENTION_DAYS {
            return Err(Error::invalid(
                "left_patient_retention_days",
                format!("must be 1 to {MAX_RETENTION_DAYS} days, or unset to keep until forgotten"),
            ));
        }
    }
    store.write(|tx| tx.put(SETTINGS_ID, s))
}

/// The channel, and when this device last wrote it (its own clock: the
/// revocation's time is the patient's clock, which may run ahead).
fn therapist_channel(store: &Store, channel: &str) -> Result<(ChannelState, i64)> {
    let (ch, written) = store
        .get::<ChannelState>(channel)?
        .map(|c| (c.value, c.updated_at_millis))
        .ok_or_else(|| Error::NotFound {
            what: "patient channel".into(),
        })?;
    if ch.role != "therapist" {
        return Err(Error::invalid(
            "channel",
            "is not a therapist's patient channel",
        ));
    }
    Ok((ch, written))
}

fn digest_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Writes one patient's export (pretty JSON) and records its digest, so
/// that `forget_patient` can later check the file it is shown is this one.
/// Any patient can be exported; only a left or ended one can be forgotten.
pub fn export_patient(store: &Store, channel: &str) -> Result<String> {
    let (ch, _) = therapist_channel(store, channel)?;
    let record = load_patients(store)?
        .into_iter()
        .find(|p| p.channel_id == ch.id)
        .ok_or_else(|| Error::NotFound {
            what: "patient record (the channel was never paired)".into(),
        })?;
    let (received, sent_messages, acknowledgements) = store.read(|tx| {
        let mut received: Vec<InboxItem> = tx
            .list::<InboxItem>()?
            .into_iter()
            .map(|i| i.value)
            .filter(|i| i.channel == ch.id)
            .collect();
        crate::sort::sort_by_key(&mut received, |i| (i.at, i.seq));
        let mut sent: Vec<SentMessage> = tx
            .list::<SentMessage>()?
            .into_iter()
            .map(|m| m.value)
            .filter(|m| m.channel == ch.id)
            .collect();
        crate::sort::sort_by_key(&mut sent, |m| m.at);
        let acks: Vec<AlertAcknowledgement> = tx
            .list::<AlertAcknowledgement>()?
            .into_iter()
            .map(|a| a.value)
            .filter(|a| a.channel == ch.id)
            .collect();
        Ok((received, sent, acks))
    })?;
    let now = store.now_millis();
    let export = PatientExport {
        format: PATIENT_EXPORT_FORMAT.into(),
        version: PATIENT_EXPORT_VERSION,
        channel_id: ch.id.clone(),
        exported_at_millis: now,
        paired_at_millis: ch.paired_at_millis,
        revoked_at_millis: ch.revoked_at_millis,
        revoked_by: ch.revoked_by.clone(),
        record,
        received,
        sent_messages,
        acknowledgements,
    };
    let text = serde_json::to_string_pretty(&export)
        .map_err(|e| Error::Internal(format!("cannot encode export: {:?}", e.classify())))?;
    let mark = PatientExportMark {
        channel_id: ch.id.clone(),
        sha256: digest_hex(text.as_bytes()),
        at_millis: now,
    };
    store.write(|tx| {
        tx.insert(&mark)?;
        tx.audit(AuditEvent::Export, "patient")
    })?;
    Ok(text)
}

/// Deletes a left (or ended) patient's copy from this device, given the
/// export written for the clinic after the channel was revoked. Refuses an
/// active patient, a file that is not an export of this patient from this
/// store, and an export not made after this device recorded the leaving.
pub fn forget_patient(store: &Store, channel: &str, export: &[u8]) -> Result<ForgetReport> {
    let (ch, written) = therapist_channel(store, channel)?;
    if ch.status != ChannelStatus::Revoked {
        return Err(Error::invalid(
            "channel",
            "the patient is still active: only a patient who left (or whose channel was ended) can be forgotten",
        ));
    }
    let parsed: PatientExport = serde_json::from_slice(export)
        .map_err(|_| Error::invalid("export", "is not a patient export file"))?;
    if parsed.format != PATIENT_EXPORT_FORMAT || parsed.channel_id != ch.id {
        return Err(Error::invalid("export", "is not this patient's export"));
    }
    let sha = digest_hex(export);
    let marks: Vec<PatientExportMark> = store
        .read(|tx| tx.list::<PatientExportMark>())?
        .into_iter()
        .map(|m| m.value)
        .filter(|m| m.channel_id == ch.id)
        .collect();
    let Some(mark) = marks.iter().find(|m| m.sha256 == sha) else {
        return Err(Error::invalid(
            "export",
            "was not written by this store, or was changed after export",
        ));
    };
    // Strictly after this device recorded the leaving (the channel's last
    // write), so the export holds everything the device will ever hold.
    if mark.at_millis <= written {
        return Err(Error::invalid(
            "export",
            "was written before the patient left: export again so it holds everything",
        ));
    }
    let mut report = ForgetReport {
        channel_id: ch.id.clone(),
        ..ForgetReport::default()
    };
    store.write(|tx| {
        for i in tx.list::<InboxItem>()? {
            if i.value.channel == ch.id && tx.delete(InboxItem::KIND, &i.id)? {
                report.received_events += 1;
            }
        }
        for m in tx.list::<SentMessage>()? {
            if m.value.channel == ch.id && tx.delete(SentMessage::KIND, &m.id)? {
                report.sent_messages += 1;
            }
        }
        for a in tx.list::<AlertAcknowledgement>()? {
            if a.value.channel == ch.id && tx.delete(AlertAcknowledgement::KIND, &a.id)? {
                report.acknowledgements += 1;
            }
        }
        for r in tx.list::<TherapistRating>()? {
            if r.value.channel_id == ch.id {
                tx.delete(Checkin::KIND, &r.value.checkin_id)?;
                if tx.delete(TherapistRating::KIND, &r.id)? {
                    report.ratings += 1;
                }
            }
        }
        report.outbox_rows = delivery::purge_channel(tx, &ch.id)?;
        tx.delete(ChannelState::KIND, &ch.id)?;
        // Counts only: the audit chain holds no personal data.
        tx.audit(
            AuditEvent::PatientForgotten,
            &format!(
                "{{\"received_events\":{},\"outbox_rows\":{}}}",
                report.received_events, report.outbox_rows
            ),
        )
    })?;
    // Freed pages are zeroed (secure_delete) once out of the WAL.
    store.checkpoint()?;
    Ok(report)
}

/// Left or ended patients whose copy has been here longer than the
/// retention setting; empty when the setting is unset.
pub fn retention_due(store: &Store, now_millis: i64) -> Result<Vec<RetentionDue>> {
    let Some(days) = retention_settings(store)?.left_patient_retention_days else {
        return Ok(Vec::new());
    };
    let (channels, marks) =
        store.read(|tx| Ok((tx.list::<ChannelState>()?, tx.list::<PatientExportMark>()?)))?;
    let mut out = Vec::new();
    for stored in channels {
        let written = stored.updated_at_millis;
        let c = stored.value;
        let Some(at) = c.revoked_at_millis else {
            continue;
        };
        if c.role != "therapist" || c.status != ChannelStatus::Revoked {
            continue;
        }
        let due = at.saturating_add(i64::from(days).saturating_mul(DAY_MS));
        if due > now_millis {
            continue;
        }
        let exported = marks
            .iter()
            .any(|m| m.value.channel_id == c.id && m.value.at_millis > written);
        out.push(RetentionDue {
            channel_id: c.id,
            label: c.label,
            revoked_at_millis: at,
            due_at_millis: due,
            exported,
        });
    }
    crate::sort::sort_by_key(&mut out, |d| d.due_at_millis);
    Ok(out)
}
