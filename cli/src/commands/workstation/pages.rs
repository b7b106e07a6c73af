//! The pages. Each handler reads through core's session layer off the async
//! threads, renders HTML on the server, and every form posts back here with
//! the launch's CSRF token (checked in `security`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use collabzium_core::checkin::AckAction;
use collabzium_core::insights::{
    self, display_name, AlertRecord, CaseloadEntry, Flag, PatientRecord, PatientStatus, Priority,
};
use collabzium_core::instruments::Registry;
use collabzium_core::session;
use collabzium_core::sync::availability::{AlertsOutsideHours, Availability, Away, Hours};
use collabzium_core::sync::{self, InvitationState, TherapistInvitation};
use collabzium_core::{Error, Result};
use serde::Deserialize;

use super::html::{csrf_input, esc, page, Frame};
use super::svg::{self, trim};
use super::{blocking, lock, App, Page, PendingInvite};

const PROGRAMS: [(&str, &str); 3] = [
    (
        "steady-steps-12w",
        include_str!("../../../data/programs/steady-steps-12w.json"),
    ),
    (
        "low-mood-8w",
        include_str!("../../../data/programs/low-mood-8w.json"),
    ),
    (
        "worry-6w",
        include_str!("../../../data/programs/worry-6w.json"),
    ),
];

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn frame<'a>(app: &'a App, title: &'a str, nav: &'a str, back: String) -> Frame<'a> {
    let st = lock(&app.status).clone();
    let synced = match (st.last_ok_millis, &st.last_error) {
        (Some(ms), None) => format!("Last synced {}", app.fmt.millis(ms)),
        (Some(ms), Some(code)) => format!(
            "Last synced {}; the latest attempt failed ({code})",
            app.fmt.millis(ms)
        ),
        (None, Some(code)) => format!("Not synced yet: the attempt failed ({code})"),
        (None, None) => "Not synced yet".into(),
    };
    let unread = sync::inbox(app.session.store(), &[])
        .map(|v| v.iter().filter(|i| !i.read).count())
        .unwrap_or(0);
    Frame {
        title,
        nav,
        csrf: &app.csrf,
        synced,
        unread,
        back,
        lang: app.fmt.locale.clone(),
    }
}

fn now(app: &App) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(app.session.store().now_millis()).unwrap_or_default()
}

pub fn tier_name(p: Priority) -> &'static str {
    match p {
        Priority::Safety => "Safety alert",
        Priority::Deterioration => "Deterioration",
        Priority::RecentRisk => "Recent risk",
        Priority::Rupture => "Alliance rupture",
        Priority::Disengagement => "Disengagement",
        Priority::NonResponse => "No reliable improvement",
        Priority::Routine => "Routine",
    }
}

const TIERS: [Priority; 7] = [
    Priority::Safety,
    Priority::Deterioration,
    Priority::RecentRisk,
    Priority::Rupture,
    Priority::Disengagement,
    Priority::NonResponse,
    Priority::Routine,
];

fn tier_id(p: Priority) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn patient_name(label: Option<&str>, channel: &str) -> String {
    label
        .map(str::to_string)
        .unwrap_or_else(|| format!("Patient {}", channel.get(..8).unwrap_or(channel)))
}

fn flash(msg: Option<&str>) -> String {
    let text = match msg.unwrap_or("") {
        "sent" => "Message queued; it goes out at the next sync.",
        "acked" => "Acknowledgement queued; the patient sees that their alert was seen.",
        "rated" => "Your alliance rating is saved.",
        "assigned" => "Program assigned; the patient enrols at their next sync.",
        "approved" => "Approval queued; the module unlocks at the patient's next sync.",
        "saved" => "Availability saved; patients get it at the next sync.",
        "synced" => "Synced.",
        _ => return String::new(),
    };
    format!(r#"<p class="flash" role="status">{text}</p>"#)
}

fn evidence_list(app: &App, f: &Flag) -> String {
    if f.evidence.is_empty() {
        return String::new();
    }
    let mut s = String::from(r#"<ul class="evidence">"#);
    for e in &f.evidence {
        let _ = write!(s, "<li>{}", esc(&e.label));
        if let Some(v) = e.value {
            let _ = write!(s, ": {}", trim(v));
        }
        if let Some(at) = e.at {
            let _ = write!(s, " ({})", app.fmt.time_el(at));
        }
        s.push_str("</li>");
    }
    s.push_str("</ul>");
    s
}

/// "PHQ-9 item 9 answered 1 (Several days), total 14" or the matched phrase.
pub fn alert_trigger(a: &AlertRecord) -> String {
    let t = &a.trigger;
    if let Some(p) = &t.phrase {
        return format!("Possible risk language in a message: \u{201c}{p}\u{201d}");
    }
    let mut s = display_name(&a.instrument);
    if let Some(item) = &t.item {
        let num = item.rsplit('_').next().unwrap_or(item);
        let _ = write!(s, " item {num}");
    }
    if let Some(v) = t.answer {
        let _ = write!(s, " answered {}", trim(v));
    }
    if let Some(txt) = &t.answer_text {
        let _ = write!(s, " ({txt})");
    }
    if let Some(total) = t.total {
        let _ = write!(s, ", total {}", trim(total));
    }
    s
}

fn ack_form(app: &App, channel: &str, alert_id: &str, back: &str) -> String {
    let mut opts = String::new();
    for a in AckAction::ALL {
        let _ = write!(
            opts,
            r#"<option value="{}">{}</option>"#,
            a.as_str(),
            esc(a.label())
        );
    }
    let fid = format!("ack-{}", &alert_id.get(..12).unwrap_or(alert_id));
    format!(
        r#"<form class="ack" method="post" action="/patient/{c}/ack">{csrf}<input type="hidden" name="alert" value="{a}"><input type="hidden" name="back" value="{back}"><label for="{fid}-action">What you did</label><select id="{fid}-action" name="action" required>{opts}</select><label for="{fid}-note">Note (stays on this computer)</label><input id="{fid}-note" name="note" maxlength="2000"><button type="submit">Acknowledge</button></form>"#,
        c = esc(channel),
        csrf = csrf_input(&app.csrf),
        a = esc(alert_id),
        back = esc(back)
    )
}

fn unacked(records: &[PatientRecord]) -> Vec<(&PatientRecord, &AlertRecord)> {
    let mut v: Vec<_> = records
        .iter()
        .flat_map(|r| {
            r.alerts
                .iter()
                .filter(|a| !a.acknowledged)
                .map(move |a| (r, a))
        })
        .collect();
    v.sort_by_key(|(_, a)| std::cmp::Reverse(a.at));
    v
}

// ------------------------------------------------------------------ caseload

#[derive(Deserialize, Default)]
pub struct CaseloadQuery {
    tier: Option<String>,
    /// The assigned program's id (`metadata.id`).
    program: Option<String>,
    mode: Option<String>,
    /// Only patients without contact for at least this many days.
    quiet_days: Option<i64>,
    msg: Option<String>,
}

pub async fn caseload(State(app): State<Arc<App>>, Query(q): Query<CaseloadQuery>) -> Page {
    let body = blocking(&app, move |app| {
        let records = app.session.patients().patients(app.session.store())?;
        let entries = app.session.caseload()?;
        Ok(render_caseload(app, &records, &entries, &q))
    })
    .await?;
    Ok(html(body))
}

fn render_caseload(
    app: &App,
    records: &[PatientRecord],
    entries: &[CaseloadEntry],
    q: &CaseloadQuery,
) -> String {
    let now = now(app);
    let mut m = flash(q.msg.as_deref());
    let alerts = unacked(records);
    if !alerts.is_empty() {
        let _ = write!(
            m,
            r#"<section class="alerts" aria-labelledby="alerts-h"><h2 id="alerts-h">Unacknowledged safety alerts ({})</h2><ul>"#,
            alerts.len()
        );
        for (r, a) in &alerts {
            let _ = write!(
                m,
                r#"<li class="alert"><p><a href="/patient/{c}#alerts"><strong>{name}</strong></a>: {trig}, raised {at}</p>{form}</li>"#,
                c = esc(&r.channel_id),
                name = esc(&patient_name(r.label.as_deref(), &r.channel_id)),
                trig = esc(&alert_trigger(a)),
                at = app.fmt.time_el(a.at),
                form = ack_form(app, &r.channel_id, &a.alert_id, "/")
            );
        }
        m.push_str("</ul></section>");
    }
    // Filters: a plain GET form, so they work without JavaScript.
    let sel = |cur: &Option<String>, v: &str| {
        if cur.as_deref() == Some(v) {
            " selected"
        } else {
            ""
        }
    };
    let mut tiers = String::from(r#"<option value="">All tiers</option>"#);
    for t in TIERS {
        let id = tier_id(t);
        let _ = write!(
            tiers,
            r#"<option value="{id}"{}>{}</option>"#,
            sel(&q.tier, &id),
            tier_name(t)
        );
    }
    // The programs this therapist has assigned, by title.
    let programs: BTreeMap<&str, &str> = records
        .iter()
        .filter_map(|r| {
            let id = r.program_id.as_deref()?;
            Some((id, r.program_title.as_deref().unwrap_or(id)))
        })
        .collect();
    let mut program_opts = String::from(r#"<option value="">Any program</option>"#);
    for (id, title) in &programs {
        let _ = write!(
            program_opts,
            r#"<option value="{}"{}>{}</option>"#,
            esc(id),
            sel(&q.program, id),
            esc(title)
        );
    }
    let quiet = q.quiet_days.unwrap_or(0);
    let mut quiet_opts = String::new();
    for (d, l) in [
        (0, "Any"),
        (7, "7 days or more"),
        (14, "14 days or more"),
        (28, "28 days or more"),
    ] {
        let s = if d == quiet { " selected" } else { "" };
        let _ = write!(quiet_opts, r#"<option value="{d}"{s}>{l}</option>"#);
    }
    let _ = write!(
        m,
        r#"<form class="filters" method="get" action="/" aria-label="Filter the caseload"><label for="f-tier">Tier</label><select id="f-tier" name="tier">{tiers}</select><label for="f-program">Program</label><select id="f-program" name="program">{program_opts}</select><label for="f-mode">Program mode</label><select id="f-mode" name="mode"><option value="">Any</option><option value="guided"{g}>Guided</option><option value="unguided"{u}>Unguided</option></select><label for="f-quiet">Without contact for</label><select id="f-quiet" name="quiet_days">{quiet_opts}</select><button type="submit">Filter</button></form>"#,
        g = sel(&q.mode, "guided"),
        u = sel(&q.mode, "unguided"),
    );
    let mode_of: BTreeMap<&str, Option<&str>> = records
        .iter()
        .map(|r| (r.channel_id.as_str(), r.mode.as_deref()))
        .collect();
    let program_of: BTreeMap<&str, Option<&str>> = records
        .iter()
        .map(|r| (r.channel_id.as_str(), r.program_id.as_deref()))
        .collect();
    let shown: Vec<(usize, &CaseloadEntry)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            q.tier
                .as_deref()
                .is_none_or(|t| t.is_empty() || t == tier_id(e.priority))
                && q.program.as_deref().is_none_or(|pr| {
                    pr.is_empty()
                        || program_of.get(e.channel_id.as_str()).copied().flatten() == Some(pr)
                })
                && q.mode.as_deref().is_none_or(|md| {
                    md.is_empty()
                        || mode_of.get(e.channel_id.as_str()).copied().flatten() == Some(md)
                })
                && (quiet <= 0
                    || e.last_activity
                        .is_none_or(|t| (now - t).num_days() >= quiet))
        })
        .collect();
    let _ = write!(
        m,
        r#"<p>{} of {} patients, most urgent first (the order core computes: tier, then severity).</p>"#,
        shown.len(),
        entries.len()
    );
    if entries.is_empty() {
        m.push_str(r#"<p>No patients yet. <a href="/invite">Invite one</a>.</p>"#);
        return page(&frame(app, "Caseload", "caseload", "/".into()), &m);
    }
    m.push_str(r#"<table class="caseload"><caption class="visually-hidden">Caseload</caption><thead><tr><th scope="col">#</th><th scope="col">Patient</th><th scope="col">Tier</th><th scope="col">Reasons and evidence</th><th scope="col">Latest score</th><th scope="col">Last contact</th><th scope="col">Week</th></tr></thead><tbody>"#);
    for (i, e) in shown {
        let mut reasons = String::new();
        for f in &e.reasons {
            let _ = write!(
                reasons,
                "<li><span class=\"reason\">{}</span>{}</li>",
                esc(&f.reason),
                evidence_list(app, f)
            );
        }
        let headline = e
            .headline
            .as_ref()
            .map(|h| {
                let mut s = format!("{} {}", esc(&h.display_name), trim(h.total));
                if let Some(l) = &h.severity_label {
                    let _ = write!(s, " ({})", esc(l));
                }
                if let Some(c) = h.change {
                    let sign = if c > 0.0 { "+" } else { "" };
                    let _ = write!(s, "<br><small>{sign}{} since baseline</small>", trim(c));
                }
                if h.stale {
                    s.push_str("<br><small>older than 14 days</small>");
                }
                s
            })
            .unwrap_or_else(|| "-".into());
        let last = e
            .last_activity
            .map(|t| app.fmt.time_el(t))
            .unwrap_or_else(|| "-".into());
        // A patient who left is shown as such, not as a quiet active one.
        let status = match e.status {
            PatientStatus::Active => String::new(),
            PatientStatus::Left => "<br><small class=\"status-left\">left</small>".into(),
            PatientStatus::Ended => "<br><small class=\"status-ended\">ended</small>".into(),
        };
        let _ = write!(
            m,
            r#"<tr class="tier-{tid}" data-channel="{c}" data-status="{st}"><td>{rank}</td><td><a href="/patient/{c}">{name}</a>{status}</td><td><span class="tier">{tier}</span></td><td><ul class="reasons">{reasons}</ul></td><td>{headline}</td><td>{last}</td><td>{week}</td></tr>"#,
            tid = tier_id(e.priority),
            st = status_id(e.status),
            c = esc(&e.channel_id),
            rank = i + 1,
            name = esc(&patient_name(e.label.as_deref(), &e.channel_id)),
            tier = tier_name(e.priority),
            week = e.week
        );
    }
    m.push_str("</tbody></table>");
    page(&frame(app, "Caseload", "caseload", "/".into()), &m)
}

fn status_id(s: PatientStatus) -> &'static str {
    match s {
        PatientStatus::Active => "active",
        PatientStatus::Left => "left",
        PatientStatus::Ended => "ended",
    }
}

// ------------------------------------------------------------------ patient

#[derive(Deserialize, Default)]
pub struct MsgQuery {
    msg: Option<String>,
}

pub async fn patient(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<MsgQuery>,
) -> Page {
    let body = blocking(&app, move |app| render_patient(app, &id, q.msg.as_deref())).await?;
    Ok(html(body))
}

const BAND_FILLS: [&str; 6] = [
    "#e3f1e3", "#f3f0cf", "#f9dfb8", "#f4bfa8", "#e08c8c", "#c96a6a",
];

fn render_patient(app: &App, channel: &str, msg: Option<&str>) -> Result<String> {
    let store = app.session.store();
    let records = app.session.patients().patients(store)?;
    let rec = records
        .iter()
        .find(|r| r.channel_id == channel)
        .ok_or_else(|| Error::NotFound {
            what: "patient".into(),
        })?;
    let tl = app.session.patient_timeline(channel)?;
    // Opening the patient opens their thread and their new inbox items.
    let thread = session::open_thread(store, Some(channel))?;
    let unread: Vec<String> = sync::inbox(store, &[])?
        .into_iter()
        .filter(|i| i.channel_id == channel && !i.read)
        .map(|i| i.event_id)
        .collect();
    if !unread.is_empty() {
        sync::mark_read(store, channel, &unread)?;
    }
    let chan = sync::channel_views(store)?
        .into_iter()
        .find(|c| c.channel_id == channel);
    let name = patient_name(rec.label.as_deref(), channel);
    let now = now(app);
    let fmt = &app.fmt;
    let mut m = flash(msg);
    let _ = write!(
        m,
        r#"<p class="sub">Week {} · {} · channel {}{}</p>"#,
        tl.week_now,
        rec.mode.as_deref().unwrap_or("mode not known yet"),
        chan.as_ref()
            .map(|c| format!("{:?}", c.status).to_lowercase())
            .unwrap_or_else(|| "unknown".into()),
        chan.as_ref()
            .and_then(|c| c.safety_number.as_ref())
            .map(|n| format!(" · safety number {}", esc(n)))
            .unwrap_or_default()
    );
    m.push_str(r##"<nav class="toc" aria-label="On this page"><ul><li><a href="#alerts">Alerts</a></li><li><a href="#flags">Flags</a></li><li><a href="#symptoms">Symptoms</a></li><li><a href="#alliance">Alliance</a></li><li><a href="#progress">Progress</a></li><li><a href="#messages">Messages</a></li><li><a href="#rate">Rate the alliance</a></li><li><a href="#program">Program</a></li></ul></nav>"##);

    // Alerts.
    m.push_str(
        r#"<section id="alerts" aria-labelledby="alerts-h"><h2 id="alerts-h">Safety alerts</h2>"#,
    );
    if rec.alerts.is_empty() {
        m.push_str("<p>None.</p>");
    } else {
        m.push_str("<ul>");
        for a in rec.alerts.iter().rev() {
            let _ = write!(
                m,
                r#"<li class="{}"><p>{} · {}. "#,
                if a.acknowledged { "acked" } else { "alert" },
                fmt.time_el(a.at),
                esc(&alert_trigger(a))
            );
            if a.acknowledged {
                let _ = write!(
                    m,
                    "Acknowledged{}{}.</p>",
                    a.acknowledged_at
                        .map(|t| format!(" {}", fmt.time_el(t)))
                        .unwrap_or_default(),
                    a.action
                        .map(|x| format!(": {}", x.label()))
                        .unwrap_or_default()
                );
            } else {
                let _ = write!(
                    m,
                    "<strong>Not acknowledged.</strong></p>{}",
                    ack_form(app, channel, &a.alert_id, &format!("/patient/{channel}"))
                );
            }
            m.push_str("</li>");
        }
        m.push_str("</ul>");
    }
    m.push_str("</section>");

    // Flags.
    m.push_str(r#"<section id="flags" aria-labelledby="flags-h"><h2 id="flags-h">Flags</h2>"#);
    if tl.flags.is_empty() {
        m.push_str("<p>No flags.</p>");
    } else {
        m.push_str("<ul>");
        for f in &tl.flags {
            let _ = write!(
                m,
                "<li><span class=\"reason\">{}</span>{}</li>",
                esc(&f.reason),
                evidence_list(app, f)
            );
        }
        m.push_str("</ul>");
    }
    m.push_str("</section>");

    // Symptom charts with bands and risk events.
    let from = rec.start;
    let to = now.max(from + chrono::Duration::days(7));
    let risk_events: Vec<svg::Event> = rec
        .alerts
        .iter()
        .map(|a| svg::Event {
            at: a.at,
            label: "Safety alert".into(),
            color: "#a00000",
        })
        .collect();
    m.push_str(r#"<section id="symptoms" aria-labelledby="sym-h"><h2 id="sym-h">Symptoms</h2>"#);
    if tl.symptoms.is_empty() {
        m.push_str("<p>No symptom scores yet.</p>");
    }
    for s in &tl.symptoms {
        let name = display_name(&s.instrument);
        let mut bands: Vec<_> = s.bands.clone();
        bands.sort_by(|a, b| a.min.total_cmp(&b.min));
        if !s.higher_is_worse {
            bands.reverse();
        }
        let y_max = bands.iter().map(|b| b.max).fold(
            s.points.iter().map(|p| p.score).fold(1.0, f64::max),
            f64::max,
        );
        let fills: Vec<svg::BandFill> = bands
            .iter()
            .enumerate()
            .map(|(i, b)| svg::BandFill {
                label: b.label.clone(),
                min: b.min,
                max: b.max,
                fill: BAND_FILLS[i.min(BAND_FILLS.len() - 1)],
            })
            .collect();
        let id = format!("chart-{}", s.instrument);
        let title = format!("{name} over time");
        let desc = format!(
            "{} scores from {} to {}; coloured bands are the severity ranges; dashed red lines mark safety alerts; a reliable change is {} points.",
            s.points.len(),
            fmt.date(from),
            fmt.date(to),
            trim(s.reliable_change_threshold)
        );
        let chart = svg::Chart {
            id: &id,
            title: &title,
            desc: &desc,
            from,
            to,
            y_min: 0.0,
            y_max,
            lines: vec![svg::Line {
                name: name.clone(),
                color: "#1f4e9c",
                points: s.points.iter().map(|p| (p.at, p.score)).collect(),
                dashed: false,
            }],
            bands: fills,
            events: risk_events
                .iter()
                .map(|e| svg::Event {
                    at: e.at,
                    label: e.label.clone(),
                    color: e.color,
                })
                .collect(),
            gap_days: 10,
        };
        let _ = write!(
            m,
            "<figure><h3>{}</h3>{}<details><summary>{} data as a table</summary><table><thead><tr><th scope=\"col\">Date</th><th scope=\"col\">Week</th><th scope=\"col\">Score</th><th scope=\"col\">Band</th></tr></thead><tbody>",
            esc(&name),
            svg::line_chart(&chart, &|t| fmt.short(t)),
            esc(&name)
        );
        for p in &s.points {
            let _ = write!(
                m,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                fmt.time_el(p.at),
                p.week,
                trim(p.score),
                esc(p.band_label.as_deref().unwrap_or("-"))
            );
        }
        m.push_str("</tbody></table></details></figure>");
    }
    m.push_str("</section>");

    // Alliance.
    m.push_str(r#"<section id="alliance" aria-labelledby="all-h"><h2 id="all-h">Alliance</h2>"#);
    if tl.alliance.is_empty() {
        m.push_str("<p>No alliance ratings yet.</p>");
    } else {
        let pick = |src: &str,
                    f: fn(&insights::AlliancePoint) -> Option<f64>|
         -> Vec<(DateTime<Utc>, f64)> {
            tl.alliance
                .iter()
                .filter(|p| p.source == src)
                .filter_map(|p| f(p).map(|v| (p.at, v)))
                .collect()
        };
        let ruptures: Vec<svg::Event> = tl
            .flags
            .iter()
            .filter(|f| f.kind == insights::FlagKind::AllianceRupture)
            .filter_map(|f| f.evidence.iter().filter_map(|e| e.at).max())
            .map(|at| svg::Event {
                at,
                label: "Rupture".into(),
                color: "#7a3e00",
            })
            .collect();
        let chart = svg::Chart {
            id: "chart-alliance",
            title: "Alliance over time (1 to 7)",
            desc: "Patient ratings of goals, tasks and bond, and the therapist's own total (dashed), on the 1 to 7 scale; brown dashed lines mark ruptures.",
            from,
            to,
            y_min: 1.0,
            y_max: 7.0,
            lines: vec![
                svg::Line { name: "Goals".into(), color: "#1f4e9c", points: pick("patient", |p| p.goals), dashed: false },
                svg::Line { name: "Tasks".into(), color: "#2f7d32", points: pick("patient", |p| p.tasks), dashed: false },
                svg::Line { name: "Bond".into(), color: "#8e24aa", points: pick("patient", |p| p.bond), dashed: false },
                svg::Line { name: "Therapist".into(), color: "#444444", points: pick("therapist", |p| p.total), dashed: true },
            ],
            bands: Vec::new(),
            events: ruptures,
            gap_days: 10,
        };
        let _ = write!(
            m,
            "<figure>{}<details><summary>Alliance data as a table</summary><table><thead><tr><th scope=\"col\">Date</th><th scope=\"col\">By</th><th scope=\"col\">Goals</th><th scope=\"col\">Tasks</th><th scope=\"col\">Bond</th><th scope=\"col\">Total</th></tr></thead><tbody>",
            svg::line_chart(&chart, &|t| fmt.short(t))
        );
        let o = |v: Option<f64>| v.map(trim).unwrap_or_else(|| "-".into());
        for p in &tl.alliance {
            let _ = write!(
                m,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                fmt.time_el(p.at),
                esc(&p.source),
                o(p.goals),
                o(p.tasks),
                o(p.bond),
                o(p.total)
            );
        }
        m.push_str("</tbody></table></details></figure>");
    }
    m.push_str("</section>");

    // Progress and engagement.
    m.push_str(r#"<section id="progress" aria-labelledby="prog-h"><h2 id="prog-h">Module progress and engagement</h2>"#);
    if tl.progress.is_empty() {
        m.push_str("<p>No module completed yet.</p>");
    } else {
        m.push_str("<ol class=\"progress\">");
        for p in &tl.progress {
            let _ = write!(
                m,
                "<li>{} <small>({}, {})</small></li>",
                esc(&p.title),
                esc(&p.kind),
                fmt.time_el(p.at)
            );
        }
        m.push_str("</ol>");
    }
    if let Some(e) = &tl.engagement {
        let _ = write!(
            m,
            "<dl class=\"engagement\"><dt>Summary from</dt><dd>{}</dd><dt>Days since last activity</dt><dd>{}</dd><dt>Completed items</dt><dd>{}</dd><dt>Missed items</dt><dd>{}</dd><dt>Missed in a row now</dt><dd>{}</dd><dt>Stalled modules</dt><dd>{}</dd><dt>Completion rate</dt><dd>{}</dd></dl>",
            fmt.time_el(e.at),
            e.days_since_last_activity,
            e.completed_items,
            e.missed_items,
            e.current_missed_run,
            e.stalled_modules,
            e.completion_rate
                .map(|r| format!("{:.0}%", r * 100.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    m.push_str("</section>");

    // Messages.
    m.push_str(r#"<section id="messages" aria-labelledby="msg-h"><h2 id="msg-h">Messages</h2>"#);
    if thread.is_empty() {
        m.push_str("<p>No messages yet.</p>");
    } else {
        m.push_str(r#"<ol class="thread">"#);
        for t in &thread {
            let state = t
                .delivery
                .map(|d| {
                    format!(
                        r#" <span class="delivery">{}</span>"#,
                        serde_json::to_value(d)
                            .ok()
                            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                m,
                r#"<li class="{}"><p class="meta">{} · {}{}</p><p class="text">{}</p></li>"#,
                if t.from_me { "me" } else { "them" },
                if t.from_me { "You" } else { "Patient" },
                fmt.millis(t.at_millis),
                state,
                esc(&t.text)
            );
        }
        m.push_str("</ol>");
    }
    let last_theirs = thread
        .iter()
        .rev()
        .find(|t| !t.from_me)
        .map(|t| t.id.clone());
    let _ = write!(
        m,
        r#"<form method="post" action="/patient/{c}/message">{csrf}{reply}<label for="reply-text">Reply</label><textarea id="reply-text" name="text" rows="3" maxlength="4000" required></textarea><button type="submit">Send</button></form></section>"#,
        c = esc(channel),
        csrf = csrf_input(&app.csrf),
        reply = last_theirs
            .map(|id| format!(
                r#"<input type="hidden" name="reply_to" value="{}">"#,
                esc(&id)
            ))
            .unwrap_or_default()
    );

    // The therapist's alliance rating.
    let _ = write!(
        m,
        r#"<section id="rate" aria-labelledby="rate-h"><h2 id="rate-h">Rate the alliance</h2><form method="post" action="/patient/{}/rate">{}"#,
        esc(channel),
        csrf_input(&app.csrf)
    );
    let reg = Registry::shipped();
    if let Some(inst) = reg.get("alliance_therapist") {
        if let Some(p) = &inst.preamble {
            let _ = write!(m, "<p>{}</p>", esc(p));
        }
        for item in &inst.items {
            let opts = inst.options(item);
            let fid = format!("rate-{}", item.link_id);
            if !opts.is_empty() {
                let _ = write!(
                    m,
                    r#"<label for="{fid}">{}</label><select id="{fid}" name="{}"{}><option value="">-</option>"#,
                    esc(&item.text),
                    esc(&item.link_id),
                    if item.required { " required" } else { "" }
                );
                for o in opts {
                    let _ = write!(
                        m,
                        r#"<option value="{}">{} {}</option>"#,
                        o.value,
                        o.value,
                        esc(&o.text)
                    );
                }
                m.push_str("</select>");
            } else if let Some((lo, hi)) = inst.value_range(item) {
                let _ = write!(
                    m,
                    r#"<label for="{fid}">{} ({lo} to {hi})</label><input type="number" id="{fid}" name="{}" min="{lo}" max="{hi}"{}>"#,
                    esc(&item.text),
                    esc(&item.link_id),
                    if item.required { " required" } else { "" }
                );
            } else {
                let _ = write!(
                    m,
                    r#"<label for="{fid}">{}</label><input id="{fid}" name="{}">"#,
                    esc(&item.text),
                    esc(&item.link_id)
                );
            }
        }
    }
    m.push_str(r#"<button type="submit">Save my rating</button></form></section>"#);

    // Program: assign and approve.
    let mut progs = String::new();
    for (id, _) in PROGRAMS {
        let _ = write!(progs, r#"<option value="{id}">{id}</option>"#);
    }
    let mut modules = String::new();
    for (_, json) in PROGRAMS {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(json) {
            for md in v["modules"].as_array().into_iter().flatten() {
                if md["unlock"].to_string().contains("therapist_approval") {
                    if let Some(id) = md["id"].as_str() {
                        let _ = write!(modules, r#"<option value="{}">"#, esc(id));
                    }
                }
            }
        }
    }
    let _ = write!(
        m,
        r#"<section id="program" aria-labelledby="prog2-h"><h2 id="prog2-h">Program</h2><form method="post" action="/patient/{c}/assign">{csrf}<fieldset><legend>Assign a program</legend><label for="as-prog">Program</label><select id="as-prog" name="program">{progs}<option value="custom">The definition pasted below</option></select><label for="as-json">Program definition (JSON, only for "pasted below")</label><textarea id="as-json" name="program_json" rows="3"></textarea><label for="as-start">First day</label><input type="date" id="as-start" name="start" value="{today}" required><button type="submit">Assign</button></fieldset></form><form method="post" action="/patient/{c}/approve">{csrf}<fieldset><legend>Approve a module</legend><label for="ap-mod">Module id</label><input id="ap-mod" name="module" list="gated" required><datalist id="gated">{modules}</datalist><button type="submit">Approve</button></fieldset></form></section>"#,
        c = esc(channel),
        csrf = csrf_input(&app.csrf),
        today = now.with_timezone(&fmt.tz).date_naive()
    );
    Ok(page(
        &frame(app, &name, "", format!("/patient/{}", urlpath(channel))),
        &m,
    ))
}

#[derive(Deserialize)]
pub struct MessageForm {
    text: String,
    reply_to: Option<String>,
}

pub async fn post_message(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(f): Form<MessageForm>,
) -> Page {
    let c = id.clone();
    blocking(&app, move |app| {
        collabzium_core::checkin::send_message(
            app.session.store(),
            Some(&c),
            &f.text,
            f.reply_to.as_deref().filter(|r| !r.is_empty()),
        )
        .map(|_| ())
    })
    .await?;
    app.sync_now.notify_one();
    Ok(Redirect::to(&format!("/patient/{}?msg=sent#messages", urlpath(&id))).into_response())
}

/// Channel ids are hex; anything else is refused before it reaches a URL.
fn urlpath(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

#[derive(Deserialize)]
pub struct AckForm {
    alert: String,
    action: String,
    note: Option<String>,
    back: Option<String>,
}

pub async fn post_ack(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(f): Form<AckForm>,
) -> Page {
    let c = id.clone();
    let back = f.back.clone();
    blocking(&app, move |app| {
        let action = AckAction::parse(&f.action)?;
        sync::send_alert_ack(app.session.store(), &c, &f.alert, action, f.note.as_deref())
    })
    .await?;
    app.sync_now.notify_one();
    let to = match back.as_deref() {
        Some("/") => "/?msg=acked".to_string(),
        _ => format!("/patient/{}?msg=acked#alerts", urlpath(&id)),
    };
    Ok(Redirect::to(&to).into_response())
}

pub async fn post_rate(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Page {
    let c = id.clone();
    blocking(&app, move |app| {
        let mut answers = serde_json::Map::new();
        for (k, v) in f {
            if k == "csrf" || v.trim().is_empty() {
                continue;
            }
            let v = v.trim();
            let val = match v.parse::<i64>() {
                Ok(n) => serde_json::Value::from(n),
                Err(_) => serde_json::Value::from(v),
            };
            answers.insert(k, val);
        }
        session::rate_alliance_json(
            app.session.store(),
            &c,
            &serde_json::Value::Object(answers).to_string(),
        )
        .map(|_| ())
    })
    .await?;
    Ok(Redirect::to(&format!("/patient/{}?msg=rated#alliance", urlpath(&id))).into_response())
}

#[derive(Deserialize)]
pub struct AssignForm {
    program: String,
    program_json: Option<String>,
    start: String,
}

pub async fn post_assign(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(f): Form<AssignForm>,
) -> Page {
    let c = id.clone();
    blocking(&app, move |app| {
        let json = if f.program == "custom" {
            f.program_json
                .filter(|j| !j.trim().is_empty())
                .ok_or_else(|| Error::invalid("program_json", "paste a program definition"))?
        } else {
            PROGRAMS
                .iter()
                .find(|(pid, _)| *pid == f.program)
                .map(|(_, j)| j.to_string())
                .ok_or_else(|| Error::invalid("program", "not a shipped program"))?
        };
        session::assign_program(app.session.store(), &c, &json, &f.start)
    })
    .await?;
    app.sync_now.notify_one();
    Ok(Redirect::to(&format!("/patient/{}?msg=assigned#program", urlpath(&id))).into_response())
}

#[derive(Deserialize)]
pub struct ApproveForm {
    module: String,
}

pub async fn post_approve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Form(f): Form<ApproveForm>,
) -> Page {
    let c = id.clone();
    blocking(&app, move |app| {
        sync::send_unlock_approval(app.session.store(), &c, f.module.trim())
    })
    .await?;
    app.sync_now.notify_one();
    Ok(Redirect::to(&format!("/patient/{}?msg=approved#program", urlpath(&id))).into_response())
}

// ------------------------------------------------------------------ inbox

fn inbox_line(kind: &str, body: &serde_json::Value) -> String {
    let get = |p: &str| {
        body.pointer(p).map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
    };
    match kind {
        "checkin" => {
            let inst = get("/checkin/instrument").unwrap_or_default();
            let score = body
                .pointer("/checkin/score/total")
                .and_then(serde_json::Value::as_f64)
                .map(trim)
                .unwrap_or_else(|| "-".into());
            format!("Check-in: {} score {score}", display_name(&inst))
        }
        "safety_alert" => "Safety alert".into(),
        "message" => format!(
            "Message: {}",
            get("/text")
                .unwrap_or_default()
                .chars()
                .take(80)
                .collect::<String>()
        ),
        "module_progress" => format!("Completed {}", get("/title").unwrap_or_default()),
        "engagement_summary" => "Engagement summary".into(),
        "consent" => "Research consent decision".into(),
        other => other.replace('_', " "),
    }
}

pub async fn inbox(State(app): State<Arc<App>>) -> Page {
    let body = blocking(&app, |app| {
        let store = app.session.store();
        let items = sync::inbox(store, &[])?;
        let prev = lock(&app.inbox_seen).replace(store.now_millis());
        let mut m = String::new();
        let (new, old): (Vec<_>, Vec<_>) = items.iter().partition(|i| !i.read);
        let _ = write!(
            m,
            "<p>{} new, unread until you open the patient. {}</p>",
            new.len(),
            prev.map(|p| format!("Your previous visit: {}.", app.fmt.millis(p)))
                .unwrap_or_default()
        );
        for (title, list) in [("New", new), ("Earlier", old)] {
            let _ = write!(m, "<section><h2>{title}</h2>");
            if list.is_empty() {
                m.push_str("<p>Nothing.</p></section>");
                continue;
            }
            m.push_str(r#"<ul class="inbox">"#);
            for i in list.iter().take(100) {
                let _ = write!(
                    m,
                    r#"<li class="kind-{k}"><a href="/patient/{c}">{who}</a> · {line} · <small>{at}</small></li>"#,
                    k = esc(&i.kind),
                    c = esc(&i.channel_id),
                    who = esc(&patient_name(i.patient.as_deref(), &i.channel_id)),
                    line = esc(&inbox_line(&i.kind, &i.body)),
                    at = app.fmt.millis(i.at_millis)
                );
            }
            m.push_str("</ul></section>");
        }
        Ok(page(&frame(app, "Inbox", "inbox", "/inbox".into()), &m))
    })
    .await?;
    Ok(html(body))
}

// ------------------------------------------------------------------ settings

pub async fn settings(State(app): State<Arc<App>>, Query(q): Query<MsgQuery>) -> Page {
    let body = blocking(&app, move |app| {
        let store = app.session.store();
        let a = sync::default_availability(store)?;
        let mut m = flash(q.msg.as_deref());
        let h = a.hours.first().cloned().unwrap_or(Hours {
            days: Vec::new(),
            start: "09:00".into(),
            end: "17:00".into(),
        });
        let mut days = String::new();
        for (code, name) in [
            ("MO", "Monday"),
            ("TU", "Tuesday"),
            ("WE", "Wednesday"),
            ("TH", "Thursday"),
            ("FR", "Friday"),
            ("SA", "Saturday"),
            ("SU", "Sunday"),
        ] {
            let chk = if h.days.iter().any(|d| d == code) {
                " checked"
            } else {
                ""
            };
            let _ = write!(
                days,
                r#"<label class="check"><input type="checkbox" name="day_{lc}" value="1"{chk}> {name}</label>"#,
                lc = code.to_lowercase()
            );
        }
        let away = a.away.first();
        let _ = write!(
            m,
            r#"<form method="post" action="/settings">{csrf}<fieldset><legend>Availability hours</legend><label for="s-tz">Time zone (IANA name)</label><input id="s-tz" name="tz" value="{tz}" required><fieldset class="days"><legend>Days</legend>{days}</fieldset><label for="s-start">From</label><input type="time" id="s-start" name="start" value="{start}" required><label for="s-end">Until</label><input type="time" id="s-end" name="end" value="{end}" required></fieldset><fieldset><legend>Days away</legend><label for="s-away-from">From (date)</label><input type="date" id="s-away-from" name="away_from" value="{af}"><label for="s-away-until">Until (date, inclusive)</label><input type="date" id="s-away-until" name="away_until" value="{au}"></fieldset><fieldset><legend>Reply promise</legend><label for="s-reply">Reply within (hours of availability)</label><input type="number" id="s-reply" name="reply_within_hours" min="1" max="336" value="{reply}" required><p><label class="check"><input type="checkbox" name="alerts_notify" value="1"{notify}> Notify me of safety alerts at once, even outside my hours</label></p></fieldset><button type="submit">Save</button></form>"#,
            csrf = csrf_input(&app.csrf),
            tz = esc(&a.tz),
            start = esc(&h.start),
            end = esc(&h.end),
            af = away.map(|w| w.from.to_string()).unwrap_or_default(),
            au = away.map(|w| w.until.to_string()).unwrap_or_default(),
            reply = a.reply_within_hours,
            notify = if a.alerts_outside_hours == AlertsOutsideHours::Notify {
                " checked"
            } else {
                ""
            }
        );
        // The digest: when the caseload would notify, within these hours.
        m.push_str(r#"<section aria-labelledby="dig-h"><h2 id="dig-h">Notification digest</h2>"#);
        match app.session.notification_digest(2) {
            Ok(batches) if !batches.is_empty() => {
                m.push_str("<ul>");
                for b in batches.iter().take(10) {
                    let _ = write!(
                        m,
                        "<li>{} · {} patient(s){}{}</li>",
                        app.fmt.time_el(b.fire_at),
                        b.entries.len(),
                        if b.immediate { " · at once (safety)" } else { "" },
                        if b.renotify { " · reminder of unacknowledged alerts" } else { "" }
                    );
                }
                m.push_str("</ul>");
            }
            Ok(_) => m.push_str("<p>Nothing to notify.</p>"),
            Err(e) => {
                let _ = write!(m, "<p>Digest not available: {}</p>", esc(&e.to_string()));
            }
        }
        m.push_str("</section>");
        Ok(page(&frame(app, "Settings", "settings", "/settings".into()), &m))
    })
    .await?;
    Ok(html(body))
}

pub async fn post_settings(
    State(app): State<Arc<App>>,
    Form(f): Form<BTreeMap<String, String>>,
) -> Page {
    blocking(&app, move |app| {
        let get = |k: &str| f.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
        let days: Vec<String> = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
            .into_iter()
            .filter(|d| f.contains_key(&format!("day_{}", d.to_lowercase())))
            .map(str::to_string)
            .collect();
        if days.is_empty() {
            return Err(Error::invalid("days", "choose at least one day"));
        }
        let reply = get("reply_within_hours")
            .parse::<u32>()
            .map_err(|_| Error::invalid("reply_within_hours", "must be a whole number of hours"))?;
        let date = |k: &str| -> Result<Option<chrono::NaiveDate>> {
            let v = get(k);
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| Error::invalid("away", "dates must be YYYY-MM-DD"))
        };
        let away = match (date("away_from")?, date("away_until")?) {
            (Some(from), Some(until)) => vec![Away { from, until }],
            (None, None) => Vec::new(),
            _ => {
                return Err(Error::invalid(
                    "away",
                    "give both the first and the last day",
                ))
            }
        };
        let settings = Availability {
            tz: get("tz"),
            hours: vec![Hours {
                days,
                start: get("start"),
                end: get("end"),
            }],
            reply_within_hours: reply,
            away,
            alerts_outside_hours: if f.contains_key("alerts_notify") {
                AlertsOutsideHours::Notify
            } else {
                AlertsOutsideHours::Defer
            },
        };
        sync::set_availability(app.session.store(), &settings, None)
    })
    .await?;
    app.sync_now.notify_one();
    Ok(Redirect::to("/settings?msg=saved").into_response())
}

// ------------------------------------------------------------------ invite

fn poll_invite(app: &App) -> Result<()> {
    let mut slot = lock(&app.invite);
    if let Some(p) = slot.as_mut() {
        if p.paired.is_none() {
            if let InvitationState::Paired {
                channel_id,
                safety_number,
            } = p.inv.poll(app.session.store(), &app.transport)?
            {
                p.paired = Some((channel_id, safety_number));
            }
        }
    }
    Ok(())
}

pub async fn invite(State(app): State<Arc<App>>) -> Page {
    let body = blocking(&app, |app| {
        let _ = poll_invite(app);
        let mut m = String::new();
        let slot = lock(&app.invite);
        if let Some(p) = slot.as_ref() {
                if let Some((cid, sn)) = &p.paired {
                    let _ = write!(
                        m,
                        r#"<div id="invite-state" data-state="paired" role="status"><p class="flash">Paired. Compare the safety number with your patient: <strong class="safety">{}</strong></p><p><a href="/patient/{}">Open the patient</a></p></div>"#,
                        esc(sn),
                        esc(cid)
                    );
                } else {
                    let _ = write!(
                        m,
                        r#"<div id="invite-state" data-state="waiting" role="status" aria-live="polite"><p>Give your patient this code, or let them scan the QR image. Valid until {}.</p><p class="code" id="invite-code">{}</p><img src="/invite/qr.png" width="264" height="264" alt="QR code of the pairing invitation"><p id="invite-wait">Waiting for the patient to join… (this page updates itself; without JavaScript, reload it)</p></div>"#,
                        app.fmt.millis(p.expires_at_millis),
                        esc(&p.code)
                    );
                }
        }
        drop(slot);
        if app.relay.is_none() {
            m.push_str("<p>Start the workstation with <code>--relay URL</code> to invite patients.</p>");
        } else {
            let _ = write!(
                m,
                r#"<form method="post" action="/invite">{}<label for="inv-label">Your name for the patient (stays on this computer)</label><input id="inv-label" name="label" maxlength="100"><button type="submit">Create an invitation</button></form>"#,
                csrf_input(&app.csrf)
            );
        }
        Ok(page(
            &frame(app, "Invite a patient", "invite", "/invite".into()),
            &m,
        ))
    })
    .await?;
    Ok(html(body))
}

#[derive(Deserialize)]
pub struct InviteForm {
    label: Option<String>,
}

pub async fn post_invite(State(app): State<Arc<App>>, Form(f): Form<InviteForm>) -> Page {
    blocking(&app, move |app| {
        let relay = app
            .relay
            .as_deref()
            .ok_or_else(|| Error::invalid("relay", "start the workstation with --relay URL"))?;
        let label = f.label.as_deref().map(str::trim).filter(|l| !l.is_empty());
        let inv = TherapistInvitation::create(app.session.store(), &app.transport, relay, label)?;
        let v = inv.view()?;
        *lock(&app.invite) = Some(PendingInvite {
            inv,
            code: v.code,
            qr: v.qr,
            expires_at_millis: v.expires_at_millis,
            paired: None,
        });
        Ok(())
    })
    .await?;
    Ok(Redirect::to("/invite").into_response())
}

pub async fn invite_qr(State(app): State<Arc<App>>) -> Page {
    let png = blocking(&app, |app| {
        let payload = lock(&app.invite)
            .as_ref()
            .map(|p| p.qr.clone())
            .ok_or_else(|| Error::NotFound {
                what: "invitation".into(),
            })?;
        qr_png(&payload)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

pub async fn invite_status(State(app): State<Arc<App>>) -> Page {
    let v = blocking(&app, |app| {
        poll_invite(app)?;
        let slot = lock(&app.invite);
        Ok(match slot.as_ref() {
            None => serde_json::json!({"state": "none"}),
            Some(p) => match &p.paired {
                Some((cid, sn)) => {
                    serde_json::json!({"state": "paired", "channel": cid, "safety_number": sn})
                }
                None => serde_json::json!({"state": "waiting"}),
            },
        })
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// The QR payload as a black-on-white PNG, 8 px per module, in memory (the
/// CLI's `invite --qr` writes the same image to a file). The modules come
/// from the core, the same matrix the apps draw.
pub(crate) fn qr_png(payload: &str) -> Result<Vec<u8>> {
    let m = collabzium_core::sync::qr::invite_qr(payload)?;
    let (w, quiet) = (m.size as usize, m.quiet_zone as usize);
    let scale = 8usize;
    let side = (w + 2 * quiet) * scale;
    let mut pixels = vec![255u8; side * side];
    for y in 0..w {
        for x in 0..w {
            if m.is_dark(x as u32, y as u32) {
                for dy in 0..scale {
                    let start = ((y + quiet) * scale + dy) * side + (x + quiet) * scale;
                    pixels[start..start + scale].fill(0);
                }
            }
        }
    }
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, side as u32, side as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| Error::Internal(format!("png: {e}")))?;
        w.write_image_data(&pixels)
            .map_err(|e| Error::Internal(format!("png: {e}")))?;
    }
    Ok(bytes)
}

// ------------------------------------------------------------------ research

pub async fn research(State(app): State<Arc<App>>) -> Page {
    let body = blocking(&app, |app| {
        let patients = app.session.patients().patients(app.session.store())?;
        let export = insights::research_export(&patients, None);
        let results = collabzium_core::research::alliance_outcome(&export.rows);
        let n = &export.note;
        let mut m = format!(
            r#"<p>Only patients who consented to research, and only measurements since their consent: {} rows from {} patients. Left out: {} patients without consent, {} measurements from before consent.</p><form method="post" action="/research/export.csv">{}<button type="submit">Download the de-identified CSV</button> <small>(new random patient ids each time; nothing is written on this computer unless you save it)</small></form>"#,
            n.rows,
            n.patients,
            n.patients_left_out_without_consent,
            n.measurements_left_out_before_consent,
            csrf_input(&app.csrf)
        );
        let b = collabzium_core::research::BENCHMARK_ALLIANCE;
        m.push_str(r#"<h2>Early alliance and outcome</h2><p>Alliance in weeks 0 to 3 against the residualized gain on each instrument, with 95% confidence intervals, next to the meta-analytic r = .211 [.162, .259].</p><table class="research"><thead><tr><th scope="col">Instrument</th><th scope="col">Scale</th><th scope="col">n</th><th scope="col">r</th><th scope="col">95% CI</th></tr></thead><tbody>"#);
        let mut rows = Vec::new();
        for res in &results {
            for (scale, a) in [
                ("alliance", &res.alliance),
                ("goals", &res.subscales.goals),
                ("tasks", &res.subscales.tasks),
                ("bond", &res.subscales.bond),
            ] {
                let (r, ci) = match &a.estimate {
                    collabzium_core::research::Estimate::Value { r, ci }
                        if r.is_finite() && ci.iter().all(|c| c.is_finite()) =>
                    {
                        if scale == "alliance" {
                            rows.push(svg::ForestRow {
                                label: format!("{} (n = {})", display_name(&res.instrument), a.n),
                                r: *r,
                                ci: *ci,
                                reference: false,
                            });
                        }
                        (format!("{r:.3}"), format!("[{:.3}, {:.3}]", ci[0], ci[1]))
                    }
                    collabzium_core::research::Estimate::Value { .. } => {
                        ("-".into(), "not a finite number".into())
                    }
                    collabzium_core::research::Estimate::Undefined { reason } => {
                        ("-".into(), esc(reason))
                    }
                };
                let _ = write!(
                    m,
                    r#"<tr><td>{}</td><td>{scale}</td><td>{}</td><td class="r">{r}</td><td>{ci}</td></tr>"#,
                    esc(&display_name(&res.instrument)),
                    a.n
                );
            }
        }
        let _ = write!(
            m,
            r#"<tr class="reference"><td>Meta-analysis</td><td>alliance</td><td>-</td><td>{:.3}</td><td>[{:.3}, {:.3}]</td></tr></tbody></table>"#,
            b.r, b.ci[0], b.ci[1]
        );
        rows.push(svg::ForestRow {
            label: "Meta-analysis".into(),
            r: b.r,
            ci: b.ci,
            reference: true,
        });
        let _ = write!(
            m,
            "<figure>{}<figcaption>Correlation r with its 95% interval; the last row is the meta-analytic reference.</figcaption></figure>",
            svg::forest("forest", "Alliance–outcome correlation by instrument", &rows)
        );
        Ok(page(&frame(app, "Research", "research", "/research".into()), &m))
    })
    .await?;
    Ok(html(body))
}

pub async fn research_csv(State(app): State<Arc<App>>) -> Page {
    let csv = blocking(&app, |app| {
        let patients = app.session.patients().patients(app.session.store())?;
        let export = insights::research_export(&patients, None);
        collabzium_core::research::rows_to_csv(&export.rows)
            .map_err(|e| Error::Internal(e.to_string()))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"research.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

// ------------------------------------------------------------------ sync, status, assets

#[derive(Deserialize)]
pub struct SyncForm {
    back: Option<String>,
}

pub async fn post_sync(State(app): State<Arc<App>>, Form(f): Form<SyncForm>) -> Page {
    blocking(&app, |app| {
        app.sync_once();
        Ok(())
    })
    .await?;
    // Only our own paths, never an open redirect.
    let back = f
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or_else(|| "/?msg=synced".into());
    Ok(Redirect::to(&back).into_response())
}

/// A health page for the script and for tests: counts and times only.
pub async fn status(State(app): State<Arc<App>>) -> Page {
    let v = blocking(&app, |app| {
        let st = lock(&app.status).clone();
        let unread = sync::inbox(app.session.store(), &[])?
            .iter()
            .filter(|i| !i.read)
            .count();
        Ok(serde_json::json!({
            "last_synced_millis": st.last_ok_millis,
            "last_synced": st.last_ok_millis.map(|m| app.fmt.millis(m)),
            "last_error": st.last_error,
            "rounds": st.rounds,
            "unread": unread,
        }))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// Core's caseload order as data, for scripts and the browser tests.
pub async fn caseload_json(State(app): State<Arc<App>>) -> Page {
    let v = blocking(&app, |app| {
        Ok(app
            .session
            .caseload()?
            .iter()
            .map(|e| {
                serde_json::json!({"channel_id": e.channel_id, "priority": e.priority, "status": e.status})
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

pub async fn style() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        include_str!("assets/style.css"),
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        include_str!("assets/app.js"),
    )
        .into_response()
}
