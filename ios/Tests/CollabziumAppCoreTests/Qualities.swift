// The app's qualities that can be checked without a device (Kotlin: object Qualities).
import Collabzium
@testable import CollabziumAppCore
import Foundation
import XCTest

final class Qualities: XCTestCase {
    /// Kotlin: "every text colour pair in the palette reaches 4.5:1"
    func testEveryTextColourPairInThePaletteReaches4_5To1() {
        for pair in Palette.textPairs {
            let ratio = Palette.contrast(pair.foreground, pair.background)
            XCTAssertGreaterThanOrEqual(ratio, 4.5, "\(pair.name): contrast \(ratio):1")
        }
        // The check itself: black on white is 21:1, and a pale grey on white fails.
        XCTAssertEqual(Palette.contrast(0xFF00_0000, 0xFFFF_FFFF), 21.0, accuracy: 0.01)
        XCTAssertLessThan(Palette.contrast(0xFFAA_AAAA, 0xFFFF_FFFF), 4.5)
    }

    /// Kotlin: "dates and numbers follow the patient's locale and zone"
    func testDatesAndNumbersFollowThePatientsLocaleAndZone() {
        let at: Int64 = 1_780_000_000_000 // 2026-05-28T20:26:40Z
        XCTAssertEqual(Formats("de-DE", "Europe/Berlin").shortDate(at), "28.05.26")
        XCTAssertEqual(Formats("en-US", "America/New_York").shortDate(at), "5/28/26")
        XCTAssertEqual(Formats("de-DE", "Europe/Berlin").time(at), "22:26")
        XCTAssertEqual(Formats("de-DE", "UTC").score(4.5), "4,5")
        XCTAssertEqual(Formats("en-US", "UTC").score(12.0), "12")
    }

    /// Kotlin: "the alarm diff keeps unchanged alarms, moves changed ones, cancels the rest"
    func testTheAlarmDiffKeepsUnchangedAlarmsMovesChangedOnesCancelsTheRest() {
        func planned(_ id: String, _ at: Int64) -> PlannedNotification {
            PlannedNotification(id: id, platformId: Int32(truncatingIfNeeded: id.unicodeScalars.first!.value), fireAtMillis: at,
                                localTime: "2026-01-01T00:00:00", kind: .checkin, itemIds: [], title: "Collabzium",
                                body: "Time for your check-in")
        }
        let current = [PendingAlarm(id: "a", platformId: 1, fireAtMillis: 100), PendingAlarm(id: "b", platformId: 2, fireAtMillis: 200),
                       PendingAlarm(id: "c", platformId: 3, fireAtMillis: 300)]
        let ch = ReminderDiff.changes(current: current, plan: [planned("a", 100), planned("b", 250), planned("d", 400)])
        XCTAssertEqual(ch.schedule.map(\.id), ["b", "d"])
        XCTAssertEqual(ch.cancel.map(\.id), ["c"])
        XCTAssertEqual(ReminderDiff.decode(ReminderDiff.encode(current)), current)
        XCTAssertEqual(ReminderDiff.decode("garbage\n\t\t"), [])
    }

    /// iOS only keeps 64 pending local notifications: the core's plan for the scheduler never exceeds it.
    func testTheReminderPlanStaysWithinTheSixtyFourPendingLimit() async throws {
        let dir = try makeTempDir()
        let store = try PatientStore.create(path: dir.appendingPathComponent("p.db").path, keyProvider: try MemoryKeys().deviceKey())
        addTeardownBlock { store.closeStore() }
        let scheduler = RecordingScheduler()
        let schedule = PatientSchedule(store: store, scheduler: scheduler)
        _ = try schedule.enrol(programJson: try program("low-mood-8w"), startDate: isoDay(offsetDays: -1), timeZone: "Europe/Berlin")
        XCTAssertFalse(scheduler.alarms.isEmpty)
        XCTAssertLessThanOrEqual(scheduler.alarms.count, 64)
        // Neutral text only: no instrument names or scores in what the lock screen shows.
        let plan = try schedule.reminderPlan(count: 64)
        for n in plan {
            for word in ["PHQ", "GAD", "suicid", "depress", "score"] {
                XCTAssertFalse((n.title + " " + n.body).localizedCaseInsensitiveContains(word), "\(n.title): \(n.body)")
            }
        }
    }
}

/// The Keychain's failures (device locked, key invalidated after a biometry change) as the
/// app's `KeySource` and `KeyProvider` report them. iOS-only: Android's journeys have no such test.
final class KeyStoreStates: XCTestCase, @unchecked Sendable {
    private struct LockedKeys: KeySource {
        func deviceKey() throws -> KeyProvider { throw KeySourceError.unavailable }
    }

    private final class LockedProvider: KeyProvider, @unchecked Sendable {
        func wrapKey(dataKey: Data) throws -> Data { throw KeyProviderError.Unavailable(reason: "device locked") }
        func unwrapKey(wrapped: Data) throws -> Data { throw KeyProviderError.Unavailable(reason: "device locked") }
        func destroyKey() throws {}
    }

    private struct LockedProviderKeys: KeySource {
        func deviceKey() throws -> KeyProvider { LockedProvider() }
    }

    @MainActor
    func testAnUnavailableKeyStoreIsAStateAndTheStoreIsKept() async throws {
        let path = try makeTempDir().appendingPathComponent("p.db").path
        let keys = MemoryKeys()
        try await onboard(path, "Pat", zone: "Europe/Vienna", locale: "de-AT", country: "AT", passphrase: nil, keys: keys).closeStore()

        let noKey = UnlockPresenter(storePath: path, keys: LockedKeys())
        let none = await noKey.unlock(passphrase: nil)
        XCTAssertNil(none)
        XCTAssertEqual(noKey.state.error, .keyUnavailable)

        // The provider fails inside the core: the core's KeyUnavailable, not a wrong key.
        let locked = UnlockPresenter(storePath: path, keys: LockedProviderKeys())
        let lockedStore = await locked.unlock(passphrase: nil)
        XCTAssertNil(lockedStore)
        XCTAssertEqual(locked.state.error, .keyUnavailable)

        // Nothing was touched: the right key still opens it.
        let unlock = UnlockPresenter(storePath: path, keys: keys)
        let opened = await unlock.unlock(passphrase: nil)
        let store = try XCTUnwrap(opened)
        defer { store.closeStore() }
        XCTAssertEqual(try store.profile()?.displayName, "Pat")
    }
}
