//! The audit trail (SPEC §11): who did what, when, from where, to whom. Each event is
//! written in the same transaction as the change it records, so no change goes
//! unrecorded and no event records a change that did not happen.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::UserId;

/// What happened. The string forms are stable: clients filter on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    LoginSucceeded,
    LoginFailed,
    /// One session ended by its refresh token.
    Logout,
    /// Every session of the user ended by himself.
    LogoutAll,
    /// One session ended from the user's session list.
    SessionRevoked,
    /// A rotated refresh token came back: its whole session was revoked.
    RefreshTokenReused,
    PasswordChanged,
    PasswordReset,
    AccountActivated,
    AccountRegistered,
    AccountUpdated,
    AccountDeleted,
    UserCreated,
    UserUpdated,
    UserDeleted,
    UserPasswordSet,
    UserLoggedOut,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    PermissionCreated,
    PermissionDeleted,
    PasswordCheckFailed,
}

impl AuditKind {
    pub const ALL: [AuditKind; 23] = [
        AuditKind::LoginSucceeded,
        AuditKind::LoginFailed,
        AuditKind::Logout,
        AuditKind::LogoutAll,
        AuditKind::SessionRevoked,
        AuditKind::RefreshTokenReused,
        AuditKind::PasswordChanged,
        AuditKind::PasswordReset,
        AuditKind::AccountActivated,
        AuditKind::AccountRegistered,
        AuditKind::AccountUpdated,
        AuditKind::AccountDeleted,
        AuditKind::UserCreated,
        AuditKind::UserUpdated,
        AuditKind::UserDeleted,
        AuditKind::UserPasswordSet,
        AuditKind::UserLoggedOut,
        AuditKind::GroupCreated,
        AuditKind::GroupUpdated,
        AuditKind::GroupDeleted,
        AuditKind::PermissionCreated,
        AuditKind::PermissionDeleted,
        AuditKind::PasswordCheckFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::LoginSucceeded => "login.succeeded",
            AuditKind::LoginFailed => "login.failed",
            AuditKind::Logout => "logout",
            AuditKind::LogoutAll => "logout.all",
            AuditKind::SessionRevoked => "session.revoked",
            AuditKind::RefreshTokenReused => "refresh_token.reused",
            AuditKind::PasswordChanged => "password.changed",
            AuditKind::PasswordReset => "password.reset",
            AuditKind::AccountActivated => "account.activated",
            AuditKind::AccountRegistered => "account.registered",
            AuditKind::AccountUpdated => "account.updated",
            AuditKind::AccountDeleted => "account.deleted",
            AuditKind::UserCreated => "user.created",
            AuditKind::UserUpdated => "user.updated",
            AuditKind::UserDeleted => "user.deleted",
            AuditKind::UserPasswordSet => "user.password_set",
            AuditKind::UserLoggedOut => "user.logged_out",
            AuditKind::GroupCreated => "group.created",
            AuditKind::GroupUpdated => "group.updated",
            AuditKind::GroupDeleted => "group.deleted",
            AuditKind::PermissionCreated => "permission.created",
            AuditKind::PermissionDeleted => "permission.deleted",
            AuditKind::PasswordCheckFailed => "password.check_failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event to record. `details` never holds a password, a token or a hash.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub at: DateTime<Utc>,
    /// Who acted; `None` when nobody signed in did (a failed login, a reset link).
    pub actor: Option<UserId>,
    /// On whom; for a creation, the store fills in the new user's id.
    pub subject: Option<UserId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Map<String, Value>,
}

impl AuditEvent {
    pub fn new(kind: AuditKind, at: DateTime<Utc>) -> Self {
        Self {
            kind,
            at,
            actor: None,
            subject: None,
            ip: None,
            user_agent: None,
            details: Map::new(),
        }
    }

    pub fn actor(mut self, actor: UserId) -> Self {
        self.actor = Some(actor);
        self
    }

    pub fn subject(mut self, subject: UserId) -> Self {
        self.subject = Some(subject);
        self
    }

    /// By the user on himself.
    pub fn by_self(self, user: UserId) -> Self {
        self.actor(user).subject(user)
    }

    pub fn from(mut self, ip: Option<String>, user_agent: Option<String>) -> Self {
        self.ip = ip;
        self.user_agent = user_agent;
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub event: AuditEvent,
}

/// Which events, newest first, which slice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditQuery {
    /// Events this user did or underwent.
    pub user: Option<UserId>,
    pub actor: Option<UserId>,
    pub subject: Option<UserId>,
    /// Any of these kinds; all kinds when empty.
    pub kinds: Vec<AuditKind>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// At or before.
    pub until: Option<DateTime<Utc>>,
    pub offset: i64,
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AuditKind::parse("login"), None);
        assert_eq!(AuditKind::parse("LOGIN.FAILED"), None);
    }

    #[test]
    fn names_are_unique_and_fit_the_column() {
        let names: std::collections::HashSet<_> =
            AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), AuditKind::ALL.len());
        assert!(names.iter().all(|n| n.len() <= 64));
    }
}
