//! Configuration (SPEC §9): `config/default.toml` → `config/{GATEHOUSE_ENV}.toml` →
//! plain environment names → `GATEHOUSE__SECTION__KEY`. Each layer's settings type
//! lives beside the code that reads it and deserializes itself from its section; a
//! section several layers read (`jwt`, `passwords`, `email`, `throttle`) is handed to
//! each of them, and a key none of them reads is refused. Bad values stop start-up
//! with a message naming the key.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use application::{
    AccountSettings, LoginThrottleSettings, PasswordChangeSettings, RegistrationSettings,
    TokenSettings,
};
use domain::password::PasswordPolicy;
use infrastructure::JwtSettings as JwtCodecSettings;
use infrastructure::auth_cache::AuthCacheSettings;
use infrastructure::db::PoolSettings;
use infrastructure::email::{EmailTemplates, OutboxSettings, SmtpSettings, SmtpTls};
use infrastructure::throttle::ThrottleStoreSettings;
use infrastructure::{HashingSettings, JwtAlgorithm};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;

pub use crate::auth::AuthSettings;
pub use crate::handlers::jwks::JwksSettings;
pub use crate::handlers::metrics::MetricsSettings;
pub use crate::startup::ServerSettings;
pub use crate::telemetry::{LogFormat, LoggingSettings};
pub use crate::throttle::ThrottleRates;

/// The development signing key shipped in `config/development.toml`.
pub const DEVELOPMENT_SIGNING_KEY: &str = "gatehouse-development-signing-key-not-for-production";

/// The signing key shipped in `config/test.toml`: public too, so refused elsewhere.
pub const TEST_SIGNING_KEY: &str = "gatehouse-test-signing-key-0123456789abcdef";

/// What an operator does about a refused signing key: the variables he sets.
const SET_SIGNING_KEY: &str =
    "set SECRET_KEY (or GATEHOUSE__JWT__SIGNING_KEY) to a random secret of at least 32 bytes";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Every setting, by section.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: PoolSettings,
    /// `database.auth_cache_size`.
    pub auth_cache: AuthCacheSettings,
    pub jwt: JwtSection,
    pub passwords: PasswordsSection,
    pub registration: RegistrationSettings,
    pub email: EmailSection,
    pub throttle: ThrottleSection,
    pub logging: LoggingSettings,
    pub metrics: MetricsSettings,
    /// What the layers made of every key, secrets redacted (`gatehouse check`).
    pub effective: EffectiveConfig,
}

/// The configuration as the layers left it: each key that has a value, by section,
/// with its value as read; passwords (in URLs too), signing keys and secrets redacted.
#[derive(Debug, Clone, Default)]
pub struct EffectiveConfig {
    keys: Vec<(String, String)>,
}

/// What a secret reads as.
const REDACTED: &str = "********";

impl EffectiveConfig {
    fn of(config: &config::Config) -> anyhow::Result<Self> {
        let sections: BTreeMap<String, serde_json::Value> = config
            .clone()
            .try_deserialize()
            .context("invalid configuration")?;
        let mut keys = Vec::new();
        for section in SECTIONS {
            let Some(serde_json::Value::Object(table)) = sections.get(section) else {
                continue;
            };
            let table: BTreeMap<_, _> = table.iter().collect();
            for (key, value) in table {
                let key = format!("{section}.{key}");
                let shown = redacted(&key, value);
                keys.push((key, shown));
            }
        }
        Ok(Self { keys })
    }

    /// `section.key = value` lines, TOML-like.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.keys
            .iter()
            .map(|(key, value)| format!("{key} = {value}"))
    }
}

/// A value as `check` prints it: JSON-quoted, a secret replaced, the password of a URL
/// hidden.
fn redacted(key: &str, value: &serde_json::Value) -> String {
    let name = key.rsplit('.').next().unwrap_or(key);
    // `smtp_password`, not `password_reset` (a rate); `metrics.bearer_token`.
    let secret = name == "signing_key"
        || name.ends_with("password")
        || name.ends_with("token")
        || name.contains("secret");
    match value {
        serde_json::Value::String(text) if secret && !text.is_empty() => {
            serde_json::Value::from(REDACTED).to_string()
        }
        serde_json::Value::String(text) if name.ends_with("url") => {
            serde_json::Value::from(infrastructure::pg_connect::redact_password(text)).to_string()
        }
        serde_json::Value::Array(_) | serde_json::Value::Object(_) if secret => {
            serde_json::Value::from(REDACTED).to_string()
        }
        other => other.to_string(),
    }
}

/// `jwt.*`: how tokens are signed, how long they live, how clients present them.
#[derive(Debug, Clone)]
pub struct JwtSection {
    pub codec: JwtCodecSettings,
    pub tokens: TokenSettings,
    pub auth: AuthSettings,
    pub jwks: JwksSettings,
}

/// `passwords.*`.
#[derive(Debug, Clone)]
pub struct PasswordsSection {
    pub hashing: HashingSettings,
    pub policy: PasswordPolicy,
    pub change: PasswordChangeSettings,
}

/// `email.*`: the mail server, the templates, delivery, and the emailed links.
#[derive(Debug, Clone)]
pub struct EmailSection {
    pub smtp: SmtpSettings,
    pub templates: EmailTemplates,
    pub outbox: OutboxSettings,
    pub links: AccountSettings,
}

/// `throttle.*`: where counters live, the rates of the HTTP edge, the per-account
/// login limit.
#[derive(Debug, Clone)]
pub struct ThrottleSection {
    pub store: ThrottleStoreSettings,
    pub rates: ThrottleRates,
    pub login: LoginThrottleSettings,
}

/// The sections, each read by the settings types listed for it.
const SECTIONS: [&str; 9] = [
    "server",
    "database",
    "jwt",
    "passwords",
    "registration",
    "email",
    "throttle",
    "logging",
    "metrics",
];

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

/// Reads the sections of a built configuration, keeping count of the keys each
/// reader left alone: a key that every reader of its section left alone is unknown.
struct Sections {
    config: config::Config,
    readers: BTreeMap<&'static str, usize>,
    unread: BTreeMap<String, usize>,
}

impl Sections {
    fn read<T: DeserializeOwned>(&mut self, section: &'static str) -> anyhow::Result<T> {
        let value: config::Value = self
            .config
            .get(section)
            .with_context(|| format!("invalid configuration: section [{section}] is missing"))?;
        let mut unread = Vec::new();
        let mut note = |path: serde_ignored::Path<'_>| unread.push(path.to_string());
        let tracked = serde_ignored::Deserializer::new(value, &mut note);
        let read = serde_path_to_error::deserialize(tracked).map_err(|error| {
            let key = error.path().to_string();
            anyhow::anyhow!(
                "invalid configuration: {section}.{key}: {}",
                error.into_inner()
            )
        })?;
        *self.readers.entry(section).or_default() += 1;
        for key in unread {
            *self.unread.entry(format!("{section}.{key}")).or_default() += 1;
        }
        Ok(read)
    }

    /// Refuses the sections and keys nobody read.
    fn finish(self) -> anyhow::Result<()> {
        let top: BTreeMap<String, config::Value> = self
            .config
            .try_deserialize()
            .context("invalid configuration")?;
        if let Some(section) = top.keys().find(|name| !SECTIONS.contains(&name.as_str())) {
            bail!("invalid configuration: {section}: unknown section");
        }
        for (key, left_by) in &self.unread {
            let section = key.split('.').next().unwrap_or_default();
            if self.readers.get(section) == Some(left_by) {
                bail!("invalid configuration: {key}: unknown key");
            }
        }
        Ok(())
    }
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
    let effective = EffectiveConfig::of(&built)?;
    let mut sections = Sections {
        config: built,
        readers: BTreeMap::new(),
        unread: BTreeMap::new(),
    };
    let settings = Settings {
        server: sections.read("server")?,
        database: sections.read("database")?,
        auth_cache: sections.read("database")?,
        jwt: JwtSection {
            codec: sections.read("jwt")?,
            tokens: sections.read("jwt")?,
            auth: sections.read("jwt")?,
            jwks: sections.read("jwt")?,
        },
        passwords: PasswordsSection {
            hashing: sections.read("passwords")?,
            policy: sections.read("passwords")?,
            change: sections.read("passwords")?,
        },
        registration: sections.read("registration")?,
        email: EmailSection {
            smtp: sections.read("email")?,
            templates: sections.read("email")?,
            outbox: sections.read("email")?,
            links: sections.read("email")?,
        },
        throttle: ThrottleSection {
            store: sections.read("throttle")?,
            rates: sections.read("throttle")?,
            login: sections.read("throttle")?,
        },
        logging: sections.read("logging")?,
        metrics: sections.read("metrics")?,
        effective,
    };
    sections.finish()?;
    settings.validate(environment)?;
    Ok(settings)
}

/// The HS256 secret: outside development a real one, at least 32 bytes.
fn validate_signing_key(
    key: Option<&secrecy::SecretString>,
    environment: Environment,
) -> anyhow::Result<()> {
    let refused = if environment != Environment::Development {
        match key {
            None => Some("required outside development"),
            Some(key) if key.expose_secret() == DEVELOPMENT_SIGNING_KEY => {
                Some("the development key must not be used outside development")
            }
            Some(key)
                if key.expose_secret() == TEST_SIGNING_KEY && environment != Environment::Test =>
            {
                Some("the test key must not be used outside tests")
            }
            Some(key) if key.expose_secret().len() < 32 => {
                Some("must be at least 32 bytes outside development")
            }
            Some(_) => None,
        }
    } else if key.is_none_or(|k| k.expose_secret().is_empty()) {
        Some("must not be empty")
    } else {
        None
    };
    match refused {
        Some(reason) => {
            bail!("invalid configuration: jwt.signing_key: {reason}; {SET_SIGNING_KEY}")
        }
        None => Ok(()),
    }
}

impl Settings {
    /// Rules across keys and environments that types alone cannot say.
    fn validate(&self, environment: Environment) -> anyhow::Result<()> {
        let jwt = &self.jwt;
        if jwt.codec.algorithm == JwtAlgorithm::HS256 {
            validate_signing_key(jwt.codec.signing_key.as_ref(), environment)?;
        }
        let min_cost = if environment == Environment::Test {
            4
        } else {
            10
        };
        if !(min_cost..=31).contains(&self.passwords.hashing.bcrypt_cost) {
            bail!(
                "invalid configuration: passwords.bcrypt_cost: must be between {min_cost} and 31"
            );
        }
        if !(0..=19).contains(&self.passwords.hashing.hashing_nice) {
            bail!("invalid configuration: passwords.hashing_nice: must be between 0 and 19");
        }
        if self.passwords.policy.min_length == 0 {
            bail!("invalid configuration: passwords.min_length: must be at least 1");
        }
        if self.database.max_connections == 0 {
            bail!("invalid configuration: database.max_connections: must be at least 1");
        }
        let tokens = &jwt.tokens;
        if tokens.access_lifetime <= chrono::Duration::zero()
            || tokens.refresh_lifetime <= chrono::Duration::zero()
        {
            bail!(
                "invalid configuration: jwt.access_token_lifetime/refresh_token_lifetime: must be positive"
            );
        }
        let header_types = &jwt.auth.auth_header_types;
        if header_types.is_empty()
            || header_types
                .iter()
                .any(|t| t.is_empty() || t.contains(char::is_whitespace))
        {
            bail!("invalid configuration: jwt.auth_header_types: one or more words without spaces");
        }
        let smtp = &self.email.smtp;
        if environment == Environment::Production && smtp.host.is_none() {
            bail!(
                "invalid configuration: email.smtp_host: SMTP_HOST is required in production (emails are only logged in development and tests)"
            );
        }
        if smtp.username.is_some() != smtp.password.is_some() {
            bail!(
                "invalid configuration: email.smtp_username: set both SMTP_USERNAME and SMTP_PASSWORD, or neither"
            );
        }
        if smtp.tls == SmtpTls::None && smtp.username.is_some() {
            bail!(
                "invalid configuration: email.smtp_tls: credentials are never sent unencrypted; use starttls or tls"
            );
        }
        if smtp.ca_file.is_some() && smtp.tls == SmtpTls::None {
            bail!(
                "invalid configuration: email.smtp_ca_file: only read with smtp_tls = \"starttls\" or \"tls\""
            );
        }
        let store = &self.throttle.store;
        if store.redis_ca_file.is_some()
            && !store
                .redis_url
                .as_ref()
                .is_some_and(|url| url.expose_secret().starts_with("rediss://"))
        {
            bail!(
                "invalid configuration: throttle.redis_ca_file: only read with a rediss:// (TLS) throttle.redis_url"
            );
        }
        let loopback = |host: &str| {
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        };
        if environment == Environment::Production
            && smtp.tls == SmtpTls::None
            && smtp.host.as_deref().is_some_and(|host| !loopback(host))
        {
            bail!(
                "invalid configuration: email.smtp_tls: reset links must not cross the network in plain text; use starttls or tls (none is allowed for a relay on localhost)"
            );
        }
        if self.email.outbox.max_backoff.is_zero() || smtp.timeout.is_zero() {
            bail!("invalid configuration: email.max_retry_interval/smtp_timeout: must be positive");
        }
        if self.server.body_timeout.is_zero() {
            bail!("invalid configuration: server.body_timeout: must be positive");
        }
        if let Some(public_url) = &self.server.public_url {
            check_public_url(public_url).map_err(|reason| {
                anyhow::anyhow!("invalid configuration: server.public_url: {reason}")
            })?;
        }
        if self.email.outbox.max_attempts == 0 || self.email.outbox.max_delivery_time.is_zero() {
            bail!("invalid configuration: email.max_attempts/max_delivery_time: must be positive");
        }
        if self.server.workers == Some(0) {
            bail!("invalid configuration: server.workers: must be at least 1");
        }
        tracing_subscriber::EnvFilter::try_new(&self.logging.level)
            .map_err(|e| anyhow::anyhow!("invalid configuration: logging.level: {e}"))?;
        Ok(())
    }
}

/// `server.public_url` is the base of links: `http(s)://host[:port][/prefix]`, nothing
/// after the path.
fn check_public_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|error| format!("{raw:?} is no URL ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?}: the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{raw:?} names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "{raw:?}: only scheme, host, port and path (e.g. https://auth.example.com)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use domain::throttle::Rate;
    use secrecy::ExposeSecret;

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
        assert_eq!(settings.server.body_timeout, Duration::from_secs(10));
        assert_eq!(
            settings.jwt.tokens.access_lifetime,
            chrono::Duration::minutes(5)
        );
        assert_eq!(
            settings.jwt.tokens.refresh_lifetime,
            chrono::Duration::days(1)
        );
        assert_eq!(
            settings.jwt.tokens.session_max_lifetime,
            chrono::Duration::days(30)
        );
        assert_eq!(settings.jwt.auth.auth_header_types, vec!["Bearer"]);
        assert_eq!(
            settings.throttle.rates.login,
            Rate {
                requests: 5,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(settings.passwords.hashing.bcrypt_cost, 12);
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
        assert_eq!(
            settings.jwt.tokens.access_lifetime,
            chrono::Duration::seconds(2)
        );
        assert_eq!(settings.jwt.auth.auth_header_types, vec!["Bearer", "JWT"]);
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
    fn a_zero_body_timeout_is_refused_by_name() {
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__SERVER__BODY_TIMEOUT", "0s")],
        );
        assert!(message.contains("server.body_timeout"), "{message}");
    }

    #[test]
    fn a_public_url_is_an_http_base_without_query() {
        let settings = load_with(
            Environment::Development,
            &[(
                "GATEHOUSE__SERVER__PUBLIC_URL",
                "https://auth.example.com/id",
            )],
        )
        .unwrap();
        assert_eq!(
            settings.server.public_url.as_deref(),
            Some("https://auth.example.com/id")
        );
        for bad in [
            "auth.example.com",
            "ftp://auth.example.com",
            "https://auth.example.com/?a=1",
        ] {
            let message = error(
                Environment::Development,
                &[("GATEHOUSE__SERVER__PUBLIC_URL", bad)],
            );
            assert!(message.contains("server.public_url"), "{bad}: {message}");
        }
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
            assert!(message.contains("SECRET_KEY"), "{message}");
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
    fn the_hashing_threads_nice_value_is_10_unless_set_between_0_and_19() {
        let settings = load_with(Environment::Test, &[]).unwrap();
        assert_eq!(settings.passwords.hashing.hashing_nice, 10);
        let settings = load_with(
            Environment::Test,
            &[("GATEHOUSE__PASSWORDS__HASHING_NICE", "0")],
        )
        .unwrap();
        assert_eq!(settings.passwords.hashing.hashing_nice, 0);
        for refused in ["-1", "20"] {
            let message = error(
                Environment::Test,
                &[("GATEHOUSE__PASSWORDS__HASHING_NICE", refused)],
            );
            assert!(message.contains("passwords.hashing_nice"), "{message}");
        }
    }

    #[test]
    fn a_digits_only_secret_key_is_kept_as_written() {
        let key = "1234567890123456789012345678901234567890";
        let settings = load_with(
            Environment::Production,
            &[("SECRET_KEY", key), SMTP, STARTTLS],
        )
        .unwrap();
        assert_eq!(settings.jwt.codec.signing_key.unwrap().expose_secret(), key);
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

    #[test]
    fn ca_files_are_read_only_where_tls_is_used() {
        let settings = load_with(
            Environment::Development,
            &[
                SMTP,
                STARTTLS,
                (
                    "GATEHOUSE__EMAIL__SMTP_CA_FILE",
                    "/etc/gatehouse/smtp-ca.pem",
                ),
                ("GATEHOUSE__THROTTLE__BACKEND", "redis"),
                ("REDIS_URL", "rediss://redis.internal:6380/0"),
                (
                    "GATEHOUSE__THROTTLE__REDIS_CA_FILE",
                    "/etc/gatehouse/redis-ca.pem",
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            settings.email.smtp.ca_file.as_deref(),
            Some(Path::new("/etc/gatehouse/smtp-ca.pem"))
        );
        assert_eq!(
            settings.throttle.store.redis_ca_file.as_deref(),
            Some(Path::new("/etc/gatehouse/redis-ca.pem"))
        );
        let plain_smtp = error(
            Environment::Development,
            &[SMTP, ("GATEHOUSE__EMAIL__SMTP_CA_FILE", "/ca.pem")],
        );
        assert!(plain_smtp.contains("email.smtp_ca_file"), "{plain_smtp}");
        let plain_redis = error(
            Environment::Development,
            &[
                ("REDIS_URL", "redis://redis.internal:6379/0"),
                ("GATEHOUSE__THROTTLE__REDIS_CA_FILE", "/ca.pem"),
            ],
        );
        assert!(
            plain_redis.contains("throttle.redis_ca_file"),
            "{plain_redis}"
        );
    }

    #[test]
    fn the_effective_configuration_shows_every_layer_and_hides_secrets() {
        let settings = load_with(
            Environment::Production,
            &[
                GOOD_KEY,
                SMTP,
                STARTTLS,
                ("SMTP_USERNAME", "mailer"),
                ("SMTP_PASSWORD", "smtp-pa55"),
                (
                    "DATABASE_URL",
                    "postgres://gate:db-pa55@db.example.com/gate?sslmode=verify-full",
                ),
                ("REDIS_URL", "rediss://:redis-pa55@redis.example.com:6380/0"),
                ("PORT", "9001"),
            ],
        )
        .unwrap();
        let lines: Vec<String> = settings.effective.lines().collect();
        let text = lines.join("\n");
        for secret in [GOOD_KEY.1, "smtp-pa55", "db-pa55", "redis-pa55"] {
            assert!(!text.contains(secret), "{secret} shown:\n{text}");
        }
        for line in [
            "database.url = \"postgres://gate:********@db.example.com/gate?sslmode=verify-full\"",
            "throttle.redis_url = \"rediss://:********@redis.example.com:6380/0\"",
            "jwt.signing_key = \"********\"",
            "email.smtp_password = \"********\"",
            "email.smtp_username = \"mailer\"",
            "server.port = \"9001\"",
            "server.host = \"0.0.0.0\"",
            "jwt.access_token_lifetime = \"5m\"",
            "throttle.password_reset = \"5/hour\"",
        ] {
            assert!(lines.iter().any(|l| l == line), "no {line}:\n{text}");
        }
    }

    #[test]
    fn a_duration_may_be_a_bare_number_of_seconds_from_the_environment() {
        let settings = load_with(
            Environment::Development,
            &[("GATEHOUSE__JWT__LEEWAY", "30")],
        )
        .unwrap();
        assert_eq!(settings.jwt.codec.leeway, Duration::from_secs(30));
    }

    #[test]
    fn a_key_of_a_shared_section_is_read_by_its_layer() {
        let settings = load_with(
            Environment::Development,
            &[
                ("GATEHOUSE__THROTTLE__LOGIN_ACCOUNT", "3/minute"),
                ("GATEHOUSE__THROTTLE__ENABLED", "false"),
                ("GATEHOUSE__EMAIL__REVEAL_UNKNOWN_EMAIL", "true"),
                ("GATEHOUSE__PASSWORDS__MIN_LENGTH", "12"),
            ],
        )
        .unwrap();
        assert_eq!(
            settings.throttle.login.login_account,
            Rate {
                requests: 3,
                period: Duration::from_secs(60)
            }
        );
        assert!(!settings.throttle.store.enabled);
        assert!(settings.email.links.reveal_unknown_email);
        assert_eq!(settings.passwords.policy.min_length, 12);
    }

    #[test]
    fn an_unknown_key_of_a_shared_section_or_an_unknown_section_is_refused() {
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__EMAIL__SMTP_HOSTNAME", "mail")],
        );
        assert!(message.contains("email.smtp_hostname"), "{message}");
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__CACHE__SIZE", "10")],
        );
        assert!(message.contains("cache"), "{message}");
    }

    #[test]
    fn an_asymmetric_algorithm_needs_no_secret_key_and_reads_its_key_settings() {
        let settings = load_with(
            Environment::Production,
            &[
                ("GATEHOUSE__JWT__ALGORITHM", "EdDSA"),
                ("GATEHOUSE__JWT__PRIVATE_KEY_FILE", "/etc/gatehouse/k.pem"),
                ("GATEHOUSE__JWT__EXTRA_VERIFICATION_KEYS", "/a.pem, /b.pem"),
                ("GATEHOUSE__JWT__JWKS_MAX_AGE", "1h"),
                SMTP,
                STARTTLS,
            ],
        )
        .unwrap();
        let codec = &settings.jwt.codec;
        assert_eq!(codec.algorithm, JwtAlgorithm::EdDSA);
        assert_eq!(
            codec.private_key_file.as_deref(),
            Some(Path::new("/etc/gatehouse/k.pem"))
        );
        assert_eq!(codec.extra_verification_keys, vec!["/a.pem", "/b.pem"]);
        assert_eq!(settings.jwt.jwks.jwks_max_age, Duration::from_secs(3600));
        let message = error(
            Environment::Development,
            &[("GATEHOUSE__JWT__ALGORITHM", "HS512")],
        );
        assert!(message.contains("jwt.algorithm"), "{message}");
    }
}
