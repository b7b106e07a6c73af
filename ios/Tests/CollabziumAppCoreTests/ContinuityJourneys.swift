// Wake-ups and automatic backups through the state holders (issue 16), with the real library, a
// `collabzium relay serve` process with Web Push on, and a local HTTP server standing in for the
// push service. Mirrors android/app-logic/src/test/.../ContinuityJourneys.kt (same test names).
import Collabzium
@testable import CollabziumAppCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// A test-only VAPID key (P-256, PKCS#8), as an operator would keep it.
let testVapidPem = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpbzInilqVEB1GP4x
CCpTYftPFaM+BqgL3SyD4T71fTuhRANCAASw9gxiHJTRowriV8Kt/Dj2Fx432ISV
ln4ncqMaQawVuTKOyS8IYRIp6cnTxKqqpacsiJSDlYPD8TKvkpBkhyAE
-----END PRIVATE KEY-----

"""

/// A subscription's public key: a valid uncompressed P-256 point (the relay encrypts to it; the
/// test never decrypts, so no private key is needed).
let testP256dh = "BPLAo_PrCIZJhhbGvrP1Br6exxBEWvNG749c0ePZiMSJiP4ZO-Az_lUq3nkM4YNSf081Lc1KgbFiMO4n2m1SLJo"

/// The push service's side: a loopback HTTP/1.1 server that records every POST and answers
/// 201 Created, one request per connection.
final class PushService: @unchecked Sendable {
    struct Received: Sendable {
        let path: String
        let head: String
        let body: Data
    }

    private let fd: Int32
    private let posts = Locked<[Received]>([])
    let origin: String

    var received: [Received] { posts.value }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError(description: "socket") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw TestSetupError(description: "bind/listen")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        self.fd = fd
        origin = "http://127.0.0.1:\(UInt16(bigEndian: addr.sin_port))"
        let thread = Thread { [posts] in
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { return } // closed by stop()
                if let r = PushService.serve(c) { posts.value.append(r) }
                close(c)
            }
        }
        thread.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private static func serve(_ c: Int32) -> Received? {
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 4096)
        let sep = Data("\r\n\r\n".utf8)
        var wanted: Int?
        var headEnd = 0
        while wanted == nil || data.count < headEnd + wanted! {
            let n = read(c, &buf, buf.count)
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
            if wanted == nil, let r = data.range(of: sep) {
                headEnd = r.upperBound
                let head = String(decoding: data[..<r.lowerBound], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                wanted = length.flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            }
        }
        let reply = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = reply.withCString { write(c, $0, strlen($0)) }
        guard wanted != nil else { return nil }
        let head = String(decoding: data[..<headEnd], as: UTF8.self)
        let requestLine = head.split(separator: "\r\n").first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ")
        guard parts.count >= 2, parts[0] == "POST" else { return nil }
        return Received(path: String(parts[1]), head: head, body: Data(data[headEnd...]))
    }

    func awaitPosts(_ n: Int, seconds: Double = 15) async -> [Received] {
        let until = Date().addingTimeInterval(seconds)
        while received.count < n && Date() < until { try? await Task.sleep(nanoseconds: 50_000_000) }
        return received
    }
}

/// A Web Push subscription as a browser or UnifiedPush connector makes it: P-256 key, 16-byte secret.
func webPushSubscription(_ endpoint: String) -> PushEndpoint {
    let auth = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
    return .webPush(endpoint: endpoint, p256dh: testP256dh, auth: auth)
}

/// The app's vault, held in memory: nil until the patient turns automatic backups on.
final class MemoryVault: RecoveryKeyVault, @unchecked Sendable {
    let key = Locked<String?>(nil)
    func recoveryKey() throws -> String? { key.value }
}

final class ContinuityJourneys: XCTestCase, @unchecked Sendable {
    func pushRelay() throws -> Relay {
        let dir = try makeTempDir()
        let vapid = dir.appendingPathComponent("vapid.pem")
        try testVapidPem.write(to: vapid, atomically: true, encoding: .utf8)
        return try startRelay(dir.appendingPathComponent("relay.db"), extraArgs: [
            "--push-vapid-key", vapid.path, "--push-vapid-subject", "mailto:relay-ops@clinic.test",
            "--push-allow-loopback-http", "--push-interval", "100ms",
        ])
    }

    /// A PHQ-9 with item 9 (thoughts of self-harm) above zero: a risk answer.
    @MainActor
    func submitRiskCheckin(_ patient: PatientStore) async throws {
        let checkin = CheckinPresenter(store: patient)
        await checkin.start(instrumentId: "phq9")
        for _ in 0..<9 { await checkin.answer(.integer(value: 1)) }
        XCTAssertNotNil(checkin.state.crisis, "a risk answer")
        await checkin.submit()
        XCTAssertNotNil(checkin.state.result, "submit: \(String(describing: checkin.state.error))")
    }

    /// Kotlin: "a wake-up brings the safety alert"
    @MainActor
    func testAWakeUpBringsTheSafetyAlert() async throws {
        let push = try PushService()
        addTeardownBlock { push.stop() }
        let relay = try pushRelay()
        let p = try await PairedApps(self, relay: relay)
        let handler = WakeupHandler(store: p.therapist, transport: p.transport)

        // The therapist's phone hands its subscription over; the same one again is a no-op.
        let sub = webPushSubscription("\(push.origin)/push/therapist-1")
        let ok = await handler.onNewToken(sub)
        XCTAssertTrue(ok, "register: \(String(describing: handler.state.error)); relay:\n\(relay.output)")
        XCTAssertEqual(handler.state.relays, 1)
        XCTAssertEqual(handler.state.registered, sub)
        let again = await handler.onNewToken(sub)
        XCTAssertTrue(again)

        // The relay has no APNs credentials: a state, and the Web Push endpoint stays.
        let apns = await handler.onNewToken(.apns(token: String(repeating: "ab", count: 32)))
        XCTAssertFalse(apns)
        XCTAssertEqual(handler.state.error, .invalid(field: "push kind"))
        XCTAssertEqual(handler.state.registered, sub)

        // Pairing and the registrations above woke nobody; the patient's risk answer does.
        let before = push.received.count
        try await submitRiskCheckin(p.patient)
        let sent = await SyncPresenter(store: p.patient, transport: p.transport).syncNow()
        XCTAssertNil(sent.error, "patient sync: \(String(describing: sent.last))")
        let posts = await push.awaitPosts(before + 1)
        XCTAssertGreaterThan(posts.count, before, "no wake-up reached the push service; relay:\n\(relay.output)")
        let wake = try XCTUnwrap(posts.last)
        XCTAssertEqual(wake.path, "/push/therapist-1")
        XCTAssertFalse(wake.body.isEmpty, "an encrypted (RFC 8291) body")
        for canary in [p.channelId, "phq9", "Pat", "safety"] {
            XCTAssertNil(wake.body.range(of: Data(canary.utf8)), "plaintext '\(canary)' in the wake-up")
            XCTAssertFalse(wake.head.contains(canary), "'\(canary)' in a header")
        }

        // Until the phone answers the wake-up, its caseload does not know.
        let caseload = CaseloadPresenter(store: p.therapist, formats: p.therapistFormats)
        await caseload.refresh()
        XCTAssertNotEqual(caseload.state.rows.first?.priority, .safety)

        let st = await handler.onWake()
        XCTAssertNil(st.error, "wake sync: \(String(describing: st.last))")
        XCTAssertEqual(handler.state.rounds, 1)
        await caseload.refresh()
        XCTAssertEqual(caseload.state.rows.count, 1)
        XCTAssertEqual(caseload.state.rows.first?.priority, .safety)

        // Wake-ups that arrive together share one round.
        async let w1 = handler.onWake()
        async let w2 = handler.onWake()
        async let w3 = handler.onWake()
        async let w4 = handler.onWake()
        _ = await [w1, w2, w3, w4]
        XCTAssertEqual(handler.state.rounds, 2)

        // A rotated token replaces the old one at the relay.
        let rotated = webPushSubscription("\(push.origin)/push/therapist-2")
        let r = await handler.onNewToken(rotated)
        XCTAssertTrue(r)
        XCTAssertEqual(handler.state.registered, rotated)
        XCTAssertNil(handler.state.error)
    }

    /// Kotlin: "automatic backup after a check-in"
    @MainActor
    func testAutomaticBackupAfterACheckIn() async throws {
        let p = try await PairedApps(self, relay: try startRelay(try makeTempDir().appendingPathComponent("relay.db")))
        let backups = try makeTempDir("backups")
        let vault = MemoryVault()
        let auto = AutoBackup(store: p.patient, vault: vault, directory: backups)
        let backupFile = backups.appendingPathComponent("collabzium.backup")

        // Without a recovery key nothing is due.
        let none = await auto.maybeBackUp()
        XCTAssertEqual(none, .notDue)

        let settings = BackupPresenter(store: p.patient)
        await settings.setUpRecoveryKey()
        let key = try XCTUnwrap(settings.state.recoveryKey, "\(String(describing: settings.state.error))")
        settings.keyShown()
        XCTAssertTrue(try p.patient.backupDue(), "the first backup is due at once")
        // Due, but automatic backups are off (the app holds no key): nothing is written.
        let off = await auto.maybeBackUp()
        XCTAssertEqual(off, .noKey)
        XCTAssertFalse(FileManager.default.fileExists(atPath: backupFile.path))

        vault.key.value = key
        let handler = WakeupHandler(store: p.patient, transport: p.transport, autoBackup: auto)
        await handler.onWake()
        XCTAssertEqual(handler.state.backup, .saved, "\(String(describing: auto.state.error))")
        XCTAssertTrue(FileManager.default.fileExists(atPath: backupFile.path))
        XCTAssertFalse(try p.patient.backupDue())
        XCTAssertNotNil(auto.state.lastBackupAtMillis)
        let notDue = await auto.maybeBackUp()
        XCTAssertEqual(notDue, .notDue)

        // A check-in makes the next one due; the app asks right after submit.
        try await submitRiskCheckin(p.patient)
        XCTAssertTrue(try p.patient.backupDue())
        let firstBytes = try Data(contentsOf: backupFile)
        let saved = await auto.maybeBackUp()
        XCTAssertEqual(saved, .saved)
        XCTAssertFalse(try p.patient.backupDue())
        XCTAssertNotEqual(firstBytes, try Data(contentsOf: backupFile), "the file was replaced")

        // The automatic backup restores on a new phone, check-in included.
        let restore = RestorePresenter(storePath: try makeTempDir().appendingPathComponent("new-phone.db").path, keys: MemoryKeys())
        let restored = await restore.restore(backupPath: backupFile.path, recoveryKey: key, passphrase: "new passphrase")
        let store = try XCTUnwrap(restored, "restore: \(String(describing: restore.state.error))")
        addTeardownBlock { store.closeStore() }
        XCTAssertNil(restore.state.failure)
        XCTAssertFalse(try store.checkinHistory().isEmpty, "the check-in came back")
    }
}
