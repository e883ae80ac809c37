CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- The profile functions as migration 11 wrote them.
-- The names of the user's groups, sorted.
CREATE OR REPLACE FUNCTION gatehouse_group_names(user_id bigint) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ARRAY(SELECT g.name FROM groups g JOIN user_groups ug ON ug.group_id = g.id
                 WHERE ug.user_id = $1 ORDER BY g.name)
$$;

-- His effective permissions, sorted: every one for a superuser, else his direct grants
-- and his groups' (domain::authorization::effective_permissions).
CREATE OR REPLACE FUNCTION gatehouse_effective_permissions(user_id bigint, is_superuser boolean)
RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ARRAY(SELECT p.app_label || '.' || p.codename FROM permissions p
                 WHERE $2
                    OR p.id IN (SELECT up.permission_id FROM user_permissions up
                                WHERE up.user_id = $1)
                    OR p.id IN (SELECT gp.permission_id FROM group_permissions gp
                                JOIN user_groups ug ON ug.group_id = gp.group_id
                                WHERE ug.user_id = $1)
                 ORDER BY 1)
$$;

-- His direct grants, sorted.
CREATE OR REPLACE FUNCTION gatehouse_direct_permissions(user_id bigint) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ARRAY(SELECT p.app_label || '.' || p.codename FROM permissions p
                 JOIN user_permissions up ON up.permission_id = p.id
                 WHERE up.user_id = $1 ORDER BY 1)
$$;

