//! `OneTimeTokenRepository` over PostgreSQL: tokens stored as digests, issued in one
//! transaction with the email that carries them.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::ports::OneTimeTokenRepository;
use domain::{MailedToken, OneTimeTokenRecord, RepositoryError, TokenPurpose, UserId};

use crate::db::{PgPool, Step, connection};
use crate::email::Outbox;
use crate::schema::one_time_tokens;
use crate::tx;

#[derive(Clone)]
pub struct PgOneTimeTokenRepository {
    pool: PgPool,
    outbox: Outbox,
}

impl PgOneTimeTokenRepository {
    pub fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self { pool, outbox }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = one_time_tokens, check_for_backend(diesel::pg::Pg))]
struct TokenRow {
    id: i64,
    user_id: i64,
    purpose: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for OneTimeTokenRecord {
    type Error = RepositoryError;

    fn try_from(row: TokenRow) -> Result<Self, Self::Error> {
        let purpose = TokenPurpose::parse(&row.purpose).ok_or_else(|| {
            RepositoryError::Unexpected(format!("unknown token purpose {:?}", row.purpose).into())
        })?;
        Ok(OneTimeTokenRecord {
            id: row.id,
            user_id: UserId(row.user_id),
            purpose,
            created_at: row.created_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
        })
    }
}

impl OneTimeTokenRepository for PgOneTimeTokenRepository {
    async fn issue(
        &self,
        user_id: UserId,
        link: MailedToken,
        cooldown: chrono::Duration,
    ) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let outbox = &self.outbox;
        let token = &link.token;
        let issued = conn
            .transaction(async |conn| {
                // Concurrent requests for one user queue here, so the check holds.
                tx::lock_user(conn, user_id.0).await?;
                if !tx::user_exists(conn, user_id.0).await? {
                    return Ok(false);
                }
                let recent: bool = diesel::select(diesel::dsl::exists(
                    one_time_tokens::table
                        .filter(one_time_tokens::user_id.eq(user_id.0))
                        .filter(one_time_tokens::purpose.eq(token.purpose.as_str()))
                        .filter(one_time_tokens::created_at.gt(token.created_at - cooldown)),
                ))
                .get_result(conn)
                .await
                .context("while looking for a recent token")?;
                if recent {
                    return Ok(false);
                }
                tx::store_token(conn, user_id.0, token).await?;
                tx::email_user(outbox, conn, user_id.0, &link.email).await?;
                Ok::<_, anyhow::Error>(true)
            })
            .await
            .step("while issuing a one-time token")?;
        if issued {
            self.outbox.ring();
        }
        Ok(issued)
    }

    async fn find(&self, digest: &[u8]) -> Result<Option<OneTimeTokenRecord>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row: Option<TokenRow> = one_time_tokens::table
            .filter(one_time_tokens::token_hash.eq(digest))
            .select(TokenRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .step("while looking up a one-time token")?;
        row.map(OneTimeTokenRecord::try_from).transpose()
    }
}
