//! Verify: is this token, access or refresh, good here and now?

use domain::TokenType;

use crate::fault::faults_into;
use crate::metrics::{self, CredentialKind};
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
        let presented = match self.read_token(token, None) {
            Ok(presented) => presented,
            Err(rejection) => {
                // Unreadable: of no kind we can tell; counted with the access tokens,
                // which is what most verified tokens are.
                metrics::refused(CredentialKind::Access, &rejection.into());
                return Err(rejection.into());
            }
        };
        match presented.claims.token_type {
            TokenType::Access => match self.authenticate_presented(presented).await {
                Ok(_) => Ok(()),
                Err(AuthenticateError::Fault(fault)) => Err(fault.into()),
                Err(error) => {
                    metrics::refused(CredentialKind::Access, &error);
                    match error {
                        AuthenticateError::Token(rejection) => Err(rejection.into()),
                        _ => Err(TokenRejection::Invalid.into()),
                    }
                }
            },
            TokenType::Refresh => {
                let record = match self.stored_refresh_token::<VerifyError>(&presented).await {
                    Ok(record) => record,
                    Err(VerifyError::Token(rejection)) => {
                        metrics::refused(CredentialKind::Refresh, &rejection.into());
                        return Err(rejection.into());
                    }
                    Err(fault) => return Err(fault),
                };
                if record.revoked_at.is_some() {
                    metrics::refused(CredentialKind::Refresh, &TokenRejection::Blacklisted.into());
                    return Err(TokenRejection::Blacklisted.into());
                }
                Ok(())
            }
        }
    }
}
