//! Consent: what the patient agreed to, under which text version, and when.
//! History is append-only; withdrawing is one call, exactly like granting.

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Scopes the apps use today. Any token is accepted so clinics can add their own.
pub mod scopes {
    /// Keeping treatment data on this device.
    pub const DATA_PROCESSING: &str = "data_processing";
    /// Sending check-ins and alerts to the paired therapist.
    pub const THERAPIST_SHARING: &str = "therapist_sharing";
    /// Including de-identified data in the clinic's research export.
    pub const RESEARCH_EXPORT: &str = "research_export";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDecision {
    Granted,
    Withdrawn,
}

/// One decision in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRecord {
    pub id: String,
    pub scope: String,
    /// Version of the consent text the patient saw, e.g. `2026-11-v3`.
    pub text_version: String,
    pub decision: ConsentDecision,
    /// Milliseconds since the Unix epoch, UTC.
    pub at_millis: i64,
}

/// The current state of one scope: its latest decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    pub scope: String,
    pub granted: bool,
    pub text_version: String,
    pub at_millis: i64,
}

pub(crate) fn check_consent_input(scope: &str, text_version: &str) -> Result<()> {
    super::check_token("scope", scope, 64)?;
    super::check_token("text_version", &text_version.to_ascii_lowercase(), 64)?;
    Ok(())
}

/// Folds a history (oldest first) into one state per scope.
pub fn current_states(history: &[ConsentRecord]) -> Vec<ConsentState> {
    let mut latest: std::collections::BTreeMap<&str, &ConsentRecord> = Default::default();
    for r in history {
        latest.insert(&r.scope, r);
    }
    latest
        .into_values()
        .map(|r| ConsentState {
            scope: r.scope.clone(),
            granted: r.decision == ConsentDecision::Granted,
            text_version: r.text_version.clone(),
            at_millis: r.at_millis,
        })
        .collect()
}
