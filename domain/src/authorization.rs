//! Django's model permissions, typed: which action on which model, what a user
//! effectively holds (every permission for a superuser; else his direct grants and his
//! groups'), and how far an admin's authority over other users reaches.

use std::collections::BTreeSet;

use crate::UserProfile;

/// The four actions of Django's default model permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    View,
    Add,
    Change,
    Delete,
}

/// The models whose permissions the admin API checks (app label `auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    User,
    Group,
    Permission,
    AuditEvent,
}

/// A model permission such as `auth.add_user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelPermission {
    pub action: Action,
    pub model: Model,
}

impl ModelPermission {
    pub const fn new(action: Action, model: Model) -> Self {
        Self { action, model }
    }

    /// The string form, `app_label.codename`, as stored and as tokens carry it.
    pub fn code(self) -> String {
        let action = match self.action {
            Action::View => "view",
            Action::Add => "add",
            Action::Change => "change",
            Action::Delete => "delete",
        };
        let model = match self.model {
            Model::User => "user",
            Model::Group => "group",
            Model::Permission => "permission",
            Model::AuditEvent => "auditevent",
        };
        format!("auth.{action}_{model}")
    }
}

impl std::fmt::Display for ModelPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.code())
    }
}

/// A user's effective permissions (`app_label.codename`, sorted, without repeats):
/// every existing one for a superuser, else the union of his direct grants and his
/// groups' grants. The store computes the same in its queries.
pub fn effective_permissions<'a>(
    is_superuser: bool,
    existing: impl IntoIterator<Item = &'a str>,
    direct: impl IntoIterator<Item = &'a str>,
    through_groups: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let held: BTreeSet<&str> = match is_superuser {
        true => existing.into_iter().collect(),
        false => direct.into_iter().chain(through_groups).collect(),
    };
    held.into_iter().map(str::to_owned).collect()
}

/// What an admin may hand out, and whom he may manage: a superuser anything and
/// anyone; other staff only what they hold themselves, and only users who hold nothing
/// more than they do. Otherwise a staff user with `change_user` could set the password
/// or the email of a stronger account, sign in as it and grant himself the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authority {
    Superuser,
    /// A staff user's effective permissions.
    Holds(BTreeSet<String>),
}

impl Authority {
    /// The authority of an active staff user with these effective permissions.
    pub fn of(is_superuser: bool, permissions: impl IntoIterator<Item = String>) -> Self {
        match is_superuser {
            true => Self::Superuser,
            false => Self::Holds(permissions.into_iter().collect()),
        }
    }

    pub fn is_superuser(&self) -> bool {
        matches!(self, Self::Superuser)
    }

    /// Whether every one of these permissions is his to grant.
    pub fn may_grant<'a>(&self, wanted: impl IntoIterator<Item = &'a String>) -> bool {
        match self {
            Self::Superuser => true,
            Self::Holds(held) => wanted.into_iter().all(|p| held.contains(p)),
        }
    }

    /// Whether he may act on this account's credentials and access (its password,
    /// email, username, flags, groups and grants; logging it out; deleting it): the
    /// target's flags and effective permissions are within his own. Every admin is
    /// active staff, so only `is_superuser` among the flags can exceed his.
    pub fn may_manage(&self, target: &UserProfile) -> bool {
        match self {
            Self::Superuser => true,
            Self::Holds(_) => !target.user.is_superuser && self.may_grant(&target.permissions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_permission_reads_as_django_writes_it() {
        assert_eq!(
            ModelPermission::new(Action::Add, Model::User).code(),
            "auth.add_user"
        );
        assert_eq!(
            ModelPermission::new(Action::View, Model::AuditEvent).to_string(),
            "auth.view_auditevent"
        );
    }

    #[test]
    fn a_superuser_holds_everything_and_others_the_union_of_their_grants() {
        let existing = ["auth.add_user", "auth.view_user", "shop.refund"];
        assert_eq!(
            effective_permissions(true, existing, [], []),
            ["auth.add_user", "auth.view_user", "shop.refund"]
        );
        assert_eq!(
            effective_permissions(
                false,
                existing,
                ["shop.refund", "auth.view_user"],
                ["auth.view_user"]
            ),
            ["auth.view_user", "shop.refund"]
        );
    }

    fn profile(is_superuser: bool, permissions: &[&str]) -> UserProfile {
        UserProfile {
            user: crate::User {
                id: crate::UserId(7),
                username: crate::Username::parse("target").unwrap(),
                email: crate::EmailAddress::parse("target@example.com").unwrap(),
                password_hash: String::new(),
                first_name: String::new(),
                last_name: String::new(),
                is_active: true,
                is_staff: true,
                is_superuser,
                date_joined: chrono::DateTime::UNIX_EPOCH,
                last_login: None,
                password_changed_at: chrono::DateTime::UNIX_EPOCH,
                pending_activation: false,
            },
            groups: Vec::new(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn staff_manage_only_accounts_within_their_own_rights() {
        let staff = Authority::of(
            false,
            ["auth.change_user".to_owned(), "auth.view_user".to_owned()],
        );
        assert!(staff.may_manage(&profile(false, &[])));
        assert!(staff.may_manage(&profile(false, &["auth.view_user"])));
        assert!(!staff.may_manage(&profile(false, &["auth.view_user", "auth.add_group"])));
        assert!(!staff.may_manage(&profile(true, &[])));
        assert!(staff.may_grant(&["auth.view_user".to_owned()]));
        assert!(!staff.may_grant(&["auth.delete_user".to_owned()]));
        let superuser = Authority::of(true, []);
        assert!(superuser.may_manage(&profile(true, &["shop.refund"])));
        assert!(superuser.may_grant(&["shop.refund".to_owned()]));
    }
}
