import Collabzium
import CollabziumAppCore
import SwiftUI

/// The recovery key (shown once) and a backup into the app's documents, which the Files app and
/// the device backup can reach.
struct BackupView: View {
    @Environment(AppModel.self) private var model
    let store: PatientStore
    @State private var presenter: BackupPresenter?
    @State private var key = ""

    static var backupPath: String {
        let dir = FileManager.default.urls(for: .documentDirectory, in: .userDomainMask).first
            ?? URL(fileURLWithPath: NSTemporaryDirectory())
        return dir.appendingPathComponent("collabzium.backup").path
    }

    var body: some View {
        Form {
            if let p = presenter {
                let s = p.state
                Section {
                    Text("A backup is encrypted with your recovery key. Without the key nobody can read it, and nobody can recover it for you either.")
                }
                if let shown = s.recoveryKey {
                    Section("Your recovery key: write it down, it is shown only this once") {
                        Text(shown).font(.title3.monospaced()).textSelection(.enabled)
                            .accessibilityLabel(shown.map(String.init).joined(separator: " "))
                        Button("I have written it down") { p.keyShown() }.tapTarget()
                    }
                } else if s.hasRecoveryKey == false {
                    Button("Set up a recovery key") { Task { await p.setUpRecoveryKey() } }.tapTarget()
                }
                if s.hasRecoveryKey == true, s.recoveryKey == nil {
                    Section("Back up") {
                        SecureField("Recovery key", text: $key).autocorrectionDisabled()
                        Button("Back up now") {
                            Task {
                                await p.backUp(recoveryKey: key, path: Self.backupPath)
                                // A key that made a backup is right: keep it (Keychain) for the automatic ones.
                                if p.state.error == nil { try? KeychainRecoveryKeyVault().remember(key) }
                            }
                        }
                            .disabled(key.isEmpty || s.busy).tapTarget()
                        if let n = s.lastBackupBytes { Text("Backup saved (\(n) bytes).").font(.footnote) }
                    }
                }
                ErrorBanner(error: s.error)
            }
        }
        .navigationTitle("Backup for a new phone")
        .crisisAccess(store: store, formats: model.formats)
        .healthScreen()
        .task {
            if presenter == nil { presenter = BackupPresenter(store: store) }
            await presenter?.refresh()
        }
    }
}

/// On a new phone, before any store exists: the backup file, the recovery key, a new passphrase.
struct RestoreView: View {
    @Environment(AppModel.self) private var model
    @State private var presenter: RestorePresenter?
    @State private var path = BackupView.backupPath
    @State private var key = ""
    @State private var passphrase = ""

    var body: some View {
        Form {
            if let p = presenter {
                Section("Backup") {
                    TextField("Backup file", text: $path).autocorrectionDisabled()
                    SecureField("Recovery key", text: $key).autocorrectionDisabled()
                    SecureField("New passphrase (empty: this phone's key)", text: $passphrase).textContentType(.newPassword)
                }
                if let f = p.state.failure {
                    Text(Self.message(f)).accessibilityAddTraits(.isStaticText)
                } else {
                    ErrorBanner(error: p.state.error)
                }
                Button("Restore") {
                    Task {
                        if let store = await p.restore(backupPath: path, recoveryKey: key, passphrase: passphrase.isEmpty ? nil : passphrase) {
                            model.opened(store)
                        }
                    }
                }
                .disabled(p.state.busy || key.isEmpty).tapTarget()
            }
        }
        .navigationTitle("Restore from a backup")
        .task { if presenter == nil { presenter = RestorePresenter(storePath: model.storePath, keys: model.keys) } }
    }

    static func message(_ f: RestoreFailure) -> String {
        switch f {
        case .wrongKey: return "This recovery key does not open the backup. Check it and try again."
        case .corrupt: return "This backup is damaged or was changed. Try another copy."
        case .unsupportedVersion: return "This backup was made by a newer version of the app. Update the app first."
        case .noFile: return "No backup file was found there."
        }
    }
}
