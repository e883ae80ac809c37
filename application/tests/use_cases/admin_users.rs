//! Admin: users. Active staff with the model permission of the action (a superuser
//! holds all); a non-superuser touches no superuser and grants nothing he lacks;
//! nobody deletes or deactivates himself.

use std::fmt::Debug;

use crate::support::{
    FakeHasher, Fakes, PASSWORD, SEEDED_PERMISSIONS, TestDeps, default_gatehouse, gatehouse,
    log_in, login_command, refresh,
};
use application::as_admin;
use application::use_cases::admin_users::{AdminError, CreateUserCommand, UpdateUserCommand};
use application::use_cases::authenticate::AuthenticateError;
use application::use_cases::login::LoginError;
use application::use_cases::password_reset::{ConfirmResetCommand, ConfirmResetError};
use application::use_cases::refresh::RefreshError;
use application::use_cases::register::RegisterCommand;
use application::{
    ClientInfo, OneTimeTokenRejection, RegistrationSettings, Settings, TokenRejection,
    ValidationErrors,
};
use chrono::Duration;
use domain::admin::{AdminUser, UserListQuery, UserOrder};
use domain::ports::Clock;
use domain::{EmailKind, Password, RefreshTokenRecord, User, UserId};

type Gatehouse = application::Gatehouse<TestDeps>;

const VIEW: &str = "auth.view_user";
const ADD: &str = "auth.add_user";
const CHANGE: &str = "auth.change_user";
const DELETE: &str = "auth.delete_user";

/// A password every validator accepts, other than `PASSWORD`.
const NEW_PASSWORD: &str = "another quite long passphrase";

const INVALID_USERNAME: &str = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
const INVALID_EMAIL: &str = "Enter a valid email address.";
const TOO_LONG_150: &str = "Ensure this field has no more than 150 characters.";
const DUPLICATE_EMAIL: &str = "user with this email already exists.";
const DUPLICATE_USERNAME: &str = "A user with that username already exists.";
const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
const TOO_COMMON: &str = "This password is too common.";
const NUMERIC: &str = "This password is entirely numeric.";
const SIMILAR_TO_USERNAME: &str = "The password is too similar to the username.";

const NOWHERE: UserId = UserId(999);

// ---------------------------------------------------------------------------
// Arranging

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

/// Every seeded permission but `missing`.
fn all_but(missing: &str) -> Vec<&'static str> {
    SEEDED_PERMISSIONS
        .into_iter()
        .filter(|p| *p != missing)
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// An active plain user with `PASSWORD`, and nothing else.
fn create_command(username: &str) -> CreateUserCommand {
    CreateUserCommand {
        username: username.to_owned(),
        email: format!("{username}@example.com"),
        password: Some(Password::new(PASSWORD)),
        is_active: true,
        ..CreateUserCommand::default()
    }
}

fn rename(first_name: &str) -> UpdateUserCommand {
    UpdateUserCommand {
        first_name: Some(first_name.to_owned()),
        ..UpdateUserCommand::default()
    }
}

fn deactivate() -> UpdateUserCommand {
    UpdateUserCommand {
        is_active: Some(false),
        ..UpdateUserCommand::default()
    }
}

/// Everyone, by id, in one page.
fn everyone() -> UserListQuery {
    UserListQuery {
        limit: 100,
        ..UserListQuery::default()
    }
}

/// Everything about a user an admin action could change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    user: Option<User>,
    groups: Vec<String>,
    user_permissions: Vec<String>,
    tokens: Vec<RefreshTokenRecord>,
    emails: Vec<EmailKind>,
}

fn snapshot(fakes: &Fakes, id: UserId) -> Snapshot {
    Snapshot {
        user: fakes.store.user(id),
        groups: fakes.store.groups_of(id),
        user_permissions: fakes.store.direct_permissions_of(id),
        tokens: fakes.store.tokens_of(id),
        emails: fakes.store.sent_to(id),
    }
}

fn live_sessions(fakes: &Fakes, id: UserId) -> usize {
    fakes
        .store
        .tokens_of(id)
        .iter()
        .filter(|t| t.revoked_at.is_none())
        .count()
}

// ---------------------------------------------------------------------------
// Outcomes

#[track_caller]
fn forbidden<T: Debug>(result: Result<T, AdminError>) {
    assert!(
        matches!(result, Err(AdminError::Forbidden)),
        "expected Forbidden, got {result:?}"
    );
}

#[track_caller]
fn not_found<T: Debug>(result: Result<T, AdminError>) {
    assert!(
        matches!(result, Err(AdminError::NotFound)),
        "expected NotFound, got {result:?}"
    );
}

#[track_caller]
fn invalid<T: Debug>(result: Result<T, AdminError>) -> ValidationErrors {
    match result {
        Err(AdminError::Invalid(errors)) => errors,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

/// The errors as (field, messages) pairs, in order.
fn fields(errors: &ValidationErrors) -> Vec<(&str, Vec<&str>)> {
    errors
        .fields()
        .map(|(field, messages)| (field, messages.iter().map(String::as_str).collect()))
        .collect()
}

fn usernames(users: &[AdminUser]) -> Vec<&str> {
    users
        .iter()
        .map(|u| u.profile.user.username.as_str())
        .collect()
}

/// Every action against `target`, each of which must be refused and change nothing.
async fn assert_refused_everything(
    gatehouse: &Gatehouse,
    fakes: &Fakes,
    caller: &User,
    target: UserId,
) {
    let before = snapshot(fakes, target);
    let users_before = fakes.store.user_count();
    forbidden(as_admin!(gatehouse, caller, list_users(everyone())).await);
    forbidden(as_admin!(gatehouse, caller, get_user(target)).await);
    forbidden(as_admin!(gatehouse, caller, create_user(create_command("newbie"))).await);
    forbidden(as_admin!(gatehouse, caller, update_user(target, rename("Changed"))).await);
    forbidden(as_admin!(gatehouse, caller, update_user(target, deactivate())).await);
    forbidden(
        as_admin!(
            gatehouse,
            caller,
            admin_set_password(target, Password::new(NEW_PASSWORD))
        )
        .await,
    );
    forbidden(as_admin!(gatehouse, caller, admin_logout_user(target)).await);
    forbidden(as_admin!(gatehouse, caller, delete_user(target)).await);
    assert_eq!(snapshot(fakes, target), before);
    assert_eq!(fakes.store.user_count(), users_before);
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

// ---------------------------------------------------------------------------
// Who may call at all

#[tokio::test]
async fn an_inactive_superuser_is_forbidden_everything() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;
    // Deactivated since he authenticated: the caller he presents is stale.
    fakes.store.update_user(root.id, |u| u.is_active = false);

    assert_refused_everything(&gatehouse, &fakes, &root, bob.id).await;
}

#[tokio::test]
async fn an_inactive_staff_member_with_every_permission_is_forbidden_everything() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &SEEDED_PERMISSIONS);
    fakes.store.update_user(manager.id, |u| u.is_active = false);
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;

    assert_refused_everything(&gatehouse, &fakes, &fakes.user(manager.id), bob.id).await;
}

#[tokio::test]
async fn a_non_staff_user_with_every_permission_is_forbidden_everything() {
    let (gatehouse, fakes) = default_gatehouse();
    let mallory = user(&fakes, "mallory");
    for permission in SEEDED_PERMISSIONS {
        fakes.store.grant_user_permission(mallory.id, permission);
    }
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;

    assert_refused_everything(&gatehouse, &fakes, &mallory, bob.id).await;
}

#[tokio::test]
async fn a_non_staff_superuser_is_forbidden_everything() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.update_user(root.id, |u| u.is_staff = false);
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;

    assert_refused_everything(&gatehouse, &fakes, &fakes.user(root.id), bob.id).await;
}

#[tokio::test]
async fn the_callers_rights_are_read_afresh_not_from_the_user_he_presents() {
    let (gatehouse, fakes) = default_gatehouse();
    let mallory = user(&fakes, "mallory");
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;
    // A forged or stale caller claiming to be an active staff superuser.
    let mut claimed = mallory.clone();
    claimed.is_staff = true;
    claimed.is_superuser = true;

    assert_refused_everything(&gatehouse, &fakes, &claimed, bob.id).await;
}

#[tokio::test]
async fn a_deleted_caller_is_forbidden_everything() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let other_root = superuser(&fakes, "other");
    let bob = user(&fakes, "bob");
    as_admin!(gatehouse, &other_root, delete_user(root.id))
        .await
        .unwrap();

    assert_refused_everything(&gatehouse, &fakes, &root, bob.id).await;
}

#[tokio::test]
async fn staff_without_view_user_can_neither_list_nor_get() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &all_but(VIEW));
    let bob = user(&fakes, "bob");

    forbidden(as_admin!(gatehouse, &manager, list_users(everyone())).await);
    forbidden(as_admin!(gatehouse, &manager, get_user(bob.id)).await);
    forbidden(as_admin!(gatehouse, &manager, get_user(manager.id)).await);
}

#[tokio::test]
async fn staff_without_add_user_cannot_create() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &all_but(ADD));

    forbidden(as_admin!(gatehouse, &manager, create_user(create_command("newbie"))).await);

    assert_eq!(fakes.store.user_count(), 1);
    assert!(fakes.store.user_by_username("newbie").is_none());
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn staff_without_change_user_can_neither_update_nor_set_the_password_nor_log_out() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &all_but(CHANGE));
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;
    let before = snapshot(&fakes, bob.id);

    forbidden(as_admin!(gatehouse, &manager, update_user(bob.id, rename("Bobby"))).await);
    forbidden(as_admin!(gatehouse, &manager, update_user(bob.id, deactivate())).await);
    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            admin_set_password(bob.id, Password::new(NEW_PASSWORD))
        )
        .await,
    );
    forbidden(as_admin!(gatehouse, &manager, admin_logout_user(bob.id)).await);

    assert_eq!(snapshot(&fakes, bob.id), before);
    assert_eq!(live_sessions(&fakes, bob.id), 1);
}

#[tokio::test]
async fn staff_without_delete_user_cannot_delete() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &all_but(DELETE));
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;
    let before = snapshot(&fakes, bob.id);

    forbidden(as_admin!(gatehouse, &manager, delete_user(bob.id)).await);

    assert_eq!(snapshot(&fakes, bob.id), before);
}

#[tokio::test]
async fn view_user_alone_allows_reading_and_nothing_else() {
    let (gatehouse, fakes) = default_gatehouse();
    let viewer = staff(&fakes, "viewer", &[VIEW]);
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;

    let page = as_admin!(gatehouse, &viewer, list_users(everyone()))
        .await
        .unwrap();
    assert_eq!(usernames(&page.items), ["viewer", "bob"]);
    let shown = as_admin!(gatehouse, &viewer, get_user(bob.id))
        .await
        .unwrap();
    assert_eq!(shown.profile.user, fakes.user(bob.id));

    let before = snapshot(&fakes, bob.id);
    forbidden(as_admin!(gatehouse, &viewer, create_user(create_command("newbie"))).await);
    forbidden(as_admin!(gatehouse, &viewer, update_user(bob.id, rename("Bobby"))).await);
    forbidden(
        as_admin!(
            gatehouse,
            &viewer,
            admin_set_password(bob.id, Password::new(NEW_PASSWORD))
        )
        .await,
    );
    forbidden(as_admin!(gatehouse, &viewer, admin_logout_user(bob.id)).await);
    forbidden(as_admin!(gatehouse, &viewer, delete_user(bob.id)).await);
    assert_eq!(snapshot(&fakes, bob.id), before);
    assert_eq!(fakes.store.user_count(), 2);
}

#[tokio::test]
async fn add_user_alone_allows_creating_and_nothing_else() {
    let (gatehouse, fakes) = default_gatehouse();
    let adder = staff(&fakes, "adder", &[ADD]);

    let created = as_admin!(gatehouse, &adder, create_user(create_command("newbie")))
        .await
        .expect("created");

    assert_eq!(created.profile.user.username.as_str(), "newbie");
    forbidden(as_admin!(gatehouse, &adder, list_users(everyone())).await);
    forbidden(as_admin!(gatehouse, &adder, get_user(created.profile.user.id)).await);
    forbidden(
        as_admin!(
            gatehouse,
            &adder,
            update_user(created.profile.user.id, rename("New"))
        )
        .await,
    );
    forbidden(as_admin!(gatehouse, &adder, delete_user(created.profile.user.id)).await);
}

#[tokio::test]
async fn change_user_alone_allows_updating_setting_passwords_and_logging_out() {
    let (gatehouse, fakes) = default_gatehouse();
    let changer = staff(&fakes, "changer", &[CHANGE]);
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;

    let updated = as_admin!(gatehouse, &changer, update_user(bob.id, rename("Bobby")))
        .await
        .expect("updated");
    assert_eq!(updated.profile.user.first_name, "Bobby");
    as_admin!(gatehouse, &changer, admin_logout_user(bob.id))
        .await
        .expect("logged out");
    as_admin!(
        gatehouse,
        &changer,
        admin_set_password(bob.id, Password::new(NEW_PASSWORD))
    )
    .await
    .expect("password set");

    forbidden(as_admin!(gatehouse, &changer, get_user(bob.id)).await);
    forbidden(as_admin!(gatehouse, &changer, delete_user(bob.id)).await);
    forbidden(as_admin!(gatehouse, &changer, create_user(create_command("newbie"))).await);
}

#[tokio::test]
async fn delete_user_alone_allows_deleting() {
    let (gatehouse, fakes) = default_gatehouse();
    let deleter = staff(&fakes, "deleter", &[DELETE]);
    let bob = user(&fakes, "bob");

    as_admin!(gatehouse, &deleter, delete_user(bob.id))
        .await
        .expect("deleted");

    assert!(fakes.store.user(bob.id).is_none());
    forbidden(as_admin!(gatehouse, &deleter, update_user(deleter.id, rename("D"))).await);
}

#[tokio::test]
async fn the_model_permission_may_come_through_a_group() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[]);
    fakes.store.add_to_group(manager.id, "user-admins");
    for permission in [VIEW, CHANGE] {
        fakes
            .store
            .grant_group_permission("user-admins", permission);
    }
    let bob = user(&fakes, "bob");

    as_admin!(gatehouse, &manager, list_users(everyone()))
        .await
        .unwrap();
    as_admin!(gatehouse, &manager, update_user(bob.id, rename("Bobby")))
        .await
        .unwrap();
    forbidden(as_admin!(gatehouse, &manager, delete_user(bob.id)).await);
}

#[tokio::test]
async fn a_superuser_needs_no_permission_of_his_own() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    log_in(&gatehouse, "bob").await;
    assert!(fakes.store.direct_permissions_of(root.id).is_empty());

    as_admin!(gatehouse, &root, list_users(everyone()))
        .await
        .unwrap();
    as_admin!(gatehouse, &root, get_user(bob.id)).await.unwrap();
    let created = as_admin!(gatehouse, &root, create_user(create_command("newbie")))
        .await
        .unwrap();
    as_admin!(gatehouse, &root, update_user(bob.id, rename("Bobby")))
        .await
        .unwrap();
    as_admin!(
        gatehouse,
        &root,
        admin_set_password(bob.id, Password::new(NEW_PASSWORD))
    )
    .await
    .unwrap();
    as_admin!(gatehouse, &root, admin_logout_user(bob.id))
        .await
        .unwrap();
    as_admin!(gatehouse, &root, delete_user(created.profile.user.id))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// A non-superuser and superusers

#[tokio::test]
async fn staff_cannot_update_a_superuser() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &SEEDED_PERMISSIONS);
    let root = superuser(&fakes, "root");
    log_in(&gatehouse, "root").await;
    let before = snapshot(&fakes, root.id);

    forbidden(as_admin!(gatehouse, &manager, update_user(root.id, rename("Rooty"))).await);
    forbidden(as_admin!(gatehouse, &manager, update_user(root.id, deactivate())).await);
    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            update_user(
                root.id,
                UpdateUserCommand {
                    is_superuser: Some(false),
                    ..UpdateUserCommand::default()
                }
            )
        )
        .await,
    );
    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            update_user(
                root.id,
                UpdateUserCommand {
                    email: Some("manager+root@example.com".to_owned()),
                    ..UpdateUserCommand::default()
                }
            )
        )
        .await,
    );

    assert_eq!(snapshot(&fakes, root.id), before);
}

#[tokio::test]
async fn staff_cannot_delete_a_superuser() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &SEEDED_PERMISSIONS);
    let root = superuser(&fakes, "root");
    let before = snapshot(&fakes, root.id);

    forbidden(as_admin!(gatehouse, &manager, delete_user(root.id)).await);

    assert_eq!(snapshot(&fakes, root.id), before);
}

#[tokio::test]
async fn staff_cannot_set_a_superusers_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &SEEDED_PERMISSIONS);
    let root = superuser(&fakes, "root");
    log_in(&gatehouse, "root").await;
    let before = snapshot(&fakes, root.id);

    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            admin_set_password(root.id, Password::new(NEW_PASSWORD))
        )
        .await,
    );

    assert_eq!(snapshot(&fakes, root.id), before);
    assert_eq!(fakes.hasher.hash_calls(), 0);
    gatehouse
        .login(login_command("root", PASSWORD))
        .await
        .expect("the old password still works");
}

#[tokio::test]
async fn staff_cannot_log_out_a_superuser() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &SEEDED_PERMISSIONS);
    let root = superuser(&fakes, "root");
    let pair = log_in(&gatehouse, "root").await;

    forbidden(as_admin!(gatehouse, &manager, admin_logout_user(root.id)).await);

    assert_eq!(live_sessions(&fakes, root.id), 1);
    gatehouse.authenticate(&pair.access).await.unwrap();
}

#[tokio::test]
async fn staff_may_still_see_a_superuser() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[VIEW]);
    let root = superuser(&fakes, "root");

    let shown = as_admin!(gatehouse, &manager, get_user(root.id))
        .await
        .unwrap();

    assert!(shown.profile.user.is_superuser);
}

#[tokio::test]
async fn staff_cannot_create_a_superuser() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &SEEDED_PERMISSIONS);

    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            create_user(CreateUserCommand {
                is_superuser: true,
                is_staff: true,
                ..create_command("newroot")
            })
        )
        .await,
    );

    assert!(fakes.store.user_by_username("newroot").is_none());
    assert_eq!(fakes.store.user_count(), 1);
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn staff_cannot_make_anyone_a_superuser_not_even_himself() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &SEEDED_PERMISSIONS);
    let bob = user(&fakes, "bob");
    let promote = UpdateUserCommand {
        is_superuser: Some(true),
        ..UpdateUserCommand::default()
    };
    let bob_before = snapshot(&fakes, bob.id);
    let manager_before = snapshot(&fakes, manager.id);

    forbidden(as_admin!(gatehouse, &manager, update_user(bob.id, promote.clone())).await);
    forbidden(as_admin!(gatehouse, &manager, update_user(manager.id, promote)).await);

    assert_eq!(snapshot(&fakes, bob.id), bob_before);
    assert_eq!(snapshot(&fakes, manager.id), manager_before);
}

#[tokio::test]
async fn staff_may_leave_is_superuser_false() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[ADD, CHANGE]);
    let bob = user(&fakes, "bob");

    let updated = as_admin!(
        gatehouse,
        &manager,
        update_user(
            bob.id,
            UpdateUserCommand {
                is_superuser: Some(false),
                is_staff: Some(true),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .unwrap();

    assert!(updated.profile.user.is_staff && !updated.profile.user.is_superuser);
}

#[tokio::test]
async fn staff_cannot_grant_a_permission_he_lacks() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[VIEW, ADD, CHANGE]);
    let bob = user(&fakes, "bob");
    let bob_before = snapshot(&fakes, bob.id);
    let manager_before = snapshot(&fakes, manager.id);

    for codes in [vec![DELETE], vec![CHANGE, DELETE]] {
        forbidden(
            as_admin!(
                gatehouse,
                &manager,
                create_user(CreateUserCommand {
                    user_permissions: strings(&codes),
                    ..create_command("newbie")
                })
            )
            .await,
        );
        let grant = UpdateUserCommand {
            user_permissions: Some(strings(&codes)),
            ..UpdateUserCommand::default()
        };
        forbidden(as_admin!(gatehouse, &manager, update_user(bob.id, grant.clone())).await);
        forbidden(as_admin!(gatehouse, &manager, update_user(manager.id, grant)).await);
    }

    assert!(fakes.store.user_by_username("newbie").is_none());
    assert_eq!(snapshot(&fakes, bob.id), bob_before);
    assert_eq!(snapshot(&fakes, manager.id), manager_before);
}

#[tokio::test]
async fn staff_cannot_add_anyone_to_a_group_holding_a_permission_he_lacks() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[VIEW, ADD, CHANGE]);
    fakes.store.create_group("lobby");
    fakes.store.grant_group_permission("deleters", VIEW);
    fakes.store.grant_group_permission("deleters", DELETE);
    let bob = user(&fakes, "bob");
    let bob_before = snapshot(&fakes, bob.id);
    let manager_before = snapshot(&fakes, manager.id);

    for groups in [vec!["deleters"], vec!["lobby", "deleters"]] {
        forbidden(
            as_admin!(
                gatehouse,
                &manager,
                create_user(CreateUserCommand {
                    groups: strings(&groups),
                    ..create_command("newbie")
                })
            )
            .await,
        );
        let join = UpdateUserCommand {
            groups: Some(strings(&groups)),
            ..UpdateUserCommand::default()
        };
        forbidden(as_admin!(gatehouse, &manager, update_user(bob.id, join.clone())).await);
        forbidden(as_admin!(gatehouse, &manager, update_user(manager.id, join)).await);
    }

    assert!(fakes.store.user_by_username("newbie").is_none());
    assert_eq!(snapshot(&fakes, bob.id), bob_before);
    assert_eq!(snapshot(&fakes, manager.id), manager_before);
}

#[tokio::test]
async fn staff_can_grant_the_permissions_and_groups_he_holds() {
    let (gatehouse, fakes) = default_gatehouse();
    // He holds view/add/change user and view group directly, view_auditevent through
    // his group.
    let manager = staff(&fakes, "manager", &[VIEW, ADD, CHANGE, "auth.view_group"]);
    fakes.store.add_to_group(manager.id, "auditors");
    fakes
        .store
        .grant_group_permission("auditors", "auth.view_auditevent");
    fakes.store.grant_group_permission("viewers", VIEW);
    fakes
        .store
        .grant_group_permission("viewers", "auth.view_group");
    fakes.store.create_group("lobby");
    let bob = user(&fakes, "bob");

    let created = as_admin!(
        gatehouse,
        &manager,
        create_user(CreateUserCommand {
            groups: strings(&["viewers", "lobby"]),
            user_permissions: strings(&["auth.view_group", "auth.view_auditevent"]),
            ..create_command("newbie")
        })
    )
    .await
    .expect("created");
    assert_eq!(created.profile.groups, ["lobby", "viewers"]);
    assert_eq!(
        created.user_permissions,
        ["auth.view_auditevent", "auth.view_group"]
    );
    assert_eq!(
        created.profile.permissions,
        ["auth.view_auditevent", "auth.view_group", VIEW]
    );

    let updated = as_admin!(
        gatehouse,
        &manager,
        update_user(
            bob.id,
            UpdateUserCommand {
                groups: Some(strings(&["auditors"])),
                user_permissions: Some(strings(&[CHANGE])),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .expect("updated");
    assert_eq!(updated.profile.groups, ["auditors"]);
    assert_eq!(updated.user_permissions, [CHANGE]);
    assert_eq!(fakes.store.groups_of(bob.id), ["auditors"]);
    assert_eq!(fakes.store.direct_permissions_of(bob.id), [CHANGE]);
}

#[tokio::test]
async fn a_superuser_may_grant_anything() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.grant_group_permission("deleters", DELETE);
    fakes.store.create_permission("billing.refund");
    let bob = user(&fakes, "bob");

    let created = as_admin!(
        gatehouse,
        &root,
        create_user(CreateUserCommand {
            is_staff: true,
            is_superuser: true,
            ..create_command("newroot")
        })
    )
    .await
    .expect("created");
    assert!(created.profile.user.is_superuser);
    assert_eq!(
        created.profile.permissions,
        known_permissions(&["billing.refund"])
    );

    let updated = as_admin!(
        gatehouse,
        &root,
        update_user(
            bob.id,
            UpdateUserCommand {
                groups: Some(strings(&["deleters"])),
                user_permissions: Some(strings(&["billing.refund", ADD])),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .expect("updated");
    assert_eq!(updated.profile.permissions, [ADD, DELETE, "billing.refund"]);
    assert_eq!(updated.user_permissions, [ADD, "billing.refund"]);
}

/// The seeded permissions and these, sorted: what a superuser holds.
fn known_permissions(extra: &[&str]) -> Vec<String> {
    let mut all = strings(&SEEDED_PERMISSIONS);
    all.extend(strings(extra));
    all.sort();
    all
}

// ---------------------------------------------------------------------------
// Nobody deactivates or deletes himself

#[tokio::test]
async fn nobody_deactivates_himself_not_even_a_superuser() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let manager = staff(&fakes, "manager", &[CHANGE]);
    log_in(&gatehouse, "root").await;
    log_in(&gatehouse, "manager").await;

    for caller in [&root, &manager] {
        let before = snapshot(&fakes, caller.id);
        forbidden(as_admin!(gatehouse, caller, update_user(caller.id, deactivate())).await);
        forbidden(
            as_admin!(
                gatehouse,
                caller,
                update_user(
                    caller.id,
                    UpdateUserCommand {
                        is_active: Some(false),
                        first_name: Some("Gone".to_owned()),
                        ..UpdateUserCommand::default()
                    }
                )
            )
            .await,
        );
        assert_eq!(snapshot(&fakes, caller.id), before);
        assert_eq!(live_sessions(&fakes, caller.id), 1);
    }
}

#[tokio::test]
async fn one_may_edit_oneself_short_of_deactivating() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let updated = as_admin!(
        gatehouse,
        &root,
        update_user(
            root.id,
            UpdateUserCommand {
                is_active: Some(true),
                first_name: Some("Rupert".to_owned()),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .unwrap();

    assert!(updated.profile.user.is_active);
    assert_eq!(fakes.user(root.id).first_name, "Rupert");
}

#[tokio::test]
async fn nobody_deletes_himself_not_even_a_superuser() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let manager = staff(&fakes, "manager", &[DELETE]);
    log_in(&gatehouse, "root").await;

    for caller in [&root, &manager] {
        let before = snapshot(&fakes, caller.id);
        forbidden(as_admin!(gatehouse, caller, delete_user(caller.id)).await);
        assert_eq!(snapshot(&fakes, caller.id), before);
    }
    assert_eq!(fakes.store.user_count(), 2);
}

#[tokio::test]
async fn a_superuser_may_deactivate_and_delete_others_superusers_included() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let other = superuser(&fakes, "other");
    let bob = user(&fakes, "bob");

    for target in [other.id, bob.id] {
        let deactivated = as_admin!(gatehouse, &root, update_user(target, deactivate()))
            .await
            .expect("deactivated");
        assert!(!deactivated.profile.user.is_active);
        assert!(!fakes.user(target).is_active);
        as_admin!(gatehouse, &root, delete_user(target))
            .await
            .expect("deleted");
        assert!(fakes.store.user(target).is_none());
    }
    assert_eq!(fakes.store.user_count(), 1);
}

#[tokio::test]
async fn staff_may_deactivate_and_delete_other_non_superusers() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE, DELETE]);
    let colleague = staff(&fakes, "colleague", &[CHANGE]);

    as_admin!(gatehouse, &manager, update_user(colleague.id, deactivate()))
        .await
        .expect("deactivated");
    assert!(!fakes.user(colleague.id).is_active);
    as_admin!(gatehouse, &manager, delete_user(colleague.id))
        .await
        .expect("deleted");

    assert!(fakes.store.user(colleague.id).is_none());
}

// ---------------------------------------------------------------------------
// Unknown ids

#[tokio::test]
async fn an_unknown_id_is_not_found_for_every_action() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    not_found(as_admin!(gatehouse, &root, get_user(NOWHERE)).await);
    not_found(as_admin!(gatehouse, &root, update_user(NOWHERE, rename("Nobody"))).await);
    not_found(as_admin!(gatehouse, &root, update_user(NOWHERE, deactivate())).await);
    not_found(
        as_admin!(
            gatehouse,
            &root,
            admin_set_password(NOWHERE, Password::new(NEW_PASSWORD))
        )
        .await,
    );
    not_found(as_admin!(gatehouse, &root, admin_logout_user(NOWHERE)).await);
    not_found(as_admin!(gatehouse, &root, delete_user(NOWHERE)).await);
    assert_eq!(fakes.store.user_count(), 1);
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn an_unknown_id_is_forbidden_to_a_caller_lacking_the_permission() {
    let (gatehouse, fakes) = default_gatehouse();
    let nobody = staff(&fakes, "nobody", &[]);
    let viewer = staff(&fakes, "viewer", &[VIEW]);

    for caller in [&nobody, &viewer] {
        forbidden(as_admin!(gatehouse, caller, update_user(NOWHERE, rename("Nobody"))).await);
        forbidden(
            as_admin!(
                gatehouse,
                caller,
                admin_set_password(NOWHERE, Password::new(NEW_PASSWORD))
            )
            .await,
        );
        forbidden(as_admin!(gatehouse, caller, admin_logout_user(NOWHERE)).await);
        forbidden(as_admin!(gatehouse, caller, delete_user(NOWHERE)).await);
    }
    forbidden(as_admin!(gatehouse, &nobody, get_user(NOWHERE)).await);
    not_found(as_admin!(gatehouse, &viewer, get_user(NOWHERE)).await);
}

#[tokio::test]
async fn a_deleted_user_is_not_found_afterwards() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    as_admin!(gatehouse, &root, delete_user(bob.id))
        .await
        .unwrap();

    not_found(as_admin!(gatehouse, &root, get_user(bob.id)).await);
    not_found(as_admin!(gatehouse, &root, delete_user(bob.id)).await);
    not_found(as_admin!(gatehouse, &root, update_user(bob.id, rename("Bob"))).await);
}

// ---------------------------------------------------------------------------
// Validation

#[tokio::test]
async fn create_reports_a_bad_username_and_email_with_djangos_messages() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_user(CreateUserCommand {
                username: "bad name".to_owned(),
                email: "not-an-email".to_owned(),
                first_name: "f".repeat(151),
                ..create_command("unused")
            })
        )
        .await,
    );

    assert_eq!(
        fields(&errors),
        [
            ("username", vec![INVALID_USERNAME]),
            ("email", vec![INVALID_EMAIL]),
            ("first_name", vec![TOO_LONG_150]),
        ]
    );
    assert_eq!(fakes.store.user_count(), 1);
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn update_reports_a_bad_username_email_and_names() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    let before = snapshot(&fakes, bob.id);

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            update_user(
                bob.id,
                UpdateUserCommand {
                    username: Some("bob/2".to_owned()),
                    email: Some("bob@".to_owned()),
                    last_name: Some("l".repeat(151)),
                    is_active: Some(false),
                    ..UpdateUserCommand::default()
                }
            )
        )
        .await,
    );

    assert_eq!(
        fields(&errors),
        [
            ("username", vec![INVALID_USERNAME]),
            ("email", vec![INVALID_EMAIL]),
            ("last_name", vec![TOO_LONG_150]),
        ]
    );
    assert_eq!(snapshot(&fakes, bob.id), before);
}

#[tokio::test]
async fn create_refuses_a_taken_email_whatever_its_case() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    user(&fakes, "bob");

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_user(CreateUserCommand {
                email: "BOB@Example.com".to_owned(),
                ..create_command("robert")
            })
        )
        .await,
    );

    assert_eq!(fields(&errors), [("email", vec![DUPLICATE_EMAIL])]);
    assert_eq!(fakes.store.user_count(), 2);
}

#[tokio::test]
async fn create_refuses_a_taken_username() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    user(&fakes, "bob");

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_user(CreateUserCommand {
                email: "robert@example.com".to_owned(),
                ..create_command("bob")
            })
        )
        .await,
    );

    assert_eq!(fields(&errors), [("username", vec![DUPLICATE_USERNAME])]);
    assert_eq!(fakes.store.user_count(), 2);
}

#[tokio::test]
async fn create_reports_a_taken_email_and_a_taken_username_together() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    user(&fakes, "bob");

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_user(CreateUserCommand {
                email: "Bob@example.com".to_owned(),
                ..create_command("bob")
            })
        )
        .await,
    );

    assert_eq!(errors.messages("username"), [DUPLICATE_USERNAME]);
    assert_eq!(errors.messages("email"), [DUPLICATE_EMAIL]);
    assert_eq!(fakes.store.user_count(), 2);
}

#[tokio::test]
async fn update_refuses_another_users_email_or_username_but_not_his_own() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    user(&fakes, "bob");
    let carol = user(&fakes, "carol");
    let before = snapshot(&fakes, carol.id);

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            update_user(
                carol.id,
                UpdateUserCommand {
                    email: Some("BOB@example.com".to_owned()),
                    first_name: Some("Caroline".to_owned()),
                    ..UpdateUserCommand::default()
                }
            )
        )
        .await,
    );
    assert_eq!(fields(&errors), [("email", vec![DUPLICATE_EMAIL])]);
    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            update_user(
                carol.id,
                UpdateUserCommand {
                    username: Some("bob".to_owned()),
                    ..UpdateUserCommand::default()
                }
            )
        )
        .await,
    );
    assert_eq!(fields(&errors), [("username", vec![DUPLICATE_USERNAME])]);
    assert_eq!(snapshot(&fakes, carol.id), before);

    let updated = as_admin!(
        gatehouse,
        &root,
        update_user(
            carol.id,
            UpdateUserCommand {
                username: Some("carol".to_owned()),
                email: Some("CAROL@example.com".to_owned()),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .expect("his own email and username are no clash");
    assert_eq!(updated.profile.user.email.as_str(), "CAROL@example.com");
}

#[tokio::test]
async fn unknown_groups_are_reported_by_name() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.create_group("editors");
    let bob = user(&fakes, "bob");
    fakes.store.add_to_group(bob.id, "editors");
    let before = snapshot(&fakes, bob.id);
    let groups = strings(&["editors", "ghosts", "phantoms"]);
    let expected = [(
        "groups",
        vec![
            "Object with name=ghosts does not exist.",
            "Object with name=phantoms does not exist.",
        ],
    )];

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_user(CreateUserCommand {
                groups: groups.clone(),
                ..create_command("newbie")
            })
        )
        .await,
    );
    assert_eq!(fields(&errors), expected);
    assert!(fakes.store.user_by_username("newbie").is_none());

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            update_user(
                bob.id,
                UpdateUserCommand {
                    groups: Some(groups),
                    first_name: Some("Bobby".to_owned()),
                    ..UpdateUserCommand::default()
                }
            )
        )
        .await,
    );
    assert_eq!(fields(&errors), expected);
    assert_eq!(snapshot(&fakes, bob.id), before);
}

#[tokio::test]
async fn unknown_permissions_are_reported_by_codename() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    fakes.store.grant_user_permission(bob.id, VIEW);
    let before = snapshot(&fakes, bob.id);
    let codes = strings(&[CHANGE, "auth.fly"]);
    let expected = [(
        "user_permissions",
        vec!["Object with codename=auth.fly does not exist."],
    )];

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_user(CreateUserCommand {
                user_permissions: codes.clone(),
                ..create_command("newbie")
            })
        )
        .await,
    );
    assert_eq!(fields(&errors), expected);
    assert!(fakes.store.user_by_username("newbie").is_none());

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            update_user(
                bob.id,
                UpdateUserCommand {
                    user_permissions: Some(codes),
                    is_active: Some(false),
                    ..UpdateUserCommand::default()
                }
            )
        )
        .await,
    );
    assert_eq!(fields(&errors), expected);
    assert_eq!(snapshot(&fakes, bob.id), before);
}

#[tokio::test]
async fn create_refuses_a_weak_password_with_djangos_messages() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_user(CreateUserCommand {
                password: Some(Password::new("1234567")),
                ..create_command("newbie")
            })
        )
        .await,
    );
    assert_eq!(
        fields(&errors),
        [("password", vec![TOO_SHORT, TOO_COMMON, NUMERIC])]
    );

    // Judged against the new user's attributes.
    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_user(CreateUserCommand {
                password: Some(Password::new("bartholomew9")),
                ..create_command("bartholomew")
            })
        )
        .await,
    );
    assert_eq!(fields(&errors), [("password", vec![SIMILAR_TO_USERNAME])]);
    assert_eq!(fakes.store.user_count(), 1);
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

#[tokio::test]
async fn set_password_refuses_a_weak_password_with_djangos_messages() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bart = user(&fakes, "bartholomew");
    log_in(&gatehouse, "bartholomew").await;
    let before = snapshot(&fakes, bart.id);
    let weak = |result: Result<(), AdminError>| match result {
        Err(AdminError::WeakPassword(messages)) => messages,
        other => panic!("expected the password to be refused, got {other:?}"),
    };

    let messages = weak(
        as_admin!(
            gatehouse,
            &root,
            admin_set_password(bart.id, Password::new("1234567"))
        )
        .await,
    );
    assert_eq!(messages, [TOO_SHORT, TOO_COMMON, NUMERIC]);
    // Judged against the target's attributes, not the caller's.
    let messages = weak(
        as_admin!(
            gatehouse,
            &root,
            admin_set_password(bart.id, Password::new("bartholomew9"))
        )
        .await,
    );
    assert_eq!(messages, [SIMILAR_TO_USERNAME]);

    assert_eq!(snapshot(&fakes, bart.id), before);
    assert_eq!(fakes.hasher.hash_calls(), 0);
}

// ---------------------------------------------------------------------------
// Creating, reading, updating, deleting

#[tokio::test]
async fn create_stores_the_user_with_his_groups_and_permissions() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.grant_group_permission("editors", CHANGE);
    fakes.clock.advance(Duration::hours(1));

    let created = as_admin!(
        gatehouse,
        &root,
        create_user(CreateUserCommand {
            username: "newbie".to_owned(),
            email: "Newbie@Example.COM".to_owned(),
            password: Some(Password::new(PASSWORD)),
            first_name: "New".to_owned(),
            last_name: "Bie".to_owned(),
            is_active: true,
            is_staff: true,
            is_superuser: false,
            groups: strings(&["editors"]),
            user_permissions: strings(&[VIEW]),
        })
    )
    .await
    .expect("created");

    let user = &created.profile.user;
    assert_eq!(user.username.as_str(), "newbie");
    assert_eq!(user.email.as_str(), "Newbie@example.com");
    assert_eq!(user.password_hash, FakeHasher::hash_of(PASSWORD));
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_str()),
        ("New", "Bie")
    );
    assert!(user.is_active && user.is_staff && !user.is_superuser);
    assert!(!user.pending_activation);
    assert_eq!(user.date_joined, fakes.clock.now());
    assert_eq!(user.password_changed_at, fakes.clock.now());
    assert_eq!(user.last_login, None);
    assert_eq!(created.profile.groups, ["editors"]);
    assert_eq!(created.profile.permissions, [CHANGE, VIEW]);
    assert_eq!(created.user_permissions, [VIEW]);
    assert_eq!(fakes.store.user(user.id).as_ref(), Some(user));
    assert_eq!(
        as_admin!(gatehouse, &root, get_user(user.id))
            .await
            .unwrap(),
        created
    );
    assert!(fakes.store.outbox().is_empty());
    gatehouse
        .login(login_command("newbie", PASSWORD))
        .await
        .expect("he can log in");
}

#[tokio::test]
async fn create_without_a_password_gives_an_unusable_one() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let created = as_admin!(
        gatehouse,
        &root,
        create_user(CreateUserCommand {
            password: None,
            ..create_command("newbie")
        })
    )
    .await
    .expect("created");

    assert!(created.profile.user.password_hash.starts_with('!'));
    assert_eq!(fakes.hasher.hash_calls(), 0);
    for attempt in [
        "",
        "!",
        PASSWORD,
        created.profile.user.password_hash.as_str(),
    ] {
        assert!(matches!(
            gatehouse.login(login_command("newbie", attempt)).await,
            Err(LoginError::InvalidCredentials)
        ));
    }
}

#[tokio::test]
async fn an_inactive_user_created_by_an_admin_cannot_log_in() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let created = as_admin!(
        gatehouse,
        &root,
        create_user(CreateUserCommand {
            is_active: false,
            ..create_command("newbie")
        })
    )
    .await
    .unwrap();

    assert!(!created.profile.user.is_active);
    assert!(!created.profile.user.pending_activation);
    assert!(matches!(
        gatehouse.login(login_command("newbie", PASSWORD)).await,
        Err(LoginError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn get_user_shows_groups_effective_and_direct_permissions() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    fakes.store.add_to_group(bob.id, "editors");
    fakes.store.add_to_group(bob.id, "auditors");
    fakes.store.grant_group_permission("editors", CHANGE);
    fakes.store.grant_group_permission("editors", VIEW);
    fakes.store.grant_user_permission(bob.id, VIEW);
    fakes.store.grant_user_permission(bob.id, ADD);

    let shown = as_admin!(gatehouse, &root, get_user(bob.id)).await.unwrap();

    assert_eq!(shown.profile.user, bob);
    assert_eq!(shown.profile.groups, ["auditors", "editors"]);
    assert_eq!(shown.profile.permissions, [ADD, CHANGE, VIEW]);
    assert_eq!(shown.user_permissions, [ADD, VIEW]);

    let root_shown = as_admin!(gatehouse, &root, get_user(root.id))
        .await
        .unwrap();
    assert_eq!(root_shown.profile.permissions, SEEDED_PERMISSIONS);
    assert!(root_shown.user_permissions.is_empty());
}

#[tokio::test]
async fn update_changes_what_is_sent_and_leaves_the_rest() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    fakes.store.add_to_group(bob.id, "editors");
    fakes.store.grant_user_permission(bob.id, VIEW);
    fakes
        .store
        .update_user(bob.id, |u| u.last_name = "Jones".to_owned());

    let updated = as_admin!(
        gatehouse,
        &root,
        update_user(
            bob.id,
            UpdateUserCommand {
                username: Some("robert".to_owned()),
                email: Some("Robert@Corp.Test".to_owned()),
                first_name: Some("Robert".to_owned()),
                is_staff: Some(true),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .expect("updated");

    let stored = fakes.user(bob.id);
    assert_eq!(updated.profile.user, stored);
    assert_eq!(stored.username.as_str(), "robert");
    assert_eq!(stored.email.as_str(), "Robert@corp.test");
    assert_eq!(stored.first_name, "Robert");
    assert_eq!(stored.last_name, "Jones");
    assert!(stored.is_active && stored.is_staff && !stored.is_superuser);
    assert_eq!(stored.password_hash, bob.password_hash);
    assert_eq!(updated.profile.groups, ["editors"]);
    assert_eq!(updated.user_permissions, [VIEW]);

    let cleared = as_admin!(
        gatehouse,
        &root,
        update_user(
            bob.id,
            UpdateUserCommand {
                groups: Some(Vec::new()),
                user_permissions: Some(Vec::new()),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .expect("updated");
    assert!(cleared.profile.groups.is_empty());
    assert!(cleared.user_permissions.is_empty());
    assert!(cleared.profile.permissions.is_empty());
    assert!(fakes.store.groups_of(bob.id).is_empty());
    assert!(fakes.store.direct_permissions_of(bob.id).is_empty());
}

#[tokio::test]
async fn delete_removes_the_user_and_his_sessions() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    let pair = log_in(&gatehouse, "bob").await;
    let root_pair = log_in(&gatehouse, "root").await;

    as_admin!(gatehouse, &root, delete_user(bob.id))
        .await
        .expect("deleted");

    assert!(fakes.store.user(bob.id).is_none());
    assert!(fakes.store.tokens_of(bob.id).is_empty());
    assert!(matches!(
        gatehouse.authenticate(&pair.access).await,
        Err(AuthenticateError::UserNotFound)
    ));
    // His refresh token went with him.
    assert!(matches!(
        refresh(&gatehouse, &pair.refresh).await,
        Err(RefreshError::Token(TokenRejection::Invalid))
    ));
    gatehouse.authenticate(&root_pair.access).await.unwrap();
}

// ---------------------------------------------------------------------------
// Effects on the target's sessions and tokens

#[tokio::test]
async fn deactivation_ends_the_targets_sessions_and_his_access_token() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    user(&fakes, "carol");
    let bob = user(&fakes, "bob");
    let first = log_in(&gatehouse, "bob").await;
    let second = log_in(&gatehouse, "bob").await;
    let root_pair = log_in(&gatehouse, "root").await;
    let carol_pair = log_in(&gatehouse, "carol").await;
    fakes.clock.advance(Duration::seconds(5));

    as_admin!(gatehouse, &root, update_user(bob.id, deactivate()))
        .await
        .expect("deactivated");

    assert!(!fakes.user(bob.id).is_active);
    assert_eq!(live_sessions(&fakes, bob.id), 0);
    let sessions = fakes.store.tokens_of(bob.id);
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions
            .iter()
            .all(|t| t.revoked_at == Some(fakes.clock.now()))
    );
    for pair in [&first, &second] {
        assert!(matches!(
            gatehouse.authenticate(&pair.access).await,
            Err(AuthenticateError::UserInactive)
        ));
        assert!(matches!(
            refresh(&gatehouse, &pair.refresh).await,
            Err(RefreshError::Token(TokenRejection::Blacklisted))
        ));
    }
    assert!(matches!(
        gatehouse.login(login_command("bob", PASSWORD)).await,
        Err(LoginError::InvalidCredentials)
    ));
    gatehouse.authenticate(&root_pair.access).await.unwrap();
    gatehouse.authenticate(&carol_pair.access).await.unwrap();
}

#[tokio::test]
async fn a_reactivated_user_logs_in_again_with_his_password() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    as_admin!(gatehouse, &root, update_user(bob.id, deactivate()))
        .await
        .unwrap();

    as_admin!(
        gatehouse,
        &root,
        update_user(
            bob.id,
            UpdateUserCommand {
                is_active: Some(true),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .unwrap();

    let pair = log_in(&gatehouse, "bob").await;
    gatehouse.authenticate(&pair.access).await.unwrap();
}

fn requiring_activation() -> Settings {
    Settings {
        registration: RegistrationSettings {
            require_activation: true,
            ..RegistrationSettings::default()
        },
        ..Settings::default()
    }
}

/// Registers `erin` under activation: his id and the token of his link.
async fn register_erin(gatehouse: &Gatehouse, fakes: &Fakes) -> (UserId, String) {
    let registered = gatehouse
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
        .expect("registered");
    let id = registered.profile.user.id;
    let token = fakes.store.last_link_token(id).expect("an activation link");
    (id, token)
}

#[tokio::test]
async fn an_admin_activating_a_pending_user_ends_his_activation_link() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let root = superuser(&fakes, "root");
    let (erin, token) = register_erin(&gatehouse, &fakes).await;
    assert!(fakes.user(erin).pending_activation);

    as_admin!(
        gatehouse,
        &root,
        update_user(
            erin,
            UpdateUserCommand {
                is_active: Some(true),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .expect("activated");

    let stored = fakes.user(erin);
    assert!(stored.is_active && !stored.pending_activation);
    assert_eq!(fakes.store.one_time_tokens_of(erin).len(), 1);
    assert_eq!(
        fakes.one_time_token(&token).used_at,
        Some(fakes.clock.now())
    );
    assert!(matches!(
        gatehouse.activate(&token, &ClientInfo::UNKNOWN).await,
        Err(application::use_cases::activate::ActivateError::Token(
            OneTimeTokenRejection::Invalid
        ))
    ));
    log_in(&gatehouse, "erin").await;
}

#[tokio::test]
async fn an_admin_deactivating_a_pending_user_ends_his_activation_link() {
    let (gatehouse, fakes) = gatehouse(requiring_activation());
    let root = superuser(&fakes, "root");
    let (erin, token) = register_erin(&gatehouse, &fakes).await;

    as_admin!(gatehouse, &root, update_user(erin, deactivate()))
        .await
        .expect("deactivated");

    let stored = fakes.user(erin);
    assert!(!stored.is_active && !stored.pending_activation);
    assert_eq!(
        fakes.one_time_token(&token).used_at,
        Some(fakes.clock.now())
    );
    assert!(matches!(
        gatehouse.activate(&token, &ClientInfo::UNKNOWN).await,
        Err(application::use_cases::activate::ActivateError::Token(
            OneTimeTokenRejection::Invalid
        ))
    ));
    assert!(!fakes.user(erin).is_active);
}

#[tokio::test]
async fn set_password_changes_the_hash_ends_every_session_and_notifies() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    let first = log_in(&gatehouse, "bob").await;
    let second = log_in(&gatehouse, "bob").await;
    let root_pair = log_in(&gatehouse, "root").await;
    fakes.clock.advance(Duration::seconds(5));

    as_admin!(
        gatehouse,
        &root,
        admin_set_password(bob.id, Password::new(NEW_PASSWORD))
    )
    .await
    .expect("password set");

    let stored = fakes.user(bob.id);
    assert_eq!(stored.password_hash, FakeHasher::hash_of(NEW_PASSWORD));
    assert_eq!(stored.password_changed_at, fakes.clock.now());
    assert_eq!(live_sessions(&fakes, bob.id), 0);
    assert_eq!(fakes.store.sent_to(bob.id), [EmailKind::PasswordChanged]);
    assert!(fakes.store.sent_to(root.id).is_empty());
    for pair in [&first, &second] {
        assert!(matches!(
            gatehouse.authenticate(&pair.access).await,
            Err(AuthenticateError::Token(TokenRejection::Blacklisted))
        ));
        assert!(matches!(
            refresh(&gatehouse, &pair.refresh).await,
            Err(RefreshError::Token(TokenRejection::Blacklisted))
        ));
    }
    assert!(matches!(
        gatehouse.login(login_command("bob", PASSWORD)).await,
        Err(LoginError::InvalidCredentials)
    ));
    gatehouse
        .login(login_command("bob", NEW_PASSWORD))
        .await
        .expect("the new password works");
    gatehouse.authenticate(&root_pair.access).await.unwrap();
}

#[tokio::test]
async fn set_password_ends_pending_reset_links() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    gatehouse
        .request_password_reset("bob@example.com")
        .await
        .unwrap();
    let token = fakes.store.last_link_token(bob.id).expect("a reset link");

    as_admin!(
        gatehouse,
        &root,
        admin_set_password(bob.id, Password::new(NEW_PASSWORD))
    )
    .await
    .unwrap();

    assert!(matches!(
        gatehouse
            .confirm_password_reset(ConfirmResetCommand {
                token,
                new_password: Password::new("yet another long passphrase"),
                client: ClientInfo::default(),
            })
            .await,
        Err(ConfirmResetError::Token(OneTimeTokenRejection::Invalid))
    ));
    assert_eq!(
        fakes.user(bob.id).password_hash,
        FakeHasher::hash_of(NEW_PASSWORD)
    );
}

#[tokio::test]
async fn logout_ends_every_session_of_the_target_and_none_of_the_callers() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE]);
    let bob = user(&fakes, "bob");
    user(&fakes, "carol");
    let first = log_in(&gatehouse, "bob").await;
    let second = log_in(&gatehouse, "bob").await;
    let manager_pair = log_in(&gatehouse, "manager").await;
    let carol_pair = log_in(&gatehouse, "carol").await;
    let hash_before = fakes.user(bob.id).password_hash;

    as_admin!(gatehouse, &manager, admin_logout_user(bob.id))
        .await
        .expect("logged out");

    assert_eq!(live_sessions(&fakes, bob.id), 0);
    for pair in [&first, &second] {
        assert!(matches!(
            gatehouse.authenticate(&pair.access).await,
            Err(AuthenticateError::Token(TokenRejection::Blacklisted))
        ));
        assert!(matches!(
            refresh(&gatehouse, &pair.refresh).await,
            Err(RefreshError::Token(TokenRejection::Blacklisted))
        ));
    }
    assert_eq!(live_sessions(&fakes, manager.id), 1);
    gatehouse.authenticate(&manager_pair.access).await.unwrap();
    gatehouse.authenticate(&carol_pair.access).await.unwrap();
    // He is logged out, not locked out.
    assert!(fakes.user(bob.id).is_active);
    assert_eq!(fakes.user(bob.id).password_hash, hash_before);
    assert!(fakes.store.sent_to(bob.id).is_empty());
    log_in(&gatehouse, "bob").await;
}

#[tokio::test]
async fn a_group_change_shows_in_the_targets_claims_at_his_next_refresh() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.grant_group_permission("editors", VIEW);
    let bob = user(&fakes, "bob");
    let pair = log_in(&gatehouse, "bob").await;
    let before = fakes.claims(&pair.access).user.unwrap();
    assert!(before.groups.is_empty() && before.permissions.is_empty());

    as_admin!(
        gatehouse,
        &root,
        update_user(
            bob.id,
            UpdateUserCommand {
                groups: Some(strings(&["editors"])),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .unwrap();
    let refreshed = refresh(&gatehouse, &pair.refresh).await.unwrap();
    let claims = fakes.claims(&refreshed.access).user.unwrap();
    assert_eq!(claims.groups, ["editors"]);
    assert_eq!(claims.permissions, [VIEW]);

    as_admin!(
        gatehouse,
        &root,
        update_user(
            bob.id,
            UpdateUserCommand {
                groups: Some(Vec::new()),
                ..UpdateUserCommand::default()
            }
        )
    )
    .await
    .unwrap();
    let refreshed = refresh(&gatehouse, &refreshed.refresh.unwrap())
        .await
        .unwrap();
    let claims = fakes.claims(&refreshed.access).user.unwrap();
    assert!(claims.groups.is_empty() && claims.permissions.is_empty());
}

// ---------------------------------------------------------------------------
// Listing

/// root (superuser), alice, bob (inactive), carol (staff), dave; alice and dave in
/// editors, alice in ops; carol and dave joined at the same instant; alice then bob
/// logged in.
async fn crowd(gatehouse: &Gatehouse, fakes: &Fakes) -> User {
    let root = superuser(fakes, "root");
    let named = |username: &str, email: &str, first: &str, last: &str| {
        let user = fakes.add_user(username, email);
        fakes.store.update_user(user.id, |u| {
            u.first_name = first.to_owned();
            u.last_name = last.to_owned();
        });
        user
    };
    fakes.clock.advance(Duration::minutes(1));
    let alice = named("alice", "zz-alice@example.com", "Alice", "Smith");
    fakes.clock.advance(Duration::minutes(1));
    let bob = named("bob", "bob@corp.test", "Robert", "Jones");
    fakes.clock.advance(Duration::minutes(1));
    let carol = named("carol", "carol@example.com", "Carol", "Smithers");
    let dave = named("dave.smith", "a.dave@other.org", "Dave", "Brown");
    fakes.store.update_user(carol.id, |u| u.is_staff = true);
    fakes.store.add_to_group(alice.id, "editors");
    fakes.store.add_to_group(alice.id, "ops");
    fakes.store.add_to_group(dave.id, "editors");
    fakes.clock.advance(Duration::minutes(1));
    log_in(gatehouse, "alice").await;
    fakes.clock.advance(Duration::minutes(1));
    log_in(gatehouse, "bob").await;
    fakes.store.update_user(bob.id, |u| u.is_active = false);
    root
}

fn search(terms: &[&str]) -> UserListQuery {
    UserListQuery {
        search_terms: strings(terms),
        ..everyone()
    }
}

fn ordered(keys: &[(UserOrder, bool)]) -> UserListQuery {
    UserListQuery {
        ordering: keys.to_vec(),
        ..everyone()
    }
}

#[tokio::test]
async fn list_shows_everyone_by_id_with_the_count() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = crowd(&gatehouse, &fakes).await;

    let page = as_admin!(gatehouse, &root, list_users(everyone()))
        .await
        .unwrap();

    assert_eq!(page.count, 5);
    assert_eq!(
        usernames(&page.items),
        ["root", "alice", "bob", "carol", "dave.smith"]
    );
    let alice = &page.items[1];
    assert_eq!(alice.profile.groups, ["editors", "ops"]);
    assert_eq!(page.items[0].profile.permissions, SEEDED_PERMISSIONS);
}

#[tokio::test]
async fn list_searches_usernames_emails_and_names_whatever_the_case() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = crowd(&gatehouse, &fakes).await;

    for (terms, expected) in [
        (vec!["smith"], vec!["alice", "carol", "dave.smith"]),
        (vec!["SMITH"], vec!["alice", "carol", "dave.smith"]),
        (vec!["example"], vec!["root", "alice", "carol"]),
        (vec!["ROBERT"], vec!["bob"]),
        (vec!["Jon"], vec!["bob"]),
        (vec!["corp.TEST"], vec!["bob"]),
        (vec!["nobody"], vec![]),
        (vec!["%"], vec![]),
    ] {
        let page = as_admin!(gatehouse, &root, list_users(search(&terms)))
            .await
            .unwrap();
        assert_eq!(usernames(&page.items), expected, "{terms:?}");
        assert_eq!(page.count, expected.len() as i64, "{terms:?}");
    }
}

#[tokio::test]
async fn list_search_terms_must_all_match() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = crowd(&gatehouse, &fakes).await;

    for (terms, expected) in [
        (vec!["smith", "example"], vec!["alice", "carol"]),
        (vec!["smith", "example", "ers"], vec!["carol"]),
        (vec!["smith", "other.org"], vec!["dave.smith"]),
        (vec!["smith", "jones"], vec![]),
    ] {
        let page = as_admin!(gatehouse, &root, list_users(search(&terms)))
            .await
            .unwrap();
        assert_eq!(usernames(&page.items), expected, "{terms:?}");
        assert_eq!(page.count, expected.len() as i64, "{terms:?}");
    }
}

#[tokio::test]
async fn list_filters_by_activity_staff_superuser_and_group() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = crowd(&gatehouse, &fakes).await;
    let editors = fakes.store.group_id("editors").unwrap();
    let ops = fakes.store.group_id("ops").unwrap();
    let empty = fakes.store.create_group("empty");

    for (query, expected) in [
        (
            UserListQuery {
                is_active: Some(false),
                ..everyone()
            },
            vec!["bob"],
        ),
        (
            UserListQuery {
                is_active: Some(true),
                ..everyone()
            },
            vec!["root", "alice", "carol", "dave.smith"],
        ),
        (
            UserListQuery {
                is_staff: Some(true),
                ..everyone()
            },
            vec!["root", "carol"],
        ),
        (
            UserListQuery {
                is_superuser: Some(true),
                ..everyone()
            },
            vec!["root"],
        ),
        (
            UserListQuery {
                is_superuser: Some(false),
                is_staff: Some(false),
                ..everyone()
            },
            vec!["alice", "bob", "dave.smith"],
        ),
        (
            UserListQuery {
                group: Some(editors),
                ..everyone()
            },
            vec!["alice", "dave.smith"],
        ),
        (
            UserListQuery {
                group: Some(ops),
                ..everyone()
            },
            vec!["alice"],
        ),
        (
            UserListQuery {
                group: Some(empty),
                ..everyone()
            },
            vec![],
        ),
        (
            UserListQuery {
                group: Some(12_345),
                ..everyone()
            },
            vec![],
        ),
        (
            UserListQuery {
                group: Some(editors),
                search_terms: strings(&["smith"]),
                is_active: Some(true),
                ..everyone()
            },
            vec!["alice", "dave.smith"],
        ),
    ] {
        let page = as_admin!(gatehouse, &root, list_users(query.clone()))
            .await
            .unwrap();
        assert_eq!(usernames(&page.items), expected, "{query:?}");
        assert_eq!(page.count, expected.len() as i64, "{query:?}");
    }
}

#[tokio::test]
async fn list_orders_by_its_keys_descending_too_with_ties_broken_on_id() {
    let (gatehouse, fakes) = default_gatehouse();
    use UserOrder::{DateJoined, Email, Id, LastLogin, Username};
    let root = crowd(&gatehouse, &fakes).await;

    for (keys, expected) in [
        (vec![], vec!["root", "alice", "bob", "carol", "dave.smith"]),
        (
            vec![(Id, true)],
            vec!["dave.smith", "carol", "bob", "alice", "root"],
        ),
        (
            vec![(Username, false)],
            vec!["alice", "bob", "carol", "dave.smith", "root"],
        ),
        (
            vec![(Username, true)],
            vec!["root", "dave.smith", "carol", "bob", "alice"],
        ),
        (
            vec![(Email, false)],
            vec!["dave.smith", "bob", "carol", "root", "alice"],
        ),
        (
            vec![(Email, true)],
            vec!["alice", "root", "carol", "bob", "dave.smith"],
        ),
        // carol and dave joined at the same instant: id breaks the tie, both ways.
        (
            vec![(DateJoined, false)],
            vec!["root", "alice", "bob", "carol", "dave.smith"],
        ),
        (
            vec![(DateJoined, true)],
            vec!["carol", "dave.smith", "bob", "alice", "root"],
        ),
        // Never logged in: first ascending, last descending.
        (
            vec![(LastLogin, false)],
            vec!["root", "carol", "dave.smith", "alice", "bob"],
        ),
        (
            vec![(LastLogin, true)],
            vec!["bob", "alice", "root", "carol", "dave.smith"],
        ),
        (
            vec![(LastLogin, false), (Username, true)],
            vec!["root", "dave.smith", "carol", "alice", "bob"],
        ),
        (
            vec![(DateJoined, true), (Email, false)],
            vec!["dave.smith", "carol", "bob", "alice", "root"],
        ),
    ] {
        let page = as_admin!(gatehouse, &root, list_users(ordered(&keys)))
            .await
            .unwrap();
        assert_eq!(usernames(&page.items), expected, "{keys:?}");
    }
}

#[tokio::test]
async fn list_pages_with_offset_and_limit_and_counts_every_match() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = crowd(&gatehouse, &fakes).await;
    let by_username = |offset: i64, limit: i64| UserListQuery {
        ordering: vec![(UserOrder::Username, false)],
        offset,
        limit,
        ..UserListQuery::default()
    };

    for ((offset, limit), expected) in [
        ((0, 2), vec!["alice", "bob"]),
        ((1, 2), vec!["bob", "carol"]),
        ((4, 2), vec!["root"]),
        ((5, 2), vec![]),
        ((50, 10), vec![]),
    ] {
        let page = as_admin!(gatehouse, &root, list_users(by_username(offset, limit)))
            .await
            .unwrap();
        assert_eq!(usernames(&page.items), expected, "{offset}/{limit}");
        assert_eq!(page.count, 5, "{offset}/{limit}");
    }

    let page = as_admin!(
        gatehouse,
        &root,
        list_users(UserListQuery {
            search_terms: strings(&["smith"]),
            ..by_username(1, 1)
        })
    )
    .await
    .unwrap();
    assert_eq!(usernames(&page.items), ["carol"]);
    assert_eq!(page.count, 3);
}
