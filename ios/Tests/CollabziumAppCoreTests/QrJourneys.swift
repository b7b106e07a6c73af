// Joining by QR through the state holders: the therapist's invite screen carries the core's QR
// matrix, it is rendered to a grayscale frame as a camera would see it, and the patient's join
// screen reads the frame through the core. Mirrors android/app-logic/src/test/.../QrJourneys.kt.
// Run by `scripts/test-all.sh --only ios`.
import Collabzium
@testable import CollabziumAppCore
import Foundation
import XCTest

/// A frame as the camera sees a phone screen: `scale` pixels per module, the quiet zone around, a
/// grey margin of `margin` pixels, dark 30 and light 220 rather than pure black and white.
func renderQr(_ m: QrMatrix, scale: Int = 4, margin: Int = 17) -> (width: Int, height: Int, luma: Data) {
    let size = Int(m.size)
    let quiet = Int(m.quietZone)
    let side = (size + 2 * quiet) * scale
    let w = side + 2 * margin
    let h = side + 2 * margin + 9
    var px = [UInt8](repeating: 180, count: w * h)
    for y in 0..<side {
        for x in 0..<side {
            let mx = x / scale - quiet
            let my = y / scale - quiet
            let dark = mx >= 0 && my >= 0 && mx < size && my < size && m.modules[my * size + mx]
            px[(y + margin) * w + x + margin] = dark ? 30 : 220
        }
    }
    return (w, h, Data(px))
}

// @unchecked Sendable: as in Journeys, the case has no state of its own.
@MainActor
final class QrJourneys: XCTestCase, @unchecked Sendable {
    /// Kotlin: "joinByQr"
    func testJoinByQr() async throws {
        let dir = try makeTempDir()
        let relay = try startRelay(dir.appendingPathComponent("relay.db"))
        let transport = URLSessionTransport()
        let therapist = try await onboard(dir.appendingPathComponent("t.db").path, "Dr T", zone: "Europe/Berlin",
                                          locale: "de-DE", country: "DE", passphrase: nil)
        addTeardownBlock { therapist.closeStore() }
        let patient = try await onboard(dir.appendingPathComponent("p.db").path, "Pat", zone: "Europe/Berlin",
                                        locale: "de-DE", country: "DE", passphrase: nil)
        addTeardownBlock { patient.closeStore() }

        let invite = InvitePresenter(store: therapist, transport: transport, relayUrl: relay.url,
                                     formats: Formats("de-DE", "Europe/Berlin"))
        await invite.create(label: "Pat")
        let qr = try XCTUnwrap(invite.state.qr, "invite: \(String(describing: invite.state.error))")
        XCTAssertEqual(Int(qr.size * qr.size), qr.modules.count)
        XCTAssertGreaterThanOrEqual(qr.quietZone, 4)

        // The patient's join screen has no relay configured: the QR code brings it.
        let join = JoinPresenter(store: patient, transport: transport, relayUrl: nil)
        await join.scanImage(width: 64, height: 48, luma: Data(repeating: 255, count: 64 * 48))
        XCTAssertEqual(join.state.error, .notFound(what: "QR code in the image"))
        await join.scanImage(width: 64, height: 48, luma: Data(count: 10))
        XCTAssertEqual(join.state.error, .invalid(field: "image"))
        XCTAssertEqual(join.state.code, "", "a failed scan leaves the field alone")

        let frame = renderQr(qr)
        await join.scanImage(width: frame.width, height: frame.height, luma: frame.luma)
        XCTAssertNil(join.state.error, "scan: \(String(describing: join.state.error))")
        XCTAssertEqual(join.state.code, invite.state.qrPayload)

        await join.join()
        XCTAssertNil(join.state.error, "join; relay:\n\(relay.output)")
        guard let paired = await invite.awaitPaired(attempts: 50, intervalMillis: 100) else {
            return XCTFail("the invitation never completed; relay:\n\(relay.output)")
        }
        invite.close()
        await SyncPresenter(store: patient, transport: transport).syncNow()
        await join.refresh()
        XCTAssertEqual(paired.safetyNumber, join.state.result?.safetyNumber)
    }
}
