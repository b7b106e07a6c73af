package org.collabzium.app.logic

import org.collabzium.PlannedNotification

/** One alarm the platform holds: the core's stable id, its Android request code and fire time. */
data class PendingAlarm(val id: String, val platformId: Int, val fireAtMillis: Long)

/** What to change on the platform to make `plan` the whole pending set. */
data class AlarmChanges(val schedule: List<PlannedNotification>, val cancel: List<PendingAlarm>)

/**
 * The diff behind `NotificationScheduler.replacePending`: keep alarms whose id and time are
 * unchanged, (re)schedule new or moved ones, cancel the rest. The core owns the plan; this only
 * keeps the platform's copy equal to it. Used by the AlarmManager scheduler.
 */
object ReminderDiff {
    fun changes(current: Collection<PendingAlarm>, plan: List<PlannedNotification>): AlarmChanges {
        val byId = current.associateBy { it.id }
        val wanted = plan.associateBy { it.id }
        val schedule = plan.filter { p -> byId[p.id]?.fireAtMillis != p.fireAtMillis }
        val cancel = current.filter { c -> wanted[c.id] == null }
        return AlarmChanges(schedule, cancel)
    }

    fun apply(current: Collection<PendingAlarm>, plan: List<PlannedNotification>): List<PendingAlarm> =
        plan.map { PendingAlarm(it.id, it.platformId, it.fireAtMillis) }

    /** The persisted form (one alarm a line), so the set survives process death and reboots. */
    fun encode(alarms: Collection<PendingAlarm>): String =
        alarms.joinToString("\n") { "${it.id}\t${it.platformId}\t${it.fireAtMillis}" }

    fun decode(text: String?): List<PendingAlarm> = text.orEmpty().lineSequence().mapNotNull { line ->
        val f = line.split('\t')
        val platformId = f.getOrNull(1)?.toIntOrNull()
        val at = f.getOrNull(2)?.toLongOrNull()
        if (f.size == 3 && platformId != null && at != null) PendingAlarm(f[0], platformId, at) else null
    }.toList()
}
