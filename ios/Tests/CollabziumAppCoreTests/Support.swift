// Real parts for the journeys: store files in temp dirs, the core's memory key provider, and
// `collabzium relay serve` as a child process (binary from COLLABZIUM_BIN).
import Collabzium
@testable import CollabziumAppCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
}

extension XCTestCase {
    /// A new empty directory, removed when the test finishes (pass or fail).
    func makeTempDir(_ prefix: String = "collabzium-ios") throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}

/// The tests' stand-in for the Keychain: a random key-encryption key held by the core.
struct MemoryKeys: KeySource {
    private let kek: Data = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
    func deviceKey() throws -> KeyProvider { try memoryKeyProvider(kek: kek) }
}

/// A program from cli/data/programs (COLLABZIUM_PROGRAMS_DIR).
func program(_ name: String) throws -> String {
    guard let dir = ProcessInfo.processInfo.environment["COLLABZIUM_PROGRAMS_DIR"], !dir.isEmpty else {
        throw TestSetupError(description: "COLLABZIUM_PROGRAMS_DIR is not set (scripts/test-all.sh sets it)")
    }
    return try String(contentsOfFile: "\(dir)/\(name).json", encoding: .utf8)
}

/// `collabzium relay serve` on loopback; restartable on the same address and database, so the
/// offline journeys can take it away and bring it back.
final class Relay: @unchecked Sendable {
    private let process = Process()
    private let log = Locked(Data())
    private let firstLine = DispatchSemaphore(value: 0)
    let url: String

    var output: String { String(decoding: log.value, as: UTF8.self) }
    var listen: String { String(url.dropFirst("http://".count)) }

    init(database: URL, listen: String = "127.0.0.1:0", rateLimit: String = "100000/s", extraArgs: [String] = []) throws {
        guard let bin = ProcessInfo.processInfo.environment["COLLABZIUM_BIN"], !bin.isEmpty else {
            throw TestSetupError(description: "COLLABZIUM_BIN is not set (scripts/test-all.sh sets it)")
        }
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["relay", "serve", "--listen", listen, "--database", "sqlite:\(database.path)",
                             "--rate-limit", rateLimit] + extraArgs
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let stdoutBuffer = Locked(Data())
        let signalled = Locked(false)
        out.fileHandleForReading.readabilityHandler = { [log, firstLine] h in
            let chunk = h.availableData
            if chunk.isEmpty { h.readabilityHandler = nil } // EOF
            log.value.append(chunk)
            stdoutBuffer.value.append(chunk)
            if (chunk.isEmpty || stdoutBuffer.value.contains(UInt8(ascii: "\n"))) && !signalled.value {
                signalled.value = true
                firstLine.signal()
            }
        }
        err.fileHandleForReading.readabilityHandler = { [log] h in
            let chunk = h.availableData
            if chunk.isEmpty { h.readabilityHandler = nil }
            log.value.append(chunk)
        }
        try process.run()
        guard firstLine.wait(timeout: .now() + 30) == .success else {
            process.terminate()
            throw TestSetupError(description: "the relay printed nothing within 30 s")
        }
        let data = stdoutBuffer.value
        guard let nl = data.firstIndex(of: UInt8(ascii: "\n")),
              let json = try? JSONSerialization.jsonObject(with: data[data.startIndex..<nl]) as? [String: Any],
              let addr = json["listening"] as? String else {
            process.terminate()
            throw TestSetupError(description: "unexpected first relay line; output:\n\(String(decoding: log.value, as: UTF8.self))")
        }
        url = "http://\(addr)"
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate() // SIGTERM: clean shutdown
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

extension XCTestCase {
    /// A relay stopped after the test, pass or fail.
    func startRelay(_ database: URL, listen: String = "127.0.0.1:0", rateLimit: String = "100000/s",
                    extraArgs: [String] = []) throws -> Relay {
        let relay = try Relay(database: database, listen: listen, rateLimit: rateLimit, extraArgs: extraArgs)
        addTeardownBlock { relay.stop() }
        return relay
    }
}

/// A recording `NotificationScheduler`: the pending set as the app's diff leaves it.
final class RecordingScheduler: NotificationScheduler, @unchecked Sendable {
    private let pending = Locked<[PendingAlarm]>([])
    var alarms: [PendingAlarm] { pending.value }

    func maxPending() -> UInt32 { 64 }

    func replacePending(notifications: [PlannedNotification]) throws {
        let current = pending.value
        let changes = ReminderDiff.changes(current: current, plan: notifications)
        precondition(changes.schedule.count + changes.cancel.count <= current.count + notifications.count)
        // Round-trip through the persisted form, as the app does across launches.
        pending.value = ReminderDiff.decode(ReminderDiff.encode(ReminderDiff.apply(current: current, plan: notifications)))
    }
}

/// A therapist-gated second module, so approval can be seen unlocking it (the Kotlin journeys' GATED_PROGRAM).
let gatedProgram = #"{"format_version":1,"metadata":{"id":"tiny","version":"1.0.0","title":"Gated program","locale":"en-US","weeks":6,"modes":["guided"]},"modules":[{"id":"m1","title":"Start here","estimated_minutes":10,"unlock":"at_start","pages":[{"id":"p1","title":"Welcome","body":"Hello."}]},{"id":"m2","title":"With your therapist","estimated_minutes":10,"unlock":{"all_of":[{"after_module":"m1"},"therapist_approval"]},"pages":[{"id":"p1","title":"Next","body":"Text."}]},{"id":"m3","title":"Week three","estimated_minutes":10,"unlock":{"days_after_start":14},"pages":[{"id":"p1","title":"Later","body":"Text."}]}],"checkins":[{"id":"mood","instrument":"phq9","when":{"recurring":{"rrule":"FREQ=DAILY","local_time":"20:00"}},"window":{"opens_minutes":0,"due_minutes":120,"closes_minutes":600}}],"reminders":{"time_of_day":"12:00","quiet_hours":{"start":"22:00","end":"07:00"},"max_per_day":2},"crisis_resources":{"en-US":[{"name":"988 Lifeline","description":"Call or text 988.","phone":"988"}]}}"#

/// Yesterday or tomorrow as yyyy-MM-dd in UTC, for program start dates.
func isoDay(offsetDays: Int) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyy-MM-dd"
    return f.string(from: Date().addingTimeInterval(Double(offsetDays) * 86_400))
}

/// Onboarding through the app's own presenter, as a person would tap through it.
@MainActor
func onboard(_ path: String, _ name: String, zone: String, locale: String, country: String,
             passphrase: String?, keys: KeySource = MemoryKeys()) async throws -> PatientStore {
    let o = OnboardingPresenter(storePath: path, keys: keys)
    o.next()
    o.next() // refused: no consent yet
    XCTAssertEqual(o.state.step, .consent)
    o.setConsent(true)
    o.next()
    o.chooseCountry(country)
    o.next()
    XCTAssertEqual(o.state.step, .unlock)
    guard let store = await o.finish(displayName: name, timeZone: zone, locale: locale, mode: .guided, passphrase: passphrase) else {
        throw TestSetupError(description: "onboarding: \(String(describing: o.state.error))")
    }
    return store
}

/// A patient and a therapist, both set up through the app's presenters, paired through the relay.
@MainActor
final class PairedApps {
    /// Replaced when a journey restarts the relay on the same address.
    var relay: Relay
    let transport = URLSessionTransport()
    let patientFormats: Formats
    let therapistFormats = Formats("de-DE", "Europe/Berlin")
    let patient: PatientStore
    let therapist: PatientStore
    let channelId: String

    init(_ test: XCTestCase, relay: Relay, patientLocale: String = "en-US", patientZone: String = "America/New_York",
         country: String = "US") async throws {
        self.relay = relay
        let dir = try test.makeTempDir()
        patientFormats = Formats(patientLocale, patientZone)
        let patient = try await onboard(dir.appendingPathComponent("patient.db").path, "Pat", zone: patientZone,
                                        locale: patientLocale, country: country, passphrase: "correct horse battery")
        test.addTeardownBlock { patient.closeStore() }
        let therapist = try await onboard(dir.appendingPathComponent("therapist.db").path, "Dr T", zone: "Europe/Berlin",
                                          locale: "de-DE", country: "DE", passphrase: nil)
        test.addTeardownBlock { therapist.closeStore() }
        self.patient = patient
        self.therapist = therapist

        let invite = InvitePresenter(store: therapist, transport: transport, relayUrl: relay.url, formats: therapistFormats)
        await invite.create(label: "Pat")
        let code = try XCTUnwrap(invite.state.code, "invite: \(String(describing: invite.state.error))")
        XCTAssertNotNil(invite.state.qrPayload)

        let join = JoinPresenter(store: patient, transport: transport, relayUrl: relay.url)
        join.setCode(code)
        await join.join()
        XCTAssertNil(join.state.error, "join; relay:\n\(relay.output)")
        guard let paired = await invite.awaitPaired(attempts: 50, intervalMillis: 100) else {
            throw TestSetupError(description: "the invitation never completed; relay:\n\(relay.output)")
        }
        invite.close()
        channelId = paired.channelId
        await SyncPresenter(store: patient, transport: transport).syncNow()
        await join.refresh()
        // Both sides show the same safety number to compare.
        XCTAssertEqual(paired.safetyNumber, join.state.result?.safetyNumber)
    }

    func syncAll(rounds: Int = 2) async {
        for _ in 0..<rounds {
            for s in [patient, therapist, patient] {
                let st = await SyncPresenter(store: s, transport: transport).syncNow()
                XCTAssertNil(st.error, "sync: \(String(describing: st.last)); relay:\n\(relay.output)")
            }
        }
    }
}
