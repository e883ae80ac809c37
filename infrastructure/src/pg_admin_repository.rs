//! `AdminRepository` over PostgreSQL.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::admin::{
    AdminUser, Group, NewPermission, Page, Permission, UserDraft, UserListQuery, UserOrder,
    UserPatch,
};
use domain::ports::{AdminRepository, AdminWriteError};
use domain::{AuditEvent, RepositoryError, TokenPurpose, UserId, UserProfile};

use crate::db::{PgPool, connection, query_error, violated_unique_constraint};
use crate::pg_audit_log::record_event;
use crate::pg_session_repository::{delete_api_keys, revoke_user_sessions};
use crate::pg_user_repository::UserRow;
use crate::schema::{groups, one_time_tokens, permissions, user_groups, user_permissions, users};

#[derive(Clone)]
pub struct PgAdminRepository {
    pool: PgPool,
}

impl PgAdminRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A group's permissions, sorted.
const GROUP_PERMISSIONS: &str = "ARRAY(SELECT p.app_label || '.' || p.codename FROM permissions p \
     JOIN group_permissions gp ON gp.permission_id = p.id WHERE gp.group_id = groups.id ORDER BY 1)";

/// The user's group names, sorted.
const GROUP_NAMES: &str = "ARRAY(SELECT g.name FROM groups g JOIN user_groups ug ON ug.group_id = g.id \
     WHERE ug.user_id = users.id ORDER BY g.name)";
/// His effective permissions: every one for a superuser, else direct and group grants.
const EFFECTIVE_PERMISSIONS: &str = "ARRAY(SELECT p.app_label || '.' || p.codename FROM permissions p \
     WHERE users.is_superuser \
        OR p.id IN (SELECT up.permission_id FROM user_permissions up WHERE up.user_id = users.id) \
        OR p.id IN (SELECT gp.permission_id FROM group_permissions gp \
                    JOIN user_groups ug ON ug.group_id = gp.group_id WHERE ug.user_id = users.id) \
     ORDER BY 1)";
/// His direct grants.
const DIRECT_PERMISSIONS: &str = "ARRAY(SELECT p.app_label || '.' || p.codename FROM permissions p \
     JOIN user_permissions up ON up.permission_id = p.id WHERE up.user_id = users.id ORDER BY 1)";

type AdminRow = (UserRow, Vec<String>, Vec<String>, Vec<String>);

fn admin_user((user, groups, permissions, direct): AdminRow) -> AdminUser {
    AdminUser {
        profile: UserProfile {
            user: user.into(),
            groups,
            permissions,
        },
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

async fn load_admin_user(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<AdminUser>> {
    let row: Option<AdminRow> = users::table
        .find(id)
        .select((
            UserRow::as_select(),
            sql::<Array<Text>>(GROUP_NAMES),
            sql::<Array<Text>>(EFFECTIVE_PERMISSIONS),
            sql::<Array<Text>>(DIRECT_PERMISSIONS),
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(admin_user))
}

/// Ids of the named groups; the names that matched no group are the error.
async fn group_ids(
    conn: &mut AsyncPgConnection,
    names: &[String],
) -> Result<Vec<i64>, AdminWriteError> {
    let found: Vec<(i64, String)> = groups::table
        .filter(groups::name.eq_any(names))
        .select((groups::id, groups::name))
        .load(conn)
        .await
        .map_err(query_error)?;
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| !found.iter().any(|(_, f)| f == *n))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(AdminWriteError::UnknownGroups(unknown));
    }
    Ok(found.into_iter().map(|(id, _)| id).collect())
}

/// Ids of the `app_label.codename` permissions; unknown ones are the error.
pub(crate) async fn permission_ids(
    conn: &mut AsyncPgConnection,
    codes: &[String],
) -> Result<Vec<i64>, AdminWriteError> {
    let found: Vec<(i64, String)> = permissions::table
        .filter(
            sql::<diesel::sql_types::Bool>("app_label || '.' || codename = ANY(")
                .bind::<Array<Text>, _>(codes.to_vec())
                .sql(")"),
        )
        .select((permissions::id, sql::<Text>("app_label || '.' || codename")))
        .load(conn)
        .await
        .map_err(query_error)?;
    let unknown: Vec<String> = codes
        .iter()
        .filter(|c| !found.iter().any(|(_, f)| f == *c))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(AdminWriteError::UnknownPermissions(unknown));
    }
    Ok(found.into_iter().map(|(id, _)| id).collect())
}

async fn set_groups(
    conn: &mut AsyncPgConnection,
    user: i64,
    names: &[String],
) -> Result<(), AdminWriteError> {
    let ids = group_ids(conn, names).await?;
    diesel::delete(user_groups::table.filter(user_groups::user_id.eq(user)))
        .execute(conn)
        .await
        .map_err(query_error)?;
    let rows: Vec<_> = ids
        .iter()
        .map(|g| (user_groups::user_id.eq(user), user_groups::group_id.eq(*g)))
        .collect();
    diesel::insert_into(user_groups::table)
        .values(rows)
        .execute(conn)
        .await
        .map_err(query_error)?;
    Ok(())
}

async fn set_user_permissions(
    conn: &mut AsyncPgConnection,
    user: i64,
    codes: &[String],
) -> Result<(), AdminWriteError> {
    let ids = permission_ids(conn, codes).await?;
    diesel::delete(user_permissions::table.filter(user_permissions::user_id.eq(user)))
        .execute(conn)
        .await
        .map_err(query_error)?;
    let rows: Vec<_> = ids
        .iter()
        .map(|p| {
            (
                user_permissions::user_id.eq(user),
                user_permissions::permission_id.eq(*p),
            )
        })
        .collect();
    diesel::insert_into(user_permissions::table)
        .values(rows)
        .execute(conn)
        .await
        .map_err(query_error)?;
    Ok(())
}

fn unique_violation(error: diesel::result::Error) -> AdminWriteError {
    match violated_unique_constraint(&error) {
        Some("users_email_lower_key") => AdminWriteError::DuplicateEmail,
        Some("users_username_key") => AdminWriteError::DuplicateUsername,
        Some("groups_name_key") => AdminWriteError::DuplicateGroupName,
        Some("permissions_app_label_codename_key") => AdminWriteError::DuplicatePermission,
        _ => query_error(error).into(),
    }
}

/// A transaction's error: ours as they are, diesel's mapped.
enum TxError {
    Admin(AdminWriteError),
    Diesel(diesel::result::Error),
}

impl From<diesel::result::Error> for TxError {
    fn from(error: diesel::result::Error) -> Self {
        TxError::Diesel(error)
    }
}

impl From<AdminWriteError> for TxError {
    fn from(error: AdminWriteError) -> Self {
        TxError::Admin(error)
    }
}

impl From<TxError> for AdminWriteError {
    fn from(error: TxError) -> Self {
        match error {
            TxError::Admin(error) => error,
            TxError::Diesel(error) => unique_violation(error),
        }
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

impl AdminRepository for PgAdminRepository {
    async fn list_users(&self, query: &UserListQuery) -> Result<Page<AdminUser>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let count: i64 = filtered(query)
            .count()
            .get_result(&mut conn)
            .await
            .map_err(query_error)?;
        // The page's ids first, so the aggregates below run for its rows only (in one
        // statement, projected columns are computed for every row OFFSET skips).
        let page_ids = ordered!(filtered(query).select(users::id), &query.ordering)
            .offset(query.offset)
            .limit(query.limit);
        let rows = users::table
            .into_boxed()
            .filter(users::id.eq_any(page_ids))
            .select((
                UserRow::as_select(),
                sql::<Array<Text>>(GROUP_NAMES),
                sql::<Array<Text>>(EFFECTIVE_PERMISSIONS),
                sql::<Array<Text>>(DIRECT_PERMISSIONS),
            ));
        let items: Vec<AdminRow> = ordered!(rows, &query.ordering)
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        Ok(Page {
            count,
            items: items.into_iter().map(admin_user).collect(),
        })
    }

    async fn get_user(&self, id: UserId) -> Result<Option<AdminUser>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        load_admin_user(&mut conn, id.0).await.map_err(query_error)
    }

    async fn permissions_of_groups(
        &self,
        names: &[String],
    ) -> Result<Vec<String>, RepositoryError> {
        use crate::schema::group_permissions;
        let mut conn = connection(&self.pool).await?;
        permissions::table
            .inner_join(
                group_permissions::table.on(group_permissions::permission_id.eq(permissions::id)),
            )
            .inner_join(groups::table.on(groups::id.eq(group_permissions::group_id)))
            .filter(groups::name.eq_any(names))
            .select(sql::<Text>(
                "DISTINCT permissions.app_label || '.' || permissions.codename",
            ))
            .load(&mut conn)
            .await
            .map_err(query_error)
    }

    async fn create_user(
        &self,
        draft: UserDraft,
        audit: AuditEvent,
    ) -> Result<AdminUser, AdminWriteError> {
        let mut conn = connection(&self.pool).await?;
        let password = draft
            .password_hash
            .clone()
            .unwrap_or_else(|| format!("!{}", uuid::Uuid::new_v4().simple()));
        conn.transaction(async |conn| {
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
                .await?;
            set_groups(conn, id, &draft.groups).await?;
            set_user_permissions(conn, id, &draft.user_permissions).await?;
            record_event(conn, &audit.clone().subject(UserId(id))).await?;
            let user = load_admin_user(conn, id).await?;
            user.ok_or_else(|| AdminWriteError::NotFound.into())
        })
        .await
        .map_err(|error: TxError| error.into())
    }

    async fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<AdminUser, AdminWriteError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let exists: bool = diesel::select(diesel::dsl::exists(users::table.find(id.0)))
                .get_result(conn)
                .await?;
            if !exists {
                return Err(AdminWriteError::NotFound.into());
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
            if changes.username.is_some()
                || changes.email.is_some()
                || changes.first_name.is_some()
                || changes.last_name.is_some()
                || changes.is_active.is_some()
                || changes.is_staff.is_some()
                || changes.is_superuser.is_some()
            {
                diesel::update(users::table.find(id.0))
                    .set(&changes)
                    .execute(conn)
                    .await?;
            }
            if patch.is_active.is_some() {
                diesel::update(
                    one_time_tokens::table
                        .filter(one_time_tokens::user_id.eq(id.0))
                        .filter(one_time_tokens::purpose.eq(TokenPurpose::Activation.as_str()))
                        .filter(one_time_tokens::used_at.is_null()),
                )
                .set(one_time_tokens::used_at.eq(at))
                .execute(conn)
                .await?;
            }
            if patch.is_active == Some(false) {
                revoke_user_sessions(conn, id.0, None, at).await?;
                delete_api_keys(conn, id.0).await?;
            }
            if let Some(names) = &patch.groups {
                set_groups(conn, id.0, names).await?;
            }
            if let Some(codes) = &patch.user_permissions {
                set_user_permissions(conn, id.0, codes).await?;
            }
            record_event(conn, &audit).await?;
            let user = load_admin_user(conn, id.0).await?;
            user.ok_or_else(|| AdminWriteError::NotFound.into())
        })
        .await
        .map_err(|error: TxError| error.into())
    }

    async fn list_groups(&self, offset: i64, limit: i64) -> Result<Page<Group>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let count: i64 = groups::table
            .count()
            .get_result(&mut conn)
            .await
            .map_err(query_error)?;
        let rows: Vec<(i64, String, Vec<String>)> = groups::table
            .select((
                groups::id,
                groups::name,
                sql::<Array<Text>>(GROUP_PERMISSIONS),
            ))
            .order((groups::name, groups::id))
            .offset(offset)
            .limit(limit)
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        let items = rows
            .into_iter()
            .map(|(id, name, permissions)| Group {
                id,
                name,
                permissions,
            })
            .collect();
        Ok(Page { count, items })
    }

    async fn get_group(&self, id: i64) -> Result<Option<Group>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        load_group(&mut conn, id).await.map_err(query_error)
    }

    async fn create_group(
        &self,
        name: String,
        permissions: Vec<String>,
        audit: AuditEvent,
    ) -> Result<Group, AdminWriteError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let id: i64 = diesel::insert_into(groups::table)
                .values(groups::name.eq(&name))
                .returning(groups::id)
                .get_result(conn)
                .await?;
            set_group_permissions(conn, id, &permissions).await?;
            record_event(conn, &audit.clone().detail("id", id)).await?;
            load_group(conn, id)
                .await?
                .ok_or_else(|| AdminWriteError::NotFound.into())
        })
        .await
        .map_err(|error: TxError| error.into())
    }

    async fn update_group(
        &self,
        id: i64,
        name: Option<String>,
        permissions: Option<Vec<String>>,
        grantable: Option<Vec<String>>,
        audit: AuditEvent,
    ) -> Result<Group, AdminWriteError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            // The row lock queues concurrent edits of the group: what it gains is
            // judged against its permissions as the previous edit left them.
            let locked: Option<i64> = groups::table
                .find(id)
                .select(groups::id)
                .for_update()
                .first(conn)
                .await
                .optional()?;
            if locked.is_none() {
                return Err(AdminWriteError::NotFound.into());
            }
            if let (Some(wanted), Some(grantable)) = (&permissions, &grantable) {
                let current = load_group(conn, id)
                    .await?
                    .map(|g| g.permissions)
                    .unwrap_or_default();
                if wanted
                    .iter()
                    .any(|p| !current.contains(p) && !grantable.contains(p))
                {
                    return Err(AdminWriteError::BeyondGrant.into());
                }
            }
            if let Some(name) = &name {
                diesel::update(groups::table.find(id))
                    .set(groups::name.eq(name))
                    .execute(conn)
                    .await?;
            }
            if let Some(codes) = &permissions {
                set_group_permissions(conn, id, codes).await?;
            }
            record_event(conn, &audit).await?;
            load_group(conn, id)
                .await?
                .ok_or_else(|| AdminWriteError::NotFound.into())
        })
        .await
        .map_err(|error: TxError| error.into())
    }

    async fn delete_group(&self, id: i64, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let name: Option<String> = diesel::delete(groups::table.find(id))
                .returning(groups::name)
                .get_result(conn)
                .await
                .optional()?;
            let Some(name) = name else { return Ok(false) };
            record_event(conn, &audit.clone().detail("name", name)).await?;
            Ok(true)
        })
        .await
        .map_err(query_error)
    }

    async fn list_permissions(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<Page<Permission>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let count: i64 = permissions::table
            .count()
            .get_result(&mut conn)
            .await
            .map_err(query_error)?;
        let rows: Vec<PermissionRow> = permissions::table
            .select(PermissionRow::as_select())
            .order((permissions::app_label, permissions::codename))
            .offset(offset)
            .limit(limit)
            .load(&mut conn)
            .await
            .map_err(query_error)?;
        Ok(Page {
            count,
            items: rows.into_iter().map(Permission::from).collect(),
        })
    }

    async fn get_permission(&self, id: i64) -> Result<Option<Permission>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row: Option<PermissionRow> = permissions::table
            .find(id)
            .select(PermissionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        Ok(row.map(Permission::from))
    }

    async fn create_permission(
        &self,
        permission: NewPermission,
        audit: AuditEvent,
    ) -> Result<Permission, AdminWriteError> {
        let mut conn = connection(&self.pool).await?;
        let row: PermissionRow = conn
            .transaction(async |conn| {
                let row: PermissionRow = diesel::insert_into(permissions::table)
                    .values((
                        permissions::name.eq(&permission.name),
                        permissions::app_label.eq(&permission.app_label),
                        permissions::codename.eq(&permission.codename),
                    ))
                    .returning(PermissionRow::as_returning())
                    .get_result(conn)
                    .await?;
                record_event(conn, &audit.clone().detail("id", row.id)).await?;
                Ok(row)
            })
            .await
            .map_err(unique_violation)?;
        Ok(row.into())
    }

    async fn delete_permission(&self, id: i64, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let deleted: Option<(String, String)> = diesel::delete(permissions::table.find(id))
                .returning((permissions::app_label, permissions::codename))
                .get_result(conn)
                .await
                .optional()?;
            let Some((app_label, codename)) = deleted else {
                return Ok(false);
            };
            let code = format!("{app_label}.{codename}");
            record_event(conn, &audit.clone().detail("permission", code)).await?;
            Ok(true)
        })
        .await
        .map_err(query_error)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = permissions, check_for_backend(diesel::pg::Pg))]
struct PermissionRow {
    id: i64,
    name: String,
    app_label: String,
    codename: String,
}

impl From<PermissionRow> for Permission {
    fn from(row: PermissionRow) -> Self {
        Permission {
            id: row.id,
            name: row.name,
            app_label: row.app_label,
            codename: row.codename,
        }
    }
}

async fn load_group(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<Group>> {
    let row: Option<(i64, String, Vec<String>)> = groups::table
        .find(id)
        .select((
            groups::id,
            groups::name,
            sql::<Array<Text>>(GROUP_PERMISSIONS),
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(id, name, permissions)| Group {
        id,
        name,
        permissions,
    }))
}

async fn set_group_permissions(
    conn: &mut AsyncPgConnection,
    group: i64,
    codes: &[String],
) -> Result<(), AdminWriteError> {
    use crate::schema::group_permissions;
    let ids = permission_ids(conn, codes).await?;
    diesel::delete(group_permissions::table.filter(group_permissions::group_id.eq(group)))
        .execute(conn)
        .await
        .map_err(query_error)?;
    let rows: Vec<_> = ids
        .iter()
        .map(|p| {
            (
                group_permissions::group_id.eq(group),
                group_permissions::permission_id.eq(*p),
            )
        })
        .collect();
    diesel::insert_into(group_permissions::table)
        .values(rows)
        .execute(conn)
        .await
        .map_err(query_error)?;
    Ok(())
}
