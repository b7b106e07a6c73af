package org.collabzium.tests

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import org.collabzium.*

/** Backup and restore through the bindings (issue 16 §2, ADR 0011). */
object BackupTest : TestSuite() {
    private fun patient(name: String) = Profile(
        displayName = name,
        timeZone = "Europe/Dublin",
        locale = "en-IE",
        mode = TreatmentMode.GUIDED,
        country = null,
    )

    init {
        test("backup and restore round-trip; wrong key, changed byte and newer version are typed") {
            val dir = tempDir()
            val old = PatientStore.create(dir.resolve("old.db").path, JvmAesKeyProvider(ByteArray(32) { 1 }))
            old.setProfile(patient("Juniper Kotlin"))
            old.grantConsent("data_processing", "v1")
            assertFalse(old.hasRecoveryKey())
            val key = old.setUpRecoveryKey()
            assertEquals(39, key.length)
            val bytes = old.createBackup(key)
            assertFalse(String(bytes, Charsets.ISO_8859_1).contains("Juniper"))

            val restored = restoreBackup(dir.resolve("new.db").path, bytes, key, JvmAesKeyProvider(ByteArray(32) { 2 }))
            restored.store.use { store ->
                assertEquals(patient("Juniper Kotlin"), store.profile())
                assertEquals(1UL, restored.summary.consents)
                assertTrue(store.hasRecoveryKey())
                assertEquals("restored", store.auditLog().last().event)
                assertTrue(store.verifyAudit().ok)
            }
            old.close()

            val other = PatientStore.create(dir.resolve("other.db").path, JvmAesKeyProvider(ByteArray(32) { 3 }))
                .use { it.setUpRecoveryKey() }
            val provider = JvmAesKeyProvider(ByteArray(32) { 4 })
            assertFailsWith<CollabziumException.WrongKey> {
                restoreBackup(dir.resolve("x.db").path, bytes, other, provider)
            }
            val flipped = bytes.copyOf().also { it[it.size - 50] = (it[it.size - 50].toInt() xor 1).toByte() }
            assertFailsWith<CollabziumException.Corrupt> {
                restoreBackup(dir.resolve("y.db").path, flipped, key, provider)
            }
            val newer = bytes.copyOf().also { it[9] = (it[9] + 1).toByte() }
            assertFailsWith<CollabziumException.UnsupportedVersion> {
                restoreBackup(dir.resolve("z.db").path, newer, key, provider)
            }
            assertFalse(dir.resolve("x.db").exists() || dir.resolve("y.db").exists() || dir.resolve("z.db").exists())
        }
    }
}
