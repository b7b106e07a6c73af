// Biometric unlock on API 23+: FingerprintManager (android.jar 23 has no BiometricPrompt, and
// there is no AndroidX here). A successful fingerprint gives the Keystore the authentication that
// a KeystoreKeyProvider(requireUserAuthentication = true) key waits for, for its validity window;
// the Activity then opens the store as usual.
package org.collabzium.platform

import android.Manifest
import android.content.Context
import android.content.pm.PackageManager
import android.hardware.fingerprint.FingerprintManager
import android.os.CancellationSignal

@Suppress("DEPRECATION") // FingerprintManager: the only fingerprint API in android.jar 23.
class FingerprintUnlock(private val context: Context) {
    /** The outcome of one prompt. Messages come from the system, localised, and carry no data of ours. */
    sealed class Result {
        object Authenticated : Result()

        /** A finger not recognised; the sensor stays on, the user may try again. */
        object NotRecognised : Result()

        /** The system stopped (too many tries, cancelled, sensor busy): fall back to the passphrase. */
        data class Stopped(val systemMessage: String) : Result()
    }

    private val manager: FingerprintManager? =
        context.getSystemService(Context.FINGERPRINT_SERVICE) as? FingerprintManager

    /** Whether a prompt can work here: sensor present, a finger enrolled, permission held. */
    fun isAvailable(): Boolean {
        val m = manager ?: return false
        if (context.checkSelfPermission(Manifest.permission.USE_FINGERPRINT) != PackageManager.PERMISSION_GRANTED) return false
        return try {
            m.isHardwareDetected && m.hasEnrolledFingerprints()
        } catch (e: SecurityException) {
            false
        }
    }

    /**
     * Starts listening on the sensor; [onResult] runs on the main thread, possibly several times
     * (each [Result.NotRecognised]) until [Result.Authenticated] or [Result.Stopped]. Cancel the
     * returned signal when the screen goes away.
     */
    fun authenticate(onResult: (Result) -> Unit): CancellationSignal {
        val cancel = CancellationSignal()
        val m = manager
        if (m == null || !isAvailable()) {
            onResult(Result.Stopped("fingerprint unavailable"))
            return cancel
        }
        m.authenticate(null, cancel, 0, object : FingerprintManager.AuthenticationCallback() {
            override fun onAuthenticationSucceeded(result: FingerprintManager.AuthenticationResult?) {
                onResult(Result.Authenticated)
            }

            override fun onAuthenticationFailed() {
                onResult(Result.NotRecognised)
            }

            override fun onAuthenticationError(errorCode: Int, errString: CharSequence?) {
                onResult(Result.Stopped(errString?.toString() ?: "error $errorCode"))
            }
        }, null)
        return cancel
    }
}
