import Charts
import Collabzium
import CollabziumAppCore
import SwiftUI

/// One patient: charts, alerts with acknowledgement, the thread, the therapist's alliance
/// rating, assigning a program and approving a module.
struct PatientDetailView: View {
    @Environment(AppModel.self) private var model
    let store: PatientStore
    let channelId: String
    let formats: Formats
    @State private var presenter: PatientDetailPresenter?
    @State private var ackAction = "phone"
    @State private var ackNote = ""
    @State private var reply = ""
    @State private var moduleId = ""
    @State private var ratings: [String: Int64] = [:]

    private static let actions = ["phone": "Phoned", "message": "Messaged", "safety_plan": "Reviewed the safety plan",
                                  "referred": "Referred", "other": "Other"]

    var body: some View {
        Form {
            if let p = presenter {
                let s = p.state
                if let t = s.timeline {
                    Section("Week \(t.weekNow)") {
                        ForEach(t.symptoms, id: \.instrument) { series in
                            Chart(series.points, id: \.atMillis) { pt in
                                LineMark(x: .value("Week", Int(pt.week)), y: .value("Score", pt.score))
                            }
                            .frame(minHeight: 160)
                            .accessibilityLabel("\(series.instrument): \(series.points.map { formats.score($0.score) }.joined(separator: ", "))")
                        }
                        if let days = t.daysSinceLastActivity { Text("Last activity \(days) days ago").font(.footnote) }
                        let alliance = ProgressScreen.allianceMarks(t.alliance.filter { $0.source == "patient" }.map {
                            AllianceRow(atMillis: $0.atMillis, dateText: formats.shortDate($0.atMillis), goals: $0.goals, tasks: $0.tasks, bond: $0.bond)
                        })
                        if !alliance.isEmpty {
                            Chart(alliance, id: \.id) { m in
                                LineMark(x: .value("Date", m.date), y: .value("Agreement", m.value))
                                    .foregroundStyle(by: .value("Subscale", m.subscale))
                                    .symbol(by: .value("Subscale", m.subscale))
                            }
                            .frame(minHeight: 160)
                            .accessibilityLabel("Alliance: goals, tasks and bond over time")
                        }
                        ForEach(t.alliance, id: \.atMillis) { a in
                            Text("Alliance (\(a.source)), week \(a.week): goals \(a.goals.map(formats.score) ?? "-"), tasks \(a.tasks.map(formats.score) ?? "-"), bond \(a.bond.map(formats.score) ?? "-")")
                                .font(.footnote)
                        }
                    }
                }
                ForEach(s.alerts, id: \.alertId) { alert in
                    Section("Risk alert, received \(alert.receivedText)") {
                        Picker("What you did", selection: $ackAction) {
                            ForEach(Self.actions.keys.sorted(), id: \.self) { Text(Self.actions[$0] ?? $0).tag($0) }
                        }
                        TextField("Note (stays on this device)", text: $ackNote)
                        Button("Acknowledge") { Task { await p.acknowledge(alertId: alert.alertId, action: ackAction, note: ackNote.isEmpty ? nil : ackNote) } }
                            .tapTarget()
                    }
                }
                Section("Messages") {
                    ForEach(s.messages, id: \.id) { m in
                        Text("\(m.fromMe ? "You" : "Patient"): \(m.text) · \(m.atText)").accessibilityElement(children: .combine)
                    }
                    TextField("Reply", text: $reply)
                    Button("Send") { let text = reply; reply = ""; Task { await p.reply(text) } }.disabled(reply.isEmpty).tapTarget()
                }
                if let t = s.timeline, !t.progress.isEmpty {
                    Section("Modules done") {
                        ForEach(t.progress, id: \.moduleId) { m in Text("\(m.title) · \(formats.shortDate(m.atMillis))") }
                    }
                }
                if !s.ratingForm.isEmpty {
                    Section("Your rating of the alliance") {
                        ForEach(s.ratingForm.filter { !$0.options.isEmpty }, id: \.linkId) { item in
                            Picker(item.text, selection: Binding(get: { ratings[item.linkId] ?? 0 }, set: { ratings[item.linkId] = $0 })) {
                                Text("-").tag(Int64(0))
                                ForEach(item.options, id: \.value) { o in Text("\(o.value) \(o.text)").tag(o.value) }
                            }
                            .tapTarget()
                        }
                        Button("Save my rating") { Task { await p.rateAlliance(answers: ratings.filter { $0.value != 0 }) } }.tapTarget()
                    }
                }
                Section("Program") {
                    TextField("Module to approve (id)", text: $moduleId).autocorrectionDisabled()
                    Button("Approve module") { Task { await p.approveModule(moduleId) } }.disabled(moduleId.isEmpty).tapTarget()
                }
                if let done = s.done { Text("Done: \(done)") }
                ErrorBanner(error: s.error)
            }
        }
        .navigationTitle(presenter?.state.timeline?.label ?? "Patient")
        .healthScreen()
        .task {
            if presenter == nil { presenter = PatientDetailPresenter(store: store, channelId: channelId, formats: formats) }
            await presenter?.refresh()
            await presenter?.loadRatingForm()
        }
    }
}
