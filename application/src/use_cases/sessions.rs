//! Sessions: the signed-in user lists his live sessions and ends any of them.

use domain::ports::{Clock, SessionRepository, UserRepository};
use domain::{AuditKind, SessionSummary, UserId};
use uuid::Uuid;

use crate::fault::faults_into;
use crate::tokens::ParentSession;
use crate::{Caller, ClientInfo, Deps, Fault, Gatehouse, TokenPair, TokenRejection};

#[derive(Debug, thiserror::Error)]
pub enum OpenSessionError {
    /// The caller signed in with an API key, or with an access token SimpleJWT signed
    /// before the switch: neither has a session to open another from.
    #[error("a session can only be opened from a session")]
    NoSession,
    /// The caller's session has ended since he was authenticated (`Blacklisted`), or
    /// has reached `session_max_lifetime` (`Expired`): nothing can be opened from it.
    #[error(transparent)]
    Token(TokenRejection),
    /// Gone or deactivated since he was authenticated (or his password changed).
    #[error("User not found")]
    UserNotFound,
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(OpenSessionError);

/// A session, and whether the caller is using it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    pub session: SessionSummary,
    pub current: bool,
}

impl<D: Deps> Gatehouse<D> {
    /// The user's live sessions, newest first; `current` marks the caller's.
    #[tracing::instrument(skip_all, fields(user = %user))]
    pub async fn sessions(
        &self,
        user: UserId,
        current: Option<Uuid>,
    ) -> Result<Vec<SessionView>, Fault> {
        let sessions = self
            .adapters
            .sessions
            .list_live(user, self.adapters.clock.now())
            .await?;
        Ok(sessions
            .into_iter()
            .map(|session| SessionView {
                current: Some(session.id) == current,
                session,
            })
            .collect())
    }

    /// Opens another session for a user signed in with an access token (seed 002's
    /// `tokens`), with claims read afresh; recorded as a login. The new session is the
    /// caller's session's child: it keeps that session's start (so it ends at the same
    /// `session_max_lifetime`) and ends when that one ends. Not for an API key (a
    /// session opened from a key would outlive the key's logout), nor for SimpleJWT's
    /// access token (it has no session to end the new one with).
    #[tracing::instrument(skip_all, fields(user = %caller.user.id))]
    pub async fn open_session(&self, caller: Caller<'_>) -> Result<TokenPair, OpenSessionError> {
        let Some(session) = caller.session else {
            return Err(OpenSessionError::NoSession);
        };
        let profile = self
            .adapters
            .users
            .profile(caller.user.id)
            .await?
            .filter(|p| p.user.is_active)
            .ok_or(OpenSessionError::UserNotFound)?;
        let now = self.adapters.clock.now();
        let started_at = self
            .adapters
            .sessions
            .session_started_at(caller.user.id, session, now)
            .await?
            .ok_or(OpenSessionError::Token(TokenRejection::Blacklisted))?;
        if self.refresh_expiry(now, started_at) <= now {
            return Err(OpenSessionError::Token(TokenRejection::Expired));
        }
        let parent = ParentSession {
            id: session,
            started_at,
        };
        let audit = self
            .event(AuditKind::LoginSucceeded, caller.client)
            .by_self(caller.user.id)
            .detail("via", "session");
        // Stored only while he is active with the password just read and the parent
        // session is live: a deactivation, password change or logout committing
        // meanwhile wins.
        let hash = Some(profile.user.password_hash.clone());
        self.start_session(&profile, caller.client, hash, Some(parent), Some(audit))
            .await?
            .ok_or(OpenSessionError::UserNotFound)
    }

    /// Ends one of the user's live sessions; `false` when he has none with that id.
    #[tracing::instrument(skip_all, fields(user = %user))]
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
            .adapters
            .sessions
            .revoke_session(user, session, self.adapters.clock.now(), audit)
            .await?)
    }
}
