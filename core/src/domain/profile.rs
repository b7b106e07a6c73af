//! The patient profile: who the app is for and how their treatment runs.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How treatment is delivered (the three kinds of internet intervention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub display_name: String,
    /// A named IANA zone, never a fixed offset: reminders follow DST and travel.
    pub time_zone: String,
    /// BCP 47 tag, e.g. `en-GB`; picks crisis resources and wording.
    pub locale: String,
    pub mode: TreatmentMode,
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
        Ok(())
    }
}

/// Accepts only names in the IANA database, so "EST" style offsets and typos fail early.
pub fn validate_time_zone(tz: &str) -> Result<chrono_tz::Tz> {
    tz.parse::<chrono_tz::Tz>()
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
        ] {
            match p.validate() {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected invalid input, got {other:?}"),
            }
        }
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
