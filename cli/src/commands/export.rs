//! `collabzium export fhir --out FILE`: check-ins as a FHIR R4 Bundle.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use collabzium_core::checkin::{fhir, Checkins};
use collabzium_core::{Error, Result};
use serde_json::json;

use super::open_store;
use crate::output::Output;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// A FHIR R4 Bundle (type collection): Questionnaires, QuestionnaireResponses, Observations.
    Fhir {
        /// Written owner-only; plaintext health data.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing --out file (written anew, owner-only; a symlink is replaced, not followed).
        #[arg(long)]
        force: bool,
    },
}

pub fn run(out: &Output, path: Option<&Path>, cmd: ExportCommand) -> Result<()> {
    match cmd {
        ExportCommand::Fhir { out: file, force } => {
            super::check_export_target(&file, force)?;
            let c = Checkins::new(open_store(path)?)?;
            let (bundle, damaged) = fhir::bundle_lenient(&c, c.store().now_millis())?;
            let text = serde_json::to_string_pretty(&bundle).map_err(|e| {
                Error::Internal(format!("cannot encode bundle: {:?}", e.classify()))
            })?;
            super::write_export(&file, text.as_bytes(), force)?;
            let entries = bundle["entry"].as_array().map_or(0, Vec::len);
            // A FHIR Bundle has no place for them: damaged check-ins are
            // named here instead.
            out.emit(
                &json!({"written": true, "entries": entries, "damaged": damaged}),
                || {
                    let mut t = format!("wrote {entries} FHIR entries");
                    if !damaged.is_empty() {
                        t.push_str(&format!("; {} damaged check-in(s) left out", damaged.len()));
                    }
                    t
                },
            );
        }
    }
    Ok(())
}
