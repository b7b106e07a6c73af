//! `collabzium store ...`: lifecycle and data-subject rights.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use collabzium_core::domain::{Profile, TreatmentMode};
use collabzium_core::store::{export::rfc3339, Store};
use collabzium_core::{Error, Result};
use serde_json::json;

use super::{open_store, require_store};
use crate::output::Output;
use crate::passphrase;

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Create a new encrypted store (optionally with a profile).
    Init(InitArgs),
    /// Show what the store holds (no personal data).
    Info,
    /// Write everything, decrypted, as JSON (docs/export-format.md).
    Export {
        /// Output file (created with owner-only permissions); stdout without it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing --out file (written anew, owner-only; a symlink is replaced, not followed).
        #[arg(long)]
        force: bool,
    },
    /// Revoke every channel at the relay (the therapist sees "left"), then
    /// crypto-shred the store and delete its files. Never blocked by the network.
    Erase {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Do not contact the relay: erase here only (see docs/erasure.md).
        #[arg(long)]
        offline: bool,
    },
    /// Change the passphrase (re-wraps the data key; data is not re-encrypted).
    Rekey,
    /// Check the hash-chained audit log.
    VerifyAudit,
}

pub fn run(out: &Output, path: Option<&Path>, cmd: StoreCommand) -> Result<()> {
    match cmd {
        StoreCommand::Init(args) => init(out, require_store(path)?, args),
        StoreCommand::Info => {
            let store = open_store(path)?;
            let info = store.info()?;
            // The country crisis resources are chosen by (explicit, else the
            // locale's region); `null` means the international set.
            let country = store.profile()?.and_then(|p| p.country_code());
            let doc = InfoOut {
                info: &info,
                country: country.clone(),
            };
            out.emit(&doc, || {
                let mut s = format!(
                    "store {}\nschema version {}\ncreated {}\nprofile: {}\nconsent decisions: {}\naudit entries: {}",
                    info.store_id,
                    info.schema_version,
                    rfc3339(info.created_at_millis),
                    if info.has_profile { "set" } else { "not set" },
                    info.consent_decisions,
                    info.audit_entries
                );
                for (kind, n) in &info.record_counts {
                    s.push_str(&format!("\nrecords {kind}: {n}"));
                }
                s.push_str(&format!(
                    "\ncountry for crisis resources: {}",
                    country.as_deref().unwrap_or("unknown (international set)")
                ));
                s
            });
            Ok(())
        }
        StoreCommand::Export { out: file, force } => {
            if let Some(f) = &file {
                super::check_export_target(f, force)?;
            }
            let store = open_store(path)?;
            let export = store.export()?;
            let text = export.to_json_pretty()?;
            match file {
                Some(f) => {
                    super::write_export(&f, text.as_bytes(), force)?;
                    out.emit(
                        &json!({
                            "exported": true,
                            "records": export.records.len(),
                            "damaged": export.damaged,
                        }),
                        || {
                            format!(
                                "exported {} records to the output file (plaintext: keep it safe){}",
                                export.records.len(),
                                if export.damaged.is_empty() {
                                    String::new()
                                } else {
                                    format!("; {} damaged value(s) named in it", export.damaged.len())
                                }
                            )
                        },
                    );
                }
                None => println!("{text}"),
            }
            Ok(())
        }
        StoreCommand::Erase { yes, offline } => {
            let path = require_store(path)?;
            if !yes {
                confirm_erase()?;
            }
            let provider = passphrase::current()?;
            let store = Store::open(path, &provider)?;
            let transport = collabzium_http::UreqTransport::new(std::time::Duration::from_secs(15));
            let t: Option<&dyn collabzium_core::sync::HttpTransport> =
                if offline { None } else { Some(&transport) };
            let r = collabzium_core::sync::erase_everywhere(&store, &provider, t)?;
            // The local report's fields stay at the top level, as before.
            let doc = json!({
                "files_removed": r.local.files_removed,
                "provider_key_destroyed": r.local.provider_key_destroyed,
                "revoked_at_relay": r.revoked_at_relay,
                "not_reached": r.not_reached,
                "not_reached_reason": r.not_reached_reason,
            });
            out.emit(&doc, || {
                let mut s = format!("erased: removed {}", r.local.files_removed.join(", "));
                if !r.revoked_at_relay.is_empty() {
                    s.push_str(&format!(
                        "\nrevoked at the relay (the therapist will see that you left): {}",
                        r.revoked_at_relay.join(", ")
                    ));
                }
                if !r.not_reached.is_empty() {
                    s.push_str(&format!(
                        "\nnot revoked at the relay ({}): {}; its queued messages expire there, and the therapist is not told (docs/erasure.md)",
                        r.not_reached_reason.as_deref().unwrap_or("offline"),
                        r.not_reached.join(", ")
                    ));
                }
                s
            });
            Ok(())
        }
        StoreCommand::Rekey => {
            let store = open_store(path)?;
            let new = passphrase::replacement()?;
            store.rekey(&new)?;
            out.emit(&json!({"rekeyed": true}), || "passphrase changed".into());
            Ok(())
        }
        StoreCommand::VerifyAudit => {
            let store = open_store(path)?;
            let v = store.verify_audit()?;
            if v.ok {
                out.emit(&v, || format!("audit log ok: {} entries", v.entries));
                return Ok(());
            }
            let seq = v.first_broken_seq.unwrap_or(0);
            if out.json {
                // The report itself is the useful output; still exit non-zero.
                out.emit(&v, String::new);
                std::process::exit(1);
            }
            Err(Error::corrupt(
                "audit log",
                format!(
                    "{} at entry {seq}: {}",
                    v.code.unwrap_or("broken_link"),
                    v.reason.unwrap_or_default()
                ),
            ))
        }
    }
}

#[derive(Args)]
pub struct InitArgs {
    #[arg(long)]
    name: Option<String>,
    /// IANA time zone, e.g. Europe/Berlin.
    #[arg(long)]
    tz: Option<String>,
    #[arg(long, default_value = "en-GB")]
    locale: String,
    /// unguided, guided or messaging.
    #[arg(long, default_value = "guided")]
    mode: String,
    /// ISO 3166-1 alpha-2 country (e.g. AT): picks crisis resources.
    /// Without it, the region of --locale is used.
    #[arg(long)]
    country: Option<String>,
    /// Also set up a recovery key for encrypted backups and print it
    /// once (docs/backup.md). Only a check value is kept in the store.
    #[arg(long)]
    recovery_key: bool,
}

fn init(out: &Output, path: &Path, args: InitArgs) -> Result<()> {
    let InitArgs {
        name,
        tz,
        locale,
        mode,
        country,
        recovery_key,
    } = args;
    // Stored only when given: otherwise the locale's region applies, and
    // follows a later change of locale (Profile::country_code).
    let country = country.map(|c| normalise_country(&c));
    let profile = match (name, tz) {
        // The zone is what the schedule needs; a name is only a label on
        // this device, so a missing one is not worth refusing the store.
        (name, Some(time_zone)) => Some(Profile {
            display_name: name.unwrap_or_else(|| "Patient".to_string()),
            time_zone,
            locale,
            mode: TreatmentMode::parse(&mode)?,
            country,
        }),
        (None, None) if country.is_some() => {
            return Err(Error::invalid(
                "country",
                "is part of the profile: give it with --name and --tz",
            ))
        }
        (None, None) => None,
        _ => {
            return Err(Error::invalid(
                "profile",
                "--name needs --tz (the profile's time zone)",
            ))
        }
    };
    if let Some(p) = &profile {
        p.validate()?;
    }
    let provider = passphrase::for_new_store()?;
    let store = Store::create(path, &provider)?;
    if let Some(p) = &profile {
        store.set_profile(p)?;
    }
    let key = if recovery_key {
        Some(collabzium_core::backup::set_up_recovery_key(&store)?)
    } else {
        None
    };
    let key_text = key.as_ref().map(|k| k.to_text());
    let mut doc = json!({"created": true, "store_id": store.store_id()});
    if let Some(k) = &key_text {
        doc["recovery_key"] = json!(k.as_str());
    }
    out.emit(&doc, || match &key_text {
        Some(k) => format!(
            "created store {}\n\nRecovery key (shown only now; write it down and keep it apart from this device):\n\n    {}\n\nBackups need it, and so does restoring one on a new phone.",
            store.store_id(),
            k.as_str()
        ),
        None => format!("created store {}", store.store_id()),
    });
    Ok(())
}

/// `store info`: the store's facts plus the effective country.
#[derive(serde::Serialize)]
struct InfoOut<'a> {
    #[serde(flatten)]
    info: &'a collabzium_core::store::StoreInfo,
    country: Option<String>,
}

/// Accepts `at` for `AT`; the core then checks it against ISO 3166-1.
pub fn normalise_country(c: &str) -> String {
    c.trim().to_ascii_uppercase()
}

fn confirm_erase() -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(
            "confirmation",
            "pass --yes to erase without a terminal",
        ));
    }
    print!("This destroys the store and everything in it. Type 'erase' to continue: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim() == "erase" {
        Ok(())
    } else {
        Err(Error::invalid("confirmation", "erase was not confirmed"))
    }
}
