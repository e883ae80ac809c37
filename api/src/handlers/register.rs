//! Registration.

use actix_web::{HttpResponse, web};
use application::use_cases::register::{RegisterCommand, Registered};
use domain::Password;
use serde::Serialize;
use utoipa::ToSchema;

use domain::user::NAME_MAX_CHARS;

use crate::auth::Client;
use crate::body::{Char, Payload};
use crate::errors::{ApiError, Detail, ErrorBody};
use crate::representation::UserResponse;
use crate::startup::AppState;

/// A registration: only these fields are read, any other is ignored. The username
/// defaults to the email; `password2`, when sent (required with
/// `registration.password_retype`), must match `password`.
#[allow(dead_code)] // Describes the body; `registered` reads it field by field.
#[derive(ToSchema)]
#[schema(example = json!({"email": "alice@example.com", "password": "correct horse battery staple"}))]
pub(crate) struct RegisterRequest {
    #[schema(format = Email)]
    email: String,
    #[schema(format = Password)]
    password: String,
    #[schema(required = false, max_length = 150)]
    username: String,
    #[schema(required = false, format = Password)]
    password2: String,
    #[schema(required = false, max_length = 150)]
    first_name: String,
    #[schema(required = false, max_length = 150)]
    last_name: String,
}

/// The new user, with the tokens of a first session unless the account must be
/// activated first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegisteredResponse {
    #[serde(flatten)]
    pub(crate) user: UserResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) tokens: Option<SessionTokens>,
}

/// The tokens of a session opened at registration.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionTokens {
    pub(crate) access: String,
    pub(crate) refresh: String,
}

/// `POST /auth/register/` — `{email, password, username?, password2?, first_name?,
/// last_name?}`; any other field is ignored.
///
/// # Responses
/// 201 the user + `tokens: {access, refresh}` (no tokens when activation is
/// required); 400 field errors; 403 when registration is disabled.
#[utoipa::path(
    post, path = "/auth/register/", tag = "accounts", operation_id = "register",
    summary = "Create an account",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new user, with `tokens` unless `registration.require_activation` is on", body = RegisteredResponse),
        (status = 400, description = "Field errors", body = ErrorBody),
        (status = 403, description = "Registration is disabled", body = Detail),
    ),
)]
pub(crate) async fn register(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let registered = registered(&state, client, payload).await?;
    Ok(HttpResponse::Created().json(RegisteredResponse {
        user: UserResponse::from(registered.profile),
        tokens: registered.tokens.map(|tokens| SessionTokens {
            access: tokens.access,
            refresh: tokens.refresh,
        }),
    }))
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
