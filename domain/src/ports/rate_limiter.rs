//! Port: counting requests against rates, in this process or shared by instances.

use std::future::Future;

use crate::RepositoryError;
use crate::throttle::{Rate, Verdict};

/// Counts requests per key with DRF's sliding window: a request is allowed (and
/// counted) while fewer than `rate.requests` were allowed in the last `rate.period`.
///
/// # Errors
/// `RepositoryError::Unavailable` when a shared store cannot be reached in time; the
/// caller decides whether that lets the request through.
pub trait RateLimiter: Clone + Send + Sync + 'static {
    fn hit(
        &self,
        key: &str,
        rate: Rate,
    ) -> impl Future<Output = Result<Verdict, RepositoryError>> + Send;

    /// The verdict `hit` would give, counting nothing: for limits that count only
    /// some outcomes (failed logins), checked before the attempt and counted after.
    fn peek(
        &self,
        key: &str,
        rate: Rate,
    ) -> impl Future<Output = Result<Verdict, RepositoryError>> + Send;
}
