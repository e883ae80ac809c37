//! DRF-style API keys and Djoser's `{uid, token}` links.
//!
//! A key is issued by a login, stored only as its digest, authenticates its active
//! user, and dies with a password change or reset, a deactivation by an admin and
//! "log out everywhere"; a logout deletes one key or all the user's keys, never
//! another user's. A link that names its user (`uid`) is refused when the uid names
//! nobody, when the token is another user's, and tells a used link apart.

use crate::support::{
    FakeHasher, FakeTokenGenerator, Fakes, PASSWORD, TestDeps, default_gatehouse, gatehouse, log_in,
};
use application::as_admin;
use application::use_cases::activate::ActivateError;
use application::use_cases::admin_users::UpdateUserCommand;
use application::use_cases::authenticate::{AuthenticateError, Credential, Principal};
use application::use_cases::change_password::{ChangePasswordCommand, ChangePasswordError};
use application::use_cases::login::{LoginCommand, LoginError, LoginIdentifier};
use application::use_cases::password_reset::{ConfirmResetCommand, ConfirmResetError};
use application::use_cases::refresh::{RefreshCommand, RefreshError};
use application::use_cases::register::RegisterCommand;
use application::use_cases::sessions::OpenSessionError;
use application::{
    AccountSettings, Caller, ClientInfo, OneTimeTokenRejection, RegistrationSettings, Settings,
    TokenRejection, TokenSettings,
};
use chrono::Duration;
use domain::ports::{Clock, OneTimeTokenRepository};
use domain::{
    AuditEvent, AuditKind, EmailKind, MailedToken, NewOneTimeToken, Password, TokenPurpose, User,
    UserId,
};

type Gatehouse = application::Gatehouse<TestDeps>;

/// A password every validator accepts, other than `PASSWORD`.
const NEW_PASSWORD: &str = "another quite long passphrase";
const WRONG_PASSWORD: &str = "not the password at all";

const IP: &str = "198.51.100.23";
const USER_AGENT: &str = "KeyClient/2.0";

/// No user has this id.
const NOWHERE: UserId = UserId(999);

// ---------------------------------------------------------------------------
// Arranging and inspecting

/// The client every call in these tests comes from.
fn client() -> ClientInfo {
    ClientInfo {
        user_agent: Some(USER_AGENT.to_owned()),
        ip: Some(IP.to_owned()),
    }
}

/// An event of this kind happening now, from `client()`, with nothing else set.
fn event(fakes: &Fakes, kind: AuditKind) -> AuditEvent {
    AuditEvent::new(kind, fakes.clock.now()).from(Some(IP.to_owned()), Some(USER_AGENT.to_owned()))
}

/// How many events are in the trail: a mark to read the later ones from.
fn mark(fakes: &Fakes) -> usize {
    fakes.store.audit_events().len()
}

/// The events written since `mark`, oldest first.
fn since(fakes: &Fakes, mark: usize) -> Vec<AuditEvent> {
    fakes.store.audit_events().split_off(mark)
}

/// An active user, not staff, with `PASSWORD`.
fn user(fakes: &Fakes, name: &str) -> User {
    fakes.add_user(name, &format!("{name}@example.com"))
}

/// An active staff superuser.
fn superuser(fakes: &Fakes, name: &str) -> User {
    let root = user(fakes, name);
    fakes.store.update_user(root.id, |u| {
        u.is_staff = true;
        u.is_superuser = true;
    });
    fakes.user(root.id)
}

fn login(name: &str, password: &str) -> LoginCommand {
    LoginCommand {
        identifier: LoginIdentifier::Username(name.to_owned()),
        password: Password::new(password),
        client: client(),
    }
}

/// Logs in for an API key with `PASSWORD`, which must succeed.
async fn key_for(gatehouse: &Gatehouse, name: &str) -> String {
    gatehouse
        .login_api_key(login(name, PASSWORD))
        .await
        .expect("the key login succeeds")
}

fn digest(key: &str) -> Vec<u8> {
    FakeTokenGenerator::digest_of(key)
}

/// The key is accepted and stands for this user.
#[track_caller]
fn assert_accepted(result: Result<Principal, AuthenticateError>, user: UserId) {
    match result {
        Ok(principal) => {
            assert_eq!(principal.profile.user.id, user);
            assert_eq!(principal.credential, Credential::ApiKey);
        }
        Err(error) => panic!("expected the key of {user} to be accepted, got {error:?}"),
    }
}

/// The key is refused as unknown.
#[track_caller]
fn assert_unknown_key(result: Result<Principal, AuthenticateError>) {
    match result {
        Err(AuthenticateError::InvalidApiKey) => {}
        other => panic!("expected InvalidApiKey, got {other:?}"),
    }
}

async fn assert_key_works(gatehouse: &Gatehouse, key: &str, user: UserId) {
    assert_accepted(gatehouse.authenticate_api_key(key).await, user);
}

async fn assert_key_dead(gatehouse: &Gatehouse, key: &str) {
    assert_unknown_key(gatehouse.authenticate_api_key(key).await);
}

#[track_caller]
fn login_failed(result: Result<String, LoginError>) {
    match result {
        Err(LoginError::InvalidCredentials) => {}
        other => panic!("expected InvalidCredentials, got {other:?}"),
    }
}

/// The change `user` makes of his password from `PASSWORD` to `NEW_PASSWORD`, from a
/// session, or through an API key (`None`).
fn change(user: &User, session: Option<uuid::Uuid>, current: &str) -> ChangePasswordCommand {
    ChangePasswordCommand {
        user: user.clone(),
        session,
        current_password: Password::new(current),
        new_password: Password::new(NEW_PASSWORD),
        client: client(),
    }
}

fn confirm(token: &str) -> ConfirmResetCommand {
    ConfirmResetCommand {
        token: token.to_owned(),
        new_password: Password::new(NEW_PASSWORD),
        client: client(),
    }
}

fn deactivate() -> UpdateUserCommand {
    UpdateUserCommand {
        is_active: Some(false),
        ..UpdateUserCommand::default()
    }
}

fn activate_command() -> UpdateUserCommand {
    UpdateUserCommand {
        is_active: Some(true),
        ..UpdateUserCommand::default()
    }
}

fn rename(first_name: &str) -> UpdateUserCommand {
    UpdateUserCommand {
        first_name: Some(first_name.to_owned()),
        ..UpdateUserCommand::default()
    }
}

// ---------------------------------------------------------------------------
// Key login

#[tokio::test]
async fn a_key_login_stores_only_the_keys_digest_and_records_the_login_via_api_key() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    let key = key_for(&gatehouse, "alice").await;

    assert_eq!(fakes.store.api_keys(), [(digest(&key), alice.id)]);
    assert_ne!(digest(&key), key.as_bytes(), "the key itself is not stored");
    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::LoginSucceeded)
            .by_self(alice.id)
            .detail("via", "api_key")]
    );
    let shown = format!("{:?}", fakes.store.audit_events());
    assert!(!shown.contains(&key), "the key leaked into the audit trail");
    // A key login opens no JWT session but counts as a login.
    assert_eq!(fakes.store.tokens_of(alice.id), []);
    assert_eq!(fakes.user(alice.id).last_login, Some(fakes.clock.now()));
    assert_eq!(fakes.hasher.verify_calls(), 1);
}

#[tokio::test]
async fn each_key_login_gets_its_own_key_and_all_of_them_work() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    let first = key_for(&gatehouse, "alice").await;
    let second = key_for(&gatehouse, "alice").await;

    assert_ne!(first, second);
    assert_eq!(
        fakes.store.api_keys_of(alice.id),
        [digest(&first), digest(&second)]
    );
    assert_key_works(&gatehouse, &first, alice.id).await;
    assert_key_works(&gatehouse, &second, alice.id).await;
}

#[tokio::test]
async fn a_key_login_by_email_works_too() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    let key = gatehouse
        .login_api_key(LoginCommand {
            identifier: LoginIdentifier::Email("ALICE@example.com".to_owned()),
            password: Password::new(PASSWORD),
            client: client(),
        })
        .await
        .expect("logged in by email");

    assert_key_works(&gatehouse, &key, alice.id).await;
}

#[tokio::test]
async fn an_unknown_user_gets_no_key_and_the_failure_is_recorded() {
    let (gatehouse, fakes) = default_gatehouse();
    user(&fakes, "alice");

    login_failed(gatehouse.login_api_key(login("nobody", PASSWORD)).await);

    assert_eq!(fakes.store.api_keys(), []);
    assert_eq!(fakes.hasher.dummy_calls(), 1, "timing like a known user");
    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::LoginFailed)
            .detail("username", "nobody")
            .detail("reason", "unknown_user")]
    );
}

#[tokio::test]
async fn a_wrong_password_gets_no_key_and_the_failure_is_recorded() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    login_failed(
        gatehouse
            .login_api_key(login("alice", WRONG_PASSWORD))
            .await,
    );

    assert_eq!(fakes.store.api_keys(), []);
    assert_eq!(fakes.user(alice.id).last_login, None);
    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::LoginFailed)
            .subject(alice.id)
            .detail("username", "alice")
            .detail("reason", "wrong_password")]
    );
}

#[tokio::test]
async fn an_inactive_user_gets_no_key_and_the_failure_is_recorded() {
    let (gatehouse, fakes) = default_gatehouse();
    let erin = fakes.add_inactive_user("erin", "erin@example.com");

    login_failed(gatehouse.login_api_key(login("erin", PASSWORD)).await);

    assert_eq!(fakes.store.api_keys(), []);
    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::LoginFailed)
            .subject(erin.id)
            .detail("username", "erin")
            .detail("reason", "inactive")]
    );
}

#[tokio::test]
async fn a_key_login_upgrades_an_old_hash_and_the_key_works() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.store.insert_user(
        "alice",
        "alice@example.com",
        &FakeHasher::legacy_hash_of(PASSWORD),
        fakes.clock.now(),
    );

    let key = key_for(&gatehouse, "alice").await;

    assert_eq!(
        fakes.user(alice.id).password_hash,
        FakeHasher::hash_of(PASSWORD)
    );
    assert_key_works(&gatehouse, &key, alice.id).await;
}

#[tokio::test]
async fn a_password_changed_between_the_check_and_the_key_gives_no_key() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let id = alice.id;
    fakes.store.after_next_login_record(move |store| {
        store.update_user(id, |u| u.password_hash = FakeHasher::hash_of(NEW_PASSWORD));
    });

    login_failed(gatehouse.login_api_key(login("alice", PASSWORD)).await);

    assert_eq!(fakes.store.api_keys(), []);
    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::LoginFailed)
            .subject(alice.id)
            .detail("username", "alice")
            .detail("reason", "password_changed")]
    );
    // The new key generated for the refused login is not usable either.
    assert_key_dead(&gatehouse, "tok-1").await;
}

#[tokio::test]
async fn a_deactivation_between_the_check_and_the_key_gives_no_key() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let id = alice.id;
    fakes.store.after_next_login_record(move |store| {
        store.update_user(id, |u| u.is_active = false);
    });

    login_failed(gatehouse.login_api_key(login("alice", PASSWORD)).await);

    assert_eq!(fakes.store.api_keys(), []);
    let kinds: Vec<AuditKind> = fakes.store.audit_events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [AuditKind::LoginFailed]);
}

// ---------------------------------------------------------------------------
// Authenticating a key

#[tokio::test]
async fn a_key_authenticates_its_user_with_no_session_and_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let bob = user(&fakes, "bob");
    let alices = key_for(&gatehouse, "alice").await;
    let bobs = key_for(&gatehouse, "bob").await;
    let before = mark(&fakes);

    let principal = gatehouse
        .authenticate_api_key(&alices)
        .await
        .expect("accepted");
    assert_eq!(principal.profile.user, fakes.user(alice.id));
    assert_eq!(principal.credential, Credential::ApiKey);
    assert_key_works(&gatehouse, &bobs, bob.id).await;
    assert_eq!(since(&fakes, before), []);
}

#[tokio::test]
async fn an_unknown_key_its_digest_and_a_jwt_are_refused() {
    let (gatehouse, fakes) = default_gatehouse();
    user(&fakes, "alice");
    let key = key_for(&gatehouse, "alice").await;
    let pair = log_in(&gatehouse, "alice").await;
    let stored_digest = String::from_utf8(digest(&key)).expect("the fake's digest is text");

    for presented in [
        "tok-999",
        "",
        stored_digest.as_str(),
        &pair.access,
        &pair.refresh,
    ] {
        assert_unknown_key(gatehouse.authenticate_api_key(presented).await);
    }
}

#[tokio::test]
async fn the_key_of_an_inactive_user_is_refused_as_such() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let key = key_for(&gatehouse, "alice").await;
    fakes.store.update_user(alice.id, |u| u.is_active = false);

    match gatehouse.authenticate_api_key(&key).await {
        Err(AuthenticateError::ApiKeyUserInactive) => {}
        other => panic!("expected ApiKeyUserInactive, got {other:?}"),
    }
    assert_eq!(
        AuthenticateError::ApiKeyUserInactive.to_string(),
        "User inactive or deleted."
    );
    assert_eq!(
        AuthenticateError::InvalidApiKey.to_string(),
        "Invalid token."
    );
}

#[tokio::test]
async fn the_key_of_a_deleted_user_is_refused() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let key = key_for(&gatehouse, "alice").await;

    assert!(fakes.delete_user(alice.id).await);

    assert_key_dead(&gatehouse, &key).await;
}

// ---------------------------------------------------------------------------
// Revocation

/// Alice with two keys and a JWT session, Bob with a key.
struct Keys {
    alice: User,
    bob: User,
    alice_keys: [String; 2],
    bobs_key: String,
    alice_session: uuid::Uuid,
}

async fn keys(gatehouse: &Gatehouse, fakes: &Fakes) -> Keys {
    let alice = user(fakes, "alice");
    let bob = user(fakes, "bob");
    let alice_keys = [
        key_for(gatehouse, "alice").await,
        key_for(gatehouse, "alice").await,
    ];
    let bobs_key = key_for(gatehouse, "bob").await;
    let pair = log_in(gatehouse, "alice").await;
    Keys {
        alice_session: fakes.sid(&pair.refresh),
        alice: fakes.user(alice.id),
        bob,
        alice_keys,
        bobs_key,
    }
}

/// Every key of Alice is gone, Bob's still works.
async fn assert_only_alices_keys_died(gatehouse: &Gatehouse, fakes: &Fakes, keys: &Keys) {
    for key in &keys.alice_keys {
        assert_key_dead(gatehouse, key).await;
    }
    assert_eq!(
        fakes.store.api_keys_of(keys.alice.id),
        Vec::<Vec<u8>>::new()
    );
    assert_key_works(gatehouse, &keys.bobs_key, keys.bob.id).await;
    assert_eq!(
        fakes.store.api_keys_of(keys.bob.id),
        [digest(&keys.bobs_key)]
    );
}

#[tokio::test]
async fn a_password_change_from_a_session_kills_every_key_of_the_user() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;

    gatehouse
        .change_password(change(&keys.alice, Some(keys.alice_session), PASSWORD))
        .await
        .expect("changed");

    assert_only_alices_keys_died(&gatehouse, &fakes, &keys).await;
    // The session the change came from is kept.
    let live: Vec<_> = fakes
        .store
        .tokens_of(keys.alice.id)
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .map(|t| t.family_id)
        .collect();
    assert_eq!(live, [keys.alice_session]);
}

#[tokio::test]
async fn a_password_change_through_a_key_kills_every_key_and_every_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    let principal = gatehouse
        .authenticate_api_key(&keys.alice_keys[0])
        .await
        .expect("accepted");

    gatehouse
        .change_password(change(
            &principal.profile.user,
            principal.credential.session(),
            PASSWORD,
        ))
        .await
        .expect("changed");

    assert_only_alices_keys_died(&gatehouse, &fakes, &keys).await;
    let sessions = fakes.store.tokens_of(keys.alice.id);
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].revoked_at.is_some());
    // The new password gives a new key.
    let key = gatehouse
        .login_api_key(login("alice", NEW_PASSWORD))
        .await
        .expect("logged in with the new password");
    assert_key_works(&gatehouse, &key, keys.alice.id).await;
}

#[tokio::test]
async fn a_refused_password_change_keeps_the_keys() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;

    let result = gatehouse
        .change_password(change(&keys.alice, None, WRONG_PASSWORD))
        .await;

    assert!(
        matches!(result, Err(ChangePasswordError::WrongPassword)),
        "{result:?}"
    );
    for key in &keys.alice_keys {
        assert_key_works(&gatehouse, key, keys.alice.id).await;
    }
}

#[tokio::test]
async fn a_password_reset_kills_every_key_of_the_user() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    gatehouse
        .request_password_reset("alice@example.com")
        .await
        .expect("requested");
    let token = fakes
        .store
        .last_link_token(keys.alice.id)
        .expect("a reset link");

    gatehouse
        .confirm_password_reset(confirm(&token))
        .await
        .expect("reset");

    assert_only_alices_keys_died(&gatehouse, &fakes, &keys).await;
}

#[tokio::test]
async fn a_password_reset_by_uid_link_kills_every_key_of_the_user() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    gatehouse
        .request_password_reset("alice@example.com")
        .await
        .expect("requested");
    let token = fakes
        .store
        .last_link_token(keys.alice.id)
        .expect("a reset link");

    gatehouse
        .confirm_password_reset_for(keys.alice.id, confirm(&token))
        .await
        .expect("reset");

    assert_only_alices_keys_died(&gatehouse, &fakes, &keys).await;
}

#[tokio::test]
async fn a_password_set_by_an_admin_kills_every_key_of_the_user() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    let root = superuser(&fakes, "root");

    as_admin!(
        gatehouse,
        &root,
        admin_set_password(keys.alice.id, Password::new(NEW_PASSWORD))
    )
    .await
    .expect("set");

    assert_only_alices_keys_died(&gatehouse, &fakes, &keys).await;
}

#[tokio::test]
async fn a_deactivation_by_an_admin_kills_every_key_and_a_reactivation_does_not_revive_them() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    let root = superuser(&fakes, "root");

    as_admin!(gatehouse, &root, update_user(keys.alice.id, deactivate()))
        .await
        .expect("deactivated");

    assert_only_alices_keys_died(&gatehouse, &fakes, &keys).await;

    as_admin!(
        gatehouse,
        &root,
        update_user(keys.alice.id, activate_command())
    )
    .await
    .expect("reactivated");
    for key in &keys.alice_keys {
        assert_key_dead(&gatehouse, key).await;
    }
}

#[tokio::test]
async fn other_admin_edits_keep_the_keys() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    let root = superuser(&fakes, "root");

    as_admin!(
        gatehouse,
        &root,
        update_user(keys.alice.id, rename("Alicia"))
    )
    .await
    .expect("renamed");
    as_admin!(
        gatehouse,
        &root,
        update_user(keys.alice.id, activate_command())
    )
    .await
    .expect("still active");

    for key in &keys.alice_keys {
        assert_key_works(&gatehouse, key, keys.alice.id).await;
    }
}

#[tokio::test]
async fn logging_out_everywhere_kills_every_key_of_the_user() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;

    let revoked = gatehouse
        .logout_all(keys.alice.id, &client())
        .await
        .expect("logged out");

    assert_eq!(revoked, 1, "the count is of sessions");
    assert_only_alices_keys_died(&gatehouse, &fakes, &keys).await;
}

#[tokio::test]
async fn an_admin_logout_kills_every_key_of_the_user() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    let root = superuser(&fakes, "root");

    as_admin!(gatehouse, &root, admin_logout_user(keys.alice.id))
        .await
        .expect("logged out");

    assert_only_alices_keys_died(&gatehouse, &fakes, &keys).await;
}

// ---------------------------------------------------------------------------
// Key logout

#[tokio::test]
async fn logging_out_one_key_deletes_only_that_key_and_records_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    let before = mark(&fakes);

    let deleted = gatehouse
        .logout_api_keys(keys.alice.id, Some(&keys.alice_keys[0]), &client())
        .await
        .expect("logged out");

    assert_eq!(deleted, 1);
    assert_key_dead(&gatehouse, &keys.alice_keys[0]).await;
    assert_key_works(&gatehouse, &keys.alice_keys[1], keys.alice.id).await;
    assert_key_works(&gatehouse, &keys.bobs_key, keys.bob.id).await;
    assert_eq!(
        since(&fakes, before),
        [event(&fakes, AuditKind::Logout)
            .by_self(keys.alice.id)
            .detail("via", "api_key")]
    );
    // Sessions are not keys.
    let session = fakes.store.family(keys.alice_session);
    assert_eq!(session.len(), 1);
    assert_eq!(session[0].revoked_at, None);
}

#[tokio::test]
async fn logging_out_without_a_key_deletes_all_the_users_keys_in_one_event() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    let before = mark(&fakes);

    let deleted = gatehouse
        .logout_api_keys(keys.alice.id, None, &client())
        .await
        .expect("logged out");

    assert_eq!(deleted, 2);
    assert_only_alices_keys_died(&gatehouse, &fakes, &keys).await;
    assert_eq!(
        since(&fakes, before),
        [event(&fakes, AuditKind::Logout)
            .by_self(keys.alice.id)
            .detail("via", "api_key")]
    );
}

#[tokio::test]
async fn logging_out_a_key_already_gone_deletes_and_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    gatehouse
        .logout_api_keys(keys.alice.id, Some(&keys.alice_keys[0]), &client())
        .await
        .expect("logged out");
    let before = mark(&fakes);

    let again = gatehouse
        .logout_api_keys(keys.alice.id, Some(&keys.alice_keys[0]), &client())
        .await
        .expect("answered");
    let unknown = gatehouse
        .logout_api_keys(keys.alice.id, Some("tok-999"), &client())
        .await
        .expect("answered");

    assert_eq!((again, unknown), (0, 0));
    assert_eq!(since(&fakes, before), []);
    assert_key_works(&gatehouse, &keys.alice_keys[1], keys.alice.id).await;
}

#[tokio::test]
async fn another_users_key_is_never_deleted() {
    let (gatehouse, fakes) = default_gatehouse();
    let keys = keys(&gatehouse, &fakes).await;
    let carol = user(&fakes, "carol");
    let before = mark(&fakes);

    let by_alice = gatehouse
        .logout_api_keys(keys.alice.id, Some(&keys.bobs_key), &client())
        .await
        .expect("answered");
    let by_carol = gatehouse
        .logout_api_keys(carol.id, None, &client())
        .await
        .expect("answered");

    assert_eq!((by_alice, by_carol), (0, 0));
    assert_eq!(since(&fakes, before), []);
    assert_key_works(&gatehouse, &keys.bobs_key, keys.bob.id).await;
    for key in &keys.alice_keys {
        assert_key_works(&gatehouse, key, keys.alice.id).await;
    }
    assert_eq!(fakes.store.api_keys().len(), 3);
}

// ---------------------------------------------------------------------------
// Opening a session for a signed-in user

#[tokio::test]
async fn open_session_starts_a_new_session_with_fresh_claims_and_records_a_login() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let signed_in = log_in(&gatehouse, "alice").await;
    let principal = gatehouse
        .authenticate(&signed_in.access)
        .await
        .expect("accepted");
    // Granted after the caller was read: the new token says so.
    fakes.store.add_to_group(alice.id, "editors");
    fakes.clock.advance(Duration::seconds(30));
    let before = mark(&fakes);
    let from = client();

    let pair = gatehouse
        .open_session(Caller {
            user: &principal.profile.user,
            session: principal.credential.session(),
            client: &from,
        })
        .await
        .expect("a new session");

    let sid = fakes.sid(&pair.refresh);
    assert_eq!(fakes.sid(&pair.access), sid);
    assert_ne!(sid, fakes.sid(&signed_in.refresh));
    let session = fakes.store.family(sid);
    assert_eq!(session.len(), 1);
    assert_eq!(session[0].user_id, alice.id);
    assert_eq!(session[0].ip.as_deref(), Some(IP));
    assert_eq!(session[0].user_agent.as_deref(), Some(USER_AGENT));
    assert_eq!(session[0].created_at, fakes.clock.now());
    let authenticated = gatehouse.authenticate(&pair.access).await.expect("valid");
    assert_eq!(authenticated.profile.user.id, alice.id);
    assert_eq!(authenticated.credential.session(), Some(sid));
    let claims = fakes.claims(&pair.access).user.expect("user claims");
    assert_eq!(claims.groups, ["editors"]);
    assert_eq!(
        since(&fakes, before),
        [event(&fakes, AuditKind::LoginSucceeded)
            .by_self(alice.id)
            .detail("via", "session")]
    );
    // The session it came from goes on.
    gatehouse
        .authenticate(&signed_in.access)
        .await
        .expect("the first session is still live");
}

#[tokio::test]
async fn open_session_refuses_a_caller_signed_in_with_an_api_key() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let key = key_for(&gatehouse, "alice").await;
    let principal = gatehouse
        .authenticate_api_key(&key)
        .await
        .expect("accepted");
    let before = mark(&fakes);
    let from = client();

    let refused = gatehouse
        .open_session(Caller {
            user: &principal.profile.user,
            session: principal.credential.session(),
            client: &from,
        })
        .await;

    assert!(
        matches!(refused, Err(OpenSessionError::NoSession)),
        "{refused:?}"
    );
    assert_eq!(fakes.store.tokens_of(alice.id), []);
    assert_eq!(since(&fakes, before), []);
    assert_key_works(&gatehouse, &key, alice.id).await;
}

#[tokio::test]
async fn open_session_gives_each_call_its_own_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let first = log_in(&gatehouse, "alice").await;

    let caller = Caller {
        session: Some(fakes.sid(&first.refresh)),
        ..Caller::from(&alice)
    };
    let second = gatehouse.open_session(caller).await.expect("a session");

    assert_ne!(fakes.sid(&first.refresh), fakes.sid(&second.refresh));
    let live = fakes
        .store
        .tokens_of(alice.id)
        .iter()
        .filter(|t| t.revoked_at.is_none())
        .count();
    assert_eq!(live, 2);
}

#[tokio::test]
async fn open_session_refuses_a_user_deactivated_or_deleted_since_he_signed_in() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let bob = user(&fakes, "bob");
    fakes.store.update_user(alice.id, |u| u.is_active = false);
    assert!(fakes.delete_user(bob.id).await);
    let before = mark(&fakes);

    for user in [&alice, &bob] {
        let caller = Caller {
            session: Some(uuid::Uuid::new_v4()),
            ..Caller::from(user)
        };
        match gatehouse.open_session(caller).await {
            Err(OpenSessionError::UserNotFound) => {}
            other => panic!("expected UserNotFound, got {other:?}"),
        }
    }

    assert_eq!(since(&fakes, before), []);
    assert_eq!(fakes.store.tokens_of(alice.id), []);
}

#[tokio::test]
async fn open_session_keeps_the_callers_login_time_and_ends_with_the_callers_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let login_time = fakes.clock.now();
    let first = log_in(&gatehouse, "alice").await;
    // 29.5 days later, refreshed twice a day: half a day of the session's 30 is left.
    let mut refresh = first.refresh.clone();
    for _ in 0..59 {
        fakes.clock.advance(Duration::hours(12));
        refresh = gatehouse
            .refresh(RefreshCommand {
                refresh,
                client: client(),
            })
            .await
            .expect("refreshed")
            .refresh
            .expect("rotated");
    }
    let caller = Caller {
        session: Some(fakes.sid(&first.refresh)),
        ..Caller::from(&alice)
    };

    let opened = gatehouse.open_session(caller).await.expect("a session");

    let session = fakes.store.family(fakes.sid(&opened.refresh));
    assert_eq!(session[0].session_started_at, login_time);
    assert_eq!(session[0].parent_session, Some(fakes.sid(&first.refresh)));
    assert_eq!(
        session[0].expires_at,
        login_time + Duration::days(30),
        "in half a day, not in a day"
    );
    gatehouse
        .logout(&refresh, &client())
        .await
        .expect("logged out");
    let refused = gatehouse
        .refresh(RefreshCommand {
            refresh: opened.refresh.clone(),
            client: client(),
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(RefreshError::Token(TokenRejection::Blacklisted))
        ),
        "{refused:?}"
    );
    assert!(gatehouse.authenticate(&opened.access).await.is_err());
}

#[tokio::test]
async fn open_session_refuses_a_session_ended_or_past_its_maximum_lifetime() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let ended = log_in(&gatehouse, "alice").await;
    let lapsed = log_in(&gatehouse, "alice").await;
    let old = log_in(&gatehouse, "alice").await;
    gatehouse
        .logout(&ended.refresh, &client())
        .await
        .expect("logged out");
    fakes.clock.advance(Duration::hours(2));
    let old = gatehouse
        .refresh(RefreshCommand {
            refresh: old.refresh,
            client: client(),
        })
        .await
        .expect("refreshed")
        .refresh
        .expect("rotated");
    fakes.clock.advance(Duration::hours(23));
    // The maximum lifetime is lowered to a day: `old`'s login is 25 hours old. `lapsed`
    // has not been refreshed for longer than its refresh token lived.
    let short = fakes.gatehouse(Settings {
        tokens: TokenSettings {
            session_max_lifetime: Duration::days(1),
            ..TokenSettings::default()
        },
        ..Settings::default()
    });
    let tokens_before = fakes.store.tokens_of(alice.id).len();
    let before = mark(&fakes);

    for (refresh, rejection) in [
        (&ended.refresh, TokenRejection::Blacklisted),
        (&lapsed.refresh, TokenRejection::Blacklisted),
        (&old, TokenRejection::Expired),
    ] {
        let caller = Caller {
            session: Some(fakes.sid(refresh)),
            ..Caller::from(&alice)
        };
        match short.open_session(caller).await {
            Err(OpenSessionError::Token(r)) if r == rejection => {}
            other => panic!("expected {rejection:?}, got {other:?}"),
        }
    }

    assert_eq!(fakes.store.tokens_of(alice.id).len(), tokens_before);
    assert_eq!(since(&fakes, before), []);
}

// ---------------------------------------------------------------------------
// Activation links that name their user

fn requiring_activation() -> Settings {
    Settings {
        registration: RegistrationSettings {
            require_activation: true,
            ..RegistrationSettings::default()
        },
        ..Settings::default()
    }
}

/// Registers `name`, who must activate his account; the user and his link's token.
async fn registered(gatehouse: &Gatehouse, fakes: &Fakes, name: &str) -> (User, String) {
    let registered = gatehouse
        .register(RegisterCommand {
            email: format!("{name}@example.com"),
            username: Some(name.to_owned()),
            password: Password::new(PASSWORD),
            password2: None,
            first_name: String::new(),
            last_name: String::new(),
            client: ClientInfo::default(),
        })
        .await
        .expect("registered");
    let user = fakes.user(registered.profile.user.id);
    assert!(!user.is_active);
    let token = fakes
        .store
        .last_link_token(user.id)
        .expect("an activation link");
    (user, token)
}

/// Stores a one-time token for the user, valid for an hour from now.
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

#[track_caller]
fn activation_rejection(result: Result<(), ActivateError>) -> OneTimeTokenRejection {
    match result {
        Err(ActivateError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

#[track_caller]
fn reset_rejection(result: Result<(), ConfirmResetError>) -> OneTimeTokenRejection {
    match result {
        Err(ConfirmResetError::Token(rejection)) => rejection,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_uid_link_activates_its_own_user() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let (erin, token) = registered(&gatehouse, &fakes, "erin").await;
    let before = mark(&fakes);

    gatehouse
        .activate_user(erin.id, &token, &client())
        .await
        .expect("activated");

    assert!(fakes.user(erin.id).is_active);
    assert_eq!(
        fakes.one_time_token(&token).used_at,
        Some(fakes.clock.now())
    );
    assert_eq!(
        since(&fakes, before),
        [event(&fakes, AuditKind::AccountActivated).subject(erin.id)]
    );
}

#[tokio::test]
async fn a_uid_naming_nobody_is_refused_first_and_changes_nothing() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let (erin, token) = registered(&gatehouse, &fakes, "erin").await;
    let before = mark(&fakes);

    for presented in [token.as_str(), "not-a-token"] {
        assert_eq!(
            activation_rejection(gatehouse.activate_user(NOWHERE, presented, &client()).await),
            OneTimeTokenRejection::UnknownUser
        );
    }

    assert!(!fakes.user(erin.id).is_active);
    assert_eq!(fakes.one_time_token(&token).used_at, None);
    assert_eq!(since(&fakes, before), []);
    assert_eq!(
        OneTimeTokenRejection::UnknownUser.to_string(),
        "Invalid token."
    );
}

#[tokio::test]
async fn another_users_activation_link_is_refused_and_stays_usable() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let (erin, _erins) = registered(&gatehouse, &fakes, "erin").await;
    let (frank, franks) = registered(&gatehouse, &fakes, "frank").await;
    let before = mark(&fakes);

    assert_eq!(
        activation_rejection(gatehouse.activate_user(erin.id, &franks, &client()).await),
        OneTimeTokenRejection::OtherUser
    );

    assert!(!fakes.user(erin.id).is_active);
    assert!(!fakes.user(frank.id).is_active);
    assert_eq!(fakes.one_time_token(&franks).used_at, None);
    assert_eq!(since(&fakes, before), []);
    assert_eq!(
        OneTimeTokenRejection::OtherUser.to_string(),
        "Invalid token."
    );
    gatehouse
        .activate_user(frank.id, &franks, &client())
        .await
        .expect("frank's own link still works");
}

#[tokio::test]
async fn an_unknown_token_or_a_reset_token_is_invalid_for_an_existing_uid() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let (erin, _token) = registered(&gatehouse, &fakes, "erin").await;
    issue(&fakes, erin.id, TokenPurpose::Reset, "erins-reset").await;

    for presented in ["not-a-token", "erins-reset"] {
        assert_eq!(
            activation_rejection(gatehouse.activate_user(erin.id, presented, &client()).await),
            OneTimeTokenRejection::Invalid
        );
    }
    assert!(!fakes.user(erin.id).is_active);
}

#[tokio::test]
async fn a_used_link_of_an_active_user_is_stale_by_uid_and_invalid_without() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let (erin, token) = registered(&gatehouse, &fakes, "erin").await;
    gatehouse
        .activate_user(erin.id, &token, &client())
        .await
        .expect("activated");
    let before = mark(&fakes);

    assert_eq!(
        activation_rejection(gatehouse.activate_user(erin.id, &token, &client()).await),
        OneTimeTokenRejection::Used
    );
    assert_eq!(
        activation_rejection(gatehouse.activate(&token, &client()).await),
        OneTimeTokenRejection::Invalid
    );
    assert_eq!(since(&fakes, before), []);
    assert_eq!(OneTimeTokenRejection::Used.to_string(), "Invalid token.");
}

#[tokio::test]
async fn a_used_link_stays_stale_after_it_would_have_expired() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let (erin, token) = registered(&gatehouse, &fakes, "erin").await;
    gatehouse
        .activate_user(erin.id, &token, &client())
        .await
        .expect("activated");
    fakes.clock.advance(Duration::days(4));

    assert_eq!(
        activation_rejection(gatehouse.activate_user(erin.id, &token, &client()).await),
        OneTimeTokenRejection::Used
    );
}

#[tokio::test]
async fn a_superseded_link_of_a_pending_user_is_invalid_by_uid_too() {
    let settings = Settings {
        accounts: AccountSettings {
            min_resend_interval: Duration::zero(),
            ..AccountSettings::default()
        },
        ..requiring_activation()
    };
    let (gatehouse, fakes) = gatehouse(settings);
    let (erin, old) = registered(&gatehouse, &fakes, "erin").await;
    fakes.clock.advance(Duration::minutes(5));
    gatehouse
        .resend_activation("erin@example.com")
        .await
        .expect("resent");
    let new = fakes
        .store
        .last_link_token(erin.id)
        .expect("a new activation link");
    assert_ne!(old, new);
    assert!(fakes.one_time_token(&old).used_at.is_some());

    assert_eq!(
        activation_rejection(gatehouse.activate_user(erin.id, &old, &client()).await),
        OneTimeTokenRejection::Invalid
    );
    assert_eq!(
        activation_rejection(gatehouse.activate(&old, &client()).await),
        OneTimeTokenRejection::Invalid
    );
    assert!(!fakes.user(erin.id).is_active);
    gatehouse
        .activate_user(erin.id, &new, &client())
        .await
        .expect("the new link works");
}

#[tokio::test]
async fn a_used_link_of_a_user_deactivated_since_is_invalid() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let (erin, token) = registered(&gatehouse, &fakes, "erin").await;
    gatehouse
        .activate_user(erin.id, &token, &client())
        .await
        .expect("activated");
    let root = superuser(&fakes, "root");
    as_admin!(gatehouse, &root, update_user(erin.id, deactivate()))
        .await
        .expect("deactivated");

    assert_eq!(
        activation_rejection(gatehouse.activate_user(erin.id, &token, &client()).await),
        OneTimeTokenRejection::Invalid
    );
    assert!(!fakes.user(erin.id).is_active);
}

#[tokio::test]
async fn another_users_used_link_is_other_user_not_stale() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let (erin, _erins) = registered(&gatehouse, &fakes, "erin").await;
    let (frank, franks) = registered(&gatehouse, &fakes, "frank").await;
    gatehouse
        .activate_user(frank.id, &franks, &client())
        .await
        .expect("activated");

    assert_eq!(
        activation_rejection(gatehouse.activate_user(erin.id, &franks, &client()).await),
        OneTimeTokenRejection::OtherUser
    );
}

#[tokio::test]
async fn an_expired_own_link_is_expired_by_uid() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let (erin, token) = registered(&gatehouse, &fakes, "erin").await;
    fakes.clock.advance(Duration::days(3));

    assert_eq!(
        activation_rejection(gatehouse.activate_user(erin.id, &token, &client()).await),
        OneTimeTokenRejection::Expired
    );
    assert!(!fakes.user(erin.id).is_active);
    assert_eq!(fakes.one_time_token(&token).used_at, None);
}

// ---------------------------------------------------------------------------
// Reset links that name their user

/// Alice and Bob, active, each with a reset link.
async fn reset_links(gatehouse: &Gatehouse, fakes: &Fakes) -> (User, String, User, String) {
    let alice = user(fakes, "alice");
    let bob = user(fakes, "bob");
    let mut links = Vec::new();
    for who in [&alice, &bob] {
        gatehouse
            .request_password_reset(who.email.as_str())
            .await
            .expect("requested");
        links.push(fakes.store.last_link_token(who.id).expect("a reset link"));
    }
    let bobs = links.pop().expect("bob's link");
    let alices = links.pop().expect("alice's link");
    (alice, alices, bob, bobs)
}

#[tokio::test]
async fn a_uid_reset_link_resets_its_own_users_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token, _bob, _bobs) = reset_links(&gatehouse, &fakes).await;
    let before = mark(&fakes);

    gatehouse
        .confirm_password_reset_for(alice.id, confirm(&token))
        .await
        .expect("reset");

    assert_eq!(
        fakes.user(alice.id).password_hash,
        FakeHasher::hash_of(NEW_PASSWORD)
    );
    assert_eq!(
        fakes.one_time_token(&token).used_at,
        Some(fakes.clock.now())
    );
    assert_eq!(
        since(&fakes, before),
        [event(&fakes, AuditKind::PasswordReset).subject(alice.id)]
    );
}

#[tokio::test]
async fn a_reset_uid_naming_nobody_is_refused_first_and_changes_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token, _bob, _bobs) = reset_links(&gatehouse, &fakes).await;
    let before = mark(&fakes);

    for presented in [token.as_str(), "not-a-token"] {
        assert_eq!(
            reset_rejection(
                gatehouse
                    .confirm_password_reset_for(NOWHERE, confirm(presented))
                    .await
            ),
            OneTimeTokenRejection::UnknownUser
        );
    }

    assert_eq!(fakes.user(alice.id).password_hash, alice.password_hash);
    assert_eq!(fakes.one_time_token(&token).used_at, None);
    assert_eq!(since(&fakes, before), []);
}

#[tokio::test]
async fn another_users_reset_link_is_refused_and_stays_usable() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, _alices, bob, bobs) = reset_links(&gatehouse, &fakes).await;
    let before = mark(&fakes);

    assert_eq!(
        reset_rejection(
            gatehouse
                .confirm_password_reset_for(alice.id, confirm(&bobs))
                .await
        ),
        OneTimeTokenRejection::OtherUser
    );

    assert_eq!(fakes.user(alice.id).password_hash, alice.password_hash);
    assert_eq!(fakes.user(bob.id).password_hash, bob.password_hash);
    assert_eq!(fakes.one_time_token(&bobs).used_at, None);
    assert_eq!(since(&fakes, before), []);
    gatehouse
        .confirm_password_reset_for(bob.id, confirm(&bobs))
        .await
        .expect("bob's own link still works");
}

#[tokio::test]
async fn a_used_reset_link_is_used_by_uid_and_invalid_without() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token, _bob, _bobs) = reset_links(&gatehouse, &fakes).await;
    gatehouse
        .confirm_password_reset_for(alice.id, confirm(&token))
        .await
        .expect("reset");
    let before = mark(&fakes);

    assert_eq!(
        reset_rejection(
            gatehouse
                .confirm_password_reset_for(alice.id, confirm(&token))
                .await
        ),
        OneTimeTokenRejection::Used
    );
    assert_eq!(
        reset_rejection(gatehouse.confirm_password_reset(confirm(&token)).await),
        OneTimeTokenRejection::Invalid
    );
    assert_eq!(since(&fakes, before), []);
}

#[tokio::test]
async fn a_superseded_reset_link_is_used_by_uid() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, old, _bob, _bobs) = reset_links(&gatehouse, &fakes).await;
    fakes.clock.advance(Duration::minutes(5));
    gatehouse
        .request_password_reset("alice@example.com")
        .await
        .expect("requested again");
    let new = fakes.store.last_link_token(alice.id).expect("a new link");
    assert_ne!(old, new);

    assert_eq!(
        reset_rejection(
            gatehouse
                .confirm_password_reset_for(alice.id, confirm(&old))
                .await
        ),
        OneTimeTokenRejection::Used
    );
    assert_eq!(fakes.user(alice.id).password_hash, alice.password_hash);
}

#[tokio::test]
async fn an_unknown_token_or_an_activation_token_is_invalid_for_a_reset_uid() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, _token, _bob, _bobs) = reset_links(&gatehouse, &fakes).await;
    issue(
        &fakes,
        alice.id,
        TokenPurpose::Activation,
        "alices-activation",
    )
    .await;

    for presented in ["not-a-token", "alices-activation"] {
        assert_eq!(
            reset_rejection(
                gatehouse
                    .confirm_password_reset_for(alice.id, confirm(presented))
                    .await
            ),
            OneTimeTokenRejection::Invalid
        );
    }
    assert_eq!(fakes.user(alice.id).password_hash, alice.password_hash);
}

#[tokio::test]
async fn an_expired_reset_link_is_expired_by_uid() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, token, _bob, _bobs) = reset_links(&gatehouse, &fakes).await;
    fakes.clock.advance(Duration::hours(1));

    assert_eq!(
        reset_rejection(
            gatehouse
                .confirm_password_reset_for(alice.id, confirm(&token))
                .await
        ),
        OneTimeTokenRejection::Expired
    );
    assert_eq!(fakes.user(alice.id).password_hash, alice.password_hash);
}

#[tokio::test]
async fn another_users_used_reset_link_is_other_user_not_used() {
    let (gatehouse, fakes) = default_gatehouse();
    let (alice, _alices, bob, bobs) = reset_links(&gatehouse, &fakes).await;
    gatehouse
        .confirm_password_reset_for(bob.id, confirm(&bobs))
        .await
        .expect("reset");

    assert_eq!(
        reset_rejection(
            gatehouse
                .confirm_password_reset_for(alice.id, confirm(&bobs))
                .await
        ),
        OneTimeTokenRejection::OtherUser
    );
}
