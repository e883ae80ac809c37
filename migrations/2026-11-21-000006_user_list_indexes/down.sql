DROP INDEX users_last_login_id_idx;
DROP INDEX users_date_joined_id_idx;
DROP INDEX users_email_id_idx;
DROP INDEX users_is_superuser_id_idx;
DROP INDEX users_is_staff_id_idx;
DROP INDEX users_is_active_id_idx;
DROP INDEX users_search_trgm_idx;
