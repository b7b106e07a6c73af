//! Serde types of the instrument definition format (`docs/instrument-format.md`).
//!
//! Items follow FHIR R4 Questionnaire concepts (linkId, text, answer options
//! with ordinal values); `scoring` adds what FHIR leaves to each instrument.
//! Unknown fields are errors so that a typo in a clinic's file is caught.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const INSTRUMENT_FORMAT_VERSION: u32 = 1;

/// A coded concept, e.g. a LOINC code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

pub const LOINC: &str = "http://loinc.org";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Respondent {
    Patient,
    Therapist,
}

/// Who may distribute the wording. Licensed text comes from the clinic's own file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// e.g. "public-domain", "collabzium", "clinic-licensed".
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    pub format_version: u32,
    /// Stable id, e.g. `phq9`; check-ins and programs refer to it.
    pub id: String,
    /// Content version, `MAJOR.MINOR.PATCH`; stored with every response.
    pub version: String,
    pub title: String,
    pub language: String,
    pub respondent: Respondent,
    pub licence: Licence,
    /// The panel code, e.g. LOINC 44249-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Coding>,
    /// Shown above the items, e.g. "Over the last 2 weeks...".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preamble: Option<String>,
    /// Named option lists that choice items share.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub answer_sets: BTreeMap<String, Vec<AnswerOption>>,
    pub items: Vec<Item>,
    pub scoring: Scoring,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerOption {
    /// Ordinal value used for scoring (FHIR ordinalValue).
    pub value: i64,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Coding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    /// One of the answer options, answered by its ordinal value.
    Choice,
    /// A whole number in `[min, max]`.
    Integer,
    /// Free text; never scored.
    Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    #[serde(rename = "linkId")]
    pub link_id: String,
    pub text: String,
    #[serde(rename = "type")]
    pub item_type: ItemType,
    /// For choice items: the name of an entry in `answer_sets`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_set: Option<String>,
    /// ...or the options inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<AnswerOption>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Scored as `min + max - value`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reverse: bool,
    /// Submission is refused while this item is unanswered (e.g. risk items).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Coding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Sum,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsWorse,
    HigherIsBetter,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    pub total: Total,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscales: Vec<Subscale>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<Band>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risk: Vec<RiskRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliable_change: Option<ReliableChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Total {
    pub method: Method,
    /// Scored items; absent means every choice and integer item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    /// Prorate when at most this many scored items are missing; else unscorable.
    #[serde(default)]
    pub max_missing: usize,
    pub direction: Direction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Coding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscale {
    pub id: String,
    pub title: String,
    pub method: Method,
    pub items: Vec<String>,
    #[serde(default)]
    pub max_missing: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Coding>,
}

/// A severity band over the (rounded) total, inclusive at both ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// lowercase_with_underscores, e.g. `moderately_severe`.
    pub id: String,
    pub label: String,
    pub min: f64,
    pub max: f64,
}

/// An answer at or above `at_least` on `item` triggers a safety action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskRule {
    pub item: String,
    pub at_least: i64,
    /// What the risk is about, e.g. `suicidality`; shown to the therapist.
    pub concern: String,
}

/// Jacobson–Truax parameters: either the SD and reliability of a reference
/// sample, or a published reliable-change threshold in total-score units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReliableChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Where the figures come from.
    pub source: String,
}

impl Instrument {
    pub fn item(&self, link_id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.link_id == link_id)
    }

    /// The options of a choice item (inline or from its answer set).
    pub fn options<'a>(&'a self, item: &'a Item) -> &'a [AnswerOption] {
        if let Some(o) = &item.options {
            return o;
        }
        item.answer_set
            .as_ref()
            .and_then(|s| self.answer_sets.get(s))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Smallest and largest scorable value of a choice or integer item.
    pub fn value_range(&self, item: &Item) -> Option<(i64, i64)> {
        match item.item_type {
            ItemType::Choice => {
                let o = self.options(item);
                Some((
                    o.iter().map(|o| o.value).min()?,
                    o.iter().map(|o| o.value).max()?,
                ))
            }
            ItemType::Integer => Some((item.min?, item.max?)),
            ItemType::Text => None,
        }
    }

    /// Items that count towards the total, in definition order.
    pub fn total_items(&self) -> Vec<&Item> {
        match &self.scoring.total.items {
            Some(ids) => ids.iter().filter_map(|id| self.item(id)).collect(),
            None => self
                .items
                .iter()
                .filter(|i| i.item_type != ItemType::Text)
                .collect(),
        }
    }

    pub fn is_risk_item(&self, link_id: &str) -> bool {
        self.scoring.risk.iter().any(|r| r.item == link_id)
    }

    #[allow(
        clippy::expect_used,
        reason = "instrument types hold only strings, numbers and maps, which always serialize"
    )]
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("instrument types always serialize")
    }
}
