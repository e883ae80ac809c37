-- One row per issued refresh token. A family is one login (a session); every rotation
-- keeps the family and links the new row to its parent.

CREATE TABLE refresh_tokens (
    jti                UUID        PRIMARY KEY,
    user_id            BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id          UUID        NOT NULL,
    parent_jti         UUID,
    created_at         TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    session_started_at TIMESTAMPTZ NOT NULL,
    revoked_at         TIMESTAMPTZ,
    replaced_by        UUID,
    last_used_at       TIMESTAMPTZ,
    user_agent         VARCHAR(512),
    ip                 VARCHAR(45)
);
-- Access-token checks ask "is this family still live?" on every request.
CREATE INDEX refresh_tokens_family_id_live_idx ON refresh_tokens (family_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
-- Logout everywhere and session listing.
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
-- flushexpiredtokens.
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);
