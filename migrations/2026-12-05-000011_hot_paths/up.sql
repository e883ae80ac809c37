-- What authentication reads with every token check, as functions: a statement that
-- calls them is prepared once per connection and its plan kept, where the same
-- subqueries written inline were parsed and planned again on every request.

-- The names of the user's groups, sorted.
CREATE FUNCTION gatehouse_group_names(user_id bigint) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ARRAY(SELECT g.name FROM groups g JOIN user_groups ug ON ug.group_id = g.id
                 WHERE ug.user_id = $1 ORDER BY g.name)
$$;

-- His effective permissions, sorted: every one for a superuser, else his direct grants
-- and his groups' (domain::authorization::effective_permissions).
CREATE FUNCTION gatehouse_effective_permissions(user_id bigint, is_superuser boolean)
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
CREATE FUNCTION gatehouse_direct_permissions(user_id bigint) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ARRAY(SELECT p.app_label || '.' || p.codename FROM permissions p
                 JOIN user_permissions up ON up.permission_id = p.id
                 WHERE up.user_id = $1 ORDER BY 1)
$$;

-- The rotation of a live refresh token, in the caller's statement: the user's session
-- lock first (as every revocation of his sessions takes it), then the presented row is
-- retired only while it is live (its row lock queues concurrent rotations, and the
-- re-check after the wait lets exactly one of them through), and the successor is
-- stored only by the one that retired it. Returns whether it did.
CREATE FUNCTION gatehouse_rotate_live_refresh_token(
    p_user_id bigint, p_presented uuid, p_now timestamptz, p_successor uuid,
    p_family_id uuid, p_expires_at timestamptz, p_session_started_at timestamptz,
    p_user_agent varchar, p_ip varchar, p_parent_family_id uuid
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(p_user_id);
    UPDATE refresh_tokens
       SET revoked_at = p_now, replaced_by = p_successor, last_used_at = p_now
     WHERE jti = p_presented AND user_id = p_user_id AND revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO refresh_tokens (jti, user_id, family_id, parent_jti, created_at, expires_at,
                                session_started_at, user_agent, ip, parent_family_id)
    VALUES (p_successor, p_user_id, p_family_id, p_presented, p_now, p_expires_at,
            p_session_started_at, p_user_agent, p_ip, p_parent_family_id);
    RETURN true;
END
$$;

-- Every change that can alter what authentication reads (a user, his sessions, his
-- groups and permissions) is announced on channel gatehouse_auth, delivered at commit
-- to every instance that listens: the payload is the user's id, or '*' when the change
-- may concern anyone (a group's permissions, a permission's name). Instances keep
-- answers of authentication in memory and forget them on these messages.
-- PostgreSQL delivers one message per distinct payload per transaction.

CREATE FUNCTION gatehouse_notify_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('gatehouse_auth', OLD.user_id::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('gatehouse_auth', NEW.user_id::text);
    IF TG_OP = 'UPDATE' AND OLD.user_id <> NEW.user_id THEN
        PERFORM pg_notify('gatehouse_auth', OLD.user_id::text);
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION gatehouse_notify_users_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_auth', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE FUNCTION gatehouse_notify_everyone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_auth', '*');
    RETURN NULL;
END
$$;

-- The user himself: flags, names, password, last login, deletion.
CREATE TRIGGER users_notify_auth
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_users_row();

-- A session ends when its last live token is revoked or deleted. A rotation retires a
-- token for its successor (replaced_by set with revoked_at) and leaves the session
-- live: it announces nothing, and the busiest write path stays off the notify queue.
CREATE TRIGGER refresh_tokens_notify_revocation
    AFTER UPDATE OF revoked_at ON refresh_tokens
    FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.replaced_by IS NULL)
    EXECUTE FUNCTION gatehouse_notify_user();
CREATE TRIGGER refresh_tokens_notify_deletion
    AFTER DELETE ON refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_user();

-- His groups and his own permissions.
CREATE TRIGGER user_groups_notify_auth
    AFTER INSERT OR UPDATE OR DELETE ON user_groups
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_user();
CREATE TRIGGER user_permissions_notify_auth
    AFTER INSERT OR UPDATE OR DELETE ON user_permissions
    FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_user();

-- What a group or a permission is: anyone may hold it.
CREATE TRIGGER groups_notify_auth
    AFTER UPDATE OR DELETE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();
CREATE TRIGGER group_permissions_notify_auth
    AFTER INSERT OR UPDATE OR DELETE ON group_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();
-- A new permission is a superuser's at once.
CREATE TRIGGER permissions_notify_auth
    AFTER INSERT OR UPDATE OR DELETE ON permissions
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();

-- Emptying any of them concerns everyone.
CREATE TRIGGER users_truncate_notify_auth AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();
CREATE TRIGGER refresh_tokens_truncate_notify_auth AFTER TRUNCATE ON refresh_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();
CREATE TRIGGER user_groups_truncate_notify_auth AFTER TRUNCATE ON user_groups
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();
CREATE TRIGGER user_permissions_truncate_notify_auth AFTER TRUNCATE ON user_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();
CREATE TRIGGER groups_truncate_notify_auth AFTER TRUNCATE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();
CREATE TRIGGER group_permissions_truncate_notify_auth AFTER TRUNCATE ON group_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();
CREATE TRIGGER permissions_truncate_notify_auth AFTER TRUNCATE ON permissions
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_everyone();
