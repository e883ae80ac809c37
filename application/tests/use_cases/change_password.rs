//! Change password: the signed-in user, knowing his password, sets a new one; his
//! other sessions, older access tokens and pending reset links end with it.

use crate::support::{
    FakeHasher, Fakes, PASSWORD, TestDeps, default_gatehouse, gatehouse, log_in, login_command,
    refresh,
};
use application::use_cases::authenticate::AuthenticateError;
use application::use_cases::change_password::{ChangePasswordCommand, ChangePasswordError};
use application::use_cases::login::LoginError;
use application::use_cases::password_reset::{ConfirmResetCommand, ConfirmResetError};
use application::use_cases::refresh::RefreshError;
use application::{
    ClientInfo, OneTimeTokenRejection, PasswordChangeSettings, Settings, TokenPair, TokenRejection,
};
use chrono::Duration;
use domain::ports::Clock;
use domain::{EmailKind, Password, TokenPurpose, User};

type Gatehouse = application::Gatehouse<TestDeps>;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// Alice, logged in twice: `this` is the session the change comes from.
struct Alice {
    user: User,
    this: TokenPair,
    other: TokenPair,
}

async fn alice_with_two_sessions(gatehouse: &Gatehouse, fakes: &Fakes) -> Alice {
    let user = fakes.add_user("alice", "alice@example.com");
    let this = log_in(gatehouse, "alice").await;
    let other = log_in(gatehouse, "alice").await;
    // The change comes a while after the logins (within the access tokens' five
    // minutes), as it would.
    fakes.clock.advance(Duration::minutes(2));
    Alice { user, this, other }
}

/// The command the API builds from an authenticated request in session `from`.
async fn command(
    gatehouse: &Gatehouse,
    from: &TokenPair,
    current: &str,
    new: &str,
) -> ChangePasswordCommand {
    let principal = gatehouse
        .authenticate(&from.access)
        .await
        .expect("the caller is authenticated");
    ChangePasswordCommand {
        user: principal.profile.user,
        session: principal.credential.session(),
        current_password: Password::new(current),
        new_password: Password::new(new),
        client: ClientInfo::default(),
    }
}

#[track_caller]
fn assert_wrong_password(result: Result<(), ChangePasswordError>) {
    assert!(
        matches!(result, Err(ChangePasswordError::WrongPassword)),
        "expected the current password to be refused, got {result:?}"
    );
}

/// Django's messages on a refused new password.
#[track_caller]
fn weak(result: Result<(), ChangePasswordError>) -> Vec<String> {
    match result {
        Err(ChangePasswordError::WeakPassword(messages)) => messages,
        other => panic!("expected the new password to be refused, got {other:?}"),
    }
}

/// Whether any refresh token of the session, which must be stored, is revoked.
#[track_caller]
fn revoked(fakes: &Fakes, pair: &TokenPair) -> bool {
    let family = fakes.store.family(fakes.sid(&pair.refresh));
    assert!(!family.is_empty(), "the session is not stored");
    family.iter().any(|t| t.revoked_at.is_some())
}

/// Asserts that nothing about the user changed and nothing was queued.
#[track_caller]
fn assert_unchanged(fakes: &Fakes, alice: &Alice) {
    let stored = fakes.user(alice.user.id);
    assert_eq!(stored.password_hash, alice.user.password_hash);
    assert_eq!(stored.password_changed_at, alice.user.password_changed_at);
    assert!(!revoked(fakes, &alice.this));
    assert!(!revoked(fakes, &alice.other));
    assert_eq!(fakes.store.outbox(), []);
}

#[tokio::test]
async fn a_wrong_current_password_is_refused_before_anything_is_hashed() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;

    assert_wrong_password(
        gatehouse
            .change_password(command(&gatehouse, &alice.this, "wrong password", NEW_PASSWORD).await)
            .await,
    );

    assert_eq!(fakes.hasher.hash_calls(), 0);
    assert_unchanged(&fakes, &alice);
}

#[tokio::test]
async fn a_wrong_current_password_is_reported_alone_even_with_a_weak_new_one() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;

    assert_wrong_password(
        gatehouse
            .change_password(command(&gatehouse, &alice.this, "wrong password", "123").await)
            .await,
    );

    assert_unchanged(&fakes, &alice);
}

#[tokio::test]
async fn the_current_password_is_verified_against_the_users_hash() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;
    let before = fakes.hasher.verified().len();

    gatehouse
        .change_password(command(&gatehouse, &alice.this, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");

    assert_eq!(
        fakes.hasher.verified()[before..],
        [(PASSWORD.to_owned(), FakeHasher::hash_of(PASSWORD))]
    );
    assert_eq!(fakes.hasher.dummy_calls(), 0);
}

#[tokio::test]
async fn a_weak_new_password_gets_djangos_messages() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;

    let messages = weak(
        gatehouse
            .change_password(command(&gatehouse, &alice.this, PASSWORD, "1234567").await)
            .await,
    );

    assert_eq!(
        messages,
        [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric.",
        ]
    );
    assert_eq!(fakes.hasher.hash_calls(), 0);
    assert_unchanged(&fakes, &alice);
}

#[tokio::test]
async fn a_common_new_password_is_refused_and_changes_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;

    let messages = weak(
        gatehouse
            .change_password(command(&gatehouse, &alice.this, PASSWORD, "password").await)
            .await,
    );

    assert_eq!(messages, ["This password is too common."]);
    assert_unchanged(&fakes, &alice);
}

#[tokio::test]
async fn a_new_password_like_the_username_is_too_similar_to_it() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("bartholomew", "zed@example.com");
    let pair = log_in(&gatehouse, "bartholomew").await;

    let messages = weak(
        gatehouse
            .change_password(command(&gatehouse, &pair, PASSWORD, "Bartholomew7").await)
            .await,
    );

    assert_eq!(messages, ["The password is too similar to the username."]);
}

#[tokio::test]
async fn a_change_sets_the_hash_and_time_ends_the_other_sessions_and_queues_a_notice() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;
    let now = fakes.clock.now();

    gatehouse
        .change_password(command(&gatehouse, &alice.this, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");

    let stored = fakes.user(alice.user.id);
    assert_eq!(stored.password_hash, FakeHasher::hash_of(NEW_PASSWORD));
    assert_eq!(stored.password_changed_at, now);
    assert!(stored.is_active);
    assert!(
        !revoked(&fakes, &alice.this),
        "the caller's session is kept"
    );
    let other = fakes.store.family(fakes.sid(&alice.other.refresh));
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].revoked_at, Some(now));
    assert_eq!(
        fakes.store.outbox(),
        [(alice.user.id, EmailKind::PasswordChanged)]
    );
    assert_eq!(fakes.hasher.hash_calls(), 1);
}

#[tokio::test]
async fn only_the_new_password_logs_in_afterwards() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;

    gatehouse
        .change_password(command(&gatehouse, &alice.this, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");

    let error = gatehouse
        .login(login_command("alice", PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(error, LoginError::InvalidCredentials), "{error:?}");
    gatehouse
        .login(login_command("alice", NEW_PASSWORD))
        .await
        .expect("the new password logs in");
}

#[tokio::test]
async fn older_access_tokens_are_refused_and_only_the_kept_session_refreshes() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;

    gatehouse
        .change_password(command(&gatehouse, &alice.this, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");

    let error = gatehouse
        .authenticate(&alice.this.access)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AuthenticateError::PasswordChanged),
        "{error:?}"
    );
    let error = gatehouse
        .authenticate(&alice.other.access)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AuthenticateError::Token(TokenRejection::Blacklisted)),
        "{error:?}"
    );
    let error = refresh(&gatehouse, &alice.other.refresh).await.unwrap_err();
    assert!(
        matches!(error, RefreshError::Token(TokenRejection::Blacklisted)),
        "{error:?}"
    );
    let refreshed = refresh(&gatehouse, &alice.this.refresh)
        .await
        .expect("the caller's session goes on");
    gatehouse
        .authenticate(&refreshed.access)
        .await
        .expect("a fresh access token is accepted");
}

#[tokio::test]
async fn with_change_revokes_other_sessions_off_no_session_ends() {
    let (gatehouse, fakes) = gatehouse(Settings {
        password_change: PasswordChangeSettings {
            change_revokes_other_sessions: false,
        },
        ..Settings::default()
    });
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;
    let now = fakes.clock.now();

    gatehouse
        .change_password(command(&gatehouse, &alice.this, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");

    let stored = fakes.user(alice.user.id);
    assert_eq!(stored.password_hash, FakeHasher::hash_of(NEW_PASSWORD));
    assert_eq!(stored.password_changed_at, now);
    let sessions = fakes.store.tokens_of(alice.user.id);
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|t| t.revoked_at.is_none()));
    assert_eq!(
        fakes.store.outbox(),
        [(alice.user.id, EmailKind::PasswordChanged)]
    );
    refresh(&gatehouse, &alice.other.refresh)
        .await
        .expect("the other session goes on");
}

#[tokio::test]
async fn another_users_sessions_are_left_alone() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("bob", "bob@example.com");
    let bob = log_in(&gatehouse, "bob").await;
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;

    gatehouse
        .change_password(command(&gatehouse, &alice.this, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");

    assert!(!revoked(&fakes, &bob));
    let bob_user = fakes.store.user_by_username("bob").unwrap();
    assert_eq!(bob_user.password_hash, FakeHasher::hash_of(PASSWORD));
    assert_eq!(fakes.store.sent_to(bob_user.id), []);
}

#[tokio::test]
async fn a_pending_reset_link_dies_with_the_change() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;
    gatehouse
        .request_password_reset("alice@example.com")
        .await
        .expect("mailed");
    let reset = fakes.store.last_link_token(alice.user.id).expect("a link");
    fakes.clock.advance(Duration::minutes(1));
    let now = fakes.clock.now();

    gatehouse
        .change_password(command(&gatehouse, &alice.this, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");

    assert_eq!(fakes.one_time_token(&reset).used_at, Some(now));
    let error = gatehouse
        .confirm_password_reset(ConfirmResetCommand {
            token: reset.clone(),
            new_password: Password::new("yet another passphrase"),
            client: ClientInfo::default(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConfirmResetError::Token(OneTimeTokenRejection::Invalid)
        ),
        "{error:?}"
    );
    assert_eq!(
        fakes.user(alice.user.id).password_hash,
        FakeHasher::hash_of(NEW_PASSWORD)
    );
    assert_eq!(
        fakes.store.sent_to(alice.user.id),
        [
            EmailKind::PasswordReset { token: reset },
            EmailKind::PasswordChanged
        ]
    );
}

#[tokio::test]
async fn a_pending_activation_link_is_not_a_reset_link_and_survives_the_change() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;
    let now = fakes.clock.now();
    fakes.store.insert_one_time_token(
        alice.user.id,
        &domain::NewOneTimeToken {
            raw: "an-activation-token".to_owned(),
            digest: crate::support::FakeTokenGenerator::digest_of("an-activation-token"),
            purpose: TokenPurpose::Activation,
            created_at: now,
            expires_at: now + Duration::days(3),
        },
    );

    gatehouse
        .change_password(command(&gatehouse, &alice.this, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");

    assert_eq!(fakes.one_time_token("an-activation-token").used_at, None);
}

#[tokio::test]
async fn changing_twice_needs_the_new_password_the_second_time() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = alice_with_two_sessions(&gatehouse, &fakes).await;
    gatehouse
        .change_password(command(&gatehouse, &alice.this, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");
    fakes.clock.advance(Duration::minutes(1));
    let pair = refresh(&gatehouse, &alice.this.refresh).await.unwrap();
    let pair = TokenPair {
        access: pair.access,
        refresh: pair.refresh.expect("rotated"),
    };

    assert_wrong_password(
        gatehouse
            .change_password(command(&gatehouse, &pair, PASSWORD, "third passphrase here").await)
            .await,
    );

    gatehouse
        .change_password(command(&gatehouse, &pair, NEW_PASSWORD, "third passphrase here").await)
        .await
        .expect("changed again");
    assert_eq!(
        fakes.user(alice.user.id).password_hash,
        FakeHasher::hash_of("third passphrase here")
    );
    assert_eq!(
        fakes.store.sent_to(alice.user.id),
        [EmailKind::PasswordChanged, EmailKind::PasswordChanged]
    );
}
