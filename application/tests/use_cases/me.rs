//! Me: the current user reads (as authentication read him), edits and deletes his own
//! account.

use crate::support::{PASSWORD, default_gatehouse, log_in, refresh};
use application::TokenRejection;
use application::ValidationErrors;
use application::use_cases::authenticate::AuthenticateError;
use application::use_cases::me::{MeError, UpdateMeCommand};
use domain::{Password, UserProfile};

const INVALID_USERNAME: &str = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
const TOO_LONG_150: &str = "Ensure this field has no more than 150 characters.";

#[track_caller]
fn invalid(result: Result<UserProfile, MeError>) -> ValidationErrors {
    match result {
        Err(MeError::Invalid(errors)) => errors,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

/// What `GET me` shows is what authentication read: the user with his groups and
/// permissions as they are now, not as the token's claims froze them.
#[tokio::test]
async fn authentication_reads_the_user_with_his_groups_and_permissions_as_they_are() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    fakes.store.add_to_group(alice.id, "editors");
    fakes
        .store
        .grant_group_permission("editors", "auth.change_user");

    let profile = gatehouse.authenticate(&pair.access).await.unwrap().profile;

    assert_eq!(profile.user, fakes.store.user(alice.id).unwrap());
    assert_eq!(profile.groups, ["editors"]);
    assert_eq!(profile.permissions, ["auth.change_user"]);
}

#[tokio::test]
async fn a_deleted_users_token_reads_no_profile() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    gatehouse
        .delete_me(&alice, &Password::new(PASSWORD))
        .await
        .unwrap();

    assert!(matches!(
        gatehouse.authenticate(&pair.access).await,
        Err(AuthenticateError::UserNotFound)
    ));
}

#[tokio::test]
async fn a_user_can_change_his_username_and_names() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    let profile = gatehouse
        .update_me(
            &alice,
            UpdateMeCommand {
                username: Some("alice.b".to_owned()),
                first_name: Some("Alice".to_owned()),
                last_name: Some("Bell".to_owned()),
            },
        )
        .await
        .expect("updated");

    assert_eq!(profile.user.username.as_str(), "alice.b");
    assert_eq!(profile.user.first_name, "Alice");
    assert_eq!(profile.user.last_name, "Bell");
    let stored = fakes.store.user(alice.id).unwrap();
    assert_eq!(stored, profile.user);
    assert_eq!(stored.email, alice.email);
    // The next refresh carries the new username.
    let refreshed = refresh(&gatehouse, &pair.refresh).await.unwrap();
    assert_eq!(
        fakes.claims(&refreshed.access).user.unwrap().username,
        "alice.b"
    );
}

#[tokio::test]
async fn fields_left_out_are_left_as_they_are() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes.store.update_user(alice.id, |u| {
        u.first_name = "Alice".to_owned();
        u.last_name = "Bell".to_owned();
    });

    let profile = gatehouse
        .update_me(
            &alice,
            UpdateMeCommand {
                last_name: Some("Smith".to_owned()),
                ..UpdateMeCommand::default()
            },
        )
        .await
        .expect("updated");

    assert_eq!(profile.user.username.as_str(), "alice");
    assert_eq!(profile.user.first_name, "Alice");
    assert_eq!(profile.user.last_name, "Smith");
}

#[tokio::test]
async fn sending_ones_own_username_again_is_not_a_duplicate() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    let profile = gatehouse
        .update_me(
            &alice,
            UpdateMeCommand {
                username: Some("alice".to_owned()),
                first_name: Some("Alice".to_owned()),
                ..UpdateMeCommand::default()
            },
        )
        .await
        .expect("updated");

    assert_eq!(profile.user.username.as_str(), "alice");
    assert_eq!(profile.user.first_name, "Alice");
}

#[tokio::test]
async fn a_username_taken_by_another_user_is_refused_and_nothing_changes() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes.add_user("bob", "bob@example.com");

    let errors = invalid(
        gatehouse
            .update_me(
                &alice,
                UpdateMeCommand {
                    username: Some("bob".to_owned()),
                    first_name: Some("Bobette".to_owned()),
                    ..UpdateMeCommand::default()
                },
            )
            .await,
    );

    assert_eq!(
        errors.messages("username"),
        ["A user with that username already exists."]
    );
    assert_eq!(fakes.store.user(alice.id).unwrap(), alice);
}

#[tokio::test]
async fn an_invalid_username_is_refused_with_djangos_message() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    for bad in ["alice smith", "alice/b", "<alice>"] {
        let errors = invalid(
            gatehouse
                .update_me(
                    &alice,
                    UpdateMeCommand {
                        username: Some(bad.to_owned()),
                        ..UpdateMeCommand::default()
                    },
                )
                .await,
        );
        assert_eq!(errors.messages("username"), [INVALID_USERNAME], "{bad:?}");
    }
    assert_eq!(fakes.store.user(alice.id).unwrap(), alice);
}

#[tokio::test]
async fn every_field_error_is_reported_and_no_field_is_changed() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    let errors = invalid(
        gatehouse
            .update_me(
                &alice,
                UpdateMeCommand {
                    username: Some("a".repeat(151)),
                    first_name: Some("f".repeat(151)),
                    last_name: Some("Valid".to_owned()),
                },
            )
            .await,
    );

    let fields: Vec<&str> = errors.fields().map(|(field, _)| field).collect();
    assert_eq!(fields, ["username", "first_name"]);
    assert_eq!(errors.messages("username"), [TOO_LONG_150]);
    assert_eq!(errors.messages("first_name"), [TOO_LONG_150]);
    assert_eq!(fakes.store.user(alice.id).unwrap(), alice);
}

#[tokio::test]
async fn updating_a_deleted_user_is_not_found() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    gatehouse
        .delete_me(&alice, &Password::new(PASSWORD))
        .await
        .unwrap();

    let result = gatehouse
        .update_me(
            &alice,
            UpdateMeCommand {
                first_name: Some("Ghost".to_owned()),
                ..UpdateMeCommand::default()
            },
        )
        .await;

    assert!(matches!(result, Err(MeError::NotFound)), "{result:?}");
}

#[tokio::test]
async fn deleting_the_account_with_a_wrong_password_is_refused() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let before = fakes.store.user(alice.id).unwrap();

    let result = gatehouse
        .delete_me(&alice, &Password::new("not the password"))
        .await;

    assert!(
        matches!(result, Err(MeError::WrongPassword)),
        "expected the password to be refused, got {result:?}"
    );
    assert_eq!(fakes.store.user(alice.id), Some(before));
    assert_eq!(
        gatehouse
            .authenticate(&pair.access)
            .await
            .unwrap()
            .profile
            .user
            .id,
        alice.id
    );
}

#[tokio::test]
async fn deleting_the_account_with_the_right_password_removes_the_user_and_his_sessions() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let bob = fakes.add_user("bob", "bob@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    log_in(&gatehouse, "bob").await;
    let bob = fakes.store.user(bob.id).unwrap();
    assert_eq!(fakes.store.tokens_of(alice.id).len(), 1);

    gatehouse
        .delete_me(&alice, &Password::new(PASSWORD))
        .await
        .expect("deleted");

    assert_eq!(fakes.store.user(alice.id), None);
    assert!(fakes.store.tokens_of(alice.id).is_empty());
    assert_eq!(fakes.store.user(bob.id), Some(bob.clone()));
    assert_eq!(fakes.store.tokens_of(bob.id).len(), 1);
    assert!(matches!(
        gatehouse.authenticate(&pair.access).await,
        Err(AuthenticateError::UserNotFound)
    ));
    assert!(matches!(
        refresh(&gatehouse, &pair.refresh).await,
        Err(application::use_cases::refresh::RefreshError::Token(
            TokenRejection::Invalid
        ))
    ));
}

#[tokio::test]
async fn deleting_an_already_deleted_account_is_not_found() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    gatehouse
        .delete_me(&alice, &Password::new(PASSWORD))
        .await
        .unwrap();

    let again = gatehouse.delete_me(&alice, &Password::new(PASSWORD)).await;

    assert!(matches!(again, Err(MeError::NotFound)), "{again:?}");
}
