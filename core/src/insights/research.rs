//! Research rows (issue 6 §4) from patient records.

use super::PatientRecord;
use crate::research::ResearchRow;

pub fn research_rows(patients: &[PatientRecord], rng_seed: Option<u64>) -> Vec<ResearchRow> {
    let _ = (patients, rng_seed);
    todo!()
}
