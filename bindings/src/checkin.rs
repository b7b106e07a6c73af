//! Check-ins over FFI: one call per screen (start, answer a batch, submit,
//! history, alerts, trend). Thin conversions only; rules live in core
//! (the draft screen in `collabzium_core::session`).

use std::collections::BTreeMap;

use collabzium_core::checkin as core_checkin;
use collabzium_core::crisis;
use collabzium_core::instruments::{self, Instrument, ItemType};
use collabzium_core::session::{DraftScreen, ScreenItem};

use crate::error::Result;
use crate::store::PatientStore;

/// One answer value. Choice items take the option's ordinal value. Not
/// `instruments::AnswerValue`: variants carry named fields, and `Cleared`
/// stands for the core's `None`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum CheckinAnswerValue {
    Integer {
        value: i64,
    },
    Text {
        value: String,
    },
    /// Removes an earlier answer (the patient skipped the item).
    Cleared,
}

/// One entry of a draft's answer map.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckinAnswer {
    pub link_id: String,
    pub value: CheckinAnswerValue,
}

/// A projection of `instruments::Instrument` (respondent as text, item count).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InstrumentSummary {
    pub id: String,
    pub version: String,
    pub title: String,
    /// "patient" or "therapist".
    pub respondent: String,
    pub item_count: u32,
}

/// Copy of `instruments::AnswerOption` without its terminology coding.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckinOption {
    pub value: i64,
    pub text: String,
}

/// Copy of `session::ScreenItem`: the item type crosses as text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckinItem {
    pub link_id: String,
    pub text: String,
    /// "choice", "integer" or "text".
    pub item_type: String,
    pub required: bool,
    pub options: Vec<CheckinOption>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// A crisis service for the patient's country.
pub type CrisisContact = crisis::CrisisResource;

#[uniffi::remote(Record)]
pub struct CrisisContact {
    pub name: String,
    pub description: String,
    pub phone: Option<String>,
    pub sms: Option<String>,
    pub url: Option<String>,
}

/// Who has been told about a risk answer; each state is true when read.
pub use core_checkin::AlertState;

#[uniffi::remote(Enum)]
pub enum AlertState {
    /// Self-guided: nobody is told automatically.
    Unguided,
    /// No therapist channel carries the alert: nobody has been told.
    NotConnected,
    /// On its way; not yet on the therapist's device.
    Sending,
    /// On the therapist's device.
    Delivered,
    /// The therapist acknowledged it.
    Seen,
}

/// The crisis screen: the contacts first, at once, then the message (true
/// for `alert_state`). Copy of `checkin::SafetyAction`: its risk hits cross
/// as two lists, and the mode stays inside.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SafetyAction {
    /// Link ids of the items that met a risk rule.
    pub risk_items: Vec<String>,
    /// What each rule is about, e.g. "suicidality".
    pub concerns: Vec<String>,
    pub message: String,
    pub resources: Vec<CrisisContact>,
    /// Set when an alert was queued for the therapist (guided, messaging).
    pub therapist_alert_id: Option<String>,
    pub alert_state: AlertState,
    /// With `Delivered`: when the therapist's next hours start.
    pub therapist_next_available_millis: Option<i64>,
}

/// The whole check-in screen. Copy of `session::DraftScreen`, flattened,
/// with the answer map as a list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CheckinDraft {
    pub checkin_id: String,
    pub instrument: String,
    pub instrument_version: String,
    pub title: String,
    pub preamble: Option<String>,
    pub agenda_item: Option<String>,
    pub corrects: Option<String>,
    pub revision: u32,
    pub items: Vec<CheckinItem>,
    pub answers: Vec<CheckinAnswer>,
    pub missing_required: Vec<String>,
    pub safety: Option<SafetyAction>,
}

/// One entry of a core subscale map.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SubscaleScore {
    pub id: String,
    pub score: Option<f64>,
}

/// Copy of `instruments::Score`: subscales as a list, `safety_alert` computed.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CheckinScore {
    pub scorable: bool,
    pub total: Option<f64>,
    pub prorated: bool,
    /// e.g. "moderately_severe"; none when the instrument has no bands.
    pub severity: Option<String>,
    pub severity_label: Option<String>,
    pub subscales: Vec<SubscaleScore>,
    pub safety_alert: bool,
}

/// Copy of `checkin::CheckinResult`, holding the FFI score and safety.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CheckinResult {
    pub checkin_id: String,
    pub instrument: String,
    pub score: CheckinScore,
    pub safety: Option<SafetyAction>,
    /// Position in the sync outbox.
    pub outbox_seq: i64,
    pub submitted_at_millis: i64,
    /// Whether the agenda item it answered is now complete.
    pub agenda_item_completed: bool,
}

/// A row of the check-in history.
pub use core_checkin::CheckinSummary;

#[uniffi::remote(Record)]
pub struct CheckinSummary {
    pub checkin_id: String,
    pub instrument: String,
    pub submitted_at_millis: i64,
    pub revision: u32,
    pub corrects: Option<String>,
    pub superseded_by: Option<String>,
    pub total: Option<f64>,
    pub severity: Option<String>,
    pub safety_alert: bool,
}

pub type SafetyAlertStatus = core_checkin::AlertStatus;

#[uniffi::remote(Enum)]
pub enum SafetyAlertStatus {
    Queued,
    Sent,
    Acknowledged,
}

/// Copy of `checkin::AlertView` with its alert's fields flattened.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SafetyAlert {
    pub alert_id: String,
    pub checkin_id: String,
    pub instrument: String,
    pub concerns: Vec<String>,
    pub created_at_millis: i64,
    pub raised_before_submit: bool,
    pub status: SafetyAlertStatus,
    pub acknowledged_at_millis: Option<i64>,
    pub alert_state: AlertState,
    pub therapist_next_available_millis: Option<i64>,
}

/// Copy of `checkin::TrendPoint`: subscales as a list, the change as text.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TrendPoint {
    pub checkin_id: String,
    pub submitted_at_millis: i64,
    pub total: Option<f64>,
    pub severity: Option<String>,
    pub subscales: Vec<SubscaleScore>,
    /// "reliably_improved", "reliably_deteriorated" or "no_reliable_change" vs baseline.
    pub change: Option<String>,
}

/// Copy of `checkin::Trend`: the direction as a flag, the latest change split.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ScoreTrend {
    pub instrument: String,
    pub higher_is_better: bool,
    pub points: Vec<TrendPoint>,
    pub baseline: Option<f64>,
    pub latest_difference: Option<f64>,
    pub latest_change: Option<String>,
    /// Smallest difference that counts as reliable change.
    pub reliable_change_threshold: Option<f64>,
}

fn summary(i: &Instrument) -> InstrumentSummary {
    InstrumentSummary {
        id: i.id.clone(),
        version: i.version.clone(),
        title: i.title.clone(),
        respondent: match i.respondent {
            instruments::Respondent::Patient => "patient".into(),
            instruments::Respondent::Therapist => "therapist".into(),
        },
        item_count: i.items.len() as u32,
    }
}

pub(crate) fn item(i: ScreenItem) -> CheckinItem {
    CheckinItem {
        link_id: i.link_id,
        text: i.text,
        item_type: match i.item_type {
            ItemType::Choice => "choice",
            ItemType::Integer => "integer",
            ItemType::Text => "text",
        }
        .into(),
        required: i.required,
        options: i
            .options
            .into_iter()
            .map(|o| CheckinOption {
                value: o.value,
                text: o.text,
            })
            .collect(),
        min: i.min,
        max: i.max,
    }
}

fn draft(s: DraftScreen) -> CheckinDraft {
    let d = s.draft;
    CheckinDraft {
        checkin_id: d.checkin_id,
        instrument: d.instrument,
        instrument_version: d.instrument_version,
        title: s.title,
        preamble: s.preamble,
        agenda_item: d.agenda_item,
        corrects: d.corrects,
        revision: d.revision,
        items: s.items.into_iter().map(item).collect(),
        answers: d
            .answers
            .into_iter()
            .map(|(link_id, v)| CheckinAnswer {
                link_id,
                value: match v {
                    instruments::AnswerValue::Integer(value) => {
                        CheckinAnswerValue::Integer { value }
                    }
                    instruments::AnswerValue::Text(value) => CheckinAnswerValue::Text { value },
                },
            })
            .collect(),
        missing_required: d.missing_required,
        safety: d.safety.map(safety),
    }
}

pub(crate) fn safety(a: core_checkin::SafetyAction) -> SafetyAction {
    SafetyAction {
        risk_items: a.concerns.iter().map(|c| c.item.clone()).collect(),
        concerns: a.concerns.into_iter().map(|c| c.concern).collect(),
        message: a.message,
        resources: a.resources,
        therapist_alert_id: a.therapist_alert_id,
        alert_state: a.alert_state,
        therapist_next_available_millis: a.therapist_next_available_millis,
    }
}

fn subscales(m: BTreeMap<String, Option<f64>>) -> Vec<SubscaleScore> {
    m.into_iter()
        .map(|(id, score)| SubscaleScore { id, score })
        .collect()
}

fn score(s: instruments::Score) -> CheckinScore {
    CheckinScore {
        safety_alert: s.safety_alert(),
        scorable: s.scorable,
        total: s.total,
        prorated: s.prorated,
        severity: s.severity,
        severity_label: s.severity_label,
        subscales: subscales(s.subscales),
    }
}

fn change_name(c: instruments::ChangeCategory) -> String {
    match c {
        instruments::ChangeCategory::ReliablyImproved => "reliably_improved",
        instruments::ChangeCategory::ReliablyDeteriorated => "reliably_deteriorated",
        instruments::ChangeCategory::NoReliableChange => "no_reliable_change",
    }
    .into()
}

fn alert(a: core_checkin::AlertView) -> SafetyAlert {
    SafetyAlert {
        alert_id: a.alert_id,
        checkin_id: a.alert.checkin_id,
        instrument: a.alert.instrument,
        concerns: a.alert.concerns.into_iter().map(|c| c.concern).collect(),
        created_at_millis: a.alert.created_at_millis,
        raised_before_submit: a.alert.raised_before_submit,
        status: a.status,
        acknowledged_at_millis: a.alert.acknowledged_at_millis,
        alert_state: a.alert_state,
        therapist_next_available_millis: a.therapist_next_available_millis,
    }
}

fn answer(a: CheckinAnswer) -> (String, Option<instruments::AnswerValue>) {
    let v = match a.value {
        CheckinAnswerValue::Integer { value } => Some(instruments::AnswerValue::Integer(value)),
        CheckinAnswerValue::Text { value } => Some(instruments::AnswerValue::Text(value)),
        CheckinAnswerValue::Cleared => None,
    };
    (a.link_id, v)
}

#[uniffi::export]
impl PatientStore {
    /// Shipped instruments plus clinic definitions installed in this store.
    pub fn instruments(&self) -> Result<Vec<InstrumentSummary>> {
        Ok(self
            .session
            .checkins()?
            .registry()
            .list()
            .map(|i| summary(i))
            .collect())
    }

    /// Validates a clinic-supplied definition (e.g. a licensed measure) and keeps it.
    pub fn install_instrument(&self, definition_json: String) -> Result<InstrumentSummary> {
        let mut c = self.session.checkins()?;
        Ok(summary(&*c.install_instrument(&definition_json)?))
    }

    /// Starts a check-in, from an agenda item when `agenda_item_id` is given.
    pub fn start_checkin(
        &self,
        instrument_id: String,
        agenda_item_id: Option<String>,
    ) -> Result<CheckinDraft> {
        Ok(draft(self.session.start_checkin(
            &instrument_id,
            agenda_item_id.as_deref(),
        )?))
    }

    /// Starts the check-in an agenda item asks for; submitting it completes the item.
    pub fn start_checkin_for_agenda_item(&self, agenda_item_id: String) -> Result<CheckinDraft> {
        Ok(draft(
            self.session
                .start_checkin_for_agenda_item(&agenda_item_id)?,
        ))
    }

    /// Saves a batch of answers. One invalid answer refuses the batch
    /// (`InvalidInput` whose field is the item's linkId) and nothing is saved.
    /// A risk answer returns `safety` at once.
    pub fn answer_checkin(
        &self,
        checkin_id: String,
        answers: Vec<CheckinAnswer>,
    ) -> Result<CheckinDraft> {
        let answers: Vec<_> = answers.into_iter().map(answer).collect();
        Ok(draft(self.session.answer_checkin(&checkin_id, &answers)?))
    }

    /// Reopens a draft (drafts survive restarts).
    pub fn checkin_draft(&self, checkin_id: String) -> Result<CheckinDraft> {
        Ok(draft(self.session.checkin_draft(&checkin_id)?))
    }

    pub fn checkin_drafts(&self) -> Result<Vec<CheckinDraft>> {
        Ok(self
            .session
            .checkin_drafts()?
            .into_iter()
            .map(draft)
            .collect())
    }

    /// Scores, stores and queues for sync in one step; an agenda item it
    /// completes leaves the pending reminders at once.
    pub fn submit_checkin(&self, checkin_id: String) -> Result<CheckinResult> {
        let r = self.session.submit_checkin(&checkin_id)?;
        Ok(CheckinResult {
            checkin_id: r.checkin_id,
            instrument: r.instrument,
            score: score(r.score),
            safety: r.safety.map(safety),
            outbox_seq: r.outbox_seq,
            submitted_at_millis: r.submitted_at_millis,
            agenda_item_completed: r.agenda_item_completed,
        })
    }

    /// Starts a correction: a new version that refers to the submitted one.
    pub fn correct_checkin(&self, checkin_id: String) -> Result<CheckinDraft> {
        Ok(draft(self.session.correct_checkin(&checkin_id)?))
    }

    pub fn checkin_history(&self) -> Result<Vec<CheckinSummary>> {
        Ok(self.session.checkins()?.list()?)
    }

    /// The crisis screen in one call: resources for the patient's country
    /// and who has been told about the latest alert. Refresh after a sync.
    pub fn crisis_screen(&self) -> Result<SafetyAction> {
        Ok(safety(self.session.checkins()?.crisis_screen()?))
    }

    /// Therapist alerts with their delivery and acknowledgement state.
    pub fn safety_alerts(&self) -> Result<Vec<SafetyAlert>> {
        Ok(self
            .session
            .checkins()?
            .alerts()?
            .into_iter()
            .map(alert)
            .collect())
    }

    /// Records the therapist's acknowledgement (called by sync on receipt).
    pub fn acknowledge_safety_alert(&self, alert_id: String) -> Result<SafetyAlert> {
        Ok(alert(
            self.session.checkins()?.acknowledge_alert(&alert_id)?,
        ))
    }

    /// The patient's scores over time with bands and reliable change.
    pub fn checkin_trend(&self, instrument_id: String) -> Result<ScoreTrend> {
        let t = self.session.checkins()?.trend(&instrument_id)?;
        Ok(ScoreTrend {
            instrument: t.instrument,
            higher_is_better: t.direction == instruments::Direction::HigherIsBetter,
            baseline: t.baseline,
            latest_difference: t.latest_change.as_ref().map(|c| c.difference),
            latest_change: t.latest_change.as_ref().map(|c| change_name(c.category)),
            reliable_change_threshold: t.latest_change.as_ref().map(|c| c.threshold),
            points: t
                .points
                .into_iter()
                .map(|p| TrendPoint {
                    checkin_id: p.checkin_id,
                    submitted_at_millis: p.submitted_at_millis,
                    total: p.total,
                    severity: p.severity,
                    subscales: subscales(p.subscales),
                    change: p.change.map(|c| change_name(c.category)),
                })
                .collect(),
        })
    }
}
