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
        let rating = "{" + ["goals_1", "goals_2", "tasks_1", "tasks_2", "bond_1", "bond_2"].map { "\"\($0)\": 6" }
            .joined(separator: ",") + ", \"goals_3\": 2, \"tasks_3\": 2}"
        await therapistDetail.rateAlliance(answersJson: rating)
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
    }
}
