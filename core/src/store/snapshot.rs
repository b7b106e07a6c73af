//! A whole store as plaintext rows, for the encrypted backup (`backup/`,
//! ADR 0011), and the way back into a fresh store under its own keys.
//!
//! Taking a snapshot opens every sealed value; loading one seals them
//! again under the new store's keys and re-chains the audit log under its
//! audit key. SQL stays here; `backup/` only sees this plaintext form,
//! which it encrypts before it leaves memory.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::outbox::{self, Priority, OUTBOX_TABLE};
use super::records::{Damaged, RECORDS_TABLE};
use super::{audit_append, audit_entries, consent_aad, profile_aad, write_audit_head};
use super::{ReadTx, Store, HIDDEN_KINDS};
use crate::audit::{self, AuditEvent};
use crate::crypto::Aad;
use crate::error::{Error, Result};

/// Bytes as base64 in the snapshot's JSON, so bodies come back byte for byte.
mod b64 {
    use super::{Engine, STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s)
            .map_err(|_| serde::de::Error::custom("bad base64"))
    }
}

#[derive(Serialize, Deserialize)]
pub struct SnapProfile {
    pub updated_at: i64,
    #[serde(with = "b64")]
    pub body: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
pub struct SnapConsent {
    pub id: String,
    pub at: i64,
    #[serde(with = "b64")]
    pub body: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
pub struct SnapRecord {
    /// The real kind name (hidden kinds get the new store's label).
    pub kind: String,
    pub id: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(with = "b64")]
    pub body: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
pub struct SnapOutbox {
    pub seq: i64,
    pub kind: String,
    pub ref_id: String,
    pub high: bool,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    #[serde(with = "b64")]
    pub body: Vec<u8>,
}

/// A `sync_sent` row: the envelope is already end-to-end encrypted.
#[derive(Serialize, Deserialize)]
pub struct SnapSent {
    pub channel: String,
    pub seq: i64,
    pub outbox_seq: Option<i64>,
    pub event_id: String,
    #[serde(with = "b64")]
    pub envelope: Vec<u8>,
    pub sealed_at: i64,
    pub pushed_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
    pub resend_at: Option<i64>,
    pub resends: i64,
}

#[derive(Serialize, Deserialize)]
pub struct SnapAudit {
    pub seq: i64,
    pub at: i64,
    pub event: String,
    pub detail: String,
}

/// Everything a store holds except its keys.
#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    pub schema_version: i64,
    pub store_id: String,
    pub created_at: i64,
    pub taken_at: i64,
    pub profile: Option<SnapProfile>,
    pub consents: Vec<SnapConsent>,
    pub records: Vec<SnapRecord>,
    pub outbox: Vec<SnapOutbox>,
    /// `(outbox_seq, channel)`.
    pub sync_route: Vec<(i64, String)>,
    pub sync_sent: Vec<SnapSent>,
    pub audit: Vec<SnapAudit>,
    /// `ok`, or the code of the source chain's verification failure.
    pub audit_chain: String,
    /// Values that did not open in the source store: named, not carried.
    pub damaged: Vec<SnapDamaged>,
}

#[derive(Serialize, Deserialize)]
pub struct SnapDamaged {
    pub table: String,
    pub kind: String,
    pub id: String,
}

impl From<Damaged> for SnapDamaged {
    fn from(d: Damaged) -> Self {
        SnapDamaged {
            table: d.table,
            kind: d.kind,
            id: d.id,
        }
    }
}

/// What `load` put into the new store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadCounts {
    pub records: u64,
    pub consents: u64,
    pub outbox: u64,
    pub audit_entries: u64,
}

fn profile_row(tx: &ReadTx<'_>) -> Result<Option<(i64, Vec<u8>)>> {
    use rusqlite::OptionalExtension;
    Ok(tx
        .connection()
        .query_row(
            "SELECT updated_at, body FROM profile WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Reads the whole store on one snapshot. Damaged values are listed.
pub fn take(store: &Store) -> Result<Snapshot> {
    let verification = store.verify_audit()?;
    let mut snap = store.read(|tx| {
        let mut damaged: Vec<SnapDamaged> = Vec::new();
        let profile = match profile_row(tx)? {
            Some((at, sealed)) => match tx.open(profile_aad(), &sealed) {
                Ok(body) => Some(SnapProfile {
                    updated_at: at,
                    body,
                }),
                Err(_) => {
                    damaged.extend(super::profile_damaged(tx)?.map(SnapDamaged::from));
                    None
                }
            },
            None => None,
        };
        let mut consents = Vec::new();
        {
            let mut st = tx
                .connection()
                .prepare("SELECT id, at, body FROM consents ORDER BY at, rowid")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let at: i64 = r.get(1)?;
                let sealed: Vec<u8> = r.get(2)?;
                match tx.open(consent_aad(&id), &sealed) {
                    Ok(body) => consents.push(SnapConsent { id, at, body }),
                    Err(_) => damaged.push(SnapDamaged {
                        table: "consents".into(),
                        kind: "consent".into(),
                        id,
                    }),
                }
            }
        }
        let (raws, bad) = tx.all_raw_lenient()?;
        damaged.extend(bad.into_iter().map(SnapDamaged::from));
        let records = raws
            .into_iter()
            .map(|r| SnapRecord {
                kind: r.kind,
                id: r.id,
                created_at: r.created_at_millis,
                updated_at: r.updated_at_millis,
                body: r.body,
            })
            .collect();
        let (entries, bad) = outbox::all_lenient(tx)?;
        damaged.extend(bad.into_iter().map(SnapDamaged::from));
        let outbox = entries
            .into_iter()
            .map(|e| SnapOutbox {
                seq: e.seq,
                high: e.priority == Priority::High,
                kind: e.kind,
                ref_id: e.ref_id,
                created_at: e.created_at_millis,
                sent_at: e.sent_at_millis,
                body: e.body,
            })
            .collect();
        let c = tx.connection();
        let sync_route = c
            .prepare("SELECT outbox_seq, channel FROM sync_route ORDER BY outbox_seq")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let sync_sent = c
            .prepare(
                "SELECT channel, seq, outbox_seq, event_id, envelope, sealed_at, pushed_at,
                        delivered_at, read_at, resend_at, resends
                 FROM sync_sent ORDER BY channel, seq",
            )?
            .query_map([], |r| {
                Ok(SnapSent {
                    channel: r.get(0)?,
                    seq: r.get(1)?,
                    outbox_seq: r.get(2)?,
                    event_id: r.get(3)?,
                    envelope: r.get(4)?,
                    sealed_at: r.get(5)?,
                    pushed_at: r.get(6)?,
                    delivered_at: r.get(7)?,
                    read_at: r.get(8)?,
                    resend_at: r.get(9)?,
                    resends: r.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let audit = audit_entries(tx)?
            .into_iter()
            .map(|e| SnapAudit {
                seq: e.seq,
                at: e.at_millis,
                event: e.event,
                detail: e.detail,
            })
            .collect();
        Ok(Snapshot {
            schema_version: c.pragma_query_value(None, "user_version", |r| r.get(0))?,
            store_id: store.store_id().to_string(),
            created_at: store.inner.created_at,
            taken_at: store.now_millis(),
            profile,
            consents,
            records,
            outbox,
            sync_route,
            sync_sent,
            audit,
            audit_chain: String::new(),
            damaged,
        })
    })?;
    snap.audit_chain = verification.code.unwrap_or("ok").to_string();
    Ok(snap)
}

fn check_shape(snap: &Snapshot) -> Result<()> {
    // The audit log is re-chained from seq 1: it must be gapless.
    for (i, e) in snap.audit.iter().enumerate() {
        if e.seq != i as i64 + 1 {
            return Err(Error::corrupt("backup", "audit entries out of order"));
        }
    }
    Ok(())
}

/// Fills `store`, which must be new (only its creation in the audit log),
/// from `snap` in one transaction: every value sealed under the new keys,
/// the audit log re-chained under the new audit key, then `restored`
/// appended with `restored_detail`.
pub fn load(store: &Store, snap: &Snapshot, restored_detail: &str) -> Result<LoadCounts> {
    check_shape(snap)?;
    if snap.schema_version > super::schema::LATEST_VERSION {
        return Err(Error::UnsupportedVersion {
            found: snap.schema_version,
            supported: super::schema::LATEST_VERSION,
        });
    }
    store.write_durable(|tx| {
        let c = tx.connection();
        let used: i64 = c.query_row(
            "SELECT (SELECT count(*) FROM records) + (SELECT count(*) FROM consents)
                  + (SELECT count(*) FROM profile) + (SELECT count(*) FROM outbox)",
            [],
            |r| r.get(0),
        )?;
        if used > 0 {
            return Err(Error::AlreadyExists {
                what: "data in the target store".into(),
            });
        }
        if let Some(p) = &snap.profile {
            let sealed = tx.seal(profile_aad(), &p.body)?;
            c.execute(
                "INSERT INTO profile (id, updated_at, body) VALUES (1, ?1, ?2)",
                params![p.updated_at, sealed],
            )?;
        }
        for k in &snap.consents {
            crate::domain::check_token("consent id", &k.id, 64)?;
            let sealed = tx.seal(consent_aad(&k.id), &k.body)?;
            c.execute(
                "INSERT INTO consents (id, at, body) VALUES (?1, ?2, ?3)",
                params![k.id, k.at, sealed],
            )?;
        }
        {
            let mut st = c.prepare(
                // Stamped with this transaction's change sequence, like any write.
                "INSERT INTO records (kind, id, created_at, updated_at, body, change_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for r in &snap.records {
                crate::domain::check_token("record kind", &r.kind, 32)?;
                crate::domain::check_token("record id", &r.id, 64)?;
                let sealed = tx.seal(
                    Aad {
                        table: RECORDS_TABLE,
                        kind: &r.kind,
                        id: &r.id,
                    },
                    &r.body,
                )?;
                st.execute(params![
                    tx.kind_label(&r.kind),
                    r.id,
                    r.created_at,
                    r.updated_at,
                    sealed,
                    tx.change_seq()
                ])?;
            }
        }
        {
            let mut st = c.prepare(
                "INSERT INTO outbox (seq, kind, ref_id, priority, created_at, body, sent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for o in &snap.outbox {
                crate::domain::check_token("outbox kind", &o.kind, 32)?;
                crate::domain::check_token("outbox ref_id", &o.ref_id, 64)?;
                let hidden = HIDDEN_KINDS.contains(&o.kind.as_str());
                let sealed = tx.seal(
                    Aad {
                        table: OUTBOX_TABLE,
                        kind: &o.kind,
                        id: &o.ref_id,
                    },
                    &o.body,
                )?;
                st.execute(params![
                    o.seq,
                    tx.kind_label(&o.kind),
                    o.ref_id,
                    i64::from(o.high && !hidden),
                    o.created_at,
                    sealed,
                    o.sent_at
                ])?;
            }
        }
        for (seq, channel) in &snap.sync_route {
            c.execute(
                "INSERT INTO sync_route (outbox_seq, channel) VALUES (?1, ?2)",
                params![seq, channel],
            )?;
        }
        {
            let mut st = c.prepare(
                "INSERT INTO sync_sent (channel, seq, outbox_seq, event_id, envelope, sealed_at,
                     pushed_at, delivered_at, read_at, resend_at, resends)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for s in &snap.sync_sent {
                st.execute(params![
                    s.channel,
                    s.seq,
                    s.outbox_seq,
                    s.event_id,
                    s.envelope,
                    s.sealed_at,
                    s.pushed_at,
                    s.delivered_at,
                    s.read_at,
                    s.resend_at,
                    s.resends
                ])?;
            }
        }
        // The old chain, entry for entry, under the new audit key; the new
        // store's own `store_created` gives way to the `restored` entry.
        c.execute("DELETE FROM audit_log", [])?;
        let mut prev = audit::GENESIS.to_vec();
        {
            let mut st = c.prepare(
                "INSERT INTO audit_log (seq, at, event, detail, mac) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for e in &snap.audit {
                let mac = audit::chain_mac(&tx.keys.audit, &prev, e.seq, e.at, &e.event, &e.detail);
                st.execute(params![e.seq, e.at, e.event, e.detail, mac])?;
                prev = mac;
            }
        }
        write_audit_head(c, tx.keys, snap.audit.len() as i64, &prev)?;
        audit_append(
            c,
            tx.keys,
            tx.now_millis(),
            AuditEvent::Restored,
            restored_detail,
        )?;
        Ok(LoadCounts {
            records: snap.records.len() as u64,
            consents: snap.consents.len() as u64,
            outbox: snap.outbox.len() as u64,
            audit_entries: snap.audit.len() as u64,
        })
    })
}
