//! Token endpoints: obtain, refresh, verify, blacklist, logout, logout everywhere.

use actix_web::{HttpResponse, web};
use application::use_cases::login::{LoginCommand, LoginIdentifier};
use application::use_cases::refresh::RefreshCommand;
use domain::Password;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Authenticated, Client};
use crate::body::{Char, Payload};
use crate::errors::{ApiError, Detail, ErrorBody};
use crate::startup::AppState;

/// A login: the account by `username` (exact) or by `email` (any case); `username`
/// wins when both are sent.
#[allow(dead_code)] // Describes the body; `login_command` reads it field by field.
#[derive(ToSchema)]
#[schema(example = json!({"email": "alice@example.com", "password": "correct horse battery staple"}))]
pub(crate) struct TokenObtainRequest {
    #[schema(required = false)]
    username: String,
    #[schema(required = false)]
    email: String,
    password: String,
}

/// A refresh token.
#[allow(dead_code)] // Describes the body; `token_field` reads it.
#[derive(ToSchema)]
pub(crate) struct RefreshRequest {
    refresh: String,
}

/// An access or refresh token.
#[allow(dead_code)] // Describes the body; `token_field` reads it.
#[derive(ToSchema)]
pub(crate) struct VerifyRequest {
    token: String,
}

/// The tokens of a new session (SimpleJWT's order: `refresh` first).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenPairResponse {
    pub(crate) refresh: String,
    pub(crate) access: String,
}

/// A new access token, and its refresh token's successor when tokens rotate.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RefreshedResponse {
    pub(crate) access: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) refresh: Option<String>,
}

/// `{}`: SimpleJWT's answer to a verified or blacklisted token.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmptyResponse {}

/// `POST /auth/token/` — `{email or username, password}`.
///
/// # Responses
/// 200 `{refresh, access}`; 400 field errors; 401 `No active account found with the
/// given credentials` for a wrong password, an unknown or an inactive user alike; 429
/// after too many failed logins for the account.
#[utoipa::path(
    post, path = "/auth/token/", tag = "tokens", operation_id = "token_obtain",
    summary = "Log in: a new session's access and refresh tokens",
    request_body = TokenObtainRequest,
    responses(
        (status = 200, description = "The new session's tokens", body = TokenPairResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 401, description = "`No active account found with the given credentials`: a wrong password, an unknown and an inactive account alike", body = Detail),
    ),
)]
pub(crate) async fn obtain(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let command = login_command(payload, client)?;
    let tokens = state.gatehouse.login(command).await?;
    Ok(HttpResponse::Ok().json(TokenPairResponse {
        refresh: tokens.refresh,
        access: tokens.access,
    }))
}

/// A login body, `{email or username, password}`, read as a command.
pub(crate) fn login_command(payload: Payload, client: Client) -> Result<LoginCommand, ApiError> {
    let mut fields = payload.fields();
    let identifier = if fields.has("username") {
        fields
            .char("username", Char::REQUIRED)
            .map(LoginIdentifier::Username)
    } else {
        fields
            .char("email", Char::REQUIRED)
            .map(LoginIdentifier::Email)
    };
    let password = fields.char("password", Char::PASSWORD);
    fields.finish()?;
    let (Some(identifier), Some(password)) = (identifier, password) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields went missing"
        )));
    };
    Ok(LoginCommand {
        identifier,
        password: Password::new(password),
        client: client.0,
    })
}

/// Reads the one required string field a token endpoint takes.
fn token_field(payload: Payload, name: &str) -> Result<String, ApiError> {
    let mut fields = payload.fields();
    let value = fields.char(name, Char::REQUIRED);
    fields.finish()?;
    value.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("validated field went missing")))
}

/// `POST /auth/token/refresh/` — `{refresh}`.
///
/// # Responses
/// 200 `{access, refresh}` (rotation on) or `{access}`; 400 field errors;
/// 401 `Token is invalid|expired|blacklisted`, `Token has wrong type`.
#[utoipa::path(
    post, path = "/auth/token/refresh/", tag = "tokens", operation_id = "token_refresh",
    summary = "A new access token (and, rotating, the refresh token's successor)",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "`{access, refresh}` when refresh tokens rotate (the one sent is revoked), else `{access}`", body = RefreshedResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 401, description = "`Token is invalid`, `Token is expired`, `Token is blacklisted` or `Token has wrong type` (`code: token_not_valid`); `No active account found for the given token.`", body = Detail),
    ),
)]
pub(crate) async fn refresh(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let body = refreshed(&state, client, payload, "refresh").await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Refreshes with the token in field `field`; the body of the answer.
pub(crate) async fn refreshed(
    state: &AppState,
    client: Client,
    payload: Payload,
    field: &str,
) -> Result<RefreshedResponse, ApiError> {
    let refresh = token_field(payload, field)?;
    let refreshed = state
        .gatehouse
        .refresh(RefreshCommand {
            refresh,
            client: client.0,
        })
        .await?;
    Ok(RefreshedResponse {
        access: refreshed.access,
        refresh: refreshed.refresh,
    })
}

/// `POST /auth/token/verify/` — `{token}`, access or refresh.
///
/// # Responses
/// 200 `{}`; 400 field errors; 401 `Token is invalid|expired|blacklisted`.
#[utoipa::path(
    post, path = "/auth/token/verify/", tag = "tokens", operation_id = "token_verify",
    summary = "Check a token: signature, expiry, and that its session is live",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The token is valid", body = EmptyResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 401, description = "`Token is invalid`, `Token is expired` or `Token is blacklisted` (`code: token_not_valid`)", body = Detail),
    ),
)]
pub(crate) async fn verify(
    state: web::Data<AppState>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let token = token_field(payload, "token")?;
    state.gatehouse.verify(&token).await?;
    Ok(HttpResponse::Ok().json(EmptyResponse {}))
}

/// `POST /auth/token/blacklist/` — `{refresh}`.
///
/// # Responses
/// 200 `{}`; 400 field errors; 401 as refresh.
#[utoipa::path(
    post, path = "/auth/token/blacklist/", tag = "tokens", operation_id = "token_blacklist",
    summary = "End the session of a refresh token",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "The session is revoked", body = EmptyResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 401, description = "As for refresh (`code: token_not_valid`)", body = Detail),
    ),
)]
pub(crate) async fn blacklist(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    end_session(&state, client, payload, "refresh").await?;
    Ok(HttpResponse::Ok().json(EmptyResponse {}))
}

/// `POST /auth/logout/` — `{refresh}`: ends that session.
///
/// # Responses
/// 205 with an empty body; 400 field errors; 401 as refresh.
#[utoipa::path(
    post, path = "/auth/logout/", tag = "tokens", operation_id = "logout",
    summary = "Log out: end the session of a refresh token",
    request_body = RefreshRequest,
    responses(
        (status = 205, description = "The session is revoked (empty body)"),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 401, description = "As for refresh (`code: token_not_valid`)", body = Detail),
    ),
)]
pub(crate) async fn logout(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    end_session(&state, client, payload, "refresh").await?;
    Ok(HttpResponse::ResetContent().finish())
}

/// Ends the session of the refresh token in field `field`.
pub(crate) async fn end_session(
    state: &AppState,
    client: Client,
    payload: Payload,
    field: &str,
) -> Result<(), ApiError> {
    let refresh = token_field(payload, field)?;
    state.gatehouse.logout(&refresh, &client.0).await?;
    Ok(())
}

/// `POST /auth/logout/all/`: ends every session of the caller.
///
/// # Responses
/// 205 with an empty body; 401 without valid credentials.
#[utoipa::path(
    post, path = "/auth/logout/all/", tag = "tokens", operation_id = "logout_all",
    summary = "Log out everywhere: every session and API key of the caller ends",
    responses((status = 205, description = "Every session is revoked (empty body)")),
)]
pub(crate) async fn logout_all(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    state
        .gatehouse
        .logout_all(caller.user().id, &caller.client)
        .await?;
    Ok(HttpResponse::ResetContent().finish())
}
