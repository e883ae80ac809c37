//! Gatehouse's adapters: the ports of `domain` implemented over PostgreSQL
//! (diesel-async), bcrypt and jsonwebtoken.

pub mod bcrypt_hasher;
pub mod db;
pub mod email;
pub mod jwt_codec;
pub mod pg_account_repository;
pub mod pg_admin_repository;
pub mod pg_audit_log;
pub mod pg_session_repository;
pub mod pg_user_repository;
mod schema;
pub mod sha256_token_generator;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;

pub use bcrypt_hasher::BcryptPasswordHasher;
pub use db::PgPool;
pub use jwt_codec::{JwtSettings, JwtTokenCodec};
pub use pg_account_repository::PgAccountRepository;
pub use pg_admin_repository::PgAdminRepository;
pub use pg_audit_log::PgAuditLog;
pub use pg_session_repository::PgSessionRepository;
pub use pg_user_repository::PgUserRepository;
pub use sha256_token_generator::Sha256TokenGenerator;
