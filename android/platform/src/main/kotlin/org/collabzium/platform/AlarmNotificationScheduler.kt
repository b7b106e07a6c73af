// Local reminders on AlarmManager. The core owns the plan; this keeps the platform's alarms
// equal to it (org.collabzium.app.logic.ReminderDiff) and remembers them across reboots.
package org.collabzium.platform

import android.app.AlarmManager
import android.app.Notification
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.os.Build
import org.collabzium.NotificationScheduler
import org.collabzium.NotificationSchedulerException
import org.collabzium.PlannedNotification
import org.collabzium.app.logic.PendingAlarm
import org.collabzium.app.logic.ReminderDiff
import org.collabzium.app.R

class AlarmNotificationScheduler(private val context: Context) : NotificationScheduler {
    private val alarms = context.getSystemService(Context.ALARM_SERVICE) as AlarmManager
    private val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)

    // Android has no hard cap like iOS's 64, but apps are throttled: keep the plan short.
    override fun maxPending(): UInt = 32u

    override fun replacePending(notifications: List<PlannedNotification>) {
        if (Build.VERSION.SDK_INT >= 33 &&
            context.checkSelfPermission("android.permission.POST_NOTIFICATIONS") != android.content.pm.PackageManager.PERMISSION_GRANTED
        ) {
            throw NotificationSchedulerException.NotPermitted()
        }
        try {
            val current = ReminderDiff.decode(prefs.getString(KEY, null))
            val changes = ReminderDiff.changes(current, notifications)
            for (c in changes.cancel) alarms.cancel(pending(c.platformId, null))
            for (n in changes.schedule) {
                // Inexact but allowed while idle: a reminder a few minutes late is fine, and
                // exact alarms need a special permission from API 31.
                alarms.setAndAllowWhileIdle(AlarmManager.RTC_WAKEUP, n.fireAtMillis, pending(n.platformId, n))
            }
            prefs.edit().putString(KEY, ReminderDiff.encode(ReminderDiff.apply(current, notifications))).apply()
        } catch (e: SecurityException) {
            throw NotificationSchedulerException.Unavailable("alarm refused")
        }
    }

    private fun pending(platformId: Int, n: PlannedNotification?): PendingIntent {
        val intent = Intent(context, ReminderReceiver::class.java).setAction(ACTION_REMIND)
        // Only the id travels with the alarm; the neutral text is read when it fires.
        if (n != null) intent.putExtra(EXTRA_ID, n.id)
        return PendingIntent.getBroadcast(context, platformId, intent, PendingIntent.FLAG_UPDATE_CURRENT or FLAG_IMMUTABLE)
    }

    companion object {
        const val PREFS = "collabzium.reminders"
        const val KEY = "pending"
        const val ACTION_REMIND = "org.collabzium.REMIND"
        const val EXTRA_ID = "reminder_id"
        const val CHANNEL_ID = "reminders"
        // PendingIntent.FLAG_IMMUTABLE is API 23.
        const val FLAG_IMMUTABLE = 0x04000000
        // NotificationManager.IMPORTANCE_DEFAULT (API 24).
        const val IMPORTANCE_DEFAULT = 3

        /** The reminder text the patient chose in settings; neutral by default, never health data. */
        fun neutralText(context: Context): Pair<String, String> {
            val p = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
            return (p.getString("title", null) ?: context.getString(R.string.reminder_title)) to
                (p.getString("body", null) ?: context.getString(R.string.reminder_body))
        }
    }
}

/** An alarm fired: post the neutral notification that opens the app. */
class ReminderReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        if (intent.action != AlarmNotificationScheduler.ACTION_REMIND) return
        val nm = context.getSystemService(Context.NOTIFICATION_SERVICE) as NotificationManager
        val (title, body) = AlarmNotificationScheduler.neutralText(context)
        val launch = context.packageManager.getLaunchIntentForPackage(context.packageName)
        val open = PendingIntent.getActivity(context, 0, launch, PendingIntent.FLAG_UPDATE_CURRENT or AlarmNotificationScheduler.FLAG_IMMUTABLE)
        @Suppress("DEPRECATION")
        val builder = if (Build.VERSION.SDK_INT >= 26) {
            ensureChannel(context, nm)
            Notification.Builder::class.java.getConstructor(Context::class.java, String::class.java)
                .newInstance(context, AlarmNotificationScheduler.CHANNEL_ID)
        } else Notification.Builder(context)
        val n = builder.setSmallIcon(R.drawable.ic_notification)
            .setContentTitle(title)
            .setContentText(body)
            .setContentIntent(open)
            .setAutoCancel(true)
            .setVisibility(Notification.VISIBILITY_PRIVATE)
            .build()
        val id = intent.getStringExtra(AlarmNotificationScheduler.EXTRA_ID) ?: return
        nm.notify(id.hashCode() and 0x7fffffff, n)
    }

    // NotificationChannel is API 26; built by reflection against android.jar 23.
    private fun ensureChannel(context: Context, nm: NotificationManager) {
        try {
            val cls = Class.forName("android.app.NotificationChannel")
            val channel = cls.getConstructor(String::class.java, CharSequence::class.java, Int::class.javaPrimitiveType)
                .newInstance(AlarmNotificationScheduler.CHANNEL_ID, context.getString(R.string.reminder_channel), AlarmNotificationScheduler.IMPORTANCE_DEFAULT)
            NotificationManager::class.java.getMethod("createNotificationChannel", cls).invoke(nm, channel)
        } catch (e: ReflectiveOperationException) {
            // Older platform: no channels needed.
        }
    }
}

/**
 * Boot, time-zone change and clock change: alarms were dropped or now fire at the wrong wall-clock
 * time, so the core re-plans (it knows the patient's zone and RFC 5545 rules).
 */
class ReplanReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        when (intent.action) {
            Intent.ACTION_BOOT_COMPLETED, Intent.ACTION_TIMEZONE_CHANGED, Intent.ACTION_TIME_CHANGED,
            "android.intent.action.MY_PACKAGE_REPLACED" -> {
                if (intent.action == Intent.ACTION_BOOT_COMPLETED) {
                    // Alarms do not survive a reboot: forget them so the re-plan schedules all.
                    context.getSharedPreferences(AlarmNotificationScheduler.PREFS, Context.MODE_PRIVATE).edit()
                        .remove(AlarmNotificationScheduler.KEY).apply()
                }
                val pending = goAsync()
                Thread {
                    try {
                        CollabziumServices.get(context).replan()
                    } finally {
                        pending.finish()
                    }
                }.start()
            }
        }
    }
}
