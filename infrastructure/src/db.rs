//! The PostgreSQL connection pool, embedded migrations and database creation.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::metrics::{gauge, histogram};
use anyhow::Context;
use application::metrics;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use domain::RepositoryError;
use futures_util::FutureExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use crate::pg_connect::{PgConnectOptions, SslMode};

pub type PgPool = Pool<AsyncPgConnection>;
pub type PgConnection = Object<AsyncPgConnection>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Any fixed number: the key of the advisory lock that serialises concurrent migrators.
const MIGRATION_LOCK_KEY: i64 = 0x6761_7465_686f_7573;

/// The database and its pool (`database.*`).
#[derive(Debug, Clone, Deserialize)]
pub struct PoolSettings {
    /// `DATABASE_URL`; required by every command that uses the database.
    #[serde(default)]
    pub url: Option<SecretString>,
    pub max_connections: usize,
    #[serde(deserialize_with = "application::config::duration")]
    pub acquire_timeout: Duration,
}

impl PoolSettings {
    pub fn url(&self) -> anyhow::Result<&SecretString> {
        self.url
            .as_ref()
            .context("invalid configuration: database.url: DATABASE_URL is not set")
    }
}

/// Builds the pool; connections are opened lazily, so this succeeds while the
/// database is down and the pool recovers by itself when it comes back.
///
/// A connection is handed out again without a round trip to check it (deadpool's
/// default sends `SELECT 1` on every checkout): one whose socket has closed is
/// dropped, one that breaks in use fails that use (a 503) and is dropped.
///
/// The URL is read once, here (`sslmode`, `sslrootcert` and its file included), so a
/// bad one stops start-up rather than every connection.
pub fn build_pool(settings: &PoolSettings) -> anyhow::Result<PgPool> {
    let url = settings.url()?;
    let options = Arc::new(
        PgConnectOptions::parse(url.expose_secret())
            .context("invalid configuration: database.url")?,
    );
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |_url| {
        let options = options.clone();
        async move {
            use diesel_async::AsyncConnection as _;
            let mut conn = options.connect_diesel().await?;
            conn.set_instrumentation(StatementCounter::default());
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        url.expose_secret(),
        config,
    );
    Pool::builder(manager)
        .max_size(settings.max_connections)
        .wait_timeout(Some(settings.acquire_timeout))
        .create_timeout(Some(settings.acquire_timeout))
        .recycle_timeout(Some(settings.acquire_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("while building the database pool")
}

tokio::task_local! {
    static STATEMENTS: Cell<u32>;
}

/// One per pooled connection. Counts, for the [`counting_statements`] around it,
/// every statement the connection starts (`BEGIN` and `COMMIT` included), and every
/// change it makes, once the statement that makes it has run and once it is committed
/// ([`local_writes`]).
#[derive(Default)]
struct StatementCounter {
    /// Whether the open transaction has written: its `COMMIT` is a change too.
    wrote: bool,
}

impl Instrumentation for StatementCounter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                let _ = STATEMENTS.try_with(|count| count.set(count.get() + 1));
            }
            InstrumentationEvent::FinishQuery { query, .. }
                if self.changed(statement_kind(query)) =>
            {
                LOCAL_WRITES.fetch_add(1, Ordering::AcqRel);
            }
            _ => {}
        }
    }
}

impl StatementCounter {
    /// Whether a statement of this kind, just run, is a change others may now see.
    fn changed(&mut self, kind: StatementKind) -> bool {
        match kind {
            StatementKind::Read => false,
            StatementKind::Write => {
                self.wrote = true;
                true
            }
            StatementKind::Commit => std::mem::take(&mut self.wrote),
        }
    }
}

/// Statements that may have written, through any pool of this process, that have run.
static LOCAL_WRITES: AtomicU64 = AtomicU64::new(0);

/// A statement that wrote though it reads as a `SELECT` (of a function that writes)
/// has run.
pub(crate) fn note_write() {
    LOCAL_WRITES.fetch_add(1, Ordering::AcqRel);
}

/// How many statements that may have written (or committed what others wrote) this
/// process has run: what was read before a change of this number may be stale.
pub fn local_writes() -> u64 {
    LOCAL_WRITES.load(Ordering::Acquire)
}

#[derive(Debug, PartialEq, Eq)]
enum StatementKind {
    /// `SELECT` (`… FOR UPDATE` included), `BEGIN`, `SHOW`, `SET`, `LISTEN`,
    /// `ROLLBACK`, `SAVEPOINT`, `RELEASE` (a savepoint's: nothing is seen before the
    /// outer `COMMIT`). A `SELECT` of a function that writes must say so: [`note_write`].
    Read,
    /// `COMMIT`: what the transaction wrote is now seen.
    Commit,
    /// Anything else may have written.
    Write,
}

/// What a statement is, by its first word only.
fn statement_kind(query: &dyn std::fmt::Display) -> StatementKind {
    /// Keeps the first word of what is written into it, then stops the formatting.
    struct FirstWord {
        word: [u8; 8],
        len: usize,
        started: bool,
    }
    impl std::fmt::Write for FirstWord {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            for byte in text.bytes() {
                if byte.is_ascii_alphabetic() {
                    self.started = true;
                    if self.len == self.word.len() {
                        return Err(std::fmt::Error);
                    }
                    self.word[self.len] = byte.to_ascii_uppercase();
                    self.len += 1;
                } else if self.started {
                    return Err(std::fmt::Error);
                }
            }
            Ok(())
        }
    }
    let mut first = FirstWord {
        word: [0; 8],
        len: 0,
        started: false,
    };
    let _ = std::fmt::write(&mut first, format_args!("{query}"));
    match &first.word[..first.len] {
        b"SELECT" | b"BEGIN" | b"SHOW" | b"SET" | b"LISTEN" | b"ROLLBACK" | b"SAVEPOIN"
        | b"RELEASE" => StatementKind::Read,
        b"COMMIT" => StatementKind::Commit,
        _ => StatementKind::Write,
    }
}

/// Runs `work` and counts the statements it sends through the pool: its round trips
/// to PostgreSQL. Work of other tasks (the outbox worker, another request) is not
/// counted.
pub async fn counting_statements<F: Future>(work: F) -> (F::Output, u32) {
    STATEMENTS
        .scope(Cell::new(0), async move {
            let output = work.await;
            (output, STATEMENTS.with(Cell::get))
        })
        .await
}

/// Sets the pool's gauges from its state now (when `/metrics` is read).
pub fn record_pool_status(pool: &PgPool) {
    let status = pool.status();
    let in_use = status.size.saturating_sub(status.available);
    gauge!(metrics::POOL_CONNECTIONS, "state" => "in_use").set(in_use as f64);
    gauge!(metrics::POOL_CONNECTIONS, "state" => "idle").set(status.available as f64);
    gauge!(metrics::POOL_WAITING).set(status.waiting as f64);
}

/// Takes a connection from the pool; a timeout or a refused connection is `Unavailable`.
pub async fn connection(pool: &PgPool) -> Result<PgConnection, RepositoryError> {
    let asked = Instant::now();
    let taken = pool.get().await;
    histogram!(metrics::POOL_WAIT).record(asked.elapsed());
    taken.map_err(|error| {
        let unavailable = matches!(error, PoolError::Timeout(_) | PoolError::Backend(_));
        let error = anyhow::Error::new(error).context("while taking a database connection");
        match unavailable {
            true => RepositoryError::Unavailable(error.into()),
            false => RepositoryError::Unexpected(error.into()),
        }
    })
}

/// Every database error in the chain.
fn diesel_errors(error: &anyhow::Error) -> impl Iterator<Item = &DieselError> {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<DieselError>())
}

/// A failed store step, with the "while …" of every step it went through, as the
/// ports report it: a lost connection is `Unavailable`, anything else `Unexpected`.
/// Connections are not checked before use, so a statement sent on one the server has
/// just closed fails this way (the driver says "unable to send"), not as a bug.
pub(crate) fn store_error(error: anyhow::Error) -> RepositoryError {
    let closed = diesel_errors(&error).any(|cause| {
        matches!(
            cause,
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _
            )
        )
    });
    match closed {
        true => RepositoryError::Unavailable(error.into()),
        false => RepositoryError::Unexpected(error.into()),
    }
}

/// Names what a store step was doing when it failed.
pub(crate) trait Step<T> {
    /// The port's error for this step, its cause chain told `while …`.
    fn step(self, doing: &'static str) -> Result<T, RepositoryError>;
}

impl<T, E: Into<anyhow::Error>> Step<T> for Result<T, E> {
    fn step(self, doing: &'static str) -> Result<T, RepositoryError> {
        self.map_err(|error| store_error(error.into().context(doing)))
    }
}

/// A transaction's error: an outcome the port reports, which rolls the transaction
/// back (`Refused`), or a failure of the store.
pub(crate) enum TxError<E> {
    Refused(E),
    Failed(anyhow::Error),
}

impl<E> From<DieselError> for TxError<E> {
    fn from(error: DieselError) -> Self {
        TxError::Failed(error.into())
    }
}

impl<E> From<anyhow::Error> for TxError<E> {
    fn from(error: anyhow::Error) -> Self {
        TxError::Failed(error)
    }
}

/// A transaction's result, settled: `Err(refusal)` inside, the store's failure (told
/// `while doing`) outside.
pub(crate) fn settle<T, E>(
    result: Result<T, TxError<E>>,
    doing: &'static str,
) -> Result<Result<T, E>, RepositoryError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(TxError::Refused(refusal)) => Ok(Err(refusal)),
        Err(TxError::Failed(error)) => Err(store_error(error.context(doing))),
    }
}

impl<E> TxError<E> {
    /// A violation of a unique constraint turned into the refusal `refusal` names for
    /// that constraint; any other error as it is.
    pub(crate) fn unique(self, refusal: impl Fn(&str) -> Option<E>) -> Self {
        let TxError::Failed(error) = &self else {
            return self;
        };
        let constraint = diesel_errors(error).find_map(|cause| match cause {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                info.constraint_name()
            }
            _ => None,
        });
        match constraint.and_then(refusal) {
            Some(refused) => TxError::Refused(refused),
            None => self,
        }
    }
}

/// Runs `SELECT 1` through the pool: the readiness probe.
pub async fn ping(pool: &PgPool) -> Result<(), RepositoryError> {
    use diesel_async::RunQueryDsl as _;
    let mut conn = connection(pool).await?;
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .step("while pinging the database")?;
    Ok(())
}

/// The TLS version of a pooled connection (`TLSv1.3`), or `None` when it is not
/// encrypted: what the server itself says (`pg_stat_ssl`).
pub async fn tls_version(pool: &PgPool) -> Result<Option<String>, RepositoryError> {
    use diesel::sql_types::{Nullable, Text};
    use diesel_async::RunQueryDsl as _;

    #[derive(diesel::QueryableByName)]
    struct Encryption {
        #[diesel(sql_type = Nullable<Text>)]
        version: Option<String>,
    }

    let mut conn = connection(pool).await?;
    let row: Encryption = diesel::sql_query(
        "SELECT CASE WHEN ssl THEN version END AS version \
         FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .get_result(&mut conn)
    .await
    .step("while asking whether the connection is encrypted")?;
    Ok(row.version)
}

/// Applies pending migrations and returns the versions it applied. Safe to run from
/// several processes at once: they queue on an advisory lock.
pub async fn run_migrations(url: &SecretString) -> anyhow::Result<Vec<String>> {
    use diesel::RunQueryDsl;

    let conn = PgConnectOptions::parse(url.expose_secret())
        .context("invalid configuration: database.url")?
        .connect_diesel()
        .await
        .context("while connecting to the database to migrate it")?;
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn)
            .context("while taking the migration lock")?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|error| anyhow::anyhow!(error))
            .context("while applying migrations")?
            .iter()
            .map(ToString::to_string)
            .collect();
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn)
            .context("while releasing the migration lock")?;
        Ok(applied)
    })
    .await
    .context("while waiting for the migration task")?
}

/// Reads a database URL as PostgreSQL does (libpq's URL or key=value form, percent-
/// decoded, TLS included): the connection settings for the server's `postgres`
/// database, and the name of the database the URL names.
pub fn split_database_url(url: &str) -> anyhow::Result<(PgConnectOptions, String)> {
    let mut options =
        PgConnectOptions::parse(url).context("invalid configuration: database.url")?;
    let name = options
        .config()
        .get_dbname()
        .filter(|name| !name.is_empty())
        .context("the database URL names no database")?
        .to_owned();
    options.config_mut().dbname("postgres");
    Ok((options, name))
}

/// Creates the database the URL names when it does not exist yet.
pub async fn create_database_if_missing(url: &SecretString) -> anyhow::Result<bool> {
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl as _;

    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }

    let (maintenance, name) = split_database_url(url.expose_secret())?;
    let mut conn = maintenance
        .connect_diesel()
        .await
        .context("while connecting to the `postgres` database to create ours")?;
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(&name)
            .get_result(&mut conn)
            .await
            .context("while looking for the database")?;
    if found.exists {
        return Ok(false);
    }
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match diesel::sql_query(format!("CREATE DATABASE {quoted}"))
        .execute(&mut conn)
        .await
    {
        Ok(_) => Ok(true),
        // Another process created it between our check and our statement.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(error) if error.to_string().contains("already exists") => Ok(false),
        Err(error) => Err(error).context("while creating the database"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_told_apart_by_their_first_word() {
        for read in [
            "SELECT 1",
            "  select * from users -- binds: []",
            "BEGIN",
            "SET TIME ZONE 'UTC'",
            "ROLLBACK",
            "SAVEPOINT diesel_savepoint_1",
        ] {
            assert_eq!(statement_kind(&read), StatementKind::Read, "{read}");
        }
        assert_eq!(statement_kind(&"COMMIT"), StatementKind::Commit);
        assert_eq!(
            statement_kind(&"RELEASE SAVEPOINT diesel_savepoint_1"),
            StatementKind::Read,
            "the outer COMMIT makes it seen"
        );
        for write in [
            "INSERT INTO users",
            "update users set",
            "DELETE FROM x",
            "WITH retired AS (UPDATE",
            "SELECTED",
            "",
        ] {
            assert_eq!(statement_kind(&write), StatementKind::Write, "{write}");
        }
    }

    /// A transaction that wrote is a change once more when it commits (what it wrote is
    /// seen only then); one that only read is none.
    #[test]
    fn a_commit_counts_only_after_a_write() {
        let mut counter = StatementCounter::default();
        let mut finish = |sql: &str| counter.changed(statement_kind(&sql));
        assert!(!finish("BEGIN"));
        assert!(!finish("SELECT 1 FOR UPDATE"));
        assert!(!finish("COMMIT"), "a read-only transaction");
        assert!(!finish("BEGIN"));
        assert!(finish("UPDATE users SET x = 1"));
        assert!(finish("COMMIT"), "its commit");
        assert!(!finish("COMMIT"));
        assert!(finish("INSERT INTO t VALUES (1)"), "a write on its own");
        // A savepoint released inside: the outer commit still counts.
        assert!(!finish("BEGIN"));
        assert!(!finish("SAVEPOINT s"));
        assert!(finish("UPDATE users SET x = 2"));
        assert!(!finish("RELEASE SAVEPOINT s"));
        assert!(finish("COMMIT"));
    }

    /// What the driver reports for a statement sent on a connection the server closed
    /// (its message has no SQLSTATE), and for one closed in use.
    #[test]
    fn a_statement_on_a_lost_connection_is_unavailable_and_any_other_failure_unexpected() {
        let lost = [
            DatabaseErrorKind::UnableToSendCommand,
            DatabaseErrorKind::ClosedConnection,
        ];
        for kind in lost {
            let error = DieselError::DatabaseError(kind, Box::new("connection closed".to_owned()));
            let error = anyhow::Error::new(error).context("while reading a user");
            assert!(
                matches!(store_error(error), RepositoryError::Unavailable(_)),
                "{kind:?}"
            );
        }
        let bug = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("syntax error".to_owned()),
        );
        assert!(matches!(
            store_error(anyhow::Error::new(bug)),
            RepositoryError::Unexpected(_)
        ));
        assert!(matches!(
            store_error(anyhow::Error::new(DieselError::NotFound)),
            RepositoryError::Unexpected(_)
        ));
    }

    #[test]
    fn database_url_is_split_into_maintenance_settings_and_name() {
        let (maintenance, name) =
            split_database_url("postgres://u:p@h:5432/gate?sslmode=disable").unwrap();
        assert_eq!(name, "gate");
        let maintenance = maintenance.config();
        assert_eq!(maintenance.get_dbname(), Some("postgres"));
        assert_eq!(maintenance.get_user(), Some("u"));
        assert_eq!(maintenance.get_password(), Some(&b"p"[..]));
        assert_eq!(maintenance.get_ports(), [5432]);
        assert_eq!(
            maintenance.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        assert!(split_database_url("postgres://h:5432").is_err());
        assert!(split_database_url("postgres://h:5432/").is_err());
    }

    #[test]
    fn a_percent_encoded_database_name_and_password_are_decoded() {
        let (maintenance, name) =
            split_database_url("postgres://u:p%40ss%2F@h/my%2Ddb%3Fx").unwrap();
        assert_eq!(name, "my-db?x");
        assert_eq!(maintenance.config().get_password(), Some(&b"p@ss/"[..]));
        assert_eq!(maintenance.config().get_dbname(), Some("postgres"));
    }
}
