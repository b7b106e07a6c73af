// Local reminders on UNUserNotificationCenter. The core plans them (times, quiet hours, daily cap,
// and at most `maxPending()` of them: iOS keeps only 64 pending per app); this keeps the system's
// pending set equal to the plan. Text comes from the plan and is neutral: no instrument, score
// or health word ever reaches the lock screen.
import Collabzium
import CollabziumAppCore
import Foundation
import UserNotifications

public final class NotificationCenterScheduler: AppNotificationScheduler, @unchecked Sendable {
    /// iOS's limit on pending local notifications per app.
    public static let systemLimit: UInt32 = 64
    private static let persistedKey = "collabzium.pendingReminders"
    private static let idPrefix = "collabzium.reminder."
    private let center: UNUserNotificationCenter
    private let defaults: UserDefaults

    public init(center: UNUserNotificationCenter = .current(), defaults: UserDefaults = .standard) {
        self.center = center
        self.defaults = defaults
    }

    public func maxPending() -> UInt32 { Self.systemLimit }

    public func requestPermission() async -> Bool {
        (try? await center.requestAuthorization(options: [.alert, .sound, .badge])) ?? false
    }

    /// Called by the core on its own thread (never the main thread), so waiting is fine here.
    public func replacePending(notifications: [PlannedNotification]) throws {
        let settings: UNNotificationSettings = wait { done in self.center.getNotificationSettings { done($0) } }
        guard settings.authorizationStatus == .authorized || settings.authorizationStatus == .provisional else {
            throw NotificationSchedulerError.NotPermitted
        }
        let plan = Array(notifications.prefix(Int(Self.systemLimit)))
        // What the system still holds: anything persisted but no longer pending has fired.
        let pendingList: [String] = wait { done in self.center.getPendingNotificationRequests { done($0.map(\.identifier)) } }
        let pendingIds = Set(pendingList)
        let current = ReminderDiff.decode(defaults.string(forKey: Self.persistedKey))
            .filter { pendingIds.contains(Self.idPrefix + $0.id) }
        let changes = ReminderDiff.changes(current: current, plan: plan)
        center.removePendingNotificationRequests(withIdentifiers: changes.cancel.map { Self.idPrefix + $0.id })
        var failed = 0
        for n in changes.schedule {
            let content = UNMutableNotificationContent()
            content.title = n.title
            content.body = n.body
            content.sound = .default
            content.threadIdentifier = "collabzium.reminders"
            content.interruptionLevel = .active
            // Only the reminder id: the app asks the core what it was for when it is opened.
            content.userInfo = ["reminder_id": n.id]
            let fireAt = Date(timeIntervalSince1970: Double(n.fireAtMillis) / 1000)
            let trigger = UNTimeIntervalNotificationTrigger(timeInterval: max(1, fireAt.timeIntervalSinceNow), repeats: false)
            let request = UNNotificationRequest(identifier: Self.idPrefix + n.id, content: content, trigger: trigger)
            let error: Error? = wait { done in self.center.add(request) { done($0) } }
            if error != nil { failed += 1 }
        }
        defaults.set(ReminderDiff.encode(ReminderDiff.apply(current: current, plan: plan)), forKey: Self.persistedKey)
        if failed > 0 { throw NotificationSchedulerError.Unavailable(reason: "\(failed) reminders not scheduled") }
    }

    /// Blocks the core's thread until a completion handler ran (they run on the center's queue).
    private func wait<T>(_ body: (@escaping @Sendable (T) -> Void) -> Void) -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        body { value in
            box.value = value
            done.signal()
        }
        done.wait()
        // Set before the signal that ended the wait.
        return box.value!
    }
}

/// One value handed from a completion handler to the waiting thread; the semaphore orders them.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
