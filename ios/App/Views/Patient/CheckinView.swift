import Collabzium
import CollabziumAppCore
import SwiftUI

/// One question per screen with large answer buttons, back and change, review, submit. A risk
/// answer opens the crisis screen at once (before submitting).
struct CheckinView: View {
    @Environment(AppModel.self) private var model
    let store: PatientStore
    let agendaItemId: String
    @State private var presenter: CheckinPresenter?

    var body: some View {
        ScrollView {
            VStack(alignment: .leading, spacing: 16) {
                if let p = presenter, let draft = p.state.draft {
                    if let item = p.state.current {
                        Text("Question \(p.state.index + 1) of \(draft.items.count)")
                            .font(.subheadline).foregroundStyle(Color(argb: Palette.textMuted))
                        Text(item.text).font(.title3).accessibilityAddTraits(.isHeader).accessibilitySortPriority(2)
                        ForEach(item.options, id: \.value) { option in
                            let chosen = p.state.currentAnswer == .integer(value: option.value)
                            Button {
                                Task { await p.answer(.integer(value: option.value)) }
                            } label: {
                                Text(option.text).frame(maxWidth: .infinity, alignment: .leading).padding()
                                    .background(Color(argb: chosen ? Palette.primary : Palette.surface), in: RoundedRectangle(cornerRadius: 10))
                                    .foregroundStyle(Color(argb: chosen ? Palette.onPrimary : Palette.text))
                            }
                            .tapTarget()
                            .accessibilityAddTraits(chosen ? .isSelected : [])
                            .accessibilitySortPriority(1)
                        }
                        if p.state.index > 0 { Button("Back") { p.back() }.tapTarget() }
                    } else {
                        Text("Review your answers").font(.title3).accessibilityAddTraits(.isHeader)
                        ForEach(Array(draft.items.enumerated()), id: \.offset) { i, item in
                            Button { p.goTo(index: i) } label: {
                                VStack(alignment: .leading) {
                                    Text(item.text)
                                    Text(answerText(draft, item)).foregroundStyle(Color(argb: Palette.textMuted))
                                }
                            }
                            .tapTarget()
                            .accessibilityHint("Change this answer")
                        }
                        if p.state.result != nil {
                            Text("Thank you. Your answers were saved.").font(.headline)
                        } else {
                            Button("Submit") { Task { await p.submit(); await Wakeups.shared.autoBackup?.maybeBackUp() } }.disabled(!p.state.canSubmit || p.state.busy).tapTarget()
                        }
                    }
                }
                ErrorBanner(error: presenter?.state.error)
            }
            .padding()
        }
        .navigationTitle(presenter?.state.draft?.title ?? "Check-in")
        .crisisAccess(store: store, formats: model.formats)
        .healthScreen()
        .sheet(isPresented: Binding(get: { presenter?.state.crisis != nil }, set: { if !$0 { presenter?.dismissCrisis() } })) {
            NavigationStack { CrisisView(store: store, formats: model.formats) }
        }
        .task {
            if presenter == nil {
                let p = CheckinPresenter(store: store)
                presenter = p
                await p.startForAgendaItem(itemId: agendaItemId)
            }
        }
    }

    private func answerText(_ d: CheckinDraft, _ item: CheckinItem) -> String {
        switch d.answers.first(where: { $0.linkId == item.linkId })?.value {
        case let .integer(v)?: return item.options.first { $0.value == v }?.text ?? "\(v)"
        case let .text(t)?: return t
        default: return "Not answered"
        }
    }
}
