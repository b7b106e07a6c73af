//! The module reader in one call: the pages and exercises of a module the
//! patient can open, with their saved exercise answers and progress.
//! Saving an exercise validates it against the program's field rules here,
//! so the apps only collect what the patient typed or ticked.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Session;
use crate::agenda::{self, module_item_id, ItemState};
use crate::error::{Error, Result};
use crate::program::{Exercise, FieldKind, Module, Page};
use crate::store::Record;

/// Longest text answer kept (characters); a diary line, not a document.
pub const MAX_TEXT_ANSWER_CHARS: usize = 10_000;

/// One field's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExerciseValue {
    Text(String),
    Number(i64),
    /// Option values: exactly one for `choice`, any number for `checkbox`.
    Choices(Vec<String>),
}

/// The latest answers to one exercise; saving again replaces them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExerciseAnswerRecord {
    pub module_id: String,
    pub exercise_id: String,
    pub answers: BTreeMap<String, ExerciseValue>,
    pub saved_at_millis: i64,
}

impl Record for ExerciseAnswerRecord {
    const KIND: &'static str = "exercise_answer";
}

/// An exercise with what the patient saved for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderExercise {
    pub exercise: Exercise,
    pub answers: BTreeMap<String, ExerciseValue>,
    pub saved_at_millis: Option<i64>,
}

/// The reader screen for one module.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleReader {
    pub module_id: String,
    pub title: String,
    pub estimated_minutes: u32,
    /// The module's agenda state (open, due, overdue or completed).
    pub state: ItemState,
    pub pages: Vec<Page>,
    pub exercises: Vec<ReaderExercise>,
    pub exercises_done: u32,
    pub completed_at_millis: Option<i64>,
    /// 1-based position of this module in the program, and the module count.
    pub position: u32,
    pub modules_total: u32,
}

/// Record id of an exercise's answers: exercise ids are unique across a
/// program, but may exceed the store's id length, so the id is a digest.
fn answer_id(exercise_id: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, exercise_id.as_bytes());
    crate::crypto::hex(&d.as_ref()[..16])
}

/// Checks answers against the exercise's fields. Field ids come from the
/// program, never from the patient, so they are safe to name in errors.
fn validate(ex: &Exercise, answers: &BTreeMap<String, ExerciseValue>) -> Result<()> {
    for id in answers.keys() {
        if !ex.fields.iter().any(|f| &f.id == id) {
            return Err(Error::invalid(
                "answers",
                format!("field {id} is not in this exercise"),
            ));
        }
    }
    for f in &ex.fields {
        let field = format!("answers.{}", f.id);
        let Some(v) = answers.get(&f.id) else {
            if f.required {
                return Err(Error::invalid(field, "is required"));
            }
            continue;
        };
        match (f.kind, v) {
            (FieldKind::Text, ExerciseValue::Text(t)) => {
                if f.required && t.trim().is_empty() {
                    return Err(Error::invalid(field, "is required"));
                }
                if t.chars().count() > MAX_TEXT_ANSWER_CHARS {
                    return Err(Error::invalid(
                        field,
                        format!("is longer than {MAX_TEXT_ANSWER_CHARS} characters"),
                    ));
                }
            }
            (FieldKind::Number, ExerciseValue::Number(n)) => {
                if f.min.is_some_and(|m| *n < m) || f.max.is_some_and(|m| *n > m) {
                    return Err(Error::invalid(field, "is out of range"));
                }
            }
            (FieldKind::Choice | FieldKind::Checkbox, ExerciseValue::Choices(vs)) => {
                if f.kind == FieldKind::Choice && vs.len() != 1 {
                    return Err(Error::invalid(field, "takes exactly one option"));
                }
                if f.required && vs.is_empty() {
                    return Err(Error::invalid(field, "is required"));
                }
                for (i, v) in vs.iter().enumerate() {
                    if !f.options.iter().any(|o| &o.value == v) {
                        return Err(Error::invalid(field, "names an unknown option"));
                    }
                    if vs[..i].contains(v) {
                        return Err(Error::invalid(field, "names an option twice"));
                    }
                }
            }
            _ => return Err(Error::invalid(field, "has the wrong kind of answer")),
        }
    }
    Ok(())
}

impl Session {
    /// The module to show, with its agenda state: the one asked for, or
    /// (none asked) the first the patient can do now, else the last done.
    fn reader_module(
        &self,
        module_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(Module, ItemState, Option<i64>, u32, u32)> {
        let st = agenda::load_state(&self.store)?;
        let items = agenda::items(&st, at);
        let state_of = |id: &str| {
            items
                .iter()
                .find(|i| i.id == module_item_id(id))
                .map(|i| (i.state, i.completed_at.map(|t| t.timestamp_millis())))
        };
        let modules = &st.program.modules;
        let chosen = match module_id {
            Some(id) => modules.iter().position(|m| m.id == id),
            None => modules
                .iter()
                .position(|m| state_of(&m.id).is_some_and(|(s, _)| s.is_actionable()))
                .or_else(|| {
                    modules.iter().rposition(|m| {
                        state_of(&m.id).is_some_and(|(s, _)| s == ItemState::Completed)
                    })
                }),
        };
        let Some(pos) = chosen else {
            return Err(Error::NotFound {
                what: "module".into(),
            });
        };
        let m = modules[pos].clone();
        let (state, done) = state_of(&m.id).ok_or_else(|| Error::NotFound {
            what: "module".into(),
        })?;
        if !(state.is_actionable() || state == ItemState::Completed) {
            return Err(Error::invalid("module_id", "is not open yet"));
        }
        Ok((m, state, done, pos as u32 + 1, modules.len() as u32))
    }

    /// The reader for `module_id`, or for the current module when `None`.
    /// A module that is not open yet is refused (`InvalidInput`), a program
    /// without one the patient can open is `NotFound`.
    pub fn module_reader(
        &self,
        module_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<ModuleReader> {
        let (m, state, completed_at_millis, position, modules_total) =
            self.reader_module(module_id, at)?;
        let saved: BTreeMap<String, ExerciseAnswerRecord> = self
            .store
            .list::<ExerciseAnswerRecord>()?
            .into_iter()
            .filter(|r| r.value.module_id == m.id)
            .map(|r| (r.value.exercise_id.clone(), r.value))
            .collect();
        let exercises: Vec<ReaderExercise> = m
            .exercises
            .iter()
            .map(|e| {
                let s = saved.get(&e.id);
                ReaderExercise {
                    exercise: e.clone(),
                    answers: s.map(|s| s.answers.clone()).unwrap_or_default(),
                    saved_at_millis: s.map(|s| s.saved_at_millis),
                }
            })
            .collect();
        Ok(ModuleReader {
            exercises_done: exercises
                .iter()
                .filter(|e| e.saved_at_millis.is_some())
                .count() as u32,
            module_id: m.id,
            title: m.title,
            estimated_minutes: m.estimated_minutes,
            state,
            pages: m.pages,
            exercises,
            completed_at_millis,
            position,
            modules_total,
        })
    }

    /// Saves the patient's answers to one exercise of an open (or done)
    /// module, replacing earlier ones; returns the reader as it now stands.
    pub fn save_exercise(
        &self,
        module_id: &str,
        exercise_id: &str,
        answers: BTreeMap<String, ExerciseValue>,
        at: DateTime<Utc>,
    ) -> Result<ModuleReader> {
        let (m, ..) = self.reader_module(Some(module_id), at)?;
        let ex = m
            .exercises
            .iter()
            .find(|e| e.id == exercise_id)
            .ok_or_else(|| Error::NotFound {
                what: "exercise".into(),
            })?;
        validate(ex, &answers)?;
        self.store.put(
            &answer_id(exercise_id),
            &ExerciseAnswerRecord {
                module_id: m.id.clone(),
                exercise_id: ex.id.clone(),
                answers,
                saved_at_millis: at.timestamp_millis(),
            },
        )?;
        self.module_reader(Some(module_id), at)
    }

    /// The patient finished reading: the module's agenda item is completed
    /// (reminders re-planned), and the reader returned as it now stands.
    pub fn finish_module(&self, module_id: &str, at: DateTime<Utc>) -> Result<ModuleReader> {
        self.reader_module(Some(module_id), at)?;
        self.complete_item(&module_item_id(module_id), at)?;
        self.module_reader(Some(module_id), at)
    }
}
