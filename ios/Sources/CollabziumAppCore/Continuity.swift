// A new phone without losing the story (issue 16 §2, ADR 0011): the recovery key, shown once;
// encrypted backups to a file the app chooses; restore on the new phone with typed failures.
// Mirrors android/app-logic/.../Continuity.kt.
import Collabzium
import Foundation
import Observation

public struct BackupState: Sendable {
    public var hasRecoveryKey: Bool?
    /// The new recovery key, on screen once; `keyShown()` drops it.
    public var recoveryKey: String?
    public var lastBackupPath: String?
    public var lastBackupBytes: Int64?
    public var busy = false
    public var error: ScreenError?
    public init() {}
}

/// Set up the recovery key (at onboarding or in settings) and back up to a file.
@MainActor @Observable
public final class BackupPresenter: StateHolder {
    public private(set) var state = BackupState()
    private let store: PatientStore

    public init(store: PatientStore) { self.store = store }

    public func refresh() async {
        let store = self.store
        switch await core({ try store.hasRecoveryKey() }) {
        case let .success(has):
            state.hasRecoveryKey = has
            state.error = nil
        case let .failure(e): state.error = e
        }
    }

    /// Makes the recovery key and shows it once; the store keeps only a check value.
    public func setUpRecoveryKey() async {
        state.busy = true
        state.error = nil
        let store = self.store
        switch await core({ try store.setUpRecoveryKey() }) {
        case let .success(key):
            state.hasRecoveryKey = true
            state.recoveryKey = key
        case let .failure(e): state.error = e
        }
        state.busy = false
    }

    /// The patient wrote the key down: it leaves the state and is never shown again.
    public func keyShown() { state.recoveryKey = nil }

    /// An encrypted backup at `path` (the app's files or its backup area). Written beside it and
    /// moved into place, so a crash never leaves half a backup where the last good one was.
    public func backUp(recoveryKey: String, path: String) async {
        state.busy = true
        state.error = nil
        let store = self.store
        let out = await core { () throws -> Int64 in
            let bytes = try store.createBackup(recoveryKey: recoveryKey)
            let target = URL(fileURLWithPath: path)
            try Data(bytes).write(to: target, options: .atomic)
            // Saved: the automatic schedule (docs/backup.md) counts from this backup.
            try store.backupSaved(backup: bytes)
            return Int64(bytes.count)
        }
        switch out {
        case let .success(n):
            state.lastBackupPath = path
            state.lastBackupBytes = n
        case let .failure(e): state.error = e
        }
        state.busy = false
    }
}

/// Why a restore failed, as the core names it (codes wrong_key, corrupt, unsupported_version).
public enum RestoreFailure: Sendable, Equatable {
    case wrongKey, corrupt, unsupportedVersion, noFile
}

public struct RestoreState: Sendable {
    public var busy = false
    public var summary: RestoreSummary?
    public var store: PatientStore?
    public var failure: RestoreFailure?
    public var error: ScreenError?
    public init(busy: Bool = false, summary: RestoreSummary? = nil, store: PatientStore? = nil,
                failure: RestoreFailure? = nil, error: ScreenError? = nil) {
        self.busy = busy
        self.summary = summary
        self.store = store
        self.failure = failure
        self.error = error
    }
}

/// On the new phone: the backup file, the recovery key and a new passphrase (or the device key).
@MainActor @Observable
public final class RestorePresenter: StateHolder {
    public private(set) var state = RestoreState()
    private let storePath: String
    private let keys: KeySource

    public init(storePath: String, keys: KeySource) {
        self.storePath = storePath
        self.keys = keys
    }

    public func restore(backupPath: String, recoveryKey: String, passphrase: String?) async -> PatientStore? {
        state = RestoreState(busy: true)
        guard FileManager.default.fileExists(atPath: backupPath) else {
            state = RestoreState(failure: .noFile)
            return nil
        }
        let (path, keys) = (storePath, self.keys)
        let out = await core { () throws -> Restored in
            let bytes = try Data(contentsOf: URL(fileURLWithPath: backupPath))
            return try restoreBackup(path: path, backup: bytes, recoveryKey: recoveryKey,
                                     keyProvider: try passphrase.map { keys.passphrase($0) } ?? keys.deviceKey())
        }
        switch out {
        case let .success(r):
            state = RestoreState(summary: r.summary, store: r.store)
            return r.store
        case let .failure(e):
            state = RestoreState(failure: Self.failure(of: e), error: e)
            return nil
        }
    }

    private static func failure(of e: ScreenError) -> RestoreFailure? {
        switch e {
        case .wrongKey: return .wrongKey
        case .updateNeeded: return .unsupportedVersion
        case .failure(kind: "corrupt"): return .corrupt
        default: return nil
        }
    }
}
