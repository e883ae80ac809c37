//! Audit: admins holding `auth.view_auditevent` read the trail of security events.

use domain::admin::Page;
use domain::ports::AuditLog;
use domain::{AuditQuery, AuditRecord};

use crate::use_cases::admin_users::AdminError;
use crate::{Caller, Deps, Gatehouse};

impl<D: Deps> Gatehouse<D> {
    /// One page of the events matching `query`, newest first.
    pub async fn audit_events(
        &self,
        caller: impl Into<Caller<'_>>,
        query: AuditQuery,
    ) -> Result<Page<AuditRecord>, AdminError> {
        self.authorize(caller.into(), "auth.view_auditevent")
            .await?;
        Ok(self.audit.list(&query).await?)
    }
}
