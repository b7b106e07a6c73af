//! One JSON reader for the whole library.
//!
//! `serde_json::from_str` and `from_slice` read through different types, so every
//! type parsed both ways had its whole deserializer stamped out twice (about
//! 0.1 MB of the shipped library: docs/benchmarks.md, "Library size"). Text is
//! read here as its bytes, through the same reader the store and the wire use;
//! the result and the error positions are the same.

use serde::de::DeserializeOwned;

/// Parses JSON text, like `serde_json::from_str`.
pub(crate) fn from_text<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    serde_json::from_slice(text.as_bytes())
}
