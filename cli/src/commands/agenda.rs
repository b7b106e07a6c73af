//! Store commands of the schedule: enrol, agenda, complete, reminders,
//! travel and approve.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use collabzium_core::agenda::{self, Item};
use collabzium_core::program;
use collabzium_core::store::Store;
use collabzium_core::{Error, Result};
use serde_json::json;

use super::open_store;
use super::schedule::parse_instant;
use crate::output::Output;

#[derive(Subcommand)]
pub enum AgendaCommand {
    /// Enrol the patient in a program file.
    Enrol {
        #[arg(long)]
        program: PathBuf,
        /// Day 0 of the program, YYYY-MM-DD (a local date).
        #[arg(long)]
        start: String,
        /// The patient's IANA zone, e.g. Europe/Berlin.
        #[arg(long)]
        tz: String,
    },
    /// Today's screen: open, due, upcoming, overdue, progress, next unlock.
    Agenda {
        /// RFC 3339 instant to evaluate at (default: now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Mark an agenda item done.
    Complete {
        item_id: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// The next N reminders.
    Reminders {
        #[arg(long)]
        count: u32,
        #[arg(long)]
        at: Option<String>,
    },
    /// The patient is now in another zone.
    Travel {
        #[arg(long)]
        tz: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// Record a therapist's approval of a module (normally arrives by sync).
    Approve {
        module_id: String,
        #[arg(long)]
        at: Option<String>,
    },
}

fn when(store: &Store, at: Option<String>) -> Result<DateTime<Utc>> {
    match at {
        Some(s) => parse_instant("at", &s),
        None => DateTime::from_timestamp_millis(store.now_millis())
            .ok_or_else(|| Error::Internal("clock out of range".into())),
    }
}

fn line(i: &Item) -> String {
    let due = i
        .due_at
        .map(|d| format!(" (due {})", d.format("%Y-%m-%d %H:%MZ")))
        .unwrap_or_default();
    format!("  {}  {}{}", i.id, i.title, due)
}

pub fn run(out: &Output, path: Option<&Path>, cmd: AgendaCommand) -> Result<()> {
    let store = open_store(path)?;
    match cmd {
        AgendaCommand::Enrol { program, start, tz } => {
            let text =
                super::read_text_limited(&program, super::MAX_DEFINITION_BYTES, "program file")?;
            let p = program::load(&text).map_err(|issues| {
                Error::invalid(
                    "program",
                    format!(
                        "{} problem(s), first: {}",
                        issues.len(),
                        issues.first().map(ToString::to_string).unwrap_or_default()
                    ),
                )
            })?;
            let start: NaiveDate = start
                .parse()
                .map_err(|_| Error::invalid("start", "must be a date YYYY-MM-DD"))?;
            let s = agenda::enrol(&store, &p, start, &tz, None)?;
            out.emit(&s, || {
                format!(
                    "enrolled in {} {} from {} ({}, {} mode)",
                    s.program_id, s.program_version, s.start_date, s.time_zone, s.mode
                )
            });
        }
        AgendaCommand::Agenda { at } => {
            let at = when(&store, at)?;
            let a = agenda::agenda(&agenda::load_state(&store)?, at);
            out.emit(&a, || {
                let mut s = vec![format!(
                    "{} — week {} of {}, {} of {} modules done ({} {})",
                    a.program_title,
                    a.progress.current_week,
                    a.progress.weeks_total,
                    a.progress.modules_done,
                    a.progress.modules_total,
                    a.local_now.format("%Y-%m-%d %H:%M"),
                    a.time_zone
                )];
                for (name, list) in [
                    ("overdue", &a.overdue),
                    ("due today", &a.due_today),
                    ("open now", &a.open_now),
                    ("upcoming this week", &a.upcoming_this_week),
                    ("waiting for the therapist", &a.waiting_for_therapist),
                ] {
                    if !list.is_empty() {
                        s.push(format!("{name}:"));
                        s.extend(list.iter().map(line));
                    }
                }
                if let Some(n) = &a.next_unlock {
                    s.push(format!(
                        "next unlock: {} at {}",
                        n.module_id,
                        n.at.to_rfc3339()
                    ));
                }
                s.join("\n")
            });
        }
        AgendaCommand::Complete { item_id, at } => {
            let at = when(&store, at)?;
            let item = agenda::complete(&store, &item_id, at)?;
            out.emit(&item, || format!("completed {}", item.id));
        }
        AgendaCommand::Reminders { count, at } => {
            let at = when(&store, at)?;
            let plan = agenda::plan_reminders(&agenda::load_state(&store)?, at, count);
            out.emit(&json!({ "reminders": plan }), || {
                plan.iter()
                    .map(|n| {
                        format!(
                            "{}  {}  {}",
                            n.local_time.format("%Y-%m-%d %H:%M"),
                            n.id,
                            n.body
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AgendaCommand::Travel { tz, at } => {
            let at = when(&store, at)?;
            agenda::change_zone(&store, &tz, at)?;
            out.emit(&json!({ "time_zone": tz, "since": at }), || {
                format!("now in {tz} since {}", at.to_rfc3339())
            });
        }
        AgendaCommand::Approve { module_id, at } => {
            let at = when(&store, at)?;
            agenda::record_approval(&store, &module_id, at)?;
            out.emit(&json!({ "approved": module_id }), || {
                format!("approved {module_id}")
            });
        }
    }
    Ok(())
}
