DROP TABLE django_imported_keys;
DROP TABLE django_imported_groups;
DROP TABLE django_imported_users;
ALTER TABLE refresh_tokens DROP COLUMN from_simplejwt;
