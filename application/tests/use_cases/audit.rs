//! Audit trail (SPEC §11): every use case that changes something records exactly its
//! event, with who, on whom, from where and what; a refused action records nothing;
//! only staff holding `auth.view_auditevent` read the trail, filtered and paged.

use crate::support::{
    FakeHasher, FakeTokenGenerator, Fakes, MAX_IP_CHARS, MAX_USER_AGENT_CHARS, PASSWORD, TestDeps,
    default_gatehouse, gatehouse, log_in, login_command,
};
use application::as_admin;
use application::authorization::ChangeUser;
use application::use_cases::activate::ActivateError;
use application::use_cases::admin_users::{AdminError, CreateUserCommand, UpdateUserCommand};
use application::use_cases::change_password::{ChangePasswordCommand, ChangePasswordError};
use application::use_cases::create_superuser::{CreateSuperuserCommand, CreateSuperuserError};
use application::use_cases::login::{LoginCommand, LoginError, LoginIdentifier};
use application::use_cases::logout::LogoutError;
use application::use_cases::me::{MeError, UpdateMeCommand};
use application::use_cases::password_reset::{ConfirmResetCommand, ConfirmResetError};
use application::use_cases::refresh::{RefreshCommand, RefreshError};
use application::use_cases::register::{RegisterCommand, RegisterError};
use application::{
    Caller, ClientInfo, OneTimeTokenRejection, RegistrationSettings, Settings, TokenPair,
    TokenRejection,
};
use chrono::{DateTime, Duration, Utc};
use domain::admin::{GroupChanges, NewPermission, UserListQuery};
use domain::ports::Clock;
use domain::{AuditEvent, AuditKind, AuditQuery, AuditRecord, Password, User, UserId};

type Gatehouse = application::Gatehouse<TestDeps>;

/// A password every validator accepts, other than `PASSWORD`.
const NEW_PASSWORD: &str = "another quite long passphrase";
const WRONG_PASSWORD: &str = "not the password at all";

const IP: &str = "203.0.113.7";
const USER_AGENT: &str = "Probe/1.0 (audit test)";

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

/// Asserts that nothing was written since `mark`.
#[track_caller]
fn assert_nothing_recorded(fakes: &Fakes, mark: usize) {
    assert_eq!(since(fakes, mark), []);
}

/// Asserts that no secret shows anywhere in the event.
#[track_caller]
fn assert_free_of(event: &AuditEvent, secrets: &[&str]) {
    let shown = format!("{event:?}");
    for secret in secrets {
        assert!(
            !shown.contains(secret),
            "{secret:?} leaked into the audit event {shown}"
        );
    }
}

/// An active user, not staff, with `PASSWORD`.
fn user(fakes: &Fakes, name: &str) -> User {
    fakes.add_user(name, &format!("{name}@example.com"))
}

/// Active staff holding exactly these permissions, granted directly.
fn staff(fakes: &Fakes, name: &str, permissions: &[&str]) -> User {
    let staff = user(fakes, name);
    fakes.store.update_user(staff.id, |u| u.is_staff = true);
    for permission in permissions {
        fakes.store.grant_user_permission(staff.id, permission);
    }
    fakes.user(staff.id)
}

/// An active staff superuser with no permission granted to him.
fn superuser(fakes: &Fakes, name: &str) -> User {
    let root = user(fakes, name);
    fakes.store.update_user(root.id, |u| {
        u.is_staff = true;
        u.is_superuser = true;
    });
    fakes.user(root.id)
}

/// The user calling from `client()`.
fn from_client<'a>(user: &'a User, client: &'a ClientInfo) -> Caller<'a> {
    Caller {
        user,
        session: None,
        client,
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn login_from_client(identifier: LoginIdentifier, password: &str) -> LoginCommand {
    LoginCommand {
        identifier,
        password: Password::new(password),
        client: client(),
    }
}

fn username(raw: &str) -> LoginIdentifier {
    LoginIdentifier::Username(raw.to_owned())
}

fn register_command(email: &str, username: &str) -> RegisterCommand {
    RegisterCommand {
        email: email.to_owned(),
        username: Some(username.to_owned()),
        password: Password::new(PASSWORD),
        password2: None,
        first_name: String::new(),
        last_name: String::new(),
        client: client(),
    }
}

/// A session's id as the trail names it.
fn session_detail(fakes: &Fakes, pair: &TokenPair) -> String {
    fakes.sid(&pair.access).simple().to_string()
}

async fn change_password_command(
    gatehouse: &Gatehouse,
    pair: &TokenPair,
    current: &str,
    new: &str,
) -> ChangePasswordCommand {
    let principal = gatehouse
        .authenticate(&pair.access)
        .await
        .expect("the caller is authenticated");
    ChangePasswordCommand {
        user: principal.profile.user,
        session: principal.credential.session(),
        current_password: Password::new(current),
        new_password: Password::new(new),
        client: client(),
    }
}

/// Mails alice a reset link and gives its token.
async fn reset_link(gatehouse: &Gatehouse, fakes: &Fakes, alice: &User) -> String {
    gatehouse
        .request_password_reset(alice.email.as_str())
        .await
        .expect("answered");
    fakes.store.last_link_token(alice.id).expect("a reset link")
}

#[track_caller]
fn forbidden<T: std::fmt::Debug>(result: Result<T, AdminError>) {
    assert!(
        matches!(result, Err(AdminError::Forbidden)),
        "expected Forbidden, got {result:?}"
    );
}

// ---------------------------------------------------------------------------
// Login

#[tokio::test]
async fn a_login_records_its_success_by_the_user_on_himself_from_his_client() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    fakes.clock.advance(Duration::minutes(5));

    gatehouse
        .login(login_from_client(username("alice"), PASSWORD))
        .await
        .expect("logged in");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::LoginSucceeded).by_self(alice.id)]
    );
}

#[tokio::test]
async fn a_login_as_nobody_records_the_identifier_and_unknown_user_without_a_subject() {
    let (gatehouse, fakes) = default_gatehouse();
    user(&fakes, "alice");

    let result = gatehouse
        .login(login_from_client(username("nobody"), PASSWORD))
        .await;

    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
    let events = fakes.store.audit_events();
    assert_eq!(
        events,
        [event(&fakes, AuditKind::LoginFailed)
            .detail("username", "nobody")
            .detail("reason", "unknown_user")]
    );
    assert_free_of(&events[0], &[PASSWORD]);
}

#[tokio::test]
async fn a_wrong_password_records_the_user_as_subject_and_no_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    let result = gatehouse
        .login(login_from_client(username("alice"), WRONG_PASSWORD))
        .await;

    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
    let events = fakes.store.audit_events();
    assert_eq!(
        events,
        [event(&fakes, AuditKind::LoginFailed)
            .subject(alice.id)
            .detail("username", "alice")
            .detail("reason", "wrong_password")]
    );
    assert_eq!(events[0].actor, None);
    assert_free_of(
        &events[0],
        &[WRONG_PASSWORD, PASSWORD, &FakeHasher::hash_of(PASSWORD)],
    );
}

#[tokio::test]
async fn a_login_by_email_names_the_email_it_was_tried_with() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    let result = gatehouse
        .login(login_from_client(
            LoginIdentifier::Email("Alice@Example.com".to_owned()),
            WRONG_PASSWORD,
        ))
        .await;

    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::LoginFailed)
            .subject(alice.id)
            .detail("email", "Alice@Example.com")
            .detail("reason", "wrong_password")]
    );
}

#[tokio::test]
async fn the_right_password_of_an_inactive_account_records_inactive() {
    let (gatehouse, fakes) = default_gatehouse();
    let erin = fakes.add_inactive_user("erin", "erin@example.com");

    let result = gatehouse
        .login(login_from_client(username("erin"), PASSWORD))
        .await;

    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
    let events = fakes.store.audit_events();
    assert_eq!(
        events,
        [event(&fakes, AuditKind::LoginFailed)
            .subject(erin.id)
            .detail("username", "erin")
            .detail("reason", "inactive")]
    );
    assert_free_of(&events[0], &[PASSWORD, &FakeHasher::hash_of(PASSWORD)]);
}

#[tokio::test]
async fn a_wrong_password_of_an_inactive_account_records_the_wrong_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let erin = fakes.add_inactive_user("erin", "erin@example.com");

    let result = gatehouse
        .login(login_from_client(username("erin"), WRONG_PASSWORD))
        .await;

    assert!(matches!(result, Err(LoginError::InvalidCredentials)));

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::LoginFailed)
            .subject(erin.id)
            .detail("username", "erin")
            .detail("reason", "wrong_password")]
    );
}

#[tokio::test]
async fn a_password_changed_between_the_check_and_the_session_records_password_changed() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let id = alice.id;
    fakes.store.after_next_login_record(move |store| {
        store.update_user(id, |u| u.password_hash = FakeHasher::hash_of(NEW_PASSWORD));
    });

    let result = gatehouse
        .login(login_from_client(username("alice"), PASSWORD))
        .await;

    assert!(matches!(result, Err(LoginError::InvalidCredentials)));
    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::LoginFailed)
            .subject(alice.id)
            .detail("username", "alice")
            .detail("reason", "password_changed")]
    );
    assert_eq!(fakes.store.tokens_of(alice.id), []);
}

#[tokio::test]
async fn an_overlong_identifier_is_cut_to_the_longest_a_real_one_can_be() {
    let (gatehouse, fakes) = default_gatehouse();

    let long_username = "u".repeat(151);
    gatehouse
        .login(login_from_client(username(&long_username), PASSWORD))
        .await
        .unwrap_err();
    // Characters, not bytes: a multi-byte name is cut at 150 whole characters.
    let wide_username = "é".repeat(400);
    gatehouse
        .login(login_from_client(username(&wide_username), PASSWORD))
        .await
        .unwrap_err();
    let long_email = format!("{}@example.com", "e".repeat(300));
    gatehouse
        .login(login_from_client(
            LoginIdentifier::Email(long_email.clone()),
            PASSWORD,
        ))
        .await
        .unwrap_err();
    // Exactly as long as allowed: kept whole.
    let username_150 = "v".repeat(150);
    gatehouse
        .login(login_from_client(username(&username_150), PASSWORD))
        .await
        .unwrap_err();

    let failed = |key: &str, value: String| {
        event(&fakes, AuditKind::LoginFailed)
            .detail(key, value)
            .detail("reason", "unknown_user")
    };
    assert_eq!(
        fakes.store.audit_events(),
        [
            failed("username", "u".repeat(150)),
            failed("username", "é".repeat(150)),
            failed("email", long_email.chars().take(254).collect()),
            failed("username", username_150),
        ]
    );
}

#[tokio::test]
async fn an_overlong_client_is_recorded_cut_to_the_columns_not_refused() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    gatehouse
        .login(LoginCommand {
            client: ClientInfo {
                user_agent: Some("a".repeat(MAX_USER_AGENT_CHARS + 88)),
                ip: Some("1".repeat(MAX_IP_CHARS + 1)),
            },
            ..login_from_client(username("alice"), PASSWORD)
        })
        .await
        .expect("logged in");

    assert_eq!(
        fakes.store.audit_events(),
        [
            AuditEvent::new(AuditKind::LoginSucceeded, fakes.clock.now())
                .by_self(alice.id)
                .from(
                    Some("1".repeat(MAX_IP_CHARS)),
                    Some("a".repeat(MAX_USER_AGENT_CHARS))
                )
        ]
    );
}

// ---------------------------------------------------------------------------
// Registration and the first superuser

#[tokio::test]
async fn a_registration_records_the_new_account_as_subject_and_opens_no_login_event() {
    let (gatehouse, fakes) = default_gatehouse();

    let registered = gatehouse
        .register(register_command("erin@example.com", "erin"))
        .await
        .expect("registered");

    assert!(registered.tokens.is_some(), "a first session was opened");
    let erin = registered.profile.user.id;
    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::AccountRegistered)
            .subject(erin)
            .detail("username", "erin")
            .detail("is_active", true)]
    );
}

#[tokio::test]
async fn a_registration_awaiting_activation_records_an_inactive_account() {
    let (gatehouse, fakes) = gatehouse(Settings {
        registration: RegistrationSettings {
            require_activation: true,
            ..RegistrationSettings::default()
        },
        ..Settings::default()
    });

    let registered = gatehouse
        .register(register_command("erin@example.com", "erin"))
        .await
        .expect("registered");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::AccountRegistered)
            .subject(registered.profile.user.id)
            .detail("username", "erin")
            .detail("is_active", false)]
    );
}

#[tokio::test]
async fn a_refused_registration_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    user(&fakes, "alice");

    let taken = gatehouse
        .register(register_command("alice@example.com", "alice2"))
        .await;
    let weak = gatehouse
        .register(RegisterCommand {
            password: Password::new("123"),
            ..register_command("erin@example.com", "erin")
        })
        .await;

    assert!(matches!(taken, Err(RegisterError::Invalid(_))));
    assert!(matches!(weak, Err(RegisterError::Invalid(_))));
    assert_nothing_recorded(&fakes, 0);
}

#[tokio::test]
async fn createsuperuser_records_a_user_created_by_nobody_from_nowhere() {
    let (gatehouse, fakes) = default_gatehouse();

    let profile = gatehouse
        .create_superuser(CreateSuperuserCommand {
            username: "root".to_owned(),
            email: "root@example.com".to_owned(),
            password: Password::new(PASSWORD),
        })
        .await
        .expect("created");

    let events = fakes.store.audit_events();
    assert_eq!(
        events,
        [AuditEvent::new(AuditKind::UserCreated, fakes.clock.now())
            .subject(profile.user.id)
            .detail("username", "root")
            .detail("is_superuser", true)
            .detail("via", "createsuperuser")]
    );
    assert_free_of(&events[0], &[PASSWORD]);
}

#[tokio::test]
async fn a_refused_createsuperuser_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();

    let result = gatehouse
        .create_superuser(CreateSuperuserCommand {
            username: "root".to_owned(),
            email: "not an email".to_owned(),
            password: Password::new(PASSWORD),
        })
        .await;

    assert!(matches!(result, Err(CreateSuperuserError::Invalid(_))));
    assert_nothing_recorded(&fakes, 0);
}

// ---------------------------------------------------------------------------
// Refresh, logout and sessions

#[tokio::test]
async fn a_rotated_token_presented_after_the_grace_records_its_reuse_by_whoever_presented_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let pair = log_in(&gatehouse, "alice").await;
    let session = session_detail(&fakes, &pair);
    let start = mark(&fakes);

    let first = gatehouse
        .refresh(RefreshCommand {
            refresh: pair.refresh.clone(),
            client: ClientInfo::default(),
        })
        .await
        .expect("rotated");
    assert!(first.refresh.is_some());
    // Within the reuse interval: the same successor, nothing to record.
    gatehouse
        .refresh(RefreshCommand {
            refresh: pair.refresh.clone(),
            client: client(),
        })
        .await
        .expect("within the grace");
    assert_nothing_recorded(&fakes, start);

    fakes.clock.advance(Duration::seconds(11));
    let reuse = gatehouse
        .refresh(RefreshCommand {
            refresh: pair.refresh.clone(),
            client: client(),
        })
        .await;

    assert!(matches!(
        reuse,
        Err(RefreshError::Token(TokenRejection::Blacklisted))
    ));
    assert_eq!(
        since(&fakes, start),
        [event(&fakes, AuditKind::RefreshTokenReused)
            .subject(alice.id)
            .detail("session", session.as_str())]
    );
    // Presented again, the session is already dead: revoked, not reused.
    let again = start + 1;
    let successor = gatehouse
        .refresh(RefreshCommand {
            refresh: first.refresh.expect("a successor"),
            client: client(),
        })
        .await;
    assert!(matches!(
        successor,
        Err(RefreshError::Token(TokenRejection::Blacklisted))
    ));
    assert_nothing_recorded(&fakes, again);
}

#[tokio::test]
async fn a_logout_records_the_session_it_ended() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let pair = log_in(&gatehouse, "alice").await;
    let start = mark(&fakes);
    fakes.clock.advance(Duration::minutes(1));

    gatehouse
        .logout(&pair.refresh, &client())
        .await
        .expect("logged out");

    assert_eq!(
        since(&fakes, start),
        [event(&fakes, AuditKind::Logout)
            .by_self(alice.id)
            .detail("session", session_detail(&fakes, &pair))]
    );
}

#[tokio::test]
async fn a_logout_with_a_token_that_is_no_refresh_token_of_ours_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    user(&fakes, "alice");
    let pair = log_in(&gatehouse, "alice").await;
    let start = mark(&fakes);

    let garbage = gatehouse.logout("garbage", &client()).await;
    let access = gatehouse.logout(&pair.access, &client()).await;

    assert!(matches!(
        garbage,
        Err(LogoutError::Token(TokenRejection::Invalid))
    ));
    assert!(matches!(
        access,
        Err(LogoutError::Token(TokenRejection::WrongType))
    ));
    assert_nothing_recorded(&fakes, start);
}

#[tokio::test]
async fn a_second_logout_of_the_same_session_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    user(&fakes, "alice");
    let pair = log_in(&gatehouse, "alice").await;
    gatehouse
        .logout(&pair.refresh, &client())
        .await
        .expect("first logout");
    let start = mark(&fakes);

    let second = gatehouse.logout(&pair.refresh, &client()).await;

    assert!(matches!(
        second,
        Err(LogoutError::Token(TokenRejection::Blacklisted))
    ));
    assert_nothing_recorded(&fakes, start);
}

#[tokio::test]
async fn logging_out_everywhere_records_logout_all() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    log_in(&gatehouse, "alice").await;
    log_in(&gatehouse, "alice").await;
    let start = mark(&fakes);

    let ended = gatehouse
        .logout_all(alice.id, &client())
        .await
        .expect("logged out");

    assert_eq!(ended, 2);
    assert_eq!(
        since(&fakes, start),
        [event(&fakes, AuditKind::LogoutAll).by_self(alice.id)]
    );
}

#[tokio::test]
async fn ending_a_session_records_it_and_ending_none_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    user(&fakes, "bob");
    let this = log_in(&gatehouse, "alice").await;
    let other = log_in(&gatehouse, "alice").await;
    let bobs = log_in(&gatehouse, "bob").await;
    let start = mark(&fakes);

    // Another user's session, and one that does not exist, are not his to end.
    assert!(
        !gatehouse
            .end_session(alice.id, fakes.sid(&bobs.access), &client())
            .await
            .unwrap()
    );
    assert!(
        !gatehouse
            .end_session(alice.id, uuid::Uuid::new_v4(), &client())
            .await
            .unwrap()
    );
    assert_nothing_recorded(&fakes, start);

    assert!(
        gatehouse
            .end_session(alice.id, fakes.sid(&other.access), &client())
            .await
            .unwrap()
    );
    assert_eq!(
        since(&fakes, start),
        [event(&fakes, AuditKind::SessionRevoked)
            .by_self(alice.id)
            .detail("session", session_detail(&fakes, &other))]
    );
    // Ended already: nothing more.
    let after = mark(&fakes);
    assert!(
        !gatehouse
            .end_session(alice.id, fakes.sid(&other.access), &client())
            .await
            .unwrap()
    );
    assert_nothing_recorded(&fakes, after);
    // The session he is using is still live.
    let session = fakes.store.family(fakes.sid(&this.access));
    assert_eq!(session.len(), 1);
    assert_eq!(session[0].revoked_at, None);
}

// ---------------------------------------------------------------------------
// Passwords and activation

#[tokio::test]
async fn a_password_change_records_the_user_on_himself_and_no_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let pair = log_in(&gatehouse, "alice").await;
    let start = mark(&fakes);

    gatehouse
        .change_password(change_password_command(&gatehouse, &pair, PASSWORD, NEW_PASSWORD).await)
        .await
        .expect("changed");

    let events = since(&fakes, start);
    assert_eq!(
        events,
        [event(&fakes, AuditKind::PasswordChanged).by_self(alice.id)]
    );
    assert_free_of(
        &events[0],
        &[
            PASSWORD,
            NEW_PASSWORD,
            &FakeHasher::hash_of(PASSWORD),
            &FakeHasher::hash_of(NEW_PASSWORD),
        ],
    );
}

#[tokio::test]
async fn a_refused_password_change_records_only_a_wrong_current_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let pair = log_in(&gatehouse, "alice").await;
    let start = mark(&fakes);

    let wrong_current = gatehouse
        .change_password(
            change_password_command(&gatehouse, &pair, WRONG_PASSWORD, NEW_PASSWORD).await,
        )
        .await;
    let weak = gatehouse
        .change_password(change_password_command(&gatehouse, &pair, PASSWORD, "alice").await)
        .await;
    // The password changed meanwhile: the store refuses the write.
    let command = change_password_command(&gatehouse, &pair, PASSWORD, NEW_PASSWORD).await;
    fakes.store.update_user(alice.id, |u| {
        u.password_hash = FakeHasher::hash_of("changed elsewhere meanwhile");
    });
    let raced = gatehouse.change_password(command).await;

    assert!(
        matches!(wrong_current, Err(ChangePasswordError::WrongPassword)),
        "{wrong_current:?}"
    );
    assert!(
        matches!(weak, Err(ChangePasswordError::WeakPassword(_))),
        "{weak:?}"
    );
    assert!(
        matches!(raced, Err(ChangePasswordError::WrongPassword)),
        "{raced:?}"
    );
    // A wrong guess is on the trail, as a failed login is; the rest are not.
    assert_eq!(
        since(&fakes, start),
        [event(&fakes, AuditKind::PasswordCheckFailed)
            .by_self(alice.id)
            .detail("action", "change_password")]
    );
}

#[tokio::test]
async fn a_reset_records_the_user_as_subject_with_no_actor_and_no_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let token = reset_link(&gatehouse, &fakes, &alice).await;
    assert_nothing_recorded(&fakes, 0);

    gatehouse
        .confirm_password_reset(ConfirmResetCommand {
            token: token.clone(),
            new_password: Password::new(NEW_PASSWORD),
            client: client(),
        })
        .await
        .expect("reset");

    let events = fakes.store.audit_events();
    assert_eq!(
        events,
        [event(&fakes, AuditKind::PasswordReset).subject(alice.id)]
    );
    assert_free_of(
        &events[0],
        &[NEW_PASSWORD, &FakeHasher::hash_of(NEW_PASSWORD), &token],
    );
}

#[tokio::test]
async fn a_refused_reset_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    let token = reset_link(&gatehouse, &fakes, &alice).await;

    let unknown = gatehouse
        .confirm_password_reset(ConfirmResetCommand {
            token: "no-such-token".to_owned(),
            new_password: Password::new(NEW_PASSWORD),
            client: client(),
        })
        .await;
    let weak = gatehouse
        .confirm_password_reset(ConfirmResetCommand {
            token,
            new_password: Password::new("alice"),
            client: client(),
        })
        .await;

    assert!(matches!(
        unknown,
        Err(ConfirmResetError::Token(OneTimeTokenRejection::Invalid))
    ));
    assert!(matches!(weak, Err(ConfirmResetError::WeakPassword(_))));
    assert_nothing_recorded(&fakes, 0);
}

#[tokio::test]
async fn an_activation_records_the_account_as_subject_once() {
    let (gatehouse, fakes) = gatehouse(Settings {
        registration: RegistrationSettings {
            require_activation: true,
            ..RegistrationSettings::default()
        },
        ..Settings::default()
    });
    let registered = gatehouse
        .register(register_command("erin@example.com", "erin"))
        .await
        .expect("registered");
    let erin = registered.profile.user.id;
    let token = fakes
        .store
        .last_link_token(erin)
        .expect("an activation link");
    let start = mark(&fakes);

    let garbage = gatehouse.activate("no-such-token", &client()).await;
    assert!(matches!(
        garbage,
        Err(ActivateError::Token(OneTimeTokenRejection::Invalid))
    ));
    assert_nothing_recorded(&fakes, start);

    gatehouse
        .activate(&token, &client())
        .await
        .expect("activated");
    assert_eq!(
        since(&fakes, start),
        [event(&fakes, AuditKind::AccountActivated).subject(erin)]
    );

    // The link used up: refused, and nothing more recorded.
    let again = mark(&fakes);
    assert!(matches!(
        gatehouse.activate(&token, &client()).await,
        Err(ActivateError::Token(OneTimeTokenRejection::Invalid))
    ));
    assert_nothing_recorded(&fakes, again);
}

#[tokio::test]
async fn an_activation_or_reset_losing_the_race_for_its_token_records_nothing() {
    let (gatehouse, fakes) = gatehouse(Settings {
        registration: RegistrationSettings {
            require_activation: true,
            ..RegistrationSettings::default()
        },
        ..Settings::default()
    });
    let registered = gatehouse
        .register(register_command("erin@example.com", "erin"))
        .await
        .expect("registered");
    let erin = registered.profile.user.id;
    let activation = fakes
        .store
        .last_link_token(erin)
        .expect("an activation link");
    let alice = user(&fakes, "alice");
    let reset = reset_link(&gatehouse, &fakes, &alice).await;
    let start = mark(&fakes);

    // Another request uses each token between the use case's read and its write.
    let used_meanwhile = |raw: &str| {
        let digest = FakeTokenGenerator::digest_of(raw);
        let at = fakes.clock.now();
        fakes
            .store
            .after_next_token_lookup(move |store| store.use_one_time_token(&digest, at));
    };
    used_meanwhile(&activation);
    let activated = gatehouse.activate(&activation, &client()).await;
    used_meanwhile(&reset);
    let reset_done = gatehouse
        .confirm_password_reset(ConfirmResetCommand {
            token: reset,
            new_password: Password::new(NEW_PASSWORD),
            client: client(),
        })
        .await;

    assert!(
        matches!(
            activated,
            Err(ActivateError::Token(OneTimeTokenRejection::Invalid))
        ),
        "{activated:?}"
    );
    assert!(
        matches!(
            reset_done,
            Err(ConfirmResetError::Token(OneTimeTokenRejection::Invalid))
        ),
        "{reset_done:?}"
    );
    assert!(!fakes.user(erin).is_active);
    assert_nothing_recorded(&fakes, start);
}

// ---------------------------------------------------------------------------
// The user's own account

#[tokio::test]
async fn editing_ones_names_records_which_fields_changed() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    gatehouse
        .update_me(
            from_client(&alice, &client()),
            UpdateMeCommand {
                first_name: Some("Alice".to_owned()),
                last_name: Some("Liddell".to_owned()),
                ..UpdateMeCommand::default()
            },
        )
        .await
        .expect("updated");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::AccountUpdated)
            .by_self(alice.id)
            .detail("fields", vec!["first_name", "last_name"])]
    );
}

#[tokio::test]
async fn renaming_oneself_records_the_new_and_the_previous_username() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    gatehouse
        .update_me(
            from_client(&alice, &client()),
            UpdateMeCommand {
                username: Some("alys".to_owned()),
                ..UpdateMeCommand::default()
            },
        )
        .await
        .expect("updated");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::AccountUpdated)
            .by_self(alice.id)
            .detail("username", "alys")
            .detail("previous_username", "alice")
            .detail("fields", vec!["username"])]
    );
}

#[tokio::test]
async fn a_user_without_a_known_client_is_recorded_without_ip_or_user_agent() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    gatehouse
        .update_me(
            &alice,
            UpdateMeCommand {
                last_name: Some("Liddell".to_owned()),
                ..UpdateMeCommand::default()
            },
        )
        .await
        .expect("updated");

    assert_eq!(
        fakes.store.audit_events(),
        [
            AuditEvent::new(AuditKind::AccountUpdated, fakes.clock.now())
                .by_self(alice.id)
                .detail("fields", vec!["last_name"])
        ]
    );
}

#[tokio::test]
async fn a_refused_edit_of_ones_account_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");
    user(&fakes, "bob");

    let invalid = gatehouse
        .update_me(
            from_client(&alice, &client()),
            UpdateMeCommand {
                username: Some("not valid!".to_owned()),
                ..UpdateMeCommand::default()
            },
        )
        .await;
    let taken = gatehouse
        .update_me(
            from_client(&alice, &client()),
            UpdateMeCommand {
                username: Some("bob".to_owned()),
                ..UpdateMeCommand::default()
            },
        )
        .await;

    assert!(matches!(invalid, Err(MeError::Invalid(_))));
    assert!(matches!(taken, Err(MeError::Invalid(_))));
    assert_nothing_recorded(&fakes, 0);
}

#[tokio::test]
async fn deleting_ones_account_records_the_username_it_had() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    gatehouse
        .delete_me(from_client(&alice, &client()), &Password::new(PASSWORD))
        .await
        .expect("deleted");

    let events = fakes.store.audit_events();
    assert_eq!(
        events,
        [event(&fakes, AuditKind::AccountDeleted)
            .by_self(alice.id)
            .detail("username", "alice")]
    );
    assert_free_of(&events[0], &[PASSWORD]);
}

#[tokio::test]
async fn deleting_ones_account_with_a_wrong_password_records_only_the_wrong_guess() {
    let (gatehouse, fakes) = default_gatehouse();
    let alice = user(&fakes, "alice");

    let result = gatehouse
        .delete_me(
            from_client(&alice, &client()),
            &Password::new(WRONG_PASSWORD),
        )
        .await;

    assert!(matches!(result, Err(MeError::WrongPassword)));
    assert!(fakes.store.user(alice.id).is_some());
    assert_eq!(
        since(&fakes, 0),
        [event(&fakes, AuditKind::PasswordCheckFailed)
            .by_self(alice.id)
            .detail("action", "delete_account")]
    );
}

// ---------------------------------------------------------------------------
// Administration of users

#[tokio::test]
async fn an_admin_creating_a_user_is_the_actor_and_the_new_user_the_subject() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.create_group("editors");

    let created = as_admin!(
        gatehouse,
        from_client(&root, &client()),
        create_user(CreateUserCommand {
            username: "carol".to_owned(),
            email: "carol@example.com".to_owned(),
            password: Some(Password::new(NEW_PASSWORD)),
            is_active: true,
            is_staff: true,
            groups: strings(&["editors"]),
            user_permissions: strings(&["auth.view_user"]),
            ..CreateUserCommand::default()
        })
    )
    .await
    .expect("created");

    let events = fakes.store.audit_events();
    assert_eq!(
        events,
        [event(&fakes, AuditKind::UserCreated)
            .actor(root.id)
            .subject(created.profile.user.id)
            .detail("username", "carol")
            .detail("is_active", true)
            .detail("is_staff", true)
            .detail("is_superuser", false)
            .detail("groups", vec!["editors"])
            .detail("user_permissions", vec!["auth.view_user"])
            .detail("password_set", true)]
    );
    assert_free_of(
        &events[0],
        &[NEW_PASSWORD, &FakeHasher::hash_of(NEW_PASSWORD)],
    );
}

#[tokio::test]
async fn an_admin_update_records_the_fields_and_the_values_that_decide_access() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    fakes.store.create_group("editors");

    as_admin!(
        gatehouse,
        from_client(&root, &client()),
        update_user(
            bob.id,
            UpdateUserCommand {
                username: Some("robert".to_owned()),
                email: Some("robert@example.com".to_owned()),
                first_name: Some("Robert".to_owned()),
                is_active: Some(false),
                is_staff: Some(true),
                is_superuser: Some(false),
                groups: Some(strings(&["editors"])),
                user_permissions: Some(strings(&["auth.view_group"])),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::UserUpdated)
            .actor(root.id)
            .subject(bob.id)
            .detail("username", "robert")
            .detail("is_active", false)
            .detail("is_staff", true)
            .detail("is_superuser", false)
            .detail("groups", vec!["editors"])
            .detail("user_permissions", vec!["auth.view_group"])
            .detail(
                "fields",
                vec![
                    "username",
                    "email",
                    "first_name",
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ]
            )]
    );
}

#[tokio::test]
async fn a_renaming_by_an_admin_names_only_the_fields_sent() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");

    as_admin!(
        gatehouse,
        &root,
        update_user(
            bob.id,
            UpdateUserCommand {
                last_name: Some("Builder".to_owned()),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(
        fakes.store.audit_events(),
        [AuditEvent::new(AuditKind::UserUpdated, fakes.clock.now())
            .actor(root.id)
            .subject(bob.id)
            .detail("fields", vec!["last_name"])]
    );
}

#[tokio::test]
async fn an_admin_deleting_a_user_records_the_username_he_had() {
    let (gatehouse, fakes) = default_gatehouse();
    let admin = staff(&fakes, "admin", &["auth.delete_user"]);
    let bob = user(&fakes, "bob");

    as_admin!(
        gatehouse,
        from_client(&admin, &client()),
        delete_user(bob.id)
    )
    .await
    .expect("deleted");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::UserDeleted)
            .actor(admin.id)
            .subject(bob.id)
            .detail("username", "bob")]
    );
}

#[tokio::test]
async fn an_admin_setting_a_password_records_it_without_the_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let admin = staff(&fakes, "admin", &["auth.change_user"]);
    let bob = user(&fakes, "bob");

    as_admin!(
        gatehouse,
        from_client(&admin, &client()),
        admin_set_password(bob.id, Password::new(NEW_PASSWORD))
    )
    .await
    .expect("set");

    let events = fakes.store.audit_events();
    assert_eq!(
        events,
        [event(&fakes, AuditKind::UserPasswordSet)
            .actor(admin.id)
            .subject(bob.id)]
    );
    assert_free_of(
        &events[0],
        &[NEW_PASSWORD, &FakeHasher::hash_of(NEW_PASSWORD)],
    );
}

#[tokio::test]
async fn an_admin_logging_a_user_out_records_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let admin = staff(&fakes, "admin", &["auth.change_user"]);
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;
    let start = mark(&fakes);

    as_admin!(
        gatehouse,
        from_client(&admin, &client()),
        admin_logout_user(bob.id)
    )
    .await
    .expect("logged out");

    assert_eq!(
        since(&fakes, start),
        [event(&fakes, AuditKind::UserLoggedOut)
            .actor(admin.id)
            .subject(bob.id)]
    );
    let sessions = fakes.store.tokens_of(bob.id);
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].revoked_at.is_some());
}

#[tokio::test]
async fn an_admin_without_the_permission_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    // Everything but the change and delete rights; and a non-staff user holding all.
    let viewer = staff(&fakes, "viewer", &["auth.view_user", "auth.add_group"]);
    let outsider = user(&fakes, "outsider");
    for permission in ["auth.add_user", "auth.change_user", "auth.delete_user"] {
        fakes.store.grant_user_permission(outsider.id, permission);
    }
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;
    let start = mark(&fakes);
    let client = client();

    for caller in [&viewer, &outsider] {
        let caller = from_client(caller, &client);
        forbidden(
            as_admin!(
                gatehouse,
                caller,
                create_user(CreateUserCommand {
                    username: "carol".to_owned(),
                    email: "carol@example.com".to_owned(),
                    is_active: true,
                    ..CreateUserCommand::default()
                })
            )
            .await,
        );
        forbidden(
            as_admin!(
                gatehouse,
                caller,
                update_user(
                    bob.id,
                    UpdateUserCommand {
                        first_name: Some("Robert".to_owned()),
                        ..UpdateUserCommand::default()
                    }
                )
            )
            .await,
        );
        forbidden(as_admin!(gatehouse, caller, delete_user(bob.id)).await);
        forbidden(
            as_admin!(
                gatehouse,
                caller,
                admin_set_password(bob.id, Password::new(NEW_PASSWORD))
            )
            .await,
        );
        forbidden(as_admin!(gatehouse, caller, admin_logout_user(bob.id)).await);
    }
    // A staff member may not grant what he lacks, nor touch a superuser.
    let changer = staff(&fakes, "changer", &["auth.change_user"]);
    forbidden(
        as_admin!(
            gatehouse,
            &changer,
            update_user(
                bob.id,
                UpdateUserCommand {
                    is_superuser: Some(true),
                    ..UpdateUserCommand::default()
                }
            )
        )
        .await,
    );
    forbidden(as_admin!(gatehouse, &changer, admin_logout_user(root.id)).await);
    // Nor deactivate or delete himself.
    forbidden(
        as_admin!(
            gatehouse,
            &root,
            update_user(
                root.id,
                UpdateUserCommand {
                    is_active: Some(false),
                    ..UpdateUserCommand::default()
                }
            )
        )
        .await,
    );
    forbidden(as_admin!(gatehouse, &root, delete_user(root.id)).await);

    assert_nothing_recorded(&fakes, start);
    assert!(fakes.store.user_by_username("carol").is_none());
}

#[tokio::test]
async fn an_admin_write_refused_by_validation_or_by_the_store_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    let client = client();
    let caller = from_client(&root, &client);

    let invalid = as_admin!(
        gatehouse,
        caller,
        create_user(CreateUserCommand {
            username: "carol".to_owned(),
            email: "not an email".to_owned(),
            ..CreateUserCommand::default()
        })
    )
    .await;
    let taken = as_admin!(
        gatehouse,
        caller,
        update_user(
            bob.id,
            UpdateUserCommand {
                username: Some("root".to_owned()),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await;
    // Checked by the store's foreign keys, not before: the write fails there.
    let unknown_group = as_admin!(
        gatehouse,
        caller,
        update_user(
            bob.id,
            UpdateUserCommand {
                groups: Some(strings(&["nobody-has-this-group"])),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await;
    let unknown_group_on_create = as_admin!(
        gatehouse,
        caller,
        create_user(CreateUserCommand {
            username: "carol".to_owned(),
            email: "carol@example.com".to_owned(),
            groups: strings(&["nobody-has-this-group"]),
            ..CreateUserCommand::default()
        })
    )
    .await;
    let weak = as_admin!(
        gatehouse,
        caller,
        admin_set_password(bob.id, Password::new("bob"))
    )
    .await;
    let nowhere = as_admin!(gatehouse, caller, delete_user(UserId(999))).await;

    for result in [invalid, unknown_group_on_create] {
        assert!(matches!(result, Err(AdminError::Invalid(_))), "{result:?}");
    }
    for result in [taken, unknown_group] {
        assert!(matches!(result, Err(AdminError::Invalid(_))), "{result:?}");
    }
    assert!(matches!(weak, Err(AdminError::WeakPassword(_))));
    assert!(matches!(nowhere, Err(AdminError::NotFound)));
    assert_nothing_recorded(&fakes, 0);
}

#[tokio::test]
async fn reads_and_reset_requests_record_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let alice = user(&fakes, "alice");
    let pair = log_in(&gatehouse, "alice").await;
    let start = mark(&fakes);

    gatehouse.authenticate(&pair.access).await.unwrap();
    gatehouse
        .sessions(alice.id, Some(fakes.sid(&pair.access)))
        .await
        .unwrap();
    gatehouse
        .request_password_reset("alice@example.com")
        .await
        .unwrap();
    gatehouse
        .request_password_reset("nobody@example.com")
        .await
        .unwrap();
    let caller = from_client(&root, &ClientInfo::UNKNOWN);
    as_admin!(
        gatehouse,
        caller,
        list_users(UserListQuery {
            limit: 10,
            ..UserListQuery::default()
        })
    )
    .await
    .unwrap();
    as_admin!(gatehouse, caller, get_user(alice.id))
        .await
        .unwrap();
    as_admin!(gatehouse, caller, list_groups(0, 10))
        .await
        .unwrap();
    as_admin!(gatehouse, caller, list_permissions(0, 10))
        .await
        .unwrap();
    gatehouse.authorize::<ChangeUser>(caller).await.unwrap();
    as_admin!(
        gatehouse,
        caller,
        audit_events(AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
    )
    .await
    .unwrap();

    assert_nothing_recorded(&fakes, start);
}

// ---------------------------------------------------------------------------
// Administration of groups and permissions

#[tokio::test]
async fn creating_a_group_records_its_name_permissions_and_new_id() {
    let (gatehouse, fakes) = default_gatehouse();
    let admin = staff(&fakes, "admin", &["auth.add_group", "auth.view_user"]);

    let group = as_admin!(
        gatehouse,
        from_client(&admin, &client()),
        create_group("viewers".to_owned(), strings(&["auth.view_user"]))
    )
    .await
    .expect("created");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::GroupCreated)
            .actor(admin.id)
            .detail("name", "viewers")
            .detail("permissions", vec!["auth.view_user"])
            .detail("id", group.id)]
    );
}

#[tokio::test]
async fn updating_a_group_records_its_id_name_and_new_permissions() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let id = fakes.store.create_group("viewers");

    as_admin!(
        gatehouse,
        from_client(&root, &client()),
        update_group(
            id,
            GroupChanges {
                name: Some("readers".to_owned()),
                permissions: Some(strings(&["auth.view_group"]))
            }
        )
    )
    .await
    .expect("updated");
    // Only the permissions: the name it keeps is recorded.
    as_admin!(
        gatehouse,
        from_client(&root, &client()),
        update_group(
            id,
            GroupChanges {
                name: None,
                permissions: Some(strings(&[]))
            }
        )
    )
    .await
    .expect("updated");
    // Only the name: no permissions recorded.
    as_admin!(
        gatehouse,
        from_client(&root, &client()),
        update_group(
            id,
            GroupChanges {
                name: Some("lookers".to_owned()),
                permissions: None
            }
        )
    )
    .await
    .expect("updated");

    let updated = || {
        event(&fakes, AuditKind::GroupUpdated)
            .actor(root.id)
            .detail("id", id)
    };
    assert_eq!(
        fakes.store.audit_events(),
        [
            updated()
                .detail("name", "readers")
                .detail("permissions", vec!["auth.view_group"]),
            updated()
                .detail("name", "readers")
                .detail("permissions", Vec::<String>::new()),
            updated().detail("name", "lookers"),
        ]
    );
}

#[tokio::test]
async fn deleting_a_group_records_the_name_it_had() {
    let (gatehouse, fakes) = default_gatehouse();
    let admin = staff(&fakes, "admin", &["auth.delete_group"]);
    let id = fakes.store.create_group("viewers");

    as_admin!(gatehouse, from_client(&admin, &client()), delete_group(id))
        .await
        .expect("deleted");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::GroupDeleted)
            .actor(admin.id)
            .detail("id", id)
            .detail("name", "viewers")]
    );
}

#[tokio::test]
async fn creating_a_permission_records_its_code_name_and_new_id() {
    let (gatehouse, fakes) = default_gatehouse();
    let admin = staff(&fakes, "admin", &["auth.add_permission"]);

    let permission = as_admin!(
        gatehouse,
        from_client(&admin, &client()),
        create_permission(NewPermission {
            name: "Can publish post".to_owned(),
            app_label: "blog".to_owned(),
            codename: "publish_post".to_owned(),
        })
    )
    .await
    .expect("created");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::PermissionCreated)
            .actor(admin.id)
            .detail("permission", "blog.publish_post")
            .detail("name", "Can publish post")
            .detail("id", permission.id)]
    );
}

#[tokio::test]
async fn deleting_a_permission_records_the_code_it_had() {
    let (gatehouse, fakes) = default_gatehouse();
    let admin = staff(&fakes, "admin", &["auth.delete_permission"]);
    let permission = fakes.store.create_permission("blog.publish_post");

    as_admin!(
        gatehouse,
        from_client(&admin, &client()),
        delete_permission(permission.id)
    )
    .await
    .expect("deleted");

    assert_eq!(
        fakes.store.audit_events(),
        [event(&fakes, AuditKind::PermissionDeleted)
            .actor(admin.id)
            .detail("id", permission.id)
            .detail("permission", "blog.publish_post")]
    );
}

#[tokio::test]
async fn a_refused_group_or_permission_write_records_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let viewer = staff(
        &fakes,
        "viewer",
        &["auth.view_group", "auth.view_permission"],
    );
    let grouper = staff(&fakes, "grouper", &["auth.add_group", "auth.change_group"]);
    let id = fakes.store.create_group("viewers");
    let permission = fakes.store.create_permission("blog.publish_post");
    let new_permission = || NewPermission {
        name: "Can publish post".to_owned(),
        app_label: "blog".to_owned(),
        codename: "publish_post".to_owned(),
    };

    // Without the model permission.
    forbidden(
        as_admin!(
            gatehouse,
            &viewer,
            create_group("others".to_owned(), Vec::new())
        )
        .await,
    );
    forbidden(
        as_admin!(
            gatehouse,
            &viewer,
            update_group(
                id,
                GroupChanges {
                    name: Some("others".to_owned()),
                    permissions: None
                }
            )
        )
        .await,
    );
    forbidden(as_admin!(gatehouse, &viewer, delete_group(id)).await);
    forbidden(as_admin!(gatehouse, &viewer, create_permission(new_permission())).await);
    forbidden(as_admin!(gatehouse, &viewer, delete_permission(permission.id)).await);
    // Granting a permission he lacks.
    forbidden(
        as_admin!(
            gatehouse,
            &grouper,
            create_group("admins".to_owned(), strings(&["auth.delete_user"]))
        )
        .await,
    );
    forbidden(
        as_admin!(
            gatehouse,
            &grouper,
            update_group(
                id,
                GroupChanges {
                    name: None,
                    permissions: Some(strings(&["auth.delete_user"]))
                }
            )
        )
        .await,
    );
    // Refused by the store: a taken name, a taken code, nothing to delete.
    let duplicate_group = as_admin!(
        gatehouse,
        &root,
        create_group("viewers".to_owned(), Vec::new())
    )
    .await;
    let unknown_permission = as_admin!(
        gatehouse,
        &root,
        create_group("others".to_owned(), strings(&["blog.nothing"]))
    )
    .await;
    let duplicate_permission =
        as_admin!(gatehouse, &root, create_permission(new_permission())).await;
    let missing_group = as_admin!(gatehouse, &root, delete_group(999_999)).await;
    let missing_permission = as_admin!(gatehouse, &root, delete_permission(999_999)).await;
    let missing_update = as_admin!(
        gatehouse,
        &root,
        update_group(
            999_999,
            GroupChanges {
                name: Some("x".to_owned()),
                permissions: None
            }
        )
    )
    .await;

    assert!(matches!(duplicate_group, Err(AdminError::Invalid(_))));
    assert!(matches!(unknown_permission, Err(AdminError::Invalid(_))));
    assert!(matches!(duplicate_permission, Err(AdminError::Invalid(_))));
    assert!(matches!(missing_group, Err(AdminError::NotFound)));
    assert!(matches!(missing_permission, Err(AdminError::NotFound)));
    assert!(matches!(missing_update, Err(AdminError::NotFound)));
    assert_nothing_recorded(&fakes, 0);
}

// ---------------------------------------------------------------------------
// Reading the trail

const VIEW_AUDIT: &str = "auth.view_auditevent";

/// Everything, newest first, in one page.
fn everything() -> AuditQuery {
    AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    }
}

#[tokio::test]
async fn only_staff_holding_view_auditevent_and_superusers_read_the_trail() {
    let (gatehouse, fakes) = default_gatehouse();
    let plain = user(&fakes, "plain");
    let outsider = user(&fakes, "outsider");
    fakes.store.grant_user_permission(outsider.id, VIEW_AUDIT);
    let staff_without = staff(&fakes, "staffer", &["auth.view_user", "auth.change_user"]);
    let auditor = staff(&fakes, "auditor", &[VIEW_AUDIT]);
    let group_auditor = staff(&fakes, "grouped", &[]);
    fakes.store.grant_group_permission("auditors", VIEW_AUDIT);
    fakes.store.add_to_group(group_auditor.id, "auditors");
    let retired = staff(&fakes, "retired", &[VIEW_AUDIT]);
    fakes.store.update_user(retired.id, |u| u.is_active = false);
    let root = superuser(&fakes, "root");
    gatehouse
        .login(login_from_client(username("nobody"), PASSWORD))
        .await
        .unwrap_err();

    for caller in [&plain, &outsider, &staff_without, &retired] {
        forbidden(as_admin!(gatehouse, caller, audit_events(everything())).await);
    }
    let expected = vec![AuditRecord {
        id: 1,
        event: event(&fakes, AuditKind::LoginFailed)
            .detail("username", "nobody")
            .detail("reason", "unknown_user"),
    }];
    for caller in [&auditor, &group_auditor, &root] {
        let page = as_admin!(
            gatehouse,
            from_client(caller, &client()),
            audit_events(everything())
        )
        .await
        .expect("allowed");
        assert_eq!(page.count, 1);
        assert_eq!(page.items, expected);
    }
}

/// Alice, bob and carol, and six events about them written over four hours, ids 1
/// to 6 oldest first (2 and 3 in the same instant):
/// 1 login.succeeded alice→alice @0h, 2 login.failed →bob @1h, 3 user.updated
/// alice→bob @1h, 4 user.deleted bob→carol @2h, 5 group.created carol @3h,
/// 6 login.failed (nobody) @4h.
struct Trail {
    alice: UserId,
    bob: UserId,
    carol: UserId,
    start: DateTime<Utc>,
    records: Vec<AuditRecord>,
}

fn trail(fakes: &Fakes) -> Trail {
    let alice = user(fakes, "alice").id;
    let bob = user(fakes, "bob").id;
    let carol = user(fakes, "carol").id;
    let start = fakes.clock.now();
    let at = |hours: i64| start + Duration::hours(hours);
    let events = [
        AuditEvent::new(AuditKind::LoginSucceeded, at(0)).by_self(alice),
        AuditEvent::new(AuditKind::LoginFailed, at(1)).subject(bob),
        AuditEvent::new(AuditKind::UserUpdated, at(1))
            .actor(alice)
            .subject(bob),
        AuditEvent::new(AuditKind::UserDeleted, at(2))
            .actor(bob)
            .subject(carol),
        AuditEvent::new(AuditKind::GroupCreated, at(3)).actor(carol),
        AuditEvent::new(AuditKind::LoginFailed, at(4)),
    ];
    let records = events
        .into_iter()
        .map(|event| fakes.store.insert_audit_event(event))
        .collect();
    Trail {
        alice,
        bob,
        carol,
        start,
        records,
    }
}

impl Trail {
    /// The ids of the records, as listed.
    fn ids(page: &[AuditRecord]) -> Vec<i64> {
        page.iter().map(|record| record.id).collect()
    }
}

async fn ids(gatehouse: &Gatehouse, root: &User, query: AuditQuery) -> (i64, Vec<i64>) {
    let page = as_admin!(gatehouse, root, audit_events(query))
        .await
        .expect("allowed");
    (page.count, Trail::ids(&page.items))
}

#[tokio::test]
async fn the_trail_lists_newest_first_the_later_write_first_within_an_instant() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let trail = trail(&fakes);

    let page = as_admin!(gatehouse, &root, audit_events(everything()))
        .await
        .expect("allowed");

    assert_eq!(page.count, 6);
    assert_eq!(Trail::ids(&page.items), [6, 5, 4, 3, 2, 1]);
    let mut oldest_first = page.items;
    oldest_first.reverse();
    assert_eq!(oldest_first, trail.records);
}

#[tokio::test]
async fn the_user_filter_matches_what_he_did_and_what_was_done_to_him() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let trail = trail(&fakes);

    let query = |user| AuditQuery {
        user: Some(user),
        ..everything()
    };
    assert_eq!(
        ids(&gatehouse, &root, query(trail.alice)).await,
        (2, vec![3, 1])
    );
    assert_eq!(
        ids(&gatehouse, &root, query(trail.bob)).await,
        (3, vec![4, 3, 2])
    );
    assert_eq!(
        ids(&gatehouse, &root, query(trail.carol)).await,
        (2, vec![5, 4])
    );
    assert_eq!(ids(&gatehouse, &root, query(root.id)).await, (0, vec![]));
}

#[tokio::test]
async fn the_actor_and_subject_filters_match_only_their_side() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let trail = trail(&fakes);

    let by = |actor| AuditQuery {
        actor: Some(actor),
        ..everything()
    };
    let on = |subject| AuditQuery {
        subject: Some(subject),
        ..everything()
    };
    assert_eq!(
        ids(&gatehouse, &root, by(trail.alice)).await,
        (2, vec![3, 1])
    );
    assert_eq!(ids(&gatehouse, &root, by(trail.bob)).await, (1, vec![4]));
    assert_eq!(ids(&gatehouse, &root, on(trail.bob)).await, (2, vec![3, 2]));
    assert_eq!(ids(&gatehouse, &root, on(trail.carol)).await, (1, vec![4]));
    // Both at once: what alice did to bob.
    assert_eq!(
        ids(
            &gatehouse,
            &root,
            AuditQuery {
                actor: Some(trail.alice),
                subject: Some(trail.bob),
                ..everything()
            }
        )
        .await,
        (1, vec![3])
    );
}

#[tokio::test]
async fn the_kinds_filter_matches_any_of_the_kinds_and_all_when_empty() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    trail(&fakes);

    let kinds = |kinds: &[AuditKind]| AuditQuery {
        kinds: kinds.to_vec(),
        ..everything()
    };
    assert_eq!(
        ids(&gatehouse, &root, kinds(&[AuditKind::LoginFailed])).await,
        (2, vec![6, 2])
    );
    assert_eq!(
        ids(
            &gatehouse,
            &root,
            kinds(&[AuditKind::LoginSucceeded, AuditKind::GroupCreated])
        )
        .await,
        (2, vec![5, 1])
    );
    assert_eq!(
        ids(&gatehouse, &root, kinds(&[AuditKind::PasswordReset])).await,
        (0, vec![])
    );
    assert_eq!(ids(&gatehouse, &root, kinds(&[])).await.0, 6);
}

#[tokio::test]
async fn since_and_until_are_inclusive() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let trail = trail(&fakes);
    let at = |hours: i64| trail.start + Duration::hours(hours);

    let window = |since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>| AuditQuery {
        since,
        until,
        ..everything()
    };
    assert_eq!(
        ids(&gatehouse, &root, window(Some(at(2)), None)).await,
        (3, vec![6, 5, 4])
    );
    assert_eq!(
        ids(&gatehouse, &root, window(None, Some(at(1)))).await,
        (3, vec![3, 2, 1])
    );
    assert_eq!(
        ids(&gatehouse, &root, window(Some(at(1)), Some(at(2)))).await,
        (3, vec![4, 3, 2])
    );
    let just_after = at(1) + Duration::seconds(1);
    assert_eq!(
        ids(&gatehouse, &root, window(Some(just_after), Some(at(2)))).await,
        (1, vec![4])
    );
    assert_eq!(
        ids(&gatehouse, &root, window(Some(at(5)), None)).await,
        (0, vec![])
    );
}

#[tokio::test]
async fn filters_combine_and_pages_slice_the_matches_counting_them_all() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let trail = trail(&fakes);

    let page = |offset, limit| AuditQuery {
        offset,
        limit,
        ..AuditQuery::default()
    };
    assert_eq!(ids(&gatehouse, &root, page(0, 2)).await, (6, vec![6, 5]));
    assert_eq!(ids(&gatehouse, &root, page(2, 2)).await, (6, vec![4, 3]));
    assert_eq!(ids(&gatehouse, &root, page(4, 10)).await, (6, vec![2, 1]));
    assert_eq!(ids(&gatehouse, &root, page(6, 10)).await, (6, vec![]));
    assert_eq!(ids(&gatehouse, &root, page(0, 0)).await, (6, vec![]));

    assert_eq!(
        ids(
            &gatehouse,
            &root,
            AuditQuery {
                user: Some(trail.bob),
                kinds: vec![AuditKind::UserUpdated, AuditKind::UserDeleted],
                since: Some(trail.start + Duration::hours(1)),
                offset: 1,
                limit: 1,
                ..AuditQuery::default()
            }
        )
        .await,
        (2, vec![3])
    );
}

#[tokio::test]
async fn what_the_use_cases_record_reads_back_through_the_trail() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let alice = user(&fakes, "alice");
    gatehouse
        .login(login_from_client(username("alice"), WRONG_PASSWORD))
        .await
        .unwrap_err();
    fakes.clock.advance(Duration::minutes(1));
    gatehouse
        .login(login_from_client(username("alice"), PASSWORD))
        .await
        .expect("logged in");
    fakes.clock.advance(Duration::minutes(1));
    gatehouse
        .login(login_command("nobody", PASSWORD))
        .await
        .unwrap_err();

    let page = as_admin!(
        gatehouse,
        from_client(&root, &client()),
        audit_events(AuditQuery {
            user: Some(alice.id),
            ..everything()
        })
    )
    .await
    .expect("allowed");

    let kinds: Vec<(AuditKind, Option<UserId>, Option<UserId>)> = page
        .items
        .iter()
        .map(|record| (record.event.kind, record.event.actor, record.event.subject))
        .collect();
    assert_eq!(page.count, 2);
    assert_eq!(
        kinds,
        [
            (AuditKind::LoginSucceeded, Some(alice.id), Some(alice.id)),
            (AuditKind::LoginFailed, None, Some(alice.id)),
        ]
    );
}
