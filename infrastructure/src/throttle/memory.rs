//! `RateLimiter` in this process: one sliding log per key, bounded in keys; keys whose
//! window has passed are dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use domain::RepositoryError;
use domain::ports::RateLimiter;
use domain::throttle::{Rate, Verdict};

/// How often, at most, the whole map is swept for keys whose window has passed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct MemoryRateLimiter {
    state: Arc<Mutex<State>>,
    max_keys: usize,
}

struct State {
    buckets: HashMap<String, Bucket>,
    last_sweep: Instant,
    /// Whether a full map has been reported since it last had room.
    reported_full: bool,
}

/// The times of the requests allowed in the last `period`, oldest first.
struct Bucket {
    period: Duration,
    hits: VecDeque<Instant>,
}

impl Bucket {
    fn forget_before(&mut self, now: Instant) {
        while self
            .hits
            .front()
            .is_some_and(|hit| now.duration_since(*hit) >= self.period)
        {
            self.hits.pop_front();
        }
    }
}

impl MemoryRateLimiter {
    /// Tracks about `max_keys` keys at once; past that, new keys share an overflow
    /// bucket per scope (and a warning says so) until expired keys make room.
    pub fn new(max_keys: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                buckets: HashMap::new(),
                last_sweep: Instant::now(),
                reported_full: false,
            })),
            max_keys,
        }
    }

    /// How many keys are tracked now.
    pub fn len(&self) -> usize {
        self.lock().buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere cannot leave a bucket half-written: every change is one
        // push or pop.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The verdict for `key` at `now`, counted if allowed (the clock is a parameter
    /// for the tests).
    pub fn hit_at(&self, key: &str, rate: Rate, now: Instant) -> Verdict {
        self.check_at(key, rate, now, true)
    }

    /// The verdict `hit_at` would give, counting nothing.
    pub fn peek_at(&self, key: &str, rate: Rate, now: Instant) -> Verdict {
        self.check_at(key, rate, now, false)
    }

    fn check_at(&self, key: &str, rate: Rate, now: Instant, count: bool) -> Verdict {
        let mut state = self.lock();
        // At most one sweep per interval, even when full: a sweep walks every key
        // under the lock, and a flood of new keys must not make every request pay it.
        if now.duration_since(state.last_sweep) >= SWEEP_INTERVAL {
            state.buckets.retain(|_, bucket| {
                bucket
                    .hits
                    .back()
                    .is_some_and(|newest| now.duration_since(*newest) < bucket.period)
            });
            state.last_sweep = now;
        }
        let mut key = key.to_owned();
        if !count && !state.buckets.contains_key(&key) && state.buckets.len() < self.max_keys {
            return Verdict::Allowed;
        }
        if !state.buckets.contains_key(&key) && state.buckets.len() >= self.max_keys {
            // Full: a new client shares one overflow bucket per scope (the key's part
            // before its first ':') rather than go uncounted — filling the map with
            // made-up clients buys no way around the limits.
            if !state.reported_full {
                tracing::warn!(
                    max_keys = self.max_keys,
                    "throttle store full: new clients share an overflow bucket until keys expire"
                );
                state.reported_full = true;
            }
            let scope = key.split(':').next().unwrap_or_default();
            key = format!("{scope}:overflow");
        } else if state.buckets.len() < self.max_keys {
            state.reported_full = false;
        }
        let bucket = state.buckets.entry(key).or_insert_with(|| Bucket {
            period: rate.period,
            hits: VecDeque::new(),
        });
        bucket.period = rate.period;
        bucket.forget_before(now);
        if bucket.hits.len() >= rate.requests as usize {
            let oldest = bucket.hits.front().copied().unwrap_or(now);
            return Verdict::Throttled {
                retry_after: rate.period.saturating_sub(now.duration_since(oldest)),
            };
        }
        if count {
            bucket.hits.push_back(now);
        }
        Verdict::Allowed
    }
}

impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, rate: Rate) -> Result<Verdict, RepositoryError> {
        Ok(self.hit_at(key, rate, Instant::now()))
    }

    async fn peek(&self, key: &str, rate: Rate) -> Result<Verdict, RepositoryError> {
        Ok(self.peek_at(key, rate, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_minute(requests: u32) -> Rate {
        Rate {
            requests,
            period: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_window_holds_n_requests_and_says_when_the_oldest_leaves() {
        let limiter = MemoryRateLimiter::new(100);
        let start = Instant::now();
        for i in 0..3 {
            let at = start + Duration::from_secs(i * 10);
            assert_eq!(limiter.hit_at("k", per_minute(3), at), Verdict::Allowed);
        }
        let at = start + Duration::from_secs(25);
        assert_eq!(
            limiter.hit_at("k", per_minute(3), at),
            Verdict::Throttled {
                retry_after: Duration::from_secs(35)
            }
        );
        // A refused request is not counted: the first one leaving frees one place.
        let at = start + Duration::from_secs(60);
        assert_eq!(limiter.hit_at("k", per_minute(3), at), Verdict::Allowed);
        assert_eq!(
            limiter.hit_at("k", per_minute(3), at),
            Verdict::Throttled {
                retry_after: Duration::from_secs(10)
            }
        );
        assert_eq!(limiter.hit_at("other", per_minute(3), at), Verdict::Allowed);
    }

    #[test]
    fn a_peek_counts_nothing() {
        let limiter = MemoryRateLimiter::new(100);
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(limiter.peek_at("k", per_minute(1), start), Verdict::Allowed);
        }
        assert!(limiter.is_empty(), "a peek stores no key");
        assert_eq!(limiter.hit_at("k", per_minute(1), start), Verdict::Allowed);
        let at = start + Duration::from_secs(20);
        let throttled = Verdict::Throttled {
            retry_after: Duration::from_secs(40),
        };
        assert_eq!(limiter.peek_at("k", per_minute(1), at), throttled);
        assert_eq!(limiter.peek_at("k", per_minute(1), at), throttled);
    }

    #[test]
    fn a_full_map_puts_new_clients_in_one_overflow_bucket_per_scope() {
        let limiter = MemoryRateLimiter::new(2);
        let start = Instant::now();
        assert_eq!(
            limiter.hit_at("login:a", per_minute(1), start),
            Verdict::Allowed
        );
        assert_eq!(
            limiter.hit_at("login:b", per_minute(1), start),
            Verdict::Allowed
        );
        // Full: new clients share `login:overflow`; made-up ones buy nothing.
        assert_eq!(
            limiter.hit_at("login:c", per_minute(1), start),
            Verdict::Allowed
        );
        assert!(matches!(
            limiter.hit_at("login:d", per_minute(1), start),
            Verdict::Throttled { .. }
        ));
        assert_eq!(limiter.len(), 3, "two clients and one overflow bucket");
        assert!(matches!(
            limiter.hit_at("login:a", per_minute(1), start),
            Verdict::Throttled { .. }
        ));
        // Once their windows pass, the sweep drops the old keys and makes room.
        let later = start + SWEEP_INTERVAL + Duration::from_secs(61);
        assert_eq!(
            limiter.hit_at("login:e", per_minute(1), later),
            Verdict::Allowed
        );
        assert_eq!(limiter.len(), 1);
    }
}
