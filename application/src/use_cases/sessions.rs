//! Sessions: the signed-in user lists his live sessions and ends any of them.

use domain::ports::{Clock, SessionRepository};
use domain::{AuditKind, SessionSummary, UserId};
use uuid::Uuid;

use crate::{ClientInfo, Deps, Fault, Gatehouse};

/// A session, and whether the caller is using it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    pub session: SessionSummary,
    pub current: bool,
}

impl<D: Deps> Gatehouse<D> {
    /// The user's live sessions, newest first; `current` marks the caller's.
    pub async fn sessions(&self, user: UserId, current: Uuid) -> Result<Vec<SessionView>, Fault> {
        let sessions = self.sessions.list_live(user, self.clock.now()).await?;
        Ok(sessions
            .into_iter()
            .map(|session| SessionView {
                current: session.id == current,
                session,
            })
            .collect())
    }

    /// Ends one of the user's live sessions; `false` when he has none with that id.
    pub async fn end_session(
        &self,
        user: UserId,
        session: Uuid,
        client: &ClientInfo,
    ) -> Result<bool, Fault> {
        let audit = self
            .event(AuditKind::SessionRevoked, client)
            .by_self(user)
            .detail("session", session.simple().to_string());
        Ok(self
            .sessions
            .revoke_session(user, session, self.clock.now(), audit)
            .await?)
    }
}
