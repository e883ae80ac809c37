//! Sessions: the signed-in user lists his live sessions and ends any of them.

use domain::ports::{Clock, SessionRepository, UserRepository};
use domain::{AuditKind, SessionSummary, UserId};
use uuid::Uuid;

use crate::use_cases::authenticate::AuthenticateError;
use crate::{Caller, ClientInfo, Deps, Fault, Gatehouse, TokenPair};

/// A session, and whether the caller is using it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    pub session: SessionSummary,
    pub current: bool,
}

impl<D: Deps> Gatehouse<D> {
    /// The user's live sessions, newest first; `current` marks the caller's.
    pub async fn sessions(
        &self,
        user: UserId,
        current: Option<Uuid>,
    ) -> Result<Vec<SessionView>, Fault> {
        let sessions = self.sessions.list_live(user, self.clock.now()).await?;
        Ok(sessions
            .into_iter()
            .map(|session| SessionView {
                current: Some(session.id) == current,
                session,
            })
            .collect())
    }

    /// Opens another session for a signed-in user (seed 002's `tokens`), with claims
    /// read afresh; recorded as a login.
    pub async fn open_session(
        &self,
        caller: impl Into<Caller<'_>>,
    ) -> Result<TokenPair, AuthenticateError> {
        let caller = caller.into();
        let profile = self
            .users
            .profile(caller.user.id)
            .await?
            .filter(|p| p.user.is_active)
            .ok_or(AuthenticateError::UserNotFound)?;
        let audit = self
            .event(AuditKind::LoginSucceeded, caller.client)
            .by_self(caller.user.id)
            .detail("via", "session");
        // Stored only while he is active with the password just read: a deactivation
        // or password change committing meanwhile wins.
        let hash = Some(profile.user.password_hash.clone());
        self.start_session(&profile, caller.client, hash, Some(audit))
            .await?
            .ok_or(AuthenticateError::UserNotFound)
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
