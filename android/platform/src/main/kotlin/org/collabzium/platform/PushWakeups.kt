// Push wake-ups on Android without Google libraries: the UnifiedPush connector side, as a plain
// BroadcastReceiver (docs/push.md). A wake-up carries nothing; it only schedules one sync round.
//
// FCM: with Google services the app would add the Firebase library (not available to this build)
// and a FirebaseMessagingService whose onNewToken(token) calls
// `CollabziumServices.get(this).newPushEndpoint(PushEndpoint.Fcm(token))` and whose
// onMessageReceived (a high-priority data message) calls `SyncJobService.wakeNow(this)`: the same
// two entry points this receiver uses.
package org.collabzium.platform

import android.app.PendingIntent
import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.util.Base64
import java.security.KeyPairGenerator
import java.security.SecureRandom
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import org.collabzium.PushEndpoint

/**
 * The UnifiedPush connector intents, sent by the distributor app the patient installed
 * (ntfy, NextPush, ...): NEW_ENDPOINT, MESSAGE, UNREGISTERED, REGISTRATION_FAILED. Each carries
 * the instance `token` the app chose at REGISTER; intents for another token are ignored.
 */
class UnifiedPushReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        val services = CollabziumServices.get(context)
        val push = UnifiedPush(context)
        if (intent.getStringExtra(EXTRA_TOKEN) != push.instanceToken()) return
        when (intent.action) {
            ACTION_NEW_ENDPOINT -> {
                val endpoint = intent.getStringExtra(EXTRA_ENDPOINT) ?: return
                val sub = push.subscription(endpoint)
                // Registering is network I/O: off the main thread, within the receiver's window.
                val pending = goAsync()
                Thread {
                    try {
                        services.newPushEndpoint(sub)
                    } finally {
                        pending.finish()
                    }
                }.start()
            }
            // The message is encrypted (RFC 8291) and its content is constant: no need to decrypt it.
            ACTION_MESSAGE -> {
                SyncJobService.wakeNow(context)
                intent.getStringExtra(EXTRA_MESSAGE_ID)?.let { push.acknowledge(it) }
            }
            ACTION_UNREGISTERED, ACTION_REGISTRATION_FAILED -> push.forgetEndpoint()
        }
    }

    companion object {
        const val ACTION_NEW_ENDPOINT = "org.unifiedpush.android.connector.NEW_ENDPOINT"
        const val ACTION_MESSAGE = "org.unifiedpush.android.connector.MESSAGE"
        const val ACTION_UNREGISTERED = "org.unifiedpush.android.connector.UNREGISTERED"
        const val ACTION_REGISTRATION_FAILED = "org.unifiedpush.android.connector.REGISTRATION_FAILED"
        const val EXTRA_TOKEN = "token"
        const val EXTRA_ENDPOINT = "endpoint"
        const val EXTRA_MESSAGE_ID = "id"
    }
}

/**
 * The app's UnifiedPush registration: an instance token, and the Web Push subscription keys
 * (a P-256 public key and a 16-byte auth secret) that the relay encrypts its wake-ups to.
 * The private key is not kept: the wake-up's content is constant, so it is never decrypted.
 */
class UnifiedPush(private val context: Context) {
    private val prefs get() = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)

    fun instanceToken(): String = prefs.getString(KEY_TOKEN, null) ?: synchronized(UnifiedPush::class.java) {
        prefs.getString(KEY_TOKEN, null) ?: java.util.UUID.randomUUID().toString().also {
            prefs.edit().putString(KEY_TOKEN, it).commit()
        }
    }

    /** Asks [distributor] (a package the patient picked) for an endpoint; the answer is NEW_ENDPOINT. */
    fun register(distributor: String, vapidPublicKey: String?) {
        rememberDistributor(distributor)
        val intent = Intent(ACTION_REGISTER).setPackage(distributor)
            .putExtra(UnifiedPushReceiver.EXTRA_TOKEN, instanceToken())
            .putExtra(EXTRA_APPLICATION, context.packageName)
            // Lets the distributor check which app is asking.
            .putExtra(EXTRA_PI, PendingIntent.getBroadcast(context, 0, Intent("org.collabzium.push"), PendingIntent.FLAG_IMMUTABLE))
        if (vapidPublicKey != null) intent.putExtra(EXTRA_VAPID, vapidPublicKey)
        context.sendBroadcast(intent)
    }

    /**
     * Installed distributors (packages receiving REGISTER). On Android 11+ this needs a
     * `<queries>` entry for that action in the manifest once the build targets API 30+.
     */
    fun distributors(): List<String> =
        context.packageManager.queryBroadcastReceivers(Intent(ACTION_REGISTER), 0)
            .mapNotNull { it.activityInfo?.packageName }
            .filter { it != context.packageName }
            .distinct()

    /** Registers with the one distributor installed; with none (or a choice to make) does nothing. */
    fun registerIfSingleDistributor(vapidPublicKey: String?) {
        val d = prefs.getString(KEY_DISTRIBUTOR, null) ?: distributors().singleOrNull() ?: return
        register(d, vapidPublicKey)
    }

    fun acknowledge(messageId: String) {
        val distributor = prefs.getString(KEY_DISTRIBUTOR, null) ?: return
        context.sendBroadcast(
            Intent(ACTION_MESSAGE_ACK).setPackage(distributor)
                .putExtra(UnifiedPushReceiver.EXTRA_TOKEN, instanceToken())
                .putExtra(UnifiedPushReceiver.EXTRA_MESSAGE_ID, messageId),
        )
    }

    fun rememberDistributor(distributor: String) {
        prefs.edit().putString(KEY_DISTRIBUTOR, distributor).apply()
    }

    /** The subscription for [endpoint]; its keys are made once per installation and reused. */
    fun subscription(endpoint: String): PushEndpoint.WebPush {
        val flags = Base64.URL_SAFE or Base64.NO_PADDING or Base64.NO_WRAP
        val (p256dh, auth) = synchronized(UnifiedPush::class.java) {
            val p = prefs.getString(KEY_P256DH, null)
            val a = prefs.getString(KEY_AUTH, null)
            if (p != null && a != null) {
                p to a
            } else {
                val kp = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()
                val w = (kp.public as ECPublicKey).w
                val point = byteArrayOf(4) + fixed32(w.affineX.toByteArray()) + fixed32(w.affineY.toByteArray())
                val secret = ByteArray(16).also { SecureRandom().nextBytes(it) }
                val pair = Base64.encodeToString(point, flags) to Base64.encodeToString(secret, flags)
                prefs.edit().putString(KEY_P256DH, pair.first).putString(KEY_AUTH, pair.second).commit()
                pair
            }
        }
        return PushEndpoint.WebPush(endpoint, p256dh, auth)
    }

    /** The distributor dropped us: the periodic sync carries on alone. */
    fun forgetEndpoint() {
        prefs.edit().remove(KEY_P256DH).remove(KEY_AUTH).apply()
    }

    private fun fixed32(b: ByteArray): ByteArray =
        if (b.size >= 32) b.copyOfRange(b.size - 32, b.size) else ByteArray(32 - b.size) + b

    private companion object {
        const val PREFS = "collabzium.push"
        const val KEY_TOKEN = "instance"
        const val KEY_DISTRIBUTOR = "distributor"
        const val KEY_P256DH = "p256dh"
        const val KEY_AUTH = "auth"
        const val ACTION_REGISTER = "org.unifiedpush.android.distributor.REGISTER"
        const val ACTION_MESSAGE_ACK = "org.unifiedpush.android.distributor.MESSAGE_ACK"
        const val EXTRA_APPLICATION = "application"
        const val EXTRA_PI = "pi"
        const val EXTRA_VAPID = "vapid"
    }
}

/**
 * The recovery key for automatic backups, wrapped by its own Android Keystore key and kept in
 * the app's private preferences: apart from the backup file, and useless off this device.
 */
class KeystoreRecoveryKeyVault(private val context: Context) : org.collabzium.app.logic.RecoveryKeyVault {
    private val wrapper get() = KeystoreKeyProvider(context, alias = "collabzium.recovery.v1")
    private val prefs get() = context.getSharedPreferences("collabzium.backup", Context.MODE_PRIVATE)

    override fun recoveryKey(): String? {
        val wrapped = prefs.getString(KEY, null) ?: return null
        return String(wrapper.unwrapKey(Base64.decode(wrapped, Base64.NO_WRAP)), Charsets.UTF_8)
    }

    /** The patient turned automatic backups on with this (checked) key. */
    fun remember(recoveryKey: String) {
        val sealed = wrapper.wrapKey(recoveryKey.toByteArray(Charsets.UTF_8))
        prefs.edit().putString(KEY, Base64.encodeToString(sealed, Base64.NO_WRAP)).apply()
    }

    fun forget() {
        prefs.edit().remove(KEY).apply()
        wrapper.destroyKey()
    }

    private companion object {
        const val KEY = "recovery_key"
    }
}
