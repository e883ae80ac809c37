-- A session opened from another one (`GET /api/v1/auth/tokens`) names it on every one of
-- its tokens: ending a session ends the sessions opened from it, and a session opened
-- from another keeps that one's `session_started_at`, so it cannot outlive it.
ALTER TABLE refresh_tokens ADD COLUMN parent_family_id UUID;
CREATE INDEX refresh_tokens_parent_family_id_idx ON refresh_tokens (parent_family_id)
    WHERE parent_family_id IS NOT NULL;
