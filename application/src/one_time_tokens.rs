//! Issuing and reading one-time email tokens: shared by registration, activation and
//! password reset.

use domain::ports::{Clock, OneTimeTokenRepository, TokenGenerator, UserRepository};
use domain::{NewOneTimeToken, OneTimeTokenRecord, RepositoryError, TokenPurpose, UserId};

use crate::{Deps, Gatehouse};

/// Why a presented one-time token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OneTimeTokenRejection {
    /// Unknown, tampered, or of another purpose.
    #[error("Invalid token.")]
    Invalid,
    #[error("Token has expired.")]
    Expired,
    /// Already used, told apart from `Invalid` only for a request that names its user
    /// (Djoser calls an activation link of an active user "stale").
    #[error("Invalid token.")]
    Used,
    /// Not the token of the user the request names (Djoser's `uid`).
    #[error("Invalid token.")]
    OtherUser,
    /// The request names a user who does not exist.
    #[error("Invalid token.")]
    UnknownUser,
}

impl<D: Deps> Gatehouse<D> {
    /// A new random token for `purpose`, expiring after that purpose's lifetime.
    pub(crate) fn new_one_time_token(&self, purpose: TokenPurpose) -> NewOneTimeToken {
        let (raw, digest) = self.adapters.random_tokens.generate();
        let now = self.adapters.clock.now();
        let lifetime = match purpose {
            TokenPurpose::Reset => self.settings.accounts.reset_token_lifetime,
            TokenPurpose::Activation => self.settings.accounts.activation_token_lifetime,
        };
        NewOneTimeToken {
            raw,
            digest,
            purpose,
            created_at: now,
            expires_at: now + lifetime,
        }
    }

    /// The stored token a presented one stands for, if it may still be used for
    /// `purpose` — and, with `for_user` (a link's `uid`), if it is that user's, who is
    /// checked first, as Djoser does. An expired token says so rather than "invalid".
    pub(crate) async fn usable_one_time_token(
        &self,
        raw: &str,
        purpose: TokenPurpose,
        for_user: Option<UserId>,
    ) -> Result<Result<OneTimeTokenRecord, OneTimeTokenRejection>, RepositoryError> {
        if let Some(user) = for_user
            && self.adapters.users.find_by_id(user).await?.is_none()
        {
            return Ok(Err(OneTimeTokenRejection::UnknownUser));
        }
        let digest = self.adapters.random_tokens.digest(raw);
        let Some(record) = self.adapters.one_time_tokens.find(&digest).await? else {
            return Ok(Err(OneTimeTokenRejection::Invalid));
        };
        if record.purpose != purpose {
            return Ok(Err(OneTimeTokenRejection::Invalid));
        }
        if for_user.is_some_and(|user| user != record.user_id) {
            return Ok(Err(OneTimeTokenRejection::OtherUser));
        }
        if record.used_at.is_some() {
            return Ok(Err(match for_user {
                Some(_) => OneTimeTokenRejection::Used,
                None => OneTimeTokenRejection::Invalid,
            }));
        }
        if record.expires_at <= self.adapters.clock.now() {
            return Ok(Err(OneTimeTokenRejection::Expired));
        }
        Ok(Ok(record))
    }
}
