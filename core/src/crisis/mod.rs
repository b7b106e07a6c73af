//! Crisis resources keyed by the patient's **country**, never by language
//! (issue 10): a German speaker in Austria needs 142, not a German number, and
//! an English speaker in the US must never be shown UK lines.
//!
//! The sets are data, one file per country in `core/data/crisis/<CC>.json`,
//! compiled into the library and parsed once. `international.json` is used for
//! a patient whose country is unknown: a directory and the advice to call the
//! local emergency number, with no specific number at all. See
//! `docs/crisis-resources.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::profile::{is_iso_country, locale_region};

/// `country` value of the set used when the country is unknown.
pub const INTERNATIONAL: &str = "international";

/// Language used when an entry has no text in the patient's language.
pub const FALLBACK_LANGUAGE: &str = "en";

/// The shipped sets: file stem and contents.
const SHIPPED: &[(&str, &str)] = &[
    ("AT", include_str!("../../data/crisis/AT.json")),
    ("AU", include_str!("../../data/crisis/AU.json")),
    ("BE", include_str!("../../data/crisis/BE.json")),
    ("CA", include_str!("../../data/crisis/CA.json")),
    ("CH", include_str!("../../data/crisis/CH.json")),
    ("DE", include_str!("../../data/crisis/DE.json")),
    ("DK", include_str!("../../data/crisis/DK.json")),
    ("ES", include_str!("../../data/crisis/ES.json")),
    ("FI", include_str!("../../data/crisis/FI.json")),
    ("FR", include_str!("../../data/crisis/FR.json")),
    ("GB", include_str!("../../data/crisis/GB.json")),
    ("IE", include_str!("../../data/crisis/IE.json")),
    ("IT", include_str!("../../data/crisis/IT.json")),
    ("NL", include_str!("../../data/crisis/NL.json")),
    ("NO", include_str!("../../data/crisis/NO.json")),
    ("NZ", include_str!("../../data/crisis/NZ.json")),
    ("PL", include_str!("../../data/crisis/PL.json")),
    ("PT", include_str!("../../data/crisis/PT.json")),
    ("SE", include_str!("../../data/crisis/SE.json")),
    ("US", include_str!("../../data/crisis/US.json")),
    (
        INTERNATIONAL,
        include_str!("../../data/crisis/international.json"),
    ),
];

/// One crisis service as shown to a patient, in one language. Also the
/// format of a program's own entries (`crisis_resources` in a program file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisResource {
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Number to text, if the service takes text messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Entries keyed by country, as a program's `crisis_resources` holds them.
pub type ResourcesByCountry = BTreeMap<String, Vec<CrisisResource>>;

/// The country a key of [`ResourcesByCountry`] names: `GB` itself, or the
/// region of a locale such as `en-GB` or `zh-Hant-TW`. `None` for a bare
/// language (`en`), which names no country and is rejected by the program
/// validator.
pub fn key_country(key: &str) -> Option<String> {
    if key.len() == 2 && key.bytes().all(|b| b.is_ascii_uppercase()) {
        return Some(key.to_string());
    }
    locale_region(key)
}

/// The entries of `own` for patients in `country` (ISO 3166-1 alpha-2, any
/// case), from every key naming that country. Never another country's
/// entries: with none for `country` this is empty.
pub fn own_resources_for_country(own: &ResourcesByCountry, country: &str) -> Vec<CrisisResource> {
    let country = country.trim().to_ascii_uppercase();
    own.iter()
        .filter(|(k, _)| key_country(k).as_deref() == Some(country.as_str()))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

/// One country's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountrySet {
    /// ISO 3166-1 alpha-2 code, or [`INTERNATIONAL`].
    pub country: String,
    /// Every emergency number of the country, most useful first (empty only
    /// in the international set).
    pub emergency_numbers: Vec<String>,
    /// National services, in the order shown.
    pub resources: Vec<SetEntry>,
    /// The emergency services entry, always shown last.
    pub emergency: SetEntry,
}

/// One service in a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetEntry {
    pub name: Text,
    /// Per language (`{"en": ..., "de": ...}`); `en` is required.
    pub description: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    /// Further numbers of the same service that its description mentions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_numbers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The service's official page the entry was checked against.
    pub source: String,
    /// `YYYY-MM-DD`.
    pub last_verified: String,
}

/// A proper name (one string for all languages) or text per language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Text {
    Same(String),
    ByLanguage(BTreeMap<String, String>),
}

/// Text in `language`, else in [`FALLBACK_LANGUAGE`].
fn pick<'a>(map: &'a BTreeMap<String, String>, language: &str) -> &'a str {
    map.get(language)
        .or_else(|| map.get(FALLBACK_LANGUAGE))
        .or_else(|| map.values().next())
        .map_or("", String::as_str)
}

impl Text {
    pub fn get(&self, language: &str) -> &str {
        match self {
            Text::Same(s) => s,
            Text::ByLanguage(m) => pick(m, language),
        }
    }
}

impl SetEntry {
    /// The entry as shown to a patient speaking `language`.
    pub fn to_resource(&self, language: &str) -> CrisisResource {
        CrisisResource {
            name: self.name.get(language).to_string(),
            description: pick(&self.description, language).to_string(),
            phone: self.phone.clone(),
            sms: self.sms.clone(),
            url: self.url.clone(),
        }
    }

    /// Every number the entry shows, in fields or in its text.
    pub fn numbers(&self) -> impl Iterator<Item = &String> {
        self.phone
            .iter()
            .chain(&self.sms)
            .chain(&self.other_numbers)
    }
}

impl CountrySet {
    /// Every number this set may show, normalised to digits.
    pub fn all_numbers(&self) -> BTreeSet<String> {
        self.resources
            .iter()
            .chain(std::iter::once(&self.emergency))
            .flat_map(SetEntry::numbers)
            .chain(&self.emergency_numbers)
            .map(|n| digits(n))
            .collect()
    }
}

/// A number without its spacing, for comparison (`116 123` = `116123`).
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Every number written in `text`: runs of digits joined by single spaces,
/// so "0800 111 0 111" is one number and "15 (SAMU) or 112" two.
pub fn numbers_in_text(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            cur.push(c);
        } else if c == ' ' && !cur.is_empty() && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            // A space between digits continues the number.
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Validates one set file. `expected` is the file's stem (`DE` or
/// `international`); `today` bounds `last_verified` (pass `None` to skip that
/// check, as the runtime does: a device with a wrong clock must not lose its
/// crisis lines). Returns every problem found, each naming where it is.
pub fn validate_set(
    expected: &str,
    json: &str,
    today: Option<NaiveDate>,
) -> Result<CountrySet, Vec<String>> {
    let set: CountrySet =
        crate::json::from_text(json).map_err(|e| vec![format!("{expected}: {e}")])?;
    let mut issues = Vec::new();
    let mut issue = |at: &str, why: String| issues.push(format!("{expected}: {at}: {why}"));
    let international = expected == INTERNATIONAL;
    if set.country != expected {
        issue(
            "country",
            format!("{:?} does not match the file name", set.country),
        );
    }
    if !international && !is_iso_country(expected) {
        issue("country", "is not an ISO 3166-1 alpha-2 code".into());
    }
    if international {
        if !set.emergency_numbers.is_empty() {
            issue(
                "emergency_numbers",
                "the international set names no emergency number: there is none for every country"
                    .into(),
            );
        }
    } else if set.emergency_numbers.is_empty() {
        issue(
            "emergency_numbers",
            "list the country's emergency number(s)".into(),
        );
    }
    for (i, n) in set.emergency_numbers.iter().enumerate() {
        if !is_number(n) {
            issue(
                &format!("emergency_numbers[{i}]"),
                format!("{n:?} is not a number (digits and spaces)"),
            );
        }
    }
    let allowed = set.all_numbers();
    let entries = set
        .resources
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("resources[{i}]"), e))
        .chain(std::iter::once(("emergency".to_string(), &set.emergency)));
    for (at, e) in entries {
        if e.name.get(FALLBACK_LANGUAGE).trim().is_empty() {
            issue(&format!("{at}.name"), "is empty".into());
        }
        if let Text::ByLanguage(m) = &e.name {
            if !m.contains_key(FALLBACK_LANGUAGE) {
                issue(&format!("{at}.name"), "needs an \"en\" text".into());
            }
        }
        match e.description.get(FALLBACK_LANGUAGE) {
            Some(t) if !t.trim().is_empty() => {}
            _ => issue(&format!("{at}.description"), "needs an \"en\" text".into()),
        }
        for (lang, text) in &e.description {
            if text.trim().is_empty() {
                issue(&format!("{at}.description.{lang}"), "is empty".into());
            }
            for n in numbers_in_text(text) {
                if !allowed.contains(&digits(&n)) {
                    issue(
                        &format!("{at}.description.{lang}"),
                        format!("mentions {n}, which is not a number of this set"),
                    );
                }
            }
        }
        for (field, n) in [("phone", &e.phone), ("sms", &e.sms)] {
            if let Some(n) = n {
                if !is_number(n) {
                    issue(
                        &format!("{at}.{field}"),
                        format!("{n:?} is not a number (digits and spaces)"),
                    );
                }
                if international {
                    issue(
                        &format!("{at}.{field}"),
                        "the international set shows no number".into(),
                    );
                }
            }
        }
        for n in &e.other_numbers {
            if !is_number(n) {
                issue(
                    &format!("{at}.other_numbers"),
                    format!("{n:?} is not a number (digits and spaces)"),
                );
            }
        }
        if international && !e.other_numbers.is_empty() {
            issue(
                &format!("{at}.other_numbers"),
                "the international set shows no number".into(),
            );
        }
        if e.phone.is_none() && e.sms.is_none() && e.url.is_none() && at != "emergency" {
            issue(&at, "give at least one of phone, sms or url".into());
        }
        if let Some(u) = &e.url {
            if !is_https(u) {
                issue(
                    &format!("{at}.url"),
                    format!("{u:?} is not an https:// URL"),
                );
            }
        }
        if !is_https(&e.source) {
            issue(
                &format!("{at}.source"),
                "must be the https:// page of the service".into(),
            );
        }
        match NaiveDate::parse_from_str(&e.last_verified, "%Y-%m-%d") {
            Err(_) => issue(
                &format!("{at}.last_verified"),
                format!("{:?} is not a date YYYY-MM-DD", e.last_verified),
            ),
            Ok(d) if today.is_some_and(|t| d > t) => {
                issue(&format!("{at}.last_verified"), "is in the future".into())
            }
            Ok(_) => {}
        }
    }
    if !international {
        match &set.emergency.phone {
            Some(p) if set.emergency_numbers.iter().any(|n| digits(n) == digits(p)) => {}
            _ => issue("emergency.phone", "must be one of emergency_numbers".into()),
        }
    }
    if issues.is_empty() {
        Ok(set)
    } else {
        Err(issues)
    }
}

fn is_number(n: &str) -> bool {
    !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit() || b == b' ')
        && n.bytes().any(|b| b.is_ascii_digit())
        && !n.starts_with(' ')
        && !n.ends_with(' ')
}

fn is_https(u: &str) -> bool {
    u.strip_prefix("https://")
        .is_some_and(|h| !h.is_empty() && !h.starts_with('/') && !h.contains(char::is_whitespace))
}

struct Sets {
    by_country: BTreeMap<String, CountrySet>,
    international: CountrySet,
}

fn sets() -> &'static Sets {
    static SETS: OnceLock<Sets> = OnceLock::new();
    SETS.get_or_init(|| {
        let mut by_country = BTreeMap::new();
        let mut international = None;
        for (stem, json) in SHIPPED {
            // A set that fails validation is left out, so that country falls
            // back to the international set (no number) rather than a wrong
            // one. The shipped-sets test keeps this from happening.
            if let Ok(set) = validate_set(stem, json, None) {
                if *stem == INTERNATIONAL {
                    international = Some(set);
                } else {
                    by_country.insert(set.country.clone(), set);
                }
            }
        }
        Sets {
            by_country,
            international: international.unwrap_or_else(last_resort),
        }
    })
}

/// Used only if the international file were unreadable.
fn last_resort() -> CountrySet {
    let text = |s: &str| BTreeMap::from([(FALLBACK_LANGUAGE.to_string(), s.to_string())]);
    CountrySet {
        country: INTERNATIONAL.into(),
        emergency_numbers: Vec::new(),
        resources: vec![SetEntry {
            name: Text::Same("Find A Helpline".into()),
            description: text("Free, confidential crisis lines, searchable by country."),
            phone: None,
            sms: None,
            other_numbers: Vec::new(),
            url: Some("https://findahelpline.com".into()),
            source: "https://findahelpline.com".into(),
            last_verified: "2026-12-05".into(),
        }],
        emergency: SetEntry {
            name: Text::Same("Emergency services".into()),
            description: text("If you are in danger right now, call your local emergency number."),
            phone: None,
            sms: None,
            other_numbers: Vec::new(),
            url: None,
            source: "https://findahelpline.com".into(),
            last_verified: "2026-12-05".into(),
        },
    }
}

/// The raw shipped files as `(stem, json)`, for validation in tests.
pub fn shipped_sets() -> &'static [(&'static str, &'static str)] {
    SHIPPED
}

/// Countries with a built-in set, sorted.
pub fn supported_countries() -> Vec<&'static str> {
    sets().by_country.keys().map(String::as_str).collect()
}

fn normalise(country: &str) -> String {
    country.trim().to_ascii_uppercase()
}

/// The built-in set for `country` (case-insensitive), if there is one.
pub fn country_set(country: &str) -> Option<&'static CountrySet> {
    sets().by_country.get(&normalise(country))
}

/// The set shown when the country is unknown.
pub fn international_set() -> &'static CountrySet {
    &sets().international
}

/// The country's emergency numbers, most useful first; empty when unknown.
pub fn emergency_numbers(country: &str) -> &'static [String] {
    country_set(country).map_or(&[], |s| s.emergency_numbers.as_slice())
}

/// The crisis resources for a patient, never empty:
///
/// 1. the program's own entries (`own`, its `crisis_resources`) for the
///    patient's country (a clinic's line);
/// 2. the country's national set, minus entries the program already shows;
/// 3. the country's emergency services entry, last.
///
/// With no country or one without a built-in set, the program's entries for
/// that country (if any) and then the international set: a directory and
/// "call your local emergency number", never a specific foreign number.
/// Texts are in `language` where the set has it, else in English.
pub fn resources_for(
    country: Option<&str>,
    language: &str,
    own: Option<&ResourcesByCountry>,
) -> Vec<CrisisResource> {
    let language = language.to_ascii_lowercase();
    let country = country.map(normalise).filter(|c| is_iso_country(c));
    let own: Vec<CrisisResource> = match (&country, own) {
        (Some(c), Some(o)) => own_resources_for_country(o, c),
        _ => Vec::new(),
    };
    let set = country
        .as_deref()
        .and_then(country_set)
        .unwrap_or_else(international_set);
    let shown: BTreeSet<String> = own
        .iter()
        .flat_map(|r| r.phone.iter().chain(&r.sms))
        .map(|n| digits(n))
        .collect();
    let duplicate = |e: &SetEntry| {
        e.phone
            .iter()
            .chain(&e.sms)
            .any(|n| shown.contains(&digits(n)))
    };
    let mut out = own.clone();
    out.extend(
        set.resources
            .iter()
            .filter(|e| !duplicate(e))
            .map(|e| e.to_resource(&language)),
    );
    out.push(set.emergency.to_resource(&language));
    out
}

/// Where a number of another country's set appears for `country`: the first
/// other country whose set has it while `country`'s does not. Used by the
/// program validator so a program cannot put a foreign number in front of a
/// patient. `None` when `country` has no built-in set to compare with.
pub fn foreign_owner(country: &str, number: &str) -> Option<&'static str> {
    let own = country_set(country)?;
    let n = digits(number);
    if n.is_empty() || own.all_numbers().contains(&n) {
        return None;
    }
    sets()
        .by_country
        .values()
        .find(|s| s.country != own.country && s.all_numbers().contains(&n))
        .map(|s| s.country.as_str())
}
