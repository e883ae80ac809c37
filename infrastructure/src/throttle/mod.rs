//! `RateLimiter`s: counters in this process, or in Redis so that every instance
//! behind a load balancer shares one limit.

mod memory;
mod redis_store;

pub use memory::MemoryRateLimiter;
pub use redis_store::RedisRateLimiter;

use domain::RepositoryError;
use domain::ports::RateLimiter;
use domain::throttle::{Rate, Verdict};

/// The store chosen by configuration (`throttle.enabled`, `throttle.backend`).
#[derive(Clone)]
pub enum RateLimiterStore {
    /// Throttling is off: every request is allowed, nothing is counted.
    Off,
    Memory(MemoryRateLimiter),
    Redis(Box<RedisRateLimiter>),
}

impl RateLimiterStore {
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

    async fn peek(&self, key: &str, rate: Rate) -> Result<Verdict, RepositoryError> {
        match self {
            RateLimiterStore::Off => Ok(Verdict::Allowed),
            RateLimiterStore::Memory(memory) => memory.peek(key, rate).await,
            RateLimiterStore::Redis(redis) => redis.peek(key, rate).await,
        }
    }
}
