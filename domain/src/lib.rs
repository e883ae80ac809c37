//! Gatehouse's domain: entities, value types, rules that need no I/O, and the ports
//! (traits) through which use cases reach the outside world.

pub mod admin;
pub mod audit;
pub mod authorization;
pub mod clock;
pub mod email;
pub mod error;
pub mod one_time_token;
pub mod password;
pub mod ports;
pub mod session;
pub mod throttle;
pub mod token;
pub mod user;
pub mod username;

pub use audit::{AuditEvent, AuditKind, AuditQuery, AuditRecord};
pub use email::EmailAddress;
pub use error::{BoxError, RepositoryError};
pub use one_time_token::{
    EmailKind, EmailMessage, MailedToken, NewOneTimeToken, OneTimeTokenRecord, TokenPurpose,
};
pub use password::Password;
pub use session::{NewRefreshToken, RefreshTokenRecord, RotateOutcome, SessionSummary};
pub use token::{Claims, TokenError, TokenType, UserClaims};
pub use user::{NewUser, ProfileChanges, User, UserId, UserProfile};
pub use username::Username;
