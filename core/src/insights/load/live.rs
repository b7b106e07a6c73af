//! The therapist's patients kept up to date as the store changes (issue 14),
//! instead of rebuilt from every received event after each sync.
//!
//! [`Live`] keeps, per channel, the folded received events (`Acc`: adding
//! an event never needs the others) and the built [`PatientRecord`]s. A
//! refresh asks the store's change sequence whether anything was written
//! at all (one row), and if so opens only:
//! - the inbox items written after the last refresh: new ones are added to
//!   their channel's folded state, and their points inserted into the
//!   built patient where the full sort would put them (`load::append`;
//!   corrections, consent and assignments finish the patient again); a
//!   rewritten one whose content is unchanged (its read or applied flag
//!   moved, which no insight reads) changes nothing;
//! - the small inputs (channels, ratings, acknowledgements, sent program
//!   assignments) when their kind changed, re-finishing only the channels
//!   whose part differs.
//!
//! A deleted inbox item, or one rewritten with other content (sync never
//! does either), rebuilds everything. The result always equals
//! [`super::load_patients`] on the same snapshot; `tests/insights_live.rs`
//! checks that over random histories.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::Value;

use super::{
    ack_index, append, finish, order, read_acks, read_channels, read_ratings, sent_assignments,
    Acc, Mark, Sent, RATING_KIND,
};
use crate::checkin::Checkin;
use crate::error::Result;
use crate::insights::PatientRecord;
use crate::store::{outbox, ReadTx, Record};
use crate::sync::events;
use crate::sync::state::{ChannelState, ChannelStatus, InboxItem};
use crate::sync::AlertAcknowledgement;

/// The patients as of one store change sequence, and what they were built from.
pub(in crate::insights) struct Live {
    /// The store's change sequence these patients reflect.
    seq: i64,
    /// Inbox record id → hash of everything `Acc::add` reads of it.
    seen: HashMap<String, u64>,
    /// Received events folded per channel (also for channels not listed).
    accs: HashMap<String, Acc>,
    channels: Vec<ChannelState>,
    /// Every routed assignment row (seq, channel), also those whose body
    /// did not parse: what the outbox held at the last refresh.
    sent_rows: Vec<(i64, String)>,
    sent: Vec<Sent>,
    ratings: BTreeMap<String, Vec<Checkin>>,
    acks: Vec<AlertAcknowledgement>,
    /// One per listed channel, in `load_patients` order.
    patients: Arc<Vec<PatientRecord>>,
}

/// What a refresh found.
pub(in crate::insights) enum Refreshed {
    Done,
    /// Something changed that folding cannot take back: load again.
    Rebuild,
}

/// What `Acc::add` reads of an item, hashed (not its flags).
fn item_hash(item: &InboxItem) -> u64 {
    let mut h = DefaultHasher::new();
    item.channel.hash(&mut h);
    item.kind.hash(&mut h);
    item.seq.hash(&mut h);
    item.hlc.hash(&mut h);
    item.at.hash(&mut h);
    hash_value(&item.body, &mut h);
    h.finish()
}

fn hash_value(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                (2u8, i).hash(h);
            } else if let Some(u) = n.as_u64() {
                (3u8, u).hash(h);
            } else {
                (4u8, n.as_f64().map(f64::to_bits)).hash(h);
            }
        }
        Value::String(s) => (5u8, s).hash(h),
        Value::Array(a) => {
            (6u8, a.len()).hash(h);
            for x in a {
                hash_value(x, h);
            }
        }
        Value::Object(o) => {
            (7u8, o.len()).hash(h);
            for (k, x) in o {
                k.hash(h);
                hash_value(x, h);
            }
        }
    }
}

/// What a patient record reads of a channel (the status for "left" and "ended").
type ChannelView<'a> = (
    &'a str,
    Option<&'a str>,
    Option<i64>,
    i64,
    ChannelStatus,
    Option<&'a str>,
    Option<i64>,
);

fn channel_view(c: &ChannelState) -> ChannelView<'_> {
    (
        c.id.as_str(),
        c.label.as_deref(),
        c.paired_at_millis,
        c.created_at_millis,
        c.status,
        c.revoked_by.as_deref(),
        c.revoked_at_millis,
    )
}

fn routed_rows(tx: &ReadTx<'_>) -> Result<Vec<(i64, String)>> {
    let mut rows = Vec::new();
    outbox::routed_stamps(tx, events::PROGRAM_ASSIGNMENT, 0, |r| {
        rows.push((r.seq, r.channel.to_string()))
    })?;
    Ok(rows)
}

impl Live {
    /// Everything from scratch, in one read snapshot.
    pub(in crate::insights) fn load(tx: &ReadTx<'_>) -> Result<Live> {
        let seq = tx.change_seq()?;
        let mut seen = HashMap::new();
        let mut accs: HashMap<String, Acc> = HashMap::new();
        for item in tx.list::<InboxItem>()? {
            seen.insert(item.id, item_hash(&item.value));
            add(&mut accs, &item.value);
        }
        let mut live = Live {
            seq,
            seen,
            accs,
            channels: read_channels(tx)?,
            sent_rows: routed_rows(tx)?,
            sent: sent_assignments(tx, i64::MIN)?,
            ratings: read_ratings(tx)?,
            acks: read_acks(tx)?,
            patients: Arc::new(Vec::new()),
        };
        let all: BTreeSet<String> = live.channels.iter().map(|c| c.id.clone()).collect();
        live.publish(&all, &HashMap::new(), true);
        Ok(live)
    }

    /// The patients as of the last load or refresh.
    pub(in crate::insights) fn patients(&self) -> Arc<Vec<PatientRecord>> {
        self.patients.clone()
    }

    /// Brings the patients up to `tx`'s snapshot. On an error or
    /// [`Refreshed::Rebuild`] the state is half-updated: drop it.
    pub(in crate::insights) fn refresh(&mut self, tx: &ReadTx<'_>) -> Result<Refreshed> {
        let now = tx.change_seq()?;
        if now == self.seq {
            return Ok(Refreshed::Done);
        }
        if now < self.seq || tx.deleted_seq(InboxItem::KIND)? > self.seq {
            return Ok(Refreshed::Rebuild);
        }
        // Channels to finish from scratch, and channels that only gained
        // events (with how far their folded state was before).
        let mut dirty = BTreeSet::new();
        let mut grown: HashMap<String, Mark> = HashMap::new();
        for item in tx.list_changed_since::<InboxItem>(self.seq)? {
            let hash = item_hash(&item.value);
            match self.seen.get(&item.id) {
                // Only its flags moved.
                Some(old) if *old == hash => {}
                Some(_) => return Ok(Refreshed::Rebuild),
                None => {
                    self.seen.insert(item.id, hash);
                    let ch = &item.value.channel;
                    if !grown.contains_key(ch) {
                        let mark = self.accs.get(ch).map_or(Mark::EMPTY, Mark::of);
                        grown.insert(ch.clone(), mark);
                    }
                    // These change more than an appended point.
                    if matches!(
                        item.value.kind.as_str(),
                        events::CONSENT | events::PROGRAM_ASSIGNMENT
                    ) {
                        dirty.insert(ch.clone());
                    }
                    add(&mut self.accs, &item.value);
                }
            }
        }
        let mut reordered = false;
        if tx.kind_change_seq(ChannelState::KIND)? > self.seq {
            let channels = read_channels(tx)?;
            let old: HashMap<&str, _> = self
                .channels
                .iter()
                .map(|c| (c.id.as_str(), channel_view(c)))
                .collect();
            for c in &channels {
                if old.get(c.id.as_str()) != Some(&channel_view(c)) {
                    dirty.insert(c.id.clone());
                }
            }
            reordered = !channels
                .iter()
                .map(channel_view)
                .eq(self.channels.iter().map(channel_view));
            self.channels = channels;
        }
        if tx.kind_change_seq(RATING_KIND)? > self.seq
            || tx.kind_change_seq(Checkin::KIND)? > self.seq
        {
            let ratings = read_ratings(tx)?;
            differing(&self.ratings, &ratings, &mut dirty);
            self.ratings = ratings;
        }
        if tx.kind_change_seq(AlertAcknowledgement::KIND)? > self.seq {
            let acks = read_acks(tx)?;
            differing(&by_channel(&self.acks), &by_channel(&acks), &mut dirty);
            self.acks = acks;
        }
        let rows = routed_rows(tx)?;
        if rows != self.sent_rows {
            let appended = rows.starts_with(&self.sent_rows);
            let new = if appended {
                let after = self.sent_rows.last().map_or(i64::MIN, |r| r.0);
                sent_assignments(tx, after)?
            } else {
                // A row went away or was re-routed: read them all again.
                dirty.extend(self.sent.iter().map(|s| s.channel.clone()));
                self.sent.clear();
                sent_assignments(tx, i64::MIN)?
            };
            dirty.extend(new.iter().map(|s| s.channel.clone()));
            self.sent.extend(new);
            self.sent_rows = rows;
        }
        self.seq = now;
        self.publish(&dirty, &grown, reordered);
        Ok(Refreshed::Done)
    }

    /// Finishes the `dirty` channels again and adds their new events to
    /// the `grown` ones; `reordered`: the channel list changed, so the
    /// output is laid out again.
    fn publish(
        &mut self,
        dirty: &BTreeSet<String>,
        grown: &HashMap<String, Mark>,
        reordered: bool,
    ) {
        if dirty.is_empty() && grown.is_empty() && !reordered {
            return;
        }
        let Live {
            accs,
            channels,
            sent,
            ratings,
            acks,
            patients,
            ..
        } = self;
        let acks = ack_index(acks);
        let empty = Acc::default();
        let one = |c: &ChannelState| {
            finish(
                c,
                accs.get(&c.id).unwrap_or(&empty),
                own_sent(sent, &c.id),
                ratings.get(&c.id).map_or(&[], Vec::as_slice),
                &acks,
            )
        };
        // The record again: from scratch, or with the new events added.
        let update = |c: &ChannelState, p: &mut PatientRecord| {
            let appended = !dirty.contains(&c.id)
                && grown.get(&c.id).is_some_and(|mark| {
                    append(
                        p,
                        accs.get(&c.id).unwrap_or(&empty),
                        *mark,
                        own_sent(sent, &c.id),
                        &acks,
                    )
                });
            if !appended {
                *p = one(c);
            }
        };
        let touched = |c: &ChannelState| dirty.contains(&c.id) || grown.contains_key(&c.id);
        if reordered {
            // Keep the records of unchanged channels; lay out like `build`.
            let mut old: HashMap<String, PatientRecord> = std::mem::take(Arc::make_mut(patients))
                .into_iter()
                .map(|p| (p.channel_id.clone(), p))
                .collect();
            let mut out: Vec<PatientRecord> = channels
                .iter()
                .map(|c| match old.remove(&c.id) {
                    Some(mut p) => {
                        if touched(c) {
                            update(c, &mut p);
                        }
                        p
                    }
                    None => one(c),
                })
                .collect();
            order(&mut out, channels);
            *patients = Arc::new(out);
        } else {
            // Same channels in the same order: update in place (copies the
            // list only if a caller still holds the previous one).
            let at: HashMap<&str, &ChannelState> = channels
                .iter()
                .filter(|c| touched(c))
                .map(|c| (c.id.as_str(), c))
                .collect();
            if at.is_empty() {
                return;
            }
            for p in Arc::make_mut(patients).iter_mut() {
                if let Some(c) = at.get(p.channel_id.as_str()) {
                    update(c, p);
                }
            }
        }
    }
}

/// The assignments sent to one channel, in outbox order.
fn own_sent<'a>(sent: &'a [Sent], id: &'a str) -> impl Iterator<Item = (i64, &'a Value)> + 'a {
    sent.iter()
        .filter(move |s| s.channel == id)
        .map(|s| (s.at, &s.body))
}

fn add(accs: &mut HashMap<String, Acc>, item: &InboxItem) {
    match accs.get_mut(&item.channel) {
        Some(a) => a.add(item),
        None => accs.entry(item.channel.clone()).or_default().add(item),
    }
}

fn by_channel(acks: &[AlertAcknowledgement]) -> BTreeMap<String, Vec<&AlertAcknowledgement>> {
    let mut out: BTreeMap<String, Vec<&AlertAcknowledgement>> = BTreeMap::new();
    for a in acks {
        out.entry(a.channel.clone()).or_default().push(a);
    }
    out
}

/// Adds to `dirty` every channel whose entry differs between `old` and `new`.
fn differing<V: PartialEq>(
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
    dirty: &mut BTreeSet<String>,
) {
    for k in old.keys().chain(new.keys()) {
        if old.get(k) != new.get(k) {
            dirty.insert(k.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MemoryKeyProvider;
    use crate::insights::{load_patients, PatientsMemo};
    use crate::store::Store;
    use crate::sync::state::inbox_id;

    const T0: i64 = 1_780_000_000_000;

    fn store_with_channel(dir: &std::path::Path) -> (Store, String) {
        let store = Store::create(&dir.join("t.db"), &MemoryKeyProvider::new([4; 32])).unwrap();
        let id = format!("{:032x}", 7);
        let ch: ChannelState = serde_json::from_value(serde_json::json!({
            "id": id, "role": "therapist", "relay_url": "http://relay", "status": "active",
            "label": "P", "own_device": "d", "peer_device": "p", "send_chain": null,
            "recv_chain": null, "pending_join": null, "nameplate": null, "share_history": true,
            "settings": null, "hlc": 0, "created_at_millis": T0, "paired_at_millis": T0,
            "revoked_at_millis": null, "revoked_by": null,
        }))
        .unwrap();
        store.put(&id, &ch).unwrap();
        (store, id)
    }

    fn checkin(channel: &str, total: f64) -> InboxItem {
        let checkin = serde_json::json!({
            "id": "c1", "instrument": "phq9", "corrects": null, "submitted_at_millis": T0,
            "score": {"total": total, "subscales": {}},
        });
        InboxItem {
            channel: channel.into(),
            event_id: "checkin:c1".into(),
            kind: events::CHECKIN.into(),
            seq: 1,
            hlc: 1,
            at: T0,
            received_at: T0,
            body: serde_json::json!({"type": "checkin", "version": 1, "checkin": checkin}),
            read_at: None,
            applied: true,
            notify_at: None,
        }
    }

    #[test]
    fn a_rewritten_event_with_other_content_rebuilds() {
        let dir = tempfile::tempdir().unwrap();
        let (store, ch) = store_with_channel(dir.path());
        let iid = inbox_id(&ch, "checkin:c1");
        store.put(&iid, &checkin(&ch, 5.0)).unwrap();
        let memo = PatientsMemo::default();
        assert_eq!(
            memo.patients(&store).unwrap()[0].checkins[0].total,
            Some(5.0)
        );
        // Flags only: folded state kept.
        let mut read = checkin(&ch, 5.0);
        read.read_at = Some(T0);
        store.put(&iid, &read).unwrap();
        assert_eq!(
            *memo.patients(&store).unwrap(),
            load_patients(&store).unwrap()
        );
        assert_eq!(memo.full_loads(), 1);
        // Other content under the same id (sync never does it): rebuilt.
        store.put(&iid, &checkin(&ch, 9.0)).unwrap();
        let live = memo.patients(&store).unwrap();
        assert_eq!(live[0].checkins[0].total, Some(9.0));
        assert_eq!(*live, load_patients(&store).unwrap());
        assert_eq!(memo.full_loads(), 2);
    }

    #[test]
    fn a_forgotten_assignment_leaves_the_patient() {
        let dir = tempfile::tempdir().unwrap();
        let (store, ch) = store_with_channel(dir.path());
        let program = include_str!("../../../tests/data/programs/valid/minimal.json");
        crate::session::assign_program(&store, &ch, program, "2026-06-01").unwrap();
        let memo = PatientsMemo::default();
        assert_eq!(memo.patients(&store).unwrap()[0].program_weeks, Some(6));
        // A second assignment appends; then the channel's unsent rows go
        // (unpairing), which no append can explain.
        crate::session::assign_program(
            &store,
            &ch,
            &program.replace("1.0.0", "1.0.1"),
            "2026-06-08",
        )
        .unwrap();
        assert_eq!(
            *memo.patients(&store).unwrap(),
            load_patients(&store).unwrap()
        );
        store
            .write(|tx| crate::store::delivery::forget_channel(tx, &ch))
            .unwrap();
        let live = memo.patients(&store).unwrap();
        assert_eq!(live[0].program_weeks, None);
        assert_eq!(*live, load_patients(&store).unwrap());
        assert_eq!(memo.full_loads(), 1);
    }
}
