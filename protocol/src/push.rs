//! A device's push endpoint as the relay takes it
//! (`PUT /v1/devices/self/push`, issue 16 §1). The relay wakes the device
//! through it with a message that carries nothing; the app then syncs.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum PushEndpoint {
    /// A Web Push subscription (browsers, UnifiedPush distributors):
    /// the push resource URL and the RFC 8291 keys, base64url.
    #[serde(rename = "webpush")]
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    /// An FCM registration token (Android with Google services).
    #[serde(rename = "fcm")]
    Fcm { token: String },
    /// An APNs device token, hex (iOS).
    #[serde(rename = "apns")]
    Apns { token: String },
}
