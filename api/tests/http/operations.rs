//! The `gatehouse` binary as an operator runs it (SPEC §9-§11): migrate, serve and
//! stop on SIGTERM, createsuperuser, flushexpiredtokens, check, configuration errors
//! that name their key, logs without secrets, and readiness across a database outage.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use infrastructure::testing::{TestDatabase, server_url};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

const MIGRATIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
/// A signing key long enough for production.
const PRODUCTION_KEY: &str = "0123456789abcdef0123456789abcdef-operations-test";
const SUPERUSER_PASSWORD: &str = "Sup3r-secret-passphrase!";

/// Every permission the migrations seed, as `app_label.codename`.
fn seeded_permissions() -> BTreeSet<String> {
    let mut all: BTreeSet<String> = ["add", "change", "delete", "view"]
        .iter()
        .flat_map(|action| {
            ["user", "group", "permission"]
                .iter()
                .map(move |model| format!("auth.{action}_{model}"))
        })
        .collect();
    all.insert("auth.view_auditevent".to_owned());
    all
}

// ---------------------------------------------------------------- the binary

async fn run(database_url: &str, args: &[&str]) -> Finished {
    finish(gatehouse(database_url).args(args)).await
}

/// The database name at the end of a URL.
fn database_name(url: &str) -> String {
    url.rsplit('/').next().expect("a database name").to_owned()
}

// ---------------------------------------------------------------- migrate

/// A database that does not exist yet, dropped again when the test ends: a migrated
/// test database is dropped through a second one, whose connection outlives it.
async fn vanished_database() -> (TestDatabase, TestDatabase) {
    let target = TestDatabase::create().await;
    let keeper = TestDatabase::create().await;
    let name = database_name(&url_of(&target));
    keeper
        .execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await;
    let left = keeper
        .scalar(&format!(
            "SELECT count(*) AS value FROM pg_database WHERE datname = '{name}'"
        ))
        .await;
    assert_eq!(left, 0, "the database is gone before migrate runs");
    (target, keeper)
}

fn migration_count() -> usize {
    std::fs::read_dir(MIGRATIONS_DIR)
        .expect("the migrations directory")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("up.sql").is_file())
        .count()
}

#[tokio::test]
async fn migrate_creates_a_missing_database_applies_every_migration_and_is_idempotent() {
    let (target, _keeper) = vanished_database().await;
    let url = url_of(&target);

    let first = run(&url, &["migrate"]).await;

    assert!(first.succeeded(), "{first:?}");
    assert!(first.stdout.contains("Created the database."), "{first:?}");
    let applied = first
        .stdout
        .lines()
        .filter(|l| l.starts_with("Applied migration "))
        .count();
    assert_eq!(applied, migration_count(), "{first:?}");
    let recorded = target
        .scalar("SELECT count(*) AS value FROM __diesel_schema_migrations")
        .await;
    assert_eq!(recorded, migration_count() as i64);
    let permissions = target
        .scalar("SELECT count(*) AS value FROM permissions")
        .await;
    assert_eq!(permissions, 13);
    let audit = target
        .scalar(
            "SELECT count(*) AS value FROM permissions \
             WHERE app_label = 'auth' AND codename = 'view_auditevent'",
        )
        .await;
    assert_eq!(audit, 1);

    let second = run(&url, &["migrate"]).await;

    assert!(second.succeeded(), "{second:?}");
    assert!(
        second.stdout.contains("No migrations to apply."),
        "{second:?}"
    );
    assert!(
        !second.stdout.contains("Created the database."),
        "{second:?}"
    );
    assert!(!second.stdout.contains("Applied migration"), "{second:?}");
    let permissions = target
        .scalar("SELECT count(*) AS value FROM permissions")
        .await;
    assert_eq!(permissions, 13, "nothing seeded twice");
}

#[tokio::test]
async fn concurrent_migrators_on_a_missing_database_all_succeed_and_apply_once() {
    let (target, _keeper) = vanished_database().await;
    let url = url_of(&target);

    let runs = futures_util::future::join_all((0..3).map(|_| run(&url, &["migrate"]))).await;

    for finished in &runs {
        assert!(finished.succeeded(), "{finished:?}");
    }
    let applied: usize = runs
        .iter()
        .map(|f| {
            f.stdout
                .lines()
                .filter(|l| l.starts_with("Applied migration "))
                .count()
        })
        .sum();
    assert_eq!(
        applied,
        migration_count(),
        "each migration applied by exactly one: {runs:?}"
    );
    let permissions = target
        .scalar("SELECT count(*) AS value FROM permissions")
        .await;
    assert_eq!(permissions, 13);
}

#[tokio::test]
async fn migrate_creates_the_database_a_percent_encoded_url_names() {
    let keeper = TestDatabase::create().await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("gh_test-pct_{suffix}");
    let encoded = format!("gh_test%2Dpct_{suffix}");
    let url = format!("{}/{encoded}", server_url());

    let finished = run(&url, &["migrate"]).await;

    let count = |datname: String| {
        let keeper = &keeper;
        async move {
            keeper
                .scalar(&format!(
                    "SELECT count(*) AS value FROM pg_database WHERE datname = '{datname}'"
                ))
                .await
        }
    };
    let decoded = count(name.clone()).await;
    let literal = count(encoded.clone()).await;
    for leftover in [&name, &encoded] {
        keeper
            .execute(&format!(
                "DROP DATABASE IF EXISTS \"{leftover}\" WITH (FORCE)"
            ))
            .await;
    }
    assert!(finished.succeeded(), "{finished:?}");
    assert!(
        finished.stdout.contains("Created the database."),
        "{finished:?}"
    );
    assert_eq!(decoded, 1, "{name} created: {finished:?}");
    assert_eq!(literal, 0, "no database named {encoded}");
}

// ---------------------------------------------------------------- serve

#[tokio::test]
async fn serve_stops_with_status_0_on_sigterm() {
    let db = TestDatabase::create().await;
    let served = Served::start(&url_of(&db), &[]).await;
    let address = served.address.clone();
    let health = served.get("/healthz", None).await;
    assert_eq!(health.body, json!({ "status": "ok" }));

    let stopped = served.stop().await;

    assert_eq!(stopped.code, Some(0), "{stopped:?}");
    let after = reqwest::Client::new()
        .get(format!("{address}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        after.as_ref().is_err_and(reqwest::Error::is_connect),
        "nothing listens after the stop: {after:?}"
    );
}

// ---------------------------------------------------------------- createsuperuser

#[tokio::test]
async fn createsuperuser_creates_a_staff_superuser_who_logs_in_with_every_permission() {
    let app = spawn_app().await;

    let finished = finish(
        gatehouse(&url_of(&app.db))
            .args([
                "createsuperuser",
                "--username",
                "root",
                "--email",
                "root@example.com",
            ])
            .env("GATEHOUSE_SUPERUSER_PASSWORD", SUPERUSER_PASSWORD),
    )
    .await;

    assert!(finished.succeeded(), "{finished:?}");
    assert!(
        !finished.stdout.contains(SUPERUSER_PASSWORD)
            && !finished.stderr.contains(SUPERUSER_PASSWORD)
    );
    let row = app
        .db
        .scalar(
            "SELECT count(*) AS value FROM users WHERE username = 'root' AND email = 'root@example.com' \
             AND is_active AND is_staff AND is_superuser AND password LIKE 'bcrypt\\_sha256$%'",
        )
        .await;
    assert_eq!(row, 1);

    let login = app
        .post(
            "/auth/token/",
            json!({ "username": "root", "password": SUPERUSER_PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let access = claims(&str_of(&login.body, "access"));
    assert_eq!(access["is_staff"], true);
    assert_eq!(access["is_superuser"], true);
    let permissions: BTreeSet<String> = access["permissions"]
        .as_array()
        .expect("a permissions claim")
        .iter()
        .map(|p| p.as_str().expect("a string").to_owned())
        .collect();
    assert_eq!(permissions, seeded_permissions());
    assert_eq!(access["permissions"].as_array().unwrap().len(), 13);
}

#[tokio::test]
async fn createsuperuser_refuses_a_weak_password_with_djangos_message() {
    let app = spawn_app().await;

    let finished = finish(
        gatehouse(&url_of(&app.db))
            .args([
                "createsuperuser",
                "--username",
                "root",
                "--email",
                "root@example.com",
            ])
            .env("GATEHOUSE_SUPERUSER_PASSWORD", "abc"),
    )
    .await;

    assert!(!finished.succeeded(), "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("This password is too short. It must contain at least 8 characters."),
        "{finished:?}"
    );
    let common = finish(
        gatehouse(&url_of(&app.db))
            .args([
                "createsuperuser",
                "--username",
                "root",
                "--email",
                "root@example.com",
            ])
            .env("GATEHOUSE_SUPERUSER_PASSWORD", "password"),
    )
    .await;
    assert!(!common.succeeded(), "{common:?}");
    assert!(
        common.stderr.contains("This password is too common."),
        "{common:?}"
    );
    let users = app.db.scalar("SELECT count(*) AS value FROM users").await;
    assert_eq!(users, 0);
}

#[tokio::test]
async fn createsuperuser_refuses_a_taken_username_and_a_missing_password_without_a_terminal() {
    let app = spawn_app().await;
    let url = url_of(&app.db);
    let create = |username: &str| {
        let mut command = gatehouse(&url);
        command
            .args([
                "createsuperuser",
                "--username",
                username,
                "--email",
                "root@example.com",
            ])
            .env("GATEHOUSE_SUPERUSER_PASSWORD", SUPERUSER_PASSWORD);
        command
    };
    assert!(finish(&mut create("root")).await.succeeded());

    let again = finish(&mut create("root")).await;
    assert!(!again.succeeded(), "{again:?}");
    assert!(
        again
            .stderr
            .contains("A user with that username already exists."),
        "{again:?}"
    );

    let no_password = finish(gatehouse(&url).args([
        "createsuperuser",
        "--username",
        "other",
        "--email",
        "other@example.com",
    ]))
    .await;
    assert!(!no_password.succeeded(), "{no_password:?}");
    assert!(
        no_password.stderr.contains("GATEHOUSE_SUPERUSER_PASSWORD"),
        "{no_password:?}"
    );
    let users = app.db.scalar("SELECT count(*) AS value FROM users").await;
    assert_eq!(users, 1);
}

// ---------------------------------------------------------------- flushexpiredtokens

#[tokio::test]
async fn flushexpiredtokens_deletes_only_expired_refresh_tokens() {
    let app = spawn_app().await;
    let (id, _, refresh) = app.signed_in_user("flush@example.com").await;
    let rotated = app.refresh(&refresh).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    app.db
        .execute(&format!(
            "INSERT INTO refresh_tokens (jti, user_id, family_id, created_at, expires_at, session_started_at) \
             VALUES (gen_random_uuid(), {id}, gen_random_uuid(), now() - interval '2 days', \
             now() - interval '1 second', now() - interval '2 days')"
        ))
        .await;
    let total = "SELECT count(*) AS value FROM refresh_tokens";
    let expired = "SELECT count(*) AS value FROM refresh_tokens WHERE expires_at <= now()";
    let before = app.db.scalar(total).await;
    assert_eq!(app.db.scalar(expired).await, 1);

    let finished = run(&url_of(&app.db), &["flushexpiredtokens"]).await;

    assert!(finished.succeeded(), "{finished:?}");
    assert!(
        finished
            .stdout
            .contains("Deleted 1 expired refresh token(s)."),
        "{finished:?}"
    );
    assert_eq!(app.db.scalar(expired).await, 0);
    assert_eq!(
        app.db.scalar(total).await,
        before - 1,
        "live and revoked-but-unexpired rows stay"
    );
    let revoked = app
        .db
        .scalar("SELECT count(*) AS value FROM refresh_tokens WHERE revoked_at IS NOT NULL")
        .await;
    assert_eq!(revoked, 1, "the rotated token is kept for reuse detection");
    let successor = str_of(&rotated.body, "refresh");
    assert_eq!(app.refresh(&successor).await.status, StatusCode::OK);

    let again = run(&url_of(&app.db), &["flushexpiredtokens"]).await;
    assert!(again.succeeded(), "{again:?}");
    assert!(
        again.stdout.contains("Deleted 0 expired refresh token(s)."),
        "{again:?}"
    );
}

// ---------------------------------------------------------------- check and configuration

#[tokio::test]
async fn check_passes_with_a_reachable_database() {
    let db = TestDatabase::create().await;
    let finished = run(&url_of(&db), &["check"]).await;
    assert!(finished.succeeded(), "{finished:?}");
    assert!(
        finished
            .stdout
            .contains("System check identified no issues (0 silenced)."),
        "{finished:?}"
    );
}

#[tokio::test]
async fn check_fails_when_the_database_is_unreachable() {
    let finished = run("postgres://postgres@127.0.0.1:1/gatehouse", &["check"]).await;
    assert!(!finished.succeeded(), "{finished:?}");
    assert!(!finished.stdout.contains("no issues"), "{finished:?}");
    assert!(
        finished.stderr.to_lowercase().contains("database"),
        "{finished:?}"
    );
}

/// Runs `gatehouse check` with extra variables; returns what it printed.
async fn check_with(env: &[(&str, &str)]) -> Finished {
    let db_url = format!("{}/gatehouse_not_needed", server_url());
    finish(gatehouse(&db_url).arg("check").envs(env.iter().copied())).await
}

#[tokio::test]
async fn a_bad_duration_stops_startup_naming_its_key() {
    let finished = check_with(&[("GATEHOUSE__JWT__ACCESS_TOKEN_LIFETIME", "soon")]).await;
    assert!(!finished.succeeded(), "{finished:?}");
    assert!(
        finished.stderr.contains("jwt.access_token_lifetime"),
        "{finished:?}"
    );
}

#[tokio::test]
async fn an_unknown_key_stops_startup_naming_it() {
    let finished = check_with(&[("GATEHOUSE__SERVER__PORTT", "1")]).await;
    assert!(!finished.succeeded(), "{finished:?}");
    assert!(finished.stderr.contains("portt"), "{finished:?}");
}

#[tokio::test]
async fn production_refuses_a_missing_or_short_secret_key_naming_jwt_signing_key() {
    let missing = check_with(&[("GATEHOUSE_ENV", "production")]).await;
    assert!(!missing.succeeded(), "{missing:?}");
    assert!(missing.stderr.contains("jwt.signing_key"), "{missing:?}");

    let short = check_with(&[("GATEHOUSE_ENV", "production"), ("SECRET_KEY", "tiny-k3y")]).await;
    assert!(!short.succeeded(), "{short:?}");
    assert!(short.stderr.contains("jwt.signing_key"), "{short:?}");
    assert!(
        !short.stderr.contains("tiny-k3y"),
        "the key itself is never printed: {short:?}"
    );
}

#[tokio::test]
async fn a_missing_short_or_shipped_secret_key_in_production_names_the_variable_to_set() {
    let test_key = TEST_SIGNING_KEY;
    for (case, key) in [
        ("missing", None),
        ("short", Some("tiny-k3y")),
        ("development", Some(api::settings::DEVELOPMENT_SIGNING_KEY)),
        ("test", Some(test_key)),
    ] {
        let mut env = vec![("GATEHOUSE_ENV", "production")];
        env.extend(key.map(|key| ("SECRET_KEY", key)));
        let finished = check_with(&env).await;
        assert!(!finished.succeeded(), "{case}: {finished:?}");
        assert!(
            finished.stderr.contains("jwt.signing_key")
                && finished.stderr.contains("SECRET_KEY")
                && finished.stderr.contains("GATEHOUSE__JWT__SIGNING_KEY"),
            "{case}: {finished:?}"
        );
    }
}

#[tokio::test]
async fn serve_in_production_without_a_usable_secret_key_names_secret_key() {
    for key in [None, Some("tiny-k3y")] {
        let mut command = gatehouse(&format!("{}/gatehouse_not_needed", server_url()));
        command
            .arg("serve")
            .env("GATEHOUSE_ENV", "production")
            .env("GATEHOUSE__SERVER__PORT", "0");
        if let Some(key) = key {
            command.env("SECRET_KEY", key);
        }
        let finished = finish(&mut command).await;
        assert!(!finished.succeeded(), "{key:?}: {finished:?}");
        assert!(
            finished.stderr.contains("set SECRET_KEY") && finished.stderr.contains("32 bytes"),
            "{key:?}: {finished:?}"
        );
        assert!(!finished.output().contains("tiny-k3y"), "{finished:?}");
    }
}

#[tokio::test]
async fn check_prints_the_effective_configuration_with_secrets_redacted() {
    let db = TestDatabase::create().await;
    let url = db.url_with("127.0.0.1", "sslmode=prefer").replacen(
        "postgres://postgres@",
        "postgres://postgres:db-pa55@",
        1,
    );
    let finished = finish(
        gatehouse(&url)
            .arg("check")
            .env("GATEHOUSE_ENV", "production")
            .env("SECRET_KEY", PRODUCTION_KEY)
            .env("SMTP_HOST", "mail.example.com")
            .env("GATEHOUSE__EMAIL__SMTP_TLS", "starttls")
            .env("SMTP_USERNAME", "mailer")
            .env("SMTP_PASSWORD", "smtp-pa55")
            .env("REDIS_URL", "redis://:redis-pa55@127.0.0.1:6379/0")
            .env("GATEHOUSE__JWT__ACCESS_TOKEN_LIFETIME", "2m")
            .env("GATEHOUSE__METRICS__BEARER_TOKEN", "scrape-t0ken"),
    )
    .await;
    assert!(finished.succeeded(), "{finished:?}");
    let stdout = &finished.stdout;
    assert!(
        stdout.contains("Configuration (GATEHOUSE_ENV=production; secrets redacted):"),
        "{stdout}"
    );
    for line in [
        "  database.url = \"postgres://postgres:********@127.0.0.1:",
        "  jwt.signing_key = \"********\"",
        "  email.smtp_password = \"********\"",
        "  email.smtp_username = \"mailer\"",
        "  throttle.redis_url = \"redis://:********@127.0.0.1:6379/0\"",
        "  jwt.access_token_lifetime = \"2m\"",
        "  metrics.bearer_token = \"********\"",
        "  server.host = \"0.0.0.0\"",
        "  passwords.bcrypt_cost = 12",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    for secret in [
        PRODUCTION_KEY,
        "db-pa55",
        "smtp-pa55",
        "redis-pa55",
        "scrape-t0ken",
    ] {
        assert!(
            !finished.output().contains(secret),
            "{secret} shown: {finished:?}"
        );
    }
}

#[tokio::test]
async fn production_with_a_long_secret_key_passes_check() {
    let db = TestDatabase::create().await;
    let finished = finish(
        gatehouse(&url_of(&db))
            .arg("check")
            .env("GATEHOUSE_ENV", "production")
            .env("SECRET_KEY", PRODUCTION_KEY)
            .env("SMTP_HOST", "mail.example.com")
            .env("GATEHOUSE__EMAIL__SMTP_TLS", "starttls"),
    )
    .await;
    assert!(finished.succeeded(), "{finished:?}");
    assert!(
        finished
            .stdout
            .contains("System check identified no issues (0 silenced).")
    );
    assert!(!finished.stdout.contains(PRODUCTION_KEY) && !finished.stderr.contains(PRODUCTION_KEY));
}

// ---------------------------------------------------------------- logs

/// The values of every `request_id` field anywhere in a JSON log line.
fn request_ids(line: &Value, found: &mut Vec<String>) {
    match line {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("request_id", Value::String(id)) => found.push(id.clone()),
                    _ => request_ids(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| request_ids(item, found)),
        _ => {}
    }
}

const LOGGED_PASSWORD: &str = "Log-secret-passphrase-7781";
const WRONG_PASSWORD: &str = "Wrong-secret-passphrase-4432";

/// What a served process logged at debug level in JSON while a user registered,
/// failed a login, logged in, refreshed, called `/auth/me/` and verified a token.
struct LoggedSession {
    output: String,
    tokens: Vec<String>,
    answered_ids: Vec<String>,
}

async fn logged_session() -> LoggedSession {
    let db = TestDatabase::create().await;
    let served = Served::start(
        &url_of(&db),
        &[
            ("GATEHOUSE__LOGGING__FORMAT", "json"),
            ("GATEHOUSE__LOGGING__LEVEL", "debug"),
        ],
    )
    .await;
    let credentials = |password: &str| json!({ "email": "logs@example.com", "password": password });

    let registered = served
        .post("/auth/register/", credentials(LOGGED_PASSWORD))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let wrong = served
        .post("/auth/token/", credentials(WRONG_PASSWORD))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let login = served
        .post("/auth/token/", credentials(LOGGED_PASSWORD))
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let refreshed = served
        .post(
            "/auth/token/refresh/",
            json!({ "refresh": str_of(&login.body, "refresh") }),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let me = served
        .get("/auth/me/", Some(&str_of(&refreshed.body, "access")))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let verify = served
        .post(
            "/auth/token/verify/",
            json!({ "token": str_of(&login.body, "access") }),
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.text);
    let answered_ids = [&registered, &wrong, &login, &refreshed, &me, &verify]
        .iter()
        .map(|reply| {
            reply
                .header("x-request-id")
                .expect("an X-Request-Id header")
                .to_owned()
        })
        .collect();
    let tokens = vec![
        str_of(&registered.body["tokens"], "access"),
        str_of(&registered.body["tokens"], "refresh"),
        str_of(&login.body, "access"),
        str_of(&login.body, "refresh"),
        str_of(&refreshed.body, "access"),
        str_of(&refreshed.body, "refresh"),
    ];

    // `stop` asserts the clean exit (status 0).
    let stopped = served.stop().await;

    LoggedSession {
        output: stopped.output(),
        tokens,
        answered_ids,
    }
}

#[tokio::test]
async fn json_debug_logs_carry_request_ids_and_never_a_password_or_token() {
    let LoggedSession {
        output,
        tokens,
        answered_ids,
    } = logged_session().await;

    assert!(!output.contains(LOGGED_PASSWORD), "the password is logged");
    assert!(
        !output.contains(WRONG_PASSWORD),
        "a failed login's password is logged"
    );
    for token in &tokens {
        assert!(!output.contains(token.as_str()), "a token is logged");
        // The header segment is the same in every HS256 token: look at the rest.
        for part in token.split('.').skip(1) {
            assert!(!output.contains(part), "a token part is logged: {part}");
        }
    }
    let mut lines = 0;
    let mut logged_ids = Vec::new();
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        lines += 1;
        if parsed["message"] == "request" {
            let mut ids = Vec::new();
            request_ids(&parsed, &mut ids);
            assert!(!ids.is_empty(), "a request line without request_id: {line}");
            logged_ids.extend(ids);
        }
    }
    assert!(lines > 0, "nothing was logged");
    for id in &answered_ids {
        assert!(
            logged_ids.contains(id),
            "request {id} is not in the logs:\n{output}"
        );
    }
}

/// `text` as `Debug` prints a byte slice: `[98, 99, …]` without the brackets.
fn as_debug_bytes(text: &str) -> String {
    text.bytes()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn json_debug_logs_never_contain_a_password_hash() {
    let LoggedSession { output, .. } = logged_session().await;

    // Every hash this service writes starts so (at the test cost of 4).
    let prefix = "bcrypt_sha256$$2b$04$";
    assert!(
        !output.contains(prefix),
        "a password hash is logged as text"
    );
    let line = output.lines().find(|l| l.contains(&as_debug_bytes(prefix)));
    assert!(
        line.is_none(),
        "a password hash is logged as bytes: {line:?}"
    );
}

// ---------------------------------------------------------------- readiness

/// A TCP proxy in front of PostgreSQL that a test can cut (refusing new connections
/// and killing the ones it carries) and restore on the same port.
struct Proxy {
    port: u16,
    upstream: String,
    task: Option<JoinHandle<()>>,
    writes: Arc<AtomicUsize>,
}

fn listen_on(port: u16) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(([127, 0, 0, 1], port).into())
        .expect("bind the proxy port");
    socket.listen(64).expect("listen")
}

async fn forward(listener: TcpListener, upstream: String, writes: Arc<AtomicUsize>) {
    // Dropping this future (abort) drops the set, which aborts every forwarded
    // connection with it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else { continue };
                let upstream = upstream.clone();
                let writes = writes.clone();
                connections.spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(&upstream).await {
                        pump(inbound, outbound, writes).await;
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Carries one connection both ways, counting the writes the client side makes (a
/// statement and its reply are one round trip, so one write at least each).
async fn pump(inbound: TcpStream, outbound: TcpStream, writes: Arc<AtomicUsize>) {
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_server, mut to_server) = outbound.into_split();
    let upstream = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = match from_client.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            writes.fetch_add(1, Ordering::SeqCst);
            if to_server.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let port = free_port();
        let listener = listen_on(port);
        let writes = Arc::new(AtomicUsize::new(0));
        let task = Some(tokio::spawn(forward(
            listener,
            upstream.clone(),
            writes.clone(),
        )));
        Proxy {
            port,
            upstream,
            task,
            writes,
        }
    }

    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    fn restart(&mut self) {
        assert!(self.task.is_none(), "the proxy is running");
        let listener = listen_on(self.port);
        self.task = Some(tokio::spawn(forward(
            listener,
            self.upstream.clone(),
            self.writes.clone(),
        )));
    }

    /// How many writes clients have sent through the proxy so far.
    fn client_writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
}

/// `host:port` of the PostgreSQL server the tests use.
fn database_authority() -> String {
    let server = server_url();
    let rest = server
        .split_once("://")
        .map_or(server.as_str(), |(_, rest)| rest);
    let authority = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let authority = authority.split('/').next().unwrap_or(authority);
    match authority.rsplit_once(':') {
        Some(_) => authority.to_owned(),
        None => format!("{authority}:5432"),
    }
}

/// Polls `/readyz` until it answers `status`, at most `attempts` times.
async fn readiness_becomes(app: &TestApp, status: StatusCode, attempts: usize) -> Reply {
    let mut last = None;
    for _ in 0..attempts {
        let reply = app.get("/readyz", None).await;
        if reply.status == status {
            return reply;
        }
        last = Some(reply);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("/readyz never answered {status}; last: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_a_database_outage_and_recovers_by_itself() {
    let authority = database_authority();
    let mut proxy = Proxy::start(authority.clone());
    let proxied = format!("127.0.0.1:{}", proxy.port);
    let app = spawn_app_with(|s| {
        let direct = s
            .database
            .url
            .as_ref()
            .expect("a database URL")
            .expose_secret()
            .to_owned();
        assert!(
            direct.contains(&authority),
            "{authority} in the test database URL"
        );
        s.database.url = Some(direct.replacen(&authority, &proxied, 1).into());
        s.database.acquire_timeout = Duration::from_secs(1);
        s.database.max_connections = 4;
        s.throttle.store.enabled = false;
    })
    .await;
    let (_, access, _) = app.signed_in_user("ready@example.com").await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(
        ready.body,
        json!({ "status": "ready", "database": "ok", "throttle": "off" })
    );

    proxy.stop().await;

    let down = readiness_becomes(&app, StatusCode::SERVICE_UNAVAILABLE, 10).await;
    assert_eq!(
        down.body,
        json!({ "status": "unavailable", "database": "unreachable", "throttle": "off" })
    );
    let login = app
        .post(
            "/auth/token/",
            json!({ "email": "ready@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        login.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        login.text
    );
    assert_eq!(
        login.body,
        json!({ "detail": "Service temporarily unavailable, try again later." })
    );
    let me = app.me(&access).await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE, "{}", me.text);
    assert_eq!(
        me.body,
        json!({ "detail": "Service temporarily unavailable, try again later." })
    );

    proxy.restart();

    let up = readiness_becomes(&app, StatusCode::OK, 20).await;
    assert_eq!(
        up.body,
        json!({ "status": "ready", "database": "ok", "throttle": "off" })
    );
    let (access, _) = app.login("ready@example.com").await;
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_requests_after_the_database_goes_away_get_503_not_500() {
    let authority = database_authority();
    let mut proxy = Proxy::start(authority.clone());
    let proxied = format!("127.0.0.1:{}", proxy.port);
    let app = spawn_app_with(|s| {
        let direct = s
            .database
            .url
            .as_ref()
            .expect("a database URL")
            .expose_secret()
            .to_owned();
        s.database.url = Some(direct.replacen(&authority, &proxied, 1).into());
        s.database.acquire_timeout = Duration::from_secs(1);
        s.throttle.store.enabled = false;
    })
    .await;
    let (_, access, refresh) = app.signed_in_user("cut@example.com").await;
    // Fill the pool with connections that the cut will break.
    let warm = futures_util::future::join_all((0..4).map(|_| app.me(&access))).await;
    assert!(warm.iter().all(|r| r.status == StatusCode::OK));

    proxy.stop().await;

    let unavailable = json!({ "detail": "Service temporarily unavailable, try again later." });
    let me = app.me(&access).await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE, "{}", me.text);
    assert_eq!(me.body, unavailable);
    let login = app
        .post(
            "/auth/token/",
            json!({ "email": "cut@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        login.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        login.text
    );
    assert_eq!(login.body, unavailable);
    let refreshed = app.refresh(&refresh).await;
    assert_eq!(
        refreshed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refreshed.text
    );
    assert_eq!(refreshed.body, unavailable);
    let registered = app
        .post(
            "/auth/register/",
            json!({ "email": "new@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        registered.text
    );
    assert_eq!(registered.body, unavailable);

    proxy.restart();
    let up = readiness_becomes(&app, StatusCode::OK, 20).await;
    assert_eq!(
        up.body,
        json!({ "status": "ready", "database": "ok", "throttle": "off" })
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_asked_often_probes_the_database_about_once_a_second() {
    let authority = database_authority();
    let mut proxy = Proxy::start(authority.clone());
    let proxied = format!("127.0.0.1:{}", proxy.port);
    let app = spawn_app_with(|s| {
        let direct = s
            .database
            .url
            .as_ref()
            .expect("a database URL")
            .expose_secret()
            .to_owned();
        s.database.url = Some(direct.replacen(&authority, &proxied, 1).into());
        s.throttle.store.enabled = false;
    })
    .await;
    let warm = app.get("/readyz", None).await;
    assert_eq!(warm.status, StatusCode::OK, "{}", warm.text);
    let before = proxy.client_writes();
    let started = Instant::now();

    // 150 probes, three at a time.
    for _ in 0..50 {
        let replies =
            futures_util::future::join_all((0..3).map(|_| app.get("/readyz", None))).await;
        for reply in replies {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        }
    }

    let elapsed = started.elapsed();
    let writes = proxy.client_writes() - before;
    // A probe is a round trip or two (the pool's check of the connection, SELECT 1),
    // and the outbox worker polls once a second: at most a handful of writes a second.
    // Unthrottled, 150 probes would be 150 round trips at least.
    let allowed = 12 * (elapsed.as_secs() as usize + 2);
    assert!(
        writes <= allowed,
        "{writes} writes to the database in {elapsed:?} for 150 readiness calls (at most {allowed})"
    );

    // The cached answer is no older than a second: an outage shows at once after it.
    proxy.stop().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let down = app.get("/readyz", None).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.text
    );
}

#[tokio::test]
async fn serve_on_a_port_in_use_exits_non_zero_naming_the_address() {
    let db = TestDatabase::create().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken
        .local_addr()
        .expect("local address")
        .port()
        .to_string();

    let finished = finish(
        gatehouse(&url_of(&db))
            .arg("serve")
            .env("GATEHOUSE__SERVER__PORT", &port),
    )
    .await;

    assert!(!finished.succeeded(), "{finished:?}");
    assert!(finished.stderr.contains(&port), "{finished:?}");
}

#[tokio::test]
async fn an_unknown_environment_or_a_missing_database_url_stops_startup() {
    let unknown = check_with(&[("GATEHOUSE_ENV", "staging")]).await;
    assert!(!unknown.succeeded(), "{unknown:?}");
    assert!(unknown.stderr.contains("GATEHOUSE_ENV"), "{unknown:?}");

    let no_database = finish(gatehouse("").env_remove("DATABASE_URL").arg("check")).await;
    assert!(!no_database.succeeded(), "{no_database:?}");
    assert!(
        no_database.stderr.contains("database.url"),
        "{no_database:?}"
    );
}

// ---------------------------------------------------------------- import-django

#[tokio::test]
async fn import_django_lists_conflicts_then_imports_under_a_policy_and_says_what_it_did() {
    let django = infrastructure::testing::django_database().await;
    let db = TestDatabase::create().await;
    let url = db.url.expose_secret().to_owned();
    let from = django.url.expose_secret().to_owned();
    let users = "SELECT count(*) AS value FROM users";
    let import = |args: &[&str]| {
        let mut command = gatehouse(&url);
        command.args(["import-django", "--from", &from]).args(args);
        command
    };

    // The default policy: every conflict listed, nothing written, status 1.
    let aborted = finish(&mut import(&[])).await;
    assert_eq!(aborted.code, Some(1), "{aborted:?}");
    let fixture = infrastructure::testing::django_fixture();
    let id = |name| fixture.user(name).id;
    for line in [
        format!(
            r#"user {} "twin-lower" <case.twin@example.com>: Django user {} has the same email up to case -> nothing imported"#,
            id("twin-lower"),
            id("twin-upper")
        ),
        format!(
            r#"user {} "no-email-1" <>: the email is empty -> nothing imported"#,
            id("no-email-1")
        ),
        format!(
            r#"user {} "bad-email" <not-an-email>: the email is not a valid address -> nothing imported"#,
            id("bad-email")
        ),
    ] {
        assert!(aborted.stdout.contains(&line), "{line}\n{}", aborted.stdout);
    }
    assert!(
        aborted
            .stderr
            .contains("gatehouse: 4 user(s) and 0 group(s) in conflict: nothing was imported."),
        "{}",
        aborted.stderr
    );
    assert_eq!(db.scalar(users).await, 0);

    let dry = finish(&mut import(&["--dry-run", "--email-conflicts", "skip"])).await;
    assert!(dry.succeeded(), "{dry:?}");
    assert!(
        dry.stdout.contains("Dry run, nothing written"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("users           17 created, 0 updated, 0 unchanged"),
        "{}",
        dry.stdout
    );
    assert_eq!(db.scalar(users).await, 0, "a dry run writes nothing");

    let done = finish(&mut import(&[
        "--email-conflicts",
        "skip",
        "--batch-size",
        "5",
    ]))
    .await;
    assert!(done.succeeded(), "{done:?}");
    assert!(done.stdout.contains("Imported:"), "{}", done.stdout);
    assert!(
        done.stdout
            .contains("users           17 created, 0 updated, 0 unchanged"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("DRF keys        2 created"),
        "{}",
        done.stdout
    );
    // Not a terminal: a line per stage and per tenth of the users.
    assert!(
        done.stderr.contains("importing users (21)"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("  users: 10/21"), "{}", done.stderr);
    assert_eq!(db.scalar(users).await, 17);

    let again = finish(&mut import(&["--email-conflicts", "skip"])).await;
    assert!(again.succeeded(), "{again:?}");
    assert!(
        again
            .stdout
            .contains("users           0 created, 0 updated, 17 unchanged"),
        "{}",
        again.stdout
    );

    let not_django = finish(gatehouse(&url).args([
        "import-django",
        "--from",
        &url,
        "--email-conflicts",
        "skip",
    ]))
    .await;
    assert_eq!(not_django.code, Some(1));
    assert!(
        not_django
            .stderr
            .contains("gatehouse: the source has no table auth_user"),
        "{}",
        not_django.stderr
    );
}
