//! On-device screen of free text (messages, alliance comments) for risk language.
//!
//! A phrase list per language (`core/data/risk-language/*.json`, embedded at build time) is
//! matched against the patient's text before it is sent. A hit names the list entry that
//! matched, never the patient's words, so the therapist's alert is explainable and carries no
//! extra personal data. This is a safety net, not a classifier: see docs/insights.md
//! ("Free-text risk screening") for the rules, the measured error rates and the limits.
//!
//! Matching, in short:
//! - both text and phrases are normalised: Unicode lowercasing, apostrophe variants removed
//!   ("don't", "don’t" and "dont" are one word), ä/ö/ü folded to ae/oe/ue (also from a
//!   combining diaeresis), ß to ss, everything that is not a letter or digit separates words;
//! - phrases match whole words, so "skill" never matches "kill"; `stem*` matches a word that
//!   starts with the stem; a standalone `…` allows 0..=max_gap words in between;
//! - a phrase with an umlaut also matches with the bare vowel ("lebensmude");
//! - an exclusion (idiom) suppresses only the hits it overlaps, so "killing myself laughing"
//!   is not flagged but a real phrase elsewhere in the same text still is.
//!
//! Lists applied: the patient's language, then English (people mix languages, and English
//! phrases are common in German texts). An unsupported language gets English only.

use std::sync::OnceLock;

/// A phrase-list entry found in a text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LanguageHit {
    /// The phrase as written in the list (not the patient's text).
    pub phrase: String,
    /// The language of the list the phrase comes from ("en", "de").
    pub language: String,
}

const LISTS: [&str; 2] = [
    include_str!("../../data/risk-language/en.json"),
    include_str!("../../data/risk-language/de.json"),
];

const SUPPORTED: [&str; 2] = ["en", "de"];

/// The languages that have their own phrase list.
pub fn supported_languages() -> &'static [&'static str] {
    &SUPPORTED
}

/// Screens `text` for risk language.
///
/// `language` is a BCP 47 tag or primary subtag ("en", "de-AT"); returns the first matched phrase.
/// The patient's language list is tried first, then English; within a list, phrases are tried
/// in list order (most explicit first).
pub fn screen_text(text: &str, language: &str) -> Option<LanguageHit> {
    let lists = compiled();
    let tokens = normalise(text);
    if tokens.is_empty() {
        return None;
    }
    let primary = primary_subtag(language);
    let mut order: Vec<&PhraseList> = Vec::with_capacity(2);
    if primary != "en" {
        order.extend(lists.iter().filter(|l| l.language == primary));
    }
    order.extend(lists.iter().filter(|l| l.language == "en"));

    // Exclusions of every applied list count: an English idiom inside a German text is still
    // an idiom.
    let excluded: Vec<(usize, usize)> = order
        .iter()
        .flat_map(|l| l.exclusions.iter().map(move |p| (p, l.max_gap)))
        .flat_map(|(p, gap)| all_spans(p, &tokens, gap))
        .collect();

    for list in &order {
        for entry in &list.phrases {
            let hit = entry.patterns.iter().any(|p| {
                all_spans(p, &tokens, list.max_gap)
                    .any(|span| !excluded.iter().any(|ex| overlaps(span, *ex)))
            });
            if hit {
                return Some(LanguageHit {
                    phrase: entry.phrase.clone(),
                    language: list.language.clone(),
                });
            }
        }
    }
    None
}

/// "de-AT", "DE_at", " de " → "de".
fn primary_subtag(language: &str) -> String {
    language
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

// ---------------------------------------------------------------------------------------------
// Normalisation

fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`' | '\u{00B4}' | '\u{2032}' | '\u{FF07}'
    )
}

/// Lowercased, folded words of `text`.
fn normalise(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if is_apostrophe(c) {
            continue;
        }
        if c == '\u{0308}' {
            // Combining diaeresis (decomposed "ü"): fold like the precomposed letter.
            if current.ends_with(['a', 'o', 'u']) {
                current.push('e');
            }
            continue;
        }
        if ('\u{0300}'..='\u{036F}').contains(&c) {
            // Other combining marks carry no meaning for the lists.
            continue;
        }
        for l in c.to_lowercase() {
            match l {
                'ä' => current.push_str("ae"),
                'ö' => current.push_str("oe"),
                'ü' => current.push_str("ue"),
                'ß' => current.push_str("ss"),
                _ if l.is_alphanumeric() => current.push(l),
                // Lowercasing may yield combining marks ("İ" → "i̇"): drop them.
                _ if ('\u{0300}'..='\u{036F}').contains(&l) => {}
                _ => {
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                }
            }
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

// ---------------------------------------------------------------------------------------------
// Phrase lists

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Word(String),
    Prefix(String),
    Gap,
}

type Pattern = Vec<Part>;

struct Entry {
    phrase: String,
    /// The phrase as written plus, if it has umlauts, the bare-vowel spelling.
    patterns: Vec<Pattern>,
}

struct PhraseList {
    language: String,
    max_gap: usize,
    phrases: Vec<Entry>,
    exclusions: Vec<Pattern>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    language: String,
    #[allow(dead_code)] // documentation for readers of the file
    about: String,
    max_gap: usize,
    phrases: Vec<RawPhrase>,
    exclusions: Vec<RawExclusion>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhrase {
    phrase: String,
    #[allow(dead_code)] // documentation for readers of the file
    topic: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExclusion {
    phrase: String,
    #[allow(dead_code)] // documentation for readers of the file
    why: String,
}

/// Shortest stem allowed before `*`: shorter ones would match half the dictionary.
const MIN_STEM: usize = 3;
/// Largest gap a list may declare: wider gaps join unrelated clauses.
const MAX_GAP_LIMIT: usize = 5;

#[allow(
    clippy::expect_used,
    reason = "the embedded lists are compiled in and checked by the risk_language tests"
)]
fn compiled() -> &'static [PhraseList] {
    static COMPILED: OnceLock<Vec<PhraseList>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        // The lists are compiled into the binary and checked by `embedded_lists_load`; a
        // broken list must stop the build's tests, not silently screen nothing.
        load_lists().expect("embedded risk-language phrase lists are valid")
    })
}

fn load_lists() -> Result<Vec<PhraseList>, String> {
    LISTS.iter().map(|raw| parse_list(raw)).collect()
}

fn parse_list(json: &str) -> Result<PhraseList, String> {
    let raw: RawList = crate::json::from_text(json).map_err(|e| format!("phrase list: {e}"))?;
    if !SUPPORTED.contains(&raw.language.as_str()) {
        return Err(format!(
            "phrase list: unsupported language {:?}",
            raw.language
        ));
    }
    if raw.max_gap > MAX_GAP_LIMIT {
        return Err(format!("{}: max_gap above {MAX_GAP_LIMIT}", raw.language));
    }
    let mut phrases = Vec::with_capacity(raw.phrases.len());
    for p in raw.phrases {
        let mut patterns =
            vec![parse_pattern(&p.phrase).map_err(|e| format!("{}: {e}", raw.language))?];
        let bare = bare_umlauts(&p.phrase);
        if bare != p.phrase {
            patterns.push(parse_pattern(&bare).map_err(|e| format!("{}: {e}", raw.language))?);
        }
        phrases.push(Entry {
            phrase: p.phrase,
            patterns,
        });
    }
    let exclusions = raw
        .exclusions
        .iter()
        .map(|e| parse_pattern(&e.phrase).map_err(|err| format!("{}: {err}", raw.language)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PhraseList {
        language: raw.language,
        max_gap: raw.max_gap,
        phrases,
        exclusions,
    })
}

/// "lebensmüde" → "lebensmude": patients often type umlauts without their dots.
fn bare_umlauts(phrase: &str) -> String {
    phrase
        .chars()
        .map(|c| match c {
            'ä' => 'a',
            'ö' => 'o',
            'ü' => 'u',
            'Ä' => 'A',
            'Ö' => 'O',
            'Ü' => 'U',
            other => other,
        })
        .collect()
}

fn parse_pattern(phrase: &str) -> Result<Pattern, String> {
    let mut parts = Vec::new();
    for raw in phrase.split_whitespace() {
        if raw == "…" || raw == "..." {
            if matches!(parts.last(), None | Some(Part::Gap)) {
                return Err(format!("{phrase:?}: a gap must sit between words"));
            }
            parts.push(Part::Gap);
            continue;
        }
        let (word, prefix) = match raw.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (raw, false),
        };
        let mut words = normalise(word);
        let last = match words.pop() {
            Some(last) => last,
            None => return Err(format!("{phrase:?}: empty word")),
        };
        parts.extend(words.into_iter().map(Part::Word));
        if prefix {
            if last.chars().count() < MIN_STEM {
                return Err(format!("{phrase:?}: stem shorter than {MIN_STEM} letters"));
            }
            parts.push(Part::Prefix(last));
        } else {
            parts.push(Part::Word(last));
        }
    }
    match parts.last() {
        None => Err("empty phrase".to_string()),
        Some(Part::Gap) => Err(format!("{phrase:?}: a gap must sit between words")),
        Some(_) => Ok(parts),
    }
}

// ---------------------------------------------------------------------------------------------
// Matching

fn part_matches(part: &Part, token: &str) -> bool {
    match part {
        Part::Word(w) => token == w,
        Part::Prefix(stem) => token.starts_with(stem.as_str()),
        Part::Gap => false,
    }
}

/// End (exclusive) of the shortest match of `pattern[pi..]` starting at `tokens[ti]`.
fn match_from(
    pattern: &[Part],
    pi: usize,
    tokens: &[String],
    ti: usize,
    max_gap: usize,
) -> Option<usize> {
    let Some(part) = pattern.get(pi) else {
        return Some(ti);
    };
    if *part == Part::Gap {
        // Patterns never end in a gap, so the next part exists and is a word.
        return (0..=max_gap)
            .find_map(|skip| match_from(pattern, pi + 1, tokens, ti + skip, max_gap));
    }
    let token = tokens.get(ti)?;
    if part_matches(part, token) {
        match_from(pattern, pi + 1, tokens, ti + 1, max_gap)
    } else {
        None
    }
}

/// Every `(start, end)` span where `pattern` matches.
fn all_spans<'a>(
    pattern: &'a [Part],
    tokens: &'a [String],
    max_gap: usize,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    (0..tokens.len()).filter_map(move |start| {
        match_from(pattern, 0, tokens, start, max_gap).map(|end| (start, end))
    })
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(text: &str, lang: &str) -> Option<String> {
        screen_text(text, lang).map(|h| h.phrase)
    }

    #[test]
    fn embedded_lists_load() {
        let lists = load_lists().unwrap();
        let langs: Vec<&str> = lists.iter().map(|l| l.language.as_str()).collect();
        assert_eq!(langs, supported_languages());
        for l in &lists {
            assert!(l.phrases.len() >= 30, "{} list too short", l.language);
            assert!(!l.exclusions.is_empty());
        }
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert!(parse_pattern("… die").is_err());
        assert!(parse_pattern("die …").is_err());
        assert!(parse_pattern("want … … die").is_err());
        assert!(parse_pattern("ki* me").is_err());
        assert!(parse_pattern("  ").is_err());
        assert!(parse_list(
            r#"{"language":"fr","about":"","max_gap":3,"phrases":[],"exclusions":[]}"#
        )
        .is_err());
        assert!(parse_list(
            r#"{"language":"en","about":"","max_gap":9,"phrases":[],"exclusions":[]}"#
        )
        .is_err());
    }

    #[test]
    fn normalisation_folds_case_apostrophes_umlauts_and_space() {
        assert_eq!(
            normalise("I DON’T  want\n\tto"),
            ["i", "dont", "want", "to"]
        );
        assert_eq!(normalise("don't don`t don´t"), ["dont", "dont", "dont"]);
        assert_eq!(
            normalise("Lebensmüde, MÖCHTE; Größe"),
            ["lebensmuede", "moechte", "groesse"]
        );
        // Decomposed ü (u + U+0308) folds like the precomposed letter.
        assert_eq!(normalise("mu\u{0308}de"), ["muede"]);
        assert_eq!(normalise("self-harm!!!"), ["self", "harm"]);
        assert!(normalise(" ... ?! ").is_empty());
    }

    #[test]
    fn umlaut_spellings_all_match() {
        for text in [
            "Ich bin lebensmüde",
            "ich bin lebensmuede",
            "ich bin lebensmude",
            "LEBENSMÜDE",
        ] {
            assert_eq!(hit(text, "de").as_deref(), Some("lebensmüde"), "{text}");
        }
        assert_eq!(
            hit("ich moechte sterben", "de").as_deref(),
            Some("möchte … sterben")
        );
        assert_eq!(
            hit("ich mochte sterben", "de").as_deref(),
            Some("möchte … sterben")
        );
    }

    #[test]
    fn whole_words_only() {
        assert_eq!(hit("I'm skilled at my job", "en"), None);
        assert_eq!(hit("the skill I practised", "en"), None);
        assert_eq!(hit("I missed the deadline", "en"), None);
        assert_eq!(hit("Die Ritzel am Fahrrad quietschen", "de"), None);
        assert_eq!(
            hit("I want to kill myself", "en").as_deref(),
            Some("kill* myself")
        );
        assert_eq!(hit("suicidal again", "en").as_deref(), Some("suicid*"));
    }

    #[test]
    fn gaps_are_bounded() {
        assert_eq!(hit("I want to die", "en").as_deref(), Some("want* … die"));
        assert_eq!(
            hit("i just want so badly to die", "en").as_deref(),
            Some("want* … die")
        );
        // Four words apart: too far to be one thought.
        assert_eq!(hit("I want to see the movie Die Hard", "en"), None);
    }

    #[test]
    fn exclusions_suppress_only_what_they_overlap() {
        assert_eq!(hit("This homework is killing me", "en"), None);
        assert_eq!(hit("I could kill for a coffee", "en"), None);
        assert_eq!(hit("dying to see you, dead tired though", "en"), None);
        assert_eq!(hit("I was killing myself laughing", "en"), None);
        assert_eq!(hit("I don't want to die in a plane crash", "en"), None);
        assert_eq!(hit("Ich bin todmüde", "de"), None);
        assert_eq!(hit("Der Film war zum Totlachen", "de"), None);
        assert_eq!(hit("Die Hausaufgaben bringen mich um", "de"), None);
        assert_eq!(hit("Ich will vor Scham sterben", "de"), None);
        assert_eq!(hit("ich denke an den Tod meines Vaters", "de"), None);
        // The idiom is excluded, the real phrase later in the same text is not.
        assert_eq!(
            hit(
                "killing myself laughing earlier, but tonight I want to kill myself",
                "en"
            )
            .as_deref(),
            Some("kill* myself")
        );
        assert_eq!(
            hit("ich bring mich um", "de").as_deref(),
            Some("ich bring* mich … um")
        );
    }

    #[test]
    fn a_hit_names_the_list_phrase_and_its_language() {
        let h = screen_text("Ich will NICHT mehr leben!!", "de-AT").unwrap();
        assert_eq!(
            h,
            LanguageHit {
                phrase: "nicht mehr leben".into(),
                language: "de".into()
            }
        );
        // English in a German text: the English list is applied too and names itself.
        let h = screen_text("die Aufgaben sind sinnlos, I want to end it all", "de").unwrap();
        assert_eq!(
            h,
            LanguageHit {
                phrase: "end* it all".into(),
                language: "en".into()
            }
        );
    }

    #[test]
    fn language_fallback() {
        // A German phrase is not looked for in an English or unsupported text...
        assert_eq!(hit("ich will nicht mehr leben", "en"), None);
        assert_eq!(hit("ich will nicht mehr leben", "fr-FR"), None);
        // ...but English is always applied, and tags are read case-insensitively.
        assert_eq!(
            hit("je veux mourir, I want to die", "fr").as_deref(),
            Some("want* … die")
        );
        assert_eq!(
            hit("ich will nicht mehr leben", "DE_ch").as_deref(),
            Some("nicht mehr leben")
        );
        assert_eq!(hit("ich will nicht mehr leben", "").as_deref(), None);
    }

    #[test]
    fn empty_and_odd_input_is_harmless() {
        assert_eq!(hit("", "en"), None);
        assert_eq!(hit("🙂🙂🙂", "de"), None);
        assert_eq!(hit(&"a ".repeat(50_000), "en"), None);
    }
}
