//! `collabzium instrument list|show|score`: no store needed.

use clap::Subcommand;
use collabzium_core::instruments::{self, Instrument, ItemType, Registry};
use collabzium_core::{Error, Result};
use serde_json::{json, Value};

use crate::output::Output;

#[derive(Subcommand)]
pub enum InstrumentCommand {
    /// List the shipped instruments (and those in --dir).
    List {
        /// Also load clinic-supplied definitions from this directory.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Show one instrument's items with their linkIds and allowed values.
    Show {
        id: String,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Score answers given as a JSON object mapping linkId to value.
    Score {
        id: String,
        #[arg(long)]
        answers: String,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Check a clinic-supplied definition file.
    Validate { file: std::path::PathBuf },
}

fn registry(dir: Option<&std::path::Path>) -> Result<Registry> {
    let mut r = Registry::shipped();
    if let Some(d) = dir {
        r.add_dir(d)?;
    }
    Ok(r)
}

/// Whole numbers print as integers (`12`, not `12.0`).
pub fn number(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => json!(x as i64),
        Some(x) => json!(x),
        None => Value::Null,
    }
}

/// The `instrument score` line, with its keys in the documented order:
/// `{"instrument":..,"total":..,"severity":..,"subscales":{..},"safety_alert":..,"scorable":..}`.
#[derive(serde::Serialize)]
struct ScoreLine<'a> {
    instrument: &'a str,
    total: Value,
    severity: Option<&'a str>,
    subscales: serde_json::Map<String, Value>,
    safety_alert: bool,
    scorable: bool,
}

fn score_line(s: &instruments::Score) -> ScoreLine<'_> {
    ScoreLine {
        instrument: &s.instrument,
        total: number(s.total),
        severity: s.severity.as_deref(),
        subscales: s
            .subscales
            .iter()
            .map(|(k, v)| (k.clone(), number(*v)))
            .collect(),
        safety_alert: s.safety_alert(),
        scorable: s.scorable,
    }
}

pub fn score_json(s: &instruments::Score) -> Value {
    let subscales: serde_json::Map<String, Value> = s
        .subscales
        .iter()
        .map(|(k, v)| (k.clone(), number(*v)))
        .collect();
    json!({
        "instrument": s.instrument,
        "total": number(s.total),
        "severity": s.severity,
        "subscales": subscales,
        "safety_alert": s.safety_alert(),
        "scorable": s.scorable,
    })
}

pub fn item_json(inst: &Instrument, item: &instruments::Item) -> Value {
    let mut v = json!({
        "linkId": item.link_id,
        "text": item.text,
        "type": item.item_type,
        "required": item.required,
        "reverse": item.reverse,
    });
    match item.item_type {
        ItemType::Choice => {
            let opts = inst.options(item);
            v["allowed_values"] = opts.iter().map(|o| json!(o.value)).collect();
            v["options"] = opts
                .iter()
                .map(|o| json!({"value": o.value, "text": o.text}))
                .collect();
        }
        ItemType::Integer => {
            v["min"] = json!(item.min);
            v["max"] = json!(item.max);
        }
        ItemType::Text => v["max_length"] = json!(item.max_length.unwrap_or(2000)),
    }
    v
}

pub fn show_json(inst: &Instrument) -> Value {
    json!({
        "id": inst.id,
        "version": inst.version,
        "title": inst.title,
        "respondent": inst.respondent,
        "preamble": inst.preamble,
        "code": inst.code,
        "items": inst.items.iter().map(|i| item_json(inst, i)).collect::<Vec<_>>(),
        "subscales": inst.scoring.subscales.iter().map(|s| json!({"id": s.id, "title": s.title, "items": s.items})).collect::<Vec<_>>(),
        "bands": inst.scoring.bands,
        "risk": inst.scoring.risk,
    })
}

pub fn run(out: &Output, cmd: InstrumentCommand) -> Result<()> {
    match cmd {
        InstrumentCommand::List { dir } => {
            let r = registry(dir.as_deref())?;
            let list: Vec<Value> = r
                .list()
                .map(|i| {
                    json!({
                        "id": i.id, "version": i.version, "title": i.title, "respondent": i.respondent,
                        "items": i.items.len(), "loinc": i.code.as_ref().filter(|c| c.system == instruments::LOINC).map(|c| &c.code),
                        "licence": i.licence.kind,
                    })
                })
                .collect();
            out.emit(&json!({ "instruments": list }), || {
                r.list()
                    .map(|i| format!("{:<20} {:<8} {}", i.id, i.version, i.title))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        InstrumentCommand::Show { id, dir } => {
            let r = registry(dir.as_deref())?;
            let inst = r.require(&id)?;
            out.emit(&show_json(inst), || {
                let mut s = format!("{} {} — {}\n", inst.id, inst.version, inst.title);
                for item in &inst.items {
                    let allowed = match inst.value_range(item) {
                        Some((lo, hi)) => format!("{lo}..{hi}"),
                        None => "text".into(),
                    };
                    s.push_str(&format!(
                        "  {:<10} [{allowed}] {}\n",
                        item.link_id, item.text
                    ));
                }
                s.trim_end().to_string()
            });
        }
        InstrumentCommand::Score { id, answers, dir } => {
            let r = registry(dir.as_deref())?;
            let inst = r.require(&id)?;
            let json: Value = serde_json::from_str(&answers).map_err(|_| {
                Error::invalid("answers", "must be a JSON object mapping linkId to value")
            })?;
            let parsed = instruments::parse_json_answers(inst, &json)?;
            let answers: instruments::Answers = parsed
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            let s = instruments::score(inst, &answers);
            out.emit(&score_line(&s), || {
                format!(
                    "{}: total {} severity {} {}{}",
                    s.instrument,
                    number(s.total),
                    s.severity.as_deref().unwrap_or("-"),
                    if s.scorable { "" } else { "(not scorable) " },
                    if s.safety_alert() { "SAFETY ALERT" } else { "" }
                )
            });
        }
        InstrumentCommand::Validate { file } => {
            let text =
                super::read_text_limited(&file, super::MAX_DEFINITION_BYTES, "instrument file")?;
            match instruments::load_instrument(&text) {
                Ok(i) => out.emit(
                    &json!({"valid": true, "id": i.id, "version": i.version}),
                    || format!("{} {} is valid", i.id, i.version),
                ),
                Err(issues) => {
                    if !out.json {
                        for i in &issues {
                            eprintln!("{i}");
                        }
                    }
                    let first = issues.first().map(ToString::to_string).unwrap_or_default();
                    return Err(Error::invalid(
                        "instrument",
                        format!("{} problem(s); first: {first}", issues.len()),
                    ));
                }
            }
        }
    }
    Ok(())
}
