//! Shared fixtures for the store integration tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]
#![allow(dead_code)]

use collabzium_core::crypto::MemoryKeyProvider;
use collabzium_core::domain::{Profile, TreatmentMode};
use collabzium_core::store::{Record, Store};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A fixed KEK, so child processes can reopen a parent's store cheaply.
pub fn provider() -> MemoryKeyProvider {
    MemoryKeyProvider::new([0x5a; 32])
}

pub fn other_provider() -> MemoryKeyProvider {
    MemoryKeyProvider::new([0xa5; 32])
}

pub fn profile(name: &str) -> Profile {
    Profile {
        display_name: name.to_string(),
        time_zone: "Europe/Berlin".into(),
        locale: "en-GB".into(),
        mode: TreatmentMode::Guided,
        country: None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
}
impl Record for Note {
    const KIND: &'static str = "note";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub item: String,
    pub value: i64,
    pub comment: String,
}
impl Record for Answer {
    const KIND: &'static str = "answer";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub body: String,
}
impl Record for Message {
    const KIND: &'static str = "message";
}

pub fn temp_store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("patient.db")
}

pub fn new_store(path: &Path) -> Store {
    Store::create(path, &provider()).expect("create store")
}

pub fn sha256_file(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read file");
    ring::digest::digest(&ring::digest::SHA256, &bytes)
        .as_ref()
        .to_vec()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
