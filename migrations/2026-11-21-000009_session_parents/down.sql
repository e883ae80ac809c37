DROP INDEX refresh_tokens_parent_family_id_idx;
ALTER TABLE refresh_tokens DROP COLUMN parent_family_id;
