// The one open store of the process, shared by Activities, the sync job and the receivers.
package org.collabzium.platform

import android.content.Context
import java.io.File
import kotlinx.coroutines.runBlocking
import org.collabzium.HttpTransport
import org.collabzium.PatientSchedule
import org.collabzium.PatientStore
import org.collabzium.PushEndpoint
import org.collabzium.app.logic.AutoBackup
import org.collabzium.app.logic.KeySource
import org.collabzium.app.logic.WakeupHandler

class CollabziumServices private constructor(private val context: Context) {
    val transport: HttpTransport = UrlConnectionTransport()
    val storePath: String = File(context.noBackupFilesDir, "collabzium.db").path
    val keys: KeySource = object : KeySource {
        // A fingerprint-bound key opens only for 30 s after the patient authenticates, so
        // background jobs cannot open the store then: they wait for the next unlock.
        override fun deviceKey() = KeystoreKeyProvider(context, requireUserAuthentication = usesFingerprint())
    }
    val scheduler = AlarmNotificationScheduler(context)
    val recoveryKeys = KeystoreRecoveryKeyVault(context)

    /** Push registration and wake-ups (docs/push.md); made when the store opens. */
    @Volatile var wakeups: WakeupHandler? = null
        private set
    @Volatile var autoBackup: AutoBackup? = null
        private set

    @Volatile var store: PatientStore? = null
        private set
    @Volatile var schedule: PatientSchedule? = null
        private set

    /** Called once the store is unlocked (or created). */
    fun opened(s: PatientStore) {
        store = s
        schedule = PatientSchedule(s, scheduler)
        // Automatic backups go where BackupActivity writes: the app's files (docs/backup.md).
        val backups = AutoBackup.inDirectory(s, recoveryKeys, context.filesDir)
        autoBackup = backups
        wakeups = WakeupHandler(s, transport, backups)
        SyncJobService.schedule(context)
        // Wake-ups through a UnifiedPush distributor, if the patient has one; its NEW_ENDPOINT
        // answer reaches UnifiedPushReceiver, which registers it with the relays.
        UnifiedPush(context).registerIfSingleDistributor(null)
    }

    /** Re-plans reminders if the store can be opened without the patient (device key). */
    fun replan() {
        val sch = schedule ?: tryOpenWithDeviceKey()?.let { schedule } ?: return
        try {
            sch.replanReminders(null)
        } catch (e: Exception) {
            // Not enrolled or locked: nothing to plan now; the app re-plans when opened.
        }
    }

    /** True when a round ran without stopping early. */
    fun syncInBackground(): Boolean {
        if (store == null) tryOpenWithDeviceKey()
        val handler = wakeups ?: return false
        // One round (concurrent wake-ups share it), then a backup if one is due (daily, or
        // after a check-in): the periodic job is also the daily backup's scheduler.
        return runBlocking { handler.onWake() }.error == null
    }

    /** A new or rotated push token or UnifiedPush endpoint: hand it to the relays. */
    fun newPushEndpoint(endpoint: PushEndpoint): Boolean {
        if (store == null) tryOpenWithDeviceKey()
        val handler = wakeups ?: return false
        return runBlocking { handler.onNewToken(endpoint) }
    }

    private fun tryOpenWithDeviceKey(): PatientStore? {
        if (!File(storePath).exists()) return null
        if (context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).getBoolean(KEY_PASSPHRASE, false)) return null
        return try {
            PatientStore.open(storePath, keys.deviceKey()).also { opened(it) }
        } catch (e: Exception) {
            null
        }
    }

    fun setUsesPassphrase(uses: Boolean) {
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit().putBoolean(KEY_PASSPHRASE, uses).apply()
    }

    fun usesPassphrase(): Boolean = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).getBoolean(KEY_PASSPHRASE, false)

    /** Set before the device key is made: the Keystore fixes the key's authentication rule then. */
    fun setUsesFingerprint(uses: Boolean) {
        context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).edit().putBoolean(KEY_FINGERPRINT, uses).apply()
    }

    fun usesFingerprint(): Boolean = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE).getBoolean(KEY_FINGERPRINT, false)

    companion object {
        private const val PREFS = "collabzium.app"
        private const val KEY_PASSPHRASE = "uses_passphrase"
        private const val KEY_FINGERPRINT = "uses_fingerprint"
        @Volatile private var instance: CollabziumServices? = null

        fun get(context: Context): CollabziumServices =
            instance ?: synchronized(this) { instance ?: CollabziumServices(context.applicationContext).also { instance = it } }
    }
}
