import Collabzium
import CollabziumAppCore
import SwiftUI
import UIKit

/// A new invitation: the code to read out, and the same text as a QR image to scan.
struct InviteView: View {
    @Environment(AppModel.self) private var model
    let store: PatientStore
    @State private var presenter: InvitePresenter?
    @State private var label = ""

    var body: some View {
        Form {
            if let p = presenter {
                Section {
                    TextField("Patient's name (only on this device)", text: $label)
                    Button("Create invitation") {
                        Task {
                            await p.create(label: label.isEmpty ? nil : label)
                            _ = await p.awaitPaired()
                        }
                    }
                    .disabled(p.state.busy).tapTarget()
                }
                if let code = p.state.code {
                    Section("Give this code to your patient") {
                        Text(code).font(.largeTitle.monospaced()).textSelection(.enabled)
                            .accessibilityLabel("Code \(code.map { String($0) }.joined(separator: " "))")
                        if let qr = p.state.qr {
                            // The core's matrix; the label names the code shown above, never the payload.
                            QrMatrixView(matrix: qr).frame(maxWidth: 280)
                                .accessibilityElement()
                                .accessibilityLabel("QR code for invitation code \(code)")
                        }
                        if let expires = p.state.expiresText { Text("Valid until \(expires)") }
                    }
                }
                if let paired = p.state.paired {
                    Section("Joined. Compare this number with your patient's screen") {
                        Text(paired.safetyNumber ?? "-").font(.title2.monospaced())
                    }
                }
                ErrorBanner(error: p.state.error)
            }
        }
        .navigationTitle("Invite")
        .onDisappear { presenter?.close() }
        .task {
            if presenter == nil, let relay = model.relayUrl {
                presenter = InvitePresenter(store: store, transport: model.transport, relayUrl: relay, formats: model.formats)
            }
        }
    }
}

/// Availability hours and the reply promise, sent to patients at the next sync.
struct AvailabilityView: View {
    let store: PatientStore
    @State private var presenter: AvailabilityPresenter?
    @State private var start = "09:00"
    @State private var end = "17:00"
    @State private var replyHours = 48
    @State private var alertsOutsideHours = false

    var body: some View {
        Form {
            Section("Weekdays") {
                TextField("From", text: $start)
                TextField("Until", text: $end)
                Stepper("Reply within \(replyHours) hours", value: $replyHours, in: 4...168, step: 4)
                Toggle("Notify me of risk alerts outside these hours", isOn: $alertsOutsideHours).tapTarget()
            }
            Button("Save") {
                Task {
                    await presenter?.save(AvailabilitySettings(
                        tz: TimeZone.current.identifier,
                        windows: [AvailabilityWindow(days: ["MO", "TU", "WE", "TH", "FR"], start: start, end: end)],
                        replyWithinHours: UInt32(replyHours), alertsNotifyOutsideHours: alertsOutsideHours))
                }
            }
            .tapTarget()
            if presenter?.state.saved == true { Text("Saved. Patients see it after their next sync.") }
            ErrorBanner(error: presenter?.state.error)
        }
        .navigationTitle("Availability")
        .task { if presenter == nil { presenter = AvailabilityPresenter(store: store) } }
    }
}
