//! The check-in screen on one session: a draft joined with its instrument's
//! definition, so the app gets everything it draws in one value.

use super::Session;
use crate::checkin::{Checkins, DraftView};
use crate::error::Result;
use crate::instruments::{AnswerOption, AnswerValue, Instrument, ItemType};

/// One item as the screen shows it, with its answer options resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenItem {
    pub link_id: String,
    pub text: String,
    pub item_type: ItemType,
    pub required: bool,
    pub options: Vec<AnswerOption>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// The whole check-in screen: the draft and what its instrument asks.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftScreen {
    pub draft: DraftView,
    pub title: String,
    pub preamble: Option<String>,
    pub items: Vec<ScreenItem>,
}

pub(super) fn screen_items(inst: &Instrument) -> Vec<ScreenItem> {
    inst.items
        .iter()
        .map(|i| ScreenItem {
            link_id: i.link_id.clone(),
            text: i.text.clone(),
            item_type: i.item_type,
            required: i.required,
            options: inst.options(i).to_vec(),
            min: i.min,
            max: i.max,
        })
        .collect()
}

fn screen(c: &Checkins, draft: DraftView) -> Result<DraftScreen> {
    let inst = c.registry().require(&draft.instrument)?;
    Ok(DraftScreen {
        title: inst.title.clone(),
        preamble: inst.preamble.clone(),
        items: screen_items(inst),
        draft,
    })
}

impl Session {
    /// The check-in service over this session's store.
    pub fn checkins(&self) -> Result<Checkins> {
        Checkins::new(self.store.clone())
    }

    /// Starts a check-in, from an agenda item when `agenda_item` is given.
    pub fn start_checkin(
        &self,
        instrument_id: &str,
        agenda_item: Option<&str>,
    ) -> Result<DraftScreen> {
        let c = self.checkins()?;
        let d = c.start(instrument_id, agenda_item)?;
        screen(&c, d)
    }

    /// Starts the check-in an agenda item asks for.
    pub fn start_checkin_for_agenda_item(&self, agenda_item: &str) -> Result<DraftScreen> {
        let c = self.checkins()?;
        let d = c.start_from_agenda(agenda_item)?;
        screen(&c, d)
    }

    /// Saves a batch of answers (`None` clears one); one invalid answer
    /// refuses the batch.
    pub fn answer_checkin(
        &self,
        checkin_id: &str,
        answers: &[(String, Option<AnswerValue>)],
    ) -> Result<DraftScreen> {
        let c = self.checkins()?;
        let d = c.answer(checkin_id, answers)?;
        screen(&c, d)
    }

    /// Reopens a draft (drafts survive restarts).
    pub fn checkin_draft(&self, checkin_id: &str) -> Result<DraftScreen> {
        let c = self.checkins()?;
        let d = c.draft(checkin_id)?;
        screen(&c, d)
    }

    pub fn checkin_drafts(&self) -> Result<Vec<DraftScreen>> {
        let c = self.checkins()?;
        c.drafts()?.into_iter().map(|d| screen(&c, d)).collect()
    }

    /// Starts a correction: a new version that refers to the submitted one.
    pub fn correct_checkin(&self, checkin_id: &str) -> Result<DraftScreen> {
        let c = self.checkins()?;
        let d = c.correct(checkin_id)?;
        screen(&c, d)
    }
}
