//! Logging: tracing to stdout, pretty or JSON lines, filtered by `logging.level`
//! (or `RUST_LOG`). Nothing logs request bodies, tokens or passwords.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `logging.*`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LoggingSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive (`info`, `gatehouse=debug,info`…); `RUST_LOG` wins.
    pub level: String,
}

/// Dependencies whose debug output carries query parameters (password hashes, emails):
/// held at `info` whatever level is configured.
const QUIET_TARGETS: &[&str] = &["tokio_postgres=info", "diesel=info", "diesel_async=info"];

pub(crate) fn init(settings: &LoggingSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = QUIET_TARGETS
        .iter()
        .filter_map(|directive| directive.parse().ok())
        .fold(filter, EnvFilter::add_directive);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second initialisation (tests) keeps the first subscriber.
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
