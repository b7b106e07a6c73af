//! Program validator: decodes a program file and reports every problem found,
//! each with the path of the offending value.
//!
//! Decoding goes section by section and element by element, so one typo in
//! module 2 does not hide a bad RRULE in check-in 5. Semantic checks then run
//! on whatever decoded; checks that need the whole picture (cycles,
//! reachability) run only when every module and check-in decoded.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::definition::*;
use super::rule_checks::{check_rrule, min_gap_minutes, program_rule_problems};
use super::spans::{join_index, join_key, line_col, offset_of, PathIndex};
use crate::crisis::{CrisisResource, ResourcesByCountry};
use crate::domain::TreatmentMode;
use crate::instruments::Registry;
use crate::text::{refused_char, TextKind};

/// Ids of the instruments the core ships (see the instrument registry).
pub const DEFAULT_INSTRUMENTS: [&str; 5] = [
    "phq9",
    "gad7",
    "alliance",
    "alliance_unguided",
    "alliance_therapist",
];

/// What the validator needs to know from outside the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationContext {
    instruments: BTreeSet<String>,
}

impl ValidationContext {
    /// A context that knows exactly these instrument ids.
    pub fn new<I, S>(instruments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ValidationContext {
            instruments: instruments.into_iter().map(Into::into).collect(),
        }
    }

    /// A context that knows every instrument of `registry`, shipped and
    /// clinic-supplied.
    pub fn from_registry(registry: &Registry) -> Self {
        ValidationContext::new(registry.ids())
    }

    /// Adds an instrument id, e.g. one a clinic loaded from its own file.
    pub fn with_instrument(mut self, id: impl Into<String>) -> Self {
        self.instruments.insert(id.into());
        self
    }

    pub fn knows_instrument(&self, id: &str) -> bool {
        self.instruments.contains(id)
    }

    pub fn instruments(&self) -> impl Iterator<Item = &str> {
        self.instruments.iter().map(String::as_str)
    }
}

impl Default for ValidationContext {
    fn default() -> Self {
        ValidationContext::new(DEFAULT_INSTRUMENTS)
    }
}

/// One problem in a program file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationIssue {
    /// Path of the offending value, e.g. `modules[3].unlock.after_module`;
    /// empty for the document itself or when only a position is known.
    pub path: String,
    pub message: String,
    /// 1-based position in the file, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line, self.column) {
            (false, _, _) => write!(f, "{}: {}", self.path, self.message),
            (true, Some(l), Some(c)) => write!(f, "line {l} column {c}: {}", self.message),
            _ => write!(f, "(document): {}", self.message),
        }
    }
}

impl std::error::Error for ValidationIssue {}

/// Decodes and checks a program file. On failure returns every problem
/// found, ordered by position in the file.
pub fn validate(json: &str, ctx: &ValidationContext) -> Result<Program, Vec<ValidationIssue>> {
    let root: Value = match crate::json::from_text(json) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![ValidationIssue {
                path: String::new(),
                message: strip_position(&e.to_string()),
                line: Some(e.line()),
                column: Some(e.column()),
            }])
        }
    };
    let mut v = Validator {
        json,
        index: PathIndex::build(json),
        issues: Vec::new(),
        ctx,
    };
    let program = v.run(&root);
    match program {
        Some(p) if v.issues.is_empty() => Ok(p),
        _ => {
            let mut issues = v.issues;
            if issues.is_empty() {
                // Defensive: a part failed to decode without saying why.
                issues.push(ValidationIssue {
                    path: String::new(),
                    message: "program could not be decoded".into(),
                    line: None,
                    column: None,
                });
            }
            crate::sort::sort_by_key(&mut issues, |i| (i.line.is_none(), i.line, i.column));
            issues.dedup();
            Err(issues)
        }
    }
}

/// Validates a program built in code, via its JSON form.
pub fn validate_program(p: &Program, ctx: &ValidationContext) -> Result<(), Vec<ValidationIssue>> {
    validate(&p.to_json_pretty(), ctx).map(|_| ())
}

const TOP_FIELDS: [&str; 6] = [
    "format_version",
    "metadata",
    "modules",
    "checkins",
    "reminders",
    "crisis_resources",
];

/// One element of a decoded list; `value` is None when it failed to decode.
struct Slot<T> {
    index: usize,
    raw_id: Option<String>,
    value: Option<T>,
}

struct Validator<'a> {
    json: &'a str,
    index: PathIndex,
    issues: Vec<ValidationIssue>,
    ctx: &'a ValidationContext,
}

impl Validator<'_> {
    fn issue(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        // A missing field has no span; point at the nearest enclosing value.
        let mut at = path.as_str();
        let mut span = self.index.span(at);
        while span.is_none() && !at.is_empty() {
            at = parent_path(at);
            span = self.index.span(at);
        }
        let pos = span.map(|(s, _)| line_col(self.json, s));
        self.issues.push(ValidationIssue {
            path,
            message: message.into(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
        });
    }

    /// Decodes the value at `path`, reporting serde's error at its own path.
    fn decode<T: DeserializeOwned>(&mut self, path: &str) -> Option<T> {
        let (start, end) = self.index.span(path)?;
        let text = &self.json[start..=end];
        let err = match crate::json::from_text::<T>(text) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let at = start + offset_of(text, err.line(), err.column());
        let mut p = self.index.path_at(at).unwrap_or(path).to_string();
        let raw = strip_position(&err.to_string());
        if raw.starts_with("duplicate field") {
            // Reported once for the whole file from the path index.
            return None;
        }
        let message = if let Some(f) = raw
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
        {
            p = join_key(&p, f);
            "required field is missing".to_string()
        } else {
            let m = friendly(&raw);
            if m == ONE_KEY {
                // serde stops at the second key; the object itself is at fault.
                p = parent_path(&p).to_string();
            }
            if m == NEEDS_VALUE {
                let name = self
                    .index
                    .span(&p)
                    .and_then(|(s, e)| crate::json::from_text::<String>(&self.json[s..=e]).ok())
                    .unwrap_or_else(|| "rule".into());
                format!("{m}: write it as {{\"{name}\": ...}}")
            } else {
                m
            }
        };
        let (line, column) = line_col(self.json, at);
        self.issues.push(ValidationIssue {
            path: p,
            message,
            line: Some(line),
            column: Some(column),
        });
        None
    }

    /// Decodes a list element by element so each bad element is reported.
    fn decode_list<T: DeserializeOwned>(
        &mut self,
        path: &str,
        value: &Value,
    ) -> (Vec<Slot<T>>, bool) {
        let Value::Array(items) = value else {
            let _ = self.decode::<Vec<T>>(path);
            return (Vec::new(), false);
        };
        let mut ok = true;
        let slots = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let value = self.decode::<T>(&join_index(path, i));
                ok &= value.is_some();
                Slot {
                    index: i,
                    raw_id: item.get("id").and_then(Value::as_str).map(str::to_string),
                    value,
                }
            })
            .collect();
        (slots, ok)
    }

    fn run(&mut self, root: &Value) -> Option<Program> {
        for dup in std::mem::take(&mut self.index.duplicates) {
            let key = dup.rsplit(['.', '[']).next().unwrap_or("").to_string();
            self.issue(dup, format!("duplicate key {key:?} in the same object"));
        }
        let Value::Object(top) = root else {
            self.issue("", "a program file must be a JSON object");
            return None;
        };
        let format_version = match top.get("format_version") {
            None => {
                self.issue("format_version", "required field is missing");
                None
            }
            Some(_) => self.decode::<u32>("format_version"),
        };
        if let Some(n) = format_version.filter(|&n| n != FORMAT_VERSION) {
            // Another version may mean anything; checking further would mislead.
            self.issue(
                "format_version",
                format!(
                    "unsupported format version {n}; this build reads version {FORMAT_VERSION}"
                ),
            );
            return None;
        }
        for k in top.keys().filter(|k| !TOP_FIELDS.contains(&k.as_str())) {
            self.issue(
                join_key("", k),
                format!(
                    "unknown field `{k}`, expected one of {}",
                    quoted_list(&TOP_FIELDS)
                ),
            );
        }
        let metadata = self.required::<Metadata>(top, "metadata");
        let (modules, modules_ok) = match top.get("modules") {
            Some(v) => self.decode_list::<Module>("modules", v),
            None => {
                self.issue("modules", "required field is missing");
                (Vec::new(), false)
            }
        };
        let (checkins, checkins_ok) = match top.get("checkins") {
            Some(v) => self.decode_list::<CheckinSchedule>("checkins", v),
            None => (Vec::new(), true),
        };
        let reminders = self.required::<ReminderPolicy>(top, "reminders");
        let (crisis, crisis_ok) = self.decode_crisis(top.get("crisis_resources"));

        let parts = Parts {
            metadata: metadata.as_ref(),
            modules: &modules,
            modules_ok,
            modules_listed: top.get("modules").is_some_and(Value::is_array),
            checkins_listed: top.get("checkins").is_none_or(Value::is_array),
            checkins: &checkins,
            reminders: reminders.as_ref(),
        };
        self.check_metadata(&parts);
        self.check_modules(&parts);
        self.check_checkins(&parts);
        self.check_primary_instrument(&parts);
        self.check_reminders(&parts);
        self.check_crisis(&crisis, crisis_ok);
        if parts.metadata.is_some() && modules_ok && checkins_ok {
            self.check_graph(&parts);
        }

        if !(modules_ok && checkins_ok && crisis_ok) {
            return None;
        }
        Some(Program {
            format_version: format_version?,
            metadata: metadata?,
            modules: modules.into_iter().filter_map(|s| s.value).collect(),
            checkins: checkins.into_iter().filter_map(|s| s.value).collect(),
            reminders: reminders?,
            crisis_resources: crisis,
        })
    }

    fn required<T: DeserializeOwned>(
        &mut self,
        top: &serde_json::Map<String, Value>,
        key: &str,
    ) -> Option<T> {
        if top.contains_key(key) {
            self.decode(key)
        } else {
            self.issue(key, "required field is missing");
            None
        }
    }

    fn decode_crisis(&mut self, v: Option<&Value>) -> (ResourcesByCountry, bool) {
        let mut out = BTreeMap::new();
        let Some(v) = v else {
            self.issue("crisis_resources", "required field is missing");
            return (out, false);
        };
        let Value::Object(map) = v else {
            let _ = self.decode::<ResourcesByCountry>("crisis_resources");
            return (out, false);
        };
        let mut ok = true;
        for (locale, list) in map {
            let path = join_key("crisis_resources", locale);
            let (slots, list_ok) = self.decode_list::<CrisisResource>(&path, list);
            ok &= list_ok;
            out.insert(
                locale.clone(),
                slots.into_iter().filter_map(|s| s.value).collect(),
            );
        }
        (out, ok)
    }
}

/// The decoded parts of a program, possibly incomplete.
struct Parts<'p> {
    metadata: Option<&'p Metadata>,
    modules: &'p [Slot<Module>],
    modules_ok: bool,
    /// False when the section is missing or not a list, so that references
    /// into it cannot be checked.
    modules_listed: bool,
    checkins_listed: bool,
    checkins: &'p [Slot<CheckinSchedule>],
    reminders: Option<&'p ReminderPolicy>,
}

impl Parts<'_> {
    fn modules(&self) -> impl DoubleEndedIterator<Item = (usize, &Module)> {
        self.modules
            .iter()
            .filter_map(|s| s.value.as_ref().map(|m| (s.index, m)))
    }

    fn checkins(&self) -> impl DoubleEndedIterator<Item = (usize, &CheckinSchedule)> {
        self.checkins
            .iter()
            .filter_map(|s| s.value.as_ref().map(|c| (s.index, c)))
    }

    /// Ids that exist in the file, decoded or not, so that one broken
    /// element does not cause "unknown" errors everywhere it is referenced.
    fn module_ids(&self) -> HashSet<&str> {
        ids(self.modules)
    }

    fn checkin_ids(&self) -> HashSet<&str> {
        ids(self.checkins)
    }

    fn last_day(&self) -> Option<u32> {
        self.metadata.map(|m| m.weeks.saturating_mul(7))
    }
}

fn ids<T: HasId>(slots: &[Slot<T>]) -> HashSet<&str> {
    slots
        .iter()
        .filter_map(|s| s.value.as_ref().map(HasId::id).or(s.raw_id.as_deref()))
        .collect()
}

trait HasId {
    fn id(&self) -> &str;
}

impl HasId for Module {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for CheckinSchedule {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Validator<'_> {
    fn check_id(&mut self, path: String, id: &str) {
        let b = id.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 64
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_');
        if !ok {
            self.issue(
                path,
                format!(
                    "id {id:?} must be 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
                ),
            );
        }
    }

    /// A one-line text: a title, label or name.
    fn check_text(&mut self, path: String, text: &str) {
        self.check_text_as(path, text, TextKind::Line);
    }

    /// Prose: newline and tab allowed.
    fn check_prose(&mut self, path: String, text: &str) {
        self.check_text_as(path, text, TextKind::Prose);
    }

    fn check_text_as(&mut self, path: String, text: &str, kind: TextKind) {
        if text.trim().is_empty() {
            self.issue(path, "must not be empty");
        } else if let Some(why) = refused_char(text, kind) {
            self.issue(path, why);
        }
    }

    fn check_locale(&mut self, path: String, locale: &str) {
        if !is_locale(locale) {
            self.issue(
                path,
                format!("{locale:?} is not a BCP 47 locale such as \"en\" or \"en-GB\""),
            );
        }
    }

    fn check_metadata(&mut self, p: &Parts) {
        let Some(m) = p.metadata else { return };
        self.check_id("metadata.id".into(), &m.id);
        let semver = m.version.split('.').count() == 3
            && m.version
                .split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
        if !semver {
            self.issue(
                "metadata.version",
                format!(
                    "version {:?} must be MAJOR.MINOR.PATCH, e.g. \"1.0.0\"",
                    m.version
                ),
            );
        }
        self.check_text("metadata.title".into(), &m.title);
        if let Some(s) = &m.summary {
            self.check_prose("metadata.summary".into(), s);
        }
        self.check_locale("metadata.locale".into(), &m.locale);
        if !(5..=36).contains(&m.weeks) {
            self.issue(
                "metadata.weeks",
                format!(
                    "{} weeks is out of range; programs run 5 to 36 weeks",
                    m.weeks
                ),
            );
        }
        if let Some(w) = m.review_week {
            if w < 1 || w > m.weeks {
                self.issue(
                    "metadata.review_week",
                    format!(
                        "week {w} is outside the program; use 1 to {} (metadata.weeks)",
                        m.weeks
                    ),
                );
            }
        }
        if m.modes.is_empty() {
            self.issue("metadata.modes", "at least one mode is required");
        }
        let mut seen = HashSet::new();
        for (i, mode) in m.modes.iter().enumerate() {
            if !seen.insert(mode) {
                self.issue(
                    format!("metadata.modes[{i}]"),
                    format!("mode {mode} is listed twice"),
                );
            }
        }
        if let Some(tz) = &m.default_time_zone {
            if tz.parse::<crate::schedule::Tz>().is_err() {
                self.issue(
                    "metadata.default_time_zone",
                    format!("unknown time zone {tz:?}; use an IANA name such as \"Europe/London\""),
                );
            }
        }
    }

    fn check_modules(&mut self, p: &Parts) {
        if p.modules_ok && p.modules.is_empty() {
            self.issue("modules", "a program needs at least one module");
        }
        let module_ids = p.module_ids();
        let checkin_ids = p.checkin_ids();
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut exercise_first: HashMap<&str, String> = HashMap::new();
        for (i, m) in p.modules() {
            let base = format!("modules[{i}]");
            self.check_id(format!("{base}.id"), &m.id);
            if let Some(j) = first.get(m.id.as_str()) {
                self.issue(
                    format!("{base}.id"),
                    format!("duplicate module id {:?} (also modules[{j}])", m.id),
                );
            } else {
                first.insert(&m.id, i);
            }
            self.check_text(format!("{base}.title"), &m.title);
            if !(1..=240).contains(&m.estimated_minutes) {
                self.issue(
                    format!("{base}.estimated_minutes"),
                    format!("{} minutes is out of range 1 to 240", m.estimated_minutes),
                );
            }
            if m.pages.is_empty() {
                self.issue(format!("{base}.pages"), "a module needs at least one page");
            }
            let mut page_ids = HashSet::new();
            for (j, page) in m.pages.iter().enumerate() {
                let pp = format!("{base}.pages[{j}]");
                self.check_id(format!("{pp}.id"), &page.id);
                if !page_ids.insert(page.id.as_str()) {
                    self.issue(
                        format!("{pp}.id"),
                        format!("duplicate page id {:?} in this module", page.id),
                    );
                }
                self.check_text(format!("{pp}.title"), &page.title);
                self.check_prose(format!("{pp}.body"), &page.body);
            }
            for (j, ex) in m.exercises.iter().enumerate() {
                let ep = format!("{base}.exercises[{j}]");
                self.check_id(format!("{ep}.id"), &ex.id);
                if let Some(other) = exercise_first.get(ex.id.as_str()) {
                    self.issue(
                        format!("{ep}.id"),
                        format!("duplicate exercise id {:?} (also {other})", ex.id),
                    );
                } else {
                    exercise_first.insert(&ex.id, ep.clone());
                }
                self.check_text(format!("{ep}.title"), &ex.title);
                self.check_prose(format!("{ep}.instructions"), &ex.instructions);
                self.check_fields(&ep, ex);
            }
            let refs = RuleRefs {
                modules: p.modules_listed.then_some(&module_ids),
                checkins: p.checkins_listed.then_some(&checkin_ids),
                last_day: p.last_day(),
            };
            self.check_rule(&m.unlock, &format!("{base}.unlock"), &refs);
        }
    }

    fn check_fields(&mut self, ep: &str, ex: &Exercise) {
        if ex.fields.is_empty() {
            self.issue(
                format!("{ep}.fields"),
                "an exercise needs at least one field",
            );
        }
        let mut ids = HashSet::new();
        for (k, f) in ex.fields.iter().enumerate() {
            let fp = format!("{ep}.fields[{k}]");
            self.check_id(format!("{fp}.id"), &f.id);
            if !ids.insert(f.id.as_str()) {
                self.issue(
                    format!("{fp}.id"),
                    format!("duplicate field id {:?} in this exercise", f.id),
                );
            }
            self.check_text(format!("{fp}.label"), &f.label);
            let kind = serde_json::to_value(f.kind).ok();
            let kind = kind.as_ref().and_then(Value::as_str).unwrap_or("?");
            if f.kind.has_options() {
                let need = if f.kind == FieldKind::Choice {
                    "2 options"
                } else {
                    "1 option"
                };
                let enough = f.options.len() >= if f.kind == FieldKind::Choice { 2 } else { 1 };
                if !enough {
                    self.issue(
                        format!("{fp}.options"),
                        format!("a {kind} field needs at least {need}"),
                    );
                }
            } else if !f.options.is_empty() {
                self.issue(
                    format!("{fp}.options"),
                    format!("a {kind} field takes no options"),
                );
            }
            let mut values = HashSet::new();
            for (o, opt) in f.options.iter().enumerate() {
                let op = format!("{fp}.options[{o}]");
                self.check_text(format!("{op}.value"), &opt.value);
                self.check_text(format!("{op}.label"), &opt.label);
                if !values.insert(opt.value.as_str()) {
                    self.issue(
                        format!("{op}.value"),
                        format!("duplicate option value {:?}", opt.value),
                    );
                }
            }
            if f.kind != FieldKind::Number {
                for (name, v) in [("min", f.min), ("max", f.max)] {
                    if v.is_some() {
                        self.issue(
                            format!("{fp}.{name}"),
                            format!("only number fields take {name}"),
                        );
                    }
                }
            } else if let (Some(lo), Some(hi)) = (f.min, f.max) {
                if lo > hi {
                    self.issue(format!("{fp}.max"), format!("max {hi} is below min {lo}"));
                }
            }
        }
    }

    fn check_rule(&mut self, rule: &UnlockRule, path: &str, refs: &RuleRefs) {
        match rule {
            UnlockRule::AtStart | UnlockRule::TherapistApproval => {}
            UnlockRule::DaysAfterStart(n) => {
                if let Some(last) = refs.last_day.filter(|&last| *n >= last) {
                    self.issue(
                        format!("{path}.days_after_start"),
                        format!("day {n} is not before the program ends (day {last})"),
                    );
                }
            }
            UnlockRule::AfterModule(m) => {
                if refs.modules.is_some_and(|ids| !ids.contains(m.as_str())) {
                    self.issue(
                        format!("{path}.after_module"),
                        format!("unknown module {m:?}"),
                    );
                }
            }
            UnlockRule::AfterCheckin(c) => {
                if refs.checkins.is_some_and(|ids| !ids.contains(c.as_str())) {
                    self.issue(
                        format!("{path}.after_checkin"),
                        format!("unknown check-in schedule {c:?}"),
                    );
                }
            }
            UnlockRule::AllOf(rs) | UnlockRule::AnyOf(rs) => {
                let key = rule.key();
                if rs.is_empty() {
                    self.issue(
                        format!("{path}.{key}"),
                        format!("{key} needs at least one rule"),
                    );
                }
                for (i, r) in rs.iter().enumerate() {
                    self.check_rule(r, &format!("{path}.{key}[{i}]"), refs);
                }
            }
        }
    }

    /// `metadata.primary_instrument` names a symptom instrument that one of
    /// the program's check-ins uses (skipped when the check-ins could not be read).
    fn check_primary_instrument(&mut self, p: &Parts) {
        let Some(id) = p.metadata.and_then(|m| m.primary_instrument.as_deref()) else {
            return;
        };
        let field = "metadata.primary_instrument";
        if crate::instruments::is_alliance_instrument(id) {
            self.issue(
                field,
                format!("{id:?} is an alliance check-in; name the symptom measure, e.g. \"phq9\""),
            );
            return;
        }
        if !p.checkins_listed || p.checkins.iter().any(|c| c.value.is_none()) {
            return;
        }
        let used: Vec<&str> = p.checkins().map(|(_, c)| c.instrument.as_str()).collect();
        if !used.contains(&id) {
            let mut symptom: Vec<&str> = used
                .into_iter()
                .filter(|i| !crate::instruments::is_alliance_instrument(i))
                .collect();
            symptom.sort_unstable();
            symptom.dedup();
            let hint = if symptom.is_empty() {
                "the program has no symptom check-in".to_string()
            } else {
                format!("its check-ins use {}", symptom.join(", "))
            };
            self.issue(
                field,
                format!("{id:?} is not used by any of the program's check-ins; {hint}"),
            );
        }
    }

    fn check_checkins(&mut self, p: &Parts) {
        let module_ids = p.module_ids();
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, c) in p.checkins() {
            let base = format!("checkins[{i}]");
            self.check_id(format!("{base}.id"), &c.id);
            if let Some(j) = first.get(c.id.as_str()) {
                self.issue(
                    format!("{base}.id"),
                    format!("duplicate check-in id {:?} (also checkins[{j}])", c.id),
                );
            } else {
                first.insert(&c.id, i);
            }
            if !self.ctx.knows_instrument(&c.instrument) {
                let known: Vec<&str> = self.ctx.instruments().collect();
                self.issue(
                    format!("{base}.instrument"),
                    format!(
                        "unknown instrument {:?}; known: {}",
                        c.instrument,
                        known.join(", ")
                    ),
                );
            }
            match &c.when {
                CheckinWhen::Recurring(r) => {
                    let rp = format!("{base}.when.recurring");
                    match check_rrule(&r.rrule) {
                        Err(e) => self.issue(format!("{rp}.rrule"), format!("invalid RRULE: {e}")),
                        Ok(()) => {
                            for problem in program_rule_problems(&r.rrule) {
                                self.issue(format!("{rp}.rrule"), problem);
                            }
                        }
                    }
                    if let Some(last) = p.last_day().filter(|&last| r.start_day >= last) {
                        self.issue(
                            format!("{rp}.start_day"),
                            format!(
                                "day {} is not before the program ends (day {last})",
                                r.start_day
                            ),
                        );
                    }
                    if let Some(q) = p.reminders.and_then(|r| r.quiet_hours) {
                        if q.contains(r.local_time) {
                            self.issue(
                                format!("{rp}.local_time"),
                                format!(
                                    "{} falls in quiet hours {}-{}, so the check-in could never be reminded",
                                    r.local_time, q.start, q.end
                                ),
                            );
                        }
                    }
                }
                CheckinWhen::AfterModule(m) => {
                    if p.modules_listed && !module_ids.contains(m.as_str()) {
                        self.issue(
                            format!("{base}.when.after_module"),
                            format!("unknown module {m:?}"),
                        );
                    }
                }
            }
            let w = c.window;
            let wp = format!("{base}.window");
            if w.closes_minutes <= w.opens_minutes {
                self.issue(
                    format!("{wp}.closes_minutes"),
                    format!(
                        "window closes ({} min) before it opens ({} min)",
                        w.closes_minutes, w.opens_minutes
                    ),
                );
            } else if w.due_minutes < w.opens_minutes || w.due_minutes > w.closes_minutes {
                self.issue(
                    format!("{wp}.due_minutes"),
                    format!(
                        "due ({} min) must lie between opens ({} min) and closes ({} min)",
                        w.due_minutes, w.opens_minutes, w.closes_minutes
                    ),
                );
            }
            if let CheckinWhen::Recurring(r) = &c.when {
                let valid = check_rrule(&r.rrule).is_ok();
                let length = i64::from(w.closes_minutes) - i64::from(w.opens_minutes);
                let gap = min_gap_minutes(&r.rrule).filter(|&gap| valid && length > gap);
                if let Some(gap) = gap {
                    // Two open occurrences at once would confuse the agenda.
                    self.issue(
                        format!("{wp}.closes_minutes"),
                        format!(
                            "window is {length} min long but occurrences can be {gap} min apart, so windows would overlap"
                        ),
                    );
                }
            }
            if let Some(modes) = &c.modes {
                if modes.is_empty() {
                    self.issue(
                        format!("{base}.modes"),
                        "list at least one mode, or leave modes out",
                    );
                }
                let mut seen = HashSet::new();
                for (k, mode) in modes.iter().enumerate() {
                    if !seen.insert(mode) {
                        self.issue(
                            format!("{base}.modes[{k}]"),
                            format!("mode {mode} is listed twice"),
                        );
                    } else if p.metadata.is_some_and(|m| !m.modes.contains(mode)) {
                        self.issue(
                            format!("{base}.modes[{k}]"),
                            format!("the program does not support {mode} mode"),
                        );
                    }
                }
            }
        }
    }

    fn check_reminders(&mut self, p: &Parts) {
        let Some(r) = p.reminders else { return };
        if !(1..=24).contains(&r.max_per_day) {
            self.issue(
                "reminders.max_per_day",
                format!("{} is out of range 1 to 24", r.max_per_day),
            );
        }
        if let Some(q) = r.quiet_hours {
            if q.start == q.end {
                self.issue(
                    "reminders.quiet_hours.end",
                    format!(
                        "quiet hours start and end are both {}; give a non-empty span",
                        q.start
                    ),
                );
            } else if q.contains(r.time_of_day) {
                self.issue(
                    "reminders.time_of_day",
                    format!(
                        "{} falls in quiet hours {}-{}",
                        r.time_of_day, q.start, q.end
                    ),
                );
            }
        }
        if let Some(b) = r.backoff {
            for (name, v) in [
                ("halve_after_ignored", b.halve_after_ignored),
                ("stop_after_ignored", b.stop_after_ignored),
            ] {
                if v == Some(0) {
                    self.issue(
                        format!("reminders.backoff.{name}"),
                        "must be at least 1; leave it out to disable",
                    );
                }
            }
            if let (Some(h), Some(s)) = (b.halve_after_ignored, b.stop_after_ignored) {
                if h >= s && h > 0 {
                    self.issue(
                        "reminders.backoff.stop_after_ignored",
                        format!("stopping after {s} ignored reminders leaves no room to halve after {h}"),
                    );
                }
            }
        }
    }

    fn check_crisis(&mut self, crisis: &ResourcesByCountry, complete: bool) {
        // Keys name a country, so a program never shows one country's lines
        // to a patient in another (issue 10).
        let mut seen: BTreeMap<String, &String> = BTreeMap::new();
        for (key, list) in crisis {
            let lp = join_key("crisis_resources", key);
            let country = crate::crisis::key_country(key);
            if !is_locale(key) && country.is_none() {
                self.check_locale(lp.clone(), key);
            } else if let Some(c) = &country {
                if !crate::domain::profile::is_iso_country(c) {
                    self.issue(
                        lp.clone(),
                        format!("{c:?} is not an ISO 3166-1 alpha-2 country code"),
                    );
                } else if let Some(first) = seen.insert(c.clone(), key) {
                    self.issue(
                        lp.clone(),
                        format!("names the same country as {first:?}; put all of {c}'s resources under one key"),
                    );
                }
            } else {
                self.issue(
                    lp.clone(),
                    format!(
                        "{key:?} is a language, not a country: key crisis resources by country (\"GB\") or by a locale with a region (\"en-GB\"), so that no patient is shown another country's numbers"
                    ),
                );
            }
            if list.is_empty() && complete {
                self.issue(lp.clone(), "list at least one resource for this country");
            }
            for (i, r) in list.iter().enumerate() {
                let rp = join_index(&lp, i);
                self.check_text(format!("{rp}.name"), &r.name);
                self.check_prose(format!("{rp}.description"), &r.description);
                if r.phone.is_none() && r.sms.is_none() && r.url.is_none() {
                    self.issue(rp.clone(), "give at least one of phone, sms or url");
                }
                if let Some(c) = &country {
                    let written = r
                        .phone
                        .iter()
                        .chain(&r.sms)
                        .map(|n| (n.clone(), "a number"))
                        .chain(
                            crate::crisis::numbers_in_text(&r.description)
                                .into_iter()
                                .map(|n| (n, "the description")),
                        );
                    for (n, where_) in written {
                        if let Some(owner) = crate::crisis::foreign_owner(c, &n) {
                            self.issue(
                                rp.clone(),
                                format!(
                                    "{where_} gives {n}, a crisis number of {owner}, not of {c}"
                                ),
                            );
                        }
                    }
                }
                for (name, num) in [("phone", &r.phone), ("sms", &r.sms)] {
                    if let Some(n) = num {
                        let digits = n.bytes().filter(u8::is_ascii_digit).count();
                        let chars_ok = n
                            .bytes()
                            .all(|c| c.is_ascii_digit() || b" +-()".contains(&c));
                        if !chars_ok || digits < 3 {
                            self.issue(
                                format!("{rp}.{name}"),
                                format!("{n:?} is not a phone number (digits, spaces, + - and parentheses)"),
                            );
                        }
                    }
                }
                if let Some(u) = &r.url {
                    let host = u.strip_prefix("https://").unwrap_or("");
                    if host.is_empty()
                        || host.starts_with('/')
                        || host.contains(char::is_whitespace)
                    {
                        self.issue(format!("{rp}.url"), format!("{u:?} is not an https:// URL"));
                    }
                }
            }
        }
    }

    fn check_graph(&mut self, p: &Parts) {
        let Some(meta) = p.metadata else { return };
        let modules: Vec<(usize, &Module)> = p.modules().collect();
        let pos: HashMap<&str, usize> = modules
            .iter()
            .enumerate()
            .rev() // the first of duplicate ids wins
            .map(|(k, (_, m))| (m.id.as_str(), k))
            .collect();
        let checkins: HashMap<&str, &CheckinSchedule> = p
            .checkins()
            .rev()
            .map(|(_, c)| (c.id.as_str(), c))
            .collect();

        // Edges module -> module it waits for, with the rule path that says so.
        let mut edges: Vec<Vec<(usize, String)>> = vec![Vec::new(); modules.len()];
        for (k, (i, m)) in modules.iter().enumerate() {
            collect_edges(
                &m.unlock,
                &format!("modules[{i}].unlock"),
                &pos,
                &checkins,
                &mut edges[k],
            );
        }
        self.report_cycles(&modules, &edges);

        // Least fixpoint of what can unlock, per mode.
        let last_day = meta.weeks.saturating_mul(7);
        let mut never: BTreeMap<usize, Vec<TreatmentMode>> = BTreeMap::new();
        for &mode in &meta.modes {
            let mut open: HashSet<&str> = HashSet::new();
            loop {
                let before = open.len();
                for (_, m) in &modules {
                    if !open.contains(m.id.as_str())
                        && satisfiable(&m.unlock, mode, last_day, &open, &checkins)
                    {
                        open.insert(&m.id);
                    }
                }
                if open.len() == before {
                    break;
                }
            }
            for (k, (_, m)) in modules.iter().enumerate() {
                if !open.contains(m.id.as_str()) {
                    never.entry(k).or_default().push(mode);
                }
            }
        }
        let mut all_modes = meta.modes.clone();
        crate::sort::sort(&mut all_modes);
        all_modes.dedup();
        for (k, mut in_modes) in never {
            let (i, m) = modules[k];
            crate::sort::sort(&mut in_modes);
            in_modes.dedup();
            let msg = if in_modes == all_modes {
                format!("module {:?} can never unlock", m.id)
            } else {
                let names: Vec<&str> = in_modes.iter().map(|m| m.as_str()).collect();
                let noun = if names.len() == 1 { "mode" } else { "modes" };
                format!(
                    "module {:?} can never unlock in {} {noun}",
                    m.id,
                    names.join(" and ")
                )
            };
            self.issue(format!("modules[{i}].unlock"), msg);
        }
    }

    fn report_cycles(&mut self, modules: &[(usize, &Module)], edges: &[Vec<(usize, String)>]) {
        let n = modules.len();
        let reach: Vec<HashSet<usize>> = (0..n)
            .map(|s| {
                let mut seen = HashSet::new();
                let mut stack: Vec<usize> = edges[s].iter().map(|e| e.0).collect();
                while let Some(x) = stack.pop() {
                    if seen.insert(x) {
                        stack.extend(edges[x].iter().map(|e| e.0));
                    }
                }
                seen
            })
            .collect();
        let mut done = vec![false; n];
        for s in 0..n {
            if done[s] || !reach[s].contains(&s) {
                continue;
            }
            let scc: HashSet<usize> = (0..n)
                .filter(|&j| reach[s].contains(&j) && reach[j].contains(&s))
                .collect();
            for &j in &scc {
                done[j] = true;
            }
            // Shortest way round from s, staying inside its component.
            let mut parent: HashMap<usize, (usize, usize)> = HashMap::new();
            let mut queue = std::collections::VecDeque::from([s]);
            let mut closing = None;
            'bfs: while let Some(x) = queue.pop_front() {
                for (e, (y, _)) in edges[x].iter().enumerate() {
                    if *y == s {
                        closing = Some((x, e));
                        break 'bfs;
                    }
                    if scc.contains(y) && !parent.contains_key(y) {
                        parent.insert(*y, (x, e));
                        queue.push_back(*y);
                    }
                }
            }
            let Some((mut x, e)) = closing else { continue };
            let mut hops = vec![(x, e)];
            while x != s {
                let (px, pe) = parent[&x];
                hops.push((px, pe));
                x = px;
            }
            hops.reverse();
            let mut names: Vec<&str> = hops
                .iter()
                .map(|&(x, _)| modules[x].1.id.as_str())
                .collect();
            names.push(&modules[s].1.id);
            let (x0, e0) = hops[0];
            self.issue(
                edges[x0][e0].1.clone(),
                format!("unlock cycle: {}", names.join(" -> ")),
            );
        }
    }
}

struct RuleRefs<'a> {
    modules: Option<&'a HashSet<&'a str>>,
    checkins: Option<&'a HashSet<&'a str>>,
    last_day: Option<u32>,
}

fn collect_edges(
    rule: &UnlockRule,
    path: &str,
    pos: &HashMap<&str, usize>,
    checkins: &HashMap<&str, &CheckinSchedule>,
    out: &mut Vec<(usize, String)>,
) {
    match rule {
        UnlockRule::AfterModule(m) => {
            if let Some(&k) = pos.get(m.as_str()) {
                out.push((k, format!("{path}.after_module")));
            }
        }
        UnlockRule::AfterCheckin(c) => {
            if let Some(CheckinWhen::AfterModule(m)) = checkins.get(c.as_str()).map(|c| &c.when) {
                if let Some(&k) = pos.get(m.as_str()) {
                    out.push((k, format!("{path}.after_checkin")));
                }
            }
        }
        UnlockRule::AllOf(rs) | UnlockRule::AnyOf(rs) => {
            for (i, r) in rs.iter().enumerate() {
                collect_edges(
                    r,
                    &format!("{path}.{}[{i}]", rule.key()),
                    pos,
                    checkins,
                    out,
                );
            }
        }
        _ => {}
    }
}

fn satisfiable(
    rule: &UnlockRule,
    mode: TreatmentMode,
    last_day: u32,
    open: &HashSet<&str>,
    checkins: &HashMap<&str, &CheckinSchedule>,
) -> bool {
    match rule {
        UnlockRule::AtStart => true,
        UnlockRule::DaysAfterStart(n) => *n < last_day,
        UnlockRule::AfterModule(m) => open.contains(m.as_str()),
        UnlockRule::AfterCheckin(c) => checkins.get(c.as_str()).is_some_and(|c| {
            c.applies_to(mode)
                && match &c.when {
                    CheckinWhen::Recurring(r) => r.start_day < last_day,
                    CheckinWhen::AfterModule(m) => open.contains(m.as_str()),
                }
        }),
        UnlockRule::TherapistApproval => mode.has_therapist(),
        UnlockRule::AllOf(rs) => {
            !rs.is_empty()
                && rs
                    .iter()
                    .all(|r| satisfiable(r, mode, last_day, open, checkins))
        }
        UnlockRule::AnyOf(rs) => rs
            .iter()
            .any(|r| satisfiable(r, mode, last_day, open, checkins)),
    }
}

/// Language, optional 4-letter script, optional region: `en`, `en-GB`, `zh-Hant-TW`.
fn is_locale(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang = parts.next().unwrap_or("");
    if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|c| c.is_ascii_lowercase()) {
        return false;
    }
    let mut rest: Vec<&str> = parts.collect();
    if rest.first().is_some_and(|p| {
        p.len() == 4
            && p.as_bytes()[0].is_ascii_uppercase()
            && p[1..].bytes().all(|c| c.is_ascii_lowercase())
    }) {
        rest.remove(0);
    }
    match rest.as_slice() {
        [] => true,
        [region] => {
            (region.len() == 2 && region.bytes().all(|c| c.is_ascii_uppercase()))
                || (region.len() == 3 && region.bytes().all(|c| c.is_ascii_digit()))
        }
        _ => false,
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// serde_json appends " at line L column C"; positions are reported separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(p) => msg[..p].to_string(),
        None => msg.to_string(),
    }
}

const ONE_KEY: &str = "this object must have exactly one key";
const NEEDS_VALUE: &str = "this rule needs a value";

/// `a.b[2].c` -> `a.b[2]`; `a.b[2]` -> `a.b`.
fn parent_path(path: &str) -> &str {
    path.rfind(['.', '[']).map_or("", |i| &path[..i])
}

/// Rewords serde messages that speak Rust rather than JSON.
fn friendly(msg: &str) -> String {
    if msg == "expected value" || msg.starts_with("expected `") {
        // The text is valid JSON, so this is a one-key object with more keys.
        return ONE_KEY.into();
    }
    if msg.contains("unit variant, expected newtype variant") {
        return NEEDS_VALUE.into();
    }
    if msg.ends_with("expected unit") {
        return "this rule takes no value: write it as a plain string".into();
    }
    msg.replace("unknown variant", "unknown value")
        .replace("expected u32", "expected a whole number, 0 or more")
        .replace("expected i32", "expected a whole number")
        .replace("expected i64", "expected a whole number")
}
