//! Engagement signals computed on the device: for the patient's own view
//! and, through sync, for the therapist's caseload.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::enrolment::{EnrolmentState, ReminderEventKind};
use super::items::{items, ItemKind, ItemState};
use super::reminders::ignored_reminders;

/// A module open this many days without completion counts as stalled.
pub const STALL_DAYS: i64 = 7;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleStall {
    pub module_id: String,
    pub title: String,
    pub days_open: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Engagement {
    /// Local days since the last completion or opened reminder (or enrolment).
    pub days_since_last_activity: u32,
    pub last_activity_at: DateTime<Utc>,
    /// Check-in windows missed in a row, up to now.
    pub current_missed_run: u32,
    pub longest_missed_run: u32,
    /// Unlocked modules left open for [`STALL_DAYS`] or more.
    pub stalled_modules: Vec<ModuleStall>,
    pub completed_items: u32,
    pub missed_items: u32,
    /// Completed among items whose due time has passed or that are done;
    /// `None` before anything was due.
    pub completion_rate: Option<f64>,
    /// Consecutive reminders delivered without a response.
    pub ignored_reminders: u32,
}

pub fn engagement(st: &EnrolmentState, now: DateTime<Utc>) -> Engagement {
    let all = items(st, now);
    let last_activity_at = st
        .completions
        .values()
        .copied()
        .chain(
            st.reminder_events
                .iter()
                .filter(|e| e.kind == ReminderEventKind::Opened)
                .map(|e| e.at),
        )
        .filter(|&t| t <= now)
        .max()
        .unwrap_or(st.enrolled_at)
        .max(st.enrolled_at.min(now));
    let days = (st.local_date(now) - st.local_date(last_activity_at)).num_days();

    // Runs over check-in windows that have ended (closed or completed), in
    // time order.
    let mut windows: Vec<_> = all
        .iter()
        .filter(|i| i.kind == ItemKind::Checkin)
        .filter(|i| matches!(i.state, ItemState::Completed | ItemState::Missed))
        .collect();
    crate::sort::sort_by_key(&mut windows, |i| i.opens_at);
    let (mut run, mut longest) = (0u32, 0u32);
    for w in &windows {
        if w.state == ItemState::Missed {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }

    let stalled_modules = all
        .iter()
        .filter(|i| i.kind == ItemKind::Module && i.state.is_actionable())
        .filter_map(|i| {
            let open = (now - i.opens_at?).num_days();
            (open >= STALL_DAYS).then(|| ModuleStall {
                module_id: i.ref_id.clone(),
                title: i.title.clone(),
                days_open: open as u32,
            })
        })
        .collect();

    let completed = all
        .iter()
        .filter(|i| i.state == ItemState::Completed)
        .count() as u32;
    let missed = all.iter().filter(|i| i.state == ItemState::Missed).count() as u32;
    let overdue = all.iter().filter(|i| i.state == ItemState::Overdue).count() as u32;
    let denominator = completed + missed + overdue;
    Engagement {
        days_since_last_activity: days.max(0) as u32,
        last_activity_at,
        current_missed_run: run,
        longest_missed_run: longest,
        stalled_modules,
        completed_items: completed,
        missed_items: missed,
        completion_rate: (denominator > 0).then(|| f64::from(completed) / f64::from(denominator)),
        ignored_reminders: ignored_reminders(st, now).0,
    }
}
