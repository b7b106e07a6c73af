//! `collabzium schedule expand` and `collabzium program validate`: the
//! schedule engine and the program validator without a store.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDateTime, Utc};
use clap::Subcommand;
use collabzium_core::program::{self, ValidationIssue};
use collabzium_core::schedule::{expand, parse_zone, RRule};
use collabzium_core::{Error, Result};
use serde::Serialize;
use serde_json::json;

use crate::output::Output;

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Print every occurrence t of a rule with from <= t < to.
    Expand {
        /// RFC 5545 RRULE, e.g. FREQ=DAILY;COUNT=3.
        #[arg(long)]
        rule: String,
        /// DTSTART as wall-clock time in --tz: YYYY-MM-DDTHH:MM[:SS].
        #[arg(long)]
        start: String,
        /// IANA zone, e.g. America/New_York.
        #[arg(long)]
        tz: String,
        /// RFC 3339 instant (inclusive).
        #[arg(long)]
        from: String,
        /// RFC 3339 instant (exclusive).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
pub enum ProgramCommand {
    /// Report every problem in a program file, each with its path.
    Validate { file: PathBuf },
}

pub fn parse_instant(field: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::invalid(
                field,
                "must be an RFC 3339 instant, e.g. 2026-03-09T00:00:00Z",
            )
        })
}

fn parse_local(s: &str) -> Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .map_err(|_| Error::invalid("start", "must be YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS"))
}

/// Field order is part of the documented output.
#[derive(Serialize)]
struct Row {
    utc: String,
    local: String,
    offset: String,
}

#[derive(Serialize)]
struct Expanded {
    occurrences: Vec<Row>,
}

pub fn run_schedule(out: &Output, cmd: ScheduleCommand) -> Result<()> {
    let ScheduleCommand::Expand {
        rule,
        start,
        tz,
        from,
        to,
    } = cmd;
    let rrule: RRule = rule.parse().map_err(|e| Error::invalid("rule", e))?;
    let start = parse_local(&start)?;
    let zone =
        parse_zone(&tz).map_err(|_| Error::invalid("tz", "is not a known IANA time zone name"))?;
    let from = parse_instant("from", &from)?;
    let to = parse_instant("to", &to)?;
    let occ = expand(&rrule, start, zone, from, to).map_err(|e| Error::invalid("rule", e))?;
    let rows: Vec<_> = occ
        .iter()
        .map(|o| Row {
            utc: o.utc.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            local: o.local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            offset: o.offset.to_string(),
        })
        .collect();
    out.emit(&Expanded { occurrences: rows }, || {
        occ.iter()
            .map(|o| {
                format!(
                    "{}  {} {}",
                    o.utc.format("%Y-%m-%dT%H:%M:%SZ"),
                    o.local,
                    o.offset
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// Prints the issues and exits 1 if there are any (the issues are the
/// output, not an error of the command itself).
pub fn run_program(out: &Output, cmd: ProgramCommand) -> Result<()> {
    let ProgramCommand::Validate { file } = cmd;
    let text = super::read_text_limited(&file, super::MAX_DEFINITION_BYTES, "program file")?;
    let issues: Vec<ValidationIssue> = match program::load(&text) {
        Ok(_) => Vec::new(),
        Err(issues) => issues,
    };
    out.emit(
        &json!({ "valid": issues.is_empty(), "issues": issues }),
        || {
            if issues.is_empty() {
                "ok: no problems found".into()
            } else {
                let mut s: Vec<String> = issues.iter().map(ToString::to_string).collect();
                s.push(format!("{} problem(s)", issues.len()));
                s.join("\n")
            }
        },
    );
    if !issues.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
