//! Login: credentials in, a new session's token pair out.

use domain::Password;
use domain::ports::{Clock, PasswordCheck, PasswordHasher, Rehash, UserRepository};

use crate::fault::faults_into;
use crate::{ClientInfo, Deps, Fault, Gatehouse, TokenPair};

/// How the user names himself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginIdentifier {
    Username(String),
    Email(String),
}

#[derive(Debug, Clone)]
pub struct LoginCommand {
    pub identifier: LoginIdentifier,
    pub password: Password,
    pub client: ClientInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or inactive account: indistinguishable.
    #[error("No active account found with the given credentials")]
    InvalidCredentials,
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(LoginError);

impl<D: Deps> Gatehouse<D> {
    /// Checks the credentials and opens a session.
    ///
    /// An unknown user costs one dummy hash verification, like a known one, so the
    /// answer's timing does not reveal which accounts exist.
    pub async fn login(&self, command: LoginCommand) -> Result<TokenPair, LoginError> {
        let user = match &command.identifier {
            LoginIdentifier::Username(username) => self.users.find_by_username(username).await?,
            LoginIdentifier::Email(email) => self.users.find_by_email(email).await?,
        };
        let Some(user) = user else {
            self.hasher.verify_dummy(&command.password).await?;
            return Err(LoginError::InvalidCredentials);
        };
        let PasswordCheck::Match { needs_rehash } = self
            .hasher
            .verify(&command.password, &user.password_hash)
            .await?
        else {
            return Err(LoginError::InvalidCredentials);
        };
        if !user.is_active {
            return Err(LoginError::InvalidCredentials);
        }
        let rehash = match needs_rehash {
            true => Some(Rehash {
                verified: user.password_hash.clone(),
                new: self.hasher.hash(&command.password).await?,
            }),
            false => None,
        };
        // The session starts only if the password is still the one just checked: a
        // reset or change that committed meanwhile wins, and this login fails.
        let current_hash = rehash
            .as_ref()
            .map_or(&user.password_hash, |r| &r.new)
            .clone();
        self.users
            .record_login(user.id, self.clock.now(), rehash)
            .await?;
        let profile = self
            .users
            .profile(user.id)
            .await?
            .ok_or(LoginError::InvalidCredentials)?;
        self.start_session(&profile, &command.client, Some(current_hash))
            .await?
            .ok_or(LoginError::InvalidCredentials)
    }
}
