//! Me: the current user edits and deletes his own account (he reads it as
//! authentication found it: `Principal::profile`).

use std::time::Duration;

use domain::ports::{UpdateUserError, UserRepository};
use domain::{AuditKind, Password, ProfileChanges, UserProfile, Username};

use crate::fault::faults_into;
use crate::guesses::guesses_into;
use crate::use_cases::register::{DUPLICATE_USERNAME, check_names};
use crate::{Caller, Deps, Fault, Gatehouse, ValidationErrors};

/// Raw edits from the client; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateMeCommand {
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MeError {
    #[error("the account no longer exists")]
    NotFound,
    #[error("invalid input")]
    Invalid(ValidationErrors),
    /// Not the current password.
    #[error("Invalid password.")]
    WrongPassword,
    /// Too many wrong passwords for this account lately; none was checked.
    #[error("too many wrong passwords for this account")]
    Throttled { retry_after: Duration },
    #[error(transparent)]
    Fault(Fault),
}
faults_into!(MeError);
guesses_into!(MeError);

impl<D: Deps> Gatehouse<D> {
    /// Changes the user's username and names; nothing else is settable here.
    #[tracing::instrument(skip_all)]
    pub async fn update_me(
        &self,
        caller: impl Into<Caller<'_>>,
        command: UpdateMeCommand,
    ) -> Result<UserProfile, MeError> {
        let caller = caller.into();
        let user = caller.user;
        let mut errors = ValidationErrors::new();
        let username = command.username.as_deref().and_then(|raw| {
            Username::parse(raw)
                .map_err(|e| errors.add("username", e.to_string()))
                .ok()
        });
        check_names(
            &mut errors,
            [
                ("first_name", command.first_name.as_ref()),
                ("last_name", command.last_name.as_ref()),
            ],
        );
        errors.into_result().map_err(MeError::Invalid)?;
        let changes = ProfileChanges {
            username: username.filter(|u| *u != user.username),
            first_name: command.first_name,
            last_name: command.last_name,
        };
        let mut audit = self
            .event(AuditKind::AccountUpdated, caller.client)
            .by_self(user.id);
        if let Some(username) = &changes.username {
            audit = audit
                .detail("username", username.as_str())
                .detail("previous_username", user.username.as_str());
        }
        let fields: Vec<&str> = [
            ("username", changes.username.is_some()),
            ("first_name", changes.first_name.is_some()),
            ("last_name", changes.last_name.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, changed)| changed.then_some(field))
        .collect();
        let audit = audit.detail("fields", fields);
        self.adapters
            .users
            .update_profile(user.id, changes, audit)
            .await
            .map_err(|error| match error {
                UpdateUserError::NotFound => MeError::NotFound,
                UpdateUserError::DuplicateUsername => {
                    MeError::Invalid(ValidationErrors::single("username", DUPLICATE_USERNAME))
                }
                UpdateUserError::Repository(error) => error.into(),
            })
    }

    /// Deletes the account after checking the current password (under the account's
    /// budget of guesses, as a login).
    #[tracing::instrument(skip_all)]
    pub async fn delete_me(
        &self,
        caller: impl Into<Caller<'_>>,
        current_password: &Password,
    ) -> Result<(), MeError> {
        let caller = caller.into();
        let user = caller.user;
        if !self
            .check_password(user, current_password, caller.client, "delete_account")
            .await?
        {
            return Err(MeError::WrongPassword);
        }
        let audit = self
            .event(AuditKind::AccountDeleted, caller.client)
            .by_self(user.id);
        if !self.adapters.users.delete(user.id, audit).await? {
            return Err(MeError::NotFound);
        }
        Ok(())
    }
}
