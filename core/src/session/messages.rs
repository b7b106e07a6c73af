//! Messaging and program assignment as the apps call them.

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::store::Store;
use crate::sync::{self, MessageView};

/// The thread, oldest first; received messages shown here are marked read.
pub fn open_thread(store: &Store, channel_id: Option<&str>) -> Result<Vec<MessageView>> {
    let t = sync::thread(store, channel_id)?;
    let unread: Vec<String> = t
        .iter()
        .filter(|m| !m.from_me && !m.read)
        .map(|m| m.id.clone())
        .collect();
    if let Some(first) = t.first() {
        sync::mark_read(store, &first.channel_id, &unread)?;
    }
    Ok(t)
}

/// Therapist: assigns a program (JSON) from `start_date` (`YYYY-MM-DD`).
pub fn assign_program(
    store: &Store,
    channel_id: &str,
    program_json: &str,
    start_date: &str,
) -> Result<()> {
    let start: NaiveDate = start_date
        .parse()
        .map_err(|_| Error::invalid("start_date", "must be YYYY-MM-DD"))?;
    sync::send_program_assignment(store, channel_id, program_json, start)
}
