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
    /// Tracks at most `max_keys` keys at once; past that, a new key goes uncounted
    /// (and a warning says so) until expired keys make room.
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

    /// The verdict for `key` at `now` (the clock is a parameter for the tests).
    pub fn hit_at(&self, key: &str, rate: Rate, now: Instant) -> Verdict {
        let mut state = self.lock();
        let full = state.buckets.len() >= self.max_keys;
        if full || now.duration_since(state.last_sweep) >= SWEEP_INTERVAL {
            state.buckets.retain(|_, bucket| {
                bucket
                    .hits
                    .back()
                    .is_some_and(|newest| now.duration_since(*newest) < bucket.period)
            });
            state.last_sweep = now;
        }
        if !state.buckets.contains_key(key) && state.buckets.len() >= self.max_keys {
            if !state.reported_full {
                tracing::warn!(
                    max_keys = self.max_keys,
                    "throttle store full: new clients go uncounted until keys expire"
                );
                state.reported_full = true;
            }
            return Verdict::Allowed;
        }
        state.reported_full = false;
        let bucket = state
            .buckets
            .entry(key.to_owned())
            .or_insert_with(|| Bucket {
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
        bucket.hits.push_back(now);
        Verdict::Allowed
    }
}

impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, rate: Rate) -> Result<Verdict, RepositoryError> {
        Ok(self.hit_at(key, rate, Instant::now()))
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
    fn keys_whose_window_passed_are_dropped_and_the_map_stays_bounded() {
        let limiter = MemoryRateLimiter::new(2);
        let start = Instant::now();
        assert_eq!(limiter.hit_at("a", per_minute(1), start), Verdict::Allowed);
        assert_eq!(limiter.hit_at("b", per_minute(1), start), Verdict::Allowed);
        // Full: a third client goes uncounted rather than evicting a live window.
        assert_eq!(limiter.hit_at("c", per_minute(1), start), Verdict::Allowed);
        assert_eq!(limiter.len(), 2);
        assert!(matches!(
            limiter.hit_at("a", per_minute(1), start),
            Verdict::Throttled { .. }
        ));
        // Once their windows pass, the old keys make room.
        let later = start + Duration::from_secs(61);
        assert_eq!(limiter.hit_at("c", per_minute(1), later), Verdict::Allowed);
        assert_eq!(limiter.len(), 1);
    }
}
