//! `AccountRepository` over PostgreSQL: one-time tokens and the changes they
//! authorise, each in one transaction with the email it queues.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::ports::{AccountRepository, PasswordChange, SessionRevocation};
use domain::{
    AuditEvent, EmailKind, NewOneTimeToken, OneTimeTokenRecord, RepositoryError, TokenPurpose,
    UserId,
};

use crate::db::{PgPool, connection, query_error};
use crate::email::Outbox;
use crate::email::composer::Recipient;
use crate::pg_audit_log::record_event;
use crate::pg_session_repository::{delete_api_keys, lock_sessions_of, revoke_user_sessions};
use crate::schema::{one_time_tokens, users};

#[derive(Clone)]
pub struct PgAccountRepository {
    pool: PgPool,
    outbox: Outbox,
}

impl PgAccountRepository {
    pub fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self { pool, outbox }
    }
}

#[derive(Queryable)]
struct TokenRow {
    id: i64,
    user_id: i64,
    purpose: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

/// Stores a one-time token for `user_id` after retiring his unused ones of the same
/// purpose, so only the newest link works. Inside the caller's transaction.
pub(crate) async fn store_token(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    token: &NewOneTimeToken,
) -> QueryResult<()> {
    retire_tokens(conn, user_id, token.purpose, token.created_at).await?;
    diesel::insert_into(one_time_tokens::table)
        .values((
            one_time_tokens::token_hash.eq(&token.digest),
            one_time_tokens::user_id.eq(user_id),
            one_time_tokens::purpose.eq(token.purpose.as_str()),
            one_time_tokens::created_at.eq(token.created_at),
            one_time_tokens::expires_at.eq(token.expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn retire_tokens(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    purpose: TokenPurpose,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        one_time_tokens::table
            .filter(one_time_tokens::user_id.eq(user_id))
            .filter(one_time_tokens::purpose.eq(purpose.as_str()))
            .filter(one_time_tokens::used_at.is_null()),
    )
    .set(one_time_tokens::used_at.eq(at))
    .execute(conn)
    .await
}

/// Marks one token used; `false` when it already was, or has expired by now.
async fn consume_token(
    conn: &mut AsyncPgConnection,
    id: i64,
    at: DateTime<Utc>,
) -> QueryResult<bool> {
    let updated = diesel::update(
        one_time_tokens::table
            .find(id)
            .filter(one_time_tokens::used_at.is_null())
            .filter(one_time_tokens::expires_at.gt(at)),
    )
    .set(one_time_tokens::used_at.eq(at))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// The email of a token's purpose.
pub(crate) fn link_email(token: &NewOneTimeToken) -> EmailKind {
    match token.purpose {
        TokenPurpose::Reset => EmailKind::PasswordReset {
            token: token.raw.clone(),
        },
        TokenPurpose::Activation => EmailKind::Activation {
            token: token.raw.clone(),
        },
    }
}

/// Queues `kind` to the user, read inside the transaction.
async fn email_user(
    outbox: &Outbox,
    conn: &mut AsyncPgConnection,
    user_id: i64,
    kind: &EmailKind,
) -> QueryResult<()> {
    let (username, email): (String, String) = users::table
        .find(user_id)
        .select((users::username, users::email))
        .first(conn)
        .await?;
    let to = Recipient {
        id: user_id,
        username: &username,
        email: &email,
    };
    outbox.enqueue(conn, kind, &to).await
}

impl AccountRepository for PgAccountRepository {
    async fn issue_token(
        &self,
        user_id: UserId,
        token: NewOneTimeToken,
        cooldown: chrono::Duration,
    ) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let outbox = &self.outbox;
        let issued = conn
            .transaction(async |conn| {
                // Concurrent requests for one user queue here, so the check holds.
                lock_sessions_of(conn, user_id.0).await?;
                let recent: bool = diesel::select(diesel::dsl::exists(
                    one_time_tokens::table
                        .filter(one_time_tokens::user_id.eq(user_id.0))
                        .filter(one_time_tokens::purpose.eq(token.purpose.as_str()))
                        .filter(one_time_tokens::created_at.gt(token.created_at - cooldown)),
                ))
                .get_result(conn)
                .await?;
                if recent {
                    return Ok(false);
                }
                store_token(conn, user_id.0, &token).await?;
                email_user(outbox, conn, user_id.0, &link_email(&token)).await?;
                Ok::<_, diesel::result::Error>(true)
            })
            .await
            .map_err(query_error)?;
        if issued {
            self.outbox.ring();
        }
        Ok(issued)
    }

    async fn find_token(
        &self,
        digest: &[u8],
    ) -> Result<Option<OneTimeTokenRecord>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row: Option<TokenRow> = one_time_tokens::table
            .filter(one_time_tokens::token_hash.eq(digest))
            .select((
                one_time_tokens::id,
                one_time_tokens::user_id,
                one_time_tokens::purpose,
                one_time_tokens::created_at,
                one_time_tokens::expires_at,
                one_time_tokens::used_at,
            ))
            .first(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        row.map(|row| {
            let purpose = TokenPurpose::parse(&row.purpose).ok_or_else(|| {
                RepositoryError::Unexpected(
                    format!("unknown token purpose {:?}", row.purpose).into(),
                )
            })?;
            Ok(OneTimeTokenRecord {
                id: row.id,
                user_id: UserId(row.user_id),
                purpose,
                created_at: row.created_at,
                expires_at: row.expires_at,
                used_at: row.used_at,
            })
        })
        .transpose()
    }

    async fn activate(
        &self,
        token_id: i64,
        user_id: UserId,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let outbox = &self.outbox;
        let activated = conn
            .transaction(async |conn| {
                // Only an account still awaiting activation: not one an administrator
                // has deactivated since, nor one already active.
                let activated = diesel::update(
                    users::table
                        .find(user_id.0)
                        .filter(users::pending_activation),
                )
                .set((
                    users::is_active.eq(true),
                    users::pending_activation.eq(false),
                ))
                .execute(conn)
                .await?;
                if activated == 0 {
                    return Ok(false);
                }
                if !consume_token(conn, token_id, at).await? {
                    return Err(diesel::result::Error::RollbackTransaction);
                }
                email_user(outbox, conn, user_id.0, &EmailKind::ActivationConfirmed).await?;
                record_event(conn, &audit).await?;
                Ok::<_, diesel::result::Error>(true)
            })
            .await
            .or_else(|error| match error {
                diesel::result::Error::RollbackTransaction => Ok(false),
                other => Err(query_error(other)),
            })?;
        if activated {
            self.outbox.ring();
        }
        Ok(activated)
    }

    async fn set_password(&self, change: PasswordChange) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let outbox = &self.outbox;
        let user_id = change.user_id.0;
        let changed = conn
            .transaction(async |conn| {
                // First, so that no login can start a session with the old password
                // between this change and the revocation below.
                lock_sessions_of(conn, user_id).await?;
                if let Some(token_id) = change.consume_token
                    && !consume_token(conn, token_id, change.at).await?
                {
                    return Ok(false);
                }
                let target = users::table.find(user_id);
                let values = (
                    users::password.eq(&change.password_hash),
                    users::password_changed_at.eq(change.at),
                );
                let updated = match &change.replaces_hash {
                    Some(old) => {
                        diesel::update(target.filter(users::password.eq(old)))
                            .set(values)
                            .execute(conn)
                            .await?
                    }
                    None => diesel::update(target).set(values).execute(conn).await?,
                };
                if updated == 0 {
                    // The password changed since it was checked: undo the token's use.
                    return Err(diesel::result::Error::RollbackTransaction);
                }
                // A reset link and every API key die when the password changes by any
                // route.
                retire_tokens(conn, user_id, TokenPurpose::Reset, change.at).await?;
                delete_api_keys(conn, user_id).await?;
                match change.revoke {
                    SessionRevocation::None => {}
                    SessionRevocation::AllBut(keep) => {
                        revoke_user_sessions(conn, user_id, Some(keep), change.at).await?;
                    }
                    SessionRevocation::All => {
                        revoke_user_sessions(conn, user_id, None, change.at).await?;
                    }
                }
                email_user(outbox, conn, user_id, &EmailKind::PasswordChanged).await?;
                record_event(conn, &change.audit).await?;
                Ok::<_, diesel::result::Error>(true)
            })
            .await
            .or_else(|error| match error {
                diesel::result::Error::RollbackTransaction => Ok(false),
                other => Err(query_error(other)),
            })?;
        if changed {
            self.outbox.ring();
        }
        Ok(changed)
    }
}
