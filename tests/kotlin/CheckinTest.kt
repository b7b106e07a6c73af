package org.collabzium.tests

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.collabzium.*

private fun kek() = ByteArray(32) { 7 }

private fun checkinStore(ctx: TestContext, mode: TreatmentMode): PatientStore {
    val store = PatientStore.create(ctx.tempDir().resolve("patient.db").path, memoryKeyProvider(kek()))
    store.setProfile(Profile(displayName = "Kotlin Patient", timeZone = "Europe/Berlin", locale = "en-GB", mode = mode))
    return store
}

private fun answers(vararg pairs: Pair<String, Long>) =
    pairs.map { CheckinAnswer(it.first, CheckinAnswerValue.Integer(it.second)) }

object CheckinTest : TestSuite() {
    init {
        test("full PHQ-9 check-in with the safety path") {
            val store = checkinStore(this, TreatmentMode.GUIDED)
            defer { store.closeStore() }
            assertTrue(store.instruments().map { it.id }.containsAll(listOf("phq9", "gad7", "alliance")))
            val draft = store.startCheckin("phq9", "weekly-phq9.1")
            assertEquals(9, draft.items.size)
            assertEquals(listOf(0L, 1L, 2L, 3L), draft.items[8].options.map { it.value })
            assertEquals(listOf("phq9_9"), draft.missingRequired)

            // A risk answer returns the safety action at once, before submit.
            val first = store.answerCheckin(draft.checkinId, answers("phq9_9" to 1L))
            val action = assertNotNull(first.safety)
            assertEquals(listOf("phq9_9"), action.riskItems)
            assertEquals(listOf("suicidality"), action.concerns)
            assertTrue(action.resources.any { it.name == "Samaritans" })
            assertEquals(draft.checkinId, action.therapistAlertId)
            assertEquals(SafetyAlertStatus.QUEUED, store.safetyAlerts().single().status)

            // One invalid answer refuses the whole batch, naming the item.
            val e = assertFailsWith<CollabziumException.InvalidInput> {
                store.answerCheckin(draft.checkinId, answers("phq9_1" to 1L, "phq9_2" to 4L))
            }
            assertEquals("phq9_2", e.field)
            assertEquals(1, store.checkinDraft(draft.checkinId).answers.size)

            store.answerCheckin(draft.checkinId, answers(
                "phq9_1" to 2L, "phq9_2" to 2L, "phq9_3" to 1L, "phq9_4" to 3L,
                "phq9_5" to 0L, "phq9_6" to 1L, "phq9_7" to 2L, "phq9_8" to 1L))
            val result = store.submitCheckin(draft.checkinId)
            assertEquals(13.0, result.score.total)
            assertEquals("moderate", result.score.severity)
            assertTrue(result.score.safetyAlert)
            assertEquals(draft.checkinId, assertNotNull(result.safety).therapistAlertId)
            assertEquals(1, store.safetyAlerts().size)
            assertFailsWith<CollabziumException.AlreadyExists> { store.submitCheckin(draft.checkinId) }

            val ack = store.acknowledgeSafetyAlert(draft.checkinId)
            assertEquals(SafetyAlertStatus.ACKNOWLEDGED, ack.status)
        }

        test("alert survives an app restart between submit and sync") {
            val path = tempDir().resolve("patient.db").path
            val id = PatientStore.create(path, memoryKeyProvider(kek())).use { store ->
                store.setProfile(Profile("K", "Europe/Berlin", "en-US", TreatmentMode.MESSAGING))
                val d = store.startCheckin("phq9", null)
                store.answerCheckin(d.checkinId, answers(*Array(9) { "phq9_${it + 1}" to 3L }))
                val r = store.submitCheckin(d.checkinId)
                assertTrue(assertNotNull(r.safety).resources.any { it.phone == "988" })
                d.checkinId
            }
            PatientStore.open(path, memoryKeyProvider(kek())).use { store ->
                val alert = store.safetyAlerts().single()
                assertEquals(id, alert.checkinId)
                assertEquals(SafetyAlertStatus.QUEUED, alert.status)
                assertEquals(27.0, store.checkinHistory().single().total)
            }
        }

        test("unguided risk answer gives resources and advice, no alert") {
            val store = checkinStore(this, TreatmentMode.UNGUIDED)
            defer { store.closeStore() }
            val d = store.startCheckin("phq9", null)
            val v = store.answerCheckin(d.checkinId, answers("phq9_9" to 2L))
            val action = assertNotNull(v.safety)
            assertNull(action.therapistAlertId)
            assertTrue(action.resources.isNotEmpty())
            assertTrue(store.safetyAlerts().isEmpty())
        }

        test("full alliance check-in, correction and trend") {
            val store = checkinStore(this, TreatmentMode.GUIDED)
            defer { store.closeStore() }
            val d = store.startCheckin("alliance", null)
            assertEquals(9, d.items.size)
            val v = store.answerCheckin(d.checkinId, answers(
                "goals_1" to 6L, "goals_2" to 7L, "goals_3" to 2L,
                "tasks_1" to 5L, "tasks_2" to 5L, "tasks_3" to 3L,
                "bond_1" to 7L, "bond_2" to 6L) + CheckinAnswer("comment", CheckinAnswerValue.Text("Helpful")))
            assertNull(v.safety)
            val r = store.submitCheckin(d.checkinId)
            val subs = r.score.subscales.associate { it.id to it.score }
            assertEquals(6.33, subs["goals"])
            assertEquals(5.0, subs["tasks"])
            assertEquals(6.5, subs["bond"])
            assertNull(r.safety)
            val fix = store.correctCheckin(d.checkinId)
            assertEquals(2u, fix.revision)
            store.answerCheckin(fix.checkinId, listOf(CheckinAnswer("bond_2", CheckinAnswerValue.Cleared)))
            store.submitCheckin(fix.checkinId)
            val history = store.checkinHistory()
            assertEquals(fix.checkinId, history.first { it.checkinId == d.checkinId }.supersededBy)
            val trend = store.checkinTrend("alliance")
            assertEquals(1, trend.points.size)
            assertTrue(trend.higherIsBetter)
        }
    }
}
