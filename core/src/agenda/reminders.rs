//! The reminder plan: the next N local notifications, each with a stable id.
//!
//! The plan is a pure function of the recorded facts and `now`, so it can
//! be rebuilt after any change (a completion, an approval, travel, a
//! delivered or opened reminder) and handed to the platform whole.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, Timelike, Utc};

use super::enrolment::{EnrolmentState, ReminderEventKind};
use super::items::{items, Item, ItemKind, ItemState};
use super::preferences::EffectiveReminders;
pub use crate::platform::{Notification, ReminderKind};
use crate::platform::{NotificationScheduler, SchedulerError};
use crate::program::TimeOfDay;

/// Most reminders one plan holds, whatever the platform asks for.
pub const MAX_PLANNED_REMINDERS: u32 = 512;
/// Reminders stop this many days after the program's last day.
const DAYS_AFTER_END: u64 = 7;

struct Candidate {
    fire: DateTime<Utc>,
    kind: ReminderKind,
    id: String,
    item_ids: Vec<String>,
}

/// The next `count` reminders after `now` (at most [`MAX_PLANNED_REMINDERS`]).
pub fn plan_reminders(st: &EnrolmentState, now: DateTime<Utc>, count: u32) -> Vec<Notification> {
    let count = count.min(MAX_PLANNED_REMINDERS) as usize;
    if count == 0 {
        return Vec::new();
    }
    let policy = st.reminders();
    if !policy.enabled {
        return Vec::new();
    }
    let all = items(st, now);
    let today = st.local_date(now);
    let horizon = st
        .last_date()
        .checked_add_days(Days::new(DAYS_AFTER_END))
        .unwrap_or(NaiveDate::MAX);

    // A reminder for each check-in when it opens, moved out of quiet hours.
    let mut by_day: BTreeMap<NaiveDate, Vec<Candidate>> = BTreeMap::new();
    for it in all.iter().filter(|i| i.kind == ItemKind::Checkin) {
        let (Some(opens), Some(closes)) = (it.opens_at, it.closes_at) else {
            continue;
        };
        if it.state != ItemState::Upcoming {
            continue;
        }
        let Some(fire) = out_of_quiet(st, &policy, preferred(st, &policy, opens, closes)) else {
            continue;
        };
        if fire <= now || fire >= closes {
            continue;
        }
        by_day
            .entry(st.local_date(fire))
            .or_default()
            .push(Candidate {
                fire,
                kind: ReminderKind::Checkin,
                id: format!("reminder:{}", it.id),
                item_ids: vec![it.id.clone()],
            });
    }

    let (mut ignored, mut last_day) = ignored_reminders(st, now);
    let halve = policy.backoff.and_then(|b| b.halve_after_ignored);
    let stop = policy.backoff.and_then(|b| b.stop_after_ignored);
    let mut out = Vec::new();
    // Nothing fires before the program starts: skip straight there when
    // the clock is far before the start date.
    let mut day = today.max(st.start_date.pred_opt().unwrap_or(st.start_date));
    'days: while day <= horizon && out.len() < count {
        let mut cands = by_day.remove(&day).unwrap_or_default();
        crate::sort::sort_by_key(&mut cands, |c| c.fire);
        if let Some(n) = nudge(st, &policy, &all, &cands, day, now) {
            cands.push(n);
        }
        // Check-ins first, then the nudge, within the daily cap.
        cands.truncate(policy.max_per_day as usize);
        crate::sort::sort_by_key(&mut cands, |c| c.fire);
        let halved = halve.is_some_and(|h| ignored >= h);
        let yesterday = day.pred_opt();
        if !(cands.is_empty() || halved && last_day.is_some() && last_day == yesterday) {
            for c in cands {
                // The plan assumes each reminder will be ignored: if the app
                // is never opened again, the OS still runs out of reminders.
                if stop.is_some_and(|s| ignored >= s) || out.len() == count {
                    break 'days;
                }
                ignored += 1;
                last_day = Some(day);
                out.push(notification(st, c));
            }
        }
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

/// The daily nudge on `day`, listing what is actionable then and has no
/// reminder of its own that day.
fn nudge(
    st: &EnrolmentState,
    policy: &EffectiveReminders,
    all: &[Item],
    own: &[Candidate],
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Option<Candidate> {
    let fire = st
        .place(day.and_time(policy.time_of_day.to_naive_time()))
        .utc;
    if fire <= now || is_quiet(st, policy, fire) {
        return None;
    }
    let covered = |id: &str| own.iter().any(|c| c.item_ids.iter().any(|i| i == id));
    let item_ids: Vec<String> = all
        .iter()
        .filter(|i| match i.state {
            ItemState::Completed | ItemState::Missed | ItemState::Locked => false,
            _ => i.opens_at.is_some_and(|o| o <= fire) && i.closes_at.is_none_or(|c| fire < c),
        })
        .filter(|i| !covered(&i.id))
        .map(|i| i.id.clone())
        .collect();
    (!item_ids.is_empty()).then(|| Candidate {
        fire,
        kind: ReminderKind::Nudge,
        id: format!("nudge:{}", day.format("%Y-%m-%d")),
        item_ids,
    })
}

/// Consecutive delivered reminders since the patient last opened one,
/// completed anything or enrolled; and the local day of the last delivery.
pub(crate) fn ignored_reminders(
    st: &EnrolmentState,
    now: DateTime<Utc>,
) -> (u32, Option<NaiveDate>) {
    let last_completion = st
        .completions
        .values()
        .filter(|&&t| t <= now)
        .max()
        .copied();
    let mut reset = last_completion
        .unwrap_or(st.enrolled_at)
        .max(st.enrolled_at);
    for e in st.reminder_events.iter().filter(|e| e.at <= now) {
        if e.kind == ReminderEventKind::Opened {
            reset = reset.max(e.at);
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut last_day = None;
    for e in st.reminder_events.iter().filter(|e| e.at <= now) {
        if e.kind == ReminderEventKind::Delivered {
            last_day = Some(st.local_date(e.at));
            if e.at > reset && !seen.contains(&e.reminder_id.as_str()) {
                seen.push(&e.reminder_id);
            }
        }
    }
    (seen.len() as u32, last_day)
}

#[allow(
    clippy::expect_used,
    reason = "chrono hours and minutes are always in TimeOfDay's range"
)]
fn time_of_day(local: NaiveDateTime) -> TimeOfDay {
    TimeOfDay::new(local.hour() as u8, local.minute() as u8).expect("chrono times are in range")
}

fn is_quiet(st: &EnrolmentState, policy: &EffectiveReminders, t: DateTime<Utc>) -> bool {
    policy.is_quiet(time_of_day(st.local_at(t)))
}

/// The check-in's reminder time: the patient's preferred time on the first
/// local day at or after it opens, if that is still before it closes; else
/// the moment it opens.
fn preferred(
    st: &EnrolmentState,
    policy: &EffectiveReminders,
    opens: DateTime<Utc>,
    closes: DateTime<Utc>,
) -> DateTime<Utc> {
    let Some(pref) = policy.checkin_time else {
        return opens;
    };
    let day = st.local_date(opens);
    [Some(day), day.succ_opt()]
        .into_iter()
        .flatten()
        .map(|d| st.place(d.and_time(pref.to_naive_time())).utc)
        .find(|&t| t >= opens)
        .filter(|&t| t < closes)
        .unwrap_or(opens)
}

/// `t`, or the first moment after it outside every quiet span; `None` when
/// the spans leave no way out (they cover the whole day between them).
fn out_of_quiet(
    st: &EnrolmentState,
    policy: &EffectiveReminders,
    mut t: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    // Each step leaves one span; a few steps cover any overlap of the
    // program's and the patient's spans.
    for _ in 0..8 {
        let local = st.local_at(t);
        let now = time_of_day(local);
        let Some(q) = policy.quiet_hours.iter().find(|q| q.contains(now)) else {
            return Some(t);
        };
        let end = q.end.to_naive_time();
        let date = if local.time() < end {
            local.date()
        } else {
            local.date().succ_opt()?
        };
        let placed = st.place(date.and_time(end)).utc;
        // On the night clocks fall back the end can resolve to its first
        // pass, before `t`: move on by wall-clock minutes instead.
        t = if placed > t {
            placed
        } else {
            t + (date.and_time(end) - local)
        };
    }
    None
}

fn notification(st: &EnrolmentState, c: Candidate) -> Notification {
    let (title, body) = match c.kind {
        ReminderKind::Checkin => (
            "Time for a check-in".to_string(),
            "A short check-in is ready for you.".to_string(),
        ),
        ReminderKind::Nudge => (
            "Your program".to_string(),
            match c.item_ids.len() {
                1 => "One thing is waiting for you today.".to_string(),
                n => format!("{n} things are waiting for you today."),
            },
        ),
    };
    Notification {
        platform_id: platform_id(&c.id),
        local_time: st.local_at(c.fire),
        fire_at: c.fire,
        kind: c.kind,
        item_ids: c.item_ids,
        title,
        body,
        id: c.id,
    }
}

/// FNV-1a, masked to a non-negative i32: stable across builds and platforms.
fn platform_id(id: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h & 0x7fff_ffff) as i32
}

/// A scheduler that keeps the plan in memory: for the CLI and tests.
#[derive(Debug)]
pub struct MemoryScheduler {
    max_pending: u32,
    pending: Mutex<Vec<Notification>>,
    replacements: Mutex<u32>,
}

impl MemoryScheduler {
    pub fn new(max_pending: u32) -> Self {
        MemoryScheduler {
            max_pending,
            pending: Mutex::new(Vec::new()),
            replacements: Mutex::new(0),
        }
    }

    pub fn pending(&self) -> Vec<Notification> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many times the plan was handed over.
    pub fn replacements(&self) -> u32 {
        *self.replacements.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl NotificationScheduler for MemoryScheduler {
    fn max_pending(&self) -> u32 {
        self.max_pending
    }

    fn replace_pending(&self, plan: &[Notification]) -> Result<(), SchedulerError> {
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = plan.to_vec();
        *self.replacements.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Ok(())
    }
}
