// Wake-ups and automatic backups through the state holders (issue 16), with the real library, a
// `collabzium relay serve` process with Web Push on, and a local HTTP server standing in for the
// push service. Mirrors ios/Tests/CollabziumAppCoreTests/ContinuityJourneys.swift.
package org.collabzium.app.logic

import com.sun.net.httpserver.HttpServer
import java.io.File
import java.net.InetSocketAddress
import java.security.KeyPairGenerator
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.Base64
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.collabzium.*
import org.collabzium.tests.TestContext
import org.collabzium.tests.TestSuite

/** A test-only VAPID key (P-256, PKCS#8), as an operator would keep it. */
const val TEST_VAPID_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpbzInilqVEB1GP4x
CCpTYftPFaM+BqgL3SyD4T71fTuhRANCAASw9gxiHJTRowriV8Kt/Dj2Fx432ISV
ln4ncqMaQawVuTKOyS8IYRIp6cnTxKqqpacsiJSDlYPD8TKvkpBkhyAE
-----END PRIVATE KEY-----
"""

/** The push service's side: records every POST it is sent and answers 201 Created. */
class PushService(ctx: TestContext) {
    class Received(val path: String, val headers: Map<String, List<String>>, val body: ByteArray)

    val received = CopyOnWriteArrayList<Received>()
    private val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
    val origin: String

    init {
        server.createContext("/push/") { ex ->
            val body = ex.requestBody.readBytes()
            if (ex.requestMethod == "POST") received.add(Received(ex.requestURI.path, ex.requestHeaders.toMap(), body))
            ex.sendResponseHeaders(201, -1)
            ex.close()
        }
        server.start()
        ctx.defer { server.stop(0) }
        origin = "http://127.0.0.1:${server.address.port}"
    }

    fun awaitPosts(n: Int, seconds: Int = 15): List<Received> {
        val until = System.nanoTime() + seconds * 1_000_000_000L
        while (received.size < n && System.nanoTime() < until) Thread.sleep(50)
        return received.toList()
    }
}

/** A Web Push subscription as a browser or UnifiedPush connector makes it: P-256 key, 16-byte secret. */
fun webPushSubscription(endpoint: String): PushEndpoint.WebPush {
    val kp = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()
    val w = (kp.public as ECPublicKey).w
    fun fixed(b: java.math.BigInteger) = b.toByteArray().let { if (it.size > 32) it.copyOfRange(it.size - 32, it.size) else ByteArray(32 - it.size) + it }
    val point = byteArrayOf(4) + fixed(w.affineX) + fixed(w.affineY)
    val auth = ByteArray(16).also { java.security.SecureRandom().nextBytes(it) }
    val b64 = Base64.getUrlEncoder().withoutPadding()
    return PushEndpoint.WebPush(endpoint, b64.encodeToString(point), b64.encodeToString(auth))
}

fun pushRelay(ctx: TestContext): Relay {
    val vapid = ctx.tempDir().resolve("vapid.pem").apply { writeText(TEST_VAPID_PEM) }
    return Relay(
        ctx, ctx.tempDir().resolve("relay.db"),
        extraArgs = listOf(
            "--push-vapid-key", vapid.path, "--push-vapid-subject", "mailto:relay-ops@clinic.test",
            "--push-allow-loopback-http", "--push-interval", "100ms",
        ),
    )
}

/** A PHQ-9 with item 9 (thoughts of self-harm) above zero: a risk answer. */
fun submitRiskCheckin(patient: PatientStore) = runBlocking {
    val checkin = CheckinPresenter(patient)
    checkin.start("phq9")
    repeat(9) { checkin.answer(CheckinAnswerValue.Integer(1L)) }
    assertNotNull(checkin.state.value.crisis, "a risk answer: ${checkin.state.value}")
    checkin.submit()
    assertNotNull(checkin.state.value.result, "submit: ${checkin.state.value.error}")
}

fun containsBytes(hay: ByteArray, needle: ByteArray): Boolean =
    needle.isNotEmpty() && (0..hay.size - needle.size).any { i -> needle.indices.all { hay[i + it] == needle[it] } }

object ContinuityJourneys : TestSuite() {
    override val timeoutSeconds = 180L

    init {
        test("a wake-up brings the safety alert") {
            val push = PushService(this)
            val relay = pushRelay(this)
            val p = PairedApps(this, relay)
            val handler = WakeupHandler(p.therapist, p.transport)

            // The therapist's phone hands its subscription over; the same one again is a no-op.
            val sub = webPushSubscription("${push.origin}/push/therapist-1")
            assertTrue(runBlocking { handler.onNewToken(sub) }, "register: ${handler.state.value}; relay:\n${relay.output()}")
            assertEquals(1, handler.state.value.relays)
            assertEquals(sub, handler.state.value.registered)
            assertTrue(runBlocking { handler.onNewToken(sub) })

            // The relay has no APNs credentials: a state, and the Web Push endpoint stays.
            assertFalse(runBlocking { handler.onNewToken(PushEndpoint.Apns("ab".repeat(32))) })
            assertEquals(ScreenError.Invalid("push kind"), handler.state.value.error)
            assertEquals(sub, handler.state.value.registered)

            // Pairing and the registrations above woke nobody; the patient's risk answer does.
            val before = push.received.size
            submitRiskCheckin(p.patient)
            val sent = runBlocking { SyncPresenter(p.patient, p.transport).syncNow() }
            assertNull(sent.error, "patient sync: ${sent.last}")
            val posts = push.awaitPosts(before + 1)
            assertTrue(posts.size > before, "no wake-up reached the push service; relay:\n${relay.output()}")
            val wake = posts.last()
            assertEquals("/push/therapist-1", wake.path)
            assertTrue(wake.body.isNotEmpty(), "an encrypted (RFC 8291) body")
            for (canary in listOf(p.channelId, "phq9", "Pat", "safety")) {
                assertFalse(containsBytes(wake.body, canary.toByteArray()), "plaintext '$canary' in the wake-up")
                assertFalse(wake.headers.values.flatten().any { it.contains(canary) }, "'$canary' in a header")
            }

            // Until the phone answers the wake-up, its caseload does not know.
            val caseload = CaseloadPresenter(p.therapist, p.therapistFormats)
            runBlocking { caseload.refresh() }
            assertNotEquals(CaseloadPriority.SAFETY, caseload.state.value.rows.single().priority)

            val st = runBlocking { handler.onWake() }
            assertNull(st.error, "wake sync: ${st.last}")
            assertEquals(1, handler.state.value.rounds)
            runBlocking { caseload.refresh() }
            assertEquals(CaseloadPriority.SAFETY, caseload.state.value.rows.single().priority, "${caseload.state.value}")

            // Wake-ups that arrive together share one round.
            runBlocking { (1..4).map { async { handler.onWake() } }.awaitAll() }
            assertEquals(2, handler.state.value.rounds)

            // A rotated token replaces the old one at the relay.
            val rotated = webPushSubscription("${push.origin}/push/therapist-2")
            assertTrue(runBlocking { handler.onNewToken(rotated) })
            assertEquals(rotated, handler.state.value.registered)
            assertNull(handler.state.value.error)
        }

        test("automatic backup after a check-in") {
            val p = PairedApps(this, Relay(this, tempDir().resolve("relay.db")))
            val backups = tempDir("backups-")
            val keyHolder = arrayOfNulls<String>(1)
            val auto = AutoBackup.inDirectory(p.patient, { keyHolder[0] }, backups)
            val backupFile = File(backups, "collabzium.backup")

            // Without a recovery key nothing is due.
            assertEquals(AutoBackupResult.NOT_DUE, runBlocking { auto.maybeBackUp() })

            val settings = BackupPresenter(p.patient)
            runBlocking { settings.setUpRecoveryKey() }
            val key = assertNotNull(settings.state.value.recoveryKey, "${settings.state.value.error}")
            settings.keyShown()
            assertTrue(p.patient.backupDue(), "the first backup is due at once")
            // Due, but automatic backups are off (the app holds no key): nothing is written.
            assertEquals(AutoBackupResult.NO_KEY, runBlocking { auto.maybeBackUp() })
            assertFalse(backupFile.exists())

            keyHolder[0] = key
            val handler = WakeupHandler(p.patient, p.transport, auto)
            runBlocking { handler.onWake() }
            assertEquals(AutoBackupResult.SAVED, handler.state.value.backup, "${auto.state.value}")
            assertTrue(backupFile.isFile)
            assertFalse(p.patient.backupDue())
            assertNotNull(auto.state.value.lastBackupAtMillis)
            assertEquals(AutoBackupResult.NOT_DUE, runBlocking { auto.maybeBackUp() })

            // A check-in makes the next one due; the app asks right after submit.
            submitRiskCheckin(p.patient)
            assertTrue(p.patient.backupDue())
            val firstBytes = backupFile.readBytes()
            assertEquals(AutoBackupResult.SAVED, runBlocking { auto.maybeBackUp() })
            assertFalse(p.patient.backupDue())
            assertFalse(firstBytes.contentEquals(backupFile.readBytes()), "the file was replaced")
            assertFalse(File(backups, "collabzium.backup.partial").exists())

            // The automatic backup restores on a new phone, check-in included.
            val restore = RestorePresenter(tempDir().resolve("new-phone.db").path, MemoryKeys())
            val restored = runBlocking { restore.restore(backupFile.path, key, "new passphrase") }
                ?: fail("restore: ${restore.state.value}")
            defer { restored.close() }
            assertNull(restore.state.value.failure)
            assertTrue(restored.checkinHistory().isNotEmpty(), "the check-in came back")
        }
    }
}
