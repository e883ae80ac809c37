DROP TRIGGER permissions_notify_auth ON permissions;
DROP TRIGGER group_permissions_notify_auth ON group_permissions;
DROP TRIGGER groups_notify_auth ON groups;
DROP TRIGGER user_permissions_notify_auth ON user_permissions;
DROP TRIGGER user_groups_notify_auth ON user_groups;
DROP TRIGGER refresh_tokens_notify_auth ON refresh_tokens;
DROP TRIGGER users_notify_auth ON users;
DROP FUNCTION gatehouse_notify_everyone();
DROP FUNCTION gatehouse_notify_users_row();
DROP FUNCTION gatehouse_notify_user();
DROP FUNCTION gatehouse_rotate_live_refresh_token(bigint, uuid, timestamptz, uuid, uuid,
    timestamptz, timestamptz, varchar, varchar, uuid);
DROP FUNCTION gatehouse_direct_permissions(bigint);
DROP FUNCTION gatehouse_effective_permissions(bigint, boolean);
DROP FUNCTION gatehouse_group_names(bigint);
