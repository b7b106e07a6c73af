//! Maps byte offsets in a JSON text to paths like `modules[3].unlock`.
//!
//! serde_json reports only a line and column; this index turns that position
//! into the path an author can search for. It runs on text that already
//! parsed as JSON, so it does not report syntax errors itself.

use std::collections::{HashMap, HashSet};

#[derive(Debug)]
struct Entry {
    start: usize,
    /// Inclusive.
    end: usize,
    path: String,
}

#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    entries: Vec<Entry>,
    /// Path to the value's entry (keys share the path of their value).
    by_path: HashMap<String, usize>,
    /// Paths of keys that repeat an earlier key in the same object.
    pub duplicates: Vec<String>,
}

impl PathIndex {
    pub fn build(text: &str) -> PathIndex {
        let mut s = Scanner {
            b: text.as_bytes(),
            i: 0,
            index: PathIndex::default(),
        };
        s.value(String::new());
        s.index
    }

    /// Innermost value (or key) whose span holds `offset`.
    pub fn path_at(&self, offset: usize) -> Option<&str> {
        self.entries
            .iter()
            .filter(|e| e.start <= offset && offset <= e.end)
            .min_by_key(|e| e.end - e.start)
            .map(|e| e.path.as_str())
    }

    /// Byte span (start, inclusive end) of the value at `path`.
    pub fn span(&self, path: &str) -> Option<(usize, usize)> {
        self.by_path
            .get(path)
            .map(|&i| (self.entries[i].start, self.entries[i].end))
    }
}

/// Appends an object key to a path, quoting keys that are not plain words.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    match (plain, parent.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{parent}.{key}"),
        (false, _) => format!("{parent}[{}]", serde_json::Value::from(key)),
    }
}

pub(crate) fn join_index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

/// Byte offset of serde_json's (1-based line, column of last byte read).
pub(crate) fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(p, _)| p + 1)
    };
    (line_start + column.saturating_sub(1)).min(text.len().saturating_sub(1))
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    index: PathIndex,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn push(&mut self, start: usize, end: usize, path: String, value: bool) {
        let end = end.max(start);
        if value {
            self.index
                .by_path
                .insert(path.clone(), self.index.entries.len());
        }
        self.index.entries.push(Entry { start, end, path });
    }

    /// Scans one value; returns false at the end of input.
    fn value(&mut self, path: String) -> bool {
        self.ws();
        let Some(&c) = self.b.get(self.i) else {
            return false;
        };
        let start = self.i;
        match c {
            b'{' => {
                self.i += 1;
                let mut seen = HashSet::new();
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b'}') => break,
                        Some(b',') => {
                            self.i += 1;
                            continue;
                        }
                        Some(b'"') => {}
                        _ => return false,
                    }
                    let kstart = self.i;
                    self.string();
                    let raw = std::str::from_utf8(&self.b[kstart..self.i]).unwrap_or("\"\"");
                    let key: String = crate::json::from_text(raw).unwrap_or_default();
                    let child = join_key(&path, &key);
                    if !seen.insert(key) {
                        self.index.duplicates.push(child.clone());
                    }
                    self.push(kstart, self.i - 1, child.clone(), false);
                    self.ws();
                    if self.b.get(self.i) == Some(&b':') {
                        self.i += 1;
                    }
                    if !self.value(child) {
                        return false;
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut n = 0;
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b']') => break,
                        Some(b',') => {
                            self.i += 1;
                            continue;
                        }
                        None => return false,
                        _ => {}
                    }
                    if !self.value(join_index(&path, n)) {
                        return false;
                    }
                    n += 1;
                }
            }
            b'"' => {
                self.string();
                self.push(start, self.i - 1, path, true);
                return true;
            }
            _ => {
                while self.i < self.b.len()
                    && !matches!(self.b[self.i], b',' | b']' | b'}')
                    && !self.b[self.i].is_ascii_whitespace()
                {
                    self.i += 1;
                }
                self.push(start, self.i - 1, path, true);
                return true;
            }
        }
        // Closing bracket of an object or array.
        self.push(start, self.i, path, true);
        self.i += 1;
        true
    }

    /// Consumes a string literal including both quotes.
    fn string(&mut self) {
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return;
                }
                _ => self.i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_innermost_paths() {
        let t = r#"{"a": [1, {"b": "x", "c d": true}], "e": {}}"#;
        let ix = PathIndex::build(t);
        assert_eq!(ix.path_at(t.find("\"x\"").unwrap()), Some("a[1].b"));
        assert_eq!(ix.path_at(t.find("true").unwrap()), Some("a[1][\"c d\"]"));
        assert_eq!(ix.path_at(t.find('1').unwrap()), Some("a[0]"));
        assert_eq!(ix.path_at(0), Some(""));
        let (s, e) = ix.span("e").unwrap();
        assert_eq!(&t[s..=e], "{}");
    }

    #[test]
    fn records_duplicate_keys() {
        let ix = PathIndex::build(r#"{"a": 1, "b": {"c": 1, "c": 2}, "a": 3}"#);
        assert_eq!(ix.duplicates, vec!["b.c".to_string(), "a".to_string()]);
    }

    #[test]
    fn line_and_column() {
        let t = "{\n  \"é\": 1\n}";
        assert_eq!(line_col(t, t.find('1').unwrap()), (2, 8));
        assert_eq!(offset_of(t, 2, 3), 4);
    }
}
