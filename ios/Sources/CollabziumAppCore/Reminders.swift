import Collabzium

/// One notification the platform holds: the core's stable id and its fire time.
public struct PendingAlarm: Equatable, Hashable, Sendable {
    public let id: String
    public let platformId: Int32
    public let fireAtMillis: Int64

    public init(id: String, platformId: Int32, fireAtMillis: Int64) {
        self.id = id
        self.platformId = platformId
        self.fireAtMillis = fireAtMillis
    }
}

/// What to change on the platform to make `plan` the whole pending set.
public struct AlarmChanges: Sendable {
    public let schedule: [PlannedNotification]
    public let cancel: [PendingAlarm]
}

/// The diff behind `NotificationScheduler.replacePending` (Android: `ReminderDiff`): keep
/// notifications whose id and time are unchanged, (re)schedule new or moved ones, cancel the
/// rest. The core owns the plan (and keeps it within `maxPending`, 64 on iOS); this only keeps
/// the platform's copy equal to it. Used by the UNUserNotificationCenter scheduler.
public enum ReminderDiff {
    public static func changes(current: [PendingAlarm], plan: [PlannedNotification]) -> AlarmChanges {
        let byId = Dictionary(current.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let wanted = Set(plan.map(\.id))
        return AlarmChanges(
            schedule: plan.filter { byId[$0.id]?.fireAtMillis != $0.fireAtMillis },
            cancel: current.filter { !wanted.contains($0.id) }
        )
    }

    public static func apply(current: [PendingAlarm], plan: [PlannedNotification]) -> [PendingAlarm] {
        plan.map { PendingAlarm(id: $0.id, platformId: $0.platformId, fireAtMillis: $0.fireAtMillis) }
    }

    /// The persisted form (one notification a line), so the set survives relaunches.
    public static func encode(_ alarms: [PendingAlarm]) -> String {
        alarms.map { "\($0.id)\t\($0.platformId)\t\($0.fireAtMillis)" }.joined(separator: "\n")
    }

    public static func decode(_ text: String?) -> [PendingAlarm] {
        (text ?? "").split(separator: "\n", omittingEmptySubsequences: true).compactMap { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 3, let platformId = Int32(f[1]), let at = Int64(f[2]) else { return nil }
            return PendingAlarm(id: String(f[0]), platformId: platformId, fireAtMillis: at)
        }
    }
}
