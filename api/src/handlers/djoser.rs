//! Djoser's routes where its answers differ from the canonical ones: 204 instead of
//! 200 `{detail}`, and links that carry `{uid, token}` in the body. The work is the
//! canonical use cases'; only the reading and the answers are Djoser's.

use actix_web::{HttpResponse, web};
use application::use_cases::activate::ActivateError;
use application::use_cases::password_reset::{
    ConfirmResetCommand, ConfirmResetError, ResetRequestError,
};
use application::{OneTimeTokenRejection, ValidationErrors};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::UserId;

use crate::auth::{Authenticated, Client};
use crate::body::{Char, Fields, Payload};
use crate::errors::{ApiError, confirm_reset_error};
use crate::handlers::accounts::{change_password_with, password_field, resend, reset_requested};
use crate::startup::AppState;

const INVALID_UID: &str = "Invalid user id or user doesn't exist.";
const INVALID_TOKEN: &str = "Invalid token for given user.";
const STALE_TOKEN: &str = "Stale token for given user.";
const EMAIL_NOT_FOUND: &str = "User with given email does not exist.";

/// Djoser's reading of a `uid`: Django's base64url of the decimal id.
fn user_of(uid: &str) -> Option<UserId> {
    let bytes = URL_SAFE_NO_PAD.decode(uid.trim_end_matches('=')).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok().map(UserId)
}

/// Djoser's `UidAndTokenSerializer` errors for a refused link.
fn link_error(rejection: OneTimeTokenRejection) -> ApiError {
    let (field, message) = match rejection {
        OneTimeTokenRejection::UnknownUser => ("uid", INVALID_UID),
        OneTimeTokenRejection::Expired => ("token", "Token has expired."),
        OneTimeTokenRejection::Invalid
        | OneTimeTokenRejection::Used
        | OneTimeTokenRejection::OtherUser => ("token", INVALID_TOKEN),
    };
    ApiError::Validation(ValidationErrors::single(field, message))
}

/// Reads `uid` and `token` (both required) and decodes the uid.
fn uid_and_token(fields: &mut Fields) -> (Option<String>, Option<String>) {
    (
        fields.char("uid", Char::REQUIRED),
        fields.char("token", Char::REQUIRED),
    )
}

fn decoded(uid: Option<String>, token: Option<String>) -> Result<(UserId, String), ApiError> {
    let (Some(uid), Some(token)) = (uid, token) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields went missing"
        )));
    };
    let user = user_of(&uid)
        .ok_or_else(|| ApiError::Validation(ValidationErrors::single("uid", INVALID_UID)))?;
    Ok((user, token))
}

/// `POST /auth/users/set_password/` — `{current_password, new_password}`.
///
/// # Responses
/// 204; 400 `{"current_password": ["Invalid password."]}`, Django's messages on
/// `new_password`; 401.
pub(crate) async fn set_password(
    state: web::Data<AppState>,
    caller: Authenticated,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    change_password_with(&state, caller, payload, &["current_password"]).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /auth/users/reset_password/` — `{email}`.
///
/// # Responses
/// 204 whether or not the address is known; with `reveal_unknown_email`, 400
/// `{"email": ["User with given email does not exist."]}` for an unknown one.
pub(crate) async fn reset_password(
    state: web::Data<AppState>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    match reset_requested(&state, payload).await? {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(ResetRequestError::UnknownEmail) => Err(ApiError::Validation(
            ValidationErrors::single("email", EMAIL_NOT_FOUND),
        )),
        Err(ResetRequestError::Fault(fault)) => Err(fault.into()),
    }
}

/// `POST /auth/users/reset_password_confirm/` — `{uid, token, new_password}`.
///
/// # Responses
/// 204; 400 `{"uid": ["Invalid user id or user doesn't exist."]}`, `{"token":
/// ["Invalid token for given user."]}` (or `Token has expired.`), Django's messages on
/// `new_password`.
pub(crate) async fn reset_password_confirm(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let mut fields = payload.fields();
    let (uid, token) = uid_and_token(&mut fields);
    let (field, new_password) = password_field(&mut fields, &["new_password"]);
    fields.finish()?;
    let (user, token) = decoded(uid, token)?;
    let new_password = new_password
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("validated field went missing")))?;
    let command = ConfirmResetCommand {
        token,
        new_password,
        client: client.0,
    };
    match state
        .gatehouse
        .confirm_password_reset_for(user, command)
        .await
    {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(ConfirmResetError::Token(rejection)) => Err(link_error(rejection)),
        Err(other) => Err(confirm_reset_error(other, field)),
    }
}

/// `POST /auth/users/activation/` — `{uid, token}`.
///
/// # Responses
/// 204; 400 `uid`/`token` errors as for the reset confirmation; 403 `{"detail":
/// "Stale token for given user."}` for a link already used.
pub(crate) async fn activation(
    state: web::Data<AppState>,
    client: Client,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    let mut fields = payload.fields();
    let (uid, token) = uid_and_token(&mut fields);
    fields.finish()?;
    let (user, token) = decoded(uid, token)?;
    match state.gatehouse.activate_user(user, &token, &client.0).await {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(ActivateError::Token(OneTimeTokenRejection::Used)) => {
            Err(ApiError::PermissionDeniedBecause(STALE_TOKEN))
        }
        Err(ActivateError::Token(rejection)) => Err(link_error(rejection)),
        Err(other) => Err(other.into()),
    }
}

/// `POST /auth/users/resend_activation/` — `{email}`.
///
/// # Responses
/// 204 for unknown, active and inactive addresses alike (only an account awaiting
/// activation is mailed); 400 for a missing or malformed address.
pub(crate) async fn resend_activation(
    state: web::Data<AppState>,
    payload: Payload,
) -> Result<HttpResponse, ApiError> {
    resend(&state, payload).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_djangos_base64_of_the_id() {
        assert_eq!(user_of("MQ"), Some(UserId(1)));
        assert_eq!(user_of("NDI"), Some(UserId(42)));
        assert_eq!(user_of("NDI="), Some(UserId(42)));
        for bad in ["", "!!", "YWJj", "LTE5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"] {
            assert_eq!(user_of(bad), None, "{bad}");
        }
    }
}
