//! The current user's sessions: listing them and ending any one.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn login_as(app: &TestApp, email: &str, agent: &str) -> (String, String) {
    let request = app
        .client
        .post(app.url("/auth/token/"))
        .header("User-Agent", agent);
    let body = json!({ "email": email, "password": PASSWORD });
    let reply = Reply::read(request.json(&body).send().await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    (
        str_of(&reply.body, "access"),
        str_of(&reply.body, "refresh"),
    )
}

fn sid(token: &str) -> String {
    claims(token)["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn live_sessions_are_listed_with_their_client_and_the_current_one_marked() {
    let app = spawn_app().await;
    app.register("amy@example.com").await;
    let (_, phone_refresh) = login_as(&app, "amy@example.com", "Phone/1.0").await;
    let (access, _) = login_as(&app, "amy@example.com", "Laptop/2.0").await;
    app.post("/auth/logout/", json!({ "refresh": phone_refresh }))
        .await;

    let reply = app
        .get("/auth/sessions/", Some(&format!("Bearer {access}")))
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let sessions = reply.body.as_array().unwrap();
    assert_eq!(
        sessions.len(),
        2,
        "the registration's session and the laptop; the phone logged out"
    );
    let laptop = &sessions[0];
    assert_eq!(laptop["id"], json!(sid(&access)));
    assert_eq!(laptop["user_agent"], "Laptop/2.0");
    assert_eq!(laptop["ip"], "127.0.0.1");
    assert_eq!(laptop["current"], true);
    assert!(laptop["created"].as_str().unwrap().ends_with('Z'));
    assert!(laptop["last_used"].is_string());
    assert_eq!(sessions[1]["current"], false);
    let keys: Vec<_> = laptop.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["id", "created", "last_used", "user_agent", "ip", "current"]
    );
}

#[tokio::test]
async fn ending_another_session_revokes_it_and_keeps_this_one() {
    let app = spawn_app().await;
    app.register("ben@example.com").await;
    let (other_access, other_refresh) = login_as(&app, "ben@example.com", "Other").await;
    let (access, refresh) = login_as(&app, "ben@example.com", "This").await;
    let auth = format!("Bearer {access}");

    let request = app
        .client
        .delete(app.url(&format!("/auth/sessions/{}/", sid(&other_access))));
    let reply = Reply::read(request.header("Authorization", &auth).send().await.unwrap()).await;

    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.text.is_empty());
    assert_token_not_valid(&app.refresh(&other_refresh).await, "Token is blacklisted");
    assert_access_token_rejected(&app.me(&other_access).await, "Token is blacklisted");
    assert_eq!(app.refresh(&refresh).await.status, StatusCode::OK);
    let again = app
        .client
        .delete(app.url(&format!("/auth/sessions/{}/", sid(&other_access))));
    let again = Reply::read(again.header("Authorization", &auth).send().await.unwrap()).await;
    assert_eq!(
        again.status,
        StatusCode::NOT_FOUND,
        "an ended session is gone"
    );
}

#[tokio::test]
async fn nobody_ends_someone_elses_session_and_garbage_ids_are_not_found() {
    let app = spawn_app().await;
    let (_, victim_access, victim_refresh) = app.signed_in_user("cat@example.com").await;
    let (_, access, _) = app.signed_in_user("dan@example.com").await;
    let auth = format!("Bearer {access}");
    for id in [
        sid(&victim_access),
        "not-a-session".to_owned(),
        "0".repeat(32),
    ] {
        let request = app.client.delete(app.url(&format!("/auth/sessions/{id}/")));
        let reply = Reply::read(request.header("Authorization", &auth).send().await.unwrap()).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(reply.body, json!({ "detail": "Not found." }));
    }
    assert_eq!(
        app.refresh(&victim_refresh).await.status,
        StatusCode::OK,
        "the victim's session lives"
    );
}

#[tokio::test]
async fn ending_the_current_session_is_a_logout_and_anonymous_callers_get_401() {
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in_user("eli@example.com").await;
    let auth = format!("Bearer {access}");
    let request = app
        .client
        .delete(app.url(&format!("/auth/sessions/{}", sid(&access))));
    let reply = Reply::read(request.header("Authorization", &auth).send().await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_access_token_rejected(&app.me(&access).await, "Token is blacklisted");
    assert_token_not_valid(&app.refresh(&refresh).await, "Token is blacklisted");
    let anonymous = app.get("/auth/sessions/", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.body,
        json!({ "detail": "Authentication credentials were not provided." })
    );
}
