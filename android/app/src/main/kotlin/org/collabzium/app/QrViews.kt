// The invitation QR on screen and a camera frame for the join screen. Both ends of the QR live
// in the Rust core (encode: InvitePresenter's matrix; decode: JoinPresenter.scanImage), so the
// app needs no QR library: here only drawing modules and turning a Bitmap into luma bytes.
package org.collabzium.app

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.view.View
import org.collabzium.QrMatrix

/**
 * Draws the core's module matrix: pure black on pure white (the highest contrast, whatever the
 * theme), the quiet zone included, square, whole pixels per module so no module blurs.
 */
class QrView(context: Context, private val matrix: QrMatrix) : View(context) {
    private val dark = Paint().apply { color = Color.BLACK; style = Paint.Style.FILL }

    init {
        setBackgroundColor(Color.WHITE)
        // TalkBack reads the code beside the image; the image itself is described, never spelled out.
        importantForAccessibility = IMPORTANT_FOR_ACCESSIBILITY_YES
    }

    override fun onMeasure(widthMeasureSpec: Int, heightMeasureSpec: Int) {
        val w = MeasureSpec.getSize(widthMeasureSpec)
        val side = minOf(w, (resources.displayMetrics.density * 320).toInt())
        setMeasuredDimension(side, side)
    }

    override fun onDraw(canvas: Canvas) {
        val size = matrix.size.toInt()
        val quiet = matrix.quietZone.toInt()
        val total = size + 2 * quiet
        if (size <= 0 || total <= 0) return
        val cell = minOf(width, height) / total
        if (cell <= 0) return
        val offset = (minOf(width, height) - cell * total) / 2 + quiet * cell
        for (y in 0 until size) for (x in 0 until size) {
            if (matrix.modules.getOrElse(y * size + x) { false }) {
                val l = (offset + x * cell).toFloat()
                val t = (offset + y * cell).toFloat()
                canvas.drawRect(l, t, l + cell, t + cell, dark)
            }
        }
    }
}

/** A camera frame as the core reads it: width, height and one luma byte per pixel, row by row. */
class LumaFrame(val width: Int, val height: Int, val luma: ByteArray)

/**
 * Luma (BT.601 weights, integer) of a Bitmap from the camera intent. Large photos are read as
 * they are: the core caps the frame size and refuses what is over it with a typed error.
 */
fun lumaOf(bitmap: Bitmap): LumaFrame {
    val w = bitmap.width
    val h = bitmap.height
    val row = IntArray(w)
    val out = ByteArray(w * h)
    for (y in 0 until h) {
        bitmap.getPixels(row, 0, w, 0, y, w, 1)
        for (x in 0 until w) {
            val c = row[x]
            val r = (c shr 16) and 0xFF
            val g = (c shr 8) and 0xFF
            val b = c and 0xFF
            out[y * w + x] = ((77 * r + 150 * g + 29 * b) shr 8).toByte()
        }
    }
    return LumaFrame(w, h, out)
}
