import Collabzium
import Foundation
import XCTest

/// A scheduler written in Swift, shaped like a UNUserNotificationCenter one:
/// it diffs by id and keeps at most `max` pending.
final class RecordingScheduler: NotificationScheduler, @unchecked Sendable {
    private let lock = NSLock()
    private let max: UInt32
    private var _pending: [PlannedNotification] = []
    private var _cancelled = 0

    init(max: UInt32) { self.max = max }

    var pending: [PlannedNotification] { lock.lock(); defer { lock.unlock() }; return _pending }
    var cancelled: Int { lock.lock(); defer { lock.unlock() }; return _cancelled }

    func maxPending() -> UInt32 { max }

    func replacePending(notifications: [PlannedNotification]) throws {
        lock.lock(); defer { lock.unlock() }
        let keep = Set(notifications.map { $0.id })
        _cancelled += _pending.filter { !keep.contains($0.id) }.count
        _pending = notifications
    }
}

final class RefusingScheduler: NotificationScheduler, @unchecked Sendable {
    func maxPending() -> UInt32 { 64 }
    func replacePending(notifications: [PlannedNotification]) throws {
        throw NotificationSchedulerError.NotPermitted
    }
}

private func ms(_ s: String) -> Int64 {
    let f = ISO8601DateFormatter()
    return Int64((f.date(from: s)!.timeIntervalSince1970 * 1000).rounded())
}

private let tiny = #"{"format_version":1,"metadata":{"id":"tiny","version":"1.0.0","title":"Tiny program","locale":"en-US","weeks":6,"modes":["guided"]},"modules":[{"id":"m1","title":"Start here","estimated_minutes":10,"unlock":"at_start","pages":[{"id":"p1","title":"Welcome","body":"Hello."}]},{"id":"m2","title":"With your therapist","estimated_minutes":10,"unlock":{"all_of":[{"after_module":"m1"},"therapist_approval"]},"pages":[{"id":"p1","title":"Next","body":"Text."}]},{"id":"m3","title":"Week three","estimated_minutes":10,"unlock":{"days_after_start":14},"pages":[{"id":"p1","title":"Later","body":"Text."}]}],"checkins":[{"id":"mood","instrument":"phq9","when":{"recurring":{"rrule":"FREQ=DAILY","local_time":"20:00"}},"window":{"opens_minutes":0,"due_minutes":120,"closes_minutes":600}}],"reminders":{"time_of_day":"12:00","quiet_hours":{"start":"22:00","end":"07:00"},"max_per_day":2},"crisis_resources":{"en-US":[{"name":"988 Lifeline","description":"Call or text 988.","phone":"988"}]}}"#

final class ScheduleTests: XCTestCase {
    private func newStore() throws -> PatientStore {
        let dir = try makeTempDir()
        return try PatientStore.create(
            path: dir.appendingPathComponent("p.db").path,
            keyProvider: try memoryKeyProvider(kek: Data(repeating: 7, count: 32)))
    }

    func testEnrolmentAgendaCompletionAndApproval() throws {
        let schedule = PatientSchedule(store: try newStore(), scheduler: nil)
        let u = try schedule.enrol(
            programJson: tiny, startDate: "2026-03-02", timeZone: "Europe/Berlin",
            atMillis: ms("2026-03-02T08:00:00Z"))
        XCTAssertEqual(u.agenda.programId, "tiny")
        XCTAssertEqual(u.agenda.progress.modulesTotal, 3)
        XCTAssertTrue(u.agenda.openNow.contains { $0.id == "module:m1" && $0.state == .open })
        XCTAssertEqual(u.agenda.nextUnlock?.moduleId, "m3")
        XCTAssertEqual(u.agenda.nextUnlock?.atMillis, ms("2026-03-15T23:00:00Z"))

        let done = try schedule.completeItem(itemId: "module:m1", atMillis: ms("2026-03-02T09:00:00Z"))
        XCTAssertEqual(done.agenda.progress.modulesDone, 1)
        XCTAssertEqual(done.agenda.waitingForTherapist.map { $0.id }, ["module:m2"])
        let approved = try schedule.recordTherapistApproval(
            moduleId: "m2", atMillis: ms("2026-03-02T10:00:00Z"))
        XCTAssertTrue(approved.agenda.waitingForTherapist.isEmpty)
        XCTAssertTrue(approved.agenda.openNow.contains { $0.id == "module:m2" })

        let evening = try schedule.agenda(atMillis: ms("2026-03-02T19:05:00Z"))
        let checkins = evening.dueToday.filter { $0.kind == .checkin }
        XCTAssertEqual(checkins.count, 1)
        XCTAssertEqual(checkins.first?.instrument, "phq9")
        _ = try schedule.completeItem(itemId: checkins[0].id, atMillis: ms("2026-03-02T19:30:00Z"))

        XCTAssertThrowsError(try schedule.completeItem(itemId: "module:nope", atMillis: nil)) { error in
            guard case CollabziumError.NotFound = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try schedule.changeTimeZone(timeZone: "Mars/Base", atMillis: nil)) { error in
            guard case let CollabziumError.InvalidInput(field, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "time_zone")
        }
    }

    func testReminderPlanThroughASwiftScheduler() throws {
        let sched = RecordingScheduler(max: 64)
        let schedule = PatientSchedule(store: try newStore(), scheduler: sched)
        let now = ms("2026-03-02T08:00:00Z")
        let u = try schedule.enrol(
            programJson: tiny, startDate: "2026-03-02", timeZone: "Europe/Berlin", atMillis: now)
        XCTAssertNil(u.reminders.error)
        let plan = sched.pending
        XCTAssertEqual(plan.count, 64)
        XCTAssertEqual(Set(plan.map { $0.id }).count, 64)
        XCTAssertTrue(plan.allSatisfy { $0.fireAtMillis > now })
        for n in plan {
            let hour = Int(n.localTime.dropFirst(11).prefix(2))!
            XCTAssertFalse(hour >= 22 || hour < 7, "quiet hours: \(n.localTime)")
        }
        let perDay = Dictionary(grouping: plan) { $0.localTime.prefix(10) }
        XCTAssertTrue(perDay.values.allSatisfy { $0.count <= 2 })

        let target = "checkin:mood:2026-03-03T20:00"
        XCTAssertTrue(plan.contains { $0.itemIds.contains(target) })
        _ = try schedule.completeItem(itemId: target, atMillis: ms("2026-03-03T19:10:00Z"))
        XCTAssertFalse(sched.pending.contains { $0.itemIds.contains(target) })
        XCTAssertGreaterThan(sched.cancelled, 0)

        let moved = try schedule.changeTimeZone(
            timeZone: "America/New_York", atMillis: ms("2026-03-04T12:00:00Z"))
        XCTAssertEqual(moved.agenda.timeZone, "America/New_York")
        let evening = sched.pending.filter { $0.kind == .checkin }
        XCTAssertFalse(evening.isEmpty)
        XCTAssertTrue(evening.allSatisfy { $0.localTime.hasSuffix("T20:00:00") })
    }

    func testRefusingSchedulerKeepsTheChange() throws {
        let schedule = PatientSchedule(store: try newStore(), scheduler: RefusingScheduler())
        let u = try schedule.enrol(
            programJson: tiny, startDate: "2026-03-02", timeZone: "Europe/Berlin",
            atMillis: ms("2026-03-02T08:00:00Z"))
        XCTAssertNotNil(u.reminders.error)
        let done = try schedule.completeItem(itemId: "module:m1", atMillis: ms("2026-03-02T09:00:00Z"))
        XCTAssertEqual(done.agenda.progress.modulesDone, 1)
    }

    func testEngagementAndReminderEvents() throws {
        let schedule = PatientSchedule(store: try newStore(), scheduler: RecordingScheduler(max: 64))
        _ = try schedule.enrol(
            programJson: tiny, startDate: "2026-03-02", timeZone: "Europe/Berlin",
            atMillis: ms("2026-03-02T08:00:00Z"))
        _ = try schedule.completeItem(itemId: "module:m1", atMillis: ms("2026-03-02T09:00:00Z"))
        _ = try schedule.completeItem(
            itemId: "checkin:mood:2026-03-02T20:00", atMillis: ms("2026-03-02T19:30:00Z"))
        let e = try schedule.engagement(atMillis: ms("2026-03-07T12:00:00Z"))
        XCTAssertEqual(e.completedItems, 2)
        XCTAssertEqual(e.currentMissedRun, 4)
        XCTAssertEqual(e.daysSinceLastActivity, 5)
        XCTAssertLessThan(e.completionRate ?? 1, 0.5)
        _ = try schedule.recordReminderDelivered(
            reminderId: "nudge:2026-03-07", atMillis: ms("2026-03-07T11:00:00Z"))
        XCTAssertEqual(try schedule.engagement(atMillis: ms("2026-03-07T12:00:00Z")).ignoredReminders, 1)
        _ = try schedule.recordReminderOpened(
            reminderId: "nudge:2026-03-07", atMillis: ms("2026-03-07T11:30:00Z"))
        XCTAssertEqual(try schedule.engagement(atMillis: ms("2026-03-07T12:00:00Z")).ignoredReminders, 0)
    }
}
