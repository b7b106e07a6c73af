pub mod agenda;
pub mod backup;
pub mod checkin;
pub mod consent;
pub mod demo;
pub mod departed;
pub mod export;
pub mod instrument;
pub mod profile;
pub mod push;
pub mod relay;
pub mod research;
pub mod schedule;
pub mod store;
pub mod sync;
pub mod workstation;

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

/// Largest program file, instrument definition or answers file the CLI reads.
pub const MAX_DEFINITION_BYTES: u64 = 8 * 1024 * 1024;
/// Largest research CSV the CLI reads.
pub const MAX_CSV_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a UTF-8 text file of at most `limit` bytes. Reads through
/// `take(limit + 1)`, so an endless source such as `/dev/zero` fails fast
/// instead of exhausting memory. `what` names the file in errors.
pub fn read_text_limited(path: &Path, limit: u64, what: &str) -> Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound { what: what.into() },
        _ => Error::from(e),
    })?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Error::invalid(
            what,
            format!("larger than the limit of {} MiB", limit / (1024 * 1024)),
        ));
    }
    String::from_utf8(bytes).map_err(|_| Error::invalid(what, "not UTF-8 text"))
}

/// Creates a directory (and missing parents) that only its owner may enter.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    Ok(())
}

/// Refuses an export path that already exists (a dangling symlink too),
/// unless `force`: `already_exists`, so nothing is silently replaced.
pub fn check_export_target(path: &Path, force: bool) -> Result<()> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(Error::AlreadyExists {
            what: "output file (pass --force to replace it)".into(),
        });
    }
    Ok(())
}

/// Writes an export (plaintext health data): refuses an existing `path`
/// unless `force`, and always writes through [`write_private`].
pub fn write_export(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    check_export_target(path, force)?;
    write_private_inner(path, bytes, !force)
}

/// Writes `bytes` to `path` owner-only (0600 on Unix): into a new temporary
/// file in the same directory, then renamed over `path`. An existing file's
/// looser mode is never kept, and a symlink at `path` is replaced, never
/// followed.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_private_inner(path, bytes, false)
}

fn write_private_inner(path: &Path, bytes: &[u8], must_be_new: bool) -> Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid("out", "not a file path"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp-{}",
        &collabzium_core::crypto::random_id()[..12]
    ));
    let tmp = dir.join(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    // create_new: never opens an existing file or follows a planted symlink.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| -> Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        if must_be_new {
            // A hard link fails if `path` appeared since the check: no race.
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => {
                    std::fs::remove_file(&tmp)?;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::AlreadyExists {
                        what: "output file (pass --force to replace it)".into(),
                    });
                }
                // Filesystems without hard links: the check above stands.
                Err(_) => {}
            }
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
