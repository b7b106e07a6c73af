import Collabzium
import Foundation
import XCTest

/// Backup and restore through the bindings (issue 16 §2, ADR 0011).
final class BackupTests: XCTestCase {
    private func patient(_ name: String) -> Profile {
        Profile(displayName: name, timeZone: "Europe/Dublin", locale: "en-IE", mode: .guided)
    }

    func testBackupRestoreRoundTripAndTypedErrors() throws {
        let dir = try makeTempDir()
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        let old = try PatientStore.create(path: path("old.db"), keyProvider: XorKeyProvider(1))
        try old.setProfile(profile: patient("Juniper Swift"))
        _ = try old.grantConsent(scope: "data_processing", textVersion: "v1")
        XCTAssertFalse(try old.hasRecoveryKey())
        let key = try old.setUpRecoveryKey()
        XCTAssertEqual(key.count, 39)
        let bytes = try old.createBackup(recoveryKey: key)
        XCTAssertNil(bytes.range(of: Data("Juniper".utf8)))

        let restored = try restoreBackup(
            path: path("new.db"), backup: bytes, recoveryKey: key, keyProvider: XorKeyProvider(2))
        XCTAssertEqual(try restored.store.profile(), patient("Juniper Swift"))
        XCTAssertEqual(restored.summary.consents, 1)
        XCTAssertTrue(try restored.store.hasRecoveryKey())
        XCTAssertEqual(try restored.store.auditLog().last?.event, "restored")
        XCTAssertTrue(try restored.store.verifyAudit().ok)
        restored.store.closeStore()
        old.closeStore()

        let otherStore = try PatientStore.create(path: path("other.db"), keyProvider: XorKeyProvider(3))
        let other = try otherStore.setUpRecoveryKey()
        otherStore.closeStore()
        let provider = XorKeyProvider(4)
        XCTAssertThrowsError(
            try restoreBackup(path: path("x.db"), backup: bytes, recoveryKey: other, keyProvider: provider)
        ) { error in
            guard case CollabziumError.WrongKey = error else { return XCTFail("expected WrongKey, got \(error)") }
        }
        var flipped = bytes
        flipped[flipped.count - 50] ^= 1
        XCTAssertThrowsError(
            try restoreBackup(path: path("y.db"), backup: flipped, recoveryKey: key, keyProvider: provider)
        ) { error in
            guard case CollabziumError.Corrupt = error else { return XCTFail("expected Corrupt, got \(error)") }
        }
        var newer = bytes
        newer[9] += 1
        XCTAssertThrowsError(
            try restoreBackup(path: path("z.db"), backup: newer, recoveryKey: key, keyProvider: provider)
        ) { error in
            guard case CollabziumError.UnsupportedVersion = error else {
                return XCTFail("expected UnsupportedVersion, got \(error)")
            }
        }
        for name in ["x.db", "y.db", "z.db"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: path(name)))
        }
    }
}
