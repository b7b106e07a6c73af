//! Instruments as data: definitions (FHIR Questionnaire concepts plus
//! scoring), validation, scoring and a registry of shipped and
//! clinic-supplied instruments. Format: `docs/instrument-format.md`.

mod definition;
mod score;
mod validate;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

pub use definition::{
    AnswerOption, Band, Coding, Direction, Instrument, Item, ItemType, Licence, Method,
    ReliableChange, Respondent, RiskRule, Scoring, Subscale, Total, INSTRUMENT_FORMAT_VERSION,
    LOINC,
};
pub(crate) use score::item_field;
pub use score::{
    discrepancy, parse_json_answer, parse_json_answers, reliable_change, reliable_threshold,
    risk_hits, score, validate_answer, AnswerValue, Answers, ChangeCategory, ReliableChangeResult,
    RiskHit, Score,
};
pub use validate::{check, load_instrument, InstrumentIssue};

use crate::error::{Error, Result};

/// Whether an instrument is one of the alliance check-ins (goals, tasks,
/// bond subscales) rather than a symptom measure.
pub fn is_alliance_instrument(id: &str) -> bool {
    matches!(id, "alliance" | "alliance_unguided" | "alliance_therapist")
}

/// Largest instrument definition file read from disk (8 MiB); real ones are
/// a few tens of KiB.
pub const MAX_DEFINITION_BYTES: u64 = 8 * 1024 * 1024;

/// The definitions that ship in the binary (`core/data/instruments/`).
pub const SHIPPED: [(&str, &str); 5] = [
    ("phq9", include_str!("../../data/instruments/phq9.json")),
    ("gad7", include_str!("../../data/instruments/gad7.json")),
    (
        "alliance",
        include_str!("../../data/instruments/alliance.json"),
    ),
    (
        "alliance_unguided",
        include_str!("../../data/instruments/alliance_unguided.json"),
    ),
    (
        "alliance_therapist",
        include_str!("../../data/instruments/alliance_therapist.json"),
    ),
];

/// Known instruments by id. Cheap to clone (definitions are shared).
#[derive(Debug, Clone)]
pub struct Registry {
    by_id: BTreeMap<String, Arc<Instrument>>,
}

fn shipped_map() -> &'static BTreeMap<String, Arc<Instrument>> {
    static SHIPPED_MAP: OnceLock<BTreeMap<String, Arc<Instrument>>> = OnceLock::new();
    SHIPPED_MAP.get_or_init(|| {
        SHIPPED
            .iter()
            .map(|(id, json)| {
                // A broken shipped file is a build defect; tests load every one.
                let inst = load_instrument(json)
                    .unwrap_or_else(|e| panic!("shipped instrument {id} is invalid: {e:?}"));
                (id.to_string(), Arc::new(inst))
            })
            .collect()
    })
}

impl Default for Registry {
    fn default() -> Self {
        Registry::shipped()
    }
}

impl Registry {
    /// The shipped instruments only.
    pub fn shipped() -> Registry {
        Registry {
            by_id: shipped_map().clone(),
        }
    }

    /// Adds a clinic-supplied definition (e.g. a licensed alliance measure
    /// whose text the clinic holds). Shipped ids cannot be replaced.
    pub fn add_definition(&mut self, json: &str) -> Result<Arc<Instrument>> {
        let inst = load_instrument(json).map_err(|issues| {
            let first = issues.first().map(ToString::to_string).unwrap_or_default();
            Error::invalid(
                "instrument",
                format!(
                    "{} problem(s) in the definition; first: {first}",
                    issues.len()
                ),
            )
        })?;
        if shipped_map().contains_key(&inst.id) {
            return Err(Error::AlreadyExists {
                what: format!("shipped instrument {}", inst.id),
            });
        }
        let inst = Arc::new(inst);
        self.by_id.insert(inst.id.clone(), inst.clone());
        Ok(inst)
    }

    /// Loads every `*.json` file in `dir` as a clinic definition, each at
    /// most [`MAX_DEFINITION_BYTES`].
    pub fn add_dir(&mut self, dir: &std::path::Path) -> Result<Vec<String>> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        crate::sort::sort(&mut paths);
        let mut ids = Vec::new();
        for p in paths {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(std::fs::File::open(&p)?, MAX_DEFINITION_BYTES + 1),
                &mut bytes,
            )?;
            if bytes.len() as u64 > MAX_DEFINITION_BYTES {
                return Err(Error::invalid("instrument file", "larger than 8 MiB"));
            }
            let json = String::from_utf8(bytes)
                .map_err(|_| Error::invalid("instrument file", "not UTF-8 text"))?;
            ids.push(self.add_definition(&json)?.id.clone());
        }
        Ok(ids)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Instrument>> {
        self.by_id.get(id)
    }

    /// Like `get`, but a typed `NotFound` naming the id (ids are tokens, not personal data).
    pub fn require(&self, id: &str) -> Result<&Arc<Instrument>> {
        self.get(id).ok_or_else(|| Error::NotFound {
            what: format!("instrument {}", item_field(id)),
        })
    }

    pub fn list(&self) -> impl Iterator<Item = &Arc<Instrument>> {
        self.by_id.values()
    }

    pub fn ids(&self) -> Vec<String> {
        self.by_id.keys().cloned().collect()
    }
}
