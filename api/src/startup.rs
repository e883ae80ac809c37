//! The composition root: adapters wired into the service once, and the HTTP server.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use application::{Adapters, Gatehouse};
use domain::clock::SystemClock;
use infrastructure::auth_cache::{AuthCache, spawn_listener};
use infrastructure::db::build_pool;
use infrastructure::email::{EmailComposer, LogMailer, Outbox, OutboxWorker, SmtpMailer};
use infrastructure::throttle::RateLimiterStore;
use infrastructure::{
    BcryptPasswordHasher, JwtTokenCodec, PgAccountRepository, PgApiKeyRepository, PgAuditLog,
    PgGroupRepository, PgOneTimeTokenRepository, PgPermissionRepository, PgPool,
    PgSessionRepository, PgUserAdminRepository, PgUserRepository, Sha256TokenGenerator,
};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::auth::AuthSettings;
use crate::errors::ApiError;
use crate::forwarded::Forwarded;
use crate::handlers::health::Readiness;
use crate::handlers::jwks::JwksDocument;
use crate::handlers::metrics::{self, MetricsEndpoint};
use crate::settings::Settings;
use crate::throttle::{self, Throttle};
use crate::{middleware, routes};

/// The production adapters.
pub(crate) struct ProdDeps;

impl application::Deps for ProdDeps {
    type Users = PgUserRepository;
    type Sessions = PgSessionRepository;
    type ApiKeys = PgApiKeyRepository;
    type OneTimeTokens = PgOneTimeTokenRepository;
    type Accounts = PgAccountRepository;
    type UserAdmin = PgUserAdminRepository;
    type Groups = PgGroupRepository;
    type Permissions = PgPermissionRepository;
    type Audit = PgAuditLog;
    type RateLimiter = RateLimiterStore;
    type RandomTokens = Sha256TokenGenerator;
    type Hasher = BcryptPasswordHasher;
    type Jwt = JwtTokenCodec;
    type Clock = SystemClock;
}

/// `server.*`.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// HTTP workers; the number of cores when unset.
    #[serde(default)]
    pub workers: Option<usize>,
    /// How long a request's body may take to arrive, whole; then 408.
    #[serde(deserialize_with = "application::config::duration")]
    pub body_timeout: Duration,
    /// The base of the absolute links we answer with (`https://auth.example.com`);
    /// unset: the request's own scheme and host.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Whether answers tell how many statements they sent to PostgreSQL
    /// (`Server-Timing: db;desc="N statements"`).
    pub server_timing: bool,
}

/// What every handler can reach.
pub(crate) struct AppState {
    pub(crate) gatehouse: Gatehouse<ProdDeps>,
    pub(crate) pool: PgPool,
    /// How clients present access tokens.
    pub(crate) auth: AuthSettings,
    /// Where state changes queue their emails; the worker delivers from it.
    pub(crate) outbox: Outbox,
    pub(crate) throttle: Throttle,
    /// How long a request body may take to arrive (`server.body_timeout`).
    pub(crate) body_timeout: Duration,
    /// `server.server_timing`.
    pub(crate) server_timing: bool,
    /// The auth cache, when `database.auth_cache_size` is not 0.
    pub(crate) auth_cache: Option<AuthCache>,
    /// The last readiness probe, reused for a second.
    pub(crate) readiness: Readiness,
    /// What proxies may tell us: the client's address, the base of our links.
    pub(crate) forwarded: Forwarded,
    /// The public keys that verify our tokens.
    pub(crate) jwks: JwksDocument,
}

/// Builds the service from the settings: pool, adapters, use cases.
pub(crate) async fn build_state(settings: &Settings) -> anyhow::Result<AppState> {
    let pool = build_pool(&settings.database)?;
    let hashing = settings.passwords.hashing;
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let hasher = tokio::task::spawn_blocking(move || {
        BcryptPasswordHasher::new(hashing.bcrypt_cost, cores, hashing.hashing_nice)
    })
    .await
    .context("while preparing the password hasher")??;
    let use_case_settings = application::Settings {
        tokens: settings.jwt.tokens.clone(),
        registration: settings.registration.clone(),
        passwords: settings.passwords.policy,
        password_change: settings.passwords.change.clone(),
        accounts: settings.email.links.clone(),
        login_throttle: settings.throttle.login.clone(),
    };
    let outbox = Outbox::new(EmailComposer::new(settings.email.templates.clone()));
    let rate_limiter = RateLimiterStore::new(&settings.throttle.store)?;
    let jwt = JwtTokenCodec::new(&settings.jwt.codec)?;
    let jwks = JwksDocument::new(&jwt, &settings.jwt.jwks);
    let mut users = PgUserRepository::new(pool.clone(), outbox.clone());
    // Serves nothing until `serve` starts its listener (`Application::build`).
    let auth_cache = (settings.auth_cache.auth_cache_size > 0)
        .then(|| AuthCache::new(settings.auth_cache.auth_cache_size));
    if let Some(cache) = &auth_cache {
        users = users.with_cache(cache.clone());
    }
    let adapters = Adapters::<ProdDeps> {
        users,
        sessions: PgSessionRepository::new(pool.clone()),
        api_keys: PgApiKeyRepository::new(pool.clone()),
        one_time_tokens: PgOneTimeTokenRepository::new(pool.clone(), outbox.clone()),
        accounts: PgAccountRepository::new(pool.clone(), outbox.clone()),
        user_admin: PgUserAdminRepository::new(pool.clone()),
        groups: PgGroupRepository::new(pool.clone()),
        permissions: PgPermissionRepository::new(pool.clone()),
        audit: PgAuditLog::new(pool.clone()),
        rate_limiter: rate_limiter.clone(),
        random_tokens: Sha256TokenGenerator,
        hasher,
        jwt,
        clock: SystemClock,
    };
    Ok(AppState {
        gatehouse: Gatehouse::new(adapters, use_case_settings),
        pool,
        auth: settings.jwt.auth.clone(),
        outbox,
        throttle: Throttle::new(&settings.throttle.rates, rate_limiter, routes::scopes()),
        body_timeout: settings.server.body_timeout,
        server_timing: settings.server.server_timing,
        auth_cache,
        readiness: Readiness::default(),
        forwarded: Forwarded::new(
            &settings.throttle.rates.trusted_proxies,
            settings.server.public_url.as_deref(),
        ),
        jwks,
    })
}

/// Starts the outbox worker on this runtime: SMTP when `email.smtp_host` is set, the
/// log otherwise (development and tests only; production requires a host). It stops
/// when the returned sender is dropped or fires.
pub(crate) fn spawn_outbox_worker(
    settings: &Settings,
    state: &AppState,
) -> anyhow::Result<oneshot::Sender<()>> {
    let outbox_settings = settings.email.outbox.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    match &settings.email.smtp.host {
        Some(_) => {
            let mailer = SmtpMailer::new(&settings.email.smtp)?;
            let worker =
                OutboxWorker::new(state.pool.clone(), mailer, &state.outbox, outbox_settings);
            tokio::spawn(worker.run(stopped));
        }
        None => {
            tracing::warn!("email.smtp_host is not set: emails are written to the log, not sent");
            let worker = OutboxWorker::new(
                state.pool.clone(),
                LogMailer,
                &state.outbox,
                outbox_settings,
            );
            tokio::spawn(worker.run(stopped));
        }
    }
    Ok(stop)
}

/// The running HTTP server, its outbox worker, and the port it listens on.
pub struct Application {
    port: u16,
    server: Server,
    stop_outbox: oneshot::Sender<()>,
    /// `metrics.listen`'s server and port, stopped with the service.
    metrics_apart: Option<(ServerHandle, u16)>,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and builds the server.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("while binding {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();
        let state = build_state(settings).await?;
        let stop_outbox = spawn_outbox_worker(settings, &state)?;
        if let Some(cache) = &state.auth_cache {
            spawn_listener(cache.clone(), settings.database.url()?.clone());
        }
        let metrics = settings.metrics.enabled.then(|| {
            web::Data::new(MetricsEndpoint::new(
                &settings.metrics,
                state.pool.clone(),
                state.auth_cache.clone(),
            ))
        });
        let (metrics_here, metrics_apart) = match (metrics, &settings.metrics.listen) {
            (Some(endpoint), Some(address)) => {
                endpoint.spawn_upkeep();
                (None, Some(metrics::serve_apart(address, endpoint)?))
            }
            (Some(endpoint), None) => {
                endpoint.spawn_upkeep();
                (Some(endpoint), None)
            }
            (None, _) => (None, None),
        };
        let state = web::Data::new(state);
        let workers = settings
            .server
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        let server = HttpServer::new(move || {
            let mut app = App::new().app_data(state.clone());
            if let Some(endpoint) = &metrics_here {
                app = app.app_data(endpoint.clone());
            }
            let app = app
                // A path segment that does not decode is no route of ours.
                .app_data(
                    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()),
                );
            routes::endpoints()
                .into_iter()
                .fold(app, App::service)
                .default_service(web::to(routes::not_found))
                .wrap(from_fn(throttle::throttle))
                .wrap(from_fn(middleware::observe))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
        })
        .workers(workers)
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        let metrics_apart = metrics_apart.map(|(server, port)| {
            let handle = server.handle();
            tokio::spawn(server);
            (handle, port)
        });
        Ok(Self {
            port,
            server,
            stop_outbox,
            metrics_apart,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `metrics.listen`, when the metrics have a listener of their own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_apart.as_ref().map(|(_, port)| *port)
    }

    /// Serves until stopped: SIGTERM finishes in-flight requests (up to 30 s) and
    /// returns; SIGINT and SIGQUIT stop at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let _ = self.stop_outbox.send(());
        if let Some((metrics, _)) = self.metrics_apart {
            metrics.stop(true).await;
        }
        served
    }
}
