//! Program definitions (modules, unlock rules, check-in schedules) and their validator.
//!
//! A program is authored as a JSON file (format described in
//! `docs/program-format.md`, schema in `docs/program.schema.json`) and loaded
//! with [`validate`], which returns either a [`Program`] or every problem found.

mod definition;
mod rule_checks;
mod spans;
mod unlock;
mod validate;

pub use definition::{
    Backoff, CheckinSchedule, CheckinWhen, Exercise, ExerciseKind, Field, FieldKind, FieldOption,
    Metadata, Module, Page, Program, QuietHours, Recurrence, ReminderPolicy, TimeOfDay, UnlockRule,
    Window, FORMAT_VERSION,
};
pub use unlock::UnlockFacts;
pub use validate::{
    validate, validate_program, ValidationContext, ValidationIssue, DEFAULT_INSTRUMENTS,
};

/// Parses and validates with the default instrument set.
pub fn load(json: &str) -> Result<Program, Vec<ValidationIssue>> {
    validate(json, &ValidationContext::default())
}
