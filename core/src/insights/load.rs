//! Builds [`PatientRecord`]s from the therapist's store: one read
//! transaction over channels, received events, the program assignments this
//! store sent, and the therapist's own alliance ratings.
//!
//! Synced bodies come from another device: anything malformed is skipped,
//! never trusted to panic.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    is_alliance_instrument, AlertRecord, AlertTrigger, ConsentPoint, EngagementSnapshot,
    PatientRecord, PatientStatus, ProgressPoint, ScoredPoint,
};
use crate::checkin::{Checkin, Checkins};
use crate::domain::consent::scopes;
use crate::error::{Error, Result};
use crate::store::outbox;
use crate::store::{ReadTx, Record, Store, Stored};
use crate::sync::consent::ConsentEvent;
use crate::sync::events;
use crate::sync::state::{ChannelState, ChannelStatus, InboxItem};
use crate::sync::AlertAcknowledgement;

mod live;
pub(super) use live::{Live, Refreshed};

/// Record kind linking a therapist's alliance rating to a patient.
pub const RATING_KIND: &str = "insights_rating";

/// The therapist's own alliance instrument (never synced, ADR 0005 §5).
const THERAPIST_ALLIANCE: &str = "alliance_therapist";

/// Links a local `alliance_therapist` check-in to the patient's channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TherapistRating {
    pub channel_id: String,
    pub checkin_id: String,
}

impl Record for TherapistRating {
    const KIND: &'static str = RATING_KIND;
}

/// The parts of a synced safety alert the caseload shows.
#[derive(Deserialize)]
struct WireAlert {
    #[serde(default)]
    items: Vec<WireAlertItem>,
    #[serde(default)]
    total: Option<f64>,
    #[serde(default)]
    phrase: Option<String>,
}

#[derive(Deserialize)]
struct WireAlertItem {
    item: String,
    #[serde(default)]
    answer: Option<f64>,
    #[serde(default)]
    answer_text: Option<String>,
}

/// The parts of a synced check-in the insights use. Deliberately lenient:
/// a newer sender may add fields.
#[derive(Deserialize)]
struct WireCheckin {
    id: String,
    instrument: String,
    #[serde(default)]
    corrects: Option<String>,
    submitted_at_millis: i64,
    score: WireScore,
}

#[derive(Deserialize)]
struct WireScore {
    #[serde(default)]
    total: Option<f64>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    severity_label: Option<String>,
    #[serde(default)]
    subscales: BTreeMap<String, Option<f64>>,
}

fn utc(millis: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(millis)
}

fn point(instrument: &str, at: DateTime<Utc>, s: &WireScore) -> ScoredPoint {
    ScoredPoint {
        at,
        instrument: instrument.to_string(),
        total: s.total.filter(|t| t.is_finite()),
        subscales: s
            .subscales
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.filter(|x| x.is_finite())?)))
            .collect(),
        severity: s.severity.clone(),
        severity_label: s.severity_label.clone(),
    }
}

/// Applies corrections: a check-in named by another's `corrects` is
/// superseded. The correction keeps the time of the check-in it corrects
/// (it is the same measurement, fixed), when that one is known. Reads the
/// list in place: the live caseload keeps it for the next events.
fn current_points(list: &[WireCheckin]) -> Vec<ScoredPoint> {
    let superseded: HashSet<&str> = list.iter().filter_map(|c| c.corrects.as_deref()).collect();
    // Later entries with the same id win, as in a map built in order.
    let times: HashMap<&str, (i64, Option<&str>)> = if superseded.is_empty() {
        HashMap::new()
    } else {
        list.iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    (c.submitted_at_millis, c.corrects.as_deref()),
                )
            })
            .collect()
    };
    let mut out: Vec<ScoredPoint> = list
        .iter()
        .filter(|c| !superseded.contains(c.id.as_str()))
        .filter_map(|c| {
            // Follow the chain back to the original; bounded against cycles.
            let mut at = c.submitted_at_millis;
            let mut next = c.corrects.as_deref();
            for _ in 0..64 {
                let Some((t, prev)) = next.and_then(|id| times.get(id)) else {
                    break;
                };
                at = *t;
                next = *prev;
            }
            Some(point(&c.instrument, utc(at)?, &c.score))
        })
        .collect();
    crate::sort::sort_by_key(&mut out, |p| p.at);
    out
}

/// One channel's received events, folded. Adding an event never needs the
/// others (except to break exact ties, by insertion order), so the live
/// caseload (`live`) keeps one per channel and adds new events to it.
#[derive(Default)]
struct Acc {
    checkins: Vec<WireCheckin>,
    alerts: Vec<AlertRecord>,
    progress: Vec<ProgressPoint>,
    engagement: Option<EngagementSnapshot>,
    last_activity: Option<DateTime<Utc>>,
    program: Option<Assignment>,
    /// `research_export` decisions with the sender's clock, to order ties.
    research_consent: Vec<(DateTime<Utc>, u64, bool)>,
}

/// What the insights need of the latest program assignment.
#[derive(Clone)]
struct Assignment {
    sent_at: i64,
    start: NaiveDate,
    /// `metadata.id` (id-shaped only) and `metadata.title` (at most 200
    /// characters): what the workstation filters and shows.
    program_id: Option<String>,
    program_title: Option<String>,
    weeks: Option<u32>,
    review_week: Option<u32>,
    primary_instrument: Option<String>,
    modes: Vec<String>,
}

impl Acc {
    fn touch(&mut self, at: Option<DateTime<Utc>>) {
        if at > self.last_activity {
            self.last_activity = at;
        }
    }

    fn add(&mut self, item: &InboxItem) {
        let at = utc(item.at);
        let b = &item.body;
        match item.kind.as_str() {
            events::CHECKIN => {
                let wire = b
                    .get("checkin")
                    .and_then(|c| WireCheckin::deserialize(c).ok());
                if let Some(c) = wire {
                    self.touch(utc(c.submitted_at_millis));
                    self.checkins.push(c);
                }
            }
            events::SAFETY_ALERT => {
                let alert = b.get("alert");
                let id = b.get("alert_id").and_then(Value::as_str);
                let created = alert
                    .and_then(|a| a.get("created_at_millis"))
                    .and_then(Value::as_i64)
                    .and_then(utc)
                    .or(at);
                let instrument = alert
                    .and_then(|a| a.get("instrument"))
                    .and_then(Value::as_str);
                if let (Some(id), Some(created), Some(instrument)) = (id, created, instrument) {
                    self.touch(Some(created));
                    let wire = alert.and_then(|a| WireAlert::deserialize(a).ok());
                    let first = wire.as_ref().and_then(|w| w.items.first());
                    self.alerts.push(AlertRecord {
                        alert_id: id.to_string(),
                        at: created,
                        instrument: instrument.to_string(),
                        // Acknowledged only by an acknowledgement (build()),
                        // never by opening it.
                        acknowledged: false,
                        acknowledged_at: None,
                        action: None,
                        trigger: AlertTrigger {
                            item: first.map(|i| i.item.clone()),
                            answer: first.and_then(|i| i.answer).filter(|x| x.is_finite()),
                            answer_text: first.and_then(|i| i.answer_text.clone()),
                            total: wire
                                .as_ref()
                                .and_then(|w| w.total)
                                .filter(|x| x.is_finite()),
                            phrase: wire.and_then(|w| w.phrase),
                        },
                    });
                }
            }
            events::MODULE_PROGRESS => {
                let kind = b.get("kind").and_then(Value::as_str).unwrap_or("module");
                let done = b
                    .get("completed_at")
                    .and_then(Value::as_i64)
                    .and_then(utc)
                    .or(at);
                let module = b
                    .get("ref_id")
                    .and_then(Value::as_str)
                    .or_else(|| b.get("item_id").and_then(Value::as_str));
                if let (Some(done), Some(module)) = (done, module) {
                    self.touch(Some(done));
                    // Completed check-ins are already on the timeline as scores.
                    if kind != "checkin" {
                        self.progress.push(ProgressPoint {
                            at: done,
                            module_id: module.to_string(),
                            title: b
                                .get("title")
                                .and_then(Value::as_str)
                                .unwrap_or(module)
                                .to_string(),
                            kind: kind.to_string(),
                        });
                    }
                }
            }
            events::ENGAGEMENT_SUMMARY => {
                let parsed = at.and_then(|at| b.get("engagement").and_then(engagement(at)));
                if let Some(e) = parsed {
                    let at = e.at;
                    // The latest summary replaces earlier ones.
                    if self.engagement.as_ref().is_none_or(|old| old.at <= at) {
                        // Its activity time is the patient's, not the sync's.
                        let active = e.last_activity_at.or_else(|| {
                            at.checked_sub_signed(chrono::Duration::days(i64::from(
                                e.days_since_last_activity,
                            )))
                        });
                        self.touch(active);
                        self.engagement = Some(e);
                    }
                }
            }
            events::MESSAGE => self.touch(at),
            events::CONSENT => {
                let e = ConsentEvent::from_body(b)
                    .filter(|e| e.scope == scopes::RESEARCH_EXPORT)
                    .and_then(|e| Some((utc(e.at_millis)?, e.granted())));
                if let Some((at, granted)) = e {
                    self.research_consent.push((at, item.hlc, granted));
                }
            }
            events::PROGRAM_ASSIGNMENT => assign(&mut self.program, item.at, b),
            _ => {}
        }
    }
}

/// The latest assignment wins; the program is read only for its length,
/// review week, primary instrument and modes (the patient's device
/// validated it).
/// Lower-case letters, digits, `_` and `-`, 1 to 64 of them.
fn is_id_shaped(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

fn assign(program: &mut Option<Assignment>, sent_at: i64, b: &Value) {
    let Some(start) = b
        .get("start_date")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<NaiveDate>().ok())
    else {
        return;
    };
    if program.as_ref().is_some_and(|p| p.sent_at > sent_at) {
        return;
    }
    let meta = b.get("program").and_then(|p| p.get("metadata"));
    let num = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let modes = meta
        .and_then(|m| m.get("modes"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // Only an id-shaped value: it is compared, never shown raw.
    let primary_instrument = meta
        .and_then(|m| m.get("primary_instrument"))
        .and_then(Value::as_str)
        .filter(|s| is_id_shaped(s))
        .map(str::to_string);
    let program_id = meta
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .filter(|s| is_id_shaped(s))
        .map(str::to_string);
    let program_title = meta
        .and_then(|m| m.get("title"))
        .and_then(Value::as_str)
        .map(|t| t.trim().chars().take(200).collect::<String>())
        .filter(|t| !t.is_empty());
    *program = Some(Assignment {
        sent_at,
        start,
        program_id,
        program_title,
        weeks: num("weeks"),
        review_week: num("review_week"),
        primary_instrument,
        modes,
    });
}

fn engagement(at: DateTime<Utc>) -> impl Fn(&Value) -> Option<EngagementSnapshot> {
    move |e| {
        let n = |k: &str| {
            e.get(k)
                .and_then(Value::as_u64)
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        Some(EngagementSnapshot {
            at,
            days_since_last_activity: n("days_since_last_activity")?,
            current_missed_run: n("current_missed_run").unwrap_or(0),
            longest_missed_run: n("longest_missed_run").unwrap_or(0),
            stalled_modules: e
                .get("stalled_modules")
                .and_then(Value::as_array)
                .map_or(0, |a| u32::try_from(a.len()).unwrap_or(u32::MAX)),
            completed_items: n("completed_items").unwrap_or(0),
            missed_items: n("missed_items").unwrap_or(0),
            last_activity_at: e
                .get("last_activity_at")
                .and_then(|v| DateTime::<Utc>::deserialize(v).ok()),
            completion_rate: e
                .get("completion_rate")
                .and_then(Value::as_f64)
                .filter(|r| r.is_finite()),
        })
    }
}

/// A program assignment this store sent, as the outbox holds it.
struct Sent {
    channel: String,
    at: i64,
    body: Value,
}

/// Program assignments this store sent with an outbox sequence above
/// `after`, opened from the outbox (the therapist's own copy of what the
/// patient received).
fn sent_assignments(tx: &ReadTx<'_>, after: i64) -> Result<Vec<Sent>> {
    let mut out = Vec::new();
    for e in outbox::routed_events_after(tx, events::PROGRAM_ASSIGNMENT, after)? {
        if let Ok(body) = serde_json::from_slice::<Value>(&e.body) {
            out.push(Sent {
                channel: e.channel,
                at: e.created_at_millis,
                body,
            });
        }
    }
    Ok(out)
}

/// Channels held as the therapist, active or revoked, in list order.
fn read_channels(tx: &ReadTx<'_>) -> Result<Vec<ChannelState>> {
    Ok(tx
        .list::<ChannelState>()?
        .into_iter()
        .map(|c| c.value)
        .filter(|c| c.role == "therapist")
        .filter(|c| matches!(c.status, ChannelStatus::Active | ChannelStatus::Revoked))
        .collect())
}

/// The therapist's submitted ratings per channel.
fn read_ratings(tx: &ReadTx<'_>) -> Result<BTreeMap<String, Vec<Checkin>>> {
    let mut ratings: BTreeMap<String, Vec<Checkin>> = BTreeMap::new();
    for link in tx.list::<TherapistRating>()? {
        // A link whose check-in was never submitted is ignored.
        if let Some(c) = tx.get::<Checkin>(&link.value.checkin_id)? {
            ratings
                .entry(link.value.channel_id)
                .or_default()
                .push(c.value);
        }
    }
    Ok(ratings)
}

fn read_acks(tx: &ReadTx<'_>) -> Result<Vec<AlertAcknowledgement>> {
    Ok(tx
        .list::<AlertAcknowledgement>()?
        .into_iter()
        .map(|a| a.value)
        .collect())
}

fn mode_of(checkins: &[ScoredPoint], program_modes: &[String]) -> Option<String> {
    if let [only] = program_modes {
        return Some(only.clone());
    }
    let alliance = checkins
        .iter()
        .rev()
        .find(|c| is_alliance_instrument(&c.instrument))?;
    Some(match alliance.instrument.as_str() {
        "alliance_unguided" => "unguided".into(),
        // `alliance` is asked in every mode with a therapist.
        _ => program_modes
            .iter()
            .find(|m| m.as_str() != "unguided")
            .cloned()
            .unwrap_or_else(|| "guided".into()),
    })
}

/// Everything `load_patients` reads, from one read transaction. Its
/// inputs are exactly what `cache::fingerprint` and `live` watch: keep
/// them in step.
pub(super) struct Inputs {
    channels: Vec<ChannelState>,
    inbox: Vec<Stored<InboxItem>>,
    sent: Vec<Sent>,
    ratings: BTreeMap<String, Vec<Checkin>>,
    acks: Vec<AlertAcknowledgement>,
}

/// One record per channel this store holds as the therapist (active or
/// revoked), newest pairing first, like `channel_views`. Opens every
/// received event; [`super::load_patients_cached`] is the fast path.
pub fn load_patients(store: &Store) -> Result<Vec<PatientRecord>> {
    Ok(build(store.read(read_inputs)?))
}

/// The store reads of [`load_patients`]: records of kinds `sync_channel`,
/// `sync_inbox`, `insights_rating` and `checkin`, and the outbox's program
/// assignments with their `sync_route`.
pub(super) fn read_inputs(tx: &ReadTx<'_>) -> Result<Inputs> {
    Ok(Inputs {
        channels: read_channels(tx)?,
        inbox: tx.list::<InboxItem>()?,
        sent: sent_assignments(tx, i64::MIN)?,
        ratings: read_ratings(tx)?,
        acks: read_acks(tx)?,
    })
}

/// Builds the patients from what [`read_inputs`] read (no store access).
pub(super) fn build(inputs: Inputs) -> Vec<PatientRecord> {
    let Inputs {
        channels,
        inbox,
        sent,
        mut ratings,
        acks,
    } = inputs;
    let acks = ack_index(&acks);
    let mut acc: BTreeMap<&str, Acc> = channels
        .iter()
        .map(|c| (c.id.as_str(), Acc::default()))
        .collect();
    for item in &inbox {
        if let Some(a) = acc.get_mut(item.value.channel.as_str()) {
            a.add(&item.value);
        }
    }
    let mut out = Vec::with_capacity(channels.len());
    for c in &channels {
        let Some(a) = acc.remove(c.id.as_str()) else {
            continue;
        };
        let own_sent = sent
            .iter()
            .filter(|s| s.channel == c.id)
            .map(|s| (s.at, &s.body));
        out.push(finish(
            c,
            &a,
            own_sent,
            &ratings.remove(&c.id).unwrap_or_default(),
            &acks,
        ));
    }
    order(&mut out, &channels);
    out
}

/// Acknowledgements by (channel, alert id); a later one for the same alert wins.
fn ack_index(acks: &[AlertAcknowledgement]) -> BTreeMap<(&str, &str), &AlertAcknowledgement> {
    acks.iter()
        .map(|a| ((a.channel.as_str(), a.alert_id.as_str()), a))
        .collect()
}

/// An alert as shown: acknowledged when there is an acknowledgement, and
/// with the final total of the check-in it belongs to (the last one of
/// that id, as a map built in order would say) when it came without one.
fn finish_alert(
    channel: &str,
    al: &AlertRecord,
    a: &Acc,
    acks: &BTreeMap<(&str, &str), &AlertAcknowledgement>,
) -> AlertRecord {
    let mut al = al.clone();
    if let Some(ack) = acks.get(&(channel, al.alert_id.as_str())) {
        al.acknowledged = true;
        al.acknowledged_at = utc(ack.at_millis);
        al.action = Some(ack.action);
    }
    if al.trigger.total.is_none() && al.trigger.phrase.is_none() {
        al.trigger.total = a
            .checkins
            .iter()
            .rev()
            .find(|c| c.id == al.alert_id)
            .and_then(|c| c.score.total);
    }
    al
}

/// How far a channel's `Acc` was folded when its record was last finished.
#[derive(Clone, Copy)]
struct Mark {
    checkins: usize,
    alerts: usize,
    progress: usize,
}

impl Mark {
    const EMPTY: Mark = Mark {
        checkins: 0,
        alerts: 0,
        progress: 0,
    };

    fn of(a: &Acc) -> Mark {
        Mark {
            checkins: a.checkins.len(),
            alerts: a.alerts.len(),
            progress: a.progress.len(),
        }
    }
}

/// Adds to `p` (finished from `a` as it was at `mark`) what `a` gained
/// since: new check-ins, alerts and progress go where the full sort would
/// put them (after equal times: they come last in insertion order), and
/// the latest engagement and activity are taken over. Only for plain
/// appends; `false` (and `p` untouched) when a new check-in corrects or is
/// corrected, repeats an id, or belongs to an alert already shown: then the
/// caller finishes the patient again. Events that change anything else
/// (consent, program) must not reach here.
fn append<'v>(
    p: &mut PatientRecord,
    a: &Acc,
    mark: Mark,
    sent: impl Iterator<Item = (i64, &'v Value)>,
    acks: &BTreeMap<(&str, &str), &AlertAcknowledgement>,
) -> bool {
    let (old, new) = a.checkins.split_at(mark.checkins.min(a.checkins.len()));
    let old_alerts = &a.alerts[..mark.alerts.min(a.alerts.len())];
    let plain = new.iter().enumerate().all(|(i, c)| {
        c.corrects.is_none()
            && !old
                .iter()
                .chain(&new[..i])
                .any(|o| o.id == c.id || o.corrects.as_deref() == Some(c.id.as_str()))
            && !old_alerts.iter().any(|al| al.alert_id == c.id)
    });
    if !plain || mark.alerts > a.alerts.len() || mark.progress > a.progress.len() {
        return false;
    }
    for c in new {
        if c.instrument == THERAPIST_ALLIANCE {
            continue;
        }
        if let Some(at) = utc(c.submitted_at_millis) {
            let i = p.checkins.partition_point(|x| x.at <= at);
            p.checkins.insert(i, point(&c.instrument, at, &c.score));
        }
    }
    for al in &a.alerts[mark.alerts..] {
        let i = p.alerts.partition_point(|x| x.at <= al.at);
        p.alerts.insert(i, finish_alert(&p.channel_id, al, a, acks));
    }
    for m in &a.progress[mark.progress..] {
        let i = p.progress.partition_point(|x| x.at <= m.at);
        p.progress.insert(i, m.clone());
    }
    p.engagement = a.engagement.clone();
    p.last_activity = a.last_activity;
    let mut program = a.program.clone();
    for (at, body) in sent {
        assign(&mut program, at, body);
    }
    let modes = program.map(|p| p.modes).unwrap_or_default();
    p.mode = mode_of(&p.checkins, &modes);
    true
}

/// Newest pairing first; channels paired at the same time keep list order.
fn order(out: &mut [PatientRecord], channels: &[ChannelState]) {
    crate::sort::sort_by_key(out, |p| {
        let c = channels.iter().find(|c| c.id == p.channel_id);
        std::cmp::Reverse(c.and_then(|c| c.paired_at_millis))
    });
}

/// One patient from their channel's folded events, then the program
/// assignments this store sent them (in outbox order), the therapist's
/// ratings and the acknowledgements.
fn finish<'v>(
    c: &ChannelState,
    a: &Acc,
    sent: impl Iterator<Item = (i64, &'v Value)>,
    ratings: &[Checkin],
    acks: &BTreeMap<(&str, &str), &AlertAcknowledgement>,
) -> PatientRecord {
    let mut program = a.program.clone();
    for (at, body) in sent {
        assign(&mut program, at, body);
    }
    let paired = c
        .paired_at_millis
        .or(Some(c.created_at_millis))
        .and_then(utc)
        .unwrap_or(DateTime::UNIX_EPOCH);
    let start = program
        .as_ref()
        .and_then(|p| p.start.and_hms_opt(0, 0, 0))
        .map_or(paired, |d| d.and_utc());
    let mut checkins = current_points(&a.checkins);
    checkins.retain(|p| p.instrument != THERAPIST_ALLIANCE);
    let therapist_ratings = current_points(
        &ratings
            .iter()
            .map(|c| WireCheckin {
                id: c.id.clone(),
                instrument: c.instrument.clone(),
                corrects: c.corrects.clone(),
                submitted_at_millis: c.submitted_at_millis,
                score: WireScore {
                    total: c.score.total,
                    severity: c.score.severity.clone(),
                    severity_label: c.score.severity_label.clone(),
                    subscales: c.score.subscales.clone(),
                },
            })
            .collect::<Vec<_>>(),
    );
    let (program_id, program_title) = program
        .as_ref()
        .map(|p| (p.program_id.clone(), p.program_title.clone()))
        .unwrap_or_default();
    let (weeks, review_week, primary_instrument, modes) = program
        .map(|p| (p.weeks, p.review_week, p.primary_instrument, p.modes))
        .unwrap_or((None, None, None, Vec::new()));
    let mut alerts: Vec<AlertRecord> = a
        .alerts
        .iter()
        .map(|al| finish_alert(&c.id, al, a, acks))
        .collect();
    crate::sort::sort_by_key(&mut alerts, |x| x.at);
    let mut progress = a.progress.clone();
    crate::sort::sort_by_key(&mut progress, |x| x.at);
    let mut consent = a.research_consent.clone();
    crate::sort::sort_by_key(&mut consent, |&(at, hlc, _)| (at, hlc));
    PatientRecord {
        channel_id: c.id.clone(),
        label: c.label.clone(),
        mode: mode_of(&checkins, &modes),
        start,
        checkins,
        therapist_ratings,
        alerts,
        progress,
        engagement: a.engagement.clone(),
        last_activity: a.last_activity,
        review_week: review_week.filter(|w| weeks.is_none_or(|n| *w <= n)),
        program_weeks: weeks,
        research_consent: consent
            .into_iter()
            .map(|(at, _, granted)| ConsentPoint { at, granted })
            .collect(),
        primary_instrument,
        program_id,
        program_title,
        status: match (c.status, c.revoked_by.as_deref()) {
            (ChannelStatus::Revoked, Some("me")) => PatientStatus::Ended,
            (ChannelStatus::Revoked, _) => PatientStatus::Left,
            _ => PatientStatus::Active,
        },
        status_since: c
            .revoked_at_millis
            .filter(|_| c.status == ChannelStatus::Revoked)
            .and_then(utc),
    }
}

/// The therapist rates the alliance with a patient: starts, answers and
/// submits an `alliance_therapist` check-in (it never leaves the device)
/// and links it to the channel. Returns the check-in id.
pub fn rate_alliance(store: &Store, channel_id: &str, answers: &Value) -> Result<String> {
    let known = store.read(|tx| {
        Ok(tx
            .list::<ChannelState>()?
            .into_iter()
            .any(|c| c.value.id == channel_id && c.value.role == "therapist"))
    })?;
    if !known {
        return Err(Error::NotFound {
            what: "patient channel".into(),
        });
    }
    let checkins = Checkins::new(store.clone())?;
    let draft = checkins.start(THERAPIST_ALLIANCE, None)?;
    let id = draft.checkin_id;
    // Linked before submitting: a crash leaves a link to a draft (ignored
    // by the loader), never a rating without its patient.
    store.put(
        &id,
        &TherapistRating {
            channel_id: channel_id.to_string(),
            checkin_id: id.clone(),
        },
    )?;
    let submitted = checkins
        .answer_json(&id, answers)
        .and_then(|_| checkins.submit(&id));
    if let Err(e) = submitted {
        // Best effort: the error to report is the one above.
        let _ = checkins.discard(&id);
        let _ = store.write(|tx| tx.delete(TherapistRating::KIND, &id));
        return Err(e);
    }
    Ok(id)
}
