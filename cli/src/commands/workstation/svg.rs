//! Charts drawn on the server as inline SVG: presentation attributes only
//! (no inline styles, so the strict CSP holds), a title and description for
//! screen readers, and every chart is followed by its data as a table.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::html::esc;

pub struct Line {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(DateTime<Utc>, f64)>,
    /// Dashed (the therapist's own ratings).
    pub dashed: bool,
}

pub struct BandFill {
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub fill: &'static str,
}

pub struct Event {
    pub at: DateTime<Utc>,
    pub label: String,
    pub color: &'static str,
}

pub struct Chart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub y_min: f64,
    pub y_max: f64,
    pub lines: Vec<Line>,
    pub bands: Vec<BandFill>,
    pub events: Vec<Event>,
    /// A gap longer than this many days breaks the line (a missed week is not
    /// drawn as if it had been measured).
    pub gap_days: i64,
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const L: f64 = 48.0;
const R: f64 = 150.0;
const T: f64 = 16.0;
const B: f64 = 34.0;

fn n(v: f64) -> String {
    format!("{:.1}", v)
}

/// Renders `c`; `fmt_date` writes axis dates in the therapist's zone.
pub fn line_chart(c: &Chart<'_>, fmt_date: &dyn Fn(DateTime<Utc>) -> String) -> String {
    let span = (c.to - c.from).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| L + (t - c.from).num_seconds() as f64 / span * (W - L - R);
    let yr = (c.y_max - c.y_min).max(1e-9);
    let y = |v: f64| T + (c.y_max - v.clamp(c.y_min, c.y_max)) / yr * (H - T - B);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{t}</title><desc id="{id}-d">{d}</desc>"#,
        id = esc(c.id),
        t = esc(c.title),
        d = esc(c.desc)
    );
    // Bands first, labelled in the right margin so no gridline crosses a label.
    for b in &c.bands {
        let (y0, y1) = (y(b.max), y(b.min));
        let _ = write!(
            s,
            r##"<rect x="{L}" y="{}" width="{}" height="{}" fill="{}"/><text x="{}" y="{}" font-size="11" fill="#333">{}</text>"##,
            n(y0),
            n(W - L - R),
            n((y1 - y0).max(0.5)),
            b.fill,
            n(W - R + 6.0),
            n((y0 + y1) / 2.0 + 4.0),
            esc(&b.label)
        );
    }
    // Y ticks at round values (1, 2 or 5 times a power of ten).
    for v in ticks(c.y_min, c.y_max) {
        let _ = write!(
            s,
            r##"<line x1="{L}" x2="{}" y1="{yy}" y2="{yy}" stroke="#ccc" stroke-width="0.5"/><text x="{}" y="{}" font-size="11" text-anchor="end" fill="#333">{}</text>"##,
            n(W - R),
            n(L - 4.0),
            n(y(v) + 4.0),
            trim(v),
            yy = n(y(v))
        );
    }
    // X ticks: start, end and three between.
    for i in 0..=4 {
        let t = c.from + chrono::Duration::seconds((span * f64::from(i) / 4.0) as i64);
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
            n(x(t)),
            n(H - 12.0),
            esc(&fmt_date(t))
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{L}" x2="{L}" y1="{T}" y2="{}" stroke="#555"/><line x1="{L}" x2="{}" y1="{}" y2="{}" stroke="#555"/>"##,
        n(H - B),
        n(W - R),
        n(H - B),
        n(H - B)
    );
    for e in &c.events {
        let ex = x(e.at);
        let _ = write!(
            s,
            r#"<line x1="{ex}" x2="{ex}" y1="{T}" y2="{}" stroke="{col}" stroke-width="2" stroke-dasharray="4 3"/><path d="M{ex} {T} l-5 -8 h10 z" fill="{col}"><title>{lab}</title></path><text x="{}" y="{}" font-size="10" fill="{col}">{lab}</text>"#,
            n(H - B),
            n(ex + 3.0),
            n(T + 10.0),
            ex = n(ex),
            col = e.color,
            lab = esc(&e.label)
        );
    }
    for line in &c.lines {
        let mut d = String::new();
        let mut prev: Option<DateTime<Utc>> = None;
        for (at, v) in &line.points {
            let cmd = match prev {
                Some(p) if (*at - p).num_days() <= c.gap_days => 'L',
                _ => 'M',
            };
            let _ = write!(d, "{cmd}{} {} ", n(x(*at)), n(y(*v)));
            prev = Some(*at);
        }
        let dash = if line.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            d.trim_end(),
            line.color
        );
        for (at, v) in &line.points {
            let _ = write!(
                s,
                r#"<circle cx="{}" cy="{}" r="3" fill="{}"><title>{}: {} ({})</title></circle>"#,
                n(x(*at)),
                n(y(*v)),
                line.color,
                esc(&line.name),
                trim(*v),
                esc(&fmt_date(*at))
            );
        }
    }
    // Legend in the right margin, below the band labels' column.
    for (i, line) in c.lines.iter().enumerate() {
        let ly = H - B - 14.0 * (c.lines.len() - i) as f64;
        let _ = write!(
            s,
            r##"<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="3"/><text x="{}" y="{}" font-size="11" fill="#111">{}</text>"##,
            n(W - R + 70.0),
            n(W - R + 84.0),
            n(ly),
            n(ly),
            line.color,
            n(W - R + 88.0),
            n(ly + 4.0),
            esc(&line.name)
        );
    }
    s.push_str("</svg>");
    s
}

/// A forest plot: one row per estimate, with the meta-analytic reference.
pub struct ForestRow {
    pub label: String,
    pub r: f64,
    pub ci: [f64; 2],
    pub reference: bool,
}

pub fn forest(id: &str, title: &str, rows: &[ForestRow]) -> String {
    let h = 40.0 + 28.0 * rows.len() as f64;
    let (l, r) = (200.0, 40.0);
    let x = |v: f64| l + (v.clamp(-1.0, 1.0) + 1.0) / 2.0 * (W - l - r);
    let mut s = format!(
        r#"<svg class="chart" id="{id}" viewBox="0 0 {W} {h}" role="img" aria-labelledby="{id}-t" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title>"#,
        esc(title)
    );
    for t in [-1.0, -0.5, 0.0, 0.5, 1.0] {
        let _ = write!(
            s,
            r##"<line x1="{xx}" x2="{xx}" y1="10" y2="{}" stroke="{}" stroke-width="{}"/><text x="{xx}" y="{}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
            n(h - 24.0),
            if t == 0.0 { "#555" } else { "#ddd" },
            if t == 0.0 { 1.0 } else { 0.5 },
            n(h - 8.0),
            trim(t),
            xx = n(x(t))
        );
    }
    // The reference estimate as a dashed line through every row.
    if let Some(r) = rows.iter().find(|r| r.reference) {
        let _ = write!(
            s,
            r##"<line x1="{xx}" x2="{xx}" y1="10" y2="{}" stroke="#7a3e00" stroke-width="1" stroke-dasharray="4 3"/>"##,
            n(h - 24.0),
            xx = n(x(r.r))
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let yy = 26.0 + 28.0 * i as f64;
        let col = if row.reference { "#7a3e00" } else { "#1f4e9c" };
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" font-size="12" text-anchor="end" fill="#111">{}</text><line x1="{}" x2="{}" y1="{yy}" y2="{yy}" stroke="{col}" stroke-width="2"/><rect x="{}" y="{}" width="10" height="10" fill="{col}"><title>{}: r = {:.3} [{:.3}, {:.3}]</title></rect>"##,
            n(l - 8.0),
            n(yy + 4.0),
            esc(&row.label),
            n(x(row.ci[0])),
            n(x(row.ci[1])),
            n(x(row.r) - 5.0),
            n(yy - 5.0),
            esc(&row.label),
            row.r,
            row.ci[0],
            row.ci[1],
        );
    }
    s.push_str("</svg>");
    s
}

/// Round tick values from `lo` to `hi`, about five of them.
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return vec![lo];
    }
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + step * 1e-9 && out.len() < 12 {
        out.push(v);
        v += step;
    }
    out
}

/// At most two decimals, without trailing zeros.
pub fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 27.0), vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0]);
        assert_eq!(ticks(1.0, 7.0), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(
            ticks(0.0, 1.0),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(ticks(3.0, 3.0), vec![3.0]);
    }

    #[test]
    fn trim_keeps_two_decimals_at_most() {
        assert_eq!(trim(0.1 + 0.2), "0.3");
        assert_eq!(trim(14.0), "14");
        assert_eq!(trim(-0.001), "0");
        assert_eq!(trim(2.345_678), "2.35");
    }

    fn chart(points: Vec<(DateTime<Utc>, f64)>) -> String {
        let day = |d| Utc.with_ymd_and_hms(2026, 1, d, 12, 0, 0).unwrap();
        let c = Chart {
            id: "c",
            title: "PHQ-9 <over> time",
            desc: "d",
            from: day(1),
            to: day(31),
            y_min: 0.0,
            y_max: 27.0,
            lines: vec![Line {
                name: "PHQ-9".into(),
                color: "#000",
                points,
                dashed: false,
            }],
            bands: vec![BandFill {
                label: "Severe".into(),
                min: 20.0,
                max: 27.0,
                fill: "#f00",
            }],
            events: vec![Event {
                at: day(20),
                label: "Safety alert".into(),
                color: "#a00",
            }],
            gap_days: 10,
        };
        line_chart(&c, &|t| t.format("%d").to_string())
    }

    #[test]
    fn a_missing_stretch_breaks_the_line_and_text_is_escaped() {
        let day = |d| Utc.with_ymd_and_hms(2026, 1, d, 12, 0, 0).unwrap();
        let s = chart(vec![(day(1), 10.0), (day(8), 12.0), (day(29), 14.0)]);
        let path = s.split("<path d=\"").nth(2).unwrap();
        let path = &path[..path.find('"').unwrap()];
        // Two segments: a move, a line, then a new move after the 21-day gap.
        assert_eq!(path.matches('M').count(), 2, "{path}");
        assert_eq!(path.matches('L').count(), 1, "{path}");
        assert!(s.contains("PHQ-9 &lt;over&gt; time"));
        assert!(s.contains(">Severe</text>") && s.contains("Safety alert"));
        assert!(!s.contains("style="), "no inline styles under the CSP");
    }
}
