import Charts
import Collabzium
import CollabziumAppCore
import SwiftUI

/// Symptom charts with Swift Charts, from the core's series. Each point is tinted by the
/// severity band the core assigned; the app computes no band itself.
struct ProgressScreen: View {
    let store: PatientStore
    let formats: Formats
    @State private var presenter: ProgressPresenter?

    var body: some View {
        List {
            if let s = presenter?.state {
                if s.series.isEmpty { Text("Your check-ins will show here.") }
                ForEach(s.series, id: \.instrument) { series in
                    Section(series.instrument.uppercased()) {
                        Chart(series.points, id: \.atMillis) { p in
                            LineMark(x: .value("Date", Date(timeIntervalSince1970: Double(p.atMillis) / 1000)), y: .value("Score", p.value))
                                .foregroundStyle(Color(argb: Palette.chartLine))
                            PointMark(x: .value("Date", Date(timeIntervalSince1970: Double(p.atMillis) / 1000)), y: .value("Score", p.value))
                                .foregroundStyle(Self.band(p.severity))
                        }
                        .frame(minHeight: 200)
                        .accessibilityElement(children: .ignore)
                        .accessibilityLabel("\(series.instrument) scores")
                        .accessibilityValue(series.points.map { "\($0.dateText): \(formats.score($0.value))" }.joined(separator: "; "))
                        Text(series.higherIsBetter ? "Higher is better." : "Lower is better.").font(.footnote)
                        if let change = series.changeText { Text("Latest change: \(change)") }
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

    /// As Android's chart: the band's name decides the tint, no thresholds here.
    static func band(_ severity: String?) -> Color {
        guard let severity = severity?.lowercased() else { return Color(argb: Palette.chartLine) }
        if severity.contains("severe") { return Color(argb: Palette.bandSevere) }
        if severity.contains("moderate") { return Color(argb: Palette.bandModerate) }
        return Color(argb: Palette.bandMild)
    }
}
