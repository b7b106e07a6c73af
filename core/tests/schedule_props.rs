//! Property tests: the engine against a deliberately naive reference, around
//! real DST transitions in many zones.
//!
//! The reference walks every local day from DTSTART, tests each day against
//! the rule by counting, and resolves wall-clock times using only UTC->offset
//! lookups, so it shares no code path with the engine's period arithmetic or
//! with chrono-tz's local-time lookup.

#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the sort rule keeps the library small"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc, Weekday,
};
use collabzium_core::schedule::{
    expand, parse_zone, replan_after_zone_change, Frequency, Occurrence, RRule, Tz, Until,
};
use proptest::prelude::*;

/// Zones with offset changes between 2005 and 2030.
const DST_ZONES: &[&str] = &[
    // North America, Europe, Middle East, North Africa, North Asia.
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Adak",
    "America/Halifax",
    "America/St_Johns",
    "America/Havana",
    "America/Mexico_City",
    "America/Nuuk",
    "America/Scoresbysund",
    "America/Port-au-Prince",
    "America/Winnipeg",
    "America/Grand_Turk",
    "America/Miquelon",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Lisbon",
    "Europe/Helsinki",
    "Europe/Athens",
    "Europe/Kyiv",
    "Europe/Chisinau",
    "Europe/Moscow",
    "Europe/Istanbul",
    "Europe/Minsk",
    "Europe/Volgograd",
    "Europe/Samara",
    "Europe/Kaliningrad",
    "Asia/Beirut",
    "Asia/Jerusalem",
    "Asia/Gaza",
    "Asia/Damascus",
    "Asia/Amman",
    "Asia/Tehran",
    "Asia/Baku",
    "Asia/Yerevan",
    "Asia/Ulaanbaatar",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Novosibirsk",
    "Asia/Sakhalin",
    "Asia/Chita",
    "Africa/Cairo",
    "Africa/Casablanca",
    "Africa/El_Aaiun",
    "Antarctica/Troll",
    // Southern hemisphere.
    "America/Santiago",
    "America/Asuncion",
    "America/Sao_Paulo",
    "America/Campo_Grande",
    "America/Cuiaba",
    "America/Punta_Arenas",
    "Africa/Windhoek",
    "Australia/Sydney",
    "Australia/Melbourne",
    "Australia/Hobart",
    "Australia/Adelaide",
    "Australia/Broken_Hill",
    "Australia/Lord_Howe",
    "Australia/Eucla",
    "Australia/Perth",
    "Antarctica/Macquarie",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Pacific/Fiji",
    "Pacific/Norfolk",
    "Pacific/Easter",
    "Pacific/Tongatapu",
    // Offset changes that are not DST (30-minute moves, one-off shifts).
    "America/Caracas",
    "Asia/Pyongyang",
    "Africa/Khartoum",
    "Africa/Juba",
];

/// Zones that stopped or changed DST in the range; checked below.
const CHANGED_RULES: &[&str] = &[
    "Europe/Moscow",
    "America/Sao_Paulo",
    "Asia/Tehran",
    "Europe/Istanbul",
    "America/Mexico_City",
    "Asia/Amman",
];

/// No transitions in the range: fractional offsets must still come out exact.
const FIXED_ZONES: &[&str] = &["Asia/Kathmandu", "Asia/Kolkata", "Asia/Tokyo", "UTC"];

const SCAN_FROM: i32 = 2005;
const SCAN_TO: i32 = 2031;

#[derive(Debug, Clone, Copy)]
struct Transition {
    /// First UTC second with the new offset.
    at: NaiveDateTime,
    before: i32,
    after: i32,
}

fn off(tz: Tz, u: NaiveDateTime) -> i32 {
    tz.offset_from_utc_datetime(&u).fix().local_minus_utc()
}

fn secs(s: i32) -> TimeDelta {
    TimeDelta::seconds(i64::from(s))
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn scan(tz: Tz) -> Vec<Transition> {
    let mut out = Vec::new();
    let mut t = ymd(SCAN_FROM, 1, 1).and_time(NaiveTime::MIN);
    let end = ymd(SCAN_TO, 1, 1).and_time(NaiveTime::MIN);
    let mut prev = off(tz, t);
    while t < end {
        let next = t + TimeDelta::days(1);
        let o = off(tz, next);
        if o != prev {
            let (mut lo, mut hi) = (t, next);
            while hi - lo > TimeDelta::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if off(tz, mid) == prev {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            out.push(Transition {
                at: hi,
                before: prev,
                after: o,
            });
        }
        prev = o;
        t = next;
    }
    out
}

fn transitions() -> &'static [(Tz, Vec<Transition>)] {
    static ALL: OnceLock<Vec<(Tz, Vec<Transition>)>> = OnceLock::new();
    ALL.get_or_init(|| {
        DST_ZONES
            .iter()
            .map(|z| {
                let tz = parse_zone(z).unwrap();
                (tz, scan(tz))
            })
            .collect()
    })
}

#[test]
fn zone_list_covers_what_the_issue_asks_for() {
    let all = transitions();
    let name = |i: usize| DST_ZONES[i];
    for (i, (_, ts)) in all.iter().enumerate() {
        assert!(!ts.is_empty(), "{} has no transition in range", name(i));
    }
    let with_dst = all.iter().filter(|(_, ts)| ts.len() >= 2).count();
    assert!(with_dst >= 50, "only {with_dst} zones with DST");

    // Southern hemisphere: summer time in January.
    let southern = all
        .iter()
        .filter(|(tz, _)| {
            (SCAN_FROM..SCAN_TO).any(|y| {
                let jan = off(*tz, ymd(y, 1, 15).and_time(NaiveTime::MIN));
                let jul = off(*tz, ymd(y, 7, 15).and_time(NaiveTime::MIN));
                jan > jul
            })
        })
        .count();
    assert!(southern >= 10, "only {southern} southern zones");

    // Offsets that are not whole hours, with transitions between them.
    let fractional = |minutes: i32| {
        all.iter()
            .filter(|(_, ts)| {
                ts.iter()
                    .any(|t| t.before % 3600 / 60 == minutes || t.after % 3600 / 60 == minutes)
            })
            .count()
    };
    assert!(fractional(30) >= 5, "30-minute offsets: {}", fractional(30));
    assert!(fractional(45) >= 2, "45-minute offsets: {}", fractional(45));
    // Lord Howe's DST shift itself is 30 minutes.
    let lord_howe = DST_ZONES
        .iter()
        .position(|z| *z == "Australia/Lord_Howe")
        .unwrap();
    assert!(all[lord_howe]
        .1
        .iter()
        .all(|t| (t.after - t.before).abs() == 1800));

    // Rules changed: these zones observed DST and then stopped within the range.
    for z in CHANGED_RULES {
        let i = DST_ZONES.iter().position(|n| n == z).unwrap();
        let last = all[i].1.last().unwrap().at;
        assert!(all[i].1.len() >= 4 && last.year() < 2025, "{z}");
    }

    for z in FIXED_ZONES {
        assert!(scan(parse_zone(z).unwrap()).is_empty(), "{z}");
    }
}

// ---------------------------------------------------------------------------
// Reference expander: naive on purpose.

fn days_in_month(y: i32, m: u32) -> u32 {
    (28..=31)
        .rev()
        .find(|&d| NaiveDate::from_ymd_opt(y, m, d).is_some())
        .unwrap()
}

/// (n-th such weekday from the start, n-th from the end) by counting days.
fn weekday_position(day: NaiveDate) -> (i32, i32) {
    let dim = days_in_month(day.year(), day.month());
    let same = |d: u32| ymd(day.year(), day.month(), d).weekday() == day.weekday();
    let from_start = (1..=day.day()).filter(|&d| same(d)).count() as i32;
    let from_end = (day.day()..=dim).filter(|&d| same(d)).count() as i32;
    (from_start, from_end)
}

fn week_start(mut d: NaiveDate, wkst: Weekday) -> NaiveDate {
    while d.weekday() != wkst {
        d = d.pred_opt().unwrap();
    }
    d
}

fn in_period(rule: &RRule, d0: NaiveDate, day: NaiveDate) -> bool {
    let i = i64::from(rule.interval());
    match rule.freq() {
        Frequency::Daily => (day - d0).num_days() % i == 0,
        Frequency::Weekly => {
            let weeks = (week_start(day, rule.week_start()) - week_start(d0, rule.week_start()))
                .num_days()
                / 7;
            weeks % i == 0
        }
        Frequency::Monthly => {
            let months = i64::from(day.year() - d0.year()) * 12 + i64::from(day.month())
                - i64::from(d0.month());
            months % i == 0
        }
    }
}

fn selected(rule: &RRule, d0: NaiveDate, day: NaiveDate) -> bool {
    let dim = days_in_month(day.year(), day.month()) as i32;
    let md_ok = rule.by_month_day().iter().any(|&md| {
        let want = if md > 0 {
            i32::from(md)
        } else {
            dim + 1 + i32::from(md)
        };
        day.day() as i32 == want
    });
    let (nth, nth_from_end) = weekday_position(day);
    let bd_ok = rule.by_day().iter().any(|w| {
        w.weekday == day.weekday()
            && match w.ordinal {
                None => true,
                Some(n) if n > 0 => nth == i32::from(n),
                Some(n) => nth_from_end == -i32::from(n),
            }
    });
    let no_md = rule.by_month_day().is_empty();
    let no_bd = rule.by_day().is_empty();
    match rule.freq() {
        Frequency::Daily => (no_md || md_ok) && (no_bd || bd_ok),
        Frequency::Weekly => {
            if no_bd {
                day.weekday() == d0.weekday()
            } else {
                bd_ok
            }
        }
        Frequency::Monthly => {
            if !no_md {
                md_ok && (no_bd || bd_ok)
            } else if !no_bd {
                bd_ok
            } else {
                day.day() == d0.day()
            }
        }
    }
}

fn rule_times(rule: &RRule, dtstart: NaiveDateTime) -> Vec<NaiveTime> {
    let hours: Vec<u32> = if rule.by_hour().is_empty() {
        vec![dtstart.hour()]
    } else {
        rule.by_hour().iter().map(|&h| h.into()).collect()
    };
    let minutes: Vec<u32> = if rule.by_minute().is_empty() {
        vec![dtstart.minute()]
    } else {
        rule.by_minute().iter().map(|&m| m.into()).collect()
    };
    let mut out = Vec::new();
    for &h in &hours {
        for &m in &minutes {
            out.push(NaiveTime::from_hms_opt(h, m, dtstart.second()).unwrap());
        }
    }
    out
}

/// Every UTC instant whose wall clock in `tz` reads `local`, earliest first.
fn instants(tz: Tz, local: NaiveDateTime) -> Vec<NaiveDateTime> {
    let offsets: BTreeSet<i32> = (-36..=36)
        .map(|k| off(tz, local + TimeDelta::minutes(30 * k)))
        .collect();
    let mut out: Vec<NaiveDateTime> = offsets
        .into_iter()
        .map(|o| local - secs(o))
        .filter(|&u| off(tz, u) == (local - u).num_seconds() as i32)
        .collect();
    out.sort();
    out
}

fn fixed(s: i32) -> FixedOffset {
    FixedOffset::east_opt(s).unwrap()
}

fn reference_resolve(tz: Tz, local: NaiveDateTime) -> Occurrence {
    if let Some(&u) = instants(tz, local).first() {
        return Occurrence {
            utc: u.and_utc(),
            local,
            offset: fixed(off(tz, u)),
        };
    }
    // In a gap: walk minute by minute to where the wall clock jumps over `local`.
    let wall = |u: NaiveDateTime| u + secs(off(tz, u));
    let mut u = local - TimeDelta::hours(18);
    while !(wall(u) < local && wall(u + TimeDelta::minutes(1)) > local) {
        u += TimeDelta::minutes(1);
        assert!(u < local + TimeDelta::hours(18), "no jump around {local}");
    }
    let utc = local - secs(off(tz, u));
    let after = off(tz, utc);
    Occurrence {
        utc: utc.and_utc(),
        local: utc + secs(after),
        offset: fixed(after),
    }
}

/// The rule's wall-clock instances from DTSTART through `last_day`.
fn reference_locals(
    rule: &RRule,
    dtstart: NaiveDateTime,
    last_day: NaiveDate,
) -> Vec<NaiveDateTime> {
    let times = rule_times(rule, dtstart);
    let d0 = dtstart.date();
    let mut out = Vec::new();
    let mut day = d0;
    while day <= last_day {
        if let Some(Until::Date(u)) = rule.until() {
            if day > u {
                break;
            }
        }
        if in_period(rule, d0, day) && selected(rule, d0, day) {
            for &t in &times {
                let l = day.and_time(t);
                if l >= dtstart {
                    if rule.count() == Some(out.len() as u32) {
                        return out;
                    }
                    out.push(l);
                }
            }
        }
        day = day.succ_opt().unwrap();
    }
    out
}

fn finish(
    mut occ: Vec<Occurrence>,
    rule: &RRule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Occurrence> {
    occ.retain(|o| match rule.until() {
        Some(Until::Utc(u)) => o.utc <= u,
        _ => true,
    });
    occ.retain(|o| from <= o.utc && o.utc < to);
    occ.sort_by_key(|o| o.utc);
    occ.dedup_by_key(|o| o.utc);
    occ
}

/// Only instances near the window are resolved; that is a speed-up, not a rule.
fn near(l: NaiveDateTime, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    l >= from.naive_utc() - TimeDelta::days(2) && l <= to.naive_utc() + TimeDelta::days(2)
}

fn reference(
    rule: &RRule,
    dtstart: NaiveDateTime,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Occurrence> {
    let last = (to.naive_utc() + TimeDelta::days(2)).date();
    let occ = reference_locals(rule, dtstart, last)
        .into_iter()
        .filter(|&l| near(l, from, to))
        .map(|l| reference_resolve(tz, l))
        .collect();
    finish(occ, rule, from, to)
}

/// What the issue states, checked without the reference: each occurrence is at
/// a rule time, or a nonexistent rule time moved on by exactly the gap, and a
/// repeated time is taken at its first instant.
fn check_semantics(
    rule: &RRule,
    dtstart: NaiveDateTime,
    tz: Tz,
    got: &[Occurrence],
) -> Result<(), TestCaseError> {
    let times = rule_times(rule, dtstart);
    for w in got.windows(2) {
        prop_assert!(w[0].utc < w[1].utc, "not strictly increasing: {:?}", w);
    }
    for o in got {
        let u = o.utc.naive_utc();
        prop_assert_eq!(o.offset.local_minus_utc(), off(tz, u), "offset of {:?}", o);
        prop_assert_eq!(o.local, u + secs(off(tz, u)), "wall clock of {:?}", o);
        if times.contains(&o.local.time()) {
            let first = instants(tz, o.local)[0];
            prop_assert_eq!(
                u,
                first,
                "{:?} is not the first instance of its wall-clock time",
                o
            );
        } else {
            // Find the skipped rule time: the offset before the gap is smaller.
            let shifted = (-36..=36)
                .map(|k| off(tz, u + TimeDelta::minutes(30 * k)))
                .filter(|&b| b < o.offset.local_minus_utc())
                .map(|b| (b, u + secs(b)))
                .find(|(_, l)| times.contains(&l.time()) && instants(tz, *l).is_empty());
            let Some((before, skipped)) = shifted else {
                return Err(TestCaseError::fail(format!(
                    "{o:?} is off the rule's times"
                )));
            };
            let gap = o.offset.local_minus_utc() - before;
            prop_assert_eq!(o.local - skipped, secs(gap), "{:?} not moved by the gap", o);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Random cases, drawn from a sequence of dice so that shrinking simplifies
// every choice toward its first option.

struct Dice<'a> {
    vals: &'a [u32],
    i: usize,
}

impl Dice<'_> {
    fn pick(&mut self, n: u32) -> u32 {
        let v = self.vals.get(self.i).copied().unwrap_or(0);
        self.i += 1;
        v % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::from(self.pick((hi - lo + 1) as u32))
    }
    fn chance(&mut self, percent: u32) -> bool {
        self.pick(100) < percent
    }
}

const WEEKDAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

fn weekday_code(w: Weekday) -> &'static str {
    WEEKDAYS[w.num_days_from_monday() as usize]
}

/// Builds RRULE text aimed at `focus` (the local wall-clock time of a
/// transition) so that gaps and folds are hit often.
fn random_rule(d: &mut Dice, focus: NaiveDateTime, focus_after: NaiveDateTime) -> String {
    let freq = ["DAILY", "WEEKLY", "MONTHLY"][d.pick(3) as usize];
    let mut parts = vec![format!("FREQ={freq}")];
    if d.chance(30) {
        parts.push(format!("INTERVAL={}", d.range(2, 5)));
    }
    let fday = focus.date();
    if d.chance(50) {
        let n = d.range(1, 3);
        let days: Vec<String> = (0..n)
            .map(|_| {
                let wd = if d.chance(50) {
                    weekday_code(fday.weekday()).to_string()
                } else {
                    WEEKDAYS[d.pick(7) as usize].to_string()
                };
                if freq == "MONTHLY" && d.chance(50) {
                    let (nth, from_end) = weekday_position(fday);
                    let ord = match d.pick(3) {
                        0 => nth,
                        1 => -from_end,
                        _ => [1, 2, 3, 4, 5, -1, -2, -5][d.pick(8) as usize],
                    };
                    format!("{ord}{wd}")
                } else {
                    wd
                }
            })
            .collect();
        parts.push(format!("BYDAY={}", days.join(",")));
    }
    if freq != "WEEKLY" && d.chance(40) {
        let n = d.range(1, 3);
        let dim = days_in_month(fday.year(), fday.month()) as i64;
        let days: Vec<String> = (0..n)
            .map(|_| match d.pick(3) {
                0 => fday.day().to_string(),
                1 => (i64::from(fday.day()) - dim - 1).to_string(),
                _ => {
                    let v = d.range(1, 31);
                    if d.chance(30) { -v } else { v }.to_string()
                }
            })
            .collect();
        parts.push(format!("BYMONTHDAY={}", days.join(",")));
    }
    if d.chance(60) {
        let n = d.range(1, 3);
        let hours: Vec<String> = (0..n)
            .map(|_| pick_hour(d, focus, focus_after).to_string())
            .collect();
        parts.push(format!("BYHOUR={}", hours.join(",")));
    }
    if d.chance(50) {
        let n = d.range(1, 3);
        let minutes: Vec<String> = (0..n).map(|_| pick_minute(d, focus).to_string()).collect();
        parts.push(format!("BYMINUTE={}", minutes.join(",")));
    }
    match d.pick(4) {
        0 => parts.push(format!("COUNT={}", d.range(1, 80))),
        1 => {
            let at = focus.and_utc() + TimeDelta::minutes(d.range(-20 * 1440, 30 * 1440));
            parts.push(format!("UNTIL={}", at.format("%Y%m%dT%H%M%SZ")));
        }
        2 => {
            let at = fday + TimeDelta::days(d.range(-20, 30));
            parts.push(format!("UNTIL={}", at.format("%Y%m%d")));
        }
        _ => {}
    }
    if d.chance(25) {
        parts.push(format!("WKST={}", WEEKDAYS[d.pick(7) as usize]));
    }
    // Part order should not matter.
    let rot = d.pick(parts.len() as u32) as usize;
    parts.rotate_left(rot);
    parts.join(";")
}

/// A rule that certainly fires on the transition day at the transition's hour,
/// so that gaps and folds are hit in a good share of cases.
fn focused_rule(d: &mut Dice, focus: NaiveDateTime, focus_after: NaiveDateTime) -> String {
    let mut parts = vec![];
    if d.chance(70) {
        parts.push("FREQ=DAILY".to_string());
    } else {
        let wd = weekday_code(focus.weekday());
        let other = WEEKDAYS[d.pick(7) as usize];
        parts.push(format!("FREQ=WEEKLY;BYDAY={wd},{other}"));
    }
    let hour = if d.chance(50) {
        focus.hour()
    } else {
        focus_after.hour()
    };
    parts.push(format!("BYHOUR={hour},{}", d.pick(24)));
    if d.chance(50) {
        parts.push(format!("BYMINUTE={},{}", focus.minute(), d.pick(60)));
    }
    if d.chance(30) {
        parts.push(format!("COUNT={}", d.range(60, 400)));
    }
    parts.join(";")
}

fn pick_hour(d: &mut Dice, focus: NaiveDateTime, focus_after: NaiveDateTime) -> u32 {
    let around = |h: u32, delta: i64| ((i64::from(h) + delta).rem_euclid(24)) as u32;
    match d.pick(10) {
        0..=3 => focus.hour(),
        4 | 5 => focus_after.hour(),
        6 | 7 => around(focus.hour(), d.range(-2, 2)),
        _ => d.pick(24),
    }
}

fn pick_minute(d: &mut Dice, focus: NaiveDateTime) -> u32 {
    match d.pick(3) {
        0 => focus.minute(),
        1 => [0, 15, 30, 45][d.pick(4) as usize],
        _ => d.pick(60),
    }
}

struct Case {
    tz: Tz,
    zone: &'static str,
    rule: RRule,
    text: String,
    dtstart: NaiveDateTime,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn case_at(d: &mut Dice, tz: Tz, zone: &'static str, focus_utc: NaiveDateTime) -> Case {
    let focus = focus_utc + secs(off(tz, focus_utc - TimeDelta::seconds(1)));
    let focus_after = focus_utc + secs(off(tz, focus_utc));
    let focused = d.chance(35);
    let text = if focused {
        focused_rule(d, focus, focus_after)
    } else {
        random_rule(d, focus, focus_after)
    };
    let rule: RRule = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    // DTSTART on the transition's weekday or day of month, so that weekly and
    // monthly defaults land on it too, or anywhere up to two years before.
    let start_day = match d.pick(4) {
        0 => focus.date() - TimeDelta::weeks(d.range(0, 8)),
        1 => focus
            .date()
            .checked_sub_months(chrono::Months::new(d.pick(24)))
            .unwrap(),
        2 => focus.date() - TimeDelta::days(d.range(0, 60)),
        _ => focus.date() - TimeDelta::days(d.range(61, 800)),
    };
    let start_time = NaiveTime::from_hms_opt(
        pick_hour(d, focus, focus_after),
        pick_minute(d, focus),
        if d.chance(20) { d.pick(60) } else { 0 },
    )
    .unwrap();
    let dtstart = start_day.and_time(start_time);
    let (from, to) = if focused {
        // Both transition days are inside the window.
        let from = focus_utc.and_utc() - TimeDelta::minutes(d.range(1440, 10 * 1440));
        (
            from,
            focus_utc.and_utc() + TimeDelta::minutes(d.range(1440, 10 * 1440)),
        )
    } else if d.chance(75) {
        // A window around the transition.
        let from = focus_utc.and_utc() - TimeDelta::minutes(d.range(0, 15 * 1440));
        (
            from,
            focus_utc.and_utc() + TimeDelta::minutes(d.range(1, 25 * 1440)),
        )
    } else {
        let from = focus_utc.and_utc() + TimeDelta::minutes(d.range(-40 * 1440, 5 * 1440));
        (from, from + TimeDelta::minutes(d.range(1, 40 * 1440)))
    };
    Case {
        tz,
        zone,
        rule,
        text,
        dtstart,
        from,
        to,
    }
}

fn show(occ: &[Occurrence]) -> Vec<String> {
    occ.iter()
        .map(|o| {
            format!(
                "{} {} {}",
                o.utc.format("%Y-%m-%dT%H:%M:%SZ"),
                o.local,
                o.offset
            )
        })
        .collect()
}

fn check_case(c: &Case) -> Result<(), TestCaseError> {
    let ctx = format!(
        "zone {} rule {} dtstart {} window {} .. {}",
        c.zone, c.text, c.dtstart, c.from, c.to
    );
    prop_assert_eq!(
        &c.rule.to_string().parse::<RRule>().unwrap(),
        &c.rule,
        "{}",
        ctx
    );
    let got = expand(&c.rule, c.dtstart, c.tz, c.from, c.to).unwrap();
    let want = reference(&c.rule, c.dtstart, c.tz, c.from, c.to);
    prop_assert_eq!(show(&got), show(&want), "{}", ctx);
    check_semantics(&c.rule, c.dtstart, c.tz, &got)
        .map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))
}

fn dice() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(any::<u32>(), 64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn matches_reference_around_transitions(vals in dice()) {
        let d = &mut Dice { vals: &vals, i: 0 };
        let all = transitions();
        let zi = d.pick(all.len() as u32) as usize;
        let (tz, ts) = &all[zi];
        let t = ts[d.pick(ts.len() as u32) as usize];
        let c = case_at(d, *tz, DST_ZONES[zi], t.at);
        check_case(&c)?;
    }

    #[test]
    fn matches_reference_in_zones_without_transitions(vals in dice()) {
        let d = &mut Dice { vals: &vals, i: 0 };
        let zone = FIXED_ZONES[d.pick(FIXED_ZONES.len() as u32) as usize];
        let tz = parse_zone(zone).unwrap();
        let focus = ymd(SCAN_FROM, 1, 1).and_time(NaiveTime::MIN)
            + TimeDelta::minutes(d.range(0, 25 * 365 * 1440));
        let c = case_at(d, tz, zone, focus);
        check_case(&c)?;
        // With no transitions nothing may move.
        let times = rule_times(&c.rule, c.dtstart);
        for o in expand(&c.rule, c.dtstart, tz, c.from, c.to).unwrap() {
            prop_assert!(times.contains(&o.local.time()));
        }
    }

    #[test]
    fn zone_change_keeps_history_and_places_each_instance_once(vals in dice()) {
        let d = &mut Dice { vals: &vals, i: 0 };
        let all = transitions();
        let (zi, zj) = (d.pick(all.len() as u32) as usize, d.pick(all.len() as u32) as usize);
        let (old_tz, ts) = &all[zi];
        let new_tz = all[zj].0;
        let t = ts[d.pick(ts.len() as u32) as usize];
        let c = case_at(d, *old_tz, DST_ZONES[zi], t.at);
        let changed_at = c.from + TimeDelta::minutes(d.range(-2 * 1440, 10 * 1440));
        let got = replan_after_zone_change(&c.rule, c.dtstart, *old_tz, new_tz, changed_at, c.from, c.to).unwrap();

        // Reference: an instance stays in the old zone if it was due before
        // the change there, otherwise it moves to the new zone.
        let last = (c.to.naive_utc() + TimeDelta::days(2)).date();
        let placed = reference_locals(&c.rule, c.dtstart, last)
            .into_iter()
            .filter(|&l| near(l, c.from, c.to))
            .map(|l| {
                let before = reference_resolve(*old_tz, l);
                if before.utc < changed_at { before } else { reference_resolve(new_tz, l) }
            })
            .collect();
        let want = finish(placed, &c.rule, c.from, c.to);
        prop_assert_eq!(
            show(&got),
            show(&want),
            "{} -> {} at {}: rule {} dtstart {} window {} .. {}",
            DST_ZONES[zi], DST_ZONES[zj], changed_at, c.text, c.dtstart, c.from, c.to
        );

        // History equals the old zone's own plan.
        let old_only = expand(&c.rule, c.dtstart, *old_tz, c.from, c.to.min(changed_at)).unwrap();
        let offsets_old: Vec<_> = got.iter().filter(|o| o.utc < changed_at && old_only.contains(o)).collect();
        let before_change: Vec<_> = old_only.iter().filter(|o| o.utc < changed_at).collect();
        prop_assert_eq!(offsets_old, before_change);
    }
}
