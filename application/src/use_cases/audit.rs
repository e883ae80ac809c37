//! Audit: admins holding `auth.view_auditevent` read the trail of security events.

use domain::admin::Page;
use domain::ports::AuditLog;
use domain::{AuditQuery, AuditRecord};

use crate::authorization::{Grant, ViewAuditEvent};
use crate::use_cases::admin_users::AdminError;
use crate::{Deps, Gatehouse};

impl<D: Deps> Gatehouse<D> {
    /// One page of the events matching `query`, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn audit_events(
        &self,
        _grant: &Grant<ViewAuditEvent>,
        query: AuditQuery,
    ) -> Result<Page<AuditRecord>, AdminError> {
        Ok(self.adapters.audit.list(&query).await?)
    }
}
