// The patient's screens: each Activity builds Views from its state holder's state, nothing more.
package org.collabzium.app

import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.util.TypedValue
import android.widget.CheckBox
import kotlinx.coroutines.launch
import org.collabzium.AgendaItemKind
import org.collabzium.AlertState
import org.collabzium.CheckinAnswerValue
import org.collabzium.Delivery
import org.collabzium.TreatmentMode
import org.collabzium.app.logic.*
import org.collabzium.platform.FingerprintUnlock

/** Routes to onboarding, unlock, or the home screen of the chosen mode. */
class LaunchActivity : BaseActivity() {
    override val showCrisisButton = false
    override val healthScreen = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val next = when {
            services.store != null -> if (isTherapist()) CaseloadActivity::class.java else TodayActivity::class.java
            java.io.File(services.storePath).exists() -> UnlockActivity::class.java
            else -> OnboardingActivity::class.java
        }
        startActivity(Intent(this, next))
        finish()
    }

    private fun isTherapist() = getSharedPreferences("collabzium.app", MODE_PRIVATE).getBoolean("therapist", false)
}

class OnboardingActivity : BaseActivity() {
    private lateinit var presenter: OnboardingPresenter

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        presenter = OnboardingPresenter(services.storePath, services.keys)
        render(presenter.state) { draw(it) }
    }

    private fun draw(s: OnboardingState) {
        content.removeAllViews()
        when (s.step) {
            OnboardingStep.ABOUT -> {
                content.addView(text(getString(R.string.onboarding_about_title), title = true))
                content.addView(text(getString(R.string.onboarding_about)))
                content.addView(button(getString(R.string.restore_title)) { go(RestoreActivity::class.java) })
            }
            OnboardingStep.CONSENT -> content.addView(CheckBox(this).apply {
                text = getString(R.string.onboarding_consent)
                contentDescription = getString(R.string.onboarding_consent)
                textSize = 18f
                minHeight = dp(48)
                isChecked = s.consentGiven
                setOnCheckedChangeListener { _, c -> presenter.setConsent(c) }
            })
            OnboardingStep.COUNTRY -> {
                val country = input(getString(R.string.onboarding_country))
                country.setText(s.country ?: java.util.Locale.getDefault().country)
                content.addView(country)
                content.addView(button(getString(R.string.next)) { presenter.chooseCountry(country.text.toString()); presenter.next() })
                return
            }
            OnboardingStep.UNLOCK -> {
                val pass = input(getString(R.string.onboarding_passphrase), secret = true)
                val therapist = CheckBox(this).apply {
                    text = getString(R.string.onboarding_therapist_mode)
                    contentDescription = text
                    textSize = 18f
                    minHeight = dp(48)
                }
                // Without a passphrase the device key may also be bound to a fingerprint (optional).
                val fingerprints = FingerprintUnlock(this)
                val fingerprint = CheckBox(this).apply {
                    text = getString(R.string.onboarding_fingerprint)
                    contentDescription = text
                    textSize = 18f
                    minHeight = dp(48)
                }
                val recovery = CheckBox(this).apply {
                    text = getString(R.string.onboarding_recovery_key)
                    contentDescription = text
                    textSize = 18f
                    minHeight = dp(48)
                    isChecked = true
                }
                content.addView(pass)
                if (fingerprints.isAvailable()) content.addView(fingerprint)
                content.addView(therapist)
                content.addView(recovery)
                s.error?.let { content.addView(text(errorText(it))) }
                val status = text("")
                content.addView(status)
                content.addView(button(getString(R.string.done)) {
                    val passphrase = pass.text.toString().ifEmpty { null }
                    val create = {
                        scope.launch {
                            val locale = java.util.Locale.getDefault().toLanguageTag()
                            val zone = java.util.TimeZone.getDefault().id
                            val store = presenter.finish("", zone, locale, TreatmentMode.GUIDED, passphrase) ?: return@launch
                            services.setUsesPassphrase(passphrase != null)
                            getSharedPreferences("collabzium.app", MODE_PRIVATE).edit().putBoolean("therapist", therapist.isChecked).apply()
                            services.opened(store)
                            if (recovery.isChecked && !therapist.isChecked) {
                                // The backup screen first; Launch (then Today) when it is closed.
                                startActivities(arrayOf(Intent(this@OnboardingActivity, LaunchActivity::class.java), Intent(this@OnboardingActivity, BackupActivity::class.java)))
                            } else {
                                go(LaunchActivity::class.java)
                            }
                            finish()
                        }
                    }
                    val bind = passphrase == null && fingerprint.isChecked && fingerprints.isAvailable()
                    services.setUsesFingerprint(bind)
                    if (!bind) {
                        create()
                    } else {
                        // The new key needs a fresh authentication before it can wrap the store's key.
                        status.text = getString(R.string.unlock_fingerprint_prompt)
                        fingerprints.authenticate { r ->
                            when (r) {
                                FingerprintUnlock.Result.Authenticated -> create()
                                FingerprintUnlock.Result.NotRecognised -> status.text = getString(R.string.unlock_fingerprint_not_recognised)
                                is FingerprintUnlock.Result.Stopped -> status.text = r.systemMessage
                            }
                        }
                    }
                })
            }
        }
        if (s.step.ordinal > 0) content.addView(button(getString(R.string.back)) { presenter.back() })
        if (s.step != OnboardingStep.UNLOCK) content.addView(button(getString(R.string.next)) { presenter.next() })
    }
}

class UnlockActivity : BaseActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val presenter = UnlockPresenter(services.storePath, services.keys)
        this.presenter = presenter
        val pass = input(getString(R.string.onboarding_passphrase), secret = true)
        val error = text("")
        if (services.usesPassphrase()) content.addView(pass)
        content.addView(error)
        content.addView(button(getString(R.string.unlock)) {
            if (services.usesFingerprint()) askForFingerprint(error) else open(if (services.usesPassphrase()) pass.text.toString() else null)
        })
        if (services.usesFingerprint()) {
            // The screen lock also authenticates a time-bound Keystore key.
            content.addView(button(getString(R.string.unlock_screen_lock)) {
                val keyguard = getSystemService(android.app.KeyguardManager::class.java)
                keyguard?.createConfirmDeviceCredentialIntent(getString(R.string.unlock), null)?.let {
                    startActivityForResult(it, REQUEST_SCREEN_LOCK)
                }
            })
            askForFingerprint(error)
        }
        render(presenter.state) { s -> error.text = s.error?.let(::errorText) ?: "" }
    }

    private var presenter: UnlockPresenter? = null
    private var listening: android.os.CancellationSignal? = null

    private fun open(passphrase: String?) {
        val p = presenter ?: return
        scope.launch {
            val store = p.unlock(passphrase) ?: return@launch
            services.opened(store)
            go(LaunchActivity::class.java)
            finish()
        }
    }

    private fun askForFingerprint(status: android.widget.TextView) {
        listening?.cancel()
        status.text = getString(R.string.unlock_fingerprint_prompt)
        listening = FingerprintUnlock(this).authenticate { r ->
            when (r) {
                FingerprintUnlock.Result.Authenticated -> open(null)
                FingerprintUnlock.Result.NotRecognised -> status.text = getString(R.string.unlock_fingerprint_not_recognised)
                is FingerprintUnlock.Result.Stopped -> status.text = r.systemMessage
            }
        }
    }

    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        super.onActivityResult(requestCode, resultCode, data)
        if (requestCode == REQUEST_SCREEN_LOCK && resultCode == RESULT_OK) open(null)
    }

    override fun onDestroy() {
        listening?.cancel()
        super.onDestroy()
    }

    private companion object {
        const val REQUEST_SCREEN_LOCK = 7
    }
}

class JoinActivity : BaseActivity() {
    private var presenter: JoinPresenter? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        // The relay is named by the code's QR payload, or the app's configured default.
        val presenter = JoinPresenter(store, services.transport, BuildDefaults.RELAY_URL)
        this.presenter = presenter
        render(presenter.state) { s ->
            content.removeAllViews()
            content.addView(text(getString(R.string.join_title), title = true))
            val code = input(getString(R.string.join_code)).apply { setText(s.code) }
            content.addView(code)
            if (s.result == null) content.addView(button(getString(R.string.join_scan), getString(R.string.join_scan_desc)) { scanQr() })
            content.addView(CheckBox(this).apply {
                text = getString(R.string.join_share_history)
                contentDescription = text
                textSize = 18f
                minHeight = dp(48)
                isChecked = s.shareHistory
                setOnCheckedChangeListener { _, c -> presenter.setShareHistory(c) }
            })
            s.error?.let { content.addView(text(if (it == ScreenError.NotFound(QR_NOT_FOUND)) getString(R.string.join_scan_none) else errorText(it))) }
            s.result?.safetyNumber?.let { content.addView(text(getString(R.string.join_safety_number, it))) }
            if (s.askShareAlerts) {
                content.addView(text(getString(R.string.join_share_alerts)))
                content.addView(button(getString(R.string.yes)) { scope.launch { presenter.join(true) } })
                content.addView(button(getString(R.string.no)) { scope.launch { presenter.join(false) } })
            } else if (s.result == null) {
                content.addView(button(getString(R.string.next)) {
                    presenter.setCode(code.text.toString())
                    scope.launch { presenter.join() }
                })
            }
        }
    }

    /**
     * The system camera app takes the picture (ACTION_IMAGE_CAPTURE, its small in-memory Bitmap:
     * nothing is written to storage). The manifest declares CAMERA, so Android requires it
     * granted even for the intent.
     */
    private fun scanQr() {
        if (checkSelfPermission(android.Manifest.permission.CAMERA) != android.content.pm.PackageManager.PERMISSION_GRANTED) {
            requestPermissions(arrayOf(android.Manifest.permission.CAMERA), REQUEST_CAMERA)
            return
        }
        try {
            startActivityForResult(Intent(android.provider.MediaStore.ACTION_IMAGE_CAPTURE), REQUEST_SCAN)
        } catch (e: android.content.ActivityNotFoundException) {
            android.widget.Toast.makeText(this, R.string.join_scan_no_camera, android.widget.Toast.LENGTH_LONG).show()
        }
    }

    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, grantResults: IntArray) {
        super.onRequestPermissionsResult(requestCode, permissions, grantResults)
        if (requestCode == REQUEST_CAMERA && grantResults.firstOrNull() == android.content.pm.PackageManager.PERMISSION_GRANTED) scanQr()
    }

    @Suppress("DEPRECATION")
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        super.onActivityResult(requestCode, resultCode, data)
        if (requestCode != REQUEST_SCAN || resultCode != RESULT_OK) return
        val bitmap = data?.extras?.get("data") as? android.graphics.Bitmap ?: return
        val p = presenter ?: return
        scope.launch {
            val frame = kotlinx.coroutines.withContext(kotlinx.coroutines.Dispatchers.Default) { lumaOf(bitmap) }
            p.scanImage(frame.width, frame.height, frame.luma)
        }
    }

    companion object {
        private const val REQUEST_SCAN = 41
        private const val REQUEST_CAMERA = 42
        /** What the core names when a frame holds no QR code (collabzium_core::sync::qr). */
        private const val QR_NOT_FOUND = "QR code in the image"
    }
}

class TodayActivity : BaseActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val schedule = services.schedule ?: return
        val presenter = TodayPresenter(schedule, formats(store))
        render(presenter.state) { s ->
            content.removeAllViews()
            content.addView(text(s.programTitle ?: getString(R.string.today_title), title = true))
            s.weekText?.let { (w, total) -> content.addView(text(getString(R.string.today_week, w.toInt(), total.toInt()), muted = true)) }
            if (s.notEnrolled) content.addView(text(getString(R.string.today_not_enrolled)))
            s.error?.let { content.addView(text(errorText(it))) }
            for ((section, rows) in s.sections) {
                content.addView(text(sectionTitle(section), title = true))
                for (r in rows) {
                    content.addView(text(listOfNotNull(r.title, r.whenText).joinToString(" · ")))
                    if (r.kind == AgendaItemKind.CHECKIN && r.instrument != null && r.state != org.collabzium.AgendaItemState.COMPLETED) {
                        content.addView(button(r.title) { go(CheckinActivity::class.java, CheckinActivity.EXTRA_ITEM to r.id) })
                    } else if (r.kind == AgendaItemKind.MODULE && r.state != org.collabzium.AgendaItemState.COMPLETED && !r.waitingForTherapist &&
                        r.state != org.collabzium.AgendaItemState.LOCKED && r.state != org.collabzium.AgendaItemState.UPCOMING
                    ) {
                        // The reader shows its pages and exercises; finishing it there completes the item.
                        content.addView(button(getString(R.string.reader_open, r.title)) {
                            go(ModuleReaderActivity::class.java, ModuleReaderActivity.EXTRA_MODULE to r.id.removePrefix("module:"))
                        })
                        content.addView(button(getString(R.string.mark_done, r.title)) { scope.launch { presenter.complete(r.id) } })
                    }
                }
            }
            if (s.nextUnlock != null && s.nextUnlockText != null) {
                content.addView(text(getString(R.string.today_next_unlock, s.nextUnlock!!.title, s.nextUnlockText), muted = true))
            }
            patientNav()
        }
        scope.launch { presenter.refresh() }
    }

    private fun sectionTitle(key: String) = getString(
        when (key) {
            "overdue" -> R.string.section_overdue
            "due_today" -> R.string.section_due_today
            "open_now" -> R.string.section_open_now
            "waiting_for_therapist" -> R.string.section_waiting_for_therapist
            else -> R.string.section_upcoming_this_week
        },
    )
}

/** One question per screen; answers in TalkBack order (question, then options top to bottom). */
class CheckinActivity : BaseActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val presenter = CheckinPresenter(store)
        render(presenter.state) { s ->
            if (s.crisis != null) {
                presenter.dismissCrisis()
                go(CrisisActivity::class.java)
            }
            content.removeAllViews()
            val d = s.draft
            s.error?.let { content.addView(text(errorText(it))) }
            if (d == null) return@render
            content.addView(text(d.title, title = true))
            when {
                s.result != null -> content.addView(text(getString(R.string.checkin_sent)))
                s.reviewing -> {
                    content.addView(text(getString(R.string.checkin_review), title = true))
                    d.items.forEachIndexed { i, item ->
                        val a = d.answers.firstOrNull { it.linkId == item.linkId }?.value
                        val shown = when (a) {
                            is CheckinAnswerValue.Integer -> item.options.firstOrNull { it.value == a.value }?.text ?: a.value.toString()
                            is CheckinAnswerValue.Text -> a.value
                            else -> "—"
                        }
                        content.addView(text("${i + 1}. ${item.text}: $shown"))
                        content.addView(button(getString(R.string.checkin_change, i + 1)) { presenter.goTo(i) })
                    }
                    if (s.canSubmit) content.addView(button(getString(R.string.checkin_submit)) { scope.launch { presenter.submit(); services.autoBackup?.maybeBackUp() } })
                }
                else -> {
                    val item = s.current ?: return@render
                    content.addView(text(getString(R.string.checkin_question, s.index + 1, d.items.size), muted = true))
                    content.addView(text(item.text, title = true))
                    for (o in item.options) {
                        val chosen = (s.currentAnswer as? CheckinAnswerValue.Integer)?.value == o.value
                        content.addView(button((if (chosen) "✓ " else "") + o.text) {
                            scope.launch { presenter.answer(CheckinAnswerValue.Integer(o.value)) }
                        })
                    }
                    if (item.options.isEmpty()) {
                        // Integer and text items: one field; the core checks the range.
                        val field = input(item.text)
                        if (item.itemType == "integer") field.inputType = android.text.InputType.TYPE_CLASS_NUMBER
                        when (val a = s.currentAnswer) {
                            is CheckinAnswerValue.Integer -> field.setText(a.value.toString())
                            is CheckinAnswerValue.Text -> field.setText(a.value)
                            else -> {}
                        }
                        content.addView(field)
                        content.addView(button(getString(R.string.next)) {
                            val t = field.text.toString().trim()
                            val v = when {
                                t.isEmpty() -> CheckinAnswerValue.Cleared
                                item.itemType == "integer" -> t.toLongOrNull()?.let { CheckinAnswerValue.Integer(it) } ?: return@button
                                else -> CheckinAnswerValue.Text(t)
                            }
                            scope.launch { presenter.answer(v) }
                        })
                    }
                    if (s.index > 0) content.addView(button(getString(R.string.back)) { presenter.back() })
                }
            }
        }
        scope.launch {
            val item = intent.getStringExtra(EXTRA_ITEM)
            if (item != null) presenter.startForAgendaItem(item) else presenter.start(intent.getStringExtra(EXTRA_INSTRUMENT) ?: "phq9")
        }
    }

    companion object {
        const val EXTRA_ITEM = "agenda_item"
        const val EXTRA_INSTRUMENT = "instrument"
    }
}

/** Resources first with tap-to-call, then who has been told. */
class CrisisActivity : BaseActivity() {
    override val showCrisisButton = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val presenter = CrisisPresenter(store, formats(store))
        render(presenter.state) { s ->
            content.removeAllViews()
            content.addView(text(getString(R.string.crisis_title), title = true))
            for (r in s.resources) {
                content.addView(text(r.name, title = true))
                content.addView(text(r.description))
                r.dialUri?.let { uri ->
                    // ACTION_DIAL needs no permission and lets the patient see the number first.
                    content.addView(button(getString(R.string.crisis_call, r.name), crisis = true) { startActivity(Intent(Intent.ACTION_DIAL, Uri.parse(uri))) })
                }
                r.smsUri?.let { uri -> content.addView(button(getString(R.string.crisis_text, r.name)) { startActivity(Intent(Intent.ACTION_SENDTO, Uri.parse(uri))) }) }
                r.url?.let { url -> content.addView(button(getString(R.string.crisis_open_site, r.name)) { startActivity(Intent(Intent.ACTION_VIEW, Uri.parse(url))) }) }
            }
            s.message?.let { content.addView(text(it)) }
            s.alertState?.let { content.addView(text(getString(alertText(it)), muted = true)) }
            s.nextAvailableText?.let { content.addView(text(getString(R.string.next_available, it), muted = true)) }
            s.error?.let { content.addView(text(errorText(it))) }
        }
        scope.launch { presenter.refresh() }
    }

    private fun alertText(a: AlertState) = when (a) {
        AlertState.UNGUIDED -> R.string.alert_unguided
        AlertState.NOT_CONNECTED -> R.string.alert_not_connected
        AlertState.SENDING -> R.string.alert_sending
        AlertState.DELIVERED -> R.string.alert_delivered
        AlertState.SEEN -> R.string.alert_seen
    }
}

class MessagesActivity : BaseActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val presenter = MessagesPresenter(store, formats(store))
        val box = input(getString(R.string.messages_input))
        render(presenter.state) { s ->
            if (s.crisis != null) {
                presenter.dismissCrisis()
                go(CrisisActivity::class.java)
            }
            content.removeAllViews()
            content.addView(text(getString(R.string.messages_title), title = true))
            if (s.availableNow == true) content.addView(text(getString(R.string.messages_available_now), muted = true))
            s.expectReplyByText?.let { content.addView(text(getString(R.string.messages_reply_by, it), muted = true)) }
            for (m in s.messages) {
                val state = m.delivery?.let { getString(deliveryText(it)) }
                content.addView(text(listOfNotNull(m.text, listOfNotNull(m.atText, state).joinToString(" · ")).joinToString("\n"), muted = !m.fromMe))
            }
            s.error?.let { content.addView(text(errorText(it))) }
            (box.parent as? android.view.ViewGroup)?.removeView(box)
            content.addView(box)
            content.addView(button(getString(R.string.messages_send)) {
                val t = box.text.toString()
                if (t.isNotBlank()) scope.launch { presenter.send(t); box.setText("") }
            })
        }
        scope.launch { presenter.refresh() }
    }

    private fun deliveryText(d: Delivery) = when (d) {
        Delivery.QUEUED -> R.string.delivery_queued
        Delivery.SENT -> R.string.delivery_sent
        Delivery.DELIVERED -> R.string.delivery_delivered
        Delivery.READ -> R.string.delivery_read
        Delivery.NOT_SHARED -> R.string.delivery_not_shared
    }
}

class ProgressActivity : BaseActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val presenter = ProgressPresenter(store, formats(store))
        render(presenter.state) { s ->
            content.removeAllViews()
            content.addView(text(getString(R.string.progress_title), title = true))
            for (series in s.series) {
                content.addView(text(series.title, title = true))
                val chart = ChartView(this, series)
                chart.contentDescription = getString(
                    R.string.progress_chart_desc, series.title,
                    series.points.joinToString(", ") { "${it.dateText}: ${it.value}" + (it.severity?.let { b -> " ($b)" } ?: "") },
                )
                content.addView(chart, android.widget.LinearLayout.LayoutParams(-1, dp(220)))
                series.bands.forEach { b -> content.addView(text(getString(R.string.progress_band, b.label, b.min, b.max), muted = true)) }
            }
            if (s.alliance.isNotEmpty()) {
                content.addView(text(getString(R.string.progress_alliance_title), title = true))
                content.addView(text(getString(R.string.progress_alliance_legend), muted = true))
                val chart = AllianceChartView(this, s.alliance)
                chart.contentDescription = getString(
                    R.string.progress_alliance_desc,
                    s.alliance.joinToString(", ") { "${it.dateText}: ${it.goals ?: "-"} / ${it.tasks ?: "-"} / ${it.bond ?: "-"}" },
                )
                content.addView(chart, android.widget.LinearLayout.LayoutParams(-1, dp(220)))
            }
            s.error?.let { content.addView(text(errorText(it))) }
        }
        scope.launch { presenter.refresh() }
    }
}

class SettingsActivity : BaseActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val schedule = services.schedule ?: return
        val presenter = SettingsPresenter(store, schedule, services.transport)
        lateinit var draw: (SettingsState) -> Unit
        // The time pickers change the draft outside the presenter's state: draw again by hand.
        redraw = { draw(presenter.state.value) }
        draw = draw@{ s ->
            if (s.erased) {
                // Say exactly who was told: the relay's answer, not a hope.
                val said = when {
                    s.erasedNotTold > 0 -> R.string.erased_not_told
                    s.erasedTold > 0 -> R.string.erased_told
                    else -> R.string.erased_plain
                }
                android.widget.Toast.makeText(applicationContext, said, android.widget.Toast.LENGTH_LONG).show()
                services.scheduler.replacePending(emptyList())
                org.collabzium.platform.SyncJobService.cancel(this)
                go(LaunchActivity::class.java)
                finishAffinity()
                return@draw
            }
            content.removeAllViews()
            content.addView(text(getString(R.string.settings_title), title = true))
            s.reminderTime?.let { content.addView(text(getString(R.string.settings_reminder_time, it))) }
            s.quietHours?.let { (from, to) -> content.addView(text(getString(R.string.settings_quiet_hours, from, to))) }
            s.maxRemindersPerDay?.let { content.addView(text(getString(R.string.settings_reminder_limit, it.toInt()), muted = true)) }
            reminderPreferences(presenter, s)
            s.timeZone?.let { content.addView(text(getString(R.string.settings_time_zone, it))) }
            content.addView(button(getString(R.string.settings_use_this_zone)) {
                scope.launch { presenter.changeTimeZone(java.util.TimeZone.getDefault().id) }
            })
            content.addView(button(getString(R.string.settings_export)) { scope.launch { presenter.export() } })
            // Files in the app's own directory, which the patient can then move with the Files app.
            content.addView(button(getString(R.string.settings_export_file)) {
                scope.launch { presenter.exportToFile(ExportFormat.GDPR_JSON, java.io.File(getExternalFilesDir(null) ?: filesDir, "collabzium-export.json").path) }
            })
            content.addView(button(getString(R.string.settings_export_fhir)) {
                scope.launch { presenter.exportToFile(ExportFormat.FHIR, java.io.File(getExternalFilesDir(null) ?: filesDir, "collabzium-fhir.json").path) }
            })
            s.exportedPath?.let { content.addView(text(getString(R.string.settings_exported_to, it), muted = true)) }
            s.export?.let { json ->
                startActivity(Intent.createChooser(Intent(Intent.ACTION_SEND).setType("application/json").putExtra(Intent.EXTRA_TEXT, json), getString(R.string.settings_export)))
                presenter.exportShown()
            }
            // The reminder text is the patient's own; the default says nothing about health.
            val prefs = getSharedPreferences(org.collabzium.platform.AlarmNotificationScheduler.PREFS, MODE_PRIVATE)
            val reminder = input(getString(R.string.settings_reminder_text)).apply {
                setText(prefs.getString("body", null) ?: getString(R.string.reminder_body))
            }
            content.addView(reminder)
            content.addView(button(getString(R.string.settings_reminder_save)) {
                prefs.edit().putString("body", reminder.text.toString().ifBlank { getString(R.string.reminder_body) }).apply()
            })
            content.addView(button(getString(R.string.settings_backup)) { go(BackupActivity::class.java) })
            content.addView(button(getString(R.string.settings_unpair)) { scope.launch { presenter.unpair() } })
            content.addView(button(getString(R.string.settings_erase), crisis = true) { scope.launch { presenter.erase() } })
            content.addView(text(getString(R.string.settings_audit, s.audit.size, (s.auditIntact ?: false).toString()), muted = true))
            for (e in s.audit.takeLast(50).asReversed()) content.addView(text("${e.event} ${e.detail}", muted = true))
            s.error?.let { content.addView(text(errorText(it))) }
        }
        render(presenter.state) { draw(it) }
        scope.launch { presenter.refresh() }
    }
    /** What the patient is choosing, kept across redraws until saved; filled from the core's state once. */
    private class Draft(var enabled: Boolean, var quietFrom: String?, var quietTo: String?, var checkinTime: String?, var limit: String)

    private var draft: Draft? = null
    private var redraw: () -> Unit = {}

    /** "Your reminders": on/off, quiet hours and a check-in time via TimePicker dialogs, a daily limit. */
    private fun reminderPreferences(presenter: SettingsPresenter, s: SettingsState) {
        val programMax = s.maxRemindersPerDay ?: return // not enrolled: nothing to narrow
        val d = draft ?: Draft(
            s.remindersEnabled, s.myQuietHours?.first, s.myQuietHours?.second, s.myCheckinTime,
            (s.myMaxPerDay ?: programMax).toString(),
        ).also { draft = it }
        content.addView(text(getString(R.string.settings_my_reminders), title = true))
        content.addView(text(getString(R.string.settings_my_reminders_note), muted = true))
        content.addView(CheckBox(this).apply {
            text = getString(R.string.settings_reminders_on)
            contentDescription = getString(R.string.settings_reminders_on)
            setTextSize(TypedValue.COMPLEX_UNIT_SP, 18f)
            minHeight = dp(48)
            minimumHeight = dp(48)
            isChecked = d.enabled
            setOnCheckedChangeListener { _, on -> d.enabled = on }
        })
        fun pick(current: String?, fallback: String, done: (String) -> Unit) {
            val (h, m) = (current ?: fallback).split(":").map { it.toInt() }
            android.app.TimePickerDialog(this, { _, hour, minute ->
                done("%02d:%02d".format(java.util.Locale.ROOT, hour, minute))
                redraw()
            }, h, m, android.text.format.DateFormat.is24HourFormat(this)).show()
        }
        val none = getString(R.string.settings_quiet_none)
        content.addView(button(d.quietFrom?.let { getString(R.string.settings_quiet_from, it) } ?: none, getString(R.string.settings_quiet_from_desc)) {
            pick(d.quietFrom, "22:00") { d.quietFrom = it }
        })
        content.addView(button(d.quietTo?.let { getString(R.string.settings_quiet_to, it) } ?: none, getString(R.string.settings_quiet_to_desc)) {
            pick(d.quietTo, "07:00") { d.quietTo = it }
        })
        if (d.quietFrom != null || d.quietTo != null) {
            content.addView(button(getString(R.string.settings_quiet_clear)) { d.quietFrom = null; d.quietTo = null; redraw() })
        }
        content.addView(button(d.checkinTime?.let { getString(R.string.settings_checkin_time, it) } ?: getString(R.string.settings_checkin_time_none), getString(R.string.settings_checkin_time_desc)) {
            pick(d.checkinTime, "18:00") { d.checkinTime = it }
        })
        if (d.checkinTime != null) {
            content.addView(button(getString(R.string.settings_checkin_time_clear)) { d.checkinTime = null; redraw() })
        }
        val limit = input(getString(R.string.settings_my_limit, programMax.toInt())).apply {
            inputType = android.text.InputType.TYPE_CLASS_NUMBER
            setText(d.limit)
            addTextChangedListener(object : android.text.TextWatcher {
                override fun beforeTextChanged(t: CharSequence?, a: Int, b: Int, c: Int) {}
                override fun onTextChanged(t: CharSequence?, a: Int, b: Int, c: Int) {}
                override fun afterTextChanged(t: android.text.Editable?) { d.limit = t?.toString().orEmpty() }
            })
        }
        content.addView(text(getString(R.string.settings_my_limit, programMax.toInt()), muted = true))
        content.addView(limit)
        content.addView(button(getString(R.string.settings_prefs_save)) {
            val quiet = if (d.quietFrom == null && d.quietTo == null) null else (d.quietFrom ?: "") to (d.quietTo ?: "")
            // An unreadable number goes to the core as 0, which it refuses by name.
            val max = d.limit.trim().toUIntOrNull() ?: 0u
            scope.launch { presenter.setReminderPreferences(d.enabled, quiet, d.checkinTime, max) }
        })
        s.preferencesError?.let {
            val field = (it as? ScreenError.Invalid)?.field
            content.addView(text(when {
                field?.startsWith("quiet_hours") == true -> getString(R.string.settings_prefs_error_quiet)
                field == "max_per_day" -> getString(R.string.settings_prefs_error_limit, programMax.toInt())
                field == "checkin_time" -> getString(R.string.settings_prefs_error_checkin)
                else -> errorText(it)
            }))
        }
        if (s.preferencesError == null) s.remindersScheduled?.let { content.addView(text(getString(R.string.settings_prefs_saved, it.toInt()), muted = true)) }
        for ((from, to) in s.effectiveQuietHours) content.addView(text(getString(R.string.settings_in_effect_quiet, from, to), muted = true))
        s.effectiveMaxPerDay?.let { content.addView(text(getString(R.string.settings_in_effect_limit, it.toInt()), muted = true)) }
    }
}
