package org.collabzium.tests

import kotlin.test.assertTrue
import org.collabzium.coreVersion

private val SEMVER = Regex("""^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$""")

object VersionTest : TestSuite() {
    init {
        test("coreVersion is a non-empty semver") {
            val version = coreVersion()
            assertTrue(version.isNotEmpty(), "coreVersion() returned an empty string")
            assertTrue(SEMVER.matches(version), "coreVersion() = '$version' does not look like semver")
        }
    }
}
