//! `UserAdminRepository`: the admin's list (orders in code-point collation, NULLs
//! placed as PostgreSQL places them, ties broken on id; search; filters; pages), and
//! his writes with their clashes, unknown names and what a deactivation ends.

use domain::admin::{AdminUser, UserDraft, UserListQuery, UserOrder, UserPatch};
use domain::authorization::Authority;
use domain::ports::{
    GroupRepository, OneTimeTokenRepository, SaveUserError, SessionRepository, UserAdminRepository,
    UserRepository,
};
use domain::{AuditKind, EmailAddress, User, UserId, Username};

use super::{
    Harness, activation_link, add_key, at, codes, digest, event, first_token, key_owner,
    pending_user, reload, reset_link, start, t0, trail, user,
};

contract!(
    users_are_ordered_by_username_in_code_point_order,
    users_are_ordered_by_email_in_code_point_order,
    users_are_ordered_by_id_either_way,
    users_are_ordered_by_date_joined_with_ties_broken_by_ascending_id,
    users_are_ordered_by_last_login_with_nulls_first_ascending_and_last_descending,
    several_sort_keys_apply_most_significant_first,
    every_search_term_must_appear_in_the_four_fields_joined_by_spaces_in_any_case,
    percent_and_underscore_in_a_search_term_match_only_themselves,
    filters_select_by_activity_staff_superuser_and_group,
    a_page_is_sliced_by_offset_and_limit_and_counts_every_match,
    a_listed_user_carries_his_groups_permissions_and_direct_grants,
    a_created_user_reads_back_with_his_groups_and_grants_and_is_recorded,
    a_created_user_clashing_with_another_is_refused_and_nothing_is_written,
    a_created_user_naming_unknown_groups_or_permissions_is_refused_and_nothing_is_written,
    an_update_applies_only_the_patched_fields_and_is_recorded,
    an_update_clashing_with_another_user_is_refused_and_changes_nothing,
    an_update_naming_unknown_groups_or_permissions_is_refused_and_changes_nothing,
    deactivating_a_user_ends_his_sessions_api_keys_and_pending_activation,
    activating_a_pending_user_ends_his_pending_activation_and_keeps_his_sessions,
    other_edits_keep_sessions_api_keys_and_pending_activation,
    updating_a_missing_user_is_none_and_records_nothing,
    a_patch_reaching_a_stronger_account_is_forbidden_and_changes_nothing,
    groups_granting_beyond_the_authority_are_forbidden_on_create_and_update,
    a_changed_email_retires_pending_reset_and_activation_links,
);

fn draft(username: &str, email: &str) -> UserDraft {
    UserDraft {
        username: Username::parse(username).unwrap(),
        email: EmailAddress::parse(email).unwrap(),
        password_hash: Some("bcrypt_sha256$x".to_owned()),
        first_name: String::new(),
        last_name: String::new(),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        groups: vec![],
        user_permissions: vec![],
        now: t0(),
    }
}

/// Creates `draft` through the port, which must succeed.
async fn admit<H: Harness>(h: &H, draft: UserDraft) -> AdminUser {
    h.user_admin()
        .create(draft, &Authority::Superuser, event(AuditKind::UserCreated))
        .await
        .expect("the user is created")
}

/// Six users, created in this order (so with ascending ids), whose usernames,
/// emails, join dates and last logins sort differently in code-point order than in a
/// linguistic collation:
///
/// | username | email             | joined | last login | names             | flags           | group   |
/// |----------|-------------------|--------|------------|-------------------|-----------------|---------|
/// | alice    | Zed@example.com   | +0     | —          | Alice Liddell     |                 | editors |
/// | Bob      | bob@example.com   | +10    | +30        | Robert O'Brien    | staff           | others  |
/// | carol    | Carol@example.com | +10    | —          | Carol Danvers 100%| inactive        |         |
/// | Dave     | dave@example.com  | +5     | +10        | David Bowman      |                 | editors |
/// | Émile    | emile@example.com | +20    | +30        | Émile Zola        |                 |         |
/// | _root    | _root@example.com | +0     | +20        |                   | staff superuser |         |
async fn cast<H: Harness>(h: &H) {
    for group in ["editors", "others"] {
        h.groups()
            .create(group.to_owned(), vec![], event(AuditKind::GroupCreated))
            .await
            .unwrap();
    }
    let people = [
        (
            "alice",
            "Zed@example.com",
            0,
            None,
            "Alice",
            "Liddell",
            "editors",
        ),
        (
            "Bob",
            "bob@example.com",
            10,
            Some(30),
            "Robert",
            "O'Brien",
            "others",
        ),
        (
            "carol",
            "Carol@example.com",
            10,
            None,
            "Carol",
            "Danvers 100%",
            "",
        ),
        (
            "Dave",
            "dave@example.com",
            5,
            Some(10),
            "David",
            "Bowman",
            "editors",
        ),
        (
            "Émile",
            "emile@example.com",
            20,
            Some(30),
            "Émile",
            "Zola",
            "",
        ),
        ("_root", "_root@example.com", 0, Some(20), "", "", ""),
    ];
    for (username, email, joined, login, first, last, group) in people {
        let created = admit(
            h,
            UserDraft {
                first_name: first.to_owned(),
                last_name: last.to_owned(),
                is_active: username != "carol",
                is_staff: matches!(username, "Bob" | "_root"),
                is_superuser: username == "_root",
                groups: match group {
                    "" => vec![],
                    name => vec![name.to_owned()],
                },
                now: at(joined),
                ..draft(username, email)
            },
        )
        .await;
        if let Some(login) = login {
            h.users()
                .record_login(created.profile.user.id, at(login), None)
                .await
                .unwrap();
        }
    }
}

/// The usernames of the page `query` selects, and the count.
async fn listed<H: Harness>(h: &H, query: UserListQuery) -> (Vec<String>, i64) {
    let page = h
        .user_admin()
        .list(&UserListQuery {
            limit: if query.limit == 0 { 100 } else { query.limit },
            ..query
        })
        .await
        .unwrap();
    let names = page
        .items
        .iter()
        .map(|u| u.profile.user.username.as_str().to_owned())
        .collect();
    (names, page.count)
}

/// The usernames in the order `ordering` gives, every user selected.
async fn ordered<H: Harness>(h: &H, ordering: Vec<(UserOrder, bool)>) -> Vec<String> {
    listed(
        h,
        UserListQuery {
            ordering,
            ..UserListQuery::default()
        },
    )
    .await
    .0
}

/// The usernames matching `terms`, in id order.
async fn found<H: Harness>(h: &H, terms: &[&str]) -> Vec<String> {
    listed(
        h,
        UserListQuery {
            search_terms: codes(terms),
            ..UserListQuery::default()
        },
    )
    .await
    .0
}

async fn users_are_ordered_by_username_in_code_point_order<H: Harness>() {
    let h = H::start().await;
    cast(&h).await;

    let ascending = ordered(&h, vec![(UserOrder::Username, false)]).await;
    let descending = ordered(&h, vec![(UserOrder::Username, true)]).await;

    assert_eq!(
        ascending,
        ["Bob", "Dave", "_root", "alice", "carol", "Émile"]
    );
    assert_eq!(
        descending,
        ["Émile", "carol", "alice", "_root", "Dave", "Bob"]
    );
}

async fn users_are_ordered_by_email_in_code_point_order<H: Harness>() {
    let h = H::start().await;
    cast(&h).await;

    let ascending = ordered(&h, vec![(UserOrder::Email, false)]).await;
    let descending = ordered(&h, vec![(UserOrder::Email, true)]).await;

    // Carol@, Zed@, _root@, bob@, dave@, emile@
    assert_eq!(
        ascending,
        ["carol", "alice", "_root", "Bob", "Dave", "Émile"]
    );
    assert_eq!(
        descending,
        ["Émile", "Dave", "Bob", "_root", "alice", "carol"]
    );
}

async fn users_are_ordered_by_id_either_way<H: Harness>() {
    let h = H::start().await;
    cast(&h).await;

    let unordered = ordered(&h, vec![]).await;
    let ascending = ordered(&h, vec![(UserOrder::Id, false)]).await;
    let descending = ordered(&h, vec![(UserOrder::Id, true)]).await;

    let creation = ["alice", "Bob", "carol", "Dave", "Émile", "_root"];
    assert_eq!(unordered, creation, "by id when no order is asked");
    assert_eq!(ascending, creation);
    let mut reversed = creation;
    reversed.reverse();
    assert_eq!(descending, reversed);
}

async fn users_are_ordered_by_date_joined_with_ties_broken_by_ascending_id<H: Harness>() {
    let h = H::start().await;
    cast(&h).await;

    let ascending = ordered(&h, vec![(UserOrder::DateJoined, false)]).await;
    let descending = ordered(&h, vec![(UserOrder::DateJoined, true)]).await;

    assert_eq!(
        ascending,
        ["alice", "_root", "Dave", "Bob", "carol", "Émile"]
    );
    assert_eq!(
        descending,
        ["Émile", "Bob", "carol", "Dave", "alice", "_root"]
    );
}

async fn users_are_ordered_by_last_login_with_nulls_first_ascending_and_last_descending<
    H: Harness,
>() {
    let h = H::start().await;
    cast(&h).await;

    let ascending = ordered(&h, vec![(UserOrder::LastLogin, false)]).await;
    let descending = ordered(&h, vec![(UserOrder::LastLogin, true)]).await;

    assert_eq!(
        ascending,
        ["alice", "carol", "Dave", "_root", "Bob", "Émile"]
    );
    assert_eq!(
        descending,
        ["Bob", "Émile", "_root", "Dave", "alice", "carol"]
    );
}

async fn several_sort_keys_apply_most_significant_first<H: Harness>() {
    let h = H::start().await;
    cast(&h).await;

    let by_login_then_name = ordered(
        &h,
        vec![(UserOrder::LastLogin, true), (UserOrder::Username, true)],
    )
    .await;
    let by_joined_then_email = ordered(
        &h,
        vec![(UserOrder::DateJoined, false), (UserOrder::Email, true)],
    )
    .await;

    assert_eq!(
        by_login_then_name,
        ["Émile", "Bob", "_root", "Dave", "carol", "alice"]
    );
    assert_eq!(
        by_joined_then_email,
        ["_root", "alice", "Dave", "Bob", "carol", "Émile"]
    );
}

async fn every_search_term_must_appear_in_the_four_fields_joined_by_spaces_in_any_case<
    H: Harness,
>() {
    let h = H::start().await;
    cast(&h).await;

    assert_eq!(found(&h, &["ALI"]).await, ["alice"], "a username");
    assert_eq!(found(&h, &["zed@"]).await, ["alice"], "an email");
    assert_eq!(found(&h, &["robert"]).await, ["Bob"], "a first name");
    assert_eq!(found(&h, &["bOwMaN"]).await, ["Dave"], "a last name");
    assert_eq!(
        found(&h, &["ÉMILE"]).await,
        ["Émile"],
        "non-ASCII letters fold too"
    );
    assert_eq!(found(&h, &["émile"]).await, ["Émile"]);
    assert_eq!(
        found(&h, &["robert", "bob@"]).await,
        ["Bob"],
        "each in its own field"
    );
    assert_eq!(found(&h, &["robert", "carol"]).await, Vec::<String>::new());
    assert_eq!(found(&h, &["example.com"]).await.len(), 6);
    assert_eq!(found(&h, &["o'brien"]).await, ["Bob"]);
    assert_eq!(
        found(&h, &["alice liddell"]).await,
        ["alice"],
        "a term with a space spans two fields"
    );
    assert_eq!(found(&h, &["liddell alice"]).await, Vec::<String>::new());
}

async fn percent_and_underscore_in_a_search_term_match_only_themselves<H: Harness>() {
    let h = H::start().await;
    cast(&h).await;

    assert_eq!(found(&h, &["_"]).await, ["_root"]);
    assert_eq!(found(&h, &["%"]).await, ["carol"]);
    assert_eq!(found(&h, &["100%"]).await, ["carol"]);
    assert_eq!(found(&h, &["d_v"]).await, Vec::<String>::new());
    assert_eq!(found(&h, &["d%n"]).await, Vec::<String>::new());
    assert_eq!(found(&h, &["\\"]).await, Vec::<String>::new());
}

async fn filters_select_by_activity_staff_superuser_and_group<H: Harness>() {
    let h = H::start().await;
    cast(&h).await;
    let page = h.groups().list(0, 10).await.unwrap();
    let group = |name: &str| page.items.iter().find(|g| g.name == name).unwrap().id;
    let select = |query: UserListQuery| listed(&h, query);

    let inactive = select(UserListQuery {
        is_active: Some(false),
        ..Default::default()
    })
    .await;
    let active = select(UserListQuery {
        is_active: Some(true),
        ..Default::default()
    })
    .await;
    let staff = select(UserListQuery {
        is_staff: Some(true),
        ..Default::default()
    })
    .await;
    let staff_only = select(UserListQuery {
        is_staff: Some(true),
        is_superuser: Some(false),
        ..Default::default()
    })
    .await;
    let superusers = select(UserListQuery {
        is_superuser: Some(true),
        ..Default::default()
    })
    .await;
    let editors = select(UserListQuery {
        group: Some(group("editors")),
        ..Default::default()
    })
    .await;
    let no_group = select(UserListQuery {
        group: Some(group("others") + 100),
        ..Default::default()
    })
    .await;
    let searched_members = select(UserListQuery {
        search_terms: codes(&["D"]),
        group: Some(group("editors")),
        ..Default::default()
    })
    .await;

    assert_eq!(inactive, (vec!["carol".to_owned()], 1));
    assert_eq!(active.1, 5);
    assert!(!active.0.contains(&"carol".to_owned()));
    assert_eq!(staff, (codes(&["Bob", "_root"]), 2));
    assert_eq!(staff_only, (codes(&["Bob"]), 1));
    assert_eq!(superusers, (codes(&["_root"]), 1));
    assert_eq!(editors, (codes(&["alice", "Dave"]), 2));
    assert_eq!(no_group, (vec![], 0));
    assert_eq!(
        searched_members,
        (codes(&["alice", "Dave"]), 2),
        "Liddell and Dave"
    );
}

async fn a_page_is_sliced_by_offset_and_limit_and_counts_every_match<H: Harness>() {
    let h = H::start().await;
    cast(&h).await;
    let by_name = |offset, limit| UserListQuery {
        ordering: vec![(UserOrder::Username, false)],
        offset,
        limit,
        ..UserListQuery::default()
    };

    let middle = listed(&h, by_name(1, 2)).await;
    let last = listed(&h, by_name(5, 2)).await;
    let beyond = listed(&h, by_name(10, 2)).await;
    let active = listed(
        &h,
        UserListQuery {
            is_active: Some(true),
            ..by_name(0, 2)
        },
    )
    .await;

    assert_eq!(middle, (codes(&["Dave", "_root"]), 6));
    assert_eq!(last, (codes(&["Émile"]), 6));
    assert_eq!(beyond, (vec![], 6));
    assert_eq!(active, (codes(&["Bob", "Dave"]), 5));
}

async fn a_listed_user_carries_his_groups_permissions_and_direct_grants<H: Harness>() {
    let h = H::start().await;
    h.groups()
        .create(
            "editors".to_owned(),
            codes(&["auth.view_user"]),
            event(AuditKind::GroupCreated),
        )
        .await
        .unwrap();
    let alice = admit(
        &h,
        UserDraft {
            groups: codes(&["editors"]),
            user_permissions: codes(&["auth.change_user", "auth.add_user"]),
            ..draft("alice", "alice@example.com")
        },
    )
    .await;

    let page = h
        .user_admin()
        .list(&UserListQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let got = h.user_admin().get(alice.profile.user.id).await.unwrap();

    assert_eq!(page.items, std::slice::from_ref(&alice));
    assert_eq!(got, Some(alice.clone()));
    assert_eq!(alice.profile.groups, ["editors"]);
    assert_eq!(
        alice.profile.permissions,
        ["auth.add_user", "auth.change_user", "auth.view_user"]
    );
    assert_eq!(
        alice.user_permissions,
        ["auth.add_user", "auth.change_user"]
    );
    assert_eq!(alice.profile.user, reload(&h, alice.profile.user.id).await);
    let nobody = UserId(alice.profile.user.id.0 + 100);
    assert_eq!(h.user_admin().get(nobody).await.unwrap(), None);
}

async fn a_created_user_reads_back_with_his_groups_and_grants_and_is_recorded<H: Harness>() {
    let h = H::start().await;
    h.groups()
        .create("editors".to_owned(), vec![], event(AuditKind::GroupCreated))
        .await
        .unwrap();

    let created = h
        .user_admin()
        .create(
            UserDraft {
                password_hash: None,
                first_name: "Alice".to_owned(),
                is_staff: true,
                groups: codes(&["editors"]),
                user_permissions: codes(&["auth.view_user"]),
                now: at(7),
                ..draft("alice", "alice@example.com")
            },
            &Authority::Superuser,
            event(AuditKind::UserCreated),
        )
        .await
        .unwrap();

    let alice = &created.profile.user;
    assert_eq!(alice.username.as_str(), "alice");
    assert_eq!(alice.first_name, "Alice");
    assert!(alice.is_active && alice.is_staff && !alice.is_superuser);
    assert!(!alice.pending_activation);
    assert_eq!(
        (
            alice.date_joined,
            alice.password_changed_at,
            alice.last_login
        ),
        (at(7), at(7), None)
    );
    assert!(alice.password_hash.starts_with('!'), "an unusable password");
    assert_eq!(created.profile.groups, ["editors"]);
    assert_eq!(created.user_permissions, ["auth.view_user"]);
    assert_eq!(
        h.user_admin().get(alice.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        trail(&h).await.last(),
        Some(&event(AuditKind::UserCreated).subject(alice.id))
    );
    let other = admit(
        &h,
        UserDraft {
            password_hash: None,
            ..draft("bob", "bob@example.com")
        },
    )
    .await;
    assert_ne!(
        other.profile.user.password_hash, alice.password_hash,
        "each unusable hash is its own"
    );
}

async fn a_created_user_clashing_with_another_is_refused_and_nothing_is_written<H: Harness>() {
    let h = H::start().await;
    user(&h, "alice").await;
    let before = trail(&h).await;
    let attempt = |username: &str, email: &str| {
        let admin = h.user_admin();
        let draft = draft(username, email);
        async move {
            admin
                .create(draft, &Authority::Superuser, event(AuditKind::UserCreated))
                .await
        }
    };

    let email = attempt("bob", "ALICE@example.com").await;
    let username = attempt("alice", "bob@example.com").await;
    let both = attempt("alice", "Alice@example.com").await;

    assert!(
        matches!(email, Err(SaveUserError::DuplicateEmail)),
        "{email:?}"
    );
    assert!(
        matches!(username, Err(SaveUserError::DuplicateUsername)),
        "{username:?}"
    );
    assert!(
        matches!(both, Err(SaveUserError::DuplicateUsername)),
        "{both:?}"
    );
    assert_eq!(h.users().find_by_username("bob").await.unwrap(), None);
    assert_eq!(trail(&h).await, before);
    let other_case = attempt("ALICE", "bob@example.com").await;
    assert!(other_case.is_ok(), "{other_case:?}");
}

async fn a_created_user_naming_unknown_groups_or_permissions_is_refused_and_nothing_is_written<
    H: Harness,
>() {
    let h = H::start().await;
    h.groups()
        .create("editors".to_owned(), vec![], event(AuditKind::GroupCreated))
        .await
        .unwrap();
    let before = trail(&h).await;

    let groups = h
        .user_admin()
        .create(
            UserDraft {
                groups: codes(&["ghosts", "editors", "Editors"]),
                ..draft("alice", "alice@example.com")
            },
            &Authority::Superuser,
            event(AuditKind::UserCreated),
        )
        .await;
    let permissions = h
        .user_admin()
        .create(
            UserDraft {
                groups: codes(&["editors"]),
                user_permissions: codes(&["auth.view_user", "auth.fly", "blog.view_user"]),
                ..draft("alice", "alice@example.com")
            },
            &Authority::Superuser,
            event(AuditKind::UserCreated),
        )
        .await;

    match groups {
        Err(SaveUserError::UnknownGroups(unknown)) => assert_eq!(unknown, ["ghosts", "Editors"]),
        other => panic!("{other:?}"),
    }
    match permissions {
        Err(SaveUserError::UnknownPermissions(unknown)) => {
            assert_eq!(unknown, ["auth.fly", "blog.view_user"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.users().find_by_username("alice").await.unwrap(), None);
    assert_eq!(trail(&h).await, before);
}

async fn an_update_applies_only_the_patched_fields_and_is_recorded<H: Harness>() {
    let h = H::start().await;
    for group in ["editors", "others"] {
        h.groups()
            .create(group.to_owned(), vec![], event(AuditKind::GroupCreated))
            .await
            .unwrap();
    }
    let alice = admit(
        &h,
        UserDraft {
            first_name: "Alice".to_owned(),
            last_name: "Liddell".to_owned(),
            groups: codes(&["editors"]),
            user_permissions: codes(&["auth.view_user"]),
            ..draft("alice", "alice@example.com")
        },
    )
    .await;
    let id = alice.profile.user.id;
    let audit = event(AuditKind::UserUpdated).subject(id);

    let updated = h
        .user_admin()
        .update(
            id,
            UserPatch {
                email: Some(EmailAddress::parse("Alice@Wonderland.example").unwrap()),
                last_name: Some("Hargreaves".to_owned()),
                is_staff: Some(true),
                groups: Some(codes(&["others"])),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            at(1),
            audit.clone(),
        )
        .await
        .unwrap()
        .expect("the user exists");

    let user = &updated.profile.user;
    assert_eq!(user.email.as_str(), "Alice@wonderland.example");
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_str()),
        ("Alice", "Hargreaves")
    );
    assert!(user.is_staff && user.is_active && !user.is_superuser);
    assert_eq!(user.username.as_str(), "alice");
    assert_eq!(updated.profile.groups, ["others"]);
    assert_eq!(
        updated.user_permissions,
        ["auth.view_user"],
        "left as they were"
    );
    assert_eq!(h.user_admin().get(id).await.unwrap(), Some(updated.clone()));
    assert_eq!(trail(&h).await.last(), Some(&audit));

    let emptied = h
        .user_admin()
        .update(
            id,
            UserPatch {
                groups: Some(vec![]),
                user_permissions: Some(vec![]),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            at(2),
            audit.clone(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (emptied.profile.groups, emptied.user_permissions),
        (vec![], vec![])
    );
    let untouched = h
        .user_admin()
        .update(
            id,
            UserPatch::default(),
            &Authority::Superuser,
            at(3),
            audit.clone(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.profile.user, reload(&h, id).await);
    let updates = trail(&h).await.into_iter().filter(|e| *e == audit).count();
    assert_eq!(updates, 3, "every update is recorded, even an empty one");
}

async fn an_update_clashing_with_another_user_is_refused_and_changes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    user(&h, "bob").await;
    let before = trail(&h).await;
    let patch = |username: Option<&str>, email: Option<&str>| UserPatch {
        username: username.map(|u| Username::parse(u).unwrap()),
        email: email.map(|e| EmailAddress::parse(e).unwrap()),
        first_name: Some("Changed".to_owned()),
        ..UserPatch::default()
    };
    let update = |patch: UserPatch| {
        let admin = h.user_admin();
        async move {
            admin
                .update(
                    alice.id,
                    patch,
                    &Authority::Superuser,
                    at(1),
                    event(AuditKind::UserUpdated),
                )
                .await
        }
    };

    let email = update(patch(None, Some("BOB@example.com"))).await;
    let username = update(patch(Some("bob"), None)).await;
    let both = update(patch(Some("bob"), Some("bob@example.com"))).await;

    assert!(
        matches!(email, Err(SaveUserError::DuplicateEmail)),
        "{email:?}"
    );
    assert!(
        matches!(username, Err(SaveUserError::DuplicateUsername)),
        "{username:?}"
    );
    assert!(
        matches!(both, Err(SaveUserError::DuplicateUsername)),
        "{both:?}"
    );
    assert_eq!(reload(&h, alice.id).await, alice);
    assert_eq!(trail(&h).await, before);

    let own = update(patch(Some("alice"), Some("ALICE@example.com"))).await;
    let own = own.expect("his own email in another case is his").unwrap();
    assert_eq!(own.profile.user.email.as_str(), "ALICE@example.com");
}

async fn an_update_naming_unknown_groups_or_permissions_is_refused_and_changes_nothing<
    H: Harness,
>() {
    let h = H::start().await;
    h.groups()
        .create("editors".to_owned(), vec![], event(AuditKind::GroupCreated))
        .await
        .unwrap();
    let alice = admit(
        &h,
        UserDraft {
            groups: codes(&["editors"]),
            user_permissions: codes(&["auth.view_user"]),
            ..draft("alice", "alice@example.com")
        },
    )
    .await;
    let id = alice.profile.user.id;
    let before = trail(&h).await;

    let groups = h
        .user_admin()
        .update(
            id,
            UserPatch {
                first_name: Some("Changed".to_owned()),
                is_active: Some(false),
                groups: Some(codes(&["ghosts"])),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            at(1),
            event(AuditKind::UserUpdated),
        )
        .await;
    let permissions = h
        .user_admin()
        .update(
            id,
            UserPatch {
                groups: Some(vec![]),
                user_permissions: Some(codes(&["auth.fly"])),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            at(1),
            event(AuditKind::UserUpdated),
        )
        .await;

    assert!(
        matches!(&groups, Err(SaveUserError::UnknownGroups(u)) if u == &["ghosts"]),
        "{groups:?}"
    );
    assert!(
        matches!(&permissions, Err(SaveUserError::UnknownPermissions(u)) if u == &["auth.fly"]),
        "{permissions:?}"
    );
    assert_eq!(h.user_admin().get(id).await.unwrap(), Some(alice));
    assert_eq!(trail(&h).await, before);
}

/// A pending user with an activation link, a session and an API key.
async fn pending_with_a_session_and_a_key<H: Harness>(h: &H) -> (User, uuid::Uuid) {
    let alice = pending_user(h, "alice", activation_link("activation", t0())).await;
    let session = first_token(alice.id, t0());
    start(h, &session).await;
    add_key(h, alice.id, b"key").await;
    (alice, session.jti)
}

async fn deactivating_a_user_ends_his_sessions_api_keys_and_pending_activation<H: Harness>() {
    let h = H::start().await;
    let (alice, jti) = pending_with_a_session_and_a_key(&h).await;
    let bob = user(&h, "bob").await;
    let bobs = first_token(bob.id, t0());
    start(&h, &bobs).await;
    add_key(&h, bob.id, b"bobs-key").await;

    let updated = h
        .user_admin()
        .update(
            alice.id,
            UserPatch {
                is_active: Some(false),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            at(5),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap()
        .unwrap();

    assert!(!updated.profile.user.is_active);
    assert!(!updated.profile.user.pending_activation);
    let revoked = h.sessions().find(jti).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(5)));
    assert_eq!(key_owner(&h, b"key").await, None);
    let link = h
        .one_time_tokens()
        .find(&digest("activation"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.used_at, Some(at(5)), "the activation link is retired");
    assert_eq!(h.live_refresh_tokens_of(bob.id).await, [bobs.jti].into());
    assert_eq!(key_owner(&h, b"bobs-key").await, Some(bob.id));
}

async fn activating_a_pending_user_ends_his_pending_activation_and_keeps_his_sessions<
    H: Harness,
>() {
    let h = H::start().await;
    let (alice, jti) = pending_with_a_session_and_a_key(&h).await;

    let updated = h
        .user_admin()
        .update(
            alice.id,
            UserPatch {
                is_active: Some(true),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            at(5),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap()
        .unwrap();

    assert!(updated.profile.user.is_active);
    assert!(!updated.profile.user.pending_activation);
    let link = h
        .one_time_tokens()
        .find(&digest("activation"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.used_at, Some(at(5)));
    assert_eq!(h.live_refresh_tokens_of(alice.id).await, [jti].into());
    assert_eq!(key_owner(&h, b"key").await, Some(alice.id));
}

async fn other_edits_keep_sessions_api_keys_and_pending_activation<H: Harness>() {
    let h = H::start().await;
    let (alice, jti) = pending_with_a_session_and_a_key(&h).await;

    let updated = h
        .user_admin()
        .update(
            alice.id,
            UserPatch {
                first_name: Some("Alice".to_owned()),
                is_staff: Some(true),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            at(5),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap()
        .unwrap();

    assert!(!updated.profile.user.is_active);
    assert!(updated.profile.user.pending_activation);
    let link = h
        .one_time_tokens()
        .find(&digest("activation"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.used_at, None);
    assert_eq!(h.live_refresh_tokens_of(alice.id).await, [jti].into());
    assert_eq!(key_owner(&h, b"key").await, Some(alice.id));
}

async fn updating_a_missing_user_is_none_and_records_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let before = trail(&h).await;

    let missing = h
        .user_admin()
        .update(
            UserId(alice.id.0 + 100),
            UserPatch {
                first_name: Some("Ghost".to_owned()),
                groups: Some(codes(&["ghosts"])),
                ..UserPatch::default()
            },
            &Authority::Superuser,
            at(1),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap();

    assert_eq!(missing, None);
    assert_eq!(trail(&h).await, before);
}

/// A staff user's authority: these permissions and nothing else.
fn staff(permissions: &[&str]) -> Authority {
    Authority::of(false, codes(permissions))
}

async fn a_patch_reaching_a_stronger_account_is_forbidden_and_changes_nothing<H: Harness>() {
    let h = H::start().await;
    h.groups()
        .create(
            "auditors".to_owned(),
            codes(&["auth.view_auditevent"]),
            event(AuditKind::GroupCreated),
        )
        .await
        .unwrap();
    let direct = admit(
        &h,
        UserDraft {
            is_staff: true,
            user_permissions: codes(&["auth.view_user", "auth.add_group"]),
            ..draft("direct", "direct@example.com")
        },
    )
    .await;
    let grouped = admit(
        &h,
        UserDraft {
            is_staff: true,
            groups: codes(&["auditors"]),
            ..draft("grouped", "grouped@example.com")
        },
    )
    .await;
    let plain = admit(&h, draft("plain", "plain@example.com")).await;
    let mallory = staff(&["auth.view_user", "auth.change_user"]);
    let reaching = [
        UserPatch {
            email: Some(EmailAddress::parse("mallory@example.com").unwrap()),
            ..UserPatch::default()
        },
        UserPatch {
            username: Some(Username::parse("owned").unwrap()),
            ..UserPatch::default()
        },
        UserPatch {
            is_active: Some(false),
            ..UserPatch::default()
        },
        UserPatch {
            is_staff: Some(false),
            ..UserPatch::default()
        },
        UserPatch {
            groups: Some(vec![]),
            ..UserPatch::default()
        },
        UserPatch {
            user_permissions: Some(vec![]),
            ..UserPatch::default()
        },
    ];
    let before = trail(&h).await;
    for target in [&direct, &grouped] {
        let id = target.profile.user.id;
        for patch in reaching.clone() {
            let refused = h
                .user_admin()
                .update(
                    id,
                    patch.clone(),
                    &mallory,
                    at(1),
                    event(AuditKind::UserUpdated),
                )
                .await;
            assert!(
                matches!(refused, Err(SaveUserError::Forbidden)),
                "{patch:?}: {refused:?}"
            );
        }
        assert_eq!(h.user_admin().get(id).await.unwrap().as_ref(), Some(target));
    }
    assert_eq!(trail(&h).await, before, "nothing recorded");

    // The names reach nothing; a user within his rights he may manage wholly.
    let renamed = h
        .user_admin()
        .update(
            direct.profile.user.id,
            UserPatch {
                first_name: Some("Renamed".to_owned()),
                ..UserPatch::default()
            },
            &mallory,
            at(2),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.profile.user.first_name, "Renamed");
    for patch in reaching {
        h.user_admin()
            .update(
                plain.profile.user.id,
                patch,
                &mallory,
                at(3),
                event(AuditKind::UserUpdated),
            )
            .await
            .unwrap()
            .expect("the user exists");
    }
}

async fn groups_granting_beyond_the_authority_are_forbidden_on_create_and_update<H: Harness>() {
    let h = H::start().await;
    for (name, permissions) in [
        ("viewers", &["auth.view_user"][..]),
        ("powerful", &["auth.view_user", "auth.delete_user"][..]),
    ] {
        h.groups()
            .create(
                name.to_owned(),
                codes(permissions),
                event(AuditKind::GroupCreated),
            )
            .await
            .unwrap();
    }
    let mallory = staff(&["auth.view_user", "auth.add_user", "auth.change_user"]);
    let before = trail(&h).await;
    let created = h
        .user_admin()
        .create(
            UserDraft {
                groups: codes(&["viewers", "powerful"]),
                ..draft("bob", "bob@example.com")
            },
            &mallory,
            event(AuditKind::UserCreated),
        )
        .await;
    assert!(
        matches!(created, Err(SaveUserError::Forbidden)),
        "{created:?}"
    );
    assert_eq!(h.users().find_by_username("bob").await.unwrap(), None);

    let carol = admit(&h, draft("carol", "carol@example.com")).await;
    let before_update = trail(&h).await;
    let updated = h
        .user_admin()
        .update(
            carol.profile.user.id,
            UserPatch {
                groups: Some(codes(&["powerful"])),
                ..UserPatch::default()
            },
            &mallory,
            at(1),
            event(AuditKind::UserUpdated),
        )
        .await;
    assert!(
        matches!(updated, Err(SaveUserError::Forbidden)),
        "{updated:?}"
    );
    assert_eq!(
        h.user_admin().get(carol.profile.user.id).await.unwrap(),
        Some(carol.clone())
    );
    assert_eq!(trail(&h).await.len(), before_update.len());
    assert_eq!(
        before_update.len(),
        before.len() + 1,
        "only carol's creation"
    );

    // The groups he may hand out, he may.
    let granted = h
        .user_admin()
        .update(
            carol.profile.user.id,
            UserPatch {
                groups: Some(codes(&["viewers"])),
                ..UserPatch::default()
            },
            &mallory,
            at(2),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(granted.profile.groups, ["viewers"]);
}

async fn a_changed_email_retires_pending_reset_and_activation_links<H: Harness>() {
    let h = H::start().await;
    let alice = pending_user(&h, "alice", activation_link("activation", t0())).await;
    h.one_time_tokens()
        .issue(
            alice.id,
            reset_link("reset", t0()),
            chrono::Duration::zero(),
        )
        .await
        .unwrap();
    let live = async |raw: &str| {
        h.one_time_tokens()
            .find(&digest(raw))
            .await
            .unwrap()
            .expect("stored")
            .used_at
    };
    let email = |raw: &str| UserPatch {
        email: Some(EmailAddress::parse(raw).unwrap()),
        ..UserPatch::default()
    };

    h.user_admin()
        .update(
            alice.id,
            email("alice@example.com"),
            &Authority::Superuser,
            at(1),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (live("activation").await, live("reset").await),
        (None, None),
        "the same address: the links live"
    );

    h.user_admin()
        .update(
            alice.id,
            email("alice@new.example"),
            &Authority::Superuser,
            at(2),
            event(AuditKind::UserUpdated),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (live("activation").await, live("reset").await),
        (Some(at(2)), Some(at(2)))
    );
}
