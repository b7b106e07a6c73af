//! What happens when an answer signals risk: crisis resources for the
//! patient's locale at once, and in guided or messaging modes a high-priority
//! alert queued for the therapist in the same transaction.

use serde::{Deserialize, Serialize};

use crate::domain::{Profile, TreatmentMode};
use crate::instruments::RiskHit;
use crate::program::{CrisisResource, Program};

/// Returned with any answer or result whose answers meet a risk rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyAction {
    /// Which rules fired (item link ids and concerns; no answer values).
    pub concerns: Vec<RiskHit>,
    /// Crisis services for the patient's locale; never empty.
    pub resources: Vec<CrisisResource>,
    /// What the app shows above the resources.
    pub message: String,
    /// The alert queued for the therapist; `None` in unguided mode.
    pub therapist_alert_id: Option<String>,
    pub mode: Option<TreatmentMode>,
}

const GUIDED_MESSAGE: &str = "Your answers suggest you may be going through a very hard time. \
We have let your therapist know, and they will follow up, but they may not see this straight away. \
If you feel you might act on thoughts of harming yourself, or you are in danger, \
contact one of the services below or your local emergency number now.";

const UNGUIDED_MESSAGE: &str = "Your answers suggest you may be going through a very hard time. \
This program is self-guided, so nobody is told automatically. Please reach out now: \
contact one of the services below, your doctor, or your local emergency number. \
You do not have to get through this alone.";

/// Whether a therapist is there to alert. With no profile yet the mode is
/// unknown: queuing an alert that nobody reads is harmless, missing one is not.
pub fn alerts_therapist(mode: Option<TreatmentMode>) -> bool {
    !matches!(mode, Some(TreatmentMode::Unguided))
}

pub fn message_for(mode: Option<TreatmentMode>) -> &'static str {
    if alerts_therapist(mode) {
        GUIDED_MESSAGE
    } else {
        UNGUIDED_MESSAGE
    }
}

/// Built-in resources for a country (issue 10): that country's national set,
/// or the international set when the country is unknown. Never another
/// country's numbers. See `crate::crisis::resources_for`.
pub fn default_resources(country: Option<&str>, language: &str) -> Vec<CrisisResource> {
    crate::crisis::resources_for(country, language, None)
}

/// What the patient sees: the program's lines for their country, then the
/// built-in set for their country (explicit, else their locale's region),
/// in their language where the set has it.
pub fn resources_for(program: Option<&Program>, profile: Option<&Profile>) -> Vec<CrisisResource> {
    let country = profile.and_then(Profile::country_code);
    let language = profile.map_or(crate::crisis::FALLBACK_LANGUAGE, Profile::language);
    crate::crisis::resources_for(country.as_deref(), language, program)
}

/// Acknowledgement state of a therapist alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// In the outbox, not yet handed to the relay.
    Queued,
    /// Handed to the relay; no acknowledgement yet.
    Sent,
    /// The therapist acknowledged it.
    Acknowledged,
}

/// A high-priority alert for the therapist (record kind `safety_alert`,
/// id = the check-in id, so one alert per check-in at most).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyAlert {
    pub checkin_id: String,
    pub instrument: String,
    pub concerns: Vec<RiskHit>,
    pub created_at_millis: i64,
    /// True when raised from a draft, before the patient submitted.
    pub raised_before_submit: bool,
    pub outbox_seq: i64,
    pub acknowledged_at_millis: Option<i64>,
}

impl crate::store::Record for SafetyAlert {
    const KIND: &'static str = "safety_alert";
}
