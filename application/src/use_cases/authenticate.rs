//! Authenticate: an access token presented to this service, checked against the
//! store so that logout, deactivation and password changes take effect at once.

use domain::ports::UserRepository;
use domain::{Claims, TokenType, User};
use uuid::Uuid;

use crate::fault::faults_into;
use crate::{Deps, Fault, Gatehouse, TokenRejection};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    /// The session (refresh-token family) the access token belongs to.
    pub sid: Uuid,
    pub claims: Claims,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error(transparent)]
    Token(#[from] TokenRejection),
    #[error("User not found")]
    UserNotFound,
    #[error("User is inactive")]
    UserInactive,
    #[error("The user's password has been changed.")]
    PasswordChanged,
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(AuthenticateError);

impl<D: Deps> Gatehouse<D> {
    /// Accepts an access token only while its user exists and is active, its session
    /// is live, and it was issued after the user's last password change.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticateError> {
        let presented = self.read_token(access_token, Some(TokenType::Access))?;
        let state = self
            .users
            .auth_state(presented.user_id, presented.sid)
            .await?
            .ok_or(AuthenticateError::UserNotFound)?;
        if !state.user.is_active {
            return Err(AuthenticateError::UserInactive);
        }
        if !state.session_live {
            return Err(TokenRejection::Blacklisted.into());
        }
        // `iat` has whole seconds: a token from the second of the change is still
        // refused through its revoked session, when the change revoked it.
        if presented.claims.iat < state.user.password_changed_at.timestamp() {
            return Err(AuthenticateError::PasswordChanged);
        }
        Ok(Principal {
            user: state.user,
            sid: presented.sid,
            claims: presented.claims,
        })
    }
}
