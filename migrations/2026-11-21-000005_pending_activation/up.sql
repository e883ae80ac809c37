-- Accounts registered under `registration.require_activation` that have not been
-- activated yet. Only they may be (re)sent an activation link or activated by one: an
-- account an administrator deactivated is inactive but not pending, and stays so.
ALTER TABLE users ADD COLUMN pending_activation BOOLEAN NOT NULL DEFAULT FALSE;
