//! What the program validator checks in a check-in's RRULE. Not a recurrence
//! engine: that is `crate::schedule` (parsing and expansion).
//!
//! Parsing goes through the schedule engine's own parser, so that a rule the
//! validator accepts is one the engine can expand. The extra checks here
//! only matter for templates, which are relative to an enrolment date.

use crate::schedule::{Frequency, RRule};

/// Parses `s`; the error names the bad part, e.g. `FREQ: ...`.
pub(crate) fn check_rrule(s: &str) -> Result<(), String> {
    parse(s).map(|_| ())
}

fn parse(s: &str) -> Result<RRule, String> {
    s.parse::<RRule>().map_err(|e| e.to_string())
}

/// Problems with a syntactically valid rule when used in a program.
pub(crate) fn program_rule_problems(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.trim_start().to_ascii_uppercase().starts_with("RRULE:") {
        // Keeps files canonical; the parser itself tolerates the prefix.
        out.push("write the rule without the \"RRULE:\" prefix".to_string());
    }
    if parse(s).is_ok_and(|r| r.until().is_some()) {
        out.push(
            "UNTIL is a calendar date and programs are relative to enrolment; use COUNT"
                .to_string(),
        );
    }
    out
}

/// Shortest time between two occurrences, in minutes, for rules simple
/// enough to tell without expanding them (no BY* parts other than a single
/// BYDAY weekday on a weekly rule); None otherwise.
pub(crate) fn min_gap_minutes(s: &str) -> Option<i64> {
    let r = parse(s).ok()?;
    let simple = r.by_month_day().is_empty()
        && r.by_hour().is_empty()
        && r.by_minute().is_empty()
        && (r.by_day().is_empty() || (r.freq() == Frequency::Weekly && r.by_day().len() == 1));
    if !simple {
        return None;
    }
    let day = 24 * 60;
    let unit = match r.freq() {
        Frequency::Daily => day,
        Frequency::Weekly => 7 * day,
        // The shortest month.
        Frequency::Monthly => 28 * day,
    };
    Some(unit * i64::from(r.interval()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_subset() {
        for r in [
            "FREQ=WEEKLY;BYDAY=SU",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH",
            "FREQ=DAILY;COUNT=10",
            "FREQ=MONTHLY;BYDAY=-1FR",
            "FREQ=MONTHLY;BYMONTHDAY=1,15;BYHOUR=9;BYMINUTE=30",
        ] {
            assert_eq!(check_rrule(r), Ok(()), "{r}");
            assert!(program_rule_problems(r).is_empty(), "{r}");
        }
    }

    #[test]
    fn rejects_bad_rules_naming_the_part() {
        for (r, part) in [
            ("", "FREQ"),
            ("FREQ=YEARLY", "FREQ"),
            ("BYDAY=MO", "FREQ"),
            ("FREQ=WEEKLY;BYDAY=XX", "BYDAY"),
            ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL"),
            ("FREQ=WEEKLY;FREQ=DAILY", "FREQ"),
            ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY"),
            ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS"),
        ] {
            let e = check_rrule(r).expect_err(r);
            assert!(e.starts_with(part), "{r}: {e}");
        }
    }

    #[test]
    fn template_only_problems() {
        assert_eq!(program_rule_problems("FREQ=DAILY;UNTIL=20270101").len(), 1);
        assert_eq!(program_rule_problems("RRULE:FREQ=DAILY").len(), 1);
        assert!(program_rule_problems("FREQ=DAILY;COUNT=3").is_empty());
    }

    #[test]
    fn gaps_of_simple_rules() {
        assert_eq!(min_gap_minutes("FREQ=DAILY"), Some(1440));
        assert_eq!(
            min_gap_minutes("FREQ=WEEKLY;INTERVAL=2;COUNT=3"),
            Some(20160)
        );
        assert_eq!(min_gap_minutes("FREQ=WEEKLY;BYDAY=SU"), Some(10080));
        assert_eq!(min_gap_minutes("FREQ=WEEKLY;BYDAY=MO,TH"), None);
        assert_eq!(min_gap_minutes("FREQ=DAILY;BYHOUR=9,21"), None);
        assert_eq!(min_gap_minutes("FREQ=HOURLY"), None);
    }
}
