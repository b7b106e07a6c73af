//! One sync round (ADR 0005, ADR 0006): seal, push, fetch, open, apply.
//!
//! No network call happens inside a store transaction: a round seals into
//! `sync_sent` (commit), then pushes; fetches, then applies (commit), then
//! acks. A crash or transport error anywhere leaves durable state from which
//! the next call resumes; the relay de-duplicates on `(channel, dir, seq)`
//! and the receiver on seq and event id.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::availability::{AlertsOutsideHours, Availability};
use super::events::{self, Payload, Receipt, PAYLOAD_VERSION};
use super::state::{inbox_id, ChannelState, ChannelStatus, InboxItem};
use super::SyncRejection;
use super::*;
use crate::audit::AuditEvent;
use crate::error::{Error, Result};
use crate::store::{delivery, outbox};
use crate::store::{Store, WriteTx};
use collabzium_protocol::channel::{Channel, Role};
use collabzium_protocol::client::{unb64, Refusal, RelayClient};
use collabzium_protocol::device::{self};
use collabzium_protocol::envelope::Header;
use collabzium_protocol::transport::HttpTransport;

/// Envelopes per push request and bytes per request (ADR 0006 §5).
const PUSH_BATCH: usize = 100;
const PUSH_BYTES: usize = 900 * 1024;
const FETCH_LIMIT: u32 = 200;
/// Pages fetched per channel in one round.
const MAX_PAGES_PER_ROUND: usize = 100;
/// Re-push an undelivered envelope after 10 min, 1 h, 6 h, then daily.
const BACKOFF_MS: [i64; 4] = [600_000, 3_600_000, 21_600_000, 86_400_000];
/// Longest message text, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// What one sync round did. Safe to show to the user and to log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncSummary {
    /// Envelopes the relay newly stored.
    pub sent: u64,
    /// Peer events applied.
    pub received: u64,
    pub duplicates: u64,
    /// Refused envelopes by reason (`authentication`, `malformed`, ...).
    pub rejected: BTreeMap<String, u64>,
    /// Envelopes pushed again (backoff, receipt request or gap).
    pub resent: u64,
    /// Own envelopes the peer confirmed this round.
    pub delivered: u64,
    /// Own events not yet confirmed by the peer.
    pub pending_outbound: u64,
    pub channels_revoked: u64,
    pub pairings_completed: u64,
    /// Why the round stopped early (`offline`, `rate_limited`, ...); all
    /// progress so far is durable and the next call resumes.
    pub error: Option<String>,
}

/// The protocol part of one sync round over every channel: complete
/// pairings, seal, push, fetch, open and apply received events, and tell the
/// relay of revocations. The caller holds the store's sync guard, so rounds
/// on one store run one after another. `crate::session::sync` wraps this
/// with the effects received events have on other features.
pub fn round(
    store: &Store,
    transport: &dyn HttpTransport,
    _held: &crate::store::SyncGuard<'_>,
) -> Result<SyncSummary> {
    let mut summary = SyncSummary::default();
    let Some(id) = identity(store)? else {
        return Ok(summary);
    };
    let key = id.device()?;
    let role = id.role()?;
    let channels: Vec<ChannelState> = store
        .read(|tx| tx.list::<ChannelState>())?
        .into_iter()
        .map(|c| c.value)
        .collect();
    for mut ch in channels {
        let client = RelayClient::new(&ch.relay_url, transport, &key, || now_s(store));
        let step = match ch.status {
            ChannelStatus::Pending if role == Role::Patient => {
                match complete_pending(store, &client, &mut ch) {
                    Ok(true) => {
                        summary.pairings_completed += 1;
                        sync_channel(store, &client, &mut ch, &mut summary)
                    }
                    Ok(false) => Ok(()),
                    Err(e @ Error::Offline(_)) => Err(e),
                    Err(Error::Relay { code, .. }) => Err(Error::Relay { status: 0, code }),
                    // A failed pairing is recorded on the channel; go on.
                    Err(_) => Ok(()),
                }
            }
            ChannelStatus::Pending if ch.pending_finish.is_some() => {
                match finish_therapist(store, &client, &mut ch) {
                    Ok(()) if ch.status == ChannelStatus::Active => {
                        summary.pairings_completed += 1;
                        sync_channel(store, &client, &mut ch, &mut summary)
                    }
                    other => other,
                }
            }
            ChannelStatus::Active => sync_channel(store, &client, &mut ch, &mut summary),
            ChannelStatus::Revoked
                if !ch.relay_revoked && ch.revoked_by.as_deref() == Some("me") =>
            {
                send_revocation(store, &client, &mut ch)
            }
            _ => Ok(()),
        };
        if let Err(e) = step {
            summary.error = Some(match &e {
                Error::Offline(_) => "offline".to_string(),
                Error::Relay { code, .. } => code.clone(),
                other => other.code().to_string(),
            });
            match e {
                Error::Offline(_) | Error::Relay { .. } => break,
                other => return Err(other),
            }
        }
    }
    Ok(summary)
}

/// Own events not yet confirmed by a peer: sealed and undelivered, or still
/// in the outbox for a channel.
pub fn pending_outbound(store: &Store) -> Result<u64> {
    store.read(delivery::pending_outbound_count)
}

fn revocation_from(r: &Refusal) -> Option<(i64, Vec<u8>)> {
    let rev = r.body.get("revocation")?;
    let at = rev.get("revoked_at")?.as_i64()?;
    let st = unb64(rev.get("statement")?.as_str()?).ok()?;
    Some((at, st))
}

/// The relay says the channel is revoked: shred only if the peer really
/// signed it (a relay cannot forge an unpairing).
fn handle_revoked(
    store: &Store,
    ch: &mut ChannelState,
    r: &Refusal,
    summary: &mut SyncSummary,
) -> Result<()> {
    let Some((at, statement)) = revocation_from(r) else {
        return Ok(());
    };
    let msg = collabzium_protocol::client::revocation_message(&ch.cid()?, at);
    if !device::verify(&ch.peer_device_bytes()?, &msg, &statement) {
        store.write(|tx| tx.audit(AuditEvent::SyncRejected, "forged_revocation"))?;
        return Ok(());
    }
    shred_channel(store, ch, at, "peer")?;
    ch.relay_revoked = true;
    store.write(|tx| tx.put(&ch.id.clone(), &*ch))?;
    summary.channels_revoked += 1;
    Ok(())
}

/// Turns a refusal into the round's error, handling revocation on the way.
fn check(
    store: &Store,
    ch: &mut ChannelState,
    r: Refusal,
    summary: &mut SyncSummary,
) -> Result<()> {
    if r.status == 403 && r.code == "channel_revoked" {
        handle_revoked(store, ch, &r, summary)?;
        return Ok(());
    }
    Err(r.into())
}

fn sync_channel(
    store: &Store,
    client: &RelayClient<'_>,
    ch: &mut ChannelState,
    summary: &mut SyncSummary,
) -> Result<()> {
    pull(store, client, ch, summary)?;
    if ch.status != ChannelStatus::Active {
        return Ok(());
    }
    seal_pending(store, ch)?;
    push(store, client, ch, summary)?;
    if ch.status != ChannelStatus::Active {
        return Ok(());
    }
    // Receipts for what we just pulled go out in the same round.
    if ch.receipt_due {
        seal_pending(store, ch)?;
        push(store, client, ch, summary)?;
    }
    Ok(())
}

fn pull(
    store: &Store,
    client: &RelayClient<'_>,
    ch: &mut ChannelState,
    summary: &mut SyncSummary,
) -> Result<()> {
    let cid = ch.cid()?;
    // A relay that always answers `more` cannot hold the round (and the
    // sync lock) for ever; the next round goes on.
    for _ in 0..MAX_PAGES_PER_ROUND {
        if ch.status != ChannelStatus::Active {
            return Ok(());
        }
        let from = ch.channel()?.receive_chain().watermark() + 1;
        let page = match client.fetch(&cid, from, FETCH_LIMIT)? {
            Ok(p) => p,
            Err(r) => return check(store, ch, r, summary),
        };
        if page.envelopes.is_empty() {
            return Ok(());
        }
        let mut acks = Vec::new();
        let mut progressed = false;
        let mut fresh = ch.clone();
        // Durable before the ack below deletes the envelopes at the relay.
        store.write_durable(|tx| {
            fresh = load_channel(tx, &ch.id)?;
            if fresh.status != ChannelStatus::Active {
                return Ok(()); // unpaired meanwhile
            }
            let mut channel = fresh.channel()?;
            let now = tx.now_millis();
            for f in &page.envelopes {
                let bytes = match unb64(&f.env) {
                    Ok(b) => b,
                    Err(_) => {
                        reject(tx, summary, SyncRejection::Malformed)?;
                        acks.push(f.seq);
                        continue;
                    }
                };
                let claimed_ok = Header::parse(&bytes)
                    .map(|h| h.seq == f.seq)
                    .unwrap_or(false);
                let opened = if claimed_ok {
                    channel.open(&bytes, now)
                } else {
                    Err(SyncRejection::Malformed)
                };
                match opened {
                    Ok(o) => {
                        progressed = true;
                        acks.push(o.seq);
                        match serde_json::from_slice::<Payload>(&o.payload) {
                            Ok(p) if events::writable_by(channel.role().peer(), &p.kind) => {
                                apply_event(tx, &mut fresh, &p, o.seq, summary)?;
                            }
                            Ok(_) => reject(tx, summary, SyncRejection::OwnershipViolation)?,
                            Err(_) => reject(tx, summary, SyncRejection::Malformed)?,
                        }
                    }
                    Err(SyncRejection::Duplicate) => {
                        summary.duplicates += 1;
                        fresh.receipt_due = true;
                        acks.push(f.seq);
                        progressed = true;
                    }
                    Err(SyncRejection::TooFarAhead) => {
                        // Stays at the relay until the gap below fills.
                        *summary.rejected.entry("too_far_ahead".into()).or_default() += 1;
                    }
                    Err(e) => {
                        reject(tx, summary, e)?;
                        acks.push(f.seq);
                        progressed = true;
                        // The relay's seq and the header's may differ when
                        // either was rewritten: ask for both again.
                        let header_seq = Header::parse(&bytes)
                            .ok()
                            .filter(|h| h.channel_id == cid)
                            .map(|h| h.seq);
                        for seq in [Some(f.seq), header_seq].into_iter().flatten() {
                            if !fresh.rejected.contains(&seq) {
                                fresh.rejected.push(seq);
                            }
                        }
                        if e == SyncRejection::Unrecoverable {
                            if let Ok(h) = Header::parse(&bytes) {
                                fresh.lost.push(h.seq);
                            }
                        }
                        fresh.receipt_due = true;
                    }
                }
            }
            fresh.store_chains(&channel);
            tx.put(&fresh.id.clone(), &fresh)
        })?;
        *ch = fresh;
        if ch.status != ChannelStatus::Active {
            return Ok(());
        }
        let through = ch.channel()?.receive_chain().watermark();
        acks.retain(|s| *s > through);
        acks.sort_unstable();
        acks.dedup();
        let chunks: Vec<&[u64]> = if acks.is_empty() {
            vec![&[]]
        } else {
            acks.chunks(1000).collect()
        };
        for chunk in chunks {
            if let Err(r) = client.ack(&cid, through, chunk)? {
                return check(store, ch, r, summary);
            }
        }
        if !page.more || !progressed {
            return Ok(());
        }
    }
    Ok(())
}

/// The channel as committed: a round re-reads it inside its transaction so
/// a concurrent change (a read receipt marked by the UI) is not lost.
fn load_channel(tx: &WriteTx<'_>, id: &str) -> Result<ChannelState> {
    tx.get::<ChannelState>(id)?
        .map(|s| s.value)
        .ok_or_else(|| Error::NotFound {
            what: "channel".into(),
        })
}

fn reject(tx: &WriteTx<'_>, summary: &mut SyncSummary, why: SyncRejection) -> Result<()> {
    *summary.rejected.entry(why.code().into()).or_default() += 1;
    tx.audit(AuditEvent::SyncRejected, why.code())
}

/// Applies one authentic, permitted event. Idempotent by event id.
fn apply_event(
    tx: &WriteTx<'_>,
    ch: &mut ChannelState,
    p: &Payload,
    seq: u64,
    summary: &mut SyncSummary,
) -> Result<()> {
    ch.hlc = events::hlc_merge(ch.hlc, p.hlc);
    merge_receipt(tx, ch, &p.rcpt, summary)?;
    if p.kind == events::RECEIPT {
        return Ok(());
    }
    ch.receipt_due = true;
    let iid = inbox_id(&ch.id, &p.id);
    if tx.get::<InboxItem>(&iid)?.is_some() {
        summary.duplicates += 1;
        return Ok(());
    }
    let now = tx.now_millis();
    if p.kind == events::CHANNEL_SETTINGS {
        if let Ok(s) = serde_json::from_value::<Availability>(p.body.clone()) {
            if s.validate().is_ok() {
                ch.settings = Some(s);
            }
        }
    }
    let notify_at = if ch.role()? == Role::Therapist && p.kind != events::ENGAGEMENT_SUMMARY {
        let urgent = p.kind == events::SAFETY_ALERT
            && ch
                .settings
                .as_ref()
                .is_some_and(|s| s.alerts_outside_hours == AlertsOutsideHours::Notify);
        match ch.settings.as_ref() {
            Some(s) if !urgent => s
                .next_available(millis_to_utc(now))
                .ok()
                .flatten()
                .map(|t| t.timestamp_millis()),
            _ => Some(now),
        }
    } else {
        None
    };
    let needs_effect = matches!(
        p.kind.as_str(),
        events::UNLOCK_APPROVAL | events::ALERT_ACK | events::PROGRAM_ASSIGNMENT
    );
    tx.put(
        &iid,
        &InboxItem {
            channel: ch.id.clone(),
            event_id: p.id.clone(),
            kind: p.kind.clone(),
            seq,
            hlc: p.hlc,
            at: p.at,
            received_at: now,
            body: p.body.clone(),
            read_at: None,
            applied: !needs_effect,
            notify_at,
        },
    )?;
    summary.received += 1;
    Ok(())
}

/// The peer's receipt about our envelopes: mark delivered and read, and
/// schedule re-pushes for what it refused or evidently missed.
fn merge_receipt(
    tx: &WriteTx<'_>,
    ch: &mut ChannelState,
    r: &Receipt,
    summary: &mut SyncSummary,
) -> Result<()> {
    let mut delivered = delivery::mark_delivered_through(tx, &ch.id, r.through)?;
    let mut highest = r.through;
    for s in r.above.iter().take(4096) {
        highest = highest.max(*s);
        delivered += delivery::mark_delivered(tx, &ch.id, *s)?;
    }
    summary.delivered += delivered as u64;
    // Gaps below what the peer has: dropped or refused on the way.
    delivery::schedule_resend_below(tx, &ch.id, highest)?;
    for s in r.rejected.iter().take(4096) {
        delivery::schedule_resend(tx, &ch.id, *s)?;
    }
    // A lost key: send the event again under a new seq.
    for s in r.lost.iter().take(4096) {
        delivery::requeue_lost(tx, &ch.id, *s)?;
    }
    for id in r.read.iter().take(4096) {
        delivery::mark_read(tx, &ch.id, id)?;
    }
    Ok(())
}

fn current_receipt(ch: &mut ChannelState, channel: &Channel) -> Receipt {
    let rc = channel.receive_chain();
    Receipt {
        through: rc.watermark(),
        above: rc.received_above().take(1000).collect(),
        rejected: std::mem::take(&mut ch.rejected),
        lost: std::mem::take(&mut ch.lost),
        read: std::mem::take(&mut ch.read_pending),
    }
}

/// Seals every pending outbox entry of this channel (High priority first)
/// into `sync_sent`, plus a standalone receipt when one is due and nothing
/// else carries it. One transaction; no network.
fn seal_pending(store: &Store, ch: &mut ChannelState) -> Result<()> {
    let role = ch.role()?;
    let mut fresh = ch.clone();
    // Durable before the push: a pushed envelope must never be re-sealed
    // under the same seq with other contents after a power cut.
    store.write_durable(|tx| {
        fresh = load_channel(tx, &ch.id)?;
        if fresh.status != ChannelStatus::Active {
            return Ok(()); // unpaired meanwhile
        }
        let mut entries = outbox::pending_for_channel(tx, &fresh.id, role == Role::Patient)?;
        if entries.is_empty() && !fresh.receipt_due {
            // Nothing to seal: leave the record (and caches keyed on it) alone.
            return Ok(());
        }
        let mut channel = fresh.channel()?;
        crate::sort::sort_by_key(&mut entries, |e| (std::cmp::Reverse(e.priority), e.seq));
        let now = tx.now_millis();
        let mut sealed_any = false;
        for e in entries {
            if !events::writable_by(role, &e.kind) {
                // Never leaves this device (e.g. a therapist's own ratings).
                delivery::keep_on_device(tx, e.seq)?;
                continue;
            }
            let body: Value = serde_json::from_slice(&e.body).unwrap_or(Value::Null);
            fresh.hlc = events::hlc_tick(fresh.hlc, now);
            let payload = Payload {
                v: PAYLOAD_VERSION,
                id: format!("{}:{}", e.kind, e.ref_id),
                kind: e.kind.clone(),
                hlc: fresh.hlc,
                at: e.created_at_millis,
                rcpt: current_receipt(&mut fresh, &channel),
                body,
            };
            seal_one(tx, &mut channel, &fresh.id, Some(e.seq), &payload)?;
            outbox::mark_sent(tx, e.seq)?;
            sealed_any = true;
        }
        if fresh.receipt_due && !sealed_any {
            fresh.hlc = events::hlc_tick(fresh.hlc, now);
            let seq = channel.send_chain().next_seq();
            let payload = Payload {
                v: PAYLOAD_VERSION,
                id: format!("{}:{seq}", events::RECEIPT),
                kind: events::RECEIPT.into(),
                hlc: fresh.hlc,
                at: now,
                rcpt: current_receipt(&mut fresh, &channel),
                body: Value::Null,
            };
            seal_one(tx, &mut channel, &fresh.id, None, &payload)?;
        }
        fresh.receipt_due = false;
        fresh.store_chains(&channel);
        tx.put(&fresh.id.clone(), &fresh)
    })?;
    *ch = fresh;
    Ok(())
}

fn seal_one(
    tx: &WriteTx<'_>,
    channel: &mut Channel,
    cid: &str,
    outbox_seq: Option<i64>,
    p: &Payload,
) -> Result<()> {
    let json = serde_json::to_vec(p).map_err(|e| Error::Internal(e.to_string()))?;
    let seq = channel.send_chain().next_seq();
    let env = channel
        .seal(&json)
        .map_err(|e| Error::invalid("event", e.to_string()))?;
    delivery::insert_sealed(tx, cid, seq, outbox_seq, &p.id, &env)
}

fn push(
    store: &Store,
    client: &RelayClient<'_>,
    ch: &mut ChannelState,
    summary: &mut SyncSummary,
) -> Result<()> {
    let cid = ch.cid()?;
    let now = store.now_millis();
    let rows = store.read(|tx| delivery::due_for_push(tx, &ch.id, now))?;
    let mut i = 0;
    while i < rows.len() {
        let mut j = i;
        let mut bytes = 0;
        while j < rows.len()
            && j - i < PUSH_BATCH
            && (j == i || bytes + rows[j].envelope.len() <= PUSH_BYTES)
        {
            bytes += rows[j].envelope.len();
            j += 1;
        }
        let batch = &rows[i..j];
        let envs: Vec<&[u8]> = batch.iter().map(|r| r.envelope.as_slice()).collect();
        let results = match client.push(&cid, &envs)? {
            Ok(r) => r,
            Err(r) => return check(store, ch, r, summary),
        };
        let stored: BTreeSet<u64> = results
            .iter()
            .filter(|r| r.status != "duplicate")
            .map(|r| r.seq)
            .collect();
        store.write(|tx| {
            let now = tx.now_millis();
            for e in batch {
                let n = (e.resends as usize).min(BACKOFF_MS.len() - 1);
                let next = if e.was_pushed {
                    e.resends + 1
                } else {
                    e.resends
                };
                delivery::mark_pushed(tx, &ch.id, e.seq, next, now + BACKOFF_MS[n])?;
                if e.was_pushed {
                    summary.resent += 1;
                } else if stored.contains(&(e.seq as u64)) {
                    summary.sent += 1;
                }
            }
            Ok(())
        })?;
        i = j;
    }
    Ok(())
}

pub(crate) fn send_revocation(
    store: &Store,
    client: &RelayClient<'_>,
    ch: &mut ChannelState,
) -> Result<()> {
    let (Some(at), Some(st)) = (ch.revoked_at_millis, ch.revocation_statement.clone()) else {
        return Ok(());
    };
    let st = unb64(&st)?;
    match client.revoke(&ch.cid()?, at, &st)? {
        Ok(_) => {}
        // Already revoked (by us or the peer) is fine.
        Err(r) if r.status == 403 || r.status == 404 => {}
        Err(r) => return Err(r.into()),
    }
    ch.relay_revoked = true;
    store.write(|tx| tx.put(&ch.id.clone(), &*ch))
}
