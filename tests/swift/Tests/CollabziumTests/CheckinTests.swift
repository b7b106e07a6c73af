import Collabzium
import Foundation
import XCTest

private func kek() -> Data { Data(repeating: 9, count: 32) }

private func ints(_ pairs: [(String, Int64)]) -> [CheckinAnswer] {
    pairs.map { CheckinAnswer(linkId: $0.0, value: .integer(value: $0.1)) }
}

final class CheckinTests: XCTestCase {
    private func makeStore(_ mode: TreatmentMode, locale: String = "en-GB") throws -> (PatientStore, String) {
        let path = try makeTempDir().appendingPathComponent("patient.db").path
        let store = try PatientStore.create(path: path, keyProvider: try memoryKeyProvider(kek: kek()))
        try store.setProfile(profile: Profile(displayName: "Swift Patient", timeZone: "Europe/Berlin", locale: locale, mode: mode))
        return (store, path)
    }

    func testFullPhq9CheckinWithSafetyPath() throws {
        let (store, _) = try makeStore(.guided)
        defer { store.closeStore() }
        let draft = try store.startCheckin(instrumentId: "phq9", agendaItemId: "weekly-phq9.1")
        XCTAssertEqual(draft.items.count, 9)
        XCTAssertEqual(draft.missingRequired, ["phq9_9"])

        // The safety action comes back with the answer itself.
        let first = try store.answerCheckin(checkinId: draft.checkinId, answers: ints([("phq9_9", 2)]))
        let action = try XCTUnwrap(first.safety)
        XCTAssertEqual(action.concerns, ["suicidality"])
        XCTAssertEqual(action.therapistAlertId, draft.checkinId)
        XCTAssertTrue(action.resources.contains { $0.name == "Samaritans" })
        XCTAssertEqual(try store.safetyAlerts().first?.status, .queued)

        XCTAssertThrowsError(try store.answerCheckin(checkinId: draft.checkinId, answers: [
            CheckinAnswer(linkId: "phq9_3", value: .text(value: "often")),
        ])) { error in
            guard case let CollabziumError.InvalidInput(field, reason) = error else {
                return XCTFail("expected InvalidInput, got \(error)")
            }
            XCTAssertEqual(field, "phq9_3")
            XCTAssertFalse(reason.contains("often"))
        }

        _ = try store.answerCheckin(checkinId: draft.checkinId, answers: ints([
            ("phq9_1", 3), ("phq9_2", 3), ("phq9_3", 2), ("phq9_4", 2), ("phq9_5", 2),
            ("phq9_6", 2), ("phq9_7", 1), ("phq9_8", 1),
        ]))
        let result = try store.submitCheckin(checkinId: draft.checkinId)
        XCTAssertEqual(result.score.total, 18)
        XCTAssertEqual(result.score.severity, "moderately_severe")
        XCTAssertEqual(try XCTUnwrap(result.safety).therapistAlertId, draft.checkinId)
        XCTAssertEqual(try store.safetyAlerts().count, 1)
        XCTAssertEqual(try store.acknowledgeSafetyAlert(alertId: draft.checkinId).status, .acknowledged)
    }

    func testAlertSurvivesRestartBetweenSubmitAndSync() throws {
        let (store, path) = try makeStore(.messaging, locale: "de-DE")
        let draft = try store.startCheckin(instrumentId: "phq9", agendaItemId: nil)
        _ = try store.answerCheckin(checkinId: draft.checkinId, answers: ints((1...9).map { ("phq9_\($0)", 1) }))
        let result = try store.submitCheckin(checkinId: draft.checkinId)
        XCTAssertTrue(try XCTUnwrap(result.safety).resources.contains { $0.name == "TelefonSeelsorge" })
        store.closeStore()

        let reopened = try PatientStore.open(path: path, keyProvider: try memoryKeyProvider(kek: kek()))
        defer { reopened.closeStore() }
        let alerts = try reopened.safetyAlerts()
        XCTAssertEqual(alerts.count, 1)
        XCTAssertEqual(alerts[0].checkinId, draft.checkinId)
        XCTAssertEqual(alerts[0].status, .queued)
    }

    func testUnguidedRiskAnswerHasNoTherapistAlert() throws {
        let (store, _) = try makeStore(.unguided)
        defer { store.closeStore() }
        let draft = try store.startCheckin(instrumentId: "phq9", agendaItemId: nil)
        let view = try store.answerCheckin(checkinId: draft.checkinId, answers: ints([("phq9_9", 1)]))
        let action = try XCTUnwrap(view.safety)
        XCTAssertNil(action.therapistAlertId)
        XCTAssertFalse(action.resources.isEmpty)
        XCTAssertTrue(try store.safetyAlerts().isEmpty)
    }

    func testFullAllianceCheckin() throws {
        let (store, _) = try makeStore(.guided)
        defer { store.closeStore() }
        let draft = try store.startCheckin(instrumentId: "alliance_unguided", agendaItemId: nil)
        XCTAssertEqual(draft.items.first?.options.count, 7)
        _ = try store.answerCheckin(checkinId: draft.checkinId, answers: ints([
            ("goals_1", 7), ("goals_2", 7), ("goals_3", 1),
            ("tasks_1", 6), ("tasks_2", 6), ("tasks_3", 2),
            ("bond_1", 5), ("bond_2", 4),
        ]) + [CheckinAnswer(linkId: "comment", value: .text(value: "Going well"))])
        let result = try store.submitCheckin(checkinId: draft.checkinId)
        let subs = Dictionary(uniqueKeysWithValues: result.score.subscales.map { ($0.id, $0.score) })
        XCTAssertEqual(subs["goals"] ?? nil, 7)
        XCTAssertEqual(subs["tasks"] ?? nil, 6)
        XCTAssertEqual(subs["bond"] ?? nil, 4.5)
        XCTAssertNil(result.safety)
        XCTAssertNil(result.score.severity)
        XCTAssertEqual(try store.checkinHistory().count, 1)
    }
}
