//! `collabzium research alliance-outcome --input FILE.csv`: the clinic's research analysis on
//! a de-identified CSV (docs/research.md), no store needed; and
//! `collabzium --store T research export --out FILE.csv`, which writes that CSV from a
//! therapist's store.

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
    /// Write the de-identified research CSV of this therapist store (new random patient ids
    /// each time): only measurements under the patient's research consent, with a note
    /// FILE.note.json counting who was left out.
    Export {
        /// Where to write the CSV (owner-only permissions).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing CSV and note (written anew, owner-only; a symlink is replaced, not followed).
        #[arg(long)]
        force: bool,
    },
}

pub fn run(out: &Output, store: Option<&Path>, cmd: ResearchCommand) -> Result<()> {
    match cmd {
        ResearchCommand::AllianceOutcome { input } => run_alliance_outcome(out, &input),
        ResearchCommand::Export { out: file, force } => run_export(out, store, &file, force),
    }
}

/// `--store T research export --out FILE.csv`: the patients on the therapist's
/// device who consented to research, as de-identified long-format rows, and the
/// companion note `FILE.csv.note.json` with counts only (`docs/research.md`).
/// An existing CSV or note is refused (`already_exists`) unless `force`.
pub fn run_export(out: &Output, store: Option<&Path>, file: &Path, force: bool) -> Result<()> {
    let note_file = note_path(file);
    // Both checked before either is written: never a fresh CSV beside a stale note.
    super::check_export_target(file, force)?;
    super::check_export_target(&note_file, force)?;
    let store = super::open_store(store)?;
    let patients = collabzium_core::insights::load_patients(&store)?;
    let export = collabzium_core::insights::research_export(&patients, None);
    let csv = research::rows_to_csv(&export.rows).map_err(|e| Error::Internal(e.to_string()))?;
    let note = serde_json::to_string_pretty(&export.note)
        .map_err(|e| Error::Internal(e.to_string()))?
        + "\n";
    // The note first: a CSV never stands without the account of who is missing.
    super::write_export(&note_file, note.as_bytes(), force)?;
    super::write_export(file, csv.as_bytes(), force)?;
    let n = &export.note;
    out.emit(
        &serde_json::json!({
            "out": file, "rows": n.rows, "patients": n.patients,
            "note_file": note_file, "note": n,
        }),
        || {
            format!(
                "wrote {} rows for {} patients to {}\n{} patients left out without research consent; {} earlier measurements left out (note: {})",
                n.rows,
                n.patients,
                file.display(),
                n.patients_left_out_without_consent,
                n.measurements_left_out_before_consent,
                note_file.display()
            )
        },
    );
    Ok(())
}

/// The companion note's path: the CSV's name plus `.note.json`.
pub fn note_path(csv: &Path) -> PathBuf {
    let mut name = csv.as_os_str().to_owned();
    name.push(".note.json");
    PathBuf::from(name)
}

/// Reads the CSV, runs the analysis, prints the JSON array (`--json`) or a table.
/// A malformed file is `invalid_input` naming line and column; an unreadable one `not_found`/`io`.
pub fn run_alliance_outcome(out: &Output, input: &Path) -> Result<()> {
    let text = super::read_text_limited(input, super::MAX_CSV_BYTES, "research csv")?;
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
                // Defence in depth: the analysis never yields a non-finite value.
                Estimate::Value { r, ci }
                    if !(r.is_finite() && ci.iter().all(|c| c.is_finite())) =>
                {
                    writeln!(
                        s,
                        "{name:<12} {scale:<9} {:>4} {:>7}  not a finite number",
                        assoc.n, "-"
                    )
                }
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
