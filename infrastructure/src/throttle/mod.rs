//! `RateLimiter`s: counters in this process, or in Redis so that every instance
//! behind a load balancer shares one limit.

mod memory;
mod redis_store;

pub use memory::MemoryRateLimiter;
pub use redis_store::RedisRateLimiter;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use domain::RepositoryError;
use domain::ports::RateLimiter;
use domain::throttle::{Rate, Reservation, Ticket, Verdict};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleBackend {
    Memory,
    Redis,
}

/// Where throttle counters live (`throttle.enabled`, `backend`, `redis_url`,
/// `key_prefix`).
#[derive(Debug, Clone, Deserialize)]
pub struct ThrottleStoreSettings {
    /// Off: nothing is counted and no request is throttled.
    pub enabled: bool,
    pub backend: ThrottleBackend,
    /// `REDIS_URL`, for the `redis` backend.
    #[serde(default)]
    pub redis_url: Option<SecretString>,
    /// The CA certificates (PEM) that a `rediss://` server's certificate must chain
    /// to; unset: the system's roots.
    #[serde(default)]
    pub redis_ca_file: Option<PathBuf>,
    /// Where the shared (Redis) counters live; tests use one prefix each.
    pub key_prefix: String,
}

/// How long a check waits for Redis before letting the request through.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The most clients the in-process store tracks at once.
const MEMORY_KEYS: usize = 100_000;

/// The store chosen by configuration (`throttle.enabled`, `throttle.backend`).
#[derive(Clone)]
pub enum RateLimiterStore {
    /// Throttling is off: every request is allowed, nothing is counted.
    Off,
    Memory(MemoryRateLimiter),
    Redis(Box<RedisRateLimiter>),
}

impl RateLimiterStore {
    /// The store the settings choose. Redis is connected on first use, so a Redis
    /// that is down does not stop start-up.
    pub fn new(settings: &ThrottleStoreSettings) -> anyhow::Result<Self> {
        if !settings.enabled {
            return Ok(RateLimiterStore::Off);
        }
        Ok(match settings.backend {
            ThrottleBackend::Memory => {
                RateLimiterStore::Memory(MemoryRateLimiter::new(MEMORY_KEYS))
            }
            ThrottleBackend::Redis => {
                let url = settings
                    .redis_url
                    .as_ref()
                    .context("throttle.backend = \"redis\" needs throttle.redis_url (REDIS_URL)")?;
                let limiter = RedisRateLimiter::with_ca_file(
                    url.expose_secret(),
                    &settings.key_prefix,
                    REDIS_TIMEOUT,
                    settings.redis_ca_file.as_deref(),
                )
                .context("invalid configuration: throttle.redis_url/redis_ca_file")?;
                RateLimiterStore::Redis(Box::new(limiter))
            }
        })
    }

    pub fn is_off(&self) -> bool {
        matches!(self, RateLimiterStore::Off)
    }

    /// `"off"`, `"memory"`, or whether Redis answered the last time it was asked.
    pub fn status(&self) -> &'static str {
        match self {
            RateLimiterStore::Off => "off",
            RateLimiterStore::Memory(_) => "memory",
            RateLimiterStore::Redis(redis) if redis.reachable() => "ok",
            RateLimiterStore::Redis(_) => "unreachable",
        }
    }

    /// Asks a shared store whether it answers now (readiness probes).
    pub async fn probe(&self) -> &'static str {
        if let RateLimiterStore::Redis(redis) = self {
            redis.ping().await;
        }
        self.status()
    }
}

impl RateLimiter for RateLimiterStore {
    async fn hit(&self, key: &str, rate: Rate) -> Result<Verdict, RepositoryError> {
        match self {
            RateLimiterStore::Off => Ok(Verdict::Allowed),
            RateLimiterStore::Memory(memory) => memory.hit(key, rate).await,
            RateLimiterStore::Redis(redis) => redis.hit(key, rate).await,
        }
    }

    async fn reserve(&self, key: &str, rate: Rate) -> Result<Reservation, RepositoryError> {
        match self {
            RateLimiterStore::Off => Ok(Reservation::Granted(Ticket {
                key: key.to_owned(),
                id: String::new(),
            })),
            RateLimiterStore::Memory(memory) => memory.reserve(key, rate).await,
            RateLimiterStore::Redis(redis) => redis.reserve(key, rate).await,
        }
    }

    async fn refund(&self, ticket: Ticket) -> Result<(), RepositoryError> {
        match self {
            RateLimiterStore::Off => Ok(()),
            RateLimiterStore::Memory(memory) => memory.refund(ticket).await,
            RateLimiterStore::Redis(redis) => redis.refund(ticket).await,
        }
    }
}
