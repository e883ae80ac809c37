//! Admin groups and permissions over HTTP, with their guards.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn groups_are_created_listed_edited_and_deleted_with_permission_strings() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;

    let created = call(
        &app,
        Method::POST,
        "/auth/groups/",
        &root,
        Some(json!({ "name": "editors", "permissions": ["auth.view_user", "auth.change_user"] })),
    )
    .await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["name"], "editors");
    assert_eq!(
        created.body["permissions"],
        json!(["auth.change_user", "auth.view_user"])
    );
    let id = created.body["id"].as_i64().unwrap();
    let listed = call(&app, Method::GET, "/auth/groups/", &root, None).await;
    assert_eq!(listed.body["count"], 1);
    assert_eq!(listed.body["results"][0], created.body);
    let renamed = call(
        &app,
        Method::PATCH,
        &format!("/auth/groups/{id}/"),
        &root,
        Some(json!({ "name": "writers" })),
    )
    .await;
    assert_eq!(renamed.body["name"], "writers");
    assert_eq!(
        renamed.body["permissions"], created.body["permissions"],
        "PATCH keeps what is not sent"
    );
    let replaced = call(
        &app,
        Method::PUT,
        &format!("/auth/groups/{id}/"),
        &root,
        Some(json!({ "name": "writers", "permissions": ["auth.view_group"] })),
    )
    .await;
    assert_eq!(replaced.body["permissions"], json!(["auth.view_group"]));
    let put_without_name = call(
        &app,
        Method::PUT,
        &format!("/auth/groups/{id}/"),
        &root,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        put_without_name.body,
        json!({ "name": ["This field is required."] })
    );
    let deleted = call(
        &app,
        Method::DELETE,
        &format!("/auth/groups/{id}/"),
        &root,
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/auth/groups/{id}/"),
            &root,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn group_validation_names_duplicates_and_unknown_permissions() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    call(
        &app,
        Method::POST,
        "/auth/groups/",
        &root,
        Some(json!({ "name": "ops" })),
    )
    .await;
    let taken = call(
        &app,
        Method::POST,
        "/auth/groups/",
        &root,
        Some(json!({ "name": "ops" })),
    )
    .await;
    assert_eq!(
        taken.body,
        json!({ "name": ["group with this name already exists."] })
    );
    let unknown = call(
        &app,
        Method::POST,
        "/auth/groups/",
        &root,
        Some(json!({ "name": "x", "permissions": ["auth.fly"] })),
    )
    .await;
    assert_eq!(
        unknown.body,
        json!({ "permissions": ["Object with codename=auth.fly does not exist."] })
    );
    let missing = call(
        &app,
        Method::POST,
        "/auth/groups/",
        &root,
        Some(json!({ "permissions": "auth.view_user" })),
    )
    .await;
    assert_eq!(missing.body, json!({ "name": ["This field is required."] }));
    let not_a_list = call(
        &app,
        Method::POST,
        "/auth/groups/",
        &root,
        Some(json!({ "name": "y", "permissions": 7 })),
    )
    .await;
    assert_eq!(
        not_a_list.body,
        json!({ "permissions": ["Expected a list of items but got type \"int\"."] })
    );
    // Found by schemathesis: a null character reached PostgreSQL (500).
    for (path, field) in [("/auth/groups/", "permissions"), ("/auth/users/", "groups")] {
        let nul = call(
            &app,
            Method::POST,
            path,
            &root,
            Some(json!({ "name": "z", "username": "z", "email": "z@example.com", field: ["a\u{0}b"] })),
        )
        .await;
        assert_eq!(nul.status, StatusCode::BAD_REQUEST, "{path}: {}", nul.text);
        assert_eq!(nul.body, json!({ field: ["Invalid value."] }), "{path}");
    }
    assert_eq!(
        app.db.scalar("SELECT count(*) AS value FROM groups").await,
        1
    );
}

#[tokio::test]
async fn a_staff_user_cannot_put_into_a_group_a_permission_he_lacks() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let (_, staff) = staff_with(
        &app,
        "staff@example.com",
        &["auth.add_group", "auth.change_group", "auth.view_user"],
    )
    .await;
    let group = call(
        &app,
        Method::POST,
        "/auth/groups/",
        &root,
        Some(json!({ "name": "admins", "permissions": ["auth.delete_user"] })),
    )
    .await;
    let id = group.body["id"].as_i64().unwrap();

    let create = call(
        &app,
        Method::POST,
        "/auth/groups/",
        &staff,
        Some(json!({ "name": "mine", "permissions": ["auth.delete_user"] })),
    )
    .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
    let add = call(
        &app,
        Method::PATCH,
        &format!("/auth/groups/{id}/"),
        &staff,
        Some(json!({ "permissions": ["auth.delete_user", "auth.add_user"] })),
    )
    .await;
    assert_eq!(add.status, StatusCode::FORBIDDEN);
    let unchanged = call(
        &app,
        Method::GET,
        &format!("/auth/groups/{id}/"),
        &root,
        None,
    )
    .await;
    assert_eq!(unchanged.body["permissions"], json!(["auth.delete_user"]));

    let own = call(
        &app,
        Method::POST,
        "/auth/groups/",
        &staff,
        Some(json!({ "name": "mine", "permissions": ["auth.view_user"] })),
    )
    .await;
    assert_eq!(
        own.status,
        StatusCode::CREATED,
        "granting what one holds is fine"
    );
    let keep_and_remove = call(
        &app,
        Method::PATCH,
        &format!("/auth/groups/{id}/"),
        &staff,
        Some(json!({ "permissions": ["auth.delete_user"] })),
    )
    .await;
    assert_eq!(
        keep_and_remove.status,
        StatusCode::OK,
        "keeping a permission he lacks is not granting it"
    );
    let remove = call(
        &app,
        Method::PATCH,
        &format!("/auth/groups/{id}/"),
        &staff,
        Some(json!({ "permissions": [] })),
    )
    .await;
    assert_eq!(remove.status, StatusCode::OK);
    assert_eq!(remove.body["permissions"], json!([]));
    let view = call(&app, Method::GET, "/auth/groups/", &staff, None).await;
    assert_eq!(view.status, StatusCode::FORBIDDEN, "no auth.view_group");
    let delete = call(
        &app,
        Method::DELETE,
        &format!("/auth/groups/{id}/"),
        &staff,
        None,
    )
    .await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN, "no auth.delete_group");
}

#[tokio::test]
async fn a_members_claims_follow_the_groups_permissions_at_his_next_refresh() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let (member, _, refresh) = app.signed_in_user("member@example.com").await;
    let group = call(
        &app,
        Method::POST,
        "/auth/groups/",
        &root,
        Some(json!({ "name": "viewers", "permissions": ["auth.view_user"] })),
    )
    .await;
    let id = group.body["id"].as_i64().unwrap();
    call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{member}/"),
        &root,
        Some(json!({ "groups": ["viewers"] })),
    )
    .await;
    call(
        &app,
        Method::PATCH,
        &format!("/auth/groups/{id}/"),
        &root,
        Some(json!({ "permissions": ["auth.view_user", "auth.view_group"] })),
    )
    .await;

    let first = app.refresh(&refresh).await;
    let access = str_of(&first.body, "access");
    assert_eq!(claims(&access)["groups"], json!(["viewers"]));
    assert_eq!(
        claims(&access)["permissions"],
        json!(["auth.view_group", "auth.view_user"])
    );

    call(
        &app,
        Method::DELETE,
        &format!("/auth/groups/{id}/"),
        &root,
        None,
    )
    .await;
    let second = app.refresh(&str_of(&first.body, "refresh")).await;
    let access = str_of(&second.body, "access");
    assert_eq!(claims(&access)["groups"], json!([]));
    assert_eq!(claims(&access)["permissions"], json!([]));
}

#[tokio::test]
async fn custom_permissions_are_created_listed_and_deleted() {
    let app = spawn_app().await;
    let (_, root) = superuser(&app, "root@example.com").await;
    let listed = call(
        &app,
        Method::GET,
        "/auth/permissions/?page_size=50",
        &root,
        None,
    )
    .await;
    assert_eq!(listed.body["count"], 13, "the seeded auth permissions");
    assert_eq!(
        listed.body["results"][0],
        json!({ "id": listed.body["results"][0]["id"], "name": "Can add group", "app_label": "auth", "codename": "add_group" })
    );

    let created = call(
        &app,
        Method::POST,
        "/auth/permissions/",
        &root,
        Some(json!({ "name": "Can publish", "app_label": "blog", "codename": "publish" })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    let again = call(
        &app,
        Method::POST,
        "/auth/permissions/",
        &root,
        Some(json!({ "name": "Dup", "app_label": "blog", "codename": "publish" })),
    )
    .await;
    assert_eq!(
        again.body,
        json!({ "non_field_errors": ["The fields app_label, codename must make a unique set."] })
    );
    let missing = call(
        &app,
        Method::POST,
        "/auth/permissions/",
        &root,
        Some(json!({ "name": "" })),
    )
    .await;
    assert_eq!(
        missing.body,
        json!({
            "name": ["This field may not be blank."],
            "app_label": ["This field is required."],
            "codename": ["This field is required."],
        })
    );
    let (writer, _, refresh) = app.signed_in_user("writer@example.com").await;
    call(
        &app,
        Method::PATCH,
        &format!("/auth/users/{writer}/"),
        &root,
        Some(json!({ "user_permissions": ["blog.publish"] })),
    )
    .await;
    let granted = app.refresh(&refresh).await;
    assert_eq!(
        claims(&str_of(&granted.body, "access"))["permissions"],
        json!(["blog.publish"]),
        "the grant is held before the permission goes"
    );
    let with = str_of(&granted.body, "refresh");
    let got = call(
        &app,
        Method::GET,
        &format!("/auth/permissions/{id}/"),
        &root,
        None,
    )
    .await;
    assert_eq!(got.body["codename"], "publish");

    let deleted = call(
        &app,
        Method::DELETE,
        &format!("/auth/permissions/{id}/"),
        &root,
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let access = str_of(&app.refresh(&with).await.body, "access");
    assert_eq!(
        claims(&access)["permissions"],
        json!([]),
        "the grant went with the permission"
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/auth/permissions/{id}/"),
            &root,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn permission_endpoints_need_their_model_permissions() {
    let app = spawn_app().await;
    let (_, viewer) = staff_with(&app, "viewer@example.com", &["auth.view_permission"]).await;
    let (_, plain, _) = app.signed_in_user("plain@example.com").await;
    assert_eq!(
        call(&app, Method::GET, "/auth/permissions/", &viewer, None)
            .await
            .status,
        StatusCode::OK
    );
    let create = json!({ "name": "n", "app_label": "a", "codename": "c" });
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/auth/permissions/",
            &viewer,
            Some(create.clone())
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, Method::DELETE, "/auth/permissions/1/", &viewer, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, Method::GET, "/auth/permissions/", &plain, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/auth/permissions/999999/",
            &viewer,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/auth/permissions/", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let put = call(
        &app,
        Method::PUT,
        "/auth/permissions/1/",
        &viewer,
        Some(create),
    )
    .await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.header("allow"), Some("GET, DELETE, HEAD, OPTIONS"));
}
