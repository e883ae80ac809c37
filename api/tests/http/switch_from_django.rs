//! Switch day, over HTTP: a database real Django wrote (`scripts/django/auth_database.sh`)
//! is imported, and its users sign in with their passwords, their DRF keys and the
//! SimpleJWT tokens they hold, as if nothing had changed.

use crate::common::*;
use application::django_import::ConflictPolicy;
use infrastructure::django_import::{ImportOptions, ImportProgress, ImportReport, Stage, import};
use infrastructure::testing::{DjangoFixture, TestDatabase, django_database, django_fixture};
use reqwest::StatusCode;
use serde_json::json;

struct Quiet;

impl ImportProgress for Quiet {
    fn stage(&mut self, _stage: Stage, _total: u64) {}
    fn advance(&mut self, _done: u64) {}
}

async fn import_into(app: &TestApp, django: &TestDatabase) -> ImportReport {
    let options = ImportOptions {
        conflicts: ConflictPolicy::Placeholder,
        dry_run: false,
        batch_size: 1000,
    };
    import(&django.url, &app.db.url, options, &mut Quiet)
        .await
        .expect("the import succeeds")
}

/// Gatehouse after the switch, with SimpleJWT's lifetimes (the fixture's tokens live a
/// hundred years, so that they stay valid); a rotated token presented again is reuse
/// at once.
async fn switched() -> (TestApp, TestDatabase, DjangoFixture) {
    let app = spawn_app_with(|s| {
        let century = chrono::Duration::days(36500);
        s.jwt.tokens.access_lifetime = century;
        s.jwt.tokens.refresh_lifetime = century;
        s.jwt.tokens.session_max_lifetime = century;
        s.jwt.tokens.reuse_interval = chrono::Duration::zero();
    })
    .await;
    let django = django_database().await;
    import_into(&app, &django).await;
    (app, django, django_fixture())
}

async fn login(app: &TestApp, username: &str, password: &str) -> Reply {
    app.post(
        "/auth/token/",
        json!({ "username": username, "password": password }),
    )
    .await
}

#[tokio::test]
async fn every_imported_user_signs_in_with_his_django_password_which_is_upgraded_once() {
    let (app, django, fixture) = switched().await;
    let stored = |id: i64| format!("SELECT password AS value FROM users WHERE id = {id}");

    for user in &fixture.users {
        let imported = app.db.text(&stored(user.id)).await.expect("imported");
        let Some(password) = &user.password else {
            for attempt in ["", "!", PASSWORD] {
                let refused = login(&app, &user.username, attempt).await;
                assert_ne!(refused.status, StatusCode::OK, "{}", user.username);
            }
            continue;
        };
        let wrong = login(&app, &user.username, &format!("x{password}")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", user.username);
        assert_eq!(app.db.text(&stored(user.id)).await, Some(imported.clone()));

        let signed_in = login(&app, &user.username, password).await;
        if !user.is_active {
            assert_eq!(
                signed_in.status,
                StatusCode::UNAUTHORIZED,
                "{}",
                signed_in.text
            );
            continue;
        }
        assert_eq!(
            signed_in.status,
            StatusCode::OK,
            "{} ({}): {}",
            user.username,
            user.hasher,
            signed_in.text
        );
        assert_eq!(
            claims(&str_of(&signed_in.body, "access"))["user_id"],
            json!(user.id.to_string()),
            "the id is Django's"
        );
        let upgraded = app.db.text(&stored(user.id)).await.unwrap();
        assert!(
            upgraded.starts_with("bcrypt_sha256$$2b$04$"),
            "{}: {upgraded}",
            user.hasher
        );
        if user.hasher == "bcrypt_sha256" {
            assert_eq!(upgraded, imported, "already in the current format and cost");
        } else {
            assert_ne!(upgraded, imported);
        }
    }

    // A later import keeps the upgraded hashes, and everyone still signs in.
    let again = import_into(&app, &django).await;
    assert_eq!(again.users.created + again.users.updated, 0, "{again:?}");
    for user in fixture.users.iter().filter(|u| u.is_active) {
        if let Some(password) = &user.password {
            let signed_in = login(&app, &user.username, password).await;
            assert_eq!(signed_in.status, StatusCode::OK, "{}", user.username);
        }
    }
}

#[tokio::test]
async fn an_imported_drf_key_authenticates_as_it_did_in_django() {
    let (app, _django, fixture) = switched().await;

    for key in &fixture.drf_tokens {
        let me = app
            .get("/auth/users/me/", Some(&format!("Token {}", key.key)))
            .await;
        if fixture.user(&key.username).is_active {
            assert_eq!(me.status, StatusCode::OK, "{}", me.text);
            assert_eq!(me.body["username"], json!(key.username));
            assert_eq!(me.body["id"], json!(key.user_id));
        } else {
            assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);
            assert_eq!(me.body["detail"], json!("User inactive or deleted."));
        }
    }
    let unknown = app
        .get(
            "/auth/users/me/",
            Some("Token 0000000000000000000000000000000000000000"),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_outstanding_simplejwt_refresh_token_refreshes_once_into_a_gatehouse_session() {
    let (app, _django, fixture) = switched().await;
    let simplejwt = DjangoFixture::token(&fixture.refresh_tokens, "pbkdf2-sha256", "outstanding");
    assert!(
        claims(&simplejwt.token).get("sid").is_none(),
        "SimpleJWT's own"
    );

    let refreshed = app.refresh(&simplejwt.token).await;

    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let access = str_of(&refreshed.body, "access");
    let next = str_of(&refreshed.body, "refresh");
    assert_eq!(
        claims(&next)["sid"],
        json!(simplejwt.jti),
        "its own session"
    );
    assert_eq!(
        claims(&access)["user_id"],
        json!(simplejwt.user_id.to_string())
    );
    assert_eq!(claims(&access)["username"], json!("pbkdf2-sha256"));
    let me = app.me(&access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let sessions = app
        .get("/auth/sessions/", Some(&format!("Bearer {access}")))
        .await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.text);

    // A Gatehouse session from here on: the successor rotates…
    let rotated = app.refresh(&next).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    // …and the SimpleJWT token again is reuse, which ends the session.
    assert_token_not_valid(&app.refresh(&simplejwt.token).await, "Token is blacklisted");
    assert_token_not_valid(
        &app.refresh(&str_of(&rotated.body, "refresh")).await,
        "Token is blacklisted",
    );
    assert_eq!(
        app.me(&str_of(&rotated.body, "access")).await.status,
        StatusCode::UNAUTHORIZED
    );

    // The aliases take them too.
    let other = DjangoFixture::token(&fixture.refresh_tokens, "argon2", "outstanding");
    let aliased = app
        .post("/api/token/refresh/", json!({ "refresh": other.token }))
        .await;
    assert_eq!(aliased.status, StatusCode::OK, "{}", aliased.text);
}

#[tokio::test]
async fn a_blacklisted_expired_or_unknown_simplejwt_refresh_token_is_refused() {
    let (app, _django, fixture) = switched().await;
    let token = |username, state| {
        DjangoFixture::token(&fixture.refresh_tokens, username, state)
            .token
            .clone()
    };

    assert_token_not_valid(
        &app.refresh(&token("bcrypt", "blacklisted")).await,
        "Token is blacklisted",
    );
    assert_token_not_valid(
        &app.refresh(&token("scrypt", "expired")).await,
        "Token is expired",
    );
    let inactive = app.refresh(&token("inactive", "outstanding")).await;
    assert_eq!(
        inactive.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        inactive.text
    );
    assert_eq!(
        inactive.body["detail"],
        json!("No active account found for the given token.")
    );

    // Signed with the same key but never outstanding in Django: unknown here.
    let mut payload = claims(&token("argon2", "outstanding"));
    payload["jti"] = json!("0123456789abcdef0123456789abcdef");
    let unknown = forge(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &payload,
        Some(TEST_SIGNING_KEY),
    );
    assert_token_not_valid(&app.refresh(&unknown).await, "Token is invalid");
}

#[tokio::test]
async fn a_simplejwt_access_token_works_until_it_expires_under_the_same_checks() {
    let (app, _django, fixture) = switched().await;
    let token = |username, state| {
        DjangoFixture::token(&fixture.access_tokens, username, state)
            .token
            .clone()
    };
    let live = token("pbkdf2-sha256", "live");

    let me = app.me(&live).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["username"], json!("pbkdf2-sha256"));
    let verified = app
        .post("/auth/token/verify/", json!({ "token": live }))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);

    assert_eq!(
        app.me(&token("inactive", "live")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_access_token_rejected(
        &app.me(&token("argon2", "expired")).await,
        "Token is expired",
    );
    // With no session of its own, it opens none.
    let opened = app
        .get("/api/v1/auth/tokens", Some(&format!("Bearer {live}")))
        .await;
    assert_eq!(opened.status, StatusCode::FORBIDDEN, "{}", opened.text);
    let session = app
        .get("/api/v1/auth/session", Some(&format!("Bearer {live}")))
        .await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.text);
    assert_eq!(session.body["session"], serde_json::Value::Null);
    assert_eq!(session.body["user"]["username"], json!("pbkdf2-sha256"));

    // A password change ends it, as it ends Gatehouse's own.
    let password = fixture.user("pbkdf2-sha256").password.clone().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let changed = app
        .post_authed(
            "/auth/users/set_password/",
            &live,
            json!({ "current_password": password, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    assert_eq!(app.me(&live).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_user_registered_after_the_switch_gets_an_id_django_never_gave() {
    let (app, _django, fixture) = switched().await;

    let registered = app.register("after-the-switch@example.com").await;

    let highest = fixture.users.iter().map(|u| u.id).max().unwrap();
    assert!(registered["id"].as_i64().unwrap() > highest, "{registered}");
}

#[tokio::test]
async fn a_simplejwt_token_for_a_user_who_did_not_come_from_django_lets_no_one_in() {
    let app = spawn_app().await;
    // Gatehouse's own first user takes id 1 before the import: Django's user 1 is in
    // conflict and left out.
    let own = app.register("root@gatehouse.test").await;
    assert_eq!(own["id"], json!(1));
    let django = django_database().await;
    let options = ImportOptions {
        conflicts: ConflictPolicy::Skip,
        dry_run: false,
        batch_size: 1000,
    };
    let report = import(&django.url, &app.db.url, options, &mut Quiet)
        .await
        .expect("the import succeeds");
    assert!(report.conflicts.iter().any(|c| c.id == 1), "{report:?}");

    // Django, still serving, signs user 1 a token as SimpleJWT does (after Gatehouse's
    // user 1 set his password): the key alone must not make it Gatehouse's user 1's.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let now = chrono::Utc::now().timestamp();
    let token = forge(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &json!({
            "token_type": "access", "exp": now + 300, "iat": now,
            "jti": "0123456789abcdef0123456789abcdef", "user_id": "1",
        }),
        Some(TEST_SIGNING_KEY),
    );
    assert_access_token_rejected(&app.me(&token).await, "Token is invalid");
}
