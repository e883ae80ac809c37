//! DRF token authentication as Djoser serves it: `/auth/token/login/` issues an opaque
//! key for `Authorization: Token <key>`, `/auth/token/logout/` deletes it.

use actix_web::{HttpRequest, HttpResponse, web};
use application::ValidationErrors;
use application::use_cases::login::LoginError;
use serde_json::json;

use crate::auth::{Authenticated, Client, api_key};
use crate::body::Payload;
use crate::errors::ApiError;
use crate::handlers::tokens::login_command;
use crate::startup::AppState;

/// `POST /auth/token/login/` — `{username or email, password}`.
///
/// # Responses
/// 200 `{"auth_token": key}`; 400 field errors, or `{"non_field_errors": ["Unable to
/// log in with provided credentials."]}` for a wrong password, an unknown or an
/// inactive user alike.
pub(crate) async fn login(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let command = login_command(payload, client)?;
    match state.gatehouse.login_api_key(command).await {
        Ok(key) => Ok(HttpResponse::Ok().json(json!({ "auth_token": key }))),
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
