package org.collabzium.tests

import java.time.Instant
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.collabzium.*

/** A scheduler written in Kotlin, shaped like an AlarmManager one: it diffs by id. */
class RecordingScheduler(private val max: UInt) : NotificationScheduler {
    private val lock = Any()
    private val pending = linkedMapOf<String, PlannedNotification>()
    var added = 0
    var cancelled = 0

    override fun maxPending(): UInt = max

    override fun replacePending(notifications: List<PlannedNotification>) = synchronized(lock) {
        val ids = notifications.map { it.id }.toSet()
        val gone = pending.keys.filter { it !in ids }
        gone.forEach { pending.remove(it) }
        cancelled += gone.size
        for (n in notifications) {
            if (pending.put(n.id, n) == null) added++
        }
    }

    fun pending(): List<PlannedNotification> = synchronized(lock) { pending.values.toList() }
}

/** Notifications switched off by the user, then a crash in the platform code. */
class RefusingScheduler(private val crash: Boolean) : NotificationScheduler {
    override fun maxPending(): UInt = 64u
    override fun replacePending(notifications: List<PlannedNotification>) {
        if (crash) throw IllegalStateException("alarm service died")
        throw NotificationSchedulerException.NotPermitted()
    }
}

private fun ms(s: String): Long = Instant.parse(s).toEpochMilli()

private const val TINY = """{"format_version":1,"metadata":{"id":"tiny","version":"1.0.0","title":"Tiny program","locale":"en-US","weeks":6,"modes":["guided"]},"modules":[{"id":"m1","title":"Start here","estimated_minutes":10,"unlock":"at_start","pages":[{"id":"p1","title":"Welcome","body":"Hello."}]},{"id":"m2","title":"With your therapist","estimated_minutes":10,"unlock":{"all_of":[{"after_module":"m1"},"therapist_approval"]},"pages":[{"id":"p1","title":"Next","body":"Text."}]},{"id":"m3","title":"Week three","estimated_minutes":10,"unlock":{"days_after_start":14},"pages":[{"id":"p1","title":"Later","body":"Text."}]}],"checkins":[{"id":"mood","instrument":"phq9","when":{"recurring":{"rrule":"FREQ=DAILY","local_time":"20:00"}},"window":{"opens_minutes":0,"due_minutes":120,"closes_minutes":600}}],"reminders":{"time_of_day":"12:00","quiet_hours":{"start":"22:00","end":"07:00"},"max_per_day":2},"crisis_resources":{"en-US":[{"name":"988 Lifeline","description":"Call or text 988.","phone":"988"}]}}"""

object ScheduleTest : TestSuite() {
    private fun TestContext.newStore(): PatientStore {
        val store = PatientStore.create(tempDir().resolve("p.db").path, memoryKeyProvider(ByteArray(32) { 7 }))
        defer { store.close() }
        return store
    }

    init {
        test("enrolment, agenda, completion and therapist approval") {
            val schedule = PatientSchedule(newStore(), null)
            defer { schedule.close() }
            val u = schedule.enrol(TINY, "2026-03-02", "Europe/Berlin", ms("2026-03-02T08:00:00Z"))
            assertEquals("tiny", u.agenda.programId)
            assertEquals(3u, u.agenda.progress.modulesTotal)
            assertEquals(1u, u.agenda.progress.currentWeek)
            assertTrue(u.agenda.openNow.any { it.id == "module:m1" && it.state == AgendaItemState.OPEN })
            // Unlock by date: day 14 starts at Berlin midnight.
            assertEquals("m3", u.agenda.nextUnlock?.moduleId)
            assertEquals(ms("2026-03-15T23:00:00Z"), u.agenda.nextUnlock?.atMillis)

            val done = schedule.completeItem("module:m1", ms("2026-03-02T09:00:00Z"))
            assertEquals(1u, done.agenda.progress.modulesDone)
            // Unlock by therapist approval: waiting until it arrives.
            assertEquals(listOf("module:m2"), done.agenda.waitingForTherapist.map { it.id })
            assertTrue(done.agenda.waitingForTherapist[0].waitingForTherapist)
            val approved = schedule.recordTherapistApproval("m2", ms("2026-03-02T10:00:00Z"))
            assertTrue(approved.agenda.waitingForTherapist.isEmpty())
            assertTrue(approved.agenda.openNow.any { it.id == "module:m2" })

            // The evening check-in: upcoming in the morning, open at 20:00.
            val morning = schedule.agenda(ms("2026-03-02T11:00:00Z"))
            assertTrue(morning.upcomingThisWeek.any { it.id == "checkin:mood:2026-03-02T20:00" })
            val evening = schedule.agenda(ms("2026-03-02T19:05:00Z"))
            val checkin = evening.dueToday.single { it.kind == AgendaItemKind.CHECKIN }
            assertEquals("phq9", checkin.instrument)
            schedule.completeItem(checkin.id, ms("2026-03-02T19:30:00Z"))

            val e = assertFailsWith<CollabziumException.NotFound> { schedule.completeItem("module:nope", null) }
            assertNotNull(e.what)
            val bad = assertFailsWith<CollabziumException.InvalidInput> {
                schedule.completeItem("module:m3", ms("2026-03-03T10:00:00Z"))
            }
            assertEquals("item_id", bad.field)
            val tz = assertFailsWith<CollabziumException.InvalidInput> { schedule.changeTimeZone("Mars/Base", null) }
            assertEquals("time_zone", tz.field)
            val prog = assertFailsWith<CollabziumException.InvalidInput> {
                PatientSchedule(newStore(), null).enrol("{}", "2026-03-02", "Europe/Berlin", null)
            }
            assertEquals("program_json", prog.field)
        }

        test("reminder plan through a Kotlin NotificationScheduler") {
            val sched = RecordingScheduler(64u)
            val schedule = PatientSchedule(newStore(), sched)
            defer { schedule.close() }
            val now = ms("2026-03-02T08:00:00Z")
            val u = schedule.enrol(TINY, "2026-03-02", "Europe/Berlin", now)
            assertNull(u.reminders.error)
            val plan = sched.pending()
            assertEquals(64, plan.size)
            assertEquals(64u, u.reminders.scheduled)
            assertEquals(plan.size, plan.map { it.id }.toSet().size)
            assertTrue(plan.all { it.fireAtMillis > now })
            assertTrue(plan.zipWithNext().all { (a, b) -> a.fireAtMillis <= b.fireAtMillis })
            // Quiet hours 22:00 to 07:00 and at most 2 a day.
            assertTrue(plan.none { it.localTime.substring(11, 13).toInt().let { h -> h >= 22 || h < 7 } })
            assertTrue(plan.groupBy { it.localTime.substring(0, 10) }.values.all { it.size <= 2 })
            val target = "checkin:mood:2026-03-03T20:00"
            assertTrue(plan.any { target in it.itemIds })

            // Completing re-plans: never a reminder for a completed item.
            schedule.completeItem(target, ms("2026-03-03T19:10:00Z"))
            assertTrue(sched.pending().none { target in it.itemIds })
            assertTrue(sched.cancelled > 0)

            // Travel: the same 20:00, now in New York.
            val moved = schedule.changeTimeZone("America/New_York", ms("2026-03-04T12:00:00Z"))
            assertEquals("America/New_York", moved.agenda.timeZone)
            val checkins = sched.pending().filter { it.kind == ReminderKind.CHECKIN }
            assertTrue(checkins.isNotEmpty())
            assertTrue(checkins.all { it.localTime.endsWith("T20:00:00") })
            assertEquals(ms("2026-03-05T01:00:00Z"), checkins.first { it.id.endsWith("2026-03-04T20:00") }.fireAtMillis)

            // A preview without handing anything to the platform.
            assertEquals(5, schedule.reminderPlan(5u, ms("2026-03-04T12:00:00Z")).size)
        }

        test("a scheduler that refuses does not undo the change") {
            for (crash in listOf(false, true)) {
                val schedule = PatientSchedule(newStore(), RefusingScheduler(crash))
                defer { schedule.close() }
                val u = schedule.enrol(TINY, "2026-03-02", "Europe/Berlin", ms("2026-03-02T08:00:00Z"))
                assertNotNull(u.reminders.error)
                assertEquals(0u, u.reminders.scheduled)
                val done = schedule.completeItem("module:m1", ms("2026-03-02T09:00:00Z"))
                assertEquals(1u, done.agenda.progress.modulesDone)
            }
        }

        test("engagement and reminder events") {
            val schedule = PatientSchedule(newStore(), RecordingScheduler(64u))
            defer { schedule.close() }
            schedule.enrol(TINY, "2026-03-02", "Europe/Berlin", ms("2026-03-02T08:00:00Z"))
            schedule.completeItem("module:m1", ms("2026-03-02T09:00:00Z"))
            schedule.completeItem("checkin:mood:2026-03-02T20:00", ms("2026-03-02T19:30:00Z"))
            val e = schedule.engagement(ms("2026-03-07T12:00:00Z"))
            assertEquals(2u, e.completedItems)
            assertEquals(4u, e.currentMissedRun)
            assertEquals(4u, e.missedItems)
            assertEquals(5u, e.daysSinceLastActivity)
            assertTrue(e.completionRate!! < 0.5)

            schedule.recordReminderDelivered("nudge:2026-03-07", ms("2026-03-07T11:00:00Z"))
            assertEquals(1u, schedule.engagement(ms("2026-03-07T12:00:00Z")).ignoredReminders)
            schedule.recordReminderOpened("nudge:2026-03-07", ms("2026-03-07T11:30:00Z"))
            val after = schedule.engagement(ms("2026-03-07T12:00:00Z"))
            assertEquals(0u, after.ignoredReminders)
            assertEquals(0u, after.daysSinceLastActivity)
        }
    }
}
