//! Issue 15 case 5: the relay's SQLite database and its WAL and shared-memory
//! files are readable by their owner only.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use collabzium_relay::{open_store, StoreLimits};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn relay_database_and_sidecars_are_owner_only() {
    // A permissive umask, so the result does not come from the environment.
    // SAFETY: umask only swaps the process's file-creation mask.
    unsafe {
        libc_umask(0o002);
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let url = format!("sqlite:{}", db.display());
    let store = open_store(&url, StoreLimits::default()).await.unwrap();
    store.sweep(1_000).await.unwrap();
    store.counts().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.path().join(format!("relay.db{suffix}"));
        assert!(p.exists(), "{} missing", p.display());
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    drop(store);

    // A database left world-readable by an older build is tightened on open.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = open_store(&url, StoreLimits::default()).await.unwrap();
    store.sweep(2_000).await.unwrap();
    assert_eq!(mode(&db), 0o600);
}

extern "C" {
    #[link_name = "umask"]
    fn libc_umask(mask: u32) -> u32;
}
