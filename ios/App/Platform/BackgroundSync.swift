// Background work: a BGAppRefreshTask runs one sync round and re-plans the reminders; a change
// of the device's time zone (or a significant time change) re-plans them at once. The core
// decides what is sent and when reminders fire; this only gives it the chance to run.
import BackgroundTasks
import Collabzium
import CollabziumAppCore
import Foundation
import UIKit

public enum BackgroundSync {
    /// Also listed under BGTaskSchedulerPermittedIdentifiers in project.yml's Info.plist.
    public static let taskId = "org.collabzium.app.refresh"

    /// Call once, before the app finishes launching. `session` gives the open store, if any.
    public static func register(session: @escaping @Sendable () -> (store: PatientStore, schedule: PatientSchedule)?,
                                transport: HttpTransport) {
        _ = BGTaskScheduler.shared.register(forTaskWithIdentifier: taskId, using: nil) { task in
            guard let refresh = task as? BGAppRefreshTask else { return task.setTaskCompleted(success: false) }
            handle(refresh, session: session, transport: transport)
        }
    }

    /// Asks for the next run in about 15 minutes (iOS decides when, based on use and battery).
    public static func schedule() {
        let request = BGAppRefreshTaskRequest(identifier: taskId)
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }

    private static func handle(_ task: BGAppRefreshTask, session: @escaping @Sendable () -> (store: PatientStore, schedule: PatientSchedule)?,
                               transport: HttpTransport) {
        schedule() // the next one, whatever happens to this one
        // The store file is Data Protection class Complete: while the phone is locked it cannot
        // be read, so there is nothing to do until the next unlock.
        guard let current = session() else { return task.setTaskCompleted(success: true) }
        let handle = TaskHandle(task)
        let worker = Thread {
            let synced = (try? current.store.sync(transport: transport)).map { $0.error == nil } ?? false
            _ = try? current.schedule.replanReminders(atMillis: nil)
            // The refresh task is also the daily backup's chance (docs/backup.md): one if due.
            let backedUp = DispatchSemaphore(value: 0)
            Task { @MainActor in
                await Wakeups.shared.autoBackup?.maybeBackUp()
                backedUp.signal()
            }
            backedUp.wait()
            handle.task.setTaskCompleted(success: synced)
        }
        worker.stackSize = 8 << 20
        // iOS may stop us early: the core keeps everything queued, the next round resumes.
        task.expirationHandler = { worker.cancel() }
        worker.start()
    }

    /// Travel: re-plan in the new zone when the device's zone or clock changes. Returns the
    /// observers so the caller keeps them alive.
    @MainActor
    public static func observeTimeChanges(_ onChange: @escaping @MainActor @Sendable (String) -> Void) -> [NSObjectProtocol] {
        let names: [Notification.Name] = [.NSSystemTimeZoneDidChange, UIApplication.significantTimeChangeNotification]
        return names.map { name in
            NotificationCenter.default.addObserver(forName: name, object: nil, queue: .main) { _ in
                MainActor.assumeIsolated { onChange(TimeZone.current.identifier) }
            }
        }
    }
}

/// BGTask objects are not Sendable; the system allows completing them from any thread.
private final class TaskHandle: @unchecked Sendable {
    let task: BGAppRefreshTask
    init(_ task: BGAppRefreshTask) { self.task = task }
}
