// Wake-ups and automatic backups (issue 16 §1 and §2, docs/push.md, docs/backup.md). A wake-up
// carries nothing: it only means "run one sync round now". After the round, and after a check-in,
// an automatic backup is made if the core says one is due. No UIKit here: the app delegate and
// the BGAppRefreshTask handler (ios/App/Platform) call into these.
// Mirrors android/app-logic/.../Wakeups.kt.
import Collabzium
import Foundation
import Observation

/// Where the app keeps the recovery key for automatic backups: wrapped by the platform key store
/// (Keychain), never in the store and never beside the backup file. Nil when the patient did not
/// turn automatic backups on; then only on-demand backups run.
public protocol RecoveryKeyVault: Sendable {
    func recoveryKey() throws -> String?
}

/// What one automatic-backup attempt did.
public enum AutoBackupResult: Sendable, Equatable {
    case saved, notDue, noKey, failed
}

public struct AutoBackupState: Sendable {
    public var last: AutoBackupResult?
    public var lastBackupAtMillis: Int64?
    public var error: ScreenError?
    public init() {}
}

/// Automatic backups to the file the app chose (`backupPath`: the app's files, or a place the
/// platform backs up). The core decides when one is due (daily, or after a check-in); this only
/// writes it, through `BackupPresenter` (written atomically, then recorded with `backupSaved`).
@MainActor @Observable
public final class AutoBackup: StateHolder {
    public private(set) var state = AutoBackupState()
    private let store: PatientStore
    private let vault: RecoveryKeyVault
    public let backupPath: String
    // One backup at a time: a wake-up and a check-in may both ask at once; the second joins.
    private var running: Task<AutoBackupResult, Never>?

    public init(store: PatientStore, vault: RecoveryKeyVault, backupPath: String) {
        self.store = store
        self.vault = vault
        self.backupPath = backupPath
    }

    /// The usual place: `collabzium.backup` in a directory the app chose.
    public convenience init(store: PatientStore, vault: RecoveryKeyVault, directory: URL) {
        self.init(store: store, vault: vault, backupPath: directory.appendingPathComponent("collabzium.backup").path)
    }

    @discardableResult
    public func maybeBackUp() async -> AutoBackupResult {
        if let t = running { return await t.value }
        let t = Task { await self.attempt() }
        running = t
        let result = await t.value
        running = nil
        state.last = result
        let store = self.store
        if case let .success(at) = await core({ try store.lastBackupAtMillis() }) { state.lastBackupAtMillis = at }
        return result
    }

    private func attempt() async -> AutoBackupResult {
        let (store, vault) = (self.store, self.vault)
        switch await core({ try store.backupDue() }) {
        case let .failure(e): return failed(e)
        case .success(false): return .notDue
        case .success(true): break
        }
        let key: String
        switch await core({ try vault.recoveryKey() }) {
        case let .failure(e): return failed(e)
        case .success(nil): return .noKey
        case let .success(k?): key = k
        }
        let writer = BackupPresenter(store: store)
        await writer.backUp(recoveryKey: key, path: backupPath)
        if let e = writer.state.error { return failed(e) }
        state.error = nil
        return .saved
    }

    private func failed(_ e: ScreenError) -> AutoBackupResult {
        state.error = e
        return .failed
    }
}

public struct WakeupState: Sendable {
    /// The endpoint the relays hold now; a different one from the platform is registered again.
    public var registered: PushEndpoint?
    /// How many relays took the last registration.
    public var relays: Int?
    /// Sync rounds run for wake-ups (concurrent wake-ups share one).
    public var rounds = 0
    public var lastSync: SyncState?
    public var backup: AutoBackupResult?
    /// A failed registration (e.g. `push_provider_off`): the periodic sync carries on.
    public var error: ScreenError?
    public init() {}
}

/// The app's side of push: the platform hands over its token (`onNewToken`) and its wake-ups
/// (`onWake`). Used by the app delegate and the background task alike; never throws, every
/// failure is a state.
@MainActor @Observable
public final class WakeupHandler: StateHolder {
    public private(set) var state = WakeupState()
    private let store: PatientStore
    private let transport: HttpTransport
    private let autoBackup: AutoBackup?
    private var inFlight: Task<SyncState, Never>?

    public init(store: PatientStore, transport: HttpTransport, autoBackup: AutoBackup? = nil) {
        self.store = store
        self.transport = transport
        self.autoBackup = autoBackup
    }

    /// Registers `endpoint` with the relays. The same endpoint again is a no-op; a rotated token
    /// replaces the old one at the relay (one endpoint per device). True when the relays hold it.
    @discardableResult
    public func onNewToken(_ endpoint: PushEndpoint) async -> Bool {
        if state.registered == endpoint && state.error == nil { return true }
        let (store, transport) = (self.store, self.transport)
        switch await core({ try store.registerPush(transport: transport, endpoint: endpoint) }) {
        case let .success(n):
            state.registered = endpoint
            state.relays = Int(n)
            state.error = nil
            return true
        case let .failure(e):
            state.error = e
            return false
        }
    }

    /// Push turned off (or the app logs out): the relays forget this device's endpoint.
    @discardableResult
    public func unregister() async -> Bool {
        let (store, transport) = (self.store, self.transport)
        switch await core({ try store.unregisterPush(transport: transport) }) {
        case let .success(n):
            state.registered = nil
            state.relays = Int(n)
            state.error = nil
            return true
        case let .failure(e):
            state.error = e
            return false
        }
    }

    /// One sync round for a wake-up, then an automatic backup if one is due. A wake-up that
    /// arrives while a round runs joins that round instead of starting another: the relay sends a
    /// trailing wake-up for anything queued after it (docs/push.md).
    @discardableResult
    public func onWake() async -> SyncState {
        if let running = inFlight { return await running.value }
        let t = Task { await self.round() }
        inFlight = t
        let st = await t.value
        inFlight = nil
        return st
    }

    private func round() async -> SyncState {
        let st = await SyncPresenter(store: store, transport: transport).syncNow()
        state.rounds += 1
        state.lastSync = st
        if let autoBackup { state.backup = await autoBackup.maybeBackUp() }
        return st
    }
}
