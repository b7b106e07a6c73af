//! Answers JSON for a shipped instrument, then scoring and risk rules.
//! Input: `instrument selector byte ‖ JSON`.
#![no_main]

use collabzium_core::instruments::{
    parse_json_answers, risk_hits, score, validate_answer, Answers, Registry,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let reg = Registry::shipped();
    let ids = reg.ids();
    let inst = reg.get(&ids[pick as usize % ids.len()]).expect("listed id");
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let Ok(parsed) = parse_json_answers(inst, &value) else {
        return;
    };
    let mut answers = Answers::new();
    for (link, v) in parsed {
        if let Some(v) = v {
            validate_answer(inst, &link, &v).expect("accepted answer validates");
            answers.insert(link, v);
        }
    }
    let s = score(inst, &answers);
    if let Some(t) = s.total {
        assert!(t.is_finite(), "non-finite total");
    }
    let _ = risk_hits(inst, &answers);
});
