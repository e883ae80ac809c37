//! `UserRepository` over PostgreSQL.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Int8, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::ports::{AuthState, CreateUserError, Rehash, UpdateUserError, UserRepository};
use domain::{
    AuditEvent, EmailAddress, NewOneTimeToken, NewUser, ProfileChanges, RepositoryError, User,
    UserId, UserProfile, Username,
};
use uuid::Uuid;

use crate::db::{PgPool, connection, query_error, violated_unique_constraint};
use crate::email::Outbox;
use crate::email::composer::Recipient;
use crate::pg_account_repository::{link_email, store_token};
use crate::pg_audit_log::record_event;
use crate::schema::{api_tokens, refresh_tokens, users};

#[derive(Clone)]
pub struct PgUserRepository {
    pool: PgPool,
    outbox: Outbox,
}

impl PgUserRepository {
    pub fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self { pool, outbox }
    }
}

#[derive(Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    email: String,
    password: String,
    first_name: String,
    last_name: String,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    date_joined: DateTime<Utc>,
    last_login: Option<DateTime<Utc>>,
    password_changed_at: DateTime<Utc>,
    pending_activation: bool,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId(row.id),
            username: Username::from_trusted(row.username),
            email: EmailAddress::from_trusted(row.email),
            password_hash: row.password,
            first_name: row.first_name,
            last_name: row.last_name,
            is_active: row.is_active,
            is_staff: row.is_staff,
            is_superuser: row.is_superuser,
            date_joined: row.date_joined,
            last_login: row.last_login,
            password_changed_at: row.password_changed_at,
            pending_activation: row.pending_activation,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    username: &'a str,
    email: &'a str,
    password: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    date_joined: DateTime<Utc>,
    password_changed_at: DateTime<Utc>,
    pending_activation: bool,
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct ProfileChangeset<'a> {
    username: Option<&'a str>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
}

/// A user row with his group names and effective permissions, in one round trip.
#[derive(QueryableByName)]
struct ProfileRow {
    #[diesel(embed)]
    user: UserRow,
    #[diesel(sql_type = Array<Text>)]
    group_names: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    permission_names: Vec<String>,
}

const PROFILE_QUERY: &str = "
SELECT u.*,
  ARRAY(SELECT g.name FROM groups g JOIN user_groups ug ON ug.group_id = g.id
        WHERE ug.user_id = u.id ORDER BY g.name) AS group_names,
  ARRAY(SELECT p.app_label || '.' || p.codename FROM permissions p
        WHERE u.is_superuser
           OR p.id IN (SELECT up.permission_id FROM user_permissions up WHERE up.user_id = u.id)
           OR p.id IN (SELECT gp.permission_id FROM group_permissions gp
                       JOIN user_groups ug ON ug.group_id = gp.group_id WHERE ug.user_id = u.id)
        ORDER BY 1) AS permission_names
FROM users u WHERE u.id = $1";

impl From<ProfileRow> for UserProfile {
    fn from(row: ProfileRow) -> Self {
        UserProfile {
            user: row.user.into(),
            groups: row.group_names,
            permissions: row.permission_names,
        }
    }
}

/// Loads at most one user by any filter on `users`.
macro_rules! find_user {
    ($pool:expr, $filter:expr) => {{
        let mut conn = connection($pool).await?;
        let row = users::table
            .filter($filter)
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        Ok(row.map(User::from))
    }};
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Varchar) -> diesel::sql_types::Varchar);

impl UserRepository for PgUserRepository {
    async fn create(
        &self,
        user: NewUser,
        activation: Option<NewOneTimeToken>,
        audit: AuditEvent,
    ) -> Result<UserProfile, CreateUserError> {
        let mut conn = connection(&self.pool).await?;
        let row = NewUserRow {
            username: user.username.as_str(),
            email: user.email.as_str(),
            password: &user.password_hash,
            first_name: &user.first_name,
            last_name: &user.last_name,
            is_active: user.is_active,
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
            date_joined: user.now,
            password_changed_at: user.now,
            pending_activation: activation.is_some(),
        };
        let outbox = &self.outbox;
        let id: i64 = conn
            .transaction(async |conn| {
                let id: i64 = diesel::insert_into(users::table)
                    .values(&row)
                    .returning(users::id)
                    .get_result(conn)
                    .await?;
                if let Some(token) = &activation {
                    store_token(conn, id, token).await?;
                    let to = Recipient {
                        id,
                        username: row.username,
                        email: row.email,
                    };
                    outbox.enqueue(conn, &link_email(token), &to).await?;
                }
                record_event(conn, &audit.clone().subject(UserId(id))).await?;
                Ok::<_, diesel::result::Error>(id)
            })
            .await
            .map_err(|error| match violated_unique_constraint(&error) {
                Some("users_email_lower_key") => CreateUserError::DuplicateEmail,
                Some("users_username_key") => CreateUserError::DuplicateUsername,
                _ => query_error(error).into(),
            })?;
        drop(conn);
        if activation.is_some() {
            self.outbox.ring();
        }
        self.profile(UserId(id)).await?.ok_or_else(|| {
            RepositoryError::Unexpected("a user vanished right after being created".into()).into()
        })
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        find_user!(&self.pool, users::id.eq(id.0))
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, RepositoryError> {
        find_user!(&self.pool, users::username.eq(username))
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, RepositoryError> {
        find_user!(&self.pool, lower(users::email).eq(lower(email)))
    }

    async fn profile(&self, id: UserId) -> Result<Option<UserProfile>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row: Option<ProfileRow> = diesel::sql_query(PROFILE_QUERY)
            .bind::<Int8, _>(id.0)
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        Ok(row.map(UserProfile::from))
    }

    async fn auth_state(
        &self,
        id: UserId,
        sid: Uuid,
    ) -> Result<Option<AuthState>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let live_session = diesel::dsl::exists(
            refresh_tokens::table
                .filter(refresh_tokens::family_id.eq(sid))
                .filter(refresh_tokens::user_id.eq(id.0))
                .filter(refresh_tokens::revoked_at.is_null()),
        );
        let row: Option<(UserRow, bool)> = users::table
            .find(id.0)
            .select((UserRow::as_select(), live_session))
            .first(&mut conn)
            .await
            .optional()
            .map_err(query_error)?;
        Ok(row.map(|(user, session_live)| AuthState {
            user: user.into(),
            session_live,
        }))
    }

    async fn by_api_key(&self, digest: Vec<u8>) -> Result<Option<User>, RepositoryError> {
        let owner = api_tokens::table
            .filter(api_tokens::key_hash.eq(digest))
            .select(api_tokens::user_id);
        find_user!(&self.pool, users::id.eq_any(owner))
    }

    async fn update_profile(
        &self,
        id: UserId,
        changes: ProfileChanges,
        audit: AuditEvent,
    ) -> Result<UserProfile, UpdateUserError> {
        if !changes.is_empty() {
            let mut conn = connection(&self.pool).await?;
            let changeset = ProfileChangeset {
                username: changes.username.as_ref().map(Username::as_str),
                first_name: changes.first_name.as_deref(),
                last_name: changes.last_name.as_deref(),
            };
            let updated = conn
                .transaction(async |conn| {
                    let updated = diesel::update(users::table.find(id.0))
                        .set(&changeset)
                        .execute(conn)
                        .await?;
                    if updated > 0 {
                        record_event(conn, &audit).await?;
                    }
                    Ok::<_, diesel::result::Error>(updated)
                })
                .await
                .map_err(|error| match violated_unique_constraint(&error) {
                    Some("users_username_key") => UpdateUserError::DuplicateUsername,
                    _ => query_error(error).into(),
                })?;
            if updated == 0 {
                return Err(UpdateUserError::NotFound);
            }
        }
        self.profile(id).await?.ok_or(UpdateUserError::NotFound)
    }

    async fn record_login(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        rehash: Option<Rehash>,
    ) -> Result<(), RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        diesel::update(users::table.find(id.0))
            .set(users::last_login.eq(at))
            .execute(&mut conn)
            .await
            .map_err(query_error)?;
        if let Some(rehash) = rehash {
            diesel::update(
                users::table
                    .find(id.0)
                    .filter(users::password.eq(&rehash.verified)),
            )
            .set(users::password.eq(&rehash.new))
            .execute(&mut conn)
            .await
            .map_err(query_error)?;
        }
        Ok(())
    }

    async fn delete(&self, id: UserId, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            let username: Option<String> = diesel::delete(users::table.find(id.0))
                .returning(users::username)
                .get_result(conn)
                .await
                .optional()?;
            let Some(username) = username else {
                return Ok(false);
            };
            record_event(conn, &audit.clone().detail("username", username)).await?;
            Ok(true)
        })
        .await
        .map_err(query_error)
    }
}
