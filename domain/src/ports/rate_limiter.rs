//! Port: counting requests against rates, in this process or shared by instances.

use std::future::Future;

use crate::RepositoryError;
use crate::throttle::{Rate, Reservation, Ticket, Verdict};

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

    /// `hit`, keeping the ticket of the counted request: for limits that count only
    /// some outcomes (wrong passwords), which take their place in the window before
    /// the attempt — concurrent attempts cannot all pass a check made before any of
    /// them is counted — and hand it back when the outcome does not count.
    fn reserve(
        &self,
        key: &str,
        rate: Rate,
    ) -> impl Future<Output = Result<Reservation, RepositoryError>> + Send;

    /// Takes a reserved request out of its window again; a ticket whose request has
    /// already left the window (or was refunded) changes nothing.
    fn refund(&self, ticket: Ticket) -> impl Future<Output = Result<(), RepositoryError>> + Send;
}
