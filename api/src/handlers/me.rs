//! The current user's own account.

use actix_web::{HttpResponse, web};
use application::use_cases::me::UpdateMeCommand;
use domain::Password;
use utoipa::ToSchema;

use domain::user::NAME_MAX_CHARS;

use crate::auth::Authenticated;
use crate::body::{Char, Payload};
use crate::errors::{ApiError, ErrorBody};
use crate::representation::UserResponse;
use crate::startup::AppState;

/// The fields a user may change on his own account, each optional (for `PUT` too);
/// any other field is ignored.
#[allow(dead_code)] // Describes the body; `update` reads it field by field.
#[derive(ToSchema)]
pub(crate) struct UpdateMeRequest {
    #[schema(required = false, max_length = 150)]
    username: String,
    #[schema(required = false, max_length = 150)]
    first_name: String,
    #[schema(required = false, max_length = 150)]
    last_name: String,
}

/// The password of the account being deleted.
#[allow(dead_code)] // Describes the body; `delete` reads it.
#[derive(ToSchema)]
pub(crate) struct DeleteMeRequest {
    #[schema(format = Password)]
    current_password: String,
}

/// `GET /auth/me/`.
///
/// # Responses
/// 200 the user; 401 without valid credentials.
#[utoipa::path(
    get, path = "/auth/me/", tag = "me", operation_id = "me_retrieve",
    summary = "The caller's account",
    responses((status = 200, description = "The caller", body = UserResponse)),
)]
pub(crate) async fn get(caller: Authenticated) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UserResponse::from(caller.profile)))
}

/// `PATCH|PUT /auth/me/` — `{first_name?, last_name?, username?}`; other fields are
/// ignored.
///
/// # Responses
/// 200 the user; 400 field errors; 401 without valid credentials.
#[utoipa::path(
    method(put, patch), path = "/auth/me/", tag = "me", operation_id = "me_update",
    summary = "Change the caller's username or names",
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The caller, changed", body = UserResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
    ),
)]
pub(crate) async fn update(
    state: web::Data<AppState>,
    caller: Authenticated,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let mut fields = payload.fields();
    let command = UpdateMeCommand {
        username: fields.char("username", Char::OPTIONAL.max(NAME_MAX_CHARS)),
        first_name: fields.char("first_name", Char::OPTIONAL_BLANK.max(NAME_MAX_CHARS)),
        last_name: fields.char("last_name", Char::OPTIONAL_BLANK.max(NAME_MAX_CHARS)),
    };
    fields.finish()?;
    let profile = state.gatehouse.update_me(caller.caller(), command).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(profile)))
}

/// `DELETE /auth/me/` — `{current_password}`.
///
/// # Responses
/// 204; 400 `current_password: ["Invalid password."]` or field errors; 401 without
/// valid credentials.
#[utoipa::path(
    delete, path = "/auth/me/", tag = "me", operation_id = "me_delete",
    summary = "Delete the caller's account and its sessions",
    request_body = DeleteMeRequest,
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`{\"current_password\": [\"Invalid password.\"]}`, or field errors", body = ErrorBody),
    ),
)]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    caller: Authenticated,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let mut fields = payload.fields();
    let current_password = fields.char("current_password", Char::PASSWORD);
    fields.finish()?;
    let current_password = current_password
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("validated field went missing")))?;
    state
        .gatehouse
        .delete_me(caller.caller(), &Password::new(current_password))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
