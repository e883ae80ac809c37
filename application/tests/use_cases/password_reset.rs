//! Password reset: a link mailed to an active account only, and its confirmation,
//! which sets the password with a single-use, expiring token of that purpose.

use crate::support::{
    FakeHasher, FakeTokenGenerator, Fakes, PASSWORD, TestDeps, default_gatehouse, gatehouse,
    log_in, login_command, refresh,
};
use application::use_cases::authenticate::AuthenticateError;
use application::use_cases::change_password::ChangePasswordCommand;
use application::use_cases::login::LoginError;
use application::use_cases::password_reset::{
    ConfirmResetCommand, ConfirmResetError, ResetRequestError,
};
use application::use_cases::refresh::RefreshError;
use application::{
    AccountSettings, ClientInfo, OneTimeTokenRejection, Settings, TokenPair, TokenRejection,
};
use chrono::Duration;
use domain::ports::Clock;
use domain::{EmailKind, NewOneTimeToken, OneTimeTokenRecord, Password, TokenPurpose, User};

type Gatehouse = application::Gatehouse<TestDeps>;

const NEW_PASSWORD: &str = "a brand new passphrase";

fn reset_email(token: &str) -> EmailKind {
    EmailKind::PasswordReset {
        token: token.to_owned(),
    }
}

fn confirm(token: &str, new_password: &str) -> ConfirmResetCommand {
    ConfirmResetCommand {
        token: token.to_owned(),
        new_password: Password::new(new_password),
        client: ClientInfo::default(),
    }
}

#[track_caller]
fn rejection(result: Result<(), ConfirmResetError>) -> OneTimeTokenRejection {
    match result {
        Err(ConfirmResetError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

/// Django's messages on a refused new password.
#[track_caller]
fn weak(result: Result<(), ConfirmResetError>) -> Vec<String> {
    match result {
        Err(ConfirmResetError::WeakPassword(messages)) => messages,
        other => panic!("expected the new password to be refused, got {other:?}"),
    }
}

/// Alice, active, with a reset link just mailed; returns her and the link's token.
async fn alice_with_a_reset_link(gatehouse: &Gatehouse, fakes: &Fakes) -> (User, String) {
    let alice = fakes.add_user("alice", "alice@example.com");
    gatehouse
        .request_password_reset("alice@example.com")
        .await
        .expect("answered");
    let token = fakes.store.last_link_token(alice.id).expect("a reset link");
    (alice, token)
}

/// Asserts that the password is still `PASSWORD` and that no password-changed
/// notice was queued.
#[track_caller]
fn assert_password_unchanged(fakes: &Fakes, user: &User) {
    let stored = fakes.user(user.id);
    assert_eq!(stored.password_hash, FakeHasher::hash_of(PASSWORD));
    assert_eq!(stored.password_changed_at, user.password_changed_at);
    assert!(
        !fakes
            .store
            .sent_to(user.id)
            .contains(&EmailKind::PasswordChanged)
    );
}

// --- request_password_reset ------------------------------------------------

#[tokio::test]
async fn an_unknown_address_is_answered_as_a_known_one_and_gets_no_mail() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");

    gatehouse
        .request_password_reset("nobody@example.com")
        .await
        .expect("answered as for a known address");

    assert_eq!(fakes.store.outbox(), []);
    assert_eq!(fakes.one_time_tokens.generated(), 0);
}

#[tokio::test]
async fn an_inactive_account_is_treated_as_unknown_and_gets_no_mail() {
    let (gatehouse, fakes) = default_gatehouse();
    let bob = fakes.add_inactive_user("bob", "bob@example.com");

    gatehouse
        .request_password_reset("bob@example.com")
        .await
        .expect("answered as for a known address");

    assert_eq!(fakes.store.outbox(), []);
    assert!(fakes.store.one_time_tokens_of(bob.id).is_empty());
}

#[tokio::test]
async fn with_reveal_on_an_unknown_or_inactive_address_is_told_and_gets_no_mail() {
    let (gatehouse, fakes) = gatehouse(Settings {
        accounts: AccountSettings {
            reveal_unknown_email: true,
            ..AccountSettings::default()
        },
        ..Settings::default()
    });
    fakes.add_inactive_user("bob", "bob@example.com");

    for email in ["nobody@example.com", "bob@example.com"] {
        assert!(
            matches!(
                gatehouse.request_password_reset(email).await,
                Err(ResetRequestError::UnknownEmail)
            ),
            "{email}"
        );
    }
    assert_eq!(fakes.store.outbox(), []);
}

#[tokio::test]
async fn an_active_account_is_mailed_a_link_that_expires_in_an_hour() {
    let (gatehouse, fakes) = default_gatehouse();
    let now = fakes.clock.now();

    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;

    assert_eq!(token, "tok-1");
    assert_eq!(fakes.store.outbox(), [(alice.id, reset_email(&token))]);
    assert_eq!(
        fakes.store.one_time_tokens_of(alice.id),
        [OneTimeTokenRecord {
            id: fakes.one_time_token(&token).id,
            user_id: alice.id,
            purpose: TokenPurpose::Reset,
            created_at: now,
            expires_at: now + Duration::hours(1),
            used_at: None,
        }]
    );
    // Asking for a link changes nothing else.
    assert_password_unchanged(&fakes, &alice);
}

#[tokio::test]
async fn the_address_is_matched_case_insensitively_and_trimmed() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "Alice@example.com");

    for email in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "  Alice@Example.com ",
    ] {
        gatehouse
            .request_password_reset(email)
            .await
            .expect("answered");
        // Past the per-recipient cooldown, so that every request mails.
        fakes.clock.advance(chrono::Duration::minutes(2));
    }

    assert_eq!(
        fakes.store.sent_to(alice.id),
        [
            reset_email("tok-1"),
            reset_email("tok-2"),
            reset_email("tok-3")
        ]
    );
}

#[tokio::test]
async fn a_second_request_retires_the_first_link() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, first) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    fakes.clock.advance(Duration::minutes(5));
    let now = fakes.clock.now();

    gatehouse
        .request_password_reset("alice@example.com")
        .await
        .expect("answered");

    let second = fakes
        .store
        .last_link_token(alice.id)
        .expect("a second link");
    assert_ne!(first, second);
    assert_eq!(fakes.one_time_token(&first).used_at, Some(now));
    assert_eq!(fakes.one_time_token(&second).used_at, None);
    assert_eq!(
        rejection(
            gatehouse
                .confirm_password_reset(confirm(&first, NEW_PASSWORD))
                .await
        ),
        OneTimeTokenRejection::Invalid
    );
    gatehouse
        .confirm_password_reset(confirm(&second, NEW_PASSWORD))
        .await
        .expect("the newest link works");
}

#[tokio::test]
async fn a_reset_request_leaves_a_pending_activation_link_alone() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let now = fakes.clock.now();
    fakes.store.insert_one_time_token(
        alice.id,
        &NewOneTimeToken {
            raw: "an-activation-token".to_owned(),
            digest: FakeTokenGenerator::digest_of("an-activation-token"),
            purpose: TokenPurpose::Activation,
            created_at: now,
            expires_at: now + Duration::days(3),
        },
    );

    gatehouse
        .request_password_reset("alice@example.com")
        .await
        .expect("answered");

    assert_eq!(fakes.one_time_token("an-activation-token").used_at, None);
}

// --- confirm_password_reset ------------------------------------------------

#[tokio::test]
async fn a_reset_sets_the_password_ends_every_session_and_queues_a_notice() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    let first = log_in(&gatehouse, "alice").await;
    let second = log_in(&gatehouse, "alice").await;
    // Within the access tokens' five minutes, so that only the reset refuses them.
    fakes.clock.advance(Duration::minutes(2));
    let now = fakes.clock.now();

    gatehouse
        .confirm_password_reset(confirm(&token, NEW_PASSWORD))
        .await
        .expect("reset");

    let stored = fakes.user(alice.id);
    assert_eq!(stored.password_hash, FakeHasher::hash_of(NEW_PASSWORD));
    assert_eq!(stored.password_changed_at, now);
    let sessions = fakes.store.tokens_of(alice.id);
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|t| t.revoked_at == Some(now)));
    assert_eq!(fakes.one_time_token(&token).used_at, Some(now));
    assert_eq!(
        fakes.store.sent_to(alice.id),
        [reset_email(&token), EmailKind::PasswordChanged]
    );

    for pair in [&first, &second] {
        let error = refresh(&gatehouse, &pair.refresh).await.unwrap_err();
        assert!(
            matches!(error, RefreshError::Token(TokenRejection::Blacklisted)),
            "{error:?}"
        );
        let error = gatehouse.authenticate(&pair.access).await.unwrap_err();
        assert!(
            matches!(error, AuthenticateError::Token(TokenRejection::Blacklisted)),
            "{error:?}"
        );
    }
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
async fn an_access_token_from_before_the_reset_is_refused_as_blacklisted_and_one_from_after_is_accepted()
 {
    let (gatehouse, fakes) = gatehouse(Settings::default());
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    let before = log_in(&gatehouse, "alice").await;
    fakes.clock.advance(Duration::minutes(1));
    gatehouse
        .confirm_password_reset(confirm(&token, NEW_PASSWORD))
        .await
        .expect("reset");
    fakes.clock.advance(Duration::minutes(1));
    let after = log_in_with(&gatehouse, NEW_PASSWORD).await;

    // The reset ended the old session, which is checked before the password change.
    let error = gatehouse.authenticate(&before.access).await.unwrap_err();
    assert!(
        matches!(error, AuthenticateError::Token(TokenRejection::Blacklisted)),
        "{error:?}"
    );
    let principal = gatehouse
        .authenticate(&after.access)
        .await
        .expect("a token from after the reset is accepted");
    assert_eq!(principal.profile.user.id, alice.id);
}

async fn log_in_with(gatehouse: &Gatehouse, password: &str) -> TokenPair {
    gatehouse
        .login(login_command("alice", password))
        .await
        .expect("logged in")
}

#[tokio::test]
async fn a_used_link_is_invalid() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    gatehouse
        .confirm_password_reset(confirm(&token, NEW_PASSWORD))
        .await
        .expect("reset");
    fakes.clock.advance(Duration::minutes(1));

    let error = rejection(
        gatehouse
            .confirm_password_reset(confirm(&token, "another passphrase entirely"))
            .await,
    );

    assert_eq!(error, OneTimeTokenRejection::Invalid);
    assert_eq!(error.to_string(), "Invalid token.");
    assert_eq!(
        fakes.user(alice.id).password_hash,
        FakeHasher::hash_of(NEW_PASSWORD)
    );
    assert_eq!(
        fakes.store.sent_to(alice.id),
        [reset_email(&token), EmailKind::PasswordChanged]
    );
}

#[tokio::test]
async fn an_expired_link_says_so_and_changes_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    let session = log_in(&gatehouse, "alice").await;
    fakes
        .clock
        .advance(Duration::hours(1) + Duration::seconds(1));

    let error = rejection(
        gatehouse
            .confirm_password_reset(confirm(&token, NEW_PASSWORD))
            .await,
    );

    assert_eq!(error, OneTimeTokenRejection::Expired);
    assert_eq!(error.to_string(), "Token has expired.");
    assert_password_unchanged(&fakes, &alice);
    assert_eq!(fakes.one_time_token(&token).used_at, None);
    assert_eq!(
        fakes
            .store
            .token(fakes.jti(&session.refresh))
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn a_link_still_works_just_before_an_hour() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    fakes
        .clock
        .advance(Duration::hours(1) - Duration::seconds(1));

    gatehouse
        .confirm_password_reset(confirm(&token, NEW_PASSWORD))
        .await
        .expect("reset");

    assert_eq!(
        fakes.user(alice.id).password_hash,
        FakeHasher::hash_of(NEW_PASSWORD)
    );
}

#[tokio::test]
async fn the_configured_reset_lifetime_is_honoured() {
    let (gatehouse, fakes) = gatehouse(Settings {
        accounts: AccountSettings {
            reset_token_lifetime: Duration::minutes(15),
            ..AccountSettings::default()
        },
        ..Settings::default()
    });
    let (_alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    assert_eq!(
        fakes.one_time_token(&token).expires_at,
        fakes.clock.now() + Duration::minutes(15)
    );
    fakes
        .clock
        .advance(Duration::minutes(15) + Duration::seconds(1));

    assert_eq!(
        rejection(
            gatehouse
                .confirm_password_reset(confirm(&token, NEW_PASSWORD))
                .await
        ),
        OneTimeTokenRejection::Expired
    );
}

#[tokio::test]
async fn an_activation_token_does_not_reset_a_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let now = fakes.clock.now();
    fakes.store.insert_one_time_token(
        alice.id,
        &NewOneTimeToken {
            raw: "an-activation-token".to_owned(),
            digest: FakeTokenGenerator::digest_of("an-activation-token"),
            purpose: TokenPurpose::Activation,
            created_at: now,
            expires_at: now + Duration::days(3),
        },
    );

    assert_eq!(
        rejection(
            gatehouse
                .confirm_password_reset(confirm("an-activation-token", NEW_PASSWORD))
                .await
        ),
        OneTimeTokenRejection::Invalid
    );

    assert_password_unchanged(&fakes, &alice);
    assert_eq!(fakes.one_time_token("an-activation-token").used_at, None);
}

#[tokio::test]
async fn an_unknown_link_is_invalid() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;

    for garbage in ["", "garbage", "tok-2", &format!("{token}x")] {
        assert_eq!(
            rejection(
                gatehouse
                    .confirm_password_reset(confirm(garbage, NEW_PASSWORD))
                    .await
            ),
            OneTimeTokenRejection::Invalid,
            "{garbage:?}"
        );
    }
    assert_password_unchanged(&fakes, &alice);
}

#[tokio::test]
async fn a_weak_password_gets_djangos_messages_and_keeps_the_link() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;

    let messages = weak(
        gatehouse
            .confirm_password_reset(confirm(&token, "1234567"))
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
    assert_password_unchanged(&fakes, &alice);
    assert_eq!(fakes.one_time_token(&token).used_at, None);

    gatehouse
        .confirm_password_reset(confirm(&token, NEW_PASSWORD))
        .await
        .expect("the link still works with a good password");
}

#[tokio::test]
async fn a_password_like_the_email_address_is_too_similar_to_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;

    let messages = weak(
        gatehouse
            .confirm_password_reset(confirm(&token, "alice@example.com"))
            .await,
    );

    assert_eq!(
        messages,
        ["The password is too similar to the email address."]
    );
    assert_password_unchanged(&fakes, &alice);
}

#[tokio::test]
async fn the_link_of_a_user_deactivated_meanwhile_is_invalid() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    fakes.store.update_user(alice.id, |u| u.is_active = false);

    assert_eq!(
        rejection(
            gatehouse
                .confirm_password_reset(confirm(&token, NEW_PASSWORD))
                .await
        ),
        OneTimeTokenRejection::Invalid
    );

    assert_password_unchanged(&fakes, &alice);
    assert!(!fakes.user(alice.id).is_active);
}

#[tokio::test]
async fn the_link_of_a_deleted_user_is_invalid() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    assert!(fakes.delete_user(alice.id).await);

    assert_eq!(
        rejection(
            gatehouse
                .confirm_password_reset(confirm(&token, NEW_PASSWORD))
                .await
        ),
        OneTimeTokenRejection::Invalid
    );
}

#[tokio::test]
async fn a_pending_link_dies_when_the_password_is_changed_another_way() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    let pair = log_in(&gatehouse, "alice").await;
    let principal = gatehouse.authenticate(&pair.access).await.unwrap();
    gatehouse
        .change_password(ChangePasswordCommand {
            user: principal.profile.user,
            session: principal.credential.session(),
            current_password: Password::new(PASSWORD),
            new_password: Password::new(NEW_PASSWORD),
            client: ClientInfo::default(),
        })
        .await
        .expect("changed");

    assert_eq!(
        rejection(
            gatehouse
                .confirm_password_reset(confirm(&token, "a third passphrase"))
                .await
        ),
        OneTimeTokenRejection::Invalid
    );
    assert_eq!(
        fakes.user(alice.id).password_hash,
        FakeHasher::hash_of(NEW_PASSWORD)
    );
}

#[tokio::test]
async fn a_link_used_by_a_concurrent_request_is_invalid_and_nothing_changes() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    let session = log_in(&gatehouse, "alice").await;
    let digest = FakeTokenGenerator::digest_of(&token);
    let at = fakes.clock.now();
    fakes
        .store
        .after_next_token_lookup(move |store| store.use_one_time_token(&digest, at));

    assert_eq!(
        rejection(
            gatehouse
                .confirm_password_reset(confirm(&token, NEW_PASSWORD))
                .await
        ),
        OneTimeTokenRejection::Invalid
    );

    assert_password_unchanged(&fakes, &alice);
    assert_eq!(
        fakes
            .store
            .token(fakes.jti(&session.refresh))
            .unwrap()
            .revoked_at,
        None
    );
}

#[tokio::test]
async fn another_users_sessions_survive_a_reset() {
    let (gatehouse, fakes) = default_gatehouse();
    let bob = fakes.add_user("bob", "bob@example.com");
    let bobs = log_in(&gatehouse, "bob").await;
    let (_alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;

    gatehouse
        .confirm_password_reset(confirm(&token, NEW_PASSWORD))
        .await
        .expect("reset");

    let sessions = fakes.store.tokens_of(bob.id);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].revoked_at, None);
    gatehouse
        .authenticate(&bobs.access)
        .await
        .expect("bob is still signed in");
    assert_eq!(fakes.store.sent_to(bob.id), []);
}

#[tokio::test]
async fn authenticate_after_a_reset_refuses_the_old_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let (_alice, token) = alice_with_a_reset_link(&gatehouse, &fakes).await;
    let pair = log_in(&gatehouse, "alice").await;
    fakes.clock.advance(Duration::minutes(1));

    gatehouse
        .confirm_password_reset(confirm(&token, NEW_PASSWORD))
        .await
        .expect("reset");

    let error = gatehouse.authenticate(&pair.access).await.unwrap_err();
    assert!(
        matches!(error, AuthenticateError::Token(TokenRejection::Blacklisted)),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_commands_debug_form_hides_the_token() {
    let command = confirm("tok-secret-reset-token", NEW_PASSWORD);

    let shown = format!("{command:?}");

    assert!(!shown.contains("tok-secret-reset-token"), "{shown}");
    assert!(!shown.contains(NEW_PASSWORD), "{shown}");
}
