//! Verify: is this token, access or refresh, good here and now?

use domain::TokenType;

use crate::fault::faults_into;
use crate::use_cases::authenticate::AuthenticateError;
use crate::{Deps, Fault, Gatehouse, TokenRejection};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Token(#[from] TokenRejection),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(VerifyError);

impl<D: Deps> Gatehouse<D> {
    /// Accepts a valid refresh token that is not revoked, and an access token that
    /// `authenticate` would accept.
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self, token: &str) -> Result<(), VerifyError> {
        let presented = self.read_token(token, None)?;
        match presented.claims.token_type {
            TokenType::Access => match self.authenticate_presented(presented).await {
                Ok(_) => Ok(()),
                Err(AuthenticateError::Token(rejection)) => Err(rejection.into()),
                Err(AuthenticateError::Fault(fault)) => Err(fault.into()),
                Err(_) => Err(TokenRejection::Invalid.into()),
            },
            TokenType::Refresh => {
                let record = self.stored_refresh_token::<VerifyError>(&presented).await?;
                if record.revoked_at.is_some() {
                    return Err(TokenRejection::Blacklisted.into());
                }
                Ok(())
            }
        }
    }
}
