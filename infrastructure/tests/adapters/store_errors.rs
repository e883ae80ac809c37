//! A failing store step says what it was doing: the error a port returns carries a
//! "while …" for every step, so the one log line of a 500 tells what failed.

use chrono::Utc;
use domain::ports::{SessionRepository, UserRepository};
use domain::{AuditEvent, AuditKind, NewUser, RepositoryError};
use infrastructure::db::{PoolSettings, build_pool};
use infrastructure::email::{EmailComposer, EmailTemplates, Outbox};
use infrastructure::testing::TestDatabase;
use infrastructure::{PgSessionRepository, PgUserRepository};
use uuid::Uuid;

/// The error's causes, outermost first, as the log line of a 500 prints them.
fn chain(error: &RepositoryError) -> String {
    let RepositoryError::Unexpected(cause) = error else {
        panic!("expected an unexpected error, got {error:?}");
    };
    let mut told = cause.to_string();
    let mut next = cause.source();
    while let Some(inner) = next {
        told = format!("{told}: {inner}");
        next = inner.source();
    }
    told
}

async fn pool(db: &TestDatabase) -> infrastructure::PgPool {
    build_pool(&PoolSettings {
        url: Some(db.url.clone()),
        max_connections: 2,
        acquire_timeout: std::time::Duration::from_secs(5),
    })
    .unwrap()
}

#[tokio::test]
async fn a_failed_read_names_the_read() {
    let db = TestDatabase::create().await;
    let sessions = PgSessionRepository::new(pool(&db).await);
    db.execute("DROP TABLE refresh_tokens CASCADE").await;

    let error = sessions.find(Uuid::new_v4()).await.unwrap_err();

    let told = chain(&error);
    assert!(told.starts_with("while reading a refresh token"), "{told}");
    assert!(
        told.contains("refresh_tokens"),
        "the database's own words follow: {told}"
    );
}

#[tokio::test]
async fn a_failed_transaction_names_the_operation_and_the_step() {
    let db = TestDatabase::create().await;
    let users = PgUserRepository::new(
        pool(&db).await,
        Outbox::new(EmailComposer::new(EmailTemplates {
            site_name: "Gatehouse".to_owned(),
            frontend_url: "http://frontend.test".to_owned(),
            reset_url_template: "reset-password/{token}".to_owned(),
            activation_url_template: "activate/{token}".to_owned(),
        })),
    );
    db.execute("DROP TABLE audit_events").await;
    let user = NewUser {
        username: domain::Username::parse("alice").unwrap(),
        email: domain::EmailAddress::parse("alice@example.com").unwrap(),
        password_hash: "bcrypt_sha256$x".to_owned(),
        first_name: String::new(),
        last_name: String::new(),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        now: Utc::now(),
    };
    let audit = AuditEvent::new(AuditKind::AccountRegistered, Utc::now());

    let error = match users.create(user, None, audit).await {
        Err(domain::ports::CreateUserError::Repository(error)) => error,
        other => panic!("expected a store failure, got {other:?}"),
    };

    let told = chain(&error);
    assert!(
        told.starts_with(
            "while creating a user: while recording the audit event account.registered"
        ),
        "{told}"
    );
    let stored = db.scalar("SELECT count(*) AS value FROM users").await;
    assert_eq!(stored, 0, "the user went with the failed transaction");
}
