//! DRF token authentication (`/auth/token/login/`, `Authorization: Token <key>`,
//! `/auth/token/logout/`) and seed 002's `/api/v1/auth/…` routes, end to end.

use std::time::Duration;

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "a brand new passphrase";
const WAIT: Duration = Duration::from_secs(10);
const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";
const INVALID_KEY: &str = "Invalid token.";

/// An app whose throttles cannot interfere with tests that log in many times.
async fn app() -> TestApp {
    spawn_app_with(|s| s.throttle.store.enabled = false).await
}

/// Sends `method path` with an optional `Authorization` header and JSON body.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = app.client.request(method, app.url(path));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::read(request.send().await.expect("request")).await
}

fn token(key: &str) -> String {
    format!("Token {key}")
}

fn bearer(access: &str) -> String {
    format!("Bearer {access}")
}

/// Registers `username` / `email` with `PASSWORD`; returns his id.
async fn register_named(app: &TestApp, username: &str, email: &str) -> i64 {
    let reply = app
        .post(
            "/auth/register/",
            json!({ "username": username, "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["id"].as_i64().expect("id")
}

/// A token login that must succeed; returns the key.
async fn key_login(app: &TestApp, body: Value) -> String {
    let reply = app.post("/auth/token/login/", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let keys: Vec<_> = reply.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["auth_token"], "{}", reply.text);
    str_of(&reply.body, "auth_token")
}

/// A token login by email with `PASSWORD`.
async fn key_for(app: &TestApp, email: &str) -> String {
    key_login(app, json!({ "email": email, "password": PASSWORD })).await
}

async fn me_with(app: &TestApp, authorization: &str) -> Reply {
    app.get("/auth/me/", Some(authorization)).await
}

fn assert_invalid_key(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": INVALID_KEY }),
        "{}",
        reply.text
    );
    assert!(
        reply.header("www-authenticate").is_some(),
        "a 401 carries a challenge"
    );
}

fn assert_bad_credentials(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "non_field_errors": [BAD_CREDENTIALS] }),
        "{}",
        reply.text
    );
}

fn sid(token: &str) -> String {
    claims(token)["sid"].as_str().expect("sid").to_owned()
}

async fn api_token_rows(app: &TestApp, user: i64) -> i64 {
    app.db
        .scalar(&format!(
            "SELECT count(*) AS value FROM api_tokens WHERE user_id = {user}"
        ))
        .await
}

// ---------------------------------------------------------------------------------
// DRF token authentication
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_login_by_username_or_email_json_or_form_gives_a_new_key_each_time() {
    let app = app().await;
    register_named(&app, "alice", "alice@example.com").await;

    let by_username = key_login(&app, json!({ "username": "alice", "password": PASSWORD })).await;
    let by_email = key_for(&app, "alice@example.com").await;
    let form = app
        .post_form(
            "/auth/token/login/",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    let by_form = str_of(&form.body, "auth_token");
    let no_slash = app
        .post(
            "/auth/token/login",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(no_slash.status, StatusCode::OK, "{}", no_slash.text);
    let by_no_slash = str_of(&no_slash.body, "auth_token");

    let keys = [&by_username, &by_email, &by_form, &by_no_slash];
    for (i, key) in keys.iter().enumerate() {
        assert!(key.len() >= 20, "a key long enough to be secret: {key}");
        for other in &keys[i + 1..] {
            assert_ne!(key, other, "every login gives a different key");
        }
        let me = me_with(&app, &token(key)).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert_eq!(me.body["username"], "alice");
    }
}

#[tokio::test]
async fn a_failed_token_login_answers_the_same_for_a_wrong_password_an_unknown_and_an_inactive_user()
 {
    let app = app().await;
    register_named(&app, "alice", "alice@example.com").await;
    register_named(&app, "sleeper", "sleeper@example.com").await;
    app.db
        .execute("UPDATE users SET is_active = false WHERE username = 'sleeper'")
        .await;

    for body in [
        json!({ "username": "alice", "password": "wrong password" }),
        json!({ "email": "alice@example.com", "password": "wrong password" }),
        json!({ "username": "nobody", "password": PASSWORD }),
        json!({ "email": "nobody@example.com", "password": PASSWORD }),
        json!({ "username": "sleeper", "password": PASSWORD }),
        json!({ "email": "sleeper@example.com", "password": PASSWORD }),
    ] {
        let reply = app.post("/auth/token/login/", body.clone()).await;
        assert_bad_credentials(&reply);
    }
    let form = app
        .post_form(
            "/auth/token/login/",
            &[("username", "alice"), ("password", "nope")],
        )
        .await;
    assert_bad_credentials(&form);

    let missing = app
        .post("/auth/token/login/", json!({ "username": "alice" }))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.text);
    assert_eq!(
        missing.body,
        json!({ "password": ["This field is required."] })
    );
    assert_eq!(
        app.db
            .scalar("SELECT count(*) AS value FROM api_tokens")
            .await,
        0,
        "no key was issued"
    );
}

#[tokio::test]
async fn a_key_authenticates_on_every_authenticated_endpoint_beside_bearer() {
    let app = app().await;
    let (_, access, _) = app.signed_in_user("alice@example.com").await;
    let key = key_for(&app, "alice@example.com").await;

    let by_key = me_with(&app, &token(&key)).await;
    let by_bearer = me_with(&app, &bearer(&access)).await;
    assert_eq!(by_key.status, StatusCode::OK, "{}", by_key.text);
    assert_eq!(by_bearer.status, StatusCode::OK, "{}", by_bearer.text);
    assert_eq!(by_key.body, by_bearer.body);
    assert_eq!(by_key.body["email"], "alice@example.com");

    let djoser_me = app.get("/auth/users/me/", Some(&token(&key))).await;
    assert_eq!(djoser_me.status, StatusCode::OK, "{}", djoser_me.text);
    assert_eq!(djoser_me.body, by_key.body);

    let sessions = app.get("/auth/sessions/", Some(&token(&key))).await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.text);

    // An admin endpoint for a staff user holding the permission.
    let (_, _) = staff_with(&app, "staff@example.com", &["auth.view_user"]).await;
    let staff_key = key_for(&app, "staff@example.com").await;
    let users = app.get("/auth/users/", Some(&token(&staff_key))).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.text);
    assert_eq!(users.body["count"], 2, "{}", users.text);
    // Alice is no staff: the same endpoint forbids her key.
    let forbidden = app.get("/auth/users/", Some(&token(&key))).await;
    assert_eq!(
        forbidden.status,
        StatusCode::FORBIDDEN,
        "{}",
        forbidden.text
    );
}

#[tokio::test]
async fn a_password_change_with_a_key_succeeds_and_revokes_every_key() {
    let app = app().await;
    let (_, access, _) = app.signed_in_user("alice@example.com").await;
    let key = key_for(&app, "alice@example.com").await;
    let other_key = key_for(&app, "alice@example.com").await;

    let reply = send(
        &app,
        Method::POST,
        "/auth/change-password/",
        Some(&token(&key)),
        Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "Password updated successfully." })
    );
    assert_invalid_key(&me_with(&app, &token(&key)).await);
    assert_invalid_key(&me_with(&app, &token(&other_key)).await);
    // A change through a key keeps no session.
    assert_access_token_rejected(
        &me_with(&app, &bearer(&access)).await,
        "Token is blacklisted",
    );
    let fresh = key_login(
        &app,
        json!({ "email": "alice@example.com", "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(me_with(&app, &token(&fresh)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_token_headers_are_refused_as_drf_refuses_them() {
    let app = app().await;
    app.register("alice@example.com").await;
    let key = key_for(&app, "alice@example.com").await;

    assert_invalid_key(&me_with(&app, "Token not-a-real-key").await);
    assert_invalid_key(&me_with(&app, &token(&format!("{key}x"))).await);

    let cases = [
        ("Token", "Invalid token header. No credentials provided."),
        (
            "Token a b",
            "Invalid token header. Token string should not contain spaces.",
        ),
    ];
    for (header, detail) in cases {
        let reply = me_with(&app, header).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{header}: {}",
            reply.text
        );
        assert_eq!(reply.body, json!({ "detail": detail }), "{header}");
        assert!(reply.header("www-authenticate").is_some(), "{header}");
    }

    let lower = me_with(&app, &format!("token {key}")).await;
    assert_eq!(lower.status, StatusCode::UNAUTHORIZED, "{}", lower.text);
    assert_eq!(
        lower.body,
        json!({ "detail": "Authentication credentials were not provided." })
    );
}

#[tokio::test]
async fn keys_are_stored_only_as_their_digest() {
    let app = app().await;
    let id = app.register("alice@example.com").await["id"]
        .as_i64()
        .unwrap();
    let key = key_for(&app, "alice@example.com").await;
    assert!(
        key.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{key}"
    );

    assert_eq!(api_token_rows(&app, id).await, 1);
    let by_digest = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM api_tokens \
             WHERE user_id = {id} AND key_hash = sha256(convert_to('{key}', 'UTF8'))"
        ))
        .await;
    assert_eq!(by_digest, 1, "the row holds the SHA-256 of the key");
    let raw_anywhere = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM api_tokens t \
             WHERE strpos(row_to_json(t)::text, '{key}') > 0 \
                OR strpos(encode(t.key_hash, 'escape'), '{key}') > 0"
        ))
        .await;
    assert_eq!(raw_anywhere, 0, "no column holds the raw key");
}

#[tokio::test]
async fn a_token_logout_deletes_the_key_it_was_called_with_and_only_that_one() {
    let app = app().await;
    let id = app.register("alice@example.com").await["id"]
        .as_i64()
        .unwrap();
    let key = key_for(&app, "alice@example.com").await;
    let other = key_for(&app, "alice@example.com").await;
    assert_eq!(api_token_rows(&app, id).await, 2);

    let reply = send(
        &app,
        Method::POST,
        "/auth/token/logout/",
        Some(&token(&key)),
        None,
    )
    .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert!(reply.text.is_empty());
    assert_invalid_key(&me_with(&app, &token(&key)).await);
    assert_eq!(me_with(&app, &token(&other)).await.status, StatusCode::OK);
    assert_eq!(api_token_rows(&app, id).await, 1);
    let again = send(
        &app,
        Method::POST,
        "/auth/token/logout/",
        Some(&token(&key)),
        None,
    )
    .await;
    assert_invalid_key(&again);

    let anonymous = send(&app, Method::POST, "/auth/token/logout/", None, None).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.text
    );
    assert_eq!(
        anonymous.body,
        json!({ "detail": "Authentication credentials were not provided." })
    );
}

#[tokio::test]
async fn a_token_logout_with_a_bearer_token_deletes_every_key_of_the_user() {
    let app = app().await;
    let (id, access, _) = app.signed_in_user("alice@example.com").await;
    let first = key_for(&app, "alice@example.com").await;
    let second = key_for(&app, "alice@example.com").await;
    app.register("bob@example.com").await;
    let bobs = key_for(&app, "bob@example.com").await;
    assert_eq!(api_token_rows(&app, id).await, 2);

    let reply = send(
        &app,
        Method::POST,
        "/auth/token/logout/",
        Some(&bearer(&access)),
        None,
    )
    .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_invalid_key(&me_with(&app, &token(&first)).await);
    assert_invalid_key(&me_with(&app, &token(&second)).await);
    assert_eq!(api_token_rows(&app, id).await, 0);
    assert_eq!(me_with(&app, &token(&bobs)).await.status, StatusCode::OK);
    assert_eq!(
        me_with(&app, &bearer(&access)).await.status,
        StatusCode::OK,
        "the JWT session lives on"
    );
}

#[tokio::test]
async fn a_password_reset_through_the_emailed_link_revokes_every_key() {
    let (app, mail) = spawn_app_with_mail(|s| s.throttle.store.enabled = false).await;
    app.register("alice@example.com").await;
    let key = key_for(&app, "alice@example.com").await;
    let other = key_for(&app, "alice@example.com").await;

    let reply = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "alice@example.com" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let link = link_token(&mail.wait_for(1, WAIT).await.remove(0));
    let reset = app
        .post(
            &format!("/auth/reset-password/{link}/"),
            json!({ "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);

    assert_invalid_key(&me_with(&app, &token(&key)).await);
    assert_invalid_key(&me_with(&app, &token(&other)).await);
}

#[tokio::test]
async fn a_deactivation_by_an_admin_revokes_every_key() {
    let app = app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let id = app.register("alice@example.com").await["id"]
        .as_i64()
        .unwrap();
    let key = key_for(&app, "alice@example.com").await;
    let other = key_for(&app, "alice@example.com").await;

    let reply = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{id}/"),
        &root,
        Some(json!({ "is_active": false })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    assert_invalid_key(&me_with(&app, &token(&key)).await);
    assert_invalid_key(&me_with(&app, &token(&other)).await);
}

#[tokio::test]
async fn logging_out_everywhere_revokes_every_key() {
    let app = app().await;
    app.register("alice@example.com").await;
    let key = key_for(&app, "alice@example.com").await;
    let other = key_for(&app, "alice@example.com").await;

    let reply = send(
        &app,
        Method::POST,
        "/auth/logout/all/",
        Some(&token(&key)),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::RESET_CONTENT, "{}", reply.text);

    assert_invalid_key(&me_with(&app, &token(&key)).await);
    assert_invalid_key(&me_with(&app, &token(&other)).await);
}

#[tokio::test]
async fn an_admin_logging_a_user_out_revokes_every_key_of_his() {
    let app = app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let id = app.register("alice@example.com").await["id"]
        .as_i64()
        .unwrap();
    let key = key_for(&app, "alice@example.com").await;
    let other = key_for(&app, "alice@example.com").await;
    let roots = key_for(&app, "root@example.com").await;

    let reply = call(
        &app,
        Method::POST,
        &format!("/auth/users/{id}/logout/"),
        &root,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::RESET_CONTENT, "{}", reply.text);

    assert_invalid_key(&me_with(&app, &token(&key)).await);
    assert_invalid_key(&me_with(&app, &token(&other)).await);
    assert_eq!(me_with(&app, &token(&roots)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn token_logins_and_logouts_are_in_the_audit_trail() {
    let app = app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let alice = app.register("alice@example.com").await["id"]
        .as_i64()
        .unwrap();
    let key = key_for(&app, "alice@example.com").await;
    let failed = app
        .post(
            "/auth/token/login/",
            json!({ "email": "alice@example.com", "password": "wrong password" }),
        )
        .await;
    assert_bad_credentials(&failed);
    let logout = send(
        &app,
        Method::POST,
        "/auth/token/logout/",
        Some(&token(&key)),
        None,
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.text);

    let reply = app
        .get(
            &format!(
                "/auth/audit/?user={alice}&event_type=login.succeeded,login.failed,logout&page_size=100"
            ),
            Some(&bearer(&root)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let events = reply.body["results"].as_array().unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["logout", "login.failed", "login.succeeded"],
        "newest first: {}",
        reply.text
    );
    let (logout, failed, succeeded) = (&events[0], &events[1], &events[2]);
    assert_eq!(succeeded["details"], json!({ "via": "api_key" }));
    assert_eq!(succeeded["actor"], alice);
    assert_eq!(succeeded["subject_user"], alice);
    assert_eq!(logout["details"], json!({ "via": "api_key" }));
    assert_eq!(logout["actor"], alice);
    assert_eq!(failed["subject_user"], alice);
    assert_eq!(failed["details"]["reason"], "wrong_password");
    assert_eq!(failed["details"]["email"], "alice@example.com");
}

// ---------------------------------------------------------------------------------
// Seed 002: /api/v1/auth/…
// ---------------------------------------------------------------------------------

/// Both forms of a v1 path: the seed's (no trailing slash) and with one.
fn both(path: &str) -> [String; 2] {
    [
        format!("/api/v1/auth/{path}"),
        format!("/api/v1/auth/{path}/"),
    ]
}

fn assert_pair(reply: &Reply) -> (String, String) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut keys: Vec<_> = reply.body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["access", "refresh"], "{}", reply.text);
    (
        str_of(&reply.body, "access"),
        str_of(&reply.body, "refresh"),
    )
}

#[tokio::test]
async fn v1_login_credentials_gives_a_pair_and_refuses_wrong_credentials() {
    let app = app().await;
    register_named(&app, "alice", "alice@example.com").await;

    for path in both("login_credentials") {
        let reply = app
            .post(&path, json!({ "username": "alice", "password": PASSWORD }))
            .await;
        let (access, _) = assert_pair(&reply);
        assert_eq!(app.me(&access).await.status, StatusCode::OK, "{path}");

        let wrong = app
            .post(&path, json!({ "username": "alice", "password": "nope" }))
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {}",
            wrong.text
        );
        assert_eq!(
            wrong.body,
            json!({ "detail": "No active account found with the given credentials" })
        );
    }
}

#[tokio::test]
async fn v1_register_credentials_answers_with_the_tokens_alone() {
    let app = app().await;

    for (i, path) in both("register_credentials").iter().enumerate() {
        let reply = app
            .post(
                path,
                json!({
                    "username": format!("user{i}"),
                    "email": format!("user{i}@example.com"),
                    "password": PASSWORD,
                }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.text);
        let mut keys: Vec<_> = reply.body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["access", "refresh"], "{}", reply.text);
        let me = app.me(&str_of(&reply.body, "access")).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert_eq!(me.body["username"], format!("user{i}"));
        assert_eq!(
            app.refresh(&str_of(&reply.body, "refresh")).await.status,
            StatusCode::OK
        );
    }

    let duplicate = app
        .post(
            "/api/v1/auth/register_credentials",
            json!({ "username": "someone", "email": "user0@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        duplicate.status,
        StatusCode::BAD_REQUEST,
        "{}",
        duplicate.text
    );
    assert_eq!(
        duplicate.body,
        json!({ "email": ["user with this email already exists."] })
    );
}

#[tokio::test]
async fn v1_register_credentials_gives_no_tokens_when_activation_is_required() {
    let app = spawn_app_with(|s| {
        s.throttle.store.enabled = false;
        s.registration.require_activation = true;
    })
    .await;

    let reply = app
        .post(
            "/api/v1/auth/register_credentials",
            json!({ "username": "alice", "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let keys: Vec<_> = reply.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["detail"], "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "Account created. Follow the link we emailed to activate it." })
    );
}

#[tokio::test]
async fn v1_access_token_rotates_a_refresh_token_given_as_refresh_token() {
    let app = app().await;
    let (_, _, mut refresh) = app.signed_in_user("alice@example.com").await;

    for path in both("access_token") {
        let reply = app.post(&path, json!({ "refresh_token": refresh })).await;
        let (access, rotated) = assert_pair(&reply);
        assert_ne!(rotated, refresh, "rotation is on");
        assert_eq!(app.me(&access).await.status, StatusCode::OK);
        refresh = rotated;
    }

    let missing = app
        .post("/api/v1/auth/access_token", json!({ "refresh": refresh }))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.text);
    assert_eq!(
        missing.body,
        json!({ "refresh_token": ["This field is required."] })
    );
    let garbage = app
        .post(
            "/api/v1/auth/access_token",
            json!({ "refresh_token": "not.a.token" }),
        )
        .await;
    assert_token_not_valid(&garbage, "Token is invalid");
}

#[tokio::test]
async fn v1_refresh_token_logs_in_with_credentials() {
    let app = app().await;
    register_named(&app, "alice", "alice@example.com").await;

    for path in both("refresh_token") {
        let reply = app
            .post(&path, json!({ "username": "alice", "password": PASSWORD }))
            .await;
        let (access, refresh) = assert_pair(&reply);
        assert_eq!(app.me(&access).await.status, StatusCode::OK);
        assert_eq!(claims(&refresh)["token_type"], "refresh");
    }
}

#[tokio::test]
async fn v1_forgot_and_reset_password_work_through_the_emailed_token() {
    let (app, mail) = spawn_app_with_mail(|s| s.throttle.store.enabled = false).await;
    let (_, access, _) = app.signed_in_user("alice@example.com").await;

    let known = app
        .post(
            "/api/v1/auth/forgot_password",
            json!({ "email": "alice@example.com" }),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/forgot_password/",
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!(known.status, StatusCode::OK, "{}", known.text);
    assert_eq!(unknown.status, StatusCode::OK, "{}", unknown.text);
    assert_eq!(known.body, unknown.body);
    assert_eq!(
        known.body,
        json!({ "detail": "If an active account uses this address, a password reset link has been sent to it." })
    );
    let token = link_token(&mail.wait_for(1, WAIT).await.remove(0));

    let missing = app
        .post(
            "/api/v1/auth/reset_password",
            json!({ "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.text);
    assert_eq!(
        missing.body,
        json!({ "token": ["This field is required."] })
    );

    let reply = app
        .post(
            "/api/v1/auth/reset_password",
            json!({ "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "Your password has been reset." })
    );
    assert_access_token_rejected(&app.me(&access).await, "Token is blacklisted");
    let login = app
        .post(
            "/auth/token/",
            json!({ "email": "alice@example.com", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);

    let reused = app
        .post(
            "/api/v1/auth/reset_password/",
            json!({ "token": token, "new_password": "yet another passphrase" }),
        )
        .await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST, "{}", reused.text);
    assert_eq!(reused.body, json!({ "detail": "Invalid token." }));
}

#[tokio::test]
async fn v1_change_password_takes_current_and_new_password() {
    let app = app().await;
    let (_, access, _) = app.signed_in_user("alice@example.com").await;

    let wrong = app
        .post_authed(
            "/api/v1/auth/change_password",
            &access,
            json!({ "current_password": "not it", "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text);
    assert_eq!(
        wrong.body,
        json!({ "current_password": ["Invalid password."] })
    );

    let reply = app
        .post_authed(
            "/api/v1/auth/change_password/",
            &access,
            json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "Password updated successfully." })
    );
    let login = app
        .post(
            "/auth/token/",
            json!({ "email": "alice@example.com", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
}

#[tokio::test]
async fn v1_logout_ends_the_session_of_the_refresh_token() {
    let app = app().await;
    let (_, access, refresh) = app.signed_in_user("alice@example.com").await;
    let (other_access, other_refresh) = app.login("alice@example.com").await;

    let missing = app
        .post("/api/v1/auth/logout", json!({ "refresh": refresh }))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.text);
    assert_eq!(
        missing.body,
        json!({ "refresh_token": ["This field is required."] })
    );

    let reply = app
        .post("/api/v1/auth/logout", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body, json!({ "detail": "Successfully logged out." }));
    assert_access_token_rejected(&app.me(&access).await, "Token is blacklisted");
    assert_eq!(app.me(&other_access).await.status, StatusCode::OK);

    let slash = app
        .post(
            "/api/v1/auth/logout/",
            json!({ "refresh_token": other_refresh }),
        )
        .await;
    assert_eq!(slash.status, StatusCode::OK, "{}", slash.text);
    assert_access_token_rejected(&app.me(&other_access).await, "Token is blacklisted");
}

#[tokio::test]
async fn v1_session_describes_the_caller_his_session_and_his_access_token() {
    let app = app().await;
    let (_, access, _) = app.signed_in_user("alice@example.com").await;
    let me = app.me(&access).await;

    for path in both("session") {
        let reply = app.get(&path, Some(&bearer(&access))).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        let keys: Vec<_> = reply.body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["user", "session", "token"], "{}", reply.text);
        assert_eq!(reply.body["user"], me.body);

        let session = &reply.body["session"];
        let keys: Vec<_> = session.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["id", "created", "last_used", "user_agent", "ip"]);
        assert_eq!(session["id"], json!(sid(&access)));
        assert_eq!(session["ip"], "127.0.0.1");
        assert!(session["created"].as_str().unwrap().ends_with('Z'));

        let described = &reply.body["token"];
        let issued = claims(&access);
        assert_eq!(
            *described,
            json!({
                "token_type": "access",
                "jti": issued["jti"],
                "iat": issued["iat"],
                "exp": issued["exp"],
            })
        );
    }

    let key = key_for(&app, "alice@example.com").await;
    let by_key = app.get("/api/v1/auth/session", Some(&token(&key))).await;
    assert_eq!(by_key.status, StatusCode::OK, "{}", by_key.text);
    let me_now = me_with(&app, &token(&key)).await;
    assert_eq!(
        by_key.body["user"], me_now.body,
        "the login moved last_login"
    );
    assert_eq!(by_key.body["session"], Value::Null);
    assert_eq!(by_key.body["token"], Value::Null);

    let anonymous = app.get("/api/v1/auth/session", None).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.text
    );
}

#[tokio::test]
async fn v1_tokens_opens_a_new_session_for_the_caller() {
    let app = app().await;
    let registered = app
        .post(
            "/api/v1/auth/register_credentials",
            json!({ "username": "alice", "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let access = str_of(&registered.body, "access");

    let reply = app.get("/api/v1/auth/tokens", Some(&bearer(&access))).await;
    let (new_access, new_refresh) = assert_pair(&reply);
    assert_ne!(sid(&new_access), sid(&access), "a new session");
    assert_eq!(sid(&new_access), sid(&new_refresh));
    assert_eq!(app.me(&new_access).await.status, StatusCode::OK);
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
    assert_eq!(app.refresh(&new_refresh).await.status, StatusCode::OK);

    let sessions = app.get("/auth/sessions/", Some(&bearer(&access))).await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.text);
    let listed: Vec<_> = sessions
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed.len(), 2, "{}", sessions.text);
    assert!(listed.contains(&sid(&access)));
    assert!(listed.contains(&sid(&new_access)));

    let slash = app
        .get("/api/v1/auth/tokens/", Some(&bearer(&access)))
        .await;
    assert_pair(&slash);
    let anonymous = app.get("/api/v1/auth/tokens", None).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.text
    );
    // A session opened from an API key would outlive the key's logout: refused.
    let key = key_for(&app, "alice@example.com").await;
    let with_key = app.get("/api/v1/auth/tokens", Some(&token(&key))).await;
    assert_eq!(with_key.status, StatusCode::FORBIDDEN, "{}", with_key.text);
    assert_eq!(
        with_key.body,
        json!({ "detail": "You do not have permission to perform this action." })
    );
}

/// `GET /api/v1/auth/tokens` with `access`: the new session's pair.
async fn v1_tokens(app: &TestApp, access: &str) -> (String, String) {
    assert_pair(&app.get("/api/v1/auth/tokens", Some(&bearer(access))).await)
}

#[tokio::test]
async fn a_session_opened_from_v1_tokens_ends_at_its_parents_maximum_lifetime() {
    let app = app().await;
    let (_, access, _) = app.signed_in_user("alice@example.com").await;
    // The login was 30 days less one hour ago: one hour of it is left.
    app.db
        .execute(&format!(
            "UPDATE refresh_tokens SET session_started_at = now() - interval '30 days' + interval '1 hour' \
             WHERE family_id = '{}'",
            sid(&access)
        ))
        .await;

    let (child_access, child_refresh) = v1_tokens(&app, &access).await;

    let child = claims(&child_refresh);
    let left = child["exp"].as_i64().unwrap() - child["iat"].as_i64().unwrap();
    assert!(
        (3590..=3600).contains(&left),
        "the new session ends with its parent, in an hour, not in a day: {left} s"
    );
    let (grandchild_access, grandchild_refresh) = v1_tokens(&app, &child_access).await;
    assert!(claims(&grandchild_refresh)["exp"].as_i64().unwrap() <= child["exp"].as_i64().unwrap());

    // Two hours later, the parent's login is more than 30 days old.
    app.db
        .execute("UPDATE refresh_tokens SET session_started_at = session_started_at - interval '2 hours'")
        .await;
    assert_token_not_valid(&app.refresh(&child_refresh).await, "Token is expired");
    assert_token_not_valid(&app.refresh(&grandchild_refresh).await, "Token is expired");
    // Nor can a session past its maximum lifetime open a fresh one.
    let reply = app
        .get("/api/v1/auth/tokens", Some(&bearer(&grandchild_access)))
        .await;
    assert_access_token_rejected(&reply, "Token is expired");
}

#[tokio::test]
async fn ending_a_session_ends_the_sessions_opened_from_it() {
    let app = app().await;
    let (_, access, refresh) = app.signed_in_user("alice@example.com").await;
    let (child_access, child_refresh) = v1_tokens(&app, &access).await;
    let (grandchild_access, grandchild_refresh) = v1_tokens(&app, &child_access).await;
    let (_, other_refresh) = app.login("alice@example.com").await;
    let (sibling_access, sibling_refresh) = v1_tokens(&app, &access).await;

    // Logging the sibling out ends only the sibling.
    let reply = app
        .post("/auth/logout/", json!({ "refresh": sibling_refresh }))
        .await;
    assert_eq!(reply.status, StatusCode::RESET_CONTENT, "{}", reply.text);
    assert_access_token_rejected(&app.me(&sibling_access).await, "Token is blacklisted");
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
    assert_eq!(app.me(&grandchild_access).await.status, StatusCode::OK);

    let reply = app
        .post("/auth/logout/", json!({ "refresh": refresh }))
        .await;
    assert_eq!(reply.status, StatusCode::RESET_CONTENT, "{}", reply.text);

    assert_token_not_valid(&app.refresh(&child_refresh).await, "Token is blacklisted");
    assert_token_not_valid(
        &app.refresh(&grandchild_refresh).await,
        "Token is blacklisted",
    );
    assert_access_token_rejected(&app.me(&child_access).await, "Token is blacklisted");
    assert_access_token_rejected(&app.me(&grandchild_access).await, "Token is blacklisted");
    let unrelated = app.refresh(&other_refresh).await;
    assert_eq!(unrelated.status, StatusCode::OK, "another login lives on");
    let (other_access, _) = assert_pair(&unrelated);
    let sessions = app
        .get("/auth/sessions/", Some(&bearer(&other_access)))
        .await;
    let listed: Vec<String> = sessions
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(listed.contains(&sid(&other_access)), "{}", sessions.text);
    for ended in [&access, &child_access, &grandchild_access] {
        assert!(!listed.contains(&sid(ended)), "{}", sessions.text);
    }
}

#[tokio::test]
async fn revoking_a_session_from_the_list_ends_the_sessions_opened_from_it() {
    let app = app().await;
    let (_, access, _) = app.signed_in_user("alice@example.com").await;
    let (child_access, child_refresh) = v1_tokens(&app, &access).await;
    let (other_access, _) = app.login("alice@example.com").await;

    let reply = call(
        &app,
        Method::DELETE,
        &format!("/auth/sessions/{}/", sid(&access)),
        &other_access,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);

    assert_token_not_valid(&app.refresh(&child_refresh).await, "Token is blacklisted");
    assert_access_token_rejected(&app.me(&child_access).await, "Token is blacklisted");
    assert_eq!(app.me(&other_access).await.status, StatusCode::OK);
}
