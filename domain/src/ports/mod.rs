//! Ports: the traits through which use cases reach storage, crypto and time.
//! Adapters live in `infrastructure`; in-memory fakes in the use-case tests.

mod account_repository;
mod admin_repository;
mod audit_log;
mod mailer;
mod password_hasher;
mod rate_limiter;
mod session_repository;
mod token_codec;
mod token_generator;
mod user_repository;

pub use crate::clock::Clock;
pub use account_repository::{AccountRepository, PasswordChange, SessionRevocation};
pub use admin_repository::{AdminRepository, AdminWriteError};
pub use audit_log::AuditLog;
pub use mailer::{MailError, Mailer};
pub use password_hasher::{HashError, PasswordCheck, PasswordHasher};
pub use rate_limiter::RateLimiter;
pub use session_repository::SessionRepository;
pub use token_codec::TokenCodec;
pub use token_generator::TokenGenerator;
pub use user_repository::{AuthState, CreateUserError, Rehash, UpdateUserError, UserRepository};
