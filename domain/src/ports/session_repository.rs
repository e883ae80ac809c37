//! Port: refresh-token families (sessions), rotated atomically.

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    AuditEvent, NewRefreshToken, RefreshTokenRecord, RepositoryError, RotateOutcome,
    SessionSummary, UserId, UserProfile,
};

/// Stores issued refresh tokens, one family per session.
///
/// # Errors
/// `RepositoryError::Unavailable` when the store cannot be reached in time,
/// `RepositoryError::Unexpected` otherwise.
pub trait SessionRepository: Clone + Send + Sync + 'static {
    /// Stores the first token of a new family; `false` when there is no such user. With
    /// `password_hash`, only while the user is active and that is still his password
    /// hash, checked under the same lock as every session revocation: a login racing a
    /// password reset either ends before the reset (and its session is revoked) or
    /// finds the password changed (`false`). A session opened from another
    /// (`token.parent_session`) starts only while that one is live at
    /// `token.created_at` (has a token neither revoked nor expired), checked under the
    /// same lock (`false` otherwise). `audit` is recorded with the new session, and
    /// only if it starts. A jti already stored is `Unexpected`: they are random, so a
    /// clash is a bug.
    fn start(
        &self,
        token: NewRefreshToken,
        password_hash: Option<String>,
        audit: Option<AuditEvent>,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;

    fn find(
        &self,
        jti: Uuid,
    ) -> impl Future<Output = Result<Option<RefreshTokenRecord>, RepositoryError>> + Send;

    /// [`Self::find`], with the profile of the token's user read in the same round
    /// trip: what a refresh needs before it rotates.
    fn find_with_profile(
        &self,
        jti: Uuid,
    ) -> impl Future<Output = Result<Option<(RefreshTokenRecord, UserProfile)>, RepositoryError>> + Send;

    /// When a session of the user that is live at `now` (has a token neither revoked
    /// nor expired) started; `None` when he has no such session.
    fn session_started_at(
        &self,
        user_id: UserId,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, RepositoryError>> + Send;

    /// Replaces `presented` by `successor` in one atomic step, so that of many
    /// concurrent calls with one token exactly one rotates it. A token rotated at most
    /// `reuse_interval` ago whose successor is live yields `AlreadyRotated` (never with a
    /// zero interval); any other
    /// presentation of a rotated token revokes the whole family and yields `Reused`,
    /// and only then is `on_reuse` recorded, with the revocation. A successor whose jti
    /// is already stored is `Unexpected`, and the presented token stays as it was.
    /// Revoking the family ends the sessions opened from it too, as `revoke_family`.
    fn rotate(
        &self,
        presented: Uuid,
        successor: NewRefreshToken,
        reuse_interval: chrono::Duration,
        on_reuse: AuditEvent,
    ) -> impl Future<Output = Result<RotateOutcome, RepositoryError>> + Send;

    /// Marks a token as used now (rotation off).
    fn touch(
        &self,
        jti: Uuid,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), RepositoryError>> + Send;

    /// Revokes every live token of one family and of every session opened from it, and
    /// from those, and so on; returns how many were live, and records `audit` only if
    /// there was one. `owner` is the user the family belongs to, whose lock it takes.
    fn revoke_family(
        &self,
        owner: UserId,
        family_id: Uuid,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<u64, RepositoryError>> + Send;

    /// Revokes every live token of the user, except those of `keep` when given, deletes
    /// all his API keys (a "log out everywhere" leaves no way in), and records `audit`.
    fn revoke_all_for_user(
        &self,
        user_id: UserId,
        keep: Option<Uuid>,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<u64, RepositoryError>> + Send;

    /// The user's live sessions, newest login first; sessions started in the same
    /// instant come in the order of their live token's jti.
    fn list_live(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SessionSummary>, RepositoryError>> + Send;

    /// Ends one of the user's sessions, and the sessions opened from it as
    /// `revoke_family` does, and records `audit`; `false` (nothing recorded) when he
    /// has no such live session.
    fn revoke_session(
        &self,
        user_id: UserId,
        family_id: Uuid,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> impl Future<Output = Result<bool, RepositoryError>> + Send;

    /// Deletes rows whose expiry has passed; returns how many.
    fn purge_expired(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, RepositoryError>> + Send;
}
