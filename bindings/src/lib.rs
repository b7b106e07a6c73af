//! UniFFI surface of the Collabzium core. Thin wrappers only: logic lives in `collabzium-core`.
uniffi::setup_scaffolding!();

/// Version of the core library.
#[uniffi::export]
pub fn core_version() -> String {
    collabzium_core::version().to_string()
}
