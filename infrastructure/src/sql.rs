//! SQL fragments more than one query needs, each written once. They read the row of
//! the `users` (or `groups`) table of the query they are projected in.

/// The user's group names, sorted.
pub(crate) const GROUP_NAMES: &str = "ARRAY(SELECT g.name FROM groups g \
     JOIN user_groups ug ON ug.group_id = g.id WHERE ug.user_id = users.id ORDER BY g.name)";

/// His effective permissions, sorted: every one for a superuser, else his direct
/// grants and his groups' (`domain::authorization::effective_permissions`).
pub(crate) const EFFECTIVE_PERMISSIONS: &str = "ARRAY(SELECT p.app_label || '.' || p.codename \
     FROM permissions p WHERE users.is_superuser \
        OR p.id IN (SELECT up.permission_id FROM user_permissions up WHERE up.user_id = users.id) \
        OR p.id IN (SELECT gp.permission_id FROM group_permissions gp \
                    JOIN user_groups ug ON ug.group_id = gp.group_id WHERE ug.user_id = users.id) \
     ORDER BY 1)";

/// His direct grants, sorted.
pub(crate) const DIRECT_PERMISSIONS: &str = "ARRAY(SELECT p.app_label || '.' || p.codename \
     FROM permissions p JOIN user_permissions up ON up.permission_id = p.id \
     WHERE up.user_id = users.id ORDER BY 1)";

/// A group's permissions, sorted.
pub(crate) const GROUP_PERMISSIONS: &str = "ARRAY(SELECT p.app_label || '.' || p.codename \
     FROM permissions p JOIN group_permissions gp ON gp.permission_id = p.id \
     WHERE gp.group_id = groups.id ORDER BY 1)";

/// A permission's string form.
pub(crate) const PERMISSION_CODE: &str = "permissions.app_label || '.' || permissions.codename";
