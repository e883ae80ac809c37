//! `AccountRepository` over PostgreSQL: activation and password changes, each one
//! transaction with the email it queues.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::ports::{AccountRepository, PasswordChange, SessionRevocation};
use domain::{AuditEvent, EmailKind, RepositoryError, TokenPurpose, UserId};

use crate::db::{PgPool, TxError, connection, settle};
use crate::email::Outbox;
use crate::schema::users;
use crate::tx;

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

/// The change cannot happen (any more): undo what the transaction did.
struct Unchanged;

impl AccountRepository for PgAccountRepository {
    async fn activate(
        &self,
        token_id: i64,
        user_id: UserId,
        at: DateTime<Utc>,
        email: EmailKind,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let outbox = &self.outbox;
        let result = conn
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
                .await
                .context("while activating the user")?;
                if activated == 0 || !tx::consume_token(conn, token_id, at).await? {
                    return Err(TxError::Refused(Unchanged));
                }
                tx::email_user(outbox, conn, user_id.0, &email).await?;
                tx::record(conn, &audit).await?;
                Ok(())
            })
            .await;
        let activated = settle(result, "while activating an account")?.is_ok();
        if activated {
            self.outbox.ring();
        }
        Ok(activated)
    }

    async fn set_password(&self, change: PasswordChange) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let outbox = &self.outbox;
        let user_id = change.user_id.0;
        let result = conn
            .transaction(async |conn| {
                // First, so that no login can start a session with the old password
                // between this change and the revocation below.
                tx::lock_user(conn, user_id).await?;
                if let Some(token_id) = change.consume_token
                    && !tx::consume_token(conn, token_id, change.at).await?
                {
                    return Err(TxError::Refused(Unchanged));
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
                            .await
                    }
                    None => diesel::update(target).set(values).execute(conn).await,
                }
                .context("while storing the new password hash")?;
                if updated == 0 {
                    // Gone, or the password changed since it was checked: the token's
                    // use is undone with the rest.
                    return Err(TxError::Refused(Unchanged));
                }
                // A reset link and every API key die when the password changes by any
                // route.
                tx::retire_tokens(conn, user_id, TokenPurpose::Reset, change.at).await?;
                tx::delete_api_keys(conn, user_id).await?;
                let keep = match change.revoke {
                    SessionRevocation::None => None,
                    SessionRevocation::AllBut(keep) => Some(Some(keep)),
                    SessionRevocation::All => Some(None),
                };
                if let Some(keep) = keep {
                    tx::revoke_sessions(conn, user_id, keep, change.at).await?;
                }
                if let Some(email) = &change.email {
                    tx::email_user(outbox, conn, user_id, email).await?;
                }
                tx::record(conn, &change.audit).await?;
                Ok(())
            })
            .await;
        let changed = settle(result, "while changing a password")?.is_ok();
        if changed {
            self.outbox.ring();
        }
        Ok(changed)
    }
}
