import Collabzium
import Foundation
import XCTest

/// A key provider written in Swift. Linux has no CryptoKit, so it XORs with
/// a secret: it cannot tell a wrong key itself, which is exactly the case the
/// store's key check must catch.
final class XorKeyProvider: KeyProvider, @unchecked Sendable {
    private let secret: [UInt8]
    private let lock = NSLock()
    private var _destroyed = false
    var destroyed: Bool { lock.lock(); defer { lock.unlock() }; return _destroyed }

    init(_ byte: UInt8) { secret = [UInt8](repeating: byte, count: 32) }

    func wrapKey(dataKey: Data) throws -> Data {
        Data(dataKey.enumerated().map { $0.element ^ secret[$0.offset % secret.count] })
    }

    func unwrapKey(wrapped: Data) throws -> Data {
        guard wrapped.count == 32 else { throw KeyProviderError.Malformed }
        return try wrapKey(dataKey: wrapped)
    }

    func destroyKey() throws {
        lock.lock(); _destroyed = true; lock.unlock()
    }
}

final class LockedKeyProvider: KeyProvider, @unchecked Sendable {
    func wrapKey(dataKey: Data) throws -> Data { throw KeyProviderError.Unavailable(reason: "device locked") }
    func unwrapKey(wrapped: Data) throws -> Data { throw KeyProviderError.Unavailable(reason: "device locked") }
    func destroyKey() throws {}
}

private func profile(_ name: String) -> Profile {
    Profile(displayName: name, timeZone: "Australia/Sydney", locale: "en-AU", mode: .unguided)
}

private func sha256Substitute(_ url: URL) throws -> Data {
    // Foundation on Linux has no SHA-256; comparing the full bytes is stricter anyway.
    try Data(contentsOf: url)
}

final class StoreTests: XCTestCase {
    func testCreateWriteReopenRead() throws {
        let path = try makeTempDir().appendingPathComponent("patient.db").path
        let provider = XorKeyProvider(0x42)
        do {
            let store = try PatientStore.create(path: path, keyProvider: provider)
            try store.setProfile(profile: profile("Swift Patient"))
            _ = try store.grantConsent(scope: "therapist_sharing", textVersion: "v1")
            _ = try store.withdrawConsent(scope: "therapist_sharing", textVersion: "v1")
            store.closeStore()
        }
        let store = try PatientStore.open(path: path, keyProvider: provider)
        XCTAssertEqual(try store.profile(), profile("Swift Patient"))
        let consents = try store.consents()
        XCTAssertEqual(consents.count, 1)
        XCTAssertFalse(consents[0].granted)
        XCTAssertEqual(try store.consentHistory().count, 2)
        XCTAssertTrue(try store.verifyAudit().ok)
        XCTAssertEqual(try store.info().schemaVersion, 6) // v6: change sequence (v5: hidden kinds of clinical events)
    }

    func testWrongKeyIsCaughtByKeyCheckAndFileIsUnchanged() throws {
        let url = try makeTempDir().appendingPathComponent("patient.db")
        let store = try PatientStore.create(path: url.path, keyProvider: XorKeyProvider(1))
        try store.setProfile(profile: profile("A"))
        store.closeStore()
        let before = try sha256Substitute(url)
        for _ in 0..<5 {
            XCTAssertThrowsError(try PatientStore.open(path: url.path, keyProvider: XorKeyProvider(2))) { error in
                guard case CollabziumError.WrongKey = error else {
                    return XCTFail("expected WrongKey, got \(error)")
                }
            }
        }
        XCTAssertEqual(try sha256Substitute(url), before)
        XCTAssertThrowsError(try PatientStore.open(path: url.path, keyProvider: LockedKeyProvider())) { error in
            guard case CollabziumError.KeyUnavailable = error else {
                return XCTFail("expected KeyUnavailable, got \(error)")
            }
        }
    }

    func testInvalidInputNamesTheField() throws {
        let path = try makeTempDir().appendingPathComponent("patient.db").path
        let store = try PatientStore.create(path: path, keyProvider: XorKeyProvider(3))
        var p = profile("B")
        p.locale = "english"
        XCTAssertThrowsError(try store.setProfile(profile: p)) { error in
            guard case let CollabziumError.InvalidInput(field, _) = error else {
                return XCTFail("expected InvalidInput, got \(error)")
            }
            XCTAssertEqual(field, "locale")
        }
        XCTAssertNil(try store.profile())
    }

    func testExportAndErase() throws {
        let dir = try makeTempDir()
        let path = dir.appendingPathComponent("patient.db").path
        let provider = XorKeyProvider(4)
        let store = try PatientStore.create(path: path, keyProvider: provider)
        try store.setProfile(profile: profile("Export Swift"))
        let export = try store.exportJson()
        XCTAssertTrue(export.contains("collabzium.export"))
        XCTAssertTrue(export.contains("Export Swift"))
        let report = try store.erase()
        XCTAssertTrue(report.filesRemoved.contains("patient.db"))
        XCTAssertTrue(provider.destroyed)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertThrowsError(try store.profile()) { error in
            guard case CollabziumError.Closed = error else { return XCTFail("expected Closed, got \(error)") }
        }
        XCTAssertThrowsError(try PatientStore.open(path: path, keyProvider: provider))
    }
}
