//! The admin UserViewSet over HTTP: pagination, search, filters, ordering, CRUD,
//! set-password and logout, and every guard against climbing past one's rights.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn seed_users(app: &TestApp, count: usize) {
    app.db
        .execute(&format!(
            "INSERT INTO users (username, email, password, first_name, last_name, is_active) \
             SELECT 'member' || lpad(n::text, 3, '0'), 'member' || n || '@example.com', '!', 'First' || n, 'Last', n % 5 <> 0 \
             FROM generate_series(1, {count}) AS n"
        ))
        .await;
}

#[tokio::test]
async fn the_list_is_paginated_like_drf_with_absolute_links() {
    let app = spawn_app().await;
    let (_, access) = superuser(&app, "root@example.com").await;
    seed_users(&app, 24).await;

    let first = call(
        &app,
        Method::GET,
        "/auth/users/?page_size=10&ordering=id",
        &access,
        None,
    )
    .await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["count"], 25);
    assert_eq!(first.body["results"].as_array().unwrap().len(), 10);
    assert_eq!(first.body["previous"], Value::Null);
    let next = first.body["next"].as_str().unwrap();
    assert_eq!(
        next,
        format!(
            "{}/auth/users/?page_size=10&ordering=id&page=2",
            app.address
        )
    );
    let second = call(&app, Method::GET, &next[app.address.len()..], &access, None).await;
    assert_eq!(
        second.body["previous"],
        json!(format!(
            "{}/auth/users/?page_size=10&ordering=id",
            app.address
        )),
        "the link back to page 1 has no page parameter"
    );
    let third = call(
        &app,
        Method::GET,
        "/auth/users/?page_size=10&page=3",
        &access,
        None,
    )
    .await;
    assert_eq!(third.body["results"].as_array().unwrap().len(), 5);
    assert_eq!(third.body["next"], Value::Null);
    for bad in ["4", "0", "x"] {
        let reply = call(
            &app,
            Method::GET,
            &format!("/auth/users/?page_size=10&page={bad}"),
            &access,
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(reply.body, json!({ "detail": "Invalid page." }));
    }
    let capped = call(
        &app,
        Method::GET,
        "/auth/users/?page_size=100000",
        &access,
        None,
    )
    .await;
    assert_eq!(capped.body["results"].as_array().unwrap().len(), 25);
    let item = &first.body["results"][0];
    let keys: Vec<_> = item.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
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
            "user_permissions"
        ]
    );
}

#[tokio::test]
async fn search_filters_and_ordering_select_and_sort_users() {
    let app = spawn_app().await;
    let (_, access) = superuser(&app, "root@example.com").await;
    seed_users(&app, 20).await;
    app.db.execute("UPDATE users SET first_name = 'Alicia', last_name = 'Ortega' WHERE username = 'member007'").await;
    app.db
        .execute("INSERT INTO groups (name) VALUES ('editors')")
        .await;
    let group = app
        .db
        .scalar("SELECT id AS value FROM groups WHERE name = 'editors'")
        .await;
    app.db
        .execute(&format!(
            "INSERT INTO user_groups SELECT id, {group} FROM users WHERE username IN ('member003', 'member004')"
        ))
        .await;
    let usernames = |reply: &Reply| -> Vec<String> {
        reply.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };

    let by_name = call(&app, Method::GET, "/auth/users/?search=alic", &access, None).await;
    assert_eq!(usernames(&by_name), ["member007"]);
    let two_terms = call(
        &app,
        Method::GET,
        "/auth/users/?search=alicia%20ortega",
        &access,
        None,
    )
    .await;
    assert_eq!(usernames(&two_terms), ["member007"]);
    let no_match = call(
        &app,
        Method::GET,
        "/auth/users/?search=alicia%20smith",
        &access,
        None,
    )
    .await;
    assert_eq!(no_match.body["count"], 0);
    let wildcard = call(&app, Method::GET, "/auth/users/?search=%25", &access, None).await;
    assert_eq!(
        wildcard.body["count"], 0,
        "LIKE wildcards are searched for literally"
    );
    let inactive = call(
        &app,
        Method::GET,
        "/auth/users/?is_active=false",
        &access,
        None,
    )
    .await;
    assert_eq!(
        usernames(&inactive),
        ["member005", "member010", "member015", "member020"]
    );
    let staff = call(
        &app,
        Method::GET,
        "/auth/users/?is_staff=true",
        &access,
        None,
    )
    .await;
    assert_eq!(usernames(&staff), ["root@example.com"]);
    let members = call(
        &app,
        Method::GET,
        &format!("/auth/users/?group={group}"),
        &access,
        None,
    )
    .await;
    assert_eq!(usernames(&members), ["member003", "member004"]);
    let ordered = call(
        &app,
        Method::GET,
        "/auth/users/?ordering=-username&page_size=3",
        &access,
        None,
    )
    .await;
    assert_eq!(
        usernames(&ordered),
        ["root@example.com", "member020", "member019"]
    );
    let ignored = call(
        &app,
        Method::GET,
        "/auth/users/?ordering=password&page_size=2",
        &access,
        None,
    )
    .await;
    assert_eq!(ignored.status, StatusCode::OK);
    let unordered = call(&app, Method::GET, "/auth/users/?page_size=2", &access, None).await;
    assert_eq!(
        usernames(&ignored),
        usernames(&unordered),
        "unknown ordering fields are ignored"
    );
    let bad = call(
        &app,
        Method::GET,
        "/auth/users/?is_active=maybe&group=editors",
        &access,
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.body,
        json!({
            "is_active": ["Select a valid choice. maybe is not one of the available choices."],
            "group": ["Select a valid choice. That choice is not one of the available choices."],
        })
    );
}

#[tokio::test]
async fn anonymous_callers_get_401_and_non_admins_403() {
    let app = spawn_app().await;
    let (_, plain, _) = app.signed_in_user("plain@example.com").await;
    let (_, no_perm_staff) = staff_with(&app, "staff@example.com", &[]).await;
    let (_, all_but_staff) = {
        let id = app.register("notstaff@example.com").await["id"]
            .as_i64()
            .unwrap();
        app.db
            .execute(&format!(
                "INSERT INTO user_permissions SELECT {id}, id FROM permissions"
            ))
            .await;
        (id, app.login("notstaff@example.com").await.0)
    };
    let anonymous = app.get("/auth/users/", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    for access in [&plain, &no_perm_staff, &all_but_staff] {
        for (method, path) in [
            (Method::GET, "/auth/users/"),
            (Method::POST, "/auth/users/"),
            (Method::GET, "/auth/users/1/"),
            (Method::PATCH, "/auth/users/1/"),
            (Method::DELETE, "/auth/users/999/"),
            (Method::POST, "/auth/users/1/set-password/"),
            (Method::POST, "/auth/users/1/logout/"),
        ] {
            let reply = call(&app, method.clone(), path, access, Some(json!({}))).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert_eq!(
                reply.body,
                json!({ "detail": "You do not have permission to perform this action." })
            );
        }
    }
}

#[tokio::test]
async fn each_action_needs_its_model_permission() {
    let app = spawn_app().await;
    let (_, viewer) = staff_with(&app, "viewer@example.com", &["auth.view_user"]).await;
    let target = app.register("target@example.com").await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        call(&app, Method::GET, "/auth/users/", &viewer, None)
            .await
            .status,
        StatusCode::OK
    );
    let one = call(
        &app,
        Method::GET,
        &format!("/auth/users/{target}/"),
        &viewer,
        None,
    )
    .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["email"], "target@example.com");
    let create = json!({ "username": "new", "email": "new@example.com" });
    assert_eq!(
        call(&app, Method::POST, "/auth/users/", &viewer, Some(create))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let patch = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{target}/"),
        &viewer,
        Some(json!({ "first_name": "X" })),
    )
    .await;
    assert_eq!(patch.status, StatusCode::FORBIDDEN);
    let delete = call(
        &app,
        Method::DELETE,
        &format!("/auth/users/{target}/"),
        &viewer,
        None,
    )
    .await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    let unknown = call(&app, Method::GET, "/auth/users/999999/", &viewer, None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, json!({ "detail": "Not found." }));
    assert_eq!(
        call(&app, Method::GET, "/auth/users/abc/", &viewer, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_superuser_creates_a_user_who_can_log_in_with_his_groups_and_permissions() {
    let app = spawn_app().await;
    let (_, access) = superuser(&app, "root@example.com").await;
    app.db
        .execute("INSERT INTO groups (name) VALUES ('support')")
        .await;
    let body = json!({
        "username": "newbie", "email": "Newbie@Example.com", "password": PASSWORD,
        "first_name": "New", "is_staff": true, "groups": ["support"], "user_permissions": ["auth.view_user"],
    });

    let reply = call(&app, Method::POST, "/auth/users/", &access, Some(body)).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["email"], "Newbie@example.com");
    assert_eq!(reply.body["groups"], json!(["support"]));
    assert_eq!(reply.body["user_permissions"], json!(["auth.view_user"]));
    assert!(reply.body.get("password").is_none());
    let (newbie, _) = app.login("newbie@example.com").await;
    assert_eq!(claims(&newbie)["groups"], json!(["support"]));
    assert_eq!(claims(&newbie)["permissions"], json!(["auth.view_user"]));
    let no_password = json!({ "username": "nopass", "email": "nopass@example.com" });
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/auth/users/",
            &access,
            Some(no_password)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let login = app
        .post(
            "/auth/token/",
            json!({ "username": "nopass", "password": "" }),
        )
        .await;
    assert_eq!(login.status, StatusCode::BAD_REQUEST, "blank password");
    let login = app
        .post(
            "/auth/token/",
            json!({ "username": "nopass", "password": "!" }),
        )
        .await;
    assert_eq!(
        login.status,
        StatusCode::UNAUTHORIZED,
        "an unusable password matches nothing"
    );
}

#[tokio::test]
async fn create_validates_like_the_serializer() {
    let app = spawn_app().await;
    let (_, access) = superuser(&app, "root@example.com").await;
    let missing = call(&app, Method::POST, "/auth/users/", &access, Some(json!({}))).await;
    assert_eq!(
        missing.body,
        json!({ "username": ["This field is required."], "email": ["This field is required."] })
    );
    let bad = json!({
        "username": "a b", "email": "root@EXAMPLE.com", "groups": ["ghosts"], "user_permissions": ["auth.fly"],
        "is_staff": "perhaps",
    });
    let reply = call(&app, Method::POST, "/auth/users/", &access, Some(bad)).await;
    assert_eq!(
        reply.body,
        json!({ "is_staff": ["Must be a valid boolean."] })
    );
    let bad = json!({ "username": "ok", "email": "ok@example.com", "groups": ["ghosts"] });
    let reply = call(&app, Method::POST, "/auth/users/", &access, Some(bad)).await;
    assert_eq!(
        reply.body,
        json!({ "groups": ["Object with name=ghosts does not exist."] })
    );
    let bad =
        json!({ "username": "ok", "email": "ok@example.com", "user_permissions": ["auth.fly"] });
    let reply = call(&app, Method::POST, "/auth/users/", &access, Some(bad)).await;
    assert_eq!(
        reply.body,
        json!({ "user_permissions": ["Object with codename=auth.fly does not exist."] })
    );
    let taken = json!({ "username": "ok", "email": "ROOT@example.com" });
    let reply = call(&app, Method::POST, "/auth/users/", &access, Some(taken)).await;
    assert_eq!(
        reply.body,
        json!({ "email": ["user with this email already exists."] })
    );
    let weak = json!({ "username": "ok", "email": "ok@example.com", "password": "123" });
    let reply = call(&app, Method::POST, "/auth/users/", &access, Some(weak)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        json!({ "password": [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric.",
        ] })
    );
    assert_eq!(
        app.db.scalar("SELECT count(*) AS value FROM users").await,
        1,
        "nothing was created"
    );
}

#[tokio::test]
async fn a_staff_user_cannot_climb_past_his_rights() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let (_, staff) = staff_with(
        &app,
        "staff@example.com",
        &["auth.view_user", "auth.add_user", "auth.change_user"],
    )
    .await;
    let root_id = app
        .db
        .scalar("SELECT id AS value FROM users WHERE email = 'root@example.com'")
        .await;
    let target = app.register("target@example.com").await["id"]
        .as_i64()
        .unwrap();
    app.db
        .execute("INSERT INTO groups (name) VALUES ('powerful'), ('viewers')")
        .await;
    app.db
        .execute(
            "INSERT INTO group_permissions SELECT g.id, p.id FROM groups g, permissions p \
             WHERE (g.name = 'powerful' AND p.codename = 'delete_user') OR (g.name = 'viewers' AND p.codename = 'view_user')",
        )
        .await;
    let forbidden = [
        (
            Method::POST,
            "/auth/users/".to_owned(),
            json!({ "username": "s", "email": "s@example.com", "is_superuser": true }),
        ),
        (
            Method::POST,
            "/auth/users/".to_owned(),
            json!({ "username": "p", "email": "p@example.com", "user_permissions": ["auth.delete_user"] }),
        ),
        (
            Method::PATCH,
            format!("/auth/users/{target}/"),
            json!({ "is_superuser": true }),
        ),
        (
            Method::PATCH,
            format!("/auth/users/{target}/"),
            json!({ "user_permissions": ["auth.delete_group"] }),
        ),
        (
            Method::PATCH,
            format!("/auth/users/{target}/"),
            json!({ "groups": ["powerful"] }),
        ),
        (
            Method::PATCH,
            format!("/auth/users/{root_id}/"),
            json!({ "first_name": "Pwned" }),
        ),
        (
            Method::PUT,
            format!("/auth/users/{root_id}/"),
            json!({ "username": "root", "email": "root@example.com", "is_active": false }),
        ),
        (
            Method::POST,
            format!("/auth/users/{root_id}/set-password/"),
            json!({ "password": "attacker passphrase" }),
        ),
        (
            Method::POST,
            format!("/auth/users/{root_id}/logout/"),
            json!({}),
        ),
    ];
    for (method, path, body) in forbidden {
        let reply = call(&app, method.clone(), &path, &staff, Some(body.clone())).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {path} {body}"
        );
    }
    let root_row = "SELECT count(*) AS value FROM users WHERE email = 'root@example.com' AND first_name = '' AND is_superuser AND is_active";
    assert_eq!(
        app.db.scalar(root_row).await,
        1,
        "the superuser is untouched"
    );
    let target_rights = format!(
        "SELECT (SELECT count(*) FROM users WHERE id = {target} AND is_superuser) \
         + (SELECT count(*) FROM user_permissions WHERE user_id = {target}) \
         + (SELECT count(*) FROM user_groups WHERE user_id = {target}) AS value"
    );
    assert_eq!(
        app.db.scalar(&target_rights).await,
        0,
        "the target gained nothing"
    );
    assert_eq!(
        call(&app, Method::GET, "/auth/users/", &root, None)
            .await
            .body["count"],
        3
    );
    let allowed = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{target}/"),
        &staff,
        Some(json!({ "groups": ["viewers"], "user_permissions": ["auth.view_user"], "is_staff": true })),
    )
    .await;
    assert_eq!(
        allowed.status,
        StatusCode::OK,
        "granting what one holds is fine: {}",
        allowed.text
    );
    assert_eq!(allowed.body["groups"], json!(["viewers"]));
}

#[tokio::test]
async fn nobody_deletes_or_deactivates_himself() {
    let app = spawn_app().await;
    let (id, access) = superuser(&app, "root@example.com").await;
    let deactivate = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{id}/"),
        &access,
        Some(json!({ "is_active": false })),
    )
    .await;
    assert_eq!(deactivate.status, StatusCode::FORBIDDEN);
    let delete = call(
        &app,
        Method::DELETE,
        &format!("/auth/users/{id}/"),
        &access,
        None,
    )
    .await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    let himself = format!("SELECT count(*) AS value FROM users WHERE id = {id} AND is_active");
    assert_eq!(
        app.db.scalar(&himself).await,
        1,
        "still there, still active"
    );
    let rename = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{id}/"),
        &access,
        Some(json!({ "first_name": "Me" })),
    )
    .await;
    assert_eq!(
        rename.status,
        StatusCode::OK,
        "other edits of oneself are fine"
    );
}

#[tokio::test]
async fn deactivating_or_deleting_a_user_refuses_his_tokens_at_once() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let (bob, bob_access, bob_refresh) = app.signed_in_user("bob@example.com").await;
    let (carl, carl_access, _) = app.signed_in_user("carl@example.com").await;

    let reply = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{bob}/"),
        &root,
        Some(json!({ "is_active": false })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["is_active"], false);
    let me = app.me(&bob_access).await;
    assert_eq!(
        me.body,
        json!({ "detail": "User is inactive", "code": "user_inactive" })
    );
    assert_token_not_valid(&app.refresh(&bob_refresh).await, "Token is blacklisted");

    let reply = call(
        &app,
        Method::DELETE,
        &format!("/auth/users/{carl}/"),
        &root,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let me = app.me(&carl_access).await;
    assert_eq!(
        me.body,
        json!({ "detail": "User not found", "code": "user_not_found" })
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/auth/users/{carl}/"),
            &root,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn set_password_and_logout_end_the_users_sessions() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let (dora, _, dora_refresh) = app.signed_in_user("dora@example.com").await;

    let weak = call(
        &app,
        Method::POST,
        &format!("/auth/users/{dora}/set-password/"),
        &root,
        Some(json!({ "new_password": "123" })),
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        weak.body,
        json!({ "new_password": [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric.",
        ] })
    );
    let set = call(
        &app,
        Method::POST,
        &format!("/auth/users/{dora}/set-password/"),
        &root,
        Some(json!({ "password": "a fresh admin-set passphrase" })),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_token_not_valid(&app.refresh(&dora_refresh).await, "Token is blacklisted");
    let old = app
        .post(
            "/auth/token/",
            json!({ "email": "dora@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = app
        .post(
            "/auth/token/",
            json!({ "email": "dora@example.com", "password": "a fresh admin-set passphrase" }),
        )
        .await;
    assert_eq!(new.status, StatusCode::OK);
    let notified =
        "SELECT count(*) AS value FROM email_outbox WHERE recipient = 'dora@example.com'";
    assert_eq!(
        app.db.scalar(notified).await,
        1,
        "she is told her password changed"
    );

    let refresh = str_of(&new.body, "refresh");
    let logout = call(
        &app,
        Method::POST,
        &format!("/auth/users/{dora}/logout/"),
        &root,
        None,
    )
    .await;
    assert_eq!(logout.status, StatusCode::RESET_CONTENT);
    assert_token_not_valid(&app.refresh(&refresh).await, "Token is blacklisted");
    assert_eq!(
        app.me(&root).await.status,
        StatusCode::OK,
        "the admin's own session lives"
    );
}

#[tokio::test]
async fn group_and_permission_changes_show_in_claims_at_the_next_refresh() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let (eve, access, refresh) = app.signed_in_user("eve@example.com").await;
    app.db
        .execute("INSERT INTO groups (name) VALUES ('auditors')")
        .await;
    assert_eq!(claims(&access)["groups"], json!([]));

    let patch = json!({ "groups": ["auditors"], "user_permissions": ["auth.view_auditevent"] });
    let reply = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{eve}/"),
        &root,
        Some(patch),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    let renewed = str_of(&app.refresh(&refresh).await.body, "access");
    assert_eq!(claims(&renewed)["groups"], json!(["auditors"]));
    assert_eq!(
        claims(&renewed)["permissions"],
        json!(["auth.view_auditevent"])
    );
}

#[tokio::test]
async fn put_requires_username_and_email_and_patch_changes_only_what_is_sent() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let fay = app.register("fay@example.com").await["id"]
        .as_i64()
        .unwrap();
    let put = call(
        &app,
        Method::PUT,
        &format!("/auth/users/{fay}/"),
        &root,
        Some(json!({ "first_name": "Fay" })),
    )
    .await;
    assert_eq!(
        put.body,
        json!({ "username": ["This field is required."], "email": ["This field is required."] })
    );
    let patch = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{fay}/"),
        &root,
        Some(json!({ "last_name": "Ray", "email": "fay.ray@example.com" })),
    )
    .await;
    assert_eq!(patch.status, StatusCode::OK);
    assert_eq!(patch.body["last_name"], "Ray");
    assert_eq!(patch.body["email"], "fay.ray@example.com");
    assert_eq!(patch.body["username"], "fay@example.com", "untouched");
    let taken = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{fay}/"),
        &root,
        Some(json!({ "username": "root@example.com" })),
    )
    .await;
    assert_eq!(
        taken.body,
        json!({ "username": ["A user with that username already exists."] })
    );
}

/// The counts that say whether an account was touched: its password hash, email,
/// username, flags, groups, grants and live sessions, as one string.
async fn account_state(app: &TestApp, id: i64) -> String {
    app.db
        .text(&format!(
            "SELECT password || '|' || email || '|' || username || '|' || is_active || '|' || is_staff \
             || '|' || (SELECT count(*) FROM user_groups WHERE user_id = {id}) \
             || '|' || (SELECT count(*) FROM user_permissions WHERE user_id = {id}) \
             || '|' || (SELECT count(*) FROM refresh_tokens WHERE user_id = {id} AND revoked_at IS NULL) \
             AS value FROM users WHERE id = {id}"
        ))
        .await
        .expect("the account exists")
}

#[tokio::test]
async fn a_staff_user_cannot_take_over_a_stronger_staff_account() {
    let app = spawn_app().await;
    let user_admin = [
        "auth.view_user",
        "auth.change_user",
        "auth.delete_user",
        "auth.view_group",
    ];
    let (_, mallory) = staff_with(&app, "mallory@example.com", &user_admin).await;
    // Stronger directly, and stronger only through a group.
    let (direct, _) = staff_with(
        &app,
        "direct@example.com",
        &["auth.view_user", "auth.add_group"],
    )
    .await;
    let (grouped, _) = staff_with(&app, "grouped@example.com", &["auth.view_user"]).await;
    app.db
        .execute("INSERT INTO groups (name) VALUES ('auditors')")
        .await;
    app.db
        .execute(
            "INSERT INTO group_permissions SELECT g.id, p.id FROM groups g, permissions p \
             WHERE g.name = 'auditors' AND p.codename = 'view_auditevent'",
        )
        .await;
    app.db
        .execute(&format!(
            "INSERT INTO user_groups SELECT {grouped}, id FROM groups WHERE name = 'auditors'"
        ))
        .await;
    for victim in [direct, grouped] {
        // A live session, to see that the logout is refused too.
        let email = format!(
            "{}@example.com",
            if victim == direct {
                "direct"
            } else {
                "grouped"
            }
        );
        app.login(&email).await;
        let before = account_state(&app, victim).await;
        let user = format!("/auth/users/{victim}/");
        let attempts = [
            (
                Method::POST,
                format!("{user}set-password/"),
                json!({ "password": "attacker passphrase 1" }),
            ),
            (
                Method::PATCH,
                user.clone(),
                json!({ "email": "mallory+owned@example.com" }),
            ),
            (Method::PATCH, user.clone(), json!({ "username": "owned" })),
            (Method::PATCH, user.clone(), json!({ "is_active": false })),
            (Method::PATCH, user.clone(), json!({ "is_staff": false })),
            (Method::PATCH, user.clone(), json!({ "groups": [] })),
            (
                Method::PATCH,
                user.clone(),
                json!({ "user_permissions": [] }),
            ),
            (
                Method::PUT,
                user.clone(),
                json!({ "username": "owned", "email": email }),
            ),
            (Method::POST, format!("{user}logout/"), json!({})),
            (Method::DELETE, user.clone(), json!({})),
        ];
        for (method, path, body) in attempts {
            let reply = call(&app, method.clone(), &path, &mallory, Some(body.clone())).await;
            assert_eq!(
                (reply.status, &reply.body),
                (
                    StatusCode::FORBIDDEN,
                    &json!({ "detail": "You do not have permission to perform this action." })
                ),
                "{method} {path} {body}"
            );
        }
        assert_eq!(
            account_state(&app, victim).await,
            before,
            "nothing about {email} changed"
        );
        let rename = call(
            &app,
            Method::PATCH,
            &user,
            &mallory,
            Some(json!({ "first_name": "Renamed" })),
        )
        .await;
        assert_eq!(
            rename.status,
            StatusCode::OK,
            "names reach no credential: {}",
            rename.text
        );
    }

    // Managing users within his rights keeps working.
    let (plain, _, plain_refresh) = app.signed_in_user("plain@example.com").await;
    let (peer, _) = staff_with(&app, "peer@example.com", &["auth.view_user"]).await;
    for (method, path, body, status) in [
        (
            Method::POST,
            format!("/auth/users/{plain}/set-password/"),
            json!({ "password": "a brand new passphrase" }),
            StatusCode::OK,
        ),
        (
            Method::PATCH,
            format!("/auth/users/{plain}/"),
            json!({ "email": "plain2@example.com", "user_permissions": ["auth.view_user"] }),
            StatusCode::OK,
        ),
        (
            Method::PATCH,
            format!("/auth/users/{peer}/"),
            json!({ "is_active": false }),
            StatusCode::OK,
        ),
        (
            Method::POST,
            format!("/auth/users/{plain}/logout/"),
            json!({}),
            StatusCode::RESET_CONTENT,
        ),
        (
            Method::DELETE,
            format!("/auth/users/{peer}/"),
            json!({}),
            StatusCode::NO_CONTENT,
        ),
    ] {
        let reply = call(&app, method.clone(), &path, &mallory, Some(body)).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text);
    }
    assert_token_not_valid(&app.refresh(&plain_refresh).await, "Token is blacklisted");
}

#[tokio::test]
async fn changing_a_users_email_kills_the_reset_and_activation_links_sent_to_the_old_one() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let dora = app.register("dora@example.com").await["id"]
        .as_i64()
        .unwrap();
    let before = mail.received().len();
    app.post(
        "/auth/reset-password/",
        json!({ "email": "dora@example.com" }),
    )
    .await;
    let link = link_token(&mail.wait_for(before + 1, WAIT).await[before]);

    let unchanged = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{dora}/"),
        &root,
        Some(json!({ "email": "dora@example.com", "first_name": "Dora" })),
    )
    .await;
    assert_eq!(unchanged.status, StatusCode::OK, "{}", unchanged.text);
    let live = "SELECT count(*) AS value FROM one_time_tokens WHERE used_at IS NULL";
    assert_eq!(
        app.db.scalar(live).await,
        1,
        "the same address: the link lives"
    );

    let moved = call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{dora}/"),
        &root,
        Some(json!({ "email": "dora@new.example.com" })),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let reply = app
        .post(
            &format!("/auth/reset-password/{link}/"),
            json!({ "password": "taken over passphrase" }),
        )
        .await;
    assert_eq!(
        (reply.status, reply.body),
        (
            StatusCode::BAD_REQUEST,
            json!({ "detail": "Invalid token." })
        )
    );
    assert_eq!(app.db.scalar(live).await, 0);
}

/// The first page of the user list, ten to a page, asked with these extra headers.
async fn first_page_with(app: &TestApp, access: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = app
        .client
        .get(app.url("/auth/users/?page_size=10"))
        .bearer_auth(access);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply = Reply::read(request.send().await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply
}

const FORWARDED: [(&str, &str); 2] = [
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "https"),
];

#[tokio::test]
async fn page_links_ignore_forwarded_host_and_proto_from_an_untrusted_peer() {
    let app = spawn_app().await;
    assert!(app.settings.throttle.rates.trusted_proxies.is_empty());
    let (_, access) = superuser(&app, "root@example.com").await;
    seed_users(&app, 24).await;

    let page = first_page_with(&app, &access, &FORWARDED).await;

    assert_eq!(
        page.body["next"],
        json!(format!("{}/auth/users/?page_size=10&page=2", app.address)),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn page_links_follow_forwarded_host_and_proto_from_a_trusted_proxy() {
    let app = spawn_app_with(|s| {
        s.throttle.rates.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let (_, access) = superuser(&app, "root@example.com").await;
    seed_users(&app, 24).await;

    let page = first_page_with(&app, &access, &FORWARDED).await;

    assert_eq!(
        page.body["next"],
        json!("https://evil.example/auth/users/?page_size=10&page=2"),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn page_links_start_with_the_configured_public_url_whoever_asks() {
    let app = spawn_app_with(|s| {
        s.server.public_url = Some("https://auth.example.com/".to_owned());
        s.throttle.rates.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let (_, access) = superuser(&app, "root@example.com").await;
    seed_users(&app, 24).await;

    for headers in [&FORWARDED[..], &[("Host", "other.example")]] {
        let page = first_page_with(&app, &access, headers).await;
        assert_eq!(
            page.body["next"],
            json!("https://auth.example.com/auth/users/?page_size=10&page=2"),
            "{}",
            page.text
        );
    }
}
