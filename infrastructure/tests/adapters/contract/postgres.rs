//! The contract's harness over the PostgreSQL adapters, on a fresh database per case.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use domain::{OneTimeTokenRecord, TokenPurpose, User, UserId};
use infrastructure::db::{PoolSettings, build_pool};
use infrastructure::email::{EmailComposer, EmailTemplates, Outbox};
use infrastructure::testing::TestDatabase;
use infrastructure::{
    PgAccountRepository, PgApiKeyRepository, PgAuditLog, PgGroupRepository,
    PgOneTimeTokenRepository, PgPermissionRepository, PgPool, PgSessionRepository,
    PgUserAdminRepository, PgUserRepository,
};
use uuid::Uuid;

use super::{Harness, Mail};

const FRONTEND: &str = "http://frontend.test";

pub struct Postgres {
    db: TestDatabase,
    pool: PgPool,
    outbox: Outbox,
}

#[derive(diesel::QueryableByName)]
struct OutboxRow {
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Text)]
    body_text: String,
}

#[derive(diesel::QueryableByName)]
struct TokenRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    purpose: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    expires_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    used_at: Option<DateTime<Utc>>,
}

#[derive(diesel::QueryableByName)]
struct JtiRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    jti: Uuid,
}

/// Which email a rendered row is, told by its subject.
fn kind_of(subject: &str) -> &'static str {
    match subject {
        "Activate your account on Gatehouse" => "activation",
        "Your account on Gatehouse is active" => "activation_confirmed",
        "Password reset on Gatehouse" => "password_reset",
        "Your password on Gatehouse was changed" => "password_changed",
        other => panic!("an email no kind renders: {other:?}"),
    }
}

/// The token at the end of the row's activation or reset link.
fn link_token(body: &str) -> Option<String> {
    body.lines().find_map(|line| {
        ["activate/", "reset-password/"].iter().find_map(|path| {
            line.strip_prefix(&format!("{FRONTEND}/{path}"))
                .map(str::to_owned)
        })
    })
}

impl Harness for Postgres {
    type Users = PgUserRepository;
    type Sessions = PgSessionRepository;
    type ApiKeys = PgApiKeyRepository;
    type OneTimeTokens = PgOneTimeTokenRepository;
    type Accounts = PgAccountRepository;
    type UserAdmin = PgUserAdminRepository;
    type Groups = PgGroupRepository;
    type Permissions = PgPermissionRepository;
    type Audit = PgAuditLog;

    async fn start() -> Self {
        let db = TestDatabase::create().await;
        let pool = build_pool(&PoolSettings {
            url: Some(db.url.clone()),
            max_connections: 4,
            acquire_timeout: std::time::Duration::from_secs(10),
        })
        .expect("a pool");
        let outbox = Outbox::new(EmailComposer::new(EmailTemplates {
            site_name: "Gatehouse".to_owned(),
            frontend_url: FRONTEND.to_owned(),
            reset_url_template: "reset-password/{token}".to_owned(),
            activation_url_template: "activate/{token}".to_owned(),
        }));
        Postgres { db, pool, outbox }
    }

    fn users(&self) -> PgUserRepository {
        PgUserRepository::new(self.pool.clone(), self.outbox.clone())
    }

    fn sessions(&self) -> PgSessionRepository {
        PgSessionRepository::new(self.pool.clone())
    }

    fn api_keys(&self) -> PgApiKeyRepository {
        PgApiKeyRepository::new(self.pool.clone())
    }

    fn one_time_tokens(&self) -> PgOneTimeTokenRepository {
        PgOneTimeTokenRepository::new(self.pool.clone(), self.outbox.clone())
    }

    fn accounts(&self) -> PgAccountRepository {
        PgAccountRepository::new(self.pool.clone(), self.outbox.clone())
    }

    fn user_admin(&self) -> PgUserAdminRepository {
        PgUserAdminRepository::new(self.pool.clone())
    }

    fn groups(&self) -> PgGroupRepository {
        PgGroupRepository::new(self.pool.clone())
    }

    fn permissions(&self) -> PgPermissionRepository {
        PgPermissionRepository::new(self.pool.clone())
    }

    fn audit(&self) -> PgAuditLog {
        PgAuditLog::new(self.pool.clone())
    }

    async fn mails_to(&self, user: &User) -> Vec<Mail> {
        let mut conn = self.db.connect().await;
        let rows: Vec<OutboxRow> = diesel::sql_query(
            "SELECT subject, body_text FROM email_outbox WHERE recipient = $1 ORDER BY id",
        )
        .bind::<Text, _>(user.email.as_str())
        .load(&mut conn)
        .await
        .expect("read the outbox");
        rows.into_iter()
            .map(|row| Mail {
                kind: kind_of(&row.subject),
                token: link_token(&row.body_text),
            })
            .collect()
    }

    async fn one_time_tokens_of(&self, user: UserId) -> Vec<OneTimeTokenRecord> {
        let mut conn = self.db.connect().await;
        let rows: Vec<TokenRow> = diesel::sql_query(
            "SELECT id, purpose, created_at, expires_at, used_at FROM one_time_tokens \
             WHERE user_id = $1 ORDER BY id",
        )
        .bind::<BigInt, _>(user.0)
        .load(&mut conn)
        .await
        .expect("read the one-time tokens");
        rows.into_iter()
            .map(|row| OneTimeTokenRecord {
                id: row.id,
                user_id: user,
                purpose: TokenPurpose::parse(&row.purpose).expect("a known purpose"),
                created_at: row.created_at,
                expires_at: row.expires_at,
                used_at: row.used_at,
            })
            .collect()
    }

    async fn live_refresh_tokens_of(&self, user: UserId) -> BTreeSet<Uuid> {
        let mut conn = self.db.connect().await;
        let rows: Vec<JtiRow> = diesel::sql_query(
            "SELECT jti FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind::<BigInt, _>(user.0)
        .load(&mut conn)
        .await
        .expect("read the refresh tokens");
        rows.into_iter().map(|row| row.jti).collect()
    }
}
