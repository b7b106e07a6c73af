//! FFI mirrors of core types: plain records, converted at the boundary.

use collabzium_core::{audit, domain, store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TreatmentMode {
    Unguided,
    Guided,
    Messaging,
}

impl From<domain::TreatmentMode> for TreatmentMode {
    fn from(m: domain::TreatmentMode) -> Self {
        match m {
            domain::TreatmentMode::Unguided => Self::Unguided,
            domain::TreatmentMode::Guided => Self::Guided,
            domain::TreatmentMode::Messaging => Self::Messaging,
        }
    }
}

impl From<TreatmentMode> for domain::TreatmentMode {
    fn from(m: TreatmentMode) -> Self {
        match m {
            TreatmentMode::Unguided => Self::Unguided,
            TreatmentMode::Guided => Self::Guided,
            TreatmentMode::Messaging => Self::Messaging,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Profile {
    pub display_name: String,
    /// IANA zone name, e.g. "Europe/Berlin".
    pub time_zone: String,
    /// BCP 47 tag, e.g. "en-GB".
    pub locale: String,
    pub mode: TreatmentMode,
    /// ISO 3166-1 alpha-2 country for crisis resources ("AT"); null means
    /// the region of `locale`. Ask at onboarding when the locale has none.
    #[uniffi(default = None)]
    pub country: Option<String>,
}

impl From<domain::Profile> for Profile {
    fn from(p: domain::Profile) -> Self {
        Profile {
            display_name: p.display_name,
            time_zone: p.time_zone,
            locale: p.locale,
            mode: p.mode.into(),
            country: p.country,
        }
    }
}

impl From<Profile> for domain::Profile {
    fn from(p: Profile) -> Self {
        domain::Profile {
            display_name: p.display_name,
            time_zone: p.time_zone,
            locale: p.locale,
            mode: p.mode.into(),
            country: p.country,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConsentRecord {
    pub id: String,
    pub scope: String,
    pub text_version: String,
    pub granted: bool,
    pub at_millis: i64,
}

impl From<domain::ConsentRecord> for ConsentRecord {
    fn from(c: domain::ConsentRecord) -> Self {
        ConsentRecord {
            id: c.id,
            scope: c.scope,
            text_version: c.text_version,
            granted: c.decision == domain::ConsentDecision::Granted,
            at_millis: c.at_millis,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConsentState {
    pub scope: String,
    pub granted: bool,
    pub text_version: String,
    pub at_millis: i64,
}

impl From<domain::ConsentState> for ConsentState {
    fn from(c: domain::ConsentState) -> Self {
        ConsentState {
            scope: c.scope,
            granted: c.granted,
            text_version: c.text_version,
            at_millis: c.at_millis,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordCount {
    pub kind: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreInfo {
    pub store_id: String,
    pub schema_version: i64,
    pub created_at_millis: i64,
    pub has_profile: bool,
    pub record_counts: Vec<RecordCount>,
    pub consent_decisions: u64,
    pub audit_entries: u64,
}

impl From<store::StoreInfo> for StoreInfo {
    fn from(i: store::StoreInfo) -> Self {
        StoreInfo {
            store_id: i.store_id,
            schema_version: i.schema_version,
            created_at_millis: i.created_at_millis,
            has_profile: i.has_profile,
            record_counts: i
                .record_counts
                .into_iter()
                .map(|(kind, count)| RecordCount { kind, count })
                .collect(),
            consent_decisions: i.consent_decisions,
            audit_entries: i.audit_entries,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EraseReport {
    pub files_removed: Vec<String>,
    pub provider_key_destroyed: bool,
}

impl From<store::EraseReport> for EraseReport {
    fn from(r: store::EraseReport) -> Self {
        EraseReport {
            files_removed: r.files_removed,
            provider_key_destroyed: r.provider_key_destroyed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_millis: i64,
    pub event: String,
    pub detail: String,
}

impl From<audit::AuditEntry> for AuditEntry {
    fn from(e: audit::AuditEntry) -> Self {
        AuditEntry {
            seq: e.seq,
            at_millis: e.at_millis,
            event: e.event,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditVerification {
    pub entries: u64,
    pub ok: bool,
    pub first_broken_seq: Option<i64>,
    pub reason: Option<String>,
}

impl From<audit::AuditVerification> for AuditVerification {
    fn from(v: audit::AuditVerification) -> Self {
        AuditVerification {
            entries: v.entries,
            ok: v.ok,
            first_broken_seq: v.first_broken_seq,
            reason: v.reason,
        }
    }
}
