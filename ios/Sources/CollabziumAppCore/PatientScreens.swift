// The patient's screens. Each refresh is one core call; nothing here decides a clinical rule.
// Names and states mirror android/app-logic/.../PatientScreens.kt one to one.
import Collabzium
import Foundation
import Observation

// MARK: - onboarding and unlock

public enum OnboardingStep: Int, CaseIterable, Sendable {
    case about, consent, country, unlock
}

public struct OnboardingState: Sendable {
    public var step: OnboardingStep = .about
    public var consentGiven = false
    /// ISO 3166-1 alpha-2, for the crisis resources.
    public var country: String?
    public var busy = false
    public var error: ScreenError?
    public var store: PatientStore?
    public init() {}
}

/// What the app does and does not do (not an emergency service), consent, country, then a
/// passphrase or the device key. `finish` creates the encrypted store.
@MainActor @Observable
public final class OnboardingPresenter: StateHolder {
    public private(set) var state = OnboardingState()
    private let storePath: String
    private let keys: KeySource

    public nonisolated static let consentScope = "treatment"
    public nonisolated static let consentTextVersion = "ios-1"

    public init(storePath: String, keys: KeySource) {
        self.storePath = storePath
        self.keys = keys
    }

    public func next() {
        let allowed: Bool
        switch state.step {
        case .consent: allowed = state.consentGiven
        case .country: allowed = state.country != nil
        default: allowed = true
        }
        if allowed, let next = OnboardingStep(rawValue: state.step.rawValue + 1) {
            state.step = next
            state.error = nil
        }
    }

    public func back() {
        if let previous = OnboardingStep(rawValue: state.step.rawValue - 1) { state.step = previous }
    }

    public func setConsent(_ given: Bool) { state.consentGiven = given }

    public func chooseCountry(_ iso: String) { state.country = iso.uppercased() }

    /// Creates the store (a passphrase, or the device key when `passphrase` is nil).
    public func finish(displayName: String, timeZone: String, locale: String, mode: TreatmentMode,
                       passphrase: String?) async -> PatientStore? {
        guard state.consentGiven else {
            state.error = .invalid(field: "consent")
            return nil
        }
        state.busy = true
        state.error = nil
        let (path, keys, country) = (storePath, self.keys, state.country)
        let out = await core { () throws -> PatientStore in
            let provider = try passphrase.map { keys.passphrase($0) } ?? keys.deviceKey()
            let store = try PatientStore.create(path: path, keyProvider: provider)
            do {
                try store.setProfile(profile: Profile(displayName: displayName, timeZone: timeZone, locale: locale,
                                                      mode: mode, country: country))
                _ = try store.grantConsent(scope: Self.consentScope, textVersion: Self.consentTextVersion)
            } catch {
                store.closeStore()
                throw error
            }
            return store
        }
        state.busy = false
        switch out {
        case let .success(store):
            state.store = store
            return store
        case let .failure(e):
            state.error = e
            return nil
        }
    }
}

public struct UnlockState: Sendable {
    public var busy = false
    public var error: ScreenError?
    public var store: PatientStore?
    public init(busy: Bool = false, error: ScreenError? = nil, store: PatientStore? = nil) {
        self.busy = busy
        self.error = error
        self.store = store
    }
}

/// Opens the store. A wrong passphrase is a state to show, never a reason to touch the file.
@MainActor @Observable
public final class UnlockPresenter: StateHolder {
    public private(set) var state = UnlockState()
    private let storePath: String
    private let keys: KeySource

    public init(storePath: String, keys: KeySource) {
        self.storePath = storePath
        self.keys = keys
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: storePath) }

    public func unlock(passphrase: String?) async -> PatientStore? {
        state = UnlockState(busy: true)
        let (path, keys) = (storePath, self.keys)
        let out = await core {
            try PatientStore.open(path: path, keyProvider: try passphrase.map { keys.passphrase($0) } ?? keys.deviceKey())
        }
        switch out {
        case let .success(store):
            state = UnlockState(store: store)
            return store
        case let .failure(e):
            state = UnlockState(error: e)
            return nil
        }
    }
}

// MARK: - join a therapist

public struct JoinState: Sendable {
    public var code = ""
    public var shareHistory = false
    /// Risk answers were made before pairing: ask whether to share them before joining.
    public var askShareAlerts = false
    public var busy = false
    public var result: PairingResult?
    public var error: ScreenError?
    public init() {}
}

/// Type the code (the QR payload is the same text), compare the safety number, choose what to share.
@MainActor @Observable
public final class JoinPresenter: StateHolder {
    public private(set) var state = JoinState()
    private let store: PatientStore
    private let transport: HttpTransport
    private let relayUrl: String?

    public init(store: PatientStore, transport: HttpTransport, relayUrl: String?) {
        self.store = store
        self.transport = transport
        self.relayUrl = relayUrl
    }

    public func setCode(_ code: String) {
        state.code = code.trimmingCharacters(in: .whitespacesAndNewlines)
        state.error = nil
    }

    public func setShareHistory(_ share: Bool) { state.shareHistory = share }

    /// A grayscale camera frame (`width` x `height` bytes, row by row): the core reads the QR code
    /// and the invitation fills the code field. No code in the frame is `.notFound`; a QR code
    /// that is not an invitation is `.pairing`.
    public func scanImage(width: Int, height: Int, luma: Data) async {
        guard let w = UInt32(exactly: width), let h = UInt32(exactly: height), w > 0, h > 0 else {
            state.error = .invalid(field: "image")
            return
        }
        switch await core({ try decodeQrLuma(width: w, height: h, luma: luma) }) {
        case let .success(text):
            state.code = text
            state.error = nil
        case let .failure(e):
            state.error = e
        }
    }

    /// `shareAlerts` is the answer to `JoinState.askShareAlerts`; nil until asked.
    public func join(shareAlerts: Bool? = nil) async {
        let s = state
        state.busy = true
        state.error = nil
        let store = self.store
        if shareAlerts == nil {
            if case let .success(unsent) = await core({ try store.unsentSafetyAlerts() }), unsent > 0 {
                state = s
                state.askShareAlerts = true
                return
            }
        }
        let (transport, relayUrl) = (self.transport, self.relayUrl)
        let out = await core {
            try store.patientJoin(transport: transport, relayUrl: relayUrl, code: s.code, shareHistory: s.shareHistory,
                                  shareAlerts: shareAlerts)
        }
        state = s
        switch out {
        case let .success(r):
            state.askShareAlerts = false
            state.result = r
        case let .failure(e):
            state.error = e
        }
    }

    /// Once the therapist's device finished: the safety number to compare, from the channel.
    public func refresh() async {
        guard let r = state.result else { return }
        let store = self.store
        if case let .success(c?) = await core({ try store.channels().first { $0.channelId == r.channelId } }) {
            state.result = PairingResult(channelId: c.channelId, status: c.status, safetyNumber: c.safetyNumber)
        }
    }
}

// MARK: - today

public struct AgendaRow: Equatable, Sendable {
    public let id: String
    public let title: String
    public let kind: AgendaItemKind
    public let state: AgendaItemState
    /// The most relevant instant for its state (due, opens or completed), formatted.
    public let whenText: String?
    public let waitingForTherapist: Bool
    public let instrument: String?
}

public struct TodayState: Sendable {
    public var loading = true
    public var programTitle: String?
    /// Ordered sections (overdue, due_today, open_now, waiting_for_therapist,
    /// upcoming_this_week); empty ones are left out.
    public var sections: [(key: String, rows: [AgendaRow])] = []
    public var nextUnlock: NextUnlock?
    public var nextUnlockText: String?
    public var weekText: (current: UInt32, total: UInt32)?
    public var notEnrolled = false
    public var error: ScreenError?
    public init() {}

    public func section(_ key: String) -> [AgendaRow] { sections.first { $0.key == key }?.rows ?? [] }
    public var allRows: [AgendaRow] { sections.flatMap(\.rows) }
}

/// Today's agenda with its states and the next unlock: one `agenda()` call.
@MainActor @Observable
public final class TodayPresenter: StateHolder {
    public private(set) var state = TodayState()
    private let schedule: PatientSchedule
    private let formats: Formats

    public init(schedule: PatientSchedule, formats: Formats) {
        self.schedule = schedule
        self.formats = formats
    }

    public func refresh(atMillis: Int64? = nil) async {
        let schedule = self.schedule
        apply(await core { try schedule.agenda(atMillis: atMillis) })
    }

    public func complete(itemId: String, atMillis: Int64? = nil) async {
        let schedule = self.schedule
        apply(await core { try schedule.completeItem(itemId: itemId, atMillis: atMillis).agenda })
    }

    private func apply(_ out: Outcome<AgendaView>) {
        switch out {
        case let .success(a): state = render(a)
        // No program yet is a state of its own (the therapist assigns one, or the patient picks one).
        case .failure(.notFound):
            state = TodayState()
            state.loading = false
            state.notEnrolled = true
        case let .failure(e):
            state.loading = false
            state.error = e
        }
    }

    private func row(_ i: AgendaItem) -> AgendaRow {
        let at: Int64?
        switch i.state {
        case .completed: at = i.completedAtMillis
        case .upcoming, .locked: at = i.opensAtMillis
        default: at = i.dueAtMillis ?? i.closesAtMillis
        }
        return AgendaRow(id: i.id, title: i.title, kind: i.kind, state: i.state, whenText: at.map(formats.dateTime),
                         waitingForTherapist: i.waitingForTherapist, instrument: i.instrument)
    }

    private func render(_ a: AgendaView) -> TodayState {
        var s = TodayState()
        s.loading = false
        s.programTitle = a.programTitle
        s.sections = [
            ("overdue", a.overdue), ("due_today", a.dueToday), ("open_now", a.openNow),
            ("waiting_for_therapist", a.waitingForTherapist), ("upcoming_this_week", a.upcomingThisWeek),
        ].filter { !$0.1.isEmpty }.map { (key: $0.0, rows: $0.1.map(row)) }
        s.nextUnlock = a.nextUnlock
        s.nextUnlockText = a.nextUnlock.map { formats.dateTime($0.atMillis) }
        s.weekText = (a.progress.currentWeek, a.progress.weeksTotal)
        return s
    }
}

// MARK: - check-in

public struct CheckinState: Sendable {
    public var draft: CheckinDraft?
    /// The question on screen; equals the item count on the review page.
    public var index = 0
    public var busy = false
    public var result: CheckinResult?
    /// Set as soon as a risk answer is saved: the view shows the crisis screen at once.
    public var crisis: SafetyAction?
    public var error: ScreenError?
    public init() {}

    public var reviewing: Bool { draft.map { index >= $0.items.count } ?? false }
    public var current: CheckinItem? {
        guard let d = draft, d.items.indices.contains(index) else { return nil }
        return d.items[index]
    }
    public var currentAnswer: CheckinAnswerValue? {
        guard let item = current else { return nil }
        return draft?.answers.first { $0.linkId == item.linkId }?.value
    }
    public var canSubmit: Bool { draft.map { $0.missingRequired.isEmpty } == true && result == nil }
}

/// One question per screen: answer, back and change, review, submit. Answers are saved as given.
@MainActor @Observable
public final class CheckinPresenter: StateHolder {
    public private(set) var state = CheckinState()
    private let store: PatientStore

    public init(store: PatientStore) { self.store = store }

    public func start(instrumentId: String) async {
        let store = self.store
        load(await core { try store.startCheckin(instrumentId: instrumentId, agendaItemId: nil) })
    }

    public func startForAgendaItem(itemId: String) async {
        let store = self.store
        load(await core { try store.startCheckinForAgendaItem(agendaItemId: itemId) })
    }

    private func load(_ out: Outcome<CheckinDraft>) {
        var s = CheckinState()
        switch out {
        case let .success(d):
            s.draft = d
            s.crisis = d.safety
        case let .failure(e):
            s.error = e
        }
        state = s
    }

    /// Saves the answer to the question on screen and moves on.
    public func answer(_ value: CheckinAnswerValue) async {
        let s = state
        guard let draft = s.draft, let item = s.current else { return }
        state.busy = true
        state.error = nil
        let store = self.store
        let out = await core {
            try store.answerCheckin(checkinId: draft.checkinId, answers: [CheckinAnswer(linkId: item.linkId, value: value)])
        }
        state = s
        switch out {
        case let .success(d):
            state.draft = d
            state.index = s.index + 1
            state.crisis = d.safety ?? s.crisis
        case let .failure(e):
            state.error = e
        }
    }

    public func back() {
        if state.index > 0 { state.index -= 1 }
    }

    /// From the review page: change one answer.
    public func goTo(index: Int) {
        if let d = state.draft, d.items.indices.contains(index) { state.index = index }
    }

    public func dismissCrisis() { state.crisis = nil }

    public func submit() async {
        let s = state
        guard let draft = s.draft else { return }
        state.busy = true
        state.error = nil
        let store = self.store
        let out = await core { try store.submitCheckin(checkinId: draft.checkinId) }
        state = s
        switch out {
        case let .success(r):
            state.result = r
            state.crisis = r.safety ?? s.crisis
        case let .failure(e):
            state.error = e
        }
    }
}

// MARK: - crisis

public struct CrisisResourceRow: Equatable, Sendable {
    public let name: String
    public let description: String
    /// `tel:` and `sms:` URLs for tap-to-call; digits and "+" only.
    public let dialUri: String?
    public let smsUri: String?
    public let url: String?
}

public struct CrisisState: Sendable {
    public var resources: [CrisisResourceRow] = []
    public var message: String?
    public var alertState: AlertState?
    public var nextAvailableText: String?
    public var error: ScreenError?
    public init() {}
}

/// Resources first (tap to call), then who has been told: one `crisisScreen()` call.
@MainActor @Observable
public final class CrisisPresenter: StateHolder {
    public private(set) var state = CrisisState()
    private let store: PatientStore
    private let formats: Formats

    public init(store: PatientStore, formats: Formats) {
        self.store = store
        self.formats = formats
    }

    public func refresh() async {
        let store = self.store
        switch await core({ try store.crisisScreen() }) {
        case let .success(a): state = render(a)
        case let .failure(e): state.error = e
        }
    }

    public func render(_ a: SafetyAction) -> CrisisState {
        func digits(_ p: String) -> String { p.filter { $0.isNumber || $0 == "+" } }
        var s = CrisisState()
        s.resources = a.resources.map {
            CrisisResourceRow(name: $0.name, description: $0.description,
                              dialUri: $0.phone.map { "tel:" + digits($0) },
                              smsUri: $0.sms.map { "sms:" + digits($0) }, url: $0.url)
        }
        s.message = a.message
        s.alertState = a.alertState
        s.nextAvailableText = a.therapistNextAvailableMillis.map(formats.dateTime)
        return s
    }
}

// MARK: - messages

public struct MessageRow: Equatable, Sendable {
    public let id: String
    public let fromMe: Bool
    public let text: String
    public let atText: String
    public let delivery: Delivery?
}

public struct MessagesState: Sendable {
    public var messages: [MessageRow] = []
    public var availableNow: Bool?
    public var nextAvailableText: String?
    public var expectReplyByText: String?
    public var crisis: SafetyAction?
    public var error: ScreenError?
    public init() {}
}

/// The thread with each message's delivery state, and when to expect a reply.
@MainActor @Observable
public final class MessagesPresenter: StateHolder {
    public private(set) var state = MessagesState()
    private let store: PatientStore
    private let formats: Formats
    private let channelId: String?

    public init(store: PatientStore, formats: Formats, channelId: String? = nil) {
        self.store = store
        self.formats = formats
        self.channelId = channelId
    }

    public func refresh() async {
        let (store, channelId) = (self.store, self.channelId)
        let out = await core { (try store.messageThread(channelId: channelId), try store.replyExpectation(channelId: channelId)) }
        switch out {
        case let .success((thread, expect)):
            state.messages = thread.map {
                MessageRow(id: $0.id, fromMe: $0.fromMe, text: $0.text, atText: formats.dateTime($0.atMillis), delivery: $0.delivery)
            }
            state.availableNow = expect?.availableNow
            state.nextAvailableText = expect?.nextAvailableAtMillis.map(formats.dateTime)
            state.expectReplyByText = expect?.expectReplyByMillis.map(formats.dateTime)
            state.error = nil
        case let .failure(e):
            state.error = e
        }
    }

    public func dismissCrisis() { state.crisis = nil }

    /// Queues the message; risk language in it raises the crisis screen at once.
    public func send(_ text: String) async {
        let (store, channelId) = (self.store, self.channelId)
        switch await core({ try store.sendMessage(channelId: channelId, text: text) }) {
        case let .success(m):
            await refresh()
            state.crisis = m.safety
        case let .failure(e):
            state.error = e
        }
    }
}

// MARK: - progress

public struct ChartPoint: Equatable, Sendable {
    public let atMillis: Int64
    public let value: Double
    public let dateText: String
    /// The band the core assigned; the chart tints by it and never computes one.
    public let severity: String?
}

/// A severity band to shade behind the series, in score units.
public struct ChartBand: Equatable, Sendable {
    public let id: String
    public let label: String
    public let min: Double
    public let max: Double
}

public struct ChartSeries: Equatable, Sendable {
    public let instrument: String
    public let higherIsBetter: Bool
    public let points: [ChartPoint]
    public let changeText: String?
    public var title: String
    public var min: Double = 0
    public var max: Double = 1
    public var bands: [ChartBand] = []
}

/// One alliance check-in: the goals, tasks and bond subscale means.
public struct AllianceRow: Equatable, Sendable {
    public let atMillis: Int64
    public let dateText: String
    public let goals: Double?
    public let tasks: Double?
    public let bond: Double?
}

public struct ProgressState: Equatable, Sendable {
    public var series: [ChartSeries] = []
    public var alliance: [AllianceRow] = []
    public var error: ScreenError?
    public init(series: [ChartSeries] = [], alliance: [AllianceRow] = [], error: ScreenError? = nil) {
        self.series = series
        self.alliance = alliance
        self.error = error
    }
}

/// Symptom series with severity bands and the alliance subscales: one `progressScreen()` call.
@MainActor @Observable
public final class ProgressPresenter: StateHolder {
    public private(set) var state = ProgressState()
    private let store: PatientStore
    private let formats: Formats

    public init(store: PatientStore, formats: Formats) {
        self.store = store
        self.formats = formats
    }

    public func refresh() async {
        let store = self.store
        switch await core({ try store.progressScreen() }) {
        case let .success(p):
            state = ProgressState(
                series: p.symptoms.map { s in
                    ChartSeries(
                        instrument: s.instrument, higherIsBetter: s.higherIsBetter,
                        points: s.points.map { ChartPoint(atMillis: $0.atMillis, value: $0.total, dateText: formats.shortDate($0.atMillis), severity: $0.severity) },
                        changeText: s.latestChange, title: s.title, min: s.min, max: s.max,
                        bands: s.bands.map { ChartBand(id: $0.id, label: $0.label, min: $0.min, max: $0.max) })
                },
                alliance: p.alliance.map { AllianceRow(atMillis: $0.atMillis, dateText: formats.shortDate($0.atMillis), goals: $0.goals, tasks: $0.tasks, bond: $0.bond) })
        case let .failure(e):
            state = ProgressState(error: e)
        }
    }
}

// MARK: - module reader

public struct ReaderState: Sendable {
    public var reader: ModuleReader?
    /// The page on screen; equals the page count once the exercises show.
    public var page = 0
    public var busy = false
    /// The exercise just saved, for a confirmation.
    public var saved: String?
    public var error: ScreenError?
    public init(reader: ModuleReader? = nil, busy: Bool = false, error: ScreenError? = nil) {
        self.reader = reader
        self.busy = busy
        self.error = error
    }

    public var pagesTotal: Int { reader?.pages.count ?? 0 }
    public var currentPage: ReaderPage? { reader.flatMap { page < $0.pages.count ? $0.pages[page] : nil } }
    public var onExercises: Bool { reader != nil && page >= pagesTotal }
    public var done: Bool { reader?.state == .completed }
}

/// A module's pages, then its exercises, with progress. Each action is one core call that returns
/// the whole reader; the core validates exercise answers (`invalid` names the field).
@MainActor @Observable
public final class ModuleReaderPresenter: StateHolder {
    public private(set) var state = ReaderState()
    private let store: PatientStore

    public init(store: PatientStore) { self.store = store }

    /// The module asked for, or the one the patient can do now when nil.
    public func open(moduleId: String? = nil, atMillis: Int64? = nil) async {
        state = ReaderState(busy: true)
        let store = self.store
        switch await core({ try store.moduleReader(moduleId: moduleId, atMillis: atMillis) }) {
        case let .success(r): state = ReaderState(reader: r)
        case let .failure(e): state = ReaderState(error: e)
        }
    }

    public func nextPage() { if state.reader != nil, state.page < state.pagesTotal { state.page += 1 } }

    public func previousPage() { if state.page > 0 { state.page -= 1 } }

    public func saveExercise(exerciseId: String, answers: [String: ExerciseValue], atMillis: Int64? = nil) async {
        guard let r = state.reader else { return }
        state.busy = true
        state.error = nil
        state.saved = nil
        let store = self.store
        let moduleId = r.moduleId
        switch await core({ try store.saveExercise(moduleId: moduleId, exerciseId: exerciseId, answers: answers, atMillis: atMillis) }) {
        case let .success(r):
            state.reader = r
            state.saved = exerciseId
        case let .failure(e): state.error = e
        }
        state.busy = false
    }

    /// Marks the module done; Today shows it completed.
    public func finish(atMillis: Int64? = nil) async {
        guard let r = state.reader else { return }
        state.busy = true
        state.error = nil
        let store = self.store
        let moduleId = r.moduleId
        switch await core({ try store.finishModule(moduleId: moduleId, atMillis: atMillis) }) {
        case let .success(r): state.reader = r
        case let .failure(e): state.error = e
        }
        state.busy = false
    }
}

// MARK: - settings

public struct SettingsState: Sendable {
    public var timeZone: String?
    public var remindersScheduled: UInt32?
    public var reminderError: String?
    /// The program's reminder policy: daily time, quiet hours ("22:00"–"07:00"), daily limit.
    public var reminderTime: String?
    public var quietHours: (start: String, end: String)?
    public var maxRemindersPerDay: UInt32?
    /// The patient's own reminder preferences: quieter than the program, never noisier.
    /// `nil` fields follow the program.
    public var remindersEnabled = true
    public var myQuietHours: (start: String, end: String)?
    public var myCheckinTime: String?
    public var myMaxPerDay: UInt32?
    /// What the reminder plan uses: every quiet span in force and the lower daily limit.
    public var effectiveQuietHours: [(start: String, end: String)] = []
    public var effectiveMaxPerDay: UInt32?
    /// The last `setReminderPreferences` refused; `.invalid(field:)` names what (e.g. "quiet_hours.start").
    public var preferencesError: ScreenError?
    public var hasRecoveryKey: Bool?
    public var export: String?
    /// Where the last export to a file went.
    public var exportedPath: String?
    public var audit: [AuditEntry] = []
    public var auditIntact: Bool?
    public var erased = false
    /// After an erase: channels whose relay confirmed the revocation (the therapist's app shows "left"
    /// at its next sync, not before), and channels the relay was not told about.
    public var erasedTold = 0
    public var erasedNotTold = 0
    public var unpaired = false
    public var error: ScreenError?
    public init() {}
}

/// What an export to a file contains: everything (GDPR, the documented JSON) or the check-ins as FHIR R4.
public enum ExportFormat: Sendable {
    case gdprJson, fhir
}

/// Reminders and quiet hours, time zone and travel, export, erase, unpair, the audit log.
@MainActor @Observable
public final class SettingsPresenter: StateHolder {
    public private(set) var state = SettingsState()
    private let store: PatientStore
    private let schedule: PatientSchedule
    private let transport: HttpTransport

    public init(store: PatientStore, schedule: PatientSchedule, transport: HttpTransport) {
        self.store = store
        self.schedule = schedule
        self.transport = transport
    }

    /// One `settingsScreen()` call.
    public func refresh() async {
        let store = self.store
        switch await core({ try store.settingsScreen() }) {
        case let .success(v):
            state.timeZone = v.timeZone
            state.audit = v.audit
            state.auditIntact = v.auditIntact
            state.reminderTime = v.reminderTime
            if let start = v.quietStart, let end = v.quietEnd { state.quietHours = (start, end) } else { state.quietHours = nil }
            state.maxRemindersPerDay = v.maxRemindersPerDay
            state.hasRecoveryKey = v.hasRecoveryKey
            state.remindersEnabled = v.remindersEnabled
            if let start = v.myQuietStart, let end = v.myQuietEnd { state.myQuietHours = (start, end) } else { state.myQuietHours = nil }
            state.myCheckinTime = v.myCheckinTime
            state.myMaxPerDay = v.myMaxPerDay
            state.effectiveQuietHours = v.effectiveQuietHours.map { (start: $0.start, end: $0.end) }
            state.effectiveMaxPerDay = v.effectiveMaxPerDay
            state.error = nil
        case let .failure(e):
            state.error = e
        }
    }

    /// Saves the patient's reminder preferences ("HH:MM" local times; quiet hours may cross
    /// midnight) and the core re-plans the reminders. A refusal is `state.preferencesError`.
    public func setReminderPreferences(
        enabled: Bool,
        quietHours: (start: String, end: String)?,
        checkinTime: String?,
        maxPerDay: UInt32?,
        atMillis: Int64? = nil
    ) async {
        let store = self.store
        let (qs, qe) = (quietHours?.start, quietHours?.end)
        let out = await core {
            try store.setReminderPreferences(
                enabled: enabled, quietStart: qs, quietEnd: qe,
                checkinTime: checkinTime, maxPerDay: maxPerDay, atMillis: atMillis)
        }
        switch out {
        case let .success(u):
            state.remindersScheduled = u.reminders.scheduled
            state.reminderError = u.reminders.error
            state.preferencesError = nil
            await refresh()
        case let .failure(e):
            state.preferencesError = e
        }
    }

    /// Writes an export to `path` (a file the patient chose), atomically.
    public func exportToFile(_ format: ExportFormat, path: String) async {
        let store = self.store
        let out = await core { () throws -> Void in
            let text = format == .fhir ? try store.exportFhir() : try store.exportJson()
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        }
        switch out {
        case .success:
            state.exportedPath = path
            state.error = nil
        case let .failure(e): state.error = e
        }
    }

    /// Travel (or the app's time-zone-change hook): the core re-plans the reminders in the new zone.
    public func changeTimeZone(_ zoneId: String, atMillis: Int64? = nil) async {
        let (store, schedule) = (self.store, self.schedule)
        let out = await core { () throws -> ScheduleUpdate in
            if var p = try store.profile() {
                p.timeZone = zoneId
                try store.setProfile(profile: p)
            }
            return try schedule.changeTimeZone(timeZone: zoneId, atMillis: atMillis)
        }
        switch out {
        case let .success(u):
            state.timeZone = zoneId
            state.remindersScheduled = u.reminders.scheduled
            state.reminderError = u.reminders.error
            state.error = nil
        case let .failure(e):
            state.error = e
        }
    }

    /// The GDPR export as JSON text, for the share sheet.
    public func export() async {
        let store = self.store
        switch await core({ try store.exportJson() }) {
        case let .success(json): state.export = json
        case let .failure(e): state.error = e
        }
    }

    /// The share sheet took the export: drop the plaintext copy from the state.
    public func exportShown() { state.export = nil }

    public func unpair() async {
        let (store, transport) = (self.store, self.transport)
        switch await core({ try store.unpair(transport: transport, channelId: nil) }) {
        case .success: state.unpaired = true
        case let .failure(e): state.error = e
        }
    }

    /// Erases this phone's data. Online, each channel is first revoked at the relay, so the therapist's
    /// app shows the patient as having left; the erase never waits on the network, and
    /// `erasedNotTold` counts the therapists who were not told (docs/erasure.md).
    public func erase() async {
        let store = self.store, transport = self.transport
        switch await core({ try store.eraseEverywhere(transport: transport) }) {
        case let .success(r):
            state = SettingsState()
            state.erased = true
            state.erasedTold = r.revokedAtRelay.count
            state.erasedNotTold = r.notReached.count
        case let .failure(e):
            state.error = e
        }
    }
}

// MARK: - sync

public struct SyncState: Sendable {
    public var running = false
    public var last: SyncSummary?
    /// Offline or refused rounds keep everything queued; the next round resumes.
    public var error: ScreenError?
    public var pendingOutbound: UInt64 = 0
    public init() {}
}

/// One sync round on demand (the BGAppRefreshTask handler calls the same).
@MainActor @Observable
public final class SyncPresenter: StateHolder {
    public private(set) var state = SyncState()
    private let store: PatientStore
    private let transport: HttpTransport

    public init(store: PatientStore, transport: HttpTransport) {
        self.store = store
        self.transport = transport
    }

    @discardableResult
    public func syncNow() async -> SyncState {
        state.running = true
        let (store, transport) = (self.store, self.transport)
        switch await core({ try store.sync(transport: transport) }) {
        case let .success(summary):
            var s = SyncState()
            s.last = summary
            s.pendingOutbound = summary.pendingOutbound
            switch summary.error {
            case nil: s.error = nil
            case "offline"?: s.error = .offline
            case let code?: s.error = .relayRefused(status: 0, code: code)
            }
            state = s
        case let .failure(e):
            state.running = false
            state.error = e
        }
        return state
    }
}
