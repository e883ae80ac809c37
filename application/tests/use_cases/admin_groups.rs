//! Admin: groups and permissions. Active staff with the model permission of the action
//! (a superuser holds all); a non-superuser puts into a group no permission he lacks,
//! but may keep or remove any; a member's rights follow his groups at his next refresh.

use std::fmt::Debug;

use crate::support::{Fakes, SEEDED_PERMISSIONS, TestDeps, default_gatehouse, log_in, refresh};
use application::ValidationErrors;
use application::as_admin;
use application::use_cases::admin_users::AdminError;
use domain::admin::{Group, GroupChanges, NewPermission, Permission};
use domain::{User, UserId};

type Gatehouse = application::Gatehouse<TestDeps>;

const VIEW_GROUP: &str = "auth.view_group";
const ADD_GROUP: &str = "auth.add_group";
const CHANGE_GROUP: &str = "auth.change_group";
const DELETE_GROUP: &str = "auth.delete_group";
const VIEW_PERMISSION: &str = "auth.view_permission";
const ADD_PERMISSION: &str = "auth.add_permission";
const DELETE_PERMISSION: &str = "auth.delete_permission";
const VIEW_USER: &str = "auth.view_user";
const ADD_USER: &str = "auth.add_user";
const DELETE_USER: &str = "auth.delete_user";

const DUPLICATE_GROUP: &str = "group with this name already exists.";
const DUPLICATE_PERMISSION: &str = "The fields app_label, codename must make a unique set.";

/// An id no group or permission has.
const NOWHERE: i64 = 999_999;

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

fn new_permission(app_label: &str, codename: &str, name: &str) -> NewPermission {
    NewPermission {
        name: name.to_owned(),
        app_label: app_label.to_owned(),
        codename: codename.to_owned(),
    }
}

/// The id of a group that must exist.
fn group_id(fakes: &Fakes, name: &str) -> i64 {
    fakes
        .store
        .group_id(name)
        .unwrap_or_else(|| panic!("no group {name:?}"))
}

/// The id of a permission that must exist.
fn permission_id(fakes: &Fakes, code: &str) -> i64 {
    fakes
        .store
        .permission(code)
        .unwrap_or_else(|| panic!("no permission {code:?}"))
        .id
}

/// Every group and permission, and every user's groups and direct grants: all an
/// action here could change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    groups: Vec<(String, Option<i64>, Vec<String>)>,
    permissions: Vec<Option<Permission>>,
    users: Vec<(UserId, Vec<String>, Vec<String>)>,
}

fn snapshot(fakes: &Fakes, users: &[&User]) -> Snapshot {
    let store = &fakes.store;
    Snapshot {
        groups: store
            .group_names()
            .into_iter()
            .map(|name| {
                let id = store.group_id(&name);
                let permissions = store.permissions_of_group(&name);
                (name, id, permissions)
            })
            .collect(),
        permissions: store
            .permission_codes()
            .iter()
            .map(|code| store.permission(code))
            .collect(),
        users: users
            .iter()
            .map(|u| {
                (
                    u.id,
                    store.groups_of(u.id),
                    store.direct_permissions_of(u.id),
                )
            })
            .collect(),
    }
}

/// The groups and permissions in a member's access token after his next refresh,
/// and the refresh token to refresh with next time.
async fn after_refresh(
    gatehouse: &Gatehouse,
    fakes: &Fakes,
    refresh_token: &str,
) -> (Vec<String>, Vec<String>, String) {
    let refreshed = refresh(gatehouse, refresh_token)
        .await
        .expect("the refresh succeeds");
    let claims = fakes
        .claims(&refreshed.access)
        .user
        .expect("an access token carries the user");
    (
        claims.groups,
        claims.permissions,
        refreshed.refresh.expect("rotation is on"),
    )
}

fn names(groups: &[Group]) -> Vec<&str> {
    groups.iter().map(|g| g.name.as_str()).collect()
}

fn codes(permissions: &[Permission]) -> Vec<String> {
    permissions.iter().map(Permission::code).collect()
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

// ---------------------------------------------------------------------------
// Every action, for the authorization tables

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    ListGroups,
    GetGroup,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    ListPermissions,
    GetPermission,
    CreatePermission,
    DeletePermission,
}

const ACTIONS: [Action; 9] = [
    Action::ListGroups,
    Action::GetGroup,
    Action::CreateGroup,
    Action::UpdateGroup,
    Action::DeleteGroup,
    Action::ListPermissions,
    Action::GetPermission,
    Action::CreatePermission,
    Action::DeletePermission,
];

impl Action {
    /// The model permission the action needs.
    fn permission(self) -> &'static str {
        match self {
            Action::ListGroups | Action::GetGroup => VIEW_GROUP,
            Action::CreateGroup => ADD_GROUP,
            Action::UpdateGroup => CHANGE_GROUP,
            Action::DeleteGroup => DELETE_GROUP,
            Action::ListPermissions | Action::GetPermission => VIEW_PERMISSION,
            Action::CreatePermission => ADD_PERMISSION,
            Action::DeletePermission => DELETE_PERMISSION,
        }
    }

    /// Runs the action against the world of `world`; the writes ask for no
    /// permission at all, so only the model permission matters.
    async fn run(
        self,
        gatehouse: &Gatehouse,
        caller: &User,
        world: &World,
    ) -> Result<(), AdminError> {
        let group = world.group;
        let permission = world.permission;
        match self {
            Action::ListGroups => as_admin!(gatehouse, caller, list_groups(0, 10))
                .await
                .map(drop),
            Action::GetGroup => as_admin!(gatehouse, caller, get_group(group))
                .await
                .map(drop),
            Action::CreateGroup => as_admin!(
                gatehouse,
                caller,
                create_group("newcomers".to_owned(), Vec::new())
            )
            .await
            .map(drop),
            Action::UpdateGroup => as_admin!(
                gatehouse,
                caller,
                update_group(
                    group,
                    GroupChanges {
                        name: Some("renamed".to_owned()),
                        permissions: None
                    }
                )
            )
            .await
            .map(drop),
            Action::DeleteGroup => as_admin!(gatehouse, caller, delete_group(group)).await,
            Action::ListPermissions => as_admin!(gatehouse, caller, list_permissions(0, 10))
                .await
                .map(drop),
            Action::GetPermission => as_admin!(gatehouse, caller, get_permission(permission))
                .await
                .map(drop),
            Action::CreatePermission => as_admin!(
                gatehouse,
                caller,
                create_permission(new_permission("billing", "void", "Can void"))
            )
            .await
            .map(drop),
            Action::DeletePermission => {
                as_admin!(gatehouse, caller, delete_permission(permission)).await
            }
        }
    }

    /// Runs the action against ids nothing has (the list and create actions have no
    /// target and run as usual).
    async fn run_on_nothing(
        self,
        gatehouse: &Gatehouse,
        caller: &User,
        world: &World,
    ) -> Result<(), AdminError> {
        let nothing = World {
            group: NOWHERE,
            permission: NOWHERE,
            ..world.clone()
        };
        self.run(gatehouse, caller, &nothing).await
    }

    fn has_target(self) -> bool {
        !matches!(
            self,
            Action::ListGroups
                | Action::CreateGroup
                | Action::ListPermissions
                | Action::CreatePermission
        )
    }
}

/// A group `editors` granting `billing.refund`, whose member bob also holds it
/// directly.
#[derive(Debug, Clone)]
struct World {
    bob: User,
    group: i64,
    permission: i64,
}

fn world(fakes: &Fakes) -> World {
    let bob = user(fakes, "bob");
    fakes
        .store
        .grant_group_permission("editors", "billing.refund");
    fakes.store.add_to_group(bob.id, "editors");
    fakes.store.grant_user_permission(bob.id, "billing.refund");
    World {
        group: group_id(fakes, "editors"),
        permission: permission_id(fakes, "billing.refund"),
        bob,
    }
}

/// Every action must be refused and change nothing.
async fn assert_refused_everything(
    gatehouse: &Gatehouse,
    fakes: &Fakes,
    caller: &User,
    world: &World,
) {
    let before = snapshot(fakes, &[&world.bob]);
    for action in ACTIONS {
        let result = action.run(gatehouse, caller, world).await;
        assert!(
            matches!(result, Err(AdminError::Forbidden)),
            "{action:?}: expected Forbidden, got {result:?}"
        );
        let result = action.run_on_nothing(gatehouse, caller, world).await;
        assert!(
            matches!(result, Err(AdminError::Forbidden)),
            "{action:?} on nothing: expected Forbidden, got {result:?}"
        );
    }
    assert_eq!(snapshot(fakes, &[&world.bob]), before);
}

// ---------------------------------------------------------------------------
// Who may call at all

#[tokio::test]
async fn a_non_staff_user_with_every_permission_is_forbidden_everything() {
    let (gatehouse, fakes) = default_gatehouse();
    let world = world(&fakes);
    let mallory = user(&fakes, "mallory");
    for permission in SEEDED_PERMISSIONS {
        fakes.store.grant_user_permission(mallory.id, permission);
    }

    assert_refused_everything(&gatehouse, &fakes, &mallory, &world).await;
}

#[tokio::test]
async fn an_inactive_staff_member_with_every_permission_is_forbidden_everything() {
    let (gatehouse, fakes) = default_gatehouse();
    let world = world(&fakes);
    let manager = staff(&fakes, "manager", &SEEDED_PERMISSIONS);
    fakes.store.update_user(manager.id, |u| u.is_active = false);

    assert_refused_everything(&gatehouse, &fakes, &fakes.user(manager.id), &world).await;
}

#[tokio::test]
async fn an_inactive_superuser_is_forbidden_everything() {
    let (gatehouse, fakes) = default_gatehouse();
    let world = world(&fakes);
    let root = superuser(&fakes, "root");
    // Deactivated since he authenticated: the caller he presents is stale.
    fakes.store.update_user(root.id, |u| u.is_active = false);

    assert_refused_everything(&gatehouse, &fakes, &root, &world).await;
}

#[tokio::test]
async fn a_non_staff_superuser_is_forbidden_everything() {
    let (gatehouse, fakes) = default_gatehouse();
    let world = world(&fakes);
    let root = superuser(&fakes, "root");
    fakes.store.update_user(root.id, |u| u.is_staff = false);

    assert_refused_everything(&gatehouse, &fakes, &fakes.user(root.id), &world).await;
}

#[tokio::test]
async fn the_callers_rights_are_read_afresh_not_from_the_user_he_presents() {
    let (gatehouse, fakes) = default_gatehouse();
    let world = world(&fakes);
    let mallory = user(&fakes, "mallory");
    let mut claimed = mallory.clone();
    claimed.is_staff = true;
    claimed.is_superuser = true;

    assert_refused_everything(&gatehouse, &fakes, &claimed, &world).await;
}

#[tokio::test]
async fn staff_lacking_the_actions_model_permission_is_forbidden_it_even_on_a_missing_target() {
    for action in ACTIONS {
        let (gatehouse, fakes) = default_gatehouse();
        let world = world(&fakes);
        let manager = staff(&fakes, "manager", &all_but(action.permission()));
        let before = snapshot(&fakes, &[&world.bob]);

        let result = action.run(&gatehouse, &manager, &world).await;
        assert!(
            matches!(result, Err(AdminError::Forbidden)),
            "{action:?}: expected Forbidden, got {result:?}"
        );
        let result = action.run_on_nothing(&gatehouse, &manager, &world).await;
        assert!(
            matches!(result, Err(AdminError::Forbidden)),
            "{action:?} on nothing: expected Forbidden, got {result:?}"
        );
        assert_eq!(snapshot(&fakes, &[&world.bob]), before, "{action:?}");
    }
}

#[tokio::test]
async fn the_actions_model_permission_alone_suffices() {
    for action in ACTIONS {
        let (gatehouse, fakes) = default_gatehouse();
        let world = world(&fakes);
        let manager = staff(&fakes, "manager", &[action.permission()]);

        let result = action.run(&gatehouse, &manager, &world).await;
        assert!(
            result.is_ok(),
            "{action:?}: expected success, got {result:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_target_is_not_found_once_the_model_permission_is_held() {
    for action in ACTIONS.into_iter().filter(|a| a.has_target()) {
        let (gatehouse, fakes) = default_gatehouse();
        let world = world(&fakes);
        let manager = staff(&fakes, "manager", &[action.permission()]);
        let before = snapshot(&fakes, &[&world.bob]);

        let result = action.run_on_nothing(&gatehouse, &manager, &world).await;
        assert!(
            matches!(result, Err(AdminError::NotFound)),
            "{action:?}: expected NotFound, got {result:?}"
        );
        assert_eq!(snapshot(&fakes, &[&world.bob]), before, "{action:?}");
    }
}

#[tokio::test]
async fn the_model_permission_may_come_through_a_group() {
    for action in ACTIONS {
        let (gatehouse, fakes) = default_gatehouse();
        let world = world(&fakes);
        let manager = staff(&fakes, "manager", &[]);
        fakes
            .store
            .grant_group_permission("admins", action.permission());
        fakes.store.add_to_group(manager.id, "admins");

        let result = action.run(&gatehouse, &manager, &world).await;
        assert!(
            result.is_ok(),
            "{action:?}: expected success, got {result:?}"
        );
    }
}

#[tokio::test]
async fn a_superuser_needs_no_permission_of_his_own() {
    for action in ACTIONS {
        let (gatehouse, fakes) = default_gatehouse();
        let arranged = world(&fakes);
        let root = superuser(&fakes, "root");
        assert!(fakes.store.direct_permissions_of(root.id).is_empty());

        let result = action.run(&gatehouse, &root, &arranged).await;
        assert!(
            result.is_ok(),
            "{action:?}: expected success, got {result:?}"
        );
        if action.has_target() {
            let (gatehouse, fakes) = default_gatehouse();
            let arranged = world(&fakes);
            let root = superuser(&fakes, "root");
            let result = action.run_on_nothing(&gatehouse, &root, &arranged).await;
            assert!(
                matches!(result, Err(AdminError::NotFound)),
                "{action:?} on nothing: expected NotFound, got {result:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_revoked_model_permission_is_refused_at_once() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[]);
    fakes.store.grant_group_permission("viewers", VIEW_GROUP);
    fakes.store.add_to_group(manager.id, "viewers");
    as_admin!(gatehouse, &manager, list_groups(0, 10))
        .await
        .expect("allowed");
    let root = superuser(&fakes, "root");

    as_admin!(
        gatehouse,
        &root,
        update_group(
            group_id(&fakes, "viewers"),
            GroupChanges {
                name: None,
                permissions: Some(Vec::new())
            }
        )
    )
    .await
    .expect("updated");

    forbidden(as_admin!(gatehouse, &manager, list_groups(0, 10)).await);
}

// ---------------------------------------------------------------------------
// Reading groups

#[tokio::test]
async fn groups_are_listed_by_name_with_their_sorted_permissions_and_the_total_count() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    fakes.store.grant_group_permission("ops", ADD_USER);
    fakes
        .store
        .grant_group_permission("auditors", "billing.refund");
    fakes.store.create_group("Zebras");
    fakes.store.create_group("editors");

    let page = as_admin!(gatehouse, &root, list_groups(0, 10))
        .await
        .expect("listed");

    assert_eq!(page.count, 4);
    assert_eq!(
        page.items,
        [
            Group {
                id: group_id(&fakes, "Zebras"),
                name: "Zebras".to_owned(),
                permissions: Vec::new(),
            },
            Group {
                id: group_id(&fakes, "auditors"),
                name: "auditors".to_owned(),
                permissions: strings(&["billing.refund"]),
            },
            Group {
                id: group_id(&fakes, "editors"),
                name: "editors".to_owned(),
                permissions: Vec::new(),
            },
            Group {
                id: group_id(&fakes, "ops"),
                name: "ops".to_owned(),
                permissions: strings(&[ADD_USER, VIEW_USER]),
            },
        ]
    );
}

#[tokio::test]
async fn a_page_of_groups_counts_them_all() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    for name in ["e", "d", "c", "b", "a"] {
        fakes.store.create_group(name);
    }

    let page = as_admin!(gatehouse, &root, list_groups(1, 2))
        .await
        .expect("listed");
    assert_eq!(page.count, 5);
    assert_eq!(names(&page.items), ["b", "c"]);

    let last = as_admin!(gatehouse, &root, list_groups(4, 2))
        .await
        .expect("listed");
    assert_eq!(last.count, 5);
    assert_eq!(names(&last.items), ["e"]);

    let past = as_admin!(gatehouse, &root, list_groups(10, 2))
        .await
        .expect("listed");
    assert_eq!(past.count, 5);
    assert!(past.items.is_empty());
}

#[tokio::test]
async fn no_groups_is_an_empty_page() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let page = as_admin!(gatehouse, &root, list_groups(0, 10))
        .await
        .expect("listed");

    assert_eq!(page.count, 0);
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn a_group_is_read_by_id() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[VIEW_GROUP]);
    fakes.store.grant_group_permission("ops", VIEW_USER);
    fakes.store.grant_group_permission("ops", "billing.refund");
    let id = group_id(&fakes, "ops");

    let group = as_admin!(gatehouse, &manager, get_group(id))
        .await
        .expect("found");

    assert_eq!(
        group,
        Group {
            id,
            name: "ops".to_owned(),
            permissions: strings(&[VIEW_USER, "billing.refund"]),
        }
    );
}

// ---------------------------------------------------------------------------
// Creating groups

#[tokio::test]
async fn a_superuser_creates_a_group_with_any_permissions() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.create_permission("billing.refund");

    let created = as_admin!(
        gatehouse,
        &root,
        create_group(
            "ops".to_owned(),
            strings(&["billing.refund", DELETE_USER, VIEW_USER])
        )
    )
    .await
    .expect("created");

    assert_eq!(created.name, "ops");
    assert_eq!(
        created.permissions,
        [DELETE_USER, VIEW_USER, "billing.refund"]
    );
    assert_eq!(Some(created.id), fakes.store.group_id("ops"));
    assert_eq!(
        as_admin!(gatehouse, &root, get_group(created.id))
            .await
            .expect("found"),
        created
    );
}

#[tokio::test]
async fn a_group_may_be_created_without_permissions() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[ADD_GROUP]);

    let created = as_admin!(
        gatehouse,
        &manager,
        create_group("empty".to_owned(), Vec::new())
    )
    .await
    .expect("created");

    assert_eq!(created.name, "empty");
    assert!(created.permissions.is_empty());
    assert_eq!(fakes.store.group_names(), ["empty"]);
}

#[tokio::test]
async fn repeated_permissions_are_granted_once() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let created = as_admin!(
        gatehouse,
        &root,
        create_group("ops".to_owned(), strings(&[VIEW_USER, VIEW_USER]))
    )
    .await
    .expect("created");

    assert_eq!(created.permissions, [VIEW_USER]);
}

#[tokio::test]
async fn a_taken_group_name_is_refused_and_nothing_changes() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    let before = snapshot(&fakes, &[]);

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_group("ops".to_owned(), strings(&[DELETE_USER]))
        )
        .await,
    );

    assert_eq!(fields(&errors), [("name", vec![DUPLICATE_GROUP])]);
    assert_eq!(snapshot(&fakes, &[]), before);
}

#[tokio::test]
async fn group_names_clash_only_when_exactly_equal() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.create_group("ops");

    for name in ["Ops", "OPS", "ops2", "op"] {
        as_admin!(gatehouse, &root, create_group(name.to_owned(), Vec::new()))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }

    assert_eq!(
        fakes.store.group_names(),
        ["OPS", "Ops", "op", "ops", "ops2"]
    );
}

#[tokio::test]
async fn unknown_permissions_are_each_reported_in_the_order_sent_and_nothing_changes() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let before = snapshot(&fakes, &[]);

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            create_group(
                "ops".to_owned(),
                strings(&["nope.zzz", VIEW_USER, "auth.frobnicate", "view_user"])
            )
        )
        .await,
    );

    assert_eq!(
        fields(&errors),
        [(
            "permissions",
            vec![
                "Object with codename=nope.zzz does not exist.",
                "Object with codename=auth.frobnicate does not exist.",
                "Object with codename=view_user does not exist.",
            ]
        )]
    );
    assert_eq!(snapshot(&fakes, &[]), before);
    assert_eq!(fakes.store.group_id("ops"), None);
}

// ---------------------------------------------------------------------------
// Updating groups

#[tokio::test]
async fn a_group_is_renamed_and_keeps_its_permissions_and_members() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP]);
    let bob = user(&fakes, "bob");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    fakes.store.add_to_group(bob.id, "ops");
    let id = group_id(&fakes, "ops");

    let updated = as_admin!(
        gatehouse,
        &manager,
        update_group(
            id,
            GroupChanges {
                name: Some("operations".to_owned()),
                permissions: None
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(
        updated,
        Group {
            id,
            name: "operations".to_owned(),
            permissions: strings(&[VIEW_USER]),
        }
    );
    assert_eq!(fakes.store.group_names(), ["operations"]);
    assert_eq!(fakes.store.groups_of(bob.id), ["operations"]);
}

#[tokio::test]
async fn a_group_may_keep_its_own_name() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    let id = group_id(&fakes, "ops");

    let updated = as_admin!(
        gatehouse,
        &root,
        update_group(
            id,
            GroupChanges {
                name: Some("ops".to_owned()),
                permissions: Some(strings(&[ADD_USER]))
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(updated.name, "ops");
    assert_eq!(updated.permissions, [ADD_USER]);
    assert_eq!(fakes.store.group_id("ops"), Some(id));
}

#[tokio::test]
async fn a_rename_onto_another_groups_name_is_refused_and_nothing_changes() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    fakes.store.create_group("editors");
    let before = snapshot(&fakes, &[]);

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            update_group(
                group_id(&fakes, "ops"),
                GroupChanges {
                    name: Some("editors".to_owned()),
                    permissions: Some(strings(&[ADD_USER]))
                }
            )
        )
        .await,
    );

    assert_eq!(fields(&errors), [("name", vec![DUPLICATE_GROUP])]);
    assert_eq!(snapshot(&fakes, &[]), before);
}

#[tokio::test]
async fn permissions_are_replaced_when_sent() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    fakes.store.grant_group_permission("ops", ADD_USER);
    let id = group_id(&fakes, "ops");

    let updated = as_admin!(
        gatehouse,
        &root,
        update_group(
            id,
            GroupChanges {
                name: None,
                permissions: Some(strings(&[DELETE_USER, VIEW_USER]))
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(updated.name, "ops");
    assert_eq!(updated.permissions, [DELETE_USER, VIEW_USER]);
    assert_eq!(
        fakes.store.permissions_of_group("ops"),
        [DELETE_USER, VIEW_USER]
    );

    let emptied = as_admin!(
        gatehouse,
        &root,
        update_group(
            id,
            GroupChanges {
                name: None,
                permissions: Some(Vec::new())
            }
        )
    )
    .await
    .expect("updated");
    assert!(emptied.permissions.is_empty());
    assert!(fakes.store.permissions_of_group("ops").is_empty());
}

#[tokio::test]
async fn an_update_with_nothing_changes_nothing() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP]);
    fakes.store.grant_group_permission("ops", VIEW_USER);
    let id = group_id(&fakes, "ops");
    let before = snapshot(&fakes, &[]);

    let updated = as_admin!(
        gatehouse,
        &manager,
        update_group(
            id,
            GroupChanges {
                name: None,
                permissions: None
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(
        updated,
        Group {
            id,
            name: "ops".to_owned(),
            permissions: strings(&[VIEW_USER]),
        }
    );
    assert_eq!(snapshot(&fakes, &[]), before);
}

#[tokio::test]
async fn an_update_with_unknown_permissions_is_refused_and_nothing_changes() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    let before = snapshot(&fakes, &[]);

    let errors = invalid(
        as_admin!(
            gatehouse,
            &root,
            update_group(
                group_id(&fakes, "ops"),
                GroupChanges {
                    name: Some("operations".to_owned()),
                    permissions: Some(strings(&[ADD_USER, "nope.nope"]))
                }
            )
        )
        .await,
    );

    assert_eq!(
        fields(&errors),
        [(
            "permissions",
            vec!["Object with codename=nope.nope does not exist."]
        )]
    );
    assert_eq!(snapshot(&fakes, &[]), before);
}

// ---------------------------------------------------------------------------
// The escalation guard

#[tokio::test]
async fn staff_cannot_create_a_group_with_a_permission_he_lacks() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[ADD_GROUP, VIEW_USER]);
    let before = snapshot(&fakes, &[&manager]);

    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            create_group("ops".to_owned(), strings(&[VIEW_USER, DELETE_USER]))
        )
        .await,
    );
    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            create_group("ops".to_owned(), strings(&[ADD_GROUP, CHANGE_GROUP]))
        )
        .await,
    );

    assert_eq!(snapshot(&fakes, &[&manager]), before);
}

#[tokio::test]
async fn staff_may_create_a_group_with_permissions_he_holds_directly_or_through_groups() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[ADD_GROUP, VIEW_USER]);
    fakes
        .store
        .grant_group_permission("billing", "billing.refund");
    fakes.store.add_to_group(manager.id, "billing");

    let created = as_admin!(
        gatehouse,
        &manager,
        create_group(
            "ops".to_owned(),
            strings(&[ADD_GROUP, VIEW_USER, "billing.refund"])
        )
    )
    .await
    .expect("created");

    assert_eq!(
        created.permissions,
        [ADD_GROUP, VIEW_USER, "billing.refund"]
    );
}

#[tokio::test]
async fn staff_creating_a_group_with_an_unknown_permission_is_forbidden_as_he_lacks_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[ADD_GROUP, VIEW_USER]);

    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            create_group("ops".to_owned(), strings(&[VIEW_USER, "nope.nope"]))
        )
        .await,
    );

    assert!(fakes.store.group_names().is_empty());
}

#[tokio::test]
async fn the_guard_comes_before_the_name_check() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[ADD_GROUP]);
    fakes.store.create_group("ops");

    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            create_group("ops".to_owned(), strings(&[DELETE_USER]))
        )
        .await,
    );
    let errors = invalid(
        as_admin!(
            gatehouse,
            &manager,
            create_group("ops".to_owned(), strings(&[ADD_GROUP]))
        )
        .await,
    );
    assert_eq!(fields(&errors), [("name", vec![DUPLICATE_GROUP])]);
}

#[tokio::test]
async fn staff_cannot_add_to_a_group_a_permission_he_lacks() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP, VIEW_USER]);
    fakes.store.grant_group_permission("ops", VIEW_USER);
    let id = group_id(&fakes, "ops");
    let before = snapshot(&fakes, &[&manager]);

    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            update_group(
                id,
                GroupChanges {
                    name: None,
                    permissions: Some(strings(&[VIEW_USER, DELETE_USER]))
                }
            )
        )
        .await,
    );
    // Not even with a rename alongside, nor when the group is emptied of the rest.
    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            update_group(
                id,
                GroupChanges {
                    name: Some("operations".to_owned()),
                    permissions: Some(strings(&[DELETE_USER]))
                }
            )
        )
        .await,
    );

    assert_eq!(snapshot(&fakes, &[&manager]), before);
}

#[tokio::test]
async fn staff_may_add_to_a_group_permissions_he_holds() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP, VIEW_USER]);
    fakes
        .store
        .grant_group_permission("billing", "billing.refund");
    fakes.store.add_to_group(manager.id, "billing");
    fakes.store.create_group("ops");

    let updated = as_admin!(
        gatehouse,
        &manager,
        update_group(
            group_id(&fakes, "ops"),
            GroupChanges {
                name: None,
                permissions: Some(strings(&[VIEW_USER, "billing.refund"]))
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(updated.permissions, [VIEW_USER, "billing.refund"]);
}

#[tokio::test]
async fn staff_may_remove_from_a_group_permissions_he_lacks() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP]);
    fakes.store.grant_group_permission("ops", DELETE_USER);
    fakes.store.grant_group_permission("ops", ADD_USER);
    fakes.store.grant_group_permission("ops", VIEW_USER);
    let id = group_id(&fakes, "ops");

    let updated = as_admin!(
        gatehouse,
        &manager,
        update_group(
            id,
            GroupChanges {
                name: None,
                permissions: Some(strings(&[VIEW_USER]))
            }
        )
    )
    .await
    .expect("updated");
    assert_eq!(updated.permissions, [VIEW_USER]);

    let emptied = as_admin!(
        gatehouse,
        &manager,
        update_group(
            id,
            GroupChanges {
                name: None,
                permissions: Some(Vec::new())
            }
        )
    )
    .await
    .expect("updated");
    assert!(emptied.permissions.is_empty());
}

#[tokio::test]
async fn staff_may_keep_in_a_group_permissions_he_lacks_while_adding_ones_he_holds() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP, VIEW_USER]);
    fakes.store.grant_group_permission("ops", DELETE_USER);
    let id = group_id(&fakes, "ops");

    let updated = as_admin!(
        gatehouse,
        &manager,
        update_group(
            id,
            GroupChanges {
                name: None,
                permissions: Some(strings(&[DELETE_USER, VIEW_USER]))
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(updated.permissions, [DELETE_USER, VIEW_USER]);
}

#[tokio::test]
async fn staff_may_rename_a_group_holding_permissions_he_lacks() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP]);
    fakes.store.grant_group_permission("ops", DELETE_USER);
    let id = group_id(&fakes, "ops");

    let updated = as_admin!(
        gatehouse,
        &manager,
        update_group(
            id,
            GroupChanges {
                name: Some("operations".to_owned()),
                permissions: None
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(updated.name, "operations");
    assert_eq!(updated.permissions, [DELETE_USER]);
}

#[tokio::test]
async fn staff_adding_an_unknown_permission_is_forbidden_as_he_lacks_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP]);
    fakes.store.create_group("ops");

    forbidden(
        as_admin!(
            gatehouse,
            &manager,
            update_group(
                group_id(&fakes, "ops"),
                GroupChanges {
                    name: None,
                    permissions: Some(strings(&["nope.nope"]))
                }
            )
        )
        .await,
    );

    assert!(fakes.store.permissions_of_group("ops").is_empty());
}

#[tokio::test]
async fn an_update_of_a_missing_group_is_not_found_before_the_guard() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP]);

    not_found(
        as_admin!(
            gatehouse,
            &manager,
            update_group(
                NOWHERE,
                GroupChanges {
                    name: None,
                    permissions: Some(strings(&[DELETE_USER]))
                }
            )
        )
        .await,
    );
    not_found(
        as_admin!(
            gatehouse,
            &manager,
            update_group(
                NOWHERE,
                GroupChanges {
                    name: Some("x".to_owned()),
                    permissions: None
                }
            )
        )
        .await,
    );
}

#[tokio::test]
async fn a_superuser_may_add_any_permission_to_a_group() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.create_permission("billing.refund");
    fakes.store.create_group("ops");

    let updated = as_admin!(
        gatehouse,
        &root,
        update_group(
            group_id(&fakes, "ops"),
            GroupChanges {
                name: None,
                permissions: Some(strings(&["billing.refund", DELETE_USER]))
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(updated.permissions, [DELETE_USER, "billing.refund"]);
}

#[tokio::test]
async fn a_permission_removed_meanwhile_is_not_put_back_by_staff_who_lacks_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[CHANGE_GROUP, VIEW_USER]);
    fakes.store.grant_group_permission("ops", DELETE_USER);
    let id = group_id(&fakes, "ops");
    // The manager sends the group back as he read it, plus one he holds; meanwhile a
    // superuser takes `delete_user` out of it.
    fakes
        .store
        .after_next_group_lookup(|store| store.set_group_permissions("ops", &[]));

    let result = as_admin!(
        gatehouse,
        &manager,
        update_group(
            id,
            GroupChanges {
                name: None,
                permissions: Some(strings(&[DELETE_USER, VIEW_USER]))
            }
        )
    )
    .await;

    // The guard is judged at the write, against the group as it is then.
    forbidden(result);
    assert!(
        fakes.store.permissions_of_group("ops").is_empty(),
        "the manager granted {DELETE_USER}, which he lacks, to the group"
    );
}

// ---------------------------------------------------------------------------
// Deleting groups

#[tokio::test]
async fn a_deleted_group_is_gone_and_its_members_lose_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[DELETE_GROUP]);
    let bob = user(&fakes, "bob");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    fakes.store.add_to_group(bob.id, "ops");
    fakes.store.add_to_group(bob.id, "editors");
    let id = group_id(&fakes, "ops");

    as_admin!(gatehouse, &manager, delete_group(id))
        .await
        .expect("deleted");

    assert_eq!(fakes.store.group_names(), ["editors"]);
    assert_eq!(fakes.store.groups_of(bob.id), ["editors"]);
    assert_eq!(fakes.store.group(id), None);
    not_found(as_admin!(gatehouse, &manager, delete_group(id)).await);
    let root = superuser(&fakes, "root");
    not_found(as_admin!(gatehouse, &root, get_group(id)).await);
}

#[tokio::test]
async fn staff_may_delete_a_group_holding_permissions_he_lacks() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[DELETE_GROUP]);
    fakes.store.grant_group_permission("ops", DELETE_USER);

    as_admin!(gatehouse, &manager, delete_group(group_id(&fakes, "ops")))
        .await
        .expect("deleted");

    assert!(fakes.store.group_names().is_empty());
}

// ---------------------------------------------------------------------------
// Permissions

#[tokio::test]
async fn permissions_are_listed_by_app_label_then_codename_with_the_total_count() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[VIEW_PERMISSION]);
    fakes.store.create_permission("billing.refund");
    fakes.store.create_permission("accounts.zap");
    fakes.store.create_permission("billing.charge");
    fakes.store.create_permission("zoo.add_animal");

    let page = as_admin!(gatehouse, &manager, list_permissions(0, 100))
        .await
        .expect("listed");

    let mut expected = vec!["accounts.zap".to_owned()];
    expected.extend(strings(&SEEDED_PERMISSIONS));
    expected.extend(strings(&[
        "billing.charge",
        "billing.refund",
        "zoo.add_animal",
    ]));
    assert_eq!(page.count, 17);
    assert_eq!(codes(&page.items), expected);
}

#[tokio::test]
async fn a_page_of_permissions_counts_them_all() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let page = as_admin!(gatehouse, &root, list_permissions(2, 3))
        .await
        .expect("listed");

    assert_eq!(page.count, 13);
    assert_eq!(codes(&page.items), &SEEDED_PERMISSIONS[2..5]);

    let past = as_admin!(gatehouse, &root, list_permissions(13, 3))
        .await
        .expect("listed");
    assert_eq!(past.count, 13);
    assert!(past.items.is_empty());
}

#[tokio::test]
async fn the_seeded_permissions_carry_djangos_names() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let page = as_admin!(gatehouse, &root, list_permissions(0, 100))
        .await
        .expect("listed");

    let view_group = page
        .items
        .iter()
        .find(|p| p.code() == VIEW_GROUP)
        .expect("seeded");
    assert_eq!(view_group.name, "Can view group");
    assert_eq!(view_group.app_label, "auth");
    assert_eq!(view_group.codename, "view_group");
}

#[tokio::test]
async fn a_permission_is_read_by_id() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[VIEW_PERMISSION]);
    let root = superuser(&fakes, "root");
    let created = as_admin!(
        gatehouse,
        &root,
        create_permission(new_permission("billing", "refund", "Can refund"))
    )
    .await
    .expect("created");

    let found = as_admin!(gatehouse, &manager, get_permission(created.id))
        .await
        .expect("found");

    assert_eq!(
        found,
        Permission {
            id: created.id,
            name: "Can refund".to_owned(),
            app_label: "billing".to_owned(),
            codename: "refund".to_owned(),
        }
    );
    assert_eq!(found.code(), "billing.refund");
}

#[tokio::test]
async fn staff_creates_a_custom_permission_that_grants_nothing_until_assigned() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[ADD_PERMISSION]);
    let bob = user(&fakes, "bob");
    fakes.store.add_to_group(bob.id, "ops");
    let pair = log_in(&gatehouse, "bob").await;

    let created = as_admin!(
        gatehouse,
        &manager,
        create_permission(new_permission("billing", "refund", "Can refund"))
    )
    .await
    .expect("created");

    assert_eq!(created.name, "Can refund");
    assert_eq!(created.code(), "billing.refund");
    assert_eq!(fakes.store.permission("billing.refund"), Some(created));
    let (_, permissions, next) = after_refresh(&gatehouse, &fakes, &pair.refresh).await;
    assert!(permissions.is_empty());
    assert_eq!(
        fakes.store.direct_permissions_of(manager.id),
        [ADD_PERMISSION]
    );

    // Assigned to his group, it is his at the next refresh.
    let root = superuser(&fakes, "root");
    as_admin!(
        gatehouse,
        &root,
        update_group(
            group_id(&fakes, "ops"),
            GroupChanges {
                name: None,
                permissions: Some(strings(&["billing.refund"]))
            }
        )
    )
    .await
    .expect("assigned");
    let (_, permissions, _) = after_refresh(&gatehouse, &fakes, &next).await;
    assert_eq!(permissions, ["billing.refund"]);
}

#[tokio::test]
async fn a_created_permission_may_then_be_granted_to_a_group() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.create_group("ops");
    let id = group_id(&fakes, "ops");
    invalid(
        as_admin!(
            gatehouse,
            &root,
            update_group(
                id,
                GroupChanges {
                    name: None,
                    permissions: Some(strings(&["billing.refund"]))
                }
            )
        )
        .await,
    );

    as_admin!(
        gatehouse,
        &root,
        create_permission(new_permission("billing", "refund", "Can refund"))
    )
    .await
    .expect("created");
    let updated = as_admin!(
        gatehouse,
        &root,
        update_group(
            id,
            GroupChanges {
                name: None,
                permissions: Some(strings(&["billing.refund"]))
            }
        )
    )
    .await
    .expect("updated");

    assert_eq!(updated.permissions, ["billing.refund"]);
}

#[tokio::test]
async fn a_superuser_holds_a_created_permission_at_his_next_refresh() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let pair = log_in(&gatehouse, "root").await;

    as_admin!(
        gatehouse,
        &root,
        create_permission(new_permission("billing", "refund", "Can refund"))
    )
    .await
    .expect("created");

    let (_, permissions, _) = after_refresh(&gatehouse, &fakes, &pair.refresh).await;
    let mut expected = strings(&SEEDED_PERMISSIONS);
    expected.push("billing.refund".to_owned());
    assert_eq!(permissions, expected);
}

#[tokio::test]
async fn an_existing_app_label_and_codename_is_refused_and_nothing_changes() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    fakes.store.create_permission("billing.refund");
    let before = snapshot(&fakes, &[]);

    for clash in [
        new_permission("auth", "view_user", "Can see users"),
        new_permission("billing", "refund", "Another name"),
    ] {
        let errors = invalid(as_admin!(gatehouse, &root, create_permission(clash)).await);
        assert_eq!(
            fields(&errors),
            [(ValidationErrors::NON_FIELD, vec![DUPLICATE_PERMISSION])]
        );
    }

    assert_eq!(snapshot(&fakes, &[]), before);
}

#[tokio::test]
async fn a_codename_may_repeat_under_another_app_label_and_a_name_anywhere() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");

    let billing = as_admin!(
        gatehouse,
        &root,
        create_permission(new_permission("billing", "view_user", "Can view user"))
    )
    .await
    .expect("created");
    let refund = as_admin!(
        gatehouse,
        &root,
        create_permission(new_permission("billing", "refund", "Can view user"))
    )
    .await
    .expect("created");

    assert_ne!(billing.id, refund.id);
    assert_ne!(billing.id, permission_id(&fakes, VIEW_USER));
    assert_eq!(fakes.store.permission_codes().len(), 15);
}

#[tokio::test]
async fn a_deleted_permission_leaves_every_group_and_direct_grant() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[DELETE_PERMISSION]);
    let bob = user(&fakes, "bob");
    let carol = user(&fakes, "carol");
    fakes.store.grant_group_permission("ops", "billing.refund");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    fakes
        .store
        .grant_group_permission("billing", "billing.refund");
    fakes.store.grant_user_permission(bob.id, "billing.refund");
    fakes.store.grant_user_permission(bob.id, ADD_USER);
    fakes
        .store
        .grant_user_permission(carol.id, "billing.refund");
    let id = permission_id(&fakes, "billing.refund");

    as_admin!(gatehouse, &manager, delete_permission(id))
        .await
        .expect("deleted");

    assert_eq!(fakes.store.permission("billing.refund"), None);
    assert_eq!(fakes.store.permissions_of_group("ops"), [VIEW_USER]);
    assert!(fakes.store.permissions_of_group("billing").is_empty());
    assert_eq!(fakes.store.group_names(), ["billing", "ops"]);
    assert_eq!(fakes.store.direct_permissions_of(bob.id), [ADD_USER]);
    assert!(fakes.store.direct_permissions_of(carol.id).is_empty());
    not_found(as_admin!(gatehouse, &manager, delete_permission(id)).await);
    let root = superuser(&fakes, "root");
    not_found(as_admin!(gatehouse, &root, get_permission(id)).await);
    assert_eq!(
        as_admin!(gatehouse, &root, list_permissions(0, 100))
            .await
            .expect("listed")
            .count,
        13
    );
}

#[tokio::test]
async fn staff_may_delete_a_permission_he_lacks() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[DELETE_PERMISSION]);
    let id = permission_id(&fakes, DELETE_USER);

    as_admin!(gatehouse, &manager, delete_permission(id))
        .await
        .expect("deleted");

    assert_eq!(fakes.store.permission(DELETE_USER), None);
}

// ---------------------------------------------------------------------------
// Effects on members

#[tokio::test]
async fn a_members_permissions_follow_his_groups_at_his_next_refresh() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    fakes.store.grant_user_permission(bob.id, ADD_USER);
    let ops = as_admin!(
        gatehouse,
        &root,
        create_group("ops".to_owned(), strings(&[VIEW_USER]))
    )
    .await
    .expect("created");
    fakes.store.add_to_group(bob.id, "ops");
    let pair = log_in(&gatehouse, "bob").await;
    let first = fakes.claims(&pair.access).user.expect("user claims");
    assert_eq!(first.groups, ["ops"]);
    assert_eq!(first.permissions, [ADD_USER, VIEW_USER]);

    as_admin!(
        gatehouse,
        &root,
        update_group(
            ops.id,
            GroupChanges {
                name: None,
                permissions: Some(strings(&[DELETE_USER, VIEW_USER]))
            }
        )
    )
    .await
    .expect("updated");
    // The token he holds is as it was issued.
    assert_eq!(
        fakes
            .claims(&pair.access)
            .user
            .expect("user claims")
            .permissions,
        [ADD_USER, VIEW_USER]
    );
    let (groups, permissions, next) = after_refresh(&gatehouse, &fakes, &pair.refresh).await;
    assert_eq!(groups, ["ops"]);
    assert_eq!(permissions, [ADD_USER, DELETE_USER, VIEW_USER]);

    as_admin!(
        gatehouse,
        &root,
        update_group(
            ops.id,
            GroupChanges {
                name: Some("operations".to_owned()),
                permissions: Some(Vec::new())
            }
        )
    )
    .await
    .expect("updated");
    let (groups, permissions, _) = after_refresh(&gatehouse, &fakes, &next).await;
    assert_eq!(groups, ["operations"]);
    assert_eq!(permissions, [ADD_USER]);
}

#[tokio::test]
async fn a_member_loses_a_deleted_groups_permissions_at_his_next_refresh() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    fakes.store.grant_group_permission("ops", DELETE_USER);
    fakes.store.grant_group_permission("editors", VIEW_USER);
    fakes.store.add_to_group(bob.id, "ops");
    fakes.store.add_to_group(bob.id, "editors");
    let pair = log_in(&gatehouse, "bob").await;
    let first = fakes.claims(&pair.access).user.expect("user claims");
    assert_eq!(first.groups, ["editors", "ops"]);
    assert_eq!(first.permissions, [DELETE_USER, VIEW_USER]);

    as_admin!(gatehouse, &root, delete_group(group_id(&fakes, "ops")))
        .await
        .expect("deleted");

    let (groups, permissions, _) = after_refresh(&gatehouse, &fakes, &pair.refresh).await;
    assert_eq!(groups, ["editors"]);
    // Still held through the other group.
    assert_eq!(permissions, [VIEW_USER]);
}

#[tokio::test]
async fn a_member_loses_a_deleted_permission_at_his_next_refresh() {
    let (gatehouse, fakes) = default_gatehouse();
    let root = superuser(&fakes, "root");
    let bob = user(&fakes, "bob");
    fakes.store.grant_group_permission("ops", "billing.refund");
    fakes.store.grant_group_permission("ops", VIEW_USER);
    fakes.store.add_to_group(bob.id, "ops");
    fakes.store.grant_user_permission(bob.id, "billing.refund");
    let pair = log_in(&gatehouse, "bob").await;
    let first = fakes.claims(&pair.access).user.expect("user claims");
    assert_eq!(first.permissions, [VIEW_USER, "billing.refund"]);

    as_admin!(
        gatehouse,
        &root,
        delete_permission(permission_id(&fakes, "billing.refund"))
    )
    .await
    .expect("deleted");

    let (groups, permissions, _) = after_refresh(&gatehouse, &fakes, &pair.refresh).await;
    assert_eq!(groups, ["ops"]);
    assert_eq!(permissions, [VIEW_USER]);
}

#[tokio::test]
async fn staff_who_deletes_his_own_model_permission_loses_it() {
    let (gatehouse, fakes) = default_gatehouse();
    let manager = staff(&fakes, "manager", &[DELETE_PERMISSION, VIEW_PERMISSION]);
    as_admin!(gatehouse, &manager, list_permissions(0, 10))
        .await
        .expect("allowed while he holds it");

    as_admin!(
        gatehouse,
        &manager,
        delete_permission(permission_id(&fakes, VIEW_PERMISSION))
    )
    .await
    .expect("deleted");

    forbidden(as_admin!(gatehouse, &manager, list_permissions(0, 10)).await);
    assert_eq!(
        fakes.store.direct_permissions_of(manager.id),
        [DELETE_PERMISSION]
    );
}
