//! FHIR R4 export: a `collection` Bundle with one Questionnaire per
//! instrument used, one QuestionnaireResponse per check-in and an
//! Observation per score (LOINC-coded where a code exists).

use std::collections::BTreeMap;

use chrono::{FixedOffset, TimeZone, Utc};
use ring::digest;
use serde_json::{json, Value};

use super::{Checkin, Checkins};
use crate::error::Result;
use crate::instruments::{AnswerValue, Coding, Instrument, ItemType};

/// Canonical base of Collabzium's own FHIR artefacts.
pub const CANONICAL_BASE: &str = "https://collabzium.org/fhir";
const ORDINAL_EXT: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";

/// Deterministic urn:uuid for a resource, so re-exports are stable.
fn urn(kind: &str, id: &str) -> String {
    let d = digest::digest(
        &digest::SHA256,
        format!("collabzium:{kind}:{id}").as_bytes(),
    );
    let b = d.as_ref();
    let mut u = [0u8; 16];
    u.copy_from_slice(&b[..16]);
    u[6] = (u[6] & 0x0f) | 0x50; // name-based
    u[8] = (u[8] & 0x3f) | 0x80;
    let h: String = u.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// FHIR ids allow `[A-Za-z0-9\-\.]{1,64}`; our ids may hold `_`.
fn fhir_id(s: &str) -> String {
    s.replace('_', "-")
}

fn coding(c: &Coding) -> Value {
    let mut v = json!({ "system": c.system, "code": c.code });
    if let Some(d) = &c.display {
        v["display"] = json!(d);
    }
    v
}

fn questionnaire_url(inst: &Instrument) -> String {
    format!("{CANONICAL_BASE}/Questionnaire/{}", fhir_id(&inst.id))
}

fn option_coding(
    inst: &Instrument,
    answer_set: &str,
    o: &crate::instruments::AnswerOption,
) -> Value {
    match &o.code {
        Some(c) => json!({ "system": c.system, "code": c.code, "display": o.text }),
        None => json!({
            "system": format!("{CANONICAL_BASE}/CodeSystem/{}-{}", fhir_id(&inst.id), fhir_id(answer_set)),
            "code": o.value.to_string(),
            "display": o.text,
        }),
    }
}

fn answer_set_name(item: &crate::instruments::Item) -> String {
    item.answer_set
        .clone()
        .unwrap_or_else(|| item.link_id.clone())
}

fn questionnaire(inst: &Instrument) -> Value {
    let items: Vec<Value> = inst
        .items
        .iter()
        .map(|item| {
            let mut q = json!({
                "linkId": item.link_id,
                "text": item.text,
                "type": match item.item_type { ItemType::Choice => "choice", ItemType::Integer => "integer", ItemType::Text => "text" },
                "required": item.required,
            });
            if let Some(c) = &item.code {
                q["code"] = json!([coding(c)]);
            }
            if item.item_type == ItemType::Choice {
                let set = answer_set_name(item);
                q["answerOption"] = inst
                    .options(item)
                    .iter()
                    .map(|o| {
                        json!({
                            "extension": [{ "url": ORDINAL_EXT, "valueDecimal": o.value }],
                            "valueCoding": option_coding(inst, &set, o),
                        })
                    })
                    .collect();
            }
            if let Some(max) = item.max_length {
                q["maxLength"] = json!(max);
            }
            q
        })
        .collect();
    let mut q = json!({
        "resourceType": "Questionnaire",
        "id": fhir_id(&inst.id),
        "url": questionnaire_url(inst),
        "version": inst.version,
        "name": inst.id.replace(['_', '-', '.'], ""),
        "title": inst.title,
        "status": "active",
        "subjectType": ["Patient"],
        "language": inst.language,
        "item": items,
    });
    if let Some(c) = &inst.code {
        q["code"] = json!([coding(c)]);
    }
    if let Some(notice) = &inst.licence.notice {
        q["copyright"] = json!(notice);
    }
    if let Some(p) = &inst.preamble {
        q["description"] = json!(p);
    }
    q
}

#[allow(clippy::expect_used, reason = "a zero offset is always valid")]
fn authored(c: &Checkin) -> String {
    let offset = FixedOffset::east_opt(c.utc_offset_seconds)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    match Utc.timestamp_millis_opt(c.submitted_at_millis).single() {
        Some(t) => t
            .with_timezone(&offset)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        None => "1970-01-01T00:00:00+00:00".into(),
    }
}

fn response(inst: &Instrument, c: &Checkin) -> Value {
    let items: Vec<Value> = inst
        .items
        .iter()
        .filter_map(|item| {
            let a = c.answers.get(&item.link_id)?;
            let answer = match (item.item_type, a) {
                (ItemType::Choice, AnswerValue::Integer(v)) => {
                    let o = inst.options(item).iter().find(|o| o.value == *v)?;
                    json!({ "valueCoding": option_coding(inst, &answer_set_name(item), o) })
                }
                (ItemType::Integer, AnswerValue::Integer(v)) => json!({ "valueInteger": v }),
                (ItemType::Text, AnswerValue::Text(t)) => json!({ "valueString": t }),
                _ => return None,
            };
            Some(json!({ "linkId": item.link_id, "text": item.text, "answer": [answer] }))
        })
        .collect();
    let mut r = json!({
        "resourceType": "QuestionnaireResponse",
        "id": c.id,
        "questionnaire": format!("{}|{}", questionnaire_url(inst), c.instrument_version),
        "status": "completed",
        "authored": authored(c),
        "item": items,
    });
    if let Some(old) = &c.corrects {
        // A correction replaces the earlier response.
        r["extension"] = json!([{
            "url": format!("{CANONICAL_BASE}/StructureDefinition/corrects"),
            "valueReference": { "reference": urn("QuestionnaireResponse", old) },
        }]);
    }
    r
}

fn observation(c: &Checkin, obs_id: &str, code: Value, value: f64, derived_from: &str) -> Value {
    let quantity = if value.fract() == 0.0 {
        json!({ "value": value as i64, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}" })
    } else {
        json!({ "value": value, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}" })
    };
    json!({
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "category": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey", "display": "Survey",
        }]}],
        "code": code,
        "effectiveDateTime": authored(c),
        "valueQuantity": quantity,
        "derivedFrom": [{ "reference": derived_from }],
    })
}

fn score_code(inst: &Instrument, c: Option<&Coding>, fallback: &str, text: &str) -> Value {
    match c {
        Some(c) => json!({ "coding": [coding(c)], "text": text }),
        None => json!({
            "coding": [{ "system": format!("{CANONICAL_BASE}/CodeSystem/scores"), "code": format!("{}-{fallback}", fhir_id(&inst.id)) }],
            "text": text,
        }),
    }
}

/// Builds the Bundle from every submitted check-in (corrections included;
/// each links to what it corrects). Damaged check-ins are left out; see
/// [`bundle_lenient`] for their names.
pub fn bundle(svc: &Checkins, generated_at_millis: i64) -> Result<Value> {
    Ok(bundle_lenient(svc, generated_at_millis)?.0)
}

/// [`bundle`] plus the check-ins that failed to open (kind, id, time): a
/// FHIR Bundle has no place for them, so the caller reports them.
pub fn bundle_lenient(
    svc: &Checkins,
    generated_at_millis: i64,
) -> Result<(Value, Vec<crate::store::Damaged>)> {
    let (checkins, damaged) = svc.checkins_lenient()?;
    let mut used: BTreeMap<String, &Instrument> = BTreeMap::new();
    for c in &checkins {
        let inst = svc.registry().require(&c.instrument)?;
        used.insert(inst.id.clone(), inst);
    }
    let mut entries = Vec::new();
    for inst in used.values() {
        entries.push(
            json!({ "fullUrl": urn("Questionnaire", &inst.id), "resource": questionnaire(inst) }),
        );
    }
    for c in &checkins {
        let inst = used[&c.instrument];
        let qr_urn = urn("QuestionnaireResponse", &c.id);
        entries.push(json!({ "fullUrl": qr_urn, "resource": response(inst, c) }));
        if let Some(total) = c.score.total {
            let id = format!("{}-total", c.id);
            let code = score_code(
                inst,
                inst.scoring.total.code.as_ref(),
                "total",
                &format!("{} total score", inst.title),
            );
            let mut o = observation(c, &id, code, total, &qr_urn);
            if let Some(label) = &c.score.severity_label {
                o["interpretation"] = json!([{ "text": label }]);
            }
            entries.push(json!({ "fullUrl": urn("Observation", &id), "resource": o }));
        }
        for sub in &inst.scoring.subscales {
            if let Some(Some(v)) = c.score.subscales.get(&sub.id) {
                let id = format!("{}-{}", c.id, fhir_id(&sub.id));
                let code = score_code(
                    inst,
                    sub.code.as_ref(),
                    &sub.id,
                    &format!("{}: {}", inst.title, sub.title),
                );
                let o = observation(c, &id, code, *v, &qr_urn);
                entries.push(json!({ "fullUrl": urn("Observation", &id), "resource": o }));
            }
        }
    }
    let ts = Utc
        .timestamp_millis_opt(generated_at_millis)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let bundle = json!({
        "resourceType": "Bundle",
        "id": urn("Bundle", svc.store().store_id()).trim_start_matches("urn:uuid:"),
        "type": "collection",
        "timestamp": ts,
        "entry": entries,
    });
    Ok((bundle, damaged))
}
