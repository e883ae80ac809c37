//! Django's model permissions, typed: which action on which model, and what a user
//! effectively holds (every permission for a superuser; else his direct grants and his
//! groups').

use std::collections::BTreeSet;

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
}
