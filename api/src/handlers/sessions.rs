//! The current user's sessions (refresh-token families).

use actix_web::{HttpResponse, web};
use domain::SessionSummary;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::errors::ApiError;
use crate::representation::timestamp;
use crate::startup::AppState;

/// `GET /auth/sessions/`: the caller's live sessions, newest login first.
///
/// # Responses
/// 200 `[{id, created, last_used, user_agent, ip, current}]`; 401.
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
        .map(|view| {
            let mut body = summary(&view.session);
            body["current"] = view.current.into();
            body
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// A session as clients see it: `{id, created, last_used, user_agent, ip}`.
pub(crate) fn summary(session: &SessionSummary) -> Value {
    json!({
        "id": session.id.simple().to_string(),
        "created": timestamp(session.created),
        "last_used": timestamp(session.last_used),
        "user_agent": session.user_agent,
        "ip": session.ip,
    })
}

/// `DELETE /auth/sessions/{id}/`: ends one of the caller's sessions (the current one
/// too: that is a logout).
///
/// # Responses
/// 204; 404 `Not found.` for an id that is not one of his live sessions; 401.
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
