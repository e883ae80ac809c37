-- The outbox gives up on a message instead of retrying it for ever: `refusals` counts
-- the mail server's replies refusing it, and `failed_at` marks a message refused for
-- good (SMTP 5xx, an unusable address), refused for now `email.max_attempts` times, or
-- still undelivered `email.max_delivery_time` after it was queued. A failed message
-- keeps its bodies, so an operator can requeue it (README, "Failed emails").
ALTER TABLE email_outbox
    ADD COLUMN refusals  INTEGER     NOT NULL DEFAULT 0,
    ADD COLUMN failed_at TIMESTAMPTZ;

DROP INDEX email_outbox_due_idx;
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX email_outbox_failed_idx ON email_outbox (failed_at) WHERE failed_at IS NOT NULL;
