//! Today's screen in one call: the view model the apps render as is.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;

use super::enrolment::EnrolmentState;
use super::items::{items, Item, ItemKind, ItemState};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub modules_done: u32,
    pub modules_total: u32,
    /// 1-based week of the program, capped at `weeks_total`.
    pub current_week: u32,
    pub weeks_total: u32,
}

/// The next module to unlock by date alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextUnlock {
    pub module_id: String,
    pub title: String,
    pub at: DateTime<Utc>,
}

/// Each item appears in at most one list. Lists are ordered by due time,
/// or by opening time for upcoming items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agenda {
    pub generated_at: DateTime<Utc>,
    pub time_zone: String,
    pub local_now: NaiveDateTime,
    pub local_date: NaiveDate,
    pub program_id: String,
    pub program_title: String,
    /// Open, due on a later day.
    pub open_now: Vec<Item>,
    /// Open and due today.
    pub due_today: Vec<Item>,
    /// Opening within the next 7 days.
    pub upcoming_this_week: Vec<Item>,
    /// Past due, still possible.
    pub overdue: Vec<Item>,
    /// Therapist-gated modules whose other conditions hold.
    pub waiting_for_therapist: Vec<Item>,
    pub progress: Progress,
    pub next_unlock: Option<NextUnlock>,
}

pub fn agenda(st: &EnrolmentState, now: DateTime<Utc>) -> Agenda {
    let all = items(st, now);
    let week_end = now + TimeDelta::days(7);
    let mut a = Agenda {
        generated_at: now,
        time_zone: st.zone_at(now).name().to_string(),
        local_now: st.local_at(now),
        local_date: st.local_date(now),
        program_id: st.program.metadata.id.clone(),
        program_title: st.program.metadata.title.clone(),
        open_now: Vec::new(),
        due_today: Vec::new(),
        upcoming_this_week: Vec::new(),
        overdue: Vec::new(),
        waiting_for_therapist: Vec::new(),
        progress: progress(st, &all, now),
        next_unlock: next_unlock(&all),
    };
    for it in all {
        match it.state {
            ItemState::Open => a.open_now.push(it),
            ItemState::Due => a.due_today.push(it),
            ItemState::Overdue => a.overdue.push(it),
            ItemState::Upcoming if it.opens_at.is_some_and(|t| t < week_end) => {
                a.upcoming_this_week.push(it)
            }
            ItemState::Locked if it.waiting_for_therapist => a.waiting_for_therapist.push(it),
            _ => {}
        }
    }
    for list in [&mut a.open_now, &mut a.due_today, &mut a.overdue] {
        crate::sort::sort_by(list, |x, y| {
            x.due_at.cmp(&y.due_at).then_with(|| x.id.cmp(&y.id))
        });
    }
    crate::sort::sort_by(&mut a.upcoming_this_week, |x, y| {
        x.opens_at.cmp(&y.opens_at).then_with(|| x.id.cmp(&y.id))
    });
    a
}

fn progress(st: &EnrolmentState, all: &[Item], now: DateTime<Utc>) -> Progress {
    let modules = all.iter().filter(|i| i.kind == ItemKind::Module);
    let weeks = st.program.metadata.weeks;
    Progress {
        modules_done: modules
            .clone()
            .filter(|i| i.state == ItemState::Completed)
            .count() as u32,
        modules_total: modules.count() as u32,
        current_week: (st.program_day(now) / 7 + 1).min(weeks),
        weeks_total: weeks,
    }
}

fn next_unlock(all: &[Item]) -> Option<NextUnlock> {
    all.iter()
        .filter(|i| i.kind == ItemKind::Module && i.state == ItemState::Upcoming)
        .filter_map(|i| i.opens_at.map(|t| (t, i)))
        .min_by_key(|(t, _)| *t)
        .map(|(at, i)| NextUnlock {
            module_id: i.ref_id.clone(),
            title: i.title.clone(),
            at,
        })
}
