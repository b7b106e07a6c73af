//! Answer validation and scoring: pure functions of a definition and answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::definition::{Direction, Instrument, Item, ItemType, Method, ReliableChange};
use crate::error::{Error, Result};

/// One answer. Choice items are answered with the option's ordinal value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnswerValue {
    Integer(i64),
    Text(String),
}

/// Answers keyed by linkId.
pub type Answers = BTreeMap<String, AnswerValue>;

/// A link id is echoed in errors only when it is a plain token, so free
/// text typed into the wrong place never reaches a message or a log.
pub(crate) fn item_field(link_id: &str) -> String {
    let safe = !link_id.is_empty()
        && link_id.len() <= 64
        && link_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if safe {
        link_id.to_string()
    } else {
        "answers".to_string()
    }
}

fn item_or_unknown<'a>(inst: &'a Instrument, link_id: &str) -> Result<&'a Item> {
    inst.item(link_id).ok_or_else(|| {
        Error::invalid(
            item_field(link_id),
            format!("is not an item of instrument {}", inst.id),
        )
    })
}

fn allowed(inst: &Instrument, item: &Item) -> String {
    match item.item_type {
        ItemType::Choice => {
            let vals: Vec<String> = inst
                .options(item)
                .iter()
                .map(|o| o.value.to_string())
                .collect();
            format!("one of {}", vals.join(", "))
        }
        ItemType::Integer => {
            let (lo, hi) = inst.value_range(item).unwrap_or((0, 0));
            format!("a whole number from {lo} to {hi}")
        }
        ItemType::Text => "text".into(),
    }
}

/// Checks one typed answer against its item. Errors name the item, never the value.
pub fn validate_answer(inst: &Instrument, link_id: &str, value: &AnswerValue) -> Result<()> {
    let item = item_or_unknown(inst, link_id)?;
    let field = item_field(link_id);
    match (item.item_type, value) {
        (ItemType::Choice, AnswerValue::Integer(v)) => {
            if inst.options(item).iter().any(|o| o.value == *v) {
                Ok(())
            } else {
                Err(Error::invalid(
                    field,
                    format!("out of range: must be {}", allowed(inst, item)),
                ))
            }
        }
        (ItemType::Integer, AnswerValue::Integer(v)) => {
            let (lo, hi) = inst.value_range(item).unwrap_or((0, 0));
            if (lo..=hi).contains(v) {
                Ok(())
            } else {
                Err(Error::invalid(
                    field,
                    format!("out of range: must be {}", allowed(inst, item)),
                ))
            }
        }
        (ItemType::Text, AnswerValue::Text(t)) => {
            let max = item.max_length.unwrap_or(2000);
            if t.chars().count() > max {
                Err(Error::invalid(
                    field,
                    format!("too long: at most {max} characters"),
                ))
            } else if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                Err(Error::invalid(field, "must not contain control characters"))
            } else {
                Ok(())
            }
        }
        _ => Err(Error::invalid(
            field,
            format!("wrong type: must be {}", allowed(inst, item)),
        )),
    }
}

/// Decodes one JSON answer (`null` clears it) and validates it.
pub fn parse_json_answer(
    inst: &Instrument,
    link_id: &str,
    value: &serde_json::Value,
) -> Result<Option<AnswerValue>> {
    let item = item_or_unknown(inst, link_id)?;
    let wrong = || {
        Error::invalid(
            item_field(link_id),
            format!("wrong type: must be {}", allowed(inst, item)),
        )
    };
    let v = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => AnswerValue::Integer(i),
            // 1.0 is accepted as 1; 1.5 and huge numbers are not whole answers.
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => AnswerValue::Integer(f as i64),
                _ => return Err(wrong()),
            },
        },
        serde_json::Value::String(s) => AnswerValue::Text(s.clone()),
        _ => return Err(wrong()),
    };
    validate_answer(inst, link_id, &v)?;
    Ok(Some(v))
}

/// Decodes a whole JSON object `{linkId: value}`; stops at the first bad answer.
pub fn parse_json_answers(
    inst: &Instrument,
    json: &serde_json::Value,
) -> Result<Vec<(String, Option<AnswerValue>)>> {
    let obj = json.as_object().ok_or_else(|| {
        Error::invalid("answers", "must be a JSON object mapping linkId to value")
    })?;
    obj.iter()
        .map(|(k, v)| Ok((k.clone(), parse_json_answer(inst, k, v)?)))
        .collect()
}

/// A triggered risk rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskHit {
    pub item: String,
    pub concern: String,
}

/// The scored result of one set of answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub instrument: String,
    pub version: String,
    pub scorable: bool,
    /// Sums are whole numbers; means are rounded to 2 decimals.
    pub total: Option<f64>,
    pub prorated: bool,
    /// Scored items left unanswered.
    pub missing: Vec<String>,
    /// Band id, e.g. `moderately_severe`; `None` without bands or total.
    pub severity: Option<String>,
    pub severity_label: Option<String>,
    /// Subscale id -> score; `None` when that subscale cannot be scored.
    pub subscales: BTreeMap<String, Option<f64>>,
    pub risk: Vec<RiskHit>,
}

impl Score {
    pub fn safety_alert(&self) -> bool {
        !self.risk.is_empty()
    }
}

fn round_half_up(x: f64) -> f64 {
    (x + 0.5).floor()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Scores `items` under the missing-item rule. Returns (score, prorated).
fn aggregate(
    inst: &Instrument,
    items: &[&Item],
    answers: &Answers,
    method: Method,
    max_missing: usize,
) -> (Option<f64>, bool, Vec<String>) {
    let mut sum = 0i64;
    let mut answered = 0usize;
    let mut missing = Vec::new();
    for item in items {
        match answers.get(&item.link_id) {
            Some(AnswerValue::Integer(v)) => {
                let v = if item.reverse {
                    let (lo, hi) = inst.value_range(item).unwrap_or((0, 0));
                    lo + hi - v
                } else {
                    *v
                };
                sum += v;
                answered += 1;
            }
            _ => missing.push(item.link_id.clone()),
        }
    }
    if answered == 0 || missing.len() > max_missing {
        return (None, false, missing);
    }
    let n = items.len() as f64;
    let prorated = !missing.is_empty();
    let value = match method {
        Method::Sum if prorated => round_half_up(sum as f64 * n / answered as f64),
        Method::Sum => sum as f64,
        Method::Mean => round2(sum as f64 / answered as f64),
    };
    (Some(value), prorated, missing)
}

/// Scores validated answers. Answers to unknown items are ignored here;
/// the check-in flow refuses them before they are stored.
pub fn score(inst: &Instrument, answers: &Answers) -> Score {
    let total_items = inst.total_items();
    let t = &inst.scoring.total;
    let (total, prorated, missing) =
        aggregate(inst, &total_items, answers, t.method, t.max_missing);
    let band = total.and_then(|v| inst.scoring.bands.iter().find(|b| v >= b.min && v <= b.max));
    let subscales = inst
        .scoring
        .subscales
        .iter()
        .map(|s| {
            let items: Vec<&Item> = s.items.iter().filter_map(|id| inst.item(id)).collect();
            (
                s.id.clone(),
                aggregate(inst, &items, answers, s.method, s.max_missing).0,
            )
        })
        .collect();
    let risk = risk_hits(inst, answers);
    Score {
        instrument: inst.id.clone(),
        version: inst.version.clone(),
        scorable: total.is_some(),
        total,
        prorated,
        missing,
        severity: band.map(|b| b.id.clone()),
        severity_label: band.map(|b| b.label.clone()),
        subscales,
        risk,
    }
}

/// Whether the answers trigger any risk rule (cheap; used on every answer).
pub fn risk_hits(inst: &Instrument, answers: &Answers) -> Vec<RiskHit> {
    inst.scoring
        .risk
        .iter()
        .filter(
            |r| matches!(answers.get(&r.item), Some(AnswerValue::Integer(v)) if *v >= r.at_least),
        )
        .map(|r| RiskHit {
            item: r.item.clone(),
            concern: r.concern.clone(),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeCategory {
    ReliablyImproved,
    ReliablyDeteriorated,
    NoReliableChange,
}

/// Jacobson–Truax reliable change of `latest` against `baseline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliableChangeResult {
    pub baseline: f64,
    pub latest: f64,
    pub difference: f64,
    /// RCI = difference / S_diff; absent when only a published threshold is known.
    pub rci: Option<f64>,
    /// Smallest absolute difference that counts as reliable.
    pub threshold: f64,
    pub category: ChangeCategory,
}

/// S_diff = sqrt(2) * SD * sqrt(1 - r), the standard error of a difference;
/// `None` without SD and reliability (or when it is not positive).
fn s_diff(rc: &ReliableChange) -> Option<f64> {
    let s = (2.0f64).sqrt() * rc.sd? * (1.0 - rc.reliability?).sqrt();
    (s > 0.0).then_some(s)
}

/// The smallest difference that is reliable at `z` (1.96: the usual
/// two-sided 95%): `z * S_diff`, or a published threshold scaled by
/// `z / 1.96`. Unrounded, for callers that need a criterion other than 1.96.
pub fn reliable_threshold(rc: &ReliableChange, z: f64) -> Option<f64> {
    match (s_diff(rc), rc.threshold) {
        (Some(s), _) => Some(z * s),
        (None, Some(t)) if rc.sd.is_none() || rc.reliability.is_none() => Some(t * z / 1.96),
        _ => None,
    }
}

/// S_diff = sqrt(2) * SD * sqrt(1 - r); reliable when |RCI| > 1.96. A
/// published threshold is used as is (reliable when |difference| >= it).
pub fn reliable_change(
    rc: &ReliableChange,
    direction: Direction,
    baseline: f64,
    latest: f64,
) -> Option<ReliableChangeResult> {
    let difference = latest - baseline;
    let (rci, threshold, reliable) = match (rc.sd, rc.reliability, rc.threshold) {
        (Some(_), Some(_), _) => {
            let s_diff = s_diff(rc)?;
            let rci = difference / s_diff;
            (Some(rci), 1.96 * s_diff, rci.abs() > 1.96)
        }
        (_, _, Some(t)) => (None, t, difference.abs() >= t),
        _ => return None,
    };
    let worse = match direction {
        Direction::HigherIsWorse => difference > 0.0,
        Direction::HigherIsBetter => difference < 0.0,
    };
    let category = match (reliable, worse) {
        (false, _) => ChangeCategory::NoReliableChange,
        (true, true) => ChangeCategory::ReliablyDeteriorated,
        (true, false) => ChangeCategory::ReliablyImproved,
    };
    Some(ReliableChangeResult {
        baseline,
        latest,
        difference,
        rci: rci.map(round2),
        threshold: round2(threshold),
        category,
    })
}

/// Patient minus therapist rating per subscale (and `total`), for the
/// alliance variants that share subscale ids. `None` where either side is
/// unscorable. Positive: the patient rates the alliance higher.
pub fn discrepancy(patient: &Score, therapist: &Score) -> BTreeMap<String, Option<f64>> {
    let diff = |a: Option<f64>, b: Option<f64>| Some(round2(a? - b?));
    let mut out: BTreeMap<String, Option<f64>> = patient
        .subscales
        .iter()
        .filter_map(|(id, p)| Some((id.clone(), diff(*p, *therapist.subscales.get(id)?))))
        .collect();
    out.insert("total".into(), diff(patient.total, therapist.total));
    out
}
