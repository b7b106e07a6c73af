//! Research rows (issue 6 §4) from patient records: de-identified, long
//! format, per `docs/research.md`.

use super::{is_alliance_instrument, weeks_since, PatientRecord};
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
