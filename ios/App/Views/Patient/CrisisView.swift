import Collabzium
import CollabziumAppCore
import SwiftUI

/// Crisis lines first (tap to call or text), then whether the therapist has been told.
struct CrisisView: View {
    let store: PatientStore
    let formats: Formats
    @State private var presenter: CrisisPresenter?
    @Environment(\.openURL) private var openURL
    @Environment(\.dismiss) private var dismiss

    var body: some View {
        List {
            if let s = presenter?.state {
                if let message = s.message { Section { Text(message).font(.title3) } }
                Section("Call now") {
                    ForEach(s.resources, id: \.name) { r in
                        VStack(alignment: .leading, spacing: 8) {
                            Text(r.name).font(.headline)
                            Text(r.description).font(.body)
                            HStack {
                                if let dial = r.dialUri.flatMap(URL.init(string:)) {
                                    Button("Call") { openURL(dial) }.buttonStyle(.borderedProminent).tint(Color(argb: Palette.crisis))
                                        .tapTarget().accessibilityLabel("Call \(r.name)")
                                }
                                if let sms = r.smsUri.flatMap(URL.init(string:)) {
                                    Button("Text") { openURL(sms) }.buttonStyle(.bordered).tapTarget().accessibilityLabel("Text \(r.name)")
                                }
                                if let web = r.url.flatMap(URL.init(string:)) {
                                    Button("Website") { openURL(web) }.buttonStyle(.bordered).tapTarget()
                                }
                            }
                        }
                    }
                }
                if let alert = s.alertState {
                    Section("Your therapist") {
                        Label(alert.patientText, systemImage: alert == .seen ? "eye" : "paperplane")
                            .accessibilityElement(children: .combine)
                        if let next = s.nextAvailableText { Text("Next available: \(next)") }
                    }
                }
                ErrorBanner(error: s.error)
            }
        }
        .navigationTitle("Help now")
        .toolbar { ToolbarItem(placement: .cancellationAction) { Button("Close") { dismiss() }.tapTarget() } }
        .healthScreen()
        .task {
            if presenter == nil { presenter = CrisisPresenter(store: store, formats: formats) }
            await presenter?.refresh()
        }
    }
}
