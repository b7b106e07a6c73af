//! Checks an instrument definition before it is used for scoring.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::definition::{Instrument, ItemType, INSTRUMENT_FORMAT_VERSION};
use crate::text::{refused_char, TextKind};

/// One problem in a definition file, with its path, e.g. `items[3].linkId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstrumentIssue {
    pub path: String,
    pub message: String,
}

impl fmt::Display for InstrumentIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Bound on every ordinal value and integer limit, so that sums, reverse
/// scoring and prorating of any clinic definition cannot overflow.
pub const MAX_ABS_VALUE: i64 = 1_000_000_000;

fn in_bounds(v: i64) -> bool {
    (-MAX_ABS_VALUE..=MAX_ABS_VALUE).contains(&v)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
        })
}

/// Parses and checks a definition; returns every problem found.
pub fn load_instrument(json: &str) -> Result<Instrument, Vec<InstrumentIssue>> {
    let inst: Instrument = crate::json::from_text(json).map_err(|e| {
        vec![InstrumentIssue {
            path: String::new(),
            // serde's message may quote the file; the file is the clinic's own, not patient data.
            message: format!("line {} column {}: {e}", e.line(), e.column()),
        }]
    })?;
    let issues = check(&inst);
    if issues.is_empty() {
        Ok(inst)
    } else {
        Err(issues)
    }
}

/// Every semantic problem of a decoded definition.
pub fn check(inst: &Instrument) -> Vec<InstrumentIssue> {
    let mut out = Vec::new();
    let mut bad = |path: String, message: &str| {
        out.push(InstrumentIssue {
            path,
            message: message.to_string(),
        })
    };
    if inst.format_version != INSTRUMENT_FORMAT_VERSION {
        bad(
            "format_version".into(),
            "unsupported format version (this build reads 1)",
        );
    }
    if !is_token(&inst.id) {
        bad("id".into(), "must be 1 to 64 of a-z, 0-9, '_', '-', '.'");
    }
    let parts: Vec<&str> = inst.version.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        bad("version".into(), "must be MAJOR.MINOR.PATCH");
    }
    if inst.items.is_empty() {
        bad("items".into(), "must not be empty");
    }
    text_chars(&inst.title, TextKind::Line, "title".into(), &mut bad);
    if let Some(t) = &inst.preamble {
        text_chars(t, TextKind::Prose, "preamble".into(), &mut bad);
    }
    if let Some(t) = &inst.licence.notice {
        text_chars(t, TextKind::Prose, "licence.notice".into(), &mut bad);
    }
    for (k, sub) in inst.scoring.subscales.iter().enumerate() {
        let p = format!("scoring.subscales[{k}].title");
        text_chars(&sub.title, TextKind::Line, p, &mut bad);
    }
    for (k, b) in inst.scoring.bands.iter().enumerate() {
        let p = format!("scoring.bands[{k}].label");
        text_chars(&b.label, TextKind::Line, p, &mut bad);
    }
    for (k, r) in inst.scoring.risk.iter().enumerate() {
        let p = format!("scoring.risk[{k}].concern");
        text_chars(&r.concern, TextKind::Line, p, &mut bad);
    }
    for (name, set) in &inst.answer_sets {
        check_options(set, &format!("answer_sets.{name}"), &mut bad);
    }
    let mut seen = BTreeSet::new();
    for (i, item) in inst.items.iter().enumerate() {
        let p = format!("items[{i}]");
        if !is_token(&item.link_id) {
            bad(
                format!("{p}.linkId"),
                "must be 1 to 64 of a-z, 0-9, '_', '-', '.'",
            );
        }
        if !seen.insert(item.link_id.as_str()) {
            bad(format!("{p}.linkId"), "duplicate linkId");
        }
        if item.text.trim().is_empty() {
            bad(format!("{p}.text"), "must not be empty");
        }
        text_chars(&item.text, TextKind::Prose, format!("{p}.text"), &mut bad);
        match item.item_type {
            ItemType::Choice => match (&item.answer_set, &item.options) {
                (Some(s), None) if !inst.answer_sets.contains_key(s) => {
                    bad(format!("{p}.answer_set"), "unknown answer set")
                }
                (Some(_), None) => {}
                (None, Some(o)) => check_options(o, &format!("{p}.options"), &mut bad),
                _ => bad(
                    p.clone(),
                    "a choice item needs exactly one of answer_set or options",
                ),
            },
            ItemType::Integer => match (item.min, item.max) {
                (Some(lo), Some(hi)) if lo <= hi && in_bounds(lo) && in_bounds(hi) => {}
                (Some(lo), Some(hi)) if lo <= hi => bad(
                    p.clone(),
                    "min and max must lie within -1000000000..=1000000000",
                ),
                _ => bad(p.clone(), "an integer item needs min <= max"),
            },
            ItemType::Text => {
                if item.reverse {
                    bad(
                        format!("{p}.reverse"),
                        "a text item cannot be reverse-scored",
                    );
                }
            }
        }
        if item.item_type != ItemType::Choice
            && (item.answer_set.is_some() || item.options.is_some())
        {
            bad(p.clone(), "only choice items have answer options");
        }
    }
    let scored = |id: &str| inst.item(id).is_some_and(|i| i.item_type != ItemType::Text);
    let s = &inst.scoring;
    if let Some(items) = &s.total.items {
        for (i, id) in items.iter().enumerate() {
            if !scored(id) {
                bad(
                    format!("scoring.total.items[{i}]"),
                    "not a choice or integer item",
                );
            }
        }
    }
    let n_total = inst.total_items().len();
    if n_total == 0 {
        bad("scoring.total".into(), "no scored items");
    }
    if s.total.max_missing >= n_total.max(1) {
        bad(
            "scoring.total.max_missing".into(),
            "must be less than the number of scored items",
        );
    }
    let mut sub_ids = BTreeSet::new();
    for (k, sub) in s.subscales.iter().enumerate() {
        let p = format!("scoring.subscales[{k}]");
        if !is_token(&sub.id) || !sub_ids.insert(sub.id.as_str()) {
            bad(format!("{p}.id"), "must be a unique token");
        }
        if sub.items.is_empty() {
            bad(format!("{p}.items"), "must not be empty");
        }
        for (i, id) in sub.items.iter().enumerate() {
            if !scored(id) {
                bad(format!("{p}.items[{i}]"), "not a choice or integer item");
            }
        }
        if sub.max_missing >= sub.items.len().max(1) {
            bad(
                format!("{p}.max_missing"),
                "must be less than the number of items",
            );
        }
    }
    let mut last_max: Option<f64> = None;
    for (k, b) in s.bands.iter().enumerate() {
        let p = format!("scoring.bands[{k}]");
        if !is_token(&b.id) || b.id.contains('-') {
            bad(format!("{p}.id"), "must be lowercase_with_underscores");
        }
        if b.min > b.max {
            bad(p.clone(), "min is greater than max");
        }
        if last_max.is_some_and(|m| b.min <= m) {
            bad(
                format!("{p}.min"),
                "overlaps the previous band (bands must ascend)",
            );
        }
        last_max = Some(b.max);
    }
    for (k, r) in s.risk.iter().enumerate() {
        let p = format!("scoring.risk[{k}]");
        match inst.item(&r.item) {
            Some(item) => match inst.value_range(item) {
                Some((lo, hi)) if r.at_least > lo && r.at_least <= hi => {}
                Some(_) => bad(
                    format!("{p}.at_least"),
                    "must lie above the item's lowest value and within its range",
                ),
                None => bad(
                    format!("{p}.item"),
                    "a risk item must be a choice or integer item",
                ),
            },
            None => bad(format!("{p}.item"), "unknown item"),
        }
        if !inst.item(&r.item).is_some_and(|i| i.required) {
            bad(
                format!("{p}.item"),
                "a risk item must be required, so it is never skipped silently",
            );
        }
        if !is_token(&r.concern) {
            bad(format!("{p}.concern"), "must be a token, e.g. suicidality");
        }
    }
    if let Some(rc) = &s.reliable_change {
        let jt = match (rc.sd, rc.reliability) {
            (Some(sd), Some(r)) => {
                if !(sd > 0.0 && sd.is_finite()) {
                    bad("scoring.reliable_change.sd".into(), "must be positive");
                }
                if !(r > 0.0 && r < 1.0) {
                    bad(
                        "scoring.reliable_change.reliability".into(),
                        "must be between 0 and 1",
                    );
                }
                true
            }
            (None, None) => false,
            _ => {
                bad(
                    "scoring.reliable_change".into(),
                    "sd and reliability go together",
                );
                true
            }
        };
        match rc.threshold {
            Some(t) if !(t > 0.0 && t.is_finite()) => bad(
                "scoring.reliable_change.threshold".into(),
                "must be positive",
            ),
            None if !jt => bad(
                "scoring.reliable_change".into(),
                "needs sd and reliability, or a published threshold",
            ),
            _ => {}
        }
    }
    out
}

/// Refuses control characters and bidi overrides in display text.
fn text_chars(text: &str, kind: TextKind, path: String, bad: &mut impl FnMut(String, &str)) {
    if let Some(why) = refused_char(text, kind) {
        bad(path, &why);
    }
}

fn check_options(
    opts: &[super::definition::AnswerOption],
    path: &str,
    bad: &mut impl FnMut(String, &str),
) {
    if opts.len() < 2 {
        bad(path.to_string(), "needs at least two options");
    }
    let mut values = BTreeSet::new();
    for (i, o) in opts.iter().enumerate() {
        if !values.insert(o.value) {
            bad(format!("{path}[{i}].value"), "duplicate ordinal value");
        }
        if !in_bounds(o.value) {
            bad(
                format!("{path}[{i}].value"),
                "must lie within -1000000000..=1000000000",
            );
        }
        if o.text.trim().is_empty() {
            bad(format!("{path}[{i}].text"), "must not be empty");
        }
        text_chars(&o.text, TextKind::Line, format!("{path}[{i}].text"), bad);
    }
}
