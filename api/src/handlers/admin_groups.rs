//! Admin: groups (`/auth/groups/`) and permissions (`/auth/permissions/`).

use actix_web::{HttpRequest, HttpResponse, web};
use domain::admin::{
    APP_LABEL_MAX_CHARS, CODENAME_MAX_CHARS, GROUP_NAME_MAX_CHARS, Group, GroupChanges,
    NewPermission, PERMISSION_NAME_MAX_CHARS, Permission,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::body::{Char, Payload};
use crate::errors::{ApiError, Detail, ErrorBody};
use crate::pagination::{Paginated, respond_page};
use crate::startup::AppState;

/// A group; `permissions` as `app_label.codename`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupResponse {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) permissions: Vec<String>,
}

impl From<Group> for GroupResponse {
    fn from(group: Group) -> Self {
        GroupResponse {
            id: group.id,
            name: group.name,
            permissions: group.permissions,
        }
    }
}

/// A group (`PUT`, `POST`: `name` required).
#[allow(dead_code)] // Describes the body; the handlers read it field by field.
#[derive(ToSchema)]
pub(crate) struct GroupRequest {
    #[schema(max_length = 150)]
    name: String,
    /// `app_label.codename` of each permission.
    #[schema(required = false)]
    permissions: Vec<String>,
}

/// Some fields of a group.
#[allow(dead_code)] // Describes the body; the handlers read it field by field.
#[derive(ToSchema)]
pub(crate) struct GroupPatchRequest {
    #[schema(required = false, max_length = 150)]
    name: String,
    #[schema(required = false)]
    permissions: Vec<String>,
}

/// A custom permission.
#[allow(dead_code)] // Describes the body; `create_permission` reads it field by field.
#[derive(ToSchema)]
pub(crate) struct PermissionRequest {
    #[schema(max_length = 255)]
    name: String,
    #[schema(max_length = 100)]
    app_label: String,
    #[schema(max_length = 100)]
    codename: String,
}

/// A permission; its string form is `app_label.codename`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PermissionResponse {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) app_label: String,
    pub(crate) codename: String,
}

impl From<Permission> for PermissionResponse {
    fn from(permission: Permission) -> Self {
        PermissionResponse {
            id: permission.id,
            name: permission.name,
            app_label: permission.app_label,
            codename: permission.codename,
        }
    }
}

fn object_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// `GET /auth/groups/`.
///
/// # Responses
/// 200 `{count, next, previous, results: [{id, name, permissions}]}`; 401; 403.
#[utoipa::path(
    get, path = "/auth/groups/", tag = "groups", operation_id = "groups_list",
    summary = "Groups, a page at a time",
    params(
        ("page" = Option<String>, Query, description = "A page number from 1, or `last`"),
        ("page_size" = Option<i64>, Query, description = "Default 20, at most 100"),
    ),
    responses(
        (status = 200, description = "A page of groups", body = Paginated<GroupResponse>),
        (status = 403, description = "No `auth.view_group`", body = Detail),
        (status = 404, description = "`Invalid page.`", body = Detail),
    ),
)]
pub(crate) async fn list_groups(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    respond_page::<Group, GroupResponse>(&req, async |offset, limit| {
        Ok(state.gatehouse.list_groups(&grant, offset, limit).await?)
    })
    .await
}

/// `POST /auth/groups/` — `{name, permissions?: ["app_label.codename", …]}`.
///
/// # Responses
/// 201 the group; 400; 401; 403 (no `auth.add_group`, or a permission the caller lacks).
#[utoipa::path(
    post, path = "/auth/groups/", tag = "groups", operation_id = "groups_create",
    summary = "Create a group",
    request_body = GroupRequest,
    responses(
        (status = 201, description = "The new group", body = GroupResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 403, description = "No `auth.add_group`, or a permission the caller lacks", body = Detail),
    ),
)]
pub(crate) async fn create_group(
    state: web::Data<AppState>,
    caller: Authenticated,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let mut fields = payload.fields();
    let name = fields.char("name", Char::REQUIRED.max(GROUP_NAME_MAX_CHARS));
    let permissions = fields.string_list("permissions");
    fields.finish()?;
    let name =
        name.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("validated field went missing")))?;
    let group = state
        .gatehouse
        .create_group(&grant, name, permissions.unwrap_or_default())
        .await?;
    Ok(HttpResponse::Created().json(GroupResponse::from(group)))
}

/// `GET /auth/groups/{id}/`.
///
/// # Responses
/// 200 the group; 401; 403; 404.
#[utoipa::path(
    get, path = "/auth/groups/{id}/", tag = "groups", operation_id = "groups_retrieve",
    summary = "A group",
    params(("id" = i64, Path, description = "The group id")),
    responses(
        (status = 200, description = "The group", body = GroupResponse),
        (status = 403, description = "No `auth.view_group`", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn retrieve_group(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = object_id(&id)?;
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let group = state.gatehouse.get_group(&grant, id).await?;
    Ok(HttpResponse::Ok().json(GroupResponse::from(group)))
}

async fn update_group_with(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: Payload,
    partial: bool,
) -> Result<HttpResponse, ApiError> {
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let id = object_id(&id)?;
    let mut fields = payload.fields();
    let required = if partial {
        Char::OPTIONAL
    } else {
        Char::REQUIRED
    };
    let name = fields.char("name", required.max(GROUP_NAME_MAX_CHARS));
    let permissions = fields.string_list("permissions");
    fields.finish()?;
    let changes = GroupChanges { name, permissions };
    let group = state.gatehouse.update_group(&grant, id, changes).await?;
    Ok(HttpResponse::Ok().json(GroupResponse::from(group)))
}

/// `PUT /auth/groups/{id}/` — `{name, permissions?}`.
///
/// # Responses
/// 200 the group; 400; 401; 403 (no `auth.change_group`, or adding a permission the
/// caller lacks); 404.
#[utoipa::path(
    put, path = "/auth/groups/{id}/", tag = "groups", operation_id = "groups_update",
    summary = "Change a group; members follow at their next refresh",
    params(("id" = i64, Path, description = "The group id")),
    request_body = GroupRequest,
    responses(
        (status = 200, description = "The group, changed", body = GroupResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 403, description = "No `auth.change_group`, or adding a permission the caller lacks", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn update_group(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    update_group_with(state, caller, id, payload, false).await
}

/// `PATCH /auth/groups/{id}/` — `{name?, permissions?}`.
///
/// # Responses
/// As `PUT`.
#[utoipa::path(
    patch, path = "/auth/groups/{id}/", tag = "groups", operation_id = "groups_partial_update",
    summary = "Change some fields of a group",
    params(("id" = i64, Path, description = "The group id")),
    request_body = GroupPatchRequest,
    responses(
        (status = 200, description = "The group, changed", body = GroupResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 403, description = "As for `PUT`", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn partial_update_group(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    update_group_with(state, caller, id, payload, true).await
}

/// `DELETE /auth/groups/{id}/`: its members lose its permissions.
///
/// # Responses
/// 204; 401; 403; 404.
#[utoipa::path(
    delete, path = "/auth/groups/{id}/", tag = "groups", operation_id = "groups_destroy",
    summary = "Delete a group: its members lose its permissions",
    params(("id" = i64, Path, description = "The group id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "No `auth.delete_group`", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn destroy_group(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = object_id(&id)?;
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    state.gatehouse.delete_group(&grant, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /auth/permissions/`.
///
/// # Responses
/// 200 `{count, next, previous, results: [{id, name, app_label, codename}]}`; 401; 403.
#[utoipa::path(
    get, path = "/auth/permissions/", tag = "permissions", operation_id = "permissions_list",
    summary = "Permissions, a page at a time",
    params(
        ("page" = Option<String>, Query, description = "A page number from 1, or `last`"),
        ("page_size" = Option<i64>, Query, description = "Default 20, at most 100"),
    ),
    responses(
        (status = 200, description = "A page of permissions", body = Paginated<PermissionResponse>),
        (status = 403, description = "No `auth.view_permission`", body = Detail),
        (status = 404, description = "`Invalid page.`", body = Detail),
    ),
)]
pub(crate) async fn list_permissions(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    respond_page::<Permission, PermissionResponse>(&req, async |offset, limit| {
        Ok(state
            .gatehouse
            .list_permissions(&grant, offset, limit)
            .await?)
    })
    .await
}

/// `POST /auth/permissions/` — `{name, app_label, codename}`: a custom permission.
///
/// # Responses
/// 201 the permission; 400 (a taken `app_label` + `codename` is DRF's unique-together
/// error); 401; 403.
#[utoipa::path(
    post, path = "/auth/permissions/", tag = "permissions", operation_id = "permissions_create",
    summary = "Create a custom permission",
    request_body = PermissionRequest,
    responses(
        (status = 201, description = "The new permission", body = PermissionResponse),
        (status = 400, description = "Field errors (a taken `app_label` + `codename` is DRF's unique-together error)", body = ErrorBody),
        (status = 403, description = "No `auth.add_permission`", body = Detail),
    ),
)]
pub(crate) async fn create_permission(
    state: web::Data<AppState>,
    caller: Authenticated,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let mut fields = payload.fields();
    let name = fields.char("name", Char::REQUIRED.max(PERMISSION_NAME_MAX_CHARS));
    let app_label = fields.char("app_label", Char::REQUIRED.max(APP_LABEL_MAX_CHARS));
    let codename = fields.char("codename", Char::REQUIRED.max(CODENAME_MAX_CHARS));
    fields.finish()?;
    let (Some(name), Some(app_label), Some(codename)) = (name, app_label, codename) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields went missing"
        )));
    };
    let permission = NewPermission {
        name,
        app_label,
        codename,
    };
    let created = state
        .gatehouse
        .create_permission(&grant, permission)
        .await?;
    Ok(HttpResponse::Created().json(PermissionResponse::from(created)))
}

/// `GET /auth/permissions/{id}/`.
///
/// # Responses
/// 200 the permission; 401; 403; 404.
#[utoipa::path(
    get, path = "/auth/permissions/{id}/", tag = "permissions", operation_id = "permissions_retrieve",
    summary = "A permission",
    params(("id" = i64, Path, description = "The permission id")),
    responses(
        (status = 200, description = "The permission", body = PermissionResponse),
        (status = 403, description = "No `auth.view_permission`", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn retrieve_permission(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = object_id(&id)?;
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    let permission = state.gatehouse.get_permission(&grant, id).await?;
    Ok(HttpResponse::Ok().json(PermissionResponse::from(permission)))
}

/// `DELETE /auth/permissions/{id}/`: its grants go with it.
///
/// # Responses
/// 204; 401; 403; 404.
#[utoipa::path(
    delete, path = "/auth/permissions/{id}/", tag = "permissions", operation_id = "permissions_destroy",
    summary = "Delete a permission and its grants",
    params(("id" = i64, Path, description = "The permission id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "No `auth.delete_permission`", body = Detail),
        (status = 404, description = "`Not found.`", body = Detail),
    ),
)]
pub(crate) async fn destroy_permission(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = object_id(&id)?;
    let grant = state.gatehouse.authorize(caller.caller()).await?;
    state.gatehouse.delete_permission(&grant, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
