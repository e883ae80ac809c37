//! Refresh: a refresh token in, a fresh access token (and, rotating, its successor) out.

use domain::ports::{Clock, SessionRepository};
use domain::{AuditKind, NewRefreshToken, RotateOutcome, TokenType};
use uuid::Uuid;

use crate::fault::faults_into;
use crate::metrics::{self, RefreshOutcome};
use crate::tokens::stored_for;
use crate::{ClientInfo, Deps, Fault, Gatehouse, TokenRejection};

/// `Debug` hides the token.
#[derive(Clone)]
pub struct RefreshCommand {
    pub refresh: String,
    pub client: ClientInfo,
}

impl std::fmt::Debug for RefreshCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshCommand")
            .field("refresh", &"***")
            .field("client", &self.client)
            .finish()
    }
}

/// The new access token, and the refresh token to use next when rotating. `Debug`
/// hides both.
#[derive(Clone, PartialEq, Eq)]
pub struct Refreshed {
    pub access: String,
    pub refresh: Option<String>,
}

impl std::fmt::Debug for Refreshed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refreshed { access: ***, refresh: *** }")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Token(#[from] TokenRejection),
    /// The token is fine but its user is gone or inactive.
    #[error("No active account found for the given token.")]
    NoActiveAccount,
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(RefreshError);

impl<D: Deps> Gatehouse<D> {
    /// Refreshes a session. With rotation on, the presented token is revoked and
    /// replaced atomically; presenting it again within `reuse_interval` returns the
    /// same successor, later it revokes the whole session (reuse detection).
    /// Claims are read afresh from the store every time.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, command: RefreshCommand) -> Result<Refreshed, RefreshError> {
        let mut outcome = RefreshOutcome::Refused;
        let refreshed = self.refresh_noting(command, &mut outcome).await;
        // A fault refused nothing: the client may try again.
        if !matches!(refreshed, Err(RefreshError::Fault(_))) {
            metrics::refresh(outcome);
        }
        refreshed
    }

    /// [`Self::refresh`], noting in `outcome` how it ended when it did not refuse.
    async fn refresh_noting(
        &self,
        command: RefreshCommand,
        outcome: &mut RefreshOutcome,
    ) -> Result<Refreshed, RefreshError> {
        let presented = self.read_token(&command.refresh, Some(TokenType::Refresh))?;
        // The token's row and its user's profile, in one round trip.
        let (record, profile) = self
            .adapters
            .sessions
            .find_with_profile(presented.jti)
            .await?
            .unzip();
        let record = stored_for(&presented, record)?;
        // A rotated token is judged by `rotate` (grace or reuse); any other revoked
        // token, and every revoked token when rotation is off, is dead.
        if record.revoked_at.is_some()
            && (record.replaced_by.is_none() || !self.settings.tokens.rotate_refresh_tokens)
        {
            return Err(TokenRejection::Blacklisted.into());
        }
        let profile = profile
            .filter(|p| p.user.is_active)
            .ok_or(RefreshError::NoActiveAccount)?;
        let now = self.adapters.clock.now();
        let tokens = &self.settings.tokens;

        if !tokens.rotate_refresh_tokens {
            self.adapters.sessions.touch(record.jti, now).await?;
            let access = self.access_token(&profile, record.family_id, now)?;
            *outcome = RefreshOutcome::Refreshed;
            return Ok(Refreshed {
                access,
                refresh: None,
            });
        }

        let expires_at = self.refresh_expiry(now, record.session_started_at);
        if expires_at <= now {
            return Err(TokenRejection::Expired.into());
        }
        // Who presents a rotated token is the one to record, if it was reuse.
        let on_reuse = self
            .event(AuditKind::RefreshTokenReused, &command.client)
            .subject(record.user_id)
            .detail("session", record.family_id.simple().to_string());
        let successor = NewRefreshToken {
            jti: Uuid::new_v4(),
            user_id: record.user_id,
            family_id: record.family_id,
            parent_jti: Some(record.jti),
            created_at: now,
            expires_at,
            session_started_at: record.session_started_at,
            user_agent: command.client.user_agent.or(record.user_agent),
            ip: command.client.ip.or(record.ip),
            parent_session: record.parent_session,
        };
        let refresh = match self
            .adapters
            .sessions
            .rotate(
                record.jti,
                successor.clone(),
                tokens.reuse_interval,
                on_reuse,
            )
            .await?
        {
            RotateOutcome::Rotated => {
                *outcome = RefreshOutcome::Rotated;
                self.refresh_token(
                    successor.jti,
                    successor.user_id,
                    successor.family_id,
                    successor.created_at,
                    successor.expires_at,
                )?
            }
            RotateOutcome::AlreadyRotated(current) => {
                *outcome = RefreshOutcome::GraceSuccessor;
                self.refresh_token_for(&current)?
            }
            RotateOutcome::Reused => {
                *outcome = RefreshOutcome::ReuseDetected;
                tracing::warn!(
                    user_id = %record.user_id,
                    session = %record.family_id,
                    "refresh token reused after rotation: session revoked"
                );
                return Err(TokenRejection::Blacklisted.into());
            }
            RotateOutcome::Revoked => return Err(TokenRejection::Blacklisted.into()),
            RotateOutcome::Unknown => return Err(TokenRejection::Invalid.into()),
        };
        let access = self.access_token(&profile, record.family_id, now)?;
        Ok(Refreshed {
            access,
            refresh: Some(refresh),
        })
    }
}
