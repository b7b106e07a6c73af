//! The de-identified long-format research CSV (issue 6 §4).
//!
//! Header exactly `patient,week,goals,tasks,bond,alliance,instrument,score`; one row per
//! measurement, an empty field where the row has no such value. Numbers are written with
//! Rust's shortest round-trip `f64` formatting, so `parse_csv(write_csv(rows)) == rows`.
//! The parser is strict: every problem names its line (and column where there is one) and
//! never quotes the offending value.

use std::fmt;
use std::io::Write;

use super::ResearchError;

/// The exact header line.
pub const HEADER: [&str; 8] = [
    "patient",
    "week",
    "goals",
    "tasks",
    "bond",
    "alliance",
    "instrument",
    "score",
];

/// One measurement: alliance (sub)scale values, a symptom score, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct ResearchRow {
    /// Pseudonymous id, random per export.
    pub patient: String,
    /// Whole weeks since the patient's start.
    pub week: u32,
    pub goals: Option<f64>,
    pub tasks: Option<f64>,
    pub bond: Option<f64>,
    pub alliance: Option<f64>,
    /// Instrument id (e.g. `phq9`); present exactly when `score` is.
    pub instrument: Option<String>,
    pub score: Option<f64>,
}

/// A column by its 1-based position and header name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column(pub usize);

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match HEADER.get(self.0.wrapping_sub(1)) {
            Some(name) => write!(f, "column {} ({name})", self.0),
            None => write!(f, "column {}", self.0),
        }
    }
}

/// Writes the header and one line per row. Fails (before writing that row) on a
/// non-finite number or a score without an instrument, which the parser would reject.
pub fn write_csv<'a>(
    rows: impl IntoIterator<Item = &'a ResearchRow>,
    mut out: impl Write,
) -> Result<(), ResearchError> {
    let io = |e: std::io::Error| ResearchError::Io(format!("{:?}", e.kind()));
    writeln!(out, "{}", HEADER.join(",")).map_err(io)?;
    let mut line = String::new();
    for (i, row) in rows.into_iter().enumerate() {
        // Line 1 is the header.
        let line_no = i + 2;
        check_row(row, line_no)?;
        line.clear();
        push_text(&mut line, &row.patient);
        line.push(',');
        line.push_str(&row.week.to_string());
        for v in [row.goals, row.tasks, row.bond, row.alliance] {
            line.push(',');
            push_number(&mut line, v);
        }
        line.push(',');
        if let Some(id) = &row.instrument {
            push_text(&mut line, id);
        }
        line.push(',');
        push_number(&mut line, row.score);
        line.push('\n');
        out.write_all(line.as_bytes()).map_err(io)?;
    }
    out.flush().map_err(io)
}

/// The whole CSV as a string: what `research export` writes.
pub fn rows_to_csv(rows: &[ResearchRow]) -> Result<String, ResearchError> {
    let mut buf = Vec::new();
    write_csv(rows, &mut buf)?;
    // Everything written came from `&str`s and ASCII digits.
    String::from_utf8(buf).map_err(|_| ResearchError::Io("non-UTF-8 output".into()))
}

fn check_row(row: &ResearchRow, line: usize) -> Result<(), ResearchError> {
    if row.patient.is_empty() {
        return Err(ResearchError::MissingValue {
            line,
            column: Column(1),
        });
    }
    let numbers = [
        (3, row.goals),
        (4, row.tasks),
        (5, row.bond),
        (6, row.alliance),
        (8, row.score),
    ];
    for (col, v) in numbers {
        if v.is_some_and(|x| !x.is_finite()) {
            return Err(ResearchError::BadNumber {
                line,
                column: Column(col),
            });
        }
    }
    check_pairing(row, line)
}

/// An instrument without a score (or the reverse) cannot be analysed: reject it.
fn check_pairing(row: &ResearchRow, line: usize) -> Result<(), ResearchError> {
    match (&row.instrument, row.score) {
        (Some(id), Some(_)) if !id.is_empty() => Ok(()),
        (None, None) => Ok(()),
        (Some(_), None) => Err(ResearchError::MissingValue {
            line,
            column: Column(8),
        }),
        _ => Err(ResearchError::MissingValue {
            line,
            column: Column(7),
        }),
    }
}

fn push_number(line: &mut String, v: Option<f64>) {
    if let Some(x) = v {
        // `{}` on f64 is the shortest string that parses back to the same value.
        line.push_str(&x.to_string());
    }
}

/// RFC 4180: quote a field holding a comma, quote or line break; double inner quotes.
fn push_text(line: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        line.push('"');
        line.push_str(&s.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(s);
    }
}

/// Parses a whole research CSV. Accepts LF or CRLF line ends, an optional final line end,
/// an optional UTF-8 byte-order mark (spreadsheets add one) and RFC 4180 quoted fields.
pub fn parse_csv(text: &str) -> Result<Vec<ResearchRow>, ResearchError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Records::new(text);
    let header = records.next_record()?.ok_or(ResearchError::Empty)?;
    check_header(&header)?;
    let mut rows = Vec::new();
    while let Some(rec) = records.next_record()? {
        rows.push(parse_row(&rec)?);
    }
    Ok(rows)
}

fn check_header(rec: &Record) -> Result<(), ResearchError> {
    for (i, expected) in HEADER.iter().enumerate() {
        if rec.fields.get(i).map(String::as_str) != Some(*expected) {
            return Err(ResearchError::Header {
                line: rec.line,
                column: Column(i + 1),
            });
        }
    }
    if rec.fields.len() != HEADER.len() {
        return Err(ResearchError::Header {
            line: rec.line,
            column: Column(HEADER.len() + 1),
        });
    }
    Ok(())
}

fn parse_row(rec: &Record) -> Result<ResearchRow, ResearchError> {
    let line = rec.line;
    if rec.fields.len() != HEADER.len() {
        return Err(ResearchError::FieldCount {
            line,
            found: rec.fields.len(),
        });
    }
    let f = &rec.fields;
    let required = |i: usize| -> Result<&str, ResearchError> {
        if f[i].is_empty() {
            Err(ResearchError::MissingValue {
                line,
                column: Column(i + 1),
            })
        } else {
            Ok(&f[i])
        }
    };
    let number = |i: usize| -> Result<Option<f64>, ResearchError> {
        if f[i].is_empty() {
            return Ok(None);
        }
        match f[i].parse::<f64>() {
            // Rust also parses "inf" and "NaN"; neither is a measurement.
            Ok(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(ResearchError::BadNumber {
                line,
                column: Column(i + 1),
            }),
        }
    };
    let patient = required(0)?.to_string();
    let week = required(1)?
        .parse::<u32>()
        .map_err(|_| ResearchError::BadNumber {
            line,
            column: Column(2),
        })?;
    let row = ResearchRow {
        patient,
        week,
        goals: number(2)?,
        tasks: number(3)?,
        bond: number(4)?,
        alliance: number(5)?,
        instrument: (!f[6].is_empty()).then(|| f[6].clone()),
        score: number(7)?,
    };
    check_pairing(&row, line)?;
    Ok(row)
}

struct Record {
    /// 1-based line on which the record starts.
    line: usize,
    fields: Vec<String>,
}

/// RFC 4180 record reader over the whole text.
struct Records<'a> {
    rest: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl<'a> Records<'a> {
    fn new(text: &'a str) -> Self {
        Records {
            rest: text.chars().peekable(),
            line: 1,
        }
    }

    /// The next record, or `None` at the end of the text.
    fn next_record(&mut self) -> Result<Option<Record>, ResearchError> {
        if self.rest.peek().is_none() {
            return Ok(None);
        }
        let start = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        // Column within the record, for quoting errors.
        let mut col = 1;
        loop {
            // A field starting with a quote is quoted to its closing quote.
            if self.rest.peek() == Some(&'"') {
                self.rest.next();
                loop {
                    match self.rest.next() {
                        None => {
                            return Err(ResearchError::Quote {
                                line: start,
                                column: Column(col),
                            })
                        }
                        Some('"') if self.rest.peek() == Some(&'"') => {
                            self.rest.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                self.line += 1;
                            }
                            field.push(c);
                        }
                    }
                }
                // After the closing quote only a separator or the end of the record may follow.
                match self.rest.peek() {
                    None | Some(',') | Some('\n') | Some('\r') => {}
                    Some(_) => {
                        return Err(ResearchError::Quote {
                            line: self.line,
                            column: Column(col),
                        })
                    }
                }
            }
            match self.rest.next() {
                None => {
                    fields.push(field);
                    break;
                }
                Some(',') => {
                    fields.push(std::mem::take(&mut field));
                    col += 1;
                }
                Some('\n') => {
                    fields.push(field);
                    self.line += 1;
                    break;
                }
                Some('\r') if self.rest.peek() == Some(&'\n') => {
                    self.rest.next();
                    fields.push(field);
                    self.line += 1;
                    break;
                }
                Some('"') => {
                    // A quote inside an unquoted field.
                    return Err(ResearchError::Quote {
                        line: self.line,
                        column: Column(col),
                    });
                }
                Some(c) => field.push(c),
            }
        }
        Ok(Some(Record {
            line: start,
            fields,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "patient,week,goals,tasks,bond,alliance,instrument,score\n";

    fn rows() -> Vec<ResearchRow> {
        vec![
            ResearchRow {
                patient: "a1".into(),
                week: 0,
                goals: Some(4.25),
                tasks: Some(0.1 + 0.2),
                bond: Some(-0.0),
                alliance: Some(1.0 / 3.0),
                instrument: None,
                score: None,
            },
            ResearchRow {
                patient: "b,\"2\"".into(),
                week: 52,
                goals: None,
                tasks: None,
                bond: None,
                alliance: None,
                instrument: Some("phq,9\nx".into()),
                score: Some(1e-300),
            },
            ResearchRow {
                patient: "c".into(),
                week: u32::MAX,
                goals: Some(f64::MAX),
                tasks: Some(f64::MIN_POSITIVE),
                bond: Some(5e-324),
                alliance: Some(123456789.125),
                instrument: Some("gad7".into()),
                score: Some(21.0),
            },
        ]
    }

    #[test]
    fn round_trip_is_exact() {
        let rows = rows();
        let text = rows_to_csv(&rows).unwrap();
        assert!(text.starts_with(H));
        let back = parse_csv(&text).unwrap();
        assert_eq!(back.len(), rows.len());
        for (a, b) in rows.iter().zip(&back) {
            assert_eq!(a, b);
            // Bit-exact, including the sign of zero.
            for (x, y) in [(a.goals, b.goals), (a.tasks, b.tasks), (a.bond, b.bond)] {
                assert_eq!(x.map(f64::to_bits), y.map(f64::to_bits));
            }
        }
        // CRLF line ends and a byte-order mark read the same.
        let crlf = format!("\u{feff}{}", text.replace('\n', "\r\n"));
        // The quoted instrument id keeps its own LF: restore it.
        let crlf = crlf.replace("phq,9\r\nx", "phq,9\nx");
        assert_eq!(parse_csv(&crlf).unwrap(), rows);
    }

    #[test]
    fn empty_fields_and_quoted_ids() {
        let text = format!("{H}p1,2,,,,5.5,,\n\"p2\",3,,,,,\"phq9\",12\np3,1,1,2,3,,,");
        let rows = parse_csv(&text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].alliance, Some(5.5));
        assert_eq!(rows[0].goals, None);
        assert_eq!(rows[1].patient, "p2");
        assert_eq!(rows[1].instrument.as_deref(), Some("phq9"));
        assert_eq!(rows[1].score, Some(12.0));
        assert_eq!(rows[2].bond, Some(3.0));
        assert_eq!(parse_csv(H).unwrap(), vec![]);
    }

    #[test]
    fn parser_errors_name_line_and_column() {
        let e = |text: &str| parse_csv(text).unwrap_err();
        assert_eq!(e(""), ResearchError::Empty);
        assert_eq!(
            e("patient,week,goals,tasks,bond,alliance,score,instrument\n"),
            ResearchError::Header {
                line: 1,
                column: Column(7)
            }
        );
        assert_eq!(
            e("patient,week,goals,tasks,bond,alliance,instrument,score,extra\n"),
            ResearchError::Header {
                line: 1,
                column: Column(9)
            }
        );
        assert_eq!(
            e("Patient,week,goals,tasks,bond,alliance,instrument,score\n"),
            ResearchError::Header {
                line: 1,
                column: Column(1)
            }
        );
        assert_eq!(
            e(&format!("{H}p,1,,,,2,,\np,1,,,,2,\n")),
            ResearchError::FieldCount { line: 3, found: 7 }
        );
        assert_eq!(
            e(&format!("{H}p,1,,,,2,,\n\n")),
            ResearchError::FieldCount { line: 3, found: 1 }
        );
        let bad = e(&format!("{H}p,1,,x,,2,,\n"));
        assert_eq!(
            bad,
            ResearchError::BadNumber {
                line: 2,
                column: Column(4)
            }
        );
        assert_eq!(
            bad.to_string(),
            "line 2: column 4 (tasks) is not a valid number"
        );
        for week in ["-1", "1.5", "", "4294967296"] {
            let err = e(&format!("{H}p,{week},,,,2,,\n"));
            assert!(
                matches!(
                    err,
                    ResearchError::BadNumber {
                        line: 2,
                        column: Column(2)
                    } | ResearchError::MissingValue {
                        line: 2,
                        column: Column(2)
                    }
                ),
                "{week}: {err:?}"
            );
        }
        for num in ["NaN", "inf", "-infinity", "1,5", "1e999"] {
            let err = e(&format!("{H}p,1,,,,\"{num}\",,\n"));
            assert_eq!(
                err,
                ResearchError::BadNumber {
                    line: 2,
                    column: Column(6)
                },
                "{num}"
            );
        }
        assert_eq!(
            e(&format!("{H},1,,,,2,,\n")),
            ResearchError::MissingValue {
                line: 2,
                column: Column(1)
            }
        );
        assert_eq!(
            e(&format!("{H}p,1,,,,,,3\n")),
            ResearchError::MissingValue {
                line: 2,
                column: Column(7)
            }
        );
        assert_eq!(
            e(&format!("{H}p,1,,,,,phq9,\n")),
            ResearchError::MissingValue {
                line: 2,
                column: Column(8)
            }
        );
        // Unterminated quote, text after a closing quote, a quote inside a bare field.
        assert!(matches!(
            e(&format!("{H}p,1,,,,2,\"phq9,3\n")),
            ResearchError::Quote { line: 2, .. }
        ));
        assert!(matches!(
            e(&format!("{H}p,1,,,,,\"phq\"9,3\n")),
            ResearchError::Quote {
                line: 2,
                column: Column(7)
            }
        ));
        assert!(matches!(
            e(&format!("{H}p,1,,,,,ph\"q9,3\n")),
            ResearchError::Quote {
                line: 2,
                column: Column(7)
            }
        ));
        // A quoted line break moves later line numbers on.
        assert_eq!(
            e(&format!("{H}p,1,,,,,\"a\nb\",3\np,x,,,,,,\n")),
            ResearchError::BadNumber {
                line: 4,
                column: Column(2)
            }
        );
    }

    #[test]
    fn writer_rejects_what_the_parser_would() {
        let mut row = rows().remove(0);
        row.alliance = Some(f64::NAN);
        assert_eq!(
            rows_to_csv(&[row.clone()]).unwrap_err(),
            ResearchError::BadNumber {
                line: 2,
                column: Column(6)
            }
        );
        row.alliance = None;
        row.score = Some(3.0);
        assert!(matches!(
            rows_to_csv(&[row]).unwrap_err(),
            ResearchError::MissingValue { line: 2, .. }
        ));
    }
}
