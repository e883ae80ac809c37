//! Gatehouse in front of a PostgreSQL reached over TLS (the test server, `ssl = on`):
//! the app and a whole `gatehouse serve` on a `verify-full` pool answer a login over
//! encrypted sessions only; `gatehouse check` says the session is encrypted, and
//! refuses a certificate it cannot trust saying what to set, never the password. The
//! throttle counts in a Redis that speaks only TLS.

use std::time::Duration;

use crate::common::*;
use infrastructure::testing::{PgTlsServer, TestCa, TestDatabase, TlsRedis};
use infrastructure::throttle::ThrottleBackend;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

/// Never asked for by the test server (trust authentication): it must never be shown.
const DB_PASSWORD: &str = "db-pa55-never-shown";

fn verify_full(db: &TestDatabase, server: &PgTlsServer) -> String {
    db.url_with(
        &server.host,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            server.root_cert.display()
        ),
    )
}

/// Sessions to `db` other than the asking one: (encrypted, plain).
async fn sessions(db: &TestDatabase) -> (i64, i64) {
    let count = |encrypted: bool| {
        format!(
            "SELECT count(*) AS value FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE datname = '{}' AND pid <> pg_backend_pid() AND ssl = {encrypted}",
            db.name()
        )
    };
    (
        db.scalar(&count(true)).await,
        db.scalar(&count(false)).await,
    )
}

#[tokio::test]
async fn the_app_on_a_verify_full_pool_answers_a_login_over_encrypted_sessions_only() {
    let server = PgTlsServer::find();
    let db = TestDatabase::create().await;
    let url = verify_full(&db, &server);
    let app = spawn_app_over(db, &url, |_| {}).await;

    app.register("tls@example.com").await;
    let login = app
        .post("/auth/token/", credentials("tls@example.com"))
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let (access, _) = token_pair(&login);
    assert_eq!(app.me(&access).await.status, StatusCode::OK);

    let (encrypted, plain) = sessions(&app.db).await;
    assert!(encrypted >= 1, "the pool's sessions are encrypted");
    assert_eq!(plain, 0, "no session of the app is plain");
}

#[tokio::test]
async fn gatehouse_serve_on_a_verify_full_database_url_answers_a_login() {
    let server = PgTlsServer::find();
    let db = TestDatabase::create().await;
    let served = Served::start(&verify_full(&db, &server), &[]).await;

    let registered = served
        .post("/auth/register/", credentials("serve-tls@example.com"))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let login = served
        .post("/auth/token/", credentials("serve-tls@example.com"))
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let (encrypted, plain) = sessions(&db).await;
    assert!(
        encrypted >= 1 && plain == 0,
        "{encrypted} encrypted, {plain} plain"
    );
    served.stop().await;
}

#[tokio::test]
async fn check_says_the_database_session_is_encrypted() {
    let server = PgTlsServer::find();
    let db = TestDatabase::create().await;
    let finished = finish(gatehouse(&verify_full(&db, &server)).arg("check")).await;
    assert!(finished.succeeded(), "{finished:?}");
    assert!(
        finished
            .stdout
            .contains("Database: reachable, encrypted (TLSv1.")
            && finished.stdout.contains("sslmode=verify-full)"),
        "{finished:?}"
    );

    let plain = db.url_with("127.0.0.1", "sslmode=disable");
    let finished = finish(gatehouse(&plain).arg("check")).await;
    assert!(
        finished
            .stdout
            .contains("Database: reachable, NOT encrypted (sslmode=disable)"),
        "{finished:?}"
    );
}

#[tokio::test]
async fn verify_full_without_the_servers_ca_is_refused_saying_what_to_set() {
    let server = PgTlsServer::find();
    let db = TestDatabase::create().await;
    let url = db.url_with(&server.host, "sslmode=verify-full").replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{DB_PASSWORD}@"),
        1,
    );
    // The system's roots, without the server's CA (Debian links its snakeoil
    // certificate into /etc/ssl/certs, so the test names a bundle of its own).
    let roots = TestCa::new();
    let finished = finish(
        gatehouse(&url)
            .arg("check")
            .env("SSL_CERT_FILE", roots.ca_file()),
    )
    .await;
    assert!(!finished.succeeded(), "{finished:?}");
    let said = finished.output();
    assert!(
        said.contains("PostgreSQL's certificate is not trusted")
            && said.contains("sslmode=verify-full")
            && said.contains("set sslrootcert="),
        "{said}"
    );
    assert!(!said.contains(DB_PASSWORD), "{said}");

    let finished = finish(
        gatehouse(&url)
            .arg("migrate")
            .env("SSL_CERT_FILE", roots.ca_file()),
    )
    .await;
    assert!(!finished.succeeded(), "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("PostgreSQL's certificate is not trusted"),
        "{finished:?}"
    );
    assert!(!finished.output().contains(DB_PASSWORD), "{finished:?}");
}

#[tokio::test]
async fn a_bad_sslmode_or_a_missing_root_file_stops_startup_naming_it() {
    let db = TestDatabase::create().await;
    for (params, named) in [
        ("sslmode=verify-everything", "sslmode=\"verify-everything\""),
        (
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            "sslrootcert=/nonexistent/ca.pem",
        ),
    ] {
        let url = db.url_with("127.0.0.1", params).replacen(
            "postgres://postgres@",
            &format!("postgres://postgres:{DB_PASSWORD}@"),
            1,
        );
        for command in ["check", "migrate"] {
            let finished = finish(gatehouse(&url).arg(command)).await;
            assert!(!finished.succeeded(), "{command}: {finished:?}");
            assert!(
                finished
                    .stderr
                    .contains("invalid configuration: database.url: ")
                    && finished.stderr.contains(named),
                "{command}: {finished:?}"
            );
            assert!(!finished.output().contains(DB_PASSWORD), "{finished:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_throttle_counts_in_a_redis_that_speaks_only_tls() {
    let ca = TestCa::new();
    let redis = TlsRedis::start(&ca);
    let app = spawn_app_with(|s| {
        let store = &mut s.throttle.store;
        store.enabled = true;
        store.backend = ThrottleBackend::Redis;
        store.redis_url = Some(SecretString::from(format!(
            "rediss://localhost:{}",
            redis.port
        )));
        store.redis_ca_file = Some(ca.ca_file());
        store.key_prefix = format!("gh-test:{}:", uuid::Uuid::new_v4().simple());
        s.throttle.rates.login = domain::throttle::Rate {
            requests: 2,
            period: Duration::from_secs(60),
        };
    })
    .await;
    app.register("redis-tls@example.com").await;
    let wrong = json!({ "email": "redis-tls@example.com", "password": "not the password" });
    for _ in 0..2 {
        let reply = app.post("/auth/token/", wrong.clone()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    }
    let third = app.post("/auth/token/", wrong).await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.text
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.body["throttle"], "ok", "{}", ready.text);
}
