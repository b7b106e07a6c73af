// Push wake-ups and automatic backups on iOS (docs/push.md, docs/backup.md). The APNs device
// token goes to the relays through WakeupHandler; a background notification
// (`content-available`, no alert) runs one sync round and then a due backup. The periodic
// BGAppRefreshTask stays the fallback, because iOS rations background notifications.
import Collabzium
import CollabziumAppCore
import Foundation
import Security
import UIKit

/// The open session's push handler and automatic backups; set when the store opens.
@MainActor
final class Wakeups {
    static let shared = Wakeups()

    private(set) var handler: WakeupHandler?
    private(set) var autoBackup: AutoBackup?
    /// A token iOS handed over before the store was unlocked: registered once it opens.
    private var pendingToken: String?

    func opened(store: PatientStore, transport: HttpTransport) {
        // Where BackupView writes (Documents): included in the device's iCloud or computer backup.
        let backups = AutoBackup(store: store, vault: KeychainRecoveryKeyVault(), backupPath: BackupView.backupPath)
        autoBackup = backups
        let h = WakeupHandler(store: store, transport: transport, autoBackup: backups)
        handler = h
        if let token = pendingToken {
            pendingToken = nil
            Task { await h.onNewToken(.apns(token: token)) }
        }
    }

    func closed() {
        handler = nil
        autoBackup = nil
    }

    func newToken(_ hex: String) async {
        guard let h = handler else { pendingToken = hex; return }
        await h.onNewToken(.apns(token: hex))
    }
}

/// The completion handler is not Sendable; iOS allows calling it from any thread, once.
private final class FetchCompletion: @unchecked Sendable {
    let done: (UIBackgroundFetchResult) -> Void
    init(_ done: @escaping (UIBackgroundFetchResult) -> Void) { self.done = done }
}

/// Attached with `@UIApplicationDelegateAdaptor` in CollabziumApp: the remote-notification
/// callbacks SwiftUI has no other way to receive.
final class AppDelegate: NSObject, UIApplicationDelegate {
    func application(_ application: UIApplication,
                     didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil) -> Bool {
        // Background notifications need no user permission (they never show anything).
        application.registerForRemoteNotifications()
        return true
    }

    func application(_ application: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data) {
        let hex = deviceToken.map { String(format: "%02x", $0) }.joined()
        Task { @MainActor in await Wakeups.shared.newToken(hex) }
    }

    func application(_ application: UIApplication, didFailToRegisterForRemoteNotificationsWithError error: Error) {
        // No push on this device (simulator, no network): the periodic refresh carries on.
    }

    /// A `content-available` wake-up: one sync round (shared with any round already running),
    /// then a due backup. The notification itself carries nothing to read.
    func application(_ application: UIApplication, didReceiveRemoteNotification userInfo: [AnyHashable: Any],
                     fetchCompletionHandler completionHandler: @escaping (UIBackgroundFetchResult) -> Void) {
        let completion = FetchCompletion(completionHandler)
        Task { @MainActor in
            guard let handler = Wakeups.shared.handler else {
                // Locked (the store file is unreadable until the next unlock): nothing to do now.
                completion.done(.noData)
                return
            }
            let st = await handler.onWake()
            if st.error != nil {
                completion.done(.failed)
            } else {
                completion.done((st.last?.received ?? 0) > 0 ? .newData : .noData)
            }
        }
    }
}

/// The recovery key for automatic backups, in the Keychain (this device only, readable while
/// unlocked): apart from the backup file, which goes to the device's backup.
struct KeychainRecoveryKeyVault: RecoveryKeyVault {
    private static let service = "org.collabzium.recovery"

    private static func query() -> [String: Any] {
        [kSecClass as String: kSecClassGenericPassword,
         kSecAttrService as String: service,
         kSecAttrAccount as String: "recovery-key"]
    }

    func recoveryKey() throws -> String? {
        var q = Self.query()
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var out: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &out)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let data = out as? Data else { throw KeySourceError.unavailable }
        return String(data: data, encoding: .utf8)
    }

    /// The patient turned automatic backups on with this (checked) key.
    func remember(_ key: String) throws {
        SecItemDelete(Self.query() as CFDictionary)
        var q = Self.query()
        q[kSecValueData as String] = Data(key.utf8)
        q[kSecAttrAccessible as String] = kSecAttrAccessibleWhenUnlockedThisDeviceOnly
        guard SecItemAdd(q as CFDictionary, nil) == errSecSuccess else { throw KeySourceError.unavailable }
    }

    func forget() {
        SecItemDelete(Self.query() as CFDictionary)
    }
}
