DROP INDEX audit_events_subject_user_id_occurred_at_idx;
DROP INDEX audit_events_actor_id_occurred_at_idx;
DROP INDEX audit_events_occurred_at_id_idx;
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_id_idx ON audit_events (actor_id);
CREATE INDEX audit_events_subject_user_id_idx ON audit_events (subject_user_id);
UPDATE audit_events SET actor_id = NULL WHERE actor_id NOT IN (SELECT id FROM users);
UPDATE audit_events SET subject_user_id = NULL
    WHERE subject_user_id NOT IN (SELECT id FROM users);
ALTER TABLE audit_events
    ADD CONSTRAINT audit_events_actor_id_fkey
        FOREIGN KEY (actor_id) REFERENCES users (id) ON DELETE SET NULL,
    ADD CONSTRAINT audit_events_subject_user_id_fkey
        FOREIGN KEY (subject_user_id) REFERENCES users (id) ON DELETE SET NULL;
