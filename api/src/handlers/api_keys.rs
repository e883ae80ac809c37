//! DRF token authentication as Djoser serves it: `/auth/token/login/` issues an opaque
//! key for `Authorization: Token <key>`, `/auth/token/logout/` deletes it.

use actix_web::{HttpRequest, HttpResponse, web};
use application::ValidationErrors;
use application::use_cases::login::LoginError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Authenticated, Client, api_key};
use crate::body::Payload;
use crate::errors::{ApiError, ErrorBody};
use crate::handlers::tokens::{TokenObtainRequest, login_command};
use crate::startup::AppState;

/// A new API key, for `Authorization: Token <key>`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuthTokenResponse {
    pub(crate) auth_token: String,
}

/// `POST /auth/token/login/` — `{username or email, password}`.
///
/// # Responses
/// 200 `{"auth_token": key}`; 400 field errors, or `{"non_field_errors": ["Unable to
/// log in with provided credentials."]}` for a wrong password, an unknown or an
/// inactive user alike.
#[utoipa::path(
    post, path = "/auth/token/login/", tag = "tokens", operation_id = "api_key_login",
    summary = "Log in for an API key (DRF token authentication)",
    request_body = TokenObtainRequest,
    responses(
        (status = 200, description = "A new API key", body = AuthTokenResponse),
        (status = 400, description = "Field errors; `{\"non_field_errors\": [\"Unable to log in with provided credentials.\"]}` for a wrong password, an unknown and an inactive account alike", body = ErrorBody),
    ),
)]
pub(crate) async fn login(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let command = login_command(payload, client)?;
    match state.gatehouse.login_api_key(command).await {
        Ok(key) => Ok(HttpResponse::Ok().json(AuthTokenResponse { auth_token: key })),
        Err(LoginError::InvalidCredentials) => Err(ApiError::Validation(ValidationErrors::single(
            ValidationErrors::NON_FIELD,
            "Unable to log in with provided credentials.",
        ))),
        Err(other) => Err(other.into()),
    }
}

/// `POST /auth/token/logout/`: deletes the key the caller authenticated with (every
/// key of his when he used a JWT, as Djoser deletes "the user's token").
///
/// # Responses
/// 204; 401.
#[utoipa::path(
    post, path = "/auth/token/logout/", tag = "tokens", operation_id = "api_key_logout",
    summary = "Delete the API key used (every key of the caller, called with a JWT)",
    responses((status = 204, description = "Deleted")),
)]
pub(crate) async fn logout(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let key = api_key(&req);
    state
        .gatehouse
        .logout_api_keys(caller.user().id, key.as_deref(), &caller.client)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
