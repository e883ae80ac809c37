//! `UserAdminRepository` over PostgreSQL: users with their groups and direct grants.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::dsl::{AsSelect, sql};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::admin::{AdminUser, Page, UserDraft, UserListQuery, UserOrder, UserPatch};
use domain::authorization::Authority;
use domain::ports::{SaveUserError, UserAdminRepository};
use domain::{AuditEvent, RepositoryError, TokenPurpose, UserId};

use crate::db::{PgPool, Step, TxError, connection, settle};
use crate::pg_user_repository::{UserRow, profile, profile_columns};
use crate::schema::{groups, user_groups, users};
use crate::sql::{
    gatehouse_direct_permissions, gatehouse_effective_permissions, gatehouse_group_names,
};
use crate::tx::{self, USER_GROUPS, USER_PERMISSIONS};

#[derive(Clone)]
pub struct PgUserAdminRepository {
    pool: PgPool,
}

impl PgUserAdminRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A user's profile and his direct grants.
type AdminRow = (UserRow, Vec<String>, Vec<String>, Vec<String>);

/// The columns of an `AdminRow`.
type AdminColumns = (
    AsSelect<UserRow, Pg>,
    gatehouse_group_names<users::id>,
    gatehouse_effective_permissions<users::id, users::is_superuser>,
    gatehouse_direct_permissions<users::id>,
);

fn admin_columns() -> AdminColumns {
    let (user, groups, permissions) = profile_columns();
    (
        user,
        groups,
        permissions,
        gatehouse_direct_permissions(users::id),
    )
}

fn admin_user((user, groups, permissions, direct): AdminRow) -> AdminUser {
    AdminUser {
        profile: profile((user, groups, permissions)),
        user_permissions: direct,
    }
}

/// The four searchable fields in one lower-cased string (see the migration).
const SEARCH_EXPRESSION: &str = "lower(users.username || ' ' || users.email || ' ' || users.first_name || ' ' || users.last_name)";

/// `LIKE` pattern matching `term` anywhere, with its wildcards escaped.
fn contains(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The users a query selects, before ordering and slicing.
fn filtered(query: &UserListQuery) -> users::BoxedQuery<'static, Pg> {
    let mut selected = users::table.into_boxed();
    for term in &query.search_terms {
        // The expression of users_search_trgm_idx, so that index serves the match.
        selected = selected.filter(
            sql::<Bool>(SEARCH_EXPRESSION)
                .sql(" LIKE lower(")
                .bind::<Text, _>(contains(term))
                .sql(")"),
        );
    }
    if let Some(active) = query.is_active {
        selected = selected.filter(users::is_active.eq(active));
    }
    if let Some(staff) = query.is_staff {
        selected = selected.filter(users::is_staff.eq(staff));
    }
    if let Some(superuser) = query.is_superuser {
        selected = selected.filter(users::is_superuser.eq(superuser));
    }
    if let Some(group) = query.group {
        let members = user_groups::table
            .filter(user_groups::group_id.eq(group))
            .select(user_groups::user_id);
        selected = selected.filter(users::id.eq_any(members));
    }
    selected
}

/// Applies a list's ordering to a boxed query over `users`, ties broken on id.
macro_rules! ordered {
    ($query:expr, $ordering:expr) => {{
        let mut query = $query;
        for (field, descending) in $ordering {
            query = match (field, descending) {
                (UserOrder::Id, false) => query.then_order_by(users::id.asc()),
                (UserOrder::Id, true) => query.then_order_by(users::id.desc()),
                (UserOrder::Username, false) => query.then_order_by(users::username.asc()),
                (UserOrder::Username, true) => query.then_order_by(users::username.desc()),
                (UserOrder::Email, false) => query.then_order_by(users::email.asc()),
                (UserOrder::Email, true) => query.then_order_by(users::email.desc()),
                (UserOrder::DateJoined, false) => query.then_order_by(users::date_joined.asc()),
                (UserOrder::DateJoined, true) => query.then_order_by(users::date_joined.desc()),
                (UserOrder::LastLogin, false) => {
                    query.then_order_by(users::last_login.asc().nulls_first())
                }
                (UserOrder::LastLogin, true) => {
                    query.then_order_by(users::last_login.desc().nulls_last())
                }
            };
        }
        query.then_order_by(users::id.asc())
    }};
}

async fn load(conn: &mut AsyncPgConnection, id: i64) -> anyhow::Result<Option<AdminUser>> {
    let row: Option<AdminRow> = users::table
        .find(id)
        .select(admin_columns())
        .first(conn)
        .await
        .optional()
        .context("while reading the user")?;
    Ok(row.map(admin_user))
}

/// Makes `names` the user's groups, or refuses the names that name no group, and
/// groups granting more than `authority` may: judged on the groups the names resolve
/// to here, locked until the commit, so a concurrent rename cannot swap one in.
async fn set_groups(
    conn: &mut AsyncPgConnection,
    user: i64,
    names: &[String],
    authority: &Authority,
) -> Result<(), TxError<SaveUserError>> {
    let ids = tx::group_ids(conn, names)
        .await?
        .map_err(|unknown| TxError::Refused(SaveUserError::UnknownGroups(unknown)))?;
    if !authority.is_superuser() {
        let granted = tx::permissions_of_groups(conn, &ids).await?;
        if !authority.may_grant(&granted) {
            return Err(TxError::Refused(SaveUserError::Forbidden));
        }
    }
    Ok(tx::replace_links(conn, &USER_GROUPS, user, &ids).await?)
}

/// Makes `codes` the user's direct grants, or refuses the codes that name nothing.
async fn set_permissions(
    conn: &mut AsyncPgConnection,
    user: i64,
    codes: &[String],
) -> Result<(), TxError<SaveUserError>> {
    let ids = tx::permission_ids(conn, codes)
        .await?
        .map_err(|unknown| TxError::Refused(SaveUserError::UnknownPermissions(unknown)))?;
    Ok(tx::replace_links(conn, &USER_PERMISSIONS, user, &ids).await?)
}

/// A clash with another user, as the port names it.
fn clash(constraint: &str) -> Option<SaveUserError> {
    match constraint {
        "users_email_lower_key" => Some(SaveUserError::DuplicateEmail),
        "users_username_key" => Some(SaveUserError::DuplicateUsername),
        _ => None,
    }
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
struct UserChangeset {
    username: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    is_active: Option<bool>,
    is_staff: Option<bool>,
    is_superuser: Option<bool>,
    pending_activation: Option<bool>,
}

impl UserChangeset {
    fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.email.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
            && self.is_active.is_none()
            && self.is_staff.is_none()
            && self.is_superuser.is_none()
    }
}

impl UserAdminRepository for PgUserAdminRepository {
    async fn list(&self, query: &UserListQuery) -> Result<Page<AdminUser>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let count: i64 = filtered(query)
            .count()
            .get_result(&mut conn)
            .await
            .step("while counting the users of a list")?;
        // The page's ids first, so the aggregates below run for its rows only (in one
        // statement, projected columns are computed for every row OFFSET skips).
        let page_ids = ordered!(filtered(query).select(users::id), &query.ordering)
            .offset(query.offset)
            .limit(query.limit);
        let rows = users::table
            .into_boxed()
            .filter(users::id.eq_any(page_ids))
            .select(admin_columns());
        let items: Vec<AdminRow> = ordered!(rows, &query.ordering)
            .load(&mut conn)
            .await
            .step("while reading a page of users")?;
        Ok(Page {
            count,
            items: items.into_iter().map(admin_user).collect(),
        })
    }

    async fn get(&self, id: UserId) -> Result<Option<AdminUser>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        load(&mut conn, id.0).await.step("while reading a user")
    }

    async fn create(
        &self,
        draft: UserDraft,
        authority: &Authority,
        audit: AuditEvent,
    ) -> Result<AdminUser, SaveUserError> {
        let mut conn = connection(&self.pool).await?;
        // Django's `set_unusable_password`: a hash no password matches.
        let password = draft
            .password_hash
            .clone()
            .unwrap_or_else(|| format!("!{}", uuid::Uuid::new_v4().simple()));
        let result = conn
            .transaction(async |conn| {
                let id: i64 = diesel::insert_into(users::table)
                    .values((
                        users::username.eq(draft.username.as_str()),
                        users::email.eq(draft.email.as_str()),
                        users::password.eq(&password),
                        users::first_name.eq(&draft.first_name),
                        users::last_name.eq(&draft.last_name),
                        users::is_active.eq(draft.is_active),
                        users::is_staff.eq(draft.is_staff),
                        users::is_superuser.eq(draft.is_superuser),
                        users::date_joined.eq(draft.now),
                        users::password_changed_at.eq(draft.now),
                    ))
                    .returning(users::id)
                    .get_result(conn)
                    .await
                    .context("while inserting the user")?;
                set_groups(conn, id, &draft.groups, authority).await?;
                set_permissions(conn, id, &draft.user_permissions).await?;
                tx::record(conn, &audit.clone().subject(UserId(id))).await?;
                let created = load(conn, id).await?;
                Ok(created.context("the new user vanished")?)
            })
            .await
            .map_err(|error: TxError<SaveUserError>| error.unique(clash));
        settle(result, "while creating a user")?
    }

    async fn update(
        &self,
        id: UserId,
        patch: UserPatch,
        authority: &Authority,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<Option<AdminUser>, SaveUserError> {
        let mut conn = connection(&self.pool).await?;
        let result = conn
            .transaction(async |conn| {
                // Locked until the commit (as the UPDATE below would lock it, so keys
                // may still reference it): no other admin's write of this user lands
                // between the judgement below and this one.
                // The user's lock first, as every other write of his sessions and
                // credentials takes it: the deactivation below revokes sessions.
                tx::lock_user(conn, id.0).await?;
                let locked: Option<String> = users::table
                    .find(id.0)
                    .select(users::email)
                    .for_no_key_update()
                    .first(conn)
                    .await
                    .optional()
                    .context("while locking the user")?;
                let Some(old_email) = locked else {
                    return Ok(None);
                };
                let new_email = patch
                    .email
                    .as_ref()
                    .filter(|email| email.as_str() != old_email);
                if patch.reaches_account() && !authority.is_superuser() {
                    // His groups too, so that no edit of theirs lands between this
                    // judgement of what he holds and the commit.
                    groups::table
                        .filter(
                            groups::id.eq_any(
                                user_groups::table
                                    .filter(user_groups::user_id.eq(id.0))
                                    .select(user_groups::group_id),
                            ),
                        )
                        .select(groups::id)
                        .for_share()
                        .load::<i64>(conn)
                        .await
                        .context("while locking the user's groups")?;
                    let target = load(conn, id.0).await?.context("the user vanished")?;
                    if !authority.may_manage(&target.profile) {
                        return Err(TxError::Refused(SaveUserError::Forbidden));
                    }
                }
                let changes = UserChangeset {
                    username: patch.username.as_ref().map(|u| u.as_str().to_owned()),
                    email: patch.email.as_ref().map(|e| e.as_str().to_owned()),
                    first_name: patch.first_name.clone(),
                    last_name: patch.last_name.clone(),
                    is_active: patch.is_active,
                    is_staff: patch.is_staff,
                    is_superuser: patch.is_superuser,
                    // An admin's word on activity settles any pending activation.
                    pending_activation: patch.is_active.map(|_| false),
                };
                if !changes.is_empty() {
                    diesel::update(users::table.find(id.0))
                        .set(&changes)
                        .execute(conn)
                        .await
                        .context("while updating the user")?;
                }
                if patch.is_active.is_some() || new_email.is_some() {
                    tx::retire_tokens(conn, id.0, TokenPurpose::Activation, at).await?;
                }
                if new_email.is_some() {
                    // Sent to the old address: whoever reads it no longer owns the account.
                    tx::retire_tokens(conn, id.0, TokenPurpose::Reset, at).await?;
                }
                if patch.is_active == Some(false) {
                    tx::revoke_sessions(conn, id.0, None, at).await?;
                    tx::delete_api_keys(conn, id.0).await?;
                }
                if let Some(names) = &patch.groups {
                    set_groups(conn, id.0, names, authority).await?;
                }
                if let Some(codes) = &patch.user_permissions {
                    set_permissions(conn, id.0, codes).await?;
                }
                tx::record(conn, &audit).await?;
                Ok(load(conn, id.0).await?)
            })
            .await
            .map_err(|error: TxError<SaveUserError>| error.unique(clash));
        settle(result, "while updating a user")?
    }
}
