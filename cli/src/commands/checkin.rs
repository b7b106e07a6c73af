//! `collabzium checkin start|answer|submit|list|correct|trend|alerts|install` on a store.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use collabzium_core::checkin::{Checkins, DraftView, SafetyAction};
use collabzium_core::{Error, Result};
use serde_json::{json, Value};

use super::instrument::{item_json, number, score_json};
use super::open_store;
use crate::output::Output;

#[derive(Subcommand)]
pub enum CheckinCommand {
    /// Start a check-in for an instrument, or for an agenda item
    /// (`checkin:<schedule>:<time>`; its instrument comes from the enrolled program).
    Start {
        #[arg(long, required_unless_present = "agenda_item")]
        instrument: Option<String>,
        #[arg(long)]
        agenda_item: Option<String>,
    },
    /// Record answers: a JSON object mapping linkId to value (null clears).
    Answer {
        checkin_id: String,
        #[arg(long)]
        answers: String,
        /// The enrolled program file, for its crisis resources.
        #[arg(long)]
        program: Option<PathBuf>,
    },
    /// Score, store and queue the check-in for sync.
    Submit {
        checkin_id: String,
        #[arg(long)]
        program: Option<PathBuf>,
    },
    /// Submitted check-ins and open drafts.
    List,
    /// Start a correction of a submitted check-in.
    Correct { checkin_id: String },
    /// Scores over time with bands and reliable change.
    Trend { instrument: String },
    /// Therapist alerts and their delivery state.
    Alerts,
    /// The crisis screen: resources for your country and who has been told
    /// about your latest alert.
    Crisis,
    /// Install a clinic-supplied instrument definition into the store.
    Install { file: PathBuf },
}

fn service(path: Option<&Path>, program: Option<&Path>) -> Result<Checkins> {
    let c = Checkins::new(open_store(path)?)?;
    match program {
        None => Ok(c),
        Some(p) => {
            let text = super::read_text_limited(p, super::MAX_DEFINITION_BYTES, "program file")?;
            let ctx = collabzium_core::program::ValidationContext::from_registry(c.registry());
            let program = collabzium_core::program::validate(&text, &ctx).map_err(|issues| {
                Error::invalid(
                    "program",
                    format!("{} problem(s) in the program file", issues.len()),
                )
            })?;
            Ok(c.with_program(program))
        }
    }
}

pub(crate) fn safety_json(s: &Option<SafetyAction>) -> Value {
    match s {
        None => Value::Null,
        Some(a) => json!({
            "concerns": a.concerns,
            "message": a.message,
            "resources": a.resources,
            "therapist_alert_id": a.therapist_alert_id,
            "alert_state": a.alert_state,
            "therapist_next_available_millis": a.therapist_next_available_millis,
        }),
    }
}

fn draft_json(c: &Checkins, d: &DraftView) -> Result<Value> {
    let inst = c.registry().require(&d.instrument)?;
    Ok(json!({
        "checkin_id": d.checkin_id,
        "instrument": d.instrument,
        "instrument_version": d.instrument_version,
        "agenda_item": d.agenda_item,
        "corrects": d.corrects,
        "revision": d.revision,
        "answers": d.answers,
        "answered": d.answers.len(),
        "missing_required": d.missing_required,
        "items": inst.items.iter().map(|i| item_json(inst, i)).collect::<Vec<_>>(),
        "safety_action": safety_json(&d.safety),
    }))
}

pub(crate) fn human_safety(s: &Option<SafetyAction>) -> String {
    match s {
        None => String::new(),
        Some(a) => {
            // Resources first: they matter more than who was told.
            let mut t = String::from("\n");
            for r in &a.resources {
                let mut how = Vec::new();
                if let Some(p) = &r.phone {
                    how.push(format!("call {p}"));
                }
                if let Some(p) = &r.sms {
                    how.push(format!("text {p}"));
                }
                if let Some(u) = &r.url {
                    how.push(u.clone());
                }
                t.push_str(&format!(
                    "  {}: {} [{}]\n",
                    r.name,
                    r.description,
                    how.join(", ")
                ));
            }
            t.push_str(&format!("\n{}", a.message));
            t.trim_end().to_string()
        }
    }
}

pub fn run(out: &Output, path: Option<&Path>, cmd: CheckinCommand) -> Result<()> {
    match cmd {
        CheckinCommand::Start {
            instrument,
            agenda_item,
        } => {
            let c = service(path, None)?;
            let d = match (instrument, agenda_item) {
                (Some(i), a) => c.start(&i, a.as_deref())?,
                (None, Some(a)) => c.start_from_agenda(&a)?,
                (None, None) => {
                    return Err(Error::invalid(
                        "instrument",
                        "pass --instrument or --agenda-item",
                    ))
                }
            };
            out.emit(&draft_json(&c, &d)?, || {
                format!("started {} check-in {}", d.instrument, d.checkin_id)
            });
        }
        CheckinCommand::Answer {
            checkin_id,
            answers,
            program,
        } => {
            let c = service(path, program.as_deref())?;
            let json: Value = serde_json::from_str(&answers).map_err(|_| {
                Error::invalid("answers", "must be a JSON object mapping linkId to value")
            })?;
            let d = c.answer_json(&checkin_id, &json)?;
            out.emit(&draft_json(&c, &d)?, || {
                format!(
                    "{} answer(s) saved{}",
                    d.answers.len(),
                    human_safety(&d.safety)
                )
            });
        }
        CheckinCommand::Submit {
            checkin_id,
            program,
        } => {
            let c = service(path, program.as_deref())?;
            let r = c.submit(&checkin_id)?;
            let mut v = score_json(&r.score);
            v["checkin_id"] = json!(r.checkin_id);
            v["outbox_seq"] = json!(r.outbox_seq);
            v["agenda_item_completed"] = json!(r.agenda_item_completed);
            v["safety_action"] = safety_json(&r.safety);
            out.emit(&v, || {
                format!(
                    "submitted {}: total {} ({}){}",
                    r.instrument,
                    number(r.score.total),
                    r.score.severity.as_deref().unwrap_or("-"),
                    human_safety(&r.safety)
                )
            });
        }
        CheckinCommand::List => {
            let c = service(path, None)?;
            // Damaged check-ins and drafts are skipped and named, not fatal.
            let (list, mut damaged) = c.list_lenient()?;
            let (draft_views, bad_drafts) = c.drafts_lenient()?;
            damaged.extend(bad_drafts);
            let drafts: Vec<Value> = draft_views
                .iter()
                .map(|d| json!({"checkin_id": d.checkin_id, "instrument": d.instrument, "answered": d.answers.len()}))
                .collect();
            let rows: Vec<Value> = list
                .iter()
                .map(|s| {
                    json!({
                        "checkin_id": s.checkin_id, "instrument": s.instrument,
                        "submitted_at_millis": s.submitted_at_millis, "revision": s.revision,
                        "corrects": s.corrects, "superseded_by": s.superseded_by,
                        "total": number(s.total), "severity": s.severity, "safety_alert": s.safety_alert,
                    })
                })
                .collect();
            out.emit(
                &json!({"checkins": rows, "drafts": drafts, "damaged": damaged}),
                || {
                    list.iter()
                        .map(|s| {
                            format!(
                                "{} {:<18} total {:<6} {}",
                                s.checkin_id,
                                s.instrument,
                                number(s.total),
                                s.severity.as_deref().unwrap_or("-")
                            )
                        })
                        .chain(
                            damaged
                                .iter()
                                .map(|d| format!("{} damaged {} (cannot be read)", d.id, d.kind)),
                        )
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
        CheckinCommand::Correct { checkin_id } => {
            let c = service(path, None)?;
            let d = c.correct(&checkin_id)?;
            out.emit(&draft_json(&c, &d)?, || {
                format!("correction {} started", d.checkin_id)
            });
        }
        CheckinCommand::Trend { instrument } => {
            let c = service(path, None)?;
            let t = c.trend(&instrument)?;
            out.emit(&t, || {
                t.points
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {} {}",
                            p.submitted_at_millis,
                            number(p.total),
                            p.severity.as_deref().unwrap_or("-")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        CheckinCommand::Alerts => {
            let c = service(path, None)?;
            let a = c.alerts()?;
            out.emit(&json!({ "alerts": a }), || {
                let mut t = format!("{} alert(s)", a.len());
                for v in &a {
                    t.push_str(&format!(
                        "\n  {} {}: {}",
                        super::sync::ts(v.alert.created_at_millis),
                        v.alert.instrument,
                        v.alert_state.as_str()
                    ));
                }
                t
            });
        }
        CheckinCommand::Crisis => {
            let c = service(path, None)?;
            let screen = Some(c.crisis_screen()?);
            out.emit(&safety_json(&screen), || {
                human_safety(&screen).trim_start().to_string()
            });
        }
        CheckinCommand::Install { file } => {
            let mut c = service(path, None)?;
            let text =
                super::read_text_limited(&file, super::MAX_DEFINITION_BYTES, "instrument file")?;
            let inst = c.install_instrument(&text)?;
            out.emit(
                &json!({"installed": inst.id, "version": inst.version}),
                || format!("installed {} {}", inst.id, inst.version),
            );
        }
    }
    Ok(())
}
