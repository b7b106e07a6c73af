package org.collabzium.tests

import java.io.File
import java.security.MessageDigest
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.SecretKeySpec
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import org.collabzium.*

/**
 * A key provider written in Kotlin, shaped like the Android Keystore one:
 * AES-GCM wrap under a key that never leaves the provider.
 */
class JvmAesKeyProvider(private val kek: ByteArray) : KeyProvider {
    var destroyed = false

    override fun wrapKey(dataKey: ByteArray): ByteArray {
        val nonce = ByteArray(12).also { java.security.SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, SecretKeySpec(kek, "AES"), GCMParameterSpec(128, nonce))
        return nonce + cipher.doFinal(dataKey)
    }

    override fun unwrapKey(wrapped: ByteArray): ByteArray {
        if (wrapped.size < 12 + 16) throw KeyProviderException.Malformed()
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.DECRYPT_MODE, SecretKeySpec(kek, "AES"), GCMParameterSpec(128, wrapped, 0, 12))
        try {
            return cipher.doFinal(wrapped, 12, wrapped.size - 12)
        } catch (e: AEADBadTagException) {
            throw KeyProviderException.WrongKey()
        }
    }

    override fun destroyKey() {
        destroyed = true
    }
}

/** A provider whose platform keystore is broken in an unexpected way. */
class ThrowingKeyProvider : KeyProvider {
    override fun wrapKey(dataKey: ByteArray): ByteArray = throw IllegalStateException("keystore exploded")
    override fun unwrapKey(wrapped: ByteArray): ByteArray = throw IllegalStateException("keystore exploded")
    override fun destroyKey() {}
}

private fun sha256(f: File): ByteArray = MessageDigest.getInstance("SHA-256").digest(f.readBytes())

private fun profile(name: String) = Profile(
    displayName = name,
    timeZone = "America/New_York",
    locale = "en-US",
    mode = TreatmentMode.GUIDED,
)

object StoreTest : TestSuite() {
    init {
        test("create, write, reopen and read with a Kotlin key provider") {
            val path = tempDir().resolve("patient.db").path
            val provider = JvmAesKeyProvider(ByteArray(32) { 7 })
            PatientStore.create(path, provider).use { store ->
                store.setProfile(profile("Kotlin Patient"))
                store.grantConsent("therapist_sharing", "v1")
                store.grantConsent("research_export", "v1")
                store.withdrawConsent("research_export", "v1")
            }
            PatientStore.open(path, provider).use { store ->
                assertEquals(profile("Kotlin Patient"), store.profile())
                val consents = store.consents().associateBy { it.scope }
                assertTrue(consents.getValue("therapist_sharing").granted)
                assertFalse(consents.getValue("research_export").granted)
                assertEquals(3, store.consentHistory().size)
                val info = store.info()
                assertTrue(info.hasProfile)
                assertEquals(6L, info.schemaVersion) // v6: change sequence (v5: hidden kinds of clinical events)
                assertTrue(store.verifyAudit().ok)
            }
        }

        test("wrong key is WrongKey and leaves the file unchanged") {
            val file = tempDir().resolve("patient.db")
            PatientStore.create(file.path, JvmAesKeyProvider(ByteArray(32) { 1 })).use { it.setProfile(profile("A")) }
            val before = sha256(file)
            repeat(5) {
                assertFailsWith<CollabziumException.WrongKey> {
                    PatientStore.open(file.path, JvmAesKeyProvider(ByteArray(32) { 2 }))
                }
            }
            assertContentEquals(before, sha256(file))
            // A broken keystore is "unavailable", never "wrong key", and never a crash.
            assertFailsWith<CollabziumException.KeyUnavailable> { PatientStore.open(file.path, ThrowingKeyProvider()) }
            PatientStore.open(file.path, JvmAesKeyProvider(ByteArray(32) { 1 })).use {
                val events = it.auditLog().map { e -> e.event }
                assertEquals(5, events.count { e -> e == "failed_unlock" })
            }
        }

        test("invalid input names the field and stores nothing") {
            val path = tempDir().resolve("patient.db").path
            PatientStore.create(path, JvmAesKeyProvider(ByteArray(32) { 3 })).use { store ->
                val e = assertFailsWith<CollabziumException.InvalidInput> {
                    store.setProfile(profile("B").copy(timeZone = "UTC+5"))
                }
                assertEquals("time_zone", e.field)
                assertEquals(null, store.profile())
                assertFailsWith<CollabziumException.InvalidInput> { memoryKeyProvider(ByteArray(3)) }
            }
        }

        test("export and erase") {
            val dir = tempDir()
            val path = dir.resolve("patient.db").path
            val provider = JvmAesKeyProvider(ByteArray(32) { 4 })
            val store = PatientStore.create(path, provider)
            store.setProfile(profile("Export Kotlin"))
            store.grantConsent("data_processing", "v2")
            val export = store.exportJson()
            assertTrue(export.contains("\"format\": \"collabzium.export\""), export)
            assertTrue(export.contains("Export Kotlin"))
            val report = store.erase()
            assertTrue(report.filesRemoved.contains("patient.db"))
            assertTrue(provider.destroyed, "the platform key was not destroyed")
            assertFalse(File(path).exists())
            assertFalse(File("$path-wal").exists())
            assertFailsWith<CollabziumException.Closed> { store.profile() }
            assertFailsWith<CollabziumException.NotFound> { PatientStore.open(path, provider) }
            store.close()
        }

        test("rekey with the Rust passphrase provider") {
            val path = tempDir().resolve("patient.db").path
            val kotlinProvider = JvmAesKeyProvider(ByteArray(32) { 5 })
            PatientStore.create(path, kotlinProvider).use { store ->
                store.setProfile(profile("Rekey"))
                store.rekey(passphraseKeyProvider("a brand new passphrase"))
            }
            assertFailsWith<CollabziumException.WrongKey> { PatientStore.open(path, kotlinProvider) }
            PatientStore.open(path, passphraseKeyProvider("a brand new passphrase")).use {
                assertNotNull(it.profile())
            }
        }
    }
}
