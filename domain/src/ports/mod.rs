//! Ports: the traits through which use cases reach storage, crypto and time.
//! Adapters live in `infrastructure`; in-memory fakes in the use-case tests.

mod password_hasher;
mod session_repository;
mod token_codec;
mod user_repository;

pub use crate::clock::Clock;
pub use password_hasher::{HashError, PasswordCheck, PasswordHasher};
pub use session_repository::SessionRepository;
pub use token_codec::TokenCodec;
pub use user_repository::{AuthState, CreateUserError, UpdateUserError, UserRepository};
