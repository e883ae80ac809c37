//! Port: the audit trail's own reads and writes. Events that record a change are
//! written by the repository method making that change, in its transaction; this port
//! writes the events that change nothing (a failed login) and reads them all.

use std::future::Future;

use crate::admin::Page;
use crate::{AuditEvent, AuditQuery, AuditRecord, RepositoryError};

/// Stores and lists audit events.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise.
pub trait AuditLog: Clone + Send + Sync + 'static {
    /// Records an event that goes with no other write.
    fn record(&self, event: AuditEvent)
    -> impl Future<Output = Result<(), RepositoryError>> + Send;

    /// One page of matching events, newest first, and how many match in all.
    fn list(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Page<AuditRecord>, RepositoryError>> + Send;
}
