//! Admin: the UserViewSet (`/auth/users/`).

use actix_web::{HttpRequest, HttpResponse, web};
use application::ValidationErrors;
use application::use_cases::admin_users::{AdminError, CreateUserCommand, UpdateUserCommand};
use domain::admin::{AdminUser, UserListQuery, UserOrder};
use domain::{Password, UserId};
use serde::Serialize;
use utoipa::ToSchema;

use domain::user::NAME_MAX_CHARS;

use crate::auth::Authenticated;
use crate::body::{Char, Fields, Payload};
use crate::errors::{ApiError, Detail, ErrorBody};
use crate::pagination::{Paginated, query_pairs, query_value, respond_page};
use crate::representation::UserResponse;
use crate::startup::AppState;

/// A user as the admin API shows him: the user representation and his direct grants.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminUserResponse {
    #[serde(flatten)]
    pub(crate) user: UserResponse,
    /// His direct grants (`app_label.codename`).
    pub(crate) user_permissions: Vec<String>,
}

/// A new user (`POST`), or every writable field (`PUT`: `username` and `email`
/// required).
#[allow(dead_code)] // Describes the body; `update_command` reads it field by field.
#[derive(ToSchema)]
pub(crate) struct UserRequest {
    #[schema(max_length = 150)]
    username: String,
    #[schema(format = Email)]
    email: String,
    /// `POST` only; none sets an unusable password.
    #[schema(required = false, format = Password)]
    password: String,
    #[schema(required = false, max_length = 150)]
    first_name: String,
    #[schema(required = false, max_length = 150)]
    last_name: String,
    #[schema(required = false)]
    is_active: bool,
    #[schema(required = false)]
    is_staff: bool,
    #[schema(required = false)]
    is_superuser: bool,
    /// Group names.
    #[schema(required = false)]
    groups: Vec<String>,
    /// Direct grants, `app_label.codename`.
    #[schema(required = false)]
    user_permissions: Vec<String>,
}

/// Any subset of the writable fields.
#[allow(dead_code)] // Describes the body; `update_command` reads it field by field.
#[derive(ToSchema)]
pub(crate) struct UserPatchRequest {
    #[schema(required = false, max_length = 150)]
    username: String,
    #[schema(required = false, format = Email)]
    email: String,
    #[schema(required = false, max_length = 150)]
    first_name: String,
    #[schema(required = false, max_length = 150)]
    last_name: String,
    #[schema(required = false)]
    is_active: bool,
    #[schema(required = false)]
    is_staff: bool,
    #[schema(required = false)]
    is_superuser: bool,
    #[schema(required = false)]
    groups: Vec<String>,
    #[schema(required = false)]
    user_permissions: Vec<String>,
}

impl From<AdminUser> for AdminUserResponse {
    fn from(user: AdminUser) -> Self {
        AdminUserResponse {
            user: user.profile.into(),
            user_permissions: user.user_permissions,
        }
    }
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse::<i64>()
        .map(UserId)
        .map_err(|_| ApiError::NotFound)
}

/// django-filter's reading of a boolean filter.
fn boolean_filter(
    errors: &mut ValidationErrors,
    pairs: &[(String, String)],
    name: &str,
) -> Option<bool> {
    let raw = query_value(pairs, name)?;
    match raw.to_ascii_lowercase().as_str() {
        "" => None,
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => {
            errors.add(
                name,
                format!("Select a valid choice. {raw} is not one of the available choices."),
            );
            None
        }
    }
}

/// The list query: search, filters, ordering (unknown fields are ignored, as DRF's
/// `OrderingFilter` does), slice.
fn list_query(
    pairs: &[(String, String)],
    offset: i64,
    limit: i64,
) -> Result<UserListQuery, ApiError> {
    let value = |key: &str| query_value(pairs, key);
    let mut errors = ValidationErrors::new();
    let search_terms = value("search")
        .map(|raw| {
            raw.replace(['\0', ','], " ")
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let is_active = boolean_filter(&mut errors, pairs, "is_active");
    let is_staff = boolean_filter(&mut errors, pairs, "is_staff");
    let is_superuser = boolean_filter(&mut errors, pairs, "is_superuser");
    let group = match value("group") {
        None | Some("") => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add(
                    "group",
                    "Select a valid choice. That choice is not one of the available choices.",
                );
                None
            }
        },
    };
    errors.into_result().map_err(ApiError::Validation)?;
    let ordering = value("ordering")
        .unwrap_or_default()
        .split(',')
        .filter_map(|field| {
            let field = field.trim();
            let (name, descending) = match field.strip_prefix('-') {
                Some(name) => (name, true),
                None => (field, false),
            };
            UserOrder::parse(name).map(|order| (order, descending))
        })
        .collect();
    Ok(UserListQuery {
        search_terms,
        is_active,
        is_staff,
        is_superuser,
        group,
        ordering,
        offset,
        limit,
    })
}

/// `GET /auth/users/` — `?page= ?page_size= ?search= ?is_active= ?is_staff=
/// ?is_superuser= ?group=<id> ?ordering=[-]id|username|email|date_joined|last_login`.
///
/// # Responses
/// 200 `{count, next, previous, results}`; 400 for a bad filter; 404 `Invalid page.`;
/// 401; 403 without `auth.view_user` (staff) or superuser.
#[utoipa::path(
    get, path = "/auth/users/", tag = "users", operation_id = "users_list",
    summary = "Users, a page at a time",
    params(
        ("page" = Option<String>, Query, description = "A page number from 1, or `last`"),
        ("page_size" = Option<i64>, Query, description = "Default 20, at most 100"),
        ("search" = Option<String>, Query, description = "Every term in username, email, first or last name (any case)"),
        ("is_active" = Option<bool>, Query),
        ("is_staff" = Option<bool>, Query),
        ("is_superuser" = Option<bool>, Query),
        ("group" = Option<i64>, Query, description = "A group id"),
        ("ordering" = Option<String>, Query, description = "Comma-separated `[-]id|username|email|date_joined|last_login`"),
    ),
    responses(
        (status = 200, description = "A page of users", body = Paginated<AdminUserResponse>),
        (status = 400, description = "A bad filter", body = ErrorBody),
        (status = 403, description = "Not staff with `auth.view_user`", body = Detail),
        (status = 404, description = "`Invalid page.`", body = Detail),
    ),
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let pairs = query_pairs(&req)?;
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    respond_page::<AdminUser, AdminUserResponse>(&req, async |offset, limit| {
        let query = list_query(&pairs, offset, limit)?;
        Ok(state.gatehouse.list_users(&grant, query).await?)
    })
    .await
}

/// The writable fields, read like the serializer: `partial` leaves absent fields out.
fn update_command(fields: &mut Fields, partial: bool) -> UpdateUserCommand {
    let required = if partial {
        Char::OPTIONAL
    } else {
        Char::REQUIRED
    };
    UpdateUserCommand {
        username: fields.char("username", required.max(NAME_MAX_CHARS)),
        email: fields.char("email", required.email()),
        first_name: fields.char("first_name", Char::OPTIONAL_BLANK.max(NAME_MAX_CHARS)),
        last_name: fields.char("last_name", Char::OPTIONAL_BLANK.max(NAME_MAX_CHARS)),
        is_active: fields.boolean("is_active"),
        is_staff: fields.boolean("is_staff"),
        is_superuser: fields.boolean("is_superuser"),
        groups: fields.string_list("groups"),
        user_permissions: fields.string_list("user_permissions"),
    }
}

/// `POST /auth/users/` — `{username, email, password?, first_name?, last_name?,
/// is_active?, is_staff?, is_superuser?, groups?, user_permissions?}`.
///
/// # Responses
/// 201 the user; 400 field errors; 401; 403 without `auth.add_user`, or when granting
/// `is_superuser` or permissions the caller lacks.
#[utoipa::path(
    post, path = "/auth/users/", tag = "users", operation_id = "users_create",
    summary = "Create a user",
    request_body = UserRequest,
    responses(
        (status = 201, description = "The new user", body = AdminUserResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 403, description = "No `auth.add_user`, or a grant past the caller's own rights", body = Detail),
    ),
)]
pub(crate) async fn create(
    state: web::Data<AppState>,
    caller: Authenticated,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let mut fields = payload.fields();
    let fields_read = update_command(&mut fields, false);
    let password = fields
        .char("password", Char::OPTIONAL_PASSWORD)
        .map(Password::new);
    fields.finish()?;
    let command = CreateUserCommand {
        username: fields_read.username.unwrap_or_default(),
        email: fields_read.email.unwrap_or_default(),
        password,
        first_name: fields_read.first_name.unwrap_or_default(),
        last_name: fields_read.last_name.unwrap_or_default(),
        is_active: fields_read.is_active.unwrap_or(true),
        is_staff: fields_read.is_staff.unwrap_or(false),
        is_superuser: fields_read.is_superuser.unwrap_or(false),
        groups: fields_read.groups.unwrap_or_default(),
        user_permissions: fields_read.user_permissions.unwrap_or_default(),
    };
    let user = state.gatehouse.create_user(&grant, command).await?;
    Ok(HttpResponse::Created().json(AdminUserResponse::from(user)))
}

/// `GET /auth/users/{id}/`.
///
/// # Responses
/// 200 the user; 401; 403; 404 `Not found.`.
#[utoipa::path(
    get, path = "/auth/users/{id}/", tag = "users", operation_id = "users_retrieve",
    summary = "A user",
    params(("id" = i64, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user", body = AdminUserResponse),
        (status = 403, description = "No `auth.view_user`", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn retrieve(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let user = state.gatehouse.get_user(&grant, id).await?;
    Ok(HttpResponse::Ok().json(AdminUserResponse::from(user)))
}

async fn update_with(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: Payload,
    partial: bool,
) -> Result<HttpResponse, ApiError> {
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let id = user_id(&id)?;
    let mut fields = payload.fields();
    let command = update_command(&mut fields, partial);
    fields.finish()?;
    let user = state.gatehouse.update_user(&grant, id, command).await?;
    Ok(HttpResponse::Ok().json(AdminUserResponse::from(user)))
}

/// `PUT /auth/users/{id}/`: `username` and `email` required, other fields optional.
///
/// # Responses
/// 200 the user; 400; 401; 403 (no `auth.change_user`, a superuser target for a
/// non-superuser, grants past the caller's rights, deactivating oneself); 404.
#[utoipa::path(
    put, path = "/auth/users/{id}/", tag = "users", operation_id = "users_update",
    summary = "Change a user (`username` and `email` required)",
    params(("id" = i64, Path, description = "The user id")),
    request_body = UserRequest,
    responses(
        (status = 200, description = "The user, changed", body = AdminUserResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 403, description = "No `auth.change_user`, a superuser changed by a non-superuser, a grant past the caller's rights, or deactivating oneself", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn update(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    update_with(state, caller, id, payload, false).await
}

/// `PATCH /auth/users/{id}/`: any subset of the writable fields.
///
/// # Responses
/// As `PUT`.
#[utoipa::path(
    patch, path = "/auth/users/{id}/", tag = "users", operation_id = "users_partial_update",
    summary = "Change some fields of a user",
    params(("id" = i64, Path, description = "The user id")),
    request_body = UserPatchRequest,
    responses(
        (status = 200, description = "The user, changed", body = AdminUserResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 403, description = "As for `PUT`", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn partial_update(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    update_with(state, caller, id, payload, true).await
}

/// `DELETE /auth/users/{id}/`.
///
/// # Responses
/// 204; 401; 403 (no `auth.delete_user`, a superuser target for a non-superuser,
/// oneself); 404.
#[utoipa::path(
    delete, path = "/auth/users/{id}/", tag = "users", operation_id = "users_destroy",
    summary = "Delete a user",
    params(("id" = i64, Path, description = "The user id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "No `auth.delete_user`, a superuser deleted by a non-superuser, or oneself", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn destroy(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    state.gatehouse.delete_user(&grant, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /auth/users/{id}/set-password/` — `{password}` or `{new_password}`: his
/// sessions end and he is notified by email.
///
/// # Responses
/// 200 `{detail}`; 400 Django's messages; 401; 403; 404.
#[utoipa::path(
    post, path = "/auth/users/{id}/set-password/", tag = "users", operation_id = "users_set_password",
    summary = "Set a user's password: his sessions end, he is notified",
    params(("id" = i64, Path, description = "The user id")),
    request_body = crate::handlers::accounts::NewPasswordRequest,
    responses(
        (status = 200, description = "`Password has been set.`", body = Detail),
        (status = 400, description = "Django's messages on the password field", body = ErrorBody),
        (status = 403, description = "No `auth.change_user`", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn set_password(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let id = user_id(&id)?;
    let mut fields = payload.fields();
    let field = if fields.has("new_password") {
        "new_password"
    } else {
        "password"
    };
    let password = fields.char(field, Char::PASSWORD);
    fields.finish()?;
    let password = password
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("validated field went missing")))?;
    state
        .gatehouse
        .admin_set_password(&grant, id, Password::new(password))
        .await
        .map_err(|error| match error {
            AdminError::WeakPassword(messages) => ApiError::on_field(field, messages),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(Detail::new("Password has been set.")))
}

/// `POST /auth/users/{id}/logout/`: ends every session of the user.
///
/// # Responses
/// 205 with an empty body; 401; 403; 404.
#[utoipa::path(
    post, path = "/auth/users/{id}/logout/", tag = "users", operation_id = "users_logout",
    summary = "End every session of a user",
    params(("id" = i64, Path, description = "The user id")),
    responses(
        (status = 205, description = "His sessions ended (empty body)"),
        (status = 403, description = "No `auth.change_user`", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn logout(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    state.gatehouse.admin_logout_user(&grant, id).await?;
    Ok(HttpResponse::ResetContent().finish())
}
