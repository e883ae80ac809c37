//! Issuing tokens and reading presented ones: shared by login, registration,
//! refresh, verify, logout and authentication.

use chrono::{DateTime, Utc};
use domain::ports::{Clock, SessionRepository, TokenCodec};
use domain::{
    AuditEvent, Claims, NewRefreshToken, RefreshTokenRecord, TokenError, TokenType, UserClaims,
    UserId, UserProfile,
};
use uuid::Uuid;

use crate::{ClientInfo, Deps, Fault, Gatehouse, TokenPair};

/// Why a presented token is refused, in SimpleJWT's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("Token is invalid")]
    Invalid,
    #[error("Token is expired")]
    Expired,
    #[error("Token is blacklisted")]
    Blacklisted,
    #[error("Token has wrong type")]
    WrongType,
}

impl From<TokenError> for TokenRejection {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Invalid => TokenRejection::Invalid,
            TokenError::Expired => TokenRejection::Expired,
        }
    }
}

/// The live session a new one is opened from: it ends when that one ends, and
/// keeps its start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParentSession {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
}

/// A decoded token's identifiers, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    pub claims: Claims,
    pub jti: Uuid,
    /// `None` for a token SimpleJWT signed before the switch.
    pub sid: Option<Uuid>,
    pub user_id: UserId,
}

fn encode_failure(error: TokenError) -> Fault {
    Fault::Unexpected(anyhow::anyhow!(error).context("while signing a token"))
}

/// The 32-hex-character form SimpleJWT uses for `jti`.
fn jti_string(jti: Uuid) -> String {
    jti.simple().to_string()
}

impl<D: Deps> Gatehouse<D> {
    /// Decodes a token and checks it is of the expected type.
    pub(crate) fn read_token(
        &self,
        token: &str,
        expected: Option<TokenType>,
    ) -> Result<Presented, TokenRejection> {
        let claims = self.adapters.jwt.decode(token)?;
        if expected.is_some_and(|t| t != claims.token_type) {
            return Err(TokenRejection::WrongType);
        }
        let jti = Uuid::try_parse(&claims.jti).map_err(|_| TokenRejection::Invalid)?;
        let sid = claims
            .sid
            .as_deref()
            .map(Uuid::try_parse)
            .transpose()
            .map_err(|_| TokenRejection::Invalid)?;
        let user_id = claims
            .user_id
            .parse()
            .map(UserId)
            .map_err(|_| TokenRejection::Invalid)?;
        Ok(Presented {
            claims,
            jti,
            sid,
            user_id,
        })
    }

    /// The stored row of a presented refresh token, which must name the same user and
    /// session as the token's claims. A token without a session is SimpleJWT's: only
    /// the row its import stored stands for it.
    pub(crate) async fn stored_refresh_token<E>(
        &self,
        presented: &Presented,
    ) -> Result<RefreshTokenRecord, E>
    where
        E: From<TokenRejection> + From<domain::RepositoryError>,
    {
        let record = self.adapters.sessions.find(presented.jti).await?;
        Ok(stored_for(presented, record)?)
    }

    /// Signs an access token for the profile, in session `sid`, with fresh claims.
    pub(crate) fn access_token(
        &self,
        profile: &UserProfile,
        sid: Uuid,
        now: DateTime<Utc>,
    ) -> Result<String, Fault> {
        let user = &profile.user;
        let claims = Claims {
            token_type: TokenType::Access,
            exp: (now + self.settings.tokens.access_lifetime).timestamp(),
            iat: now.timestamp(),
            jti: jti_string(Uuid::new_v4()),
            user_id: user.id.to_string(),
            sid: Some(jti_string(sid)),
            user: Some(UserClaims {
                username: user.username.to_string(),
                email: user.email.to_string(),
                is_staff: user.is_staff,
                is_superuser: user.is_superuser,
                groups: profile.groups.clone(),
                permissions: profile.permissions.clone(),
            }),
        };
        self.adapters.jwt.encode(&claims).map_err(encode_failure)
    }

    /// Signs the refresh token a stored row stands for; the same row always gives the
    /// same claims, so a successor handed out twice is the same token.
    pub(crate) fn refresh_token(
        &self,
        jti: Uuid,
        user_id: UserId,
        family_id: Uuid,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, Fault> {
        let claims = Claims {
            token_type: TokenType::Refresh,
            exp: expires_at.timestamp(),
            iat: created_at.timestamp(),
            jti: jti_string(jti),
            user_id: user_id.to_string(),
            sid: Some(jti_string(family_id)),
            user: None,
        };
        self.adapters.jwt.encode(&claims).map_err(encode_failure)
    }

    pub(crate) fn refresh_token_for(&self, record: &RefreshTokenRecord) -> Result<String, Fault> {
        self.refresh_token(
            record.jti,
            record.user_id,
            record.family_id,
            record.created_at,
            record.expires_at,
        )
    }

    /// The expiry of a refresh token issued now in a session that started then:
    /// never past `session_max_lifetime` from the login.
    pub(crate) fn refresh_expiry(
        &self,
        now: DateTime<Utc>,
        session_started_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let tokens = &self.settings.tokens;
        (now + tokens.refresh_lifetime).min(session_started_at + tokens.session_max_lifetime)
    }

    /// Opens a new session (refresh-token family) and signs its first pair; with
    /// `password_hash`, only if that is still the user's hash and he is still active,
    /// and with a `parent`, only while that session is live (`None` otherwise: a
    /// password change or a logout won the race). A session opened from another keeps
    /// its start, so `session_max_lifetime` counts from the parent's login. `audit` is
    /// recorded with the session.
    pub(crate) async fn start_session(
        &self,
        profile: &UserProfile,
        client: &ClientInfo,
        password_hash: Option<String>,
        parent: Option<ParentSession>,
        audit: Option<AuditEvent>,
    ) -> Result<Option<TokenPair>, Fault> {
        let now = self.adapters.clock.now();
        let started_at = parent.map_or(now, |p| p.started_at);
        let token = NewRefreshToken {
            jti: Uuid::new_v4(),
            user_id: profile.user.id,
            family_id: Uuid::new_v4(),
            parent_jti: None,
            created_at: now,
            expires_at: self.refresh_expiry(now, started_at),
            session_started_at: started_at,
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            parent_session: parent.map(|p| p.id),
        };
        let refresh = self.refresh_token(
            token.jti,
            token.user_id,
            token.family_id,
            token.created_at,
            token.expires_at,
        )?;
        let access = self.access_token(profile, token.family_id, now)?;
        if !self
            .adapters
            .sessions
            .start(token, password_hash, audit)
            .await?
        {
            return Ok(None);
        }
        Ok(Some(TokenPair { access, refresh }))
    }
}

/// The stored row of a presented refresh token, if it names the same user and session
/// as the token's claims. A token without a session is SimpleJWT's: only the row its
/// import stored stands for it.
pub(crate) fn stored_for(
    presented: &Presented,
    record: Option<RefreshTokenRecord>,
) -> Result<RefreshTokenRecord, TokenRejection> {
    let record = record.ok_or(TokenRejection::Invalid)?;
    let same_session = match presented.sid {
        Some(sid) => !record.from_simplejwt && record.family_id == sid,
        None => record.from_simplejwt,
    };
    if record.user_id != presented.user_id || !same_session {
        return Err(TokenRejection::Invalid);
    }
    Ok(record)
}
