import Collabzium
import CollabziumAppCore
import SwiftUI

/// Reminders, time zone and travel, export, erase, unpair, the audit log.
struct SettingsView: View {
    @Environment(AppModel.self) private var model
    let store: PatientStore
    let schedule: PatientSchedule
    @State private var presenter: SettingsPresenter?
    @State private var confirmErase = false
    @State private var zone = TimeZone.current.identifier

    var body: some View {
        @Bindable var m = model
        Form {
            if let p = presenter {
                let s = p.state
                Section("Reminders") {
                    Button("Allow reminders") { Task { _ = await model.scheduler.requestPermission() } }.tapTarget()
                    if let t = s.reminderTime { Text("Daily reminder at \(t)") }
                    if let q = s.quietHours { Text("No reminders between \(q.start) and \(q.end)") }
                    if let n = s.maxRemindersPerDay { Text("At most \(n) reminders a day").font(.footnote) }
                    if let n = s.remindersScheduled { Text("\(n) reminders planned") }
                    if let e = s.reminderError { Text("Reminders: \(e)") }
                }
                Section("Time zone") {
                    Text("Now: \(s.timeZone ?? "-")")
                    TextField("Time zone (e.g. Europe/Vienna)", text: $zone).autocorrectionDisabled()
                    Button("Use this time zone") { Task { await p.changeTimeZone(zone) } }.tapTarget()
                }
                Section("Unlock") {
                    Toggle("Ask for Face ID", isOn: $m.useFaceID).tapTarget()
                }
                Section("Your data") {
                    NavigationLink("Recovery key and backup") { BackupView(store: store) }.tapTarget()
                    Button("Export my data") { Task { await p.export() } }.tapTarget()
                    if let json = s.export {
                        ShareLink(item: json, preview: SharePreview("Collabzium export")).tapTarget()
                            .onDisappear { p.exportShown() }
                    }
                    // Into the app's documents, which the Files app shows.
                    Button("Save my data to a file") { Task { await p.exportToFile(.gdprJson, path: Self.documents("collabzium-export.json")) } }.tapTarget()
                    Button("Save my check-ins as FHIR") { Task { await p.exportToFile(.fhir, path: Self.documents("collabzium-fhir.json")) } }.tapTarget()
                    if let path = s.exportedPath { Text("Saved to \(path)").font(.footnote) }
                    Button("Stop sharing with my therapist") { Task { await p.unpair() } }.tapTarget()
                    Button("Erase everything on this phone", role: .destructive) { confirmErase = true }.tapTarget()
                }
                Section("Activity log") {
                    if let ok = s.auditIntact { Text(ok ? "The log is intact." : "The log was changed.") }
                    ForEach(s.audit.suffix(20), id: \.seq) { e in
                        Text("\(model.formats.dateTime(e.atMillis)) \(e.event)").font(.footnote)
                    }
                }
                ErrorBanner(error: s.error)
            }
        }
        .navigationTitle("Settings")
        .confirmationDialog("Erase all your data on this phone? This cannot be undone.", isPresented: $confirmErase) {
            Button("Erase", role: .destructive) {
                Task {
                    await presenter?.erase()
                    if presenter?.state.erased == true { model.locked() }
                }
            }
        }
        .task {
            if presenter == nil { presenter = SettingsPresenter(store: store, schedule: schedule, transport: model.transport) }
            await presenter?.refresh()
        }
    }

    static func documents(_ name: String) -> String {
        let dir = FileManager.default.urls(for: .documentDirectory, in: .userDomainMask).first
            ?? URL(fileURLWithPath: NSTemporaryDirectory())
        return dir.appendingPathComponent(name).path
    }
}
