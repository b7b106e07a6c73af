//! `collabzium profile show|set`.

use std::path::Path;

use clap::Subcommand;
use collabzium_core::domain::{Profile, TreatmentMode};
use collabzium_core::Result;
use serde_json::json;

use super::open_store;
use crate::output::Output;

#[derive(Subcommand)]
pub enum ProfileCommand {
    Show,
    Set {
        #[arg(long)]
        name: String,
        #[arg(long)]
        tz: String,
        #[arg(long)]
        locale: String,
        #[arg(long)]
        mode: String,
        /// ISO 3166-1 alpha-2 country for crisis resources (e.g. AT). Without
        /// it, the region of --locale is used.
        #[arg(long)]
        country: Option<String>,
    },
}

pub fn run(out: &Output, path: Option<&Path>, cmd: ProfileCommand) -> Result<()> {
    let store = open_store(path)?;
    match cmd {
        ProfileCommand::Show => {
            let p = store.profile()?;
            // `country` is the effective one: explicit, else the locale's region.
            let country = p.as_ref().and_then(Profile::country_code);
            out.emit(&json!({ "profile": p, "country": country }), || match &p {
                None => "no profile set".into(),
                Some(p) => format!(
                    "{} ({}, {}, {}, country {})",
                    p.display_name,
                    p.time_zone,
                    p.locale,
                    p.mode.as_str(),
                    p.country_code().as_deref().unwrap_or("unknown")
                ),
            });
        }
        ProfileCommand::Set {
            name,
            tz,
            locale,
            mode,
            country,
        } => {
            let p = Profile {
                display_name: name,
                time_zone: tz,
                locale,
                mode: TreatmentMode::parse(&mode)?,
                country: country.map(|c| super::store::normalise_country(&c)),
            };
            store.set_profile(&p)?;
            out.emit(&json!({ "saved": true }), || "profile saved".into());
        }
    }
    Ok(())
}
