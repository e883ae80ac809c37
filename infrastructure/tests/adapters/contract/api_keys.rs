//! `ApiKeyRepository`: keys stored for their owner under a password check, found by
//! digest, deleted one or all at a time, recorded only when something changed.

use domain::RepositoryError;
use domain::ports::ApiKeyRepository;
use domain::{AuditKind, NewUser, UserId};

use super::{
    HASH, Harness, OTHER_HASH, add_key, create, event, key_owner, new_user, trail, trail_kinds,
    user,
};

contract!(
    a_key_is_stored_for_its_owner_and_its_login_recorded,
    no_key_is_stored_for_a_missing_user,
    with_a_password_hash_a_key_is_stored_only_while_it_is_his_and_he_is_active,
    a_duplicate_digest_is_an_error_and_changes_nothing,
    the_owner_of_a_key_is_found_even_when_inactive_and_an_unknown_key_has_none,
    deleting_one_key_leaves_the_others_and_records_the_logout,
    a_key_of_another_user_is_not_deleted_and_nothing_is_recorded,
    deleting_all_keys_deletes_only_the_owners_and_records_only_when_one_went,
);

fn key_login(user: UserId) -> domain::AuditEvent {
    event(AuditKind::LoginSucceeded)
        .by_self(user)
        .detail("via", "api_key")
}

fn key_logout(user: UserId) -> domain::AuditEvent {
    event(AuditKind::Logout)
        .by_self(user)
        .detail("via", "api_key")
}

async fn a_key_is_stored_for_its_owner_and_its_login_recorded<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;

    let added = h
        .api_keys()
        .add(
            alice.id,
            b"\0\xffkey".to_vec(),
            Some(HASH.to_owned()),
            key_login(alice.id),
        )
        .await
        .unwrap();

    assert!(added);
    assert_eq!(
        h.api_keys()
            .owner(b"\0\xffkey")
            .await
            .unwrap()
            .map(|owner| owner.user),
        Some(alice.clone())
    );
    assert_eq!(trail(&h).await.last(), Some(&key_login(alice.id)));
}

async fn no_key_is_stored_for_a_missing_user<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let nobody = UserId(alice.id.0 + 100);

    let added = h
        .api_keys()
        .add(nobody, b"key".to_vec(), None, key_login(nobody))
        .await
        .unwrap();

    assert!(!added);
    assert_eq!(key_owner(&h, b"key").await, None);
    assert_eq!(trail_kinds(&h).await, [AuditKind::AccountRegistered]);
}

async fn with_a_password_hash_a_key_is_stored_only_while_it_is_his_and_he_is_active<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let inactive = create(
        &h,
        NewUser {
            is_active: false,
            ..new_user("ivan", "ivan@example.com")
        },
    )
    .await;
    let keys = h.api_keys();

    let stale = keys
        .add(
            alice.id,
            b"stale".to_vec(),
            Some(OTHER_HASH.to_owned()),
            key_login(alice.id),
        )
        .await
        .unwrap();
    let of_inactive = keys
        .add(
            inactive.id,
            b"inactive".to_vec(),
            Some(HASH.to_owned()),
            key_login(inactive.id),
        )
        .await
        .unwrap();
    let unchecked = keys
        .add(
            inactive.id,
            b"unchecked".to_vec(),
            None,
            key_login(inactive.id),
        )
        .await
        .unwrap();

    assert!(!stale && !of_inactive);
    assert!(
        unchecked,
        "without a hash to check, only his existence counts"
    );
    assert_eq!(key_owner(&h, b"stale").await, None);
    assert_eq!(key_owner(&h, b"inactive").await, None);
    assert_eq!(key_owner(&h, b"unchecked").await, Some(inactive.id));
    assert_eq!(
        trail_kinds(&h).await,
        [
            AuditKind::AccountRegistered,
            AuditKind::AccountRegistered,
            AuditKind::LoginSucceeded
        ]
    );
}

async fn a_duplicate_digest_is_an_error_and_changes_nothing<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    add_key(&h, alice.id, b"key").await;
    let before = trail(&h).await;

    let clash = h
        .api_keys()
        .add(bob.id, b"key".to_vec(), None, key_login(bob.id))
        .await;

    assert!(
        matches!(clash, Err(RepositoryError::Unexpected(_))),
        "{clash:?}"
    );
    assert_eq!(key_owner(&h, b"key").await, Some(alice.id));
    assert_eq!(trail(&h).await, before);
}

async fn the_owner_of_a_key_is_found_even_when_inactive_and_an_unknown_key_has_none<H: Harness>() {
    let h = H::start().await;
    let inactive = create(
        &h,
        NewUser {
            is_active: false,
            ..new_user("ivan", "ivan@example.com")
        },
    )
    .await;
    add_key(&h, inactive.id, b"key").await;

    let owner = h.api_keys().owner(b"key").await.unwrap();
    assert_eq!(owner.map(|owner| owner.user), Some(inactive));
    assert_eq!(h.api_keys().owner(b"other").await.unwrap(), None);
    assert_eq!(h.api_keys().owner(b"").await.unwrap(), None);
}

async fn deleting_one_key_leaves_the_others_and_records_the_logout<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    add_key(&h, alice.id, b"one").await;
    add_key(&h, alice.id, b"two").await;
    let keys = h.api_keys();

    let deleted = keys
        .delete(alice.id, Some(b"one".to_vec()), key_logout(alice.id))
        .await
        .unwrap();
    let again = keys
        .delete(alice.id, Some(b"one".to_vec()), key_logout(alice.id))
        .await
        .unwrap();

    assert_eq!((deleted, again), (1, 0));
    assert_eq!(key_owner(&h, b"one").await, None);
    assert_eq!(key_owner(&h, b"two").await, Some(alice.id));
    let logouts = trail(&h)
        .await
        .into_iter()
        .filter(|e| *e == key_logout(alice.id))
        .count();
    assert_eq!(logouts, 1, "recorded once");
}

async fn a_key_of_another_user_is_not_deleted_and_nothing_is_recorded<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    add_key(&h, bob.id, b"bobs").await;
    let before = trail(&h).await;

    let deleted = h
        .api_keys()
        .delete(alice.id, Some(b"bobs".to_vec()), key_logout(alice.id))
        .await
        .unwrap();

    assert_eq!(deleted, 0);
    assert_eq!(key_owner(&h, b"bobs").await, Some(bob.id));
    assert_eq!(trail(&h).await, before);
}

async fn deleting_all_keys_deletes_only_the_owners_and_records_only_when_one_went<H: Harness>() {
    let h = H::start().await;
    let alice = user(&h, "alice").await;
    let bob = user(&h, "bob").await;
    add_key(&h, alice.id, b"one").await;
    add_key(&h, alice.id, b"two").await;
    add_key(&h, bob.id, b"bobs").await;
    let keys = h.api_keys();

    let deleted = keys
        .delete(alice.id, None, key_logout(alice.id))
        .await
        .unwrap();
    let again = keys
        .delete(alice.id, None, key_logout(alice.id))
        .await
        .unwrap();

    assert_eq!((deleted, again), (2, 0));
    assert_eq!(key_owner(&h, b"one").await, None);
    assert_eq!(key_owner(&h, b"two").await, None);
    assert_eq!(key_owner(&h, b"bobs").await, Some(bob.id));
    let logouts = trail(&h)
        .await
        .into_iter()
        .filter(|e| *e == key_logout(alice.id))
        .count();
    assert_eq!(logouts, 1, "recorded once");
}
