import Collabzium
import CollabziumAppCore
import SwiftUI

/// Therapist mode: the caseload first, then invitations and availability.
struct TherapistHome: View {
    @Environment(AppModel.self) private var model
    let store: PatientStore

    var body: some View {
        TabView {
            NavigationStack { CaseloadView(store: store, formats: model.formats).healthScreen() }
                .tabItem { Label("Caseload", systemImage: "person.3") }
            NavigationStack { InviteView(store: store) }
                .tabItem { Label("Invite", systemImage: "qrcode") }
            NavigationStack { AvailabilityView(store: store) }
                .tabItem { Label("Availability", systemImage: "clock") }
        }
        .task { await SyncPresenter(store: store, transport: model.transport).syncNow() }
    }
}

/// Tiers and reasons with their evidence, in the core's order.
struct CaseloadView: View {
    let store: PatientStore
    let formats: Formats
    @State private var presenter: CaseloadPresenter?

    var body: some View {
        List {
            if let s = presenter?.state {
                ForEach(s.rows, id: \.channelId) { row in
                    NavigationLink {
                        PatientDetailView(store: store, channelId: row.channelId, formats: formats)
                    } label: {
                        VStack(alignment: .leading, spacing: 4) {
                            HStack {
                                Text(row.label ?? "Patient").font(.headline)
                                Spacer()
                                Text(Self.tier(row.priority)).font(.subheadline.bold())
                                    .foregroundStyle(Color(argb: row.priority == .safety ? Palette.crisis : Palette.text))
                            }
                            ForEach(row.reasons, id: \.reason) { r in
                                Text(r.reason).font(.subheadline)
                                ForEach(r.evidence, id: \.self) { Text($0).font(.footnote).foregroundStyle(Color(argb: Palette.textMuted)) }
                            }
                            if let h = row.headlineText { Text(h).font(.footnote) }
                            if row.status == "left" { Text("Left the app \(row.statusSinceText ?? "")").font(.footnote) }
                            if row.status == "ended" { Text("You ended this connection \(row.statusSinceText ?? "")").font(.footnote) }
                            Text("Week \(row.week)\(row.lastActivityText.map { " · last active \($0)" } ?? "")").font(.footnote)
                        }
                        .accessibilityElement(children: .combine)
                    }
                    .tapTarget()
                }
                ErrorBanner(error: s.error)
            }
        }
        .navigationTitle("Caseload")
        .refreshable { await presenter?.refresh() }
        .task {
            if presenter == nil { presenter = CaseloadPresenter(store: store, formats: formats) }
            await presenter?.refresh()
        }
    }

    static func tier(_ p: CaseloadPriority) -> String {
        switch p {
        case .safety: return "Safety"
        case .deterioration: return "Deterioration"
        case .recentRisk: return "Recent risk"
        case .rupture: return "Alliance rupture"
        case .disengagement: return "Disengaged"
        case .nonResponse: return "Not responding"
        case .routine: return "Routine"
        }
    }
}
