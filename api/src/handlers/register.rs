//! Registration.

use actix_web::{HttpResponse, web};
use application::use_cases::register::{RegisterCommand, Registered};
use domain::Password;
use serde_json::json;

use domain::user::NAME_MAX_CHARS;

use crate::auth::Client;
use crate::body::{Char, Payload};
use crate::errors::ApiError;
use crate::representation::UserResponse;
use crate::startup::AppState;

/// `POST /auth/register/` — `{email, password, username?, password2?, first_name?,
/// last_name?}`; any other field is ignored.
///
/// # Responses
/// 201 the user + `tokens: {access, refresh}` (no tokens when activation is
/// required); 400 field errors; 403 when registration is disabled.
pub(crate) async fn register(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let registered = registered(&state, client, payload).await?;
    let mut body = serde_json::to_value(UserResponse::from(registered.profile))
        .map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(tokens) = registered.tokens {
        body["tokens"] = json!({ "access": tokens.access, "refresh": tokens.refresh });
    }
    Ok(HttpResponse::Created().json(body))
}

/// Registers the user a registration body describes.
pub(crate) async fn registered(
    state: &AppState,
    client: Client,
    payload: Payload,
) -> Result<Registered, ApiError> {
    let mut fields = payload.fields();
    let email = fields.char("email", Char::REQUIRED.email());
    let username = fields.char("username", Char::OPTIONAL.max(NAME_MAX_CHARS));
    let password = fields.char("password", Char::PASSWORD);
    let password2 = fields.char("password2", Char::OPTIONAL_PASSWORD);
    let first_name = fields.char("first_name", Char::OPTIONAL_BLANK.max(NAME_MAX_CHARS));
    let last_name = fields.char("last_name", Char::OPTIONAL_BLANK.max(NAME_MAX_CHARS));
    fields.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields went missing"
        )));
    };
    let command = RegisterCommand {
        email,
        username,
        password: Password::new(password),
        password2: password2.map(Password::new),
        first_name: first_name.unwrap_or_default(),
        last_name: last_name.unwrap_or_default(),
        client: client.0,
    };
    Ok(state.gatehouse.register(command).await?)
}
