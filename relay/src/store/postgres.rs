//! PostgreSQL backend (placeholder until the full implementation lands).

use async_trait::async_trait;

use super::*;

pub struct PostgresStore {
    _limits: StoreLimits,
}

impl PostgresStore {
    pub async fn open(_url: &str, _limits: StoreLimits) -> Result<Self, StoreError> {
        Err(StoreError::Unavailable)
    }
}

#[async_trait]
impl RelayStore for PostgresStore {
    async fn ready(&self) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn create_pairing(
        &self,
        _: Auth,
        _: Vec<u8>,
        _: i64,
    ) -> Result<PairingCreated, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn get_pairing(&self, _: Auth, _: u32, _: i64) -> Result<PairingView, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn join_pairing(&self, _: Auth, _: u32, _: Vec<u8>, _: i64) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn finish_pairing(
        &self,
        _: Auth,
        _: u32,
        _: ChannelId,
        _: Vec<u8>,
        _: i64,
    ) -> Result<(), StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn delete_pairing(&self, _: Auth, _: u32, _: i64) -> Result<PairingState, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn list_channels(&self, _: Auth, _: i64) -> Result<Vec<ChannelInfo>, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn push(
        &self,
        _: Auth,
        _: ChannelId,
        _: Vec<Vec<u8>>,
        _: i64,
    ) -> Result<Vec<(u64, PushStatus)>, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn fetch(
        &self,
        _: Auth,
        _: ChannelId,
        _: u64,
        _: usize,
        _: usize,
        _: i64,
    ) -> Result<Fetched, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn ack(
        &self,
        _: Auth,
        _: ChannelId,
        _: u64,
        _: Vec<u64>,
        _: i64,
    ) -> Result<u64, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn revoke_channel(
        &self,
        _: Auth,
        _: ChannelId,
        _: i64,
        _: Vec<u8>,
        _: i64,
    ) -> Result<i64, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn revoke_device(&self, _: Auth, _: i64) -> Result<i64, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn sweep(&self, _: i64) -> Result<SweepStats, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn counts(&self) -> Result<TableCounts, StoreError> {
        Err(StoreError::Unavailable)
    }
    async fn state_digest(&self) -> Result<[u8; 32], StoreError> {
        Err(StoreError::Unavailable)
    }
}
