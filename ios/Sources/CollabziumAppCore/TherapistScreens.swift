// Therapist mode: invite, caseload, one patient. The same app, chosen at set-up.
// Names and states mirror android/app-logic/.../TherapistScreens.kt.
import Collabzium
import Foundation
import Observation

public struct InviteState: Sendable {
    public var code: String?
    /// The QR payload (holds the secret: never logged, never in an accessibility label).
    public var qrPayload: String?
    /// The payload's QR modules from the core, for the view to draw; the code is shown beside it.
    public var qr: QrMatrix?
    public var expiresText: String?
    public var paired: PairingResult?
    public var busy = false
    public var error: ScreenError?
    public init() {}
}

/// Creates an invitation and polls it until the patient joined.
@MainActor @Observable
public final class InvitePresenter: StateHolder {
    public private(set) var state = InviteState()
    private let store: PatientStore
    private let transport: HttpTransport
    private let relayUrl: String
    private let formats: Formats
    private var invitation: PairingInvitation?

    public init(store: PatientStore, transport: HttpTransport, relayUrl: String, formats: Formats) {
        self.store = store
        self.transport = transport
        self.relayUrl = relayUrl
        self.formats = formats
    }

    public func create(label: String?) async {
        state = InviteState()
        state.busy = true
        let (store, transport, relayUrl) = (self.store, self.transport, self.relayUrl)
        let out = await core { () throws -> (PairingInvitation, InvitationView, QrMatrix) in
            let inv = try store.therapistInvite(transport: transport, relayUrl: relayUrl, label: label)
            let view = try inv.view()
            return (inv, view, try inviteQr(code: view.qrPayload))
        }
        var s = InviteState()
        switch out {
        case let .success((inv, view, qr)):
            invitation = inv
            s.code = view.code
            s.qrPayload = view.qrPayload
            s.qr = qr
            s.expiresText = formats.dateTime(view.expiresAtMillis)
        case let .failure(e):
            s.error = e
        }
        state = s
    }

    /// Polls every `intervalMillis` until paired or `attempts` ran out; the code stays on screen meanwhile.
    public func awaitPaired(attempts: Int = 600, intervalMillis: UInt64 = 1500) async -> PairingResult? {
        guard let inv = invitation else { return nil }
        for _ in 0..<attempts {
            switch await core({ try inv.poll() }) {
            case let .success(r?):
                state.paired = r
                state.error = nil
                return r
            case .success(nil):
                break
            case let .failure(e):
                state.error = e
            }
            try? await Task.sleep(nanoseconds: intervalMillis * 1_000_000)
        }
        return nil
    }

    public func close() { invitation = nil }
}

public struct CaseloadRow: Equatable, Sendable {
    public let channelId: String
    public let label: String?
    public let priority: CaseloadPriority
    /// Reasons, most important first, each with its evidence formatted.
    public let reasons: [Reason]
    public let headlineText: String?
    public let week: UInt32
    public let lastActivityText: String?
    /// "active", "left" (the patient erased or unpaired) or "ended" (this therapist ended it).
    public let status: String
    public let statusSinceText: String?

    public struct Reason: Equatable, Sendable {
        public let reason: String
        public let evidence: [String]
    }
}

public struct CaseloadState: Sendable {
    public var rows: [CaseloadRow] = []
    public var error: ScreenError?
    public init(rows: [CaseloadRow] = [], error: ScreenError? = nil) {
        self.rows = rows
        self.error = error
    }
}

/// Tiers and reasons, ordered by the core: one `caseload()` call.
@MainActor @Observable
public final class CaseloadPresenter: StateHolder {
    public private(set) var state = CaseloadState()
    private let store: PatientStore
    private let formats: Formats

    public init(store: PatientStore, formats: Formats) {
        self.store = store
        self.formats = formats
    }

    public func refresh() async {
        let store = self.store
        switch await core({ try store.caseload() }) {
        case let .success(entries):
            state = CaseloadState(rows: entries.map { e in
                CaseloadRow(
                    channelId: e.channelId, label: e.label, priority: e.priority,
                    reasons: e.reasons.map { f in
                        CaseloadRow.Reason(reason: f.reason, evidence: f.evidence.map { ev in
                            [ev.label, ev.value.map(formats.score), ev.atMillis.map(formats.date)].compactMap { $0 }.joined(separator: " · ")
                        })
                    },
                    headlineText: e.headline.map { h in
                        "\(h.displayName) \(formats.score(h.total))" + (h.severityLabel.map { " (\($0))" } ?? "")
                    },
                    week: e.week,
                    lastActivityText: e.lastActivityMillis.map(formats.dateTime),
                    status: e.status,
                    statusSinceText: e.statusSinceMillis.map(formats.date)
                )
            })
        case let .failure(e):
            state.error = e
        }
    }
}

public struct PatientAlertRow: Equatable, Sendable {
    public let alertId: String
    public let receivedText: String
}

public struct PatientDetailState: Sendable {
    public var timeline: PatientTimeline?
    public var alerts: [PatientAlertRow] = []
    public var messages: [MessageRow] = []
    /// The therapist's alliance rating form (from the core's instrument), once loaded.
    public var ratingForm: [CheckinItem] = []
    public var busy = false
    public var done: String?
    public var error: ScreenError?
    public init() {}
}

/// One patient: timeline charts, alerts with acknowledgement, the thread, the therapist's alliance
/// rating, assigning a program, approving a module.
@MainActor @Observable
public final class PatientDetailPresenter: StateHolder {
    public private(set) var state = PatientDetailState()
    private let store: PatientStore
    private let channelId: String
    private let formats: Formats

    public init(store: PatientStore, channelId: String, formats: Formats) {
        self.store = store
        self.channelId = channelId
        self.formats = formats
    }

    public func refresh() async {
        let (store, channelId) = (self.store, self.channelId)
        let out = await core {
            (try store.patientTimeline(channelId: channelId), try store.inbox(kinds: ["safety_alert"]),
             try store.messageThread(channelId: channelId))
        }
        switch out {
        case let .success((timeline, alerts, thread)):
            state.timeline = timeline
            state.alerts = alerts.filter { $0.channelId == channelId }.compactMap { a in
                Self.alertId(a.bodyJson).map { PatientAlertRow(alertId: $0, receivedText: formats.dateTime(a.receivedAtMillis)) }
            }
            state.messages = thread.map {
                MessageRow(id: $0.id, fromMe: $0.fromMe, text: $0.text, atText: formats.dateTime($0.atMillis), delivery: $0.delivery)
            }
            state.error = nil
        case let .failure(e):
            state.error = e
        }
    }

    /// `action`: phone, message, safety_plan, referred or other; the note stays on this device.
    public func acknowledge(alertId: String, action: String, note: String?) async {
        let (store, channelId) = (self.store, self.channelId)
        await act("acknowledged") { try store.acknowledgePatientAlert(channelId: channelId, alertId: alertId, action: action, note: note) }
    }

    public func approveModule(_ moduleId: String) async {
        let (store, channelId) = (self.store, self.channelId)
        await act("approved") { try store.approveModule(channelId: channelId, moduleId: moduleId) }
    }

    public func assignProgram(programJson: String, startDate: String) async {
        let (store, channelId) = (self.store, self.channelId)
        await act("assigned") { try store.assignProgram(channelId: channelId, programJson: programJson, startDate: startDate) }
    }

    public func rateAlliance(answersJson: String) async {
        let (store, channelId) = (self.store, self.channelId)
        await act("rated") { _ = try store.rateAlliance(channelId: channelId, answersJson: answersJson) }
    }

    /// The rating form's items and options; static, so loaded once when the section opens.
    public func loadRatingForm() async {
        let store = self.store
        switch await core({ try store.allianceRatingForm() }) {
        case let .success(items): state.ratingForm = items
        case let .failure(e): state.error = e
        }
    }

    /// Rates from the form: link id to the chosen option's value (the core checks them).
    public func rateAlliance(answers: [String: Int64]) async {
        guard let data = try? JSONSerialization.data(withJSONObject: answers, options: [.sortedKeys]) else { return }
        await rateAlliance(answersJson: String(decoding: data, as: UTF8.self))
    }

    public func reply(_ text: String) async {
        let (store, channelId) = (self.store, self.channelId)
        await act("sent") { _ = try store.sendMessage(channelId: channelId, text: text) }
    }

    private func act(_ done: String, _ body: @escaping @Sendable () throws -> Void) async {
        state.busy = true
        state.error = nil
        state.done = nil
        switch await core(body) {
        case .success:
            await refresh()
            state.busy = false
            state.done = done
        case let .failure(e):
            state.busy = false
            state.error = e
        }
    }

    /// The inbox carries the event as JSON; only its alert id is read here.
    static func alertId(_ bodyJson: String) -> String? {
        guard let data = bodyJson.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["alert_id"] as? String
    }
}

public struct AvailabilityState: Sendable {
    public var saved = false
    public var error: ScreenError?
    public init(saved: Bool = false, error: ScreenError? = nil) {
        self.saved = saved
        self.error = error
    }
}

/// Availability hours and the alert policy, sent to patients at the next sync.
@MainActor @Observable
public final class AvailabilityPresenter: StateHolder {
    public private(set) var state = AvailabilityState()
    private let store: PatientStore

    public init(store: PatientStore) { self.store = store }

    public func save(_ settings: AvailabilitySettings) async {
        let store = self.store
        switch await core({ try store.setAvailability(settings: settings, channelId: nil) }) {
        case .success: state = AvailabilityState(saved: true)
        case let .failure(e): state = AvailabilityState(error: e)
        }
    }
}
