//! Internal error type of the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
pub type Result<T, E = Error> = std::result::Result<T, E>;
