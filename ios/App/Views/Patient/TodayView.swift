import Collabzium
import CollabziumAppCore
import SwiftUI

/// Today's agenda by section, the week, and the next unlock.
struct TodayView: View {
    let store: PatientStore
    let schedule: PatientSchedule
    let formats: Formats
    @State private var presenter: TodayPresenter?

    private static let sectionTitles = [
        "overdue": "Overdue", "due_today": "Due today", "open_now": "Open now",
        "waiting_for_therapist": "Waiting for your therapist", "upcoming_this_week": "Later this week",
    ]

    var body: some View {
        List {
            if let p = presenter {
                let s = p.state
                if s.notEnrolled {
                    Section {
                        Text("No program yet. Your therapist assigns one after you join.")
                        NavigationLink("Join your therapist") { JoinView(store: store) }.tapTarget()
                    }
                }
                if let title = s.programTitle {
                    Section {
                        Text(title).font(.title2.bold()).accessibilityAddTraits(.isHeader)
                        if let w = s.weekText { Text("Week \(w.current) of \(w.total)").foregroundStyle(Color(argb: Palette.textMuted)) }
                    }
                }
                ForEach(s.sections, id: \.key) { section in
                    Section(Self.sectionTitles[section.key] ?? section.key) {
                        ForEach(section.rows, id: \.id) { row in
                            AgendaRowView(row: row, store: store) { Task { await p.complete(itemId: row.id) } }
                        }
                    }
                }
                if let next = s.nextUnlock, let at = s.nextUnlockText {
                    Section("Next") {
                        Text("\(next.title) opens \(at)").accessibilityElement(children: .combine)
                    }
                }
                ErrorBanner(error: s.error)
            }
        }
        .navigationTitle("Today")
        .refreshable { await presenter?.refresh() }
        .task {
            if presenter == nil { presenter = TodayPresenter(schedule: schedule, formats: formats) }
            await presenter?.refresh()
        }
    }
}

struct AgendaRowView: View {
    let row: AgendaRow
    let store: PatientStore
    let complete: () -> Void

    var body: some View {
        let label = VStack(alignment: .leading, spacing: 4) {
            Text(row.title).font(.body)
            if let when = row.whenText { Text(when).font(.footnote).foregroundStyle(Color(argb: Palette.textMuted)) }
            if row.waitingForTherapist { Text("Your therapist opens this next").font(.footnote) }
        }
        .accessibilityElement(children: .combine)
        .accessibilityValue(Self.stateText(row.state))

        switch (row.kind, row.state) {
        case (.checkin, .open), (.checkin, .due), (.checkin, .overdue):
            NavigationLink { CheckinView(store: store, agendaItemId: row.id) } label: { label }.tapTarget()
        case (.module, .open), (.module, .due), (.module, .overdue):
            // The reader shows the module's pages and exercises; finishing it there completes the item.
            NavigationLink { ModuleReaderView(store: store, moduleId: String(row.id.dropFirst("module:".count))) } label: { label }
                .tapTarget().accessibilityHint("Opens this lesson")
        default:
            label.tapTarget()
        }
    }

    static func stateText(_ s: AgendaItemState) -> String {
        switch s {
        case .locked: return "Locked"
        case .upcoming: return "Upcoming"
        case .open: return "Open"
        case .due: return "Due"
        case .overdue: return "Overdue"
        case .completed: return "Done"
        case .missed: return "Missed"
        }
    }
}
