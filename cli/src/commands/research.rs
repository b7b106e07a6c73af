//! `collabzium research alliance-outcome --input FILE.csv`: the clinic's research analysis on
//! a de-identified CSV (docs/research.md). No store needed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use collabzium_core::research::{
    self, Association, Estimate, InstrumentResult, BENCHMARK_ALLIANCE, BENCHMARK_BOND,
    BENCHMARK_GOALS, BENCHMARK_TASKS,
};
use collabzium_core::{Error, Result};

use crate::output::Output;

#[derive(Subcommand)]
pub enum ResearchCommand {
    /// Early alliance (weeks 0-3) against residualized gain, per instrument, with 95% CIs.
    AllianceOutcome {
        /// The research CSV (patient,week,goals,tasks,bond,alliance,instrument,score).
        #[arg(long)]
        input: PathBuf,
    },
}

pub fn run(out: &Output, cmd: ResearchCommand) -> Result<()> {
    match cmd {
        ResearchCommand::AllianceOutcome { input } => run_alliance_outcome(out, &input),
    }
}

/// Reads the CSV, runs the analysis, prints the JSON array (`--json`) or a table.
/// A malformed file is `invalid_input` naming line and column; an unreadable one `not_found`/`io`.
pub fn run_alliance_outcome(out: &Output, input: &Path) -> Result<()> {
    let text = std::fs::read_to_string(input).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            what: "input file".into(),
        },
        std::io::ErrorKind::InvalidData => Error::invalid("research csv", "not UTF-8 text"),
        _ => Error::from(e),
    })?;
    let results = research::analyze_csv(&text)?;
    out.emit(&results, || table(&results));
    Ok(())
}

fn table(results: &[InstrumentResult]) -> String {
    if results.is_empty() {
        return "no instrument scores in the file".into();
    }
    let mut s = format!(
        "{:<12} {:<9} {:>4} {:>7}  {:<17}  {}\n",
        "instrument", "scale", "n", "r", "95% CI", "seed r (95% CI)"
    );
    for res in results {
        let rows: [(&str, &Association, String); 4] = [
            (
                "alliance",
                &res.alliance,
                format!(
                    "{:.3} ({:.3}, {:.3})",
                    BENCHMARK_ALLIANCE.r, BENCHMARK_ALLIANCE.ci[0], BENCHMARK_ALLIANCE.ci[1]
                ),
            ),
            (
                "goals",
                &res.subscales.goals,
                format!("{BENCHMARK_GOALS:.2}"),
            ),
            (
                "tasks",
                &res.subscales.tasks,
                format!("{BENCHMARK_TASKS:.2}"),
            ),
            ("bond", &res.subscales.bond, format!("{BENCHMARK_BOND:.2}")),
        ];
        for (i, (scale, assoc, seed)) in rows.iter().enumerate() {
            let name = if i == 0 { res.instrument.as_str() } else { "" };
            let _ = match &assoc.estimate {
                Estimate::Value { r, ci } => writeln!(
                    s,
                    "{name:<12} {scale:<9} {:>4} {r:>7.3}  [{:>6.3}, {:>6.3}]  {seed}",
                    assoc.n, ci[0], ci[1]
                ),
                Estimate::Undefined { reason } => {
                    writeln!(
                        s,
                        "{name:<12} {scale:<9} {:>4} {:>7}  {reason}",
                        assoc.n, "-"
                    )
                }
            };
        }
    }
    s.trim_end().to_string()
}
