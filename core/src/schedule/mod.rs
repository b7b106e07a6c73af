//! RFC 5545 recurrences evaluated in the patient's IANA zone.
//!
//! Pure functions only (no storage, no clock): the agenda, reminder plan and
//! CLI all build on these so that every surface agrees on when things happen.

mod error;
mod expand;
mod rrule;
mod zone;

/// A named IANA zone from the bundled database; a chrono `TimeZone`.
pub use crate::tz::{Tz, UnknownZone, ZoneOffset};
/// One error type for rules, zones and expansion, so callers match once.
pub use error::ScheduleError;
/// Expansion works on wall-clock time first, so DST never drifts a reminder;
/// zone history keeps past instants fixed when the patient travels.
pub use expand::{expand, expand_with_zone_history, replan_after_zone_change, MAX_OCCURRENCES};
/// Rules are validated on parse, so a stored rule is always expandable.
pub(crate) use rrule::parse_weekday;
pub use rrule::{Frequency, RRule, Until, WeekdayNum, MAX_COUNT, MAX_INTERVAL};
/// Gap and fold handling lives in one place so all callers resolve alike:
/// every wall-clock time in a named zone becomes an instant through
/// [`resolve_local`] (one zone) or [`resolve_local_in_history`] (a patient's
/// zone history).
pub use zone::{parse_zone, resolve_local, resolve_local_in_history, Occurrence, ZoneSpan};
