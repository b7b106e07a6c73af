//! Check-ins over FFI: one call per screen (start, answer a batch, submit,
//! history, alerts, trend). Thin conversions only; rules live in core.

use collabzium_core::checkin::{self as core_checkin, Checkins};
use collabzium_core::instruments::{self, Instrument, ItemType};

use crate::error::Result;
use crate::store::PatientStore;

/// One answer value. Choice items take the option's ordinal value.
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

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckinAnswer {
    pub link_id: String,
    pub value: CheckinAnswerValue,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InstrumentSummary {
    pub id: String,
    pub version: String,
    pub title: String,
    /// "patient" or "therapist".
    pub respondent: String,
    pub item_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckinOption {
    pub value: i64,
    pub text: String,
}

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

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CrisisContact {
    pub name: String,
    pub description: String,
    pub phone: Option<String>,
    pub sms: Option<String>,
    pub url: Option<String>,
}

/// Who has been told about a risk answer; each state is true when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

impl From<core_checkin::AlertState> for AlertState {
    fn from(s: core_checkin::AlertState) -> Self {
        match s {
            core_checkin::AlertState::Unguided => AlertState::Unguided,
            core_checkin::AlertState::NotConnected => AlertState::NotConnected,
            core_checkin::AlertState::Sending => AlertState::Sending,
            core_checkin::AlertState::Delivered => AlertState::Delivered,
            core_checkin::AlertState::Seen => AlertState::Seen,
        }
    }
}

/// The crisis screen: the contacts first, at once, then the message (true
/// for `alert_state`).
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

/// The whole check-in screen.
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

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SubscaleScore {
    pub id: String,
    pub score: Option<f64>,
}

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

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SafetyAlertStatus {
    Queued,
    Sent,
    Acknowledged,
}

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

fn items(inst: &Instrument) -> Vec<CheckinItem> {
    inst.items
        .iter()
        .map(|i| CheckinItem {
            link_id: i.link_id.clone(),
            text: i.text.clone(),
            item_type: match i.item_type {
                ItemType::Choice => "choice",
                ItemType::Integer => "integer",
                ItemType::Text => "text",
            }
            .into(),
            required: i.required,
            options: inst
                .options(i)
                .iter()
                .map(|o| CheckinOption {
                    value: o.value,
                    text: o.text.clone(),
                })
                .collect(),
            min: i.min,
            max: i.max,
        })
        .collect()
}

pub(crate) fn safety(a: core_checkin::SafetyAction) -> SafetyAction {
    SafetyAction {
        risk_items: a.concerns.iter().map(|c| c.item.clone()).collect(),
        concerns: a.concerns.into_iter().map(|c| c.concern).collect(),
        message: a.message,
        resources: a
            .resources
            .into_iter()
            .map(|r| CrisisContact {
                name: r.name,
                description: r.description,
                phone: r.phone,
                sms: r.sms,
                url: r.url,
            })
            .collect(),
        therapist_alert_id: a.therapist_alert_id,
        alert_state: a.alert_state.into(),
        therapist_next_available_millis: a.therapist_next_available_millis,
    }
}

fn subscales(m: std::collections::BTreeMap<String, Option<f64>>) -> Vec<SubscaleScore> {
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
        status: match a.status {
            core_checkin::AlertStatus::Queued => SafetyAlertStatus::Queued,
            core_checkin::AlertStatus::Sent => SafetyAlertStatus::Sent,
            core_checkin::AlertStatus::Acknowledged => SafetyAlertStatus::Acknowledged,
        },
        acknowledged_at_millis: a.alert.acknowledged_at_millis,
        alert_state: a.alert_state.into(),
        therapist_next_available_millis: a.therapist_next_available_millis,
    }
}

impl PatientStore {
    fn checkins(&self) -> Result<Checkins> {
        Ok(Checkins::new(self.store.clone())?)
    }

    fn draft(&self, c: &Checkins, d: core_checkin::DraftView) -> Result<CheckinDraft> {
        let inst = c.registry().require(&d.instrument)?;
        Ok(CheckinDraft {
            title: inst.title.clone(),
            preamble: inst.preamble.clone(),
            items: items(inst),
            checkin_id: d.checkin_id,
            instrument: d.instrument,
            instrument_version: d.instrument_version,
            agenda_item: d.agenda_item,
            corrects: d.corrects,
            revision: d.revision,
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
        })
    }
}

#[uniffi::export]
impl PatientStore {
    /// Shipped instruments plus clinic definitions installed in this store.
    pub fn instruments(&self) -> Result<Vec<InstrumentSummary>> {
        Ok(self
            .checkins()?
            .registry()
            .list()
            .map(|i| summary(i))
            .collect())
    }

    /// Validates a clinic-supplied definition (e.g. a licensed measure) and keeps it.
    pub fn install_instrument(&self, definition_json: String) -> Result<InstrumentSummary> {
        let mut c = self.checkins()?;
        Ok(summary(&*c.install_instrument(&definition_json)?))
    }

    /// Starts a check-in, from an agenda item when `agenda_item_id` is given.
    pub fn start_checkin(
        &self,
        instrument_id: String,
        agenda_item_id: Option<String>,
    ) -> Result<CheckinDraft> {
        let c = self.checkins()?;
        let d = c.start(&instrument_id, agenda_item_id.as_deref())?;
        self.draft(&c, d)
    }

    /// Starts the check-in an agenda item asks for; submitting it completes the item.
    pub fn start_checkin_for_agenda_item(&self, agenda_item_id: String) -> Result<CheckinDraft> {
        let c = self.checkins()?;
        let d = c.start_from_agenda(&agenda_item_id)?;
        self.draft(&c, d)
    }

    /// Saves a batch of answers. One invalid answer refuses the batch
    /// (`InvalidInput` whose field is the item's linkId) and nothing is saved.
    /// A risk answer returns `safety` at once.
    pub fn answer_checkin(
        &self,
        checkin_id: String,
        answers: Vec<CheckinAnswer>,
    ) -> Result<CheckinDraft> {
        let c = self.checkins()?;
        let answers: Vec<(String, Option<instruments::AnswerValue>)> = answers
            .into_iter()
            .map(|a| {
                let v = match a.value {
                    CheckinAnswerValue::Integer { value } => {
                        Some(instruments::AnswerValue::Integer(value))
                    }
                    CheckinAnswerValue::Text { value } => {
                        Some(instruments::AnswerValue::Text(value))
                    }
                    CheckinAnswerValue::Cleared => None,
                };
                (a.link_id, v)
            })
            .collect();
        let d = c.answer(&checkin_id, &answers)?;
        self.draft(&c, d)
    }

    /// Reopens a draft (drafts survive restarts).
    pub fn checkin_draft(&self, checkin_id: String) -> Result<CheckinDraft> {
        let c = self.checkins()?;
        let d = c.draft(&checkin_id)?;
        self.draft(&c, d)
    }

    pub fn checkin_drafts(&self) -> Result<Vec<CheckinDraft>> {
        let c = self.checkins()?;
        c.drafts()?.into_iter().map(|d| self.draft(&c, d)).collect()
    }

    /// Scores, stores and queues for sync in one step.
    pub fn submit_checkin(&self, checkin_id: String) -> Result<CheckinResult> {
        let _guard = self.plan_lock.lock().unwrap_or_else(|p| p.into_inner());
        let r = self.checkins()?.submit(&checkin_id)?;
        if r.agenda_item_completed {
            // The completed item must leave the pending reminders now. The
            // submission already stands; a failed re-plan is retried by the
            // next schedule change, so it does not fail this call.
            let at = chrono::DateTime::from_timestamp_millis(r.submitted_at_millis)
                .unwrap_or_else(chrono::Utc::now);
            let _ = crate::schedule::replan_store(self, at);
        }
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
        let c = self.checkins()?;
        let d = c.correct(&checkin_id)?;
        self.draft(&c, d)
    }

    pub fn checkin_history(&self) -> Result<Vec<CheckinSummary>> {
        Ok(self
            .checkins()?
            .list()?
            .into_iter()
            .map(|s| CheckinSummary {
                checkin_id: s.checkin_id,
                instrument: s.instrument,
                submitted_at_millis: s.submitted_at_millis,
                revision: s.revision,
                corrects: s.corrects,
                superseded_by: s.superseded_by,
                total: s.total,
                severity: s.severity,
                safety_alert: s.safety_alert,
            })
            .collect())
    }

    /// The crisis screen in one call: resources for the patient's country
    /// and who has been told about the latest alert. Refresh after a sync.
    pub fn crisis_screen(&self) -> Result<SafetyAction> {
        Ok(safety(self.checkins()?.crisis_screen()?))
    }

    /// Therapist alerts with their delivery and acknowledgement state.
    pub fn safety_alerts(&self) -> Result<Vec<SafetyAlert>> {
        Ok(self.checkins()?.alerts()?.into_iter().map(alert).collect())
    }

    /// Records the therapist's acknowledgement (called by sync on receipt).
    pub fn acknowledge_safety_alert(&self, alert_id: String) -> Result<SafetyAlert> {
        Ok(alert(self.checkins()?.acknowledge_alert(&alert_id)?))
    }

    /// The patient's scores over time with bands and reliable change.
    pub fn checkin_trend(&self, instrument_id: String) -> Result<ScoreTrend> {
        let t = self.checkins()?.trend(&instrument_id)?;
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
