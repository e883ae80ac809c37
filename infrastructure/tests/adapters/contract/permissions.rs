//! `PermissionRepository`: the list by app label and codename, creation and its clash,
//! and deletion with the grants that go with it.

use domain::AuditKind;
use domain::admin::{NewPermission, Permission, UserPatch};
use domain::authorization::Authority;
use domain::ports::{
    CreatePermissionError, GroupRepository, PermissionRepository, UserAdminRepository,
    UserRepository,
};

use super::{Harness, codes, event, t0, trail, user};

contract!(
    permissions_are_listed_by_app_label_then_codename_in_code_point_order,
    a_created_permission_reads_back_and_its_creation_records_its_id,
    a_duplicate_permission_is_refused_and_nothing_is_written,
    deleting_a_permission_drops_its_grants_to_groups_and_users,
);

fn new(app_label: &str, codename: &str) -> NewPermission {
    NewPermission {
        name: format!("Can {codename}"),
        app_label: app_label.to_owned(),
        codename: codename.to_owned(),
    }
}

async fn create<H: Harness>(h: &H, app_label: &str, codename: &str) -> Permission {
    h.permissions()
        .create(
            new(app_label, codename),
            event(AuditKind::PermissionCreated),
        )
        .await
        .expect("the permission is created")
}

async fn permissions_are_listed_by_app_label_then_codename_in_code_point_order<H: Harness>() {
    let h = H::start().await;
    for (app_label, codename) in [
        ("blog", "publish"),
        ("Blog", "edit"),
        ("blog", "Archive"),
        ("_app", "x"),
    ] {
        create(&h, app_label, codename).await;
    }

    let all = h.permissions().list(0, 100).await.unwrap();
    let page = h.permissions().list(2, 3).await.unwrap();
    let beyond = h.permissions().list(100, 3).await.unwrap();

    let listed: Vec<String> = all.items.iter().map(Permission::code).collect();
    assert_eq!(all.count, 17);
    assert_eq!(listed[..2], codes(&["Blog.edit", "_app.x"]));
    assert_eq!(listed[2], "auth.add_group");
    assert_eq!(listed[15..], codes(&["blog.Archive", "blog.publish"]));
    let mut sorted = all.items.clone();
    sorted.sort_by(|a, b| (&a.app_label, &a.codename).cmp(&(&b.app_label, &b.codename)));
    assert_eq!(all.items, sorted);
    assert_eq!((page.items, page.count), (all.items[2..5].to_vec(), 17));
    assert_eq!((beyond.items, beyond.count), (vec![], 17));
}

async fn a_created_permission_reads_back_and_its_creation_records_its_id<H: Harness>() {
    let h = H::start().await;

    let created = h
        .permissions()
        .create(
            NewPermission {
                name: "Can publish a post".to_owned(),
                app_label: "blog".to_owned(),
                codename: "publish_post".to_owned(),
            },
            event(AuditKind::PermissionCreated),
        )
        .await
        .unwrap();

    assert_eq!(created.name, "Can publish a post");
    assert_eq!(created.code(), "blog.publish_post");
    assert_eq!(
        h.permissions().get(created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(h.permissions().get(created.id + 100).await.unwrap(), None);
    assert_eq!(
        trail(&h).await,
        [event(AuditKind::PermissionCreated).detail("id", created.id)]
    );
}

async fn a_duplicate_permission_is_refused_and_nothing_is_written<H: Harness>() {
    let h = H::start().await;
    create(&h, "blog", "publish").await;

    let seeded = h
        .permissions()
        .create(
            new("auth", "view_user"),
            event(AuditKind::PermissionCreated),
        )
        .await;
    let custom = h
        .permissions()
        .create(
            NewPermission {
                name: "Another name".to_owned(),
                ..new("blog", "publish")
            },
            event(AuditKind::PermissionCreated),
        )
        .await;

    assert!(
        matches!(seeded, Err(CreatePermissionError::Duplicate)),
        "{seeded:?}"
    );
    assert!(
        matches!(custom, Err(CreatePermissionError::Duplicate)),
        "{custom:?}"
    );
    assert_eq!(h.permissions().list(0, 100).await.unwrap().count, 14);
    assert_eq!(trail(&h).await.len(), 1);
    let other_case = h
        .permissions()
        .create(new("blog", "Publish"), event(AuditKind::PermissionCreated))
        .await;
    assert!(
        other_case.is_ok(),
        "another case is another codename: {other_case:?}"
    );
}

async fn deleting_a_permission_drops_its_grants_to_groups_and_users<H: Harness>() {
    let h = H::start().await;
    let publish = create(&h, "blog", "publish").await;
    let editors = h
        .groups()
        .create(
            "editors".to_owned(),
            codes(&["blog.publish", "auth.view_user"]),
            event(AuditKind::GroupCreated),
        )
        .await
        .unwrap();
    let (alice, bob) = (user(&h, "alice").await, user(&h, "bob").await);
    for (someone, patch) in [
        (
            alice.id,
            UserPatch {
                user_permissions: Some(codes(&["blog.publish"])),
                ..UserPatch::default()
            },
        ),
        (
            bob.id,
            UserPatch {
                groups: Some(codes(&["editors"])),
                ..UserPatch::default()
            },
        ),
    ] {
        h.user_admin()
            .update(
                someone,
                patch,
                &Authority::Superuser,
                t0(),
                event(AuditKind::UserUpdated),
            )
            .await
            .unwrap();
    }

    let deleted = h
        .permissions()
        .delete(publish.id, event(AuditKind::PermissionDeleted))
        .await
        .unwrap();
    let again = h
        .permissions()
        .delete(publish.id, event(AuditKind::PermissionDeleted))
        .await
        .unwrap();

    assert!(deleted && !again);
    assert_eq!(h.permissions().get(publish.id).await.unwrap(), None);
    let group = h.groups().get(editors.id).await.unwrap().unwrap();
    assert_eq!(group.permissions, ["auth.view_user"]);
    let direct = h.user_admin().get(alice.id).await.unwrap().unwrap();
    assert_eq!(direct.user_permissions, Vec::<String>::new());
    assert_eq!(direct.profile.permissions, Vec::<String>::new());
    let through_group = h.users().profile(bob.id).await.unwrap().unwrap();
    assert_eq!(through_group.permissions, ["auth.view_user"]);
    let deletions: Vec<_> = trail(&h)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::PermissionDeleted)
        .collect();
    assert_eq!(
        deletions,
        [event(AuditKind::PermissionDeleted).detail("permission", "blog.publish")]
    );
}
