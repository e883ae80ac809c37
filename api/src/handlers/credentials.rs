//! Seed 002's `/api/v1/auth/…` routes where they differ from the canonical ones: the
//! token travels in the body as `refresh_token` or `token`, registration answers with
//! the tokens alone, and `session` / `tokens` describe or extend the caller's sign-in.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::auth::{Authenticated, Client};
use crate::body::{Char, Payload};
use crate::errors::ApiError;
use crate::handlers::accounts::{PASSWORD_UPDATED, change_password_with, detail, reset_with};
use crate::handlers::register::registered;
use crate::handlers::sessions::summary;
use crate::handlers::tokens::{end_session, refreshed};
use crate::representation::UserResponse;
use crate::startup::AppState;

/// `POST /api/v1/auth/register_credentials` — `{username, email, password}`.
///
/// # Responses
/// 201 `{access, refresh}` (`{detail}` when the account must be activated first);
/// 400 field errors; 403 when registration is disabled.
pub(crate) async fn register(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let registered = registered(&state, client, payload).await?;
    Ok(HttpResponse::Created().json(match registered.tokens {
        Some(tokens) => json!({ "access": tokens.access, "refresh": tokens.refresh }),
        None => json!({ "detail": "Account created. Follow the link we emailed to activate it." }),
    }))
}

/// `POST /api/v1/auth/access_token` — `{refresh_token}`.
///
/// # Responses
/// 200 `{access, refresh}` (rotation on) or `{access}`; 400 field errors; 401 as the
/// canonical refresh.
pub(crate) async fn access_token(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let body = refreshed(&state, client, payload, "refresh_token").await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/auth/reset_password` — `{token, new_password}`.
///
/// # Responses
/// 200 `{detail}`; 400 `{"detail": "Invalid token."}` / `Token has expired.` or
/// Django's messages on `new_password`.
pub(crate) async fn reset_password(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let mut fields = payload.fields();
    let token = fields.char("token", Char::REQUIRED);
    reset_with(&state, client, token, fields).await
}

/// `POST /api/v1/auth/change_password` — `{current_password, new_password}`.
///
/// # Responses
/// 200 `{detail}`; 400 `{"current_password": ["Invalid password."]}`, Django's
/// messages on `new_password`; 401.
pub(crate) async fn change_password(
    state: web::Data<AppState>,
    caller: Authenticated,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    change_password_with(&state, caller, payload, &["current_password"]).await?;
    Ok(detail(PASSWORD_UPDATED))
}

/// `POST /api/v1/auth/logout` — `{refresh_token}`: ends that session.
///
/// # Responses
/// 200 `{detail}`; 400 field errors; 401 as the canonical logout.
pub(crate) async fn logout(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    end_session(&state, client, payload, "refresh_token").await?;
    Ok(HttpResponse::Ok().json(json!({ "detail": "Successfully logged out." })))
}

/// `GET /api/v1/auth/session`: the caller, the session and the access token he uses.
///
/// # Responses
/// 200 `{user, session: {id, created, last_used, user_agent, ip} | null, token:
/// {token_type, jti, iat, exp} | null}` (both null for an API key); 401.
pub(crate) async fn session(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let sessions = state
        .gatehouse
        .sessions(caller.user().id, caller.credential.session())
        .await?;
    let session = sessions
        .iter()
        .find(|view| view.current)
        .map(|view| summary(&view.session));
    let token = caller.credential.claims().map(|claims| {
        json!({
            "token_type": "access",
            "jti": claims.jti,
            "iat": claims.iat,
            "exp": claims.exp,
        })
    });
    Ok(HttpResponse::Ok().json(json!({
        "user": UserResponse::from(caller.profile),
        "session": session,
        "token": token,
    })))
}

/// `GET /api/v1/auth/tokens`: a new session for a caller signed in with a JWT, opened
/// from his session: it keeps its login time and ends when it ends.
///
/// # Responses
/// 200 `{access, refresh}`; 401 (also `Token is blacklisted` / `Token is expired` when
/// the caller's session has ended or reached its maximum lifetime); 403 for an API key
/// (a session opened from a key would outlive the key's logout).
pub(crate) async fn tokens(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let pair = state.gatehouse.open_session(caller.caller()).await?;
    Ok(HttpResponse::Ok().json(json!({ "access": pair.access, "refresh": pair.refresh })))
}
