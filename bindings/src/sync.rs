//! Sync over FFI: the platform's HTTP client as a foreign trait, pairing,
//! one-call sync, messages and the therapist inbox. Thin conversions only;
//! the round and its effects (and the re-plan after it) live in
//! `collabzium_core::session`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use collabzium_core::session;
use collabzium_core::sync::availability as av;
use collabzium_core::sync::{self, InvitationState, TherapistInvitation};

use crate::error::{CollabziumError, Result};
use crate::store::PatientStore;

/// The request never produced a response.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TransportError {
    #[error("unreachable: {reason}")]
    Unreachable { reason: String },
    #[error("timed out")]
    Timeout,
}

/// A foreign exception from the app's client counts as unreachable, so the
/// round stops and resumes later instead of failing.
impl From<uniffi::UnexpectedUniFFICallbackError> for TransportError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TransportError::Unreachable { reason: e.reason }
    }
}

/// One header. The core carries headers as name/value pairs, which UniFFI
/// cannot, so requests and responses are copies.
#[derive(Debug, Clone, uniffi::Record)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}

/// The app's HTTP client (OkHttp, URLSession), so it keeps its own TLS
/// settings, pinning and proxies. Called from the thread that runs sync.
#[uniffi::export(with_foreign)]
pub trait HttpTransport: Send + Sync {
    fn send(&self, request: HttpRequest) -> std::result::Result<HttpResponse, TransportError>;
}

/// The app's client as the core's transport trait.
struct Adapter(Arc<dyn HttpTransport>);

impl sync::HttpTransport for Adapter {
    fn send(
        &self,
        r: sync::HttpRequest,
    ) -> std::result::Result<sync::HttpResponse, sync::TransportError> {
        let req = HttpRequest {
            method: r.method,
            url: r.url,
            headers: r
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: r.body,
        };
        match self.0.send(req) {
            Ok(resp) => Ok(sync::HttpResponse {
                status: resp.status,
                headers: resp
                    .headers
                    .into_iter()
                    .map(|h| (h.name.to_ascii_lowercase(), h.value))
                    .collect(),
                body: resp.body,
            }),
            Err(TransportError::Timeout) => Err(sync::TransportError::Timeout),
            Err(TransportError::Unreachable { reason }) => {
                Err(sync::TransportError::Unreachable(reason))
            }
        }
    }
}

pub use sync::state::ChannelStatus;

#[uniffi::remote(Enum)]
pub enum ChannelStatus {
    Pending,
    Active,
    Revoked,
    Failed,
}

pub use sync::Delivery;

#[uniffi::remote(Enum)]
pub enum Delivery {
    Queued,
    Sent,
    Delivered,
    Read,
    NotShared,
}

/// Copy of `sync::SyncSummary`: UniFFI maps are hash maps, the core's is ordered.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncSummary {
    pub sent: u64,
    pub received: u64,
    pub duplicates: u64,
    pub rejected: HashMap<String, u64>,
    pub resent: u64,
    pub delivered: u64,
    pub pending_outbound: u64,
    pub channels_revoked: u64,
    pub pairings_completed: u64,
    /// Why the round stopped early (`offline`, `rate_limited`, ...).
    pub error: Option<String>,
}

pub use sync::InvitationView;

#[uniffi::remote(Record)]
pub struct InvitationView {
    pub code: String,
    #[uniffi(name = "qr_payload")]
    pub qr: String,
    pub nameplate: String,
    pub expires_at_millis: i64,
}

/// A join's outcome, or a finished invitation.
pub type PairingResult = sync::JoinOutcome;

#[uniffi::remote(Record)]
pub struct PairingResult {
    pub channel_id: String,
    pub status: ChannelStatus,
    pub safety_number: Option<String>,
}

/// Copy of `sync::ChannelView` without the fields only the CLI shows.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChannelView {
    pub channel_id: String,
    pub role: String,
    pub status: ChannelStatus,
    pub label: Option<String>,
    pub safety_number: Option<String>,
    pub unread: u64,
    pub pending_outbound: u64,
}

/// Copy of `sync::MessageView` (without `reply_to`), plus the safety screen
/// a just-sent message may raise.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MessageView {
    pub id: String,
    pub channel_id: String,
    pub from_me: bool,
    pub text: String,
    pub at_millis: i64,
    pub delivery: Option<Delivery>,
    pub read: bool,
    pub expect_reply_by_millis: Option<i64>,
    /// Only on a message just sent whose words the device screened as
    /// possible risk language: show the crisis screen at once.
    pub safety: Option<crate::checkin::SafetyAction>,
}

/// Copy of `sync::InboxEntry`: the body crosses as JSON text, and the
/// notification time stays inside (see `pending_notifications`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct InboxEntry {
    pub channel_id: String,
    pub patient: Option<String>,
    pub event_id: String,
    pub kind: String,
    pub at_millis: i64,
    pub received_at_millis: i64,
    pub read: bool,
    /// The event as JSON (a check-in, alert, progress or message).
    pub body_json: String,
}

/// One own event with its delivery state.
pub use sync::OutboundView;

#[uniffi::remote(Record)]
pub struct OutboundView {
    pub event_id: String,
    pub kind: String,
    pub ref_id: String,
    pub created_at_millis: i64,
    pub delivery: Delivery,
}

/// A therapist's open invitation. Keep it while the code is on screen and
/// call `poll` every second or two until it returns a result.
#[derive(uniffi::Object)]
pub struct PairingInvitation {
    store: Arc<PatientStore>,
    transport: Arc<dyn HttpTransport>,
    inner: Mutex<TherapistInvitation>,
}

#[uniffi::export]
impl PairingInvitation {
    pub fn view(&self) -> Result<InvitationView> {
        Ok(crate::lock(&self.inner).view()?)
    }

    /// `None` while waiting; the paired channel once the patient joined.
    pub fn poll(&self) -> Result<Option<PairingResult>> {
        let adapter = Adapter(self.transport.clone());
        match crate::lock(&self.inner).poll(self.store.store(), &adapter)? {
            InvitationState::Waiting => Ok(None),
            // A finished invitation is an active channel; the core's
            // `Paired` state says so by being returned at all.
            InvitationState::Paired {
                channel_id,
                safety_number,
            } => Ok(Some(PairingResult {
                channel_id,
                status: ChannelStatus::Active,
                safety_number: Some(safety_number),
            })),
        }
    }
}

fn summary(s: sync::SyncSummary) -> SyncSummary {
    SyncSummary {
        sent: s.sent,
        received: s.received,
        duplicates: s.duplicates,
        rejected: s.rejected.into_iter().collect(),
        resent: s.resent,
        delivered: s.delivered,
        pending_outbound: s.pending_outbound,
        channels_revoked: s.channels_revoked,
        pairings_completed: s.pairings_completed,
        error: s.error,
    }
}

fn message(m: sync::MessageView) -> MessageView {
    MessageView {
        id: m.id,
        channel_id: m.channel_id,
        from_me: m.from_me,
        text: m.text,
        at_millis: m.at_millis,
        delivery: m.delivery,
        read: m.read,
        expect_reply_by_millis: m.expect_reply_by_millis,
        safety: None,
    }
}

#[uniffi::export]
impl PatientStore {
    /// Therapist: create a pairing invitation at `relay_url`.
    pub fn therapist_invite(
        self: Arc<Self>,
        transport: Arc<dyn HttpTransport>,
        relay_url: String,
        label: Option<String>,
    ) -> Result<Arc<PairingInvitation>> {
        let inv = TherapistInvitation::create(
            self.store(),
            &Adapter(transport.clone()),
            &relay_url,
            label.as_deref(),
        )?;
        Ok(Arc::new(PairingInvitation {
            store: self,
            transport,
            inner: Mutex::new(inv),
        }))
    }

    /// Patient: redeem a code (or a scanned QR payload; then `relay_url`
    /// may be empty). Pending until the therapist's device finishes; every
    /// `sync` checks again. With a safety alert made before pairing and no
    /// `share_alerts` choice, it is refused (`InvalidInput` naming
    /// `share_alerts`): ask the patient (`unsent_alerts`), then call again.
    #[uniffi::method(default(share_alerts = None))]
    pub fn patient_join(
        &self,
        transport: Arc<dyn HttpTransport>,
        relay_url: Option<String>,
        code: String,
        share_history: bool,
        share_alerts: Option<bool>,
    ) -> Result<PairingResult> {
        Ok(sync::join(
            self.store(),
            &Adapter(transport),
            relay_url.as_deref(),
            &code,
            share_history,
            share_alerts,
        )?)
    }

    /// Sends and receives everything due, then re-plans reminders if
    /// anything arrived. Safe from a background thread at any time,
    /// alongside UI calls.
    pub fn sync(&self, transport: Arc<dyn HttpTransport>) -> Result<SyncSummary> {
        Ok(summary(self.session.sync(&Adapter(transport))?))
    }

    pub fn channels(&self) -> Result<Vec<ChannelView>> {
        Ok(sync::channel_views(self.store())?
            .into_iter()
            .map(|c| ChannelView {
                channel_id: c.channel_id,
                role: c.role,
                status: c.status,
                label: c.label,
                safety_number: c.safety_number,
                unread: c.unread,
                pending_outbound: c.pending_outbound,
            })
            .collect())
    }

    /// Queues a message (to the only channel when `channel_id` is None).
    pub fn send_message(&self, channel_id: Option<String>, text: String) -> Result<MessageView> {
        let (m, safety) = collabzium_core::checkin::send_message(
            self.store(),
            channel_id.as_deref(),
            &text,
            None,
        )?;
        Ok(MessageView {
            safety: safety.map(crate::checkin::safety),
            ..message(m)
        })
    }

    /// Safety alerts made before pairing and not yet shared: when non-zero,
    /// ask the patient before `patient_join` whether to share them.
    pub fn unsent_safety_alerts(&self) -> Result<u32> {
        Ok(sync::unsent_alerts(self.store())?)
    }

    /// The thread, oldest first; marks received messages read.
    pub fn message_thread(&self, channel_id: Option<String>) -> Result<Vec<MessageView>> {
        Ok(session::open_thread(self.store(), channel_id.as_deref())?
            .into_iter()
            .map(message)
            .collect())
    }

    /// Received events, newest first; `kinds` empty means all.
    pub fn inbox(&self, kinds: Vec<String>) -> Result<Vec<InboxEntry>> {
        let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
        Ok(sync::inbox(self.store(), &kinds)?
            .into_iter()
            .map(|i| InboxEntry {
                channel_id: i.channel_id,
                patient: i.patient,
                event_id: i.event_id,
                kind: i.kind,
                at_millis: i.at_millis,
                received_at_millis: i.received_at_millis,
                read: i.read,
                body_json: i.body.to_string(),
            })
            .collect())
    }

    /// Every own event with its delivery state (queued → sent → delivered → read).
    pub fn outbound(&self) -> Result<Vec<OutboundView>> {
        Ok(sync::outbound(self.store())?)
    }

    /// Revokes the channel on both sides and at the relay; destroys its keys.
    pub fn unpair(
        &self,
        transport: Arc<dyn HttpTransport>,
        channel_id: Option<String>,
    ) -> Result<()> {
        sync::unpair(self.store(), &Adapter(transport), channel_id.as_deref())?;
        Ok(())
    }

    /// Hands the platform's push token (APNs, FCM) or a Web Push /
    /// UnifiedPush subscription to the relays of this store's channels.
    /// Their wake-ups carry nothing: answer one with `sync`. Returns how
    /// many relays now hold it. Call again when the platform rotates it.
    pub fn register_push(
        &self,
        transport: Arc<dyn HttpTransport>,
        endpoint: PushEndpoint,
    ) -> Result<u32> {
        let e = match endpoint {
            PushEndpoint::WebPush {
                endpoint,
                p256dh,
                auth,
            } => sync::PushEndpoint::WebPush {
                endpoint,
                p256dh,
                auth,
            },
            PushEndpoint::Fcm { token } => sync::PushEndpoint::Fcm { token },
            PushEndpoint::Apns { token } => sync::PushEndpoint::Apns { token },
        };
        Ok(sync::register_push(self.store(), &Adapter(transport), &e)?.relays)
    }

    /// Removes this device's push endpoint from its relays.
    pub fn unregister_push(&self, transport: Arc<dyn HttpTransport>) -> Result<u32> {
        Ok(sync::unregister_push(self.store(), &Adapter(transport))?.relays)
    }

    /// Erasure that reaches the therapist: revokes every channel at the
    /// relay (signed, as `unpair`), then crypto-shreds the store. Never
    /// blocked by the network: unreached channels are named in the result
    /// and the local erase still happens. The object is closed after.
    pub fn erase_everywhere(&self, transport: Arc<dyn HttpTransport>) -> Result<EraseEverywhere> {
        let r = sync::erase_everywhere(
            self.store(),
            &crate::key_provider::Adapter(self.key_provider.clone()),
            Some(&Adapter(transport)),
        )?;
        Ok(EraseEverywhere {
            revoked_at_relay: r.revoked_at_relay,
            not_reached: r.not_reached,
            not_reached_reason: r.not_reached_reason,
            files_removed: r.local.files_removed,
            provider_key_destroyed: r.local.provider_key_destroyed,
        })
    }
}

/// Where the relay sends this device's content-free wake-ups.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PushEndpoint {
    /// Web Push or a UnifiedPush distributor: the endpoint URL and the
    /// subscription's P-256 key and auth secret, base64url.
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    /// An FCM registration token.
    Fcm { token: String },
    /// An APNs device token, hex.
    Apns { token: String },
}

/// What `erase_everywhere` did; channel ids only, no personal data.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EraseEverywhere {
    /// Channels whose relay deleted the queued envelopes and keeps a
    /// tombstone: the therapist sees "left" at the next sync.
    pub revoked_at_relay: Vec<String>,
    /// Channels the relay was not told about (offline): see ADR 0005 §7.
    pub not_reached: Vec<String>,
    /// `offline` or the relay's problem code, for the first unreached one.
    pub not_reached_reason: Option<String>,
    pub files_removed: Vec<String>,
    pub provider_key_destroyed: bool,
}

/// One weekly availability window, in the therapist's zone.
pub type AvailabilityWindow = av::Hours;

#[uniffi::remote(Record)]
pub struct AvailabilityWindow {
    /// MO TU WE TH FR SA SU
    pub days: Vec<String>,
    /// HH:MM
    pub start: String,
    pub end: String,
}

/// A subset of `availability::Availability` (no away periods) with the
/// alert policy as a flag.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AvailabilitySettings {
    /// IANA zone, e.g. Europe/Berlin.
    pub tz: String,
    pub windows: Vec<AvailabilityWindow>,
    pub reply_within_hours: u32,
    /// Notify safety alerts at once even outside hours.
    pub alerts_notify_outside_hours: bool,
}

pub use sync::ReplyExpectation;

#[uniffi::remote(Record)]
pub struct ReplyExpectation {
    pub available_now: bool,
    pub next_available_at_millis: Option<i64>,
    pub expect_reply_by_millis: Option<i64>,
    pub reply_within_hours: u32,
    pub tz: String,
}

pub use sync::NotificationBatch;

#[uniffi::remote(Record)]
pub struct NotificationBatch {
    pub fire_at_millis: i64,
    pub messages: u32,
    pub checkins: u32,
    pub alerts: u32,
}

#[uniffi::export]
impl PatientStore {
    /// Therapist: availability hours for every channel (or one); patients
    /// get them at the next sync.
    pub fn set_availability(
        &self,
        settings: AvailabilitySettings,
        channel_id: Option<String>,
    ) -> Result<()> {
        // Argument conversion: the app sets no away periods over FFI.
        let s = av::Availability {
            tz: settings.tz,
            hours: settings.windows,
            reply_within_hours: settings.reply_within_hours,
            away: Vec::new(),
            alerts_outside_hours: if settings.alerts_notify_outside_hours {
                av::AlertsOutsideHours::Notify
            } else {
                av::AlertsOutsideHours::Defer
            },
        };
        Ok(sync::set_availability(
            self.store(),
            &s,
            channel_id.as_deref(),
        )?)
    }

    /// Patient: is the therapist available, and by when to expect a reply.
    pub fn reply_expectation(
        &self,
        channel_id: Option<String>,
    ) -> Result<Option<ReplyExpectation>> {
        Ok(sync::reply_expectation(
            self.store(),
            channel_id.as_deref(),
        )?)
    }

    /// Therapist: notifications due from received events, batched by fire
    /// time within availability hours, for the platform scheduler.
    pub fn pending_notifications(&self) -> Result<Vec<NotificationBatch>> {
        Ok(sync::pending_notifications(self.store())?)
    }

    /// Therapist: acknowledge a patient's safety alert with what was done
    /// (`phone`, `message`, `safety_plan`, `referred`, `other`) and an
    /// optional note that stays on this device.
    #[uniffi::method(default(note = None))]
    pub fn acknowledge_patient_alert(
        &self,
        channel_id: String,
        alert_id: String,
        action: String,
        note: Option<String>,
    ) -> Result<()> {
        let action = collabzium_core::checkin::AckAction::parse(&action)?;
        Ok(sync::send_alert_ack(
            self.store(),
            &channel_id,
            &alert_id,
            action,
            note.as_deref(),
        )?)
    }

    /// Therapist: approve a therapist-gated module for one patient.
    pub fn approve_module(&self, channel_id: String, module_id: String) -> Result<()> {
        Ok(sync::send_unlock_approval(
            self.store(),
            &channel_id,
            &module_id,
        )?)
    }

    /// Therapist: assign a program (JSON) from `start_date` (YYYY-MM-DD).
    pub fn assign_program(
        &self,
        channel_id: String,
        program_json: String,
        start_date: String,
    ) -> Result<()> {
        Ok(session::assign_program(
            self.store(),
            &channel_id,
            &program_json,
            &start_date,
        )?)
    }
}

impl From<sync::PairingError> for CollabziumError {
    fn from(e: sync::PairingError) -> Self {
        collabzium_core::Error::from(e).into()
    }
}
