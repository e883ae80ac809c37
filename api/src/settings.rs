//! Configuration (SPEC §9): `config/default.toml` → `config/{GATEHOUSE_ENV}.toml` →
//! plain environment names → `GATEHOUSE__SECTION__KEY`. Unknown keys and bad values
//! stop start-up with a message naming the key.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use domain::throttle::Rate;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// The development signing key shipped in `config/development.toml`.
pub const DEVELOPMENT_SIGNING_KEY: &str = "gatehouse-development-signing-key-not-for-production";

/// The signing key shipped in `config/test.toml`: public too, so refused elsewhere.
pub const TEST_SIGNING_KEY: &str = "gatehouse-test-signing-key-0123456789abcdef";

/// No duration setting may exceed this: larger ones overflow date arithmetic.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn from_env() -> anyhow::Result<Self> {
        let raw = std::env::var("GATEHOUSE_ENV").unwrap_or_else(|_| "development".to_owned());
        match raw.as_str() {
            "development" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" => Ok(Self::Production),
            other => bail!(
                "GATEHOUSE_ENV: unknown environment {other:?} (development, test, production)"
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub jwt: JwtSettings,
    pub passwords: PasswordSettings,
    pub registration: RegistrationSettings,
    pub email: EmailSettings,
    pub throttle: ThrottleSettings,
    pub logging: LoggingSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub workers: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(default)]
    pub url: Option<SecretString>,
    pub max_connections: usize,
    #[serde(deserialize_with = "duration")]
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    HS256,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    pub algorithm: JwtAlgorithm,
    #[serde(default)]
    pub signing_key: Option<SecretString>,
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    #[serde(deserialize_with = "list")]
    pub extra_verification_keys: Vec<String>,
    #[serde(deserialize_with = "duration")]
    pub access_token_lifetime: Duration,
    #[serde(deserialize_with = "duration")]
    pub refresh_token_lifetime: Duration,
    pub rotate_refresh_tokens: bool,
    #[serde(deserialize_with = "duration")]
    pub reuse_interval: Duration,
    #[serde(deserialize_with = "duration")]
    pub session_max_lifetime: Duration,
    #[serde(deserialize_with = "duration")]
    pub leeway: Duration,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(deserialize_with = "list")]
    pub auth_header_types: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub bcrypt_cost: u32,
    pub min_length: usize,
    /// A password change ends the user's other sessions.
    pub change_revokes_other_sessions: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSettings {
    pub enabled: bool,
    pub require_activation: bool,
    pub password_retype: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    #[serde(default)]
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    #[serde(default)]
    pub smtp_username: Option<String>,
    #[serde(default)]
    pub smtp_password: Option<SecretString>,
    pub smtp_tls: SmtpTls,
    pub default_from_email: String,
    pub frontend_url: String,
    pub site_name: String,
    pub reset_url_template: String,
    pub activation_url_template: String,
    #[serde(deserialize_with = "duration")]
    pub reset_token_lifetime: Duration,
    #[serde(deserialize_with = "duration")]
    pub activation_token_lifetime: Duration,
    pub reveal_unknown_email: bool,
    /// The longest wait between two delivery attempts of one queued email.
    #[serde(deserialize_with = "duration")]
    pub max_retry_interval: Duration,
    /// How long one SMTP exchange may take.
    #[serde(deserialize_with = "duration")]
    pub smtp_timeout: Duration,
    /// Per recipient: no second reset (or activation) email within this interval.
    #[serde(deserialize_with = "duration")]
    pub min_resend_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleBackend {
    Memory,
    Redis,
}

/// A DRF throttle rate, read from `"N/second|minute|hour|day"`.
fn rate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Rate, D::Error> {
    let raw = String::deserialize(deserializer)?;
    Rate::parse(&raw).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    pub enabled: bool,
    pub backend: ThrottleBackend,
    #[serde(default)]
    pub redis_url: Option<SecretString>,
    #[serde(deserialize_with = "rate")]
    pub anon: Rate,
    #[serde(deserialize_with = "rate")]
    pub user: Rate,
    #[serde(deserialize_with = "rate")]
    pub login: Rate,
    /// Logins per account identifier (username or email), from any address.
    #[serde(deserialize_with = "rate")]
    pub login_account: Rate,
    #[serde(deserialize_with = "rate")]
    pub register: Rate,
    /// Reset requests and activation resends.
    #[serde(deserialize_with = "rate")]
    pub password_reset: Rate,
    /// Where the shared (Redis) counters live; tests use one prefix each.
    pub key_prefix: String,
    /// Refuse logins (503) while the shared store is unreachable, rather than let
    /// them through unthrottled.
    pub fail_closed_login: bool,
    #[serde(deserialize_with = "proxies")]
    pub trusted_proxies: Vec<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSettings {
    pub format: LogFormat,
    pub level: String,
}

/// `"2s"`, `"5m"`, `"1h"`, `"1d"` (humantime), or a bare number of seconds.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
        Raw::Text(text) => humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?} ({e}); use e.g. 2s, 5m, 1h, 1d"
            ))
        }),
    }
}

/// A TOML array, or (from the environment) one string of comma-separated items.
fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Items(Vec<String>),
        Joined(String),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Items(items) => items,
        Raw::Joined(joined) => joined
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

fn proxies<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpAddr>, D::Error> {
    list(deserializer)?
        .iter()
        .map(|raw| {
            raw.trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("invalid IP address {raw:?}")))
        })
        .collect()
}

/// Plain environment names honoured beside `GATEHOUSE__SECTION__KEY`.
const PLAIN_NAMES: &[(&str, &str)] = &[
    ("DATABASE_URL", "DATABASE__URL"),
    ("SECRET_KEY", "JWT__SIGNING_KEY"),
    ("FRONTEND_URL", "EMAIL__FRONTEND_URL"),
    ("DEFAULT_FROM_EMAIL", "EMAIL__DEFAULT_FROM_EMAIL"),
    ("REDIS_URL", "THROTTLE__REDIS_URL"),
    ("SMTP_HOST", "EMAIL__SMTP_HOST"),
    ("SMTP_PORT", "EMAIL__SMTP_PORT"),
    ("SMTP_USERNAME", "EMAIL__SMTP_USERNAME"),
    ("SMTP_PASSWORD", "EMAIL__SMTP_PASSWORD"),
    ("PORT", "SERVER__PORT"),
];

/// Finds `config/`: `GATEHOUSE_CONFIG_DIR`, else `./config`, else next to the binary's
/// workspace when run through cargo.
pub fn config_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("GATEHOUSE_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("config");
    if local.join("default.toml").is_file() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../config"))
}

/// Loads the settings for `environment` from `dir` and the process environment.
pub fn load(dir: &Path, environment: Environment) -> anyhow::Result<Settings> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    load_from(dir, environment, &vars)
}

/// As `load`, with the environment variables given (tests use this).
pub fn load_from(
    dir: &Path,
    environment: Environment,
    vars: &HashMap<String, String>,
) -> anyhow::Result<Settings> {
    let default = dir.join("default.toml");
    if !default.is_file() {
        bail!(
            "configuration file {} not found (set GATEHOUSE_CONFIG_DIR)",
            default.display()
        );
    }
    let plain: config::Map<String, String> = PLAIN_NAMES
        .iter()
        .filter_map(|(name, key)| vars.get(*name).map(|v| ((*key).to_owned(), v.clone())))
        .collect();
    let prefixed: config::Map<String, String> = vars
        .iter()
        .filter(|(k, _)| k.starts_with("GATEHOUSE__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let built = config::Config::builder()
        .add_source(config::File::from(default))
        .add_source(
            config::File::from(dir.join(format!("{}.toml", environment.as_str()))).required(false),
        )
        // Values stay strings (no `try_parsing`, which would turn a digits-only
        // SECRET_KEY into a number); typed fields parse them, lists split on commas.
        .add_source(
            config::Environment::default()
                .separator("__")
                .source(Some(plain)),
        )
        .add_source(
            config::Environment::with_prefix("GATEHOUSE")
                .prefix_separator("__")
                .separator("__")
                .source(Some(prefixed)),
        )
        .build()
        .context("invalid configuration")?;
    let settings: Settings = serde_path_to_error::deserialize(built).map_err(|error| {
        let key = error.path().to_string();
        anyhow::anyhow!("invalid configuration: {key}: {}", error.into_inner())
    })?;
    settings.validate(environment)?;
    Ok(settings)
}

impl Settings {
    /// Rules across keys and environments that types alone cannot say.
    fn validate(&self, environment: Environment) -> anyhow::Result<()> {
        if environment != Environment::Development {
            match &self.jwt.signing_key {
                None => bail!(
                    "invalid configuration: jwt.signing_key: SECRET_KEY is required outside development"
                ),
                Some(key) if key.expose_secret() == DEVELOPMENT_SIGNING_KEY => {
                    bail!(
                        "invalid configuration: jwt.signing_key: the development key must not be used outside development"
                    )
                }
                Some(key)
                    if key.expose_secret() == TEST_SIGNING_KEY
                        && environment != Environment::Test =>
                {
                    bail!(
                        "invalid configuration: jwt.signing_key: the test key must not be used outside tests"
                    )
                }
                Some(key) if key.expose_secret().len() < 32 => {
                    bail!(
                        "invalid configuration: jwt.signing_key: must be at least 32 bytes outside development"
                    )
                }
                Some(_) => {}
            }
        } else if self
            .jwt
            .signing_key
            .as_ref()
            .is_none_or(|k| k.expose_secret().is_empty())
        {
            bail!("invalid configuration: jwt.signing_key: a signing key is required (SECRET_KEY)");
        }
        let min_cost = if environment == Environment::Test {
            4
        } else {
            10
        };
        if !(min_cost..=31).contains(&self.passwords.bcrypt_cost) {
            bail!(
                "invalid configuration: passwords.bcrypt_cost: must be between {min_cost} and 31"
            );
        }
        if self.passwords.min_length == 0 {
            bail!("invalid configuration: passwords.min_length: must be at least 1");
        }
        if self.database.max_connections == 0 {
            bail!("invalid configuration: database.max_connections: must be at least 1");
        }
        if self.jwt.access_token_lifetime.is_zero() || self.jwt.refresh_token_lifetime.is_zero() {
            bail!(
                "invalid configuration: jwt.access_token_lifetime/refresh_token_lifetime: must be positive"
            );
        }
        if self.jwt.auth_header_types.is_empty()
            || self
                .jwt
                .auth_header_types
                .iter()
                .any(|t| t.is_empty() || t.contains(char::is_whitespace))
        {
            bail!("invalid configuration: jwt.auth_header_types: one or more words without spaces");
        }
        if self.jwt.private_key_file.is_some() || self.jwt.public_key_file.is_some() {
            bail!(
                "invalid configuration: jwt.private_key_file: key files need an asymmetric jwt.algorithm, and only HS256 is supported"
            );
        }
        let durations = [
            ("database.acquire_timeout", self.database.acquire_timeout),
            ("jwt.access_token_lifetime", self.jwt.access_token_lifetime),
            (
                "jwt.refresh_token_lifetime",
                self.jwt.refresh_token_lifetime,
            ),
            ("jwt.reuse_interval", self.jwt.reuse_interval),
            ("jwt.session_max_lifetime", self.jwt.session_max_lifetime),
            ("jwt.leeway", self.jwt.leeway),
            (
                "email.reset_token_lifetime",
                self.email.reset_token_lifetime,
            ),
            (
                "email.activation_token_lifetime",
                self.email.activation_token_lifetime,
            ),
            ("email.max_retry_interval", self.email.max_retry_interval),
            ("email.smtp_timeout", self.email.smtp_timeout),
            ("email.min_resend_interval", self.email.min_resend_interval),
        ];
        if let Some((key, _)) = durations.iter().find(|(_, d)| *d > MAX_DURATION) {
            bail!("invalid configuration: {key}: must not exceed 100 years");
        }
        if environment == Environment::Production && self.email.smtp_host.is_none() {
            bail!(
                "invalid configuration: email.smtp_host: SMTP_HOST is required in production (emails are only logged in development and tests)"
            );
        }
        let email = &self.email;
        if email.smtp_username.is_some() != email.smtp_password.is_some() {
            bail!(
                "invalid configuration: email.smtp_username: set both SMTP_USERNAME and SMTP_PASSWORD, or neither"
            );
        }
        if email.smtp_tls == SmtpTls::None && email.smtp_username.is_some() {
            bail!(
                "invalid configuration: email.smtp_tls: credentials are never sent unencrypted; use starttls or tls"
            );
        }
        let loopback = |host: &str| {
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        };
        if environment == Environment::Production
            && email.smtp_tls == SmtpTls::None
            && email
                .smtp_host
                .as_deref()
                .is_some_and(|host| !loopback(host))
        {
            bail!(
                "invalid configuration: email.smtp_tls: reset links must not cross the network in plain text; use starttls or tls (none is allowed for a relay on localhost)"
            );
        }
        if self.email.max_retry_interval.is_zero() || self.email.smtp_timeout.is_zero() {
            bail!("invalid configuration: email.max_retry_interval/smtp_timeout: must be positive");
        }
        if self.server.workers == Some(0) {
            bail!("invalid configuration: server.workers: must be at least 1");
        }
        tracing_subscriber::EnvFilter::try_new(&self.logging.level)
            .map_err(|e| anyhow::anyhow!("invalid configuration: logging.level: {e}"))?;
        Ok(())
    }

    pub fn database_url(&self) -> anyhow::Result<&SecretString> {
        self.database
            .url
            .as_ref()
            .context("invalid configuration: database.url: DATABASE_URL is not set")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../config"))
    }

    fn load_with(environment: Environment, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load_from(&dir(), environment, &vars)
    }

    fn error(environment: Environment, vars: &[(&str, &str)]) -> String {
        format!("{:#}", load_with(environment, vars).unwrap_err())
    }

    const GOOD_KEY: (&str, &str) = ("SECRET_KEY", "0123456789abcdef0123456789abcdef-production");
    const SMTP: (&str, &str) = ("SMTP_HOST", "mail.example.com");
    const STARTTLS: (&str, &str) = ("GATEHOUSE__EMAIL__SMTP_TLS", "starttls");

    #[test]
    fn defaults_load_in_development() {
        let settings = load_with(Environment::Development, &[]).unwrap();
        assert_eq!(settings.server.port, 8000);
        assert_eq!(settings.jwt.access_token_lifetime, Duration::from_secs(300));
        assert_eq!(
            settings.jwt.refresh_token_lifetime,
            Duration::from_secs(86_400)
        );
        assert_eq!(
            settings.jwt.session_max_lifetime,
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(settings.jwt.auth_header_types, vec!["Bearer"]);
        assert_eq!(
            settings.throttle.login,
            Rate {
                requests: 5,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(settings.passwords.bcrypt_cost, 12);
    }

    #[test]
    fn prefixed_variables_and_plain_names_override_files() {
        let settings = load_with(
            Environment::Production,
            &[
                GOOD_KEY,
                SMTP,
                STARTTLS,
                ("GATEHOUSE__JWT__ACCESS_TOKEN_LIFETIME", "2s"),
                ("GATEHOUSE__JWT__AUTH_HEADER_TYPES", "Bearer,JWT"),
                ("DATABASE_URL", "postgres://db/gatehouse"),
                ("PORT", "9001"),
                ("GATEHOUSE__REGISTRATION__REQUIRE_ACTIVATION", "true"),
            ],
        )
        .unwrap();
        assert_eq!(settings.jwt.access_token_lifetime, Duration::from_secs(2));
        assert_eq!(settings.jwt.auth_header_types, vec!["Bearer", "JWT"]);
        assert_eq!(
            settings.database.url.unwrap().expose_secret(),
            "postgres://db/gatehouse"
        );
        assert_eq!(settings.server.port, 9001);
        assert!(settings.registration.require_activation);
        assert_eq!(settings.logging.format, LogFormat::Json);
    }

    #[test]
    fn a_prefixed_variable_beats_its_plain_name() {
        let settings = load_with(
            Environment::Development,
            &[("PORT", "9001"), ("GATEHOUSE__SERVER__PORT", "9002")],
        )
        .unwrap();
        assert_eq!(settings.server.port, 9002);
    }

    #[test]
    fn a_bad_duration_names_its_key() {
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__JWT__REUSE_INTERVAL", "soon")],
        );
        assert!(message.contains("jwt.reuse_interval"), "{message}");
    }

    #[test]
    fn a_bad_number_names_its_key() {
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__SERVER__PORT", "eighty")],
        );
        assert!(message.contains("server.port"), "{message}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__JWT__ACCESS_LIFETIME", "5m")],
        );
        assert!(message.contains("access_lifetime"), "{message}");
    }

    #[test]
    fn an_unknown_enum_value_names_its_key() {
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__LOGGING__FORMAT", "xml")],
        );
        assert!(message.contains("logging.format"), "{message}");
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__THROTTLE__LOGIN", "5/fortnight")],
        );
        assert!(message.contains("throttle.login"), "{message}");
    }

    #[test]
    fn production_refuses_a_missing_default_or_short_secret_key() {
        for vars in [
            vec![],
            vec![("SECRET_KEY", DEVELOPMENT_SIGNING_KEY)],
            vec![("SECRET_KEY", "too-short")],
        ] {
            let message = error(Environment::Production, &vars);
            assert!(message.contains("jwt.signing_key"), "{message}");
        }
        assert!(load_with(Environment::Production, &[GOOD_KEY, SMTP, STARTTLS]).is_ok());
    }

    #[test]
    fn production_refuses_a_test_bcrypt_cost() {
        let message = error(
            Environment::Production,
            &[GOOD_KEY, ("GATEHOUSE__PASSWORDS__BCRYPT_COST", "4")],
        );
        assert!(message.contains("passwords.bcrypt_cost"), "{message}");
    }

    #[test]
    fn a_digits_only_secret_key_is_kept_as_written() {
        let key = "1234567890123456789012345678901234567890";
        let settings = load_with(
            Environment::Production,
            &[("SECRET_KEY", key), SMTP, STARTTLS],
        )
        .unwrap();
        assert_eq!(settings.jwt.signing_key.unwrap().expose_secret(), key);
    }

    #[test]
    fn the_shipped_test_key_is_refused_outside_tests() {
        let message = error(Environment::Production, &[("SECRET_KEY", TEST_SIGNING_KEY)]);
        assert!(message.contains("jwt.signing_key"), "{message}");
    }

    #[test]
    fn an_absurd_duration_is_refused_by_name() {
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__JWT__SESSION_MAX_LIFETIME", "100000years")],
        );
        assert!(message.contains("jwt.session_max_lifetime"), "{message}");
    }

    #[test]
    fn production_needs_an_smtp_host() {
        let message = error(Environment::Production, &[GOOD_KEY]);
        assert!(message.contains("email.smtp_host"), "{message}");
    }

    #[test]
    fn smtp_credentials_and_plain_text_rules_name_their_keys() {
        let half = error(
            Environment::Development,
            &[("SMTP_HOST", "mail"), ("SMTP_USERNAME", "u")],
        );
        assert!(half.contains("email.smtp_username"), "{half}");
        let plain_auth = error(
            Environment::Development,
            &[
                ("SMTP_HOST", "mail"),
                ("SMTP_USERNAME", "u"),
                ("SMTP_PASSWORD", "p"),
            ],
        );
        assert!(plain_auth.contains("email.smtp_tls"), "{plain_auth}");
        let remote_plain = error(Environment::Production, &[GOOD_KEY, SMTP]);
        assert!(remote_plain.contains("email.smtp_tls"), "{remote_plain}");
        let local_relay = [GOOD_KEY, ("SMTP_HOST", "127.0.0.1")];
        assert!(load_with(Environment::Production, &local_relay).is_ok());
        let tls = [GOOD_KEY, SMTP, ("GATEHOUSE__EMAIL__SMTP_TLS", "starttls")];
        assert!(load_with(Environment::Production, &tls).is_ok());
    }
}
