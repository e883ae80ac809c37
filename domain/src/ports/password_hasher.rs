//! Port: turning passwords into hashes and checking them, off the request threads.

use std::future::Future;

use crate::{BoxError, Password};

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Mismatch,
    /// The password is right; `needs_rehash` when the hash uses another algorithm
    /// or cost than the current setting.
    Match {
        needs_rehash: bool,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError(#[source] pub BoxError);

/// Hashes and verifies passwords.
///
/// Implementations must keep CPU-heavy work off the async workers, and
/// `verify_dummy` must cost what `verify` costs, so that login time does not tell
/// whether an account exists.
///
/// # Errors
/// `HashError` when hashing could not run; a malformed stored hash is a
/// `PasswordCheck::Mismatch`, not an error.
pub trait PasswordHasher: Clone + Send + Sync + 'static {
    fn hash(&self, password: &Password) -> impl Future<Output = Result<String, HashError>> + Send;

    fn verify(
        &self,
        password: &Password,
        hash: &str,
    ) -> impl Future<Output = Result<PasswordCheck, HashError>> + Send;

    /// Spends the time of a `verify` on a hash that matches nothing.
    fn verify_dummy(
        &self,
        password: &Password,
    ) -> impl Future<Output = Result<(), HashError>> + Send;
}
