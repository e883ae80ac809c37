//! Authenticate: an access token (or a DRF-style API key) presented to this service,
//! checked against the store so that logout, deactivation and password changes take
//! effect at once.

use domain::ports::{ApiKeyRepository, TokenGenerator, UserRepository};
use domain::{Claims, TokenType, UserProfile};
use uuid::Uuid;

use crate::fault::faults_into;
use crate::metrics::{self, CredentialKind};
use crate::tokens::Presented;
use crate::{Deps, Fault, Gatehouse, TokenRejection};

/// What the caller signed in with.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, built once and read in place"
)]
pub enum Credential {
    /// An access token of session `session` (a refresh-token family); `None` for an
    /// access token SimpleJWT signed before the switch.
    AccessToken {
        session: Option<Uuid>,
        claims: Claims,
    },
    /// A DRF-style API key.
    ApiKey,
}

impl Credential {
    /// The session of an access token; `None` for an API key.
    pub fn session(&self) -> Option<Uuid> {
        match self {
            Credential::AccessToken { session, .. } => *session,
            Credential::ApiKey => None,
        }
    }

    /// The claims of an access token; `None` for an API key.
    pub fn claims(&self) -> Option<&Claims> {
        match self {
            Credential::AccessToken { claims, .. } => Some(claims),
            Credential::ApiKey => None,
        }
    }
}

/// The authenticated caller: his profile (groups and effective permissions too), read
/// with the check of his credential, and what he signed in with.
#[derive(Debug, Clone)]
pub struct Principal {
    pub profile: UserProfile,
    pub credential: Credential,
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
    /// DRF's `TokenAuthentication`: no such key.
    #[error("Invalid token.")]
    InvalidApiKey,
    /// DRF's `TokenAuthentication`: the key's user cannot sign in.
    #[error("User inactive or deleted.")]
    ApiKeyUserInactive,
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(AuthenticateError);

impl<D: Deps> Gatehouse<D> {
    /// Accepts an access token only while its user exists and is active, its session
    /// is live, and it was issued after the user's last password change. An access
    /// token SimpleJWT signed before the switch has no session: see
    /// [`Self::simplejwt_access_user`].
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticateError> {
        let authenticated = match self.read_token(access_token, Some(TokenType::Access)) {
            Ok(presented) => self.authenticate_presented(presented).await,
            Err(rejection) => Err(rejection.into()),
        };
        if let Err(error) = &authenticated {
            metrics::refused(CredentialKind::Access, error);
        }
        authenticated
    }

    /// [`Self::authenticate`] for an access token already read.
    pub(crate) async fn authenticate_presented(
        &self,
        presented: Presented,
    ) -> Result<Principal, AuthenticateError> {
        let profile = match presented.sid {
            Some(sid) => {
                let state = self
                    .adapters
                    .users
                    .auth_state(presented.user_id, sid)
                    .await?
                    .ok_or(AuthenticateError::UserNotFound)?;
                let user = &state.profile.user;
                if !user.is_active {
                    return Err(AuthenticateError::UserInactive);
                }
                if !state.session_live {
                    return Err(TokenRejection::Blacklisted.into());
                }
                // `iat` has whole seconds: a token from the second of the change is
                // still refused through its revoked session, when the change revoked it.
                if presented.claims.iat < user.password_changed_at.timestamp() {
                    return Err(AuthenticateError::PasswordChanged);
                }
                state.profile
            }
            None => self.simplejwt_access_user(&presented).await?,
        };
        Ok(Principal {
            profile,
            credential: Credential::AccessToken {
                session: presented.sid,
                claims: presented.claims,
            },
        })
    }

    /// The user of an access token SimpleJWT signed before the switch. The signing key
    /// alone must not let anyone in as anyone: it is accepted only for a user an import
    /// carried over, signed before that import started, and for no longer than
    /// Gatehouse's own access tokens live; so none outlives the last import by more
    /// than `access_lifetime`. Then the user's checks, strictly: no session stands for
    /// the second of a password change.
    async fn simplejwt_access_user(
        &self,
        presented: &Presented,
    ) -> Result<UserProfile, AuthenticateError> {
        let imported = self
            .adapters
            .users
            .imported_from_django(presented.user_id)
            .await?
            .ok_or(TokenRejection::Invalid)?;
        let claims = &presented.claims;
        let lifetime = self.settings.tokens.access_lifetime.num_seconds();
        if claims.iat > imported.imported_at.timestamp() || claims.exp - claims.iat > lifetime {
            return Err(TokenRejection::Invalid.into());
        }
        let user = imported.user;
        if !user.is_active {
            return Err(AuthenticateError::UserInactive);
        }
        if claims.iat <= user.password_changed_at.timestamp() {
            return Err(AuthenticateError::PasswordChanged);
        }
        // A second round trip, for these tokens only: they live out within one access
        // lifetime of the last import.
        self.adapters
            .users
            .profile(user.id)
            .await?
            .ok_or(AuthenticateError::UserNotFound)
    }

    /// The user a validly signed, unexpired access token names, without asking the
    /// store: enough to count his requests (throttling), never to let him in.
    pub fn identify(&self, access_token: &str) -> Option<domain::UserId> {
        self.read_token(access_token, Some(TokenType::Access))
            .ok()
            .map(|presented| presented.user_id)
    }

    /// Accepts an API key while it is stored and its user is active. Keys die with a
    /// password change, a deactivation and "log out everywhere".
    #[tracing::instrument(skip_all)]
    pub async fn authenticate_api_key(&self, key: &str) -> Result<Principal, AuthenticateError> {
        let authenticated = self.authenticate_api_key_unnoted(key).await;
        if let Err(error) = &authenticated {
            metrics::refused(CredentialKind::ApiKey, error);
        }
        authenticated
    }

    async fn authenticate_api_key_unnoted(
        &self,
        key: &str,
    ) -> Result<Principal, AuthenticateError> {
        let digest = self.adapters.random_tokens.digest(key);
        let profile = self
            .adapters
            .api_keys
            .owner(&digest)
            .await?
            .ok_or(AuthenticateError::InvalidApiKey)?;
        if !profile.user.is_active {
            return Err(AuthenticateError::ApiKeyUserInactive);
        }
        Ok(Principal {
            profile,
            credential: Credential::ApiKey,
        })
    }
}
