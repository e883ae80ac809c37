//! Liveness and readiness probes.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

/// How long readiness waits for the database before calling it unreachable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process answers.
///
/// # Responses
/// 200 `{"status": "ok"}`.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers.
///
/// # Responses
/// 200 `{"status": "ready", "database": "ok"}`; 503 with `"database": "unreachable"`.
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ping = tokio::time::timeout(READINESS_TIMEOUT, infrastructure::db::ping(&state.pool));
    let (ping, throttle) = tokio::join!(ping, state.throttle.status());
    if throttle == "unreachable" {
        tracing::warn!("readiness: the throttle's Redis is unreachable; limits are not enforced");
    }
    match ping {
        Ok(Ok(())) => HttpResponse::Ok()
            .json(json!({ "status": "ready", "database": "ok", "throttle": throttle })),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness: database unreachable");
            HttpResponse::ServiceUnavailable().json(
                json!({ "status": "unavailable", "database": "unreachable", "throttle": throttle }),
            )
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer in time");
            HttpResponse::ServiceUnavailable().json(
                json!({ "status": "unavailable", "database": "unreachable", "throttle": throttle }),
            )
        }
    }
}
