//! `GroupRepository`: the list by name, creation and renaming with their clashes,
//! unknown permissions, the grant check against the stored group, and deletion.

use domain::AuditKind;
use domain::admin::{Group, GroupChanges, UserPatch};
use domain::authorization::Authority;
use domain::ports::CreateGroupError;
use domain::ports::{GroupRepository, UpdateGroupError, UserAdminRepository, UserRepository};

use super::{Harness, codes, event, t0, trail, user};

contract!(
    groups_are_listed_by_name_in_code_point_order_with_their_permissions,
    a_created_group_reads_back_and_its_creation_records_its_id,
    a_duplicate_name_is_refused_on_creation_and_on_renaming,
    unknown_permissions_are_refused_naming_only_the_unknown_and_nothing_is_written,
    an_update_renames_and_replaces_permissions_and_members_follow,
    updating_a_missing_group_is_none_and_records_nothing,
    a_group_may_keep_what_it_has_and_gain_only_what_the_caller_may_grant,
    the_grant_is_judged_against_the_group_as_stored_not_as_last_read,
    deleting_a_group_takes_its_permissions_from_its_members,
);

async fn create<H: Harness>(h: &H, name: &str, permissions: &[&str]) -> Group {
    h.groups()
        .create(
            name.to_owned(),
            codes(permissions),
            event(AuditKind::GroupCreated),
        )
        .await
        .expect("the group is created")
}

fn rename(name: &str) -> GroupChanges {
    GroupChanges {
        name: Some(name.to_owned()),
        permissions: None,
    }
}

fn replace(permissions: &[&str]) -> GroupChanges {
    GroupChanges {
        name: None,
        permissions: Some(codes(permissions)),
    }
}

async fn groups_are_listed_by_name_in_code_point_order_with_their_permissions<H: Harness>() {
    let h = H::start().await;
    for (name, permissions) in [
        ("editors", &["auth.view_user", "auth.change_user"][..]),
        ("Admins", &[][..]),
        ("_ops", &["auth.view_group"][..]),
        ("Éditeurs", &[][..]),
        ("admins", &[][..]),
    ] {
        create(&h, name, permissions).await;
    }

    let all = h.groups().list(0, 10).await.unwrap();
    let middle = h.groups().list(1, 2).await.unwrap();
    let beyond = h.groups().list(10, 2).await.unwrap();

    let names = |groups: &[Group]| groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&all.items),
        ["Admins", "_ops", "admins", "editors", "Éditeurs"]
    );
    assert_eq!(all.count, 5);
    assert_eq!(
        all.items[3].permissions,
        ["auth.change_user", "auth.view_user"],
        "sorted"
    );
    assert_eq!(
        (names(&middle.items), middle.count),
        (codes(&["_ops", "admins"]), 5)
    );
    assert_eq!((beyond.items, beyond.count), (vec![], 5));
}

async fn a_created_group_reads_back_and_its_creation_records_its_id<H: Harness>() {
    let h = H::start().await;

    let created = h
        .groups()
        .create(
            "editors".to_owned(),
            codes(&["auth.view_user", "auth.add_user"]),
            event(AuditKind::GroupCreated),
        )
        .await
        .unwrap();

    assert_eq!(created.name, "editors");
    assert_eq!(created.permissions, ["auth.add_user", "auth.view_user"]);
    assert_eq!(
        h.groups().get(created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(h.groups().get(created.id + 100).await.unwrap(), None);
    assert_eq!(
        trail(&h).await,
        [event(AuditKind::GroupCreated).detail("id", created.id)]
    );
}

async fn a_duplicate_name_is_refused_on_creation_and_on_renaming<H: Harness>() {
    let h = H::start().await;
    create(&h, "editors", &[]).await;
    let other = create(&h, "writers", &["auth.view_user"]).await;
    let before = trail(&h).await;

    let created = h
        .groups()
        .create("editors".to_owned(), vec![], event(AuditKind::GroupCreated))
        .await;
    let renamed = h
        .groups()
        .update(
            other.id,
            GroupChanges {
                name: Some("editors".to_owned()),
                permissions: Some(vec![]),
            },
            &Authority::Superuser,
            event(AuditKind::GroupUpdated),
        )
        .await;

    assert!(
        matches!(created, Err(CreateGroupError::DuplicateName)),
        "{created:?}"
    );
    assert!(
        matches!(renamed, Err(UpdateGroupError::DuplicateName)),
        "{renamed:?}"
    );
    assert_eq!(h.groups().get(other.id).await.unwrap(), Some(other.clone()));
    assert_eq!(h.groups().list(0, 10).await.unwrap().count, 2);
    assert_eq!(trail(&h).await, before);
    let other_case = h
        .groups()
        .create("Editors".to_owned(), vec![], event(AuditKind::GroupCreated))
        .await;
    assert!(
        other_case.is_ok(),
        "another case is another name: {other_case:?}"
    );
    let same_name = h
        .groups()
        .update(
            other.id,
            rename("writers"),
            &Authority::Superuser,
            event(AuditKind::GroupUpdated),
        )
        .await;
    assert!(
        same_name.is_ok(),
        "its own name is not taken: {same_name:?}"
    );
}

async fn unknown_permissions_are_refused_naming_only_the_unknown_and_nothing_is_written<
    H: Harness,
>() {
    let h = H::start().await;
    let editors = create(&h, "editors", &["auth.view_user"]).await;
    let before = trail(&h).await;

    let created = h
        .groups()
        .create(
            "writers".to_owned(),
            codes(&["auth.fly", "auth.view_user", "Auth.view_user"]),
            event(AuditKind::GroupCreated),
        )
        .await;
    let updated = h
        .groups()
        .update(
            editors.id,
            GroupChanges {
                name: Some("renamed".to_owned()),
                permissions: Some(codes(&["auth.add_user", "auth.fly"])),
            },
            &Authority::Superuser,
            event(AuditKind::GroupUpdated),
        )
        .await;

    match created {
        Err(CreateGroupError::UnknownPermissions(unknown)) => {
            assert_eq!(unknown, ["auth.fly", "Auth.view_user"]);
        }
        other => panic!("{other:?}"),
    }
    match updated {
        Err(UpdateGroupError::UnknownPermissions(unknown)) => assert_eq!(unknown, ["auth.fly"]),
        other => panic!("{other:?}"),
    }
    let all = h.groups().list(0, 10).await.unwrap();
    assert_eq!(all.items, [editors]);
    assert_eq!(trail(&h).await, before);
}

async fn an_update_renames_and_replaces_permissions_and_members_follow<H: Harness>() {
    let h = H::start().await;
    let editors = create(&h, "editors", &["auth.view_user"]).await;
    let alice = user(&h, "alice").await;
    h.user_admin()
        .update(
            alice.id,
            UserPatch {
                groups: Some(codes(&["editors"])),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            t0(),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap();
    let audit = event(AuditKind::GroupUpdated).detail("id", editors.id);

    let renamed = h
        .groups()
        .update(
            editors.id,
            rename("writers"),
            &Authority::Superuser,
            audit.clone(),
        )
        .await
        .unwrap();
    let replaced = h
        .groups()
        .update(
            editors.id,
            replace(&["auth.add_user", "auth.change_user"]),
            &Authority::Superuser,
            audit.clone(),
        )
        .await
        .unwrap();

    assert_eq!(
        renamed,
        Some(Group {
            id: editors.id,
            name: "writers".to_owned(),
            permissions: codes(&["auth.view_user"]),
        })
    );
    let replaced = replaced.expect("the group exists");
    assert_eq!(replaced.name, "writers");
    assert_eq!(replaced.permissions, ["auth.add_user", "auth.change_user"]);
    assert_eq!(h.groups().get(editors.id).await.unwrap(), Some(replaced));
    let profile = h.users().profile(alice.id).await.unwrap().unwrap();
    assert_eq!(profile.groups, ["writers"]);
    assert_eq!(profile.permissions, ["auth.add_user", "auth.change_user"]);
    let updates = trail(&h).await.into_iter().filter(|e| *e == audit).count();
    assert_eq!(updates, 2);
}

async fn updating_a_missing_group_is_none_and_records_nothing<H: Harness>() {
    let h = H::start().await;
    let editors = create(&h, "editors", &[]).await;
    let before = trail(&h).await;

    let missing = h
        .groups()
        .update(
            editors.id + 100,
            GroupChanges {
                name: Some("editors".to_owned()),
                permissions: Some(codes(&["auth.fly"])),
            },
            &Authority::of(false, vec![]),
            event(AuditKind::GroupUpdated),
        )
        .await
        .unwrap();

    assert_eq!(missing, None);
    assert_eq!(trail(&h).await, before);
}

async fn a_group_may_keep_what_it_has_and_gain_only_what_the_caller_may_grant<H: Harness>() {
    let h = H::start().await;
    let editors = create(&h, "editors", &["auth.view_user", "auth.change_user"]).await;
    let grantable = Authority::of(false, codes(&["auth.add_user"]));
    let update = |changes: GroupChanges| {
        let groups = h.groups();
        let grantable = grantable.clone();
        async move {
            groups
                .update(
                    editors.id,
                    changes,
                    &grantable,
                    event(AuditKind::GroupUpdated),
                )
                .await
        }
    };

    let beyond = update(replace(&["auth.view_user", "auth.delete_user"])).await;
    assert!(
        matches!(beyond, Err(UpdateGroupError::BeyondGrant)),
        "{beyond:?}"
    );
    let unknown_beyond = update(replace(&["auth.fly"])).await;
    assert!(
        matches!(unknown_beyond, Err(UpdateGroupError::BeyondGrant)),
        "a name outside the grant is beyond it before it is unknown: {unknown_beyond:?}"
    );
    assert_eq!(
        h.groups().get(editors.id).await.unwrap(),
        Some(editors.clone())
    );
    assert_eq!(trail(&h).await.len(), 1, "the creation only");

    let kept_and_gained = update(replace(&["auth.change_user", "auth.add_user"]))
        .await
        .unwrap();
    assert_eq!(
        kept_and_gained.unwrap().permissions,
        ["auth.add_user", "auth.change_user"]
    );
    let dropped = update(replace(&[])).await.unwrap();
    assert_eq!(dropped.unwrap().permissions, Vec::<String>::new());
    let renamed = update(rename("writers")).await.unwrap();
    assert_eq!(renamed.unwrap().name, "writers");
}

async fn the_grant_is_judged_against_the_group_as_stored_not_as_last_read<H: Harness>() {
    let h = H::start().await;
    let editors = create(&h, "editors", &["auth.view_user", "auth.change_user"]).await;
    let read_by_staff = h.groups().get(editors.id).await.unwrap().unwrap();
    h.groups()
        .update(
            editors.id,
            replace(&["auth.view_user"]),
            &Authority::Superuser,
            event(AuditKind::GroupUpdated),
        )
        .await
        .unwrap();

    // Staff who may grant nothing sends back the group as he read it.
    let stale = h
        .groups()
        .update(
            editors.id,
            GroupChanges {
                name: None,
                permissions: Some(read_by_staff.permissions),
            },
            &Authority::of(false, vec![]),
            event(AuditKind::GroupUpdated),
        )
        .await;

    assert!(
        matches!(stale, Err(UpdateGroupError::BeyondGrant)),
        "{stale:?}"
    );
    let stored = h.groups().get(editors.id).await.unwrap().unwrap();
    assert_eq!(stored.permissions, ["auth.view_user"]);
}

async fn deleting_a_group_takes_its_permissions_from_its_members<H: Harness>() {
    let h = H::start().await;
    let editors = create(&h, "editors", &["auth.view_user", "auth.add_user"]).await;
    create(&h, "writers", &["auth.view_user"]).await;
    let alice = user(&h, "alice").await;
    h.user_admin()
        .update(
            alice.id,
            UserPatch {
                groups: Some(codes(&["editors", "writers"])),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            t0(),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap();

    let deleted = h
        .groups()
        .delete(editors.id, event(AuditKind::GroupDeleted))
        .await
        .unwrap();
    let again = h
        .groups()
        .delete(editors.id, event(AuditKind::GroupDeleted))
        .await
        .unwrap();

    assert!(deleted && !again);
    assert_eq!(h.groups().get(editors.id).await.unwrap(), None);
    let profile = h.users().profile(alice.id).await.unwrap().unwrap();
    assert_eq!(profile.groups, ["writers"]);
    assert_eq!(profile.permissions, ["auth.view_user"]);
    let deletions: Vec<_> = trail(&h)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::GroupDeleted)
        .collect();
    assert_eq!(
        deletions,
        [event(AuditKind::GroupDeleted).detail("name", "editors")]
    );
}
