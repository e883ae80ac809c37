//! Verify (is this token good here and now?) and logout (one session, or all).

use crate::support::{PASSWORD, default_gatehouse, log_in, refresh};
use application::use_cases::logout::LogoutError;
use application::use_cases::verify::VerifyError;
use application::{ClientInfo, TokenRejection};
use chrono::Duration;
use domain::ports::{Clock, TokenCodec};
use domain::{Claims, Password, TokenType};
use uuid::Uuid;

#[track_caller]
fn verify_rejection(result: Result<(), VerifyError>) -> TokenRejection {
    match result {
        Err(VerifyError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

#[track_caller]
fn logout_rejection(result: Result<(), LogoutError>) -> TokenRejection {
    match result {
        Err(LogoutError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

#[track_caller]
fn refresh_rejection<T: std::fmt::Debug>(
    result: Result<T, application::use_cases::refresh::RefreshError>,
) -> TokenRejection {
    match result {
        Err(application::use_cases::refresh::RefreshError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

// --- verify ----------------------------------------------------------------

#[tokio::test]
async fn a_live_access_token_and_a_live_refresh_token_verify() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    assert_eq!(gatehouse.verify(&pair.access).await.ok(), Some(()));
    assert_eq!(gatehouse.verify(&pair.refresh).await.ok(), Some(()));
    // Verifying uses nothing up.
    assert_eq!(fakes.store.family(fakes.sid(&pair.refresh)).len(), 1);
    assert_eq!(
        fakes
            .store
            .token(fakes.jti(&pair.refresh))
            .unwrap()
            .revoked_at,
        None
    );
}

#[tokio::test]
async fn garbage_does_not_verify() {
    let (gatehouse, _fakes) = default_gatehouse();

    for garbage in ["", "garbage", "x.y.z"] {
        assert_eq!(
            verify_rejection(gatehouse.verify(garbage).await),
            TokenRejection::Invalid,
            "{garbage:?}"
        );
    }
}

#[tokio::test]
async fn expired_tokens_do_not_verify() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    fakes
        .clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    assert_eq!(
        verify_rejection(gatehouse.verify(&pair.access).await),
        TokenRejection::Expired
    );
    assert_eq!(gatehouse.verify(&pair.refresh).await.ok(), Some(()));

    fakes.clock.advance(Duration::days(1));
    assert_eq!(
        verify_rejection(gatehouse.verify(&pair.refresh).await),
        TokenRejection::Expired
    );
}

#[tokio::test]
async fn a_logged_out_refresh_token_is_blacklisted_at_verify() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    gatehouse
        .logout(&pair.refresh, &ClientInfo::UNKNOWN)
        .await
        .expect("logout");

    let rejection = verify_rejection(gatehouse.verify(&pair.refresh).await);

    assert_eq!(rejection, TokenRejection::Blacklisted);
    assert_eq!(rejection.to_string(), "Token is blacklisted");
}

#[tokio::test]
async fn a_rotated_refresh_token_is_blacklisted_at_verify() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let successor = refresh(&gatehouse, &pair.refresh)
        .await
        .unwrap()
        .refresh
        .unwrap();

    assert_eq!(
        verify_rejection(gatehouse.verify(&pair.refresh).await),
        TokenRejection::Blacklisted
    );
    assert_eq!(gatehouse.verify(&successor).await.ok(), Some(()));
}

#[tokio::test]
async fn an_access_token_of_a_revoked_session_does_not_verify() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    gatehouse
        .logout(&pair.refresh, &ClientInfo::UNKNOWN)
        .await
        .expect("logout");

    assert_eq!(
        verify_rejection(gatehouse.verify(&pair.access).await),
        TokenRejection::Blacklisted
    );
}

#[tokio::test]
async fn an_access_token_of_an_inactive_deleted_or_changed_password_user_is_invalid_at_verify() {
    let (gatehouse, fakes) = default_gatehouse();
    let inactive = fakes.add_user("inactive", "inactive@example.com");
    let changed = fakes.add_user("changed", "changed@example.com");
    let deleted = fakes.add_user("deleted", "deleted@example.com");
    let inactive_pair = log_in(&gatehouse, "inactive").await;
    let changed_pair = log_in(&gatehouse, "changed").await;
    let deleted_pair = log_in(&gatehouse, "deleted").await;

    fakes
        .store
        .update_user(inactive.id, |u| u.is_active = false);
    fakes.clock.advance(Duration::seconds(30));
    let now = fakes.clock.now();
    fakes
        .store
        .update_user(changed.id, |u| u.password_changed_at = now);
    gatehouse
        .delete_me(&deleted, &Password::new(PASSWORD))
        .await
        .unwrap();

    for access in [
        inactive_pair.access,
        changed_pair.access,
        deleted_pair.access,
    ] {
        assert_eq!(
            verify_rejection(gatehouse.verify(&access).await),
            TokenRejection::Invalid
        );
    }
}

#[tokio::test]
async fn a_well_signed_refresh_token_that_was_never_stored_does_not_verify() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let now = fakes.clock.now().timestamp();
    let forged = fakes
        .tokens
        .encode(&Claims {
            token_type: TokenType::Refresh,
            exp: now + 60,
            iat: now,
            jti: Uuid::new_v4().simple().to_string(),
            user_id: alice.id.to_string(),
            sid: Some(Uuid::new_v4().simple().to_string()),
            user: None,
        })
        .unwrap();

    assert_eq!(
        verify_rejection(gatehouse.verify(&forged).await),
        TokenRejection::Invalid
    );
}

// --- logout ----------------------------------------------------------------

#[tokio::test]
async fn logout_revokes_the_whole_session_and_nothing_else() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let other = log_in(&gatehouse, "alice").await;
    let current = refresh(&gatehouse, &pair.refresh)
        .await
        .unwrap()
        .refresh
        .unwrap();
    fakes.clock.advance(Duration::minutes(1));

    gatehouse
        .logout(&current, &ClientInfo::UNKNOWN)
        .await
        .expect("logout");

    let family = fakes.store.family(fakes.sid(&pair.refresh));
    assert_eq!(family.len(), 2);
    assert_eq!(family[1].revoked_at, Some(fakes.clock.now()));
    assert_eq!(family[1].replaced_by, None);
    assert_eq!(
        refresh_rejection(refresh(&gatehouse, &current).await),
        TokenRejection::Blacklisted
    );
    assert_eq!(
        refresh_rejection(refresh(&gatehouse, &pair.refresh).await),
        TokenRejection::Blacklisted
    );
    assert!(matches!(
        gatehouse.authenticate(&pair.access).await,
        Err(
            application::use_cases::authenticate::AuthenticateError::Token(
                TokenRejection::Blacklisted
            )
        )
    ));

    let others = fakes.store.family(fakes.sid(&other.refresh));
    assert_eq!(others[0].revoked_at, None);
    assert_eq!(fakes.store.tokens_of(alice.id).len(), 3);
}

#[tokio::test]
async fn logging_out_twice_with_one_token_is_blacklisted() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    gatehouse
        .logout(&pair.refresh, &ClientInfo::UNKNOWN)
        .await
        .expect("first logout");

    let rejection = logout_rejection(gatehouse.logout(&pair.refresh, &ClientInfo::UNKNOWN).await);

    assert_eq!(rejection, TokenRejection::Blacklisted);
}

#[tokio::test]
async fn logout_with_an_access_token_has_the_wrong_type_and_revokes_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    assert_eq!(
        logout_rejection(gatehouse.logout(&pair.access, &ClientInfo::UNKNOWN).await),
        TokenRejection::WrongType
    );
    assert_eq!(
        fakes
            .store
            .token(fakes.jti(&pair.refresh))
            .unwrap()
            .revoked_at,
        None
    );
}

#[tokio::test]
async fn logout_with_garbage_or_an_expired_token_is_refused() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    assert_eq!(
        logout_rejection(gatehouse.logout("garbage", &ClientInfo::UNKNOWN).await),
        TokenRejection::Invalid
    );
    fakes.clock.advance(Duration::days(2));
    assert_eq!(
        logout_rejection(gatehouse.logout(&pair.refresh, &ClientInfo::UNKNOWN).await),
        TokenRejection::Expired
    );
}

#[tokio::test]
async fn logout_everywhere_revokes_every_session_of_the_user_but_not_another_users() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let bob = fakes.add_user("bob", "bob@example.com");
    let first = log_in(&gatehouse, "alice").await;
    let second = log_in(&gatehouse, "alice").await;
    refresh(&gatehouse, &second.refresh)
        .await
        .expect("rotation");
    let bobs = log_in(&gatehouse, "bob").await;

    let revoked = gatehouse
        .logout_all(alice.id, &ClientInfo::UNKNOWN)
        .await
        .expect("logout everywhere");

    // Two sessions with one live token each: the rotated one was already revoked.
    assert_eq!(revoked, 2);
    let sessions = fakes.store.tokens_of(alice.id);
    assert_eq!(sessions.len(), 3);
    assert!(sessions.iter().all(|t| t.revoked_at.is_some()));
    assert_eq!(
        refresh_rejection(refresh(&gatehouse, &first.refresh).await),
        TokenRejection::Blacklisted
    );
    assert_eq!(fakes.store.tokens_of(bob.id)[0].revoked_at, None);
    let bob_refreshed = refresh(&gatehouse, &bobs.refresh)
        .await
        .expect("bob stays in");
    assert_eq!(
        fakes.claims(&bob_refreshed.access).user_id,
        bob.id.to_string()
    );
}

// --- flushexpiredtokens ------------------------------------------------------

#[tokio::test]
async fn flushing_deletes_only_refresh_tokens_whose_expiry_has_passed() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let old = log_in(&gatehouse, "alice").await;
    fakes.clock.advance(Duration::hours(12));
    let recent = log_in(&gatehouse, "alice").await;
    fakes
        .clock
        .advance(Duration::hours(12) + Duration::seconds(1));

    let flushed = gatehouse.flush_expired_tokens().await.expect("flushed");

    assert_eq!(flushed, 1);
    let left = fakes.store.tokens_of(alice.id);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].jti, fakes.jti(&recent.refresh));
    assert_eq!(fakes.store.token(fakes.jti(&old.refresh)), None);
    assert_eq!(gatehouse.flush_expired_tokens().await.expect("flushed"), 0);
}
