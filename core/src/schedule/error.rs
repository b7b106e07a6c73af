//! Typed errors of the schedule engine.

/// Why a rule, zone or expansion was rejected.
///
/// Messages name the offending RRULE part so that the program validator can
/// point authors at the exact spot; they never carry patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The RRULE text is malformed, unsupported or out of range.
    #[error("{part}: {reason}")]
    InvalidRule {
        /// The rule part at fault, e.g. `BYHOUR` (upper case).
        part: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The name is not an IANA zone known to the bundled tz database.
    #[error("unknown time zone {0:?}")]
    UnknownZone(String),
    /// A zone history was empty or not in time order.
    #[error("zone history must be non-empty and ordered by change time")]
    InvalidZoneHistory,
    /// The expansion would exceed a safety limit (window too large for the rule).
    #[error("expansion exceeds the limit of {limit} {what}")]
    LimitExceeded {
        /// What was counted (occurrences or periods).
        what: &'static str,
        /// The limit that was hit.
        limit: usize,
    },
}

impl ScheduleError {
    pub(crate) fn rule(part: impl Into<String>, reason: impl Into<String>) -> Self {
        ScheduleError::InvalidRule {
            part: part.into(),
            reason: reason.into(),
        }
    }

    /// The RRULE part at fault, if this is a rule error.
    pub fn part(&self) -> Option<&str> {
        match self {
            ScheduleError::InvalidRule { part, .. } => Some(part),
            _ => None,
        }
    }
}
