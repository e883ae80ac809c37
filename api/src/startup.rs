//! The composition root: adapters wired into the service once, and the HTTP server.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use application::Gatehouse;
use domain::clock::SystemClock;
use infrastructure::db::{PoolSettings, build_pool};
use infrastructure::{
    BcryptPasswordHasher, JwtSettings, JwtTokenCodec, PgPool, PgSessionRepository, PgUserRepository,
};
use secrecy::SecretString;

use crate::errors::ApiError;
use crate::settings::Settings;
use crate::{middleware, routes};

/// The production adapters.
pub struct ProdDeps;

impl application::Deps for ProdDeps {
    type Users = PgUserRepository;
    type Sessions = PgSessionRepository;
    type Hasher = BcryptPasswordHasher;
    type Tokens = JwtTokenCodec;
    type Clock = SystemClock;
}

/// What every handler can reach.
pub struct AppState {
    pub gatehouse: Gatehouse<ProdDeps>,
    pub pool: PgPool,
    /// `Authorization` types accepted, the first one named in challenges.
    pub header_types: Vec<String>,
}

fn chrono_duration(duration: std::time::Duration) -> anyhow::Result<chrono::Duration> {
    chrono::Duration::from_std(duration).context("duration out of range")
}

/// Builds the service from the settings: pool, adapters, use cases.
pub async fn build_state(settings: &Settings) -> anyhow::Result<AppState> {
    let pool = build_pool(&PoolSettings {
        url: settings.database_url()?.clone(),
        max_connections: settings.database.max_connections,
        acquire_timeout: settings.database.acquire_timeout,
    })?;
    let cost = settings.passwords.bcrypt_cost;
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let hasher = tokio::task::spawn_blocking(move || BcryptPasswordHasher::new(cost, cores))
        .await
        .context("while preparing the password hasher")??;
    let jwt = &settings.jwt;
    let codec = JwtTokenCodec::new(&JwtSettings {
        signing_key: jwt
            .signing_key
            .clone()
            .unwrap_or_else(|| SecretString::from("")),
        issuer: jwt.issuer.clone(),
        audience: jwt.audience.clone(),
        leeway_seconds: jwt.leeway.as_secs(),
    });
    let use_case_settings = application::Settings {
        tokens: application::TokenSettings {
            access_lifetime: chrono_duration(jwt.access_token_lifetime)?,
            refresh_lifetime: chrono_duration(jwt.refresh_token_lifetime)?,
            rotate_refresh_tokens: jwt.rotate_refresh_tokens,
            reuse_interval: chrono_duration(jwt.reuse_interval)?,
            session_max_lifetime: chrono_duration(jwt.session_max_lifetime)?,
        },
        registration: application::RegistrationSettings {
            enabled: settings.registration.enabled,
            require_activation: settings.registration.require_activation,
            password_retype: settings.registration.password_retype,
        },
        passwords: domain::password::PasswordPolicy {
            min_length: settings.passwords.min_length,
        },
    };
    let gatehouse = Gatehouse::new(
        PgUserRepository::new(pool.clone()),
        PgSessionRepository::new(pool.clone()),
        hasher,
        codec,
        SystemClock,
        use_case_settings,
    );
    Ok(AppState {
        gatehouse,
        pool,
        header_types: jwt.auth_header_types.clone(),
    })
}

/// The running HTTP server and the port it listens on.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds the listener (port 0 picks a free one) and builds the server.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("while binding {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(build_state(settings).await?);
        let workers = settings
            .server
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        let server = HttpServer::new(move || {
            let app = App::new()
                .app_data(state.clone())
                .app_data(
                    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()),
                )
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    ApiError::Parse(format!("Invalid query string - {error}")).into()
                }))
                .app_data(web::JsonConfig::default().error_handler(|error, _| {
                    ApiError::Parse(format!("JSON parse error - {error}")).into()
                }))
                .app_data(web::FormConfig::default().error_handler(|error, _| {
                    ApiError::Parse(format!("Form parse error - {error}")).into()
                }));
            routes::endpoints()
                .into_iter()
                .fold(app, App::service)
                .default_service(web::to(routes::not_found))
                .wrap(from_fn(middleware::observe))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
        })
        .workers(workers)
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until stopped: SIGTERM finishes in-flight requests (up to 30 s) and
    /// returns; SIGINT and SIGQUIT stop at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
