// Wake-ups and automatic backups (issue 16 §1 and §2, docs/push.md, docs/backup.md). A wake-up
// carries nothing: it only means "run one sync round now". After the round, and after a check-in,
// an automatic backup is made if the core says one is due. No android.* imports: the platform's
// push receivers and jobs (android/platform) call into these.
package org.collabzium.app.logic

import java.io.File
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import org.collabzium.*

/**
 * Where the app keeps the recovery key for automatic backups: wrapped by the platform key store
 * (Keystore, Keychain), never in the store and never beside the backup file. Null when the
 * patient did not turn automatic backups on; then only on-demand backups run.
 */
fun interface RecoveryKeyVault {
    fun recoveryKey(): String?
}

/** What one automatic-backup attempt did. */
enum class AutoBackupResult { SAVED, NOT_DUE, NO_KEY, FAILED }

data class AutoBackupState(
    val last: AutoBackupResult? = null,
    val lastBackupAtMillis: Long? = null,
    val error: ScreenError? = null,
)

/**
 * Automatic backups to the file the app chose ([backupPath]: the app's files, or the platform's
 * backup area). The core decides when one is due (daily, or after a check-in); this only writes it,
 * through [BackupPresenter] (written beside and renamed, then recorded with `backupSaved`).
 */
class AutoBackup(
    private val store: PatientStore,
    private val vault: RecoveryKeyVault,
    private val backupPath: String,
) : StateHolder<AutoBackupState>(AutoBackupState()) {
    // One backup at a time: a wake-up and a check-in may both ask at once.
    private val running = Mutex()

    suspend fun maybeBackUp(): AutoBackupResult = running.withLock {
        val result = attempt()
        val at = when (val out = core { store.lastBackupAtMillis() }) {
            is Outcome.Ok -> out.value
            is Outcome.Err -> mutableState.value.lastBackupAtMillis
        }
        mutableState.value = mutableState.value.copy(last = result, lastBackupAtMillis = at)
        result
    }

    private suspend fun attempt(): AutoBackupResult {
        when (val due = core { store.backupDue() }) {
            is Outcome.Err -> return failed(due.error)
            is Outcome.Ok -> if (!due.value) return AutoBackupResult.NOT_DUE
        }
        val key = when (val k = core { vault.recoveryKey() }) {
            is Outcome.Err -> return failed(k.error)
            is Outcome.Ok -> k.value ?: return AutoBackupResult.NO_KEY
        }
        val writer = BackupPresenter(store)
        writer.backUp(key, backupPath)
        writer.state.value.error?.let { return failed(it) }
        mutableState.value = mutableState.value.copy(error = null)
        return AutoBackupResult.SAVED
    }

    private fun failed(e: ScreenError): AutoBackupResult {
        mutableState.value = mutableState.value.copy(error = e)
        return AutoBackupResult.FAILED
    }

    companion object {
        /** The usual place: `collabzium.backup` in a directory the app chose. */
        fun inDirectory(store: PatientStore, vault: RecoveryKeyVault, dir: File) =
            AutoBackup(store, vault, File(dir, "collabzium.backup").path)
    }
}

data class WakeupState(
    /** The endpoint the relays hold now; a different one from the platform is registered again. */
    val registered: PushEndpoint? = null,
    /** How many relays took the last registration. */
    val relays: Int? = null,
    /** Sync rounds run for wake-ups (concurrent wake-ups share one). */
    val rounds: Int = 0,
    val lastSync: SyncState? = null,
    val backup: AutoBackupResult? = null,
    /** A failed registration (e.g. `push_provider_off`): the periodic sync carries on. */
    val error: ScreenError? = null,
)

/**
 * The app's side of push: the platform hands over its token ([onNewToken]) and its wake-ups
 * ([onWake]). Used by the FCM service, the UnifiedPush receiver, the iOS app delegate and the
 * background jobs alike; never throws, every failure is a state.
 */
class WakeupHandler(
    private val store: PatientStore,
    private val transport: HttpTransport,
    private val autoBackup: AutoBackup? = null,
) : StateHolder<WakeupState>(WakeupState()) {
    private val lock = Any()
    private var inFlight: CompletableDeferred<SyncState>? = null

    /**
     * Registers [endpoint] with the relays. The same endpoint again is a no-op; a rotated token
     * replaces the old one at the relay (one endpoint per device). True when the relays hold it.
     */
    suspend fun onNewToken(endpoint: PushEndpoint): Boolean {
        if (state.value.registered == endpoint && state.value.error == null) return true
        return when (val out = core { store.registerPush(transport, endpoint) }) {
            is Outcome.Ok -> true.also {
                mutableState.value = mutableState.value.copy(registered = endpoint, relays = out.value.toInt(), error = null)
            }
            is Outcome.Err -> false.also { mutableState.value = mutableState.value.copy(error = out.error) }
        }
    }

    /** Push turned off (or the app logs out): the relays forget this device's endpoint. */
    suspend fun unregister(): Boolean = when (val out = core { store.unregisterPush(transport) }) {
        is Outcome.Ok -> true.also { mutableState.value = mutableState.value.copy(registered = null, relays = out.value.toInt(), error = null) }
        is Outcome.Err -> false.also { mutableState.value = mutableState.value.copy(error = out.error) }
    }

    /**
     * One sync round for a wake-up, then an automatic backup if one is due. A wake-up that
     * arrives while a round runs joins that round instead of starting another: the relay sends a
     * trailing wake-up for anything queued after it (docs/push.md).
     */
    suspend fun onWake(): SyncState {
        val mine = CompletableDeferred<SyncState>()
        val running = synchronized(lock) { inFlight ?: run { inFlight = mine; null } }
        if (running != null) return running.await()
        try {
            val st = SyncPresenter(store, transport).syncNow()
            synchronized(lock) { mutableState.value = mutableState.value.copy(rounds = mutableState.value.rounds + 1, lastSync = st) }
            val backup = autoBackup?.maybeBackUp()
            if (backup != null) mutableState.value = mutableState.value.copy(backup = backup)
            mine.complete(st)
            return st
        } catch (e: Throwable) {
            mine.completeExceptionally(e)
            throw e
        } finally {
            synchronized(lock) { inFlight = null }
        }
    }
}
