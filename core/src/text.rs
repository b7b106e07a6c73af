//! Display text from files we did not write (programs, instruments):
//! control characters and bidirectional overrides are refused, because
//! they can hide or reorder what a patient or therapist sees (a title that
//! reads differently from its bytes, a terminal bell, a truncating NUL).

/// Whether a text may span lines: prose keeps newline and tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Titles, labels, names: one line.
    Line,
    /// Page bodies, instructions, descriptions: newline and tab allowed.
    Prose,
}

/// Why `text` is refused, naming the first offending character by code
/// point and position (never the text itself), or `None` if it is fine.
pub fn refused_char(text: &str, kind: TextKind) -> Option<String> {
    for (pos, c) in text.chars().enumerate() {
        let prose_ok = kind == TextKind::Prose && (c == '\n' || c == '\t');
        let what = if c.is_control() && !prose_ok {
            // C0, DEL and C1.
            "a control character"
        } else if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            "a bidirectional override"
        } else {
            continue;
        };
        return Some(format!(
            "contains {what} (U+{:04X}) at character {}",
            c as u32,
            pos + 1
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_controls_and_bidi_overrides() {
        for bad in [
            "A\u{0}B",
            "A\u{7}B",
            "A\u{1b}[2JB",
            "A\u{7f}",
            "A\u{85}",
            "A\u{9b}",
            "A\u{202A}",
            "A\u{202E}B",
            "A\u{2066}",
            "A\u{2069}",
            "A\rB",
        ] {
            assert!(refused_char(bad, TextKind::Prose).is_some(), "{bad:?}");
            assert!(refused_char(bad, TextKind::Line).is_some(), "{bad:?}");
        }
        let msg = refused_char("Title\u{202E}txt.exe", TextKind::Line).unwrap();
        assert_eq!(
            msg,
            "contains a bidirectional override (U+202E) at character 6"
        );
    }

    #[test]
    fn prose_keeps_newline_and_tab_lines_do_not() {
        assert_eq!(refused_char("one\n\ttwo", TextKind::Prose), None);
        assert!(refused_char("one\ntwo", TextKind::Line).is_some());
        assert!(refused_char("one\ttwo", TextKind::Line).is_some());
        // Ordinary non-Latin text and marks are fine.
        assert_eq!(
            refused_char("שלום — مرحبا \u{200F}ok ü", TextKind::Line),
            None
        );
    }
}
