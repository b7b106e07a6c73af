//! A check-in submitted for an agenda item re-plans the pending reminders
//! at once, even though it goes through `PatientStore`, not `PatientSchedule`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::sync::{Arc, Mutex};

use crate::*;

#[derive(Default)]
struct Recorder {
    plans: Mutex<Vec<Vec<PlannedNotification>>>,
}

impl NotificationScheduler for Recorder {
    fn max_pending(&self) -> u32 {
        64
    }
    fn replace_pending(
        &self,
        n: Vec<PlannedNotification>,
    ) -> Result<(), NotificationSchedulerError> {
        self.plans.lock().unwrap().push(n);
        Ok(())
    }
}

fn reminded(plan: &[PlannedNotification], item: &str) -> bool {
    plan.iter().any(|n| n.item_ids.iter().any(|i| i == item))
}

#[test]
fn submitting_an_agenda_check_in_drops_its_reminders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db").to_string_lossy().into_owned();
    let store = PatientStore::create(path, memory_key_provider(vec![4; 32]).unwrap()).unwrap();
    let recorder = Arc::new(Recorder::default());
    let schedule = PatientSchedule::new(store.clone(), Some(recorder.clone()));
    // Day 0 was yesterday, so the baseline check-in is open now.
    let start = (chrono::Utc::now() - chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let update = schedule
        .enrol(
            include_str!("../../../cli/data/programs/low-mood-8w.json").to_string(),
            start,
            "Etc/UTC".into(),
            None,
        )
        .unwrap();
    let item = update
        .agenda
        .open_now
        .iter()
        // Which list depends on the hour the test runs (due today or later).
        .chain(&update.agenda.due_today)
        .chain(&update.agenda.overdue)
        .find(|i| i.instrument.is_some())
        .expect("an open check-in")
        .id
        .clone();
    let before = recorder.plans.lock().unwrap().len();
    assert!(
        reminded(recorder.plans.lock().unwrap().last().unwrap(), &item),
        "the open check-in should be reminded before it is done"
    );

    let draft = store.start_checkin_for_agenda_item(item.clone()).unwrap();
    let answers = draft
        .items
        .iter()
        .map(|i| CheckinAnswer {
            link_id: i.link_id.clone(),
            value: CheckinAnswerValue::Integer {
                value: i.options.first().map(|o| o.value).or(i.min).unwrap_or(1),
            },
        })
        .collect();
    store
        .answer_checkin(draft.checkin_id.clone(), answers)
        .unwrap();
    let result = store.submit_checkin(draft.checkin_id).unwrap();
    assert!(result.agenda_item_completed);

    let plans = recorder.plans.lock().unwrap();
    assert_eq!(plans.len(), before + 1, "submit did not re-plan");
    assert!(
        !reminded(plans.last().unwrap(), &item),
        "a completed check-in is still reminded"
    );
}
