//! `ApiKeyRepository` over PostgreSQL: keys stored by their digest.

use anyhow::Context;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::ports::ApiKeyRepository;
use domain::{AuditEvent, RepositoryError, UserId, UserProfile};

use crate::db::{PgPool, Step, connection};
use crate::pg_user_repository::{ProfileRow, profile, profile_columns};
use crate::schema::{api_tokens, users};
use crate::tx;

#[derive(Clone)]
pub struct PgApiKeyRepository {
    pool: PgPool,
}

impl PgApiKeyRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl ApiKeyRepository for PgApiKeyRepository {
    async fn add(
        &self,
        user_id: UserId,
        digest: Vec<u8>,
        password_hash: Option<String>,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            tx::lock_user(conn, user_id.0).await?;
            let may_add = match &password_hash {
                Some(hash) => tx::still_signed_in_as(conn, user_id.0, hash).await?,
                None => tx::user_exists(conn, user_id.0).await?,
            };
            if !may_add {
                return Ok(false);
            }
            diesel::insert_into(api_tokens::table)
                .values((
                    api_tokens::key_hash.eq(&digest),
                    api_tokens::user_id.eq(user_id.0),
                    api_tokens::created_at.eq(audit.at),
                ))
                .execute(conn)
                .await
                .context("while storing the key")?;
            tx::record(conn, &audit).await?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
        .step("while adding an API key")
    }

    async fn owner(&self, digest: &[u8]) -> Result<Option<UserProfile>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row: Option<ProfileRow> = users::table
            .inner_join(api_tokens::table)
            .filter(api_tokens::key_hash.eq(digest))
            .select(profile_columns())
            .first(&mut conn)
            .await
            .optional()
            .step("while looking up an API key")?;
        Ok(row.map(profile))
    }

    async fn delete(
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
                        .await
                }
                None => diesel::delete(keys).execute(conn).await,
            }
            .context("while deleting the keys")?;
            if deleted > 0 {
                tx::record(conn, &audit).await?;
            }
            Ok::<_, anyhow::Error>(deleted as u64)
        })
        .await
        .step("while deleting API keys")
    }
}
