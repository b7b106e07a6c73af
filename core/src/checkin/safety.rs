//! What happens when an answer signals risk: crisis resources for the
//! patient's locale at once, and in guided or messaging modes a high-priority
//! alert queued for the therapist in the same transaction.

use serde::{Deserialize, Serialize};

use crate::crisis::CrisisResource;
use crate::domain::{Profile, TreatmentMode};
use crate::instruments::RiskHit;
use crate::program::Program;
use crate::schedule::Tz;

/// Returned with any answer or result whose answers meet a risk rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyAction {
    /// Which rules fired (item link ids and concerns; no answer values).
    pub concerns: Vec<RiskHit>,
    /// Crisis services for the patient's country; never empty.
    pub resources: Vec<CrisisResource>,
    /// What the app shows above the resources: true for `alert_state`.
    pub message: String,
    /// The alert queued for the therapist; `None` in unguided mode.
    pub therapist_alert_id: Option<String>,
    pub mode: Option<TreatmentMode>,
    /// Who has been told, at the moment this was made (issue 10).
    #[serde(default)]
    pub alert_state: AlertState,
    /// With `delivered`: when the therapist's next working hours start.
    #[serde(default)]
    pub therapist_next_available_millis: Option<i64>,
}

/// Who has been told about a risk answer, as the patient is told it. Each
/// state is true at the moment it is computed; it moves forward at syncs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Self-guided: nobody is told automatically.
    Unguided,
    /// No active therapist channel carries the alert (not yet paired, the
    /// alert was not shared, or the channel was closed): nobody is told.
    #[default]
    NotConnected,
    /// On its way to a connected therapist; not yet on their device.
    Sending,
    /// The therapist's device confirmed it.
    Delivered,
    /// The therapist acknowledged it.
    Seen,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unguided => "unguided",
            AlertState::NotConnected => "not_connected",
            AlertState::Sending => "sending",
            AlertState::Delivered => "delivered",
            AlertState::Seen => "seen",
        }
    }
}

/// When the therapist will see a delivered alert, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TherapistReach {
    /// Inside their hours now.
    AvailableNow,
    /// They chose to be notified at once, even outside hours.
    NotifiedAtOnce,
    /// Their next window starts then (UTC ms).
    NextAvailable(i64),
    /// No hours known.
    Unknown,
    /// With `NotConnected`: the patient is paired, but chose at join to keep
    /// this alert on the device ("not connected" would be untrue).
    KeptOnDevice,
}

/// Whether a therapist is there to alert. With no profile yet the mode is
/// unknown: queuing an alert that nobody reads is harmless, missing one is not.
pub fn alerts_therapist(mode: Option<TreatmentMode>) -> bool {
    !matches!(mode, Some(TreatmentMode::Unguided))
}

/// The message languages shipped; others fall back to English.
pub const MESSAGE_LANGUAGES: [&str; 2] = ["en", "de"];

fn is_de(language: &str) -> bool {
    language
        .split(['-', '_'])
        .next()
        .is_some_and(|l| l.eq_ignore_ascii_case("de"))
}

/// A local time the patient reads: "Monday 7 December at 09:00".
pub fn local_time_words(at_millis: i64, time_zone: &str, language: &str) -> String {
    use chrono::{Datelike, TimeZone, Timelike};
    let tz: Tz = time_zone.parse().unwrap_or(Tz::UTC);
    let Some(t) = tz.timestamp_millis_opt(at_millis).single() else {
        return String::new();
    };
    let wd = t.weekday().num_days_from_monday() as usize;
    let mo = t.month0() as usize;
    if is_de(language) {
        const DAYS: [&str; 7] = [
            "Montag",
            "Dienstag",
            "Mittwoch",
            "Donnerstag",
            "Freitag",
            "Samstag",
            "Sonntag",
        ];
        const MONTHS: [&str; 12] = [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ];
        format!(
            "{}, {}. {}, um {:02}:{:02} Uhr",
            DAYS[wd],
            t.day(),
            MONTHS[mo],
            t.hour(),
            t.minute()
        )
    } else {
        const DAYS: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        format!(
            "{} {} {} at {:02}:{:02}",
            DAYS[wd],
            t.day(),
            MONTHS[mo],
            t.hour(),
            t.minute()
        )
    }
}

/// What the patient reads above the crisis resources, in their language
/// (en or de; others read English). Every sentence about who was told is
/// true for `state`; the resources always come first on screen.
pub fn message_for(
    state: AlertState,
    reach: TherapistReach,
    time_zone: &str,
    language: &str,
    source: AlertSource,
) -> String {
    let de = is_de(language);
    // Free text is screened by a phrase list: the lead speaks of the words,
    // never of the person (ADR 0004).
    let lead = match (source, de) {
        (AlertSource::Instrument, true) => {
            "Ihre Antworten deuten darauf hin, dass es Ihnen gerade sehr schwer geht."
        }
        (AlertSource::Instrument, false) => {
            "Your answers suggest you may be going through a very hard time."
        }
        (AlertSource::Language, true) => {
            "Manche Worte in Ihrem Text können auf eine sehr schwere Zeit hindeuten. Falls das auf Sie zutrifft: Hilfe ist sofort erreichbar."
        }
        (AlertSource::Language, false) => {
            "Some of the words you wrote can be a sign of a very hard time. If that is true for you, help is available right now."
        }
    };
    let act_now = if de {
        "Wenn Sie befürchten, sich etwas anzutun, oder in Gefahr sind, wenden Sie sich jetzt an einen der unten genannten Dienste oder an den Notruf."
    } else {
        "If you feel you might act on thoughts of harming yourself, or you are in danger, contact one of the services below or the emergency number now."
    };
    let middle = match (state, de) {
        (AlertState::Unguided, false) => "This program is self-guided, so nobody is told automatically about your answers. Please reach out now to one of the services below, your doctor, or the emergency number. You do not have to get through this alone.".to_string(),
        (AlertState::Unguided, true) => "Dieses Programm ist ein Selbsthilfeprogramm, deshalb erfährt niemand automatisch von Ihren Antworten. Bitte holen Sie sich jetzt Hilfe: bei einem der unten genannten Dienste, bei Ihrer Hausärztin oder Ihrem Hausarzt oder beim Notruf. Sie müssen da nicht allein durch.".to_string(),
        (AlertState::NotConnected, false) if reach == TherapistReach::KeptOnDevice => "This alert was made before you joined your therapist, and you chose not to share it, so nobody has been told about these answers. Please reach out now to one of the services below or the emergency number. If you want your therapist to know, you can tell them in a message.".to_string(),
        (AlertState::NotConnected, true) if reach == TherapistReach::KeptOnDevice => "Diese Benachrichtigung entstand, bevor Sie sich mit Ihrer Therapeutin oder Ihrem Therapeuten verbunden haben, und Sie haben entschieden, sie nicht zu teilen. Deshalb hat niemand von diesen Antworten erfahren. Bitte wenden Sie sich jetzt an einen der unten genannten Dienste oder an den Notruf. Wenn Ihre Therapeutin oder Ihr Therapeut davon wissen soll, können Sie es in einer Nachricht schreiben.".to_string(),
        (AlertState::NotConnected, false) => "You are not connected to a therapist, so nobody has been told about your answers. Please reach out now to one of the services below or the emergency number. To have a therapist see your check-ins, ask them for a pairing code and choose \"Join a therapist\".".to_string(),
        (AlertState::NotConnected, true) => "Sie sind mit keiner Therapeutin und keinem Therapeuten verbunden, deshalb hat niemand von Ihren Antworten erfahren. Bitte wenden Sie sich jetzt an einen der unten genannten Dienste oder an den Notruf. Damit eine Therapeutin oder ein Therapeut Ihre Check-ins sieht, lassen Sie sich einen Kopplungscode geben und wählen Sie „Mit Therapeut:in verbinden“.".to_string(),
        (AlertState::Sending, false) => "We are sending an alert to your therapist, but it has not reached them yet. Please do not wait for them.".to_string(),
        (AlertState::Sending, true) => "Wir senden eine Benachrichtigung an Ihre Therapeutin oder Ihren Therapeuten, sie ist aber noch nicht angekommen. Bitte warten Sie nicht darauf.".to_string(),
        (AlertState::Delivered, false) => {
            let when = match reach {
                TherapistReach::AvailableNow => "They are working now, but may not see it straight away.".to_string(),
                TherapistReach::NotifiedAtOnce => "They asked to be notified at once, even outside their hours, but may not be able to answer straight away.".to_string(),
                TherapistReach::NextAvailable(at) => format!(
                    "Their next working hours start on {} (your time), and they may not see it before then.",
                    local_time_words(at, time_zone, language)
                ),
                TherapistReach::Unknown | TherapistReach::KeptOnDevice => "They may not see it straight away.".to_string(),
            };
            format!("Your alert has reached your therapist's device. {when}")
        }
        (AlertState::Delivered, true) => {
            let when = match reach {
                TherapistReach::AvailableNow => "Sie oder er arbeitet gerade, sieht sie aber vielleicht nicht sofort.".to_string(),
                TherapistReach::NotifiedAtOnce => "Sie oder er wird sofort benachrichtigt, auch außerhalb der Sprechzeiten, kann aber vielleicht nicht gleich antworten.".to_string(),
                TherapistReach::NextAvailable(at) => format!(
                    "Die nächste Sprechzeit beginnt am {} (Ihre Zeit); vorher wird sie möglicherweise nicht gelesen.",
                    local_time_words(at, time_zone, language)
                ),
                TherapistReach::Unknown | TherapistReach::KeptOnDevice => "Sie wird vielleicht nicht sofort gelesen.".to_string(),
            };
            format!("Ihre Benachrichtigung ist auf dem Gerät Ihrer Therapeutin oder Ihres Therapeuten angekommen. {when}")
        }
        (AlertState::Seen, false) => "Your therapist has seen your alert.".to_string(),
        (AlertState::Seen, true) => "Ihre Therapeutin oder Ihr Therapeut hat Ihre Benachrichtigung gesehen.".to_string(),
    };
    match state {
        // These already tell the patient where to turn.
        AlertState::Unguided | AlertState::NotConnected => format!("{lead} {middle}"),
        _ => format!("{lead} {middle} {act_now}"),
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
    crate::crisis::resources_for(
        country.as_deref(),
        language,
        program.map(|p| &p.crisis_resources),
    )
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
/// id = the check-in id, so one alert per check-in at most; a language
/// alert on a message has the id `lang-<message ref>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SafetyAlert {
    pub checkin_id: String,
    pub instrument: String,
    pub concerns: Vec<RiskHit>,
    pub created_at_millis: i64,
    /// True when raised from a draft, before the patient submitted.
    pub raised_before_submit: bool,
    pub outbox_seq: i64,
    pub acknowledged_at_millis: Option<i64>,
    /// The answers that met a risk rule, so the therapist sees them.
    #[serde(default)]
    pub items: Vec<AlertItem>,
    /// The instrument total when the alert was raised (a draft's total is
    /// of the items answered so far; the check-in follows with the final).
    #[serde(default)]
    pub total: Option<f64>,
    /// `instrument`, or `language` for risk language in free text.
    #[serde(default)]
    pub source: AlertSource,
    /// The phrase-list entry that matched, for a language alert.
    #[serde(default)]
    pub phrase: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    #[default]
    Instrument,
    /// Possible risk language in a message or a comment.
    Language,
}

/// One triggering answer of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertItem {
    pub item: String,
    pub concern: String,
    /// The option's value (`1`) and its wording ("Several days").
    pub answer: Option<f64>,
    pub answer_text: Option<String>,
}

impl crate::store::Record for SafetyAlert {
    const KIND: &'static str = "safety_alert";
}
