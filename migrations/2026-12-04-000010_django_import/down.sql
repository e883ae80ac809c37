DROP TABLE django_imported_users;
ALTER TABLE refresh_tokens DROP COLUMN from_simplejwt;
