//! Issue 15 case 5: the relay's SQLite database and its WAL and shared-memory
//! files are readable by their owner only.
#![cfg(unix)]
// Helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the test's failure"
)]

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

/// Set in the child that runs the checks under a permissive umask.
const CHILD: &str = "COLLABZIUM_FILE_MODES_CHILD";

/// Setting the umask needs `unsafe` (libc), which the workspace forbids: the
/// test instead re-runs itself in a child started by `sh` after `umask 002`
/// (a umask survives exec), so the modes cannot come from the environment.
#[test]
fn relay_database_and_sidecars_are_owner_only() {
    if std::env::var_os(CHILD).is_some() {
        return checks_under_permissive_umask();
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .args(["-c", "umask 002 && exec \"$0\" \"$@\""])
        .arg(exe)
        .args([
            "--exact",
            "relay_database_and_sidecars_are_owner_only",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child ran the test (not zero tests, which also exits 0).
    assert!(stdout.contains("1 passed"), "child ran no test: {stdout}");
}

#[tokio::main(flavor = "current_thread")]
async fn checks_under_permissive_umask() {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        assert!(
            status
                .lines()
                .any(|l| l.split_whitespace().eq(["Umask:", "0002"])),
            "the child's umask is not 0002"
        );
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
