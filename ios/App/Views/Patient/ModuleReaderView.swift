import Collabzium
import CollabziumAppCore
import SwiftUI

/// A module's pages one at a time, then its exercises, then "done". The core checks answers.
struct ModuleReaderView: View {
    let store: PatientStore
    var moduleId: String?
    @State private var presenter: ModuleReaderPresenter?
    @State private var drafts: [String: [String: String]] = [:]
    @State private var ticks: [String: [String: Set<String>]] = [:]

    var body: some View {
        Form {
            if let p = presenter {
                let s = p.state
                if let r = s.reader {
                    Section {
                        Text(r.title).font(.title2.bold()).accessibilityAddTraits(.isHeader)
                        Text("Module \(r.position) of \(r.modulesTotal) · exercises done: \(r.exercisesDone) of \(r.exercises.count)")
                            .font(.footnote)
                    }
                    if let page = s.currentPage {
                        Section("Page \(s.page + 1) of \(s.pagesTotal)") {
                            Text(page.title).font(.headline).accessibilityAddTraits(.isHeader)
                            Text((try? AttributedString(markdown: page.body, options: .init(interpretedSyntax: .inlineOnlyPreservingWhitespace))) ?? AttributedString(page.body))
                        }
                    } else {
                        ForEach(r.exercises, id: \.id) { ex in exercise(ex, p) }
                        Section {
                            if s.done {
                                Text("This module is done.")
                            } else {
                                Button("I have finished this module") { Task { await p.finish() } }.tapTarget()
                            }
                        }
                    }
                    if s.saved != nil { Text("Saved.") }
                    ErrorBanner(error: s.error)
                    Section {
                        HStack {
                            if s.page > 0 { Button("Back") { p.previousPage() }.tapTarget() }
                            Spacer()
                            if !s.onExercises { Button("Next") { p.nextPage() }.tapTarget() }
                        }
                    }
                } else {
                    ErrorBanner(error: s.error)
                }
            }
        }
        .navigationTitle("Module")
        .task {
            if presenter == nil { presenter = ModuleReaderPresenter(store: store) }
            await presenter?.open(moduleId: moduleId)
        }
    }

    @ViewBuilder
    private func exercise(_ ex: ReaderExercise, _ p: ModuleReaderPresenter) -> some View {
        Section(ex.title) {
            Text(ex.instructions)
            ForEach(ex.fields, id: \.id) { f in
                switch f.kind {
                case "choice", "checkbox":
                    Text(f.label + (f.required ? " *" : ""))
                    ForEach(f.options, id: \.value) { o in
                        Toggle(o.label, isOn: Binding(
                            get: { ticks[ex.id]?[f.id]?.contains(o.value) ?? Self.saved(ex, f.id).contains(o.value) },
                            set: { on in
                                var set = ticks[ex.id]?[f.id] ?? Self.saved(ex, f.id)
                                if f.kind == "choice" { set = [] }
                                if on { set.insert(o.value) } else { set.remove(o.value) }
                                ticks[ex.id, default: [:]][f.id] = set
                            }))
                        .tapTarget()
                        .accessibilityLabel("\(f.label): \(o.label)")
                    }
                default:
                    TextField(f.label + (f.required ? " *" : ""), text: Binding(
                        get: { drafts[ex.id]?[f.id] ?? Self.savedText(ex, f.id) },
                        set: { drafts[ex.id, default: [:]][f.id] = $0 }))
                    .keyboardType(f.kind == "number" ? .numberPad : .default)
                    .accessibilityLabel(f.label)
                }
            }
            Button("Save: \(ex.title)") { Task { await p.saveExercise(exerciseId: ex.id, answers: answers(ex)) } }.tapTarget()
        }
    }

    /// What the patient entered, as the core's values; the core decides what is valid.
    private func answers(_ ex: ReaderExercise) -> [String: ExerciseValue] {
        var out: [String: ExerciseValue] = [:]
        for f in ex.fields {
            switch f.kind {
            case "choice", "checkbox":
                let set = ticks[ex.id]?[f.id] ?? Self.saved(ex, f.id)
                if !set.isEmpty || f.kind == "checkbox" {
                    out[f.id] = .choices(values: f.options.map(\.value).filter(set.contains))
                }
            default:
                let t = drafts[ex.id]?[f.id] ?? Self.savedText(ex, f.id)
                if t.isEmpty { continue }
                if f.kind == "number", let n = Int64(t.trimmingCharacters(in: .whitespaces)) {
                    out[f.id] = .number(value: n)
                } else {
                    out[f.id] = .text(value: t)
                }
            }
        }
        return out
    }

    private static func saved(_ ex: ReaderExercise, _ field: String) -> Set<String> {
        if case let .choices(values)? = ex.answers[field] { return Set(values) }
        return []
    }

    private static func savedText(_ ex: ReaderExercise, _ field: String) -> String {
        switch ex.answers[field] {
        case let .text(value)?: return value
        case let .number(value)?: return String(value)
        default: return ""
        }
    }
}
