import Collabzium
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// Thread-safe mutable box for values handed between threads.
private final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: T
    init(_ value: T) { _value = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return _value }
        set { lock.lock(); _value = newValue; lock.unlock() }
    }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&_value); lock.unlock() }
}

/// The app's side of the `HttpTransport` foreign trait, on URLSession (FoundationNetworking on
/// Linux). Rust calls `send` synchronously on the thread that runs `sync`, so this blocks that
/// thread on a semaphore until the data task completes on the session's own delegate queue.
/// Never call it on the main thread / main actor: run sync from a background thread.
final class URLSessionTransport: HttpTransport, @unchecked Sendable {
    private let session: URLSession
    private let seen = Locked<[String]>([])
    /// "METHOD /path" of every request, in order.
    var requests: [String] { seen.value }

    /// Headers URLSession manages itself.
    private static let restricted: Set<String> = ["connection", "content-length", "host", "expect", "upgrade"]

    init() {
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = 10
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.urlCache = nil
        config.httpShouldSetCookies = false
        session = URLSession(configuration: config)
    }

    deinit { session.invalidateAndCancel() }

    func send(request: HttpRequest) throws -> HttpResponse {
        if Thread.isMainThread {
            throw TransportError.Unreachable(reason: "URLSessionTransport.send called on the main thread")
        }
        guard let url = URL(string: request.url) else {
            throw TransportError.Unreachable(reason: "bad url \(request.url)")
        }
        seen.mutate { $0.append("\(request.method) \(url.path)") }
        var req = URLRequest(url: url)
        req.httpMethod = request.method
        for h in request.headers where !Self.restricted.contains(h.name.lowercased()) {
            req.addValue(h.value, forHTTPHeaderField: h.name)
        }
        // Also for DELETE /v1/channels/{id}, which carries a JSON body.
        if !request.body.isEmpty { req.httpBody = request.body }

        let done = DispatchSemaphore(value: 0)
        let result = Locked<(Data?, URLResponse?, Error?)>((nil, nil, nil))
        let task = session.dataTask(with: req) { data, response, error in
            result.value = (data, response, error)
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + 30) == .timedOut {
            task.cancel()
            throw TransportError.Timeout
        }
        let (data, response, error) = result.value
        if let error = error {
            if let e = error as? URLError, e.code == .timedOut { throw TransportError.Timeout }
            throw TransportError.Unreachable(reason: "\(error)")
        }
        guard let http = response as? HTTPURLResponse else {
            throw TransportError.Unreachable(reason: "not an HTTP response")
        }
        let headers = http.allHeaderFields.map { HttpHeader(name: "\($0.key)", value: "\($0.value)") }
        return HttpResponse(status: UInt16(http.statusCode), headers: headers, body: data ?? Data())
    }
}

/// `collabzium relay serve` as a child process on a free loopback port (binary from
/// COLLABZIUM_BIN). Its stdout/stderr are drained all the time and kept for failure messages.
final class RelayProcess: @unchecked Sendable {
    private let process = Process()
    private let log = Locked(Data())
    private let stdoutBuffer = Locked(Data())
    private let firstLine = DispatchSemaphore(value: 0)
    private(set) var url = ""

    var output: String { String(decoding: log.value, as: UTF8.self) }

    init(database: URL) throws {
        guard let bin = ProcessInfo.processInfo.environment["COLLABZIUM_BIN"], !bin.isEmpty else {
            throw NSError(domain: "SyncTests", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "COLLABZIUM_BIN is not set (scripts/test-all.sh builds the CLI and sets it)"])
        }
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["relay", "serve", "--listen", "127.0.0.1:0",
                             "--database", "sqlite:\(database.path)", "--rate-limit", "100000/s"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let signalled = Locked(false)
        out.fileHandleForReading.readabilityHandler = { [log, stdoutBuffer, firstLine] h in
            let chunk = h.availableData
            if chunk.isEmpty { h.readabilityHandler = nil } // EOF
            log.mutate { $0.append(chunk) }
            stdoutBuffer.mutate { $0.append(chunk) }
            if (chunk.isEmpty || stdoutBuffer.value.contains(UInt8(ascii: "\n"))) && !signalled.value {
                signalled.value = true
                firstLine.signal()
            }
        }
        err.fileHandleForReading.readabilityHandler = { [log] h in
            let chunk = h.availableData
            if chunk.isEmpty { h.readabilityHandler = nil }
            log.mutate { $0.append(chunk) }
        }
        try process.run()
    }

    /// Waits for `{"listening":"127.0.0.1:PORT"}` and returns `http://127.0.0.1:PORT`.
    func waitForAddress() throws -> String {
        let fail = { (why: String) in
            NSError(domain: "SyncTests", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(why); relay output:\n\(self.output)"])
        }
        guard firstLine.wait(timeout: .now() + 30) == .success else { throw fail("no address line within 30 s") }
        let data = stdoutBuffer.value
        guard let nl = data.firstIndex(of: UInt8(ascii: "\n")) else { throw fail("relay exited before printing its address") }
        let json = try JSONSerialization.jsonObject(with: data[data.startIndex..<nl])
        guard let addr = (json as? [String: Any])?["listening"] as? String, addr.hasPrefix("127.0.0.1:") else {
            throw fail("unexpected first line")
        }
        url = "http://\(addr)"
        return url
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

private func kek(_ fill: UInt8) -> Data { Data(repeating: fill, count: 32) }

/// The same code with a different last (check) character.
private func withWrongCheckCharacter(_ code: String) -> String {
    String(code.dropLast()) + (code.last == "A" ? "B" : "A")
}

final class SyncTests: XCTestCase {
    /// Starts a relay process that is stopped after the test, pass or fail.
    private func startRelay() throws -> RelayProcess {
        let relay = try RelayProcess(database: try makeTempDir("collabzium-relay").appendingPathComponent("relay.db"))
        addTeardownBlock { relay.stop() }
        _ = try relay.waitForAddress()
        return relay
    }

    private func makeStore(_ name: String, _ fill: UInt8) throws -> PatientStore {
        let path = try makeTempDir().appendingPathComponent("\(name).db").path
        let store = try PatientStore.create(path: path, keyProvider: try memoryKeyProvider(kek: kek(fill)))
        addTeardownBlock { store.closeStore() }
        return store
    }

    /// Runs `body` on a fresh background thread (the transport blocks its caller; never the main
    /// thread) and waits for it.
    private func offMainThread(timeout: TimeInterval = 100, _ body: @escaping () throws -> Void) throws {
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<Error?>(nil)
        let thread = Thread {
            do { try body() } catch { failure.value = error }
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        guard done.wait(timeout: .now() + timeout) == .success else {
            return XCTFail("test body timed out after \(timeout) s")
        }
        if let error = failure.value { throw error }
    }

    func testPairingCheckinAndMessagesThroughRelayProcess() throws {
        let relay = try startRelay()
        let url = relay.url
        let transport = URLSessionTransport()
        let therapist = try makeStore("therapist", 1)
        let patient = try makeStore("patient", 2)
        try patient.setProfile(profile: Profile(displayName: "Swift Patient", timeZone: "Europe/Berlin", locale: "en-GB", mode: .guided))

        try offMainThread {
            func sync(_ who: String, _ store: PatientStore) throws -> SyncSummary {
                let s = try store.sync(transport: transport)
                XCTAssertNil(s.error, "\(who) sync stopped: \(s)\nrelay:\n\(relay.output)")
                return s
            }

            // Pairing.
            let invitation = try therapist.therapistInvite(transport: transport, relayUrl: url, label: "Sam")
            let code = try invitation.view().code
            XCTAssertFalse(transport.requests.isEmpty, "the invitation was created at the relay")

            // A typo in the check character is refused locally, before any request.
            let before = transport.requests.count
            XCTAssertThrowsError(try patient.patientJoin(transport: transport, relayUrl: url,
                                                         code: withWrongCheckCharacter(code), shareHistory: false)) { error in
                guard case let CollabziumError.Pairing(code) = error else {
                    return XCTFail("expected CollabziumError.Pairing, got \(error)")
                }
                XCTAssertEqual(code, "invalid_code")
            }
            XCTAssertEqual(transport.requests.count, before, "no request for a mistyped code: \(transport.requests)")

            let joined = try patient.patientJoin(transport: transport, relayUrl: url, code: code, shareHistory: false)
            var paired: PairingResult?
            for _ in 0..<50 {
                paired = try invitation.poll()
                if paired != nil { break }
                usleep(100_000)
            }
            let result = try XCTUnwrap(paired, "the therapist's invitation never completed; relay:\n\(relay.output)")
            let channelId = result.channelId
            XCTAssertEqual(joined.channelId, channelId)
            XCTAssertEqual(try sync("patient", patient).pairingsCompleted, 1)

            let tch = try therapist.channels()
            let pch = try patient.channels()
            XCTAssertEqual(tch.map(\.status), [.active])
            XCTAssertEqual(pch.map(\.status), [.active])
            XCTAssertEqual(tch.first?.channelId, channelId)
            XCTAssertNotNil(tch.first?.safetyNumber)
            XCTAssertEqual(tch.first?.safetyNumber, pch.first?.safetyNumber)
            XCTAssertEqual(tch.first?.safetyNumber, result.safetyNumber)

            // A PHQ-9 check-in (no risk answer) and a message each way.
            let draft = try patient.startCheckin(instrumentId: "phq9", agendaItemId: nil)
            XCTAssertEqual(draft.items.count, 9)
            _ = try patient.answerCheckin(checkinId: draft.checkinId, answers: (1...9).map {
                CheckinAnswer(linkId: "phq9_\($0)", value: .integer(value: $0 == 9 ? 0 : 2))
            })
            let submitted = try patient.submitCheckin(checkinId: draft.checkinId)
            XCTAssertEqual(submitted.score.total, 16)
            XCTAssertNil(submitted.safety)
            let fromPatient = "Hello from the Swift patient"
            let fromTherapist = "Hello from the Swift therapist"
            _ = try patient.sendMessage(channelId: nil, text: fromPatient)
            _ = try therapist.sendMessage(channelId: channelId, text: fromTherapist)

            func checkinDelivery() throws -> Delivery? {
                try patient.outbound().first { $0.kind == "checkin" && $0.refId == draft.checkinId }?.delivery
            }
            for _ in 0..<5 {
                _ = try sync("patient", patient)
                _ = try sync("therapist", therapist)
                _ = try sync("patient", patient)
                if let d = try checkinDelivery(), d == .delivered || d == .read { break }
                usleep(200_000)
            }

            let inbox = try therapist.inbox(kinds: [])
            let checkin = try XCTUnwrap(inbox.first { $0.kind == "checkin" && $0.channelId == channelId },
                                        "no check-in in the therapist's inbox: \(inbox.map(\.kind))")
            XCTAssertEqual(checkin.patient, "Sam")
            let body = try JSONSerialization.jsonObject(with: Data(checkin.bodyJson.utf8)) as? [String: Any]
            XCTAssertEqual((body?["checkin"] as? [String: Any])?["instrument"] as? String, "phq9", checkin.bodyJson)

            let tthread = try therapist.messageThread(channelId: channelId)
            XCTAssertTrue(tthread.contains { !$0.fromMe && $0.text == fromPatient }, "therapist thread: \(tthread)")
            let pthread = try patient.messageThread(channelId: nil)
            XCTAssertTrue(pthread.contains { !$0.fromMe && $0.text == fromTherapist }, "patient thread: \(pthread)")

            let delivery = try checkinDelivery()
            XCTAssertTrue(delivery == .delivered || delivery == .read, "check-in delivery: \(String(describing: delivery))")

            // Insights after the sync: the caseload and this patient's timeline, one call each.
            let rating = #"{"goals_1": 6, "goals_2": 6, "goals_3": 2, "tasks_1": 6, "tasks_2": 6, "tasks_3": 2, "bond_1": 6, "bond_2": 6}"#
            _ = try therapist.rateAlliance(channelId: channelId, answersJson: rating)
            let caseload = try therapist.caseload()
            XCTAssertEqual(caseload.count, 1, "\(caseload)")
            XCTAssertEqual(caseload.first?.label, "Sam")
            XCTAssertEqual(caseload.first?.channelId, channelId)
            XCTAssertEqual(caseload.first?.latestSymptom?.total, 16.0)
            let timeline = try therapist.patientTimeline(channelId: channelId)
            let phq = try XCTUnwrap(timeline.symptoms.first { $0.instrument == "phq9" })
            XCTAssertEqual(phq.points.map(\.score), [16.0])
            XCTAssertEqual(phq.reliableChangeThreshold, 6.0)
            XCTAssertTrue(phq.higherIsWorse)
            let ratedByTherapist = timeline.alliance.filter { $0.source == "therapist" }
            XCTAssertEqual(ratedByTherapist.count, 1)
            XCTAssertEqual(ratedByTherapist.first?.goals, 6.0)
            XCTAssertThrowsError(try therapist.patientTimeline(channelId: String(repeating: "00", count: 16)))

            // Unpairing goes out as DELETE with a JSON body; the therapist learns it at its next sync.
            try patient.unpair(transport: transport, channelId: nil)
            XCTAssertTrue(transport.requests.contains { $0.hasPrefix("DELETE ") }, "\(transport.requests)")
            XCTAssertEqual(try patient.channels().map(\.status), [.revoked])
            XCTAssertEqual(try sync("therapist", therapist).channelsRevoked, 1)
            XCTAssertEqual(try therapist.channels().map(\.status), [.revoked])
        }
    }

    func testCrisisScreenSaysWhoWasTold() throws {
        let relay = try startRelay()
        let url = relay.url
        let transport = URLSessionTransport()
        let therapist = try makeStore("therapist", 5)
        let patient = try makeStore("patient", 6)
        try patient.setProfile(profile: Profile(displayName: "Swift Patient", timeZone: "America/New_York", locale: "en-US", mode: .guided))

        try offMainThread {
            func risky() throws -> CheckinResult {
                let d = try patient.startCheckin(instrumentId: "phq9", agendaItemId: nil)
                _ = try patient.answerCheckin(checkinId: d.checkinId, answers: (1...9).map {
                    CheckinAnswer(linkId: "phq9_\($0)", value: .integer(value: 1))
                })
                return try patient.submitCheckin(checkinId: d.checkinId)
            }
            // Not paired: the resources for the patient's country, and nobody told.
            let first = try XCTUnwrap(try risky().safety)
            XCTAssertEqual(first.alertState, .notConnected)
            XCTAssertTrue(first.resources.contains { $0.phone == "988" }, "\(first.resources)")
            XCTAssertTrue(first.message.contains("nobody has been told"), first.message)
            XCTAssertEqual(try patient.crisisScreen().alertState, .notConnected)

            // Joining asks about the unsent alert; sharing it alone delivers it.
            let invitation = try therapist.therapistInvite(transport: transport, relayUrl: url, label: "Sam")
            let code = try invitation.view().code
            XCTAssertEqual(try patient.unsentSafetyAlerts(), 1)
            XCTAssertThrowsError(try patient.patientJoin(transport: transport, relayUrl: url, code: code, shareHistory: false)) { error in
                guard case CollabziumError.InvalidInput = error else { return XCTFail("expected InvalidInput, got \(error)") }
            }
            _ = try patient.patientJoin(transport: transport, relayUrl: url, code: code, shareHistory: false, shareAlerts: true)
            var paired: PairingResult?
            for _ in 0..<50 {
                paired = try invitation.poll()
                if paired != nil { break }
                usleep(100_000)
            }
            let channelId = try XCTUnwrap(paired).channelId
            _ = try patient.sync(transport: transport)
            XCTAssertEqual(try patient.crisisScreen().alertState, .sending)
            _ = try therapist.sync(transport: transport)
            _ = try patient.sync(transport: transport)
            let delivered = try patient.crisisScreen()
            XCTAssertEqual(delivered.alertState, .delivered)
            XCTAssertFalse(delivered.resources.isEmpty, "resources stay first")

            // The therapist sees the triggering answer and acknowledges with an action.
            let alert = try XCTUnwrap(try therapist.inbox(kinds: ["safety_alert"]).first)
            XCTAssertTrue(alert.bodyJson.contains("\"phq9_9\""), alert.bodyJson)
            let body = try JSONSerialization.jsonObject(with: Data(alert.bodyJson.utf8)) as? [String: Any]
            let alertId = try XCTUnwrap(body?["alert_id"] as? String)
            XCTAssertThrowsError(try therapist.acknowledgePatientAlert(channelId: channelId, alertId: alertId, action: "later"))
            try therapist.acknowledgePatientAlert(channelId: channelId, alertId: alertId, action: "phone", note: "called, safe tonight")
            _ = try therapist.sync(transport: transport)
            _ = try patient.sync(transport: transport)
            let seen = try patient.crisisScreen()
            XCTAssertEqual(seen.alertState, .seen)
            XCTAssertTrue(seen.message.contains("has seen your alert"), seen.message)
            XCTAssertFalse(seen.message.contains("called"), "the note stays with the therapist")
            XCTAssertEqual(try patient.safetyAlerts().first?.alertState, .seen)
        }
    }

    func testUnreachableRelayIsOffline() throws {
        let transport = URLSessionTransport()
        let therapist = try makeStore("therapist", 3)
        try offMainThread {
            // Port 1 on loopback refuses connections: TransportError -> CollabziumError.Offline.
            XCTAssertThrowsError(try therapist.therapistInvite(transport: transport, relayUrl: "http://127.0.0.1:1", label: "Sam")) { error in
                guard case CollabziumError.Offline = error else { return XCTFail("expected Offline, got \(error)") }
            }
            XCTAssertTrue(try therapist.channels().isEmpty)
        }
    }
}
