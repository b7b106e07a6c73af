//! The research CSV a researcher loads back, and the analysis over it.
#![no_main]

use collabzium_core::research::{alliance_outcome, parse_csv, rows_to_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rows) = parse_csv(text) else {
        return;
    };
    // Parsed rows write back out and parse to the same rows.
    let csv = rows_to_csv(&rows).expect("parsed rows are writable");
    assert_eq!(parse_csv(&csv).expect("written CSV parses"), rows);
    for res in alliance_outcome(&rows) {
        let s = &res.subscales;
        for a in [&res.alliance, &s.goals, &s.tasks, &s.bond] {
            if let Some(r) = a.r() {
                assert!(
                    r.is_finite() && (-1.0..=1.0).contains(&r),
                    "r out of range: {r}"
                );
            }
        }
    }
});
