//! Registration and the current user's own account over HTTP: the representation,
//! what a client may and may not set, Django's validation messages, and deleting
//! oneself.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The keys of SPEC §4's user representation, in order.
const USER_KEYS: [&str; 12] = [
    "id",
    "username",
    "email",
    "first_name",
    "last_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
    "last_login",
    "groups",
    "permissions",
];

/// An app whose throttles cannot interfere with tests that post many registrations.
async fn unthrottled_app() -> TestApp {
    spawn_app_with(|s| s.throttle.store.enabled = false).await
}

/// The object's keys, sorted.
fn keys(body: &Value) -> Vec<&str> {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn assert_user_representation(body: &Value) {
    let mut found = keys(body);
    found.retain(|key| *key != "tokens");
    let mut expected = USER_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(found, expected, "{body}");
}

/// Sends `method path` with a bearer token and an optional JSON body.
async fn authed(
    app: &TestApp,
    method: Method,
    path: &str,
    access: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(access);
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::read(request.send().await.expect("request")).await
}

async fn register_with(app: &TestApp, body: Value) -> Reply {
    app.post("/auth/register/", body).await
}

async fn user_count(app: &TestApp) -> i64 {
    app.db.scalar("SELECT count(*) AS value FROM users").await
}

fn assert_field_errors(reply: &Reply, expected: Value) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.body, expected, "{}", reply.text);
}

// ---------------------------------------------------------------- registration

#[tokio::test]
async fn register_answers_201_with_the_user_representation_and_a_working_token_pair() {
    let app = spawn_app().await;

    let reply = register_with(
        &app,
        json!({ "email": "alice@example.com", "password": PASSWORD }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let body = &reply.body;
    assert_user_representation(body);
    assert!(body.get("password").is_none(), "never the password: {body}");
    assert!(
        !reply.text.contains("bcrypt"),
        "never the hash: {}",
        reply.text
    );
    assert_eq!(keys(&body["tokens"]), ["access", "refresh"], "{body}");
    assert_eq!(
        body["username"], "alice@example.com",
        "the username defaults to the email"
    );
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["first_name"], "");
    assert_eq!(body["last_name"], "");
    assert_eq!(body["is_active"], true);
    assert_eq!(body["is_staff"], false);
    assert_eq!(body["is_superuser"], false);
    assert_eq!(body["groups"], json!([]));
    assert_eq!(body["permissions"], json!([]));
    let joined = body["date_joined"]
        .as_str()
        .expect("date_joined is a string");
    assert!(
        chrono::DateTime::parse_from_rfc3339(joined).is_ok(),
        "ISO 8601: {joined}"
    );
    let id = body["id"].as_i64().expect("a numeric id");
    let stored = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE id = {id}"
        ))
        .await;
    assert_eq!(stored, 1);

    let access = str_of(&body["tokens"], "access");
    let refresh = str_of(&body["tokens"], "refresh");
    assert_eq!(claims(&access)["user_id"], json!(id.to_string()));
    let me = app.me(&access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_user_representation(&me.body);
    assert_eq!(me.body["id"], id);
    assert_eq!(me.body["email"], "alice@example.com");
    let refreshed = app.refresh(&refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
}

#[tokio::test]
async fn register_accepts_a_url_encoded_form_and_keeps_an_explicit_username() {
    let app = spawn_app().await;

    let reply = app
        .post_form(
            "/auth/register",
            &[
                ("email", "bob@example.com"),
                ("username", "bob"),
                ("password", PASSWORD),
                ("first_name", "Bob"),
                ("last_name", "Builder"),
            ],
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["username"], "bob");
    assert_eq!(reply.body["first_name"], "Bob");
    assert_eq!(reply.body["last_name"], "Builder");
    let (access, _) = app.login("bob@example.com").await;
    assert_eq!(app.me(&access).await.body["username"], "bob");
}

#[tokio::test]
async fn register_ignores_privileged_and_unknown_fields() {
    let app = spawn_app().await;

    let reply = register_with(
        &app,
        json!({
            "email": "mallory@example.com",
            "password": PASSWORD,
            "id": 999,
            "is_staff": true,
            "is_superuser": true,
            "is_active": false,
            "groups": ["admins"],
            "user_permissions": ["auth.delete_user"],
            "date_joined": "2000-01-01T00:00:00Z",
        }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_ne!(reply.body["id"], 999);
    assert_eq!(reply.body["is_staff"], false);
    assert_eq!(reply.body["is_superuser"], false);
    assert_eq!(reply.body["is_active"], true);
    assert!(
        reply.body["tokens"].is_object(),
        "an active account gets tokens"
    );
    let row = app
        .db
        .scalar(
            "SELECT count(*) AS value FROM users WHERE email = 'mallory@example.com' \
             AND id <> 999 AND NOT is_staff AND NOT is_superuser AND is_active \
             AND date_joined > now() - interval '1 hour'",
        )
        .await;
    assert_eq!(row, 1, "the stored row ignores the privileged fields");
    let links = app
        .db
        .scalar(
            "SELECT (SELECT count(*) FROM user_groups) + (SELECT count(*) FROM user_permissions) \
             + (SELECT count(*) FROM groups) AS value",
        )
        .await;
    assert_eq!(links, 0);
}

#[tokio::test]
async fn a_duplicate_email_in_another_case_is_refused() {
    let app = spawn_app().await;
    app.register("alice@example.com").await;

    let reply = register_with(
        &app,
        json!({ "email": "ALICE@Example.com", "password": PASSWORD }),
    )
    .await;

    assert_field_errors(
        &reply,
        json!({ "email": ["user with this email already exists."] }),
    );
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn a_duplicate_username_is_refused() {
    let app = spawn_app().await;
    let first = json!({ "email": "bob@example.com", "username": "bob", "password": PASSWORD });
    assert_eq!(register_with(&app, first).await.status, StatusCode::CREATED);

    let second = json!({ "email": "robert@example.com", "username": "bob", "password": PASSWORD });
    let reply = register_with(&app, second).await;

    assert_field_errors(
        &reply,
        json!({ "username": ["A user with that username already exists."] }),
    );
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn a_taken_email_and_a_taken_explicit_username_are_both_reported() {
    let app = spawn_app().await;
    let first = json!({ "email": "bob@example.com", "username": "bob", "password": PASSWORD });
    assert_eq!(register_with(&app, first).await.status, StatusCode::CREATED);

    let again = json!({ "email": "bob@example.com", "username": "bob", "password": PASSWORD });
    let reply = register_with(&app, again).await;

    // A DRF serializer validates each field on its own and reports every failure.
    assert_field_errors(
        &reply,
        json!({
            "username": ["A user with that username already exists."],
            "email": ["user with this email already exists."],
        }),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_email_create_one_account_and_refuse_the_rest_with_400() {
    let app = unthrottled_app().await;

    let attempts = (0..6).map(|i| {
        let body = json!({ "email": "race@example.com", "username": format!("racer{i}"), "password": PASSWORD });
        register_with(&app, body)
    });
    let replies = futures_util::future::join_all(attempts).await;

    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{replies:#?}");
    for reply in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_field_errors(
            reply,
            json!({ "email": ["user with this email already exists."] }),
        );
    }
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn an_invalid_email_or_username_gets_djangos_message() {
    let app = spawn_app().await;

    let reply = register_with(
        &app,
        json!({ "email": "not-an-email", "password": PASSWORD }),
    )
    .await;
    assert_field_errors(&reply, json!({ "email": ["Enter a valid email address."] }));

    let reply = register_with(
        &app,
        json!({ "email": "ab@example.com", "username": "a b", "password": PASSWORD }),
    )
    .await;
    assert_field_errors(
        &reply,
        json!({ "username": [
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
        ] }),
    );

    let reply = register_with(
        &app,
        json!({ "email": "cd@example.com", "username": "u".repeat(151), "password": PASSWORD }),
    )
    .await;
    assert_field_errors(
        &reply,
        json!({ "username": ["Ensure this field has no more than 150 characters."] }),
    );

    // Well formed (a 60-character local part, 60-character labels) but 308 long.
    let label = "b".repeat(60);
    let long_email = format!("{}@{label}.{label}.{label}.{label}.com", "a".repeat(60));
    let reply = register_with(&app, json!({ "email": long_email, "password": PASSWORD })).await;
    assert_field_errors(
        &reply,
        json!({ "email": ["Ensure this field has no more than 254 characters."] }),
    );
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn the_email_domain_is_lowercased_and_unicode_usernames_are_accepted() {
    let app = spawn_app().await;

    let reply = register_with(
        &app,
        json!({ "email": "Zoe.Smith@EXAMPLE.Com", "username": "Zoë_99", "password": PASSWORD }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["email"], "Zoe.Smith@example.com");
    assert_eq!(reply.body["username"], "Zoë_99");
}

#[tokio::test]
async fn missing_email_and_password_are_each_required() {
    let app = spawn_app().await;
    let reply = register_with(&app, json!({})).await;
    assert_field_errors(
        &reply,
        json!({ "email": ["This field is required."], "password": ["This field is required."] }),
    );
}

#[tokio::test]
async fn weak_passwords_get_djangos_messages_and_create_nobody() {
    let app = unthrottled_app().await;
    let cases: [(&str, Option<&str>, &str, &[&str]); 5] = [
        (
            "short@example.com",
            None,
            "Xy7#q",
            &["This password is too short. It must contain at least 8 characters."],
        ),
        (
            "common@example.com",
            None,
            "password",
            &["This password is too common."],
        ),
        (
            "numeric@example.com",
            None,
            "83920174",
            &["This password is entirely numeric."],
        ),
        (
            "tiny@example.com",
            None,
            "12345",
            &[
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ],
        ),
        (
            "margaret.thompson@example.com",
            Some("mt1"),
            "margaret1987",
            &["The password is too similar to the email address."],
        ),
    ];

    for (email, username, password, messages) in cases {
        let mut body = json!({ "email": email, "password": password });
        if let Some(username) = username {
            body["username"] = json!(username);
        }
        let reply = register_with(&app, body).await;
        assert_field_errors(&reply, json!({ "password": messages }));
    }
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn a_password_like_the_default_username_is_too_similar_to_the_username() {
    let app = spawn_app().await;
    // With no username given, the username is the email, and Django checks it first.
    let reply = register_with(
        &app,
        json!({ "email": "margaret@example.com", "password": "margaret1987" }),
    )
    .await;
    assert_field_errors(
        &reply,
        json!({ "password": ["The password is too similar to the username."] }),
    );
}

#[tokio::test]
async fn a_mismatched_password2_is_a_non_field_error() {
    let app = spawn_app().await;

    let reply = register_with(
        &app,
        json!({ "email": "carol@example.com", "password": PASSWORD, "password2": "another horse battery" }),
    )
    .await;
    assert_field_errors(
        &reply,
        json!({ "non_field_errors": ["The two password fields didn't match."] }),
    );
    assert_eq!(user_count(&app).await, 0);

    let reply = register_with(
        &app,
        json!({ "email": "carol@example.com", "password": PASSWORD, "password2": PASSWORD }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

#[tokio::test]
async fn with_password_retype_on_a_missing_password2_is_required() {
    let app = spawn_app_with(|s| s.registration.password_retype = true).await;

    let reply = register_with(
        &app,
        json!({ "email": "dave@example.com", "password": PASSWORD }),
    )
    .await;
    assert_field_errors(&reply, json!({ "password2": ["This field is required."] }));

    let reply = register_with(
        &app,
        json!({ "email": "dave@example.com", "password": PASSWORD, "password2": PASSWORD }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

#[tokio::test]
async fn registration_disabled_answers_403_and_creates_nobody() {
    let app = spawn_app_with(|s| s.registration.enabled = false).await;

    let reply = register_with(
        &app,
        json!({ "email": "erin@example.com", "password": PASSWORD }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "You do not have permission to perform this action." })
    );
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn with_activation_required_the_account_is_inactive_without_tokens_and_cannot_log_in() {
    let app = spawn_app_with(|s| s.registration.require_activation = true).await;

    let reply = register_with(
        &app,
        json!({ "email": "frank@example.com", "password": PASSWORD }),
    )
    .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_user_representation(&reply.body);
    assert_eq!(reply.body["is_active"], false);
    assert!(
        reply.body.get("tokens").is_none(),
        "no tokens before activation: {}",
        reply.text
    );
    let login = app
        .post(
            "/auth/token/",
            json!({ "email": "frank@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED, "{}", login.text);
    assert_eq!(
        login.body,
        json!({ "detail": "No active account found with the given credentials" })
    );
    let sessions = app
        .db
        .scalar("SELECT count(*) AS value FROM refresh_tokens")
        .await;
    assert_eq!(sessions, 0);
    let inactive = app
        .db
        .scalar("SELECT count(*) AS value FROM users WHERE NOT is_active")
        .await;
    assert_eq!(inactive, 1);
}

#[tokio::test]
async fn the_password_is_stored_as_a_bcrypt_sha256_hash_at_the_configured_cost() {
    let app = spawn_app().await;
    app.register("gina@example.com").await;

    let hashed = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE password LIKE 'bcrypt\\_sha256$$2b$04$%' \
             AND password <> '{PASSWORD}' AND position('{PASSWORD}' IN password) = 0"
        ))
        .await;
    assert_eq!(
        hashed, 1,
        "bcrypt_sha256$ at the test cost of 4, not the password"
    );
}

#[tokio::test]
async fn a_first_name_of_151_characters_is_refused_and_150_are_accepted() {
    let app = spawn_app().await;

    let long = "a".repeat(151);
    let reply = register_with(
        &app,
        json!({ "email": "hank@example.com", "password": PASSWORD, "first_name": long }),
    )
    .await;
    assert_field_errors(
        &reply,
        json!({ "first_name": ["Ensure this field has no more than 150 characters."] }),
    );

    let fits = "a".repeat(150);
    let reply = register_with(
        &app,
        json!({ "email": "hank@example.com", "password": PASSWORD, "first_name": fits }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["first_name"], json!(fits));
}

#[tokio::test]
async fn passwords_differing_only_after_byte_72_are_different_passwords() {
    let app = spawn_app().await;
    let password = format!("{}A", "x".repeat(72));
    let almost = format!("{}B", "x".repeat(72));
    let reply = register_with(
        &app,
        json!({ "email": "long@example.com", "password": password }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let wrong = app
        .post(
            "/auth/token/",
            json!({ "email": "long@example.com", "password": almost }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    assert_eq!(
        wrong.body,
        json!({ "detail": "No active account found with the given credentials" })
    );

    let right = app
        .post(
            "/auth/token/",
            json!({ "email": "long@example.com", "password": password }),
        )
        .await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
}

// ---------------------------------------------------------------- /auth/me/

#[tokio::test]
async fn me_returns_the_callers_representation() {
    let app = spawn_app().await;
    let registered = register_with(
        &app,
        json!({ "email": "ivy@example.com", "username": "ivy", "password": PASSWORD, "first_name": "Ivy" }),
    )
    .await;
    let (access, _) = app.login("ivy@example.com").await;

    let reply = app.me(&access).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_user_representation(&reply.body);
    for key in [
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "date_joined",
    ] {
        assert_eq!(reply.body[key], registered.body[key], "{key}");
    }
    assert_eq!(reply.body["username"], "ivy");
}

#[tokio::test]
async fn me_without_credentials_is_401() {
    let app = spawn_app().await;
    let reply = app.get("/auth/me/", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "Authentication credentials were not provided." })
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
}

#[tokio::test]
async fn patch_me_changes_names_and_username_and_ignores_email_staff_and_password() {
    let app = spawn_app().await;
    let (id, access, _) = app.signed_in_user("jack@example.com").await;

    let reply = authed(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({
            "first_name": "Jack",
            "last_name": "Sparrow",
            "username": "captain",
            "email": "pirate@example.com",
            "is_staff": true,
            "is_superuser": true,
            "password": "a brand new password",
        })),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_user_representation(&reply.body);
    assert_eq!(reply.body["first_name"], "Jack");
    assert_eq!(reply.body["last_name"], "Sparrow");
    assert_eq!(reply.body["username"], "captain");
    assert_eq!(reply.body["email"], "jack@example.com");
    assert_eq!(reply.body["is_staff"], false);
    assert_eq!(reply.body["is_superuser"], false);
    let row = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE id = {id} AND first_name = 'Jack' \
             AND last_name = 'Sparrow' AND username = 'captain' AND email = 'jack@example.com' \
             AND NOT is_staff AND NOT is_superuser"
        ))
        .await;
    assert_eq!(row, 1);
    let old_password = app
        .post(
            "/auth/token/",
            json!({ "email": "jack@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        old_password.status,
        StatusCode::OK,
        "the password is unchanged: {}",
        old_password.text
    );
    let new_password = app
        .post(
            "/auth/token/",
            json!({ "email": "jack@example.com", "password": "a brand new password" }),
        )
        .await;
    assert_eq!(new_password.status, StatusCode::UNAUTHORIZED);

    // A partial update leaves the other fields alone.
    let reply = authed(
        &app,
        Method::PATCH,
        "/auth/me",
        &access,
        Some(json!({ "last_name": "" })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["first_name"], "Jack");
    assert_eq!(reply.body["last_name"], "");
    assert_eq!(reply.body["username"], "captain");
}

#[tokio::test]
async fn put_me_changes_the_same_fields_as_patch() {
    let app = spawn_app().await;
    let (id, access, _) = app.signed_in_user("kate@example.com").await;

    let reply = authed(
        &app,
        Method::PUT,
        "/auth/me/",
        &access,
        Some(json!({
            "first_name": "Kate",
            "last_name": "Bush",
            "username": "kate",
            "email": "other@example.com",
            "is_staff": true,
        })),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["first_name"], "Kate");
    assert_eq!(reply.body["last_name"], "Bush");
    assert_eq!(reply.body["username"], "kate");
    assert_eq!(reply.body["email"], "kate@example.com");
    assert_eq!(reply.body["is_staff"], false);
    let row = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE id = {id} AND first_name = 'Kate' AND last_name = 'Bush' \
             AND username = 'kate' AND email = 'kate@example.com' AND NOT is_staff"
        ))
        .await;
    assert_eq!(row, 1);
}

#[tokio::test]
async fn changing_ones_username_to_a_taken_one_is_400_and_keeps_ones_own() {
    let app = spawn_app().await;
    register_with(
        &app,
        json!({ "email": "leo@example.com", "username": "leo", "password": PASSWORD }),
    )
    .await;
    let (id, access, _) = app.signed_in_user("mia@example.com").await;

    let reply = authed(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({ "username": "leo" })),
    )
    .await;

    assert_field_errors(
        &reply,
        json!({ "username": ["A user with that username already exists."] }),
    );
    let unchanged = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE id = {id} AND username = 'mia@example.com'"
        ))
        .await;
    assert_eq!(unchanged, 1);

    let same = authed(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({ "username": "mia@example.com" })),
    )
    .await;
    assert_eq!(
        same.status,
        StatusCode::OK,
        "keeping one's own username is fine: {}",
        same.text
    );

    let too_long = authed(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({ "first_name": "a".repeat(151) })),
    )
    .await;
    assert_field_errors(
        &too_long,
        json!({ "first_name": ["Ensure this field has no more than 150 characters."] }),
    );

    let invalid = authed(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({ "username": "a b" })),
    )
    .await;
    assert_field_errors(
        &invalid,
        json!({ "username": [
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
        ] }),
    );
}

#[tokio::test]
async fn delete_me_with_a_wrong_password_is_refused_and_keeps_the_account() {
    let app = spawn_app().await;
    let (id, access, _) = app.signed_in_user("nina@example.com").await;

    let reply = authed(
        &app,
        Method::DELETE,
        "/auth/me/",
        &access,
        Some(json!({ "current_password": "not it at all" })),
    )
    .await;

    assert_field_errors(&reply, json!({ "current_password": ["Invalid password."] }));
    let still = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE id = {id}"
        ))
        .await;
    assert_eq!(still, 1);
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
}

#[tokio::test]
async fn delete_me_without_the_current_password_says_it_is_required() {
    let app = spawn_app().await;
    let (id, access, _) = app.signed_in_user("otto@example.com").await;

    let reply = authed(&app, Method::DELETE, "/auth/me/", &access, Some(json!({}))).await;
    assert_field_errors(
        &reply,
        json!({ "current_password": ["This field is required."] }),
    );

    let reply = authed(&app, Method::DELETE, "/auth/me/", &access, None).await;
    assert_field_errors(
        &reply,
        json!({ "current_password": ["This field is required."] }),
    );
    let still = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE id = {id}"
        ))
        .await;
    assert_eq!(still, 1);
}

#[tokio::test]
async fn delete_me_with_the_right_password_removes_the_account_and_its_sessions() {
    let app = spawn_app().await;
    let (id, access, refresh) = app.signed_in_user("pia@example.com").await;
    let other = app.signed_in_user("quinn@example.com").await;
    let sessions = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM refresh_tokens WHERE user_id = {id}"
        ))
        .await;
    assert_eq!(sessions, 2, "the registration's session and the login's");

    let reply = authed(
        &app,
        Method::DELETE,
        "/auth/me/",
        &access,
        Some(json!({ "current_password": PASSWORD })),
    )
    .await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_eq!(reply.text, "");
    let gone = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE id = {id}"
        ))
        .await;
    assert_eq!(gone, 0);
    let sessions = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM refresh_tokens WHERE user_id = {id}"
        ))
        .await;
    assert_eq!(sessions, 0);

    let me = app.me(&access).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);
    assert_eq!(
        me.body,
        json!({ "detail": "User not found", "code": "user_not_found" })
    );
    assert_eq!(me.header("www-authenticate"), Some("Bearer realm=\"api\""));
    assert_token_not_valid(&app.refresh(&refresh).await, "Token is invalid");
    let login = app
        .post(
            "/auth/token/",
            json!({ "email": "pia@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login.body,
        json!({ "detail": "No active account found with the given credentials" })
    );

    assert_eq!(
        app.me(&other.1).await.status,
        StatusCode::OK,
        "other users are untouched"
    );

    let again = register_with(
        &app,
        json!({ "email": "pia@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "the email is free again: {}",
        again.text
    );
    assert_ne!(again.body["id"], id);
    let old = app.me(&access).await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "the old token stays dead"
    );
    assert_eq!(
        old.body,
        json!({ "detail": "User not found", "code": "user_not_found" })
    );
}

#[tokio::test]
async fn a_changed_username_shows_in_the_claims_at_the_next_refresh() {
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in_user("rex@example.com").await;
    assert_eq!(claims(&access)["username"], "rex@example.com");

    let reply = authed(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({ "username": "rex" })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    let refreshed = app.refresh(&refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_eq!(
        claims(&str_of(&refreshed.body, "access"))["username"],
        "rex"
    );
    assert_eq!(
        app.me(&access).await.body["username"],
        "rex",
        "the old access token still works"
    );
}

#[tokio::test]
async fn a_blank_or_null_username_is_refused_on_patch() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("sam@example.com").await;

    let blank = authed(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({ "username": "" })),
    )
    .await;
    assert_field_errors(
        &blank,
        json!({ "username": ["This field may not be blank."] }),
    );
    let null = authed(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({ "username": null })),
    )
    .await;
    assert_field_errors(
        &null,
        json!({ "username": ["This field may not be null."] }),
    );
    assert_eq!(app.me(&access).await.body["username"], "sam@example.com");
}
