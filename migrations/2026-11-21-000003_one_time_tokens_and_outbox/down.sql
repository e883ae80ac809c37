DROP TABLE email_outbox;
DROP TABLE one_time_tokens;
