-- What `gatehouse import-django` carries over from a Django database (README,
-- "Switching from Django").

-- A refresh token SimpleJWT issued before the switch, imported from its outstanding
-- tokens: it has no `sid` claim, so it is a session of its own (family_id = jti). It
-- is accepted once, and rotates into an ordinary Gatehouse session.
ALTER TABLE refresh_tokens ADD COLUMN from_simplejwt BOOLEAN NOT NULL DEFAULT FALSE;

-- What the imports wrote, so that a later run takes from Django only what changed
-- there since, and what Gatehouse changed meanwhile stands. No foreign keys: a user or
-- group deleted in Gatehouse stays known, and is not imported again.
--
-- A user: `imported` is {"user": Django's row as last imported (its hash as a
-- digest), "groups": [...], "permissions": [...]} (Gatehouse ids); `imported_at` is
-- when the last run that carried him over started: SimpleJWT access tokens signed
-- before then are accepted for him, later ones are not.
CREATE TABLE django_imported_users (
    user_id     BIGINT      PRIMARY KEY,
    imported    JSONB       NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL
);

-- A group: Django's id, Gatehouse's, and its grants as last imported.
CREATE TABLE django_imported_groups (
    django_id   BIGINT   PRIMARY KEY,
    group_id    BIGINT   NOT NULL,
    permissions BIGINT[] NOT NULL
);

-- DRF keys imported once: a key Gatehouse deleted since (a logout, a password change)
-- is not imported again.
CREATE TABLE django_imported_keys (
    key_hash BYTEA PRIMARY KEY
);
