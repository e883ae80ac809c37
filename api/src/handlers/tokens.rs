//! Token endpoints: obtain, refresh, verify, blacklist, logout, logout everywhere.

use actix_web::{HttpResponse, web};
use application::use_cases::login::{LoginCommand, LoginIdentifier};
use application::use_cases::refresh::RefreshCommand;
use domain::Password;
use serde_json::json;

use crate::auth::{Authenticated, Client};
use crate::body::{Char, Payload};
use crate::errors::ApiError;
use crate::startup::AppState;

/// `POST /auth/token/` — `{email or username, password}`.
///
/// # Responses
/// 200 `{refresh, access}`; 400 field errors; 401 `No active account found with the
/// given credentials` for a wrong password, an unknown or an inactive user alike; 429
/// after too many failed logins for the account.
pub(crate) async fn obtain(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let command = login_command(payload, client)?;
    let tokens = state.gatehouse.login(command).await?;
    Ok(HttpResponse::Ok().json(json!({ "refresh": tokens.refresh, "access": tokens.access })))
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
) -> Result<serde_json::Value, ApiError> {
    let refresh = token_field(payload, field)?;
    let refreshed = state
        .gatehouse
        .refresh(RefreshCommand {
            refresh,
            client: client.0,
        })
        .await?;
    Ok(match refreshed.refresh {
        Some(refresh) => json!({ "access": refreshed.access, "refresh": refresh }),
        None => json!({ "access": refreshed.access }),
    })
}

/// `POST /auth/token/verify/` — `{token}`, access or refresh.
///
/// # Responses
/// 200 `{}`; 400 field errors; 401 `Token is invalid|expired|blacklisted`.
pub(crate) async fn verify(
    state: web::Data<AppState>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let token = token_field(payload, "token")?;
    state.gatehouse.verify(&token).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `POST /auth/token/blacklist/` — `{refresh}`.
///
/// # Responses
/// 200 `{}`; 400 field errors; 401 as refresh.
pub(crate) async fn blacklist(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    end_session(&state, client, payload, "refresh").await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `POST /auth/logout/` — `{refresh}`: ends that session.
///
/// # Responses
/// 205 with an empty body; 400 field errors; 401 as refresh.
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
