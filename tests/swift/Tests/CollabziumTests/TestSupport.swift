import Foundation
import XCTest

extension XCTestCase {
    /// A new empty directory, removed when the test finishes (pass or fail).
    func makeTempDir(_ prefix: String = "collabzium-test") throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}
