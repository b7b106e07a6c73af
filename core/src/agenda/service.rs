//! The agenda on top of the encrypted store: load facts, derive, persist.
//!
//! Every function takes `at`; callers pass the store's clock
//! (`Store::now_millis`) unless they replay or test a moment.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use super::enrolment::{EnrolmentState, ReminderEvent, ReminderEventKind};
use super::items::{items, Item, ItemState};
use super::preferences::ReminderPreferences;
use super::records::{
    ApprovalRecord, CompletionRecord, EnrolmentRecord, ReminderEventRecord, ReminderSummaryRecord,
    ZoneChangeRecord,
};
use super::reminders::plan_reminders;
use crate::domain::TreatmentMode;
use crate::error::{Error, Result};
use crate::platform::NotificationScheduler;
use crate::program::Program;
use crate::schedule::{parse_zone, Tz};
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrolmentSummary {
    pub program_id: String,
    pub program_version: String,
    pub title: String,
    pub start_date: NaiveDate,
    pub mode: TreatmentMode,
    pub time_zone: String,
    pub weeks: u32,
}

/// What a re-plan handed to the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplanOutcome {
    pub scheduled: u32,
    /// The platform refused the plan; the data change still stands.
    pub error: Option<String>,
}

/// Years the agenda accepts for instants and start dates: wider than any
/// real program, and far enough inside chrono's range that zone offsets and
/// program lengths added to them never overflow (which would panic).
const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// Checks an instant given by a caller (`at`, `at_millis`) before it reaches
/// the agenda; the error names `field`.
pub fn check_instant(field: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if YEARS.contains(&at.year()) {
        Ok(at)
    } else {
        Err(Error::invalid(field, "must lie in the years 1900 to 9999"))
    }
}

fn check_start(start: NaiveDate) -> Result<NaiveDate> {
    if YEARS.contains(&start.year()) {
        Ok(start)
    } else {
        Err(Error::invalid(
            "start_date",
            "must lie in the years 1900 to 9999",
        ))
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn instant(ms: i64, kind: &str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| Error::corrupt(kind, "time out of range"))
}

fn zone(name: &str) -> Result<Tz> {
    parse_zone(name).map_err(|_| Error::invalid("time_zone", "is not a known IANA time zone name"))
}

/// Enrols the patient in `program` from `start` (day 0) in zone `tz`. The
/// mode is `mode`, else the profile's, else the program's first.
pub fn enrol(
    store: &Store,
    program: &Program,
    start: NaiveDate,
    tz: &str,
    mode: Option<TreatmentMode>,
) -> Result<EnrolmentSummary> {
    let tz = zone(tz)?;
    check_start(start)?;
    let profile = store.profile()?;
    let mode = match mode.or_else(|| profile.as_ref().map(|p| p.mode)) {
        Some(m) if program.metadata.modes.contains(&m) => m,
        Some(m) => {
            return Err(Error::invalid(
                "mode",
                format!("the program does not support {m} mode"),
            ))
        }
        None => *program
            .metadata
            .modes
            .first()
            .ok_or_else(|| Error::invalid("program", "supports no mode"))?,
    };
    let record = EnrolmentRecord {
        program: program.clone(),
        start_date: start,
        mode,
        time_zone: tz.name().to_string(),
        enrolled_at_millis: store.now_millis(),
    };
    store.write(|tx| {
        if tx.get::<EnrolmentRecord>(EnrolmentRecord::ID)?.is_some() {
            return Err(Error::AlreadyExists {
                what: "enrolment".into(),
            });
        }
        tx.put(EnrolmentRecord::ID, &record)
    })?;
    Ok(summary(&record))
}

fn summary(r: &EnrolmentRecord) -> EnrolmentSummary {
    EnrolmentSummary {
        program_id: r.program.metadata.id.clone(),
        program_version: r.program.metadata.version.clone(),
        title: r.program.metadata.title.clone(),
        start_date: r.start_date,
        mode: r.mode,
        time_zone: r.time_zone.clone(),
        weeks: r.program.metadata.weeks,
    }
}

/// Everything recorded for the current enrolment; `NotFound` without one.
pub fn load_state(store: &Store) -> Result<EnrolmentState> {
    store.read(|tx| {
        let Some(e) = tx.get::<EnrolmentRecord>(EnrolmentRecord::ID)? else {
            return Err(Error::NotFound {
                what: "enrolment".into(),
            });
        };
        let e = e.value;
        let tz =
            parse_zone(&e.time_zone).map_err(|_| Error::corrupt("enrolment", "unknown zone"))?;
        let mut st = EnrolmentState::new(e.program, e.start_date, e.mode, tz);
        st.enrolled_at = instant(e.enrolled_at_millis, "enrolment")?.min(st.enrolled_at);
        for z in tx.list::<ZoneChangeRecord>()? {
            let tz = parse_zone(&z.value.time_zone)
                .map_err(|_| Error::corrupt("zone_change", "unknown zone"))?;
            st.push_zone(instant(z.value.since_millis, "zone_change")?, tz);
        }
        for c in tx.list::<CompletionRecord>()? {
            st.push_completion(c.value.item_id, instant(c.value.at_millis, "completion")?);
        }
        for a in tx.list::<ApprovalRecord>()? {
            st.push_approval(a.value.module_id, instant(a.value.at_millis, "approval")?);
        }
        // The summary stands in for the full log (kept for export and sync).
        if let Some(sum) = tx.get::<ReminderSummaryRecord>(ReminderSummaryRecord::ID)? {
            let opened = sum
                .value
                .last_opened
                .map(|o| (o, ReminderEventKind::Opened));
            let delivered = sum
                .value
                .delivered_since_open
                .into_iter()
                .map(|d| (d, ReminderEventKind::Delivered));
            for ((reminder_id, at), kind) in opened.into_iter().chain(delivered) {
                st.push_reminder_event(ReminderEvent {
                    reminder_id,
                    kind,
                    at: instant(at, "reminder_summary")?,
                });
            }
        }
        st.reminder_preferences = tx
            .get::<ReminderPreferences>(ReminderPreferences::ID)?
            .map(|p| p.value);
        Ok(st)
    })
}

/// Saves the patient's reminder preferences after checking them against the
/// enrolled program's policy. Needs an enrolment (`NotFound` without one).
pub fn set_reminder_preferences(store: &Store, prefs: &ReminderPreferences) -> Result<()> {
    let st = load_state(store)?;
    prefs.validate(&st.program.reminders)?;
    store.write(|tx| tx.put(ReminderPreferences::ID, prefs))
}

/// Marks an open, due or overdue item done at `at`; completing a completed
/// item again is a no-op. Returns the item as it now stands.
pub fn complete(store: &Store, item_id: &str, at: DateTime<Utc>) -> Result<Item> {
    let at = check_instant("at", at)?;
    let mut st = load_state(store)?;
    let Some(item) = items(&st, at).into_iter().find(|i| i.id == item_id) else {
        return Err(Error::NotFound {
            what: "agenda item".into(),
        });
    };
    match item.state {
        ItemState::Completed => return Ok(item),
        s if s.is_actionable() => {}
        ItemState::Missed => {
            return Err(Error::invalid(
                "item_id",
                "its window has closed; a missed check-in cannot be completed",
            ))
        }
        _ => return Err(Error::invalid("item_id", "is not open yet")),
    }
    store.write(|tx| {
        tx.insert(&CompletionRecord {
            item_id: item_id.to_string(),
            at_millis: millis(at),
        })?;
        // Progress reaches the therapist through sync, queued in the same
        // transaction so it cannot be lost (ADR 0005 §5).
        let event = serde_json::json!({
            "item_id": item_id, "kind": item.kind, "completed_at": millis(at),
            "ref_id": item.ref_id, "title": item.title,
        });
        let body = serde_json::to_vec(&event).map_err(|e| Error::Internal(e.to_string()))?;
        crate::store::outbox::enqueue(
            tx,
            crate::sync::events::MODULE_PROGRESS,
            &progress_ref(item_id),
            crate::store::outbox::Priority::Normal,
            &body,
        )
        .map(|_| ())
    })?;
    st.push_completion(item_id.to_string(), at);
    items(&st, at)
        .into_iter()
        .find(|i| i.id == item_id)
        .ok_or_else(|| Error::Internal("completed item vanished".into()))
}

/// Outbox ref ids are short tokens; item ids may be longer.
fn progress_ref(item_id: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, item_id.as_bytes());
    crate::crypto::hex(&d.as_ref()[..16])
}

/// Records the therapist's approval of a module (called by sync). Repeats
/// are no-ops, so replaying an event is safe.
pub fn record_approval(store: &Store, module_id: &str, at: DateTime<Utc>) -> Result<()> {
    let at = check_instant("at", at)?;
    let st = load_state(store)?;
    let Some(m) = st.program.module(module_id) else {
        return Err(Error::invalid("module_id", "no such module in the program"));
    };
    if !m.unlock.mentions_therapist_approval() {
        return Err(Error::invalid(
            "module_id",
            "the module is not therapist-gated",
        ));
    }
    if !st.mode.has_therapist() {
        return Err(Error::invalid(
            "mode",
            "unguided enrolments have no therapist",
        ));
    }
    if st.approvals.contains_key(module_id) {
        return Ok(());
    }
    store.write(|tx| {
        tx.insert(&ApprovalRecord {
            module_id: module_id.to_string(),
            at_millis: millis(at),
        })
        .map(drop)
    })
}

/// The patient is in `tz` from `at` on. Future occurrences keep their
/// wall-clock times in the new zone; earlier ones stay where they were.
pub fn change_zone(store: &Store, tz: &str, at: DateTime<Utc>) -> Result<()> {
    let tz = zone(tz)?;
    let at = check_instant("at", at)?;
    let st = load_state(store)?;
    let last = st
        .zones
        .last()
        .ok_or_else(|| Error::corrupt("enrolment", "the zone history is empty"))?;
    if at < last.since {
        return Err(Error::invalid(
            "at",
            "is before the last recorded zone change",
        ));
    }
    if st.zone_at(at) == tz {
        return Ok(());
    }
    store.write(|tx| {
        tx.insert(&ZoneChangeRecord {
            since_millis: millis(at),
            time_zone: tz.name().to_string(),
        })
        .map(drop)
    })?;
    // Keep the profile's zone in step so other features see the same zone.
    if let Some(mut p) = store.profile()? {
        p.time_zone = tz.name().to_string();
        store.set_profile(&p)?;
    }
    Ok(())
}

/// Records that the platform delivered or the patient opened a reminder.
pub fn record_reminder_event(
    store: &Store,
    reminder_id: &str,
    kind: ReminderEventKind,
    at: DateTime<Utc>,
) -> Result<()> {
    if reminder_id.is_empty() || reminder_id.len() > 200 {
        return Err(Error::invalid("reminder_id", "must be 1 to 200 characters"));
    }
    let at = check_instant("at", at)?;
    store.write(|tx| {
        tx.insert(&ReminderEventRecord {
            reminder_id: reminder_id.to_string(),
            event: kind,
            at_millis: millis(at),
        })?;
        let mut sum = tx
            .get::<ReminderSummaryRecord>(ReminderSummaryRecord::ID)?
            .map(|s| s.value)
            .unwrap_or_default();
        sum.apply(reminder_id, kind, millis(at));
        tx.put(ReminderSummaryRecord::ID, &sum)
    })
}

/// Rebuilds the plan and hands it to the platform. Without an enrolment the
/// plan is empty, which cancels anything still pending.
pub fn replan(
    store: &Store,
    scheduler: &dyn NotificationScheduler,
    at: DateTime<Utc>,
) -> Result<ReplanOutcome> {
    let at = check_instant("at", at)?;
    let plan = match load_state(store) {
        Ok(st) => plan_reminders(&st, at, scheduler.max_pending()),
        Err(Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(match scheduler.replace_pending(&plan) {
        Ok(()) => ReplanOutcome {
            scheduled: plan.len() as u32,
            error: None,
        },
        Err(e) => ReplanOutcome {
            scheduled: 0,
            error: Some(e.to_string()),
        },
    })
}
