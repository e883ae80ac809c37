//! The audit trail over HTTP: who may read `/auth/audit/`, the events each flow writes
//! (and the refused requests that write none), the filters and the pagination.

use crate::common::*;
use chrono::{DateTime, FixedOffset, SecondsFormat};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A user agent no client sends by accident.
const AGENT: &str = "AuditProbe/7.1 (gatehouse-tests; +audit)";
const FORBIDDEN: &str = "You do not have permission to perform this action.";

/// An app whose throttles cannot interfere with tests that log in many times.
async fn app() -> TestApp {
    spawn_app_with(|s| s.throttle.store.enabled = false).await
}

/// `GET /auth/audit/{query}` as the holder of `access`.
async fn audit(app: &TestApp, access: &str, query: &str) -> Reply {
    app.get(
        &format!("/auth/audit/{query}"),
        Some(&format!("Bearer {access}")),
    )
    .await
}

/// The results of a page that must be a 200.
async fn events(app: &TestApp, access: &str, query: &str) -> Vec<Value> {
    let reply = audit(app, access, query).await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
    let results = reply.body["results"].as_array().expect("results").clone();
    assert_eq!(
        reply.body["count"].as_u64(),
        Some(results.len() as u64),
        "{query}: every match fits on the page: {}",
        reply.text
    );
    results
}

/// Every event of these types (comma-separated), newest first.
async fn of_type(app: &TestApp, access: &str, kinds: &str) -> Vec<Value> {
    events(app, access, &format!("?event_type={kinds}&page_size=100")).await
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event_type"].as_str().expect("event_type"))
        .collect()
}

fn ids(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect()
}

async fn audit_rows(app: &TestApp) -> i64 {
    app.db
        .scalar("SELECT count(*) AS value FROM audit_events")
        .await
}

/// One recorded event: its type, who, on whom, from where and its exact details.
fn assert_event(
    event: &Value,
    kind: &str,
    actor: Option<i64>,
    subject: Option<i64>,
    details: Value,
) {
    assert_eq!(event["event_type"], kind, "{event}");
    assert_eq!(event["actor"], json!(actor), "actor of {event}");
    assert_eq!(event["subject_user"], json!(subject), "subject of {event}");
    assert_eq!(event["details"], details, "details of {event}");
    assert_eq!(event["ip"], "127.0.0.1", "{event}");
    assert!(event["id"].as_i64().is_some(), "{event}");
    let at = event["occurred_at"].as_str().expect("occurred_at");
    assert!(at.ends_with('Z'), "{at}");
    DateTime::parse_from_rfc3339(at).unwrap_or_else(|_| panic!("not ISO 8601: {at}"));
}

/// `POST path` with `body`, sent with `AGENT` as its user agent.
async fn post_as_agent(app: &TestApp, path: &str, body: Value) -> Reply {
    let request = app
        .client
        .post(app.url(path))
        .header("User-Agent", AGENT)
        .json(&body);
    Reply::read(request.send().await.expect("request")).await
}

fn sid(token: &str) -> String {
    claims(token)["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test]
async fn only_staff_holding_view_auditevent_read_the_trail_and_permission_beats_bad_filters() {
    let app = app().await;
    let (plain_id, plain, _) = app.signed_in_user("plain@example.com").await;
    let (_, viewer) = staff_with(&app, "viewer@example.com", &["auth.view_user"]).await;
    let (_, auditor) = staff_with(&app, "auditor@example.com", &["auth.view_auditevent"]).await;
    let (_, root) = superuser(&app, "root@example.com").await;
    // The permission without staff status is not enough either.
    app.db
        .execute(&format!(
            "INSERT INTO user_permissions SELECT {plain_id}, id FROM permissions \
             WHERE app_label = 'auth' AND codename = 'view_auditevent'"
        ))
        .await;

    let anonymous = app.get("/auth/audit/", None).await;
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
    for (who, access) in [("non-staff", &plain), ("staff without it", &viewer)] {
        let reply = audit(&app, access, "").await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who}: {}", reply.text);
        assert_eq!(reply.body, json!({ "detail": FORBIDDEN }), "{who}");
    }
    let total = audit_rows(&app).await;
    assert_eq!(total, 8, "four registrations and four logins");
    for (who, access) in [("auditor", &auditor), ("superuser", &root)] {
        let reply = audit(&app, access, "?page_size=100").await;
        assert_eq!(reply.status, StatusCode::OK, "{who}: {}", reply.text);
        let keys: Vec<_> = reply.body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["count", "next", "previous", "results"], "{who}");
        assert_eq!(reply.body["count"], total, "{who}");
        let first = &reply.body["results"][0];
        let keys: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "id",
                "occurred_at",
                "event_type",
                "actor",
                "subject_user",
                "ip",
                "user_agent",
                "details"
            ],
            "{who}"
        );
    }

    // A caller who may not read the trail learns nothing about his filters.
    let bad = "?user=abc&event_type=nope&occurred_at_after=soon";
    for (who, access) in [("non-staff", &plain), ("staff without it", &viewer)] {
        let reply = audit(&app, access, bad).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who}: {}", reply.text);
        assert_eq!(reply.body, json!({ "detail": FORBIDDEN }), "{who}");
    }
    let anonymous = app.get(&format!("/auth/audit/{bad}"), None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let reply = audit(&app, &auditor, bad).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({
            "user": ["Enter a number."],
            "event_type": ["Select a valid choice. nope is not one of the available choices."],
            "occurred_at_after": ["Enter a valid date/time."],
        })
    );
}

#[tokio::test]
async fn failed_logins_are_told_apart_only_in_the_trail_and_no_password_is_recorded() {
    let app = app().await;
    let alice = app.register("alice@example.com").await["id"]
        .as_i64()
        .unwrap();
    let sleeper = app.register("sleeper@example.com").await["id"]
        .as_i64()
        .unwrap();
    app.db
        .execute(&format!(
            "UPDATE users SET is_active = false WHERE id = {sleeper}"
        ))
        .await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let before = audit_rows(&app).await;
    let expected = json!({ "detail": "No active account found with the given credentials" });

    let unknown = post_as_agent(
        &app,
        "/auth/token/",
        json!({ "email": "Ghost@Example.com", "password": "Unknown-Secret-1" }),
    )
    .await;
    let wrong = app
        .post(
            "/auth/token/",
            json!({ "email": "alice@example.com", "password": "Wrong-Secret-2" }),
        )
        .await;
    let wrong_by_username = app
        .post(
            "/auth/token/",
            json!({ "username": "alice@example.com", "password": "Wrong-Secret-3" }),
        )
        .await;
    let inactive = app
        .post(
            "/auth/token/",
            json!({ "email": "sleeper@example.com", "password": PASSWORD }),
        )
        .await;

    for reply in [&unknown, &wrong, &wrong_by_username, &inactive] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
        assert_eq!(reply.body, expected);
        assert_eq!(reply.text, unknown.text, "the answers are identical");
    }
    let failed = of_type(&app, &root, "login.failed").await;
    assert_eq!(failed.len(), 4, "{failed:?}");
    assert_event(
        &failed[0],
        "login.failed",
        None,
        Some(sleeper),
        json!({ "email": "sleeper@example.com", "reason": "inactive" }),
    );
    assert_event(
        &failed[1],
        "login.failed",
        None,
        Some(alice),
        json!({ "username": "alice@example.com", "reason": "wrong_password" }),
    );
    assert_event(
        &failed[2],
        "login.failed",
        None,
        Some(alice),
        json!({ "email": "alice@example.com", "reason": "wrong_password" }),
    );
    assert_event(
        &failed[3],
        "login.failed",
        None,
        None,
        json!({ "email": "Ghost@Example.com", "reason": "unknown_user" }),
    );
    assert_eq!(failed[3]["user_agent"], AGENT);
    assert_eq!(failed[2]["user_agent"], Value::Null, "no User-Agent sent");
    assert_eq!(audit_rows(&app).await, before + 4);

    let ok = post_as_agent(
        &app,
        "/auth/token/",
        json!({ "email": "alice@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let succeeded = events(
        &app,
        &root,
        &format!("?event_type=login.succeeded&user={alice}"),
    )
    .await;
    assert_eq!(succeeded.len(), 1, "{succeeded:?}");
    let event = &succeeded[0];
    assert_eq!(event["event_type"], "login.succeeded");
    assert_eq!(event["actor"], alice);
    assert_eq!(event["subject_user"], alice);
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["user_agent"], AGENT);
    assert_eq!(audit_rows(&app).await, before + 5);

    let everything = audit(&app, &root, "?page_size=100").await;
    assert_eq!(everything.status, StatusCode::OK);
    for password in [
        PASSWORD,
        "Unknown-Secret-1",
        "Wrong-Secret-2",
        "Wrong-Secret-3",
    ] {
        assert!(
            !everything.text.contains(password),
            "{password:?} in {}",
            everything.text
        );
    }
    assert_eq!(
        app.db
            .scalar(
                "SELECT count(*) AS value FROM audit_events \
                 WHERE details::text ILIKE '%secret%' OR details::text LIKE '%horse%'"
            )
            .await,
        0
    );
}

#[tokio::test]
async fn logouts_revoked_sessions_and_a_reused_refresh_token_are_recorded() {
    let app = spawn_app_with(|s| {
        s.throttle.store.enabled = false;
        s.jwt.tokens.reuse_interval = chrono::Duration::zero();
    })
    .await;
    let (alice, access, refresh) = app.signed_in_user("alice@example.com").await;
    let (_, second_refresh) = app.login("alice@example.com").await;
    let (third_access, third_refresh) = app.login("alice@example.com").await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let session_kinds = "logout,logout.all,session.revoked,refresh_token.reused";

    // Logout with a refresh token.
    let reply = post_as_agent(&app, "/auth/logout/", json!({ "refresh": second_refresh })).await;
    assert_eq!(reply.status, StatusCode::RESET_CONTENT, "{}", reply.text);
    let logout = of_type(&app, &root, "logout").await;
    assert_eq!(logout.len(), 1, "{logout:?}");
    assert_event(
        &logout[0],
        "logout",
        Some(alice),
        Some(alice),
        json!({ "session": sid(&second_refresh) }),
    );
    assert_eq!(logout[0]["user_agent"], AGENT);

    // Ending a session from the session list.
    let listed = app
        .get("/auth/sessions/", Some(&format!("Bearer {access}")))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let session_ids: Vec<String> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| str_of(s, "id"))
        .collect();
    let third = sid(&third_access);
    assert!(session_ids.contains(&third), "{session_ids:?}");
    let before = audit_rows(&app).await;
    let unknown = call(
        &app,
        Method::DELETE,
        &format!("/auth/sessions/{}/", "0".repeat(32)),
        &access,
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(audit_rows(&app).await, before, "a 404 writes nothing");
    let ended = call(
        &app,
        Method::DELETE,
        &format!("/auth/sessions/{third}/"),
        &access,
        None,
    )
    .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.text);
    assert_token_not_valid(&app.refresh(&third_refresh).await, "Token is blacklisted");
    let revoked = of_type(&app, &root, "session.revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_event(
        &revoked[0],
        "session.revoked",
        Some(alice),
        Some(alice),
        json!({ "session": third }),
    );

    // A rotated refresh token presented again: its whole session dies.
    let rotated = app.refresh(&refresh).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let successor = str_of(&rotated.body, "refresh");
    let reused = app.refresh(&refresh).await;
    assert_token_not_valid(&reused, "Token is blacklisted");
    assert_token_not_valid(&app.refresh(&successor).await, "Token is blacklisted");
    let reuse = of_type(&app, &root, "refresh_token.reused").await;
    assert_eq!(reuse.len(), 1, "{reuse:?}");
    assert_event(
        &reuse[0],
        "refresh_token.reused",
        None,
        Some(alice),
        json!({ "session": sid(&refresh) }),
    );

    // Logging out everywhere.
    let (fresh_access, fresh_refresh) = app.login("alice@example.com").await;
    let all = app
        .post_authed("/auth/logout/all/", &fresh_access, json!({}))
        .await;
    assert_eq!(all.status, StatusCode::RESET_CONTENT, "{}", all.text);
    assert_token_not_valid(&app.refresh(&fresh_refresh).await, "Token is blacklisted");
    let everywhere = of_type(&app, &root, "logout.all").await;
    assert_eq!(everywhere.len(), 1, "{everywhere:?}");
    assert_event(
        &everywhere[0],
        "logout.all",
        Some(alice),
        Some(alice),
        json!({}),
    );

    let hers = events(
        &app,
        &root,
        &format!("?user={alice}&event_type={session_kinds}"),
    )
    .await;
    assert_eq!(
        kinds(&hers),
        [
            "logout.all",
            "refresh_token.reused",
            "session.revoked",
            "logout"
        ]
    );
}

#[tokio::test]
async fn a_refused_logout_writes_no_event() {
    let app = app().await;
    let (_, _, refresh) = app.signed_in_user("alice@example.com").await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let first = app
        .post("/auth/logout/", json!({ "refresh": refresh }))
        .await;
    assert_eq!(first.status, StatusCode::RESET_CONTENT, "{}", first.text);
    let before = audit_rows(&app).await;

    let garbage = app
        .post("/auth/logout/", json!({ "refresh": "not-a-token" }))
        .await;
    assert_token_not_valid(&garbage, "Token is invalid");
    assert_eq!(audit_rows(&app).await, before);
    let again = app
        .post("/auth/logout/", json!({ "refresh": refresh }))
        .await;
    assert_token_not_valid(&again, "Token is blacklisted");

    assert_eq!(
        of_type(&app, &root, "logout").await.len(),
        1,
        "the refused second logout ended nothing and records nothing"
    );
    assert_eq!(audit_rows(&app).await, before);
}

#[tokio::test]
async fn a_password_change_is_recorded_and_so_is_a_wrong_current_password() {
    let app = app().await;
    let (alice, access, _) = app.signed_in_user("alice@example.com").await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let before = audit_rows(&app).await;

    let refused = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "old_password": "not-my-password", "new_password": "Changed-Pass-42" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(
        refused.body,
        json!({ "old_password": ["Invalid password."] })
    );
    let guessed = of_type(&app, &root, "password.check_failed").await;
    assert_eq!(guessed.len(), 1, "{guessed:?}");
    assert_event(
        &guessed[0],
        "password.check_failed",
        Some(alice),
        Some(alice),
        json!({ "action": "change_password" }),
    );
    assert_eq!(audit_rows(&app).await, before + 1);

    let changed = app
        .post_authed(
            "/auth/change-password/",
            &access,
            json!({ "old_password": PASSWORD, "new_password": "Changed-Pass-42" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let recorded = of_type(&app, &root, "password.changed").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_event(
        &recorded[0],
        "password.changed",
        Some(alice),
        Some(alice),
        json!({}),
    );
    assert_eq!(audit_rows(&app).await, before + 2);
    let text = audit(&app, &root, "?page_size=100").await.text;
    assert!(
        !text.contains("Changed-Pass-42")
            && !text.contains(PASSWORD)
            && !text.contains("not-my-password")
    );
}

#[tokio::test]
async fn a_reset_through_the_emailed_link_is_recorded_and_bad_or_reused_tokens_are_not() {
    let (app, mail) = spawn_app_with_mail(|s| s.throttle.store.enabled = false).await;
    let alice = app.register("alice@example.com").await["id"]
        .as_i64()
        .unwrap();
    let (_, root) = superuser(&app, "root@example.com").await;
    let requested = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "alice@example.com" }),
        )
        .await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.text);
    let email = mail
        .wait_for(1, std::time::Duration::from_secs(10))
        .await
        .remove(0);
    assert_eq!(email.to, ["alice@example.com"]);
    let token = link_token(&email);
    let before = audit_rows(&app).await;

    let bad = app
        .post(
            "/auth/reset-password/not-a-real-token/",
            json!({ "new_password": "Reset-Pass-77" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert_eq!(bad.body, json!({ "detail": "Invalid token." }));
    assert_eq!(audit_rows(&app).await, before);

    let reset = post_as_agent(
        &app,
        &format!("/auth/reset-password/{token}/"),
        json!({ "new_password": "Reset-Pass-77" }),
    )
    .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let recorded = of_type(&app, &root, "password.reset").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_event(&recorded[0], "password.reset", None, Some(alice), json!({}));
    assert_eq!(recorded[0]["user_agent"], AGENT);
    assert_eq!(audit_rows(&app).await, before + 1);

    let reused = app
        .post(
            &format!("/auth/reset-password/{token}/"),
            json!({ "new_password": "Another-Pass-88" }),
        )
        .await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST, "{}", reused.text);
    assert_eq!(reused.body, json!({ "detail": "Invalid token." }));
    assert_eq!(audit_rows(&app).await, before + 1);
    assert_eq!(of_type(&app, &root, "password.reset").await.len(), 1);
    let text = audit(&app, &root, "?page_size=100").await.text;
    assert!(!text.contains("Reset-Pass-77") && !text.contains(&token));
}

#[tokio::test]
async fn registration_and_activation_are_recorded_once() {
    let (app, mail) = spawn_app_with_mail(|s| {
        s.throttle.store.enabled = false;
        s.registration.require_activation = true;
    })
    .await;
    let root_id = app.register("root@example.com").await["id"]
        .as_i64()
        .unwrap();
    app.db
        .execute(&format!(
            "UPDATE users SET is_active = true, pending_activation = false, \
             is_staff = true, is_superuser = true WHERE id = {root_id}"
        ))
        .await;
    let (root, _) = app.login("root@example.com").await;
    let alice = app.register("alice@example.com").await["id"]
        .as_i64()
        .unwrap();
    let emails = mail.wait_for(2, std::time::Duration::from_secs(10)).await;
    let email = emails
        .iter()
        .find(|e| e.to == ["alice@example.com"])
        .expect("alice's activation email");
    let token = link_token(email);
    let locked_out = app
        .post(
            "/auth/token/",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(locked_out.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        locked_out.body,
        json!({ "detail": "No active account found with the given credentials" })
    );

    let activated = post_as_agent(&app, &format!("/auth/activate/{token}/"), json!({})).await;
    assert_eq!(activated.status, StatusCode::OK, "{}", activated.text);
    assert_eq!(
        activated.body,
        json!({ "detail": "Your account has been activated." })
    );
    let again = app
        .post(&format!("/auth/activate/{token}/"), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.text);
    assert_eq!(again.body, json!({ "detail": "Invalid token." }));

    let hers = events(
        &app,
        &root,
        &format!("?user={alice}&event_type=account.registered,account.activated,login.failed"),
    )
    .await;
    assert_eq!(
        kinds(&hers),
        ["account.activated", "login.failed", "account.registered"]
    );
    assert_event(&hers[0], "account.activated", None, Some(alice), json!({}));
    assert_eq!(hers[0]["user_agent"], AGENT);
    assert_event(
        &hers[1],
        "login.failed",
        None,
        Some(alice),
        json!({ "email": "alice@example.com", "reason": "inactive" }),
    );
    assert_event(
        &hers[2],
        "account.registered",
        None,
        Some(alice),
        json!({ "username": "alice@example.com", "is_active": false }),
    );
    assert_eq!(of_type(&app, &root, "account.activated").await.len(), 1);
    app.login("alice@example.com").await;
}

#[tokio::test]
async fn editing_and_deleting_ones_own_account_is_recorded_and_outlives_the_account() {
    let app = app().await;
    let (alice, access, _) = app.signed_in_user("alice@example.com").await;
    let (_, root) = superuser(&app, "root@example.com").await;

    let renamed = call(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({ "username": "alice2" })),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let updated = of_type(&app, &root, "account.updated").await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_event(
        &updated[0],
        "account.updated",
        Some(alice),
        Some(alice),
        json!({
            "username": "alice2",
            "previous_username": "alice@example.com",
            "fields": ["username"],
        }),
    );

    let before = audit_rows(&app).await;
    let refused = call(
        &app,
        Method::DELETE,
        "/auth/me/",
        &access,
        Some(json!({ "current_password": "not-my-password" })),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(
        refused.body,
        json!({ "current_password": ["Invalid password."] })
    );
    assert_eq!(audit_rows(&app).await, before + 1, "the wrong guess");

    let deleted = call(
        &app,
        Method::DELETE,
        "/auth/me/",
        &access,
        Some(json!({ "current_password": PASSWORD })),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT count(*) AS value FROM users WHERE id = {alice}"
            ))
            .await,
        0
    );
    let hers = events(&app, &root, &format!("?user={alice}")).await;
    assert_eq!(
        kinds(&hers),
        [
            "account.deleted",
            "password.check_failed",
            "account.updated",
            "login.succeeded",
            "account.registered"
        ]
    );
    assert_event(
        &hers[0],
        "account.deleted",
        Some(alice),
        Some(alice),
        json!({ "username": "alice2" }),
    );
    for event in &hers[..4] {
        assert_eq!(event["actor"], alice, "{event}");
    }
    for event in &hers {
        assert_eq!(event["subject_user"], alice, "{event}");
    }
    assert_eq!(
        ids(&events(&app, &root, &format!("?subject_user={alice}")).await),
        ids(&hers)
    );
}

#[tokio::test]
async fn admin_changes_to_users_groups_and_permissions_are_recorded_with_the_admin_as_actor() {
    let app = app().await;
    let (root_id, root) = superuser(&app, "root@example.com").await;
    let admin = |method: Method, path: String, body: Option<Value>| {
        let (app, root) = (&app, &root);
        async move { call(app, method, &path, root, body).await }
    };
    let last = async |kind: &str| -> Value {
        let found = of_type(&app, &root, kind).await;
        assert_eq!(found.len(), 1, "{kind}: {found:?}");
        found[0].clone()
    };

    let group = admin(
        Method::POST,
        "/auth/groups/".into(),
        Some(json!({ "name": "editors", "permissions": ["auth.view_user"] })),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.text);
    let gid = group.body["id"].as_i64().unwrap();
    assert_event(
        &last("group.created").await,
        "group.created",
        Some(root_id),
        None,
        json!({ "id": gid, "name": "editors", "permissions": ["auth.view_user"] }),
    );

    let created = admin(
        Method::POST,
        "/auth/users/".into(),
        Some(json!({
            "username": "bob",
            "email": "bob@example.com",
            "password": "Bob-Initial-Pass-9",
        })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let bob = created.body["id"].as_i64().unwrap();
    assert_event(
        &last("user.created").await,
        "user.created",
        Some(root_id),
        Some(bob),
        json!({
            "username": "bob",
            "is_active": true,
            "is_staff": false,
            "is_superuser": false,
            "groups": [],
            "user_permissions": [],
            "password_set": true,
        }),
    );

    let updated = admin(
        Method::PATCH,
        format!("/auth/users/{bob}/"),
        Some(json!({ "is_staff": true, "groups": ["editors"] })),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_event(
        &last("user.updated").await,
        "user.updated",
        Some(root_id),
        Some(bob),
        json!({ "fields": ["is_staff", "groups"], "is_staff": true, "groups": ["editors"] }),
    );

    let set = admin(
        Method::POST,
        format!("/auth/users/{bob}/set-password/"),
        Some(json!({ "password": "Bob-Second-Pass-8" })),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_event(
        &last("user.password_set").await,
        "user.password_set",
        Some(root_id),
        Some(bob),
        json!({}),
    );

    let logout = admin(Method::POST, format!("/auth/users/{bob}/logout/"), None).await;
    assert_eq!(logout.status, StatusCode::RESET_CONTENT, "{}", logout.text);
    assert_event(
        &last("user.logged_out").await,
        "user.logged_out",
        Some(root_id),
        Some(bob),
        json!({}),
    );

    let renamed = admin(
        Method::PATCH,
        format!("/auth/groups/{gid}/"),
        Some(json!({ "name": "writers" })),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_event(
        &last("group.updated").await,
        "group.updated",
        Some(root_id),
        None,
        json!({ "id": gid, "name": "writers" }),
    );

    let permission = admin(
        Method::POST,
        "/auth/permissions/".into(),
        Some(json!({ "name": "Can fly", "app_label": "fleet", "codename": "fly" })),
    )
    .await;
    assert_eq!(
        permission.status,
        StatusCode::CREATED,
        "{}",
        permission.text
    );
    let pid = permission.body["id"].as_i64().unwrap();
    assert_event(
        &last("permission.created").await,
        "permission.created",
        Some(root_id),
        None,
        json!({ "id": pid, "permission": "fleet.fly", "name": "Can fly" }),
    );

    let gone = admin(Method::DELETE, format!("/auth/permissions/{pid}/"), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    assert_event(
        &last("permission.deleted").await,
        "permission.deleted",
        Some(root_id),
        None,
        json!({ "id": pid, "permission": "fleet.fly" }),
    );

    let gone = admin(Method::DELETE, format!("/auth/groups/{gid}/"), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    assert_event(
        &last("group.deleted").await,
        "group.deleted",
        Some(root_id),
        None,
        json!({ "id": gid, "name": "writers" }),
    );

    let gone = admin(Method::DELETE, format!("/auth/users/{bob}/"), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    assert_event(
        &last("user.deleted").await,
        "user.deleted",
        Some(root_id),
        Some(bob),
        json!({ "username": "bob" }),
    );

    let by_root = events(&app, &root, &format!("?actor={root_id}&page_size=100")).await;
    assert_eq!(
        kinds(&by_root),
        [
            "user.deleted",
            "group.deleted",
            "permission.deleted",
            "permission.created",
            "group.updated",
            "user.logged_out",
            "user.password_set",
            "user.updated",
            "user.created",
            "group.created",
            "login.succeeded",
        ]
    );
    let on_bob = events(&app, &root, &format!("?subject_user={bob}")).await;
    assert_eq!(
        kinds(&on_bob),
        [
            "user.deleted",
            "user.logged_out",
            "user.password_set",
            "user.updated",
            "user.created"
        ]
    );
    let text = audit(&app, &root, "?page_size=100").await.text;
    for password in ["Bob-Initial-Pass-9", "Bob-Second-Pass-8", PASSWORD] {
        assert!(!text.contains(password), "{password:?} in {text}");
    }
}

#[tokio::test]
async fn refused_and_failed_admin_actions_write_nothing() {
    let app = app().await;
    let (root_id, root) = superuser(&app, "root@example.com").await;
    let target = app.register("target@example.com").await["id"]
        .as_i64()
        .unwrap();
    let (helper_id, helper) = staff_with(&app, "helper@example.com", &["auth.view_user"]).await;
    let (changer_id, changer) =
        staff_with(&app, "changer@example.com", &["auth.change_user"]).await;
    app.db
        .execute("INSERT INTO groups (name) VALUES ('editors')")
        .await;
    let gid = app
        .db
        .scalar("SELECT id AS value FROM groups WHERE name = 'editors'")
        .await;
    let before = audit_rows(&app).await;

    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/auth/users/".into(),
            Some(json!({ "username": "eve", "email": "eve@example.com" })),
        ),
        (
            Method::PATCH,
            format!("/auth/users/{target}/"),
            Some(json!({ "is_staff": true })),
        ),
        (
            Method::POST,
            format!("/auth/users/{target}/set-password/"),
            Some(json!({ "password": "Helper-Sets-This-1" })),
        ),
        (Method::POST, format!("/auth/users/{target}/logout/"), None),
        (Method::DELETE, format!("/auth/users/{target}/"), None),
        (
            Method::POST,
            "/auth/groups/".into(),
            Some(json!({ "name": "mine" })),
        ),
        (
            Method::PATCH,
            format!("/auth/groups/{gid}/"),
            Some(json!({ "name": "ours" })),
        ),
        (Method::DELETE, format!("/auth/groups/{gid}/"), None),
        (
            Method::POST,
            "/auth/permissions/".into(),
            Some(json!({ "name": "Can fly", "app_label": "fleet", "codename": "fly" })),
        ),
    ];
    for (method, path, body) in attempts {
        let reply = call(&app, method.clone(), &path, &helper, body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            reply.text
        );
        assert_eq!(reply.body, json!({ "detail": FORBIDDEN }));
    }
    assert_eq!(audit_rows(&app).await, before, "no refused action recorded");

    // Holding the permission, but not over a superuser, nor past his own rights.
    for (path, body) in [
        (
            format!("/auth/users/{root_id}/"),
            json!({ "first_name": "Root" }),
        ),
        (
            format!("/auth/users/{target}/"),
            json!({ "is_superuser": true }),
        ),
    ] {
        let reply = call(&app, Method::PATCH, &path, &changer, Some(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            reply.text
        );
    }
    let logout_root = call(
        &app,
        Method::POST,
        &format!("/auth/users/{root_id}/logout/"),
        &changer,
        None,
    )
    .await;
    assert_eq!(logout_root.status, StatusCode::FORBIDDEN);
    // Invalid input, or nobody to act on.
    let duplicate = call(
        &app,
        Method::POST,
        "/auth/users/",
        &root,
        Some(json!({ "username": "another", "email": "target@example.com" })),
    )
    .await;
    assert_eq!(
        duplicate.status,
        StatusCode::BAD_REQUEST,
        "{}",
        duplicate.text
    );
    let missing = call(&app, Method::DELETE, "/auth/users/999999/", &root, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    let missing = call(&app, Method::DELETE, "/auth/groups/999999/", &root, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    let weak = call(
        &app,
        Method::POST,
        &format!("/auth/users/{target}/set-password/"),
        &root,
        Some(json!({ "password": "123" })),
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST, "{}", weak.text);
    assert_eq!(audit_rows(&app).await, before, "no failed action recorded");

    for actor in [helper_id, changer_id] {
        let theirs = events(&app, &root, &format!("?actor={actor}")).await;
        assert_eq!(kinds(&theirs), ["login.succeeded"], "{actor}");
    }
}

#[tokio::test]
async fn filters_select_by_user_actor_subject_type_and_time() {
    let app = app().await;
    let (root_id, root) = superuser(&app, "root@example.com").await;
    let (alice, _, _) = app.signed_in_user("alice@example.com").await;
    let (bob, _, _) = app.signed_in_user("bob@example.com").await;
    let failed = app
        .post(
            "/auth/token/",
            json!({ "email": "alice@example.com", "password": "nope-nope" }),
        )
        .await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    let edited = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{alice}/"),
        &root,
        Some(json!({ "first_name": "Al" })),
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);

    let all = events(&app, &root, "").await;
    assert_eq!(
        kinds(&all),
        [
            "user.updated",
            "login.failed",
            "login.succeeded",
            "account.registered",
            "login.succeeded",
            "account.registered",
            "login.succeeded",
            "account.registered",
        ],
        "newest first"
    );
    let all_ids = ids(&all);
    assert!(all_ids.windows(2).all(|w| w[0] > w[1]), "{all_ids:?}");
    let times: Vec<DateTime<FixedOffset>> = all
        .iter()
        .map(|e| DateTime::parse_from_rfc3339(e["occurred_at"].as_str().unwrap()).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_event(
        &all[0],
        "user.updated",
        Some(root_id),
        Some(alice),
        json!({ "fields": ["first_name"] }),
    );
    let subset = |picked: &[usize]| -> Vec<i64> { picked.iter().map(|&i| all_ids[i]).collect() };

    let cases: Vec<(String, Vec<i64>)> = vec![
        (format!("?user={alice}"), subset(&[0, 1, 4, 5])),
        (format!("?actor={alice}"), subset(&[4])),
        (format!("?subject_user={alice}"), subset(&[0, 1, 4, 5])),
        (format!("?user={root_id}"), subset(&[0, 6, 7])),
        (format!("?actor={root_id}"), subset(&[0, 6])),
        (format!("?subject_user={root_id}"), subset(&[6, 7])),
        (format!("?user={bob}"), subset(&[2, 3])),
        (
            format!("?actor={root_id}&subject_user={alice}"),
            subset(&[0]),
        ),
        ("?user=999999".into(), vec![]),
        (
            "?event_type=login.failed,user.updated".into(),
            subset(&[0, 1]),
        ),
        (
            "?event_type=login.failed&event_type=account.registered".into(),
            subset(&[1, 3, 5, 7]),
        ),
        (
            "?event_type=logout,%20login.failed&event_type=user.updated".into(),
            subset(&[0, 1]),
        ),
        (
            format!("?event_type=login.succeeded&user={bob}"),
            subset(&[2]),
        ),
        ("?event_type=password.reset".into(), vec![]),
        ("?user=&event_type=".into(), all_ids.clone()),
        ("?occurred_at_after=2999-01-01".into(), vec![]),
        (
            "?occurred_at_after=2000-01-01T00:00:00Z".into(),
            all_ids.clone(),
        ),
        ("?occurred_at_before=2000-01-01".into(), vec![]),
        (
            "?occurred_at_before=2999-01-01T00:00".into(),
            all_ids.clone(),
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(ids(&events(&app, &root, &query).await), expected, "{query}");
    }

    // Both bounds are inclusive, and an offset reads as the same instant.
    let at = all[1]["occurred_at"].as_str().unwrap().to_owned();
    let exactly = events(
        &app,
        &root,
        &format!("?occurred_at_after={at}&occurred_at_before={at}"),
    )
    .await;
    assert!(ids(&exactly).contains(&all_ids[1]), "{exactly:?}");
    assert!(exactly.iter().all(|e| e["occurred_at"] == at.as_str()));
    let since = ids(&events(&app, &root, &format!("?occurred_at_after={at}")).await);
    assert_eq!(since, subset(&[0, 1]));
    let until = ids(&events(&app, &root, &format!("?occurred_at_before={at}")).await);
    assert_eq!(until, subset(&[1, 2, 3, 4, 5, 6, 7]));
    let plus_two = DateTime::parse_from_rfc3339(&at)
        .unwrap()
        .with_timezone(&FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(SecondsFormat::Micros, false)
        .replace('+', "%2B");
    let since = ids(&events(&app, &root, &format!("?occurred_at_after={plus_two}")).await);
    assert_eq!(since, subset(&[0, 1]), "{plus_two}");
}

#[tokio::test]
async fn bad_filters_are_400s_naming_the_field() {
    let app = app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let cases = [
        ("?user=abc", json!({ "user": ["Enter a number."] })),
        ("?actor=1.5", json!({ "actor": ["Enter a number."] })),
        (
            "?subject_user=me",
            json!({ "subject_user": ["Enter a number."] }),
        ),
        (
            "?event_type=login",
            json!({ "event_type": ["Select a valid choice. login is not one of the available choices."] }),
        ),
        (
            "?event_type=logout,LOGOUT&event_type=login.succeeded",
            json!({ "event_type": ["Select a valid choice. LOGOUT is not one of the available choices."] }),
        ),
        (
            "?occurred_at_after=yesterday",
            json!({ "occurred_at_after": ["Enter a valid date/time."] }),
        ),
        (
            "?occurred_at_before=2026-13-01",
            json!({ "occurred_at_before": ["Enter a valid date/time."] }),
        ),
        (
            "?occurred_at_before=1700000000",
            json!({ "occurred_at_before": ["Enter a valid date/time."] }),
        ),
        (
            // Years PostgreSQL cannot store are refused, not a 500.
            "?occurred_at_after=-5000-01-01",
            json!({ "occurred_at_after": ["Enter a valid date/time."] }),
        ),
        (
            "?occurred_at_before=%2B12026-01-01T00:00:00Z",
            json!({ "occurred_at_before": ["Enter a valid date/time."] }),
        ),
        (
            "?actor=x&occurred_at_after=never&event_type=nope",
            json!({
                "actor": ["Enter a number."],
                "event_type": ["Select a valid choice. nope is not one of the available choices."],
                "occurred_at_after": ["Enter a valid date/time."],
            }),
        ),
    ];
    for (query, expected) in cases {
        let reply = audit(&app, &root, query).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.text
        );
        assert_eq!(reply.body, expected, "{query}");
    }
}

#[tokio::test]
async fn the_trail_is_paginated_like_drf() {
    let app = app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    for n in 1..=3 {
        app.signed_in_user(&format!("user{n}@example.com")).await;
    }
    let all = events(&app, &root, "").await;
    assert_eq!(all.len(), 8);
    let all_ids = ids(&all);

    let first = audit(&app, &root, "?page_size=2").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["count"], 8);
    assert_eq!(first.body["previous"], Value::Null);
    assert_eq!(
        first.body["next"],
        json!(format!("{}/auth/audit/?page_size=2&page=2", app.address))
    );
    let mut walked = ids(first.body["results"].as_array().unwrap());
    let mut next = first.body["next"].as_str().map(str::to_owned);
    let mut pages = 1;
    while let Some(link) = next {
        let page = audit(
            &app,
            &root,
            &link[format!("{}/auth/audit/", app.address).len()..],
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{link}: {}", page.text);
        pages += 1;
        let previous = if pages == 2 {
            format!("{}/auth/audit/?page_size=2", app.address)
        } else {
            format!("{}/auth/audit/?page_size=2&page={}", app.address, pages - 1)
        };
        assert_eq!(page.body["previous"], json!(previous), "{link}");
        walked.extend(ids(page.body["results"].as_array().unwrap()));
        next = page.body["next"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, 4);
    assert_eq!(
        walked, all_ids,
        "the pages cover every event once, in order"
    );

    let last = audit(&app, &root, "?page_size=3&page=last").await;
    assert_eq!(last.status, StatusCode::OK, "{}", last.text);
    assert_eq!(ids(last.body["results"].as_array().unwrap()), all_ids[6..]);
    assert_eq!(last.body["next"], Value::Null);
    assert_eq!(
        last.body["previous"],
        json!(format!("{}/auth/audit/?page_size=3&page=2", app.address))
    );

    // Links keep the filters.
    let filtered = audit(&app, &root, "?event_type=account.registered&page_size=3").await;
    assert_eq!(filtered.body["count"], 4);
    assert_eq!(
        filtered.body["next"],
        json!(format!(
            "{}/auth/audit/?event_type=account.registered&page_size=3&page=2",
            app.address
        ))
    );

    for bad in ["99", "0", "-1", "x", "5"] {
        let reply = audit(&app, &root, &format!("?page_size=2&page={bad}")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{bad}: {}", reply.text);
        assert_eq!(reply.body, json!({ "detail": "Invalid page." }), "{bad}");
    }
    let empty = audit(&app, &root, "?event_type=password.reset").await;
    assert_eq!(
        empty.body,
        json!({ "count": 0, "next": null, "previous": null, "results": [] })
    );

    // Twenty by default, a hundred at most.
    app.db
        .execute(
            "INSERT INTO audit_events (event_type, details) \
             SELECT 'logout', '{}'::jsonb FROM generate_series(1, 120)",
        )
        .await;
    let default = audit(&app, &root, "").await;
    assert_eq!(default.body["count"], 128);
    assert_eq!(default.body["results"].as_array().unwrap().len(), 20);
    let capped = audit(&app, &root, "?page_size=100000").await;
    assert_eq!(capped.body["results"].as_array().unwrap().len(), 100);
    assert_eq!(
        capped.body["next"],
        json!(format!(
            "{}/auth/audit/?page_size=100000&page=2",
            app.address
        ))
    );
}
