// Thin platform Views: every screen renders a state holder's StateFlow (android/app-logic) and
// forwards taps to it. No AndroidX here (not available on this build machine): plain Views,
// sizes in sp/dp, 48dp touch targets, a content description on every control.
package org.collabzium.app

import android.app.Activity
import android.content.Intent
import android.graphics.Typeface
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.util.TypedValue
import android.view.Gravity
import android.view.View
import android.view.WindowManager
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import java.util.concurrent.Executor
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.launch
import org.collabzium.PatientStore
import org.collabzium.app.logic.Formats
import org.collabzium.app.logic.Palette
import org.collabzium.app.logic.ScreenError
import org.collabzium.platform.CollabziumServices

/** The main thread as a coroutine dispatcher (kotlinx-coroutines-android is not available here). */
private val mainHandler = Handler(Looper.getMainLooper())
val MainDispatcher = Executor { mainHandler.post(it) }.asCoroutineDispatcher()

abstract class BaseActivity : Activity() {
    protected val scope = CoroutineScope(SupervisorJob() + MainDispatcher)
    protected val services: CollabziumServices get() = CollabziumServices.get(this)

    /** Health screens keep their content out of screenshots and the recent-apps preview. */
    protected open val healthScreen: Boolean = true

    /** Every patient screen except the crisis screen itself carries the crisis button. */
    protected open val showCrisisButton: Boolean = true

    protected lateinit var content: LinearLayout

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        if (healthScreen) window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        val root = LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setBackgroundColor(Palette.BACKGROUND)
        }
        if (showCrisisButton) {
            root.addView(button(getString(R.string.crisis_button), getString(R.string.crisis_button_desc), crisis = true) {
                startActivity(Intent(this, CrisisActivity::class.java))
            })
        }
        content = LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            val p = dp(16)
            setPadding(p, p, p, p)
        }
        // A scroll view, so that 200% font scale never clips text.
        root.addView(ScrollView(this).apply { addView(content) }, LinearLayout.LayoutParams(-1, 0, 1f))
        setContentView(root)
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    /** The open store, or back to the launcher (e.g. after the process was killed). */
    protected fun storeOrRestart(): PatientStore? = services.store ?: run {
        startActivity(Intent(this, LaunchActivity::class.java).addFlags(Intent.FLAG_ACTIVITY_CLEAR_TOP))
        finish()
        null
    }

    protected fun formats(store: PatientStore): Formats {
        val p = try { store.profile() } catch (e: Exception) { null }
        return Formats(p?.locale ?: java.util.Locale.getDefault().toLanguageTag(), p?.timeZone ?: java.util.TimeZone.getDefault().id)
    }

    protected fun <S> render(flow: StateFlow<S>, draw: (S) -> Unit) {
        scope.launch { flow.collect { draw(it) } }
    }

    protected fun dp(v: Int): Int = TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, v.toFloat(), resources.displayMetrics).toInt()

    fun text(s: CharSequence, title: Boolean = false, muted: Boolean = false): TextView = TextView(this).apply {
        text = s
        setTextSize(TypedValue.COMPLEX_UNIT_SP, if (title) 24f else 18f)
        setTextColor(if (muted) Palette.TEXT_MUTED else Palette.TEXT)
        if (title) {
            setTypeface(typeface, Typeface.BOLD)
            // Announced as a heading by TalkBack on API 28+; harmless before.
            try { View::class.java.getMethod("setAccessibilityHeading", Boolean::class.javaPrimitiveType).invoke(this, true) } catch (e: Exception) {}
        }
        setPadding(0, dp(8), 0, dp(8))
    }

    fun button(label: String, description: String = label, crisis: Boolean = false, onClick: () -> Unit): Button =
        Button(this).apply {
            text = label
            contentDescription = description
            setAllCaps(false)
            setTextSize(TypedValue.COMPLEX_UNIT_SP, 18f)
            setTextColor(if (crisis) Palette.ON_CRISIS else Palette.ON_PRIMARY)
            setBackgroundColor(if (crisis) Palette.CRISIS else Palette.PRIMARY)
            minHeight = dp(48)
            minimumHeight = dp(48)
            minWidth = dp(48)
            gravity = Gravity.CENTER
            layoutParams = LinearLayout.LayoutParams(-1, -2).apply { setMargins(0, dp(4), 0, dp(4)) }
            setOnClickListener { onClick() }
        }

    fun input(hint: String, secret: Boolean = false): EditText = EditText(this).apply {
        this.hint = hint
        contentDescription = hint
        setTextSize(TypedValue.COMPLEX_UNIT_SP, 18f)
        minHeight = dp(48)
        if (secret) inputType = android.text.InputType.TYPE_CLASS_TEXT or android.text.InputType.TYPE_TEXT_VARIATION_PASSWORD
    }

    fun errorText(e: ScreenError): String = when (e) {
        ScreenError.WrongKey -> getString(R.string.error_wrong_key)
        ScreenError.Offline -> getString(R.string.error_offline)
        ScreenError.KeyUnavailable -> getString(R.string.error_key_unavailable)
        is ScreenError.RelayRefused -> getString(R.string.error_refused, e.code)
        is ScreenError.Invalid -> getString(R.string.error_invalid, e.field)
        is ScreenError.Pairing -> getString(R.string.error_pairing, e.code)
        is ScreenError.NotFound -> getString(R.string.error_generic, "not_found")
        ScreenError.UpdateNeeded -> getString(R.string.error_generic, "update")
        ScreenError.Closed -> getString(R.string.error_generic, "closed")
        is ScreenError.Failure -> getString(R.string.error_generic, e.kind)
    }

    /** The bottom navigation of the patient screens, as plain buttons. */
    protected fun patientNav() {
        content.addView(button(getString(R.string.nav_today)) { go(TodayActivity::class.java) })
        content.addView(button(getString(R.string.nav_reader)) { go(ModuleReaderActivity::class.java) })
        content.addView(button(getString(R.string.nav_messages)) { go(MessagesActivity::class.java) })
        content.addView(button(getString(R.string.nav_progress)) { go(ProgressActivity::class.java) })
        content.addView(button(getString(R.string.nav_join)) { go(JoinActivity::class.java) })
        content.addView(button(getString(R.string.nav_settings)) { go(SettingsActivity::class.java) })
    }

    protected fun go(cls: Class<out Activity>, extra: Pair<String, String>? = null) {
        val i = Intent(this, cls)
        if (extra != null) i.putExtra(extra.first, extra.second)
        startActivity(i)
    }
}
