import Charts
import Collabzium
import CollabziumAppCore
import SwiftUI

/// Symptom charts with Swift Charts, from the core's one `progressScreen` call: the instrument's
/// severity bands shaded behind each line, each point tinted by the band the core assigned, and
/// the alliance subscales over time. The app computes no band itself.
struct ProgressScreen: View {
    let store: PatientStore
    let formats: Formats
    @State private var presenter: ProgressPresenter?

    var body: some View {
        List {
            if let s = presenter?.state {
                if s.series.isEmpty { Text("Your check-ins will show here.") }
                ForEach(s.series, id: \.instrument) { series in
                    Section(series.title) {
                        Chart {
                            // The instrument's severity bands behind the line, as the core sent them.
                            ForEach(series.bands, id: \.id) { b in
                                RectangleMark(yStart: .value("From", b.min), yEnd: .value("To", b.max))
                                    .foregroundStyle(Self.band(b.id).opacity(0.35))
                            }
                            ForEach(series.points, id: \.atMillis) { p in
                                LineMark(x: .value("Date", Date(timeIntervalSince1970: Double(p.atMillis) / 1000)), y: .value("Score", p.value))
                                    .foregroundStyle(Color(argb: Palette.chartLine))
                                PointMark(x: .value("Date", Date(timeIntervalSince1970: Double(p.atMillis) / 1000)), y: .value("Score", p.value))
                                    .foregroundStyle(Self.band(p.severity))
                            }
                        }
                        .chartYScale(domain: series.min...max(series.max, series.min + 1))
                        .frame(minHeight: 200)
                        .accessibilityElement(children: .ignore)
                        .accessibilityLabel("\(series.title) scores")
                        .accessibilityValue(series.points.map { "\($0.dateText): \(formats.score($0.value))" + ($0.severity.map { " (\($0))" } ?? "") }.joined(separator: "; "))
                        Text(series.higherIsBetter ? "Higher is better." : "Lower is better.").font(.footnote)
                        ForEach(series.bands, id: \.id) { b in
                            Text("\(b.label): \(formats.score(b.min)) to \(formats.score(b.max))").font(.footnote)
                        }
                        if let change = series.changeText { Text("Latest change: \(change)") }
                    }
                }
                if !s.alliance.isEmpty {
                    Section("How the work together feels") {
                        Chart {
                            ForEach(Self.allianceMarks(s.alliance), id: \.id) { m in
                                LineMark(x: .value("Date", m.date), y: .value("Agreement", m.value))
                                    .foregroundStyle(by: .value("Subscale", m.subscale))
                                    .symbol(by: .value("Subscale", m.subscale))
                            }
                        }
                        .frame(minHeight: 200)
                        .accessibilityElement(children: .ignore)
                        .accessibilityLabel("Goals, tasks and bond")
                        .accessibilityValue(s.alliance.map { a in
                            "\(a.dateText): goals \(a.goals.map(formats.score) ?? "-"), tasks \(a.tasks.map(formats.score) ?? "-"), bond \(a.bond.map(formats.score) ?? "-")"
                        }.joined(separator: "; "))
                        Text("Three lines: agreeing on goals, on tasks, and the bond with your therapist.").font(.footnote)
                    }
                }
                ErrorBanner(error: s.error)
            }
        }
        .navigationTitle("Progress")
        .task {
            if presenter == nil { presenter = ProgressPresenter(store: store, formats: formats) }
            await presenter?.refresh()
        }
    }

    struct AllianceMark {
        let id: String
        let date: Date
        let subscale: String
        let value: Double
    }

    /// One mark per subscale and check-in, for Swift Charts' series grouping.
    static func allianceMarks(_ rows: [AllianceRow]) -> [AllianceMark] {
        rows.flatMap { a -> [AllianceMark] in
            let date = Date(timeIntervalSince1970: Double(a.atMillis) / 1000)
            return [("Goals", a.goals), ("Tasks", a.tasks), ("Bond", a.bond)].compactMap { name, v in
                v.map { AllianceMark(id: "\(a.atMillis)-\(name)", date: date, subscale: name, value: $0) }
            }
        }
    }

    /// As Android's chart: the band's name decides the tint, no thresholds here.
    static func band(_ severity: String?) -> Color {
        guard let severity = severity?.lowercased() else { return Color(argb: Palette.chartLine) }
        if severity.contains("severe") { return Color(argb: Palette.bandSevere) }
        if severity.contains("moderate") { return Color(argb: Palette.bandModerate) }
        return Color(argb: Palette.bandMild)
    }
}
