// The patient's screens. Each refresh is one core call; nothing here decides a clinical rule.
package org.collabzium.app.logic

import java.io.File
import org.collabzium.*

/** Where the store's key comes from: the platform key store, or a passphrase. */
interface KeySource {
    fun deviceKey(): KeyProvider
    fun passphrase(passphrase: String): KeyProvider = passphraseKeyProvider(passphrase)
}

// ------------------------------------------------------------------ onboarding and unlock

enum class OnboardingStep { ABOUT, CONSENT, COUNTRY, UNLOCK }

data class OnboardingState(
    val step: OnboardingStep = OnboardingStep.ABOUT,
    val consentGiven: Boolean = false,
    /** ISO 3166-1 alpha-2, for the crisis resources. */
    val country: String? = null,
    val busy: Boolean = false,
    val error: ScreenError? = null,
    val store: PatientStore? = null,
)

/**
 * What the app does and does not do (not an emergency service), consent, country, then a
 * passphrase or the device key. `finish` creates the encrypted store.
 */
class OnboardingPresenter(private val storePath: String, private val keys: KeySource) :
    StateHolder<OnboardingState>(OnboardingState()) {

    fun next() = mutableState.value.let { s ->
        val allowed = when (s.step) {
            OnboardingStep.CONSENT -> s.consentGiven
            OnboardingStep.COUNTRY -> s.country != null
            else -> true
        }
        if (allowed && s.step != OnboardingStep.UNLOCK) {
            mutableState.value = s.copy(step = OnboardingStep.values()[s.step.ordinal + 1], error = null)
        }
    }

    fun back() = mutableState.value.let { s ->
        if (s.step.ordinal > 0) mutableState.value = s.copy(step = OnboardingStep.values()[s.step.ordinal - 1])
    }

    fun setConsent(given: Boolean) {
        mutableState.value = mutableState.value.copy(consentGiven = given)
    }

    fun chooseCountry(iso: String) {
        mutableState.value = mutableState.value.copy(country = iso.uppercase())
    }

    /** Creates the store (a passphrase, or the device key when `passphrase` is null). */
    suspend fun finish(
        displayName: String,
        timeZone: String,
        locale: String,
        mode: TreatmentMode,
        passphrase: String?,
    ): PatientStore? {
        val s = mutableState.value
        if (!s.consentGiven) {
            mutableState.value = s.copy(error = ScreenError.Invalid("consent"))
            return null
        }
        mutableState.value = s.copy(busy = true, error = null)
        val out = core {
            val provider = if (passphrase != null) keys.passphrase(passphrase) else keys.deviceKey()
            val store = PatientStore.create(storePath, provider)
            try {
                store.setProfile(Profile(displayName, timeZone, locale, mode, s.country))
                store.grantConsent(CONSENT_SCOPE, CONSENT_TEXT_VERSION)
            } catch (e: Exception) {
                store.close()
                throw e
            }
            store
        }
        return when (out) {
            is Outcome.Ok -> out.value.also { mutableState.value = mutableState.value.copy(busy = false, store = it) }
            is Outcome.Err -> null.also { mutableState.value = mutableState.value.copy(busy = false, error = out.error) }
        }
    }

    companion object {
        const val CONSENT_SCOPE = "treatment"
        const val CONSENT_TEXT_VERSION = "android-1"
    }
}

data class UnlockState(val busy: Boolean = false, val error: ScreenError? = null, val store: PatientStore? = null)

/** Opens the store. A wrong passphrase is a state to show, never a reason to touch the file. */
class UnlockPresenter(private val storePath: String, private val keys: KeySource) :
    StateHolder<UnlockState>(UnlockState()) {
    val exists: Boolean get() = File(storePath).exists()

    suspend fun unlock(passphrase: String?): PatientStore? {
        mutableState.value = UnlockState(busy = true)
        val out = core {
            PatientStore.open(storePath, if (passphrase != null) keys.passphrase(passphrase) else keys.deviceKey())
        }
        return when (out) {
            is Outcome.Ok -> out.value.also { mutableState.value = UnlockState(store = it) }
            is Outcome.Err -> null.also { mutableState.value = UnlockState(error = out.error) }
        }
    }
}

// ------------------------------------------------------------------ join a therapist

data class JoinState(
    val code: String = "",
    val shareHistory: Boolean = false,
    /** Risk answers were made before pairing: ask whether to share them before joining. */
    val askShareAlerts: Boolean = false,
    val busy: Boolean = false,
    val result: PairingResult? = null,
    val error: ScreenError? = null,
)

/** Type the code (or a scanned QR payload), compare the safety number, choose what to share. */
class JoinPresenter(
    private val store: PatientStore,
    private val transport: HttpTransport,
    private val relayUrl: String?,
) : StateHolder<JoinState>(JoinState()) {

    fun setCode(code: String) {
        mutableState.value = mutableState.value.copy(code = code.trim(), error = null)
    }

    fun setShareHistory(share: Boolean) {
        mutableState.value = mutableState.value.copy(shareHistory = share)
    }

    /**
     * A grayscale camera frame (`width` x `height` bytes, row by row): the core reads the QR code
     * and the invitation fills the code field. No code in the frame is `ScreenError.NotFound`;
     * a QR code that is not an invitation is `ScreenError.Pairing`.
     */
    suspend fun scanImage(width: Int, height: Int, luma: ByteArray) {
        if (width <= 0 || height <= 0) {
            mutableState.value = mutableState.value.copy(error = ScreenError.Invalid("image"))
            return
        }
        val out = core { decodeQrLuma(width.toUInt(), height.toUInt(), luma) }
        mutableState.value = when (out) {
            is Outcome.Ok -> mutableState.value.copy(code = out.value, error = null)
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    /** `shareAlerts` is the answer to [JoinState.askShareAlerts]; null until asked. */
    suspend fun join(shareAlerts: Boolean? = null) {
        val s = mutableState.value
        mutableState.value = s.copy(busy = true, error = null)
        if (shareAlerts == null) {
            val unsent = core { store.unsentSafetyAlerts() }
            if (unsent is Outcome.Ok && unsent.value > 0u) {
                mutableState.value = s.copy(busy = false, askShareAlerts = true)
                return
            }
        }
        val out = core { store.patientJoin(transport, relayUrl, s.code, s.shareHistory, shareAlerts) }
        mutableState.value = when (out) {
            is Outcome.Ok -> s.copy(busy = false, askShareAlerts = false, result = out.value)
            is Outcome.Err -> s.copy(busy = false, error = out.error)
        }
    }

    /** Once the therapist's device finished: the safety number to compare, from the channel. */
    suspend fun refresh() {
        val r = mutableState.value.result ?: return
        val out = core { store.channels().firstOrNull { it.channelId == r.channelId } }
        if (out is Outcome.Ok && out.value != null) {
            val c = out.value
            mutableState.value = mutableState.value.copy(result = PairingResult(c.channelId, c.status, c.safetyNumber))
        }
    }
}

// ------------------------------------------------------------------ today

data class AgendaRow(
    val id: String,
    val title: String,
    val kind: AgendaItemKind,
    val state: AgendaItemState,
    /** The most relevant instant for its state (due, opens or completed), formatted. */
    val whenText: String?,
    val waitingForTherapist: Boolean,
    val instrument: String?,
)

data class TodayState(
    val loading: Boolean = true,
    val programTitle: String? = null,
    val sections: Map<String, List<AgendaRow>> = emptyMap(),
    val nextUnlock: NextUnlock? = null,
    val nextUnlockText: String? = null,
    val weekText: Pair<UInt, UInt>? = null,
    val notEnrolled: Boolean = false,
    val error: ScreenError? = null,
)

/** Today's agenda with its states and the next unlock: one `agenda()` call. */
class TodayPresenter(private val schedule: PatientSchedule, private val formats: Formats) :
    StateHolder<TodayState>(TodayState()) {

    suspend fun refresh(atMillis: Long? = null) {
        apply(core { schedule.agenda(atMillis) })
    }

    suspend fun complete(itemId: String, atMillis: Long? = null) {
        apply(core { schedule.completeItem(itemId, atMillis).agenda })
    }

    private fun apply(out: Outcome<AgendaView>) {
        mutableState.value = when (out) {
            is Outcome.Ok -> render(out.value)
            // No program yet is a state of its own (the therapist assigns one, or the patient picks one).
            is Outcome.Err -> if (out.error is ScreenError.NotFound) TodayState(loading = false, notEnrolled = true)
            else mutableState.value.copy(loading = false, error = out.error)
        }
    }

    private fun row(i: AgendaItem) = AgendaRow(
        id = i.id, title = i.title, kind = i.kind, state = i.state,
        whenText = (when (i.state) {
            AgendaItemState.COMPLETED -> i.completedAtMillis
            AgendaItemState.UPCOMING, AgendaItemState.LOCKED -> i.opensAtMillis
            else -> i.dueAtMillis ?: i.closesAtMillis
        })?.let(formats::dateTime),
        waitingForTherapist = i.waitingForTherapist,
        instrument = i.instrument,
    )

    private fun render(a: AgendaView) = TodayState(
        loading = false,
        programTitle = a.programTitle,
        sections = linkedMapOf(
            "overdue" to a.overdue.map(::row),
            "due_today" to a.dueToday.map(::row),
            "open_now" to a.openNow.map(::row),
            "waiting_for_therapist" to a.waitingForTherapist.map(::row),
            "upcoming_this_week" to a.upcomingThisWeek.map(::row),
        ).filterValues { it.isNotEmpty() },
        nextUnlock = a.nextUnlock,
        nextUnlockText = a.nextUnlock?.let { formats.dateTime(it.atMillis) },
        weekText = a.progress.currentWeek to a.progress.weeksTotal,
    )
}

// ------------------------------------------------------------------ check-in

data class CheckinState(
    val draft: CheckinDraft? = null,
    /** The question on screen; equals the item count on the review page. */
    val index: Int = 0,
    val busy: Boolean = false,
    val result: CheckinResult? = null,
    /** Set as soon as a risk answer is saved: the View shows the crisis screen at once. */
    val crisis: SafetyAction? = null,
    val error: ScreenError? = null,
) {
    val reviewing: Boolean get() = draft != null && index >= draft.items.size
    val current: CheckinItem? get() = draft?.items?.getOrNull(index)
    val currentAnswer: CheckinAnswerValue?
        get() = current?.let { item -> draft?.answers?.firstOrNull { it.linkId == item.linkId }?.value }
    val canSubmit: Boolean get() = draft != null && draft.missingRequired.isEmpty() && result == null
}

/** One question per screen: answer, back and change, review, submit. Answers are saved as given. */
class CheckinPresenter(private val store: PatientStore) : StateHolder<CheckinState>(CheckinState()) {

    suspend fun start(instrumentId: String) = load(core { store.startCheckin(instrumentId, null) })

    suspend fun startForAgendaItem(itemId: String) = load(core { store.startCheckinForAgendaItem(itemId) })

    private fun load(out: Outcome<CheckinDraft>) {
        mutableState.value = when (out) {
            is Outcome.Ok -> CheckinState(draft = out.value, crisis = out.value.safety)
            is Outcome.Err -> CheckinState(error = out.error)
        }
    }

    /** Saves the answer to the question on screen and moves on. */
    suspend fun answer(value: CheckinAnswerValue) {
        val s = mutableState.value
        val draft = s.draft ?: return
        val item = s.current ?: return
        mutableState.value = s.copy(busy = true, error = null)
        val out = core { store.answerCheckin(draft.checkinId, listOf(CheckinAnswer(item.linkId, value))) }
        mutableState.value = when (out) {
            is Outcome.Ok -> s.copy(
                draft = out.value, busy = false, index = s.index + 1,
                crisis = out.value.safety ?: s.crisis,
            )
            is Outcome.Err -> s.copy(busy = false, error = out.error)
        }
    }

    fun back() = mutableState.value.let { if (it.index > 0) mutableState.value = it.copy(index = it.index - 1) }

    /** From the review page: change one answer. */
    fun goTo(index: Int) = mutableState.value.let {
        if (it.draft != null && index in it.draft.items.indices) mutableState.value = it.copy(index = index)
    }

    fun dismissCrisis() {
        mutableState.value = mutableState.value.copy(crisis = null)
    }

    suspend fun submit() {
        val s = mutableState.value
        val draft = s.draft ?: return
        mutableState.value = s.copy(busy = true, error = null)
        val out = core { store.submitCheckin(draft.checkinId) }
        mutableState.value = when (out) {
            is Outcome.Ok -> s.copy(busy = false, result = out.value, crisis = out.value.safety ?: s.crisis)
            is Outcome.Err -> s.copy(busy = false, error = out.error)
        }
    }
}

// ------------------------------------------------------------------ crisis

data class CrisisResourceRow(val name: String, val description: String, val dialUri: String?, val smsUri: String?, val url: String?)

data class CrisisState(
    val resources: List<CrisisResourceRow> = emptyList(),
    val message: String? = null,
    val alertState: AlertState? = null,
    val nextAvailableText: String? = null,
    val error: ScreenError? = null,
)

/** Resources first (tap to call), then who has been told: one `crisisScreen()` call. */
class CrisisPresenter(private val store: PatientStore, private val formats: Formats) :
    StateHolder<CrisisState>(CrisisState()) {

    suspend fun refresh() {
        val out = core { store.crisisScreen() }
        mutableState.value = when (out) {
            is Outcome.Ok -> render(out.value)
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    fun render(a: SafetyAction) = CrisisState(
        resources = a.resources.map {
            CrisisResourceRow(
                it.name, it.description,
                it.phone?.let { p -> "tel:" + p.filter { c -> c.isDigit() || c == '+' } },
                it.sms?.let { p -> "smsto:" + p.filter { c -> c.isDigit() || c == '+' } },
                it.url,
            )
        },
        message = a.message,
        alertState = a.alertState,
        nextAvailableText = a.therapistNextAvailableMillis?.let(formats::dateTime),
    )
}

// ------------------------------------------------------------------ messages

data class MessageRow(val id: String, val fromMe: Boolean, val text: String, val atText: String, val delivery: Delivery?)

data class MessagesState(
    val messages: List<MessageRow> = emptyList(),
    val availableNow: Boolean? = null,
    val nextAvailableText: String? = null,
    val expectReplyByText: String? = null,
    val crisis: SafetyAction? = null,
    val error: ScreenError? = null,
)

/** The thread with each message's delivery state, and when to expect a reply. */
class MessagesPresenter(
    private val store: PatientStore,
    private val formats: Formats,
    private val channelId: String? = null,
) : StateHolder<MessagesState>(MessagesState()) {

    suspend fun refresh() {
        val out = core { store.messageThread(channelId) to store.replyExpectation(channelId) }
        mutableState.value = when (out) {
            is Outcome.Ok -> {
                val (thread, expect) = out.value
                mutableState.value.copy(
                    messages = thread.map { MessageRow(it.id, it.fromMe, it.text, formats.dateTime(it.atMillis), it.delivery) },
                    availableNow = expect?.availableNow,
                    nextAvailableText = expect?.nextAvailableAtMillis?.let(formats::dateTime),
                    expectReplyByText = expect?.expectReplyByMillis?.let(formats::dateTime),
                    error = null,
                )
            }
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    fun dismissCrisis() {
        mutableState.value = mutableState.value.copy(crisis = null)
    }

    /** Queues the message; risk language in it raises the crisis screen at once. */
    suspend fun send(text: String) {
        val out = core { store.sendMessage(channelId, text) }
        when (out) {
            is Outcome.Ok -> {
                refresh()
                mutableState.value = mutableState.value.copy(crisis = out.value.safety)
            }
            is Outcome.Err -> mutableState.value = mutableState.value.copy(error = out.error)
        }
    }
}

// ------------------------------------------------------------------ progress

data class ChartPoint(val atMillis: Long, val value: Double, val dateText: String, val severity: String?)

/** A severity band to shade behind the series, in score units. */
data class ChartBand(val id: String, val label: String, val min: Double, val max: Double)

data class ChartSeries(
    val instrument: String,
    val higherIsBetter: Boolean,
    val points: List<ChartPoint>,
    val changeText: String?,
    val title: String = instrument,
    val min: Double = 0.0,
    val max: Double = 1.0,
    val bands: List<ChartBand> = emptyList(),
)

/** One alliance check-in: the goals, tasks and bond subscale means. */
data class AllianceRow(val atMillis: Long, val dateText: String, val goals: Double?, val tasks: Double?, val bond: Double?)

data class ProgressState(
    val series: List<ChartSeries> = emptyList(),
    val alliance: List<AllianceRow> = emptyList(),
    val error: ScreenError? = null,
)

/** Symptom series with severity bands and the alliance subscales: one `progressScreen()` call. */
class ProgressPresenter(private val store: PatientStore, private val formats: Formats) :
    StateHolder<ProgressState>(ProgressState()) {

    suspend fun refresh() {
        val out = core { store.progressScreen() }
        mutableState.value = when (out) {
            is Outcome.Ok -> ProgressState(
                series = out.value.symptoms.map { s ->
                    ChartSeries(
                        instrument = s.instrument, higherIsBetter = s.higherIsBetter,
                        points = s.points.map { p -> ChartPoint(p.atMillis, p.total, formats.shortDate(p.atMillis), p.severity) },
                        changeText = s.latestChange, title = s.title, min = s.min, max = s.max,
                        bands = s.bands.map { b -> ChartBand(b.id, b.label, b.min, b.max) },
                    )
                },
                alliance = out.value.alliance.map { a -> AllianceRow(a.atMillis, formats.shortDate(a.atMillis), a.goals, a.tasks, a.bond) },
            )
            is Outcome.Err -> ProgressState(error = out.error)
        }
    }
}

// ------------------------------------------------------------------ module reader

data class ReaderState(
    val reader: ModuleReader? = null,
    /** The page on screen; equals the page count once the exercises show. */
    val page: Int = 0,
    val busy: Boolean = false,
    /** The exercise just saved, for a confirmation. */
    val saved: String? = null,
    val error: ScreenError? = null,
) {
    val pagesTotal: Int get() = reader?.pages?.size ?: 0
    val currentPage: ReaderPage? get() = reader?.pages?.getOrNull(page)
    val onExercises: Boolean get() = reader != null && page >= pagesTotal
    val done: Boolean get() = reader?.state == AgendaItemState.COMPLETED
}

/**
 * A module's pages, then its exercises, with progress. Each action is one core call that returns
 * the whole reader; the core validates exercise answers (`InvalidInput` names the field).
 */
class ModuleReaderPresenter(private val store: PatientStore) : StateHolder<ReaderState>(ReaderState()) {

    /** The module asked for, or the one the patient can do now when null. */
    suspend fun open(moduleId: String? = null, atMillis: Long? = null) {
        mutableState.value = ReaderState(busy = true)
        mutableState.value = when (val out = core { store.moduleReader(moduleId, atMillis) }) {
            is Outcome.Ok -> ReaderState(reader = out.value)
            is Outcome.Err -> ReaderState(error = out.error)
        }
    }

    fun nextPage() = mutableState.value.let { if (it.reader != null && it.page < it.pagesTotal) mutableState.value = it.copy(page = it.page + 1) }

    fun previousPage() = mutableState.value.let { if (it.page > 0) mutableState.value = it.copy(page = it.page - 1) }

    suspend fun saveExercise(exerciseId: String, answers: Map<String, ExerciseValue>, atMillis: Long? = null) {
        val s = mutableState.value.copy(error = null, saved = null)
        val r = s.reader ?: return
        mutableState.value = s.copy(busy = true)
        mutableState.value = when (val out = core { store.saveExercise(r.moduleId, exerciseId, answers, atMillis) }) {
            is Outcome.Ok -> s.copy(reader = out.value, busy = false, saved = exerciseId)
            is Outcome.Err -> s.copy(busy = false, error = out.error)
        }
    }

    /** Marks the module done; Today shows it completed. */
    suspend fun finish(atMillis: Long? = null) {
        val s = mutableState.value.copy(error = null, saved = null)
        val r = s.reader ?: return
        mutableState.value = s.copy(busy = true)
        mutableState.value = when (val out = core { store.finishModule(r.moduleId, atMillis) }) {
            is Outcome.Ok -> s.copy(reader = out.value, busy = false)
            is Outcome.Err -> s.copy(busy = false, error = out.error)
        }
    }
}

// ------------------------------------------------------------------ settings

data class SettingsState(
    val timeZone: String? = null,
    val remindersScheduled: UInt? = null,
    val reminderError: String? = null,
    /** The program's reminder policy: daily time, quiet hours ("22:00"–"07:00"), daily limit. */
    val reminderTime: String? = null,
    val quietHours: Pair<String, String>? = null,
    val maxRemindersPerDay: UInt? = null,
    /**
     * The patient's own reminder preferences: quieter than the program, never noisier.
     * `null` fields follow the program.
     */
    val remindersEnabled: Boolean = true,
    val myQuietHours: Pair<String, String>? = null,
    val myCheckinTime: String? = null,
    val myMaxPerDay: UInt? = null,
    /** What the reminder plan uses: every quiet span in force and the lower daily limit. */
    val effectiveQuietHours: List<Pair<String, String>> = emptyList(),
    val effectiveMaxPerDay: UInt? = null,
    /** The last `setReminderPreferences` refused; `Invalid.field` names what (e.g. "quiet_hours.start"). */
    val preferencesError: ScreenError? = null,
    val hasRecoveryKey: Boolean? = null,
    val export: String? = null,
    /** Where the last export to a file went. */
    val exportedPath: String? = null,
    val audit: List<AuditEntry> = emptyList(),
    val auditIntact: Boolean? = null,
    val erased: Boolean = false,
    /**
     * After an erase: channels whose relay confirmed the revocation (the therapist's app shows "left"
     * at its next sync, not before), and channels the relay was not told about.
     */
    val erasedTold: Int = 0,
    val erasedNotTold: Int = 0,
    val unpaired: Boolean = false,
    val error: ScreenError? = null,
)

/** What an export to a file contains: everything (GDPR, the documented JSON) or the check-ins as FHIR R4. */
enum class ExportFormat { GDPR_JSON, FHIR }

/** Reminders and quiet hours, time zone and travel, export, erase, unpair, the audit log. */
class SettingsPresenter(
    private val store: PatientStore,
    private val schedule: PatientSchedule,
    private val transport: HttpTransport,
) : StateHolder<SettingsState>(SettingsState()) {

    /** One `settingsScreen()` call. */
    suspend fun refresh() {
        mutableState.value = when (val out = core { store.settingsScreen() }) {
            is Outcome.Ok -> out.value.let { v ->
                mutableState.value.copy(
                    timeZone = v.timeZone, audit = v.audit, auditIntact = v.auditIntact,
                    reminderTime = v.reminderTime,
                    quietHours = if (v.quietStart != null && v.quietEnd != null) v.quietStart!! to v.quietEnd!! else null,
                    maxRemindersPerDay = v.maxRemindersPerDay, hasRecoveryKey = v.hasRecoveryKey, error = null,
                    remindersEnabled = v.remindersEnabled,
                    myQuietHours = if (v.myQuietStart != null && v.myQuietEnd != null) v.myQuietStart!! to v.myQuietEnd!! else null,
                    myCheckinTime = v.myCheckinTime, myMaxPerDay = v.myMaxPerDay,
                    effectiveQuietHours = v.effectiveQuietHours.map { it.start to it.end },
                    effectiveMaxPerDay = v.effectiveMaxPerDay,
                )
            }
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    /**
     * Saves the patient's reminder preferences ("HH:MM" local times; quiet hours may cross
     * midnight) and the core re-plans the reminders. A refusal is [SettingsState.preferencesError].
     */
    suspend fun setReminderPreferences(
        enabled: Boolean,
        quietHours: Pair<String, String>?,
        checkinTime: String?,
        maxPerDay: UInt?,
        atMillis: Long? = null,
    ) {
        val out = core {
            store.setReminderPreferences(enabled, quietHours?.first, quietHours?.second, checkinTime, maxPerDay, atMillis)
        }
        when (out) {
            is Outcome.Ok -> {
                mutableState.value = mutableState.value.copy(
                    remindersScheduled = out.value.reminders.scheduled,
                    reminderError = out.value.reminders.error, preferencesError = null,
                )
                refresh()
            }
            is Outcome.Err -> mutableState.value = mutableState.value.copy(preferencesError = out.error)
        }
    }

    /** Writes an export to [path] (a file the patient chose), beside it first and then renamed. */
    suspend fun exportToFile(format: ExportFormat, path: String) {
        val out = core {
            val text = when (format) {
                ExportFormat.GDPR_JSON -> store.exportJson()
                ExportFormat.FHIR -> store.exportFhir()
            }
            val target = File(path)
            val tmp = File(target.parentFile, target.name + ".partial")
            tmp.writeText(text)
            if (!tmp.renameTo(target)) {
                tmp.delete()
                throw java.io.IOException("rename")
            }
        }
        mutableState.value = when (out) {
            is Outcome.Ok -> mutableState.value.copy(exportedPath = path, error = null)
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    /** Travel: the reminders are re-planned in the new zone by the core. */
    suspend fun changeTimeZone(zoneId: String, atMillis: Long? = null) {
        val out = core {
            val p = store.profile()
            if (p != null) store.setProfile(p.copy(timeZone = zoneId))
            schedule.changeTimeZone(zoneId, atMillis)
        }
        mutableState.value = when (out) {
            is Outcome.Ok -> mutableState.value.copy(
                timeZone = zoneId, remindersScheduled = out.value.reminders.scheduled,
                reminderError = out.value.reminders.error, error = null,
            )
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    /** The GDPR export as JSON text, for the share sheet. */
    suspend fun export() {
        val out = core { store.exportJson() }
        mutableState.value = when (out) {
            is Outcome.Ok -> mutableState.value.copy(export = out.value)
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    /** The share sheet took the export: drop the plaintext copy from the state. */
    fun exportShown() {
        mutableState.value = mutableState.value.copy(export = null)
    }

    suspend fun unpair() {
        val out = core { store.unpair(transport, null) }
        mutableState.value = when (out) {
            is Outcome.Ok -> mutableState.value.copy(unpaired = true)
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    /**
     * Erases this phone's data. Online, each channel is first revoked at the relay, so the therapist's
     * app shows the patient as having left; the erase never waits on the network, and
     * [SettingsState.erasedNotTold] counts the therapists who were not told (docs/erasure.md).
     */
    suspend fun erase() {
        val out = core { store.eraseEverywhere(transport) }
        mutableState.value = when (out) {
            is Outcome.Ok -> SettingsState(erased = true, erasedTold = out.value.revokedAtRelay.size, erasedNotTold = out.value.notReached.size)
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }
}

// ------------------------------------------------------------------ sync

data class SyncState(
    val running: Boolean = false,
    val last: SyncSummary? = null,
    /** Offline or refused rounds keep everything queued; the next round resumes. */
    val error: ScreenError? = null,
    val pendingOutbound: ULong = 0u,
)

/** One sync round on demand (the JobScheduler job calls the same). */
class SyncPresenter(private val store: PatientStore, private val transport: HttpTransport) :
    StateHolder<SyncState>(SyncState()) {

    suspend fun syncNow(): SyncState {
        mutableState.value = mutableState.value.copy(running = true)
        val out = core { store.sync(transport) }
        mutableState.value = when (out) {
            is Outcome.Ok -> SyncState(
                last = out.value, pendingOutbound = out.value.pendingOutbound,
                error = when (out.value.error) {
                    null -> null
                    "offline" -> ScreenError.Offline
                    else -> ScreenError.RelayRefused(0, out.value.error!!)
                },
            )
            is Outcome.Err -> mutableState.value.copy(running = false, error = out.error)
        }
        return mutableState.value
    }
}
