// The module reader, the alliance chart, and the new-phone screens (recovery key and backup,
// restore). Thin: each renders its holder's state (android/app-logic) and forwards taps.
package org.collabzium.app

import android.content.Context
import android.graphics.Canvas
import android.graphics.Paint
import android.os.Bundle
import android.text.InputType
import android.util.TypedValue
import android.view.View
import android.widget.CheckBox
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.RadioButton
import android.widget.RadioGroup
import java.io.File
import kotlinx.coroutines.launch
import org.collabzium.ExerciseValue
import org.collabzium.ReaderExercise
import org.collabzium.app.logic.*

/** Pages one at a time, then the exercises with their fields, then "done". */
class ModuleReaderActivity : BaseActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val presenter = ModuleReaderPresenter(store)
        render(presenter.state) { s ->
            content.removeAllViews()
            val r = s.reader
            if (r == null) {
                content.addView(text(getString(R.string.reader_title), title = true))
                s.error?.let { content.addView(text(errorText(it))) }
                patientNav()
                return@render
            }
            content.addView(text(r.title, title = true))
            content.addView(text(getString(R.string.reader_progress, r.position.toInt(), r.modulesTotal.toInt(),
                r.exercisesDone.toInt(), r.exercises.size), muted = true))
            val page = s.currentPage
            if (page != null) {
                content.addView(text(getString(R.string.reader_page_of, s.page + 1, s.pagesTotal), muted = true))
                content.addView(text(page.title, title = true))
                // Markdown shown as text: the platform has no renderer and no library is added.
                content.addView(text(page.body))
            } else {
                for (ex in r.exercises) exercise(ex) { answers -> scope.launch { presenter.saveExercise(ex.id, answers) } }
                if (s.done) content.addView(text(getString(R.string.reader_done)))
                else content.addView(button(getString(R.string.reader_finish)) { scope.launch { presenter.finish() } })
            }
            s.saved?.let { content.addView(text(getString(R.string.reader_saved))) }
            s.error?.let { content.addView(text(errorText(it))) }
            if (s.page > 0) content.addView(button(getString(R.string.back)) { presenter.previousPage() })
            if (!s.onExercises) content.addView(button(getString(R.string.next)) { presenter.nextPage() })
            patientNav()
        }
        scope.launch { presenter.open(intent.getStringExtra(EXTRA_MODULE)) }
    }

    /** One exercise: its fields as inputs; the core checks the answers on save. */
    private fun exercise(ex: ReaderExercise, save: (Map<String, ExerciseValue>) -> Unit) {
        content.addView(text(ex.title, title = true))
        content.addView(text(ex.instructions))
        val readers = mutableListOf<() -> Pair<String, ExerciseValue>?>()
        for (f in ex.fields) {
            content.addView(text(f.label + if (f.required) " *" else ""))
            val saved = ex.answers[f.id]
            when (f.kind) {
                "text", "number" -> {
                    val edit = input(f.label)
                    if (f.kind == "number") edit.inputType = InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_FLAG_SIGNED
                    when (saved) {
                        is ExerciseValue.Text -> edit.setText(saved.value)
                        is ExerciseValue.Number -> edit.setText(saved.value.toString())
                        else -> {}
                    }
                    content.addView(edit)
                    readers += {
                        val t = edit.text.toString()
                        when {
                            t.isBlank() -> null
                            f.kind == "number" -> t.trim().toLongOrNull()?.let { f.id to ExerciseValue.Number(it) } ?: (f.id to ExerciseValue.Text(t))
                            else -> f.id to ExerciseValue.Text(t)
                        }
                    }
                }
                "choice" -> {
                    val group = RadioGroup(this)
                    val chosen = (saved as? ExerciseValue.Choices)?.values.orEmpty()
                    val buttons = f.options.map { o ->
                        RadioButton(this).apply {
                            id = View.generateViewId()
                            text = o.label
                            contentDescription = o.label
                            setTextSize(TypedValue.COMPLEX_UNIT_SP, 18f)
                            minHeight = dp(48)
                            isChecked = o.value in chosen
                        }.also { group.addView(it) }
                    }
                    content.addView(group)
                    readers += {
                        val i = buttons.indexOfFirst { it.isChecked }
                        if (i < 0) null else f.id to ExerciseValue.Choices(listOf(f.options[i].value))
                    }
                }
                else -> {
                    val chosen = (saved as? ExerciseValue.Choices)?.values.orEmpty()
                    val boxes = f.options.map { o ->
                        CheckBox(this).apply {
                            text = o.label
                            contentDescription = o.label
                            setTextSize(TypedValue.COMPLEX_UNIT_SP, 18f)
                            minHeight = dp(48)
                            isChecked = o.value in chosen
                        }.also { content.addView(it) }
                    }
                    readers += { f.id to ExerciseValue.Choices(f.options.filterIndexed { i, _ -> boxes[i].isChecked }.map { it.value }) }
                }
            }
        }
        content.addView(button(getString(R.string.reader_save_exercise, ex.title)) {
            save(readers.mapNotNull { it() }.toMap())
        })
    }

    companion object {
        const val EXTRA_MODULE = "module_id"
    }
}

/** Goals, tasks and bond over time, three lines on one Canvas; values from the core. */
class AllianceChartView(context: Context, private val rows: List<AllianceRow>) : View(context) {
    private val colours = intArrayOf(Palette.CHART_LINE, Palette.TEXT_MUTED, Palette.TEXT)
    private val line = Paint(Paint.ANTI_ALIAS_FLAG).apply { strokeWidth = 6f; style = Paint.Style.STROKE }
    private val label = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        color = Palette.TEXT
        textSize = TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_SP, 12f, resources.displayMetrics)
    }

    override fun onDraw(canvas: Canvas) {
        if (rows.isEmpty()) return
        val w = width.toFloat()
        val h = height.toFloat() - label.textSize * 2
        val top = (rows.flatMap { listOfNotNull(it.goals, it.tasks, it.bond) }.maxOrNull() ?: 1.0).coerceAtLeast(7.0)
        val step = if (rows.size > 1) w / (rows.size - 1) else 0f
        fun x(i: Int) = if (rows.size > 1) i * step else w / 2
        fun y(v: Double) = (h - (v / top) * h).toFloat()
        val series = listOf<(AllianceRow) -> Double?>({ it.goals }, { it.tasks }, { it.bond })
        series.forEachIndexed { k, pick ->
            line.color = colours[k]
            var prev: Pair<Float, Float>? = null
            rows.forEachIndexed { i, r ->
                val v = pick(r) ?: return@forEachIndexed
                val p = x(i) to y(v)
                prev?.let { canvas.drawLine(it.first, it.second, p.first, p.second, line) }
                canvas.drawCircle(p.first, p.second, 8f, line)
                prev = p
            }
        }
        rows.forEachIndexed { i, r ->
            canvas.drawText(r.dateText, (x(i) - label.measureText(r.dateText) / 2).coerceIn(0f, (w - label.measureText(r.dateText)).coerceAtLeast(0f)), h + label.textSize * 1.5f, label)
        }
    }
}

/** The recovery key (shown once) and a backup to the app's own files. */
class BackupActivity : BaseActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val store = storeOrRestart() ?: return
        val presenter = BackupPresenter(store)
        // The app's files: the platform's backup keeps them only if the patient's device backs up.
        val file = File(filesDir, "collabzium.backup").path
        render(presenter.state) { s ->
            content.removeAllViews()
            content.addView(text(getString(R.string.backup_title), title = true))
            content.addView(text(getString(R.string.backup_about)))
            val shown = s.recoveryKey
            if (shown != null) {
                content.addView(text(getString(R.string.backup_key_once)))
                content.addView(text(shown, title = true).apply { setTextIsSelectable(true); contentDescription = shown.toList().joinToString(" ") })
                content.addView(button(getString(R.string.backup_key_written)) { presenter.keyShown() })
            } else if (s.hasRecoveryKey == false) {
                content.addView(button(getString(R.string.backup_set_up_key)) { scope.launch { presenter.setUpRecoveryKey() } })
            }
            if (s.hasRecoveryKey == true && shown == null) {
                val key = input(getString(R.string.backup_key_input), secret = true)
                content.addView(key)
                content.addView(button(getString(R.string.backup_now)) {
                    scope.launch {
                        presenter.backUp(key.text.toString(), file)
                        // A key that made a backup is right: keep it (Keystore-wrapped) for the automatic ones.
                        if (presenter.state.value.error == null) runCatching { services.recoveryKeys.remember(key.text.toString()) }
                    }
                })
            }
            s.lastBackupBytes?.let { content.addView(text(getString(R.string.backup_done, it), muted = true)) }
            s.error?.let { content.addView(text(errorText(it))) }
        }
        scope.launch { presenter.refresh() }
    }
}

/** On a new phone, before any store exists: the backup file, the recovery key, a new passphrase. */
class RestoreActivity : BaseActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val presenter = RestorePresenter(services.storePath, services.keys)
        val path = input(getString(R.string.restore_file)).apply { setText(File(filesDir, "collabzium.backup").path) }
        val key = input(getString(R.string.backup_key_input), secret = true)
        val pass = input(getString(R.string.onboarding_passphrase), secret = true)
        render(presenter.state) { s ->
            content.removeAllViews()
            content.addView(text(getString(R.string.restore_title), title = true))
            for (v in listOf<EditText>(path, key, pass)) {
                (v.parent as? LinearLayout)?.removeView(v)
                content.addView(v)
            }
            s.failure?.let {
                content.addView(text(getString(when (it) {
                    RestoreFailure.WRONG_KEY -> R.string.restore_wrong_key
                    RestoreFailure.CORRUPT -> R.string.restore_corrupt
                    RestoreFailure.UNSUPPORTED_VERSION -> R.string.restore_unsupported_version
                    RestoreFailure.NO_FILE -> R.string.restore_no_file
                })))
            } ?: s.error?.let { content.addView(text(errorText(it))) }
            content.addView(button(getString(R.string.restore_now)) {
                scope.launch {
                    val passphrase = pass.text.toString().ifEmpty { null }
                    val store = presenter.restore(path.text.toString(), key.text.toString(), passphrase) ?: return@launch
                    services.setUsesPassphrase(passphrase != null)
                    services.opened(store)
                    go(LaunchActivity::class.java)
                    finish()
                }
            })
        }
    }
}
