//! SQL fragments more than one query needs, each written once. They read the row of
//! the `users` (or `groups`) table of the query they are projected in.

use diesel::sql_types::{BigInt, Bool, Nullable, Timestamptz, Uuid, Varchar};

// The user's groups and permissions, as functions of migration 11 rather than inline
// subqueries: diesel prepares a statement with a SQL literal in it again on every use,
// and PostgreSQL plans it again; one calling these is prepared once per connection.

diesel::define_sql_function! {
    /// The user's group names, sorted.
    fn gatehouse_group_names(user_id: BigInt) -> Array<Text>;
}

diesel::define_sql_function! {
    /// His effective permissions, sorted: every one for a superuser, else his direct
    /// grants and his groups' (`domain::authorization::effective_permissions`).
    fn gatehouse_effective_permissions(user_id: BigInt, is_superuser: Bool) -> Array<Text>;
}

diesel::define_sql_function! {
    /// His direct grants, sorted.
    fn gatehouse_direct_permissions(user_id: BigInt) -> Array<Text>;
}

diesel::define_sql_function! {
    /// Rotates a live refresh token under the user's session lock (migration 11);
    /// `false` when the presented token is not live (or not his).
    #[allow(clippy::too_many_arguments)]
    fn gatehouse_rotate_live_refresh_token(
        user_id: BigInt,
        presented: Uuid,
        now: Timestamptz,
        successor: Uuid,
        family_id: Uuid,
        expires_at: Timestamptz,
        session_started_at: Timestamptz,
        user_agent: Nullable<Varchar>,
        ip: Nullable<Varchar>,
        parent_family_id: Nullable<Uuid>,
    ) -> Bool;
}

/// A group's permissions, sorted.
pub(crate) const GROUP_PERMISSIONS: &str = "ARRAY(SELECT p.app_label || '.' || p.codename \
     FROM permissions p JOIN group_permissions gp ON gp.permission_id = p.id \
     WHERE gp.group_id = groups.id ORDER BY 1)";

/// A permission's string form.
pub(crate) const PERMISSION_CODE: &str = "permissions.app_label || '.' || permissions.codename";
