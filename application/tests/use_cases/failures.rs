//! A store that fails: each use case answers `Fault::Unavailable` when the store
//! cannot be reached and `Fault::Unexpected` when it breaks, never an outcome it did not
//! reach (a failed login whose audit write fails is a fault, not wrong credentials),
//! and what the failed write would have changed stays as it was.

use crate::support::{
    Failure, FakeHasher, Fakes, PASSWORD, TestDeps, default_gatehouse, log_in, login_command,
    refresh,
};
use application::as_admin;
use application::use_cases::admin_users::{AdminError, UpdateUserCommand};
use application::use_cases::change_password::{ChangePasswordCommand, ChangePasswordError};
use application::use_cases::login::LoginError;
use application::use_cases::refresh::RefreshError;
use application::use_cases::register::{RegisterCommand, RegisterError};
use application::{ClientInfo, Fault};
use domain::{AuditKind, Password, User};

type Gatehouse = application::Gatehouse<TestDeps>;

const NEW_PASSWORD: &str = "a brand new passphrase";

#[track_caller]
fn assert_unavailable(fault: Option<Fault>) {
    assert!(matches!(fault, Some(Fault::Unavailable(_))), "{fault:?}");
}

#[track_caller]
fn assert_unexpected(fault: Option<Fault>) {
    assert!(matches!(fault, Some(Fault::Unexpected(_))), "{fault:?}");
}

fn login_fault<T: std::fmt::Debug>(result: Result<T, LoginError>) -> Option<Fault> {
    match result {
        Err(LoginError::Fault(fault)) => Some(fault),
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn kinds(fakes: &Fakes) -> Vec<AuditKind> {
    fakes.store.audit_events().iter().map(|e| e.kind).collect()
}

fn registration(email: &str) -> RegisterCommand {
    RegisterCommand {
        email: email.to_owned(),
        username: None,
        password: Password::new(PASSWORD),
        password2: None,
        first_name: String::new(),
        last_name: String::new(),
        client: ClientInfo::default(),
    }
}

/// An active staff superuser.
fn superuser(fakes: &Fakes, name: &str) -> User {
    let root = fakes.add_user(name, &format!("{name}@example.com"));
    fakes.store.update_user(root.id, |u| {
        u.is_staff = true;
        u.is_superuser = true;
    });
    fakes.user(root.id)
}

async fn change_password(gatehouse: &Gatehouse, access: &str) -> Result<(), ChangePasswordError> {
    let principal = gatehouse
        .authenticate(access)
        .await
        .expect("the caller is authenticated");
    gatehouse
        .change_password(ChangePasswordCommand {
            user: principal.profile.user,
            session: principal.credential.session(),
            current_password: Password::new(PASSWORD),
            new_password: Password::new(NEW_PASSWORD),
            client: ClientInfo::default(),
        })
        .await
}

#[tokio::test]
async fn a_login_against_an_unreachable_store_is_unavailable_and_opens_no_session() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes
        .store
        .fail_on("users.find_by_username", Failure::Unavailable);

    let result = gatehouse.login(login_command("alice", PASSWORD)).await;

    assert_unavailable(login_fault(result));
    assert_eq!(fakes.store.tokens_of(alice.id), []);
    assert_eq!(kinds(&fakes), []);
}

#[tokio::test]
async fn a_login_whose_session_cannot_be_stored_is_unexpected_and_records_no_success() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    fakes.store.fail_on("sessions.start", Failure::Unexpected);

    let result = gatehouse.login(login_command("alice", PASSWORD)).await;

    assert_unexpected(login_fault(result));
    assert_eq!(fakes.store.tokens_of(alice.id), []);
    assert_eq!(kinds(&fakes), []);
}

#[tokio::test]
async fn only_a_wrong_password_keeps_its_place_in_the_accounts_budget_of_guesses() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let budget = format!("login_account_user:{}", alice.id);
    let rate = application::LoginThrottleSettings::default().login_account;
    fakes.store.fail_on("sessions.start", Failure::Unexpected);

    let faulted = gatehouse.login(login_command("alice", PASSWORD)).await;
    fakes.store.heal();
    let wrong = gatehouse
        .login(login_command("alice", "not the password"))
        .await;
    let right = gatehouse.login(login_command("alice", PASSWORD)).await;

    assert_unexpected(login_fault(faulted));
    assert!(
        matches!(wrong, Err(LoginError::InvalidCredentials)),
        "{wrong:?}"
    );
    assert!(right.is_ok(), "{right:?}");
    assert_eq!(
        fakes.limiter.count(&budget, rate),
        1,
        "the wrong password only: a fault and a success give their place back"
    );
}

#[tokio::test]
async fn a_failed_login_whose_audit_write_fails_is_a_fault_not_invalid_credentials() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.add_user("alice", "alice@example.com");
    fakes.store.fail_on("audit.record", Failure::Unavailable);

    let wrong_password = gatehouse
        .login(login_command("alice", "not the password"))
        .await;
    let unknown_user = gatehouse.login(login_command("nobody", PASSWORD)).await;

    assert_unavailable(login_fault(wrong_password));
    assert_unavailable(login_fault(unknown_user));
    assert_eq!(kinds(&fakes), []);

    fakes.store.heal();
    let recorded = gatehouse
        .login(login_command("alice", "not the password"))
        .await;
    assert!(
        matches!(recorded, Err(LoginError::InvalidCredentials)),
        "{recorded:?}"
    );
    assert_eq!(kinds(&fakes), [AuditKind::LoginFailed]);
}

#[tokio::test]
async fn a_refresh_whose_rotation_fails_is_a_fault_and_the_token_stays_live() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let pair = log_in(&gatehouse, "alice").await;
    fakes.store.fail_on("sessions.rotate", Failure::Unexpected);

    let broken = refresh(&gatehouse, &pair.refresh).await;

    match broken {
        Err(RefreshError::Fault(fault)) => assert_unexpected(Some(fault)),
        other => panic!("expected a fault, got {other:?}"),
    }
    let tokens = fakes.store.tokens_of(alice.id);
    assert_eq!(tokens.len(), 1, "no successor");
    assert_eq!((tokens[0].revoked_at, tokens[0].replaced_by), (None, None));

    fakes.store.heal();
    fakes
        .store
        .fail_on("sessions.find_with_profile", Failure::Unavailable);
    match refresh(&gatehouse, &pair.refresh).await {
        Err(RefreshError::Fault(fault)) => assert_unavailable(Some(fault)),
        other => panic!("expected a fault, got {other:?}"),
    }

    fakes.store.heal();
    assert!(
        refresh(&gatehouse, &pair.refresh).await.is_ok(),
        "it still works"
    );
}

#[tokio::test]
async fn a_registration_the_store_cannot_take_is_a_fault_and_leaves_no_account() {
    let (gatehouse, fakes) = default_gatehouse();
    fakes.store.fail_on("users.create", Failure::Unexpected);

    let broken = gatehouse.register(registration("alice@example.com")).await;

    assert!(
        matches!(broken, Err(RegisterError::Fault(Fault::Unexpected(_)))),
        "{broken:?}"
    );
    fakes.store.heal();
    fakes
        .store
        .fail_on("users.find_by_email", Failure::Unavailable);
    let unreachable = gatehouse.register(registration("alice@example.com")).await;
    assert!(
        matches!(
            unreachable,
            Err(RegisterError::Fault(Fault::Unavailable(_)))
        ),
        "{unreachable:?}"
    );
    assert_eq!(fakes.store.user_count(), 0);
    assert_eq!(fakes.store.outbox(), []);
    assert_eq!(kinds(&fakes), []);
}

#[tokio::test]
async fn a_password_change_the_store_cannot_take_is_a_fault_and_the_password_stays() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = fakes.add_user("alice", "alice@example.com");
    let this = log_in(&gatehouse, "alice").await;
    let other = log_in(&gatehouse, "alice").await;
    let before = kinds(&fakes);
    fakes
        .store
        .fail_on("accounts.set_password", Failure::Unavailable);

    let result = change_password(&gatehouse, &this.access).await;

    match result {
        Err(ChangePasswordError::Fault(fault)) => assert_unavailable(Some(fault)),
        other => panic!("expected a fault, got {other:?}"),
    }
    let stored = fakes.user(alice.id);
    assert_eq!(stored.password_hash, FakeHasher::hash_of(PASSWORD));
    assert_eq!(stored.password_changed_at, alice.password_changed_at);
    assert!(
        fakes
            .store
            .family(fakes.sid(&other.refresh))
            .iter()
            .all(|t| t.revoked_at.is_none()),
        "his other session lives on"
    );
    assert_eq!(fakes.store.sent_to(alice.id), []);
    assert_eq!(kinds(&fakes), before);
}

#[tokio::test]
async fn an_admin_write_the_store_cannot_take_is_a_fault_and_changes_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = fakes.add_user("bob", "bob@example.com");
    let bobs = log_in(&gatehouse, "bob").await;
    let before = kinds(&fakes);
    let deactivate = || UpdateUserCommand {
        is_active: Some(false),
        ..UpdateUserCommand::default()
    };
    fakes
        .store
        .fail_on("user_admin.update", Failure::Unexpected);

    let broken = as_admin!(gatehouse, &root, update_user(bob.id, deactivate())).await;

    assert!(
        matches!(broken, Err(AdminError::Fault(Fault::Unexpected(_)))),
        "{broken:?}"
    );
    fakes.store.heal();
    fakes.store.fail_on("users.profile", Failure::Unavailable);
    let unauthorized = as_admin!(gatehouse, &root, update_user(bob.id, deactivate())).await;
    assert!(
        matches!(unauthorized, Err(AdminError::Fault(Fault::Unavailable(_)))),
        "an unreadable grant is a fault, not a refusal: {unauthorized:?}"
    );
    assert!(fakes.user(bob.id).is_active);
    assert_eq!(
        fakes
            .store
            .token(fakes.jti(&bobs.refresh))
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(kinds(&fakes), before);
}
