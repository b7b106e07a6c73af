//! Store-level records over FFI. Types whose core shape is already the FFI
//! shape are exported as UniFFI remote types (the mirror below is checked
//! against the core definition by the compiler); the rest are copies, each
//! saying why.

use collabzium_core::{audit, domain, store};

pub use domain::TreatmentMode;

#[uniffi::remote(Enum)]
pub enum TreatmentMode {
    Unguided,
    Guided,
    Messaging,
}

pub use domain::Profile;

#[uniffi::remote(Record)]
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

/// Copy of `domain::ConsentRecord`: the decision crosses as `granted`.
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

pub use domain::ConsentState;

#[uniffi::remote(Record)]
pub struct ConsentState {
    pub scope: String,
    pub granted: bool,
    pub text_version: String,
    pub at_millis: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordCount {
    pub kind: String,
    pub count: u64,
}

/// Copy of `store::StoreInfo`: its count map crosses as a list of records.
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

pub use store::EraseReport;

#[uniffi::remote(Record)]
pub struct EraseReport {
    pub files_removed: Vec<String>,
    pub provider_key_destroyed: bool,
}

/// Copy of `audit::AuditEntry` without its chain MAC, which stays inside.
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

/// Copy of `audit::AuditVerification` without its `&'static str` code,
/// which UniFFI cannot carry (the reason text says the same).
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
