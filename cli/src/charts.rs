//! Hand-written SVG charts for the demo: line charts over program weeks
//! (with optional severity bands and point markers) and the caseload
//! overview. No plotting crate; every text node and attribute is escaped.
//!
//! Output is deterministic: numbers are printed with fixed precision and
//! nothing depends on the clock or on hash order.

use std::fmt::Write as _;

/// Escapes text for XML character data and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Two decimals, no negative zero: stable across platforms.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = if s == "-0.00" { "0.00".to_string() } else { s };
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A line through `(week, value)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Short machine id, written as `data-series` (e.g. `goals`).
    pub id: String,
    pub label: String,
    pub color: String,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// Unconnected markers (e.g. the therapist's own ratings).
#[derive(Debug, Clone)]
pub struct Markers {
    pub id: String,
    pub label: String,
    pub color: String,
    pub points: Vec<(f64, f64)>,
}

/// A horizontal background band (e.g. a severity range).
#[derive(Debug, Clone)]
pub struct Band {
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub color: String,
}

/// A vertical note at a week (e.g. a flag).
#[derive(Debug, Clone)]
pub struct Note {
    pub week: f64,
    pub label: String,
    pub color: String,
}

/// One panel: axes, bands, lines, markers and a legend.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub subtitle: String,
    pub y_label: String,
    pub weeks: u32,
    pub y_min: f64,
    pub y_max: f64,
    pub y_ticks: Vec<f64>,
    pub bands: Vec<Band>,
    pub series: Vec<Series>,
    pub markers: Vec<Markers>,
    pub notes: Vec<Note>,
}

const WIDTH: f64 = 760.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 190.0;
const PANEL_TOP: f64 = 58.0;
const PANEL_HEIGHT: f64 = 240.0;
const PANEL_GAP: f64 = 90.0;
const FONT: &str = "font-family=\"Helvetica, Arial, sans-serif\"";

struct Frame {
    top: f64,
    weeks: f64,
    y_min: f64,
    y_max: f64,
}

impl Frame {
    fn plot_width() -> f64 {
        WIDTH - LEFT - RIGHT
    }
    fn x(&self, week: f64) -> f64 {
        LEFT + week.clamp(0.0, self.weeks) / self.weeks.max(1.0) * Self::plot_width()
    }
    fn y(&self, v: f64) -> f64 {
        let span = (self.y_max - self.y_min).max(f64::EPSILON);
        let v = v.clamp(self.y_min, self.y_max);
        self.top + PANEL_HEIGHT - (v - self.y_min) / span * PANEL_HEIGHT
    }
}

fn open_svg(s: &mut String, height: f64, title: &str) {
    let _ = writeln!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\">",
        w = num(WIDTH),
        h = num(height),
        t = escape(title)
    );
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
        num(WIDTH),
        num(height)
    );
}

/// Renders one or more panels stacked vertically into one SVG document.
pub fn render(doc_title: &str, panels: &[LineChart]) -> String {
    let height =
        PANEL_TOP + panels.len() as f64 * (PANEL_HEIGHT + PANEL_GAP) + 10.0 - PANEL_GAP + 40.0;
    let mut s = String::new();
    open_svg(&mut s, height, doc_title);
    for (i, p) in panels.iter().enumerate() {
        let top = PANEL_TOP + i as f64 * (PANEL_HEIGHT + PANEL_GAP);
        panel(&mut s, p, top);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, c: &LineChart, top: f64) {
    let f = Frame {
        top,
        weeks: c.weeks.max(1) as f64,
        y_min: c.y_min,
        y_max: c.y_max,
    };
    let right = LEFT + Frame::plot_width();
    let bottom = top + PANEL_HEIGHT;
    let _ = writeln!(s, "<g class=\"panel\" data-title=\"{}\">", escape(&c.title));
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" {FONT} font-size=\"16\" font-weight=\"bold\" fill=\"#222\">{}</text>",
        num(LEFT),
        num(top - 30.0),
        escape(&c.title)
    );
    if !c.subtitle.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" {FONT} font-size=\"11\" fill=\"#555\">{}</text>",
            num(LEFT),
            num(top - 12.0),
            escape(&c.subtitle)
        );
    }
    // Bands behind everything; their labels come after the grid.
    for b in &c.bands {
        let (y1, y2) = (f.y(b.max), f.y(b.min));
        let _ = writeln!(
            s,
            "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"0.55\"><title>{}</title></rect>",
            num(LEFT),
            num(y1),
            num(Frame::plot_width()),
            num((y2 - y1).max(0.0)),
            escape(&b.color),
            escape(&b.label)
        );
    }
    // Grid and axes.
    for w in 0..=c.weeks {
        let x = f.x(w as f64);
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#e4e4e4\" stroke-width=\"1\"/>",
            num(top),
            num(bottom),
            x = num(x)
        );
        let _ = writeln!(
            s,
            "<text class=\"tick\" x=\"{}\" y=\"{}\" {FONT} font-size=\"10\" fill=\"#444\" text-anchor=\"middle\">{w}</text>",
            num(x),
            num(bottom + 14.0)
        );
    }
    for t in &c.y_ticks {
        let y = f.y(*t);
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e4e4e4\" stroke-width=\"1\"/>",
            num(LEFT),
            num(right),
            y = num(y)
        );
        let _ = writeln!(
            s,
            "<text class=\"tick\" x=\"{}\" y=\"{}\" {FONT} font-size=\"10\" fill=\"#444\" text-anchor=\"end\">{}</text>",
            num(LEFT - 6.0),
            num(y + 3.0),
            num(*t)
        );
    }
    // Band labels over the grid, on a white halo, so no gridline crosses them.
    for b in &c.bands {
        let (y1, y2) = (f.y(b.max), f.y(b.min));
        let _ = writeln!(
            s,
            "<text class=\"band-label\" x=\"{}\" y=\"{}\" {FONT} font-size=\"9\" fill=\"#333\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\" text-anchor=\"end\">{}</text>",
            num(right - 4.0),
            num((y1 + y2) / 2.0 + 3.0),
            escape(&b.label)
        );
    }
    let _ = writeln!(
        s,
        "<path class=\"axes\" d=\"M{l} {t} L{l} {b} L{r} {b}\" fill=\"none\" stroke=\"#333\" stroke-width=\"1.2\"/>",
        l = num(LEFT),
        t = num(top),
        b = num(bottom),
        r = num(right)
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" {FONT} font-size=\"11\" fill=\"#333\" text-anchor=\"middle\">Week of the program</text>",
        num((LEFT + right) / 2.0),
        num(bottom + 32.0)
    );
    let _ = writeln!(
        s,
        "<text x=\"{x}\" y=\"{y}\" {FONT} font-size=\"11\" fill=\"#333\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{}</text>",
        escape(&c.y_label),
        x = num(LEFT - 40.0),
        y = num(top + PANEL_HEIGHT / 2.0)
    );
    for n in &c.notes {
        let x = num(f.x(n.week));
        let _ = writeln!(
            s,
            "<g class=\"note\"><line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{c}\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"/><text x=\"{x}\" y=\"{}\" {FONT} font-size=\"9\" fill=\"{c}\" text-anchor=\"middle\">{}</text></g>",
            num(top),
            num(bottom),
            num(top - 2.0),
            escape(&n.label),
            c = escape(&n.color)
        );
    }
    // Lines, then a dot on every point (a single point is still visible).
    // A missed measurement breaks the line: weeks without data are not
    // drawn as if they had been measured.
    for se in &c.series {
        for run in runs(&se.points) {
            let pts: Vec<String> = run
                .iter()
                .map(|(w, v)| format!("{},{}", num(f.x(*w)), num(f.y(*v))))
                .collect();
            let _ = writeln!(
                s,
                "<polyline class=\"series\" data-series=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2.2\"{} stroke-linejoin=\"round\"><title>{}</title></polyline>",
                escape(&se.id),
                pts.join(" "),
                escape(&se.color),
                if se.dashed {
                    " stroke-dasharray=\"6 4\""
                } else {
                    ""
                },
                escape(&se.label)
            );
        }
        for (w, v) in &se.points {
            let _ = writeln!(
                s,
                "<circle cx=\"{}\" cy=\"{}\" r=\"2.6\" fill=\"{}\"><title>{}: week {}, {}</title></circle>",
                num(f.x(*w)),
                num(f.y(*v)),
                escape(&se.color),
                escape(&se.label),
                num(*w),
                num(*v)
            );
        }
    }
    for m in &c.markers {
        let _ = writeln!(s, "<g class=\"markers\" data-series=\"{}\">", escape(&m.id));
        for (w, v) in &m.points {
            let (x, y) = (f.x(*w), f.y(*v));
            let _ = writeln!(
                s,
                "<path d=\"M{} {} L{} {} L{} {} L{} {} Z\" fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"2\"><title>{}: week {}, {}</title></path>",
                num(x),
                num(y - 6.0),
                num(x + 6.0),
                num(y),
                num(x),
                num(y + 6.0),
                num(x - 6.0),
                num(y),
                escape(&m.color),
                escape(&m.label),
                num(*w),
                num(*v)
            );
        }
        s.push_str("</g>\n");
    }
    legend(s, c, right + 16.0, top);
    s.push_str("</g>\n");
}

/// Splits points into runs at a missed measurement: a step longer than one
/// and a half times the series' usual (median) step, so a weekly PHQ-9
/// breaks after a missed week and a four-weekly GAD-7 does not.
fn runs(points: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    let mut steps: Vec<f64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    steps.sort_by(f64::total_cmp);
    let usual = steps.get(steps.len() / 2).copied().unwrap_or(1.0).max(1.0);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..points.len() {
        if points[i].0 - points[i - 1].0 > 1.5 * usual {
            out.push(&points[start..i]);
            start = i;
        }
    }
    if start < points.len() {
        out.push(&points[start..]);
    }
    out
}

fn legend(s: &mut String, c: &LineChart, x: f64, top: f64) {
    let _ = writeln!(s, "<g class=\"legend\">");
    let mut y = top + 8.0;
    for se in &c.series {
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"2.2\"{}/><text x=\"{}\" y=\"{}\" {FONT} font-size=\"11\" fill=\"#222\">{}</text>",
            num(x),
            num(x + 22.0),
            escape(&se.color),
            if se.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            },
            num(x + 28.0),
            num(y + 4.0),
            escape(&se.label),
            y = num(y)
        );
        y += 18.0;
    }
    for m in &c.markers {
        let _ = writeln!(
            s,
            "<path d=\"M{} {} L{} {} L{} {} L{} {} Z\" fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\" {FONT} font-size=\"11\" fill=\"#222\">{}</text>",
            num(x + 11.0),
            num(y - 6.0),
            num(x + 17.0),
            num(y),
            num(x + 11.0),
            num(y + 6.0),
            num(x + 5.0),
            num(y),
            escape(&m.color),
            num(x + 28.0),
            num(y + 4.0),
            escape(&m.label)
        );
        y += 18.0;
    }
    s.push_str("</g>\n");
}

/// One row of the caseload overview.
#[derive(Debug, Clone)]
pub struct OverviewRow {
    pub label: String,
    pub priority: String,
    pub color: String,
    pub week: Option<u32>,
    /// e.g. `PHQ-9 14 (Moderate)`.
    pub latest: String,
    /// Patient alliance totals by week, 1 to 7.
    pub alliance: Vec<(f64, f64)>,
    pub reason: String,
}

/// The caseload as a table: priority colour, patient, week, latest score,
/// an alliance sparkline and the top reason.
pub fn caseload_svg(title: &str, subtitle: &str, weeks: u32, rows: &[OverviewRow]) -> String {
    const ROW: f64 = 40.0;
    const TOP: f64 = 84.0;
    const W: f64 = 1280.0;
    // Two lines of this many characters hold the reasons the demo writes.
    const REASON_LINE: usize = 92;
    let height = TOP + rows.len() as f64 * ROW + 24.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\">",
        w = num(W),
        h = num(height),
        t = escape(title)
    );
    let _ = writeln!(s, "<title>{}</title>", escape(title));
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
        num(W),
        num(height)
    );
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"30\" {FONT} font-size=\"18\" font-weight=\"bold\" fill=\"#222\">{}</text>",
        escape(title)
    );
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"48\" {FONT} font-size=\"11\" fill=\"#555\">{}</text>",
        escape(subtitle)
    );
    let cols = [
        (20.0, "Priority"),
        (140.0, "Patient"),
        (260.0, "Week"),
        (310.0, "Latest symptoms"),
        (520.0, "Alliance (patient, 1-7)"),
        (690.0, "Top reason"),
    ];
    for (x, h) in cols {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"72\" {FONT} font-size=\"11\" font-weight=\"bold\" fill=\"#333\">{}</text>",
            num(x),
            escape(h)
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        let mid = y + ROW / 2.0;
        let _ = writeln!(
            s,
            "<g class=\"row\" data-priority=\"{}\" data-label=\"{}\">",
            escape(&r.priority),
            escape(&r.label)
        );
        if i % 2 == 1 {
            let _ = writeln!(
                s,
                "<rect x=\"10\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f6f6f6\"/>",
                num(y),
                num(W - 20.0),
                num(ROW)
            );
        }
        let _ = writeln!(
            s,
            "<rect x=\"20\" y=\"{}\" width=\"110\" height=\"22\" rx=\"4\" fill=\"{}\"/><text x=\"75\" y=\"{}\" {FONT} font-size=\"11\" font-weight=\"bold\" fill=\"#ffffff\" text-anchor=\"middle\">{}</text>",
            num(mid - 11.0),
            escape(&r.color),
            num(mid + 4.0),
            escape(&r.priority)
        );
        let week = r.week.map(|w| w.to_string()).unwrap_or_else(|| "-".into());
        for (x, t) in [
            (140.0, r.label.as_str()),
            (260.0, week.as_str()),
            (310.0, r.latest.as_str()),
        ] {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" {FONT} font-size=\"12\" fill=\"#222\">{}</text>",
                num(x),
                num(mid + 4.0),
                escape(t)
            );
        }
        // Sparkline: 150 px for the program weeks, 1-7 in the row height,
        // with its scale at the left.
        let (sx, sw, sh) = (530.0, 140.0, ROW - 10.0);
        for (v, dy) in [("7", 5.0 + 7.0), ("1", ROW - 5.0)] {
            let _ = writeln!(
                s,
                "<text class=\"scale\" x=\"{}\" y=\"{}\" {FONT} font-size=\"8\" fill=\"#555\" text-anchor=\"end\">{v}</text>",
                num(sx - 3.0),
                num(y + dy)
            );
        }
        let px = |w: f64| sx + w.clamp(0.0, weeks as f64) / (weeks.max(1) as f64) * sw;
        let py = |v: f64| y + 5.0 + sh - (v.clamp(1.0, 7.0) - 1.0) / 6.0 * sh;
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#dddddd\"/>",
            num(sx),
            num(y + 5.0),
            num(sw),
            num(sh)
        );
        if !r.alliance.is_empty() {
            let pts: Vec<String> = r
                .alliance
                .iter()
                .map(|(w, v)| format!("{},{}", num(px(*w)), num(py(*v))))
                .collect();
            let _ = writeln!(
                s,
                "<polyline class=\"sparkline\" points=\"{}\" fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"1.6\"/>",
                pts.join(" ")
            );
            if let Some((w, v)) = r.alliance.last() {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"#2b6cb0\"/>",
                    num(px(*w)),
                    num(py(*v))
                );
            }
        }
        let lines = wrap(&r.reason, REASON_LINE, 2);
        let first_y = if lines.len() > 1 {
            mid - 3.0
        } else {
            mid + 4.0
        };
        let _ = write!(
            s,
            "<text x=\"690\" y=\"{}\" {FONT} font-size=\"11\" fill=\"#333\"><title>{}</title>",
            num(first_y),
            escape(&r.reason)
        );
        for (k, line) in lines.iter().enumerate() {
            let _ = write!(
                s,
                "<tspan x=\"690\" y=\"{}\">{}</tspan>",
                num(first_y + 14.0 * k as f64),
                escape(line)
            );
        }
        s.push_str("</text>\n");
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

/// Breaks `text` at spaces into at most `max_lines` lines of `width`
/// characters; only what does not fit then ends in "…".
fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let len = cur.chars().count() + usize::from(!cur.is_empty()) + word.chars().count();
        if !cur.is_empty() && len > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let keep: String = last.chars().take(width.saturating_sub(1)).collect();
            *last = keep + "…";
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{0}b\u{7}c\td"), "abc\td");
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(escape("Zoë ✓"), "Zoë ✓");
    }

    #[test]
    fn reasons_wrap_at_spaces_and_only_an_overflow_is_cut() {
        assert_eq!(wrap("a bb ccc", 4, 2), vec!["a bb", "ccc"]);
        assert_eq!(wrap("short", 10, 2), vec!["short"]);
        let cut = wrap("one two three four five six", 9, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with('…'), "{cut:?}");
    }

    #[test]
    fn a_missed_week_breaks_the_line() {
        let pts = [(0.0, 1.0), (1.0, 2.0), (3.0, 2.0), (4.0, 1.0), (5.0, 1.0)];
        let r = runs(&pts);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], &pts[..2]);
        assert_eq!(r[1], &pts[2..]);
        assert!(runs(&[]).is_empty());
        // A four-weekly instrument is one line; a missed one breaks it.
        let monthly = [(0.0, 1.0), (4.0, 2.0), (8.0, 2.0), (16.0, 1.0)];
        assert_eq!(runs(&monthly).len(), 2);
        assert_eq!(runs(&monthly[..3]).len(), 1);
    }

    #[test]
    fn numbers_are_stable() {
        assert_eq!(num(-0.0001), "0");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.3456), "12.35");
        assert_eq!(num(2.5), "2.5");
    }

    #[test]
    fn a_hostile_label_stays_inside_its_text_node() {
        let chart = LineChart {
            title: "</text><script>alert(1)</script>".into(),
            subtitle: "\"quoted\" & <b>".into(),
            y_label: "score".into(),
            weeks: 3,
            y_min: 0.0,
            y_max: 10.0,
            y_ticks: vec![0.0, 5.0, 10.0],
            bands: vec![Band {
                label: "low <5".into(),
                min: 0.0,
                max: 4.0,
                color: "#eee".into(),
            }],
            series: vec![Series {
                id: "a\"b".into(),
                label: "A & B".into(),
                color: "#000".into(),
                dashed: false,
                points: vec![(0.0, 1.0), (1.0, 2.0)],
            }],
            markers: vec![],
            notes: vec![],
        };
        let svg = render("t", &[chart]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;/text&gt;&lt;script&gt;"));
        assert!(svg.contains("data-series=\"a&quot;b\""));
    }
}
