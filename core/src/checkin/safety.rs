//! What happens when an answer signals risk: crisis resources for the
//! patient's locale at once, and in guided or messaging modes a high-priority
//! alert queued for the therapist in the same transaction.

use serde::{Deserialize, Serialize};

use crate::domain::TreatmentMode;
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

fn res(
    name: &str,
    description: &str,
    phone: Option<&str>,
    sms: Option<&str>,
    url: Option<&str>,
) -> CrisisResource {
    CrisisResource {
        name: name.into(),
        description: description.into(),
        phone: phone.map(Into::into),
        sms: sms.map(Into::into),
        url: url.map(Into::into),
    }
}

/// Built-in resources, used when no program is enrolled or it has none for the locale.
pub fn default_resources(locale: &str) -> Vec<CrisisResource> {
    let region = locale.split('-').nth(1).unwrap_or("").to_ascii_uppercase();
    let lang = locale.split('-').next().unwrap_or("").to_ascii_lowercase();
    let emergency = |number: &str| {
        res(
            "Emergency services",
            &format!("If you are in immediate danger, call {number}."),
            Some(number),
            None,
            None,
        )
    };
    match (lang.as_str(), region.as_str()) {
        (_, "GB") => vec![
            res(
                "Samaritans",
                "Free, confidential support at any time of day or night. Call 116 123.",
                Some("116 123"),
                None,
                Some("https://www.samaritans.org"),
            ),
            res("NHS 111", "Urgent mental health help from the NHS: call 111 and choose the mental health option.", Some("111"), None, Some("https://111.nhs.uk")),
            emergency("999"),
        ],
        (_, "US") => vec![
            res(
                "988 Suicide & Crisis Lifeline",
                "Call or text 988 at any time to reach a trained crisis counselor.",
                Some("988"),
                Some("988"),
                Some("https://988lifeline.org"),
            ),
            emergency("911"),
        ],
        ("de", _) => vec![
            res(
                "TelefonSeelsorge",
                "Kostenlos, anonym und rund um die Uhr erreichbar: 0800 111 0 111 oder 0800 111 0 222.",
                Some("0800 111 0 111"),
                None,
                Some("https://www.telefonseelsorge.de"),
            ),
            emergency("112"),
        ],
        _ => vec![
            res(
                "Find a Helpline",
                "Free, confidential crisis lines in your country, listed by country.",
                None,
                None,
                Some("https://findahelpline.com"),
            ),
            res(
                "Emergency services",
                "If you are in immediate danger, call your local emergency number (112 in the EU, 911 in North America, 999 in the UK).",
                Some("112"),
                None,
                None,
            ),
        ],
    }
}

/// The program's resources for `locale` when it has any, else the built-in set.
pub fn resources_for(program: Option<&Program>, locale: &str) -> Vec<CrisisResource> {
    match program.map(|p| p.crisis_resources_for(locale)) {
        Some(r) if !r.is_empty() => r.to_vec(),
        _ => default_resources(locale),
    }
}

/// What the therapist did about an alert, recorded with the acknowledgement
/// (issue 10). The patient is told only that it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckAction {
    /// Contacted the patient by phone.
    Phone,
    /// Messaged the patient.
    Message,
    /// Reviewed the safety plan with the patient.
    SafetyPlan,
    /// Referred the patient to a crisis service.
    Referred,
    Other,
}

impl AckAction {
    pub const ALL: [AckAction; 5] = [
        AckAction::Phone,
        AckAction::Message,
        AckAction::SafetyPlan,
        AckAction::Referred,
        AckAction::Other,
    ];

    /// The command-line and wire token.
    pub fn as_str(self) -> &'static str {
        match self {
            AckAction::Phone => "phone",
            AckAction::Message => "message",
            AckAction::SafetyPlan => "safety_plan",
            AckAction::Referred => "referred",
            AckAction::Other => "other",
        }
    }

    /// Words for the caseload: "contacted by phone".
    pub fn label(self) -> &'static str {
        match self {
            AckAction::Phone => "contacted by phone",
            AckAction::Message => "messaged",
            AckAction::SafetyPlan => "safety plan reviewed",
            AckAction::Referred => "referred to crisis service",
            AckAction::Other => "other action",
        }
    }

    pub fn parse(s: &str) -> crate::error::Result<AckAction> {
        AckAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                crate::error::Error::invalid(
                    "action",
                    "must be phone, message, safety_plan, referred or other",
                )
            })
    }
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
