//! Token lifecycle over HTTP: obtain, refresh with rotation and reuse detection,
//! verify, blacklist, logout and logout everywhere.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn login_by_email_returns_a_pair_with_simplejwt_claims_and_fresh_user_claims() {
    let app = spawn_app().await;
    let user = app.register("alice@example.com").await;
    app.db
        .execute("INSERT INTO groups (name) VALUES ('editors')")
        .await;
    app.db
        .execute(&format!(
            "INSERT INTO user_groups (user_id, group_id) SELECT {}, id FROM groups WHERE name = 'editors'",
            user["id"]
        ))
        .await;
    app.db
        .execute(
            "INSERT INTO group_permissions (group_id, permission_id) SELECT g.id, p.id FROM groups g, permissions p \
             WHERE g.name = 'editors' AND p.codename = 'view_user'",
        )
        .await;

    let reply = app
        .post(
            "/auth/token/",
            json!({ "email": "ALICE@example.com", "password": PASSWORD }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let access = claims(&str_of(&reply.body, "access"));
    let refresh = claims(&str_of(&reply.body, "refresh"));
    assert_eq!(access["token_type"], "access");
    assert_eq!(access["user_id"], json!(user["id"].to_string()));
    assert_eq!(access["username"], "alice@example.com");
    assert_eq!(access["email"], "alice@example.com");
    assert_eq!(access["is_staff"], false);
    assert_eq!(access["is_superuser"], false);
    assert_eq!(access["groups"], json!(["editors"]));
    assert_eq!(access["permissions"], json!(["auth.view_user"]));
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        300
    );
    let jti = access["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 32);
    assert!(jti.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(refresh["token_type"], "refresh");
    assert_eq!(refresh["sid"], access["sid"]);
    assert_eq!(
        refresh["exp"].as_i64().unwrap() - refresh["iat"].as_i64().unwrap(),
        86_400
    );
    assert!(
        refresh.get("username").is_none(),
        "refresh tokens carry no user claims"
    );
    let sid = access["sid"].as_str().unwrap();
    let live = app
        .db
        .scalar(&family_count(sid, "revoked_at IS NULL"))
        .await;
    assert_eq!(live, 1);
}

/// A query counting the rows of session `sid` that match `condition`.
fn family_count(sid: &str, condition: &str) -> String {
    format!(
        "SELECT count(*) AS value FROM refresh_tokens WHERE family_id = '{sid}' AND {condition}"
    )
}

#[tokio::test]
async fn login_by_username_as_a_url_encoded_form_works() {
    let app = spawn_app().await;
    app.post(
        "/auth/register/",
        json!({ "email": "bob@example.com", "username": "bob", "password": PASSWORD }),
    )
    .await;
    let reply = app
        .post_form(
            "/auth/token",
            &[("username", "bob"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.body["access"].is_string() && reply.body["refresh"].is_string());
    assert_eq!(claims(&str_of(&reply.body, "access"))["username"], "bob");
}

#[tokio::test]
async fn login_as_multipart_form_works() {
    let app = spawn_app().await;
    app.register("carol@example.com").await;
    let form = reqwest::multipart::Form::new()
        .text("email", "carol@example.com")
        .text("password", PASSWORD);
    let response = app
        .client
        .post(app.url("/auth/token/"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let reply = Reply::read(response).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        claims(&str_of(&reply.body, "access"))["email"],
        "carol@example.com"
    );
}

#[tokio::test]
async fn wrong_password_unknown_user_and_inactive_user_get_the_same_401() {
    let app = spawn_app().await;
    app.register("dave@example.com").await;
    app.register("erin@example.com").await;
    app.db
        .execute("UPDATE users SET is_active = false WHERE email = 'erin@example.com'")
        .await;
    let expected = json!({ "detail": "No active account found with the given credentials" });

    for (email, password) in [
        ("dave@example.com", "not the password"),
        ("nobody@example.com", PASSWORD),
        ("erin@example.com", PASSWORD),
    ] {
        let reply = app
            .post(
                "/auth/token/",
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{email}");
        assert_eq!(reply.body, expected, "{email}");
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer realm=\"api\"")
        );
    }
    let sessions = app
        .db
        .scalar("SELECT count(*) AS value FROM refresh_tokens")
        .await;
    assert_eq!(sessions, 2, "only the two registrations opened sessions");
}

#[tokio::test]
async fn login_without_fields_lists_each_missing_field() {
    let app = spawn_app().await;
    let reply = app.post("/auth/token/", json!({})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        json!({ "email": ["This field is required."], "password": ["This field is required."] })
    );
    let reply = app
        .post("/auth/token/", json!({ "username": "", "password": null }))
        .await;
    assert_eq!(
        reply.body,
        json!({ "username": ["This field may not be blank."], "password": ["This field may not be null."] })
    );
}

#[tokio::test]
async fn refresh_rotates_and_revokes_the_token_used() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in_user("frank@example.com").await;

    let reply = app.refresh(&refresh).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let next = str_of(&reply.body, "refresh");
    assert_ne!(claims(&next)["jti"], claims(&refresh)["jti"]);
    assert_eq!(claims(&next)["sid"], claims(&refresh)["sid"]);
    assert_eq!(
        claims(&str_of(&reply.body, "access"))["sid"],
        claims(&refresh)["sid"]
    );
    let sid = claims(&refresh)["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        app.db
            .scalar(&family_count(&sid, "revoked_at IS NULL"))
            .await,
        1
    );
    let rotated = "replaced_by IS NOT NULL AND revoked_at IS NOT NULL";
    assert_eq!(app.db.scalar(&family_count(&sid, rotated)).await, 1);
}

#[tokio::test]
async fn a_rotated_token_presented_within_the_reuse_interval_gets_the_same_successor() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in_user("gina@example.com").await;
    let first = app.refresh(&refresh).await;
    let second = app.refresh(&refresh).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.body["refresh"], first.body["refresh"]);
    let successor = str_of(&first.body, "refresh");
    assert_eq!(
        app.refresh(&successor).await.status,
        StatusCode::OK,
        "the successor still works"
    );
}

#[tokio::test]
async fn refresh_token_reused_after_the_interval_revokes_the_whole_family() {
    let app = spawn_app_with(|s| s.jwt.tokens.reuse_interval = chrono::Duration::zero()).await;
    let (_, access, refresh) = app.signed_in_user("hank@example.com").await;
    let newest = str_of(&app.refresh(&refresh).await.body, "refresh");

    let reuse = app.refresh(&refresh).await;

    assert_token_not_valid(&reuse, "Token is blacklisted");
    assert_token_not_valid(&app.refresh(&newest).await, "Token is blacklisted");
    assert_access_token_rejected(&app.me(&access).await, "Token is blacklisted");
    let sid = claims(&refresh)["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        app.db
            .scalar(&family_count(&sid, "revoked_at IS NULL"))
            .await,
        0
    );
}

#[tokio::test]
async fn twenty_concurrent_refreshes_with_one_token_leave_one_live_successor() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in_user("iris@example.com").await;

    let replies = futures_util::future::join_all((0..20).map(|_| app.refresh(&refresh))).await;

    let successors: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            str_of(&r.body, "refresh")
        })
        .collect();
    assert_eq!(successors.len(), 1, "every caller got the same successor");
    let sid = claims(&refresh)["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        app.db.scalar(&family_count(&sid, "true")).await,
        2,
        "one rotation happened"
    );
    assert_eq!(
        app.db
            .scalar(&family_count(&sid, "revoked_at IS NULL"))
            .await,
        1
    );
}

#[tokio::test]
async fn with_no_reuse_interval_exactly_one_of_two_concurrent_refreshes_succeeds() {
    let app = spawn_app_with(|s| s.jwt.tokens.reuse_interval = chrono::Duration::zero()).await;
    let (_, _, refresh) = app.signed_in_user("jack@example.com").await;

    let (a, b) = tokio::join!(app.refresh(&refresh), app.refresh(&refresh));

    let ok = [&a, &b]
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "{} / {}", a.text, b.text);
    let failed = if a.status == StatusCode::OK { &b } else { &a };
    assert_token_not_valid(failed, "Token is blacklisted");
}

#[tokio::test]
async fn without_rotation_refresh_returns_only_an_access_token_and_the_refresh_keeps_working() {
    let app = spawn_app_with(|s| s.jwt.tokens.rotate_refresh_tokens = false).await;
    let (_, _, refresh) = app.signed_in_user("kate@example.com").await;
    for _ in 0..2 {
        let reply = app.refresh(&refresh).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.body.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["access"]
        );
    }
}

#[tokio::test]
async fn rotation_never_extends_a_session_past_its_maximum_lifetime() {
    let app =
        spawn_app_with(|s| s.jwt.tokens.session_max_lifetime = chrono::Duration::hours(1)).await;
    let (_, _, refresh) = app.signed_in_user("liam@example.com").await;
    let login_iat = claims(&refresh)["iat"].as_i64().unwrap();
    let first_exp = claims(&refresh)["exp"].as_i64().unwrap();
    assert_eq!(first_exp - login_iat, 3600, "the first token is capped too");

    let next = str_of(&app.refresh(&refresh).await.body, "refresh");

    assert_eq!(claims(&next)["exp"].as_i64().unwrap(), first_exp);
}

#[tokio::test]
async fn a_session_past_its_maximum_lifetime_cannot_be_refreshed() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in_user("mona@example.com").await;
    app.db
        .execute("UPDATE refresh_tokens SET session_started_at = now() - interval '31 days'")
        .await;
    assert_token_not_valid(&app.refresh(&refresh).await, "Token is expired");
}

#[tokio::test]
async fn refresh_claims_are_read_afresh_from_the_database() {
    let app = spawn_app().await;
    let (id, access, refresh) = app.signed_in_user("nina@example.com").await;
    assert_eq!(claims(&access)["is_staff"], false);
    app.db
        .execute(&format!(
            "UPDATE users SET is_staff = true, is_superuser = true WHERE id = {id}"
        ))
        .await;

    let renewed = str_of(&app.refresh(&refresh).await.body, "access");

    let fresh = claims(&renewed);
    assert_eq!(fresh["is_staff"], true);
    assert_eq!(fresh["is_superuser"], true);
    assert_eq!(
        fresh["permissions"].as_array().unwrap().len(),
        13,
        "a superuser has every permission"
    );
}

#[tokio::test]
async fn a_deactivated_user_cannot_refresh() {
    let app = spawn_app().await;
    let (id, _, refresh) = app.signed_in_user("omar@example.com").await;
    app.db
        .execute(&format!(
            "UPDATE users SET is_active = false WHERE id = {id}"
        ))
        .await;
    let reply = app.refresh(&refresh).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.body,
        json!({ "detail": "No active account found for the given token." })
    );
}

#[tokio::test]
async fn an_access_token_at_the_refresh_endpoint_has_the_wrong_type() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("pia@example.com").await;
    assert_token_not_valid(&app.refresh(&access).await, "Token has wrong type");
    assert_token_not_valid(&app.refresh("not.a.token").await, "Token is invalid");
    let reply = app.post("/auth/token/refresh/", json!({})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        json!({ "refresh": ["This field is required."] })
    );
}

#[tokio::test]
async fn verify_accepts_live_tokens_of_both_types_and_refuses_revoked_ones() {
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in_user("quinn@example.com").await;
    for token in [&access, &refresh] {
        let reply = app
            .post("/auth/token/verify/", json!({ "token": token }))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body, json!({}));
    }
    assert_eq!(
        app.post("/auth/logout/", json!({ "refresh": refresh }))
            .await
            .status,
        StatusCode::RESET_CONTENT
    );
    assert_token_not_valid(
        &app.post("/auth/token/verify/", json!({ "token": refresh }))
            .await,
        "Token is blacklisted",
    );
    assert_token_not_valid(
        &app.post("/auth/token/verify/", json!({ "token": access }))
            .await,
        "Token is blacklisted",
    );
    assert_token_not_valid(
        &app.post("/auth/token/verify/", json!({ "token": "garbage" }))
            .await,
        "Token is invalid",
    );
}

#[tokio::test]
async fn verify_refuses_an_access_token_of_an_inactive_user() {
    let app = spawn_app().await;
    let (id, access, _) = app.signed_in_user("rosa@example.com").await;
    app.db
        .execute(&format!(
            "UPDATE users SET is_active = false WHERE id = {id}"
        ))
        .await;
    assert_token_not_valid(
        &app.post("/auth/token/verify/", json!({ "token": access }))
            .await,
        "Token is invalid",
    );
}

#[tokio::test]
async fn blacklist_answers_an_empty_object_and_the_token_is_dead() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in_user("sam@example.com").await;
    let reply = app
        .post("/auth/token/blacklist/", json!({ "refresh": refresh }))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({}));
    assert_token_not_valid(&app.refresh(&refresh).await, "Token is blacklisted");
    assert_token_not_valid(
        &app.post("/auth/token/blacklist/", json!({ "refresh": refresh }))
            .await,
        "Token is blacklisted",
    );
}

#[tokio::test]
async fn logout_answers_205_with_no_body_and_ends_the_session_at_once() {
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in_user("tara@example.com").await;
    assert_eq!(app.me(&access).await.status, StatusCode::OK);

    let reply = app
        .post("/auth/logout/", json!({ "refresh": refresh }))
        .await;

    assert_eq!(reply.status, StatusCode::RESET_CONTENT);
    assert!(reply.text.is_empty());
    assert_access_token_rejected(&app.me(&access).await, "Token is blacklisted");
    assert_token_not_valid(&app.refresh(&refresh).await, "Token is blacklisted");
    assert_token_not_valid(
        &app.post("/auth/logout/", json!({ "refresh": refresh }))
            .await,
        "Token is blacklisted",
    );
}

#[tokio::test]
async fn logout_with_an_access_token_is_refused_as_the_wrong_type() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("uma@example.com").await;
    assert_token_not_valid(
        &app.post("/auth/logout/", json!({ "refresh": access }))
            .await,
        "Token has wrong type",
    );
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_user_and_no_one_elses() {
    let app = spawn_app().await;
    let (_, access_a, refresh_a) = app.signed_in_user("vera@example.com").await;
    let (access_b, refresh_b) = app.login("vera@example.com").await;
    let (_, other_access, other_refresh) = app.signed_in_user("walt@example.com").await;

    let reply = app
        .post_authed("/auth/logout/all/", &access_a, json!({}))
        .await;

    assert_eq!(reply.status, StatusCode::RESET_CONTENT);
    for refresh in [&refresh_a, &refresh_b] {
        assert_token_not_valid(&app.refresh(refresh).await, "Token is blacklisted");
    }
    assert_access_token_rejected(&app.me(&access_b).await, "Token is blacklisted");
    assert_eq!(app.me(&other_access).await.status, StatusCode::OK);
    assert_eq!(app.refresh(&other_refresh).await.status, StatusCode::OK);
    let anonymous = app.post("/auth/logout/all/", json!({})).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.body,
        json!({ "detail": "Authentication credentials were not provided." })
    );
}

/// The claims of a valid access token, re-signed after `edit` with the test key.
fn resign(access: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut payload = claims(access);
    edit(&mut payload);
    forge(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &payload,
        Some(TEST_SIGNING_KEY),
    )
}

#[tokio::test]
async fn configured_issuer_and_audience_are_written_and_required() {
    let app = spawn_app_with(|s| {
        s.jwt.codec.issuer = Some("https://auth.example.com".to_owned());
        s.jwt.codec.audience = Some("shop-api".to_owned());
    })
    .await;
    let (_, access, refresh) = app.signed_in_user("xena@example.com").await;
    for token in [&access, &refresh] {
        assert_eq!(claims(token)["iss"], "https://auth.example.com");
        assert_eq!(claims(token)["aud"], "shop-api");
    }
    assert_eq!(app.me(&access).await.status, StatusCode::OK);

    let without_issuer = resign(&access, |c| drop(c.as_object_mut().unwrap().remove("iss")));
    assert_access_token_rejected(&app.me(&without_issuer).await, "Token is invalid");
    let other_audience = resign(&access, |c| c["aud"] = json!("other-api"));
    assert_access_token_rejected(&app.me(&other_audience).await, "Token is invalid");
    let other_issuer = resign(&access, |c| c["iss"] = json!("https://evil.example.com"));
    assert_access_token_rejected(&app.me(&other_issuer).await, "Token is invalid");
}

#[tokio::test]
async fn leeway_accepts_a_token_that_expired_within_it_and_no_longer() {
    let app = spawn_app_with(|s| s.jwt.codec.leeway = std::time::Duration::from_secs(30)).await;
    let (_, access, _) = app.signed_in_user("yuri@example.com").await;
    let now = claims(&access)["iat"].as_i64().unwrap();

    let just_expired = resign(&access, |c| c["exp"] = json!(now - 10));
    assert_eq!(app.me(&just_expired).await.status, StatusCode::OK);
    let long_expired = resign(&access, |c| c["exp"] = json!(now - 120));
    assert_access_token_rejected(&app.me(&long_expired).await, "Token is expired");
}

#[tokio::test]
async fn without_leeway_an_expired_access_token_is_refused_as_expired() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("zoe@example.com").await;
    let now = claims(&access)["iat"].as_i64().unwrap();
    let expired = resign(&access, |c| c["exp"] = json!(now - 1));
    assert_access_token_rejected(&app.me(&expired).await, "Token is expired");
    assert_token_not_valid(
        &app.post("/auth/token/verify/", json!({ "token": expired }))
            .await,
        "Token is expired",
    );
}

#[tokio::test]
async fn the_jwks_document_is_an_empty_key_set_under_hs256() {
    let app = spawn_app().await;
    let reply = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({ "keys": [] }));
}

#[tokio::test]
async fn logout_with_a_rotated_token_still_ends_the_session() {
    let app = spawn_app().await;
    let (_, _, stale) = app.signed_in_user("abel@example.com").await;
    let current = str_of(&app.refresh(&stale).await.body, "refresh");

    let reply = app.post("/auth/logout/", json!({ "refresh": stale })).await;

    assert_token_not_valid(&reply, "Token is blacklisted");
    assert_token_not_valid(&app.refresh(&current).await, "Token is blacklisted");
}
