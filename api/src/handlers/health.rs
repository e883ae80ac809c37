//! Liveness and readiness probes.

use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::startup::AppState;

/// How long readiness waits for the database before calling it unreachable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a readiness answer is reused: however often `/readyz` is asked, the
/// database and Redis are probed about once in this time.
const READINESS_TTL: Duration = Duration::from_secs(1);

/// What one probe found.
#[derive(Debug, Clone, Copy)]
struct Probe {
    database_ok: bool,
    throttle: &'static str,
}

/// The last probe, shared by every worker. One probe runs at a time: callers that
/// arrive during it wait for its answer, and callers within `READINESS_TTL` of its end
/// get that answer too.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    last: Mutex<Option<(Instant, Probe)>>,
}

impl Readiness {
    async fn current(&self, state: &AppState) -> Probe {
        let mut last = self.last.lock().await;
        if let Some((at, probe)) = *last
            && at.elapsed() < READINESS_TTL
        {
            return probe;
        }
        let probe = probe(state).await;
        *last = Some((Instant::now(), probe));
        probe
    }
}

async fn probe(state: &AppState) -> Probe {
    let ping = tokio::time::timeout(READINESS_TIMEOUT, infrastructure::db::ping(&state.pool));
    let (ping, throttle) = tokio::join!(ping, state.throttle.status());
    if throttle == "unreachable" {
        tracing::warn!("readiness: the throttle's Redis is unreachable; limits are not enforced");
    }
    let database_ok = match ping {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness: database unreachable");
            false
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer in time");
            false
        }
    };
    Probe {
        database_ok,
        throttle,
    }
}

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthResponse {
    #[schema(example = "ok")]
    status: &'static str,
}

/// What readiness found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReadinessResponse {
    /// `ready` or `unavailable`.
    #[schema(example = "ready")]
    status: &'static str,
    /// `ok` or `unreachable`.
    #[schema(example = "ok")]
    database: &'static str,
    /// `off`, `memory`, or whether Redis answers: `ok` or `unreachable`.
    #[schema(example = "memory")]
    throttle: &'static str,
}

/// `GET /healthz`: the process answers.
///
/// # Responses
/// 200 `{"status": "ok"}`.
#[utoipa::path(
    get, path = "/healthz", tag = "operations", operation_id = "healthz",
    summary = "Liveness: the process answers",
    responses((status = 200, description = "Alive", body = HealthResponse)),
)]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse { status: "ok" })
}

/// `GET /readyz`: the database answers (as probed at most `READINESS_TTL` ago).
///
/// # Responses
/// 200 `{"status": "ready", "database": "ok"}`; 503 with `"database": "unreachable"`.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", operation_id = "readyz",
    summary = "Readiness: the database answers (probed at most a second ago)",
    responses(
        (status = 200, description = "Ready", body = ReadinessResponse),
        (status = 503, description = "The database is unreachable", body = ReadinessResponse),
    ),
)]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let Probe {
        database_ok,
        throttle,
    } = state.readiness.current(&state).await;
    if database_ok {
        HttpResponse::Ok().json(ReadinessResponse {
            status: "ready",
            database: "ok",
            throttle,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(ReadinessResponse {
            status: "unavailable",
            database: "unreachable",
            throttle,
        })
    }
}
