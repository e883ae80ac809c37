DROP INDEX email_outbox_failed_idx;
DROP INDEX email_outbox_due_idx;
ALTER TABLE email_outbox DROP COLUMN failed_at, DROP COLUMN refusals;
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE sent_at IS NULL;
