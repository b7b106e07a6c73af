import Foundation

/// Dates and numbers in the patient's locale and zone (Android: java.text with the same styles).
public struct Formats: Sendable {
    public let locale: Locale
    public let zone: TimeZone

    public init(locale: Locale, zone: TimeZone) {
        self.locale = locale
        self.zone = zone
    }

    /// An unknown zone id falls back to UTC rather than failing a screen.
    public init(_ languageTag: String, _ zoneId: String) {
        self.init(locale: Locale(identifier: languageTag), zone: TimeZone(identifier: zoneId) ?? TimeZone(identifier: "UTC")!)
    }

    private func string(_ millis: Int64, date: DateFormatter.Style, time: DateFormatter.Style) -> String {
        let f = DateFormatter()
        f.locale = locale
        f.timeZone = zone
        f.dateStyle = date
        f.timeStyle = time
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    public func dateTime(_ millis: Int64) -> String { string(millis, date: .medium, time: .short) }
    public func date(_ millis: Int64) -> String { string(millis, date: .medium, time: .none) }
    public func shortDate(_ millis: Int64) -> String { string(millis, date: .short, time: .none) }
    public func time(_ millis: Int64) -> String { string(millis, date: .none, time: .short) }

    /// A score: whole numbers without decimals, prorated ones with one.
    public func score(_ value: Double) -> String {
        let f = NumberFormatter()
        f.locale = locale
        f.numberStyle = .decimal
        f.minimumFractionDigits = 0
        f.maximumFractionDigits = value.truncatingRemainder(dividingBy: 1) == 0 ? 0 : 1
        return f.string(from: NSNumber(value: value)) ?? String(value)
    }

    public func percent(_ fraction: Double) -> String {
        let f = NumberFormatter()
        f.locale = locale
        f.numberStyle = .percent
        return f.string(from: NSNumber(value: fraction)) ?? String(fraction)
    }
}

/// The app's colours (ARGB, the same values as Android's `Palette`). The views read them from
/// here so that the contrast test checks exactly what is drawn: every pair in `textPairs` must
/// reach 4.5:1 (WCAG AA).
public enum Palette {
    public static let background: UInt32 = 0xFFFF_FFFF
    public static let surface: UInt32 = 0xFFF3_F4F6
    public static let text: UInt32 = 0xFF1B_1C1F
    public static let textMuted: UInt32 = 0xFF4B_5060
    public static let primary: UInt32 = 0xFF1F_5C99
    public static let onPrimary: UInt32 = 0xFFFF_FFFF
    public static let crisis: UInt32 = 0xFFA4_161A
    public static let onCrisis: UInt32 = 0xFFFF_FFFF
    public static let bandMild: UInt32 = 0xFFE8_F1E4
    public static let bandModerate: UInt32 = 0xFFFB_F0D9
    public static let bandSevere: UInt32 = 0xFFF9_E0DE
    public static let chartLine: UInt32 = 0xFF1F_5C99

    /// (name, foreground, background) for every place text is drawn.
    public static let textPairs: [(name: String, foreground: UInt32, background: UInt32)] = [
        ("text on background", text, background),
        ("text on surface", text, surface),
        ("muted text on background", textMuted, background),
        ("muted text on surface", textMuted, surface),
        ("button text on primary", onPrimary, primary),
        ("crisis button text", onCrisis, crisis),
        ("primary text on background", primary, background),
        ("chart labels on mild band", text, bandMild),
        ("chart labels on moderate band", text, bandModerate),
        ("chart labels on severe band", text, bandSevere),
    ]

    /// WCAG 2.x contrast ratio of two opaque colours.
    public static func contrast(_ a: UInt32, _ b: UInt32) -> Double {
        let la = luminance(a), lb = luminance(b)
        return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
    }

    /// sRGB components 0...1, for SwiftUI's `Color(red:green:blue:)`.
    public static func rgb(_ argb: UInt32) -> (red: Double, green: Double, blue: Double) {
        (Double((argb >> 16) & 0xFF) / 255, Double((argb >> 8) & 0xFF) / 255, Double(argb & 0xFF) / 255)
    }

    private static func luminance(_ argb: UInt32) -> Double {
        func channel(_ c: Double) -> Double { c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4) }
        let (r, g, b) = rgb(argb)
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    }
}
