// The iOS app's entry point (Apple-only; built by ios/project.yml on a Mac). Everything the
// screens show comes from the state holders in CollabziumAppCore, which the Linux tests drive.
import Collabzium
import CollabziumAppCore
import SwiftUI

/// Which side of the treatment this install is, chosen once at set-up.
enum Role: String {
    case patient, therapist
}

/// The open session: the store, its schedule and the platform services. One per app.
@MainActor @Observable
final class AppModel {
    private(set) var store: PatientStore?
    private(set) var schedule: PatientSchedule?
    let transport = URLSessionTransport()
    let scheduler = NotificationCenterScheduler()
    var role: Role? {
        didSet { UserDefaults.standard.set(role?.rawValue, forKey: "collabzium.role") }
    }
    var relayUrl: String? {
        didSet { UserDefaults.standard.set(relayUrl, forKey: "collabzium.relayUrl") }
    }
    var useFaceID = UserDefaults.standard.bool(forKey: "collabzium.faceID") {
        didSet { UserDefaults.standard.set(useFaceID, forKey: "collabzium.faceID") }
    }
    /// Set by onboarding when the patient chose to set up a recovery key now: the home screen
    /// opens the backup screen once (issue 16: a new phone without losing the story).
    var offerRecoveryKey = false
    private var observers: [NSObjectProtocol] = []

    init() {
        role = UserDefaults.standard.string(forKey: "collabzium.role").flatMap(Role.init(rawValue:))
        relayUrl = UserDefaults.standard.string(forKey: "collabzium.relayUrl")
    }

    var keys: KeySource { KeychainKeys(requireBiometry: useFaceID) }
    var storePath: String { (try? StoreFiles.storePath()) ?? NSTemporaryDirectory() + "collabzium.db" }
    var storeExists: Bool { FileManager.default.fileExists(atPath: storePath) }

    /// The patient's locale and zone for dates and numbers.
    var formats: Formats { Formats(locale: .current, zone: .current) }

    func opened(_ store: PatientStore) {
        StoreFiles.protect(storePath: storePath)
        self.store = store
        let schedule = PatientSchedule(store: store, scheduler: scheduler)
        self.schedule = schedule
        BackgroundSync.schedule()
        Wakeups.shared.opened(store: store, transport: transport)
        observers = BackgroundSync.observeTimeChanges { [weak self] zone in
            guard let self, let store = self.store, let schedule = self.schedule else { return }
            Task { await SettingsPresenter(store: store, schedule: schedule, transport: self.transport).changeTimeZone(zone) }
        }
    }

    func locked() {
        Wakeups.shared.closed()
        store?.closeStore()
        store = nil
        schedule = nil
        observers.forEach { NotificationCenter.default.removeObserver($0) }
        observers = []
    }
}

/// Holds the open store for the background task, which runs outside the main actor.
final class SessionBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (store: PatientStore, schedule: PatientSchedule)?
    func set(_ v: (store: PatientStore, schedule: PatientSchedule)?) { lock.lock(); value = v; lock.unlock() }
    func get() -> (store: PatientStore, schedule: PatientSchedule)? { lock.lock(); defer { lock.unlock() }; return value }
}

@main
struct CollabziumApp: App {
    @State private var model = AppModel()
    // APNs token and background notifications (ios/App/Platform/PushWakeups.swift).
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var appDelegate
    private let session = SessionBox()

    init() {
        let session = self.session
        BackgroundSync.register(session: { session.get() }, transport: URLSessionTransport())
    }

    var body: some Scene {
        WindowGroup {
            RootView()
                .environment(model)
                .onChange(of: model.store == nil) { _, _ in
                    session.set(model.store.flatMap { s in model.schedule.map { (store: s, schedule: $0) } })
                }
        }
    }
}

struct RootView: View {
    @Environment(AppModel.self) private var model

    var body: some View {
        Group {
            if let store = model.store, let schedule = model.schedule {
                switch model.role ?? .patient {
                case .patient: PatientHome(store: store, schedule: schedule)
                case .therapist: TherapistHome(store: store)
                }
            } else if model.storeExists {
                UnlockView()
            } else {
                OnboardingView()
            }
        }
        .tint(Color(argb: Palette.primary))
    }
}
