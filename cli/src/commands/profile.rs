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
    },
}

pub fn run(out: &Output, path: Option<&Path>, cmd: ProfileCommand) -> Result<()> {
    let store = open_store(path)?;
    match cmd {
        ProfileCommand::Show => {
            let p = store.profile()?;
            out.emit(&json!({ "profile": p }), || match &p {
                None => "no profile set".into(),
                Some(p) => format!(
                    "{} ({}, {}, {})",
                    p.display_name,
                    p.time_zone,
                    p.locale,
                    p.mode.as_str()
                ),
            });
        }
        ProfileCommand::Set {
            name,
            tz,
            locale,
            mode,
        } => {
            let p = Profile {
                display_name: name,
                time_zone: tz,
                locale,
                mode: TreatmentMode::parse(&mode)?,
            };
            store.set_profile(&p)?;
            out.emit(&json!({ "saved": true }), || "profile saved".into());
        }
    }
    Ok(())
}
