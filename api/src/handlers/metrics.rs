//! `GET /metrics`: what `application::metrics` names, in Prometheus' text format,
//! rendered by metrics-exporter-prometheus. The gauges that are readings of a state
//! (the pool, the outbox's backlog, the auth cache) are read when it is scraped.
//!
//! Served on the service's port unless `metrics.listen` gives it a listener of its
//! own; with `metrics.bearer_token` set, a scrape must present that token.

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use application::metrics as names;
use infrastructure::PgPool;
use infrastructure::auth_cache::AuthCache;
use metrics::gauge;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::errors::{ApiError, ErrorBody};

/// `metrics.*`.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Whether `/metrics` is served at all.
    pub enabled: bool,
    /// `host:port` of a listener of its own (e.g. reachable only by the scraper's
    /// network); unset: the service's port.
    #[serde(default)]
    pub listen: Option<String>,
    /// A scrape must send `Authorization: Bearer <token>`; unset: anyone who reaches it.
    #[serde(default)]
    pub bearer_token: Option<SecretString>,
}

/// Latency buckets (seconds): from a cached token check to a bcrypt login under load.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histograms are folded and idle data dropped when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use (the `metrics` facade has one per
/// process); every later call gets the same handle.
pub(crate) fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .expect("the buckets are a non-empty constant")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_ok() {
                names::describe();
            }
            handle
        })
        .clone()
}

/// What a scrape needs.
pub(crate) struct MetricsEndpoint {
    handle: PrometheusHandle,
    bearer_digest: Option<[u8; 32]>,
    pool: PgPool,
    auth_cache: Option<AuthCache>,
}

impl MetricsEndpoint {
    pub(crate) fn new(
        settings: &MetricsSettings,
        pool: PgPool,
        auth_cache: Option<AuthCache>,
    ) -> Self {
        Self {
            handle: recorder(),
            bearer_digest: settings
                .bearer_token
                .as_ref()
                .map(|token| digest(token.expose_secret().as_bytes())),
            pool,
            auth_cache,
        }
    }

    /// Folds the histograms now and then, so that they stay bounded between scrapes.
    pub(crate) fn spawn_upkeep(&self) {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        });
    }

    /// Whether the request may read the metrics. The digests are compared, so the
    /// comparison's time tells nothing about the token.
    fn admits(&self, req: &HttpRequest) -> bool {
        let Some(expected) = &self.bearer_digest else {
            return true;
        };
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
        presented.is_some_and(|token| digest(token) == *expected)
    }

    async fn render(&self) -> String {
        infrastructure::db::record_pool_status(&self.pool);
        if let Err(error) = infrastructure::email::record_backlog(&self.pool).await {
            tracing::warn!(error = %error, "metrics: the outbox's backlog could not be read");
        }
        if let Some(cache) = &self.auth_cache {
            gauge!(names::AUTH_CACHE_LISTENING).set(if cache.is_listening() { 1.0 } else { 0.0 });
            gauge!(names::AUTH_CACHE_ENTRIES).set(cache.len() as f64);
        }
        self.handle.render()
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The handler. Where this listener does not serve the metrics (they are off, or on a
/// listener of their own), the route is not there.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    summary = "Prometheus metrics (text exposition format 0.0.4)",
    description = "With `metrics.bearer_token` set, send `Authorization: Bearer <token>`.",
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain", body = String),
        (status = 401, description = "`metrics.bearer_token` is set and was not sent", body = ErrorBody),
        (status = 404, description = "Metrics are off, or served on `metrics.listen`", body = ErrorBody),
    ),
)]
pub(crate) async fn metrics(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let Some(endpoint) = req.app_data::<web::Data<MetricsEndpoint>>() else {
        return Err(ApiError::NotFound);
    };
    if !endpoint.admits(&req) {
        return Err(ApiError::AuthenticationFailed(
            "Invalid or missing metrics token.",
        ));
    }
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .body(endpoint.render().await))
}

/// The listener of its own (`metrics.listen`): `/metrics` only.
/// Returns the server, to be run, and its port.
pub(crate) fn serve_apart(
    address: &str,
    endpoint: web::Data<MetricsEndpoint>,
) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(address)
        .with_context(|| format!("while binding metrics.listen {address}"))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(endpoint.clone())
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(crate::routes::not_found))
    })
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok((server, port))
}
