//! `SessionRepository` over PostgreSQL: refresh-token rows, rotated under a row lock.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::ports::SessionRepository;
use domain::{
    AuditEvent, NewRefreshToken, RefreshTokenRecord, RepositoryError, RotateOutcome,
    SessionSummary, UserId, UserProfile,
};
use uuid::Uuid;

use crate::db::{PgPool, Step, connection};
use crate::pg_user_repository::{UserRow, profile, profile_columns};
use crate::schema::{refresh_tokens, users};
use crate::sql::gatehouse_rotate_live_refresh_token;
use crate::tx;

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
    parent_family_id: Option<Uuid>,
    from_simplejwt: bool,
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
            parent_session: row.parent_family_id,
            from_simplejwt: row.from_simplejwt,
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
    parent_family_id: Option<Uuid>,
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
            parent_family_id: token.parent_session,
        }
    }
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
            let user = token.user_id.0;
            tx::lock_user(conn, user).await?;
            let may_start = match &password_hash {
                Some(hash) => tx::still_signed_in_as(conn, user, hash).await?,
                None => tx::user_exists(conn, user).await?,
            };
            let parent_live = match token.parent_session {
                Some(parent) => {
                    tx::session_live(conn, user, parent, Some(token.created_at)).await?
                }
                None => true,
            };
            if !(may_start && parent_live) {
                return Ok(false);
            }
            diesel::insert_into(refresh_tokens::table)
                .values(NewRefreshTokenRow::from(&token))
                .execute(conn)
                .await
                .context("while storing the session's first refresh token")?;
            if let Some(audit) = &audit {
                tx::record(conn, audit).await?;
            }
            Ok::<_, anyhow::Error>(true)
        })
        .await
        .step("while starting a session")
    }

    async fn find(&self, jti: Uuid) -> Result<Option<RefreshTokenRecord>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row = refresh_tokens::table
            .find(jti)
            .select(RefreshTokenRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .step("while reading a refresh token")?;
        Ok(row.map(RefreshTokenRecord::from))
    }

    async fn find_with_profile(
        &self,
        jti: Uuid,
    ) -> Result<Option<(RefreshTokenRecord, UserProfile)>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let (user, groups, permissions) = profile_columns();
        let row: Option<(RefreshTokenRow, UserRow, Vec<String>, Vec<String>)> =
            refresh_tokens::table
                .inner_join(users::table)
                .filter(refresh_tokens::jti.eq(jti))
                .select((RefreshTokenRow::as_select(), user, groups, permissions))
                .first(&mut conn)
                .await
                .optional()
                .step("while reading a refresh token and its user")?;
        Ok(row.map(|(token, user, groups, permissions)| {
            (token.into(), profile((user, groups, permissions)))
        }))
    }

    async fn session_started_at(
        &self,
        user_id: UserId,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        tx::live_tokens(user_id.0, family_id, Some(now))
            .select(refresh_tokens::session_started_at)
            .first(&mut conn)
            .await
            .optional()
            .step("while reading when a session started")
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
        // A live token, the common case: one round trip (see the function's comment in
        // migration 11 for why the session lock and the row lock suffice).
        let rotated: bool = diesel::select(gatehouse_rotate_live_refresh_token(
            successor.user_id.0,
            presented,
            now,
            successor.jti,
            successor.family_id,
            successor.expires_at,
            successor.session_started_at,
            successor.user_agent.as_deref(),
            successor.ip.as_deref(),
            successor.parent_session,
        ))
        .get_result(&mut conn)
        .await
        .step("while rotating a live refresh token")?;
        crate::db::note_write();
        if rotated {
            return Ok(RotateOutcome::Rotated);
        }
        // Rotated already, revoked, or unknown: judged under the locks, as before.
        conn.transaction(async |conn| -> anyhow::Result<RotateOutcome> {
            tx::lock_user(conn, successor.user_id.0).await?;
            // The row lock makes concurrent rotations of one token queue here: the first
            // rotates, the others see its `replaced_by`.
            let Some(row) = refresh_tokens::table
                .find(presented)
                .select(RefreshTokenRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()
                .context("while locking the presented refresh token")?
            else {
                return Ok(RotateOutcome::Unknown);
            };
            match (row.revoked_at, row.replaced_by) {
                (None, _) => {
                    diesel::insert_into(refresh_tokens::table)
                        .values(NewRefreshTokenRow::from(&successor))
                        .execute(conn)
                        .await
                        .context("while storing the successor")?;
                    diesel::update(refresh_tokens::table.find(presented))
                        .set((
                            refresh_tokens::revoked_at.eq(now),
                            refresh_tokens::replaced_by.eq(successor.jti),
                            refresh_tokens::last_used_at.eq(now),
                        ))
                        .execute(conn)
                        .await
                        .context("while retiring the presented refresh token")?;
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
                            .optional()
                            .context("while reading the successor")?;
                        if let Some(next_row) = next_row.filter(|r| r.revoked_at.is_none()) {
                            return Ok(RotateOutcome::AlreadyRotated(next_row.into()));
                        }
                    }
                    tx::revoke_family(conn, row.family_id, now).await?;
                    tx::record(conn, &on_reuse).await?;
                    Ok(RotateOutcome::Reused)
                }
                (Some(_), None) => Ok(RotateOutcome::Revoked),
            }
        })
        .await
        .step("while rotating a refresh token")
    }

    async fn touch(&self, jti: Uuid, at: DateTime<Utc>) -> Result<(), RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        diesel::update(refresh_tokens::table.find(jti))
            .set(refresh_tokens::last_used_at.eq(at))
            .execute(&mut conn)
            .await
            .step("while marking a refresh token used")?;
        Ok(())
    }

    async fn revoke_family(
        &self,
        owner: UserId,
        family_id: Uuid,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            tx::lock_user(conn, owner.0).await?;
            let revoked = tx::revoke_family(conn, family_id, at).await?;
            if revoked > 0 {
                tx::record(conn, &audit).await?;
            }
            Ok::<_, anyhow::Error>(revoked as u64)
        })
        .await
        .step("while ending a session")
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
            let revoked = tx::revoke_sessions(conn, user_id.0, keep, at).await?;
            tx::delete_api_keys(conn, user_id.0).await?;
            tx::record(conn, &audit).await?;
            Ok::<_, anyhow::Error>(revoked)
        })
        .await
        .step("while ending every session of a user")
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
            .step("while listing live sessions")?;
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
            tx::lock_user(conn, user_id.0).await?;
            if !tx::session_live(conn, user_id.0, family_id, None).await? {
                return Ok(false);
            }
            tx::revoke_family(conn, family_id, at).await?;
            tx::record(conn, &audit).await?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
        .step("while ending one of the user's sessions")
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let deleted =
            diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(now)))
                .execute(&mut conn)
                .await
                .step("while deleting expired refresh tokens")?;
        Ok(deleted as u64)
    }
}
