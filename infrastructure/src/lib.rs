//! Gatehouse's adapters: the ports of `domain` implemented over PostgreSQL
//! (diesel-async), bcrypt, jsonwebtoken, lettre and Redis.

pub mod auth_cache;
pub mod bcrypt_hasher;
pub mod db;
mod django_hashes;
pub mod django_import;
pub mod email;
mod hashing_pool;
pub mod jwt_codec;
pub mod jwt_keys;
mod pg_account_repository;
mod pg_api_key_repository;
mod pg_audit_log;
pub mod pg_connect;
mod pg_group_repository;
mod pg_one_time_token_repository;
mod pg_permission_repository;
mod pg_session_repository;
mod pg_user_admin_repository;
mod pg_user_repository;
mod schema;
pub mod sha256_token_generator;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod tls;
mod tx;

pub use bcrypt_hasher::{BcryptPasswordHasher, HashingSettings};
pub use db::PgPool;
pub use jwt_codec::{JwtSettings, JwtTokenCodec, KeyReport};
pub use jwt_keys::{GeneratedKey, JwtAlgorithm, KeyError, generate_key_pair};
pub use pg_account_repository::PgAccountRepository;
pub use pg_api_key_repository::PgApiKeyRepository;
pub use pg_audit_log::PgAuditLog;
pub use pg_group_repository::PgGroupRepository;
pub use pg_one_time_token_repository::PgOneTimeTokenRepository;
pub use pg_permission_repository::PgPermissionRepository;
pub use pg_session_repository::PgSessionRepository;
pub use pg_user_admin_repository::PgUserAdminRepository;
pub use pg_user_repository::PgUserRepository;
pub use sha256_token_generator::Sha256TokenGenerator;
