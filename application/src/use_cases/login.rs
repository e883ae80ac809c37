//! Login: credentials in, a new session's token pair out.

use std::time::Duration;

use domain::ports::{
    ApiKeyRepository, AuditLog, Clock, PasswordCheck, PasswordHasher, Rehash, TokenGenerator,
    UserRepository,
};
use domain::user::NAME_MAX_CHARS;
use domain::{AuditKind, EmailAddress, Password, User};

use crate::fault::faults_into;
use crate::guesses::{Account, GuessRefused, guesses_into};
use crate::metrics::{self, LoginOutcome};
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

impl LoginIdentifier {
    /// How the audit trail names the attempt: the identifier as typed, cut to the
    /// longest a real one can be (a login form is no way to fill the trail).
    fn audit_detail(&self) -> (&'static str, String) {
        let (key, value, max) = match self {
            LoginIdentifier::Username(username) => ("username", username, NAME_MAX_CHARS),
            LoginIdentifier::Email(email) => ("email", email, EmailAddress::MAX_LEN),
        };
        (key, value.chars().take(max).collect())
    }

    /// The name failed logins at an unknown account are counted under: the
    /// identifier as the store matches it (an email case-insensitively).
    fn throttle_name(&self) -> String {
        match self {
            LoginIdentifier::Username(username) => format!("username:{username}"),
            LoginIdentifier::Email(email) => format!("email:{}", email.trim().to_lowercase()),
        }
    }
}

/// Why a login failed, as the audit trail (and only the audit trail) tells it.
#[derive(Debug, Clone, Copy)]
enum Failure {
    UnknownUser,
    WrongPassword,
    Inactive,
    PasswordChanged,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::UnknownUser => "unknown_user",
            Failure::WrongPassword => "wrong_password",
            Failure::Inactive => "inactive",
            Failure::PasswordChanged => "password_changed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or inactive account: indistinguishable.
    #[error("No active account found with the given credentials")]
    InvalidCredentials,
    /// Too many wrong passwords for this account lately; no password was checked.
    #[error("too many failed logins for this account")]
    Throttled { retry_after: Duration },
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(LoginError);

guesses_into!(LoginError);

impl<D: Deps> Gatehouse<D> {
    /// Checks the credentials and opens a session.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, command: LoginCommand) -> Result<TokenPair, LoginError> {
        self.throttled(&command, async |user| self.login_once(&command, user).await)
            .await
    }

    async fn login_once(
        &self,
        command: &LoginCommand,
        named: Option<User>,
    ) -> Result<TokenPair, LoginError> {
        let (user, current_hash) = self.check_credentials(command, named).await?;
        let profile = self
            .adapters
            .users
            .profile(user.id)
            .await?
            .ok_or(LoginError::InvalidCredentials)?;
        let audit = self
            .event(AuditKind::LoginSucceeded, &command.client)
            .by_self(user.id);
        match self
            .start_session(
                &profile,
                &command.client,
                Some(current_hash),
                None,
                Some(audit),
            )
            .await?
        {
            Some(pair) => Ok(pair),
            None => {
                self.login_failed(command, Some(&user), Failure::PasswordChanged)
                    .await
            }
        }
    }

    /// Checks the credentials and issues a DRF-style API key (`Authorization: Token
    /// <key>`), stored only as its digest.
    #[tracing::instrument(skip_all)]
    pub async fn login_api_key(&self, command: LoginCommand) -> Result<String, LoginError> {
        self.throttled(&command, async |user| {
            self.api_key_once(&command, user).await
        })
        .await
    }

    async fn api_key_once(
        &self,
        command: &LoginCommand,
        named: Option<User>,
    ) -> Result<String, LoginError> {
        let (user, current_hash) = self.check_credentials(command, named).await?;
        let (key, digest) = self.adapters.random_tokens.generate();
        let audit = self
            .event(AuditKind::LoginSucceeded, &command.client)
            .by_self(user.id)
            .detail("via", "api_key");
        if !self
            .adapters
            .api_keys
            .add(user.id, digest, Some(current_hash), audit)
            .await?
        {
            return self
                .login_failed(command, Some(&user), Failure::PasswordChanged)
                .await;
        }
        Ok(key)
    }

    /// Runs a login attempt under the account's budget of guesses (`guesses`): the
    /// user the identifier names is looked up first, so that one account has one
    /// budget however it is named; the attempt then takes a place in it before any
    /// password is checked, and only a refused login keeps it (a fault answers the
    /// guess with nothing, so it gives the place back, as a success does).
    async fn throttled<T>(
        &self,
        command: &LoginCommand,
        attempt: impl AsyncFnOnce(Option<User>) -> Result<T, LoginError>,
    ) -> Result<T, LoginError> {
        let user = match &command.identifier {
            LoginIdentifier::Username(username) => {
                self.adapters.users.find_by_username(username).await?
            }
            LoginIdentifier::Email(email) => self.adapters.users.find_by_email(email).await?,
        };
        let reserved = match &user {
            Some(user) => self.reserve_guess(Account::Known(user.id)).await,
            None => {
                let name = command.identifier.throttle_name();
                self.reserve_guess(Account::Unknown(&name)).await
            }
        };
        if matches!(reserved, Err(GuessRefused::Throttled { .. })) {
            metrics::login(LoginOutcome::Throttled);
        }
        let guess = reserved?;
        let outcome = attempt(user).await;
        let wrong = matches!(outcome, Err(LoginError::InvalidCredentials));
        self.settle_guess(guess, wrong).await;
        if outcome.is_ok() {
            metrics::login(LoginOutcome::Success);
        }
        outcome
    }

    /// The active user the credentials name, and his password hash as it now stands
    /// (upgraded when it needed a rehash); a failure is recorded.
    ///
    /// An unknown user costs one dummy hash verification, like a known one, so the
    /// answer's timing does not reveal which accounts exist.
    async fn check_credentials(
        &self,
        command: &LoginCommand,
        user: Option<User>,
    ) -> Result<(User, String), LoginError> {
        let Some(user) = user else {
            self.adapters.hasher.verify_dummy(&command.password).await?;
            return self.login_failed(command, None, Failure::UnknownUser).await;
        };
        let PasswordCheck::Match { needs_rehash } = self
            .adapters
            .hasher
            .verify(&command.password, &user.password_hash)
            .await?
        else {
            return self
                .login_failed(command, Some(&user), Failure::WrongPassword)
                .await;
        };
        if !user.is_active {
            return self
                .login_failed(command, Some(&user), Failure::Inactive)
                .await;
        }
        let rehash = match needs_rehash {
            true => Some(Rehash {
                verified: user.password_hash.clone(),
                new: self.adapters.hasher.hash(&command.password).await?,
            }),
            false => None,
        };
        // The session starts only if the password is still the one just checked: a
        // reset or change that committed meanwhile wins, and this login fails.
        let current_hash = rehash
            .as_ref()
            .map_or(&user.password_hash, |r| &r.new)
            .clone();
        self.adapters
            .users
            .record_login(user.id, self.adapters.clock.now(), rehash)
            .await?;
        Ok((user, current_hash))
    }

    /// Records a failed attempt, and fails.
    async fn login_failed<T>(
        &self,
        command: &LoginCommand,
        user: Option<&User>,
        failure: Failure,
    ) -> Result<T, LoginError> {
        let (key, identifier) = command.identifier.audit_detail();
        let mut event = self
            .event(AuditKind::LoginFailed, &command.client)
            .detail(key, identifier)
            .detail("reason", failure.as_str());
        if let Some(user) = user {
            event = event.subject(user.id);
        }
        self.adapters.audit.record(event).await?;
        metrics::login(match failure {
            Failure::Inactive => LoginOutcome::Inactive,
            Failure::UnknownUser | Failure::WrongPassword | Failure::PasswordChanged => {
                LoginOutcome::BadCredentials
            }
        });
        Err(LoginError::InvalidCredentials)
    }
}
