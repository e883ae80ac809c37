//! Create superuser: the first administrator, from the command line.

use crate::support::{FakeHasher, PASSWORD, SEEDED_PERMISSIONS, default_gatehouse, log_in};
use application::ValidationErrors;
use application::use_cases::create_superuser::{CreateSuperuserCommand, CreateSuperuserError};
use domain::ports::Clock;
use domain::{Password, UserProfile};

fn command(username: &str, email: &str, password: &str) -> CreateSuperuserCommand {
    CreateSuperuserCommand {
        username: username.to_owned(),
        email: email.to_owned(),
        password: Password::new(password),
    }
}

#[track_caller]
fn invalid(result: Result<UserProfile, CreateSuperuserError>) -> ValidationErrors {
    match result {
        Err(CreateSuperuserError::Invalid(errors)) => errors,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

#[tokio::test]
async fn a_superuser_is_an_active_staff_member_with_every_permission() {
    let (gatehouse, fakes) = default_gatehouse();

    let profile = gatehouse
        .create_superuser(command("root", "Root@Example.COM", PASSWORD))
        .await
        .expect("created");

    let user = fakes.store.user(profile.user.id).expect("stored");
    assert_eq!(user.username.as_str(), "root");
    assert_eq!(user.email.as_str(), "Root@example.com");
    assert!(user.is_active && user.is_staff && user.is_superuser);
    assert_eq!(user.password_hash, FakeHasher::hash_of(PASSWORD));
    assert_eq!(user.date_joined, fakes.clock.now());
    assert_eq!(profile.permissions, SEEDED_PERMISSIONS);
    let pair = log_in(&gatehouse, "root").await;
    let claims = fakes.claims(&pair.access).user.expect("user claims");
    assert!(claims.is_superuser && claims.is_staff);
}

#[tokio::test]
async fn a_taken_username_or_email_is_refused_with_djangos_messages() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("root", "root@example.com");

    let errors = invalid(
        gatehouse
            .create_superuser(command("admin", "ROOT@example.com", PASSWORD))
            .await,
    );
    assert_eq!(
        errors.messages("email"),
        ["user with this email already exists."]
    );

    let errors = invalid(
        gatehouse
            .create_superuser(command("root", "admin@example.com", PASSWORD))
            .await,
    );
    assert_eq!(
        errors.messages("username"),
        ["A user with that username already exists."]
    );
    assert_eq!(fakes.store.user_count(), 1);
}

#[tokio::test]
async fn an_invalid_username_and_email_are_both_reported() {
    let (gatehouse, fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .create_superuser(command("root admin", "not-an-email", PASSWORD))
            .await,
    );

    assert_eq!(
        errors.messages("username"),
        [
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
        ]
    );
    assert_eq!(errors.messages("email"), ["Enter a valid email address."]);
    assert_eq!(fakes.store.user_count(), 0);
}

#[tokio::test]
async fn a_weak_password_is_refused_by_the_password_rules() {
    let (gatehouse, fakes) = default_gatehouse();

    let errors = invalid(
        gatehouse
            .create_superuser(command("root", "root@example.com", "1234567"))
            .await,
    );

    assert_eq!(
        errors.messages("password"),
        [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric.",
        ]
    );
    assert_eq!(fakes.store.user_count(), 0);
    assert_eq!(fakes.hasher.hash_calls(), 0);
}
