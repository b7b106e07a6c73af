//! The push registration wrapper (issue 16 §1): a store that never paired
//! has no relay to register at, says so as `NotFound`, and sends nothing.
//! Delivery through a relay is tested in tests/e2e/tests/push_wake.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::{
    memory_key_provider, CollabziumError, HttpRequest, HttpResponse, HttpTransport, PatientStore,
    PushEndpoint, TransportError,
};

#[derive(Default)]
struct Counting(AtomicUsize);

impl HttpTransport for Counting {
    fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(TransportError::Unreachable {
            reason: "no network in this test".into(),
        })
    }
}

#[test]
fn an_unpaired_store_has_nowhere_to_register() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db").to_string_lossy().into_owned();
    let store = PatientStore::create(path, memory_key_provider(vec![3u8; 32]).unwrap()).unwrap();
    let t = Arc::new(Counting::default());
    for endpoint in [
        PushEndpoint::Apns {
            token: "ab".repeat(32),
        },
        PushEndpoint::Fcm {
            token: "fcm:token".into(),
        },
        PushEndpoint::WebPush {
            endpoint: "https://push.example.net/x".into(),
            p256dh: "BAAA".into(),
            auth: "AAAA".into(),
        },
    ] {
        let e = store.register_push(t.clone(), endpoint).unwrap_err();
        assert!(matches!(e, CollabziumError::NotFound { .. }), "{e:?}");
    }
    assert!(matches!(
        store.unregister_push(t.clone()).unwrap_err(),
        CollabziumError::NotFound { .. }
    ));
    assert_eq!(t.0.load(Ordering::SeqCst), 0, "nothing was sent");
}
