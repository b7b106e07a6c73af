//! `collabzium consent grant|withdraw|list`: withdrawing is as easy as granting.

use std::path::Path;

use clap::Subcommand;
use collabzium_core::store::export::rfc3339;
use collabzium_core::Result;
use serde_json::json;

use super::open_store;
use crate::output::Output;

#[derive(Subcommand)]
pub enum ConsentCommand {
    Grant {
        scope: String,
        #[arg(long = "text-version")]
        text_version: String,
    },
    Withdraw {
        scope: String,
        #[arg(long = "text-version")]
        text_version: String,
    },
    List,
}

pub fn run(out: &Output, path: Option<&Path>, cmd: ConsentCommand) -> Result<()> {
    let store = open_store(path)?;
    match cmd {
        ConsentCommand::Grant {
            scope,
            text_version,
        } => {
            let r = collabzium_core::session::grant_consent(&store, &scope, &text_version)?;
            out.emit(&r, || {
                format!("granted {} (text {})", r.scope, r.text_version)
            });
        }
        ConsentCommand::Withdraw {
            scope,
            text_version,
        } => {
            let r = collabzium_core::session::withdraw_consent(&store, &scope, &text_version)?;
            out.emit(&r, || {
                format!("withdrew {} (text {})", r.scope, r.text_version)
            });
        }
        ConsentCommand::List => {
            let states = store.consents()?;
            out.emit(&json!({ "consents": states }), || {
                states
                    .iter()
                    .map(|s| {
                        format!(
                            "{}: {} (text {}, {})",
                            s.scope,
                            if s.granted { "granted" } else { "withdrawn" },
                            s.text_version,
                            rfc3339(s.at_millis)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
