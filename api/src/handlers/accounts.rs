//! Email-driven account flows: activation, password change and password reset.

use actix_web::{HttpResponse, web};
use application::ValidationErrors;
use application::use_cases::change_password::ChangePasswordCommand;
use application::use_cases::password_reset::{ConfirmResetCommand, ResetRequestError};
use domain::{EmailAddress, Password};
use utoipa::ToSchema;

use crate::auth::{Authenticated, Client};
use crate::body::{Char, Fields, Payload};
use crate::errors::{ApiError, Detail, ErrorBody, change_password_error, confirm_reset_error};
use crate::startup::AppState;

pub(crate) fn detail(message: &str) -> HttpResponse {
    HttpResponse::Ok().json(Detail::new(message))
}

/// An email address.
#[allow(dead_code)] // Describes the body; `email_field` reads it.
#[derive(ToSchema)]
pub(crate) struct EmailRequest {
    #[schema(format = Email)]
    email: String,
}

/// The current password (`current_password`, or `old_password`) and the new one.
#[allow(dead_code)] // Describes the body; `change_password_with` reads it field by field.
#[derive(ToSchema)]
pub(crate) struct ChangePasswordRequest {
    #[schema(required = false, format = Password)]
    current_password: String,
    #[schema(required = false, format = Password)]
    old_password: String,
    #[schema(format = Password)]
    new_password: String,
}

/// The new password, as `new_password` or `password`.
#[allow(dead_code)] // Describes the body; `reset_with` reads it field by field.
#[derive(ToSchema)]
pub(crate) struct NewPasswordRequest {
    #[schema(required = false, format = Password)]
    new_password: String,
    #[schema(required = false, format = Password)]
    password: String,
}

/// The `email` field of a request that mails someone: present and well formed.
fn email_field(payload: Payload) -> Result<EmailAddress, ApiError> {
    let mut fields = payload.fields();
    let raw = fields.char("email", Char::REQUIRED.email());
    fields.finish()?;
    let raw = raw.unwrap_or_default();
    EmailAddress::parse(&raw).map_err(|error| {
        let mut errors = ValidationErrors::new();
        errors.add_all("email", error.messages().iter().copied());
        ApiError::Validation(errors)
    })
}

/// The first of `names` present in the body (the last one when none is), read as a
/// password; returns its field name too, to name it in errors.
pub(crate) fn password_field(
    fields: &mut Fields,
    names: &[&'static str],
) -> (&'static str, Option<Password>) {
    let name = names
        .iter()
        .copied()
        .find(|n| fields.has(n))
        .unwrap_or(names[names.len() - 1]);
    (name, fields.char(name, Char::PASSWORD).map(Password::new))
}

/// `POST /auth/activate/{token}/`.
///
/// # Responses
/// 200 `{detail}`; 400 `{"detail": "Invalid token."}` (unknown, used, of another
/// purpose) or `{"detail": "Token has expired."}`.
#[utoipa::path(
    post, path = "/auth/activate/{token}/", tag = "accounts", operation_id = "activate",
    summary = "Activate an account with the token of its activation link",
    params(("token" = String, Path, description = "The token of the emailed link")),
    responses(
        (status = 200, description = "The account is active", body = Detail),
        (status = 400, description = "`Invalid token.` (unknown, used, or of another purpose) or `Token has expired.`", body = Detail),
    ),
)]
pub(crate) async fn activate(
    state: web::Data<AppState>,
    token: web::Path<String>,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    state.gatehouse.activate(&token, &client.0).await?;
    Ok(detail("Your account has been activated."))
}

/// `POST /auth/activate/resend/` — `{email}`.
///
/// # Responses
/// 200 `{detail}` for unknown, active and inactive addresses alike (only an inactive
/// account is mailed); 400 for a missing or malformed address.
#[utoipa::path(
    post, path = "/auth/activate/resend/", tag = "accounts", operation_id = "activation_resend",
    summary = "Mail a new activation link to an account awaiting activation",
    request_body = EmailRequest,
    responses(
        (status = 200, description = "The same answer for unknown, active and inactive addresses", body = Detail),
        (status = 400, description = "A missing or malformed address", body = ErrorBody),
    ),
)]
pub(crate) async fn resend_activation(
    state: web::Data<AppState>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    resend(&state, payload).await?;
    Ok(detail(
        "If an inactive account uses this address, a new activation link has been sent to it.",
    ))
}

/// Mails a new activation link to the `email` of the body if it awaits activation.
pub(crate) async fn resend(state: &AppState, payload: Payload) -> Result<(), ApiError> {
    let email = email_field(payload)?;
    state.gatehouse.resend_activation(email.as_str()).await?;
    Ok(())
}

/// `POST /auth/change-password/` — `{old_password or current_password, new_password}`.
///
/// # Responses
/// 200 `{detail}`; 400 `{"old_password": ["Invalid password."]}` (or
/// `current_password`), Django's messages on `new_password`; 401.
#[utoipa::path(
    post, path = "/auth/change-password/", tag = "accounts", operation_id = "change_password",
    summary = "Change the caller's password",
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "`Password updated successfully.`: older access tokens are refused from now on, other sessions end", body = Detail),
        (status = 400, description = "`Invalid password.` under the current password's field, Django's messages under `new_password`", body = ErrorBody),
    ),
)]
pub(crate) async fn change_password(
    state: web::Data<AppState>,
    caller: Authenticated,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    change_password_with(
        &state,
        caller,
        payload,
        &["current_password", "old_password"],
    )
    .await?;
    Ok(detail(PASSWORD_UPDATED))
}

pub(crate) const PASSWORD_UPDATED: &str = "Password updated successfully.";

/// Changes the caller's password from a body with the current password in the first
/// of `current_names` sent (named after the last when none is) and `new_password`.
pub(crate) async fn change_password_with(
    state: &AppState,
    caller: Authenticated,
    payload: Payload,
    current_names: &[&'static str],
) -> Result<(), ApiError> {
    let mut fields = payload.fields();
    let (current_field, current) = password_field(&mut fields, current_names);
    let (new_field, new) = password_field(&mut fields, &["new_password"]);
    fields.finish()?;
    let (Some(current_password), Some(new_password)) = (current, new) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields went missing"
        )));
    };
    let command = ChangePasswordCommand {
        session: caller.credential.session(),
        user: caller.profile.user,
        current_password,
        new_password,
        client: caller.client,
    };
    state
        .gatehouse
        .change_password(command)
        .await
        .map_err(|error| change_password_error(error, current_field, new_field))
}

/// `POST /auth/reset-password/` — `{email}`.
///
/// # Responses
/// 200 `{detail}` whether or not the address is known (only an active account is
/// mailed); 404 for an unknown address when `email.reveal_unknown_email` is on; 400
/// for a missing or malformed address.
#[utoipa::path(
    post, path = "/auth/reset-password/", tag = "accounts", operation_id = "password_reset",
    summary = "Mail a password reset link",
    request_body = EmailRequest,
    responses(
        (status = 200, description = "The same answer whether or not an active account uses the address", body = Detail),
        (status = 400, description = "A missing or malformed address", body = ErrorBody),
        (status = 404, description = "No active account uses the address (only with `email.reveal_unknown_email`)", body = Detail),
    ),
)]
pub(crate) async fn request_reset(
    state: web::Data<AppState>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    match reset_requested(&state, payload).await? {
        Ok(()) => Ok(detail(
            "If an active account uses this address, a password reset link has been sent to it.",
        )),
        Err(ResetRequestError::UnknownEmail) => Err(ApiError::NotFoundBecause(
            "No active account uses this email address.",
        )),
        Err(ResetRequestError::Fault(fault)) => Err(fault.into()),
    }
}

/// Mails a reset link to the `email` of the body if an active account uses it; the
/// use case's answer, once the body is read.
pub(crate) async fn reset_requested(
    state: &AppState,
    payload: Payload,
) -> Result<Result<(), ResetRequestError>, ApiError> {
    let email = email_field(payload)?;
    Ok(state.gatehouse.request_password_reset(email.as_str()).await)
}

/// `POST /auth/reset-password/{token}/` — `{password}` or `{new_password}`.
///
/// # Responses
/// 200 `{detail}`; 400 `{"detail": "Invalid token."}`, `{"detail": "Token has
/// expired."}`, or Django's messages on the password field.
#[utoipa::path(
    post, path = "/auth/reset-password/{token}/", tag = "accounts", operation_id = "password_reset_confirm",
    summary = "Set a new password with the token of a reset link",
    params(("token" = String, Path, description = "The token of the emailed link")),
    request_body = NewPasswordRequest,
    responses(
        (status = 200, description = "The password is set and every session ends", body = Detail),
        (status = 400, description = "`Invalid token.`, `Token has expired.`, or Django's messages on the password field", body = ErrorBody),
    ),
)]
pub(crate) async fn confirm_reset(
    state: web::Data<AppState>,
    token: web::Path<String>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    reset_with(&state, client, Some(token.into_inner()), payload.fields()).await
}

/// Sets the password of the body's `new_password` (or `password`) with a reset token
/// (`None`: a required field that was missing, already reported in `fields`).
pub(crate) async fn reset_with(
    state: &AppState,
    client: Client,
    token: Option<String>,
    mut fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let (field, new_password) = password_field(&mut fields, &["new_password", "password"]);
    fields.finish()?;
    let (Some(token), Some(new_password)) = (token, new_password) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields went missing"
        )));
    };
    let command = ConfirmResetCommand {
        token,
        new_password,
        client: client.0,
    };
    state
        .gatehouse
        .confirm_password_reset(command)
        .await
        .map_err(|error| confirm_reset_error(error, field))?;
    Ok(detail("Your password has been reset."))
}
