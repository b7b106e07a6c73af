//! The patient's progress screen and module reader over FFI: one core call
//! each (`collabzium_core::session`), converted to records here.

use std::collections::HashMap;

use collabzium_core::instruments::ChangeCategory;
use collabzium_core::program;
use collabzium_core::session;

use crate::error::Result;
use crate::schedule::AgendaItemState;
use crate::store::PatientStore;

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SeverityBand {
    pub id: String,
    pub label: String,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ProgressPoint {
    pub at_millis: i64,
    pub total: f64,
    pub severity: Option<String>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SymptomChart {
    pub instrument: String,
    pub title: String,
    pub higher_is_better: bool,
    pub min: f64,
    pub max: f64,
    pub bands: Vec<SeverityBand>,
    pub points: Vec<ProgressPoint>,
    /// reliably_improved, reliably_deteriorated or no_reliable_change.
    pub latest_change: Option<String>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AllianceChartPoint {
    pub at_millis: i64,
    pub instrument: String,
    pub goals: Option<f64>,
    pub tasks: Option<f64>,
    pub bond: Option<f64>,
    pub total: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ProgressScreen {
    pub symptoms: Vec<SymptomChart>,
    pub alliance: Vec<AllianceChartPoint>,
    pub damaged: u32,
}

/// One field's answer in an exercise.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ExerciseValue {
    Text {
        value: String,
    },
    Number {
        value: i64,
    },
    /// Option values: one for a choice field, any number for a checkbox field.
    Choices {
        values: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExerciseFieldOption {
    pub value: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExerciseField {
    pub id: String,
    pub label: String,
    /// text, number, choice or checkbox.
    pub kind: String,
    pub required: bool,
    pub options: Vec<ExerciseFieldOption>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReaderExercise {
    pub id: String,
    pub title: String,
    pub homework: bool,
    /// Markdown.
    pub instructions: String,
    pub fields: Vec<ExerciseField>,
    pub answers: HashMap<String, ExerciseValue>,
    pub saved_at_millis: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReaderPage {
    pub id: String,
    pub title: String,
    /// CommonMark Markdown.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ModuleReader {
    pub module_id: String,
    pub title: String,
    pub estimated_minutes: u32,
    pub state: AgendaItemState,
    pub pages: Vec<ReaderPage>,
    pub exercises: Vec<ReaderExercise>,
    pub exercises_done: u32,
    pub completed_at_millis: Option<i64>,
    pub position: u32,
    pub modules_total: u32,
}

fn change(c: ChangeCategory) -> String {
    match c {
        ChangeCategory::ReliablyImproved => "reliably_improved",
        ChangeCategory::ReliablyDeteriorated => "reliably_deteriorated",
        ChangeCategory::NoReliableChange => "no_reliable_change",
    }
    .into()
}

fn value_in(v: ExerciseValue) -> session::ExerciseValue {
    match v {
        ExerciseValue::Text { value } => session::ExerciseValue::Text(value),
        ExerciseValue::Number { value } => session::ExerciseValue::Number(value),
        ExerciseValue::Choices { values } => session::ExerciseValue::Choices(values),
    }
}

fn value_out(v: session::ExerciseValue) -> ExerciseValue {
    match v {
        session::ExerciseValue::Text(value) => ExerciseValue::Text { value },
        session::ExerciseValue::Number(value) => ExerciseValue::Number { value },
        session::ExerciseValue::Choices(values) => ExerciseValue::Choices { values },
    }
}

fn kind(k: program::FieldKind) -> String {
    match k {
        program::FieldKind::Text => "text",
        program::FieldKind::Number => "number",
        program::FieldKind::Choice => "choice",
        program::FieldKind::Checkbox => "checkbox",
    }
    .into()
}

fn reader(r: session::ModuleReader) -> ModuleReader {
    ModuleReader {
        module_id: r.module_id,
        title: r.title,
        estimated_minutes: r.estimated_minutes,
        state: r.state,
        pages: r
            .pages
            .into_iter()
            .map(|p| ReaderPage {
                id: p.id,
                title: p.title,
                body: p.body,
            })
            .collect(),
        exercises: r
            .exercises
            .into_iter()
            .map(|e| ReaderExercise {
                id: e.exercise.id,
                title: e.exercise.title,
                homework: e.exercise.kind == program::ExerciseKind::Homework,
                instructions: e.exercise.instructions,
                fields: e
                    .exercise
                    .fields
                    .into_iter()
                    .map(|f| ExerciseField {
                        id: f.id,
                        label: f.label,
                        kind: kind(f.kind),
                        required: f.required,
                        options: f
                            .options
                            .into_iter()
                            .map(|o| ExerciseFieldOption {
                                value: o.value,
                                label: o.label,
                            })
                            .collect(),
                        min: f.min,
                        max: f.max,
                    })
                    .collect(),
                answers: e
                    .answers
                    .into_iter()
                    .map(|(k, v)| (k, value_out(v)))
                    .collect(),
                saved_at_millis: e.saved_at_millis,
            })
            .collect(),
        exercises_done: r.exercises_done,
        completed_at_millis: r.completed_at_millis,
        position: r.position,
        modules_total: r.modules_total,
    }
}

#[uniffi::export]
impl PatientStore {
    /// The progress screen in one call: symptom series with severity bands,
    /// and the alliance subscales (goals, tasks, bond) over time.
    pub fn progress_screen(&self) -> Result<ProgressScreen> {
        let p = self.session.progress_screen()?;
        Ok(ProgressScreen {
            symptoms: p
                .symptoms
                .into_iter()
                .map(|s| SymptomChart {
                    instrument: s.instrument,
                    title: s.title,
                    higher_is_better: s.higher_is_better,
                    min: s.min,
                    max: s.max,
                    bands: s
                        .bands
                        .into_iter()
                        .map(|b| SeverityBand {
                            id: b.id,
                            label: b.label,
                            min: b.min,
                            max: b.max,
                        })
                        .collect(),
                    points: s
                        .points
                        .into_iter()
                        .map(|p| ProgressPoint {
                            at_millis: p.at_millis,
                            total: p.total,
                            severity: p.severity,
                        })
                        .collect(),
                    latest_change: s.latest_change.map(change),
                })
                .collect(),
            alliance: p
                .alliance
                .into_iter()
                .map(|a| AllianceChartPoint {
                    at_millis: a.at_millis,
                    instrument: a.instrument,
                    goals: a.goals,
                    tasks: a.tasks,
                    bond: a.bond,
                    total: a.total,
                })
                .collect(),
            damaged: p.damaged,
        })
    }

    /// The reader for `module_id`, or the current module when `None`.
    #[uniffi::method(default(module_id = None, at_millis = None))]
    pub fn module_reader(
        &self,
        module_id: Option<String>,
        at_millis: Option<i64>,
    ) -> Result<ModuleReader> {
        let at = self.session.instant(at_millis)?;
        Ok(reader(
            self.session.module_reader(module_id.as_deref(), at)?,
        ))
    }

    /// Saves one exercise's answers (replacing earlier ones); an invalid
    /// answer is `InvalidInput` with field `answers.<field id>`.
    #[uniffi::method(default(at_millis = None))]
    pub fn save_exercise(
        &self,
        module_id: String,
        exercise_id: String,
        answers: HashMap<String, ExerciseValue>,
        at_millis: Option<i64>,
    ) -> Result<ModuleReader> {
        let at = self.session.instant(at_millis)?;
        let answers = answers.into_iter().map(|(k, v)| (k, value_in(v))).collect();
        Ok(reader(self.session.save_exercise(
            &module_id,
            &exercise_id,
            answers,
            at,
        )?))
    }

    /// Completes the module's agenda item (reminders re-planned).
    #[uniffi::method(default(at_millis = None))]
    pub fn finish_module(&self, module_id: String, at_millis: Option<i64>) -> Result<ModuleReader> {
        let at = self.session.instant(at_millis)?;
        Ok(reader(self.session.finish_module(&module_id, at)?))
    }
}

/// A local `HH:MM` span without reminders; `start > end` spans midnight.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QuietSpan {
    pub start: String,
    pub end: String,
}

/// The settings screen: zone, the program's reminder policy, the audit log.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SettingsScreen {
    pub time_zone: Option<String>,
    /// `HH:MM`, local; `None` before enrolment (as are the next three).
    pub reminder_time: Option<String>,
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    pub max_reminders_per_day: Option<u32>,
    /// The patient's own choices (`None`: as the program says); reminders
    /// are on unless the patient turned them off.
    pub reminders_enabled: bool,
    pub my_quiet_start: Option<String>,
    pub my_quiet_end: Option<String>,
    pub my_checkin_time: Option<String>,
    pub my_max_per_day: Option<u32>,
    /// What the plan uses: every quiet span in force (program's first) and
    /// the lower daily limit. Empty / `None` before enrolment.
    pub effective_quiet_hours: Vec<QuietSpan>,
    pub effective_max_per_day: Option<u32>,
    pub audit: Vec<crate::types::AuditEntry>,
    pub audit_intact: bool,
    pub has_recovery_key: bool,
}

#[uniffi::export]
impl PatientStore {
    /// The settings screen in one call.
    pub fn settings_screen(&self) -> Result<SettingsScreen> {
        let s = self.session.settings_screen()?;
        let r = s.reminders.as_ref();
        let p = s.reminder_preferences.as_ref();
        let e = s.effective_reminders.as_ref();
        Ok(SettingsScreen {
            time_zone: s.time_zone,
            reminder_time: r.map(|r| r.time_of_day.to_string()),
            quiet_start: r.and_then(|r| r.quiet_hours).map(|q| q.start.to_string()),
            quiet_end: r.and_then(|r| r.quiet_hours).map(|q| q.end.to_string()),
            max_reminders_per_day: r.map(|r| r.max_per_day),
            reminders_enabled: p.is_none_or(|p| p.enabled),
            my_quiet_start: p.and_then(|p| p.quiet_hours).map(|q| q.start.to_string()),
            my_quiet_end: p.and_then(|p| p.quiet_hours).map(|q| q.end.to_string()),
            my_checkin_time: p.and_then(|p| p.checkin_time).map(|t| t.to_string()),
            my_max_per_day: p.and_then(|p| p.max_per_day),
            effective_quiet_hours: e
                .map(|e| {
                    e.quiet_hours
                        .iter()
                        .map(|q| QuietSpan {
                            start: q.start.to_string(),
                            end: q.end.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            effective_max_per_day: e.map(|e| e.max_per_day),
            audit: s.audit.into_iter().map(Into::into).collect(),
            audit_intact: s.audit_verification.ok,
            has_recovery_key: s.has_recovery_key,
        })
    }

    /// Saves the patient's reminder preferences (`HH:MM` times; quieter
    /// than the program, never noisier) and re-plans the reminders. Errors
    /// name the field: `quiet_hours.start`, `quiet_hours.end`,
    /// `checkin_time`, `max_per_day`.
    #[uniffi::method(default(at_millis = None))]
    pub fn set_reminder_preferences(
        &self,
        enabled: bool,
        quiet_start: Option<String>,
        quiet_end: Option<String>,
        checkin_time: Option<String>,
        max_per_day: Option<u32>,
        at_millis: Option<i64>,
    ) -> Result<crate::schedule::ScheduleUpdate> {
        let prefs = collabzium_core::agenda::ReminderPreferences::from_text(
            enabled,
            quiet_start.as_deref(),
            quiet_end.as_deref(),
            checkin_time.as_deref(),
            max_per_day,
        )?;
        let at = self.session.instant(at_millis)?;
        Ok(self.session.set_reminder_preferences(&prefs, at)?.into())
    }

    /// The check-ins as a FHIR R4 Bundle, JSON text (plaintext: write it
    /// straight to the file the patient chose). Audited.
    pub fn export_fhir(&self) -> Result<String> {
        Ok(self.session.export_fhir()?)
    }
}
