-- What `gatehouse import-django` carries over from a Django database (README,
-- "Switching from Django").

-- A refresh token SimpleJWT issued before the switch, imported from its outstanding
-- tokens: it has no `sid` claim, so it is a session of its own (family_id = jti). It
-- is accepted once, and rotates into an ordinary Gatehouse session.
ALTER TABLE refresh_tokens ADD COLUMN from_simplejwt BOOLEAN NOT NULL DEFAULT FALSE;

-- The users an import wrote, and a digest of the Django password hash it wrote last:
-- a later run tells a password changed in Django (taken, like any password change)
-- from a hash Gatehouse upgraded at login (kept). Only these users a later run may
-- update; a Gatehouse user of the same id, name or email is a conflict.
CREATE TABLE django_imported_users (
    user_id         BIGINT      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_digest BYTEA       NOT NULL,
    imported_at     TIMESTAMPTZ NOT NULL
);
