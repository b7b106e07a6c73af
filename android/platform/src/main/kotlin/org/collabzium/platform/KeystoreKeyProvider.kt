// The store's data key, wrapped by a non-exportable AES-256-GCM key in the Android Keystore.
// The key material never leaves the Keystore (StrongBox where the device has one, API 28+).
package org.collabzium.platform

import android.content.Context
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.UserNotAuthenticatedException
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.collabzium.KeyProvider
import org.collabzium.KeyProviderException

class KeystoreKeyProvider(
    private val context: Context,
    private val alias: String = "collabzium.store.v1",
    /**
     * The key works only for [authValiditySeconds] after the user authenticated (fingerprint
     * through [FingerprintUnlock], or the device's lock screen). Until then wrap and unwrap fail
     * as Unavailable ("user not authenticated"): the Activity prompts and retries.
     */
    private val requireUserAuthentication: Boolean = false,
    private val authValiditySeconds: Int = 30,
) : KeyProvider {

    private fun keyStore(): KeyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }

    private fun existingKey(): SecretKey? = keyStore().getKey(alias, null) as? SecretKey

    private fun createKey(): SecretKey {
        val builder = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setRandomizedEncryptionRequired(true)
        if (requireUserAuthentication) {
            // Time-bound rather than per-operation: the core unwraps synchronously while opening
            // the store, after the prompt, so no CryptoObject has to be carried into it.
            builder.setUserAuthenticationRequired(true).setUserAuthenticationValidityDurationSeconds(authValiditySeconds)
        }
        if (Build.VERSION.SDK_INT >= 28) {
            // setIsStrongBoxBacked exists from API 28; android.jar 23 does not know it, so reflection.
            try {
                builder.javaClass.getMethod("setIsStrongBoxBacked", Boolean::class.javaPrimitiveType).invoke(builder, true)
                return generate(builder.build())
            } catch (e: Exception) {
                // No StrongBox on this device (StrongBoxUnavailableException): the TEE key below.
                builder.javaClass.getMethod("setIsStrongBoxBacked", Boolean::class.javaPrimitiveType).invoke(builder, false)
            }
        }
        return generate(builder.build())
    }

    private fun generate(spec: KeyGenParameterSpec): SecretKey {
        val gen = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        gen.init(spec)
        return gen.generateKey()
    }

    override fun wrapKey(dataKey: ByteArray): ByteArray = guarded {
        val key = existingKey() ?: createKey()
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key) // the Keystore picks the IV
        val iv = cipher.iv
        val sealed = cipher.doFinal(dataKey)
        // version(1) | iv length(1) | iv | ciphertext+tag
        byteArrayOf(FORMAT_VERSION, iv.size.toByte()) + iv + sealed
    }

    override fun unwrapKey(wrapped: ByteArray): ByteArray = guarded {
        if (wrapped.size < 2 || wrapped[0] != FORMAT_VERSION) throw KeyProviderException.Malformed()
        val ivLen = wrapped[1].toInt() and 0xFF
        if (ivLen < 12 || wrapped.size < 2 + ivLen + 16) throw KeyProviderException.Malformed()
        // A missing key means this device never wrapped it: a wrong key, never "create one".
        val key = existingKey() ?: throw KeyProviderException.WrongKey()
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(128, wrapped.copyOfRange(2, 2 + ivLen)))
        try {
            cipher.doFinal(wrapped, 2 + ivLen, wrapped.size - 2 - ivLen)
        } catch (e: AEADBadTagException) {
            throw KeyProviderException.WrongKey()
        }
    }

    override fun destroyKey() = guarded {
        val ks = keyStore()
        if (ks.containsAlias(alias)) ks.deleteEntry(alias)
    }

    /** Keystore trouble (locked device, invalidated key) is "unavailable", never a wrong key. */
    private inline fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (e: KeyProviderException) {
        throw e
    } catch (e: KeyPermanentlyInvalidatedException) {
        throw KeyProviderException.Unavailable("key invalidated")
    } catch (e: UserNotAuthenticatedException) {
        throw KeyProviderException.Unavailable(USER_NOT_AUTHENTICATED)
    } catch (e: GeneralSecurityException) {
        throw KeyProviderException.Unavailable(e.javaClass.simpleName)
    } catch (e: java.io.IOException) {
        throw KeyProviderException.Unavailable(e.javaClass.simpleName)
    }

    companion object {
        /** The Unavailable reason when the key waits for the user's fingerprint or lock screen. */
        const val USER_NOT_AUTHENTICATED = "user not authenticated"
        private const val ANDROID_KEYSTORE = "AndroidKeyStore"
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val FORMAT_VERSION: Byte = 1
    }
}
