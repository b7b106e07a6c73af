package org.collabzium.tests

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import org.collabzium.*

private const val CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/** A valid typed code `NNNN-XXX-XXX-XXC`: the check character is Luhn mod 32 (ADR 0005 §3). */
fun pairingCode(nameplate: String, secret: String): String {
    var factor = 2
    var sum = 0
    for (c in (nameplate + secret).reversed()) {
        val addend = factor * CROCKFORD.indexOf(c)
        factor = if (factor == 2) 1 else 2
        sum += addend / 32 + addend % 32
    }
    val check = CROCKFORD[(32 - sum % 32) % 32]
    return "$nameplate-${secret.substring(0, 3)}-${secret.substring(3, 6)}-${secret.substring(6)}$check"
}

/** The matrix as a camera frame: [scale] px per module, the quiet zone around, dark 25, light 230. */
fun qrFrame(m: QrMatrix, scale: Int): Pair<Int, ByteArray> {
    val size = m.size.toInt()
    val quiet = m.quietZone.toInt()
    val side = (size + 2 * quiet) * scale
    val px = ByteArray(side * side)
    for (y in 0 until side) for (x in 0 until side) {
        val mx = x / scale - quiet
        val my = y / scale - quiet
        val dark = mx in 0 until size && my in 0 until size && m.modules[my * size + mx]
        px[y * side + x] = (if (dark) 25 else 230).toByte()
    }
    return side to px
}

object QrTest : TestSuite() {
    init {
        test("an invitation QR rendered to a frame decodes to the same invitation") {
            val code = pairingCode("4821", "K7QX2MPA")
            val payload = "collabzium://pair?v=1&relay=http%3A%2F%2F127.0.0.1%3A9&code=$code"
            for (text in listOf(payload, code)) {
                val m = inviteQr(text)
                assertEquals(m.size * m.size, m.modules.size.toUInt())
                assertEquals(4u, m.quietZone)
                val (side, frame) = qrFrame(m, 3)
                assertEquals(text, decodeQrLuma(side.toUInt(), side.toUInt(), frame))
            }
        }

        test("garbage frames and non-invitations are typed errors") {
            assertFailsWith<CollabziumException.NotFound> {
                decodeQrLuma(32u, 32u, ByteArray(32 * 32) { (it * 7919).toByte() })
            }
            val e = assertFailsWith<CollabziumException.InvalidInput> { decodeQrLuma(32u, 32u, ByteArray(5)) }
            assertEquals("image", e.field)
            assertFailsWith<CollabziumException.InvalidInput> { decodeQrLuma(100_000u, 100_000u, ByteArray(0)) }
            // A typo in the check character is refused before anything is drawn.
            val good = pairingCode("4821", "K7QX2MPA")
            val bad = good.dropLast(1) + (if (good.last() == '0') "1" else "0")
            val err = assertFailsWith<CollabziumException.Pairing> { inviteQr(bad) }
            assertEquals("invalid_code", err.code)
            assertFailsWith<CollabziumException.Pairing> { inviteQr("https://example.org") }
        }
    }
}
