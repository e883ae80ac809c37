//! `SessionRepository` over PostgreSQL: refresh-token rows, rotated under a row lock.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::SessionRepository;
use domain::{
    AuditEvent, NewRefreshToken, RefreshTokenRecord, RepositoryError, RotateOutcome,
    SessionSummary, UserId,
};
use uuid::Uuid;

use crate::db::{PgPool, connection, query_error};
use crate::pg_audit_log::record_event;
use crate::schema::{api_tokens, refresh_tokens, users};

#[derive(Clone)]
pub struct PgSessionRepository {
    pool: PgPool,
}

impl PgSessionRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
struct RefreshTokenRow {
    jti: Uuid,
    user_id: i64,
    family_id: Uuid,
    parent_jti: Option<Uuid>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    session_started_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    replaced_by: Option<Uuid>,
    last_used_at: Option<DateTime<Utc>>,
    user_agent: Option<String>,
    ip: Option<String>,
}

impl From<RefreshTokenRow> for RefreshTokenRecord {
    fn from(row: RefreshTokenRow) -> Self {
        RefreshTokenRecord {
            jti: row.jti,
            user_id: UserId(row.user_id),
            family_id: row.family_id,
            parent_jti: row.parent_jti,
            created_at: row.created_at,
            expires_at: row.expires_at,
            session_started_at: row.session_started_at,
            revoked_at: row.revoked_at,
            replaced_by: row.replaced_by,
            last_used_at: row.last_used_at,
            user_agent: row.user_agent,
            ip: row.ip,
        }
    }
}

/// The live token of a session, as the session list shows it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
struct LiveSessionRow {
    family_id: Uuid,
    session_started_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    user_agent: Option<String>,
    ip: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = refresh_tokens)]
struct NewRefreshTokenRow<'a> {
    jti: Uuid,
    user_id: i64,
    family_id: Uuid,
    parent_jti: Option<Uuid>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    session_started_at: DateTime<Utc>,
    user_agent: Option<&'a str>,
    ip: Option<&'a str>,
}

impl<'a> From<&'a NewRefreshToken> for NewRefreshTokenRow<'a> {
    fn from(token: &'a NewRefreshToken) -> Self {
        NewRefreshTokenRow {
            jti: token.jti,
            user_id: token.user_id.0,
            family_id: token.family_id,
            parent_jti: token.parent_jti,
            created_at: token.created_at,
            expires_at: token.expires_at,
            session_started_at: token.session_started_at,
            user_agent: token.user_agent.as_deref(),
            ip: token.ip.as_deref(),
        }
    }
}

/// Serialises every write to one user's sessions (rotation, revocation) for the rest
/// of the transaction. Under READ COMMITTED an `UPDATE … WHERE family_id = …` cannot see
/// a successor inserted by a rotation that commits after the statement began; taking
/// this lock first makes the revocation wait for that rotation and then see its row.
pub(crate) async fn lock_sessions_of(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Revokes the live tokens of one family; the caller holds the user's lock.
pub(crate) async fn revoke_live_family(
    conn: &mut AsyncPgConnection,
    family_id: Uuid,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(at))
    .execute(conn)
    .await
}

/// Deletes every API key of the user; the caller holds the user's lock.
pub(crate) async fn delete_api_keys(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<()> {
    diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user_id)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Whether the user is active and `hash` is still his password hash.
async fn still_signed_in_as(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    hash: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table
            .find(user_id)
            .filter(users::password.eq(hash))
            .filter(users::is_active),
    ))
    .get_result(conn)
    .await
}

/// Takes the user's session lock and revokes his live tokens, but those of `keep`.
pub(crate) async fn revoke_user_sessions(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    keep: Option<Uuid>,
    at: DateTime<Utc>,
) -> QueryResult<u64> {
    lock_sessions_of(conn, user_id).await?;
    let live = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::revoked_at.is_null());
    let revoked = match keep {
        Some(family) => {
            diesel::update(live.filter(refresh_tokens::family_id.ne(family)))
                .set(refresh_tokens::revoked_at.eq(at))
                .execute(conn)
                .await?
        }
        None => {
            diesel::update(live)
                .set(refresh_tokens::revoked_at.eq(at))
                .execute(conn)
                .await?
        }
    };
    Ok(revoked as u64)
}

impl SessionRepository for PgSessionRepository {
    async fn start(
        &self,
        token: NewRefreshToken,
        password_hash: Option<String>,
        audit: Option<AuditEvent>,
    ) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            lock_sessions_of(conn, token.user_id.0).await?;
            if let Some(hash) = &password_hash
                && !still_signed_in_as(conn, token.user_id.0, hash).await?
            {
                return Ok(false);
            }
            diesel::insert_into(refresh_tokens::table)
                .values(NewRefreshTokenRow::from(&token))
                .execute(conn)
                .await?;
            if let Some(audit) = &audit {
                record_event(conn, audit).await?;
            }
            Ok(true)
        })
        .await
        .map_err(query_error)
    }

    async fn find(&self, jti: Uuid) -> Result<Option<RefreshTokenRecord>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row = refresh_tokens::table
            .find(jti)
            .select(RefreshTokenRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        Ok(row.map(RefreshTokenRecord::from))
    }

    async fn rotate(
        &self,
        presented: Uuid,
        successor: NewRefreshToken,
        reuse_interval: chrono::Duration,
        on_reuse: AuditEvent,
    ) -> Result<RotateOutcome, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let now = successor.created_at;
        conn.transaction(async |conn| {
            lock_sessions_of(conn, successor.user_id.0).await?;
            // The row lock makes concurrent rotations of one token queue here: the first
            // rotates, the others see its `replaced_by`.
            let Some(row) = refresh_tokens::table
                .find(presented)
                .select(RefreshTokenRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?
            else {
                return Ok(RotateOutcome::Unknown);
            };
            match (row.revoked_at, row.replaced_by) {
                (None, _) => {
                    diesel::insert_into(refresh_tokens::table)
                        .values(NewRefreshTokenRow::from(&successor))
                        .execute(conn)
                        .await?;
                    diesel::update(refresh_tokens::table.find(presented))
                        .set((
                            refresh_tokens::revoked_at.eq(now),
                            refresh_tokens::replaced_by.eq(successor.jti),
                            refresh_tokens::last_used_at.eq(now),
                        ))
                        .execute(conn)
                        .await?;
                    Ok(RotateOutcome::Rotated)
                }
                (Some(rotated_at), Some(next)) => {
                    // `now` was read before the row lock was granted, so it may precede
                    // `rotated_at`; a zero interval means no grace at all.
                    if reuse_interval > chrono::Duration::zero()
                        && now - rotated_at <= reuse_interval
                    {
                        let next_row = refresh_tokens::table
                            .find(next)
                            .select(RefreshTokenRow::as_select())
                            .first(conn)
                            .await
                            .optional()?;
                        if let Some(next_row) = next_row.filter(|r| r.revoked_at.is_none()) {
                            return Ok(RotateOutcome::AlreadyRotated(next_row.into()));
                        }
                    }
                    revoke_live_family(conn, row.family_id, now).await?;
                    record_event(conn, &on_reuse).await?;
                    Ok(RotateOutcome::Reused)
                }
                (Some(_), None) => Ok(RotateOutcome::Revoked),
            }
        })
        .await
        .map_err(query_error)
    }

    async fn touch(&self, jti: Uuid, at: DateTime<Utc>) -> Result<(), RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        diesel::update(refresh_tokens::table.find(jti))
            .set(refresh_tokens::last_used_at.eq(at))
            .execute(&mut conn)
            .await
            .map_err(query_error)?;
        Ok(())
    }

    async fn revoke_family(
        &self,
        family_id: Uuid,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let owner: Option<i64> = refresh_tokens::table
                .filter(refresh_tokens::family_id.eq(family_id))
                .select(refresh_tokens::user_id)
                .first(conn)
                .await
                .optional()?;
            let Some(owner) = owner else { return Ok(0) };
            lock_sessions_of(conn, owner).await?;
            let revoked = revoke_live_family(conn, family_id, at).await?;
            if revoked > 0 {
                record_event(conn, &audit).await?;
            }
            Ok(revoked as u64)
        })
        .await
        .map_err(query_error)
    }

    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        keep: Option<Uuid>,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let revoked = revoke_user_sessions(conn, user_id.0, keep, at).await?;
            delete_api_keys(conn, user_id.0).await?;
            record_event(conn, &audit).await?;
            Ok(revoked)
        })
        .await
        .map_err(query_error)
    }

    async fn list_live(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionSummary>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let rows: Vec<LiveSessionRow> = refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id.0))
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now))
            .order((
                refresh_tokens::session_started_at.desc(),
                refresh_tokens::jti,
            ))
            .select(LiveSessionRow::as_select())
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        Ok(rows
            .into_iter()
            .map(|row| SessionSummary {
                id: row.family_id,
                created: row.session_started_at,
                last_used: row
                    .last_used_at
                    .map_or(row.created_at, |used| used.max(row.created_at)),
                user_agent: row.user_agent,
                ip: row.ip,
            })
            .collect())
    }

    async fn revoke_session(
        &self,
        user_id: UserId,
        family_id: Uuid,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            lock_sessions_of(conn, user_id.0).await?;
            let revoked = diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::user_id.eq(user_id.0))
                    .filter(refresh_tokens::family_id.eq(family_id))
                    .filter(refresh_tokens::revoked_at.is_null()),
            )
            .set(refresh_tokens::revoked_at.eq(at))
            .execute(conn)
            .await?;
            if revoked > 0 {
                record_event(conn, &audit).await?;
            }
            Ok(revoked > 0)
        })
        .await
        .map_err(query_error)
    }

    async fn add_api_key(
        &self,
        user_id: UserId,
        digest: Vec<u8>,
        password_hash: Option<String>,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            lock_sessions_of(conn, user_id.0).await?;
            if let Some(hash) = &password_hash
                && !still_signed_in_as(conn, user_id.0, hash).await?
            {
                return Ok(false);
            }
            diesel::insert_into(api_tokens::table)
                .values((
                    api_tokens::key_hash.eq(&digest),
                    api_tokens::user_id.eq(user_id.0),
                    api_tokens::created_at.eq(audit.at),
                ))
                .execute(conn)
                .await?;
            record_event(conn, &audit).await?;
            Ok(true)
        })
        .await
        .map_err(query_error)
    }

    async fn delete_api_keys(
        &self,
        owner: UserId,
        only: Option<Vec<u8>>,
        audit: AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let keys = api_tokens::table.filter(api_tokens::user_id.eq(owner.0));
            let deleted = match &only {
                Some(digest) => {
                    diesel::delete(keys.filter(api_tokens::key_hash.eq(digest)))
                        .execute(conn)
                        .await?
                }
                None => diesel::delete(keys).execute(conn).await?,
            };
            if deleted > 0 {
                record_event(conn, &audit).await?;
            }
            Ok(deleted as u64)
        })
        .await
        .map_err(query_error)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let deleted =
            diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(now)))
                .execute(&mut conn)
                .await
                .map_err(query_error)?;
        Ok(deleted as u64)
    }
}
