// Therapist mode: invite, caseload, one patient.
package org.collabzium.app

import android.content.Context
import android.graphics.Canvas
import android.graphics.Paint
import android.os.Bundle
import android.view.View
import kotlinx.coroutines.launch
import org.collabzium.CaseloadPriority
import org.collabzium.app.logic.*

/** Defaults of this build; the Gradle build sets them per flavour. */
object BuildDefaults {
    /** null: the relay is named by the invitation's QR payload. */
    val RELAY_URL: String? = null
    const val THERAPIST_RELAY_URL = "https://relay.collabzium.example"
}

class InviteActivity : BaseActivity() {
    override val showCrisisButton = false

    private var presenter: InvitePresenter? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val presenter = InvitePresenter(store, services.transport, BuildDefaults.THERAPIST_RELAY_URL, formats(store))
        render(presenter.state) { s ->
            content.removeAllViews()
            content.addView(text(getString(R.string.invite_title), title = true))
            if (s.code != null) content.addView(text(getString(R.string.invite_code, s.code, s.expiresText ?: ""), title = true))
            // The core's QR matrix, to scan; the code above is the same invitation to type in.
            // The description names the visible code only, never the payload with its relay.
            s.qr?.let { qr ->
                if (s.paired == null) {
                    content.addView(QrView(this, qr).apply {
                        contentDescription = getString(R.string.invite_qr_desc, s.code ?: "")
                    }, android.widget.LinearLayout.LayoutParams(-1, -2))
                }
            }
            s.paired?.let { content.addView(text(getString(R.string.invite_paired, it.safetyNumber ?: ""))) }
            s.error?.let { content.addView(text(errorText(it))) }
        }
        this.presenter = presenter
        scope.launch {
            presenter.create(null)
            presenter.awaitPaired()
        }
    }

    override fun onDestroy() {
        super.onDestroy() // cancels the polling first
        presenter?.close()
    }
}

class CaseloadActivity : BaseActivity() {
    override val showCrisisButton = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val presenter = CaseloadPresenter(store, formats(store))
        val sync = SyncPresenter(store, services.transport)
        render(presenter.state) { s ->
            content.removeAllViews()
            content.addView(text(getString(R.string.caseload_title), title = true))
            content.addView(button(getString(R.string.invite_title)) { go(InviteActivity::class.java) })
            content.addView(button(getString(R.string.availability_title)) { go(AvailabilityActivity::class.java) })
            for (r in s.rows) {
                val tier = if (r.priority == CaseloadPriority.SAFETY) getString(R.string.priority_safety) else r.priority.name.lowercase()
                content.addView(button("${r.label ?: r.channelId.take(8)} · $tier") { go(PatientDetailActivity::class.java, PatientDetailActivity.EXTRA_CHANNEL to r.channelId) })
                for ((reason, evidence) in r.reasons) content.addView(text((listOf(reason) + evidence).joinToString("\n"), muted = true))
                r.headlineText?.let { content.addView(text(it, muted = true)) }
                if (r.status == "left") content.addView(text(getString(R.string.caseload_left, r.statusSinceText ?: ""), muted = true))
                if (r.status == "ended") content.addView(text(getString(R.string.caseload_ended, r.statusSinceText ?: ""), muted = true))
            }
            s.error?.let { content.addView(text(errorText(it))) }
        }
        scope.launch {
            sync.syncNow()
            presenter.refresh()
        }
    }
}

class PatientDetailActivity : BaseActivity() {
    override val showCrisisButton = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val channel = intent.getStringExtra(EXTRA_CHANNEL) ?: return finish()
        val f = formats(store)
        val presenter = PatientDetailPresenter(store, channel, f)
        val note = input(getString(R.string.patient_ack_note))
        val module = input(getString(R.string.patient_module_id))
        val reply = input(getString(R.string.messages_input))
        val ratings = mutableMapOf<String, Long>()
        render(presenter.state) { s ->
            content.removeAllViews()
            val t = s.timeline
            content.addView(text(t?.label ?: channel.take(8), title = true))
            t?.flags?.forEach { content.addView(text(it.reason, muted = true)) }
            t?.symptoms?.forEach { series ->
                val chart = ChartSeries(series.instrument, !series.higherIsWorse,
                    series.points.map { ChartPoint(it.atMillis, it.score, f.shortDate(it.atMillis), it.bandLabel) }, null)
                content.addView(text(series.instrument.uppercase(), title = true))
                content.addView(ChartView(this, chart).apply {
                    contentDescription = getString(R.string.progress_chart_desc, series.instrument, chart.points.joinToString(", ") { "${it.dateText}: ${it.value}" })
                }, android.widget.LinearLayout.LayoutParams(-1, dp(200)))
            }
            if (t != null) {
                // Engagement and modules, as the core's timeline has them.
                content.addView(text(getString(R.string.patient_week, t.weekNow.toInt()), muted = true))
                t.daysSinceLastActivity?.let { content.addView(text(getString(R.string.patient_last_activity_days, it.toInt()), muted = true)) }
                if (t.progress.isNotEmpty()) content.addView(text(getString(R.string.patient_modules), title = true))
                t.progress.forEach { m -> content.addView(text("${m.title} · ${f.shortDate(m.atMillis)}", muted = true)) }
                val alliance = t.alliance.filter { it.source == "patient" }
                    .map { AllianceRow(it.atMillis, f.shortDate(it.atMillis), it.goals, it.tasks, it.bond) }
                if (t.alliance.isNotEmpty()) content.addView(text(getString(R.string.progress_alliance_title), title = true))
                if (alliance.isNotEmpty()) {
                    content.addView(AllianceChartView(this, alliance).apply {
                        contentDescription = getString(R.string.progress_alliance_desc,
                            alliance.joinToString(", ") { "${it.dateText}: ${it.goals ?: "-"} / ${it.tasks ?: "-"} / ${it.bond ?: "-"}" })
                    }, android.widget.LinearLayout.LayoutParams(-1, dp(200)))
                }
                t.alliance.forEach { a ->
                    content.addView(text(getString(R.string.patient_alliance_row, a.source, f.shortDate(a.atMillis),
                        a.goals?.let(f::score) ?: "-", a.tasks?.let(f::score) ?: "-", a.bond?.let(f::score) ?: "-"), muted = true))
                }
            }
            for (a in s.alerts) {
                content.addView(text(a.receivedText))
                (note.parent as? android.view.ViewGroup)?.removeView(note)
                content.addView(note)
                content.addView(button(getString(R.string.patient_ack)) {
                    scope.launch { presenter.acknowledge(a.alertId, "phone", note.text.toString().ifBlank { null }) }
                })
            }
            content.addView(text(getString(R.string.nav_messages), title = true))
            for (m in s.messages) content.addView(text("${m.text}\n${m.atText}", muted = !m.fromMe))
            (reply.parent as? android.view.ViewGroup)?.removeView(reply)
            content.addView(reply)
            content.addView(button(getString(R.string.messages_send)) {
                val body = reply.text.toString()
                if (body.isNotBlank()) { reply.setText(""); scope.launch { presenter.reply(body) } }
            })
            // The therapist's own alliance rating: one choice per item, from the core's form.
            if (s.ratingForm.isNotEmpty()) content.addView(text(getString(R.string.patient_rate_title), title = true))
            for (item in s.ratingForm.filter { it.options.isNotEmpty() }) {
                content.addView(text(item.text))
                val group = android.widget.RadioGroup(this).apply { orientation = android.widget.LinearLayout.HORIZONTAL }
                for (o in item.options) {
                    group.addView(android.widget.RadioButton(this).apply {
                        id = View.generateViewId()
                        text = o.value.toString()
                        contentDescription = "${item.text}: ${o.value} ${o.text}"
                        setTextSize(android.util.TypedValue.COMPLEX_UNIT_SP, 18f)
                        minHeight = dp(48)
                        minWidth = dp(48)
                        isChecked = ratings[item.linkId] == o.value
                        setOnClickListener { ratings[item.linkId] = o.value }
                    })
                }
                content.addView(group)
            }
            if (s.ratingForm.isNotEmpty()) content.addView(button(getString(R.string.patient_rate_save)) { scope.launch { presenter.rateAlliance(ratings.toMap()) } })
            (module.parent as? android.view.ViewGroup)?.removeView(module)
            content.addView(module)
            content.addView(button(getString(R.string.patient_approve)) { scope.launch { presenter.approveModule(module.text.toString()) } })
            // The sample programs ship as assets (cli/data/programs); the core validates them.
            for (name in assets.list("programs").orEmpty().filter { it.endsWith(".json") }) {
                content.addView(button(getString(R.string.patient_assign, name.removeSuffix(".json"))) {
                    val json = assets.open("programs/$name").bufferedReader().use { it.readText() }
                    val today = java.text.SimpleDateFormat("yyyy-MM-dd", java.util.Locale.ROOT).format(java.util.Date())
                    scope.launch { presenter.assignProgram(json, today) }
                })
            }
            s.done?.let { content.addView(text(it, muted = true)) }
            s.error?.let { content.addView(text(errorText(it))) }
        }
        scope.launch { presenter.refresh(); presenter.loadRatingForm() }
    }

    companion object {
        const val EXTRA_CHANNEL = "channel_id"
    }
}

/** A symptom chart drawn with Canvas: severity bands as they come from the core, dates below. */
class ChartView(context: Context, private val series: ChartSeries) : View(context) {
    private val line = Paint(Paint.ANTI_ALIAS_FLAG).apply { color = Palette.CHART_LINE; strokeWidth = 6f; style = Paint.Style.STROKE }
    private val dot = Paint(Paint.ANTI_ALIAS_FLAG).apply { color = Palette.CHART_LINE }
    private val label = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        color = Palette.TEXT
        textSize = android.util.TypedValue.applyDimension(android.util.TypedValue.COMPLEX_UNIT_SP, 12f, resources.displayMetrics)
    }
    private val band = Paint()

    override fun onDraw(canvas: Canvas) {
        val pts = series.points
        if (pts.isEmpty()) return
        val w = width.toFloat()
        val h = height.toFloat() - label.textSize * 2
        // The axis and the bands come from the core's series when it sent them (patient progress).
        val minY = if (series.bands.isNotEmpty()) series.min else 0.0
        val maxY = if (series.bands.isNotEmpty()) series.max else (pts.maxOf { it.value }).coerceAtLeast(1.0) * 1.2
        val step = if (pts.size > 1) w / (pts.size - 1) else 0f
        fun x(i: Int) = if (pts.size > 1) i * step else w / 2
        fun y(v: Double) = (h - ((v - minY) / (maxY - minY).coerceAtLeast(1e-9)) * h).toFloat()
        fun tint(id: String?) = when {
            id == null -> Palette.SURFACE
            id.contains("severe") -> Palette.BAND_SEVERE
            id.contains("moderate") -> Palette.BAND_MODERATE
            else -> Palette.BAND_MILD
        }
        if (series.bands.isNotEmpty()) {
            // Horizontal severity bands behind the line, as the instrument defines them.
            for (b in series.bands) {
                band.color = tint(b.id)
                canvas.drawRect(0f, y(b.max), w, y(b.min), band)
            }
        } else {
            // Each point's column is tinted by the severity the core assigned it (no thresholds here).
            pts.forEachIndexed { i, p ->
                band.color = tint(p.severity)
                val half = if (pts.size > 1) step / 2 else w / 2
                canvas.drawRect(x(i) - half, 0f, x(i) + half, h, band)
            }
        }
        for (i in 1 until pts.size) canvas.drawLine(x(i - 1), y(pts[i - 1].value), x(i), y(pts[i].value), line)
        pts.forEachIndexed { i, p ->
            canvas.drawCircle(x(i), y(p.value), 10f, dot)
            canvas.drawText(p.dateText, (x(i) - label.measureText(p.dateText) / 2).coerceIn(0f, w - label.measureText(p.dateText)), h + label.textSize * 1.5f, label)
        }
    }
}

/** Availability hours and whether safety alerts notify outside them. */
class AvailabilityActivity : BaseActivity() {
    override val showCrisisButton = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val presenter = AvailabilityPresenter(store)
        val start = input(getString(R.string.availability_start)).apply { setText("09:00") }
        val end = input(getString(R.string.availability_end)).apply { setText("17:00") }
        val reply = input(getString(R.string.availability_reply_hours)).apply {
            setText("48")
            inputType = android.text.InputType.TYPE_CLASS_NUMBER
        }
        val alerts = android.widget.CheckBox(this).apply {
            text = getString(R.string.availability_alerts_outside)
            contentDescription = text
            textSize = 18f
            minHeight = dp(48)
            isChecked = true
        }
        val status = text("", muted = true)
        content.addView(text(getString(R.string.availability_title), title = true))
        for (v in listOf(start, end, reply, alerts, status)) content.addView(v)
        content.addView(button(getString(R.string.done)) {
            val settings = org.collabzium.AvailabilitySettings(
                java.util.TimeZone.getDefault().id,
                listOf(org.collabzium.AvailabilityWindow(listOf("MO", "TU", "WE", "TH", "FR"), start.text.toString(), end.text.toString())),
                reply.text.toString().toUIntOrNull() ?: 48u,
                alerts.isChecked,
            )
            scope.launch { presenter.save(settings) }
        })
        render(presenter.state) { s ->
            status.text = s.error?.let(::errorText) ?: if (s.saved) getString(R.string.done) else ""
        }
    }
}
