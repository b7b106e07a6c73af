//! Issue 15 case 5: a store and every file SQLite or we put beside it are
//! readable by their owner only, whatever the process umask allows.
#![cfg(unix)]

#[path = "../../../core/tests/common/mod.rs"]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use collabzium_core::store::{sidecar, Store};
use common::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A permissive umask, so that nothing passes only because of the
/// environment's own umask.
fn permissive_umask() {
    // SAFETY: umask only swaps the process's file-creation mask.
    unsafe {
        libc::umask(0o002);
    }
}

#[test]
fn store_and_sidecars_are_owner_only_after_use_and_checkpoint() {
    permissive_umask();
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    let store = new_store(&path);
    store.set_profile(&profile("Robin")).unwrap();
    for i in 0..20 {
        store
            .insert(&Note {
                text: format!("note {i}"),
            })
            .unwrap();
    }
    for suffix in ["", "-wal", "-shm"] {
        let p = sidecar(&path, suffix);
        assert!(p.exists(), "{suffix} should exist while the store is open");
        assert_eq!(mode(&p), 0o600, "mode of {}", p.display());
    }
    store.checkpoint().unwrap();
    store
        .insert(&Note {
            text: "after".into(),
        })
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(
            mode(&sidecar(&path, suffix)),
            0o600,
            "{suffix} after checkpoint"
        );
    }
    store.close();
    drop(store);

    // A failed unlock leaves its sidecar, also owner-only.
    assert!(Store::open(&path, &other_provider()).is_err());
    let failures = sidecar(&path, "-unlock-failures");
    assert!(failures.exists());
    assert_eq!(mode(&failures), 0o600);

    // Reopening recreates the WAL and shared-memory files with the same mode.
    let store = Store::open(&path, &provider()).unwrap();
    store
        .insert(&Note {
            text: "again".into(),
        })
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(
            mode(&sidecar(&path, suffix)),
            0o600,
            "{suffix} after reopen"
        );
    }
    // Nothing else in the directory is readable by others.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[test]
fn opening_an_old_world_readable_store_tightens_it() {
    permissive_umask();
    let dir = tempfile::tempdir().unwrap();
    let path = temp_store_path(&dir);
    new_store(&path).close();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&path, &provider()).unwrap();
    store.insert(&Note { text: "x".into() }).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(mode(&sidecar(&path, suffix)), 0o600, "{suffix}");
    }
}
