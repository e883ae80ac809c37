//! Refresh: rotation, reuse detection, session lifetime and fresh claims.

use crate::support::{default_gatehouse, gatehouse, log_in, refresh};
use application::use_cases::authenticate::AuthenticateError;
use application::use_cases::refresh::{RefreshCommand, RefreshError};
use application::{ClientInfo, Settings, TokenRejection, TokenSettings};
use chrono::Duration;
use domain::ports::{Clock, TokenCodec};
use domain::{Claims, TokenType};
use uuid::Uuid;

fn with_tokens(tokens: TokenSettings) -> Settings {
    Settings {
        tokens,
        ..Settings::default()
    }
}

#[track_caller]
fn rejection(
    result: Result<application::use_cases::refresh::Refreshed, RefreshError>,
) -> TokenRejection {
    match result {
        Err(RefreshError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn rotation_returns_a_new_refresh_token_with_another_jti_in_the_same_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let login_time = fakes.clock.now();
    let pair = log_in(&gatehouse, "alice").await;
    fakes.clock.advance(Duration::minutes(4));
    let now = fakes.clock.now();

    let refreshed = refresh(&gatehouse, &pair.refresh).await.expect("refresh");

    let next = refreshed.refresh.expect("a rotated refresh token");
    let (old, new) = (fakes.claims(&pair.refresh), fakes.claims(&next));
    assert_ne!(new.jti, old.jti);
    assert_eq!(new.sid, old.sid);
    assert_eq!(new.token_type, TokenType::Refresh);
    assert_eq!(new.user, None);
    assert_eq!(new.iat, now.timestamp());
    assert_eq!(new.exp, (now + Duration::days(1)).timestamp());

    let access = fakes.claims(&refreshed.access);
    assert_eq!(access.token_type, TokenType::Access);
    assert_eq!(access.sid, old.sid);
    assert_eq!(access.iat, now.timestamp());
    assert_eq!(access.exp, (now + Duration::minutes(5)).timestamp());
    assert_ne!(access.jti, fakes.claims(&pair.access).jti);

    let family = fakes.store.family(fakes.sid(&pair.refresh));
    assert_eq!(family.len(), 2);
    assert_eq!(family[0].revoked_at, Some(now));
    assert_eq!(family[0].replaced_by, Some(family[1].jti));
    assert_eq!(family[0].last_used_at, Some(now));
    assert_eq!(family[1].jti, fakes.jti(&next));
    assert_eq!(family[1].parent_jti, Some(family[0].jti));
    assert_eq!(family[1].revoked_at, None);
    assert_eq!(family[1].session_started_at, login_time);
    assert_eq!(family[1].user_id, alice.id);
}

#[tokio::test]
async fn the_rotated_token_presented_again_within_the_reuse_interval_returns_the_same_successor() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    let first = refresh(&gatehouse, &pair.refresh)
        .await
        .expect("first refresh");
    fakes.clock.advance(Duration::seconds(10));
    let second = refresh(&gatehouse, &pair.refresh)
        .await
        .expect("second refresh within the reuse interval");

    assert_eq!(second.refresh, first.refresh);
    let successor = first.refresh.expect("rotated");
    assert_eq!(fakes.store.family(fakes.sid(&successor)).len(), 2);
    assert_eq!(
        fakes.store.token(fakes.jti(&successor)).unwrap().revoked_at,
        None
    );
    // The tab that came second gets a working access token of its own.
    let access = gatehouse
        .authenticate(&second.access)
        .await
        .expect("access");
    assert_eq!(access.credential.session(), Some(fakes.sid(&successor)));
    // The successor rotates normally afterwards.
    let third = refresh(&gatehouse, &successor)
        .await
        .expect("next rotation");
    let third = third.refresh.expect("rotated");
    assert_eq!(
        fakes.store.token(fakes.jti(&third)).unwrap().parent_jti,
        Some(fakes.jti(&successor))
    );
}

// Two tabs refreshing at once is a race only a real store can run: it is proven on
// PostgreSQL by `concurrent_rotations_of_one_token_rotate_it_exactly_once` (adapters)
// and `twenty_concurrent_refreshes_with_one_token_leave_one_live_successor` (HTTP).
#[tokio::test]
async fn a_second_refresh_with_one_token_in_the_same_instant_gets_the_same_successor() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    let a = refresh(&gatehouse, &pair.refresh).await;
    let b = refresh(&gatehouse, &pair.refresh).await;

    let (a, b) = (a.expect("tab a"), b.expect("tab b"));
    assert_eq!(a.refresh, b.refresh);
    assert_eq!(fakes.store.family(fakes.sid(&pair.refresh)).len(), 2);
}

#[tokio::test]
async fn refresh_token_reused_after_rotation_revokes_the_family() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let first = refresh(&gatehouse, &pair.refresh).await.expect("rotation");
    let newest = first.refresh.expect("rotated");
    fakes.clock.advance(Duration::seconds(11));

    let reuse = rejection(refresh(&gatehouse, &pair.refresh).await);

    assert_eq!(reuse, TokenRejection::Blacklisted);
    assert_eq!(reuse.to_string(), "Token is blacklisted");
    let family = fakes.store.family(fakes.sid(&pair.refresh));
    assert_eq!(family.len(), 2);
    assert!(family.iter().all(|t| t.revoked_at.is_some()), "{family:#?}");
    assert_eq!(
        rejection(refresh(&gatehouse, &newest).await),
        TokenRejection::Blacklisted
    );
    assert!(matches!(
        gatehouse.authenticate(&first.access).await,
        Err(AuthenticateError::Token(TokenRejection::Blacklisted))
    ));
    // Nothing new was issued by the refused calls.
    assert_eq!(fakes.store.tokens_of(alice.id).len(), 2);
}

#[tokio::test]
async fn reusing_a_rotated_token_leaves_the_users_other_sessions_alone() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let stolen = log_in(&gatehouse, "alice").await;
    let other = log_in(&gatehouse, "alice").await;
    refresh(&gatehouse, &stolen.refresh)
        .await
        .expect("rotation");
    fakes.clock.advance(Duration::seconds(11));

    assert_eq!(
        rejection(refresh(&gatehouse, &stolen.refresh).await),
        TokenRejection::Blacklisted
    );

    let refreshed = refresh(&gatehouse, &other.refresh)
        .await
        .expect("other session");
    assert_eq!(
        fakes.claims(&refreshed.access).sid,
        fakes.claims(&other.refresh).sid
    );
}

#[tokio::test]
async fn presenting_a_rotated_token_after_its_successor_was_rotated_is_reuse() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let second = refresh(&gatehouse, &pair.refresh)
        .await
        .unwrap()
        .refresh
        .unwrap();
    fakes.clock.advance(Duration::seconds(1));
    let third = refresh(&gatehouse, &second).await.unwrap().refresh.unwrap();
    fakes.clock.advance(Duration::seconds(1));

    // Within the interval, but the successor is no longer live.
    assert_eq!(
        rejection(refresh(&gatehouse, &pair.refresh).await),
        TokenRejection::Blacklisted
    );
    assert_eq!(
        rejection(refresh(&gatehouse, &third).await),
        TokenRejection::Blacklisted
    );
}

// Of two concurrent refreshes with no reuse interval exactly one succeeds: proven on
// PostgreSQL by `concurrent_rotations_with_no_reuse_interval_rotate_once_and_revoke_the_family`
// (adapters) and `with_no_reuse_interval_exactly_one_of_two_concurrent_refreshes_succeeds`
// (HTTP); here, the second of two presentations in the same instant.
#[tokio::test]
async fn with_a_zero_reuse_interval_a_second_presentation_is_reuse() {
    let (gatehouse, fakes) = gatehouse(with_tokens(TokenSettings {
        reuse_interval: Duration::zero(),
        ..TokenSettings::default()
    }));
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let first = refresh(&gatehouse, &pair.refresh).await.expect("rotation");

    let second = rejection(refresh(&gatehouse, &pair.refresh).await);

    assert_eq!(second, TokenRejection::Blacklisted);
    assert_eq!(
        rejection(refresh(&gatehouse, &first.refresh.unwrap()).await),
        TokenRejection::Blacklisted
    );
}

#[tokio::test]
async fn without_rotation_only_an_access_token_is_returned_and_the_refresh_token_keeps_working() {
    let (gatehouse, fakes) = gatehouse(with_tokens(TokenSettings {
        rotate_refresh_tokens: false,
        ..TokenSettings::default()
    }));
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    fakes.clock.advance(Duration::minutes(30));

    let first = refresh(&gatehouse, &pair.refresh).await.expect("first");
    fakes.clock.advance(Duration::minutes(30));
    let second = refresh(&gatehouse, &pair.refresh).await.expect("second");

    assert_eq!(first.refresh, None);
    assert_eq!(second.refresh, None);
    assert_eq!(
        fakes.claims(&second.access).sid,
        fakes.claims(&pair.refresh).sid
    );
    assert_eq!(
        fakes.claims(&second.access).iat,
        fakes.clock.now().timestamp()
    );
    let sessions = fakes.store.tokens_of(alice.id);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].revoked_at, None);
    assert_eq!(sessions[0].last_used_at, Some(fakes.clock.now()));
}

#[tokio::test]
async fn rotation_never_extends_a_session_past_its_maximum_lifetime() {
    let (gatehouse, fakes) = gatehouse(with_tokens(TokenSettings {
        refresh_lifetime: Duration::days(1),
        session_max_lifetime: Duration::hours(30),
        ..TokenSettings::default()
    }));
    fakes.add_user("alice", "alice@example.com");
    let login_time = fakes.clock.now();
    let pair = log_in(&gatehouse, "alice").await;
    fakes.clock.advance(Duration::hours(20));

    let refreshed = refresh(&gatehouse, &pair.refresh).await.expect("refresh");

    let successor = refreshed.refresh.expect("rotated");
    let cap = login_time + Duration::hours(30);
    assert_eq!(fakes.claims(&successor).exp, cap.timestamp());
    assert_eq!(
        fakes.store.token(fakes.jti(&successor)).unwrap().expires_at,
        cap
    );

    fakes.clock.set(cap + Duration::seconds(1));
    assert_eq!(
        rejection(refresh(&gatehouse, &successor).await),
        TokenRejection::Expired
    );
}

#[tokio::test]
async fn a_refresh_at_the_very_end_of_the_session_is_expired() {
    let (gatehouse, fakes) = gatehouse(with_tokens(TokenSettings {
        refresh_lifetime: Duration::days(1),
        session_max_lifetime: Duration::hours(30),
        ..TokenSettings::default()
    }));
    fakes.add_user("alice", "alice@example.com");
    let login_time = fakes.clock.now();
    let pair = log_in(&gatehouse, "alice").await;
    fakes.clock.advance(Duration::hours(20));
    let successor = refresh(&gatehouse, &pair.refresh)
        .await
        .unwrap()
        .refresh
        .unwrap();

    // The token's own `exp` has not passed yet, but no successor could outlive it.
    fakes.clock.set(login_time + Duration::hours(30));
    assert_eq!(
        rejection(refresh(&gatehouse, &successor).await),
        TokenRejection::Expired
    );
}

#[tokio::test]
async fn an_access_token_presented_for_refresh_has_the_wrong_type() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    let error = rejection(refresh(&gatehouse, &pair.access).await);

    assert_eq!(error, TokenRejection::WrongType);
    assert_eq!(error.to_string(), "Token has wrong type");
}

#[tokio::test]
async fn garbage_presented_for_refresh_is_invalid() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;

    for garbage in ["", "garbage", "a.b.c", &format!("{}x", pair.refresh)] {
        let error = rejection(refresh(&gatehouse, garbage).await);
        assert_eq!(error, TokenRejection::Invalid, "{garbage:?}");
        assert_eq!(error.to_string(), "Token is invalid");
    }
}

#[tokio::test]
async fn an_expired_refresh_token_is_expired() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    fakes
        .clock
        .advance(Duration::days(1) + Duration::seconds(1));

    let error = rejection(refresh(&gatehouse, &pair.refresh).await);

    assert_eq!(error, TokenRejection::Expired);
    assert_eq!(error.to_string(), "Token is expired");
}

#[tokio::test]
async fn a_well_signed_refresh_token_that_was_never_stored_is_invalid() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let now = fakes.clock.now().timestamp();
    let forged = fakes
        .tokens
        .encode(&Claims {
            token_type: TokenType::Refresh,
            exp: now + 3600,
            iat: now,
            jti: Uuid::new_v4().simple().to_string(),
            user_id: alice.id.to_string(),
            sid: Some(Uuid::new_v4().simple().to_string()),
            user: None,
        })
        .unwrap();

    assert_eq!(
        rejection(refresh(&gatehouse, &forged).await),
        TokenRejection::Invalid
    );
}

#[tokio::test]
async fn a_stored_jti_presented_under_another_user_is_invalid() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let mallory = fakes.add_user("mallory", "mallory@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let mut claims = fakes.claims(&pair.refresh);
    claims.user_id = mallory.id.to_string();
    let forged = fakes.tokens.encode(&claims).unwrap();

    assert_eq!(
        rejection(refresh(&gatehouse, &forged).await),
        TokenRejection::Invalid
    );
    // The real token was not consumed.
    assert_eq!(
        fakes
            .store
            .token(fakes.jti(&pair.refresh))
            .unwrap()
            .revoked_at,
        None
    );
    let refreshed = refresh(&gatehouse, &pair.refresh).await.expect("refresh");
    assert_eq!(
        fakes.claims(&refreshed.access).user_id,
        fakes.claims(&pair.refresh).user_id
    );
}

#[tokio::test]
async fn a_deactivated_user_cannot_refresh_and_his_token_is_not_consumed() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    fakes.store.update_user(alice.id, |u| u.is_active = false);

    let error = refresh(&gatehouse, &pair.refresh).await.unwrap_err();

    assert!(matches!(error, RefreshError::NoActiveAccount), "{error:?}");
    assert_eq!(
        error.to_string(),
        "No active account found for the given token."
    );
    let sessions = fakes.store.tokens_of(alice.id);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].revoked_at, None);
}

#[tokio::test]
async fn a_deleted_users_refresh_token_is_invalid() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    gatehouse
        .delete_me(&alice, &domain::Password::new(crate::support::PASSWORD))
        .await
        .unwrap();

    assert_eq!(
        rejection(refresh(&gatehouse, &pair.refresh).await),
        TokenRejection::Invalid
    );
}

#[tokio::test]
async fn a_logged_out_refresh_token_is_blacklisted() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    gatehouse
        .logout(&pair.refresh, &ClientInfo::UNKNOWN)
        .await
        .expect("logout");

    assert_eq!(
        rejection(refresh(&gatehouse, &pair.refresh).await),
        TokenRejection::Blacklisted
    );
}

#[tokio::test]
async fn claims_are_read_afresh_at_every_refresh() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    let before = fakes.claims(&pair.access).user.unwrap();
    assert!(before.groups.is_empty() && before.permissions.is_empty());

    fakes.store.add_to_group(alice.id, "editors");
    fakes
        .store
        .grant_group_permission("editors", "auth.change_user");
    fakes.store.update_user(alice.id, |u| {
        u.is_staff = true;
        u.email = domain::EmailAddress::parse("alice@example.org").unwrap();
    });
    let refreshed = refresh(&gatehouse, &pair.refresh).await.expect("refresh");

    let after = fakes.claims(&refreshed.access).user.unwrap();
    assert_eq!(after.groups, vec!["editors".to_owned()]);
    assert_eq!(after.permissions, vec!["auth.change_user".to_owned()]);
    assert!(after.is_staff);
    assert_eq!(after.email, "alice@example.org");
}

#[tokio::test]
async fn rotation_keeps_the_sessions_client_info_unless_the_client_sends_new_info() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = gatehouse
        .login(application::use_cases::login::LoginCommand {
            identifier: application::use_cases::login::LoginIdentifier::Username(
                "alice".to_owned(),
            ),
            password: domain::Password::new(crate::support::PASSWORD),
            client: ClientInfo {
                user_agent: Some("firefox".to_owned()),
                ip: Some("192.0.2.1".to_owned()),
            },
        })
        .await
        .unwrap();

    let refreshed = gatehouse
        .refresh(RefreshCommand {
            refresh: pair.refresh.clone(),
            client: ClientInfo {
                user_agent: None,
                ip: Some("192.0.2.2".to_owned()),
            },
        })
        .await
        .unwrap();

    let successor = fakes
        .store
        .token(fakes.jti(&refreshed.refresh.unwrap()))
        .unwrap();
    assert_eq!(successor.user_agent.as_deref(), Some("firefox"));
    assert_eq!(successor.ip.as_deref(), Some("192.0.2.2"));
}

#[tokio::test]
async fn a_token_revoked_by_rotation_stays_refused_after_rotation_is_turned_off() {
    let (rotating, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&rotating, "alice").await;
    let successor = refresh(&rotating, &pair.refresh)
        .await
        .unwrap()
        .refresh
        .unwrap();
    rotating
        .logout(&successor, &ClientInfo::UNKNOWN)
        .await
        .expect("logout");
    let not_rotating = fakes.gatehouse(with_tokens(TokenSettings {
        rotate_refresh_tokens: false,
        ..TokenSettings::default()
    }));
    fakes.clock.advance(Duration::minutes(1));

    // The session was logged out; its superseded first token must not revive it.
    assert_eq!(
        rejection(refresh(&not_rotating, &pair.refresh).await),
        TokenRejection::Blacklisted
    );
}
