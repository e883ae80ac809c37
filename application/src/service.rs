//! The service every use case hangs off, and the settings they read.

use chrono::Duration;
use domain::password::PasswordPolicy;
use domain::ports::{
    AccountRepository, ApiKeyRepository, AuditLog, Clock, GroupRepository, OneTimeTokenRepository,
    PasswordHasher, PermissionRepository, RateLimiter, SessionRepository, TokenCodec,
    TokenGenerator, UserAdminRepository, UserRepository,
};
use domain::throttle::Rate;
use domain::{AuditEvent, AuditKind, User};
use serde::Deserialize;
use uuid::Uuid;

use crate::config;

/// The adapters a `Gatehouse` runs on, chosen once at the composition root.
pub trait Deps: Send + Sync + 'static {
    type Users: UserRepository;
    type Sessions: SessionRepository;
    type ApiKeys: ApiKeyRepository;
    /// The stored one-time tokens of emailed links.
    type OneTimeTokens: OneTimeTokenRepository;
    type Accounts: AccountRepository;
    type UserAdmin: UserAdminRepository;
    type Groups: GroupRepository;
    type Permissions: PermissionRepository;
    type Audit: AuditLog;
    /// Counts failed logins per account.
    type RateLimiter: RateLimiter;
    /// Makes the random one-time tokens and API keys, and their digests.
    type RandomTokens: TokenGenerator;
    type Hasher: PasswordHasher;
    /// Signs and reads JWTs.
    type Jwt: TokenCodec;
    type Clock: Clock;
}

/// Lifetimes and rotation of the tokens (`jwt.*`).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenSettings {
    #[serde(
        rename = "access_token_lifetime",
        deserialize_with = "config::chrono_duration"
    )]
    pub access_lifetime: Duration,
    #[serde(
        rename = "refresh_token_lifetime",
        deserialize_with = "config::chrono_duration"
    )]
    pub refresh_lifetime: Duration,
    pub rotate_refresh_tokens: bool,
    #[serde(deserialize_with = "config::chrono_duration")]
    pub reuse_interval: Duration,
    #[serde(deserialize_with = "config::chrono_duration")]
    pub session_max_lifetime: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_lifetime: Duration::minutes(5),
            refresh_lifetime: Duration::days(1),
            rotate_refresh_tokens: true,
            reuse_interval: Duration::seconds(10),
            session_max_lifetime: Duration::days(30),
        }
    }
}

/// `registration.*`.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistrationSettings {
    pub enabled: bool,
    pub require_activation: bool,
    pub password_retype: bool,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            require_activation: false,
            password_retype: false,
        }
    }
}

/// The email-driven flows (SPEC §7, `email.*`).
#[derive(Debug, Clone, Deserialize)]
pub struct AccountSettings {
    #[serde(deserialize_with = "config::chrono_duration")]
    pub reset_token_lifetime: Duration,
    #[serde(deserialize_with = "config::chrono_duration")]
    pub activation_token_lifetime: Duration,
    /// Answer a reset request for an unknown address with 404 (seed 001).
    pub reveal_unknown_email: bool,
    /// Per recipient: no second link email of one purpose within this interval.
    #[serde(deserialize_with = "config::chrono_duration")]
    pub min_resend_interval: Duration,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            reset_token_lifetime: Duration::hours(1),
            activation_token_lifetime: Duration::days(3),
            reveal_unknown_email: false,
            min_resend_interval: Duration::minutes(1),
        }
    }
}

/// What a password change does besides (`passwords.*`).
#[derive(Debug, Clone, Deserialize)]
pub struct PasswordChangeSettings {
    /// A password change ends the user's other sessions.
    pub change_revokes_other_sessions: bool,
}

impl Default for PasswordChangeSettings {
    fn default() -> Self {
        Self {
            change_revokes_other_sessions: true,
        }
    }
}

/// The per-account limit on failed logins (SPEC §8), from any address
/// (`throttle.*`).
#[derive(Debug, Clone, Deserialize)]
pub struct LoginThrottleSettings {
    /// Failed logins naming one account allowed per period.
    #[serde(deserialize_with = "config::rate")]
    pub login_account: Rate,
    /// While the limiter's store is unreachable, refuse logins (unavailable) rather
    /// than let them through unlimited.
    pub fail_closed_login: bool,
}

impl Default for LoginThrottleSettings {
    fn default() -> Self {
        Self {
            login_account: Rate {
                requests: 20,
                period: std::time::Duration::from_secs(3600),
            },
            fail_closed_login: false,
        }
    }
}

/// Everything the use cases read, assembled by the composition root.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub tokens: TokenSettings,
    pub registration: RegistrationSettings,
    pub passwords: PasswordPolicy,
    pub password_change: PasswordChangeSettings,
    pub accounts: AccountSettings,
    pub login_throttle: LoginThrottleSettings,
}

/// Who is calling, as far as the transport knows: kept with each session and each
/// audit event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl ClientInfo {
    /// An unknown client: the command line, or a caller that does not say.
    pub const UNKNOWN: ClientInfo = ClientInfo {
        user_agent: None,
        ip: None,
    };
}

/// A signed-in user calling a use case: who, in which session, and from where.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user: &'a User,
    /// The session of the access token he presented; `None` when he signed in with an
    /// API key (or the caller does not say).
    pub session: Option<Uuid>,
    pub client: &'a ClientInfo,
}

/// A user whose session and client are unknown (the command line, tests).
impl<'a> From<&'a User> for Caller<'a> {
    fn from(user: &'a User) -> Self {
        Caller {
            user,
            session: None,
            client: &ClientInfo::UNKNOWN,
        }
    }
}

/// An access token and the refresh token of the same session. `Debug` hides both.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenPair { access: ***, refresh: *** }")
    }
}

/// One of each adapter, to build a `Gatehouse` from.
pub struct Adapters<D: Deps> {
    pub users: D::Users,
    pub sessions: D::Sessions,
    pub api_keys: D::ApiKeys,
    pub one_time_tokens: D::OneTimeTokens,
    pub accounts: D::Accounts,
    pub user_admin: D::UserAdmin,
    pub groups: D::Groups,
    pub permissions: D::Permissions,
    pub audit: D::Audit,
    pub rate_limiter: D::RateLimiter,
    pub random_tokens: D::RandomTokens,
    pub hasher: D::Hasher,
    pub jwt: D::Jwt,
    pub clock: D::Clock,
}

/// The use cases, over one set of adapters.
pub struct Gatehouse<D: Deps> {
    pub(crate) adapters: Adapters<D>,
    pub(crate) settings: Settings,
}

impl<D: Deps> Gatehouse<D> {
    pub fn new(adapters: Adapters<D>, settings: Settings) -> Self {
        Self { adapters, settings }
    }

    /// An audit event happening now, from this client.
    pub(crate) fn event(&self, kind: AuditKind, client: &ClientInfo) -> AuditEvent {
        AuditEvent::new(kind, self.adapters.clock.now())
            .from(client.ip.clone(), client.user_agent.clone())
    }
}
