//! The current user's sessions (refresh-token families).

use actix_web::{HttpResponse, web};
use domain::SessionSummary;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::errors::{ApiError, Detail};
use crate::representation::timestamp;
use crate::startup::AppState;

/// A session (a refresh-token family): one login and its refreshes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionResponse {
    /// The session id (32 hex digits), the `sid` claim of its tokens.
    pub(crate) id: String,
    #[schema(format = DateTime)]
    pub(crate) created: String,
    #[schema(format = DateTime)]
    pub(crate) last_used: String,
    pub(crate) user_agent: Option<String>,
    pub(crate) ip: Option<String>,
    /// Whether the caller's own token belongs to it (absent where no caller is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) current: Option<bool>,
}

/// `GET /auth/sessions/`: the caller's live sessions, newest login first.
///
/// # Responses
/// 200 `[{id, created, last_used, user_agent, ip, current}]`; 401.
#[utoipa::path(
    get, path = "/auth/sessions/", tag = "sessions", operation_id = "sessions_list",
    summary = "The caller's live sessions, newest login first",
    responses((status = 200, description = "The sessions", body = Vec<SessionResponse>)),
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let sessions = state
        .gatehouse
        .sessions(caller.user().id, caller.credential.session())
        .await?;
    let body: Vec<_> = sessions
        .into_iter()
        .map(|view| SessionResponse {
            current: Some(view.current),
            ..summary(&view.session)
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// A session as clients see it: `{id, created, last_used, user_agent, ip}`.
pub(crate) fn summary(session: &SessionSummary) -> SessionResponse {
    SessionResponse {
        id: session.id.simple().to_string(),
        created: timestamp(session.created),
        last_used: timestamp(session.last_used),
        user_agent: session.user_agent.clone(),
        ip: session.ip.clone(),
        current: None,
    }
}

/// `DELETE /auth/sessions/{id}/`: ends one of the caller's sessions (the current one
/// too: that is a logout).
///
/// # Responses
/// 204; 404 `Not found.` for an id that is not one of his live sessions; 401.
#[utoipa::path(
    delete, path = "/auth/sessions/{id}/", tag = "sessions", operation_id = "sessions_destroy",
    summary = "End one of the caller's sessions",
    params(("id" = String, Path, description = "The session id")),
    responses(
        (status = 204, description = "The session ended: its tokens are refused from now on"),
        (status = 404, description = "`Not found.`: not one of the caller's live sessions", body = Detail),
    ),
)]
pub(crate) async fn end(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = Uuid::try_parse(&id).map_err(|_| ApiError::NotFound)?;
    if !state
        .gatehouse
        .end_session(caller.user().id, session, &caller.client)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}
