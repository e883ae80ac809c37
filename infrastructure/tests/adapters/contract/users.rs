//! `UserRepository`: creation and its clashes, the lookups, profiles with groups and
//! permissions, an access token's state, profile changes, logins and deletion.

use domain::admin::{NewPermission, UserPatch};
use domain::authorization::Authority;
use domain::ports::{
    ApiKeyRepository, CreateUserError, GroupRepository, OneTimeTokenRepository,
    PermissionRepository, Rehash, SessionRepository, UpdateUserError, UserAdminRepository,
    UserRepository,
};
use domain::{AuditKind, NewUser, ProfileChanges, RepositoryError, TokenPurpose, UserId, Username};
use uuid::Uuid;

use super::{
    Harness, Mail, OTHER_HASH, activation_link, add_key, at, codes, create, digest, event,
    first_token, key_owner, new_user, pending_user, reload, reset_link, start, t0, trail,
    trail_kinds, user,
};

contract!(
    a_created_user_reads_back_by_id_by_exact_username_and_by_email_in_any_case,
    a_duplicate_email_is_refused_whatever_its_case_and_nothing_is_written,
    a_duplicate_username_is_refused_but_another_case_is_another_user,
    a_user_clashing_on_both_username_and_email_is_refused_for_his_username,
    creating_with_an_activation_link_stores_its_token_and_queues_its_email,
    a_profile_holds_group_names_and_direct_and_group_permissions_sorted,
    a_superusers_profile_holds_every_permission_there_is,
    a_missing_user_has_no_profile_and_no_auth_state,
    auth_state_tells_whether_the_session_is_one_of_his_and_live,
    updating_a_missing_users_profile_is_not_found_and_records_nothing,
    a_profile_update_applies_the_given_fields_and_records_its_event,
    a_profile_update_to_a_taken_username_changes_nothing,
    an_empty_profile_change_writes_nothing,
    a_login_is_recorded_and_a_rehash_replaces_only_the_hash_it_was_verified_against,
    recording_a_login_of_a_missing_user_changes_nothing,
    deleting_a_user_takes_his_sessions_tokens_and_api_keys_and_keeps_the_trail,
    an_activation_token_whose_digest_is_taken_is_an_error_and_nothing_is_written,
);

async fn a_created_user_reads_back_by_id_by_exact_username_and_by_email_in_any_case<H: Harness>() {
    let h = H::start().await;
    let new = NewUser {
        first_name: "Alice".to_owned(),
        last_name: "Liddell".to_owned(),
        is_staff: true,
        ..new_user("Alice", "Alice.L@Example.com")
    };

    let created = h
        .users()
        .create(new, None, event(AuditKind::AccountRegistered))
        .await
        .unwrap();

    let alice = created.user;
    assert_eq!(alice.username.as_str(), "Alice");
    assert_eq!(alice.email.as_str(), "Alice.L@example.com");
    assert_eq!(
        (alice.first_name.as_str(), alice.last_name.as_str()),
        ("Alice", "Liddell")
    );
    assert!(alice.is_active && alice.is_staff && !alice.is_superuser);
    assert_eq!((alice.date_joined, alice.password_changed_at), (t0(), t0()));
    assert_eq!(alice.last_login, None);
    assert!(!alice.pending_activation);
    assert_eq!((created.groups, created.permissions), (vec![], vec![]));
    let users = h.users();
    assert_eq!(
        users.find_by_id(alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        users.find_by_username("Alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(users.find_by_username("alice").await.unwrap(), None);
    assert_eq!(
        users.find_by_email("ALICE.l@EXAMPLE.COM").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        users.find_by_email("alice@example.com").await.unwrap(),
        None
    );
    let recorded = trail(&h).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].kind, AuditKind::AccountRegistered);
    assert_eq!(
        recorded[0].subject,
        Some(alice.id),
        "the new user is the subject"
    );
}

async fn a_duplicate_email_is_refused_whatever_its_case_and_nothing_is_written<H: Harness>() {
    let h = H::start().await;
    user(&h, "alice").await;

    let clash = h
        .users()
        .create(
            new_user("bob", "ALICE@example.com"),
            Some(activation_link("bobs-link", t0())),
            event(AuditKind::AccountRegistered),
        )
        .await;

    assert!(
        matches!(clash, Err(CreateUserError::DuplicateEmail)),
        "{clash:?}"
    );
    assert_eq!(h.users().find_by_username("bob").await.unwrap(), None);
    assert_eq!(
        h.one_time_tokens()
            .find(&digest("bobs-link"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(trail_kinds(&h).await, [AuditKind::AccountRegistered]);
}

async fn a_duplicate_username_is_refused_but_another_case_is_another_user<H: Harness>() {
    let h = H::start().await;
    user(&h, "alice").await;

    let clash = h
        .users()
        .create(
            new_user("alice", "other@example.com"),
            None,
            event(AuditKind::AccountRegistered),
        )
        .await;
    let other_case = h
        .users()
        .create(
            new_user("ALICE", "other@example.com"),
            None,
            event(AuditKind::AccountRegistered),
        )
        .await;

    assert!(
        matches!(clash, Err(CreateUserError::DuplicateUsername)),
        "{clash:?}"
    );
    let other_case = other_case.expect("another case is another username").user;
    assert_eq!(other_case.email.as_str(), "other@example.com");
    assert_eq!(trail(&h).await.len(), 2);
}

async fn a_user_clashing_on_both_username_and_email_is_refused_for_his_username<H: Harness>() {
    let h = H::start().await;
    user(&h, "alice").await;

    let clash = h
        .users()
        .create(
            new_user("alice", "Alice@example.com"),
            None,
            event(AuditKind::AccountRegistered),
        )
        .await;

    assert!(
        matches!(clash, Err(CreateUserError::DuplicateUsername)),
        "{clash:?}"
    );
}

async fn creating_with_an_activation_link_stores_its_token_and_queues_its_email<H: Harness>() {
    let h = H::start().await;
    let plain = user(&h, "bob").await;

    let created = h
        .users()
        .create(
            NewUser {
                is_active: false,
                ..new_user("alice", "alice@example.com")
            },
            Some(activation_link("alices-link", at(5))),
            event(AuditKind::AccountRegistered),
        )
        .await
        .unwrap();

    let alice = created.user;
    assert!(!alice.is_active);
    assert!(alice.pending_activation, "he awaits activation");
    let token = h
        .one_time_tokens()
        .find(&digest("alices-link"))
        .await
        .unwrap()
        .expect("the token is stored");
    assert_eq!(token.user_id, alice.id);
    assert_eq!(token.purpose, TokenPurpose::Activation);
    assert_eq!((token.created_at, token.expires_at), (at(5), at(3605)));
    assert_eq!(token.used_at, None);
    assert_eq!(
        h.mails_to(&alice).await,
        [Mail {
            kind: "activation",
            token: Some("alices-link".to_owned())
        }]
    );
    assert!(!plain.pending_activation);
    assert_eq!(h.mails_to(&plain).await, []);
    assert_eq!(h.one_time_tokens_of(plain.id).await, []);
}

async fn a_profile_holds_group_names_and_direct_and_group_permissions_sorted<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    h.permissions()
        .create(
            NewPermission {
                name: "Can publish".to_owned(),
                app_label: "blog".to_owned(),
                codename: "publish".to_owned(),
            },
            event(AuditKind::PermissionCreated),
        )
        .await
        .unwrap();
    let groups = h.groups();
    groups
        .create(
            "zeta".to_owned(),
            codes(&["auth.view_user", "blog.publish"]),
            event(AuditKind::GroupCreated),
        )
        .await
        .unwrap();
    groups
        .create(
            "Alpha".to_owned(),
            codes(&["auth.view_user"]),
            event(AuditKind::GroupCreated),
        )
        .await
        .unwrap();
    groups
        .create(
            "unjoined".to_owned(),
            codes(&["auth.delete_user"]),
            event(AuditKind::GroupCreated),
        )
        .await
        .unwrap();
    h.user_admin()
        .update(
            alice.id,
            UserPatch {
                groups: Some(codes(&["zeta", "Alpha"])),
                user_permissions: Some(codes(&["auth.add_group"])),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            t0(),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap();

    let profile = h
        .users()
        .profile(alice.id)
        .await
        .unwrap()
        .expect("a profile");

    assert_eq!(profile.user, reload(&h, alice.id).await);
    assert_eq!(profile.groups, ["Alpha", "zeta"]);
    assert_eq!(
        profile.permissions,
        ["auth.add_group", "auth.view_user", "blog.publish"]
    );
    // Authentication reads the same profile with the token's state.
    let state = h
        .users()
        .auth_state(alice.id, Uuid::new_v4())
        .await
        .unwrap()
        .expect("an auth state");
    assert_eq!(state.profile, profile);
    add_key(&h, alice.id, b"key").await;
    assert_eq!(h.api_keys().owner(b"key").await.unwrap(), Some(profile));
}

async fn a_superusers_profile_holds_every_permission_there_is<H: Harness>() {
    let h = H::start().await;
    h.permissions()
        .create(
            NewPermission {
                name: "Can publish".to_owned(),
                app_label: "Blog".to_owned(),
                codename: "publish".to_owned(),
            },
            event(AuditKind::PermissionCreated),
        )
        .await
        .unwrap();
    let root = create(
        &h,
        NewUser {
            is_superuser: true,
            ..new_user("root", "root@example.com")
        },
    )
    .await;

    let profile = h
        .users()
        .profile(root.id)
        .await
        .unwrap()
        .expect("a profile");

    let every: Vec<String> = h
        .permissions()
        .list(0, 100)
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.code())
        .collect();
    assert_eq!(every.len(), 14);
    let mut sorted = every.clone();
    sorted.sort();
    assert_eq!(profile.permissions, sorted);
    assert_eq!(
        profile.permissions[0], "Blog.publish",
        "sorted by code point"
    );
}

async fn a_missing_user_has_no_profile_and_no_auth_state<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let nobody = UserId(alice.id.0 + 100);

    assert_eq!(h.users().find_by_id(nobody).await.unwrap(), None);
    assert_eq!(h.users().profile(nobody).await.unwrap(), None);
    assert_eq!(
        h.users().auth_state(nobody, Uuid::new_v4()).await.unwrap(),
        None
    );
}

async fn auth_state_tells_whether_the_session_is_one_of_his_and_live<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    let session = first_token(alice.id, t0());
    start(&h, &session).await;
    let users = h.users();

    let state = users
        .auth_state(alice.id, session.family_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.profile.user, alice);
    assert!(state.session_live);
    let of_another = users
        .auth_state(bob.id, session.family_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(of_another.profile.user, bob);
    assert!(!of_another.session_live, "alice's session is not bob's");
    let unknown = users
        .auth_state(alice.id, Uuid::new_v4())
        .await
        .unwrap()
        .unwrap();
    assert!(!unknown.session_live);

    h.sessions()
        .revoke_family(
            session.user_id,
            session.family_id,
            at(1),
            event(AuditKind::Logout),
        )
        .await
        .unwrap();
    let ended = users
        .auth_state(alice.id, session.family_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!ended.session_live);
}

async fn updating_a_missing_users_profile_is_not_found_and_records_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let nobody = UserId(alice.id.0 + 100);

    for changes in [
        ProfileChanges::default(),
        ProfileChanges {
            first_name: Some("Nobody".to_owned()),
            ..ProfileChanges::default()
        },
    ] {
        let missing = h
            .users()
            .update_profile(nobody, changes, event(AuditKind::AccountUpdated))
            .await;
        assert!(
            matches!(missing, Err(UpdateUserError::NotFound)),
            "{missing:?}"
        );
    }
    assert_eq!(trail_kinds(&h).await, [AuditKind::AccountRegistered]);
}

async fn a_profile_update_applies_the_given_fields_and_records_its_event<H: Harness>() {
    let h = H::start().await;
    let alice = create(
        &h,
        NewUser {
            last_name: "Liddell".to_owned(),
            ..new_user("alice", "alice@example.com")
        },
    )
    .await;

    let updated = h
        .users()
        .update_profile(
            alice.id,
            ProfileChanges {
                username: Some(Username::parse("Alicia").unwrap()),
                first_name: Some("Alicia".to_owned()),
                last_name: None,
            },
            event(AuditKind::AccountUpdated).by_self(alice.id),
        )
        .await
        .unwrap();

    assert_eq!(updated.user.username.as_str(), "Alicia");
    assert_eq!(updated.user.first_name, "Alicia");
    assert_eq!(updated.user.last_name, "Liddell", "left as it was");
    assert_eq!(updated.user, reload(&h, alice.id).await);
    let recorded = trail(&h).await;
    assert_eq!(
        recorded.last().unwrap(),
        &event(AuditKind::AccountUpdated).by_self(alice.id)
    );
    assert_eq!(recorded.len(), 2);
}

async fn a_profile_update_to_a_taken_username_changes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    user(&h, "bob").await;

    let clash = h
        .users()
        .update_profile(
            alice.id,
            ProfileChanges {
                username: Some(Username::parse("bob").unwrap()),
                first_name: Some("Bobby".to_owned()),
                last_name: None,
            },
            event(AuditKind::AccountUpdated),
        )
        .await;

    assert!(
        matches!(clash, Err(UpdateUserError::DuplicateUsername)),
        "{clash:?}"
    );
    assert_eq!(reload(&h, alice.id).await, alice);
    assert_eq!(trail(&h).await.len(), 2, "the two registrations only");
    let own = h
        .users()
        .update_profile(
            alice.id,
            ProfileChanges {
                username: Some(Username::parse("alice").unwrap()),
                ..ProfileChanges::default()
            },
            event(AuditKind::AccountUpdated),
        )
        .await;
    assert!(own.is_ok(), "his own username is not taken: {own:?}");
}

async fn an_empty_profile_change_writes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;

    let profile = h
        .users()
        .update_profile(
            alice.id,
            ProfileChanges::default(),
            event(AuditKind::AccountUpdated),
        )
        .await
        .unwrap();

    assert_eq!(profile.user, alice);
    assert_eq!(trail_kinds(&h).await, [AuditKind::AccountRegistered]);
}

async fn a_login_is_recorded_and_a_rehash_replaces_only_the_hash_it_was_verified_against<
    H: Harness,
>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let users = h.users();

    users
        .record_login(
            alice.id,
            at(10),
            Some(Rehash {
                verified: OTHER_HASH.to_owned(),
                new: "bcrypt_sha256$stale-upgrade".to_owned(),
            }),
        )
        .await
        .unwrap();
    let after_stale = reload(&h, alice.id).await;
    assert_eq!(after_stale.last_login, Some(at(10)));
    assert_eq!(
        after_stale.password_hash, alice.password_hash,
        "changed meanwhile: kept"
    );

    users
        .record_login(
            alice.id,
            at(20),
            Some(Rehash {
                verified: alice.password_hash.clone(),
                new: "bcrypt_sha256$upgraded".to_owned(),
            }),
        )
        .await
        .unwrap();
    let upgraded = reload(&h, alice.id).await;
    assert_eq!(upgraded.last_login, Some(at(20)));
    assert_eq!(upgraded.password_hash, "bcrypt_sha256$upgraded");
    assert_eq!(upgraded.password_changed_at, alice.password_changed_at);

    users.record_login(alice.id, at(30), None).await.unwrap();
    let plain = reload(&h, alice.id).await;
    assert_eq!(plain.last_login, Some(at(30)));
    assert_eq!(plain.password_hash, "bcrypt_sha256$upgraded");
}

async fn recording_a_login_of_a_missing_user_changes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;

    h.users()
        .record_login(UserId(alice.id.0 + 100), at(10), None)
        .await
        .unwrap();

    assert_eq!(reload(&h, alice.id).await, alice);
}

async fn deleting_a_user_takes_his_sessions_tokens_and_api_keys_and_keeps_the_trail<H: Harness>() {
    let h = H::start().await;
    let bob = user(&h, "bob").await;
    let alice = pending_user(&h, "alice", activation_link("alices-activation", t0())).await;
    let (alices_session, bobs_session) = (first_token(alice.id, t0()), first_token(bob.id, t0()));
    start(&h, &alices_session).await;
    start(&h, &bobs_session).await;
    add_key(&h, alice.id, b"alices-key").await;
    add_key(&h, bob.id, b"bobs-key").await;
    assert!(
        h.one_time_tokens()
            .issue(
                bob.id,
                reset_link("bobs-reset", t0()),
                chrono::Duration::zero()
            )
            .await
            .unwrap()
    );
    let before = trail(&h).await;

    let deleted = h
        .users()
        .delete(alice.id, event(AuditKind::UserDeleted).subject(alice.id))
        .await
        .unwrap();

    assert!(deleted);
    assert_eq!(h.users().find_by_id(alice.id).await.unwrap(), None);
    assert_eq!(h.sessions().find(alices_session.jti).await.unwrap(), None);
    assert_eq!(
        h.one_time_tokens()
            .find(&digest("alices-activation"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(key_owner(&h, b"alices-key").await, None);
    assert!(h.sessions().find(bobs_session.jti).await.unwrap().is_some());
    assert!(
        h.one_time_tokens()
            .find(&digest("bobs-reset"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(key_owner(&h, b"bobs-key").await, Some(bob.id));
    let after = trail(&h).await;
    assert_eq!(after[..before.len()], before[..], "the trail outlives him");
    assert_eq!(
        after[before.len()..],
        [event(AuditKind::UserDeleted)
            .subject(alice.id)
            .detail("username", "alice")]
    );

    let again = h
        .users()
        .delete(alice.id, event(AuditKind::UserDeleted))
        .await
        .unwrap();
    assert!(!again);
    assert_eq!(trail(&h).await.len(), after.len(), "nothing recorded");
}

async fn an_activation_token_whose_digest_is_taken_is_an_error_and_nothing_is_written<
    H: Harness,
>() {
    let h = H::start().await;
    let alice = pending_user(&h, "alice", activation_link("link", t0())).await;
    let before = trail(&h).await;

    let created = h
        .users()
        .create(
            new_user("bob", "bob@example.com"),
            Some(activation_link("link", at(1))),
            event(AuditKind::AccountRegistered),
        )
        .await;

    assert!(
        matches!(
            created,
            Err(CreateUserError::Repository(RepositoryError::Unexpected(_)))
        ),
        "{created:?}"
    );
    assert_eq!(h.users().find_by_username("bob").await.unwrap(), None);
    let token = h
        .one_time_tokens()
        .find(&digest("link"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((token.user_id, token.created_at), (alice.id, t0()));
    assert_eq!(trail(&h).await, before);
}
