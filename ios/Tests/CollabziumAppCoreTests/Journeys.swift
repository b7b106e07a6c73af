// Whole journeys through the state holders, with the real library, real store files, a real
// `collabzium relay serve` process and the app's own URLSession transport. Each test mirrors
// the Kotlin test of the same meaning in android/app-logic/src/test/.../Journeys.kt (the
// side-by-side list is in tests/README.md). Run by `scripts/test-all.sh --only ios`.
import Collabzium
@testable import CollabziumAppCore
import Foundation
import XCTest

// @unchecked Sendable: XCTest on Linux hands the case to the main actor to run its async tests;
// the case has no state of its own, so nothing is shared.
@MainActor
final class Journeys: XCTestCase, @unchecked Sendable {
    /// Kotlin: "patient onboards, joins, reads week 1, PHQ-9 risk answer -> crisis; therapist Safety, ack -> seen"
    func testPatientOnboardsJoinsReadsWeek1RiskAnswerCrisisTherapistSafetyAckSeen() async throws {
        let p = try await PairedApps(self, relay: try startRelay(try makeTempDir().appendingPathComponent("relay.db")))
        let therapistDetail = PatientDetailPresenter(store: p.therapist, channelId: p.channelId, formats: p.therapistFormats)
        await therapistDetail.assignProgram(programJson: try program("low-mood-8w"), startDate: isoDay(offsetDays: -1))
        XCTAssertEqual(therapistDetail.state.done, "assigned", "\(String(describing: therapistDetail.state.error))")
        await p.syncAll(rounds: 1)

        // Week 1: the welcome module is open; reading it completes it.
        let today = TodayPresenter(schedule: PatientSchedule(store: p.patient, scheduler: nil), formats: p.patientFormats)
        await today.refresh()
        let welcome = try XCTUnwrap(today.state.allRows.first { $0.id == "module:welcome" }, "agenda: \(today.state.allRows.map(\.id))")
        XCTAssertTrue(welcome.state == .open || welcome.state == .due, "\(welcome)")
        await today.complete(itemId: welcome.id)
        XCTAssertNil(today.state.error)
        XCTAssertTrue(today.state.allRows.allSatisfy { $0.id != welcome.id || $0.state == .completed })

        // Check-in: one question per screen; the risk answer raises the crisis screen before submit.
        let checkin = CheckinPresenter(store: p.patient)
        await checkin.start(instrumentId: "phq9")
        XCTAssertEqual(checkin.state.draft?.items.count, 9)
        for _ in 0..<8 { await checkin.answer(.integer(value: 1)) }
        XCTAssertNil(checkin.state.crisis, "no risk answer yet")
        checkin.back()
        XCTAssertEqual(checkin.state.index, 7, "back goes to the previous question")
        await checkin.answer(.integer(value: 2)) // change an answer
        await checkin.answer(.integer(value: 1)) // item 9: thoughts of self-harm
        let crisisNow = try XCTUnwrap(checkin.state.crisis, "a risk answer shows the crisis screen at once")
        XCTAssertTrue(checkin.state.reviewing)
        XCTAssertTrue(checkin.state.canSubmit)
        await checkin.submit()
        XCTAssertNotNil(checkin.state.result?.safety)
        XCTAssertFalse(crisisNow.resources.isEmpty)

        let crisis = CrisisPresenter(store: p.patient, formats: p.patientFormats)
        await crisis.refresh()
        XCTAssertTrue(crisis.state.resources.contains { $0.dialUri == "tel:988" }, "tap-to-call: \(crisis.state.resources)")
        XCTAssertEqual(crisis.state.alertState, .sending)

        await p.syncAll()
        await crisis.refresh()
        XCTAssertEqual(crisis.state.alertState, .delivered)

        // Therapist: Safety first, with its reason and evidence.
        let caseload = CaseloadPresenter(store: p.therapist, formats: p.therapistFormats)
        await caseload.refresh()
        XCTAssertEqual(caseload.state.rows.count, 1)
        let row = try XCTUnwrap(caseload.state.rows.first)
        XCTAssertEqual(row.priority, .safety)
        XCTAssertFalse(row.reasons.isEmpty || row.reasons[0].reason.trimmingCharacters(in: .whitespaces).isEmpty, "\(row.reasons)")
        XCTAssertEqual(row.label, "Pat")

        // Acknowledge with an action and a note; the patient sees "seen", never the note.
        await therapistDetail.refresh()
        XCTAssertEqual(therapistDetail.state.alerts.count, 1)
        let alert = try XCTUnwrap(therapistDetail.state.alerts.first)
        await therapistDetail.acknowledge(alertId: alert.alertId, action: "later", note: nil)
        XCTAssertEqual(therapistDetail.state.error, .invalid(field: "action"))
        await therapistDetail.acknowledge(alertId: alert.alertId, action: "phone", note: "called, safe tonight")
        XCTAssertEqual(therapistDetail.state.done, "acknowledged")
        await p.syncAll()
        await crisis.refresh()
        XCTAssertEqual(crisis.state.alertState, .seen)
        XCTAssertFalse((crisis.state.message ?? "").contains("called"))

        // The therapist's own alliance rating shows on the patient's timeline.
        // From the core's rating form: one choice per item (the third items are reverse-scored).
        await therapistDetail.loadRatingForm()
        let form = therapistDetail.state.ratingForm.filter { !$0.options.isEmpty }
        XCTAssertTrue(form.contains { $0.linkId == "goals_1" } && form.allSatisfy { $0.options.count >= 5 }, "\(form)")
        let rating = Dictionary(uniqueKeysWithValues: form.map { ($0.linkId, $0.linkId.hasSuffix("_3") ? Int64(2) : Int64(6)) })
        await therapistDetail.rateAlliance(answers: rating)
        XCTAssertEqual(therapistDetail.state.done, "rated", "\(String(describing: therapistDetail.state.error))")
        XCTAssertEqual(therapistDetail.state.timeline?.alliance.filter { $0.source == "therapist" }.map(\.goals), [6.0])
        XCTAssertEqual(therapistDetail.state.timeline?.symptoms.first { $0.instrument == "phq9" }?.points.map(\.score), [10.0])

        // Progress: the PHQ-9 series for the chart, dated in the patient's locale.
        let progress = ProgressPresenter(store: p.patient, formats: p.patientFormats)
        await progress.refresh()
        let phq = try XCTUnwrap(progress.state.series.first { $0.instrument == "phq9" })
        XCTAssertEqual(phq.points.map(\.value), [10.0])
        XCTAssertFalse(phq.higherIsBetter)
    }

    /// Kotlin: "a wrong passphrase is an error state, not a crash, and the store is kept"
    func testWrongPassphraseIsAnErrorStateAndTheStoreIsKept() async throws {
        let path = try makeTempDir().appendingPathComponent("p.db").path
        let keys = MemoryKeys()
        try await onboard(path, "Pat", zone: "Europe/Vienna", locale: "de-AT", country: "AT", passphrase: "the right one").closeStore()
        let unlock = UnlockPresenter(storePath: path, keys: keys)
        let wrong = await unlock.unlock(passphrase: "the wrong one")
        XCTAssertNil(wrong)
        XCTAssertEqual(unlock.state.error, .wrongKey)
        XCTAssertTrue(unlock.exists, "never deleted")
        // The device key is not the one either.
        let device = await unlock.unlock(passphrase: nil)
        XCTAssertNil(device)
        XCTAssertEqual(unlock.state.error, .wrongKey)
        let right = await unlock.unlock(passphrase: "the right one")
        let store = try XCTUnwrap(right)
        defer { store.closeStore() }
        XCTAssertEqual(try store.profile()?.displayName, "Pat")
        XCTAssertNil(unlock.state.error)
    }

    /// Kotlin: "offline: the message waits in the queue, then is delivered"
    func testOfflineMessageWaitsInTheQueueThenIsDelivered() async throws {
        let db = try makeTempDir().appendingPathComponent("relay.db")
        let relay = try startRelay(db)
        let p = try await PairedApps(self, relay: relay)
        let listen = relay.listen
        relay.stop()

        let messages = MessagesPresenter(store: p.patient, formats: p.patientFormats)
        await messages.send("See you on Monday")
        XCTAssertNil(messages.state.error)
        XCTAssertEqual(messages.state.messages.map(\.delivery), [.queued])
        let sync = SyncPresenter(store: p.patient, transport: p.transport)
        let offline = await sync.syncNow()
        XCTAssertEqual(offline.error, .offline, "\(String(describing: offline.last))")
        XCTAssertGreaterThan(offline.pendingOutbound, 0)
        await messages.refresh()
        XCTAssertEqual(messages.state.messages.map(\.delivery), [.queued])

        // Back online: same address, same relay database.
        let again = try startRelay(db, listen: listen)
        p.relay = again
        await p.syncAll()
        await messages.refresh()
        let d = messages.state.messages.first?.delivery
        XCTAssertTrue(d == .delivered || d == .read, "delivery: \(String(describing: d))")
        let detail = PatientDetailPresenter(store: p.therapist, channelId: p.channelId, formats: p.therapistFormats)
        await detail.refresh()
        XCTAssertEqual(detail.state.messages.map(\.text), ["See you on Monday"])
    }

    /// Kotlin: "a relay refusal is a state: the messages stay queued and go out later"
    func testRelayRefusalIsAStateMessagesStayQueuedAndGoOutLater() async throws {
        let db = try makeTempDir().appendingPathComponent("relay.db")
        let relay = try startRelay(db)
        let p = try await PairedApps(self, relay: relay)
        let listen = relay.listen
        relay.stop()
        // The same relay, now allowing one request per device and second: the round is refused.
        let strict = try startRelay(db, listen: listen, rateLimit: "1/s:1")
        let messages = MessagesPresenter(store: p.patient, formats: p.patientFormats)
        for i in 1...3 { await messages.send("Message \(i)") }
        let sync = SyncPresenter(store: p.patient, transport: p.transport)
        for _ in 0..<3 { await sync.syncNow() }
        let refused = sync.state
        XCTAssertEqual(refused.error, .relayRefused(status: 0, code: "rate_limited"), "\(String(describing: refused.last))")
        XCTAssertGreaterThan(refused.pendingOutbound, 0)
        strict.stop()
        let again = try startRelay(db, listen: listen)
        p.relay = again
        await p.syncAll()
        await messages.refresh()
        XCTAssertEqual(messages.state.messages.filter { $0.delivery == .delivered || $0.delivery == .read }.count, 3,
                       "\(messages.state.messages)")
    }

    /// Kotlin: "an unreachable relay and a mistyped code are states, not crashes"
    func testUnreachableRelayAndMistypedCodeAreStatesNotCrashes() async throws {
        let dir = try makeTempDir()
        let t = try await onboard(dir.appendingPathComponent("t.db").path, "Dr T", zone: "Europe/Berlin", locale: "de-DE",
                                  country: "DE", passphrase: nil)
        addTeardownBlock { t.closeStore() }
        let invite = InvitePresenter(store: t, transport: URLSessionTransport(), relayUrl: "http://127.0.0.1:1",
                                     formats: Formats("de-DE", "Europe/Berlin"))
        await invite.create(label: "Pat")
        XCTAssertEqual(invite.state.error, .offline)
        let relay = try startRelay(dir.appendingPathComponent("relay.db"))
        let p = try await onboard(dir.appendingPathComponent("p.db").path, "Pat", zone: "Europe/Berlin", locale: "de-DE",
                                  country: "DE", passphrase: nil)
        addTeardownBlock { p.closeStore() }
        let join = JoinPresenter(store: p, transport: URLSessionTransport(), relayUrl: relay.url)
        join.setCode("not a code")
        await join.join()
        guard case .pairing? = join.state.error else {
            return XCTFail("expected a pairing error, got \(String(describing: join.state.error))")
        }
    }

    /// Kotlin: "therapist invite -> join -> assign program -> approve module -> patient agenda unlocks"
    func testTherapistInviteJoinAssignProgramApproveModulePatientAgendaUnlocks() async throws {
        let p = try await PairedApps(self, relay: try startRelay(try makeTempDir().appendingPathComponent("relay.db")))
        let detail = PatientDetailPresenter(store: p.therapist, channelId: p.channelId, formats: p.therapistFormats)
        await detail.assignProgram(programJson: gatedProgram, startDate: isoDay(offsetDays: -1))
        await p.syncAll(rounds: 1)
        let today = TodayPresenter(schedule: PatientSchedule(store: p.patient, scheduler: nil), formats: p.patientFormats)
        await today.refresh()
        XCTAssertEqual(today.state.programTitle, "Gated program", "\(String(describing: today.state.error))")
        await today.complete(itemId: "module:m1")
        XCTAssertEqual(today.state.section("waiting_for_therapist").map(\.id), ["module:m2"], "\(today.state.sections.map(\.key))")
        await p.syncAll()

        await detail.approveModule("m2")
        XCTAssertEqual(detail.state.done, "approved", "\(String(describing: detail.state.error))")
        await p.syncAll()
        await today.refresh()
        let m2 = try XCTUnwrap(today.state.allRows.first { $0.id == "module:m2" })
        XCTAssertTrue(m2.state == .open || m2.state == .due, "\(m2)")
        XCTAssertFalse(m2.waitingForTherapist)
    }

    /// Kotlin: "time-zone travel re-plans the reminders, and the alarm diff follows the plan"
    func testTimeZoneTravelReplansTheRemindersAndTheAlarmDiffFollowsThePlan() async throws {
        let dir = try makeTempDir()
        let store = try await onboard(dir.appendingPathComponent("p.db").path, "Pat", zone: "Europe/Berlin", locale: "en-GB",
                                      country: "GB", passphrase: nil)
        addTeardownBlock { store.closeStore() }
        let scheduler = RecordingScheduler()
        let schedule = PatientSchedule(store: store, scheduler: scheduler)
        _ = try schedule.enrol(programJson: try program("low-mood-8w"), startDate: isoDay(offsetDays: 1), timeZone: "Europe/Berlin")
        let before = scheduler.alarms.map(\.fireAtMillis).sorted()
        XCTAssertFalse(before.isEmpty, "reminders were planned")
        XCTAssertLessThanOrEqual(before.count, 64, "within iOS's 64 pending notifications")
        let settings = SettingsPresenter(store: store, schedule: schedule, transport: URLSessionTransport())
        await settings.changeTimeZone("America/New_York")
        XCTAssertNil(settings.state.error)
        XCTAssertEqual(settings.state.timeZone, "America/New_York")
        XCTAssertNil(settings.state.reminderError)
        let after = scheduler.alarms.map(\.fireAtMillis).sorted()
        XCTAssertFalse(after.isEmpty)
        // Same wall-clock time, new zone: New York is 5 or 6 hours behind Berlin.
        let shift = (after.first ?? 0) - (before.first ?? 0)
        XCTAssertTrue(shift == 5 * 3_600_000 || shift == 6 * 3_600_000, "first reminder moved by \(shift) ms")
        await settings.refresh()
        XCTAssertEqual(settings.state.auditIntact, true)
        // Reminders and quiet hours as the program sets them, in the settings' one call.
        XCTAssertEqual(settings.state.reminderTime, "18:30")
        XCTAssertEqual(settings.state.quietHours?.start, "21:30")
        XCTAssertEqual(settings.state.quietHours?.end, "08:00")
        XCTAssertEqual(settings.state.maxRemindersPerDay, 2)
        XCTAssertEqual(settings.state.hasRecoveryKey, false)
        // Exports to files the patient chose: FHIR and the GDPR export; both audited.
        let fhir = dir.appendingPathComponent("checkins.fhir.json")
        await settings.exportToFile(.fhir, path: fhir.path)
        XCTAssertNil(settings.state.error)
        XCTAssertTrue(try String(contentsOf: fhir, encoding: .utf8).contains("\"Bundle\""))
        let gdpr = dir.appendingPathComponent("everything.json")
        await settings.exportToFile(.gdprJson, path: gdpr.path)
        XCTAssertEqual(settings.state.exportedPath, gdpr.path)
        XCTAssertTrue(try String(contentsOf: gdpr, encoding: .utf8).contains("Pat"))
        let audited = settings.state.audit.count
        await settings.refresh()
        XCTAssertEqual(settings.state.audit.count, audited + 2, "both exports are in the audit log")
        await settings.exportToFile(.fhir, path: dir.appendingPathComponent("no-such-dir/x.json").path)
        if case .failure? = settings.state.error {} else { XCTFail("an unwritable place is a state: \(String(describing: settings.state.error))") }
    }

    /// Kotlin: "patient sets quiet hours and reminders re-plan"
    func testPatientSetsQuietHoursAndRemindersReplan() async throws {
        let dir = try makeTempDir()
        let store = try await onboard(dir.appendingPathComponent("p.db").path, "Pat", zone: "Europe/Berlin", locale: "en-GB",
                                      country: "GB", passphrase: nil)
        addTeardownBlock { store.closeStore() }
        let scheduler = PlanRecorder()
        let schedule = PatientSchedule(store: store, scheduler: scheduler)
        _ = try schedule.enrol(programJson: try program("low-mood-8w"), startDate: isoDay(offsetDays: 1), timeZone: "Europe/Berlin")
        func hhmm(_ n: PlannedNotification) -> String { String(n.localTime.dropFirst(11).prefix(5)) }
        // The program reminds of the weekly PHQ-9 when it opens, at 18:00.
        XCTAssertTrue(scheduler.plan.contains { $0.kind == .checkin && hhmm($0) == "18:00" }, "\(scheduler.plan)")
        let settings = SettingsPresenter(store: store, schedule: schedule, transport: URLSessionTransport())

        // Refusals name the field and leave the plan alone.
        let before = scheduler.plan
        await settings.setReminderPreferences(enabled: true, quietHours: ("17:00", "7pm"), checkinTime: nil, maxPerDay: nil)
        XCTAssertEqual(settings.state.preferencesError, .invalid(field: "quiet_hours.end"))
        await settings.setReminderPreferences(enabled: true, quietHours: nil, checkinTime: nil, maxPerDay: 3)
        XCTAssertEqual(settings.state.preferencesError, .invalid(field: "max_per_day"), "above the program's 2")
        XCTAssertEqual(before, scheduler.plan)

        // Quiet from 17:00 across midnight to 09:00, one reminder a day.
        await settings.setReminderPreferences(enabled: true, quietHours: ("17:00", "09:00"), checkinTime: nil, maxPerDay: 1)
        let s = settings.state
        XCTAssertNil(s.preferencesError)
        let plan = scheduler.plan
        XCTAssertEqual(s.remindersScheduled, UInt32(plan.count))
        XCTAssertFalse(plan.isEmpty)
        for n in plan {
            let t = hhmm(n)
            XCTAssertTrue(t >= "09:00" && t < "17:00", "\(t) is in the patient's quiet hours")
        }
        XCTAssertTrue(plan.contains { $0.kind == .checkin && hhmm($0) == "09:00" }, "moved to the end of the quiet hours")
        XCTAssertTrue(Dictionary(grouping: plan) { String($0.localTime.prefix(10)) }.values.allSatisfy { $0.count == 1 })
        XCTAssertEqual(s.myQuietHours?.start, "17:00")
        XCTAssertEqual(s.myQuietHours?.end, "09:00")
        XCTAssertEqual(s.myMaxPerDay, 1)
        XCTAssertEqual(s.effectiveQuietHours.map { "\($0.start)-\($0.end)" }, ["21:30-08:00", "17:00-09:00"])
        XCTAssertEqual(s.effectiveMaxPerDay, 1)
        XCTAssertEqual(s.maxRemindersPerDay, 2, "the program's own limit still shows")

        // Off: nothing is left pending.
        await settings.setReminderPreferences(enabled: false, quietHours: ("17:00", "09:00"), checkinTime: nil, maxPerDay: 1)
        XCTAssertTrue(scheduler.plan.isEmpty)
        XCTAssertFalse(settings.state.remindersEnabled)
    }

    /// Kotlin: "patient reads week 1 and does an exercise; Today shows it done"
    func testPatientReadsWeek1AndDoesAnExerciseTodayShowsItDone() async throws {
        let store = try await onboard(try makeTempDir().appendingPathComponent("p.db").path, "Pat", zone: "Europe/Berlin",
                                      locale: "en-GB", country: "GB", passphrase: nil)
        addTeardownBlock { store.closeStore() }
        let schedule = PatientSchedule(store: store, scheduler: nil)
        _ = try schedule.enrol(programJson: try program("low-mood-8w"), startDate: isoDay(offsetDays: -1), timeZone: "Europe/Berlin")

        let reader = ModuleReaderPresenter(store: store)
        await reader.open()
        let r = try XCTUnwrap(reader.state.reader, "\(String(describing: reader.state.error))")
        XCTAssertEqual(r.moduleId, "welcome")
        XCTAssertEqual(r.position, 1)
        XCTAssertGreaterThanOrEqual(reader.state.pagesTotal, 3)
        XCTAssertNotNil(reader.state.currentPage?.body)
        for _ in r.pages { reader.nextPage() }
        XCTAssertTrue(reader.state.onExercises)
        reader.nextPage() // no further than the exercises
        XCTAssertEqual(reader.state.page, r.pages.count)
        reader.previousPage()
        XCTAssertFalse(reader.state.onExercises)
        for _ in r.pages { reader.nextPage() }

        XCTAssertEqual(r.exercises.count, 1)
        let exercise = try XCTUnwrap(r.exercises.first)
        XCTAssertEqual(r.exercisesDone, 0)
        var answers: [String: ExerciseValue] = [
            "goal-1": .text(value: "Walk twice a week"),
            "goal-2": .text(value: "Call my sister"),
            "difference": .text(value: "More energy"),
            "confidence": .number(value: 11),
        ]
        // The core checks the answers; the out-of-range one is named.
        await reader.saveExercise(exerciseId: exercise.id, answers: answers)
        XCTAssertEqual(reader.state.error, .invalid(field: "answers.confidence"))
        XCTAssertEqual(reader.state.reader?.exercisesDone, 0)
        answers["confidence"] = .number(value: 7)
        await reader.saveExercise(exerciseId: exercise.id, answers: answers)
        XCTAssertNil(reader.state.error)
        XCTAssertEqual(reader.state.saved, exercise.id)
        XCTAssertEqual(reader.state.reader?.exercisesDone, 1)
        XCTAssertEqual(reader.state.reader?.exercises.first?.answers["confidence"], .number(value: 7))

        await reader.finish()
        XCTAssertTrue(reader.state.done, "\(String(describing: reader.state.error))")
        let today = TodayPresenter(schedule: schedule, formats: Formats("en-GB", "Europe/Berlin"))
        await today.refresh()
        XCTAssertTrue(today.state.allRows.allSatisfy { $0.id != "module:welcome" || $0.state == .completed }, "\(today.state.allRows)")
        // Reopened later, the saved answers are still there.
        let again = ModuleReaderPresenter(store: store)
        await again.open(moduleId: "welcome")
        XCTAssertEqual(again.state.reader?.exercisesDone, 1)
        // A module that has not opened yet is a state, not a crash.
        await again.open(moduleId: "thoughts")
        XCTAssertEqual(again.state.error, .invalid(field: "module_id"))
    }

    /// Kotlin: "patient erases; the therapist's caseload shows left"
    func testPatientErasesTheTherapistsCaseloadShowsLeft() async throws {
        let dir = try makeTempDir()
        let p = try await PairedApps(self, relay: try startRelay(dir.appendingPathComponent("relay.db")))
        await p.syncAll(rounds: 1)
        let settings = SettingsPresenter(store: p.patient, schedule: PatientSchedule(store: p.patient, scheduler: nil), transport: p.transport)
        await settings.erase()
        XCTAssertTrue(settings.state.erased, "erase: \(String(describing: settings.state.error))")
        // Told means the relay confirmed the signed revocation; the screen says only that.
        XCTAssertEqual(settings.state.erasedTold, 1)
        XCTAssertEqual(settings.state.erasedNotTold, 0)
        let caseload = CaseloadPresenter(store: p.therapist, formats: p.therapistFormats)
        await caseload.refresh()
        XCTAssertEqual(caseload.state.rows.map(\.status), ["active"])
        _ = await SyncPresenter(store: p.therapist, transport: p.transport).syncNow()
        await caseload.refresh()
        XCTAssertEqual(caseload.state.rows.map(\.status), ["left"])
        XCTAssertNotNil(caseload.state.rows.first?.statusSinceText)
    }

    /// Kotlin: "an offline erase still erases, and says the therapist was not told"
    func testAnOfflineEraseStillErasesAndSaysTheTherapistWasNotTold() async throws {
        let dir = try makeTempDir()
        let p = try await PairedApps(self, relay: try startRelay(dir.appendingPathComponent("relay.db")))
        p.relay.stop()
        let settings = SettingsPresenter(store: p.patient, schedule: PatientSchedule(store: p.patient, scheduler: nil), transport: p.transport)
        await settings.erase()
        XCTAssertTrue(settings.state.erased, "erase: \(String(describing: settings.state.error))")
        XCTAssertEqual(settings.state.erasedTold, 0)
        XCTAssertEqual(settings.state.erasedNotTold, 1)
    }

    /// Kotlin: "newPhoneRestore: a backup brings back agenda, progress and the channel; the therapist sees one patient"
    func testNewPhoneRestore() async throws {
        let dir = try makeTempDir()
        let p = try await PairedApps(self, relay: try startRelay(dir.appendingPathComponent("relay.db")))
        let detail = PatientDetailPresenter(store: p.therapist, channelId: p.channelId, formats: p.therapistFormats)
        await detail.assignProgram(programJson: try program("low-mood-8w"), startDate: isoDay(offsetDays: -1))
        await p.syncAll(rounds: 1)

        // The old phone: a module done, a PHQ-9 without a risk answer, a message.
        let oldToday = TodayPresenter(schedule: PatientSchedule(store: p.patient, scheduler: nil), formats: p.patientFormats)
        await oldToday.refresh()
        await oldToday.complete(itemId: "module:welcome")
        let checkin = CheckinPresenter(store: p.patient)
        await checkin.start(instrumentId: "phq9")
        for _ in 0..<8 { await checkin.answer(.integer(value: 1)) }
        await checkin.answer(.integer(value: 0))
        await checkin.submit()
        XCTAssertNotNil(checkin.state.result)
        XCTAssertNil(checkin.state.result?.safety)
        await MessagesPresenter(store: p.patient, formats: p.patientFormats).send("Hello from my old phone")
        await p.syncAll()

        // Recovery key, shown once, then a backup to a file the app chose.
        let backup = BackupPresenter(store: p.patient)
        await backup.refresh()
        XCTAssertEqual(backup.state.hasRecoveryKey, false)
        await backup.setUpRecoveryKey()
        let key = try XCTUnwrap(backup.state.recoveryKey)
        backup.keyShown()
        XCTAssertNil(backup.state.recoveryKey, "shown once")
        await backup.setUpRecoveryKey()
        XCTAssertTrue(backup.state.error != nil && backup.state.recoveryKey == nil, "a second key is refused")
        let file = dir.appendingPathComponent("collabzium.backup")
        await backup.backUp(recoveryKey: key, path: file.path)
        XCTAssertNil(backup.state.error)
        let bytes = try Data(contentsOf: file)
        XCTAssertEqual(Int64(bytes.count), backup.state.lastBackupBytes)

        let progressBefore = ProgressPresenter(store: p.patient, formats: p.patientFormats)
        await progressBefore.refresh()
        await oldToday.refresh()
        let todayBefore = oldToday.state
        p.patient.closeStore() // the old phone is gone

        // The new phone: typed failures first, then the restore.
        let newPath = dir.appendingPathComponent("new-phone.db").path
        let restore = RestorePresenter(storePath: newPath, keys: MemoryKeys())
        let other = try PatientStore.create(path: dir.appendingPathComponent("other.db").path, keyProvider: try MemoryKeys().deviceKey())
        let otherKey = try other.setUpRecoveryKey()
        other.closeStore()
        _ = await restore.restore(backupPath: file.path, recoveryKey: otherKey, passphrase: "new phone")
        XCTAssertEqual(restore.state.failure, .wrongKey)
        _ = await restore.restore(backupPath: file.path, recoveryKey: "not a recovery key", passphrase: "new phone")
        XCTAssertEqual(restore.state.error, .invalid(field: "recovery key"), "a typo names the key")
        var flipped = bytes
        flipped[flipped.count - 50] ^= 1
        let tampered = dir.appendingPathComponent("tampered.backup")
        try flipped.write(to: tampered)
        _ = await restore.restore(backupPath: tampered.path, recoveryKey: key, passphrase: "new phone")
        XCTAssertEqual(restore.state.failure, .corrupt)
        var newer = bytes
        newer[9] &+= 1
        let newerFile = dir.appendingPathComponent("newer.backup")
        try newer.write(to: newerFile)
        _ = await restore.restore(backupPath: newerFile.path, recoveryKey: key, passphrase: "new phone")
        XCTAssertEqual(restore.state.failure, .unsupportedVersion)
        _ = await restore.restore(backupPath: dir.appendingPathComponent("missing.backup").path, recoveryKey: key, passphrase: "new phone")
        XCTAssertEqual(restore.state.failure, .noFile)
        XCTAssertFalse(FileManager.default.fileExists(atPath: newPath), "a failed restore leaves nothing behind")

        let restored = await restore.restore(backupPath: file.path, recoveryKey: key, passphrase: "new phone passphrase")
        let newPhone = try XCTUnwrap(restored, "\(String(describing: restore.state.error))")
        addTeardownBlock { newPhone.closeStore() }
        XCTAssertEqual(restore.state.summary?.channelsResumed, 1)

        // The same screens on the new phone.
        let newToday = TodayPresenter(schedule: PatientSchedule(store: newPhone, scheduler: nil), formats: p.patientFormats)
        await newToday.refresh()
        XCTAssertEqual(newToday.state.programTitle, todayBefore.programTitle)
        XCTAssertEqual(newToday.state.allRows.map { "\($0.id) \($0.state)" }, todayBefore.allRows.map { "\($0.id) \($0.state)" })
        let progressAfter = ProgressPresenter(store: newPhone, formats: p.patientFormats)
        await progressAfter.refresh()
        XCTAssertEqual(progressAfter.state, progressBefore.state)
        XCTAssertEqual(progressAfter.state.series.first { $0.instrument == "phq9" }?.points.map(\.value), [8.0])

        // The channel carries on: both ways, and the therapist still has one patient.
        let messages = MessagesPresenter(store: newPhone, formats: p.patientFormats)
        await messages.send("Hello from my new phone")
        await detail.reply("Good to hear from you")
        for _ in 0..<2 {
            for s in [newPhone, p.therapist, newPhone] {
                let st = await SyncPresenter(store: s, transport: p.transport).syncNow()
                XCTAssertNil(st.error, "sync: \(String(describing: st.last)); relay:\n\(p.relay.output)")
            }
        }
        await messages.refresh()
        await detail.refresh()
        XCTAssertEqual(messages.state.messages.map(\.text), ["Hello from my old phone", "Hello from my new phone", "Good to hear from you"])
        let therapistSees = detail.state.messages.map(\.text)
        XCTAssertTrue(therapistSees.contains("Hello from my new phone"), "\(therapistSees)")
        XCTAssertEqual(therapistSees.filter { $0 == "Hello from my old phone" }.count, 1, "nothing applied twice")
        let caseload = CaseloadPresenter(store: p.therapist, formats: p.therapistFormats)
        await caseload.refresh()
        XCTAssertEqual(caseload.state.rows.map(\.label), ["Pat"])
    }
}

/// Keeps the whole last plan handed over, to read its local times and kinds.
final class PlanRecorder: NotificationScheduler, @unchecked Sendable {
    private let held = Locked<[PlannedNotification]>([])
    var plan: [PlannedNotification] { held.value }

    func maxPending() -> UInt32 { 64 }

    func replacePending(notifications: [PlannedNotification]) throws {
        held.value = notifications
    }
}
