-- The audit trail outlives the users it names: deleting a user must not erase who
-- did what, so the user columns keep their ids without foreign keys.
ALTER TABLE audit_events
    DROP CONSTRAINT audit_events_actor_id_fkey,
    DROP CONSTRAINT audit_events_subject_user_id_fkey;

-- GET /auth/audit/ lists newest first (occurred_at DESC, id DESC), filtered by:
--   nothing                      audit_events_occurred_at_id_idx
--   ?event_type=                 audit_events_event_type_occurred_at_idx (migration 4)
--   ?actor= (and ?user=)         audit_events_actor_id_occurred_at_idx
--   ?subject_user= (and ?user=)  audit_events_subject_user_id_occurred_at_idx
--   ?occurred_at_after/before=   a range on any of the above
DROP INDEX audit_events_occurred_at_idx;
DROP INDEX audit_events_actor_id_idx;
DROP INDEX audit_events_subject_user_id_idx;
CREATE INDEX audit_events_occurred_at_id_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_actor_id_occurred_at_idx ON audit_events (actor_id, occurred_at);
CREATE INDEX audit_events_subject_user_id_occurred_at_idx
    ON audit_events (subject_user_id, occurred_at);
