//! Error rates of the free-text risk screen on the labelled set
//! `tests/data/risk_language_labelled.tsv` (written by the developers before the matcher was
//! tuned; see docs/insights.md "Free-text risk screening").
//!
//! `cargo test -p collabzium-core --test risk_language -- --nocapture` prints the table.

use collabzium_core::risk_language::{screen_text, supported_languages};

const LABELLED: &str = include_str!("data/risk_language_labelled.tsv");

/// Bounds the screen must keep, per language and overall. Recall is favoured: a missed risk
/// message costs more than a needless crisis screen, so misses get the tighter bound.
const MAX_FALSE_NEGATIVE_RATE: f64 = 0.05;
const MAX_FALSE_POSITIVE_RATE: f64 = 0.10;
/// The set is only worth its numbers if it stays this large.
const MIN_PER_LANGUAGE: usize = 100;
const MIN_TOTAL: usize = 220;

struct Sample {
    language: String,
    risk: bool,
    text: String,
}

fn samples() -> Vec<Sample> {
    let mut lines = LABELLED.lines();
    assert_eq!(lines.next(), Some("language\tlabel\ttext"), "header");
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                cols.len(),
                3,
                "line {}: want 3 tab-separated columns",
                i + 2
            );
            let risk = match cols[1] {
                "risk" => true,
                "none" => false,
                other => panic!("line {}: label {other:?} is neither risk nor none", i + 2),
            };
            assert!(
                supported_languages().contains(&cols[0]),
                "line {}: language",
                i + 2
            );
            assert!(!cols[2].trim().is_empty(), "line {}: empty text", i + 2);
            Sample {
                language: cols[0].to_string(),
                risk,
                text: cols[2].to_string(),
            }
        })
        .collect()
}

#[derive(Default, Clone, Copy)]
struct Counts {
    risk: usize,
    none: usize,
    false_negatives: usize,
    false_positives: usize,
}

impl Counts {
    fn fn_rate(&self) -> f64 {
        self.false_negatives as f64 / self.risk.max(1) as f64
    }
    fn fp_rate(&self) -> f64 {
        self.false_positives as f64 / self.none.max(1) as f64
    }
    fn add(&mut self, other: Counts) {
        self.risk += other.risk;
        self.none += other.none;
        self.false_negatives += other.false_negatives;
        self.false_positives += other.false_positives;
    }
}

#[test]
fn labelled_set_error_rates_stay_within_bounds() {
    let samples = samples();
    assert!(
        samples.len() >= MIN_TOTAL,
        "set has {} texts",
        samples.len()
    );

    let mut per_language = Vec::new();
    let mut total = Counts::default();
    for lang in supported_languages() {
        let mut c = Counts::default();
        for s in samples.iter().filter(|s| s.language == *lang) {
            let hit = screen_text(&s.text, &s.language);
            match (s.risk, &hit) {
                (true, None) => {
                    c.false_negatives += 1;
                    println!("MISSED      [{lang}] {}", s.text);
                }
                (false, Some(h)) => {
                    c.false_positives += 1;
                    println!(
                        "FALSE ALARM [{lang}] {} ← {:?} ({})",
                        s.text, h.phrase, h.language
                    );
                }
                _ => {}
            }
            if s.risk {
                c.risk += 1;
            } else {
                c.none += 1;
            }
        }
        assert!(
            c.risk + c.none >= MIN_PER_LANGUAGE,
            "{lang}: {} texts",
            c.risk + c.none
        );
        total.add(c);
        per_language.push((lang.to_string(), c));
    }
    per_language.push(("all".to_string(), total));

    println!();
    println!("| language | texts | risk | none | false negatives | FN rate | false positives | FP rate |");
    println!("|---|---|---|---|---|---|---|---|");
    for (lang, c) in &per_language {
        println!(
            "| {lang} | {} | {} | {} | {} | {:.1} % | {} | {:.1} % |",
            c.risk + c.none,
            c.risk,
            c.none,
            c.false_negatives,
            100.0 * c.fn_rate(),
            c.false_positives,
            100.0 * c.fp_rate()
        );
    }

    for (lang, c) in &per_language {
        assert!(
            c.fn_rate() <= MAX_FALSE_NEGATIVE_RATE,
            "{lang}: false-negative rate {:.3} above {MAX_FALSE_NEGATIVE_RATE}",
            c.fn_rate()
        );
        assert!(
            c.fp_rate() <= MAX_FALSE_POSITIVE_RATE,
            "{lang}: false-positive rate {:.3} above {MAX_FALSE_POSITIVE_RATE}",
            c.fp_rate()
        );
    }
}

/// The screen must not depend on how the text is dressed: the labelled risk texts stay
/// flagged in capitals, with curly apostrophes and with collapsed punctuation.
#[test]
fn risk_texts_survive_case_apostrophe_and_punctuation_changes() {
    for s in samples().iter().filter(|s| s.risk) {
        let Some(base) = screen_text(&s.text, &s.language) else {
            continue; // a miss is counted by the rate test
        };
        let variants = [
            s.text.to_uppercase(),
            s.text.replace('\'', "\u{2019}"),
            s.text.replace([',', '.', '?', '!'], " "),
            format!("  {}  ", s.text.replace(' ', "   ")),
        ];
        for v in variants {
            assert_eq!(screen_text(&v, &s.language), Some(base.clone()), "{v:?}");
        }
    }
}
