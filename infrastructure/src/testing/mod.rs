//! Test support (feature `testing`): a fresh, migrated database per test, dropped
//! when the test ends. The server comes from `GATEHOUSE_TEST_PG_URL` (a URL without a
//! database name), by default the local `postgres://postgres@127.0.0.1:5432`.

use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::db::run_migrations;

pub struct TestDatabase {
    pub url: SecretString,
    server: String,
    name: String,
}

#[derive(diesel::QueryableByName)]
struct Scalar {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    value: Option<String>,
}

pub fn server_url() -> String {
    std::env::var("GATEHOUSE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

impl TestDatabase {
    /// Creates and migrates `gh_test_<random>`.
    ///
    /// Its text sorts in the `C` collation (by code point), whatever the server's
    /// default: orders then read the same on every machine, and as the in-memory fakes
    /// order text. The character classes stay the server's, so `lower()` still folds
    /// every letter, not only ASCII ones.
    pub async fn create() -> Self {
        let database = Self::create_empty().await;
        run_migrations(&database.url)
            .await
            .expect("migrate the test database");
        database
    }

    /// Creates `gh_test_<random>` with no tables, as [`TestDatabase::create`] does.
    pub async fn create_empty() -> Self {
        let server = server_url();
        let name = format!("gh_test_{}", Uuid::new_v4().simple());
        let url = SecretString::from(format!("{server}/{name}"));
        let mut maintenance = AsyncPgConnection::establish(&format!("{server}/postgres"))
            .await
            .expect("connect to the server's `postgres` database");
        diesel::sql_query(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 LC_COLLATE 'C'"
        ))
        .execute(&mut maintenance)
        .await
        .expect("create the test database");
        Self { url, server, name }
    }

    /// Runs statements separated by `;` in one round trip, as a dump is loaded.
    pub async fn batch(&self, sql: &str) {
        let (client, connection) =
            tokio_postgres::connect(self.url.expose_secret(), tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
        let connection = tokio::spawn(connection);
        client.batch_execute(sql).await.expect("the statements run");
        drop(client);
        let _ = connection.await;
    }

    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(self.url.expose_secret())
            .await
            .expect("connect to the test database")
    }

    /// Runs a statement; returns the number of rows it touched.
    pub async fn execute(&self, sql: &str) -> usize {
        let mut conn = self.connect().await;
        diesel::sql_query(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a query returning one `bigint` column `value` in one row.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = self.connect().await;
        let row: Scalar = diesel::sql_query(sql)
            .get_result(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        row.value
    }

    /// Runs a query returning one nullable `text` column `value` in one row.
    pub async fn text(&self, sql: &str) -> Option<String> {
        let mut conn = self.connect().await;
        let row: Text = diesel::sql_query(sql)
            .get_result(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        row.value
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let maintenance = format!("{}/postgres", self.server);
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Drop may run inside a runtime: do the I/O on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = AsyncPgConnection::establish(&maintenance).await.ok()?;
                diesel::sql_query(statement).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

mod smtp;
mod tls;
pub use smtp::{ReceivedEmail, SmtpCatcher};
pub use tls::{IssuedCertificate, PgTlsServer, TestCa, TlsRedis};

/// A password hashed by real Django (`scripts/django/password_hashes.py`): the
/// hasher's name, the plaintext and the stored form.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DjangoHash {
    pub hasher: String,
    pub password: String,
    pub encoded: String,
}

/// Every hash of `tests/fixtures/django_password_hashes.json`.
pub fn django_password_hashes() -> Vec<DjangoHash> {
    serde_json::from_str(include_str!(
        "../../tests/fixtures/django_password_hashes.json"
    ))
    .expect("the fixture is JSON")
}

/// `tests/fixtures/django_auth_db.json`: what `scripts/django/auth_database.py` made
/// in a Django database with real Django, and the secrets a test needs to use it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DjangoFixture {
    pub django: String,
    pub simplejwt: String,
    pub users: Vec<DjangoFixtureUser>,
    pub drf_tokens: Vec<DjangoFixtureToken>,
    pub refresh_tokens: Vec<DjangoFixtureToken>,
    pub access_tokens: Vec<DjangoFixtureToken>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct DjangoFixtureUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    /// `None` for an unusable password.
    pub password: Option<String>,
    pub hasher: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
}

/// A DRF key (`key`) or a SimpleJWT token (`token`, `state`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DjangoFixtureToken {
    pub username: String,
    pub user_id: i64,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub jti: String,
    #[serde(default)]
    pub state: String,
}

impl DjangoFixture {
    pub fn user(&self, username: &str) -> &DjangoFixtureUser {
        self.users
            .iter()
            .find(|u| u.username == username)
            .unwrap_or_else(|| panic!("no user {username} in the fixture"))
    }

    /// The refresh or access token of `username` in `state`.
    pub fn token<'a>(
        tokens: &'a [DjangoFixtureToken],
        username: &str,
        state: &str,
    ) -> &'a DjangoFixtureToken {
        tokens
            .iter()
            .find(|t| t.username == username && t.state == state)
            .unwrap_or_else(|| panic!("no {state} token of {username} in the fixture"))
    }
}

pub fn django_fixture() -> DjangoFixture {
    serde_json::from_str(include_str!("../../tests/fixtures/django_auth_db.json"))
        .expect("the fixture is JSON")
}

/// A fresh database holding the Django database of the fixture, as Django left it.
pub async fn django_database() -> TestDatabase {
    let database = TestDatabase::create_empty().await;
    database
        .batch(include_str!("../../tests/fixtures/django_auth_db.sql"))
        .await;
    database
}
