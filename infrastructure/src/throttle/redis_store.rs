//! `RateLimiter` in Redis: the same sliding log as in memory, kept in a sorted set per
//! key and decided by one Lua script (one atomic round trip), on Redis's clock so that
//! instances with skewed clocks still share one window.

use std::path::Path;
use std::sync::Arc;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ::metrics::gauge;
use anyhow::Context;
use application::metrics;
use domain::RepositoryError;
use domain::ports::RateLimiter;
use domain::throttle::{Rate, Reservation, Ticket, Verdict};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::RwLock;

/// KEYS[1]: the key. ARGV: the limit, the window in ms and a member unique to this
/// hit, which an allowed hit is counted as (a refund removes it again). Returns -1
/// when the hit is allowed, else the ms until it would be.
const SLIDING_WINDOW: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if oldest[2] == nil then return window end
  return window - (now - tonumber(oldest[2]))
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return -1
";

#[derive(Clone)]
pub struct RedisRateLimiter {
    client: redis::Client,
    connection: Arc<RwLock<Option<ConnectionManager>>>,
    script: Arc<redis::Script>,
    prefix: String,
    timeout: Duration,
    reachable: Arc<AtomicBool>,
    /// After a failure, checks fail at once until then, rather than each waiting out
    /// the timeout while Redis is down.
    quiet_until: Arc<std::sync::Mutex<Option<Instant>>>,
}

/// How long checks skip Redis after it failed to answer.
const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
#[error("Redis failed less than {BACKOFF:?} ago; not asked again yet")]
struct BackingOff;

#[derive(Debug, thiserror::Error)]
#[error("Redis did not answer within {0:?}")]
struct TimedOut(Duration);

fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> RepositoryError {
    RepositoryError::Unavailable(Box::new(error))
}

impl RedisRateLimiter {
    /// Checks the URL only: the connection is made on first use, so the service starts
    /// (and keeps answering) while Redis is down. Every call gives up after `timeout`.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        Self::with_ca_file(url, prefix, timeout, None)
    }

    /// As [`RedisRateLimiter::new`]; the certificate of a `rediss://` server is then
    /// checked against the CA certificates of `ca_file` (PEM) rather than the
    /// system's roots. A URL of another scheme with a CA file is refused.
    pub fn with_ca_file(
        url: &str,
        prefix: &str,
        timeout: Duration,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let client = match ca_file {
            None => redis::Client::open(url)?,
            Some(path) => {
                // Read once to say what is wrong with a bad file; redis reads the PEM.
                crate::tls::read_pem_certificates(path)?;
                let pem = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(url, certificates)
                    .context("a CA file is for a rediss:// URL (TLS)")?
            }
        };
        Ok(Self {
            client,
            connection: Arc::new(RwLock::new(None)),
            script: Arc::new(redis::Script::new(SLIDING_WINDOW)),
            prefix: prefix.to_owned(),
            timeout,
            reachable: Arc::new(AtomicBool::new(true)),
            quiet_until: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// Whether the last call reached Redis.
    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// The shared connection, made on first use. No lock is held while connecting:
    /// concurrent first calls may each connect, and one of them is kept.
    async fn connection(&self) -> Result<ConnectionManager, RepositoryError> {
        if let Some(connection) = self.connection.read().await.as_ref() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(unavailable)?;
        Ok(self
            .connection
            .write()
            .await
            .get_or_insert(connection)
            .clone())
    }

    fn backing_off(&self) -> bool {
        let quiet_until = self
            .quiet_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        quiet_until.is_some_and(|until| Instant::now() < until)
    }

    /// Runs `call` on the shared connection, connecting first if need be, all within
    /// the timeout; notes reachability. Right after a failure it fails at once, unless
    /// `insist` (a readiness probe asks for real).
    async fn run<T>(
        &self,
        insist: bool,
        call: impl AsyncFnOnce(&mut ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, RepositoryError> {
        if !insist && self.backing_off() {
            return Err(unavailable(BackingOff));
        }
        let attempt = async {
            let mut connection = self.connection().await?;
            call(&mut connection).await.map_err(unavailable)
        };
        let outcome = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(unavailable(TimedOut(self.timeout))),
        };
        *self
            .quiet_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            outcome.is_err().then(|| Instant::now() + BACKOFF);
        let was_reachable = self.reachable.swap(outcome.is_ok(), Ordering::Relaxed);
        gauge!(metrics::REDIS_UP).set(if outcome.is_ok() { 1.0 } else { 0.0 });
        match (&outcome, was_reachable) {
            (Err(error), true) => {
                tracing::warn!(error = %error, "throttle store (Redis) unreachable: limits are not enforced until it answers")
            }
            (Ok(_), false) => tracing::info!("throttle store (Redis) reachable again"),
            _ => {}
        }
        outcome
    }

    /// Pings Redis, updating `reachable`.
    pub async fn ping(&self) {
        let _ = self
            .run(true, async |connection| {
                redis::cmd("PING").query_async::<String>(connection).await
            })
            .await;
    }
}

impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, rate: Rate) -> Result<Verdict, RepositoryError> {
        Ok(self.reserve(key, rate).await?.verdict())
    }

    async fn reserve(&self, key: &str, rate: Rate) -> Result<Reservation, RepositoryError> {
        let stored = format!("{}{key}", self.prefix);
        let window_ms = rate.period.as_millis() as u64;
        let member = uuid::Uuid::new_v4().simple().to_string();
        let script = self.script.clone();
        let wait_ms: i64 = self
            .run(false, async |connection| {
                script
                    .key(&stored)
                    .arg(rate.requests)
                    .arg(window_ms)
                    .arg(&member)
                    .invoke_async(connection)
                    .await
            })
            .await?;
        Ok(match u64::try_from(wait_ms) {
            Ok(ms) => Reservation::Throttled {
                retry_after: Duration::from_millis(ms),
            },
            Err(_) => Reservation::Granted(Ticket {
                key: key.to_owned(),
                id: member,
            }),
        })
    }

    async fn refund(&self, ticket: Ticket) -> Result<(), RepositoryError> {
        let stored = format!("{}{}", self.prefix, ticket.key);
        self.run(false, async |connection| {
            redis::cmd("ZREM")
                .arg(&stored)
                .arg(&ticket.id)
                .query_async::<i64>(connection)
                .await
        })
        .await?;
        Ok(())
    }
}
