//! Every connection Gatehouse opens, over TLS, against real servers: the test
//! PostgreSQL (`ssl = on`, its certificate from `PgTlsServer`) under each `sslmode`
//! for the pool, migrations, database creation, the auth cache's listener and the
//! Django import; a throwaway Redis that speaks only TLS; an SMTP relay whose
//! certificate a private CA signed. Refusals must say why, never with the password.

use std::time::{Duration, Instant};

use application::django_import::ConflictPolicy;
use diesel_async::RunQueryDsl;
use domain::EmailMessage;
use domain::ports::{Mailer, RateLimiter};
use domain::throttle::{Rate, Verdict};
use infrastructure::auth_cache::{AuthCache, LISTENER_APPLICATION_NAME, spawn_listener};
use infrastructure::db::{
    self, PgConnectOptions, PoolSettings, SslMode, build_pool, create_database_if_missing,
    run_migrations,
};
use infrastructure::django_import::{ImportOptions, ImportProgress, Stage, import};
use infrastructure::email::{SmtpMailer, SmtpSettings, SmtpTls};
use infrastructure::testing::{
    PgTlsServer, SmtpCatcher, TestCa, TestDatabase, TlsRedis, django_database,
};
use infrastructure::throttle::RedisRateLimiter;
use secrecy::SecretString;

/// A password the test server (trust authentication) never asks for: it must appear in
/// no message.
const PASSWORD: &str = "pw-never-shown";

fn pool_settings(url: &str) -> PoolSettings {
    PoolSettings {
        url: Some(SecretString::from(url.to_owned())),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    }
}

/// The TLS version of a pooled connection to `url`, as the server reports it.
async fn encryption_through_pool(url: &str) -> Option<String> {
    let pool = build_pool(&pool_settings(url)).expect("a pool");
    db::tls_version(&pool)
        .await
        .unwrap_or_else(|error| panic!("{url}: {}", chain(error)))
}

/// Why connecting to `url` failed, every cause included.
async fn refusal(url: &str) -> String {
    let options = PgConnectOptions::parse(url).expect("a valid URL");
    match options.connect().await {
        Ok(_) => panic!("{url} connected"),
        Err(error) => format!("{:#}", anyhow::Error::new(error)),
    }
}

/// An error and every cause of it.
fn chain(error: impl std::error::Error + Send + Sync + 'static) -> String {
    format!("{:#}", anyhow::Error::new(error))
}

fn with_password(url: &str) -> String {
    url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{PASSWORD}@"),
        1,
    )
}

#[tokio::test]
async fn sslmode_require_connects_encrypted_and_disable_does_not() {
    let db = TestDatabase::create().await;

    let required = encryption_through_pool(&db.url_with("127.0.0.1", "sslmode=require")).await;
    let version = required.expect("the session is encrypted (pg_stat_ssl.ssl)");
    assert!(version.starts_with("TLSv1."), "{version}");

    let preferred = encryption_through_pool(&db.url_with("127.0.0.1", "sslmode=prefer")).await;
    assert!(
        preferred.is_some(),
        "prefer takes TLS when the server offers it"
    );
    let default = encryption_through_pool(&db.url_with("127.0.0.1", "application_name=x")).await;
    assert!(default.is_some(), "libpq's default is prefer");

    let plain = encryption_through_pool(&db.url_with("127.0.0.1", "sslmode=disable")).await;
    assert_eq!(plain, None);
}

/// PostgreSQL does no TLS over a Unix socket: the default `prefer` goes on in plain.
#[tokio::test]
async fn a_unix_socket_connects_in_plain_under_the_default_sslmode() {
    let db = TestDatabase::create().await;
    let url = format!(
        "host=/var/run/postgresql user=postgres dbname={}",
        db.name()
    );
    assert_eq!(encryption_through_pool(&url).await, None);
}

#[tokio::test]
async fn verify_full_connects_by_a_name_the_certificate_holds_with_its_ca() {
    let server = PgTlsServer::find();
    let db = TestDatabase::create().await;
    let url = db.url_with(
        &server.host,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            server.root_cert.display()
        ),
    );
    assert!(encryption_through_pool(&url).await.is_some());
    let options = PgConnectOptions::parse(&url).unwrap();
    assert_eq!(options.ssl_mode(), SslMode::VerifyFull);
}

#[tokio::test]
async fn a_certificate_no_trusted_ca_signed_is_refused_saying_so_and_never_the_password() {
    let db = TestDatabase::create().await;
    let other = TestCa::new();
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = with_password(&db.url_with(
            "localhost",
            &format!("sslmode={mode}&sslrootcert={}", other.ca_file().display()),
        ));
        let message = refusal(&url).await;
        assert!(
            message.contains("PostgreSQL's certificate is not trusted"),
            "{mode}: {message}"
        );
        assert!(message.contains(&format!("sslmode={mode}")), "{message}");
        assert!(message.contains("sslrootcert="), "{message}");
        assert!(!message.contains(PASSWORD), "{message}");
    }
    // Through the pool, as a request meets it: unavailable, with the same reason.
    let url = with_password(&db.url_with(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other.ca_file().display()
        ),
    ));
    let pool = build_pool(&pool_settings(&url)).unwrap();
    let message = chain(db::ping(&pool).await.unwrap_err());
    assert!(
        message.contains("PostgreSQL's certificate is not trusted"),
        "{message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");
}

#[tokio::test]
async fn verify_ca_checks_the_chain_but_not_the_host_name_and_verify_full_checks_both() {
    let server = PgTlsServer::find();
    let db = TestDatabase::create().await;
    let root = format!("sslrootcert={}", server.root_cert.display());
    // 127.0.0.1 is no name the certificate holds.
    let wrong_host = db.url_with("127.0.0.1", &format!("sslmode=verify-full&{root}"));
    let message = refusal(&with_password(&wrong_host)).await;
    assert!(
        message.contains("does not name the host") && message.contains("verify-ca"),
        "{message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");

    let chain_only = db.url_with("127.0.0.1", &format!("sslmode=verify-ca&{root}"));
    assert!(encryption_through_pool(&chain_only).await.is_some());
    // As libpq: a root file makes require check the chain too.
    let require_with_root = db.url_with("127.0.0.1", &format!("sslmode=require&{root}"));
    assert!(encryption_through_pool(&require_with_root).await.is_some());
}

#[tokio::test]
async fn migrations_and_database_creation_go_over_tls() {
    let server = PgTlsServer::find();
    let db = TestDatabase::create_empty().await;
    let params = format!(
        "sslmode=verify-full&sslrootcert={}",
        server.root_cert.display()
    );
    let url = SecretString::from(db.url_with(&server.host, &params));
    // Gone, so that migrate has to create it (the test database drops it again).
    let maintenance = infrastructure::testing::server_url();
    let mut conn = <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(
        &format!("{maintenance}/postgres"),
    )
    .await
    .unwrap();
    diesel::sql_query(format!("DROP DATABASE \"{}\"", db.name()))
        .execute(&mut conn)
        .await
        .unwrap();

    assert!(create_database_if_missing(&url).await.unwrap(), "created");
    assert!(!create_database_if_missing(&url).await.unwrap(), "exists");
    let applied = run_migrations(&url).await.unwrap();
    assert!(!applied.is_empty());
    assert!(
        db.scalar("SELECT count(*) AS value FROM permissions").await > 0,
        "the migrations ran"
    );
}

#[tokio::test]
async fn the_auth_cache_listener_listens_over_tls() {
    let db = TestDatabase::create().await;
    let cache = AuthCache::new(10);
    let listener = spawn_listener(
        cache.clone(),
        SecretString::from(db.url_with("127.0.0.1", "sslmode=require")),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cache.is_listening() {
        assert!(Instant::now() < deadline, "the listener never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let encrypted = db
        .scalar(&format!(
            "SELECT count(*) AS value FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE application_name = '{LISTENER_APPLICATION_NAME}' \
             AND datname = '{}' AND ssl",
            db.name()
        ))
        .await;
    listener.abort();
    assert_eq!(encrypted, 1, "the listener's session is encrypted");
}

struct Quiet;

impl ImportProgress for Quiet {
    fn stage(&mut self, _stage: Stage, _total: u64) {}
    fn advance(&mut self, _done: u64) {}
}

#[tokio::test]
async fn the_django_import_reads_and_writes_over_tls() {
    let server = PgTlsServer::find();
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;
    let from = django.url_with(
        &server.host,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            server.root_cert.display()
        ),
    );
    let to = gatehouse.url_with("127.0.0.1", "sslmode=require");
    let options = ImportOptions {
        conflicts: ConflictPolicy::Skip,
        dry_run: false,
        batch_size: 100,
    };
    let report = import(
        &SecretString::from(from),
        &SecretString::from(to),
        options,
        &mut Quiet,
    )
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    assert!(report.users.created > 0, "{report:?}");

    let untrusted = TestCa::new();
    let refused = django.url_with(
        &server.host,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            untrusted.ca_file().display()
        ),
    );
    let error = import(
        &SecretString::from(refused),
        &gatehouse.url,
        options,
        &mut Quiet,
    )
    .await
    .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("the Django database")
            && message.contains("PostgreSQL's certificate is not trusted"),
        "{message}"
    );
}

// ---------------------------------------------------------------- Redis over TLS

fn per_minute(requests: u32) -> Rate {
    Rate {
        requests,
        period: Duration::from_secs(60),
    }
}

fn prefix() -> String {
    format!("gh-test:{}:", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn the_throttle_counts_in_a_redis_that_speaks_only_tls() {
    let ca = TestCa::new();
    let redis = TlsRedis::start(&ca);
    let url = format!("rediss://localhost:{}", redis.port);
    let limiter = RedisRateLimiter::with_ca_file(
        &url,
        &prefix(),
        Duration::from_secs(5),
        Some(&ca.ca_file()),
    )
    .unwrap();
    let rate = per_minute(2);
    for _ in 0..2 {
        assert_eq!(limiter.hit("client", rate).await.unwrap(), Verdict::Allowed);
    }
    assert!(matches!(
        limiter.hit("client", rate).await.unwrap(),
        Verdict::Throttled { .. }
    ));
    assert!(limiter.reachable());
}

#[tokio::test]
async fn a_redis_certificate_no_trusted_ca_signed_is_refused() {
    let ca = TestCa::new();
    let redis = TlsRedis::start(&ca);
    let url = format!("rediss://localhost:{}", redis.port);
    let other = TestCa::new();
    for limiter in [
        // The system's roots know no test CA.
        RedisRateLimiter::new(&url, &prefix(), Duration::from_secs(5)).unwrap(),
        RedisRateLimiter::with_ca_file(
            &url,
            &prefix(),
            Duration::from_secs(5),
            Some(&other.ca_file()),
        )
        .unwrap(),
    ] {
        let message = chain(limiter.hit("client", per_minute(2)).await.unwrap_err()).to_lowercase();
        assert!(message.contains("certificate"), "{message}");
        assert!(!limiter.reachable());
    }
    let plain = RedisRateLimiter::with_ca_file(
        "redis://localhost:6379",
        &prefix(),
        Duration::from_secs(5),
        Some(&ca.ca_file()),
    );
    assert!(plain.is_err(), "a CA file is for rediss:// only");
}

// ---------------------------------------------------------------- SMTP over TLS

fn smtp_settings(port: u16, ca_file: Option<std::path::PathBuf>) -> SmtpSettings {
    SmtpSettings {
        host: Some("localhost".to_owned()),
        port,
        username: None,
        password: None,
        tls: SmtpTls::Starttls,
        ca_file,
        from: "no-reply@gatehouse.test".to_owned(),
        timeout: Duration::from_secs(10),
    }
}

fn message() -> EmailMessage {
    EmailMessage {
        to: "alice@example.com".to_owned(),
        subject: "Over TLS".to_owned(),
        text: "text".to_owned(),
        html: "<p>html</p>".to_owned(),
    }
}

#[tokio::test]
async fn a_relay_signed_by_a_private_ca_is_trusted_through_smtp_ca_file() {
    let ca = TestCa::new();
    let catcher = SmtpCatcher::start_tls(&ca.issue(&["localhost", "127.0.0.1"])).await;

    let mailer = SmtpMailer::new(&smtp_settings(catcher.port(), Some(ca.ca_file()))).unwrap();
    mailer.send(&message()).await.unwrap();

    let received = catcher.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received[0].to, ["alice@example.com"]);
    assert!(received[0].tls, "delivered after STARTTLS");
}

#[tokio::test]
async fn a_relay_signed_by_a_private_ca_is_refused_without_it() {
    let ca = TestCa::new();
    let catcher = SmtpCatcher::start_tls(&ca.issue(&["localhost", "127.0.0.1"])).await;

    let mailer = SmtpMailer::new(&smtp_settings(catcher.port(), None)).unwrap();
    let message = chain(mailer.send(&message()).await.unwrap_err()).to_lowercase();
    assert!(message.contains("certificate"), "{message}");
    assert!(catcher.received().is_empty());

    let missing = SmtpMailer::new(&smtp_settings(
        catcher.port(),
        Some(ca.dir().join("missing.pem")),
    ));
    let message = format!("{:#}", missing.err().expect("refused"));
    assert!(message.contains("email.smtp_ca_file"), "{message}");
}
