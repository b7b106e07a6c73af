//! RRULE checks for program files.
//!
//! `check_rrule` is the single seam to the recurrence parser, so that the
//! validator and the schedule engine agree on what a valid rule is.
//! `program_rule_problems` adds rules that only matter for templates.

/// Parses `s` with the schedule engine's parser; the error names the bad part.
pub(crate) fn check_rrule(s: &str) -> Result<(), String> {
    local::parse(s)
}

/// Problems with a syntactically valid rule when used in a program, which is
/// relative to an enrolment date rather than anchored in the calendar.
pub(crate) fn program_rule_problems(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in s.split(';') {
        let name = part.split('=').next().unwrap_or("").to_ascii_uppercase();
        if name == "UNTIL" {
            out.push(
                "UNTIL is a calendar date and programs are relative to enrolment; use COUNT"
                    .to_string(),
            );
        }
    }
    out
}

/// Shortest time between two occurrences, in minutes, for rules simple
/// enough to tell without expanding them (no BY* parts other than a single
/// BYDAY weekday on a weekly rule); None otherwise.
pub(crate) fn min_gap_minutes(s: &str) -> Option<i64> {
    let mut freq = None;
    let mut interval = 1i64;
    for part in s.split(';') {
        let (name, value) = part.split_once('=')?;
        match name.to_ascii_uppercase().as_str() {
            "FREQ" => freq = Some(value.to_ascii_uppercase()),
            "INTERVAL" => interval = value.parse().ok()?,
            "COUNT" | "UNTIL" | "WKST" => {}
            "BYDAY" if !value.contains(',') && value.len() == 2 => {}
            _ => return None,
        }
    }
    let day = 24 * 60;
    let unit = match freq?.as_str() {
        "DAILY" => day,
        "WEEKLY" => 7 * day,
        // The shortest month.
        "MONTHLY" => 28 * day,
        _ => return None,
    };
    Some(unit * interval)
}

/// Stand-in for `crate::schedule::RRule` until that parser lands: the same
/// RFC 5545 subset (FREQ DAILY/WEEKLY/MONTHLY, INTERVAL, BYDAY, BYMONTHDAY,
/// BYHOUR, BYMINUTE, COUNT, UNTIL).
mod local {
    pub fn parse(s: &str) -> Result<(), String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty rule".into());
        }
        if s.to_ascii_uppercase().starts_with("RRULE:") {
            return Err("write the rule without the \"RRULE:\" prefix".into());
        }
        let mut seen = Vec::new();
        let mut freq = None;
        for part in s.split(';') {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("part {part:?} is not NAME=VALUE"))?;
            let name = name.to_ascii_uppercase();
            if seen.contains(&name) {
                return Err(format!("{name} appears twice"));
            }
            seen.push(name.clone());
            let bad = |what: &str| format!("{name}={value}: {what}");
            match name.as_str() {
                "FREQ" => match value.to_ascii_uppercase().as_str() {
                    f @ ("DAILY" | "WEEKLY" | "MONTHLY") => freq = Some(f.to_string()),
                    _ => return Err(bad("supported frequencies are DAILY, WEEKLY and MONTHLY")),
                },
                "INTERVAL" => int_in(value, 1, 366).map_err(|e| bad(&e))?,
                "COUNT" => int_in(value, 1, 10_000).map_err(|e| bad(&e))?,
                "BYHOUR" => list(value, |v| int_in(v, 0, 23)).map_err(|e| bad(&e))?,
                "BYMINUTE" => list(value, |v| int_in(v, 0, 59)).map_err(|e| bad(&e))?,
                "BYMONTHDAY" => list(value, |v| {
                    let n: i32 = v.parse().map_err(|_| format!("{v:?} is not a number"))?;
                    if n == 0 || !(-31..=31).contains(&n) {
                        return Err(format!(
                            "{n} is not a day of the month (1 to 31 or -31 to -1)"
                        ));
                    }
                    Ok(())
                })
                .map_err(|e| bad(&e))?,
                "BYDAY" => list(value, weekday).map_err(|e| bad(&e))?,
                "UNTIL" => until(value).map_err(|e| bad(&e))?,
                "WKST" => weekday(value).map_err(|e| bad(&e))?,
                _ => return Err(format!("unsupported part {name}")),
            }
        }
        let freq = freq.ok_or("FREQ is required")?;
        if seen.iter().any(|n| n == "COUNT") && seen.iter().any(|n| n == "UNTIL") {
            return Err("COUNT and UNTIL must not both be given".into());
        }
        if freq == "DAILY" && seen.iter().any(|n| n == "BYMONTHDAY") {
            return Err("BYMONTHDAY is not supported with FREQ=DAILY".into());
        }
        if freq != "MONTHLY" && s.split(';').any(has_ordinal_day) {
            return Err("BYDAY ordinals such as 1MO need FREQ=MONTHLY".into());
        }
        Ok(())
    }

    fn int_in(v: &str, lo: u32, hi: u32) -> Result<(), String> {
        match v.parse::<u32>() {
            Ok(n) if (lo..=hi).contains(&n) && v.bytes().all(|c| c.is_ascii_digit()) => Ok(()),
            _ => Err(format!("{v:?} is not a whole number from {lo} to {hi}")),
        }
    }

    fn list(v: &str, f: impl Fn(&str) -> Result<(), String>) -> Result<(), String> {
        v.split(',').try_for_each(f)
    }

    fn weekday(v: &str) -> Result<(), String> {
        let day = v.trim_start_matches(|c: char| c == '+' || c == '-' || c.is_ascii_digit());
        let ord = &v[..v.len() - day.len()];
        if !ord.is_empty() {
            let n: i32 = ord
                .parse()
                .map_err(|_| format!("{v:?} has a bad ordinal"))?;
            if n == 0 || !(-5..=5).contains(&n) {
                return Err(format!("{v:?} has an ordinal outside -5..5"));
            }
        }
        match day.to_ascii_uppercase().as_str() {
            "MO" | "TU" | "WE" | "TH" | "FR" | "SA" | "SU" => Ok(()),
            _ => Err(format!(
                "{v:?} is not a weekday (MO, TU, WE, TH, FR, SA, SU)"
            )),
        }
    }

    fn has_ordinal_day(part: &str) -> bool {
        part.to_ascii_uppercase()
            .strip_prefix("BYDAY=")
            .is_some_and(|v| v.split(',').any(|d| d.len() > 2))
    }

    fn until(v: &str) -> Result<(), String> {
        let ok = chrono::NaiveDate::parse_from_str(v, "%Y%m%d").is_ok()
            || chrono::NaiveDateTime::parse_from_str(v.trim_end_matches('Z'), "%Y%m%dT%H%M%S")
                .is_ok();
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{v:?} is not a date YYYYMMDD or date-time YYYYMMDDTHHMMSSZ"
            ))
        }
    }
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
            "FREQ=DAILY;UNTIL=20270101T000000Z",
        ] {
            assert_eq!(check_rrule(r), Ok(()), "{r}");
        }
    }

    #[test]
    fn rejects_bad_rules() {
        for r in [
            "",
            "FREQ=YEARLY",
            "BYDAY=MO",
            "FREQ=WEEKLY;BYDAY=XX",
            "FREQ=WEEKLY;INTERVAL=0",
            "FREQ=WEEKLY;FREQ=DAILY",
            "FREQ=DAILY;COUNT=3;UNTIL=20270101",
            "RRULE:FREQ=DAILY",
            "FREQ=WEEKLY;BYDAY=1MO",
            "FREQ=DAILY;BYSETPOS=1",
        ] {
            assert!(check_rrule(r).is_err(), "{r}");
        }
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
    }

    #[test]
    fn until_is_flagged_for_programs() {
        assert_eq!(program_rule_problems("FREQ=DAILY;UNTIL=20270101").len(), 1);
        assert!(program_rule_problems("FREQ=DAILY;COUNT=3").is_empty());
    }
}
