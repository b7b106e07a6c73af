//! Research rows (issue 6 §4) from patient records: de-identified, long
//! format, per `docs/research.md`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{is_alliance_instrument, weeks_since, ConsentPoint, PatientRecord, ScoredPoint};
use crate::research::ResearchRow;

/// SplitMix64: tiny, seedable, good enough to draw pseudonyms and an order.
/// Not for secrets; unseeded exports start from the system RNG.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The research CSV rows of these patients. Each export draws new random
/// 12-hex-digit patient ids (seedable for tests and the demo) and lists the
/// patients in a random order, so neither ids nor order link exports to
/// channels. `week` is whole weeks since the patient's start. One row per
/// patient-reported alliance rating (`goals`, `tasks`, `bond`, `alliance` =
/// total) and one per symptom score (`instrument`, `score`); the
/// therapist's own ratings are not exported.
pub fn research_rows(patients: &[PatientRecord], rng_seed: Option<u64>) -> Vec<ResearchRow> {
    let seed = rng_seed.unwrap_or_else(|| u64::from_le_bytes(crate::crypto::random_bytes::<8>()));
    let mut rng = SplitMix(seed);
    let mut order: Vec<&PatientRecord> = patients.iter().collect();
    // Fisher–Yates.
    for i in (1..order.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let mut used = std::collections::BTreeSet::new();
    let mut rows = Vec::new();
    for p in order {
        let id = loop {
            let id = format!("{:012x}", rng.next() >> 16);
            if used.insert(id.clone()) {
                break id;
            }
        };
        for c in &p.checkins {
            let week = weeks_since(p.start, c.at);
            let sub = |s: &str| c.subscales.get(s).copied().filter(|x| x.is_finite());
            let total = c.total.filter(|x| x.is_finite());
            if is_alliance_instrument(&c.instrument) {
                let row = ResearchRow {
                    patient: id.clone(),
                    week,
                    goals: sub("goals"),
                    tasks: sub("tasks"),
                    bond: sub("bond"),
                    alliance: total,
                    instrument: None,
                    score: None,
                };
                let any = [row.goals, row.tasks, row.bond, row.alliance]
                    .iter()
                    .any(Option::is_some);
                if any {
                    rows.push(row);
                }
            } else if let Some(score) = total {
                rows.push(ResearchRow {
                    patient: id.clone(),
                    week,
                    goals: None,
                    tasks: None,
                    bond: None,
                    alliance: None,
                    instrument: Some(c.instrument.clone()),
                    score: Some(score),
                });
            }
        }
    }
    rows
}

/// The rule [`research_export`] applies, as stated in the note.
pub const CONSENT_RULE: &str = "a measurement is exported only if the patient's research_export \
consent was granted when it was recorded and has not been withdrawn since";

/// What `research export` writes next to the CSV: counts only, never ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResearchNote {
    /// [`CONSENT_RULE`].
    pub consent_rule: String,
    /// Rows in the CSV.
    pub rows: usize,
    /// Distinct (pseudonymous) patients in the CSV.
    pub patients: usize,
    /// Patients left out entirely: no `research_export` grant received, or
    /// their latest decision is a withdrawal.
    pub patients_left_out_without_consent: usize,
    /// Measurements of consenting patients left out because they were
    /// recorded before the current grant began.
    pub measurements_left_out_before_consent: usize,
}

/// The research CSV's rows and their companion note.
#[derive(Debug, Clone, PartialEq)]
pub struct ResearchExport {
    pub rows: Vec<ResearchRow>,
    pub note: ResearchNote,
}

/// Start of the patient's current, unbroken `research_export` grant: the
/// first grant after their latest withdrawal, when the latest decision is
/// a grant. `None`: no consent now (never granted, or withdrawn).
pub fn current_grant_start(history: &[ConsentPoint]) -> Option<DateTime<Utc>> {
    let mut ordered: Vec<&ConsentPoint> = history.iter().collect();
    // Stable: equal times keep the received order.
    crate::sort::sort_by_key(&mut ordered, |c| c.at);
    let mut start = None;
    for c in ordered {
        start = match (c.granted, start) {
            (true, None) => Some(c.at),
            (true, kept) => kept, // a renewal does not restart the grant
            (false, _) => None,
        };
    }
    start
}

/// Whether [`research_rows`] makes a row of this measurement.
fn makes_row(c: &ScoredPoint) -> bool {
    let finite = |x: Option<f64>| x.is_some_and(f64::is_finite);
    if is_alliance_instrument(&c.instrument) {
        finite(c.total)
            || ["goals", "tasks", "bond"]
                .iter()
                .any(|s| finite(c.subscales.get(*s).copied()))
    } else {
        finite(c.total)
    }
}

/// The research export of these patients under [`CONSENT_RULE`]: a patient
/// without a current grant is left out; of a consenting patient, only the
/// measurements recorded at or after the start of the current grant (both
/// times by the patient's clock). Pseudonyms and order as in
/// [`research_rows`].
pub fn research_export(patients: &[PatientRecord], rng_seed: Option<u64>) -> ResearchExport {
    let mut left_out = 0;
    let mut before = 0;
    let mut consenting = Vec::with_capacity(patients.len());
    for p in patients {
        let Some(since) = current_grant_start(&p.research_consent) else {
            left_out += 1;
            continue;
        };
        let (kept, dropped): (Vec<ScoredPoint>, Vec<ScoredPoint>) =
            p.checkins.iter().cloned().partition(|c| c.at >= since);
        before += dropped.iter().filter(|c| makes_row(c)).count();
        consenting.push(PatientRecord {
            checkins: kept,
            ..p.clone()
        });
    }
    let rows = research_rows(&consenting, rng_seed);
    let patients_in_csv = rows
        .iter()
        .map(|r| r.patient.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    ResearchExport {
        note: ResearchNote {
            consent_rule: CONSENT_RULE.to_string(),
            rows: rows.len(),
            patients: patients_in_csv,
            patients_left_out_without_consent: left_out,
            measurements_left_out_before_consent: before,
        },
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    fn c(ms: i64, granted: bool) -> ConsentPoint {
        ConsentPoint {
            at: at(ms),
            granted,
        }
    }

    fn score(ms: i64) -> ScoredPoint {
        ScoredPoint {
            at: at(ms),
            instrument: "phq9".into(),
            total: Some(10.0),
            subscales: Default::default(),
            severity: None,
            severity_label: None,
        }
    }

    fn patient(consent: Vec<ConsentPoint>, scores: &[i64]) -> PatientRecord {
        PatientRecord {
            channel_id: "c".into(),
            label: Some("Name".into()),
            mode: None,
            start: at(0),
            checkins: scores.iter().map(|&ms| score(ms)).collect(),
            therapist_ratings: vec![],
            alerts: vec![],
            progress: vec![],
            engagement: None,
            last_activity: None,
            review_week: None,
            program_weeks: None,
            research_consent: consent,
            primary_instrument: None,
            program_id: None,
            program_title: None,
            status: Default::default(),
            status_since: None,
        }
    }

    #[test]
    fn the_current_grant_starts_after_the_latest_withdrawal() {
        assert_eq!(current_grant_start(&[]), None);
        assert_eq!(current_grant_start(&[c(5, true)]), Some(at(5)));
        assert_eq!(current_grant_start(&[c(5, true), c(9, true)]), Some(at(5)));
        assert_eq!(current_grant_start(&[c(5, true), c(7, false)]), None);
        assert_eq!(
            current_grant_start(&[c(5, true), c(7, false), c(9, true)]),
            Some(at(9))
        );
        // Order of arrival does not matter, times do.
        assert_eq!(
            current_grant_start(&[c(9, true), c(7, false), c(5, true)]),
            Some(at(9))
        );
        assert_eq!(current_grant_start(&[c(3, false)]), None);
    }

    #[test]
    fn only_measurements_under_a_current_grant_are_exported() {
        let patients = [
            patient(vec![c(0, true)], &[1, 2, 3]),
            patient(vec![], &[1, 2]),
            patient(vec![c(0, true), c(5, false)], &[1, 2]),
            // Granted, withdrawn, granted again at 10: only 10 and 11.
            patient(vec![c(0, true), c(5, false), c(10, true)], &[1, 6, 10, 11]),
        ];
        let e = research_export(&patients, Some(1));
        assert_eq!(e.rows.len(), 3 + 2);
        assert_eq!(e.note.rows, 5);
        assert_eq!(e.note.patients, 2);
        assert_eq!(e.note.patients_left_out_without_consent, 2);
        assert_eq!(e.note.measurements_left_out_before_consent, 2);
        let note = serde_json::to_string(&e.note).unwrap();
        assert!(!note.contains("Name") && !note.contains("\"c\""), "{note}");
    }
}
