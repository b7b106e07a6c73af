// Whole journeys through the state holders, with the real library, real store files, a real
// `collabzium relay serve` process and the app's own HttpURLConnection transport.
// Run by `scripts/test-all.sh --only android` (runner: tests/kotlin/TestRunner.kt).
package org.collabzium.app.logic

import java.io.File
import java.io.IOException
import java.security.SecureRandom
import java.time.LocalDate
import java.time.ZoneOffset
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlinx.coroutines.runBlocking
import org.collabzium.*
import org.collabzium.platform.UrlConnectionTransport
import org.collabzium.tests.TestContext
import org.collabzium.tests.TestSuite

/** The JVM's stand-in for the Android Keystore: a random key-encryption key held by the core. */
class MemoryKeys : KeySource {
    private val kek = ByteArray(32).also { SecureRandom().nextBytes(it) }
    override fun deviceKey(): KeyProvider = memoryKeyProvider(kek)
}

/** `collabzium relay serve` on loopback; restartable on the same port and database (offline tests). */
class Relay(private val ctx: TestContext, private val db: File, listen: String = "127.0.0.1:0", rateLimit: String = "100000/s", extraArgs: List<String> = emptyList()) {
    private val log = StringBuffer()
    private val process: Process
    val url: String

    init {
        val bin = System.getenv("COLLABZIUM_BIN") ?: fail("COLLABZIUM_BIN is not set (scripts/test-all.sh sets it)")
        process = ProcessBuilder(bin, "relay", "serve", "--listen", listen, "--database", "sqlite:${db.path}", "--rate-limit", rateLimit, *extraArgs.toTypedArray())
            .start()
        process.outputStream.close()
        ctx.defer { stop() }
        val first = CompletableFuture<String?>()
        for ((stream, name) in listOf(process.inputStream to "stdout", process.errorStream to "stderr")) {
            Thread({
                try {
                    stream.bufferedReader().forEachLine { first.complete(it); log.append("$name: $it\n") }
                } catch (_: IOException) {
                } finally {
                    first.complete(null)
                }
            }, "relay $name").apply { isDaemon = true; start() }
        }
        val line = first.get(30, TimeUnit.SECONDS) ?: fail("relay printed nothing:\n$log")
        val addr = Regex("\"listening\"\\s*:\\s*\"([^\"]+)\"").find(line)?.groupValues?.get(1) ?: fail("relay said: $line")
        url = "http://$addr"
    }

    val listen: String get() = url.removePrefix("http://")
    fun output() = log.toString()

    fun stop() {
        process.destroy()
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(5, TimeUnit.SECONDS)
    }
}

fun program(name: String): String {
    val dir = System.getenv("COLLABZIUM_PROGRAMS_DIR") ?: fail("COLLABZIUM_PROGRAMS_DIR is not set")
    return File(dir, "$name.json").readText()
}

/** A therapist-gated second module, so approval can be seen unlocking it. */
const val GATED_PROGRAM = """{"format_version":1,"metadata":{"id":"tiny","version":"1.0.0","title":"Gated program","locale":"en-US","weeks":6,"modes":["guided"]},"modules":[{"id":"m1","title":"Start here","estimated_minutes":10,"unlock":"at_start","pages":[{"id":"p1","title":"Welcome","body":"Hello."}]},{"id":"m2","title":"With your therapist","estimated_minutes":10,"unlock":{"all_of":[{"after_module":"m1"},"therapist_approval"]},"pages":[{"id":"p1","title":"Next","body":"Text."}]},{"id":"m3","title":"Week three","estimated_minutes":10,"unlock":{"days_after_start":14},"pages":[{"id":"p1","title":"Later","body":"Text."}]}],"checkins":[{"id":"mood","instrument":"phq9","when":{"recurring":{"rrule":"FREQ=DAILY","local_time":"20:00"}},"window":{"opens_minutes":0,"due_minutes":120,"closes_minutes":600}}],"reminders":{"time_of_day":"12:00","quiet_hours":{"start":"22:00","end":"07:00"},"max_per_day":2},"crisis_resources":{"en-US":[{"name":"988 Lifeline","description":"Call or text 988.","phone":"988"}]}}"""

/** A patient and a therapist, both set up through the app's own presenters, paired through the relay. */
class PairedApps(ctx: TestContext, val relay: Relay, patientLocale: String = "en-US", patientZone: String = "America/New_York", country: String = "US") {
    val transport = UrlConnectionTransport()
    val dir = ctx.tempDir("collabzium-android-")
    val patientFormats = Formats(patientLocale, patientZone)
    val therapistFormats = Formats("de-DE", "Europe/Berlin")
    val patient: PatientStore
    val therapist: PatientStore
    val channelId: String

    init {
        patient = runBlocking { onboard(File(dir, "patient.db").path, "Pat", patientZone, patientLocale, country, "correct horse battery") }
        ctx.defer { patient.close() }
        therapist = runBlocking { onboard(File(dir, "therapist.db").path, "Dr T", "Europe/Berlin", "de-DE", "DE", null) }
        ctx.defer { therapist.close() }

        val invite = InvitePresenter(therapist, transport, relay.url, therapistFormats)
        ctx.defer { invite.close() }
        runBlocking { invite.create("Pat") }
        val code = assertNotNull(invite.state.value.code, "invite: ${invite.state.value}")
        assertNotNull(invite.state.value.qrPayload)

        val join = JoinPresenter(patient, transport, relay.url)
        join.setCode(code)
        runBlocking { join.join() }
        assertNull(join.state.value.error, "join: ${join.state.value.error}; relay:\n${relay.output()}")
        val paired = runBlocking { invite.awaitPaired(attempts = 50, intervalMillis = 100) }
            ?: fail("the invitation never completed; relay:\n${relay.output()}")
        channelId = paired.channelId
        runBlocking { SyncPresenter(patient, transport).syncNow(); join.refresh() }
        // Both sides show the same safety number to compare.
        assertEquals(paired.safetyNumber, join.state.value.result?.safetyNumber)
    }

    fun syncAll(rounds: Int = 2) = runBlocking {
        repeat(rounds) {
            for (s in listOf(patient, therapist, patient)) {
                val st = SyncPresenter(s, transport).syncNow()
                assertNull(st.error, "sync: ${st.last}; relay:\n${relay.output()}")
            }
        }
    }

    companion object {
        suspend fun onboard(path: String, name: String, zone: String, locale: String, country: String, passphrase: String?): PatientStore {
            val o = OnboardingPresenter(path, MemoryKeys())
            o.next()
            o.next() // refused: no consent yet
            assertEquals(OnboardingStep.CONSENT, o.state.value.step)
            o.setConsent(true)
            o.next()
            o.chooseCountry(country)
            o.next()
            assertEquals(OnboardingStep.UNLOCK, o.state.value.step)
            return o.finish(name, zone, locale, TreatmentMode.GUIDED, passphrase) ?: fail("onboarding: ${o.state.value.error}")
        }
    }
}

object Journeys : TestSuite() {
    override val timeoutSeconds = 180L

    init {
        test("patient onboards, joins, reads week 1, PHQ-9 risk answer -> crisis; therapist Safety, ack -> seen") {
            val p = PairedApps(this, Relay(this, tempDir().resolve("relay.db")))
            val therapistDetail = PatientDetailPresenter(p.therapist, p.channelId, p.therapistFormats)
            runBlocking { therapistDetail.assignProgram(program("low-mood-8w"), LocalDate.now(ZoneOffset.UTC).minusDays(1).toString()) }
            assertEquals("assigned", therapistDetail.state.value.done, "${therapistDetail.state.value.error}")
            p.syncAll(1)

            // Today: week 1's module is open; reading it completes it.
            val schedule = PatientSchedule(p.patient, null)
            val today = TodayPresenter(schedule, p.patientFormats)
            runBlocking { today.refresh() }
            val rows = today.state.value.sections.values.flatten()
            val welcome = rows.firstOrNull { it.id == "module:welcome" } ?: fail("agenda: ${today.state.value}")
            assertTrue(welcome.state == AgendaItemState.OPEN || welcome.state == AgendaItemState.DUE, "$welcome")
            runBlocking { today.complete(welcome.id) }
            assertNull(today.state.value.error)
            assertTrue(today.state.value.sections.values.flatten().none { it.id == welcome.id && it.state != AgendaItemState.COMPLETED })

            // Check-in: one question per screen; the risk answer raises the crisis screen before submit.
            val checkin = CheckinPresenter(p.patient)
            runBlocking { checkin.start("phq9") }
            assertEquals(9, checkin.state.value.draft?.items?.size)
            runBlocking {
                repeat(8) { checkin.answer(CheckinAnswerValue.Integer(1L)) }
                assertNull(checkin.state.value.crisis, "no risk answer yet")
                checkin.back()
                assertEquals(7, checkin.state.value.index, "back goes to the previous question")
                checkin.answer(CheckinAnswerValue.Integer(2L)) // change an answer
                checkin.answer(CheckinAnswerValue.Integer(1L)) // item 9: thoughts of self-harm
            }
            val crisisNow = assertNotNull(checkin.state.value.crisis, "a risk answer shows the crisis screen at once")
            assertTrue(checkin.state.value.reviewing)
            assertTrue(checkin.state.value.canSubmit)
            runBlocking { checkin.submit() }
            assertNotNull(checkin.state.value.result?.safety)
            assertTrue(crisisNow.resources.isNotEmpty())

            val crisis = CrisisPresenter(p.patient, p.patientFormats)
            runBlocking { crisis.refresh() }
            val c = crisis.state.value
            assertTrue(c.resources.any { it.dialUri == "tel:988" }, "tap-to-call: ${c.resources}")
            assertEquals(AlertState.SENDING, c.alertState)

            p.syncAll()
            runBlocking { crisis.refresh() }
            assertEquals(AlertState.DELIVERED, crisis.state.value.alertState)

            // Therapist: Safety first, with its reason and evidence.
            val caseload = CaseloadPresenter(p.therapist, p.therapistFormats)
            runBlocking { caseload.refresh() }
            val row = caseload.state.value.rows.single()
            assertEquals(CaseloadPriority.SAFETY, row.priority, "${caseload.state.value}")
            assertTrue(row.reasons.isNotEmpty() && row.reasons[0].first.isNotBlank(), "${row.reasons}")
            assertEquals("Pat", row.label)

            // Acknowledge with an action and a note; the patient sees "seen", never the note.
            runBlocking { therapistDetail.refresh() }
            val alert = therapistDetail.state.value.alerts.single()
            runBlocking { therapistDetail.acknowledge(alert.alertId, "later", null) }
            assertEquals(ScreenError.Invalid("action"), therapistDetail.state.value.error)
            runBlocking { therapistDetail.acknowledge(alert.alertId, "phone", "called, safe tonight") }
            assertEquals("acknowledged", therapistDetail.state.value.done)
            p.syncAll()
            runBlocking { crisis.refresh() }
            assertEquals(AlertState.SEEN, crisis.state.value.alertState)
            assertFalse(crisis.state.value.message.orEmpty().contains("called"))

            // The therapist's own alliance rating shows on the patient's timeline.
            // From the core's rating form: one choice per item (the third items are reverse-scored).
            runBlocking { therapistDetail.loadRatingForm() }
            val form = therapistDetail.state.value.ratingForm.filter { it.options.isNotEmpty() }
            assertTrue(form.any { it.linkId == "goals_1" } && form.all { it.options.size >= 5 }, "$form")
            val rating = form.associate { it.linkId to if (it.linkId.endsWith("_3")) 2L else 6L }
            runBlocking { therapistDetail.rateAlliance(rating) }
            assertEquals("rated", therapistDetail.state.value.done, "${therapistDetail.state.value.error}")
            assertEquals(6.0, therapistDetail.state.value.timeline?.alliance?.single { it.source == "therapist" }?.goals)
            assertEquals(listOf(10.0), therapistDetail.state.value.timeline?.symptoms?.single { it.instrument == "phq9" }?.points?.map { it.score })

            // Progress: the PHQ-9 series for the chart, dated in the patient's locale.
            val progress = ProgressPresenter(p.patient, p.patientFormats)
            runBlocking { progress.refresh() }
            val phq = progress.state.value.series.single { it.instrument == "phq9" }
            assertEquals(listOf(10.0), phq.points.map { it.value })
            assertFalse(phq.higherIsBetter)
        }

        test("a wrong passphrase is an error state, not a crash, and the store is kept") {
            val path = tempDir().resolve("p.db").path
            val keys = MemoryKeys()
            runBlocking { PairedApps.onboard(path, "Pat", "Europe/Vienna", "de-AT", "AT", "the right one") }.close()
            val unlock = UnlockPresenter(path, keys)
            assertNull(runBlocking { unlock.unlock("the wrong one") })
            assertEquals(ScreenError.WrongKey, unlock.state.value.error)
            assertTrue(unlock.exists, "never deleted")
            // The device key is not the one either.
            assertNull(runBlocking { unlock.unlock(null) })
            assertEquals(ScreenError.WrongKey, unlock.state.value.error)
            val store = assertNotNull(runBlocking { unlock.unlock("the right one") })
            store.use { assertEquals("Pat", it.profile()?.displayName) }
            assertNull(unlock.state.value.error)
        }

        test("offline: the message waits in the queue, then is delivered") {
            val dbFile = tempDir().resolve("relay.db")
            var relay = Relay(this, dbFile)
            val p = PairedApps(this, relay)
            val listen = relay.listen
            relay.stop()

            val messages = MessagesPresenter(p.patient, p.patientFormats)
            runBlocking { messages.send("See you on Monday") }
            assertNull(messages.state.value.error)
            assertEquals(Delivery.QUEUED, messages.state.value.messages.single().delivery)
            val sync = SyncPresenter(p.patient, p.transport)
            val offline = runBlocking { sync.syncNow() }
            assertEquals(ScreenError.Offline, offline.error, "${offline.last}")
            assertTrue(offline.pendingOutbound > 0u)
            runBlocking { messages.refresh() }
            assertEquals(Delivery.QUEUED, messages.state.value.messages.single().delivery)

            relay = Relay(this, dbFile, listen) // back online: same address, same relay database
            p.syncAll()
            runBlocking { messages.refresh() }
            val d = messages.state.value.messages.single().delivery
            assertTrue(d == Delivery.DELIVERED || d == Delivery.READ, "delivery: $d")
            val detail = PatientDetailPresenter(p.therapist, p.channelId, p.therapistFormats)
            runBlocking { detail.refresh() }
            assertEquals(listOf("See you on Monday"), detail.state.value.messages.map { it.text })
        }

        test("a relay refusal is a state: the messages stay queued and go out later") {
            val dbFile = tempDir().resolve("relay.db")
            var relay = Relay(this, dbFile)
            val p = PairedApps(this, relay)
            val listen = relay.listen
            relay.stop()
            // The same relay, now allowing one request per device and second: the round is refused.
            relay = Relay(this, dbFile, listen, rateLimit = "1/s:1")
            val messages = MessagesPresenter(p.patient, p.patientFormats)
            runBlocking { for (i in 1..3) messages.send("Message $i") }
            val sync = SyncPresenter(p.patient, p.transport)
            val refused = runBlocking { repeat(3) { sync.syncNow() }; sync.state.value }
            val e = refused.error
            assertEquals(ScreenError.RelayRefused(0, "rate_limited"), e, "${refused.last}")
            assertTrue(refused.pendingOutbound > 0u, "${refused.last}")
            relay.stop()
            relay = Relay(this, dbFile, listen)
            p.syncAll()
            runBlocking { messages.refresh() }
            assertEquals(3, messages.state.value.messages.count { it.delivery == Delivery.DELIVERED || it.delivery == Delivery.READ }, "${messages.state.value.messages}")
        }

        test("an unreachable relay and a mistyped code are states, not crashes") {
            val dir = tempDir()
            val t = runBlocking { PairedApps.onboard(dir.resolve("t.db").path, "Dr T", "Europe/Berlin", "de-DE", "DE", null) }
            defer { t.close() }
            val invite = InvitePresenter(t, UrlConnectionTransport(), "http://127.0.0.1:1", Formats("de-DE", "Europe/Berlin"))
            runBlocking { invite.create("Pat") }
            assertEquals(ScreenError.Offline, invite.state.value.error)
            val relay = Relay(this, dir.resolve("relay.db"))
            val p = runBlocking { PairedApps.onboard(dir.resolve("p.db").path, "Pat", "Europe/Berlin", "de-DE", "DE", null) }
            defer { p.close() }
            val join = JoinPresenter(p, UrlConnectionTransport(), relay.url)
            join.setCode("not a code")
            runBlocking { join.join() }
            assertTrue(join.state.value.error is ScreenError.Pairing, "${join.state.value.error}")
        }

        test("therapist invite -> join -> assign program -> approve module -> patient agenda unlocks") {
            val p = PairedApps(this, Relay(this, tempDir().resolve("relay.db")))
            val detail = PatientDetailPresenter(p.therapist, p.channelId, p.therapistFormats)
            runBlocking { detail.assignProgram(GATED_PROGRAM, LocalDate.now(ZoneOffset.UTC).minusDays(1).toString()) }
            p.syncAll(1)
            val today = TodayPresenter(PatientSchedule(p.patient, null), p.patientFormats)
            runBlocking { today.refresh() }
            assertEquals("Gated program", today.state.value.programTitle, "${today.state.value}")
            runBlocking { today.complete("module:m1") }
            val waiting = today.state.value.sections["waiting_for_therapist"].orEmpty()
            assertEquals(listOf("module:m2"), waiting.map { it.id }, "${today.state.value.sections}")
            p.syncAll()

            runBlocking { detail.approveModule("m2") }
            assertEquals("approved", detail.state.value.done, "${detail.state.value.error}")
            p.syncAll()
            runBlocking { today.refresh() }
            val m2 = today.state.value.sections.values.flatten().single { it.id == "module:m2" }
            assertTrue(m2.state == AgendaItemState.OPEN || m2.state == AgendaItemState.DUE, "$m2")
            assertFalse(m2.waitingForTherapist)
        }

        test("time-zone travel re-plans the reminders, and the alarm diff follows the plan") {
            val dir = tempDir()
            val store = runBlocking { PairedApps.onboard(dir.resolve("p.db").path, "Pat", "Europe/Berlin", "en-GB", "GB", null) }
            defer { store.close() }
            val alarms = mutableListOf<PendingAlarm>()
            val scheduler = object : NotificationScheduler {
                override fun maxPending(): UInt = 64u
                override fun replacePending(notifications: List<PlannedNotification>) {
                    val changes = ReminderDiff.changes(alarms, notifications)
                    assertTrue(changes.schedule.size + changes.cancel.size <= alarms.size + notifications.size)
                    val next = ReminderDiff.apply(alarms, notifications)
                    alarms.clear()
                    alarms.addAll(ReminderDiff.decode(ReminderDiff.encode(next)))
                }
            }
            val schedule = PatientSchedule(store, scheduler)
            val start = LocalDate.now(ZoneOffset.UTC).plusDays(1).toString()
            schedule.enrol(program("low-mood-8w"), start, "Europe/Berlin", null)
            val before = alarms.map { it.fireAtMillis }.sorted()
            assertTrue(before.isNotEmpty(), "reminders were planned")
            val settings = SettingsPresenter(store, schedule, UrlConnectionTransport())
            runBlocking { settings.changeTimeZone("America/New_York") }
            assertNull(settings.state.value.error)
            assertEquals("America/New_York", settings.state.value.timeZone)
            assertNull(settings.state.value.reminderError)
            val after = alarms.map { it.fireAtMillis }.sorted()
            assertTrue(after.isNotEmpty())
            // Same wall-clock time, new zone: New York is 5 or 6 hours behind Berlin.
            val shift = after.first() - before.first()
            assertTrue(shift == 5 * 3600_000L || shift == 6 * 3600_000L, "first reminder moved by $shift ms")
            runBlocking { settings.refresh() }
            assertEquals(true, settings.state.value.auditIntact)
            // Reminders and quiet hours as the program sets them, in the settings' one call.
            assertEquals("18:30", settings.state.value.reminderTime)
            assertEquals("21:30" to "08:00", settings.state.value.quietHours)
            assertEquals(2u, settings.state.value.maxRemindersPerDay)
            assertEquals(false, settings.state.value.hasRecoveryKey)
            // Exports to files the patient chose: FHIR and the GDPR export; both audited.
            val fhir = dir.resolve("checkins.fhir.json")
            runBlocking { settings.exportToFile(ExportFormat.FHIR, fhir.path) }
            assertNull(settings.state.value.error)
            assertTrue(fhir.readText().contains("\"Bundle\""))
            val gdpr = dir.resolve("everything.json")
            runBlocking { settings.exportToFile(ExportFormat.GDPR_JSON, gdpr.path) }
            assertEquals(gdpr.path, settings.state.value.exportedPath)
            assertTrue(gdpr.readText().contains("Pat"))
            val audited = settings.state.value.audit.size
            runBlocking { settings.refresh() }
            assertEquals(audited + 2, settings.state.value.audit.size, "both exports are in the audit log")
            runBlocking { settings.exportToFile(ExportFormat.FHIR, dir.resolve("no-such-dir/x.json").path) }
            assertTrue(settings.state.value.error is ScreenError.Failure, "an unwritable place is a state: ${settings.state.value.error}")
        }

        test("patient sets quiet hours and reminders re-plan") {
            val store = runBlocking { PairedApps.onboard(tempDir().resolve("p.db").path, "Pat", "Europe/Berlin", "en-GB", "GB", null) }
            defer { store.close() }
            val planned = mutableListOf<PlannedNotification>()
            val scheduler = object : NotificationScheduler {
                override fun maxPending(): UInt = 64u
                override fun replacePending(notifications: List<PlannedNotification>) {
                    planned.clear()
                    planned.addAll(notifications)
                }
            }
            val schedule = PatientSchedule(store, scheduler)
            schedule.enrol(program("low-mood-8w"), LocalDate.now(ZoneOffset.UTC).plusDays(1).toString(), "Europe/Berlin", null)
            val hhmm = { n: PlannedNotification -> n.localTime.substring(11, 16) }
            // The program reminds of the weekly PHQ-9 when it opens, at 18:00.
            assertTrue(planned.any { it.kind == ReminderKind.CHECKIN && hhmm(it) == "18:00" }, "$planned")
            val settings = SettingsPresenter(store, schedule, UrlConnectionTransport())

            // Refusals name the field and leave the plan alone.
            val before = planned.toList()
            runBlocking { settings.setReminderPreferences(true, "17:00" to "7pm", null, null) }
            assertEquals(ScreenError.Invalid("quiet_hours.end"), settings.state.value.preferencesError)
            runBlocking { settings.setReminderPreferences(true, null, null, 3u) }
            assertEquals(ScreenError.Invalid("max_per_day"), settings.state.value.preferencesError, "above the program's 2")
            assertEquals(before, planned)

            // Quiet from 17:00 across midnight to 09:00, one reminder a day.
            runBlocking { settings.setReminderPreferences(true, "17:00" to "09:00", null, 1u) }
            val s = settings.state.value
            assertNull(s.preferencesError)
            assertEquals(planned.size.toUInt(), s.remindersScheduled)
            assertTrue(planned.isNotEmpty())
            for (n in planned) {
                val t = hhmm(n)
                assertTrue(t >= "09:00" && t < "17:00", "$t is in the patient's quiet hours")
            }
            assertTrue(planned.any { it.kind == ReminderKind.CHECKIN && hhmm(it) == "09:00" }, "moved to the end of the quiet hours")
            assertTrue(planned.groupBy { it.localTime.substring(0, 10) }.values.all { it.size == 1 })
            assertEquals("17:00" to "09:00", s.myQuietHours)
            assertEquals(1u, s.myMaxPerDay)
            assertEquals(listOf("21:30" to "08:00", "17:00" to "09:00"), s.effectiveQuietHours)
            assertEquals(1u, s.effectiveMaxPerDay)
            assertEquals(2u, s.maxRemindersPerDay, "the program's own limit still shows")

            // Off: nothing is left pending.
            runBlocking { settings.setReminderPreferences(false, "17:00" to "09:00", null, 1u) }
            assertTrue(planned.isEmpty())
            assertFalse(settings.state.value.remindersEnabled)
        }

        test("patient reads week 1 and does an exercise; Today shows it done") {
            val store = runBlocking { PairedApps.onboard(tempDir().resolve("p.db").path, "Pat", "Europe/Berlin", "en-GB", "GB", null) }
            defer { store.close() }
            val schedule = PatientSchedule(store, null)
            schedule.enrol(program("low-mood-8w"), LocalDate.now(ZoneOffset.UTC).minusDays(1).toString(), "Europe/Berlin", null)

            val reader = ModuleReaderPresenter(store)
            runBlocking { reader.open() }
            val r = assertNotNull(reader.state.value.reader, "${reader.state.value.error}")
            assertEquals("welcome", r.moduleId)
            assertEquals(1u, r.position)
            assertTrue(reader.state.value.pagesTotal >= 3)
            assertNotNull(reader.state.value.currentPage?.body)
            repeat(r.pages.size) { reader.nextPage() }
            assertTrue(reader.state.value.onExercises)
            reader.nextPage() // no further than the exercises
            assertEquals(r.pages.size, reader.state.value.page)
            reader.previousPage()
            assertFalse(reader.state.value.onExercises)
            repeat(r.pages.size) { reader.nextPage() }

            val exercise = r.exercises.single()
            assertEquals(0u, r.exercisesDone)
            val answers = mapOf(
                "goal-1" to ExerciseValue.Text("Walk twice a week"),
                "goal-2" to ExerciseValue.Text("Call my sister"),
                "difference" to ExerciseValue.Text("More energy"),
                "confidence" to ExerciseValue.Number(11L),
            )
            // The core checks the answers; the out-of-range one is named.
            runBlocking { reader.saveExercise(exercise.id, answers) }
            assertEquals(ScreenError.Invalid("answers.confidence"), reader.state.value.error)
            assertEquals(0u, reader.state.value.reader?.exercisesDone)
            runBlocking { reader.saveExercise(exercise.id, answers + ("confidence" to ExerciseValue.Number(7L))) }
            assertNull(reader.state.value.error)
            assertEquals(exercise.id, reader.state.value.saved)
            assertEquals(1u, reader.state.value.reader?.exercisesDone)
            assertEquals(ExerciseValue.Number(7L), reader.state.value.reader?.exercises?.single()?.answers?.get("confidence"))

            runBlocking { reader.finish() }
            assertTrue(reader.state.value.done, "${reader.state.value}")
            val today = TodayPresenter(schedule, Formats("en-GB", "Europe/Berlin"))
            runBlocking { today.refresh() }
            val rows = today.state.value.sections.values.flatten()
            assertTrue(rows.none { it.id == "module:welcome" && it.state != AgendaItemState.COMPLETED }, "${today.state.value.sections}")
            // Reopened later, the saved answers are still there.
            val again = ModuleReaderPresenter(store)
            runBlocking { again.open("welcome") }
            assertEquals(1u, again.state.value.reader?.exercisesDone)
            // A module that has not opened yet is a state, not a crash.
            runBlocking { again.open("thoughts") }
            assertEquals(ScreenError.Invalid("module_id"), again.state.value.error)
        }

        test("patient erases; the therapist's caseload shows left") {
            val p = PairedApps(this, Relay(this, tempDir().resolve("relay.db")))
            p.syncAll(1)
            val settings = SettingsPresenter(p.patient, PatientSchedule(p.patient, null), p.transport)
            runBlocking { settings.erase() }
            val s = settings.state.value
            assertTrue(s.erased, "erase: ${s.error}")
            // Told means the relay confirmed the signed revocation; the screen says only that.
            assertEquals(1, s.erasedTold)
            assertEquals(0, s.erasedNotTold)
            val caseload = CaseloadPresenter(p.therapist, p.therapistFormats)
            runBlocking { caseload.refresh() }
            assertEquals(listOf("active"), caseload.state.value.rows.map { it.status })
            runBlocking { SyncPresenter(p.therapist, p.transport).syncNow(); caseload.refresh() }
            val row = caseload.state.value.rows.singleOrNull() ?: fail("caseload: ${caseload.state.value}")
            assertEquals("left", row.status)
            assertNotNull(row.statusSinceText)
        }

        test("an offline erase still erases, and says the therapist was not told") {
            val p = PairedApps(this, Relay(this, tempDir().resolve("relay.db")))
            p.relay.stop()
            val settings = SettingsPresenter(p.patient, PatientSchedule(p.patient, null), p.transport)
            runBlocking { settings.erase() }
            val s = settings.state.value
            assertTrue(s.erased, "erase: ${s.error}")
            assertEquals(0, s.erasedTold)
            assertEquals(1, s.erasedNotTold)
        }

        test("newPhoneRestore: a backup brings back agenda, progress and the channel; the therapist sees one patient") {
            val relay = Relay(this, tempDir().resolve("relay.db"))
            val p = PairedApps(this, relay)
            val detail = PatientDetailPresenter(p.therapist, p.channelId, p.therapistFormats)
            runBlocking { detail.assignProgram(program("low-mood-8w"), LocalDate.now(ZoneOffset.UTC).minusDays(1).toString()) }
            p.syncAll(1)

            // The old phone: a module done, a PHQ-9 without a risk answer, a message.
            val oldToday = TodayPresenter(PatientSchedule(p.patient, null), p.patientFormats)
            runBlocking { oldToday.refresh(); oldToday.complete("module:welcome") }
            val checkin = CheckinPresenter(p.patient)
            runBlocking {
                checkin.start("phq9")
                repeat(8) { checkin.answer(CheckinAnswerValue.Integer(1L)) }
                checkin.answer(CheckinAnswerValue.Integer(0L))
                checkin.submit()
            }
            assertNull(checkin.state.value.result?.safety)
            runBlocking { MessagesPresenter(p.patient, p.patientFormats).send("Hello from my old phone") }
            p.syncAll()

            // Recovery key, shown once, then a backup to a file the app chose.
            val backup = BackupPresenter(p.patient)
            runBlocking { backup.refresh() }
            assertEquals(false, backup.state.value.hasRecoveryKey)
            runBlocking { backup.setUpRecoveryKey() }
            val key = assertNotNull(backup.state.value.recoveryKey)
            backup.keyShown()
            assertNull(backup.state.value.recoveryKey, "shown once")
            runBlocking { backup.setUpRecoveryKey() }
            assertTrue(backup.state.value.error != null && backup.state.value.recoveryKey == null, "a second key is refused")
            val file = p.dir.resolve("collabzium.backup")
            runBlocking { backup.backUp(key, file.path) }
            assertNull(backup.state.value.error)
            assertEquals(file.length(), backup.state.value.lastBackupBytes)

            val progressBefore = ProgressPresenter(p.patient, p.patientFormats).also { runBlocking { it.refresh() } }.state.value
            runBlocking { oldToday.refresh() }
            val todayBefore = oldToday.state.value
            p.patient.closeStore() // the old phone is gone

            // The new phone: typed failures first, then the restore.
            val newPath = p.dir.resolve("new-phone.db").path
            val restore = RestorePresenter(newPath, MemoryKeys())
            val otherKey = PatientStore.create(p.dir.resolve("other.db").path, MemoryKeys().deviceKey()).use { it.setUpRecoveryKey() }
            runBlocking { restore.restore(file.path, otherKey, "new phone") }
            assertEquals(RestoreFailure.WRONG_KEY, restore.state.value.failure)
            runBlocking { restore.restore(file.path, "not a recovery key", "new phone") }
            assertEquals(ScreenError.Invalid("recovery key"), restore.state.value.error, "a typo names the key")
            val bytes = file.readBytes()
            val tampered = p.dir.resolve("tampered.backup").also { f -> f.writeBytes(bytes.copyOf().also { it[it.size - 50] = (it[it.size - 50].toInt() xor 1).toByte() }) }
            runBlocking { restore.restore(tampered.path, key, "new phone") }
            assertEquals(RestoreFailure.CORRUPT, restore.state.value.failure)
            val newer = p.dir.resolve("newer.backup").also { f -> f.writeBytes(bytes.copyOf().also { it[9] = (it[9] + 1).toByte() }) }
            runBlocking { restore.restore(newer.path, key, "new phone") }
            assertEquals(RestoreFailure.UNSUPPORTED_VERSION, restore.state.value.failure)
            runBlocking { restore.restore(p.dir.resolve("missing.backup").path, key, "new phone") }
            assertEquals(RestoreFailure.NO_FILE, restore.state.value.failure)
            assertFalse(File(newPath).exists(), "a failed restore leaves nothing behind")

            val newPhone = assertNotNull(runBlocking { restore.restore(file.path, key, "new phone passphrase") }, "${restore.state.value}")
            defer { newPhone.close() }
            assertEquals(1uL, restore.state.value.summary?.channelsResumed)

            // The same screens on the new phone.
            val newToday = TodayPresenter(PatientSchedule(newPhone, null), p.patientFormats)
            runBlocking { newToday.refresh() }
            assertEquals(todayBefore.programTitle, newToday.state.value.programTitle)
            assertEquals(
                todayBefore.sections.mapValues { e -> e.value.map { it.id to it.state } },
                newToday.state.value.sections.mapValues { e -> e.value.map { it.id to it.state } },
            )
            val progressAfter = ProgressPresenter(newPhone, p.patientFormats).also { runBlocking { it.refresh() } }.state.value
            assertEquals(progressBefore, progressAfter)
            assertEquals(listOf(8.0), progressAfter.series.single { it.instrument == "phq9" }.points.map { it.value })

            // The channel carries on: both ways, and the therapist still has one patient.
            val messages = MessagesPresenter(newPhone, p.patientFormats)
            runBlocking { messages.send("Hello from my new phone") }
            runBlocking { detail.reply("Good to hear from you") }
            runBlocking {
                repeat(2) {
                    for (s in listOf(newPhone, p.therapist, newPhone)) {
                        val st = SyncPresenter(s, p.transport).syncNow()
                        assertNull(st.error, "sync: ${st.last}; relay:\n${relay.output()}")
                    }
                }
                messages.refresh()
                detail.refresh()
            }
            assertEquals(
                listOf("Hello from my old phone", "Hello from my new phone", "Good to hear from you"),
                messages.state.value.messages.map { it.text },
            )
            assertTrue(detail.state.value.messages.map { it.text }.containsAll(listOf("Hello from my old phone", "Hello from my new phone")), "${detail.state.value.messages}")
            assertEquals(1, detail.state.value.messages.count { it.text == "Hello from my old phone" }, "nothing applied twice")
            val caseload = CaseloadPresenter(p.therapist, p.therapistFormats)
            runBlocking { caseload.refresh() }
            assertEquals(listOf("Pat"), caseload.state.value.rows.map { it.label })
        }
    }
}

object Qualities : TestSuite() {
    init {
        test("every text colour pair in the palette reaches 4.5:1") {
            for ((name, fg, bg) in Palette.textPairs) {
                val ratio = Palette.contrast(fg, bg)
                assertTrue(ratio >= 4.5, "$name: contrast %.2f:1".format(ratio))
            }
            // The check itself: black on white is 21:1, and a pale grey on white fails.
            assertEquals(21.0, Palette.contrast(0xFF000000.toInt(), 0xFFFFFFFF.toInt()), 0.01)
            assertTrue(Palette.contrast(0xFFAAAAAA.toInt(), 0xFFFFFFFF.toInt()) < 4.5)
        }

        test("dates and numbers follow the patient's locale and zone") {
            val at = 1_780_000_000_000L // 2026-05-28T20:26:40Z
            assertEquals("28.05.26", Formats("de-DE", "Europe/Berlin").shortDate(at))
            assertEquals("5/28/26", Formats("en-US", "America/New_York").shortDate(at))
            assertEquals("22:26", Formats("de-DE", "Europe/Berlin").time(at))
            assertEquals("4,5", Formats("de-DE", "UTC").score(4.5))
            assertEquals("12", Formats("en-US", "UTC").score(12.0))
        }

        test("the alarm diff keeps unchanged alarms, moves changed ones, cancels the rest") {
            fun planned(id: String, at: Long) = PlannedNotification(id, id.hashCode() and 0x7fffffff, at, "2026-01-01T00:00:00", ReminderKind.CHECKIN, listOf(), "Collabzium", "Time for your check-in")
            val current = listOf(PendingAlarm("a", 1, 100), PendingAlarm("b", 2, 200), PendingAlarm("c", 3, 300))
            val ch = ReminderDiff.changes(current, listOf(planned("a", 100), planned("b", 250), planned("d", 400)))
            assertEquals(listOf("b", "d"), ch.schedule.map { it.id })
            assertEquals(listOf("c"), ch.cancel.map { it.id })
            assertEquals(current, ReminderDiff.decode(ReminderDiff.encode(current)))
            assertEquals(emptyList(), ReminderDiff.decode("garbage\n\t\t"))
        }
    }
}
