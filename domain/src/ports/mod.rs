//! Ports: the traits through which use cases reach storage, crypto and time.
//! Adapters live in `infrastructure`; in-memory fakes in `application::testing`.

mod account_repository;
mod api_key_repository;
mod audit_log;
mod group_repository;
mod mailer;
mod one_time_token_repository;
mod password_hasher;
mod permission_repository;
mod rate_limiter;
mod session_repository;
mod token_codec;
mod token_generator;
mod user_admin_repository;
mod user_repository;

pub use crate::clock::Clock;
pub use account_repository::{AccountRepository, PasswordChange, SessionRevocation};
pub use api_key_repository::ApiKeyRepository;
pub use audit_log::AuditLog;
pub use group_repository::{CreateGroupError, GroupRepository, UpdateGroupError};
pub use mailer::{MailError, MailFailure, Mailer};
pub use one_time_token_repository::OneTimeTokenRepository;
pub use password_hasher::{HashError, PasswordCheck, PasswordHasher};
pub use permission_repository::{CreatePermissionError, PermissionRepository};
pub use rate_limiter::RateLimiter;
pub use session_repository::SessionRepository;
pub use token_codec::TokenCodec;
pub use token_generator::TokenGenerator;
pub use user_admin_repository::{SaveUserError, UserAdminRepository};
pub use user_repository::{
    AuthState, CreateUserError, ImportedUser, Rehash, UpdateUserError, UserRepository,
};
