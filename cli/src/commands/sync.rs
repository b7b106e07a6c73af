//! Pairing, sync, messages and the therapist inbox (issue 5, ADR 0005).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use collabzium_core::session;
use collabzium_core::sync::availability::{Availability, Hours};
use collabzium_core::sync::TherapistInvitation;
use collabzium_core::sync::{self, InvitationState};
use collabzium_core::{Error, Result};
use collabzium_http::UreqTransport;
use serde_json::json;

use super::open_store;
use crate::output::Output;

#[derive(Subcommand)]
pub enum TherapistCommand {
    /// Create a pairing code (and QR) and wait for the patient to join.
    Invite(InviteArgs),
    /// Synced check-ins, alerts, progress and messages, with their patients.
    Inbox {
        /// Only these kinds (checkin, safety_alert, module_progress, message, ...).
        #[arg(long = "kind")]
        kinds: Vec<String>,
    },
    /// Assign a program to one patient (they enrol at their next sync).
    Assign {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        program: PathBuf,
        /// First day (YYYY-MM-DD); today when omitted.
        #[arg(long)]
        start: Option<chrono::NaiveDate>,
    },
    /// Approve a therapist-gated module for one patient.
    Approve {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        module: String,
    },
    /// Acknowledge a patient's safety alert.
    AckAlert {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        alert: String,
        /// What you did: phone, message, safety_plan, referred or other.
        #[arg(long)]
        action: String,
        /// A note for your own records; it stays on this device.
        #[arg(long)]
        note: Option<String>,
    },
    /// Set availability hours (all channels, or one).
    Availability(AvailabilityArgs),
    /// The caseload, most urgent first, with each patient's status (active, left, ended).
    Caseload,
    /// Write one patient's record for the clinic's records (owner-only JSON file).
    ExportPatient {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing --out file.
        #[arg(long)]
        force: bool,
    },
    /// Delete a patient who left from this device, after their export (see docs/erasure.md).
    Forget {
        #[arg(long)]
        channel: String,
        /// The file written by `therapist export-patient` after the patient left.
        #[arg(long)]
        after_export: Option<PathBuf>,
    },
    /// Show or set how long a left patient's copy stays here before it is due for export and forget.
    Retention {
        /// Days after leaving; without it (and without --keep) the setting is shown.
        #[arg(long, conflicts_with = "keep")]
        days: Option<u32>,
        /// Keep left patients until exported and forgotten (the default).
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Args)]
pub struct InviteArgs {
    #[arg(long)]
    relay: String,
    /// Your name for this patient; stays on this device.
    #[arg(long)]
    label: Option<String>,
    /// Also write the QR code as a PNG.
    #[arg(long)]
    qr: Option<PathBuf>,
    /// Seconds to wait for the patient (an invitation lives 15 minutes).
    #[arg(long, default_value_t = 900)]
    wait: u64,
}

#[derive(Args)]
pub struct AvailabilityArgs {
    /// IANA zone of the hours, e.g. Europe/Berlin.
    #[arg(long)]
    tz: String,
    /// Days, e.g. MO,TU,WE,TH,FR.
    #[arg(long, default_value = "MO,TU,WE,TH,FR")]
    days: String,
    #[arg(long, default_value = "09:00")]
    start: String,
    #[arg(long, default_value = "17:00")]
    end: String,
    /// Promised reply time, counted in available hours.
    #[arg(long, default_value_t = 16)]
    reply_within_hours: u32,
    /// Notify safety alerts at once even outside hours.
    #[arg(long)]
    alerts_notify: bool,
    #[arg(long)]
    channel: Option<String>,
}

#[derive(Subcommand)]
pub enum PatientCommand {
    /// Redeem a pairing code (or a scanned `collabzium://pair?...` payload).
    Join {
        #[arg(long)]
        relay: Option<String>,
        #[arg(long)]
        code: String,
        /// Also send events made before pairing.
        #[arg(long)]
        share_history: bool,
        /// Send a safety alert made before pairing to this therapist (asked
        /// when one is waiting; the rest of the history stays here).
        #[arg(long, conflicts_with = "no_share_alerts")]
        share_alerts: bool,
        /// Keep a safety alert made before pairing on this device.
        #[arg(long)]
        no_share_alerts: bool,
        /// Seconds to wait for the therapist to finish; 0 returns at once.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// Delivery state of everything this store sent, and the reply window.
    Status,
}

#[derive(Subcommand)]
pub enum MessageCommand {
    /// Queue a message; it goes out at the next sync.
    Send {
        text: String,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        reply_to: Option<String>,
    },
    /// Show the thread and mark received messages read.
    List {
        #[arg(long)]
        channel: Option<String>,
    },
}

fn transport() -> UreqTransport {
    UreqTransport::new(Duration::from_secs(30))
}

pub(crate) fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub fn run_therapist(out: &Output, store: Option<&Path>, cmd: TherapistCommand) -> Result<()> {
    let store = open_store(store)?;
    match cmd {
        TherapistCommand::Invite(a) => {
            let t = transport();
            let mut inv = TherapistInvitation::create(&store, &t, &a.relay, a.label.as_deref())?;
            let view = inv.view()?;
            if let Some(path) = &a.qr {
                write_qr_png(path, &view.qr)?;
            }
            out.emit(&view, || {
                format!(
                    "Pairing code: {}\nQR payload:   {}\nValid until:  {}\nWaiting for the patient...",
                    view.code,
                    view.qr,
                    ts(view.expires_at_millis)
                )
            });
            let deadline = Instant::now() + Duration::from_secs(a.wait);
            loop {
                match inv.poll(&store, &t)? {
                    InvitationState::Paired {
                        channel_id,
                        safety_number,
                    } => {
                        out.emit(
                            &json!({"paired": true, "channel": channel_id, "safety_number": safety_number}),
                            || format!("Paired: channel {channel_id}\nSafety number: {safety_number}"),
                        );
                        return Ok(());
                    }
                    InvitationState::Waiting if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(250))
                    }
                    InvitationState::Waiting => {
                        return Err(Error::invalid(
                            "invitation",
                            "the patient did not join in time",
                        ))
                    }
                }
            }
        }
        TherapistCommand::Inbox { kinds } => {
            let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
            let items = sync::inbox(&store, &kinds)?;
            out.emit(&items, || {
                let mut s = String::new();
                for i in &items {
                    s.push_str(&format!(
                        "{}  {:<18} {:<16} {}\n",
                        ts(i.received_at_millis),
                        i.patient.as_deref().unwrap_or(&i.channel_id[..8]),
                        i.kind,
                        summary_line(&i.kind, &i.body)
                    ));
                }
                if s.is_empty() {
                    s = "Inbox is empty.".into();
                }
                s.trim_end().to_string()
            });
            Ok(())
        }
        TherapistCommand::Assign {
            channel,
            program,
            start,
        } => {
            let json =
                super::read_text_limited(&program, super::MAX_DEFINITION_BYTES, "program file")?;
            let start = start.unwrap_or_else(|| chrono::Utc::now().date_naive());
            sync::send_program_assignment(&store, &channel, &json, start)?;
            out.emit(
                &json!({"queued": true, "start_date": start.to_string()}),
                || format!("Program queued; the patient enrols from {start} at their next sync."),
            );
            Ok(())
        }
        TherapistCommand::Approve { channel, module } => {
            sync::send_unlock_approval(&store, &channel, &module)?;
            out.emit(&json!({"queued": true}), || {
                "Approval queued; it goes out at the next sync.".into()
            });
            Ok(())
        }
        TherapistCommand::AckAlert {
            channel,
            alert,
            action,
            note,
        } => {
            let action = collabzium_core::checkin::AckAction::parse(&action)?;
            sync::send_alert_ack(&store, &channel, &alert, action, note.as_deref())?;
            out.emit(&json!({"queued": true}), || {
                "Acknowledgement queued.".into()
            });
            Ok(())
        }
        TherapistCommand::Caseload => super::departed::caseload(out, &store),
        TherapistCommand::ExportPatient {
            channel,
            out: file,
            force,
        } => super::departed::export_patient(out, &store, &channel, &file, force),
        TherapistCommand::Forget {
            channel,
            after_export,
        } => super::departed::forget(out, &store, &channel, after_export.as_deref()),
        TherapistCommand::Retention { days, keep } => {
            super::departed::retention(out, &store, days, keep)
        }
        TherapistCommand::Availability(a) => {
            let settings = Availability {
                tz: a.tz,
                hours: vec![Hours {
                    days: a.days.split(',').map(|d| d.trim().to_uppercase()).collect(),
                    start: a.start,
                    end: a.end,
                }],
                reply_within_hours: a.reply_within_hours,
                away: Vec::new(),
                alerts_outside_hours: if a.alerts_notify {
                    collabzium_core::sync::availability::AlertsOutsideHours::Notify
                } else {
                    collabzium_core::sync::availability::AlertsOutsideHours::Defer
                },
            };
            sync::set_availability(&store, &settings, a.channel.as_deref())?;
            out.emit(&settings, || {
                "Availability saved; patients get it at the next sync.".into()
            });
            Ok(())
        }
    }
}

/// "RISK: PHQ-9 item 9 answered 1 (Several days), total 14 so far" or
/// "RISK: possible risk language ("end it all")".
fn alert_line(body: &serde_json::Value) -> String {
    let alert = &body["alert"];
    if let Some(p) = alert["phrase"].as_str() {
        return format!("RISK: possible risk language (\"{p}\")");
    }
    let instrument = alert["instrument"].as_str().unwrap_or_default();
    let name = collabzium_core::instruments::Registry::shipped()
        .get(instrument)
        .map_or_else(|| instrument.to_string(), |i| i.title.clone());
    let mut line = format!("RISK: {name}");
    for it in alert["items"].as_array().into_iter().flatten() {
        let item = it["item"].as_str().unwrap_or_default();
        let number = item.rsplit('_').next().unwrap_or(item);
        line.push_str(&format!(" item {number}"));
        if let Some(a) = it["answer"].as_f64() {
            line.push_str(&format!(" answered {a}"));
        }
        if let Some(t) = it["answer_text"].as_str() {
            line.push_str(&format!(" ({t})"));
        }
    }
    if let Some(t) = alert["total"].as_f64() {
        let so_far = if alert["raised_before_submit"].as_bool() == Some(true) {
            " so far"
        } else {
            ""
        };
        line.push_str(&format!(", total {t}{so_far}"));
    }
    line
}

fn summary_line(kind: &str, body: &serde_json::Value) -> String {
    let get = |p: &str| {
        body.pointer(p)
            .map(|v| v.to_string().trim_matches('"').to_string())
    };
    match kind {
        "checkin" => format!(
            "{} score {}",
            get("/checkin/instrument").unwrap_or_default(),
            get("/checkin/score/total").unwrap_or_else(|| "-".into())
        ),
        "safety_alert" => alert_line(body),
        "message" => get("/text").unwrap_or_default().chars().take(60).collect(),
        "module_progress" => format!("completed {}", get("/title").unwrap_or_default()),
        _ => String::new(),
    }
}

pub fn run_patient(out: &Output, store: Option<&Path>, cmd: PatientCommand) -> Result<()> {
    let store = open_store(store)?;
    match cmd {
        PatientCommand::Join {
            relay,
            code,
            share_history,
            share_alerts,
            no_share_alerts,
            wait,
        } => {
            let t = transport();
            let alerts = match (share_alerts, no_share_alerts) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let mut outcome =
                sync::join(&store, &t, relay.as_deref(), &code, share_history, alerts)?;
            let deadline = Instant::now() + Duration::from_secs(wait);
            while outcome.status == service_status_pending() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(250));
                session::sync(&store, &t)?;
                if let Some(c) = sync::channel_views(&store)?
                    .into_iter()
                    .find(|c| c.channel_id == outcome.channel_id)
                {
                    outcome.status = c.status;
                    outcome.safety_number = c.safety_number;
                }
            }
            out.emit(&outcome, || match &outcome.safety_number {
                Some(n) => format!("Paired: channel {}\nSafety number: {n}", outcome.channel_id),
                None => format!(
                    "Joined; waiting for the therapist to finish. Run `sync` later. Channel {}",
                    outcome.channel_id
                ),
            });
            Ok(())
        }
        PatientCommand::Status => {
            let outbound = sync::outbound(&store)?;
            let reply = sync::reply_expectation(&store, None).ok().flatten();
            out.emit(&json!({"outbound": outbound, "reply": reply}), || {
                let mut s = String::new();
                for o in &outbound {
                    s.push_str(&format!("{:<20} {:?}\n", o.kind, o.delivery));
                }
                if let Some(r) = &reply {
                    s.push_str(&format!(
                        "Therapist {}; a message sent now can expect a reply by {}\n",
                        if r.available_now {
                            "is available now"
                        } else {
                            "is away now"
                        },
                        r.expect_reply_by_millis
                            .map(ts)
                            .unwrap_or_else(|| "-".into())
                    ));
                }
                s.trim_end().to_string()
            });
            Ok(())
        }
    }
}

fn service_status_pending() -> collabzium_core::sync::state::ChannelStatus {
    collabzium_core::sync::state::ChannelStatus::Pending
}

pub fn run_sync(out: &Output, store: Option<&Path>) -> Result<()> {
    let store = open_store(store)?;
    let summary = session::sync(&store, &transport())?;
    out.emit(&summary, || {
        let mut s = format!(
            "sent {}, received {}, delivered {}, pending {}",
            summary.sent, summary.received, summary.delivered, summary.pending_outbound
        );
        if let Some(e) = &summary.error {
            s.push_str(&format!(" (stopped: {e}; run sync again later)"));
        }
        s
    });
    Ok(())
}

pub fn run_message(out: &Output, store: Option<&Path>, cmd: MessageCommand) -> Result<()> {
    let store = open_store(store)?;
    match cmd {
        MessageCommand::Send {
            text,
            channel,
            reply_to,
        } => {
            // Screened on this device first (issue 10, free text).
            let (m, safety) = collabzium_core::checkin::send_message(
                &store,
                channel.as_deref(),
                &text,
                reply_to.as_deref(),
            )?;
            let mut v = serde_json::to_value(&m)
                .map_err(|e| collabzium_core::Error::Internal(e.to_string()))?;
            v["safety_action"] = super::checkin::safety_json(&safety);
            out.emit(&v, || {
                format!(
                    "Message queued; it goes out at the next sync.{}",
                    super::checkin::human_safety(&safety)
                )
            });
        }
        MessageCommand::List { channel } => {
            let thread = session::open_thread(&store, channel.as_deref())?;
            out.emit(&thread, || {
                thread
                    .iter()
                    .map(|m| {
                        format!(
                            "{} {} {}{}",
                            ts(m.at_millis),
                            if m.from_me { "me:  " } else { "them:" },
                            m.text,
                            m.delivery.map(|d| format!("  [{d:?}]")).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

pub fn run_unpair(out: &Output, store: Option<&Path>, channel: Option<&str>) -> Result<()> {
    let store = open_store(store)?;
    let v = sync::unpair(&store, &transport(), channel)?;
    out.emit(&v, || {
        format!("Unpaired channel {}; its keys are destroyed.", v.channel_id)
    });
    Ok(())
}

pub fn run_channels(out: &Output, store: Option<&Path>) -> Result<()> {
    let store = open_store(store)?;
    let v = sync::channel_views(&store)?;
    out.emit(&v, || {
        v.iter()
            .map(|c| {
                format!(
                    "{}  {:?}  {}  unread {}  pending {}",
                    c.channel_id,
                    c.status,
                    c.label.as_deref().unwrap_or("-"),
                    c.unread,
                    c.pending_outbound
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// Renders the QR payload as a black-on-white PNG, 8 px per module.
fn write_qr_png(path: &Path, payload: &str) -> Result<()> {
    let bytes = super::workstation::qr_png(payload)?;
    // The payload holds the pairing secret: owner-only, like exports.
    super::write_private(path, &bytes)
}
