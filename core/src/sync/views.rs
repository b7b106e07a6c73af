//! What the screens read from sync state: channels, the outbound queue and
//! each event's reach, the inbox, the message thread, reply expectations and
//! the therapist's notification batches.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::availability::Availability;
use super::events::{self};
use super::state::{inbox_id, ChannelState, ChannelStatus, InboxItem, SentMessage};
use super::*;
use crate::error::{Error, Result};
use crate::store::delivery::{self, Route};
use crate::store::Store;
use collabzium_protocol::channel::Role;

/// One channel as a screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelView {
    pub channel_id: String,
    pub role: String,
    pub status: ChannelStatus,
    pub label: Option<String>,
    pub safety_number: Option<String>,
    pub paired_at_millis: Option<i64>,
    pub revoked_at_millis: Option<i64>,
    pub revoked_by: Option<String>,
    pub unread: u64,
    pub pending_outbound: u64,
    pub settings: Option<Availability>,
}

pub fn channel_views(store: &Store) -> Result<Vec<ChannelView>> {
    store.read(|tx| {
        let inbox: Vec<InboxItem> = tx
            .list::<InboxItem>()?
            .into_iter()
            .map(|i| i.value)
            .collect();
        let mut out = Vec::new();
        for c in tx.list::<ChannelState>()? {
            let c = c.value;
            let pending = delivery::undelivered_count(tx, &c.id)?;
            out.push(ChannelView {
                unread: inbox
                    .iter()
                    .filter(|i| i.channel == c.id && i.read_at.is_none() && user_visible(&i.kind))
                    .count() as u64,
                pending_outbound: pending,
                channel_id: c.id,
                role: c.role,
                status: c.status,
                label: c.label,
                safety_number: c.safety_number,
                paired_at_millis: c.paired_at_millis,
                revoked_at_millis: c.revoked_at_millis,
                revoked_by: c.revoked_by,
                settings: c.settings,
            });
        }
        crate::sort::sort_by_key(&mut out, |c| std::cmp::Reverse(c.paired_at_millis));
        Ok(out)
    })
}

fn user_visible(kind: &str) -> bool {
    matches!(
        kind,
        events::MESSAGE | events::CHECKIN | events::SAFETY_ALERT
    )
}

/// Delivery state of one own event, as the patient sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Waiting for the next sync (or for pairing).
    Queued,
    /// The relay holds it.
    Sent,
    /// The peer's device confirmed it.
    Delivered,
    /// The peer opened it.
    Read,
    /// Never leaves this device.
    NotShared,
}

/// One own event with its delivery state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundView {
    pub event_id: String,
    pub kind: String,
    pub ref_id: String,
    pub created_at_millis: i64,
    pub delivery: Delivery,
}

pub fn outbound(store: &Store) -> Result<Vec<OutboundView>> {
    let rows = store.read(delivery::outbound_rows)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let p = &r.progress;
            let delivery = if p.route == Route::OnDevice {
                Delivery::NotShared
            } else if p.read {
                Delivery::Read
            } else if p.delivered {
                Delivery::Delivered
            } else if p.pushed {
                Delivery::Sent
            } else {
                Delivery::Queued
            };
            OutboundView {
                event_id: format!("{}:{}", r.kind, r.ref_id),
                kind: r.kind,
                ref_id: r.ref_id,
                created_at_millis: r.created_at_millis,
                delivery,
            }
        })
        .collect())
}

/// Where one own event stands, for the patient's crisis screen: whether a
/// therapist can receive it, and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct EventReach {
    /// The patient chose not to share it (history not shared at pairing).
    pub not_shared: bool,
    /// An active channel will carry it: it is routed there, or unrouted
    /// while the store has an active channel (the next round routes it).
    pub channel_active: bool,
    /// The therapist's availability on that channel, when known.
    pub settings: Option<Availability>,
    /// The relay holds it.
    pub pushed: bool,
    /// The therapist's device confirmed it.
    pub delivered: bool,
    /// Opened on the therapist's device.
    pub read: bool,
}

/// How far the outbox event `kind`/`ref_id` got; `None` when there is no
/// such event (never queued).
pub fn event_reach(store: &Store, kind: &str, ref_id: &str) -> Result<Option<EventReach>> {
    store.read(|tx| {
        let Some(progress) = delivery::outbox_progress(tx, kind, ref_id)? else {
            return Ok(None);
        };
        let channels: Vec<ChannelState> = tx
            .list::<ChannelState>()?
            .into_iter()
            .map(|c| c.value)
            .collect();
        let not_shared = progress.route == Route::OnDevice;
        let carrier = match &progress.route {
            Route::OnDevice => None,
            Route::Channel(id) => channels.iter().find(|c| &c.id == id),
            Route::Unrouted => channels.iter().find(|c| c.status == ChannelStatus::Active),
        };
        let channel_active = carrier.is_some_and(|c| c.status == ChannelStatus::Active);
        Ok(Some(EventReach {
            not_shared,
            channel_active,
            settings: carrier.and_then(|c| c.settings.clone()),
            pushed: progress.pushed,
            delivered: progress.delivered,
            read: progress.read,
        }))
    })
}

/// Own safety alerts not yet handed to any channel: a patient joining a
/// therapist is asked whether to share them (issue 10).
pub fn unsent_alerts(store: &Store) -> Result<u32> {
    store.read(|tx| {
        let n = delivery::unsent_unrouted_count(tx, events::SAFETY_ALERT)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    })
}

/// One received event for the therapist's inbox (or the patient's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxEntry {
    pub channel_id: String,
    /// The therapist's name for the patient (therapist side only).
    pub patient: Option<String>,
    pub event_id: String,
    pub kind: String,
    pub at_millis: i64,
    pub received_at_millis: i64,
    pub read: bool,
    pub notify_at_millis: Option<i64>,
    /// The event as sent (a check-in, alert, progress or message).
    pub body: Value,
}

/// Received events, newest first; `kinds` filters (empty = all but receipts
/// and settings).
pub fn inbox(store: &Store, kinds: &[&str]) -> Result<Vec<InboxEntry>> {
    store.read(|tx| {
        let labels: BTreeMap<String, Option<String>> = tx
            .list::<ChannelState>()?
            .into_iter()
            .map(|c| (c.value.id, c.value.label))
            .collect();
        let mut out: Vec<InboxEntry> = tx
            .list::<InboxItem>()?
            .into_iter()
            .map(|i| i.value)
            .filter(|i| {
                if kinds.is_empty() {
                    i.kind != events::CHANNEL_SETTINGS
                } else {
                    kinds.contains(&i.kind.as_str())
                }
            })
            .map(|i| InboxEntry {
                patient: labels.get(&i.channel).cloned().flatten(),
                channel_id: i.channel,
                event_id: i.event_id,
                kind: i.kind,
                at_millis: i.at,
                received_at_millis: i.received_at,
                read: i.read_at.is_some(),
                notify_at_millis: i.notify_at,
                body: i.body,
            })
            .collect();
        crate::sort::sort_by_key(&mut out, |e| {
            (
                std::cmp::Reverse(e.received_at_millis),
                std::cmp::Reverse(e.at_millis),
            )
        });
        Ok(out)
    })
}

/// A message in a thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    pub id: String,
    pub channel_id: String,
    pub from_me: bool,
    pub text: String,
    pub reply_to: Option<String>,
    pub at_millis: i64,
    /// Own messages only.
    pub delivery: Option<Delivery>,
    /// Peer messages only: whether this device has shown it.
    pub read: bool,
    /// Own messages to the therapist: when a reply can be expected.
    pub expect_reply_by_millis: Option<i64>,
}

/// The message thread of a channel, oldest first.
pub fn thread(store: &Store, channel: Option<&str>) -> Result<Vec<MessageView>> {
    let ch = store.read(|tx| {
        let all: Vec<ChannelState> = tx
            .list::<ChannelState>()?
            .into_iter()
            .map(|c| c.value)
            .collect();
        match channel {
            Some(id) => all
                .into_iter()
                .find(|c| c.id == id)
                .ok_or_else(|| Error::NotFound {
                    what: "channel".into(),
                }),
            None => active_channel(tx, None),
        }
    })?;
    let delivery: BTreeMap<String, Delivery> = outbound(store)?
        .into_iter()
        .map(|o| (o.ref_id, o.delivery))
        .collect();
    store.read(|tx| {
        let mut out = Vec::new();
        for m in tx.list::<SentMessage>()? {
            if m.value.channel != ch.id {
                continue;
            }
            let expect = match (&ch.settings, ch.role()?) {
                (Some(s), Role::Patient) => s
                    .expected_reply_by(millis_to_utc(m.value.at))
                    .ok()
                    .flatten()
                    .map(|t| t.timestamp_millis()),
                _ => None,
            };
            out.push(MessageView {
                id: format!("{}:{}", events::MESSAGE, m.id),
                channel_id: ch.id.clone(),
                from_me: true,
                text: m.value.text,
                reply_to: m.value.reply_to,
                at_millis: m.value.at,
                delivery: delivery.get(&m.id).copied(),
                read: true,
                expect_reply_by_millis: expect,
            });
        }
        for i in tx.list::<InboxItem>()? {
            let i = i.value;
            if i.channel != ch.id || i.kind != events::MESSAGE {
                continue;
            }
            out.push(MessageView {
                id: i.event_id,
                channel_id: ch.id.clone(),
                from_me: false,
                text: i
                    .body
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                reply_to: i
                    .body
                    .get("reply_to")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                at_millis: i.at,
                delivery: None,
                read: i.read_at.is_some(),
                expect_reply_by_millis: None,
            });
        }
        crate::sort::sort_by_key(&mut out, |m| m.at_millis);
        Ok(out)
    })
}

/// Marks received events as read (a thread or alert was shown); the peer
/// learns it from the next receipt.
pub fn mark_read(store: &Store, channel: &str, event_ids: &[String]) -> Result<u32> {
    store.write(|tx| {
        let mut ch = tx
            .get::<ChannelState>(channel)?
            .map(|c| c.value)
            .ok_or_else(|| Error::NotFound {
                what: "channel".into(),
            })?;
        let mut n = 0;
        for eid in event_ids {
            let iid = inbox_id(channel, eid);
            if let Some(mut item) = tx.get::<InboxItem>(&iid)? {
                if item.value.read_at.is_none() {
                    item.value.read_at = Some(tx.now_millis());
                    tx.put(&iid, &item.value)?;
                    ch.read_pending.push(eid.clone());
                    n += 1;
                }
            }
        }
        if n > 0 {
            ch.receipt_due = true;
            tx.put(channel, &ch)?;
        }
        Ok(n)
    })
}

/// What the patient sees about the therapist's availability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplyExpectation {
    pub available_now: bool,
    /// Next window start (now when available).
    pub next_available_at_millis: Option<i64>,
    /// For a message sent now.
    pub expect_reply_by_millis: Option<i64>,
    pub reply_within_hours: u32,
    pub tz: String,
}

pub fn reply_expectation(store: &Store, channel: Option<&str>) -> Result<Option<ReplyExpectation>> {
    let ch = store.read(|tx| active_channel(tx, channel))?;
    let Some(s) = ch.settings else {
        return Ok(None);
    };
    let now = millis_to_utc(store.now_millis());
    Ok(Some(ReplyExpectation {
        available_now: s.is_available(now)?,
        next_available_at_millis: s.next_available(now)?.map(|t| t.timestamp_millis()),
        expect_reply_by_millis: s.expected_reply_by(now)?.map(|t| t.timestamp_millis()),
        reply_within_hours: s.reply_within_hours,
        tz: s.tz,
    }))
}

/// Therapist notifications due from received events, grouped by fire time
/// ("3 new messages"), for the platform's notification scheduler.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationBatch {
    pub fire_at_millis: i64,
    pub messages: u32,
    pub checkins: u32,
    pub alerts: u32,
}

/// How far ahead an unacknowledged alert's reminders are planned; the app
/// asks again at its next re-plan, so the series never ends before the ack.
pub const ALERT_RENOTIFY_DAYS: i64 = 7;

/// Notification batches for the platform scheduler. An unacknowledged safety
/// alert fires at its notify time and again at every window start after it
/// (within [`ALERT_RENOTIFY_DAYS`]) until the therapist acknowledges it,
/// whether or not it was opened.
pub fn pending_notifications(store: &Store) -> Result<Vec<NotificationBatch>> {
    let mut by: BTreeMap<i64, NotificationBatch> = BTreeMap::new();
    let (acked, settings): (BTreeSet<String>, BTreeMap<String, Availability>) =
        store.read(|tx| {
            let acked = tx
                .list::<AlertAcknowledgement>()?
                .into_iter()
                .map(|a| a.id)
                .collect();
            let settings = tx
                .list::<ChannelState>()?
                .into_iter()
                .filter_map(|c| c.value.settings.clone().map(|s| (c.value.id, s)))
                .collect();
            Ok((acked, settings))
        })?;
    let now = millis_to_utc(store.now_millis());
    let horizon = now + chrono::Duration::days(ALERT_RENOTIFY_DAYS);
    for i in inbox(store, &[])? {
        let Some(at) = i.notify_at_millis else {
            continue;
        };
        let mut times = Vec::new();
        if i.kind == events::SAFETY_ALERT {
            let alert_id = i.body.get("alert_id").and_then(Value::as_str).unwrap_or("");
            if acked.contains(&AlertAcknowledgement::id(&i.channel_id, alert_id)) {
                continue;
            }
            times.push(at);
            if let Some(s) = settings.get(&i.channel_id) {
                let after = millis_to_utc(at).max(now);
                for t in s.window_starts(after, horizon).unwrap_or_default() {
                    times.push(t.timestamp_millis());
                }
            }
        } else if !i.read {
            times.push(at);
        }
        for at in times {
            let b = by.entry(at).or_insert(NotificationBatch {
                fire_at_millis: at,
                messages: 0,
                checkins: 0,
                alerts: 0,
            });
            match i.kind.as_str() {
                events::MESSAGE => b.messages += 1,
                events::CHECKIN => b.checkins += 1,
                events::SAFETY_ALERT => b.alerts += 1,
                _ => {}
            }
        }
    }
    Ok(by
        .into_values()
        .filter(|b| b.messages + b.checkins + b.alerts > 0)
        .collect())
}
