//! The aliases of SPEC §5.2 over HTTP: SimpleJWT's default `/api/token/…` paths,
//! Djoser's `/auth/jwt/…` and `/auth/users/…` routes. Each answers as its library
//! does, shares one session store with the canonical routes, and leaves the canonical
//! routes answering their own way.

use std::time::Duration;

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use infrastructure::testing::{ReceivedEmail, SmtpCatcher};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "a brand new passphrase";
const WAIT: Duration = Duration::from_secs(10);

const OBTAIN: [&str; 3] = ["/auth/token/", "/api/token/", "/auth/jwt/create/"];
const REFRESH: [&str; 3] = [
    "/auth/token/refresh/",
    "/api/token/refresh/",
    "/auth/jwt/refresh/",
];
const VERIFY: [&str; 3] = [
    "/auth/token/verify/",
    "/api/token/verify/",
    "/auth/jwt/verify/",
];
const BLACKLIST: [&str; 2] = ["/auth/token/blacklist/", "/api/token/blacklist/"];

const NO_ACCOUNT: &str = "No active account found with the given credentials";
const INVALID_UID: &str = "Invalid user id or user doesn't exist.";
const INVALID_TOKEN: &str = "Invalid token for given user.";
const REQUIRED: &str = "This field is required.";

const RESET_TEMPLATE: &str = "password/reset/confirm/{uid}/{token}";
const ACTIVATION_TEMPLATE: &str = "activate/{uid}/{token}";

/// An app whose throttles cannot interfere with tests that log in many times.
async fn app_with(configure: impl FnOnce(&mut api::settings::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.throttle.store.enabled = false;
        configure(s);
    })
    .await
}

/// An unthrottled app mailing to a catcher, with Djoser's link shapes.
async fn mail_app_with(
    configure: impl FnOnce(&mut api::settings::Settings),
) -> (TestApp, SmtpCatcher) {
    spawn_app_with_mail(|s| {
        s.throttle.store.enabled = false;
        s.email.templates.reset_url_template = RESET_TEMPLATE.to_owned();
        s.email.templates.activation_url_template = ACTIVATION_TEMPLATE.to_owned();
        configure(s);
    })
    .await
}

/// Django's `urlsafe_base64_encode(force_bytes(pk))`.
fn uid(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

/// The `(uid, token)` of the first link of an email: its last two path segments.
fn uid_and_token(email: &ReceivedEmail) -> (String, String) {
    let links = email.links();
    let link = links
        .first()
        .unwrap_or_else(|| panic!("no link in {}", email.text()));
    let mut segments = link.trim_end_matches('/').rsplit('/');
    let token = segments.next().expect("a token").to_owned();
    let uid = segments.next().expect("a uid").to_owned();
    (uid, token)
}

/// The first delivered email that `matches`, waiting for it up to `WAIT`.
async fn first_mail(mail: &SmtpCatcher, matches: impl Fn(&ReceivedEmail) -> bool) -> ReceivedEmail {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = mail.received().into_iter().find(|m| matches(m)) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such email among {:?}",
            mail.received()
                .iter()
                .map(ReceivedEmail::subject)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn outbox_rows(app: &TestApp) -> i64 {
    app.db
        .scalar("SELECT count(*) AS value FROM email_outbox")
        .await
}

async fn user_count(app: &TestApp, email: &str) -> i64 {
    app.db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE email = '{email}'"
        ))
        .await
}

/// Logs in at `path` with a JSON `{email, password}`.
async fn obtain_at(app: &TestApp, path: &str, email: &str, password: &str) -> Reply {
    app.post(path, json!({ "email": email, "password": password }))
        .await
}

/// A 200 `{refresh, access}` of SimpleJWT for user `id`.
fn assert_pair(reply: &Reply, id: i64) -> (String, String) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut keys: Vec<&str> = reply
        .body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access", "refresh"], "{}", reply.text);
    let access = str_of(&reply.body, "access");
    let refresh = str_of(&reply.body, "refresh");
    for (token, kind) in [(&access, "access"), (&refresh, "refresh")] {
        let claims = claims(token);
        assert_eq!(claims["token_type"], kind);
        assert_eq!(claims["user_id"], json!(id.to_string()));
        let jti = claims["jti"].as_str().expect("a jti");
        assert_eq!(jti.len(), 32, "{jti}");
        assert!(jti.chars().all(|c| c.is_ascii_hexdigit()), "{jti}");
    }
    assert_eq!(claims(&access)["sid"], claims(&refresh)["sid"]);
    (access, refresh)
}

fn assert_no_content(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_eq!(reply.text, "");
}

fn assert_bad_request(reply: &Reply, body: Value) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.body, body, "{}", reply.text);
}

fn assert_no_account(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(reply.body, json!({ "detail": NO_ACCOUNT }));
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
}

// ------------------------------------------------------ SimpleJWT's and Djoser's tokens

#[tokio::test]
async fn every_obtain_alias_answers_a_simplejwt_pair_to_json_and_to_a_form() {
    let app = app_with(|_| {}).await;
    let registered = app
        .post(
            "/auth/register/",
            json!({ "email": "bob@example.com", "username": "bob", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let id = registered.body["id"].as_i64().unwrap();

    for path in OBTAIN {
        let by_json = obtain_at(&app, path, "bob@example.com", PASSWORD).await;
        let (access, _) = assert_pair(&by_json, id);
        assert_eq!(app.me(&access).await.status, StatusCode::OK, "{path}");

        let by_form = app
            .post_form(path, &[("username", "bob"), ("password", PASSWORD)])
            .await;
        assert_pair(&by_form, id);

        let by_username_json = app
            .post(path, json!({ "username": "bob", "password": PASSWORD }))
            .await;
        assert_pair(&by_username_json, id);

        let without_slash = obtain_at(
            &app,
            path.trim_end_matches('/'),
            "bob@example.com",
            PASSWORD,
        )
        .await;
        assert_pair(&without_slash, id);
    }
}

#[tokio::test]
async fn every_obtain_alias_refuses_bad_credentials_and_missing_fields_as_simplejwt() {
    let app = app_with(|_| {}).await;
    app.post(
        "/auth/register/",
        json!({ "email": "carl@example.com", "username": "carl", "password": PASSWORD }),
    )
    .await;

    for path in OBTAIN {
        assert_no_account(&obtain_at(&app, path, "carl@example.com", "not the password").await);
        assert_no_account(&obtain_at(&app, path, "nobody@example.com", PASSWORD).await);
        assert_no_account(
            &app.post_form(path, &[("username", "carl"), ("password", "wrong one")])
                .await,
        );

        let missing = app.post(path, json!({ "username": "carl" })).await;
        assert_bad_request(&missing, json!({ "password": [REQUIRED] }));
        let missing = app.post_form(path, &[("username", "carl")]).await;
        assert_bad_request(&missing, json!({ "password": [REQUIRED] }));

        let get = app.get(path, None).await;
        assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(get.body, json!({ "detail": "Method \"GET\" not allowed." }));
        assert_eq!(get.header("allow"), Some("POST, OPTIONS"), "{path}");
    }
}

#[tokio::test]
async fn every_refresh_alias_rotates_and_the_old_token_is_then_blacklisted() {
    let app = app_with(|s| s.jwt.tokens.reuse_interval = chrono::Duration::zero()).await;
    let id = app.register("dora@example.com").await["id"]
        .as_i64()
        .unwrap();

    for (obtain, refresh_path) in OBTAIN.iter().zip(REFRESH) {
        let (_, refresh) = assert_pair(
            &obtain_at(&app, obtain, "dora@example.com", PASSWORD).await,
            id,
        );

        let rotated = app.post(refresh_path, json!({ "refresh": refresh })).await;

        let (access, next) = assert_pair(&rotated, id);
        assert_ne!(
            claims(&next)["jti"],
            claims(&refresh)["jti"],
            "{refresh_path}"
        );
        assert_eq!(claims(&next)["sid"], claims(&refresh)["sid"]);
        assert_eq!(app.me(&access).await.status, StatusCode::OK);
        for path in REFRESH {
            assert_token_not_valid(
                &app.post(path, json!({ "refresh": refresh })).await,
                "Token is blacklisted",
            );
        }
        // Reuse revoked the whole session, successor included.
        assert_token_not_valid(
            &app.post(refresh_path, json!({ "refresh": next })).await,
            "Token is blacklisted",
        );
    }
}

#[tokio::test]
async fn within_the_reuse_interval_every_refresh_alias_hands_out_the_same_successor() {
    let app = app_with(|_| {}).await;
    let (id, _, refresh) = app.signed_in_user("emil@example.com").await;

    let replies: Vec<Reply> = futures_util::future::join_all(
        REFRESH
            .iter()
            .map(|path| app.post(path, json!({ "refresh": refresh }))),
    )
    .await;

    let first = assert_pair(&replies[0], id).1;
    for reply in &replies {
        assert_eq!(assert_pair(reply, id).1, first);
    }
}

#[tokio::test]
async fn every_refresh_alias_refuses_garbage_wrong_types_and_missing_fields() {
    let app = app_with(|_| {}).await;
    let (_, access, _) = app.signed_in_user("fay@example.com").await;
    for path in REFRESH {
        assert_token_not_valid(
            &app.post(path, json!({ "refresh": "not.a.token" })).await,
            "Token is invalid",
        );
        assert_token_not_valid(
            &app.post(path, json!({ "refresh": access })).await,
            "Token has wrong type",
        );
        assert_bad_request(
            &app.post(path, json!({})).await,
            json!({ "refresh": [REQUIRED] }),
        );
    }
}

#[tokio::test]
async fn every_verify_alias_accepts_live_tokens_and_refuses_garbage_and_blacklisted_ones() {
    let app = app_with(|_| {}).await;
    let (_, access, refresh) = app.signed_in_user("gus@example.com").await;

    for path in VERIFY {
        for token in [&access, &refresh] {
            let reply = app.post(path, json!({ "token": token })).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
            assert_eq!(reply.body, json!({}));
        }
        let form = app.post_form(path, &[("token", &access)]).await;
        assert_eq!(form.status, StatusCode::OK, "{path}: {}", form.text);
        assert_eq!(form.body, json!({}));
        assert_token_not_valid(
            &app.post(path, json!({ "token": "garbage" })).await,
            "Token is invalid",
        );
        assert_bad_request(
            &app.post(path, json!({})).await,
            json!({ "token": [REQUIRED] }),
        );
    }

    let ended = app
        .post("/auth/token/blacklist/", json!({ "refresh": refresh }))
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    for path in VERIFY {
        for token in [&refresh, &access] {
            assert_token_not_valid(
                &app.post(path, json!({ "token": token })).await,
                "Token is blacklisted",
            );
        }
    }
}

#[tokio::test]
async fn every_blacklist_route_ends_the_session_for_every_refresh_route() {
    let app = app_with(|_| {}).await;
    app.register("hal@example.com").await;

    for (i, path) in BLACKLIST.iter().enumerate() {
        // A session opened at an alias, ended at a blacklist route.
        let (access, refresh) = {
            let reply = obtain_at(&app, OBTAIN[i + 1], "hal@example.com", PASSWORD).await;
            (
                str_of(&reply.body, "access"),
                str_of(&reply.body, "refresh"),
            )
        };

        let reply = app.post(path, json!({ "refresh": refresh })).await;

        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        assert_eq!(reply.body, json!({}));
        for refresh_path in REFRESH {
            assert_token_not_valid(
                &app.post(refresh_path, json!({ "refresh": refresh })).await,
                "Token is blacklisted",
            );
        }
        assert_access_token_rejected(&app.me(&access).await, "Token is blacklisted");
        assert_token_not_valid(
            &app.post(path, json!({ "refresh": refresh })).await,
            "Token is blacklisted",
        );
        assert_bad_request(
            &app.post(path, json!({})).await,
            json!({ "refresh": [REQUIRED] }),
        );
    }
}

#[tokio::test]
async fn tokens_cross_freely_between_aliases_and_canonical_routes() {
    let app = app_with(|_| {}).await;
    let id = app.register("ida@example.com").await["id"]
        .as_i64()
        .unwrap();

    // Obtained at SimpleJWT's path, refreshed at Djoser's, verified canonically…
    let (_, refresh) = assert_pair(
        &obtain_at(&app, "/api/token/", "ida@example.com", PASSWORD).await,
        id,
    );
    let (access, refresh) = assert_pair(
        &app.post("/auth/jwt/refresh/", json!({ "refresh": refresh }))
            .await,
        id,
    );
    for token in [&access, &refresh] {
        let reply = app
            .post("/auth/token/verify/", json!({ "token": token }))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let me = app
        .get("/auth/users/me/", Some(&format!("Bearer {access}")))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["id"], json!(id));
    // …refreshed canonically, blacklisted at SimpleJWT's path.
    let (_, refresh) = assert_pair(&app.refresh(&refresh).await, id);
    let reply = app
        .post("/api/token/blacklist/", json!({ "refresh": refresh }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_token_not_valid(&app.refresh(&refresh).await, "Token is blacklisted");
    assert_token_not_valid(
        &app.post("/auth/jwt/verify/", json!({ "token": refresh }))
            .await,
        "Token is blacklisted",
    );

    // And the other way: obtained canonically, refreshed and verified at aliases.
    let (_, refresh) = app.login("ida@example.com").await;
    let (access, _) = assert_pair(
        &app.post("/api/token/refresh/", json!({ "refresh": refresh }))
            .await,
        id,
    );
    let reply = app
        .post("/api/token/verify/", json!({ "token": access }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let sessions = app
        .get("/auth/sessions/", Some(&format!("Bearer {access}")))
        .await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.text);
}

// ---------------------------------------------------------------- /auth/users/me/

#[tokio::test]
async fn users_me_answers_a_plain_user_as_auth_me_does_and_is_not_the_admin_route() {
    let app = app_with(|_| {}).await;
    let (id, access, _) = app.signed_in_user("jon@example.com").await;
    let bearer = format!("Bearer {access}");

    let reply = app.get("/auth/users/me/", Some(&bearer)).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body, app.me(&access).await.body);
    assert_eq!(reply.body["id"], json!(id));
    assert_eq!(reply.body["email"], "jon@example.com");
    assert_eq!(reply.body["is_staff"], false);
    let without_slash = app.get("/auth/users/me", Some(&bearer)).await;
    assert_eq!(without_slash.status, StatusCode::OK);
    assert_eq!(without_slash.body, reply.body);
    // The admin's instance route, by contrast, is closed to him.
    let admin = app.get(&format!("/auth/users/{id}/"), Some(&bearer)).await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN, "{}", admin.text);
}

#[tokio::test]
async fn users_me_patch_and_put_change_the_callers_names() {
    let app = app_with(|_| {}).await;
    let (id, access, _) = app.signed_in_user("kim@example.com").await;

    let patched = call(
        &app,
        Method::PATCH,
        "/auth/users/me/",
        &access,
        Some(json!({ "first_name": "Kim" })),
    )
    .await;

    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["id"], json!(id));
    assert_eq!(patched.body["first_name"], "Kim");
    assert_eq!(patched.body["last_name"], "");

    let put = call(
        &app,
        Method::PUT,
        "/auth/users/me/",
        &access,
        Some(json!({ "first_name": "Kimberly", "last_name": "Lee", "username": "kimlee" })),
    )
    .await;

    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(put.body["first_name"], "Kimberly");
    assert_eq!(put.body["last_name"], "Lee");
    assert_eq!(put.body["username"], "kimlee");
    assert_eq!(put.body["email"], "kim@example.com");
    let me = app.me(&access).await;
    assert_eq!(me.body, put.body);
}

#[tokio::test]
async fn users_me_refuses_anonymous_callers_with_401() {
    let app = app_with(|_| {}).await;
    let reply = app.get("/auth/users/me/", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "Authentication credentials were not provided." })
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
    for method in [Method::PATCH, Method::PUT, Method::DELETE] {
        let request = app
            .client
            .request(method.clone(), app.url("/auth/users/me/"))
            .json(&json!({ "first_name": "X", "current_password": PASSWORD }));
        let reply = Reply::read(request.send().await.unwrap()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method}");
        assert_eq!(
            reply.body,
            json!({ "detail": "Authentication credentials were not provided." }),
            "{method}"
        );
    }
}

#[tokio::test]
async fn users_me_delete_needs_the_current_password_and_then_removes_the_account() {
    let app = app_with(|_| {}).await;
    let (id, access, refresh) = app.signed_in_user("lea@example.com").await;

    let wrong = call(
        &app,
        Method::DELETE,
        "/auth/users/me/",
        &access,
        Some(json!({ "current_password": "not it at all" })),
    )
    .await;
    assert_bad_request(&wrong, json!({ "current_password": ["Invalid password."] }));
    let missing = call(
        &app,
        Method::DELETE,
        "/auth/users/me/",
        &access,
        Some(json!({})),
    )
    .await;
    assert_bad_request(&missing, json!({ "current_password": [REQUIRED] }));
    assert_eq!(user_count(&app, "lea@example.com").await, 1);

    let reply = call(
        &app,
        Method::DELETE,
        "/auth/users/me/",
        &access,
        Some(json!({ "current_password": PASSWORD })),
    )
    .await;

    assert_no_content(&reply);
    assert_eq!(user_count(&app, "lea@example.com").await, 0);
    let gone = app
        .db
        .scalar(&format!(
            "SELECT count(*) AS value FROM users WHERE id = {id}"
        ))
        .await;
    assert_eq!(gone, 0);
    for path in OBTAIN {
        assert_no_account(&obtain_at(&app, path, "lea@example.com", PASSWORD).await);
    }
    let me = app
        .get("/auth/users/me/", Some(&format!("Bearer {access}")))
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me.body,
        json!({ "detail": "User not found", "code": "user_not_found" })
    );
    // His refresh token went with him.
    assert_token_not_valid(&app.refresh(&refresh).await, "Token is invalid");
}

// ------------------------------------------------------- /auth/users/set_password/

#[tokio::test]
async fn set_password_answers_204_and_only_the_new_password_logs_in() {
    let (app, mail) = mail_app_with(|_| {}).await;
    let (_, access, refresh) = app.signed_in_user("max@example.com").await;

    let reply = app
        .post_authed(
            "/auth/users/set_password/",
            &access,
            json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;

    assert_no_content(&reply);
    assert_no_account(&obtain_at(&app, "/auth/jwt/create/", "max@example.com", PASSWORD).await);
    let new = obtain_at(&app, "/auth/jwt/create/", "max@example.com", NEW_PASSWORD).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);
    assert_eq!(
        app.refresh(&refresh).await.status,
        StatusCode::OK,
        "the caller's own session survives"
    );
    assert_eq!(
        mail.wait_for(1, WAIT).await[0].subject(),
        "Your password on Gatehouse was changed"
    );
}

#[tokio::test]
async fn set_password_refuses_a_wrong_current_password_a_weak_new_one_and_anonymous_callers() {
    let app = app_with(|_| {}).await;
    let (_, access, _) = app.signed_in_user("ned@example.com").await;

    let wrong = app
        .post_authed(
            "/auth/users/set_password/",
            &access,
            json!({ "current_password": "nope", "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_bad_request(&wrong, json!({ "current_password": ["Invalid password."] }));

    let weak = app
        .post_authed(
            "/auth/users/set_password/",
            &access,
            json!({ "current_password": PASSWORD, "new_password": "12345678" }),
        )
        .await;
    assert_bad_request(
        &weak,
        json!({ "new_password": ["This password is too common.", "This password is entirely numeric."] }),
    );

    let anonymous = app
        .post(
            "/auth/users/set_password/",
            json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
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

    let login = obtain_at(&app, "/api/token/", "ned@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "the password is unchanged");
}

#[tokio::test]
async fn set_password_without_fields_names_djosers_fields() {
    let app = app_with(|_| {}).await;
    let (_, access, _) = app.signed_in_user("ola@example.com").await;
    let missing = app
        .post_authed("/auth/users/set_password/", &access, json!({}))
        .await;
    assert_bad_request(
        &missing,
        json!({ "current_password": [REQUIRED], "new_password": [REQUIRED] }),
    );
}

// ----------------------------------------------------- /auth/users/reset_password/

#[tokio::test]
async fn reset_password_answers_204_alike_and_mails_only_a_known_address() {
    let (app, mail) = mail_app_with(|_| {}).await;
    app.register("pia@example.com").await;

    let unknown = app
        .post(
            "/auth/users/reset_password/",
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_no_content(&unknown);
    assert_eq!(outbox_rows(&app).await, 0, "strangers are mailed nothing");

    let known = app
        .post(
            "/auth/users/reset_password/",
            json!({ "email": "PIA@example.com" }),
        )
        .await;

    assert_no_content(&known);
    assert_eq!(outbox_rows(&app).await, 1);
    let email = mail.wait_for(1, WAIT).await.remove(0);
    assert_eq!(email.to, ["pia@example.com"]);
    assert_eq!(email.subject(), "Password reset on Gatehouse");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mail.received().len(), 1, "only the known address got mail");
}

#[tokio::test]
async fn reset_password_with_reveal_unknown_email_names_an_unknown_address() {
    let (app, mail) = mail_app_with(|s| s.email.links.reveal_unknown_email = true).await;
    app.register("quinn@example.com").await;

    let unknown = app
        .post(
            "/auth/users/reset_password/",
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_bad_request(
        &unknown,
        json!({ "email": ["User with given email does not exist."] }),
    );
    let known = app
        .post(
            "/auth/users/reset_password/",
            json!({ "email": "quinn@example.com" }),
        )
        .await;
    assert_no_content(&known);
    assert_eq!(mail.wait_for(1, WAIT).await[0].to, ["quinn@example.com"]);
}

#[tokio::test]
async fn reset_password_needs_a_well_formed_email() {
    let (app, _mail) = mail_app_with(|_| {}).await;
    assert_bad_request(
        &app.post(
            "/auth/users/reset_password/",
            json!({ "email": "not-an-email" }),
        )
        .await,
        json!({ "email": ["Enter a valid email address."] }),
    );
    assert_bad_request(
        &app.post("/auth/users/reset_password/", json!({})).await,
        json!({ "email": [REQUIRED] }),
    );
    assert_eq!(outbox_rows(&app).await, 0);
}

// --------------------------------------------- /auth/users/reset_password_confirm/

/// Asks for a reset of `email` at Djoser's route; returns the delivered `(uid, token)`.
async fn reset_link_for(app: &TestApp, mail: &SmtpCatcher, email: &str) -> (String, String) {
    let before = mail.received().len();
    let reply = app
        .post("/auth/users/reset_password/", json!({ "email": email }))
        .await;
    assert_no_content(&reply);
    let delivered = mail.wait_for(before + 1, WAIT).await;
    let message = delivered
        .iter()
        .skip(before)
        .find(|m| m.to == [email] && m.subject().starts_with("Password reset"))
        .unwrap_or_else(|| panic!("no reset email to {email}"));
    uid_and_token(message)
}

#[tokio::test]
async fn a_reset_is_confirmed_with_the_emailed_uid_and_token_and_every_session_ends() {
    let (app, mail) = mail_app_with(|_| {}).await;
    let (id, access, refresh) = app.signed_in_user("rosa@example.com").await;
    let (_, other_refresh) = app.login("rosa@example.com").await;

    let (link_uid, token) = reset_link_for(&app, &mail, "rosa@example.com").await;

    let link = mail.received()[0].links().remove(0);
    assert_eq!(
        link,
        format!(
            "http://frontend.test/password/reset/confirm/{}/{token}",
            uid(id)
        )
    );
    assert_eq!(link_uid, uid(id));

    let reply = app
        .post(
            "/auth/users/reset_password_confirm/",
            json!({ "uid": link_uid, "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;

    assert_no_content(&reply);
    for old in [&refresh, &other_refresh] {
        assert_token_not_valid(&app.refresh(old).await, "Token is blacklisted");
        assert_token_not_valid(
            &app.post("/auth/jwt/refresh/", json!({ "refresh": old }))
                .await,
            "Token is blacklisted",
        );
    }
    assert_access_token_rejected(&app.me(&access).await, "Token is blacklisted");
    assert_no_account(&obtain_at(&app, "/auth/jwt/create/", "rosa@example.com", PASSWORD).await);
    let new = obtain_at(&app, "/auth/jwt/create/", "rosa@example.com", NEW_PASSWORD).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);

    let again = app
        .post(
            "/auth/users/reset_password_confirm/",
            json!({ "uid": link_uid, "token": token, "new_password": "yet another passphrase" }),
        )
        .await;
    assert_bad_request(&again, json!({ "token": [INVALID_TOKEN] }));
    let still = obtain_at(&app, "/api/token/", "rosa@example.com", NEW_PASSWORD).await;
    assert_eq!(
        still.status,
        StatusCode::OK,
        "the used link changed nothing"
    );
}

#[tokio::test]
async fn a_reset_confirmation_refuses_foreign_unknown_and_undecodable_uids() {
    let (app, mail) = mail_app_with(|_| {}).await;
    app.register("sam@example.com").await;
    let tom = app.register("tom@example.com").await["id"]
        .as_i64()
        .unwrap();
    let (sams_uid, token) = reset_link_for(&app, &mail, "sam@example.com").await;

    let foreign = app
        .post(
            "/auth/users/reset_password_confirm/",
            json!({ "uid": uid(tom), "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_bad_request(&foreign, json!({ "token": [INVALID_TOKEN] }));

    for bad_uid in ["!!".to_owned(), uid(99_999)] {
        let reply = app
            .post(
                "/auth/users/reset_password_confirm/",
                json!({ "uid": bad_uid, "token": token, "new_password": NEW_PASSWORD }),
            )
            .await;
        assert_bad_request(&reply, json!({ "uid": [INVALID_UID] }));
    }

    let wrong_token = app
        .post(
            "/auth/users/reset_password_confirm/",
            json!({ "uid": sams_uid, "token": "garbage", "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_bad_request(&wrong_token, json!({ "token": [INVALID_TOKEN] }));

    for email in ["tom@example.com", "sam@example.com"] {
        let login = obtain_at(&app, "/auth/token/", email, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{email} keeps his password");
    }
    let ok = app
        .post(
            "/auth/users/reset_password_confirm/",
            json!({ "uid": sams_uid, "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_no_content(&ok);
}

#[tokio::test]
async fn a_reset_confirmation_lists_missing_fields_and_refuses_a_weak_password() {
    let (app, mail) = mail_app_with(|_| {}).await;
    app.register("uma@example.com").await;
    let (link_uid, token) = reset_link_for(&app, &mail, "uma@example.com").await;

    let missing = app
        .post("/auth/users/reset_password_confirm/", json!({}))
        .await;
    assert_bad_request(
        &missing,
        json!({ "uid": [REQUIRED], "token": [REQUIRED], "new_password": [REQUIRED] }),
    );

    let weak = app
        .post(
            "/auth/users/reset_password_confirm/",
            json!({ "uid": link_uid, "token": token, "new_password": "12345678" }),
        )
        .await;
    assert_bad_request(
        &weak,
        json!({ "new_password": ["This password is too common.", "This password is entirely numeric."] }),
    );

    let ok = app
        .post(
            "/auth/users/reset_password_confirm/",
            json!({ "uid": link_uid, "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_no_content(&ok);
}

// ---------------------------------------------------------- /auth/users/activation/

/// Registers `email` (inactive); returns its id and the delivered `(uid, token)`.
async fn register_inactive(
    app: &TestApp,
    mail: &SmtpCatcher,
    email: &str,
) -> (i64, (String, String)) {
    let before = mail.received().len();
    let registered = app.register(email).await;
    assert_eq!(registered["is_active"], false);
    let delivered = mail.wait_for(before + 1, WAIT).await;
    let message = delivered
        .iter()
        .skip(before)
        .find(|m| m.to == [email])
        .unwrap_or_else(|| panic!("no activation email to {email}"));
    assert_eq!(message.subject(), "Activate your account on Gatehouse");
    (registered["id"].as_i64().unwrap(), uid_and_token(message))
}

#[tokio::test]
async fn an_account_is_activated_with_the_emailed_uid_and_token_once() {
    let (app, mail) = mail_app_with(|s| s.registration.require_activation = true).await;
    let (id, (link_uid, token)) = register_inactive(&app, &mail, "vic@example.com").await;
    assert_eq!(
        mail.received()[0].links()[0],
        format!("http://frontend.test/activate/{}/{token}", uid(id))
    );
    assert_no_account(&obtain_at(&app, "/auth/jwt/create/", "vic@example.com", PASSWORD).await);

    let reply = app
        .post(
            "/auth/users/activation/",
            json!({ "uid": link_uid, "token": token }),
        )
        .await;

    assert_no_content(&reply);
    let login = obtain_at(&app, "/auth/jwt/create/", "vic@example.com", PASSWORD).await;
    assert_pair(&login, id);
    assert_eq!(
        mail.wait_for(2, WAIT).await[1].subject(),
        "Your account on Gatehouse is active"
    );

    let again = app
        .post(
            "/auth/users/activation/",
            json!({ "uid": link_uid, "token": token }),
        )
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{}", again.text);
    assert_eq!(
        again.body,
        json!({ "detail": "Stale token for given user." })
    );
}

#[tokio::test]
async fn activation_refuses_wrong_tokens_bad_uids_and_missing_fields() {
    let (app, mail) = mail_app_with(|s| s.registration.require_activation = true).await;
    let (_, (wes_uid, wes_token)) = register_inactive(&app, &mail, "wes@example.com").await;
    let (_, (xia_uid, xia_token)) = register_inactive(&app, &mail, "xia@example.com").await;

    for (uid_, token) in [
        (wes_uid.as_str(), "garbage"),
        (wes_uid.as_str(), xia_token.as_str()),
    ] {
        let reply = app
            .post(
                "/auth/users/activation/",
                json!({ "uid": uid_, "token": token }),
            )
            .await;
        assert_bad_request(&reply, json!({ "token": [INVALID_TOKEN] }));
    }
    for bad_uid in ["!!".to_owned(), uid(99_999)] {
        let reply = app
            .post(
                "/auth/users/activation/",
                json!({ "uid": bad_uid, "token": wes_token }),
            )
            .await;
        assert_bad_request(&reply, json!({ "uid": [INVALID_UID] }));
    }
    assert_bad_request(
        &app.post("/auth/users/activation/", json!({})).await,
        json!({ "uid": [REQUIRED], "token": [REQUIRED] }),
    );
    assert_no_account(&obtain_at(&app, "/auth/token/", "wes@example.com", PASSWORD).await);

    for (uid_, token) in [(&wes_uid, &wes_token), (&xia_uid, &xia_token)] {
        let reply = app
            .post(
                "/auth/users/activation/",
                json!({ "uid": uid_, "token": token }),
            )
            .await;
        assert_no_content(&reply);
    }
}

// --------------------------------------------------- /auth/users/resend_activation/

#[tokio::test]
async fn resend_activation_answers_204_alike_and_mails_only_a_pending_account() {
    let (app, mail) = mail_app_with(|s| s.registration.require_activation = true).await;
    let (_, (yan_uid, first_token)) = register_inactive(&app, &mail, "yan@example.com").await;
    let (_, (zed_uid, zed_token)) = register_inactive(&app, &mail, "zed@example.com").await;
    assert_no_content(
        &app.post(
            "/auth/users/activation/",
            json!({ "uid": zed_uid, "token": zed_token }),
        )
        .await,
    );
    mail.wait_for(3, WAIT).await;
    let rows = outbox_rows(&app).await;

    for email in ["nobody@example.com", "zed@example.com"] {
        let reply = app
            .post("/auth/users/resend_activation/", json!({ "email": email }))
            .await;
        assert_no_content(&reply);
    }
    assert_eq!(
        outbox_rows(&app).await,
        rows,
        "nothing for strangers or active accounts"
    );

    let pending = app
        .post(
            "/auth/users/resend_activation/",
            json!({ "email": "yan@example.com" }),
        )
        .await;

    assert_no_content(&pending);
    assert_eq!(outbox_rows(&app).await, rows + 1);
    let delivered = mail.wait_for(4, WAIT).await;
    let resent = &delivered[3];
    assert_eq!(resent.to, ["yan@example.com"]);
    assert_eq!(resent.subject(), "Activate your account on Gatehouse");
    let (resent_uid, resent_token) = uid_and_token(resent);
    assert_eq!(resent_uid, yan_uid);
    assert_ne!(resent_token, first_token);
    let reply = app
        .post(
            "/auth/users/activation/",
            json!({ "uid": resent_uid, "token": resent_token }),
        )
        .await;
    assert_no_content(&reply);
    let login = obtain_at(&app, "/api/token/", "yan@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
}

#[tokio::test]
async fn resend_activation_needs_a_well_formed_email() {
    let (app, _mail) = mail_app_with(|s| s.registration.require_activation = true).await;
    assert_bad_request(
        &app.post(
            "/auth/users/resend_activation/",
            json!({ "email": "not-an-email" }),
        )
        .await,
        json!({ "email": ["Enter a valid email address."] }),
    );
    assert_bad_request(
        &app.post("/auth/users/resend_activation/", json!({})).await,
        json!({ "email": [REQUIRED] }),
    );
}

// ------------------------------------------------ the canonical routes stay their own

#[tokio::test]
async fn canonical_routes_keep_their_own_answers_beside_the_djoser_aliases() {
    let (app, mail) = mail_app_with(|s| {
        s.registration.require_activation = true;
        s.email.links.reveal_unknown_email = true;
    })
    .await;
    let (_, (ann_uid, ann_token)) = register_inactive(&app, &mail, "ann@example.com").await;
    register_inactive(&app, &mail, "ben@example.com").await;

    // Activation: canonical 200 {detail}, Djoser 204.
    let canonical = app
        .post(
            "/auth/activate/resend/",
            json!({ "email": "ben@example.com" }),
        )
        .await;
    assert_eq!(canonical.status, StatusCode::OK, "{}", canonical.text);
    assert_eq!(
        canonical.body,
        json!({ "detail": "If an inactive account uses this address, a new activation link has been sent to it." })
    );
    let resent = mail.wait_for(3, WAIT).await.remove(2);
    assert_eq!(resent.to, ["ben@example.com"]);
    assert_eq!(resent.subject(), "Activate your account on Gatehouse");
    let ben_token = uid_and_token(&resent).1;
    let activated = app
        .post(&format!("/auth/activate/{ben_token}/"), json!({}))
        .await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.text);
    assert_eq!(
        activated.body,
        json!({ "detail": "Your account has been activated." })
    );
    assert_no_content(
        &app.post(
            "/auth/users/activation/",
            json!({ "uid": ann_uid, "token": ann_token }),
        )
        .await,
    );
    let (access, _) = app.login("ann@example.com").await;

    // Password change: canonical 200 {detail}, Djoser 204.
    let changed = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(
        changed.body,
        json!({ "detail": "Password updated successfully." })
    );
    // Access tokens issued before a password change are refused (whole-second `iat`
    // makes that depend on the clock): each change gets a token issued after it.
    let after_change = obtain_at(&app, "/auth/token/", "ann@example.com", NEW_PASSWORD).await;
    let access = str_of(&after_change.body, "access");
    let set = app
        .post_authed(
            "/auth/users/set_password/",
            &access,
            json!({ "current_password": NEW_PASSWORD, "new_password": PASSWORD }),
        )
        .await;
    assert_no_content(&set);
    let (access, _) = app.login("ann@example.com").await;
    let wrong = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "old_password": "nope", "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_bad_request(&wrong, json!({ "old_password": ["Invalid password."] }));

    // Reset request: canonical 200 {detail} or 404, Djoser 204 or 400.
    let known = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "ann@example.com" }),
        )
        .await;
    assert_eq!(known.status, StatusCode::OK, "{}", known.text);
    assert_eq!(
        known.body,
        json!({ "detail": "If an active account uses this address, a password reset link has been sent to it." })
    );
    let unknown = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    assert_eq!(
        unknown.body,
        json!({ "detail": "No active account uses this email address." })
    );
    let djoser_unknown = app
        .post(
            "/auth/users/reset_password/",
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_bad_request(
        &djoser_unknown,
        json!({ "email": ["User with given email does not exist."] }),
    );

    // The canonical reset link still answers 200 {detail}.
    let reset = first_mail(&mail, |m| m.subject().starts_with("Password reset")).await;
    let token = link_token(&reset);
    let confirmed = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    assert_eq!(
        confirmed.body,
        json!({ "detail": "Your password has been reset." })
    );
    let login = obtain_at(&app, "/auth/token/", "ann@example.com", NEW_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
}
