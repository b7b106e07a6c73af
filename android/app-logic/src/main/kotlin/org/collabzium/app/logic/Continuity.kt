// A new phone without losing the story (issue 16 §2, ADR 0011): the recovery key, shown once;
// encrypted backups to a file the app chooses; restore on the new phone with typed failures.
package org.collabzium.app.logic

import java.io.File
import org.collabzium.*

data class BackupState(
    val hasRecoveryKey: Boolean? = null,
    /** The new recovery key, on screen once; [BackupPresenter.keyShown] drops it. */
    val recoveryKey: String? = null,
    val lastBackupPath: String? = null,
    val lastBackupBytes: Long? = null,
    val busy: Boolean = false,
    val error: ScreenError? = null,
)

/** Set up the recovery key (at onboarding or in settings) and back up to a file. */
class BackupPresenter(private val store: PatientStore) : StateHolder<BackupState>(BackupState()) {

    suspend fun refresh() {
        mutableState.value = when (val out = core { store.hasRecoveryKey() }) {
            is Outcome.Ok -> mutableState.value.copy(hasRecoveryKey = out.value, error = null)
            is Outcome.Err -> mutableState.value.copy(error = out.error)
        }
    }

    /** Makes the recovery key and shows it once; the store keeps only a check value. */
    suspend fun setUpRecoveryKey() {
        mutableState.value = mutableState.value.copy(busy = true, error = null)
        mutableState.value = when (val out = core { store.setUpRecoveryKey() }) {
            is Outcome.Ok -> mutableState.value.copy(busy = false, hasRecoveryKey = true, recoveryKey = out.value)
            is Outcome.Err -> mutableState.value.copy(busy = false, error = out.error)
        }
    }

    /** The patient wrote the key down: it leaves the state and is never shown again. */
    fun keyShown() {
        mutableState.value = mutableState.value.copy(recoveryKey = null)
    }

    /**
     * An encrypted backup at [path] (the app's files or its backup area). Written beside it and
     * renamed, so a crash never leaves half a backup where the last good one was.
     */
    suspend fun backUp(recoveryKey: String, path: String) {
        mutableState.value = mutableState.value.copy(busy = true, error = null)
        val out = core {
            val bytes = store.createBackup(recoveryKey)
            val target = File(path)
            val tmp = File(target.parentFile, target.name + ".partial")
            tmp.writeBytes(bytes)
            if (!tmp.renameTo(target)) {
                tmp.delete()
                throw java.io.IOException("rename")
            }
            // Saved: the automatic schedule (docs/backup.md) counts from this backup.
            store.backupSaved(bytes)
            bytes.size.toLong()
        }
        mutableState.value = when (out) {
            is Outcome.Ok -> mutableState.value.copy(busy = false, lastBackupPath = path, lastBackupBytes = out.value)
            is Outcome.Err -> mutableState.value.copy(busy = false, error = out.error)
        }
    }
}

/** Why a restore failed, as the core names it (codes wrong_key, corrupt, unsupported_version). */
enum class RestoreFailure { WRONG_KEY, CORRUPT, UNSUPPORTED_VERSION, NO_FILE }

data class RestoreState(
    val busy: Boolean = false,
    val summary: RestoreSummary? = null,
    val store: PatientStore? = null,
    val failure: RestoreFailure? = null,
    val error: ScreenError? = null,
)

/** On the new phone: the backup file, the recovery key and a new passphrase (or the device key). */
class RestorePresenter(private val storePath: String, private val keys: KeySource) :
    StateHolder<RestoreState>(RestoreState()) {

    suspend fun restore(backupPath: String, recoveryKey: String, passphrase: String?): PatientStore? {
        mutableState.value = RestoreState(busy = true)
        val file = File(backupPath)
        if (!file.isFile) {
            mutableState.value = RestoreState(failure = RestoreFailure.NO_FILE)
            return null
        }
        val out = core {
            val bytes = file.readBytes()
            restoreBackup(storePath, bytes, recoveryKey, if (passphrase != null) keys.passphrase(passphrase) else keys.deviceKey())
        }
        return when (out) {
            is Outcome.Ok -> out.value.store.also { mutableState.value = RestoreState(summary = out.value.summary, store = it) }
            is Outcome.Err -> null.also { mutableState.value = RestoreState(failure = failureOf(out.error), error = out.error) }
        }
    }

    private fun failureOf(e: ScreenError): RestoreFailure? = when (e) {
        ScreenError.WrongKey -> RestoreFailure.WRONG_KEY
        ScreenError.UpdateNeeded -> RestoreFailure.UNSUPPORTED_VERSION
        ScreenError.Failure("corrupt") -> RestoreFailure.CORRUPT
        else -> null
    }
}
