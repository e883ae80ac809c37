//! Round trips to PostgreSQL per request on the hot paths, read from the
//! `Server-Timing: db;desc="N statements"` every answer carries in the test
//! environment (`server.server_timing`). A statement more on one of these routes is a
//! regression this file fails on.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn me_verify_and_refresh_each_cost_their_round_trips() {
    let app = spawn_app().await;
    app.register("alice@example.com").await;
    let (access, refresh) = app.login("alice@example.com").await;

    let me = app.me(&access).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["email"], "alice@example.com");
    assert_eq!(
        me.statements(),
        1,
        "GET /auth/me/: the token's state with the profile"
    );

    let verified = app
        .post("/auth/token/verify/", json!({ "token": access }))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
    assert_eq!(verified.statements(), 1, "verify an access token");

    let verified = app
        .post("/auth/token/verify/", json!({ "token": refresh }))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
    assert_eq!(verified.statements(), 1, "verify a refresh token");

    let refreshed = app.refresh(&refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{refreshed:?}");
    assert_eq!(
        refreshed.statements(),
        2,
        "a rotating refresh: the token with its user, the rotation"
    );

    // A refusal costs no more than an answer.
    let logout = app
        .post(
            "/auth/logout/",
            json!({ "refresh": str_of(&refreshed.body, "refresh") }),
        )
        .await;
    assert_eq!(logout.status, StatusCode::RESET_CONTENT, "{logout:?}");
    let refused = app.me(&str_of(&refreshed.body, "access")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    assert_eq!(refused.statements(), 1, "a refused access token");
    let refused = app
        .post("/auth/token/verify/", json!({ "token": "not.a.token" }))
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    assert_eq!(refused.statements(), 0, "a token that does not decode");
}

#[tokio::test]
async fn answers_say_nothing_of_the_database_unless_asked() {
    let app = spawn_app_with(|settings| settings.server.server_timing = false).await;
    let reply = app.get("/healthz", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("server-timing"), None, "{reply:?}");
}

/// Without a check on every checkout, a connection the server closed while it sat in
/// the pool must still never be handed to a request: its closed socket gives it away.
#[tokio::test]
async fn connections_the_server_closed_are_not_handed_out_again() {
    let app = spawn_app().await;
    app.register("alice@example.com").await;
    let (access, _) = app.login("alice@example.com").await;
    // Several pooled connections, all idle now.
    let mes = (0..4).map(|_| app.me(&access));
    for me in futures_util::future::join_all(mes).await {
        assert_eq!(me.status, StatusCode::OK, "{me:?}");
    }

    let terminated = app
        .db
        .scalar(
            "SELECT count(pg_terminate_backend(pid)) AS value FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
    assert!(terminated >= 1, "the app's connections were open");
    // The pool learns of a closed socket when its connection task reads the EOF.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    for _ in 0..8 {
        let me = app.me(&access).await;
        assert_eq!(me.status, StatusCode::OK, "{me:?}");
        assert_eq!(me.statements(), 1, "no check was added back: {me:?}");
    }
}
