//! The clinic's research view (issue 6 §4): the de-identified long-format CSV and the
//! between-patient alliance–outcome analysis. See `docs/research.md` for the model.
//!
//! Pure functions over rows; no store access. The exporter (CLI `research export`) builds
//! [`ResearchRow`]s from synced data and calls [`rows_to_csv`].

pub mod alliance_outcome;
pub mod csv;

pub use alliance_outcome::{
    alliance_outcome, Association, Benchmark, Estimate, InstrumentResult, Subscales,
    BENCHMARK_ALLIANCE, BENCHMARK_BOND, BENCHMARK_GOALS, BENCHMARK_TASKS, MIN_PATIENTS,
};
pub use csv::{parse_csv, rows_to_csv, write_csv, Column, ResearchRow, HEADER};

/// Why a research CSV could not be read or written. Messages name lines and columns,
/// never field contents.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResearchError {
    #[error("empty file: expected the header line")]
    Empty,
    /// The header differs from `patient,week,goals,tasks,bond,alliance,instrument,score`
    /// at this column (one past the last when it has extra columns).
    #[error("line {line}: wrong header at {column}; expected exactly {}", HEADER.join(","))]
    Header { line: usize, column: Column },
    #[error("line {line}: expected 8 fields, found {found}")]
    FieldCount { line: usize, found: usize },
    /// Not a finite decimal number (or, for `week`, not a whole number ≥ 0).
    #[error("line {line}: {column} is not a valid number")]
    BadNumber { line: usize, column: Column },
    /// `patient` and `week` are required; `instrument` and `score` come together.
    #[error("line {line}: {column} must not be empty here")]
    MissingValue { line: usize, column: Column },
    #[error("line {line}: malformed quoting in {column}")]
    Quote { line: usize, column: Column },
    #[error("i/o: {0}")]
    Io(String),
}

impl From<ResearchError> for crate::Error {
    fn from(e: ResearchError) -> Self {
        match e {
            ResearchError::Io(kind) => crate::Error::Io(kind),
            other => crate::Error::invalid("research csv", other),
        }
    }
}

/// Parses a research CSV and runs the alliance–outcome analysis on it.
pub fn analyze_csv(text: &str) -> Result<Vec<InstrumentResult>, ResearchError> {
    Ok(alliance_outcome(&parse_csv(text)?))
}
