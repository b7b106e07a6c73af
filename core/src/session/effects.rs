//! What received events do to other features, and what a patient's store
//! produces for its therapist at each round. These compose agenda, checkin
//! and sync, so they live above all three.

use serde_json::{json, Value};

use crate::agenda;
use crate::checkin::Checkins;
use crate::error::{Error, Result};
use crate::program;
use crate::store::outbox::{self, Priority};
use crate::store::Store;
use crate::sync::events;
use crate::sync::millis_to_utc;
use crate::sync::state::InboxItem;

/// Runs side effects of received events (approvals, alert acks) outside the
/// apply transaction; retried at every sync until done.
pub(crate) fn apply_received(store: &Store) -> Result<()> {
    let todo: Vec<_> = store
        .read(|tx| tx.list::<InboxItem>())?
        .into_iter()
        .filter(|i| !i.value.applied)
        .collect();
    for item in todo {
        let v = &item.value;
        let at = millis_to_utc(v.at);
        let outcome = match v.kind.as_str() {
            events::UNLOCK_APPROVAL => match v.body.get("module_id").and_then(Value::as_str) {
                Some(m) => agenda::record_approval(store, m, at),
                None => Ok(()),
            },
            events::ALERT_ACK => match v.body.get("alert_id").and_then(Value::as_str) {
                Some(a) => {
                    Checkins::new(store.clone()).and_then(|c| c.acknowledge_alert(a).map(|_| ()))
                }
                None => Ok(()),
            },
            events::PROGRAM_ASSIGNMENT => enrol_assigned(store, &v.body),
            _ => Ok(()),
        };
        // Invalid input (an approval for a module not in this program) will
        // never succeed; record it and move on. Storage errors retry.
        let done = match outcome {
            Ok(()) => true,
            Err(
                Error::InvalidInput { .. } | Error::NotFound { .. } | Error::AlreadyExists { .. },
            ) => true,
            Err(e) => return Err(e),
        };
        if done {
            store.write(|tx| {
                if let Some(mut cur) = tx.get::<InboxItem>(&item.id)? {
                    cur.value.applied = true;
                    tx.put(&item.id, &cur.value)?;
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Patient side of a program assignment: validate, then enrol in the
/// patient's own zone. An existing enrolment is kept (`AlreadyExists`).
fn enrol_assigned(store: &Store, body: &Value) -> Result<()> {
    let json = body
        .get("program")
        .map(Value::to_string)
        .ok_or_else(|| Error::invalid("program", "missing"))?;
    let program = program::load(&json)
        .map_err(|i| Error::invalid("program", format!("{} problem(s)", i.len())))?;
    let start = body
        .get("start_date")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<chrono::NaiveDate>().ok())
        .ok_or_else(|| Error::invalid("start_date", "missing or not a date"))?;
    let tz = store
        .profile()?
        .map(|p| p.time_zone)
        .unwrap_or_else(|| "UTC".into());
    agenda::enrol(store, &program, start, &tz, None).map(|_| ())
}

/// Patient: at most one engagement summary per local day, queued at sync.
pub(crate) fn produce_engagement_summary(store: &Store) -> Result<()> {
    let Ok(st) = agenda::load_state(store) else {
        return Ok(());
    };
    let now = millis_to_utc(store.now_millis());
    let e = agenda::engagement(&st, now);
    let day = now.format("%Y-%m-%d").to_string();
    let body = serde_json::to_value(&e).map_err(|e| Error::Internal(e.to_string()))?;
    let body = serde_json::to_vec(&json!({"date": day, "engagement": body}))
        .map_err(|e| Error::Internal(e.to_string()))?;
    store.write(|tx| {
        outbox::enqueue(
            tx,
            events::ENGAGEMENT_SUMMARY,
            &day,
            Priority::Normal,
            &body,
        )
        .map(|_| ())
    })
}
