// Joining by QR through the state holders: the therapist's invite screen carries the core's QR
// matrix, it is rendered to a grayscale frame as a camera would see it, and the patient's join
// screen reads the frame through the core. Real library, real stores, a real relay process.
// Run by `scripts/test-all.sh --only android` (runner: tests/kotlin/TestRunner.kt).
package org.collabzium.app.logic

import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlinx.coroutines.runBlocking
import org.collabzium.*
import org.collabzium.platform.UrlConnectionTransport
import org.collabzium.tests.TestSuite

/**
 * A frame as the camera sees a phone screen: [scale] pixels per module, the quiet zone
 * around, a grey margin of [margin] pixels, dark 30 and light 220 rather than pure black/white.
 */
fun renderQr(m: QrMatrix, scale: Int = 4, margin: Int = 17): Triple<Int, Int, ByteArray> {
    val size = m.size.toInt()
    val quiet = m.quietZone.toInt()
    val side = (size + 2 * quiet) * scale
    val w = side + 2 * margin
    val h = side + 2 * margin + 9
    val px = ByteArray(w * h) { 180.toByte() }
    for (y in 0 until side) for (x in 0 until side) {
        val mx = x / scale - quiet
        val my = y / scale - quiet
        val dark = mx in 0 until size && my in 0 until size && m.modules[my * size + mx]
        px[(y + margin) * w + x + margin] = (if (dark) 30 else 220).toByte()
    }
    return Triple(w, h, px)
}

object QrJourneys : TestSuite() {
    override val timeoutSeconds = 180L

    init {
        test("joinByQr") {
            val dir = tempDir("collabzium-android-qr-")
            val relay = Relay(this, File(dir, "relay.db"))
            val transport = UrlConnectionTransport()
            val therapist = runBlocking { PairedApps.onboard(File(dir, "t.db").path, "Dr T", "Europe/Berlin", "de-DE", "DE", null) }
            defer { therapist.close() }
            val patient = runBlocking { PairedApps.onboard(File(dir, "p.db").path, "Pat", "Europe/Berlin", "de-DE", "DE", null) }
            defer { patient.close() }

            val invite = InvitePresenter(therapist, transport, relay.url, Formats("de-DE", "Europe/Berlin"))
            defer { invite.close() }
            runBlocking { invite.create("Pat") }
            val qr = assertNotNull(invite.state.value.qr, "invite: ${invite.state.value.error}")
            assertEquals(qr.size * qr.size, qr.modules.size.toUInt())
            assertTrue(qr.quietZone >= 4u)

            // The patient's join screen has no relay configured: the QR code brings it.
            val join = JoinPresenter(patient, transport, null)
            runBlocking { join.scanImage(64, 48, ByteArray(64 * 48) { 255.toByte() }) }
            assertEquals(ScreenError.NotFound("QR code in the image"), join.state.value.error)
            runBlocking { join.scanImage(64, 48, ByteArray(10)) }
            assertEquals(ScreenError.Invalid("image"), join.state.value.error)
            assertEquals("", join.state.value.code, "a failed scan leaves the field alone")

            val (w, h, frame) = renderQr(qr)
            runBlocking { join.scanImage(w, h, frame) }
            assertNull(join.state.value.error, "scan: ${join.state.value.error}")
            assertEquals(invite.state.value.qrPayload, join.state.value.code)

            runBlocking { join.join() }
            assertNull(join.state.value.error, "join: ${join.state.value.error}; relay:\n${relay.output()}")
            val paired = runBlocking { invite.awaitPaired(attempts = 50, intervalMillis = 100) }
                ?: fail("the invitation never completed; relay:\n${relay.output()}")
            runBlocking { SyncPresenter(patient, transport).syncNow(); join.refresh() }
            assertEquals(paired.safetyNumber, join.state.value.result?.safetyNumber)
        }
    }
}
