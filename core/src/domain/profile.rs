//! The patient profile: who the app is for and how their treatment runs.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How treatment is delivered (the three kinds of internet intervention): a
/// patient's profile names one, a program file lists those it supports. The
/// JSON names (`unguided`, `guided`, `messaging`) are stored on disk and in
/// program files, so they must not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreatmentMode {
    /// Self-help alone; the alliance is measured with the program itself.
    Unguided,
    /// Self-help with brief, regular input from a therapist or coach.
    Guided,
    /// Therapy where asynchronous messaging is the medium.
    Messaging,
}

impl TreatmentMode {
    pub const ALL: [TreatmentMode; 3] = [
        TreatmentMode::Unguided,
        TreatmentMode::Guided,
        TreatmentMode::Messaging,
    ];

    /// Whether a therapist is there to approve modules.
    pub fn has_therapist(self) -> bool {
        !matches!(self, TreatmentMode::Unguided)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TreatmentMode::Unguided => "unguided",
            TreatmentMode::Guided => "guided",
            TreatmentMode::Messaging => "messaging",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "unguided" => Ok(TreatmentMode::Unguided),
            "guided" => Ok(TreatmentMode::Guided),
            "messaging" => Ok(TreatmentMode::Messaging),
            _ => Err(Error::invalid(
                "mode",
                "must be unguided, guided or messaging",
            )),
        }
    }
}

impl std::fmt::Display for TreatmentMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub display_name: String,
    /// A named IANA zone, never a fixed offset: reminders follow DST and travel.
    pub time_zone: String,
    /// BCP 47 tag, e.g. `en-GB`; picks the wording. Its region is the
    /// country when `country` is not set.
    pub locale: String,
    pub mode: TreatmentMode,
    /// ISO 3166-1 alpha-2 code (`DE`), chosen by the patient. Picks crisis
    /// resources: a patient is never shown another country's numbers.
    /// `None` means "the region of `locale`" (see [`Profile::country_code`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Profile {
    pub fn validate(&self) -> Result<()> {
        let name = self.display_name.trim();
        if name.is_empty() || self.display_name.chars().count() > 100 {
            return Err(Error::invalid(
                "display_name",
                "must be 1 to 100 characters",
            ));
        }
        if self.display_name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "display_name",
                "must not contain control characters",
            ));
        }
        validate_time_zone(&self.time_zone)?;
        validate_locale(&self.locale)?;
        if let Some(c) = &self.country {
            validate_country(c)?;
        }
        Ok(())
    }

    /// The country for crisis resources: the explicit choice, else the region
    /// subtag of the locale (`zh-Hant-TW` -> `TW`), else `None` (the app then
    /// asks, and until it knows shows only the international directory).
    pub fn country_code(&self) -> Option<String> {
        self.country
            .as_ref()
            .map(|c| c.to_ascii_uppercase())
            .or_else(|| locale_region(&self.locale))
    }

    /// Primary language subtag, lowercase (`de` for `de-AT`).
    pub fn language(&self) -> &str {
        self.locale.split('-').next().unwrap_or("")
    }
}

/// The region subtag of a BCP 47 tag, uppercase: the two letters after the
/// language, skipping a four-letter script (`zh-Hant-TW` -> `TW`). Numeric
/// regions (`es-419`) name no single country and give `None`.
pub fn locale_region(locale: &str) -> Option<String> {
    let mut parts = locale.split('-').skip(1);
    let mut next = parts.next()?;
    if next.len() == 4 && next.bytes().all(|b| b.is_ascii_alphabetic()) {
        next = parts.next()?;
    }
    (next.len() == 2 && next.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| next.to_ascii_uppercase())
}

/// Officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2: &str = "\
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM \
PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code (uppercase).
pub fn is_iso_country(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && ISO_3166_ALPHA2.split_ascii_whitespace().any(|c| c == code)
}

/// Two uppercase letters from the ISO 3166-1 alpha-2 list. `UK` gets its own
/// hint: it is the commonest mistake and would otherwise lose the UK's lines.
pub fn validate_country(code: &str) -> Result<()> {
    if is_iso_country(code) {
        return Ok(());
    }
    let why = if code == "UK" {
        "must be an ISO 3166-1 alpha-2 code: the United Kingdom is GB"
    } else if code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()) {
        "must be an ISO 3166-1 alpha-2 code in capitals, such as DE"
    } else {
        "must be an ISO 3166-1 alpha-2 code such as DE, GB or US"
    };
    Err(Error::invalid("country", why))
}

/// Accepts only names in the IANA database, so "EST" style offsets and typos fail early.
pub fn validate_time_zone(tz: &str) -> Result<crate::tz::Tz> {
    tz.parse::<crate::tz::Tz>()
        .map_err(|_| Error::invalid("time_zone", "is not a known IANA time zone name"))
}

/// A pragmatic BCP 47 check: language, then optional script/region subtags.
pub fn validate_locale(locale: &str) -> Result<()> {
    let mut parts = locale.split('-');
    let lang = parts.next().unwrap_or("");
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let rest_ok =
        parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if lang_ok && rest_ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "locale",
            "must be a BCP 47 tag such as en-GB",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            display_name: "Sam".into(),
            time_zone: "Europe/Berlin".into(),
            locale: "en-GB".into(),
            mode: TreatmentMode::Guided,
            country: None,
        }
    }

    #[test]
    fn validation() {
        assert!(profile().validate().is_ok());
        for (p, field) in [
            (
                Profile {
                    display_name: " ".into(),
                    ..profile()
                },
                "display_name",
            ),
            (
                Profile {
                    display_name: "a\u{7}".into(),
                    ..profile()
                },
                "display_name",
            ),
            (
                Profile {
                    time_zone: "UTC+2".into(),
                    ..profile()
                },
                "time_zone",
            ),
            (
                Profile {
                    time_zone: "Mars/Olympus".into(),
                    ..profile()
                },
                "time_zone",
            ),
            (
                Profile {
                    locale: "English".into(),
                    ..profile()
                },
                "locale",
            ),
            (
                Profile {
                    locale: "en_GB".into(),
                    ..profile()
                },
                "locale",
            ),
            (
                Profile {
                    country: Some("UK".into()),
                    ..profile()
                },
                "country",
            ),
            (
                Profile {
                    country: Some("de".into()),
                    ..profile()
                },
                "country",
            ),
            (
                Profile {
                    country: Some("ZZ".into()),
                    ..profile()
                },
                "country",
            ),
        ] {
            match p.validate() {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected invalid input, got {other:?}"),
            }
        }
    }

    #[test]
    fn country_comes_from_the_choice_then_the_locale_region() {
        let with = |locale: &str, country: Option<&str>| Profile {
            locale: locale.into(),
            country: country.map(Into::into),
            ..profile()
        };
        assert_eq!(with("en-US", None).country_code().as_deref(), Some("US"));
        assert_eq!(
            with("en-US", Some("CA")).country_code().as_deref(),
            Some("CA")
        );
        assert_eq!(
            with("zh-Hant-TW", None).country_code().as_deref(),
            Some("TW")
        );
        assert_eq!(with("de-at", None).country_code().as_deref(), Some("AT"));
        assert_eq!(with("de", None).country_code(), None);
        assert_eq!(with("es-419", None).country_code(), None);
        assert_eq!(with("de-AT", None).language(), "de");
        assert!(with("de", Some("AT")).validate().is_ok());
        assert_eq!(ISO_3166_ALPHA2.split_ascii_whitespace().count(), 249);
    }

    #[test]
    fn old_profiles_without_country_still_decode() {
        let old = r#"{"display_name":"Sam","time_zone":"Europe/Berlin","locale":"en-GB","mode":"guided"}"#;
        let p: Profile = crate::json::from_text(old).unwrap();
        assert_eq!(p.country, None);
        assert_eq!(serde_json::to_string(&p).unwrap(), old);
    }

    #[test]
    fn modes_round_trip() {
        for m in [
            TreatmentMode::Unguided,
            TreatmentMode::Guided,
            TreatmentMode::Messaging,
        ] {
            assert_eq!(TreatmentMode::parse(m.as_str()).unwrap(), m);
        }
        assert!(TreatmentMode::parse("chat").is_err());
    }
}
