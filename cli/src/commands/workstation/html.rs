//! The page frame, escaping and dates in the therapist's locale and zone.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use collabzium_core::schedule::Tz;

/// Escapes text for HTML element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Dates as the therapist reads them: their zone, and their locale's order.
#[derive(Clone)]
pub struct Fmt {
    pub tz: Tz,
    pub locale: String,
}

impl Fmt {
    fn us(&self) -> bool {
        self.locale.eq_ignore_ascii_case("en-US")
    }

    /// "5 Dec 2026, 21:30 CET" (en-GB and most) or "Dec 5, 2026, 9:30 PM EST" (en-US).
    pub fn datetime(&self, t: DateTime<Utc>) -> String {
        let l = t.with_timezone(&self.tz);
        if self.us() {
            l.format("%b %-d, %Y, %-I:%M %p %Z").to_string()
        } else {
            l.format("%-d %b %Y, %H:%M %Z").to_string()
        }
    }

    pub fn date(&self, t: DateTime<Utc>) -> String {
        let l = t.with_timezone(&self.tz);
        if self.us() {
            l.format("%b %-d, %Y").to_string()
        } else {
            l.format("%-d %b %Y").to_string()
        }
    }

    /// Axis labels: day and month only.
    pub fn short(&self, t: DateTime<Utc>) -> String {
        let l = t.with_timezone(&self.tz);
        if self.us() {
            l.format("%b %-d").to_string()
        } else {
            l.format("%-d %b").to_string()
        }
    }

    pub fn millis(&self, ms: i64) -> String {
        DateTime::from_timestamp_millis(ms)
            .map(|t| self.datetime(t))
            .unwrap_or_else(|| "-".into())
    }

    /// A `<time>` element with the machine-readable instant.
    pub fn time_el(&self, t: DateTime<Utc>) -> String {
        format!(
            r#"<time datetime="{}">{}</time>"#,
            t.to_rfc3339(),
            esc(&self.datetime(t))
        )
    }
}

pub struct Frame<'a> {
    pub title: &'a str,
    /// `caseload`, `inbox`, `invite`, `settings`, `research` or ``.
    pub nav: &'a str,
    pub csrf: &'a str,
    pub synced: String,
    pub unread: usize,
    /// This page's path: "Sync now" comes back here.
    pub back: String,
    /// The therapist's locale (`en-GB`), so the browser's date and time
    /// fields follow it too.
    pub lang: String,
}

/// The page: skip link, navigation with the sync button, then `main`.
pub fn page(f: &Frame<'_>, main: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<!doctype html><html lang="{}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="same-origin"><title>{} · Collabzium workstation</title><link rel="stylesheet" href="/assets/style.css"><script src="/assets/app.js" defer></script></head><body><a class="skip" href="#main">Skip to content</a><header class="top"><nav aria-label="Main"><ul>"##,
        esc(&f.lang),
        esc(f.title)
    );
    let inbox = if f.unread > 0 {
        format!("Inbox <span class=\"badge\">{} new</span>", f.unread)
    } else {
        "Inbox".into()
    };
    for (id, href, label) in [
        ("caseload", "/", "Caseload".to_string()),
        ("inbox", "/inbox", inbox),
        ("invite", "/invite", "Invite".into()),
        ("settings", "/settings", "Settings".into()),
        ("research", "/research", "Research".into()),
    ] {
        let cur = if id == f.nav {
            r#" aria-current="page""#
        } else {
            ""
        };
        let _ = write!(s, r#"<li><a href="{href}"{cur}>{label}</a></li>"#);
    }
    let _ = write!(
        s,
        r#"</ul></nav><form class="sync" method="post" action="/sync"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="back" value="{}"><p id="synced" aria-live="polite">{}</p><button type="submit">Sync now</button></form></header><main id="main" tabindex="-1"><h1>{}</h1>{main}</main></body></html>"#,
        esc(f.csrf),
        esc(&f.back),
        esc(&f.synced),
        esc(f.title)
    );
    s
}

pub fn csrf_input(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn dates_follow_the_therapists_zone_and_locale() {
        let t = Utc.with_ymd_and_hms(2026, 7, 1, 20, 5, 0).unwrap();
        let gb = Fmt {
            tz: "Europe/Vienna".parse().unwrap(),
            locale: "en-GB".into(),
        };
        assert_eq!(gb.datetime(t), "1 Jul 2026, 22:05 CEST");
        assert_eq!(gb.date(t), "1 Jul 2026");
        let us = Fmt {
            tz: "America/New_York".parse().unwrap(),
            locale: "en-US".into(),
        };
        assert_eq!(us.datetime(t), "Jul 1, 2026, 4:05 PM EDT");
        assert!(us
            .time_el(t)
            .starts_with(r#"<time datetime="2026-07-01T20:05:00+00:00">"#));
    }

    #[test]
    fn the_frame_has_a_skip_link_the_sync_form_and_marks_the_current_page() {
        let p = page(
            &Frame {
                title: "Inbox",
                nav: "inbox",
                csrf: "abc",
                synced: "Not synced yet".into(),
                unread: 2,
                back: "/inbox".into(),
                lang: "en-GB".into(),
            },
            "<p>x</p>",
        );
        assert!(p.contains(r##"<a class="skip" href="#main">"##));
        assert!(p.contains(
            r#"<a href="/inbox" aria-current="page">Inbox <span class="badge">2 new</span>"#
        ));
        assert!(
            p.contains(r#"name="csrf" value="abc""#) && p.contains(r#"name="back" value="/inbox""#)
        );
        assert!(p.contains(r#"<main id="main" tabindex="-1"><h1>Inbox</h1><p>x</p></main>"#));
    }
}
