import Collabzium
import Foundation
import XCTest

final class VersionTests: XCTestCase {
    func testCoreVersionIsNonEmptySemver() throws {
        let version = coreVersion()
        XCTAssertFalse(version.isEmpty, "coreVersion() returned an empty string")
        let semver = #"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"#
        XCTAssertNotNil(
            version.range(of: semver, options: .regularExpression),
            "coreVersion() = '\(version)' does not look like semver"
        )
    }
}
