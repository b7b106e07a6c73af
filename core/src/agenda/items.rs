//! Agenda items and their states, derived from the program, the windows and
//! the recorded facts at one instant.
//!
//! Item ids are derived, never stored as counters, so every device and every
//! re-plan names the same thing the same way (see ADR 0003):
//! `module:<module id>`, `checkin:<schedule id>:<YYYY-MM-DDTHH:MM>` for a
//! recurring check-in (the rule's wall-clock instance, unaffected by DST or
//! travel) and `checkin:<schedule id>` for a check-in after a module.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use serde::Serialize;

use super::enrolment::EnrolmentState;
use crate::program::{CheckinSchedule, CheckinWhen, Module, UnlockFacts, UnlockRule};
use crate::schedule::{expand, RRule, Tz};

/// A module is due this many days after it unlocks; after that it is
/// overdue but stays open (modules are never missed).
pub const MODULE_DUE_DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Module,
    Checkin,
}

/// Where an item stands at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// A module whose unlock does not depend on the date alone (it waits for
    /// a completion or the therapist).
    Locked,
    /// Opens at a known time in the future.
    Upcoming,
    /// Can be done now; due on a later day.
    Open,
    /// Can be done now and is due today.
    Due,
    /// Past due but still possible.
    Overdue,
    Completed,
    /// The window closed without a completion.
    Missed,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Locked => "locked",
            ItemState::Upcoming => "upcoming",
            ItemState::Open => "open",
            ItemState::Due => "due",
            ItemState::Overdue => "overdue",
            ItemState::Completed => "completed",
            ItemState::Missed => "missed",
        }
    }

    /// Whether completing the item is allowed now.
    pub fn is_actionable(self) -> bool {
        matches!(self, ItemState::Open | ItemState::Due | ItemState::Overdue)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub id: String,
    pub kind: ItemKind,
    /// Module id or check-in schedule id.
    pub ref_id: String,
    /// Module title, or the instrument id for a check-in (apps localise it).
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
    pub state: ItemState,
    /// For modules, when it unlocked or will unlock (if known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// Modules never close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// A module that would unlock now if the therapist approved it.
    pub waiting_for_therapist: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_minutes: Option<u32>,
}

pub fn module_item_id(module_id: &str) -> String {
    format!("module:{module_id}")
}

/// Schedule id of a check-in item id.
pub fn checkin_schedule_of(item_id: &str) -> Option<&str> {
    let rest = item_id.strip_prefix("checkin:")?;
    Some(rest.split_once(':').map_or(rest, |(s, _)| s))
}

/// Facts as of one instant, for the program's unlock rules.
pub(crate) struct Facts<'a> {
    st: &'a EnrolmentState,
    now: DateTime<Utc>,
    day: u32,
    checkins_done: HashSet<&'a str>,
}

impl<'a> Facts<'a> {
    pub(crate) fn new(st: &'a EnrolmentState, now: DateTime<Utc>) -> Self {
        let checkins_done = st
            .completions
            .iter()
            .filter(|(_, &t)| t <= now)
            .filter_map(|(id, _)| checkin_schedule_of(id))
            .collect();
        Facts {
            st,
            now,
            day: st.program_day(now),
            checkins_done,
        }
    }

    fn first_checkin_done(&self, schedule_id: &str) -> Option<DateTime<Utc>> {
        self.st
            .completions
            .iter()
            .filter(|(id, &t)| t <= self.now && checkin_schedule_of(id) == Some(schedule_id))
            .map(|(_, &t)| t)
            .min()
    }

    /// The instant a rule started to hold, if it holds (or will by date alone).
    fn unlock_at(&self, rule: &UnlockRule, module_id: &str) -> Option<DateTime<Utc>> {
        match rule {
            UnlockRule::AtStart => Some(self.st.day_start(0)),
            UnlockRule::DaysAfterStart(n) => Some(self.st.day_start(*n)),
            UnlockRule::AfterModule(m) => self.st.completed_at(&module_item_id(m), self.now),
            UnlockRule::AfterCheckin(c) => self.first_checkin_done(c),
            UnlockRule::TherapistApproval => self.st.approved_at(module_id, self.now),
            UnlockRule::AllOf(rs) if rs.is_empty() => None,
            UnlockRule::AllOf(rs) => rs
                .iter()
                .map(|r| self.unlock_at(r, module_id))
                .collect::<Option<Vec<_>>>()?
                .into_iter()
                .max(),
            UnlockRule::AnyOf(rs) => rs.iter().filter_map(|r| self.unlock_at(r, module_id)).min(),
        }
    }
}

impl UnlockFacts for Facts<'_> {
    fn day(&self) -> u32 {
        self.day
    }
    fn module_completed(&self, module_id: &str) -> bool {
        self.st
            .completed_at(&module_item_id(module_id), self.now)
            .is_some()
    }
    fn checkin_completed(&self, schedule_id: &str) -> bool {
        self.checkins_done.contains(schedule_id)
    }
    fn therapist_approved(&self, module_id: &str) -> bool {
        self.st.approved_at(module_id, self.now).is_some()
    }
}

/// Every item of the enrolment at `now`, modules first in program order,
/// then check-ins in time order.
pub fn items(st: &EnrolmentState, now: DateTime<Utc>) -> Vec<Item> {
    let facts = Facts::new(st, now);
    let today = st.local_date(now);
    let mut out: Vec<Item> = st
        .program
        .modules
        .iter()
        .map(|m| module_item(st, &facts, m, now, today))
        .collect();
    let mut checkins = Vec::new();
    for sched in st.program.checkins.iter().filter(|c| c.applies_to(st.mode)) {
        for (id, at) in checkin_occurrences(st, sched, now) {
            checkins.push(checkin_item(st, sched, id, at, now, today));
        }
    }
    crate::sort::sort_by(&mut checkins, |a, b| {
        a.opens_at.cmp(&b.opens_at).then_with(|| a.id.cmp(&b.id))
    });
    out.extend(checkins);
    out
}

fn module_item(
    st: &EnrolmentState,
    facts: &Facts<'_>,
    m: &Module,
    now: DateTime<Utc>,
    today: chrono::NaiveDate,
) -> Item {
    let id = module_item_id(&m.id);
    let completed_at = st.completed_at(&id, now);
    let holds = m.unlock.holds(&m.id, facts);
    let waiting = completed_at.is_none() && m.unlock.waits_for_therapist(&m.id, facts);
    let (state, opens_at, due_at) = if holds || completed_at.is_some() {
        // The rule may have held earlier than the instant computed here (e.g.
        // after travel); never put an unlocked module's start in the future.
        let opened = facts
            .unlock_at(&m.unlock, &m.id)
            .map_or(now, |t| t.min(now))
            .min(completed_at.unwrap_or(now));
        let due = opened + TimeDelta::days(MODULE_DUE_DAYS);
        let state = match completed_at {
            Some(_) => ItemState::Completed,
            None => window_state(st, now, today, opened, due, None),
        };
        (state, Some(opened), Some(due))
    } else if waiting {
        (ItemState::Locked, None, None)
    } else {
        match m.unlock.earliest_day(&m.id, facts) {
            Some(d) => (ItemState::Upcoming, Some(st.day_start(d)), None),
            None => (ItemState::Locked, None, None),
        }
    };
    Item {
        id,
        kind: ItemKind::Module,
        ref_id: m.id.clone(),
        title: m.title.clone(),
        instrument: None,
        state,
        opens_at,
        due_at,
        closes_at: None,
        completed_at,
        waiting_for_therapist: waiting,
        estimated_minutes: Some(m.estimated_minutes),
    }
}

/// The state of a window at `now`, ignoring completion.
fn window_state(
    st: &EnrolmentState,
    now: DateTime<Utc>,
    today: chrono::NaiveDate,
    opens: DateTime<Utc>,
    due: DateTime<Utc>,
    closes: Option<DateTime<Utc>>,
) -> ItemState {
    if now < opens {
        ItemState::Upcoming
    } else if closes.is_some_and(|c| now >= c) {
        ItemState::Missed
    } else if now >= due {
        ItemState::Overdue
    } else if st.local_date(due - TimeDelta::seconds(1)) <= today {
        // A deadline at the coming midnight also reads as "due today".
        ItemState::Due
    } else {
        ItemState::Open
    }
}

fn checkin_item(
    st: &EnrolmentState,
    sched: &CheckinSchedule,
    id: String,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    today: chrono::NaiveDate,
) -> Item {
    let w = sched.window;
    let opens = at + TimeDelta::minutes(i64::from(w.opens_minutes));
    let due = at + TimeDelta::minutes(i64::from(w.due_minutes));
    let closes = at + TimeDelta::minutes(i64::from(w.closes_minutes));
    // A completion after the window closed cannot exist (complete refuses
    // it), so a recorded one always wins.
    let completed_at = st.completed_at(&id, now);
    let state = match completed_at {
        Some(_) => ItemState::Completed,
        None => window_state(st, now, today, opens, due, Some(closes)),
    };
    Item {
        id,
        kind: ItemKind::Checkin,
        ref_id: sched.id.clone(),
        title: sched.instrument.clone(),
        instrument: Some(sched.instrument.clone()),
        state,
        opens_at: Some(opens),
        due_at: Some(due),
        closes_at: Some(closes),
        completed_at,
        waiting_for_therapist: false,
        estimated_minutes: None,
    }
}

/// Each occurrence of a schedule as (item id, instant), known as of `now`.
pub(crate) fn checkin_occurrences(
    st: &EnrolmentState,
    sched: &CheckinSchedule,
    now: DateTime<Utc>,
) -> Vec<(String, DateTime<Utc>)> {
    match &sched.when {
        CheckinWhen::AfterModule(m) => st
            .completed_at(&module_item_id(m), now)
            .map(|t| vec![(format!("checkin:{}", sched.id), t)])
            .unwrap_or_default(),
        CheckinWhen::Recurring(rec) => {
            // Validated when the program was loaded; a bad rule yields nothing
            // rather than failing the whole agenda.
            let Ok(rule) = rec.rrule.parse::<RRule>() else {
                return Vec::new();
            };
            let Some(first) = st
                .start_date
                .checked_add_days(chrono::Days::new(u64::from(rec.start_day)))
            else {
                return Vec::new();
            };
            let dtstart = first.and_time(rec.local_time.to_naive_time());
            let end = st.last_date().succ_opt().unwrap_or(st.last_date());
            // Expanding in UTC yields the rule's wall-clock instances
            // unchanged; each is then placed in the zone history.
            let from = dtstart.and_utc();
            let to = end.and_time(NaiveTime::MIN).and_utc();
            let Ok(nominal) = expand(&rule, dtstart, Tz::UTC, from, to) else {
                return Vec::new();
            };
            let mut out: Vec<(String, DateTime<Utc>)> = nominal
                .into_iter()
                .map(|o| (checkin_id(&sched.id, o.local), st.place(o.local).utc))
                .collect();
            // A DST gap can merge two wall-clock instances into one instant.
            crate::sort::sort_by_key(&mut out, |(_, t)| *t);
            out.dedup_by_key(|(_, t)| *t);
            out
        }
    }
}

fn checkin_id(schedule_id: &str, local: NaiveDateTime) -> String {
    format!("checkin:{schedule_id}:{}", local.format("%Y-%m-%dT%H:%M"))
}
