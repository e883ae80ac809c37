//! Logout: end one session by its refresh token, or every session of a user.

use domain::ports::{Clock, SessionRepository};
use domain::{TokenType, UserId};

use crate::fault::faults_into;
use crate::{Deps, Fault, Gatehouse, TokenRejection};

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error(transparent)]
    Token(#[from] TokenRejection),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(LogoutError);

impl<D: Deps> Gatehouse<D> {
    /// Revokes the session the refresh token belongs to: the token, and with it every
    /// access token of the session on this service. Also SimpleJWT's "blacklist".
    pub async fn logout(&self, refresh: &str) -> Result<(), LogoutError> {
        let presented = self.read_token(refresh, Some(TokenType::Refresh))?;
        let record = self.stored_refresh_token::<LogoutError>(&presented).await?;
        // A token rotated away still names its session: whoever holds it wants the
        // session ended, and whoever holds the successor (another tab, or a thief) must
        // not keep it alive.
        self.sessions
            .revoke_family(record.family_id, self.clock.now())
            .await?;
        if record.revoked_at.is_some() {
            return Err(TokenRejection::Blacklisted.into());
        }
        Ok(())
    }

    /// Revokes every session of the user ("log out everywhere").
    pub async fn logout_all(&self, user_id: UserId) -> Result<u64, Fault> {
        Ok(self
            .sessions
            .revoke_all_for_user(user_id, None, self.clock.now())
            .await?)
    }
}

impl<D: Deps> Gatehouse<D> {
    /// Deletes refresh-token rows whose expiry has passed (`flushexpiredtokens`).
    pub async fn flush_expired_tokens(&self) -> Result<u64, Fault> {
        Ok(self.sessions.purge_expired(self.clock.now()).await?)
    }
}
