//! Administration: what admins see and change of users, groups and permissions.

use chrono::{DateTime, Utc};

use crate::{EmailAddress, UserProfile, Username};

/// A user as the admin API shows him: his profile and his direct permission grants.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminUser {
    pub profile: UserProfile,
    /// Granted to him directly (`app_label.codename`), not through groups.
    pub user_permissions: Vec<String>,
}

/// The orders a user list may be sorted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrder {
    Id,
    Username,
    Email,
    DateJoined,
    LastLogin,
}

impl UserOrder {
    pub fn parse(field: &str) -> Option<Self> {
        match field {
            "id" => Some(UserOrder::Id),
            "username" => Some(UserOrder::Username),
            "email" => Some(UserOrder::Email),
            "date_joined" => Some(UserOrder::DateJoined),
            "last_login" => Some(UserOrder::LastLogin),
            _ => None,
        }
    }
}

/// Which users, in which order, which slice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserListQuery {
    /// Every term must appear (case-insensitively) in the username, email, first or
    /// last name: in those four joined by single spaces, so a term holding a space
    /// may match across two of them (`alice liddell`).
    pub search_terms: Vec<String>,
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
    /// Members of the group with this id.
    pub group: Option<i64>,
    /// Sort keys, most significant first; `true` is descending. Ties break on id.
    pub ordering: Vec<(UserOrder, bool)>,
    pub offset: i64,
    pub limit: i64,
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub count: i64,
    pub items: Vec<T>,
}

/// A user an admin creates.
#[derive(Debug, Clone)]
pub struct UserDraft {
    pub username: Username,
    pub email: EmailAddress,
    /// `None`: an unusable password, as Django's `set_unusable_password`.
    pub password_hash: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    /// Group names.
    pub groups: Vec<String>,
    /// `app_label.codename` strings.
    pub user_permissions: Vec<String>,
    pub now: DateTime<Utc>,
}

/// An admin's changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub email: Option<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
    pub groups: Option<Vec<String>>,
    pub user_permissions: Option<Vec<String>>,
}

impl UserPatch {
    /// Whether it touches what only an admin with authority over the account may
    /// change (everything but the names; see `Authority::may_manage`).
    pub fn reaches_account(&self) -> bool {
        self.username.is_some()
            || self.email.is_some()
            || self.is_active.is_some()
            || self.is_staff.is_some()
            || self.is_superuser.is_some()
            || self.groups.is_some()
            || self.user_permissions.is_some()
    }
}

/// The longest group name (Django's `Group.name`, `max_length=150`).
pub const GROUP_NAME_MAX_CHARS: usize = 150;
/// The longest permission name, app label and codename (Django's `Permission` and
/// `ContentType` columns).
pub const PERMISSION_NAME_MAX_CHARS: usize = 255;
pub const APP_LABEL_MAX_CHARS: usize = 100;
pub const CODENAME_MAX_CHARS: usize = 100;

/// A group and its permissions (`app_label.codename`, sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub permissions: Vec<String>,
}

/// An admin's changes to a group; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChanges {
    pub name: Option<String>,
    /// Replaces every permission of the group (`app_label.codename` strings).
    pub permissions: Option<Vec<String>>,
}

/// A permission; its string form is `app_label.codename`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub id: i64,
    pub name: String,
    pub app_label: String,
    pub codename: String,
}

impl Permission {
    pub fn code(&self) -> String {
        format!("{}.{}", self.app_label, self.codename)
    }
}

/// A custom permission to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPermission {
    pub name: String,
    pub app_label: String,
    pub codename: String,
}
