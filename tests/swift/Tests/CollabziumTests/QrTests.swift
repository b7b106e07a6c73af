import Collabzium
import Foundation
import XCTest

private let crockford = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

/// A valid typed code `NNNN-XXX-XXX-XXC`: the check character is Luhn mod 32 (ADR 0005 §3).
func pairingCode(nameplate: String, secret: String) -> String {
    var factor = 2
    var sum = 0
    for c in (nameplate + secret).reversed() {
        let addend = factor * (crockford.firstIndex(of: c) ?? 0)
        factor = factor == 2 ? 1 : 2
        sum += addend / 32 + addend % 32
    }
    let check = crockford[(32 - sum % 32) % 32]
    let s = Array(secret)
    return "\(nameplate)-\(String(s[0..<3]))-\(String(s[3..<6]))-\(String(s[6...]))\(check)"
}

/// The matrix as a camera frame: `scale` px per module, the quiet zone around, dark 25, light 230.
func qrFrame(_ m: QrMatrix, scale: Int) -> (side: Int, luma: Data) {
    let size = Int(m.size)
    let quiet = Int(m.quietZone)
    let side = (size + 2 * quiet) * scale
    var px = [UInt8](repeating: 230, count: side * side)
    for y in 0..<side {
        for x in 0..<side {
            let mx = x / scale - quiet
            let my = y / scale - quiet
            if mx >= 0, my >= 0, mx < size, my < size, m.modules[my * size + mx] {
                px[y * side + x] = 25
            }
        }
    }
    return (side, Data(px))
}

final class QrTests: XCTestCase {
    func testAnInvitationQrRenderedToAFrameDecodesToTheSameInvitation() throws {
        let code = pairingCode(nameplate: "4821", secret: "K7QX2MPA")
        let payload = "collabzium://pair?v=1&relay=http%3A%2F%2F127.0.0.1%3A9&code=\(code)"
        for text in [payload, code] {
            let m = try inviteQr(code: text)
            XCTAssertEqual(Int(m.size * m.size), m.modules.count)
            XCTAssertEqual(m.quietZone, 4)
            let frame = qrFrame(m, scale: 3)
            XCTAssertEqual(try decodeQrLuma(width: UInt32(frame.side), height: UInt32(frame.side), luma: frame.luma), text)
        }
    }

    func testGarbageFramesAndNonInvitationsAreTypedErrors() throws {
        let noise = Data((0..<(32 * 32)).map { UInt8(truncatingIfNeeded: $0 * 7919) })
        XCTAssertThrowsError(try decodeQrLuma(width: 32, height: 32, luma: noise)) { error in
            guard case CollabziumError.NotFound = error else { return XCTFail("expected NotFound, got \(error)") }
        }
        XCTAssertThrowsError(try decodeQrLuma(width: 32, height: 32, luma: Data(count: 5))) { error in
            guard case let CollabziumError.InvalidInput(field, _) = error else {
                return XCTFail("expected InvalidInput, got \(error)")
            }
            XCTAssertEqual(field, "image")
        }
        let good = pairingCode(nameplate: "4821", secret: "K7QX2MPA")
        let bad = String(good.dropLast()) + (good.last == "0" ? "1" : "0")
        XCTAssertThrowsError(try inviteQr(code: bad)) { error in
            guard case let CollabziumError.Pairing(code) = error else {
                return XCTFail("expected Pairing, got \(error)")
            }
            XCTAssertEqual(code, "invalid_code")
        }
    }
}
