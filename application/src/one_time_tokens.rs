//! Issuing and reading one-time email tokens: shared by registration, activation and
//! password reset.

use domain::ports::{AccountRepository, Clock, TokenGenerator};
use domain::{NewOneTimeToken, OneTimeTokenRecord, RepositoryError, TokenPurpose};

use crate::{Deps, Gatehouse};

/// Why a presented one-time token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OneTimeTokenRejection {
    /// Unknown, tampered, of another purpose, or already used.
    #[error("Invalid token.")]
    Invalid,
    #[error("Token has expired.")]
    Expired,
}

impl<D: Deps> Gatehouse<D> {
    /// A new random token for `purpose`, expiring after that purpose's lifetime.
    pub(crate) fn new_one_time_token(&self, purpose: TokenPurpose) -> NewOneTimeToken {
        let (raw, digest) = self.one_time_tokens.generate();
        let now = self.clock.now();
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
    /// `purpose`. An expired token says so rather than "invalid".
    pub(crate) async fn usable_one_time_token(
        &self,
        raw: &str,
        purpose: TokenPurpose,
    ) -> Result<Result<OneTimeTokenRecord, OneTimeTokenRejection>, RepositoryError> {
        let digest = self.one_time_tokens.digest(raw);
        let Some(record) = self.accounts.find_token(&digest).await? else {
            return Ok(Err(OneTimeTokenRejection::Invalid));
        };
        if record.purpose != purpose || record.used_at.is_some() {
            return Ok(Err(OneTimeTokenRejection::Invalid));
        }
        if record.expires_at <= self.clock.now() {
            return Ok(Err(OneTimeTokenRejection::Expired));
        }
        Ok(Ok(record))
    }
}
