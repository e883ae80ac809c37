//! `ApiError`: every error answer, in Django REST framework's shapes and words.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use application::use_cases::activate::ActivateError;
use application::use_cases::admin_users::AdminError;
use application::use_cases::authenticate::AuthenticateError;
use application::use_cases::change_password::ChangePasswordError;
use application::use_cases::login::LoginError;
use application::use_cases::logout::LogoutError;
use application::use_cases::me::MeError;
use application::use_cases::password_reset::ConfirmResetError;
use application::use_cases::refresh::RefreshError;
use application::use_cases::register::RegisterError;
use application::use_cases::sessions::OpenSessionError;
use application::use_cases::verify::VerifyError;
use application::{Fault, OneTimeTokenRejection, TokenRejection, ValidationErrors};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The challenge of every 401; `middleware::observe` names the configured first
/// header type instead when it is not `Bearer`.
const CHALLENGE: HeaderValue = HeaderValue::from_static("Bearer realm=\"api\"");

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 400 with field errors.
    #[error("invalid input")]
    Validation(ValidationErrors),
    /// 400 `{"detail": "JSON parse error - …"}` and other parse errors.
    #[error("malformed request: {0}")]
    Parse(String),
    /// 401, no credentials.
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    /// 401 with a plain detail (DRF's `AuthenticationFailed`).
    #[error("{0}")]
    AuthenticationFailed(&'static str),
    /// 401 with `detail` and `code` (SimpleJWT's `AuthenticationFailed`).
    #[error("{detail}")]
    AuthenticationFailedWithCode {
        detail: &'static str,
        code: &'static str,
    },
    /// 401 from the token endpoints: `{"detail": "Token is …", "code": "token_not_valid"}`.
    #[error("{0}")]
    TokenNotValid(TokenRejection),
    /// 401 from an endpoint authenticating with an access token.
    #[error("Given token not valid for any token type")]
    AccessTokenNotValid(TokenRejection),
    #[error("You do not have permission to perform this action.")]
    PermissionDenied,
    /// 403 with a message of its own (Djoser's stale activation).
    #[error("{0}")]
    PermissionDeniedBecause(&'static str),
    #[error("Not found.")]
    NotFound,
    /// 404 `Invalid page.` (DRF's pagination).
    #[error("Invalid page.")]
    InvalidPage,
    /// 404 with a message of its own (`reveal_unknown_email`).
    #[error("{0}")]
    NotFoundBecause(&'static str),
    /// 400 `{"detail": …}` for a refused one-time token.
    #[error("{0}")]
    BadToken(OneTimeTokenRejection),
    #[error("Method \"{method}\" not allowed.")]
    MethodNotAllowed { method: String, allow: String },
    #[error("Unsupported media type \"{0}\" in request.")]
    UnsupportedMediaType(String),
    #[error("Request body is too large.")]
    PayloadTooLarge,
    /// 408: the body did not arrive within `server.body_timeout` (nginx's
    /// `client_body_timeout`); the connection is closed, its rest unread.
    #[error("The request body did not arrive in time.")]
    BodyTimeout,
    #[error("Service temporarily unavailable, try again later.")]
    Unavailable,
    /// 429, DRF's `Throttled`, with the seconds until a request would be allowed.
    #[error("Request was throttled. Expected available in {wait} second{}.", if *wait == 1 { "" } else { "s" })]
    Throttled { wait: u64 },
    #[error("A server error occurred.")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// 400 with `messages` under one field.
    pub(crate) fn on_field<M: Into<String>>(
        field: &str,
        messages: impl IntoIterator<Item = M>,
    ) -> Self {
        let mut errors = ValidationErrors::new();
        errors.add_all(field, messages);
        ApiError::Validation(errors)
    }

    fn body(&self) -> ErrorBody {
        match self {
            ApiError::Validation(errors) => ErrorBody::Fields(FieldErrors(
                errors
                    .fields()
                    .map(|(field, messages)| (field.to_owned(), Value::from(messages)))
                    .collect(),
            )),
            ApiError::Parse(detail) => ErrorBody::Detail(Detail::new(detail.clone())),
            ApiError::AuthenticationFailedWithCode { detail, code } => ErrorBody::Detail(Detail {
                code: Some(code),
                ..Detail::new(*detail)
            }),
            ApiError::TokenNotValid(rejection) => ErrorBody::Detail(Detail {
                code: Some("token_not_valid"),
                ..Detail::new(rejection.to_string())
            }),
            ApiError::AccessTokenNotValid(rejection) => ErrorBody::Detail(Detail {
                code: Some("token_not_valid"),
                messages: Some(vec![TokenMessage {
                    token_class: "AccessToken",
                    token_type: "access",
                    message: rejection.to_string(),
                }]),
                ..Detail::new(self.to_string())
            }),
            other => ErrorBody::Detail(Detail::new(other.to_string())),
        }
    }
}

/// An error answer: DRF's field errors (400), or a `detail`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ErrorBody {
    Fields(FieldErrors),
    Detail(Detail),
}

/// DRF's validation errors: each field sent (or expected) with its messages;
/// `non_field_errors` for the body as a whole.
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(
    value_type = std::collections::HashMap<String, Vec<String>>,
    example = json!({"email": ["user with this email already exists."]})
)]
pub(crate) struct FieldErrors(Map<String, Value>);

/// `{"detail": "…"}`; SimpleJWT's 401s add a `code`, and those of an access token the
/// `messages` of each token type tried.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"detail": "Authentication credentials were not provided."}))]
pub(crate) struct Detail {
    pub(crate) detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "token_not_valid")]
    pub(crate) code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) messages: Option<Vec<TokenMessage>>,
}

impl Detail {
    pub(crate) fn new(detail: impl Into<String>) -> Self {
        Detail {
            detail: detail.into(),
            code: None,
            messages: None,
        }
    }
}

/// Why an access token was refused, as SimpleJWT tells it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenMessage {
    #[schema(example = "AccessToken")]
    pub(crate) token_class: &'static str,
    #[schema(example = "access")]
    pub(crate) token_type: &'static str,
    #[schema(example = "Token is expired")]
    pub(crate) message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::Parse(_) | ApiError::BadToken(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotAuthenticated
            | ApiError::AuthenticationFailed(_)
            | ApiError::AuthenticationFailedWithCode { .. }
            | ApiError::TokenNotValid(_)
            | ApiError::AccessTokenNotValid(_) => StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied | ApiError::PermissionDeniedBecause(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound | ApiError::NotFoundBecause(_) | ApiError::InvalidPage => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        match self {
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed unexpectedly");
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            ApiError::Unavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::BodyTimeout => {
                response.force_close();
            }
            ApiError::Throttled { wait } => {
                response.insert_header((header::RETRY_AFTER, wait.to_string()));
            }
            _ => {}
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, CHALLENGE));
        }
        response.json(self.body())
    }
}

impl From<Fault> for ApiError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Unavailable(cause) => {
                tracing::warn!(error = %cause, "a dependency is unavailable");
                ApiError::Unavailable
            }
            Fault::Unexpected(error) => ApiError::Internal(error),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => {
                ApiError::AuthenticationFailed("No active account found with the given credentials")
            }
            LoginError::Throttled { retry_after } => crate::throttle::throttled(retry_after),
            LoginError::Fault(fault) => fault.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Token(rejection) => ApiError::TokenNotValid(rejection),
            RefreshError::NoActiveAccount => {
                ApiError::AuthenticationFailed("No active account found for the given token.")
            }
            RefreshError::Fault(fault) => fault.into(),
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::Token(rejection) => ApiError::TokenNotValid(rejection),
            VerifyError::Fault(fault) => fault.into(),
        }
    }
}

impl From<LogoutError> for ApiError {
    fn from(error: LogoutError) -> Self {
        match error {
            LogoutError::Token(rejection) => ApiError::TokenNotValid(rejection),
            LogoutError::Fault(fault) => fault.into(),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::Token(rejection) => ApiError::AccessTokenNotValid(rejection),
            AuthenticateError::UserNotFound => ApiError::AuthenticationFailedWithCode {
                detail: "User not found",
                code: "user_not_found",
            },
            AuthenticateError::UserInactive => ApiError::AuthenticationFailedWithCode {
                detail: "User is inactive",
                code: "user_inactive",
            },
            AuthenticateError::PasswordChanged => ApiError::AuthenticationFailedWithCode {
                detail: "The user's password has been changed.",
                code: "password_changed",
            },
            AuthenticateError::InvalidApiKey => ApiError::AuthenticationFailed("Invalid token."),
            AuthenticateError::ApiKeyUserInactive => {
                ApiError::AuthenticationFailed("User inactive or deleted.")
            }
            AuthenticateError::Fault(fault) => fault.into(),
        }
    }
}

impl From<OpenSessionError> for ApiError {
    fn from(error: OpenSessionError) -> Self {
        match error {
            // A session opened from an API key would outlive the key's logout.
            OpenSessionError::NoSession => ApiError::PermissionDenied,
            OpenSessionError::Token(rejection) => ApiError::AccessTokenNotValid(rejection),
            OpenSessionError::UserNotFound => ApiError::AuthenticationFailedWithCode {
                detail: "User not found",
                code: "user_not_found",
            },
            OpenSessionError::Fault(fault) => fault.into(),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Disabled => ApiError::PermissionDenied,
            RegisterError::Invalid(errors) => ApiError::Validation(errors),
            RegisterError::Fault(fault) => fault.into(),
        }
    }
}

impl From<MeError> for ApiError {
    fn from(error: MeError) -> Self {
        match error {
            // The account vanished between authentication and the change.
            MeError::NotFound => ApiError::AuthenticationFailedWithCode {
                detail: "User not found",
                code: "user_not_found",
            },
            MeError::Invalid(errors) => ApiError::Validation(errors),
            MeError::WrongPassword => ApiError::on_field("current_password", [error.to_string()]),
            MeError::Throttled { retry_after } => crate::throttle::throttled(retry_after),
            MeError::Fault(fault) => fault.into(),
        }
    }
}

impl From<ActivateError> for ApiError {
    fn from(error: ActivateError) -> Self {
        match error {
            ActivateError::Token(rejection) => ApiError::BadToken(rejection),
            ActivateError::Fault(fault) => fault.into(),
        }
    }
}

/// A password change refused, told under the fields the request used.
pub(crate) fn change_password_error(
    error: ChangePasswordError,
    current_field: &str,
    new_field: &str,
) -> ApiError {
    match error {
        ChangePasswordError::WrongPassword => {
            ApiError::on_field(current_field, [error.to_string()])
        }
        ChangePasswordError::WeakPassword(messages) => ApiError::on_field(new_field, messages),
        ChangePasswordError::Throttled { retry_after } => crate::throttle::throttled(retry_after),
        ChangePasswordError::Fault(fault) => fault.into(),
    }
}

/// A reset confirmation refused, a weak password told under the field the request used.
pub(crate) fn confirm_reset_error(error: ConfirmResetError, new_field: &str) -> ApiError {
    match error {
        ConfirmResetError::Token(rejection) => ApiError::BadToken(rejection),
        ConfirmResetError::WeakPassword(messages) => ApiError::on_field(new_field, messages),
        ConfirmResetError::Fault(fault) => fault.into(),
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Forbidden => ApiError::PermissionDenied,
            AdminError::NotFound => ApiError::NotFound,
            AdminError::Invalid(errors) => ApiError::Validation(errors),
            // Under the model's field; a route that reads it from another field says so.
            AdminError::WeakPassword(messages) => ApiError::on_field("password", messages),
            AdminError::Fault(fault) => fault.into(),
        }
    }
}
