import Collabzium
import CollabziumAppCore
import SwiftUI

/// The patient's tabs. Every tab carries the crisis button and the privacy cover.
struct PatientHome: View {
    @Environment(AppModel.self) private var model
    let store: PatientStore
    let schedule: PatientSchedule

    var body: some View {
        TabView {
            tab("Today", "sun.max") { TodayView(store: store, schedule: schedule, formats: model.formats) }
            tab("Module", "book") { ModuleReaderView(store: store) }
            tab("Messages", "bubble.left.and.bubble.right") { MessagesView(store: store, formats: model.formats) }
            tab("Progress", "chart.xyaxis.line") { ProgressScreen(store: store, formats: model.formats) }
            tab("Settings", "gearshape") { SettingsView(store: store, schedule: schedule) }
        }
        .task { await SyncPresenter(store: store, transport: model.transport).syncNow() }
        .sheet(isPresented: Binding(get: { model.offerRecoveryKey }, set: { model.offerRecoveryKey = $0 })) {
            NavigationStack { BackupView(store: store) }
        }
    }

    private func tab<V: View>(_ title: String, _ icon: String, @ViewBuilder _ content: () -> V) -> some View {
        NavigationStack {
            content()
                .crisisAccess(store: store, formats: model.formats)
                .healthScreen()
        }
        .tabItem { Label(title, systemImage: icon) }
    }
}

struct JoinView: View {
    @Environment(AppModel.self) private var model
    let store: PatientStore
    @State private var presenter: JoinPresenter?
    @State private var scanning = false

    var body: some View {
        Form {
            if let p = presenter {
                Section("Code from your therapist") {
                    // Typed, or filled by scanning: the core decodes the camera frame.
                    TextField("Code", text: Binding(get: { p.state.code }, set: { p.setCode($0) }))
                        .textInputAutocapitalization(.characters).autocorrectionDisabled()
                        .font(.title3.monospaced())
                        .accessibilityLabel("Invitation code")
                    #if canImport(AVFoundation)
                    if p.state.result == nil {
                        Button("Scan QR code") { scanning = true }
                            .accessibilityHint("Scan the QR code from your therapist with the camera")
                            .tapTarget()
                    }
                    #endif
                    Toggle("Share what I did before joining", isOn: Binding(get: { p.state.shareHistory }, set: { p.setShareHistory($0) }))
                        .tapTarget()
                }
                if p.state.askShareAlerts {
                    Section("You answered a risk question before joining. Share that with your therapist?") {
                        Button("Yes, share it") { Task { await p.join(shareAlerts: true) } }.tapTarget()
                        Button("No") { Task { await p.join(shareAlerts: false) } }.tapTarget()
                    }
                }
                if let r = p.state.result {
                    Section("Compare this number with your therapist's screen") {
                        Text(r.safetyNumber ?? "Waiting for your therapist…")
                            .font(.title2.monospaced())
                            .accessibilityLabel(r.safetyNumber.map { "Safety number \($0)" } ?? "Waiting for your therapist")
                        Button("Check again") { Task { await p.refresh() } }.tapTarget()
                    }
                }
                ErrorBanner(error: p.state.error)
                Button("Join") { Task { await p.join() } }.disabled(p.state.busy || p.state.code.isEmpty).tapTarget()
            }
        }
        .navigationTitle("Join your therapist")
        #if canImport(AVFoundation) && canImport(UIKit)
        .sheet(isPresented: $scanning) {
            if let p = presenter {
                QrScannerView { width, height, luma in
                    await p.scanImage(width: width, height: height, luma: luma)
                    // Done once a frame held an invitation; frames without one keep scanning.
                    if await p.state.error == nil, await !p.state.code.isEmpty {
                        await MainActor.run { scanning = false }
                    }
                }
                .ignoresSafeArea()
                .accessibilityLabel("Camera: point it at the QR code")
            }
        }
        #endif
        .crisisAccess(store: store, formats: model.formats)
        .task { if presenter == nil { presenter = JoinPresenter(store: store, transport: model.transport, relayUrl: model.relayUrl) } }
    }
}
