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
    @State private var eraseNotice: String?
    @State private var zone = TimeZone.current.identifier
    // The patient's reminder preferences being chosen; filled from the core's state once.
    @State private var prefsLoaded = false
    @State private var remindersOn = true
    @State private var useQuiet = false
    @State private var quietFrom = Self.date("22:00")
    @State private var quietTo = Self.date("07:00")
    @State private var useCheckinTime = false
    @State private var checkinTime = Self.date("18:00")
    @State private var limit = 1

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
                if let programMax = s.maxRemindersPerDay {
                    yourReminders(p, s, programMax: Int(programMax))
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
                    if let s = presenter?.state, s.erased {
                        // Say exactly who was told: the relay's answer, not a hope.
                        eraseNotice = s.erasedNotTold > 0
                            ? "Your data on this phone is erased. Your therapist's app could not be told (the relay did not confirm it): please tell your therapist yourself."
                            : s.erasedTold > 0
                                ? "Your data on this phone is erased. The relay confirmed it: your therapist's app will show that you left the next time it connects."
                                : "Your data on this phone is erased."
                    }
                }
            }
        }
        .alert(eraseNotice ?? "", isPresented: Binding(get: { eraseNotice != nil }, set: { if !$0 { eraseNotice = nil } })) {
            Button("OK") { model.locked() }
        }
        .task {
            if presenter == nil { presenter = SettingsPresenter(store: store, schedule: schedule, transport: model.transport) }
            await presenter?.refresh()
        }
    }

    /// "Your reminders": quieter than the program, never more frequent. Times are wall-clock
    /// "HH:MM" in the patient's zone, so the pickers work in a fixed zone and only hours and
    /// minutes are read from them.
    @ViewBuilder
    private func yourReminders(_ p: SettingsPresenter, _ s: SettingsState, programMax: Int) -> some View {
        Section("Your reminders") {
            Text("You can make reminders quieter than your program, never more frequent.").font(.footnote)
            Toggle("Reminders on", isOn: $remindersOn)
                .accessibilityLabel(Text("Reminders on"))
                .tapTarget()
            Toggle("Quiet hours of my own", isOn: $useQuiet).tapTarget()
            if useQuiet {
                DatePicker("Quiet from", selection: $quietFrom, displayedComponents: .hourAndMinute)
                    .accessibilityLabel(Text("Choose when your quiet hours start"))
                    .tapTarget()
                DatePicker("Quiet until", selection: $quietTo, displayedComponents: .hourAndMinute)
                    .accessibilityLabel(Text("Choose when your quiet hours end"))
                    .tapTarget()
            }
            Toggle("A time of my own for check-in reminders", isOn: $useCheckinTime).tapTarget()
            if useCheckinTime {
                DatePicker("Remind me of check-ins at", selection: $checkinTime, displayedComponents: .hourAndMinute)
                    .accessibilityLabel(Text("Choose a time for check-in reminders"))
                    .tapTarget()
            }
            Stepper(value: $limit, in: 1...max(programMax, 1)) {
                Text("At most \(limit) reminders a day")
            }
            .accessibilityLabel(Text("Most reminders a day"))
            .accessibilityValue(Text("\(limit)"))
            .tapTarget()
            Button("Save my reminder settings") {
                Task {
                    await p.setReminderPreferences(
                        enabled: remindersOn,
                        quietHours: useQuiet ? (Self.hhmm(quietFrom), Self.hhmm(quietTo)) : nil,
                        checkinTime: useCheckinTime ? Self.hhmm(checkinTime) : nil,
                        maxPerDay: UInt32(limit))
                }
            }.tapTarget()
            if let e = s.preferencesError {
                switch e {
                case let .invalid(field) where field.hasPrefix("quiet_hours"):
                    Text("Please choose both a start and an end for your quiet hours, at different times.")
                case .invalid(field: "max_per_day"):
                    Text("Please choose a number from 1 to \(programMax).")
                case .invalid(field: "checkin_time"):
                    Text("Please choose a time for check-in reminders.")
                default:
                    ErrorBanner(error: e)
                }
            }
            ForEach(Array(s.effectiveQuietHours.enumerated()), id: \.offset) { _, q in
                Text("In effect: no reminders between \(q.start) and \(q.end)").font(.footnote)
            }
            if let n = s.effectiveMaxPerDay { Text("In effect: at most \(Int(n)) reminders a day").font(.footnote) }
        }
        .environment(\.timeZone, Self.wallClock.timeZone)
        .onAppear {
            guard !prefsLoaded else { return }
            prefsLoaded = true
            remindersOn = s.remindersEnabled
            if let q = s.myQuietHours { useQuiet = true; quietFrom = Self.date(q.start); quietTo = Self.date(q.end) }
            if let t = s.myCheckinTime { useCheckinTime = true; checkinTime = Self.date(t) }
            limit = Int(s.myMaxPerDay ?? UInt32(programMax))
        }
    }

    /// A fixed-zone calendar: the pickers' dates only carry an hour and a minute.
    private static let wallClock: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC") ?? .current
        return c
    }()

    static func date(_ hhmm: String) -> Date {
        let parts = hhmm.split(separator: ":").compactMap { Int($0) }
        let (h, m) = parts.count == 2 ? (parts[0], parts[1]) : (0, 0)
        return wallClock.date(from: DateComponents(year: 2000, month: 1, day: 1, hour: h, minute: m)) ?? Date()
    }

    static func hhmm(_ d: Date) -> String {
        let c = wallClock.dateComponents([.hour, .minute], from: d)
        return String(format: "%02d:%02d", c.hour ?? 0, c.minute ?? 0)
    }

    static func documents(_ name: String) -> String {
        let dir = FileManager.default.urls(for: .documentDirectory, in: .userDomainMask).first
            ?? URL(fileURLWithPath: NSTemporaryDirectory())
        return dir.appendingPathComponent(name).path
    }
}
