pub mod agenda;
pub mod checkin;
pub mod consent;
pub mod demo;
pub mod export;
pub mod instrument;
pub mod profile;
pub mod relay;
pub mod research;
pub mod schedule;
pub mod store;
pub mod sync;

use std::path::Path;

use collabzium_core::store::Store;
use collabzium_core::{Error, Result};

pub fn require_store(path: Option<&Path>) -> Result<&Path> {
    path.ok_or_else(|| Error::invalid("store", "pass --store PATH or set COLLABZIUM_STORE"))
}

/// Opens the store named by `--store` with the passphrase from the environment or a prompt.
pub fn open_store(path: Option<&Path>) -> Result<Store> {
    let path = require_store(path)?;
    Store::open(path, &crate::passphrase::current()?)
}

/// Exports are plaintext: create them readable by the owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
