//! Errors shared by every repository port.

/// Any error, boxed, for causes the domain does not need to understand.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong in any storage port, beyond the operation's own outcomes.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The store could not be reached in time (pool exhausted, server down).
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug or a broken invariant. Logged, answered with a 500.
    #[error("unexpected store error")]
    Unexpected(#[source] BoxError),
}
