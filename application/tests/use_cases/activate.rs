//! Activation: the link from the activation email, single use, for that purpose
//! only, expiring; and resending it to an inactive account, and to nobody else.

use crate::support::{
    FakeHasher, FakeTokenGenerator, Fakes, PASSWORD, TestDeps, gatehouse, login_command,
};
use application::use_cases::activate::ActivateError;
use application::use_cases::login::LoginError;
use application::use_cases::password_reset::{ConfirmResetCommand, ConfirmResetError};
use application::use_cases::register::{RegisterCommand, Registered};
use application::{
    AccountSettings, ClientInfo, OneTimeTokenRejection, RegistrationSettings, Settings,
};
use chrono::Duration;
use domain::ports::{Clock, OneTimeTokenRepository};
use domain::{EmailKind, MailedToken, NewOneTimeToken, Password, TokenPurpose, User, UserId};

type Gatehouse = application::Gatehouse<TestDeps>;

fn requiring_activation() -> Settings {
    Settings {
        registration: RegistrationSettings {
            require_activation: true,
            ..RegistrationSettings::default()
        },
        ..Settings::default()
    }
}

/// A `Gatehouse` whose registrations await activation.
fn activating_gatehouse() -> (Gatehouse, Fakes) {
    gatehouse(requiring_activation())
}

/// Registers `erin`, who must activate his account.
async fn register_erin(gatehouse: &Gatehouse) -> Registered {
    gatehouse
        .register(RegisterCommand {
            email: "erin@example.com".to_owned(),
            username: Some("erin".to_owned()),
            password: Password::new(PASSWORD),
            password2: None,
            first_name: String::new(),
            last_name: String::new(),
            client: ClientInfo::default(),
        })
        .await
        .expect("registered")
}

/// The inactive user just registered and the token of his activation link.
async fn registered_erin(gatehouse: &Gatehouse, fakes: &Fakes) -> (User, String) {
    let registered = register_erin(gatehouse).await;
    let user = fakes.user(registered.profile.user.id);
    assert!(!user.is_active);
    let token = fakes
        .store
        .last_link_token(user.id)
        .expect("an activation link was queued");
    (user, token)
}

#[track_caller]
fn rejection(result: Result<(), ActivateError>) -> OneTimeTokenRejection {
    match result {
        Err(ActivateError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

fn activation_email(token: &str) -> EmailKind {
    EmailKind::Activation {
        token: token.to_owned(),
    }
}

/// Stores a one-time token for the user and queues its link, as the store would for
/// a token the use cases issued.
async fn issue(fakes: &Fakes, user_id: UserId, purpose: TokenPurpose, raw: &str) {
    let now = fakes.clock.now();
    let token = NewOneTimeToken {
        raw: raw.to_owned(),
        digest: FakeTokenGenerator::digest_of(raw),
        purpose,
        created_at: now,
        expires_at: now + Duration::hours(1),
    };
    let email = match purpose {
        TokenPurpose::Reset => EmailKind::PasswordReset {
            token: raw.to_owned(),
        },
        TokenPurpose::Activation => EmailKind::Activation {
            token: raw.to_owned(),
        },
    };
    fakes
        .store
        .one_time_tokens()
        .issue(user_id, MailedToken { token, email }, Duration::zero())
        .await
        .expect("issued");
}

// --- activate ----------------------------------------------------------------

#[tokio::test]
async fn the_link_activates_the_account_consumes_the_token_and_queues_the_confirmation() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, token) = registered_erin(&gatehouse, &fakes).await;
    fakes.clock.advance(Duration::hours(5));
    let now = fakes.clock.now();

    gatehouse
        .activate(&token, &ClientInfo::UNKNOWN)
        .await
        .expect("activated");

    let stored = fakes.user(user.id);
    assert!(stored.is_active);
    assert_eq!(stored.password_hash, user.password_hash);
    assert_eq!(fakes.one_time_token(&token).used_at, Some(now));
    assert_eq!(
        fakes.store.sent_to(user.id),
        [activation_email(&token), EmailKind::ActivationConfirmed]
    );
    assert_eq!(fakes.store.outbox().len(), 2);
    gatehouse
        .login(login_command("erin", PASSWORD))
        .await
        .expect("an active user logs in");
}

#[tokio::test]
async fn an_inactive_user_cannot_log_in_before_activating() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (_user, token) = registered_erin(&gatehouse, &fakes).await;

    let error = gatehouse
        .login(login_command("erin", PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(error, LoginError::InvalidCredentials), "{error:?}");

    gatehouse
        .activate(&token, &ClientInfo::UNKNOWN)
        .await
        .expect("activated");
    gatehouse
        .login(login_command("erin", PASSWORD))
        .await
        .expect("an active user logs in");
}

#[tokio::test]
async fn a_token_activates_only_once() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, token) = registered_erin(&gatehouse, &fakes).await;
    gatehouse
        .activate(&token, &ClientInfo::UNKNOWN)
        .await
        .expect("activated");
    let used_at = fakes.one_time_token(&token).used_at;
    fakes.clock.advance(Duration::minutes(1));

    assert_eq!(
        rejection(gatehouse.activate(&token, &ClientInfo::UNKNOWN).await),
        OneTimeTokenRejection::Invalid
    );

    assert_eq!(fakes.one_time_token(&token).used_at, used_at);
    assert_eq!(
        fakes.store.sent_to(user.id),
        [activation_email(&token), EmailKind::ActivationConfirmed]
    );
}

#[tokio::test]
async fn a_used_token_is_invalid_even_after_it_would_have_expired() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (_user, token) = registered_erin(&gatehouse, &fakes).await;
    gatehouse
        .activate(&token, &ClientInfo::UNKNOWN)
        .await
        .expect("activated");
    fakes.clock.advance(Duration::days(4));

    assert_eq!(
        rejection(gatehouse.activate(&token, &ClientInfo::UNKNOWN).await),
        OneTimeTokenRejection::Invalid
    );
}

#[tokio::test]
async fn a_reset_token_does_not_activate() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, _activation) = registered_erin(&gatehouse, &fakes).await;
    issue(&fakes, user.id, TokenPurpose::Reset, "a-reset-token").await;
    let outbox = fakes.store.outbox();

    assert_eq!(
        rejection(
            gatehouse
                .activate("a-reset-token", &ClientInfo::UNKNOWN)
                .await
        ),
        OneTimeTokenRejection::Invalid
    );

    assert!(!fakes.user(user.id).is_active);
    assert_eq!(fakes.one_time_token("a-reset-token").used_at, None);
    assert_eq!(fakes.store.outbox(), outbox);
}

#[tokio::test]
async fn an_activation_token_does_not_reset_the_password_and_still_activates_afterwards() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, token) = registered_erin(&gatehouse, &fakes).await;

    let error = gatehouse
        .confirm_password_reset(ConfirmResetCommand {
            token: token.clone(),
            new_password: Password::new("a brand new passphrase"),
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
    let stored = fakes.user(user.id);
    assert_eq!(stored.password_hash, FakeHasher::hash_of(PASSWORD));
    assert!(!stored.is_active);
    assert_eq!(fakes.one_time_token(&token).used_at, None);

    gatehouse
        .activate(&token, &ClientInfo::UNKNOWN)
        .await
        .expect("activated");
    assert!(fakes.user(user.id).is_active);
}

#[tokio::test]
async fn an_expired_token_says_so_and_changes_nothing() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, token) = registered_erin(&gatehouse, &fakes).await;
    fakes
        .clock
        .advance(Duration::days(3) + Duration::seconds(1));

    let error = rejection(gatehouse.activate(&token, &ClientInfo::UNKNOWN).await);

    assert_eq!(error, OneTimeTokenRejection::Expired);
    assert_eq!(error.to_string(), "Token has expired.");
    assert!(!fakes.user(user.id).is_active);
    assert_eq!(fakes.one_time_token(&token).used_at, None);
    assert_eq!(fakes.store.sent_to(user.id), [activation_email(&token)]);
}

#[tokio::test]
async fn a_token_still_works_just_before_three_days() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, token) = registered_erin(&gatehouse, &fakes).await;
    fakes
        .clock
        .advance(Duration::days(3) - Duration::seconds(1));

    gatehouse
        .activate(&token, &ClientInfo::UNKNOWN)
        .await
        .expect("activated");

    assert!(fakes.user(user.id).is_active);
}

#[tokio::test]
async fn the_configured_activation_lifetime_is_honoured() {
    let (gatehouse, fakes) = gatehouse(Settings {
        accounts: AccountSettings {
            activation_token_lifetime: Duration::hours(2),
            ..AccountSettings::default()
        },
        ..requiring_activation()
    });
    let (_user, token) = registered_erin(&gatehouse, &fakes).await;
    fakes
        .clock
        .advance(Duration::hours(2) + Duration::seconds(1));

    assert_eq!(
        rejection(gatehouse.activate(&token, &ClientInfo::UNKNOWN).await),
        OneTimeTokenRejection::Expired
    );
}

#[tokio::test]
async fn an_unknown_token_is_invalid() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, token) = registered_erin(&gatehouse, &fakes).await;

    for garbage in [
        "",
        "garbage",
        "tok-999",
        &token.to_uppercase(),
        &format!("{token} "),
    ] {
        let error = rejection(gatehouse.activate(garbage, &ClientInfo::UNKNOWN).await);
        assert_eq!(error, OneTimeTokenRejection::Invalid, "{garbage:?}");
        assert_eq!(error.to_string(), "Invalid token.");
    }
    assert!(!fakes.user(user.id).is_active);
    assert_eq!(fakes.store.sent_to(user.id), [activation_email(&token)]);
}

#[tokio::test]
async fn the_token_of_a_deleted_user_is_invalid() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, token) = registered_erin(&gatehouse, &fakes).await;
    assert!(fakes.delete_user(user.id).await);

    assert_eq!(
        rejection(gatehouse.activate(&token, &ClientInfo::UNKNOWN).await),
        OneTimeTokenRejection::Invalid
    );
    assert_eq!(fakes.store.user_count(), 0);
}

#[tokio::test]
async fn a_token_consumed_between_the_check_and_the_activation_is_invalid() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, token) = registered_erin(&gatehouse, &fakes).await;
    let digest = FakeTokenGenerator::digest_of(&token);
    let at = fakes.clock.now();
    fakes
        .store
        .after_next_token_lookup(move |store| store.use_one_time_token(&digest, at));

    assert_eq!(
        rejection(gatehouse.activate(&token, &ClientInfo::UNKNOWN).await),
        OneTimeTokenRejection::Invalid
    );

    assert!(!fakes.user(user.id).is_active);
    assert_eq!(fakes.store.sent_to(user.id), [activation_email(&token)]);
}

// --- resend_activation -------------------------------------------------------

#[tokio::test]
async fn resending_to_an_unknown_address_sends_nothing() {
    let (gatehouse, fakes) = activating_gatehouse();
    fakes.add_user("alice", "alice@example.com");

    gatehouse
        .resend_activation("nobody@example.com")
        .await
        .expect("answered as for anyone");

    assert_eq!(fakes.store.outbox(), []);
    assert_eq!(fakes.one_time_tokens.generated(), 0);
}

#[tokio::test]
async fn resending_to_an_active_account_sends_nothing() {
    let (gatehouse, fakes) = activating_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    gatehouse
        .resend_activation("alice@example.com")
        .await
        .expect("answered as for anyone");

    assert_eq!(fakes.store.outbox(), []);
    assert!(fakes.store.one_time_tokens_of(alice.id).is_empty());
    assert!(fakes.user(alice.id).is_active);
}

#[tokio::test]
async fn resending_to_an_inactive_account_mails_a_new_link_and_retires_the_old_one() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, first) = registered_erin(&gatehouse, &fakes).await;
    fakes.clock.advance(Duration::hours(1));
    let now = fakes.clock.now();

    gatehouse
        .resend_activation("erin@example.com")
        .await
        .expect("answered as for anyone");

    let second = fakes.store.last_link_token(user.id).expect("a new link");
    assert_ne!(second, first);
    assert_eq!(
        fakes.store.sent_to(user.id),
        [activation_email(&first), activation_email(&second)]
    );
    assert_eq!(fakes.one_time_token(&first).used_at, Some(now));
    let record = fakes.one_time_token(&second);
    assert_eq!(record.purpose, TokenPurpose::Activation);
    assert_eq!(
        (record.created_at, record.expires_at, record.used_at),
        (now, now + Duration::days(3), None)
    );

    assert_eq!(
        rejection(gatehouse.activate(&first, &ClientInfo::UNKNOWN).await),
        OneTimeTokenRejection::Invalid
    );
    assert!(!fakes.user(user.id).is_active);
    gatehouse
        .activate(&second, &ClientInfo::UNKNOWN)
        .await
        .expect("activated");
    assert!(fakes.user(user.id).is_active);
}

#[tokio::test]
async fn unknown_active_and_inactive_addresses_are_answered_alike_and_only_the_inactive_is_mailed()
{
    let (gatehouse, fakes) = activating_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let bob = fakes.add_inactive_user("bob", "bob@example.com");

    let answers = [
        gatehouse.resend_activation("nobody@example.com").await.ok(),
        gatehouse.resend_activation("alice@example.com").await.ok(),
        gatehouse.resend_activation("bob@example.com").await.ok(),
    ];

    assert_eq!(answers, [Some(()), Some(()), Some(())]);
    assert_eq!(fakes.store.sent_to(alice.id), []);
    assert_eq!(fakes.store.outbox(), [(bob.id, activation_email("tok-1"))]);
}

#[tokio::test]
async fn resending_matches_the_address_case_insensitively_and_trimmed() {
    let (gatehouse, fakes) = activating_gatehouse();
    let bob = fakes.add_inactive_user("bob", "bob@example.com");

    gatehouse
        .resend_activation(" BOB@Example.COM ")
        .await
        .expect("answered as for anyone");

    assert_eq!(fakes.store.sent_to(bob.id), [activation_email("tok-1")]);
}

#[tokio::test]
async fn a_resent_link_also_retires_a_previous_resent_link() {
    let (gatehouse, fakes) = activating_gatehouse();
    let bob = fakes.add_inactive_user("bob", "bob@example.com");
    gatehouse
        .resend_activation("bob@example.com")
        .await
        .unwrap();
    fakes.clock.advance(Duration::minutes(2));
    gatehouse
        .resend_activation("bob@example.com")
        .await
        .unwrap();

    let tokens = fakes.store.one_time_tokens_of(bob.id);
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0].used_at, Some(fakes.clock.now()));
    assert_eq!(tokens[1].used_at, None);
    assert_eq!(
        rejection(gatehouse.activate("tok-1", &ClientInfo::UNKNOWN).await),
        OneTimeTokenRejection::Invalid
    );
    gatehouse
        .activate("tok-2", &ClientInfo::UNKNOWN)
        .await
        .expect("activated");
}

#[tokio::test]
async fn resending_activation_leaves_a_pending_reset_link_alone() {
    let (gatehouse, fakes) = activating_gatehouse();
    let bob = fakes.add_inactive_user("bob", "bob@example.com");
    issue(&fakes, bob.id, TokenPurpose::Reset, "a-reset-token").await;

    gatehouse
        .resend_activation("bob@example.com")
        .await
        .unwrap();

    assert_eq!(fakes.one_time_token("a-reset-token").used_at, None);
}

#[tokio::test]
async fn an_expired_token_of_another_purpose_is_invalid_rather_than_expired() {
    let (gatehouse, fakes) = activating_gatehouse();
    let (user, _activation) = registered_erin(&gatehouse, &fakes).await;
    issue(&fakes, user.id, TokenPurpose::Reset, "a-reset-token").await;
    fakes.clock.advance(Duration::days(4));

    assert_eq!(
        rejection(
            gatehouse
                .activate("a-reset-token", &ClientInfo::UNKNOWN)
                .await
        ),
        OneTimeTokenRejection::Invalid
    );
}

#[tokio::test]
async fn resend_sends_nothing_to_an_account_an_administrator_deactivated() {
    let (gatehouse, fakes) = activating_gatehouse();
    let user = fakes.add_user("deactivated", "deactivated@example.com");
    fakes.store.update_user(user.id, |u| u.is_active = false);

    gatehouse
        .resend_activation("deactivated@example.com")
        .await
        .unwrap();

    assert!(fakes.store.sent_to(user.id).is_empty());
}

#[tokio::test]
async fn a_second_resend_within_the_cooldown_sends_nothing_and_keeps_the_first_link() {
    let (gatehouse, fakes) = activating_gatehouse();
    let bob = fakes.add_inactive_user("bob", "bob@example.com");
    gatehouse
        .resend_activation("bob@example.com")
        .await
        .unwrap();
    fakes.clock.advance(Duration::seconds(59));

    gatehouse
        .resend_activation("bob@example.com")
        .await
        .unwrap();

    assert_eq!(fakes.store.one_time_tokens_of(bob.id).len(), 1);
    assert_eq!(fakes.store.sent_to(bob.id).len(), 1);
    gatehouse
        .activate("tok-1", &ClientInfo::UNKNOWN)
        .await
        .expect("the first link still works");
}
