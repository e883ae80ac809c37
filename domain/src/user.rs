//! Users: the account itself and the profile a client sees.

use chrono::{DateTime, Utc};

use crate::{EmailAddress, Username};

/// The most characters a username, a first or a last name may have (Django's
/// `max_length=150` on each).
pub const NAME_MAX_CHARS: usize = 150;

/// Django's `MaxLengthValidator` message for a field of at most `max` characters.
pub fn too_long(max: usize) -> String {
    format!("Ensure this field has no more than {max} characters.")
}

/// A first or last name as Django's `CharField(max_length=150)` takes it.
pub fn check_name(value: &str) -> Result<(), String> {
    match value.chars().count() > NAME_MAX_CHARS {
        true => Err(too_long(NAME_MAX_CHARS)),
        false => Ok(()),
    }
}

/// A user's primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An account as stored. Its `Debug` leaves the password hash out.
#[derive(Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: EmailAddress,
    /// The password hash in Django's `algorithm$…` format.
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    pub password_changed_at: DateTime<Utc>,
    /// Registered under activation and not activated yet: the only inactive accounts
    /// an activation link is (re)sent to or accepted for.
    pub pending_activation: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("is_active", &self.is_active)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .finish_non_exhaustive()
    }
}

/// A user with the names of his groups and his effective permissions
/// (`app_label.codename`, from groups and direct grants; every one for a superuser).
#[derive(Debug, Clone, PartialEq)]
pub struct UserProfile {
    pub user: User,
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
}

/// What it takes to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: EmailAddress,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub now: DateTime<Utc>,
}

/// The fields a user may change on himself; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChanges {
    pub username: Option<Username>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
