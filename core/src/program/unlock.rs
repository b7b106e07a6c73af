//! Evaluating unlock rules for one enrolment, so the agenda and the
//! validator's docs agree on what each rule means.

use super::definition::UnlockRule;

/// What the caller knows about one enrolment at the moment of asking.
/// Every fact only ever grows (days pass, things get completed), so a rule
/// that holds keeps holding.
pub trait UnlockFacts {
    /// Whole local days since the enrolment date; 0 on that date.
    fn day(&self) -> u32;
    fn module_completed(&self, module_id: &str) -> bool;
    /// Whether any occurrence of this check-in schedule has been completed.
    fn checkin_completed(&self, schedule_id: &str) -> bool;
    /// Whether the therapist approved `module_id`; always false in unguided mode.
    fn therapist_approved(&self, module_id: &str) -> bool;
}

impl UnlockRule {
    /// Whether the rule of `module_id` holds today.
    pub fn holds(&self, module_id: &str, facts: &impl UnlockFacts) -> bool {
        self.earliest_day(module_id, facts)
            .is_some_and(|d| d <= facts.day())
    }

    /// First day on which the rule holds if only the date moves on; None when
    /// it also waits for a completion or an approval. Feeds "next unlock".
    pub fn earliest_day(&self, module_id: &str, facts: &impl UnlockFacts) -> Option<u32> {
        earliest(self, module_id, facts, false)
    }

    /// True when the rule does not hold yet but would today if the therapist
    /// approved: the agenda shows such a module as waiting for the therapist.
    pub fn waits_for_therapist(&self, module_id: &str, facts: &impl UnlockFacts) -> bool {
        !self.holds(module_id, facts)
            && earliest(self, module_id, facts, true).is_some_and(|d| d <= facts.day())
    }
}

fn earliest(
    rule: &UnlockRule,
    module_id: &str,
    facts: &impl UnlockFacts,
    assume_approval: bool,
) -> Option<u32> {
    let rec = |r: &UnlockRule| earliest(r, module_id, facts, assume_approval);
    match rule {
        UnlockRule::AtStart => Some(0),
        UnlockRule::DaysAfterStart(n) => Some(*n),
        UnlockRule::AfterModule(m) => facts.module_completed(m).then_some(0),
        UnlockRule::AfterCheckin(c) => facts.checkin_completed(c).then_some(0),
        UnlockRule::TherapistApproval => {
            (assume_approval || facts.therapist_approved(module_id)).then_some(0)
        }
        // Empty lists never hold; the validator rejects them anyway.
        UnlockRule::AllOf(rs) if rs.is_empty() => None,
        UnlockRule::AllOf(rs) => rs
            .iter()
            .map(rec)
            .collect::<Option<Vec<u32>>>()?
            .into_iter()
            .max(),
        UnlockRule::AnyOf(rs) => rs.iter().filter_map(rec).min(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[derive(Default)]
    struct Facts {
        day: u32,
        done: HashSet<&'static str>,
        checkins: HashSet<&'static str>,
        approved: HashSet<&'static str>,
    }

    impl UnlockFacts for Facts {
        fn day(&self) -> u32 {
            self.day
        }
        fn module_completed(&self, id: &str) -> bool {
            self.done.contains(id)
        }
        fn checkin_completed(&self, id: &str) -> bool {
            self.checkins.contains(id)
        }
        fn therapist_approved(&self, id: &str) -> bool {
            self.approved.contains(id)
        }
    }

    fn rule(json: &str) -> UnlockRule {
        crate::json::from_text(json).unwrap()
    }

    #[test]
    fn dates_and_completions() {
        let r = rule(r#"{"all_of": [{"after_module": "a"}, {"days_after_start": 7}]}"#);
        let mut f = Facts::default();
        assert!(!r.holds("b", &f));
        assert_eq!(r.earliest_day("b", &f), None);
        f.done.insert("a");
        assert_eq!(r.earliest_day("b", &f), Some(7));
        assert!(!r.holds("b", &f));
        f.day = 7;
        assert!(r.holds("b", &f));
    }

    #[test]
    fn therapist_gate_waits_then_opens() {
        let r = rule(r#"{"all_of": [{"after_module": "a"}, "therapist_approval"]}"#);
        let mut f = Facts::default();
        assert!(!r.waits_for_therapist("b", &f), "module a not done yet");
        f.done.insert("a");
        assert!(r.waits_for_therapist("b", &f));
        f.approved.insert("b");
        assert!(r.holds("b", &f));
        assert!(!r.waits_for_therapist("b", &f));
    }

    #[test]
    fn any_of_takes_the_earliest_branch() {
        let r = rule(
            r#"{"any_of": ["therapist_approval", {"days_after_start": 31}, {"after_checkin": "c"}]}"#,
        );
        let mut f = Facts {
            day: 3,
            ..Facts::default()
        };
        assert_eq!(r.earliest_day("m", &f), Some(31));
        assert!(r.waits_for_therapist("m", &f));
        f.checkins.insert("c");
        assert!(r.holds("m", &f));
        assert!(!rule(r#"{"all_of": []}"#).holds("m", &f));
        assert!(!rule(r#"{"any_of": []}"#).holds("m", &f));
    }
}
