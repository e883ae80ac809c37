//! `UserRepository` over PostgreSQL.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::dsl::AsSelect;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::ports::{
    AuthState, CreateUserError, ImportedUser, Rehash, UpdateUserError, UserRepository,
};
use domain::{
    AuditEvent, EmailAddress, MailedToken, NewUser, ProfileChanges, RepositoryError, User, UserId,
    UserProfile, Username,
};
use uuid::Uuid;

use crate::auth_cache::AuthCache;
use crate::db::{PgPool, Step, TxError, connection, settle};
use crate::email::Outbox;
use crate::schema::{django_imported_users, refresh_tokens, users};
use crate::sql::{gatehouse_effective_permissions, gatehouse_group_names};
use crate::tx;

#[derive(Clone)]
pub struct PgUserRepository {
    pool: PgPool,
    outbox: Outbox,
    cache: Option<AuthCache>,
}

impl PgUserRepository {
    pub fn new(pool: PgPool, outbox: Outbox) -> Self {
        Self {
            pool,
            outbox,
            cache: None,
        }
    }

    /// Answers `auth_state` from `cache` when it can, and keeps what it reads there.
    pub fn with_cache(mut self, cache: AuthCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The user's profile and whether `sid` is a live session of his, from the store.
    async fn read_auth_state(
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
        let (user, groups, permissions) = profile_columns();
        let row: Option<(UserRow, Vec<String>, Vec<String>, bool)> = users::table
            .find(id.0)
            .select((user, groups, permissions, live_session))
            .first(&mut conn)
            .await
            .optional()
            .step("while reading an access token's user and session")?;
        Ok(
            row.map(|(user, groups, permissions, session_live)| AuthState {
                profile: profile((user, groups, permissions)),
                session_live,
            }),
        )
    }
}

#[derive(Debug, Queryable, Selectable)]
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
pub(crate) type ProfileRow = (UserRow, Vec<String>, Vec<String>);

/// The columns of a `ProfileRow`.
pub(crate) type ProfileColumns = (
    AsSelect<UserRow, diesel::pg::Pg>,
    gatehouse_group_names<users::id>,
    gatehouse_effective_permissions<users::id, users::is_superuser>,
);

/// Through the functions of migration 11, so that the statement is prepared once per
/// connection.
pub(crate) fn profile_columns() -> ProfileColumns {
    (
        UserRow::as_select(),
        gatehouse_group_names(users::id),
        gatehouse_effective_permissions(users::id, users::is_superuser),
    )
}

pub(crate) fn profile((user, groups, permissions): ProfileRow) -> UserProfile {
    UserProfile {
        user: user.into(),
        groups,
        permissions,
    }
}

/// Loads at most one user by any filter on `users`.
macro_rules! find_user {
    ($pool:expr, $filter:expr, $doing:literal) => {{
        let mut conn = connection($pool).await?;
        let row = users::table
            .filter($filter)
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .step($doing)?;
        Ok(row.map(User::from))
    }};
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Varchar) -> diesel::sql_types::Varchar);

impl UserRepository for PgUserRepository {
    async fn create(
        &self,
        user: NewUser,
        activation: Option<MailedToken>,
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
        let result = conn
            .transaction(async |conn| {
                let id: i64 = diesel::insert_into(users::table)
                    .values(&row)
                    .returning(users::id)
                    .get_result(conn)
                    .await
                    .context("while inserting the user")?;
                if let Some(link) = &activation {
                    tx::store_token(conn, id, &link.token).await?;
                    tx::email_user(outbox, conn, id, &link.email).await?;
                }
                tx::record(conn, &audit.clone().subject(UserId(id))).await?;
                let profile = users::table
                    .find(id)
                    .select(profile_columns())
                    .first(conn)
                    .await
                    .context("while reading the new user back")?;
                Ok(profile)
            })
            .await
            .map_err(|error: TxError<CreateUserError>| {
                error.unique(|constraint| match constraint {
                    "users_email_lower_key" => Some(CreateUserError::DuplicateEmail),
                    "users_username_key" => Some(CreateUserError::DuplicateUsername),
                    _ => None,
                })
            });
        let created = settle(result, "while creating a user")??;
        if activation.is_some() {
            self.outbox.ring();
        }
        Ok(profile(created))
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        find_user!(&self.pool, users::id.eq(id.0), "while reading a user by id")
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, RepositoryError> {
        find_user!(
            &self.pool,
            users::username.eq(username),
            "while reading a user by username"
        )
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, RepositoryError> {
        find_user!(
            &self.pool,
            lower(users::email).eq(lower(email)),
            "while reading a user by email"
        )
    }

    async fn profile(&self, id: UserId) -> Result<Option<UserProfile>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row: Option<ProfileRow> = users::table
            .find(id.0)
            .select(profile_columns())
            .first(&mut conn)
            .await
            .optional()
            .step("while reading a user's profile")?;
        Ok(row.map(profile))
    }

    async fn auth_state(
        &self,
        id: UserId,
        sid: Uuid,
    ) -> Result<Option<AuthState>, RepositoryError> {
        let Some(cache) = &self.cache else {
            return self.read_auth_state(id, sid).await;
        };
        if let Some(state) = cache.get(id.0, sid) {
            return Ok(Some(state));
        }
        let stamp = cache.stamp();
        let state = self.read_auth_state(id, sid).await?;
        if let (Some(stamp), Some(state)) = (stamp, &state) {
            cache.put(stamp, id.0, sid, state);
        }
        Ok(state)
    }

    async fn imported_from_django(
        &self,
        id: UserId,
    ) -> Result<Option<ImportedUser>, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        let row: Option<(UserRow, DateTime<Utc>)> = users::table
            .inner_join(
                django_imported_users::table.on(django_imported_users::user_id.eq(users::id)),
            )
            .filter(users::id.eq(id.0))
            .select((UserRow::as_select(), django_imported_users::imported_at))
            .first(&mut conn)
            .await
            .optional()
            .step("while reading an imported user")?;
        Ok(row.map(|(user, imported_at)| ImportedUser {
            user: user.into(),
            imported_at,
        }))
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
            let result = conn
                .transaction(async |conn| {
                    let updated = diesel::update(users::table.find(id.0))
                        .set(&changeset)
                        .execute(conn)
                        .await
                        .context("while updating the profile")?;
                    if updated == 0 {
                        return Err(TxError::Refused(UpdateUserError::NotFound));
                    }
                    tx::record(conn, &audit).await?;
                    Ok(())
                })
                .await
                .map_err(|error: TxError<UpdateUserError>| {
                    error.unique(|constraint| {
                        (constraint == "users_username_key")
                            .then_some(UpdateUserError::DuplicateUsername)
                    })
                });
            settle(result, "while updating a profile")??;
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
            .step("while recording a login")?;
        if let Some(rehash) = rehash {
            diesel::update(
                users::table
                    .find(id.0)
                    .filter(users::password.eq(&rehash.verified)),
            )
            .set(users::password.eq(&rehash.new))
            .execute(&mut conn)
            .await
            .step("while upgrading a password hash")?;
        }
        Ok(())
    }

    async fn delete(&self, id: UserId, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut conn = connection(&self.pool).await?;
        conn.transaction(async |conn| {
            // The lock every change of his sessions takes, before the row lock a
            // rotation's insert would wait for: never the two in opposite orders.
            tx::lock_user(conn, id.0).await?;
            let username: Option<String> = diesel::delete(users::table.find(id.0))
                .returning(users::username)
                .get_result(conn)
                .await
                .optional()
                .context("while deleting the user")?;
            let Some(username) = username else {
                return Ok(false);
            };
            tx::record(conn, &audit.clone().detail("username", username)).await?;
            Ok::<_, anyhow::Error>(true)
        })
        .await
        .step("while deleting a user")
    }
}
