//! Crisis resources by country, never a foreign number (issue 10, Why case 1).
#![allow(
    clippy::disallowed_methods,
    reason = "not shipped: the size rules (crate::sort, crate::json) are for the library"
)]

use std::collections::BTreeSet;

use collabzium_core::checkin::resources_for;
use collabzium_core::crisis::{self, digits, numbers_in_text, CrisisResource, INTERNATIONAL};
use collabzium_core::domain::{Profile, TreatmentMode};
use collabzium_core::program::{self, Program};
use proptest::prelude::*;

const PROGRAMS: [(&str, &str); 3] = [
    (
        "low-mood-8w",
        include_str!("../../cli/data/programs/low-mood-8w.json"),
    ),
    (
        "steady-steps-12w",
        include_str!("../../cli/data/programs/steady-steps-12w.json"),
    ),
    (
        "worry-6w",
        include_str!("../../cli/data/programs/worry-6w.json"),
    ),
];

const LANGUAGES: [&str; 12] = [
    "en", "de", "fr", "es", "it", "nl", "sv", "da", "nb", "fi", "pl", "pt",
];

fn profile(locale: &str, country: Option<&str>) -> Profile {
    Profile {
        display_name: "Test Patient".into(),
        time_zone: "Europe/Berlin".into(),
        locale: locale.into(),
        mode: TreatmentMode::Guided,
        country: country.map(Into::into),
    }
}

fn shown(locale: &str, country: Option<&str>, program: Option<&Program>) -> Vec<CrisisResource> {
    resources_for(program, Some(&profile(locale, country)))
}

/// Every number a patient can read: the phone and sms fields and any number
/// written in a description.
fn numbers(resources: &[CrisisResource]) -> BTreeSet<String> {
    resources
        .iter()
        .flat_map(|r| {
            r.phone
                .iter()
                .chain(&r.sms)
                .map(|n| digits(n))
                .chain(numbers_in_text(&r.description).iter().map(|n| digits(n)))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn phones(resources: &[CrisisResource]) -> Vec<&str> {
    resources
        .iter()
        .filter_map(|r| r.phone.as_deref())
        .collect()
}

fn load(json: &str) -> Program {
    program::load(json).unwrap_or_else(|e| panic!("{e:#?}"))
}

/// A shipped program plus clinic lines for a few countries, including the
/// UK and US national lists that programs used to carry under `en-GB` and
/// `en-US` (the source of Why case 1).
fn with_clinic_lines(json: &str) -> Program {
    let mut p = load(json);
    let line = |name: &str, description: &str, phone: &str| CrisisResource {
        name: name.into(),
        description: description.into(),
        phone: Some(phone.into()),
        sms: None,
        url: None,
    };
    p.crisis_resources.insert(
        "en-GB".into(),
        vec![
            line("Samaritans", "Call 116 123, any time.", "116 123"),
            line("Emergency", "Call 999 now.", "999"),
        ],
    );
    p.crisis_resources.insert(
        "US".into(),
        vec![line("Clinic", "Our line.", "202 555 0100")],
    );
    p.crisis_resources.insert(
        "de-AT".into(),
        vec![line("Ambulanz", "Werktags erreichbar.", "01 40400")],
    );
    p
}

#[test]
fn every_shipped_set_passes_the_validator() {
    let today = chrono::Utc::now().date_naive();
    let mut countries = Vec::new();
    for (stem, json) in crisis::shipped_sets() {
        match crisis::validate_set(stem, json, Some(today)) {
            Ok(set) => countries.push(set.country),
            Err(issues) => panic!("{stem}:\n{}", issues.join("\n")),
        }
    }
    for cc in [
        "DE", "AT", "CH", "FR", "BE", "NL", "IE", "GB", "ES", "IT", "SE", "DK", "NO", "FI", "PL",
        "PT", "US", "CA", "AU", "NZ",
    ] {
        assert!(countries.iter().any(|c| c == cc), "{cc} has no set");
        assert!(crisis::supported_countries().contains(&cc), "{cc}");
    }
    assert!(countries.iter().any(|c| c == INTERNATIONAL));
}

#[test]
fn the_validator_names_what_is_wrong() {
    let de = crisis::shipped_sets()
        .iter()
        .find(|(s, _)| *s == "DE")
        .unwrap()
        .1;
    let mut doc: serde_json::Value = serde_json::from_str(de).unwrap();
    doc["resources"][0]["description"]
        .as_object_mut()
        .unwrap()
        .remove("en");
    doc["resources"][0]["url"] = "http://www.telefonseelsorge.de".into();
    doc["resources"][0]["phone"] = "0800-111".into();
    doc["resources"][0]["source"] = "".into();
    doc["resources"][0]["last_verified"] = "2999-01-01".into();
    doc["emergency"]["phone"] = "911".into();
    doc["emergency"]["description"]["de"] = "Rufen Sie 999 an.".into();
    let issues = crisis::validate_set(
        "AT",
        &doc.to_string(),
        Some(chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()),
    )
    .unwrap_err();
    let all = issues.join("\n");
    for expected in [
        "AT: country: \"DE\" does not match the file name",
        "resources[0].description: needs an \"en\" text",
        "resources[0].url: \"http://www.telefonseelsorge.de\" is not an https:// URL",
        "resources[0].phone: \"0800-111\" is not a number",
        "resources[0].source: must be the https:// page",
        "resources[0].last_verified: is in the future",
        "emergency.phone: must be one of emergency_numbers",
        "emergency.description.de: mentions 999",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in\n{all}");
    }
    let bad_date = de.replace("2026-12-05", "5.12.2026");
    assert!(crisis::validate_set("DE", &bad_date, None)
        .unwrap_err()
        .join("\n")
        .contains("is not a date YYYY-MM-DD"));
    let intl = r#"{"country":"international","emergency_numbers":["112"],"resources":[],
        "emergency":{"name":"Emergency","description":{"en":"Call 112."},"phone":"112",
        "source":"https://findahelpline.com","last_verified":"2026-01-01"}}"#;
    let all = crisis::validate_set(INTERNATIONAL, intl, None)
        .unwrap_err()
        .join("\n");
    assert!(all.contains("emergency_numbers: the international set names no emergency number"));
    assert!(all.contains("emergency.phone: the international set shows no number"));
}

/// Why case 1: an en-US patient in the UK-authored 12-week program.
#[test]
fn en_us_gets_988_and_911_never_uk_lines() {
    let p = with_clinic_lines(PROGRAMS[1].1);
    let r = shown("en-US", None, Some(&p));
    let ph = phones(&r);
    assert!(ph.contains(&"988") && ph.contains(&"911"), "{ph:?}");
    assert!(r.iter().any(|x| x.sms.as_deref() == Some("988")));
    assert!(!numbers(&r).contains("116123"), "{r:#?}");
    assert!(!numbers(&r).contains("999"));
    assert!(r
        .iter()
        .all(|x| x.name != "Samaritans" && x.name != "Shout"));
    // The clinic's US line first, the emergency entry last.
    assert_eq!(r[0].phone.as_deref(), Some("202 555 0100"));
    assert_eq!(r.last().unwrap().phone.as_deref(), Some("911"));
}

#[test]
fn per_country_sets() {
    let first_phone = |locale: &str, country: Option<&str>| {
        shown(locale, country, None)[0]
            .phone
            .clone()
            .unwrap_or_default()
    };
    assert_eq!(first_phone("de-AT", None), "142");
    assert_eq!(first_phone("de-CH", None), "143");
    assert_eq!(first_phone("fr-CH", None), "143");
    assert_eq!(first_phone("en-GB", None), "116 123");
    assert_eq!(first_phone("fr-FR", None), "3114");
    assert_eq!(first_phone("es-ES", None), "024");
    // The explicit country wins over the locale's region.
    assert_eq!(first_phone("de-DE", Some("AT")), "142");
    assert_eq!(first_phone("de", Some("AT")), "142");

    let de = shown("de-DE", None, None);
    assert_eq!(de[0].name, "TelefonSeelsorge");
    assert!(de[0].description.contains("rund um die Uhr"), "{de:#?}");
    assert_eq!(de.last().unwrap().name, "Notruf");
    assert!(de.last().unwrap().description.contains("rufen Sie 112"));
    // No German text for an English speaker in Germany: same numbers, English words.
    let en_de = shown("en-DE", None, None);
    assert_eq!(phones(&en_de), phones(&de));
    assert!(en_de[0].description.starts_with("Someone to talk to"));
    // A language the set lacks falls back to English.
    assert!(shown("sv-DE", None, None)[0]
        .description
        .starts_with("Someone to talk to"));

    for locale in ["en-CA", "fr-CA"] {
        let ca = shown(locale, None, None);
        assert_eq!(phones(&ca), ["988", "911"], "{locale}");
        assert!(!numbers(&ca).contains("116123"));
    }
    let fr_ca = shown("fr-CA", None, None);
    assert!(fr_ca[0].description.contains("en français"));
    let au = shown("en-AU", None, None);
    assert_eq!(phones(&au), ["13 11 14", "000"]);
    assert_eq!(phones(&shown("en-NZ", None, None)), ["1737", "111"]);
    assert_eq!(phones(&shown("nb-NO", None, None)), ["116 123", "113"]);
    assert_eq!(crisis::emergency_numbers("no"), ["113", "112"]);
    assert_eq!(crisis::emergency_numbers("US"), ["911"]);
    assert!(crisis::emergency_numbers("ZZ").is_empty());
}

#[test]
fn unknown_country_gets_the_international_set_with_no_number() {
    let p = with_clinic_lines(PROGRAMS[0].1);
    for (locale, country) in [
        ("de", None),
        ("en", None),
        ("xx-ZZ", None),
        ("es-419", None),
        ("en", Some("LU")),
    ] {
        let r = shown(locale, country, Some(&p));
        assert!(
            r.iter().all(|x| x.phone.is_none() && x.sms.is_none()),
            "{locale}: {r:#?}"
        );
        assert!(numbers(&r).is_empty(), "{locale}: {r:#?}");
        assert!(r
            .iter()
            .any(|x| x.url.as_deref() == Some("https://findahelpline.com")));
        let last = r.last().unwrap();
        let local = if locale.starts_with("de") {
            "örtlichen Notruf"
        } else {
            "local emergency number"
        };
        assert!(last.description.contains(local), "{locale}: {last:?}");
    }
    // No profile at all: the same.
    let r = resources_for(Some(&p), None);
    assert!(numbers(&r).is_empty(), "{r:#?}");
}

#[test]
fn program_lines_apply_only_to_their_country_and_do_not_repeat_national_ones() {
    let p = with_clinic_lines(PROGRAMS[2].1);
    let gb = shown("en-GB", None, Some(&p));
    // The program's Samaritans entry first; the national Samaritans entry is
    // not shown a second time.
    assert_eq!(gb[0].description, "Call 116 123, any time.");
    assert_eq!(
        gb.iter()
            .filter(|r| r.phone.as_deref() == Some("116 123"))
            .count(),
        1
    );
    assert_eq!(gb.last().unwrap().phone.as_deref(), Some("999"));
    let at = shown("de-AT", None, Some(&p));
    assert_eq!(phones(&at), ["01 40400", "142", "144"]);
    let de = shown("de-DE", None, Some(&p));
    assert!(!phones(&de).contains(&"01 40400"));
}

#[test]
fn programs_may_not_key_resources_by_language() {
    let mut doc: serde_json::Value = serde_json::from_str(PROGRAMS[0].1).unwrap();
    doc["crisis_resources"] = serde_json::json!({
        "en": [{"name": "Samaritans", "description": "Call 116 123.", "phone": "116 123"}],
        "US": [{"name": "UK line", "description": "Call 116 123.", "phone": "116 123"}]
    });
    let issues = program::load(&doc.to_string()).unwrap_err();
    let all: Vec<String> = issues.iter().map(ToString::to_string).collect();
    let all = all.join("\n");
    assert!(
        all.contains("crisis_resources.en: \"en\" is a language, not a country"),
        "{all}"
    );
    assert!(all.contains("a crisis number of"), "{all}");
}

/// The patient's own country's numbers, plus the program's for that country.
fn allowed(country: Option<&str>, p: &Program) -> BTreeSet<String> {
    let Some(cc) = country else {
        return BTreeSet::new();
    };
    let mut ok = crisis::country_set(cc)
        .map(|s| s.all_numbers())
        .unwrap_or_default();
    ok.extend(numbers(&p.crisis_resources_for_country(cc)));
    ok
}

fn check(locale: &str, explicit: Option<&str>, p: &Program) -> Result<(), String> {
    let patient = profile(locale, explicit);
    let country = patient.country_code();
    let shown = resources_for(Some(p), Some(&patient));
    if shown.is_empty() {
        return Err(format!("{locale} {explicit:?}: nothing shown"));
    }
    let ok = allowed(country.as_deref(), p);
    let foreign: Vec<String> = numbers(&shown).difference(&ok).cloned().collect();
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} / {locale} / {explicit:?}: foreign numbers {foreign:?}",
            p.metadata.id
        ))
    }
}

/// Every shipped program (as shipped and with clinic lines for several
/// countries) × every supported language × every supported country, plus
/// unknown and region-less locales: not one foreign number.
#[test]
fn no_patient_is_shown_another_countrys_number() {
    let mut regions: Vec<Option<&str>> = crisis::supported_countries()
        .into_iter()
        .map(Some)
        .collect();
    regions.extend([None, Some("ZZ"), Some("LU"), Some("JP")]);
    let mut checked = 0;
    let mut failures = Vec::new();
    for (_, json) in PROGRAMS {
        for p in [load(json), with_clinic_lines(json)] {
            for lang in LANGUAGES {
                for region in &regions {
                    let locale = region.map_or(lang.to_string(), |r| format!("{lang}-{r}"));
                    for explicit in [None, Some("AT"), Some("US")] {
                        checked += 1;
                        if let Err(e) = check(&locale, explicit, &p) {
                            failures.push(e);
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 2000, "{checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

proptest! {
    #[test]
    fn no_foreign_number_for_any_locale(
        program in 0usize..3,
        clinic in any::<bool>(),
        lang in prop::sample::select(LANGUAGES.to_vec()),
        region in prop::option::of("[A-Z]{2}"),
        script in any::<bool>(),
        explicit in prop::option::of(prop::sample::select(crisis::supported_countries())),
    ) {
        let json = PROGRAMS[program].1;
        let p = if clinic { with_clinic_lines(json) } else { load(json) };
        let locale = match (&region, script) {
            (Some(r), true) => format!("{lang}-Latn-{r}"),
            (Some(r), false) => format!("{lang}-{r}"),
            (None, _) => lang.to_string(),
        };
        prop_assert!(check(&locale, explicit, &p).is_ok(), "{:?}", check(&locale, explicit, &p));
    }
}
