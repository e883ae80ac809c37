//! Request observation: a request id per request (echoed as `X-Request-Id`), one log
//! line per request naming the route pattern — never the raw path, which may carry a
//! token — with the number of statements it sent to PostgreSQL, and the
//! `WWW-Authenticate` challenge on every 401.

use std::time::Instant;

use ::metrics::{counter, histogram};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, WWW_AUTHENTICATE};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use application::metrics;
use infrastructure::db::counting_statements;
use tracing::Instrument;
use uuid::Uuid;

use crate::startup::AppState;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// A client's request id is kept when it is short and plain; otherwise a new one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .filter(|id| {
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned)
}

/// The method as a label: the standard ones by name, any other as `OTHER`, so that a
/// client cannot mint label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

pub(crate) async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request_id(&req);
    let state = req.app_data::<web::Data<AppState>>();
    let challenge = state.map(|state| format!("{} realm=\"api\"", state.auth.auth_header_types[0]));
    let server_timing = state.is_some_and(|state| state.server_timing);
    let method = method_label(req.method());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method());
    let started = Instant::now();
    let (response, statements) = counting_statements(next.call(req).instrument(span.clone())).await;
    let mut response = response?;
    let status = response.status();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    if status == StatusCode::UNAUTHORIZED
        && let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok())
    {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    if server_timing
        && let Ok(value) = HeaderValue::from_str(&format!("db;desc=\"{statements} statements\""))
    {
        response.headers_mut().insert(SERVER_TIMING, value);
    }
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            route = %route,
            status = status.as_u16(),
            latency_ms = elapsed.as_millis() as u64,
            db_statements = statements,
            "request"
        );
    });
    histogram!(metrics::HTTP_DURATION, "route" => route.clone(), "method" => method)
        .record(elapsed);
    counter!(
        metrics::HTTP_REQUESTS,
        "route" => route,
        "method" => method,
        "status" => status.as_str().to_owned()
    )
    .increment(1);
    Ok(response)
}
