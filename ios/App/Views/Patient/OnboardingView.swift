import Collabzium
import CollabziumAppCore
import SwiftUI

/// What the app does and does not do, consent, country, then a passphrase or the device key.
struct OnboardingView: View {
    @Environment(AppModel.self) private var model
    @State private var presenter: OnboardingPresenter?
    @State private var name = ""
    @State private var passphrase = ""
    @State private var useDeviceKey = true
    @State private var therapist = false
    @State private var setUpRecoveryKey = true

    private static let countries = ["AT", "AU", "CA", "CH", "DE", "GB", "IE", "NZ", "US"]

    var body: some View {
        NavigationStack {
            if let p = presenter {
                Form {
                    switch p.state.step {
                    case .about:
                        Section {
                            Text("Collabzium helps you work through a treatment program with your therapist: short lessons, exercises and check-ins.")
                            Text("It is not an emergency service. If you are in danger, call your local emergency number. The app shows crisis lines at any time.")
                                .font(.headline)
                            Toggle("I am a therapist setting up this phone", isOn: $therapist).tapTarget()
                            NavigationLink("Restore from a backup") { RestoreView() }.tapTarget()
                        }
                    case .consent:
                        Section("Your data") {
                            Text("Your answers are stored encrypted on this phone. They are shared only with the therapist you join, and only what you choose.")
                            Toggle("I agree to use Collabzium for my treatment", isOn: Binding(
                                get: { p.state.consentGiven }, set: { p.setConsent($0) }
                            )).tapTarget()
                        }
                    case .country:
                        Section("Where are you? (for the right crisis lines)") {
                            Picker("Country", selection: Binding(get: { p.state.country ?? "" }, set: { p.chooseCountry($0) })) {
                                Text("Choose").tag("")
                                ForEach(Self.countries, id: \.self) { iso in
                                    Text(Locale.current.localizedString(forRegionCode: iso) ?? iso).tag(iso)
                                }
                            }
                            .pickerStyle(.inline)
                        }
                    case .unlock:
                        Section("How to unlock") {
                            TextField("Your first name", text: $name).textContentType(.givenName)
                            Toggle("Use this phone's key (and Face ID if you turn it on)", isOn: $useDeviceKey).tapTarget()
                            if useDeviceKey {
                                @Bindable var m = model
                                Toggle("Ask for Face ID", isOn: $m.useFaceID).tapTarget()
                            } else {
                                SecureField("Passphrase", text: $passphrase).textContentType(.newPassword)
                            }
                            if !therapist {
                                Toggle("Set up a recovery key next, so a new phone can bring back my treatment", isOn: $setUpRecoveryKey).tapTarget()
                            }
                        }
                    }
                    ErrorBanner(error: p.state.error)
                    Section {
                        HStack {
                            if p.state.step != .about {
                                Button("Back") { p.back() }.tapTarget()
                            }
                            Spacer()
                            if p.state.step == .unlock {
                                Button("Start") { Task { await finish(p) } }
                                    .disabled(p.state.busy || name.isEmpty || (!useDeviceKey && passphrase.count < 8))
                                    .tapTarget()
                            } else {
                                Button("Next") { p.next() }.tapTarget()
                            }
                        }
                    }
                }
                .navigationTitle("Welcome")
            }
        }
        .task { if presenter == nil { presenter = OnboardingPresenter(storePath: model.storePath, keys: model.keys) } }
    }

    private func finish(_ p: OnboardingPresenter) async {
        model.role = therapist ? .therapist : .patient
        let store = await p.finish(displayName: name, timeZone: TimeZone.current.identifier,
                                   locale: Locale.current.identifier(.bcp47), mode: .guided,
                                   passphrase: useDeviceKey ? nil : passphrase)
        if let store {
            model.offerRecoveryKey = setUpRecoveryKey && !therapist
            model.opened(store)
        }
    }
}

/// Opens the store; a wrong passphrase is a message, never a reset.
struct UnlockView: View {
    @Environment(AppModel.self) private var model
    @State private var presenter: UnlockPresenter?
    @State private var passphrase = ""

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    Button("Unlock with this phone") { Task { await unlock(nil) } }.tapTarget()
                    SecureField("Passphrase", text: $passphrase).textContentType(.password)
                    Button("Unlock with passphrase") { Task { await unlock(passphrase) } }
                        .disabled(passphrase.isEmpty).tapTarget()
                }
                ErrorBanner(error: presenter?.state.error)
            }
            .navigationTitle("Unlock")
        }
        .task { if presenter == nil { presenter = UnlockPresenter(storePath: model.storePath, keys: model.keys) } }
    }

    private func unlock(_ passphrase: String?) async {
        guard let p = presenter else { return }
        if let store = await p.unlock(passphrase: passphrase) {
            self.passphrase = ""
            model.opened(store)
        }
    }
}
