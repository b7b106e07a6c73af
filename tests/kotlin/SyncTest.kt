package org.collabzium.tests

import java.io.File
import java.io.IOException
import java.net.http.HttpClient
import java.net.http.HttpTimeoutException
import java.time.Duration
import java.util.Collections
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail
import org.collabzium.*
import java.net.http.HttpRequest as JdkRequest
import java.net.http.HttpResponse as JdkResponse

/**
 * The app's side of the `HttpTransport` foreign trait, on the JDK 17 HttpClient.
 * Records every request's method and path so tests can see what went over the wire.
 */
class JdkHttpTransport : HttpTransport {
    private val client: HttpClient = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5))
        .build()
    val requests: MutableList<String> = Collections.synchronizedList(mutableListOf<String>())

    override fun send(request: HttpRequest): HttpResponse {
        val uri = try {
            java.net.URI.create(request.url)
        } catch (e: IllegalArgumentException) {
            throw TransportException.Unreachable("bad url: ${e.message}")
        }
        requests += "${request.method} ${uri.path}"
        val body = if (request.body.isEmpty()) JdkRequest.BodyPublishers.noBody()
        else JdkRequest.BodyPublishers.ofByteArray(request.body)
        val builder = JdkRequest.newBuilder(uri)
            .timeout(Duration.ofSeconds(10))
            .method(request.method, body) // DELETE /v1/channels/{id} carries a JSON body too
        for (h in request.headers) {
            if (h.name.lowercase() in RESTRICTED) continue // the client sets these itself
            builder.header(h.name, h.value)
        }
        val response = try {
            client.send(builder.build(), JdkResponse.BodyHandlers.ofByteArray())
        } catch (e: HttpTimeoutException) {
            throw TransportException.Timeout()
        } catch (e: IOException) {
            throw TransportException.Unreachable("${e::class.java.simpleName}: ${e.message}")
        }
        val headers = response.headers().map().flatMap { (name, values) -> values.map { HttpHeader(name, it) } }
        return HttpResponse(response.statusCode().toUShort(), headers, response.body())
    }

    private companion object {
        /** Headers java.net.http.HttpClient refuses to let callers set. */
        val RESTRICTED = setOf("connection", "content-length", "expect", "host", "upgrade")
    }
}

/**
 * `collabzium relay serve` as a child process on a free loopback port. Its output is
 * drained continuously (so it never blocks on a full pipe) and kept for failure messages.
 */
class RelayProcess private constructor(private val process: Process, private val log: StringBuffer) {
    /** `http://127.0.0.1:PORT` */
    lateinit var url: String
        private set

    fun output(): String = log.toString()

    fun stop() {
        process.destroy() // SIGTERM: the relay shuts down cleanly
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            process.waitFor(5, TimeUnit.SECONDS)
        }
    }

    companion object {
        fun start(ctx: TestContext): RelayProcess {
            val bin = System.getenv("COLLABZIUM_BIN")
                ?: fail("COLLABZIUM_BIN is not set (scripts/test-all.sh builds the CLI and sets it)")
            assertTrue(File(bin).canExecute(), "COLLABZIUM_BIN=$bin is not an executable")
            val db = ctx.tempDir("collabzium-relay-").resolve("relay.db")
            val process = ProcessBuilder(
                bin, "relay", "serve",
                "--listen", "127.0.0.1:0",
                "--database", "sqlite:${db.path}",
                "--rate-limit", "100000/s",
            ).redirectInput(ProcessBuilder.Redirect.PIPE).start()
            process.outputStream.close()
            val log = StringBuffer()
            val relay = RelayProcess(process, log)
            ctx.defer { relay.stop() }
            val firstLine = CompletableFuture<String?>()
            fun drain(stream: java.io.InputStream, name: String, first: CompletableFuture<String?>?) =
                Thread({
                    try {
                        stream.bufferedReader().useLines { lines ->
                            for (line in lines) {
                                first?.complete(line)
                                log.append(name).append(": ").append(line).append('\n')
                            }
                        }
                    } catch (_: IOException) {
                    } finally {
                        first?.complete(null)
                    }
                }, "relay $name").apply { isDaemon = true; start() }
            drain(process.inputStream, "stdout", firstLine)
            drain(process.errorStream, "stderr", null)
            val line = try {
                firstLine.get(30, TimeUnit.SECONDS)
            } catch (e: java.util.concurrent.TimeoutException) {
                null
            } ?: fail("relay printed no address line (alive=${process.isAlive}); output:\n$log")
            val addr = Regex("\"listening\"\\s*:\\s*\"([^\"]+)\"").find(line)?.groupValues?.get(1)
                ?: fail("unexpected first relay line: $line")
            assertTrue(addr.startsWith("127.0.0.1:"), addr)
            relay.url = "http://$addr"
            return relay
        }
    }
}

private fun store(ctx: TestContext, name: String, fill: Byte): PatientStore {
    val s = PatientStore.create(ctx.tempDir().resolve("$name.db").path, memoryKeyProvider(ByteArray(32) { fill }))
    ctx.defer { s.closeStore() }
    return s
}

/** The same code with a different last (check) character. */
private fun withWrongCheckCharacter(code: String): String {
    val last = code.last()
    return code.dropLast(1) + (if (last == 'A') 'B' else 'A')
}

object SyncTest : TestSuite() {
    override val timeoutSeconds = 120L

    init {
        test("pairing, check-in and messages through a relay process over java.net.http") {
            val relay = RelayProcess.start(this)
            val transport = JdkHttpTransport()
            val therapist = store(this, "therapist", 1)
            val patient = store(this, "patient", 2)
            patient.setProfile(Profile("Kotlin Patient", "Europe/Berlin", "en-GB", TreatmentMode.GUIDED))

            fun sync(who: String, s: PatientStore): SyncSummary {
                val summary = s.sync(transport)
                assertNull(summary.error, "$who sync stopped: $summary\nrelay:\n${relay.output()}")
                return summary
            }

            // Pairing.
            val invitation = therapist.therapistInvite(transport, relay.url, "Sam")
            defer { invitation.close() }
            val code = invitation.view().code
            assertTrue(transport.requests.isNotEmpty(), "the invitation was created at the relay")

            // A typo in the check character is refused locally, before any request.
            val before = transport.requests.size
            val e = assertFailsWith<CollabziumException.Pairing> {
                patient.patientJoin(transport, relay.url, withWrongCheckCharacter(code), false)
            }
            assertEquals("invalid_code", e.code)
            assertEquals(before, transport.requests.size, "no request for a mistyped code: ${transport.requests}")

            val joined = patient.patientJoin(transport, relay.url, code, false)
            var paired: PairingResult? = null
            for (i in 0 until 50) {
                paired = invitation.poll()
                if (paired != null) break
                Thread.sleep(100)
            }
            assertNotNull(paired, "the therapist's invitation never completed; relay:\n${relay.output()}")
            val channelId = paired.channelId
            assertEquals(joined.channelId, channelId)
            assertEquals(1UL, sync("patient", patient).pairingsCompleted)

            val tch = therapist.channels().single()
            val pch = patient.channels().single()
            assertEquals(ChannelStatus.ACTIVE, tch.status)
            assertEquals(ChannelStatus.ACTIVE, pch.status)
            assertEquals(channelId, tch.channelId)
            assertNotNull(tch.safetyNumber)
            assertEquals(tch.safetyNumber, pch.safetyNumber)
            assertEquals(paired.safetyNumber, tch.safetyNumber)

            // A PHQ-9 check-in (no risk answer) and a message each way.
            val draft = patient.startCheckin("phq9", null)
            assertEquals(9, draft.items.size)
            patient.answerCheckin(draft.checkinId, (1..9).map {
                CheckinAnswer("phq9_$it", CheckinAnswerValue.Integer(if (it == 9) 0L else 1L))
            })
            val result = patient.submitCheckin(draft.checkinId)
            assertEquals(8.0, result.score.total)
            assertNull(result.safety)
            val fromPatient = "Hello from the Kotlin patient"
            val fromTherapist = "Hello from the Kotlin therapist"
            patient.sendMessage(null, fromPatient)
            therapist.sendMessage(channelId, fromTherapist)

            // Patient sends, therapist receives (and sends receipts and its message), patient
            // receives them; repeated a few times in case a round was cut short.
            fun checkinDelivery() = patient.outbound().firstOrNull { it.kind == "checkin" && it.refId == draft.checkinId }?.delivery
            for (round in 0 until 5) {
                sync("patient", patient)
                sync("therapist", therapist)
                sync("patient", patient)
                if (checkinDelivery() in setOf(Delivery.DELIVERED, Delivery.READ)) break
                Thread.sleep(200)
            }

            val inbox = therapist.inbox(listOf())
            val checkin = inbox.firstOrNull { it.kind == "checkin" && it.channelId == channelId }
                ?: fail("no check-in in the therapist's inbox: ${inbox.map { it.kind }}")
            assertEquals("Sam", checkin.patient)
            assertTrue(Regex("\"instrument\"\\s*:\\s*\"phq9\"").containsMatchIn(checkin.bodyJson), checkin.bodyJson)
            assertEquals(listOf("checkin"), therapist.inbox(listOf("checkin")).map { it.kind }.distinct())

            val tthread = therapist.messageThread(channelId)
            assertTrue(tthread.any { !it.fromMe && it.text == fromPatient }, "therapist thread: $tthread")
            val pthread = patient.messageThread(null)
            assertTrue(pthread.any { !it.fromMe && it.text == fromTherapist }, "patient thread: $pthread")
            assertTrue(pthread.any { it.fromMe && it.text == fromPatient })

            val delivery = checkinDelivery()
            assertTrue(delivery == Delivery.DELIVERED || delivery == Delivery.READ, "check-in delivery: $delivery; ${patient.outbound()}")

            // Insights after the sync: the caseload and this patient's timeline, one call each.
            val rating = "{" + listOf("goals_1", "goals_2", "tasks_1", "tasks_2", "bond_1", "bond_2")
                .joinToString(",") { "\"$it\": 6" } + ", \"goals_3\": 2, \"tasks_3\": 2}"
            therapist.rateAlliance(channelId, rating)
            val caseload = therapist.caseload()
            assertEquals(1, caseload.size, "$caseload")
            assertEquals("Sam", caseload[0].label)
            assertEquals(channelId, caseload[0].channelId)
            assertEquals(8.0, caseload[0].latestSymptom?.total)
            val timeline = therapist.patientTimeline(channelId)
            val phq = timeline.symptoms.single { it.instrument == "phq9" }
            assertEquals(listOf(8.0), phq.points.map { it.score })
            assertEquals(6.0, phq.reliableChangeThreshold)
            assertTrue(phq.higherIsWorse)
            val ratedByTherapist = timeline.alliance.single { it.source == "therapist" }
            assertEquals(6.0, ratedByTherapist.goals)
            assertFailsWith<CollabziumException.NotFound> { therapist.patientTimeline("00".repeat(16)) }
            // Nothing is flagged for this patient, so there is nothing to notify about.
            assertTrue(therapist.notificationDigest(2u.toUByte()).all { !it.immediate }, "${therapist.notificationDigest(2u.toUByte())}")
            assertFailsWith<CollabziumException.InvalidInput> { therapist.notificationDigest(3u.toUByte()) }

            // Unpairing goes out as DELETE with a body; the therapist learns it at its next sync.
            patient.unpair(transport, null)
            assertTrue(transport.requests.any { it.startsWith("DELETE ") }, "${transport.requests}")
            assertEquals(ChannelStatus.REVOKED, patient.channels().single().status)
            assertEquals(1UL, sync("therapist", therapist).channelsRevoked)
            assertEquals(ChannelStatus.REVOKED, therapist.channels().single().status)
        }

        test("the crisis screen says who was told: not connected, sending, delivered, seen") {
            val relay = RelayProcess.start(this)
            val transport = JdkHttpTransport()
            val therapist = store(this, "therapist", 5)
            val patient = store(this, "patient", 6)
            patient.setProfile(Profile("Kotlin Patient", "America/New_York", "en-US", TreatmentMode.GUIDED))
            fun risky(): CheckinResult {
                val d = patient.startCheckin("phq9", null)
                patient.answerCheckin(d.checkinId, (1..9).map {
                    CheckinAnswer("phq9_$it", CheckinAnswerValue.Integer(1L))
                })
                return patient.submitCheckin(d.checkinId)
            }
            // Not paired: the resources for the patient's country, and nobody told.
            val first = assertNotNull(risky().safety)
            assertEquals(AlertState.NOT_CONNECTED, first.alertState)
            assertTrue(first.resources.any { it.phone == "988" }, "${first.resources}")
            assertTrue("nobody has been told" in first.message, first.message)
            assertEquals(AlertState.NOT_CONNECTED, patient.crisisScreen().alertState)

            // Joining asks about the unsent alert; sharing it alone delivers it.
            val invitation = therapist.therapistInvite(transport, relay.url, "Sam")
            defer { invitation.close() }
            assertEquals(1u, patient.unsentSafetyAlerts())
            assertFailsWith<CollabziumException.InvalidInput> {
                patient.patientJoin(transport, relay.url, invitation.view().code, false)
            }
            patient.patientJoin(transport, relay.url, invitation.view().code, false, true)
            var paired: PairingResult? = null
            for (i in 0 until 50) {
                paired = invitation.poll()
                if (paired != null) break
                Thread.sleep(100)
            }
            val channelId = assertNotNull(paired).channelId
            patient.sync(transport)
            assertEquals(AlertState.SENDING, patient.crisisScreen().alertState)
            therapist.sync(transport)
            patient.sync(transport)
            val delivered = patient.crisisScreen()
            assertEquals(AlertState.DELIVERED, delivered.alertState)
            assertTrue(delivered.resources.isNotEmpty(), "resources stay first")

            // The therapist sees the triggering answer, acknowledges with an action.
            val alert = therapist.inbox(listOf("safety_alert")).single()
            assertTrue("\"phq9_9\"" in alert.bodyJson && "\"total\"" in alert.bodyJson, alert.bodyJson)
            val alertId = Regex("\"alert_id\"\\s*:\\s*\"([^\"]+)\"").find(alert.bodyJson)!!.groupValues[1]
            assertFailsWith<CollabziumException.InvalidInput> {
                therapist.acknowledgePatientAlert(channelId, alertId, "later")
            }
            therapist.acknowledgePatientAlert(channelId, alertId, "phone", "called, safe tonight")
            therapist.sync(transport)
            patient.sync(transport)
            val seen = patient.crisisScreen()
            assertEquals(AlertState.SEEN, seen.alertState)
            assertTrue("has seen your alert" in seen.message, seen.message)
            assertTrue("called" !in seen.message, "the note stays with the therapist")
            assertEquals(AlertState.SEEN, patient.safetyAlerts().single().alertState)
        }

        test("an unreachable relay is Offline and leaves no channel") {
            val transport = JdkHttpTransport()
            val therapist = store(this, "therapist", 3)
            // Port 1 on loopback: connection refused, surfaced as TransportException -> Offline.
            assertFailsWith<CollabziumException.Offline> {
                therapist.therapistInvite(transport, "http://127.0.0.1:1", "Sam")
            }
            assertTrue(therapist.channels().isEmpty())
        }
    }
}
