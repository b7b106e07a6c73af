//! `collabzium demo`: an end-to-end run of what exists, on embedded defaults
//! (a temporary directory, no services). It grows with each capability.

use std::path::PathBuf;

use clap::Args;
use collabzium_core::agenda;
use collabzium_core::crypto::PassphraseKeyProvider;
use collabzium_core::domain::{consent::scopes, Profile, TreatmentMode};
use collabzium_core::store::Store;
use collabzium_core::{Error, Result};
use serde_json::json;

use crate::output::Output;

#[derive(Args)]
pub struct DemoArgs {
    /// Where to write the demo's outputs (default: a new temporary directory, kept).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(out: &Output, args: DemoArgs) -> Result<()> {
    let dir = match args.out {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("collabzium-demo-")
            .tempdir()?
            .keep(),
    };
    let path = dir.join("patient.db");
    if path.exists() {
        return Err(Error::AlreadyExists {
            what: "demo store in the output folder".into(),
        });
    }
    let mut steps = Vec::new();
    let mut step = |s: String| {
        if !out.json {
            println!("  {s}");
        }
        steps.push(s);
    };
    if !out.json {
        println!(
            "Collabzium demo: the encrypted patient store, a program and a check-in\n  output folder: {}",
            dir.display()
        );
    }

    let passphrase = PassphraseKeyProvider::new("demo passphrase, not a real one");
    let store = Store::create(&path, &passphrase)?;
    step(format!(
        "created store {} (AES-256-GCM per field, PBKDF2 600k key wrap)",
        store.store_id()
    ));
    store.set_profile(&Profile {
        display_name: "Demo Patient".into(),
        time_zone: "Europe/Berlin".into(),
        locale: "en-GB".into(),
        mode: TreatmentMode::Guided,
    })?;
    step("saved the profile (display name, Europe/Berlin, en-GB, guided)".into());
    store.grant_consent(scopes::DATA_PROCESSING, "v1")?;
    store.grant_consent(scopes::THERAPIST_SHARING, "v1")?;
    store.grant_consent(scopes::RESEARCH_EXPORT, "v1")?;
    store.withdraw_consent(scopes::RESEARCH_EXPORT, "v1")?;
    step("granted three consents and withdrew research export".into());
    store.close();

    match Store::open(&path, &PassphraseKeyProvider::new("a wrong guess")) {
        Err(Error::WrongKey) => {
            step("a wrong passphrase was refused with WrongKey; the file is untouched".into())
        }
        other => {
            return Err(Error::Internal(format!(
                "wrong passphrase not refused: {:?}",
                other.err()
            )))
        }
    }
    let store = Store::open(&path, &passphrase)?;
    step("reopened with the right passphrase".into());

    let bytes = std::fs::read(&path)?;
    let leaked = bytes.windows(12).any(|w| w == b"Demo Patient");
    step(format!(
        "scanned the database file: profile name in plaintext? {}",
        if leaked { "YES (bug)" } else { "no" }
    ));

    let export = store.export()?;
    let export_path = dir.join("export.json");
    // Plaintext health data, even in a demo: owner-only permissions.
    super::write_private(&export_path, export.to_json_pretty()?.as_bytes())?;
    step(format!(
        "exported everything, decrypted, to {}",
        export_path.display()
    ));

    let audit = store.verify_audit()?;
    step(format!(
        "audit log: {} entries, chain {}",
        audit.entries,
        if audit.ok { "intact" } else { "BROKEN" }
    ));
    let events: Vec<String> = store
        .audit_entries()?
        .into_iter()
        .map(|e| e.event)
        .collect();
    step(format!("audit events: {}", events.join(", ")));

    // Treatment: enrol in the sample low-mood program and look at today.
    let program =
        collabzium_core::program::load(include_str!("../../../programs/low-mood-8w.json"))
            .map_err(|issues| {
                Error::Internal(format!("sample program invalid: {} issues", issues.len()))
            })?;
    let now = chrono::Utc::now();
    let today = now
        .with_timezone(&collabzium_core::schedule::Tz::Europe__Berlin)
        .date_naive();
    let enrolled = agenda::enrol(&store, &program, today, "Europe/Berlin", None)?;
    step(format!(
        "enrolled in \"{}\" ({} weeks, {} mode)",
        enrolled.title, enrolled.weeks, enrolled.mode
    ));
    let state = agenda::load_state(&store)?;
    let screen = agenda::agenda(&state, now);
    step(format!(
        "today's agenda: {} open now, {} due today, {} upcoming this week; modules {}/{}",
        screen.open_now.len(),
        screen.due_today.len(),
        screen.upcoming_this_week.len(),
        screen.progress.modules_done,
        screen.progress.modules_total
    ));
    let plan = agenda::plan_reminders(&state, now, 64);
    step(format!(
        "reminder plan: {} local notifications, first at {}",
        plan.len(),
        plan.first()
            .map(|n| n.local_time.to_string())
            .unwrap_or_else(|| "-".into())
    ));

    // A PHQ-9 with a risk answer on item 9: the safety path.
    let checkins = collabzium_core::checkin::Checkins::new(store.clone())?.with_program(program);
    let draft = checkins.start("phq9", None)?;
    let answers = json!({"phq9_1": 2, "phq9_2": 2, "phq9_3": 1, "phq9_4": 2, "phq9_5": 1,
                         "phq9_6": 1, "phq9_7": 1, "phq9_8": 0, "phq9_9": 1});
    checkins.answer_json(&draft.checkin_id, &answers)?;
    let result = checkins.submit(&draft.checkin_id)?;
    step(format!(
        "PHQ-9 submitted: total {}, severity {}, queued for sync as outbox #{}",
        result.score.total.unwrap_or_default(),
        result.score.severity.clone().unwrap_or_default(),
        result.outbox_seq
    ));
    let safety = result
        .safety
        .as_ref()
        .ok_or_else(|| Error::Internal("risk answer without a safety action".into()))?;
    step(format!(
        "safety action shown at once: {} crisis resources (first: {}); therapist alert queued: {}",
        safety.resources.len(),
        safety
            .resources
            .first()
            .map(|r| r.name.as_str())
            .unwrap_or("-"),
        safety.therapist_alert_id.is_some()
    ));

    let erase_copy = dir.join("to-erase.db");
    let scratch = Store::create(&erase_copy, &passphrase)?;
    let report = scratch.erase(&passphrase)?;
    step(format!(
        "erased a second store: removed {}",
        report.files_removed.join(", ")
    ));

    out.emit(
        &json!({
            "output_dir": dir,
            "store_id": store.store_id(),
            "plaintext_leak": leaked,
            "audit_ok": audit.ok,
            "audit_events": events,
            "steps": steps,
        }),
        String::new,
    );
    if leaked || !audit.ok {
        return Err(Error::Internal("demo checks failed".into()));
    }
    Ok(())
}
