import Collabzium
import CollabziumAppCore
import SwiftUI

/// The thread, each message's delivery state, and when to expect a reply.
struct MessagesView: View {
    @Environment(AppModel.self) private var model
    let store: PatientStore
    let formats: Formats
    @State private var presenter: MessagesPresenter?
    @State private var draft = ""

    var body: some View {
        VStack(spacing: 0) {
            List {
                if let s = presenter?.state {
                    if let available = s.availableNow {
                        Section {
                            Text(available ? "Your therapist is available now." : "Your therapist is away\(s.nextAvailableText.map { " until \($0)" } ?? "").")
                            if let by = s.expectReplyByText { Text("Expect a reply by \(by).").foregroundStyle(Color(argb: Palette.textMuted)) }
                        }
                    }
                    ForEach(s.messages, id: \.id) { m in
                        VStack(alignment: m.fromMe ? .trailing : .leading, spacing: 4) {
                            Text(m.text).padding(10)
                                .background(Color(argb: m.fromMe ? Palette.surface : Palette.background), in: RoundedRectangle(cornerRadius: 10))
                            HStack {
                                Text(m.atText)
                                if let d = m.delivery { Text(d.label) }
                            }
                            .font(.caption).foregroundStyle(Color(argb: Palette.textMuted))
                        }
                        .frame(maxWidth: .infinity, alignment: m.fromMe ? .trailing : .leading)
                        .accessibilityElement(children: .combine)
                        .accessibilityLabel("\(m.fromMe ? "You" : "Therapist"): \(m.text), \(m.atText), \(m.delivery?.label ?? "")")
                    }
                    ErrorBanner(error: s.error)
                }
            }
            HStack {
                TextField("Message", text: $draft, axis: .vertical).textFieldStyle(.roundedBorder)
                Button("Send") {
                    let text = draft
                    draft = ""
                    Task {
                        await presenter?.send(text)
                        await SyncPresenter(store: store, transport: model.transport).syncNow()
                        await presenter?.refresh()
                    }
                }
                .disabled(draft.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
                .tapTarget()
            }
            .padding()
        }
        .navigationTitle("Messages")
        .sheet(isPresented: Binding(get: { presenter?.state.crisis != nil }, set: { if !$0 { presenter?.dismissCrisis() } })) {
            NavigationStack { CrisisView(store: store, formats: formats) }
        }
        .refreshable { await presenter?.refresh() }
        .task {
            if presenter == nil { presenter = MessagesPresenter(store: store, formats: formats) }
            await presenter?.refresh()
        }
    }
}
