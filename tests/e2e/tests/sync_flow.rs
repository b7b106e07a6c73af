//! End-to-end sync through a real relay over HTTP (issue 5): pairing,
//! check-ins, alerts, messages, receipts, ownership, unpairing.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

use collabzium_core::checkin::Checkins;
use collabzium_core::session;
use collabzium_core::sync::availability::Availability;
use collabzium_core::sync::state::ChannelStatus;
use collabzium_core::sync::TherapistInvitation;
use collabzium_core::sync::{self, Delivery};
use collabzium_core::Error;
use collabzium_e2e::*;

#[test]
fn checkin_alert_and_messages_flow_with_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    let cid = pair(&r.url(), &t, &th.store, &pt.store, "Sam");
    let chans = sync::channel_views(&th.store).unwrap();
    let pchans = sync::channel_views(&pt.store).unwrap();
    assert_eq!(chans[0].status, ChannelStatus::Active);
    assert_eq!(pchans[0].status, ChannelStatus::Active);
    assert_eq!(chans[0].safety_number, pchans[0].safety_number);

    let checkin = alliance_checkin(&pt.store, "homework felt useful");
    let risky = phq9(&pt.store, [2, 2, 1, 1, 1, 1, 0, 0, 1]);
    sync::send_message(&pt.store, None, "Hello from the patient", None).unwrap();
    let s = session::sync(&pt.store, &t).unwrap();
    assert!(
        s.sent >= 4,
        "check-in, PHQ-9, alert and message go out: {s:?}"
    );
    let out = sync::outbound(&pt.store).unwrap();
    assert!(out.iter().all(|o| o.delivery == Delivery::Sent), "{out:?}");

    let s = session::sync(&th.store, &t).unwrap();
    assert_eq!(s.received, 4, "{s:?}");
    let inbox = sync::inbox(&th.store, &[]).unwrap();
    let kinds: Vec<&str> = inbox.iter().map(|i| i.kind.as_str()).collect();
    for k in ["checkin", "safety_alert", "message"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    assert!(inbox.iter().all(|i| i.patient.as_deref() == Some("Sam")));
    let item = inbox
        .iter()
        .find(|i| i.event_id == format!("checkin:{checkin}"))
        .expect("check-in in inbox");
    assert_eq!(item.body["checkin"]["instrument"], "alliance");
    assert_eq!(
        item.body["checkin"]["answers"]["comment"],
        "homework felt useful"
    );

    // The therapist's receipt reaches the patient: delivered.
    session::sync(&pt.store, &t).unwrap();
    let out = sync::outbound(&pt.store).unwrap();
    let ck = out.iter().find(|o| o.ref_id == checkin).unwrap();
    assert_eq!(ck.delivery, Delivery::Delivered);

    // The therapist reads the thread and acknowledges the alert.
    let thread = sync::thread(&th.store, Some(&cid)).unwrap();
    assert_eq!(thread.len(), 1);
    sync::mark_read(&th.store, &cid, &[thread[0].id.clone()]).unwrap();
    sync::send_alert_ack(
        &th.store,
        &cid,
        &risky,
        collabzium_core::checkin::AckAction::Phone,
        None,
    )
    .unwrap();
    sync::send_message(&th.store, Some(&cid), "Thanks, I will call you today", None).unwrap();
    sync_until_quiet(&[&th, &pt], &t);
    let out = sync::outbound(&pt.store).unwrap();
    let msg = out.iter().find(|o| o.kind == "message").unwrap();
    assert_eq!(msg.delivery, Delivery::Read);
    let alerts = Checkins::new(pt.store.clone()).unwrap().alerts().unwrap();
    assert!(
        alerts[0].alert.acknowledged_at_millis.is_some(),
        "alert ack applied"
    );
    let pthread = sync::thread(&pt.store, None).unwrap();
    assert!(pthread
        .iter()
        .any(|m| !m.from_me && m.text.contains("call you")));
    // Exactly once: nothing was applied twice.
    assert_eq!(sync::inbox(&th.store, &[]).unwrap().len(), 4);
}

#[test]
fn therapist_ratings_never_leave_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    let cid = pair(&r.url(), &t, &th.store, &pt.store, "Sam");
    let canary = "CANARY-therapist-rating-7f3a";
    let c = Checkins::new(th.store.clone()).unwrap();
    let d = c.start("alliance_therapist", None).unwrap();
    let mut answers = serde_json::Map::new();
    for item in &c.registry().require("alliance_therapist").unwrap().items {
        if item.item_type == collabzium_core::instruments::ItemType::Choice {
            answers.insert(item.link_id.clone(), 4.into());
        } else {
            answers.insert(item.link_id.clone(), canary.into());
        }
    }
    c.answer_json(&d.checkin_id, &serde_json::Value::Object(answers))
        .unwrap();
    c.submit(&d.checkin_id).unwrap();
    sync::send_message(&th.store, Some(&cid), "hello", None).unwrap();
    sync_until_quiet(&[&th, &pt], &t);
    let inbox = sync::inbox(&pt.store, &[]).unwrap();
    assert!(inbox.iter().all(|i| i.kind != "checkin"));
    assert!(!serde_json::to_string(&inbox).unwrap().contains(canary));
    assert!(sync::thread(&pt.store, None)
        .unwrap()
        .iter()
        .any(|m| m.text == "hello"));
    drop(r);
    // The relay's file never saw it (it is end-to-end encrypted anyway, and
    // the patient store is checked above).
    let db = std::fs::read(dir.path().join("relay.db")).unwrap();
    assert!(!db.windows(canary.len()).any(|w| w == canary.as_bytes()));
}

#[test]
fn wrong_code_burns_the_invitation_and_typos_are_caught_locally() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    let mut inv = TherapistInvitation::create(&th.store, &t, &r.url(), Some("Sam")).unwrap();
    let code = inv.view().unwrap().code;
    // A typo in the check character is caught before any network call.
    let mut typo: Vec<char> = code.chars().collect();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    let e = sync::join(&pt.store, &t, Some(&r.url()), &typo, false, None).unwrap_err();
    assert_eq!(e.code(), "invalid_code", "{e}");
    // Same nameplate, wrong secret with a valid check character.
    let np = code.split('-').next().unwrap();
    let wrong = collabzium_core::sync::PairingCode::new(np, "ABCDEFGH").unwrap();
    let joined = sync::join(&pt.store, &t, Some(&r.url()), &wrong.display(), false, None).unwrap();
    assert_eq!(joined.status, ChannelStatus::Pending);
    let e = inv.poll(&th.store, &t).unwrap_err();
    assert_eq!(e.code(), "code_mismatch");
    assert!(matches!(inv.poll(&th.store, &t), Err(Error::Pairing(_))));
    // The patient learns the invitation is gone; its pending channel fails.
    session::sync(&pt.store, &t).unwrap();
    let v = sync::channel_views(&pt.store).unwrap();
    assert_eq!(v[0].status, ChannelStatus::Failed);
    assert!(sync::channel_views(&th.store).unwrap().is_empty());
}

#[test]
fn unpair_revokes_both_sides_and_forged_revocations_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    let cid = pair(&r.url(), &t, &th.store, &pt.store, "Sam");
    // A relay (or anyone on the path) claiming revocation without the
    // peer's signature changes nothing.
    let forger = Forger(transport());
    let s = session::sync(&th.store, &forger).unwrap();
    assert_eq!(s.channels_revoked, 0);
    assert_eq!(
        sync::channel_views(&th.store).unwrap()[0].status,
        ChannelStatus::Active
    );
    sync::send_message(&pt.store, None, "queued but never sent", None).unwrap();
    session::sync(&pt.store, &t).unwrap();
    // The patient unpairs; its queued envelope and keys are gone at once.
    let v = sync::unpair(&pt.store, &t, None).unwrap();
    assert_eq!(v.status, ChannelStatus::Revoked);
    // Read the file itself, as anyone holding it could.
    let file = rusqlite::Connection::open_with_flags(
        pt.store.path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let left: i64 = file
        .query_row("SELECT COUNT(*) FROM sync_sent", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
    // The therapist learns at its next sync, from the signed statement.
    let s = session::sync(&th.store, &t).unwrap();
    assert_eq!(s.channels_revoked, 1, "{s:?}");
    assert_eq!(s.received, 0, "the relay deleted the queued envelope");
    let tv = sync::channel_views(&th.store).unwrap();
    assert_eq!(tv[0].status, ChannelStatus::Revoked);
    assert_eq!(tv[0].revoked_by.as_deref(), Some("peer"));
    // Sending on a revoked channel is refused locally.
    assert!(sync::send_message(&th.store, Some(&cid), "x", None).is_err());
    // Keys are shredded: no chain key material remains in the records.
    th.store
        .read(|tx| {
            let c = tx
                .get::<collabzium_core::sync::state::ChannelState>(&cid)?
                .unwrap()
                .value;
            assert!(c.send_chain.is_none() && c.recv_chain.is_none());
            Ok(())
        })
        .unwrap();
    // Both can pair again afterwards.
    let cid2 = pair(&r.url(), &t, &th.store, &pt.store, "Sam again");
    assert_ne!(cid, cid2);
}

#[test]
fn availability_defers_notifications_and_gives_a_reply_window() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    let cid = pair(&r.url(), &t, &th.store, &pt.store, "Sam");
    // Hours that are never now: one hour a week, 3 days from now.
    let later = chrono::Utc::now() + chrono::Duration::days(3);
    let day = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
        [chrono::Datelike::weekday(&later).num_days_from_monday() as usize];
    let settings = Availability {
        tz: "UTC".into(),
        hours: vec![collabzium_core::sync::availability::Hours {
            days: vec![day.into()],
            start: "10:00".into(),
            end: "11:00".into(),
        }],
        reply_within_hours: 2,
        ..Availability::default()
    };
    sync::set_availability(&th.store, &settings, None).unwrap();
    sync_until_quiet(&[&th, &pt], &t);
    let reply = sync::reply_expectation(&pt.store, None).unwrap().unwrap();
    assert!(!reply.available_now);
    let next = reply.next_available_at_millis.unwrap();
    let by = reply.expect_reply_by_millis.unwrap();
    // One hour of availability per week: two hours takes a week more.
    assert_eq!(by - next, 7 * 86_400_000 + 3_600_000);
    sync::send_message(&pt.store, None, "are you there?", None).unwrap();
    sync_until_quiet(&[&pt, &th], &t);
    // Delivered at once, but the therapist is notified at the window start.
    let n = sync::pending_notifications(&th.store).unwrap();
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].messages, 1);
    assert_eq!(n[0].fire_at_millis, next);
    let _ = cid;
}

#[test]
fn sync_runs_alongside_ui_writes() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    pair(&r.url(), &t, &th.store, &pt.store, "Sam");
    let store = pt.store.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..60 {
            sync::send_message(&store, None, &format!("m{i}"), None).unwrap();
        }
    });
    let syncers: Vec<_> = (0..2)
        .map(|_| {
            let store = pt.store.clone();
            let url = r.url();
            std::thread::spawn(move || {
                let t = transport();
                for _ in 0..10 {
                    let s = session::sync(&store, &t).unwrap();
                    assert!(s.error.is_none(), "{url}: {s:?}");
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for s in syncers {
        s.join().unwrap();
    }
    sync_until_quiet(&[&pt, &th], &t);
    let thread = sync::thread(&th.store, None).unwrap();
    assert_eq!(thread.len(), 60);
    let mut texts: Vec<String> = thread.iter().map(|m| m.text.clone()).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 60);
}

/// Answers every fetch with a revocation that the peer never signed.
struct Forger(collabzium_http::UreqTransport);

impl collabzium_core::sync::HttpTransport for Forger {
    fn send(
        &self,
        req: collabzium_core::sync::HttpRequest,
    ) -> Result<collabzium_core::sync::HttpResponse, collabzium_core::sync::TransportError> {
        if req.method == "GET" && req.url.contains("/envelopes") {
            let body = serde_json::json!({
                "type": "urn:collabzium:relay:channel_revoked", "status": 403,
                "code": "channel_revoked",
                "revocation": {"revoked_at": 1, "statement": "A".repeat(86), "by": "x"},
            });
            return Ok(collabzium_core::sync::HttpResponse {
                status: 403,
                headers: vec![],
                body: body.to_string().into_bytes(),
            });
        }
        self.0.send(req)
    }
}

#[test]
fn program_assignment_progress_engagement_and_approval_flow() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    let cid = pair(&r.url(), &t, &th.store, &pt.store, "Sam");
    let program = std::fs::read_to_string(repo_path("cli/data/programs/low-mood-8w.json")).unwrap();
    let today = chrono::Utc::now().date_naive();
    // A broken program is refused before anything is queued.
    assert!(sync::send_program_assignment(&th.store, &cid, "{}", today).is_err());
    sync::send_program_assignment(&th.store, &cid, &program, today).unwrap();
    sync_until_quiet(&[&th, &pt], &t);
    let st = collabzium_core::agenda::load_state(&pt.store).expect("patient enrolled");
    assert_eq!(st.program.metadata.id, "low-mood-8w");
    // The patient completes the welcome module: progress reaches the
    // therapist, with the day's engagement summary.
    let now = chrono::Utc::now();
    let welcome = collabzium_core::agenda::items(&st, now)
        .into_iter()
        .find(|i| i.ref_id == "welcome")
        .unwrap();
    collabzium_core::agenda::complete(&pt.store, &welcome.id, now).unwrap();
    // The therapist approves the gated module.
    sync::send_unlock_approval(&th.store, &cid, "problem-solving").unwrap();
    sync_until_quiet(&[&pt, &th], &t);
    let inbox = sync::inbox(&th.store, &[]).unwrap();
    let progress = inbox
        .iter()
        .find(|i| i.kind == "module_progress")
        .expect("progress");
    assert_eq!(progress.body["ref_id"], "welcome");
    assert!(inbox.iter().any(|i| i.kind == "engagement_summary"));
    let st = collabzium_core::agenda::load_state(&pt.store).unwrap();
    assert!(
        st.approvals.contains_key("problem-solving"),
        "approval applied"
    );
    // A second assignment does not replace an enrolment.
    sync::send_program_assignment(&th.store, &cid, &program, today).unwrap();
    sync_until_quiet(&[&th, &pt], &t);
    assert_eq!(
        collabzium_core::agenda::load_state(&pt.store)
            .unwrap()
            .program
            .metadata
            .id,
        "low-mood-8w"
    );
}

#[test]
fn one_program_approval_and_hours_reach_every_patient() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let th = party(dir.path(), "therapist");
    let (a, b) = (
        party(dir.path(), "patient-a"),
        party(dir.path(), "patient-b"),
    );
    let ca = pair(&r.url(), &t, &th.store, &a.store, "A");
    let cb = pair(&r.url(), &t, &th.store, &b.store, "B");
    let program = std::fs::read_to_string(repo_path("cli/data/programs/low-mood-8w.json")).unwrap();
    let today = chrono::Utc::now().date_naive();
    let hours = Availability {
        tz: "Europe/Berlin".into(),
        ..Availability::default()
    };
    sync::set_availability(&th.store, &hours, None).unwrap();
    for c in [&ca, &cb] {
        sync::send_program_assignment(&th.store, c, &program, today).unwrap();
        sync::send_unlock_approval(&th.store, c, "problem-solving").unwrap();
    }
    sync_until_quiet(&[&th, &a, &b], &t);
    for p in [&a, &b] {
        let st = collabzium_core::agenda::load_state(&p.store).expect("enrolled");
        assert!(st.approvals.contains_key("problem-solving"));
        let reply = sync::reply_expectation(&p.store, None).unwrap().unwrap();
        assert_eq!(reply.tz, "Europe/Berlin");
    }
}

/// Forwards every request but loses the answer to the first pairing finish.
struct LoseFinishAnswer(
    collabzium_http::UreqTransport,
    std::sync::atomic::AtomicBool,
);

impl collabzium_core::sync::HttpTransport for LoseFinishAnswer {
    fn send(
        &self,
        req: collabzium_core::sync::HttpRequest,
    ) -> Result<collabzium_core::sync::HttpResponse, collabzium_core::sync::TransportError> {
        let finish = req.url.ends_with("/finish");
        let resp = self.0.send(req)?;
        if finish && !self.1.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(collabzium_core::sync::TransportError::Timeout);
        }
        Ok(resp)
    }
}

#[test]
fn a_lost_finish_answer_is_completed_by_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay_in_process(dir.path());
    let t = transport();
    let lossy = LoseFinishAnswer(transport(), Default::default());
    let (th, pt) = (party(dir.path(), "therapist"), party(dir.path(), "patient"));
    let mut inv = TherapistInvitation::create(&th.store, &lossy, &r.url(), Some("Sam")).unwrap();
    let code = inv.view().unwrap().code;
    sync::join(&pt.store, &t, Some(&r.url()), &code, false, None).unwrap();
    let e = inv.poll(&th.store, &lossy).unwrap_err();
    assert_eq!(e.code(), "offline");
    assert_eq!(
        sync::channel_views(&th.store).unwrap()[0].status,
        ChannelStatus::Pending
    );
    // The relay did create the channel; the therapist's next sync learns it.
    let s = session::sync(&th.store, &lossy).unwrap();
    assert_eq!(s.pairings_completed, 1, "{s:?}");
    assert_eq!(
        sync::channel_views(&th.store).unwrap()[0].status,
        ChannelStatus::Active
    );
    assert_eq!(session::sync(&pt.store, &t).unwrap().pairings_completed, 1);
    sync::send_message(&pt.store, None, "hello after all", None).unwrap();
    sync_until_quiet(&[&pt, &th], &t);
    assert!(sync::thread(&th.store, None)
        .unwrap()
        .iter()
        .any(|m| m.text == "hello after all"));
}
