//! Create superuser: the first administrator, from the command line.

use domain::password::UserAttributes;
use domain::ports::{Clock, CreateUserError, PasswordHasher, UserRepository};
use domain::{AuditKind, EmailAddress, NewUser, Password, UserProfile, Username};

use crate::fault::faults_into;
use crate::use_cases::register::{DUPLICATE_EMAIL, DUPLICATE_USERNAME};
use crate::{ClientInfo, Deps, Fault, Gatehouse, ValidationErrors};

#[derive(Debug, Clone)]
pub struct CreateSuperuserCommand {
    pub username: String,
    pub email: String,
    pub password: Password,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateSuperuserError {
    #[error("invalid superuser")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(CreateSuperuserError);

impl<D: Deps> Gatehouse<D> {
    /// Creates an active staff superuser whose password passes the password rules.
    #[tracing::instrument(skip_all)]
    pub async fn create_superuser(
        &self,
        command: CreateSuperuserCommand,
    ) -> Result<UserProfile, CreateSuperuserError> {
        let mut errors = ValidationErrors::new();
        let username = Username::parse(&command.username)
            .map_err(|e| errors.add("username", e.to_string()))
            .ok();
        let email = EmailAddress::parse(&command.email)
            .map_err(|e| errors.add("email", e.to_string()))
            .ok();
        let (Some(username), Some(email)) = (username, email) else {
            return Err(CreateSuperuserError::Invalid(errors));
        };
        let attributes = UserAttributes {
            username: username.as_str(),
            email: email.as_str(),
            ..UserAttributes::default()
        };
        self.password_rules(&mut errors, "password", &command.password, &attributes);
        errors
            .into_result()
            .map_err(CreateSuperuserError::Invalid)?;
        let password_hash = self.adapters.hasher.hash(&command.password).await?;
        let user = NewUser {
            username,
            email,
            password_hash,
            first_name: String::new(),
            last_name: String::new(),
            is_active: true,
            is_staff: true,
            is_superuser: true,
            now: self.adapters.clock.now(),
        };
        let audit = self
            .event(AuditKind::UserCreated, &ClientInfo::UNKNOWN)
            .detail("username", user.username.as_str())
            .detail("is_superuser", true)
            .detail("via", "createsuperuser");
        self.adapters
            .users
            .create(user, None, audit)
            .await
            .map_err(|error| match error {
                CreateUserError::DuplicateEmail => CreateSuperuserError::Invalid(
                    ValidationErrors::single("email", DUPLICATE_EMAIL),
                ),
                CreateUserError::DuplicateUsername => CreateSuperuserError::Invalid(
                    ValidationErrors::single("username", DUPLICATE_USERNAME),
                ),
                CreateUserError::Repository(error) => error.into(),
            })
    }
}
