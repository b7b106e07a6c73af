package org.collabzium.app.logic

import java.text.DateFormat
import java.text.NumberFormat
import java.util.Date
import java.util.Locale
import java.util.TimeZone

/**
 * Dates and numbers in the patient's locale and zone. java.text rather than java.time:
 * java.time needs API 26, and the app's minSdk is 24.
 */
class Formats(val locale: Locale, val zone: TimeZone) {
    constructor(languageTag: String, zoneId: String) :
        this(Locale.forLanguageTag(languageTag), TimeZone.getTimeZone(zoneId))

    private fun fmt(f: DateFormat): DateFormat = f.also { it.timeZone = zone }

    fun dateTime(millis: Long): String =
        fmt(DateFormat.getDateTimeInstance(DateFormat.MEDIUM, DateFormat.SHORT, locale)).format(Date(millis))

    fun date(millis: Long): String = fmt(DateFormat.getDateInstance(DateFormat.MEDIUM, locale)).format(Date(millis))

    fun shortDate(millis: Long): String = fmt(DateFormat.getDateInstance(DateFormat.SHORT, locale)).format(Date(millis))

    fun time(millis: Long): String = fmt(DateFormat.getTimeInstance(DateFormat.SHORT, locale)).format(Date(millis))

    /** A score: whole numbers without decimals, prorated ones with one. */
    fun score(value: Double): String {
        val nf = NumberFormat.getNumberInstance(locale)
        nf.maximumFractionDigits = if (value % 1.0 == 0.0) 0 else 1
        nf.minimumFractionDigits = 0
        return nf.format(value)
    }

    fun percent(fraction: Double): String = NumberFormat.getPercentInstance(locale).format(fraction)
}

/**
 * The app's colours (ARGB). The Views read them from here so that the contrast test checks
 * exactly what is drawn: every text/background pair in [textPairs] must reach 4.5:1 (WCAG AA).
 */
object Palette {
    const val BACKGROUND = 0xFFFFFFFF.toInt()
    const val SURFACE = 0xFFF3F4F6.toInt()
    const val TEXT = 0xFF1B1C1F.toInt()
    const val TEXT_MUTED = 0xFF4B5060.toInt()
    const val PRIMARY = 0xFF1F5C99.toInt()
    const val ON_PRIMARY = 0xFFFFFFFF.toInt()
    const val CRISIS = 0xFFA4161A.toInt()
    const val ON_CRISIS = 0xFFFFFFFF.toInt()
    const val BAND_MILD = 0xFFE8F1E4.toInt()
    const val BAND_MODERATE = 0xFFFBF0D9.toInt()
    const val BAND_SEVERE = 0xFFF9E0DE.toInt()
    const val CHART_LINE = 0xFF1F5C99.toInt()

    /** (name, foreground, background) for every place text is drawn. */
    val textPairs: List<Triple<String, Int, Int>> = listOf(
        Triple("text on background", TEXT, BACKGROUND),
        Triple("text on surface", TEXT, SURFACE),
        Triple("muted text on background", TEXT_MUTED, BACKGROUND),
        Triple("muted text on surface", TEXT_MUTED, SURFACE),
        Triple("button text on primary", ON_PRIMARY, PRIMARY),
        Triple("crisis button text", ON_CRISIS, CRISIS),
        Triple("primary text on background", PRIMARY, BACKGROUND),
        Triple("chart labels on mild band", TEXT, BAND_MILD),
        Triple("chart labels on moderate band", TEXT, BAND_MODERATE),
        Triple("chart labels on severe band", TEXT, BAND_SEVERE),
    )

    /** WCAG 2.x contrast ratio of two opaque colours. */
    fun contrast(a: Int, b: Int): Double {
        val la = luminance(a)
        val lb = luminance(b)
        return (maxOf(la, lb) + 0.05) / (minOf(la, lb) + 0.05)
    }

    private fun luminance(argb: Int): Double {
        fun channel(shift: Int): Double {
            val c = ((argb shr shift) and 0xFF) / 255.0
            return if (c <= 0.03928) c / 12.92 else Math.pow((c + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * channel(16) + 0.7152 * channel(8) + 0.0722 * channel(0)
    }
}
