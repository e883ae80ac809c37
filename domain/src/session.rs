//! Sessions: one refresh-token family per login, one row per issued refresh token.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::UserId;

/// A refresh token to store when it is issued.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRefreshToken {
    pub jti: Uuid,
    pub user_id: UserId,
    pub family_id: Uuid,
    pub parent_jti: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the family's first token was issued: the session's login time (for a
    /// session opened from another, that one's).
    pub session_started_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The session this one was opened from, if any: it ends when that one ends.
    pub parent_session: Option<Uuid>,
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenRecord {
    pub jti: Uuid,
    pub user_id: UserId,
    pub family_id: Uuid,
    pub parent_jti: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub session_started_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<Uuid>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub parent_session: Option<Uuid>,
    /// A refresh token SimpleJWT issued before the switch, imported from its
    /// outstanding-token table (`gatehouse import-django`): it carries no `sid`, and it
    /// is a session of its own (`family_id` is its `jti`).
    pub from_simplejwt: bool,
}

/// A live session as its owner sees it: one refresh-token family.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    pub id: Uuid,
    /// The login that started it.
    pub created: DateTime<Utc>,
    /// The last refresh (or the login, when there was none).
    pub last_used: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// How an attempt to rotate a refresh token ended; decided atomically by the store.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// The token was live: it is now revoked and the successor stored.
    Rotated,
    /// The token was rotated less than `reuse_interval` ago and its successor is
    /// still live: the caller gets that successor again.
    AlreadyRotated(RefreshTokenRecord),
    /// The token was rotated earlier than that, or its successor is gone: reuse.
    /// The whole family has been revoked.
    Reused,
    /// The token was revoked without a successor (logout, password change…).
    Revoked,
    /// No such token is stored.
    Unknown,
}
