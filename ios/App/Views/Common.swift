// Shared pieces every screen uses: colours from the tested palette, the crisis button, the
// privacy cover for the app switcher, error banners and 44 pt targets.
import Collabzium
import CollabziumAppCore
import SwiftUI

extension Color {
    /// A colour of `Palette` (whose text pairs the Linux tests check for 4.5:1).
    init(argb: UInt32) {
        let c = Palette.rgb(argb)
        self.init(red: c.red, green: c.green, blue: c.blue)
    }
}

extension View {
    /// At least 44×44 pt, the whole frame tappable (Apple's minimum target size).
    func tapTarget() -> some View {
        frame(minWidth: 44, minHeight: 44).contentShape(Rectangle())
    }

    /// Health screens: covered while the app is inactive, so the app switcher's snapshot shows
    /// nothing of them; and marked privacy-sensitive (redacted on widgets and screen sharing).
    func healthScreen() -> some View { modifier(PrivacyCover()).privacySensitive() }

    /// The crisis screen, one tap away: a toolbar button on every patient screen.
    func crisisAccess(store: PatientStore, formats: Formats) -> some View {
        toolbar {
            ToolbarItem(placement: .topBarTrailing) { CrisisButton(store: store, formats: formats) }
        }
    }
}

struct PrivacyCover: ViewModifier {
    @Environment(\.scenePhase) private var phase

    func body(content: Content) -> some View {
        content
            .blur(radius: phase == .active ? 0 : 24)
            .overlay {
                if phase != .active {
                    Rectangle().fill(.regularMaterial).ignoresSafeArea()
                        .overlay(Text("Collabzium").font(.title2).foregroundStyle(Color(argb: Palette.text)))
                        .accessibilityHidden(true)
                }
            }
    }
}

struct CrisisButton: View {
    let store: PatientStore
    let formats: Formats
    @State private var shown = false

    var body: some View {
        Button {
            shown = true
        } label: {
            Label("Get help now", systemImage: "phone.fill")
                .font(.headline)
                .padding(.horizontal, 12)
                .foregroundStyle(Color(argb: Palette.onCrisis))
                .background(Color(argb: Palette.crisis), in: Capsule())
                .tapTarget()
        }
        .accessibilityLabel("Get help now")
        .accessibilityHint("Opens crisis phone numbers and shows whether your therapist was told")
        .accessibilitySortPriority(100)
        .sheet(isPresented: $shown) {
            NavigationStack { CrisisView(store: store, formats: formats) }
        }
    }
}

struct ErrorBanner: View {
    let error: ScreenError?

    var body: some View {
        if let error {
            Label(Self.text(error), systemImage: "exclamationmark.triangle")
                .font(.callout)
                .foregroundStyle(Color(argb: Palette.text))
                .padding()
                .frame(maxWidth: .infinity, alignment: .leading)
                .background(Color(argb: Palette.surface), in: RoundedRectangle(cornerRadius: 8))
                .accessibilityElement(children: .combine)
        }
    }

    /// Each screen error as a sentence; never a crash, never personal data.
    static func text(_ e: ScreenError) -> String {
        switch e {
        case .wrongKey: return "That passphrase does not open your data. Nothing was deleted; please try again."
        case .offline: return "No connection. Everything is kept on this phone and sent when you are back online."
        case let .relayRefused(_, code): return "The server did not accept this right now (\(code)). It will be retried."
        case .keyUnavailable: return "Your phone's key store is not available. Unlock the phone and try again."
        case let .invalid(field): return "Please check \(field.replacingOccurrences(of: "_", with: " "))."
        case let .pairing(code): return "Joining did not work (\(code.replacingOccurrences(of: "_", with: " "))). Check the code with your therapist."
        case .notFound: return "This is no longer available."
        case .updateNeeded: return "Please update the app to open this data."
        case .closed: return "Your data is locked. Please unlock again."
        case .failure: return "Something went wrong. Your data is safe; please try again."
        }
    }
}

extension AlertState {
    /// The alert's delivery state, in the patient's words.
    var patientText: String {
        switch self {
        case .unguided: return "You are using the app on your own: no therapist receives alerts."
        case .notConnected: return "You are not connected to a therapist yet, so nobody was told."
        case .sending: return "Your therapist is being told. This needs a connection."
        case .delivered: return "Your therapist has been told."
        case .seen: return "Your therapist has seen this."
        }
    }
}

extension Delivery {
    var label: String {
        switch self {
        case .queued: return "Waiting to send"
        case .sent: return "Sent"
        case .delivered: return "Delivered"
        case .read: return "Read"
        case .notShared: return "Not shared"
        }
    }
}
