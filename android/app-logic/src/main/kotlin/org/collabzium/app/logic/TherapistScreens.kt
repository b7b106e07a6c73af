// Therapist mode: invite, caseload, one patient. The same app, chosen at set-up.
package org.collabzium.app.logic

import kotlinx.coroutines.delay
import org.collabzium.*

data class InviteState(
    val code: String? = null,
    /** The QR payload (holds the secret: never logged, never in a content description). */
    val qrPayload: String? = null,
    /** The payload's QR modules from the core, for the View to draw. */
    val qr: QrMatrix? = null,
    val expiresText: String? = null,
    val paired: PairingResult? = null,
    val busy: Boolean = false,
    val error: ScreenError? = null,
)

/** Creates an invitation and polls it until the patient joined. */
class InvitePresenter(
    private val store: PatientStore,
    private val transport: HttpTransport,
    private val relayUrl: String,
    private val formats: Formats,
) : StateHolder<InviteState>(InviteState()) {
    private var invitation: PairingInvitation? = null

    suspend fun create(label: String?) {
        mutableState.value = InviteState(busy = true)
        val out = core {
            val inv = store.therapistInvite(transport, relayUrl, label)
            try {
                val view = inv.view()
                Triple(inv, view, inviteQr(view.qrPayload))
            } catch (e: Exception) {
                inv.close()
                throw e
            }
        }
        mutableState.value = when (out) {
            is Outcome.Ok -> {
                invitation?.close()
                invitation = out.value.first
                val v = out.value.second
                InviteState(
                    code = v.code,
                    qrPayload = v.qrPayload,
                    qr = out.value.third,
                    expiresText = formats.dateTime(v.expiresAtMillis),
                )
            }
            is Outcome.Err -> InviteState(error = out.error)
        }
    }

    /** Polls every [intervalMillis] until paired or [attempts] ran out; the code stays on screen meanwhile. */
    suspend fun awaitPaired(attempts: Int = 600, intervalMillis: Long = 1500): PairingResult? {
        val inv = invitation ?: return null
        repeat(attempts) {
            when (val out = core { inv.poll() }) {
                is Outcome.Ok -> out.value?.let { r ->
                    mutableState.value = mutableState.value.copy(paired = r, error = null)
                    return r
                }
                is Outcome.Err -> mutableState.value = mutableState.value.copy(error = out.error)
            }
            delay(intervalMillis)
        }
        return null
    }

    fun close() {
        invitation?.close()
        invitation = null
    }
}

data class CaseloadRow(
    val channelId: String,
    val label: String?,
    val priority: CaseloadPriority,
    /** Reasons, most important first, each with its evidence formatted. */
    val reasons: List<Pair<String, List<String>>>,
    val headlineText: String?,
    val week: UInt,
    val lastActivityText: String?,
    /** "active", "left" (the patient erased or unpaired) or "ended" (this therapist ended it). */
    val status: String = "active",
    val statusSinceText: String? = null,
)

data class CaseloadState(val rows: List<CaseloadRow> = emptyList(), val error: ScreenError? = null)

/** Tiers and reasons, ordered by the core: one `caseload()` call. */
class CaseloadPresenter(private val store: PatientStore, private val formats: Formats) :
    StateHolder<CaseloadState>(CaseloadState()) {

    suspend fun refresh() {
        val out = core { store.caseload() }
        mutableState.value = when (out) {
            is Outcome.Ok -> CaseloadState(out.value.map { e ->
                CaseloadRow(
                    e.channelId, e.label, e.priority,
                    e.reasons.map { f ->
                        f.reason to f.evidence.map { ev ->
                            listOfNotNull(ev.label, ev.value?.let(formats::score), ev.atMillis?.let(formats::date)).joinToString(" · ")
                        }
                    },
                    e.headline?.let { h -> "${h.displayName} ${formats.score(h.total)}" + (h.severityLabel?.let { " ($it)" } ?: "") },
                    e.week,
                    e.lastActivityMillis?.let(formats::dateTime),
                    e.status,
                    e.statusSinceMillis?.let(formats::date),
                )
            })
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }
}

data class PatientAlertRow(val alertId: String, val receivedText: String)

data class PatientDetailState(
    val timeline: PatientTimeline? = null,
    val alerts: List<PatientAlertRow> = emptyList(),
    val messages: List<MessageRow> = emptyList(),
    /** The therapist's alliance rating form (from the core's instrument), once loaded. */
    val ratingForm: List<CheckinItem> = emptyList(),
    val busy: Boolean = false,
    val done: String? = null,
    val error: ScreenError? = null,
)

/**
 * One patient: timeline charts, alerts with acknowledgement, the thread, the therapist's alliance
 * rating, assigning a program, approving a module.
 */
class PatientDetailPresenter(
    private val store: PatientStore,
    private val channelId: String,
    private val formats: Formats,
) : StateHolder<PatientDetailState>(PatientDetailState()) {

    suspend fun refresh() {
        val out = core {
            Triple(store.patientTimeline(channelId), store.inbox(listOf("safety_alert")), store.messageThread(channelId))
        }
        mutableState.value = when (out) {
            is Outcome.Ok -> {
                val (timeline, alerts, thread) = out.value
                mutableState.value.copy(
                    timeline = timeline,
                    alerts = alerts.filter { it.channelId == channelId }.mapNotNull { a ->
                        // The inbox carries the event as JSON; only its id is read here.
                        ALERT_ID.find(a.bodyJson)?.groupValues?.get(1)?.let { PatientAlertRow(it, formats.dateTime(a.receivedAtMillis)) }
                    },
                    messages = thread.map { MessageRow(it.id, it.fromMe, it.text, formats.dateTime(it.atMillis), it.delivery) },
                    error = null,
                )
            }
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    /** `action`: phone, message, safety_plan, referred or other; the note stays on this device. */
    suspend fun acknowledge(alertId: String, action: String, note: String?) =
        act("acknowledged") { store.acknowledgePatientAlert(channelId, alertId, action, note) }

    suspend fun approveModule(moduleId: String) = act("approved") { store.approveModule(channelId, moduleId) }

    suspend fun assignProgram(programJson: String, startDate: String) =
        act("assigned") { store.assignProgram(channelId, programJson, startDate) }

    suspend fun rateAlliance(answersJson: String) = act("rated") { store.rateAlliance(channelId, answersJson) }

    /** The rating form's items and options; static, so loaded once when the section opens. */
    suspend fun loadRatingForm() {
        mutableState.value = when (val out = core { store.allianceRatingForm() }) {
            is Outcome.Ok -> mutableState.value.copy(ratingForm = out.value)
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    /** Rates from the form: link id to the chosen option's value (the core checks them). */
    suspend fun rateAlliance(answers: Map<String, Long>) =
        rateAlliance(answers.entries.joinToString(",", "{", "}") { (k, v) -> "\"" + k.filter { it.isLetterOrDigit() || it == '_' } + "\": " + v })

    suspend fun reply(text: String) = act("sent") { store.sendMessage(channelId, text) }

    private suspend fun act(done: String, block: () -> Unit) {
        mutableState.value = mutableState.value.copy(busy = true, error = null, done = null)
        when (val out = core(block)) {
            is Outcome.Ok -> {
                refresh()
                mutableState.value = mutableState.value.copy(busy = false, done = done)
            }
            is Outcome.Err -> mutableState.value = mutableState.value.copy(busy = false, error = out.error)
        }
    }

    private companion object {
        val ALERT_ID = Regex("\"alert_id\"\\s*:\\s*\"([^\"]+)\"")
    }
}

data class AvailabilityState(val saved: Boolean = false, val error: ScreenError? = null)

/** Availability hours and the alert policy, sent to patients at the next sync. */
class AvailabilityPresenter(private val store: PatientStore) : StateHolder<AvailabilityState>(AvailabilityState()) {
    suspend fun save(settings: AvailabilitySettings) {
        mutableState.value = when (val out = core { store.setAvailability(settings, null) }) {
            is Outcome.Ok -> AvailabilityState(saved = true)
            is Outcome.Err -> AvailabilityState(error = out.error)
        }
    }
}
