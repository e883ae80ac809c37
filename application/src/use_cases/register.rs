//! Register: a new account, and its first session unless activation is required.

use domain::password::UserAttributes;
use domain::ports::{Clock, CreateUserError, PasswordHasher, UserRepository};
use domain::{
    AuditKind, EmailAddress, EmailKind, MailedToken, NewUser, Password, TokenPurpose, UserProfile,
    Username,
};

use crate::fault::faults_into;
use crate::{ClientInfo, Deps, Fault, Gatehouse, TokenPair, ValidationErrors};

/// The only fields a registration may set.
#[derive(Debug, Clone)]
pub struct RegisterCommand {
    pub email: String,
    /// Defaults to the email address.
    pub username: Option<String>,
    pub password: Password,
    /// When sent (or when `password_retype` is on), must equal `password`.
    pub password2: Option<Password>,
    pub first_name: String,
    pub last_name: String,
    pub client: ClientInfo,
}

#[derive(Debug, Clone)]
pub struct Registered {
    pub profile: UserProfile,
    /// `None` when the account must be activated first.
    pub tokens: Option<TokenPair>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("registration is disabled")]
    Disabled,
    #[error("invalid registration")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(RegisterError);

pub(crate) const DUPLICATE_EMAIL: &str = "user with this email already exists.";
pub(crate) const DUPLICATE_USERNAME: &str = "A user with that username already exists.";
const PASSWORD_MISMATCH: &str = "The two password fields didn't match.";

/// Checks names (`None`: not sent) the way Django's `CharField(max_length=150)` does.
pub(crate) fn check_names<'a>(
    errors: &mut ValidationErrors,
    names: impl IntoIterator<Item = (&'a str, Option<&'a String>)>,
) {
    for (field, value) in names {
        if let Some(Err(message)) = value.map(|value| domain::user::check_name(value)) {
            errors.add(field, message);
        }
    }
}

impl<D: Deps> Gatehouse<D> {
    /// Adds Django's unique-validator message when another account uses the address
    /// (compared case-insensitively).
    pub(crate) async fn check_email_free(
        &self,
        errors: &mut ValidationErrors,
        email: &EmailAddress,
    ) -> Result<(), domain::RepositoryError> {
        if self
            .adapters
            .users
            .find_by_email(email.as_str())
            .await?
            .is_some()
        {
            errors.add("email", DUPLICATE_EMAIL);
        }
        Ok(())
    }

    /// Validates like a DRF serializer (field checks first, then the password rules),
    /// creates the user and opens his first session.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, command: RegisterCommand) -> Result<Registered, RegisterError> {
        let settings = &self.settings.registration;
        if !settings.enabled {
            return Err(RegisterError::Disabled);
        }
        let mut errors = ValidationErrors::new();
        let email = EmailAddress::parse(&command.email)
            .map_err(|e| errors.add_all("email", e.messages().iter().copied()))
            .ok();
        if let Some(email) = &email {
            self.check_email_free(&mut errors, email).await?;
        }
        let username_field = if command.username.is_some() {
            "username"
        } else {
            "email"
        };
        let raw_username = match (&command.username, &email) {
            (Some(username), _) => Some(username.clone()),
            (None, Some(email)) => Some(email.to_string()),
            (None, None) => None,
        };
        let username = raw_username.and_then(|raw| {
            Username::parse(&raw)
                .map_err(|e| errors.add(username_field, e.to_string()))
                .ok()
        });
        if let Some(username) = &username
            && self.adapters.users.find_by_username(username.as_str()).await?.is_some()
            // A defaulted username is the email: its clash is already reported there.
            && !(command.username.is_none() && errors.messages("email") == [DUPLICATE_EMAIL])
        {
            errors.add(username_field, DUPLICATE_USERNAME);
        }
        check_names(
            &mut errors,
            [
                ("first_name", Some(&command.first_name)),
                ("last_name", Some(&command.last_name)),
            ],
        );
        errors
            .clone()
            .into_result()
            .map_err(RegisterError::Invalid)?;
        let (Some(email), Some(username)) = (email, username) else {
            return Err(RegisterError::Invalid(errors));
        };

        if settings.password_retype || command.password2.is_some() {
            match &command.password2 {
                Some(retyped) if retyped == &command.password => {}
                Some(_) => errors.add(ValidationErrors::NON_FIELD, PASSWORD_MISMATCH),
                None => errors.add("password2", "This field is required."),
            }
        }
        let attributes = UserAttributes {
            username: username.as_str(),
            first_name: &command.first_name,
            last_name: &command.last_name,
            email: email.as_str(),
        };
        self.password_rules(&mut errors, "password", &command.password, &attributes);
        errors.into_result().map_err(RegisterError::Invalid)?;

        let password_hash = self.adapters.hasher.hash(&command.password).await?;
        let new_user = NewUser {
            username,
            email,
            password_hash,
            first_name: command.first_name,
            last_name: command.last_name,
            is_active: !settings.require_activation,
            is_staff: false,
            is_superuser: false,
            now: self.adapters.clock.now(),
        };
        // An inactive account gets its activation link in the same transaction.
        let activation = settings.require_activation.then(|| {
            let token = self.new_one_time_token(TokenPurpose::Activation);
            let email = EmailKind::Activation {
                token: token.raw.clone(),
            };
            MailedToken { token, email }
        });
        let audit = self
            .event(AuditKind::AccountRegistered, &command.client)
            .detail("username", new_user.username.as_str())
            .detail("is_active", new_user.is_active);
        let profile = self
            .adapters
            .users
            .create(new_user, activation, audit)
            .await
            .map_err(|error| match error {
                CreateUserError::DuplicateEmail => {
                    RegisterError::Invalid(ValidationErrors::single("email", DUPLICATE_EMAIL))
                }
                CreateUserError::DuplicateUsername => RegisterError::Invalid(
                    ValidationErrors::single(username_field, DUPLICATE_USERNAME),
                ),
                CreateUserError::Repository(error) => error.into(),
            })?;
        let tokens = match profile.user.is_active {
            true => {
                self.start_session(&profile, &command.client, None, None, None)
                    .await?
            }
            false => None,
        };
        Ok(Registered { profile, tokens })
    }
}
