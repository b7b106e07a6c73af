// The state-holder pattern (docs/adr/0008-android-ui.md): one holder per screen, exposing a
// StateFlow of an immutable state. Each refresh is one call into the Rust core; the holder
// only maps the core's screen record onto what the View draws. No android.* imports here:
// this runs on the JVM in the tests, and compiles against android.jar for the APK.
package org.collabzium.app.logic

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import org.collabzium.CollabziumException

/** What went wrong, as something a screen can show and act on. Never carries personal data. */
sealed class ScreenError {
    /** The key or passphrase does not unlock the store. Ask again; never delete anything. */
    object WrongKey : ScreenError()

    /** The relay could not be reached. Everything is kept and sent later. */
    object Offline : ScreenError()

    /** The relay refused the request; `code` is its problem code. */
    data class RelayRefused(val status: Int, val code: String) : ScreenError()

    /** The platform key store is unavailable (device locked, key invalidated). */
    object KeyUnavailable : ScreenError()

    /** Input refused; `field` names what (e.g. the item of a check-in). */
    data class Invalid(val field: String) : ScreenError()

    /** Pairing failed with a stable code (invalid_code, code_mismatch, ...). */
    data class Pairing(val code: String) : ScreenError()

    data class NotFound(val what: String) : ScreenError()

    /** Written by a newer app version. */
    object UpdateNeeded : ScreenError()

    /** The store was closed or erased. */
    object Closed : ScreenError()

    /** Disk, corrupt data or an internal failure. `kind` is a short category, never content. */
    data class Failure(val kind: String) : ScreenError()
}

/** Maps the core's typed errors onto screen errors; anything else is a failure, not a crash. */
fun screenErrorOf(t: Throwable): ScreenError = when (t) {
    is CollabziumException.WrongKey -> ScreenError.WrongKey
    is CollabziumException.Offline -> ScreenError.Offline
    is CollabziumException.Relay -> ScreenError.RelayRefused(t.status.toInt(), t.code)
    is CollabziumException.KeyUnavailable -> ScreenError.KeyUnavailable
    is CollabziumException.InvalidInput -> ScreenError.Invalid(t.field)
    is CollabziumException.Pairing -> ScreenError.Pairing(t.code)
    is CollabziumException.NotFound -> ScreenError.NotFound(t.what)
    is CollabziumException.UnsupportedVersion -> ScreenError.UpdateNeeded
    is CollabziumException.Closed -> ScreenError.Closed
    is CollabziumException.Corrupt -> ScreenError.Failure("corrupt")
    is CollabziumException.Storage -> ScreenError.Failure("storage")
    else -> ScreenError.Failure(t::class.java.simpleName)
}

/**
 * Base of every screen's state holder. Actions are `suspend` functions: the Activity launches
 * them in its scope, tests call them in `runBlocking`. Core calls run on [io] (they block on
 * SQLite and the network), never on the caller's thread.
 */
abstract class StateHolder<S>(initial: S, private val io: CoroutineDispatcher = Dispatchers.IO) {
    protected val mutableState = MutableStateFlow(initial)
    val state: StateFlow<S> = mutableState.asStateFlow()

    /** Runs one core call off the main thread; a core error becomes a [ScreenError]. */
    protected suspend fun <T> core(block: () -> T): Outcome<T> = withContext(io) {
        try {
            Outcome.Ok(block())
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            Outcome.Err(screenErrorOf(e))
        }
    }
}

sealed class Outcome<out T> {
    data class Ok<T>(val value: T) : Outcome<T>()
    data class Err(val error: ScreenError) : Outcome<Nothing>()
}
