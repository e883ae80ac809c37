//! Authenticate: an access token checked against the store, so that logout,
//! deactivation, deletion and password changes take effect at once.

use crate::support::{PASSWORD, default_gatehouse, log_in, refresh};
use application::use_cases::authenticate::{AuthenticateError, Credential, Principal};
use application::{ClientInfo, TokenRejection};
use chrono::Duration;
use domain::ports::{Clock, TokenCodec};
use domain::{Password, TokenType};

#[track_caller]
fn rejection(result: Result<Principal, AuthenticateError>) -> TokenRejection {
    match result {
        Err(AuthenticateError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_live_access_token_authenticates_its_user_in_its_session() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("bob", "bob@example.com");
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    let principal = gatehouse
        .authenticate(&pair.access)
        .await
        .expect("authenticated");

    assert_eq!(principal.profile.user.id, alice.id);
    assert_eq!(principal.profile.user.username.as_str(), "alice");
    assert_eq!(
        principal.credential,
        Credential::AccessToken {
            session: Some(fakes.sid(&pair.refresh)),
            claims: fakes.claims(&pair.access),
        }
    );
}

#[tokio::test]
async fn a_refresh_token_presented_as_access_has_the_wrong_type() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    assert_eq!(
        rejection(gatehouse.authenticate(&pair.refresh).await),
        TokenRejection::WrongType
    );
}

#[tokio::test]
async fn garbage_is_an_invalid_token() {
    let (gatehouse, _fakes) = default_gatehouse();

    for garbage in ["", "Bearer", "eyJhbGciOiJub25lIn0.e30."] {
        assert_eq!(
            rejection(gatehouse.authenticate(garbage).await),
            TokenRejection::Invalid,
            "{garbage:?}"
        );
    }
}

#[tokio::test]
async fn an_expired_access_token_is_expired() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    fakes.clock.advance(Duration::minutes(5));
    assert_eq!(
        gatehouse
            .authenticate(&pair.access)
            .await
            .unwrap()
            .profile
            .user
            .username
            .as_str(),
        "alice"
    );
    fakes.clock.advance(Duration::seconds(1));
    assert_eq!(
        rejection(gatehouse.authenticate(&pair.access).await),
        TokenRejection::Expired
    );
}

#[tokio::test]
async fn a_token_with_malformed_identifiers_is_invalid() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let good = fakes.claims(&pair.access);

    let mut not_a_number = good.clone();
    not_a_number.user_id = "alice".to_owned();
    let mut not_a_uuid = good.clone();
    not_a_uuid.sid = Some("session-1".to_owned());
    let mut bad_jti = good;
    bad_jti.jti = "1".to_owned();

    for claims in [not_a_number, not_a_uuid, bad_jti] {
        let token = fakes.tokens.encode(&claims).unwrap();
        assert_eq!(
            rejection(gatehouse.authenticate(&token).await),
            TokenRejection::Invalid,
            "{claims:?}"
        );
    }
}

#[tokio::test]
async fn an_inactive_users_access_token_is_refused() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    fakes.store.update_user(alice.id, |u| u.is_active = false);

    let error = gatehouse.authenticate(&pair.access).await.unwrap_err();

    assert!(
        matches!(error, AuthenticateError::UserInactive),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "User is inactive");
}

#[tokio::test]
async fn a_deleted_users_access_token_is_refused_as_user_not_found() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    gatehouse
        .delete_me(&alice, &Password::new(PASSWORD))
        .await
        .expect("deleted");

    let error = gatehouse.authenticate(&pair.access).await.unwrap_err();

    assert!(
        matches!(error, AuthenticateError::UserNotFound),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "User not found");
}

#[tokio::test]
async fn logout_takes_effect_on_the_sessions_access_tokens_at_once() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let other = log_in(&gatehouse, "alice").await;

    gatehouse
        .logout(&pair.refresh, &ClientInfo::UNKNOWN)
        .await
        .expect("logout");

    assert_eq!(
        rejection(gatehouse.authenticate(&pair.access).await),
        TokenRejection::Blacklisted
    );
    let still_in = gatehouse
        .authenticate(&other.access)
        .await
        .expect("other session");
    assert_eq!(
        still_in.credential.session(),
        Some(fakes.sid(&other.refresh))
    );
}

#[tokio::test]
async fn logout_everywhere_refuses_every_access_token_of_the_user() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let first = log_in(&gatehouse, "alice").await;
    let second = log_in(&gatehouse, "alice").await;

    gatehouse
        .logout_all(alice.id, &ClientInfo::UNKNOWN)
        .await
        .expect("logout everywhere");

    for access in [first.access, second.access] {
        assert_eq!(
            rejection(gatehouse.authenticate(&access).await),
            TokenRejection::Blacklisted
        );
    }
}

#[tokio::test]
async fn an_access_token_issued_before_the_last_password_change_is_refused() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    fakes.clock.advance(Duration::minutes(1));
    let changed_at = fakes.clock.now();
    fakes
        .store
        .update_user(alice.id, |u| u.password_changed_at = changed_at);

    let error = gatehouse.authenticate(&pair.access).await.unwrap_err();

    assert!(
        matches!(error, AuthenticateError::PasswordChanged),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "The user's password has been changed.");
}

#[tokio::test]
async fn an_access_token_issued_after_the_last_password_change_is_accepted() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes.clock.advance(Duration::minutes(1));
    let changed_at = fakes.clock.now();
    fakes
        .store
        .update_user(alice.id, |u| u.password_changed_at = changed_at);
    fakes.clock.advance(Duration::seconds(1));

    let pair = log_in(&gatehouse, "alice").await;

    let principal = gatehouse
        .authenticate(&pair.access)
        .await
        .expect("accepted");
    assert_eq!(principal.profile.user.password_changed_at, changed_at);
}

#[tokio::test]
async fn a_refreshed_access_token_outlives_a_password_change_made_before_the_refresh() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    fakes.clock.advance(Duration::minutes(1));
    let changed_at = fakes.clock.now();
    fakes
        .store
        .update_user(alice.id, |u| u.password_changed_at = changed_at);
    fakes.clock.advance(Duration::seconds(1));

    let refreshed = refresh(&gatehouse, &pair.refresh).await.expect("refresh");

    assert!(matches!(
        gatehouse.authenticate(&pair.access).await,
        Err(AuthenticateError::PasswordChanged)
    ));
    let principal = gatehouse
        .authenticate(&refreshed.access)
        .await
        .expect("fresh token");
    let claims = principal
        .credential
        .claims()
        .cloned()
        .expect("an access token's claims");
    assert_eq!(claims.token_type, TokenType::Access);
    assert_eq!(claims.iat, fakes.clock.now().timestamp());
}

#[tokio::test]
async fn access_tokens_of_a_rotated_session_stay_valid_until_they_expire() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    refresh(&gatehouse, &pair.refresh).await.expect("rotation");

    let principal = gatehouse
        .authenticate(&pair.access)
        .await
        .expect("still valid");
    assert_eq!(
        principal.credential.session(),
        Some(fakes.sid(&pair.refresh))
    );
    fakes
        .clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    assert_eq!(
        rejection(gatehouse.authenticate(&pair.access).await),
        TokenRejection::Expired
    );
}
