//! The check-in flow: start (from an agenda item or an instrument), answer
//! (each answer validated), submit -> score -> persist sealed -> enqueue for
//! sync -> result with any [`SafetyAction`], all in one transaction.
//!
//! Drafts are records (`checkin_draft`), so they survive restarts. A
//! submitted check-in (`checkin`) is never rewritten: a correction is a new
//! check-in whose `corrects` names the old one.

pub mod fhir;
mod safety;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Offset, TimeZone};
use serde::{Deserialize, Serialize};

pub use crate::sync::AckAction;
pub use safety::{
    alerts_therapist, default_resources, local_time_words, message_for, resources_for, AlertItem,
    AlertSource, AlertState, AlertStatus, SafetyAction, SafetyAlert, TherapistReach,
    MESSAGE_LANGUAGES,
};

use crate::crypto::random_id;
use crate::domain::{Profile, TreatmentMode};
use crate::error::{Error, Result};
use crate::instruments::{
    item_field, reliable_change, risk_hits, score, validate_answer, AnswerValue, Answers, Band,
    Direction, Instrument, Registry, ReliableChangeResult, RiskHit, Score,
};
use crate::program::Program;
use crate::store::outbox::{self, Priority};
use crate::store::Damaged;
use crate::store::{Record, Store, WriteTx};

/// Outbox kinds (the event types issue 5's sync carries).
pub const OUTBOX_CHECKIN: &str = "checkin";
pub const OUTBOX_ALERT: &str = "safety_alert";
/// Version of the outbox event JSON.
pub const EVENT_VERSION: u32 = 1;
/// The concern of a free-text hit (its item is the text's context).
pub const LANGUAGE_CONCERN: &str = "possible_risk_language";

/// A check-in being filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckinDraft {
    pub instrument: String,
    pub instrument_version: String,
    pub agenda_item: Option<String>,
    /// The submitted check-in this one corrects.
    pub corrects: Option<String>,
    /// 1 for an original, n+1 for a correction of revision n.
    pub revision: u32,
    pub answers: Answers,
    pub started_at_millis: i64,
}

impl Record for CheckinDraft {
    const KIND: &'static str = "checkin_draft";
}

/// A submitted, scored check-in. Immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkin {
    pub id: String,
    pub instrument: String,
    pub instrument_version: String,
    pub agenda_item: Option<String>,
    pub corrects: Option<String>,
    pub revision: u32,
    pub answers: Answers,
    pub score: Score,
    pub started_at_millis: i64,
    pub submitted_at_millis: i64,
    /// The patient's UTC offset at submission, for FHIR `authored`.
    pub utc_offset_seconds: i32,
    pub safety: Option<SafetyAction>,
    pub outbox_seq: i64,
}

impl Record for Checkin {
    const KIND: &'static str = "checkin";
}

/// A clinic-supplied definition kept in the store (id = instrument id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInstrument {
    pub json: String,
}

impl Record for StoredInstrument {
    const KIND: &'static str = "instrument_def";
}

/// What the app shows for a draft: one call per screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftView {
    pub checkin_id: String,
    pub instrument: String,
    pub instrument_version: String,
    pub agenda_item: Option<String>,
    pub corrects: Option<String>,
    pub revision: u32,
    pub answers: Answers,
    /// Required items still unanswered; submit is refused until empty.
    pub missing_required: Vec<String>,
    /// Present as soon as a risk answer is recorded.
    pub safety: Option<SafetyAction>,
}

/// The result of a submission.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckinResult {
    pub checkin_id: String,
    pub instrument: String,
    pub score: Score,
    pub safety: Option<SafetyAction>,
    pub outbox_seq: i64,
    pub submitted_at_millis: i64,
    /// Whether the agenda item it answered is now marked complete.
    pub agenda_item_completed: bool,
}

/// A row of the check-in history.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// A therapist alert with its delivery state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    pub alert_id: String,
    pub alert: SafetyAlert,
    pub status: AlertStatus,
    /// Who has been told, as the crisis screen says it (issue 10).
    pub alert_state: AlertState,
    pub therapist_next_available_millis: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    pub checkin_id: String,
    pub submitted_at_millis: i64,
    pub total: Option<f64>,
    pub severity: Option<String>,
    pub subscales: BTreeMap<String, Option<f64>>,
    /// Against the baseline (the first scorable check-in).
    pub change: Option<ReliableChangeResult>,
}

/// The patient's own scores over time for one instrument.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub instrument: String,
    pub direction: Direction,
    pub bands: Vec<Band>,
    pub points: Vec<TrendPoint>,
    pub baseline: Option<f64>,
    pub latest_change: Option<ReliableChangeResult>,
    /// Check-ins that failed to open and are missing from `points`
    /// (kind, id, time; no content).
    pub damaged: Vec<Damaged>,
}

/// The check-in service over one store.
#[derive(Clone)]
pub struct Checkins {
    store: Store,
    registry: Registry,
    program: Option<Arc<Program>>,
}

fn not_found(what: &str) -> Error {
    Error::NotFound {
        what: what.to_string(),
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Internal(crate::error::json_error_reason(&e)))
}

/// Schedule id of an agenda check-in item id (`checkin:<schedule>:<local time>`,
/// as the agenda builds them).
fn schedule_of_agenda_item(item_id: &str) -> Option<&str> {
    let rest = item_id.strip_prefix("checkin:")?;
    Some(rest.split_once(':').map_or(rest, |(s, _)| s))
}

fn utc_offset_seconds(profile: Option<&Profile>, at_millis: i64) -> i32 {
    let Some(tz) = profile.and_then(|p| p.time_zone.parse::<crate::schedule::Tz>().ok()) else {
        return 0;
    };
    match tz.timestamp_millis_opt(at_millis).single() {
        Some(t) => t.offset().fix().local_minus_utc(),
        None => 0,
    }
}

/// Sends a patient's message, screened on this device for risk language
/// first: a hit returns the crisis resources and raises a "possible risk
/// language" alert alongside the message (therapist stores are not screened).
pub fn send_message(
    store: &Store,
    channel: Option<&str>,
    text: &str,
    reply_to: Option<&str>,
) -> Result<(crate::sync::MessageView, Option<SafetyAction>)> {
    let view = crate::sync::send_message(store, channel, text, reply_to)?;
    if crate::sync::own_role(store)? != Some(crate::sync::Role::Patient) {
        return Ok((view, None));
    }
    let msg_ref = view.id.rsplit(':').next().unwrap_or(&view.id);
    let alert_id = format!("lang-{msg_ref}");
    let safety = Checkins::new(store.clone())?.screen_free_text(text, &alert_id, "message")?;
    Ok((view, safety))
}

/// Queues an alert at high priority and keeps it, in the caller's
/// transaction (id = `alert.checkin_id`).
fn queue_alert(tx: &WriteTx<'_>, alert: &mut SafetyAlert) -> Result<()> {
    let id = alert.checkin_id.clone();
    let event = serde_json::json!({
        "type": OUTBOX_ALERT, "version": EVENT_VERSION, "priority": "high",
        "alert_id": &id, "alert": &*alert,
    });
    alert.outbox_seq = outbox::enqueue(tx, OUTBOX_ALERT, &id, Priority::High, &encode(&event)?)?;
    tx.put(&id, &*alert)
}

/// The answers behind each risk concern, with their wording.
fn alert_items(inst: &Instrument, answers: &Answers, concerns: &[RiskHit]) -> Vec<AlertItem> {
    concerns
        .iter()
        .map(|c| {
            let (answer, answer_text) = match answers.get(&c.item) {
                Some(AnswerValue::Integer(v)) => {
                    let text = inst
                        .item(&c.item)
                        .and_then(|i| inst.options(i).iter().find(|o| o.value == *v))
                        .map(|o| o.text.clone());
                    (Some(*v as f64), text)
                }
                _ => (None, None),
            };
            AlertItem {
                item: c.item.clone(),
                concern: c.concern.clone(),
                answer,
                answer_text,
            }
        })
        .collect()
}

/// The alert already raised for the check-in `corrects` (or an earlier
/// version of it) when it covers every one of `items` with the same answer.
fn covering_alert(
    tx: &crate::store::ReadTx<'_>,
    corrects: Option<&str>,
    items: &[AlertItem],
) -> Result<Option<String>> {
    let mut next = corrects.map(str::to_string);
    // Revisions form a chain; bounded so a damaged link cannot loop.
    for _ in 0..64 {
        let Some(id) = next.take() else { break };
        let Some(old) = tx.get::<Checkin>(&id)? else {
            break;
        };
        let alert_id = old
            .value
            .safety
            .as_ref()
            .and_then(|s| s.therapist_alert_id.clone());
        let alert = match alert_id {
            Some(a) => tx.get::<SafetyAlert>(&a)?,
            None => None,
        };
        if let Some(alert) = alert {
            let prior = &alert.value;
            let same = |i: &AlertItem| {
                prior
                    .items
                    .iter()
                    .any(|p| p.item == i.item && p.answer == i.answer)
                    // An alert from before answers were recorded: same item.
                    || (prior.items.is_empty() && prior.concerns.iter().any(|c| c.item == i.item))
            };
            return Ok(items.iter().all(same).then_some(alert.id));
        }
        next = old.value.corrects;
    }
    Ok(None)
}

/// When a therapist with these hours will see a delivered alert.
fn therapist_reach(s: &crate::sync::availability::Availability, now_millis: i64) -> TherapistReach {
    use crate::sync::availability::AlertsOutsideHours;
    if s.alerts_outside_hours == AlertsOutsideHours::Notify {
        return TherapistReach::NotifiedAtOnce;
    }
    let Some(now) = chrono::DateTime::from_timestamp_millis(now_millis) else {
        return TherapistReach::Unknown;
    };
    if s.is_available(now).unwrap_or(false) {
        return TherapistReach::AvailableNow;
    }
    match s.next_available(now) {
        Ok(Some(t)) => TherapistReach::NextAvailable(t.timestamp_millis()),
        _ => TherapistReach::Unknown,
    }
}

impl Checkins {
    /// Shipped instruments plus any clinic definitions installed in the store.
    pub fn new(store: Store) -> Result<Checkins> {
        let mut registry = Registry::shipped();
        // A damaged clinic definition must not lock the patient out of
        // every check-in; the shipped instruments still work.
        for s in store.list_lenient::<StoredInstrument>()?.0 {
            registry.add_definition(&s.value.json)?;
        }
        // The enrolled program (issue 3's agenda) supplies crisis resources.
        let program = store
            .get::<crate::agenda::EnrolmentRecord>(crate::agenda::EnrolmentRecord::ID)?
            .map(|e| Arc::new(e.value.program));
        Ok(Checkins {
            store,
            registry,
            program,
        })
    }

    /// The enrolled program, for its crisis resources.
    pub fn with_program(mut self, program: Program) -> Checkins {
        self.program = Some(Arc::new(program));
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Validates a clinic-supplied definition and keeps it in the store.
    pub fn install_instrument(&mut self, json: &str) -> Result<Arc<Instrument>> {
        let inst = self.registry.add_definition(json)?;
        self.store.put(
            &inst.id,
            &StoredInstrument {
                json: json.to_string(),
            },
        )?;
        Ok(inst)
    }

    fn profile(&self) -> Result<Option<Profile>> {
        self.store.profile()
    }

    /// The safety action for these concerns, its alert state read from
    /// committed data: call it after the transaction that queued the alert.
    fn action(
        &self,
        profile: Option<&Profile>,
        concerns: Vec<RiskHit>,
        alert_id: Option<String>,
    ) -> Result<SafetyAction> {
        let mut action = self.provisional_action(profile, concerns, alert_id);
        self.refresh_action(profile, &mut action)?;
        Ok(action)
    }

    /// The action as stored with a check-in inside its transaction; who was
    /// told is read again once the transaction commits (`refresh_action`).
    fn provisional_action(
        &self,
        profile: Option<&Profile>,
        concerns: Vec<RiskHit>,
        alert_id: Option<String>,
    ) -> SafetyAction {
        SafetyAction {
            concerns,
            resources: resources_for(self.program.as_deref(), profile),
            message: String::new(),
            therapist_alert_id: alert_id,
            mode: profile.map(|p| p.mode),
            alert_state: AlertState::NotConnected,
            therapist_next_available_millis: None,
        }
    }

    /// Recomputes who has been told, and the message that says so.
    fn refresh_action(&self, profile: Option<&Profile>, action: &mut SafetyAction) -> Result<()> {
        let (state, reach) = self.alert_state(profile, action.therapist_alert_id.as_deref())?;
        let zone = profile.map_or("UTC", |p| p.time_zone.as_str());
        let language = profile.map_or("en", |p| p.locale.as_str());
        action.alert_state = state;
        action.therapist_next_available_millis = match reach {
            TherapistReach::NextAvailable(at) if state == AlertState::Delivered => Some(at),
            _ => None,
        };
        let source = if action
            .concerns
            .iter()
            .any(|c| c.concern == LANGUAGE_CONCERN)
        {
            AlertSource::Language
        } else {
            AlertSource::Instrument
        };
        action.message = message_for(state, reach, zone, language, source);
        Ok(())
    }

    /// Who has been told about an alert right now (ADR 0004, delivery
    /// states), and when the therapist is next available.
    pub fn alert_state(
        &self,
        profile: Option<&Profile>,
        alert_id: Option<&str>,
    ) -> Result<(AlertState, TherapistReach)> {
        if profile.is_some_and(|p| p.mode == TreatmentMode::Unguided) {
            return Ok((AlertState::Unguided, TherapistReach::Unknown));
        }
        let Some(id) = alert_id else {
            return Ok((AlertState::NotConnected, TherapistReach::Unknown));
        };
        if self
            .store
            .get::<SafetyAlert>(id)?
            .is_some_and(|a| a.value.acknowledged_at_millis.is_some())
        {
            return Ok((AlertState::Seen, TherapistReach::Unknown));
        }
        let Some(reach) = crate::sync::event_reach(&self.store, OUTBOX_ALERT, id)? else {
            return Ok((AlertState::NotConnected, TherapistReach::Unknown));
        };
        if reach.delivered || reach.read {
            let now = self.store.now_millis();
            let when = match (&reach.settings, reach.channel_active) {
                (Some(s), true) => therapist_reach(s, now),
                _ => TherapistReach::Unknown,
            };
            return Ok((AlertState::Delivered, when));
        }
        if reach.not_shared {
            return Ok((AlertState::NotConnected, TherapistReach::KeptOnDevice));
        }
        if !reach.channel_active {
            return Ok((AlertState::NotConnected, TherapistReach::Unknown));
        }
        Ok((AlertState::Sending, TherapistReach::Unknown))
    }

    /// The crisis screen in one call: resources for the patient's country,
    /// and the state of the latest alert (none: not connected or unguided).
    pub fn crisis_screen(&self) -> Result<SafetyAction> {
        let profile = self.profile()?;
        let latest = self.alerts()?.into_iter().next();
        let (concerns, alert) = match latest {
            Some(a) => (a.alert.concerns.clone(), Some(a.alert_id)),
            None => (Vec::new(), None),
        };
        self.action(profile.as_ref(), concerns, alert)
    }

    /// Creates (once per check-in) the therapist alert and queues it at high
    /// priority, inside the caller's transaction. `None` in unguided mode.
    #[allow(clippy::too_many_arguments)]
    fn ensure_alert(
        &self,
        tx: &WriteTx<'_>,
        mode: Option<TreatmentMode>,
        checkin_id: &str,
        inst: &Instrument,
        draft: &CheckinDraft,
        concerns: &[RiskHit],
        before_submit: bool,
    ) -> Result<Option<String>> {
        if !alerts_therapist(mode) {
            return Ok(None);
        }
        if tx.get::<SafetyAlert>(checkin_id)?.is_some() {
            return Ok(Some(checkin_id.to_string()));
        }
        let items = alert_items(inst, &draft.answers, concerns);
        // A correction that keeps the same risk answers is the same event:
        // the therapist already has that alert.
        if let Some(prior) = covering_alert(&tx.as_read(), draft.corrects.as_deref(), &items)? {
            return Ok(Some(prior));
        }
        let mut alert = SafetyAlert {
            checkin_id: checkin_id.to_string(),
            instrument: inst.id.clone(),
            concerns: concerns.to_vec(),
            created_at_millis: tx.now_millis(),
            raised_before_submit: before_submit,
            outbox_seq: 0,
            acknowledged_at_millis: None,
            items,
            total: score(inst, &draft.answers).total,
            source: AlertSource::Instrument,
            phrase: None,
        };
        queue_alert(tx, &mut alert)?;
        Ok(Some(checkin_id.to_string()))
    }

    /// Screens text the patient wrote (a message, a comment) on this
    /// device. A hit raises one "possible risk language" alert for
    /// `alert_id` naming the matched phrase-list entry (never the text), and
    /// returns the crisis resources; nothing is stored about a miss.
    pub fn screen_free_text(
        &self,
        text: &str,
        alert_id: &str,
        context: &str,
    ) -> Result<Option<SafetyAction>> {
        let profile = self.profile()?;
        let language = profile.as_ref().map_or("en", |p| p.locale.as_str());
        let Some(hit) = crate::risk_language::screen_text(text, language) else {
            return Ok(None);
        };
        let mode = profile.as_ref().map(|p| p.mode);
        let concerns = vec![RiskHit {
            item: context.to_string(),
            concern: LANGUAGE_CONCERN.to_string(),
        }];
        let alert = self.store.write(|tx| {
            self.ensure_language_alert(tx, mode, alert_id, context, &hit.phrase, &concerns)
        })?;
        Ok(Some(self.action(profile.as_ref(), concerns, alert)?))
    }

    fn ensure_language_alert(
        &self,
        tx: &WriteTx<'_>,
        mode: Option<TreatmentMode>,
        alert_id: &str,
        context: &str,
        phrase: &str,
        concerns: &[RiskHit],
    ) -> Result<Option<String>> {
        if !alerts_therapist(mode) {
            return Ok(None);
        }
        crate::domain::check_token("alert_id", alert_id, 64)?;
        if tx.get::<SafetyAlert>(alert_id)?.is_some() {
            return Ok(Some(alert_id.to_string()));
        }
        let mut alert = SafetyAlert {
            checkin_id: alert_id.to_string(),
            instrument: context.to_string(),
            concerns: concerns.to_vec(),
            created_at_millis: tx.now_millis(),
            raised_before_submit: false,
            outbox_seq: 0,
            acknowledged_at_millis: None,
            items: Vec::new(),
            total: None,
            source: AlertSource::Language,
            phrase: Some(phrase.to_string()),
        };
        queue_alert(tx, &mut alert)?;
        Ok(Some(alert_id.to_string()))
    }

    fn draft_view(
        &self,
        id: &str,
        d: &CheckinDraft,
        inst: &Instrument,
        safety: Option<SafetyAction>,
    ) -> DraftView {
        DraftView {
            checkin_id: id.to_string(),
            instrument: d.instrument.clone(),
            instrument_version: d.instrument_version.clone(),
            agenda_item: d.agenda_item.clone(),
            corrects: d.corrects.clone(),
            revision: d.revision,
            answers: d.answers.clone(),
            missing_required: inst
                .items
                .iter()
                .filter(|i| i.required && !d.answers.contains_key(&i.link_id))
                .map(|i| i.link_id.clone())
                .collect(),
            safety,
        }
    }

    /// Starts a check-in for an instrument, optionally for an agenda item.
    pub fn start(&self, instrument_id: &str, agenda_item: Option<&str>) -> Result<DraftView> {
        let inst = self.registry.require(instrument_id)?.clone();
        if let Some(a) = agenda_item {
            // Agenda ids look like `checkin:weekly-phq9:2026-03-01T20:00`; kept sealed, never in AAD.
            if a.is_empty() || a.len() > 128 || !a.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::invalid(
                    "agenda_item",
                    "must be 1 to 128 visible ASCII characters",
                ));
            }
        }
        if let Some(a) = agenda_item {
            self.refuse_before_window(a)?;
        }
        self.store.write(|tx| {
            let draft = CheckinDraft {
                instrument: inst.id.clone(),
                instrument_version: inst.version.clone(),
                agenda_item: agenda_item.map(str::to_string),
                corrects: None,
                revision: 1,
                answers: Answers::new(),
                started_at_millis: tx.now_millis(),
            };
            let id = random_id();
            tx.put(&id, &draft)?;
            Ok(self.draft_view(&id, &draft, &inst, None))
        })
    }

    /// A check-in for an agenda item whose window has not opened is refused
    /// rather than left unable to complete it (ADR 0004): the patient is
    /// told when it opens, in their own zone.
    fn refuse_before_window(&self, item_id: &str) -> Result<()> {
        if self.program.is_none() || schedule_of_agenda_item(item_id).is_none() {
            return Ok(());
        }
        let Ok(st) = crate::agenda::load_state(&self.store) else {
            return Ok(()); // not enrolled: nothing to complete
        };
        let now =
            chrono::DateTime::from_timestamp_millis(self.store.now_millis()).unwrap_or_default();
        let Some(item) = crate::agenda::items(&st, now)
            .into_iter()
            .find(|i| i.id == item_id)
        else {
            return Ok(());
        };
        if item.state != crate::agenda::ItemState::Upcoming {
            return Ok(());
        }
        let profile = self.profile()?;
        let opens = item
            .opens_at
            .or(item.due_at)
            .map(|t| {
                local_time_words(
                    t.timestamp_millis(),
                    profile.as_ref().map_or("UTC", |p| p.time_zone.as_str()),
                    "en",
                )
            })
            .map_or_else(String::new, |w| format!(" (it opens {w}, your time)"));
        Err(Error::invalid(
            "agenda_item",
            format!("this check-in is not open yet{opens}; start it once it opens"),
        ))
    }

    /// Starts the check-in an agenda item asks for (`checkin:<schedule>:<local time>`),
    /// using the instrument of that schedule in the enrolled program.
    pub fn start_from_agenda(&self, agenda_item: &str) -> Result<DraftView> {
        let schedule = schedule_of_agenda_item(agenda_item)
            .ok_or_else(|| Error::invalid("agenda_item", "is not a check-in item"))?;
        let program = self
            .program
            .as_ref()
            .ok_or_else(|| not_found("enrolment"))?;
        let instrument = program
            .checkin(schedule)
            .ok_or_else(|| not_found("check-in schedule of the agenda item"))?
            .instrument
            .clone();
        self.start(&instrument, Some(agenda_item))
    }

    /// Marks the agenda item done once its check-in is submitted. Best effort:
    /// a closed window must not undo a submitted check-in.
    fn complete_agenda_item(&self, item: &str, at_millis: i64) -> bool {
        if self.program.is_none() || schedule_of_agenda_item(item).is_none() {
            return false;
        }
        match chrono::DateTime::from_timestamp_millis(at_millis) {
            Some(at) => crate::agenda::complete(&self.store, item, at).is_ok(),
            None => false,
        }
    }

    /// Starts a correction of a submitted check-in, pre-filled with its answers.
    pub fn correct(&self, checkin_id: &str) -> Result<DraftView> {
        let old = self.get(checkin_id)?;
        // One open correction per check-in: asking again resumes it.
        if let Some(open) = self
            .store
            .list::<CheckinDraft>()?
            .into_iter()
            .find(|d| d.value.corrects.as_deref() == Some(checkin_id))
        {
            return self.draft(&open.id);
        }
        if self
            .list()?
            .iter()
            .any(|s| s.corrects.as_deref() == Some(checkin_id))
        {
            return Err(Error::invalid(
                "checkin",
                "already corrected; correct the latest version",
            ));
        }
        let inst = self.registry.require(&old.instrument)?.clone();
        self.store
            .write(|tx| {
                let draft = CheckinDraft {
                    instrument: old.instrument.clone(),
                    instrument_version: inst.version.clone(),
                    agenda_item: old.agenda_item.clone(),
                    corrects: Some(old.id.clone()),
                    revision: old.revision + 1,
                    answers: old.answers.clone(),
                    started_at_millis: tx.now_millis(),
                };
                let id = random_id();
                tx.put(&id, &draft)?;
                Ok(id)
            })
            .and_then(|id| self.draft(&id))
    }

    /// The alert a draft's risk answers belong to: its own, or for a
    /// correction that keeps them, the alert of the check-in it corrects.
    fn draft_alert(
        &self,
        draft_id: &str,
        d: &CheckinDraft,
        inst: &Instrument,
        concerns: &[RiskHit],
    ) -> Result<Option<String>> {
        if let Some(a) = self.store.get::<SafetyAlert>(draft_id)? {
            return Ok(Some(a.id));
        }
        let items = alert_items(inst, &d.answers, concerns);
        self.store
            .read(|tx| covering_alert(tx, d.corrects.as_deref(), &items))
    }

    fn load_draft(&self, tx: &WriteTx<'_>, id: &str) -> Result<CheckinDraft> {
        match tx.get::<CheckinDraft>(id)? {
            Some(d) => Ok(d.value),
            None if tx.get::<Checkin>(id)?.is_some() => Err(Error::invalid(
                "checkin",
                "already submitted and cannot change; start a correction instead",
            )),
            None => Err(not_found("check-in draft")),
        }
    }

    /// Records answers (`None` clears one). All are validated first: one bad
    /// answer refuses the whole call and nothing is stored.
    pub fn answer(
        &self,
        checkin_id: &str,
        answers: &[(String, Option<AnswerValue>)],
    ) -> Result<DraftView> {
        let profile = self.profile()?;
        let mode = profile.as_ref().map(|p| p.mode);
        let (view, concerns) = self.store.write(|tx| {
            let mut draft = self.load_draft(tx, checkin_id)?;
            let inst = self.registry.require(&draft.instrument)?.clone();
            for (link_id, value) in answers {
                match value {
                    Some(v) => validate_answer(&inst, link_id, v)?,
                    None if inst.item(link_id).is_none() => {
                        return Err(Error::invalid(
                            item_field(link_id),
                            format!("is not an item of instrument {}", inst.id),
                        ))
                    }
                    None => {}
                }
            }
            for (link_id, value) in answers {
                match value {
                    Some(v) => draft.answers.insert(link_id.clone(), v.clone()),
                    None => draft.answers.remove(link_id),
                };
            }
            let concerns = risk_hits(&inst, &draft.answers);
            let alert = if concerns.is_empty() {
                None
            } else {
                self.ensure_alert(tx, mode, checkin_id, &inst, &draft, &concerns, true)?
            };
            tx.put(checkin_id, &draft)?;
            let view = self.draft_view(checkin_id, &draft, &inst, None);
            Ok((view, (!concerns.is_empty()).then_some((concerns, alert))))
        })?;
        let safety = match concerns {
            Some((c, a)) => Some(self.action(profile.as_ref(), c, a)?),
            None => None,
        };
        Ok(DraftView { safety, ..view })
    }

    /// Answers from a JSON object `{linkId: value}` (CLI, tests). A missing
    /// draft gets the same error as `answer` (not found, or already submitted).
    pub fn answer_json(&self, checkin_id: &str, json: &serde_json::Value) -> Result<DraftView> {
        let draft = match self.store.get::<CheckinDraft>(checkin_id)? {
            Some(d) => d.value,
            None => return self.answer(checkin_id, &[]),
        };
        let inst = self.registry.require(&draft.instrument)?;
        let parsed = crate::instruments::parse_json_answers(inst, json)?;
        self.answer(checkin_id, &parsed)
    }

    pub fn draft(&self, checkin_id: &str) -> Result<DraftView> {
        let profile = self.profile()?;
        let d = self
            .store
            .get::<CheckinDraft>(checkin_id)?
            .ok_or_else(|| not_found("check-in draft"))?
            .value;
        let inst = self.registry.require(&d.instrument)?;
        let concerns = risk_hits(inst, &d.answers);
        let safety = if concerns.is_empty() {
            None
        } else {
            let alert = self.draft_alert(checkin_id, &d, inst, &concerns)?;
            Some(self.action(profile.as_ref(), concerns, alert)?)
        };
        Ok(self.draft_view(checkin_id, &d, inst, safety))
    }

    /// Scores, seals and queues the check-in in one transaction. A result
    /// whose answers meet a risk rule always carries a `SafetyAction`.
    pub fn submit(&self, checkin_id: &str) -> Result<CheckinResult> {
        let profile = self.profile()?;
        let mode = profile.as_ref().map(|p| p.mode);
        let (mut result, agenda_item) = self.store.write(|tx| {
            if tx.get::<Checkin>(checkin_id)?.is_some() {
                return Err(Error::AlreadyExists {
                    what: "submitted check-in".into(),
                });
            }
            let draft = self.load_draft(tx, checkin_id)?;
            let inst = self.registry.require(&draft.instrument)?.clone();
            if let Some(item) = inst
                .items
                .iter()
                .find(|i| i.required && !draft.answers.contains_key(&i.link_id))
            {
                return Err(Error::invalid(
                    item.link_id.clone(),
                    "required: answer this item before submitting",
                ));
            }
            let score = score(&inst, &draft.answers);
            let language = profile.as_ref().map_or("en", |p| p.locale.as_str());
            // Comments are screened for risk language when no item already
            // raised an alert (one alert per check-in).
            let text_hit = if score.risk.is_empty() {
                draft.answers.iter().find_map(|(link_id, v)| match v {
                    AnswerValue::Text(t) => {
                        crate::risk_language::screen_text(t, language).map(|h| (link_id.clone(), h))
                    }
                    AnswerValue::Integer(_) => None,
                })
            } else {
                None
            };
            let safety = if let Some((link_id, hit)) = text_hit {
                let concerns = vec![RiskHit {
                    item: link_id,
                    concern: LANGUAGE_CONCERN.to_string(),
                }];
                let alert = self.ensure_language_alert(
                    tx,
                    mode,
                    checkin_id,
                    &inst.id,
                    &hit.phrase,
                    &concerns,
                )?;
                Some(self.provisional_action(profile.as_ref(), concerns, alert))
            } else if score.risk.is_empty() {
                None
            } else {
                let alert =
                    self.ensure_alert(tx, mode, checkin_id, &inst, &draft, &score.risk, false)?;
                Some(self.provisional_action(profile.as_ref(), score.risk.clone(), alert))
            };
            let now = tx.now_millis();
            let mut checkin = Checkin {
                id: checkin_id.to_string(),
                instrument: inst.id.clone(),
                instrument_version: draft.instrument_version.clone(),
                agenda_item: draft.agenda_item.clone(),
                corrects: draft.corrects.clone(),
                revision: draft.revision,
                answers: draft.answers.clone(),
                score,
                started_at_millis: draft.started_at_millis,
                submitted_at_millis: now,
                utc_offset_seconds: utc_offset_seconds(profile.as_ref(), now),
                safety,
                outbox_seq: 0,
            };
            let event = serde_json::json!({
                "type": OUTBOX_CHECKIN, "version": EVENT_VERSION, "checkin": &checkin,
            });
            // The therapist's own ratings never leave the device (ADR 0005 §5).
            if crate::sync::may_share_checkin(tx, &checkin.instrument)? {
                checkin.outbox_seq = outbox::enqueue(
                    tx,
                    OUTBOX_CHECKIN,
                    checkin_id,
                    Priority::Normal,
                    &encode(&event)?,
                )?;
            }
            tx.put(checkin_id, &checkin)?;
            tx.delete(CheckinDraft::KIND, checkin_id)?;
            let result = CheckinResult {
                checkin_id: checkin.id,
                instrument: checkin.instrument,
                score: checkin.score,
                safety: checkin.safety,
                outbox_seq: checkin.outbox_seq,
                submitted_at_millis: now,
                agenda_item_completed: false,
            };
            Ok((result, checkin.agenda_item))
        })?;
        if let Some(item) = agenda_item {
            result.agenda_item_completed =
                self.complete_agenda_item(&item, result.submitted_at_millis);
        }
        if let Some(action) = result.safety.as_mut() {
            self.refresh_action(profile.as_ref(), action)?;
        }
        Ok(result)
    }

    /// Throws a draft away (its alert, if any, stays queued).
    pub fn discard(&self, checkin_id: &str) -> Result<bool> {
        self.store
            .write(|tx| tx.delete(CheckinDraft::KIND, checkin_id))
    }

    pub fn get(&self, checkin_id: &str) -> Result<Checkin> {
        Ok(self
            .store
            .get::<Checkin>(checkin_id)?
            .ok_or_else(|| not_found("check-in"))?
            .value)
    }

    pub fn drafts(&self) -> Result<Vec<DraftView>> {
        Ok(self.drafts_lenient()?.0)
    }

    /// Open drafts that read back, plus the damaged ones (kind, id, time).
    pub fn drafts_lenient(&self) -> Result<(Vec<DraftView>, Vec<Damaged>)> {
        let (drafts, damaged) = self.store.list_lenient::<CheckinDraft>()?;
        let mut out = Vec::new();
        for d in drafts {
            let inst = self.registry.require(&d.value.instrument)?;
            out.push(self.draft_view(&d.id, &d.value, inst, None));
        }
        Ok((out, damaged))
    }

    /// Submitted check-ins that read back, oldest first. A damaged one is
    /// skipped (and audited once); [`Checkins::checkins_lenient`] names it.
    pub fn checkins(&self) -> Result<Vec<Checkin>> {
        Ok(self.checkins_lenient()?.0)
    }

    /// [`Checkins::checkins`] plus the check-ins that failed to open.
    pub fn checkins_lenient(&self) -> Result<(Vec<Checkin>, Vec<Damaged>)> {
        let (stored, damaged) = self.store.list_lenient::<Checkin>()?;
        let mut all: Vec<Checkin> = stored.into_iter().map(|s| s.value).collect();
        crate::sort::sort_by_key(&mut all, |c| (c.submitted_at_millis, c.outbox_seq));
        Ok((all, damaged))
    }

    /// Submitted check-ins, oldest first, with correction links.
    pub fn list(&self) -> Result<Vec<CheckinSummary>> {
        Ok(self.list_lenient()?.0)
    }

    /// [`Checkins::list`] plus the check-ins that failed to open.
    pub fn list_lenient(&self) -> Result<(Vec<CheckinSummary>, Vec<Damaged>)> {
        let (all, damaged) = self.checkins_lenient()?;
        Ok((summaries(&all), damaged))
    }
}

/// Summaries with correction links, in the order given.
fn summaries(all: &[Checkin]) -> Vec<CheckinSummary> {
    let superseded: BTreeMap<&str, &str> = all
        .iter()
        .filter_map(|c| c.corrects.as_deref().map(|old| (old, c.id.as_str())))
        .collect();
    all.iter()
        .map(|c| CheckinSummary {
            checkin_id: c.id.clone(),
            instrument: c.instrument.clone(),
            submitted_at_millis: c.submitted_at_millis,
            revision: c.revision,
            corrects: c.corrects.clone(),
            superseded_by: superseded.get(c.id.as_str()).map(|s| s.to_string()),
            total: c.score.total,
            severity: c.score.severity.clone(),
            safety_alert: c.safety.is_some(),
        })
        .collect()
}

impl Checkins {
    /// Every therapist alert with its delivery state, newest first.
    pub fn alerts(&self) -> Result<Vec<AlertView>> {
        let (alerts, sent, damaged) = self.store.read(|tx| {
            let (alerts, mut damaged) = tx.list_lenient::<SafetyAlert>()?;
            let (entries, bad) = outbox::all_lenient(tx)?;
            damaged.extend(bad);
            let sent: BTreeMap<String, bool> = entries
                .into_iter()
                .filter(|e| e.kind == OUTBOX_ALERT)
                .map(|e| (e.ref_id, e.sent_at_millis.is_some()))
                .collect();
            Ok((alerts, sent, damaged))
        })?;
        self.store.note_damaged(&damaged)?;
        let profile = self.profile()?;
        let mut out = Vec::with_capacity(alerts.len());
        for a in alerts {
            let status = if a.value.acknowledged_at_millis.is_some() {
                AlertStatus::Acknowledged
            } else if sent.get(&a.id).copied().unwrap_or(false) {
                AlertStatus::Sent
            } else {
                AlertStatus::Queued
            };
            let (alert_state, reach) = self.alert_state(profile.as_ref(), Some(&a.id))?;
            out.push(AlertView {
                alert_id: a.id,
                alert: a.value,
                status,
                alert_state,
                therapist_next_available_millis: match reach {
                    TherapistReach::NextAvailable(at) => Some(at),
                    _ => None,
                },
            });
        }
        crate::sort::sort_by_key(&mut out, |a| std::cmp::Reverse(a.alert.created_at_millis));
        Ok(out)
    }

    /// Records the therapist's acknowledgement (sync calls this on receipt).
    pub fn acknowledge_alert(&self, alert_id: &str) -> Result<AlertView> {
        self.store.write(|tx| {
            let mut a = tx
                .get::<SafetyAlert>(alert_id)?
                .ok_or_else(|| not_found("safety alert"))?
                .value;
            if a.acknowledged_at_millis.is_none() {
                a.acknowledged_at_millis = Some(tx.now_millis());
                tx.put(alert_id, &a)?;
            }
            Ok(())
        })?;
        self.alerts()?
            .into_iter()
            .find(|a| a.alert_id == alert_id)
            .ok_or_else(|| not_found("safety alert"))
    }

    /// Scores over time for one instrument, corrections applied, with
    /// Jacobson–Truax reliable change against the first scorable check-in.
    pub fn trend(&self, instrument_id: &str) -> Result<Trend> {
        let inst = self.registry.require(instrument_id)?.clone();
        let (all, damaged) = self.checkins_lenient()?;
        let summaries = summaries(&all);
        let current: std::collections::BTreeSet<&str> = summaries
            .iter()
            .filter(|s| s.superseded_by.is_none())
            .map(|s| s.checkin_id.as_str())
            .collect();
        let mut points = Vec::new();
        let mut baseline = None;
        for c in all
            .iter()
            .filter(|c| c.instrument == inst.id && current.contains(c.id.as_str()))
        {
            if baseline.is_none() {
                baseline = c.score.total;
            }
            let change = match (&inst.scoring.reliable_change, baseline, c.score.total) {
                (Some(rc), Some(b), Some(t)) => {
                    reliable_change(rc, inst.scoring.total.direction, b, t)
                }
                _ => None,
            };
            points.push(TrendPoint {
                checkin_id: c.id.clone(),
                submitted_at_millis: c.submitted_at_millis,
                total: c.score.total,
                severity: c.score.severity.clone(),
                subscales: c.score.subscales.clone(),
                change,
            });
        }
        let latest_change = points
            .iter()
            .rev()
            .find(|p| p.total.is_some())
            .and_then(|p| p.change.clone());
        Ok(Trend {
            instrument: inst.id.clone(),
            direction: inst.scoring.total.direction,
            bands: inst.scoring.bands.clone(),
            points,
            baseline,
            latest_change,
            damaged,
        })
    }
}
