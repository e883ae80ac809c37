//! The composition root: adapters wired into the service once, and the HTTP server.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use application::{Adapters, Gatehouse};
use domain::clock::SystemClock;
use infrastructure::db::{PoolSettings, build_pool};
use infrastructure::email::{
    EmailComposer, EmailTemplates, LogMailer, Outbox, OutboxSettings, OutboxWorker, SmtpMailer,
    SmtpSettings,
};
use infrastructure::throttle::{MemoryRateLimiter, RateLimiterStore, RedisRateLimiter};
use infrastructure::{
    BcryptPasswordHasher, JwtSettings, JwtTokenCodec, PgAccountRepository, PgApiKeyRepository,
    PgAuditLog, PgGroupRepository, PgOneTimeTokenRepository, PgPermissionRepository, PgPool,
    PgSessionRepository, PgUserAdminRepository, PgUserRepository, Sha256TokenGenerator,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use crate::errors::ApiError;
use crate::settings::{Settings, ThrottleBackend, ThrottleSettings};
use crate::throttle::{self, Throttle};
use crate::{middleware, routes};

/// The production adapters.
pub struct ProdDeps;

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

/// What every handler can reach.
pub struct AppState {
    pub gatehouse: Gatehouse<ProdDeps>,
    pub pool: PgPool,
    /// `Authorization` types accepted, the first one named in challenges.
    pub header_types: Vec<String>,
    /// Where state changes queue their emails; the worker delivers from it.
    pub outbox: Outbox,
    pub throttle: Throttle,
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
        accounts: application::AccountSettings {
            reset_token_lifetime: chrono_duration(settings.email.reset_token_lifetime)?,
            activation_token_lifetime: chrono_duration(settings.email.activation_token_lifetime)?,
            reveal_unknown_email: settings.email.reveal_unknown_email,
            change_revokes_other_sessions: settings.passwords.change_revokes_other_sessions,
            min_resend_interval: chrono_duration(settings.email.min_resend_interval)?,
        },
        login_throttle: application::LoginThrottleSettings {
            login_account: settings.throttle.login_account,
            fail_closed_login: settings.throttle.fail_closed_login,
        },
    };
    let email = &settings.email;
    let outbox = Outbox::new(EmailComposer::new(EmailTemplates {
        site_name: email.site_name.clone(),
        frontend_url: email.frontend_url.clone(),
        reset_url_template: email.reset_url_template.clone(),
        activation_url_template: email.activation_url_template.clone(),
    }));
    let rate_limiter = rate_limiter(&settings.throttle)?;
    let adapters = Adapters::<ProdDeps> {
        users: PgUserRepository::new(pool.clone(), outbox.clone()),
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
        jwt: codec,
        clock: SystemClock,
    };
    Ok(AppState {
        gatehouse: Gatehouse::new(adapters, use_case_settings),
        pool,
        header_types: jwt.auth_header_types.clone(),
        outbox,
        throttle: Throttle::new(&settings.throttle, rate_limiter, routes::scopes()),
    })
}

/// How long a throttle check waits for Redis before letting the request through.
const REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

/// The most clients the in-process throttle tracks at once.
const MEMORY_THROTTLE_KEYS: usize = 100_000;

fn rate_limiter(settings: &ThrottleSettings) -> anyhow::Result<RateLimiterStore> {
    if !settings.enabled {
        return Ok(RateLimiterStore::Off);
    }
    Ok(match settings.backend {
        ThrottleBackend::Memory => {
            RateLimiterStore::Memory(MemoryRateLimiter::new(MEMORY_THROTTLE_KEYS))
        }
        ThrottleBackend::Redis => {
            let url = settings
                .redis_url
                .as_ref()
                .context("throttle.backend = \"redis\" needs throttle.redis_url (REDIS_URL)")?;
            RateLimiterStore::Redis(Box::new(RedisRateLimiter::new(
                url.expose_secret(),
                &settings.key_prefix,
                REDIS_TIMEOUT,
            )?))
        }
    })
}

/// Starts the outbox worker on this runtime: SMTP when `email.smtp_host` is set, the
/// log otherwise (development and tests only; production requires a host). It stops
/// when the returned sender is dropped or fires.
pub fn spawn_outbox_worker(
    settings: &Settings,
    state: &AppState,
) -> anyhow::Result<oneshot::Sender<()>> {
    let email = &settings.email;
    let outbox_settings = OutboxSettings {
        max_backoff: email.max_retry_interval,
        ..OutboxSettings::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    match &email.smtp_host {
        Some(host) => {
            let mailer = SmtpMailer::new(&SmtpSettings {
                host: host.clone(),
                port: email.smtp_port,
                username: email.smtp_username.clone(),
                password: email.smtp_password.clone(),
                tls: match email.smtp_tls {
                    crate::settings::SmtpTls::None => infrastructure::email::SmtpTls::None,
                    crate::settings::SmtpTls::Starttls => infrastructure::email::SmtpTls::Starttls,
                    crate::settings::SmtpTls::Tls => infrastructure::email::SmtpTls::Tls,
                },
                from: email.default_from_email.clone(),
                timeout: email.smtp_timeout,
            })?;
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
        let state = web::Data::new(state);
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
                .wrap(from_fn(throttle::throttle))
                .wrap(from_fn(middleware::observe))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
        })
        .workers(workers)
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            stop_outbox,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until stopped: SIGTERM finishes in-flight requests (up to 30 s) and
    /// returns; SIGINT and SIGQUIT stop at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let _ = self.stop_outbox.send(());
        served
    }
}
