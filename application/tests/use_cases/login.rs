//! Login: credentials in, a new session's token pair out.

use crate::support::{FakeHasher, PASSWORD, default_gatehouse, log_in, login_command};
use application::ClientInfo;
use application::use_cases::login::{LoginCommand, LoginError, LoginIdentifier};
use chrono::Duration;
use domain::ports::Clock;
use domain::{Password, TokenType, UserClaims};

fn by_email(email: &str, password: &str) -> LoginCommand {
    LoginCommand {
        identifier: LoginIdentifier::Email(email.to_owned()),
        password: Password::new(password),
        client: ClientInfo::default(),
    }
}

fn is_simple_uuid(value: &str) -> bool {
    value.len() == 32 && value.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

#[tokio::test]
async fn logging_in_by_username_opens_a_session_for_that_user() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    let pair = log_in(&gatehouse, "alice").await;

    let sessions = fakes.store.tokens_of(alice.id);
    assert_eq!(sessions.len(), 1);
    let row = &sessions[0];
    assert_eq!(fakes.jti(&pair.refresh), row.jti);
    assert_eq!(fakes.sid(&pair.refresh), row.family_id);
    assert_eq!(fakes.sid(&pair.access), row.family_id);
    assert_eq!(row.parent_jti, None);
    assert_eq!(row.revoked_at, None);
    assert_eq!(row.session_started_at, fakes.clock.now());
    assert_eq!(row.expires_at, fakes.clock.now() + Duration::days(1));
    assert_eq!(fakes.claims(&pair.access).user_id, "1");
}

#[tokio::test]
async fn logging_in_by_email_ignores_the_case_of_the_address() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("bob", "bob@example.com");
    let alice = fakes.add_user("alice", "alice@example.com");

    let pair = gatehouse
        .login(by_email("ALICE@Example.COM", PASSWORD))
        .await
        .expect("login by email");

    assert_eq!(fakes.claims(&pair.access).user_id, alice.id.to_string());
    assert_eq!(fakes.store.tokens_of(alice.id).len(), 1);
}

#[tokio::test]
async fn usernames_are_matched_case_sensitively_at_login() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    let error = gatehouse
        .login(login_command("Alice", PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(error, LoginError::InvalidCredentials), "{error:?}");
    assert!(fakes.store.tokens_of(alice.id).is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_refused_as_invalid_credentials() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    let error = gatehouse
        .login(login_command("alice", "not the password"))
        .await
        .unwrap_err();

    assert!(matches!(error, LoginError::InvalidCredentials), "{error:?}");
    assert_eq!(
        error.to_string(),
        "No active account found with the given credentials"
    );
    assert!(fakes.store.tokens_of(alice.id).is_empty());
    assert_eq!(fakes.store.user(alice.id).unwrap().last_login, None);
}

#[tokio::test]
async fn a_wrong_password_by_email_is_refused_as_invalid_credentials() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    let error = gatehouse
        .login(by_email("alice@example.com", "not the password"))
        .await
        .unwrap_err();

    assert!(matches!(error, LoginError::InvalidCredentials), "{error:?}");
    assert!(fakes.store.tokens_of(alice.id).is_empty());
}

#[tokio::test]
async fn an_unknown_user_costs_one_dummy_verification_like_a_wrong_password_costs_one_verification()
{
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");

    let wrong_password = gatehouse
        .login(login_command("alice", "not the password"))
        .await
        .unwrap_err();
    assert_eq!(
        (fakes.hasher.verify_calls(), fakes.hasher.dummy_calls()),
        (1, 0)
    );

    let unknown_user = gatehouse
        .login(login_command("nobody", "not the password"))
        .await
        .unwrap_err();
    assert_eq!(
        (fakes.hasher.verify_calls(), fakes.hasher.dummy_calls()),
        (1, 1)
    );

    assert!(
        matches!(unknown_user, LoginError::InvalidCredentials),
        "{unknown_user:?}"
    );
    assert_eq!(unknown_user.to_string(), wrong_password.to_string());
}

#[tokio::test]
async fn an_unknown_email_costs_one_dummy_verification_and_looks_like_a_wrong_password() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");

    let error = gatehouse
        .login(by_email("nobody@example.com", PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(error, LoginError::InvalidCredentials), "{error:?}");
    assert_eq!(
        (fakes.hasher.verify_calls(), fakes.hasher.dummy_calls()),
        (0, 1)
    );
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn an_inactive_user_with_the_right_password_is_refused_as_invalid_credentials() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes.store.update_user(alice.id, |u| u.is_active = false);

    let error = gatehouse
        .login(login_command("alice", PASSWORD))
        .await
        .unwrap_err();

    assert!(matches!(error, LoginError::InvalidCredentials), "{error:?}");
    assert_eq!(
        error.to_string(),
        "No active account found with the given credentials"
    );
    assert!(fakes.store.tokens_of(alice.id).is_empty());
    assert_eq!(fakes.store.user(alice.id).unwrap().last_login, None);
    // Same work as any other refusal: one verification.
    assert_eq!(fakes.hasher.verifications(), 1);
}

#[tokio::test]
async fn a_hash_of_an_older_algorithm_is_replaced_by_a_current_one_at_login() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.store.insert_user(
        "alice",
        "alice@example.com",
        &FakeHasher::legacy_hash_of(PASSWORD),
        fakes.clock.now(),
    );

    log_in(&gatehouse, "alice").await;

    assert_eq!(
        fakes.store.user(alice.id).unwrap().password_hash,
        FakeHasher::hash_of(PASSWORD)
    );
    assert_eq!(fakes.hasher.hash_calls(), 1);
}

#[tokio::test]
async fn a_hash_of_another_cost_is_rehashed_at_the_current_cost_at_login() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes.hasher.set_cost(13);

    log_in(&gatehouse, "alice").await;

    assert_eq!(
        fakes.store.user(alice.id).unwrap().password_hash,
        FakeHasher::hash_at_cost(13, PASSWORD)
    );
}

#[tokio::test]
async fn a_current_hash_is_left_alone_at_login() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    log_in(&gatehouse, "alice").await;

    assert_eq!(
        fakes.store.user(alice.id).unwrap().password_hash,
        FakeHasher::hash_of(PASSWORD)
    );
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn a_wrong_password_does_not_rehash_an_outdated_hash() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes.hasher.set_cost(13);

    let error = gatehouse
        .login(login_command("alice", "not the password"))
        .await
        .unwrap_err();

    assert!(matches!(error, LoginError::InvalidCredentials), "{error:?}");
    assert_eq!(
        fakes.store.user(alice.id).unwrap().password_hash,
        FakeHasher::hash_of(PASSWORD)
    );
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn login_records_the_time_of_the_last_login() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes.clock.advance(Duration::hours(3));

    log_in(&gatehouse, "alice").await;

    assert_eq!(
        fakes.store.user(alice.id).unwrap().last_login,
        Some(fakes.clock.now())
    );
}

#[tokio::test]
async fn the_access_token_carries_the_users_claims_groups_and_permissions() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("bob", "bob@example.com");
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes.store.update_user(alice.id, |u| u.is_staff = true);
    fakes.store.add_to_group(alice.id, "editors");
    fakes.store.add_to_group(alice.id, "auditors");
    fakes
        .store
        .grant_group_permission("editors", "auth.change_user");
    fakes
        .store
        .grant_group_permission("auditors", "auth.view_auditevent");
    fakes
        .store
        .grant_user_permission(alice.id, "auth.view_user");
    fakes
        .store
        .grant_user_permission(alice.id, "auth.change_user");
    let now = fakes.clock.now();

    let pair = log_in(&gatehouse, "alice").await;

    let claims = fakes.claims(&pair.access);
    let session = &fakes.store.tokens_of(alice.id)[0];
    assert_eq!(claims.token_type, TokenType::Access);
    assert_eq!(claims.user_id, "2");
    assert_eq!(claims.sid, Some(session.family_id.simple().to_string()));
    assert!(is_simple_uuid(&claims.jti), "{}", claims.jti);
    let sid = claims.sid.as_deref().expect("a sid");
    assert!(is_simple_uuid(sid), "{sid}");
    assert_eq!(claims.iat, now.timestamp());
    assert_eq!(claims.exp, (now + Duration::minutes(5)).timestamp());
    assert_eq!(
        claims.user,
        Some(UserClaims {
            username: "alice".to_owned(),
            email: "alice@example.com".to_owned(),
            is_staff: true,
            is_superuser: false,
            groups: vec!["auditors".to_owned(), "editors".to_owned()],
            permissions: vec![
                "auth.change_user".to_owned(),
                "auth.view_auditevent".to_owned(),
                "auth.view_user".to_owned(),
            ],
        })
    );
}

#[tokio::test]
async fn a_superusers_access_token_lists_every_permission() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = fakes.add_user("root", "root@example.com");
    fakes.store.update_user(root.id, |u| {
        u.is_superuser = true;
        u.is_staff = true;
    });

    let pair = log_in(&gatehouse, "root").await;

    let user = fakes.claims(&pair.access).user.expect("user claims");
    assert!(user.is_superuser);
    assert_eq!(
        user.permissions,
        crate::support::SEEDED_PERMISSIONS.to_vec()
    );
}

#[tokio::test]
async fn the_refresh_token_carries_no_user_claims() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let now = fakes.clock.now();

    let pair = log_in(&gatehouse, "alice").await;

    let claims = fakes.claims(&pair.refresh);
    let session = &fakes.store.tokens_of(alice.id)[0];
    assert_eq!(claims.token_type, TokenType::Refresh);
    assert_eq!(claims.user, None);
    assert_eq!(claims.user_id, alice.id.to_string());
    assert_eq!(claims.jti, session.jti.simple().to_string());
    assert_eq!(claims.sid, fakes.claims(&pair.access).sid);
    assert_eq!(claims.iat, now.timestamp());
    assert_eq!(claims.exp, (now + Duration::days(1)).timestamp());
    assert_ne!(claims.jti, fakes.claims(&pair.access).jti);
}

#[tokio::test]
async fn each_login_opens_a_session_of_its_own() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    let first = log_in(&gatehouse, "alice").await;
    let second = log_in(&gatehouse, "alice").await;

    assert_ne!(fakes.sid(&first.refresh), fakes.sid(&second.refresh));
    assert_ne!(first.refresh, second.refresh);
    let sessions = fakes.store.tokens_of(alice.id);
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s.revoked_at.is_none()));
}

#[tokio::test]
async fn the_clients_user_agent_and_address_are_kept_with_the_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");

    gatehouse
        .login(LoginCommand {
            identifier: LoginIdentifier::Username("alice".to_owned()),
            password: Password::new(PASSWORD),
            client: ClientInfo {
                user_agent: Some("curl/8".to_owned()),
                ip: Some("192.0.2.7".to_owned()),
            },
        })
        .await
        .expect("login");

    let session = &fakes.store.tokens_of(alice.id)[0];
    assert_eq!(session.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(session.ip.as_deref(), Some("192.0.2.7"));
}
