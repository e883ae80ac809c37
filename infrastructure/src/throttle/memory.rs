//! `RateLimiter` in this process: one sliding log per key, bounded in keys per scope
//! (the key's text before its first `:`). Keys whose window has passed are dropped;
//! when a scope is full, its key used least recently makes room for the new one, so a
//! flood of new clients costs the flooder his own history in his own scope — it never
//! merges anyone into a shared bucket, nor pushes another scope's keys out.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use domain::RepositoryError;
use domain::ports::RateLimiter;
use domain::throttle::{Rate, Reservation, Ticket, Verdict};

/// How often, at most, the whole map is swept for keys whose window has passed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct MemoryRateLimiter {
    state: Arc<Mutex<State>>,
    max_keys: usize,
}

struct State {
    buckets: HashMap<String, Bucket>,
    /// Per scope, its keys by the sequence number of their last use, least recent first.
    recency: HashMap<String, BTreeMap<u64, String>>,
    /// Numbers uses (for `recency`) and counted requests (for tickets).
    sequence: u64,
    last_sweep: Instant,
    /// Whether a full map has been reported since it last had room.
    reported_full: bool,
}

/// The requests allowed in the last `period` with their ticket numbers, oldest first.
struct Bucket {
    period: Duration,
    hits: VecDeque<(Instant, u64)>,
    last_used: u64,
}

impl Bucket {
    fn forget_before(&mut self, now: Instant) {
        while self
            .hits
            .front()
            .is_some_and(|(hit, _)| now.duration_since(*hit) >= self.period)
        {
            self.hits.pop_front();
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.hits
            .back()
            .is_none_or(|(newest, _)| now.duration_since(*newest) >= self.period)
    }
}

/// The scope a key belongs to: its text before the first `:`.
fn scope_of(key: &str) -> &str {
    key.split(':').next().unwrap_or_default()
}

impl State {
    fn next(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Drops every key whose window has passed, at most once per interval: a sweep
    /// walks every key under the lock, and a flood must not make each request pay it.
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) < SWEEP_INTERVAL {
            return;
        }
        let recency = &mut self.recency;
        self.buckets.retain(|key, bucket| {
            let keep = !bucket.expired(now);
            if !keep && let Some(scope) = recency.get_mut(scope_of(key)) {
                scope.remove(&bucket.last_used);
            }
            keep
        });
        self.recency.retain(|_, keys| !keys.is_empty());
        self.last_sweep = now;
    }

    /// Makes room for one more key in `scope` by dropping its least recently used.
    fn evict_one(&mut self, scope: &str, max_keys: usize) {
        if !self.reported_full {
            tracing::warn!(
                max_keys,
                scope,
                "throttle store full: the least recently used clients of a scope are forgotten to make room"
            );
            self.reported_full = true;
        }
        if let Some((_, oldest)) = self.recency.get_mut(scope).and_then(BTreeMap::pop_first) {
            self.buckets.remove(&oldest);
        }
    }
}

impl MemoryRateLimiter {
    /// Tracks at most `max_keys` keys per scope at once; past that, each new key
    /// evicts its scope's key used least recently (and a warning says so, once per time
    /// it fills).
    pub fn new(max_keys: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                buckets: HashMap::new(),
                recency: HashMap::new(),
                sequence: 0,
                last_sweep: Instant::now(),
                reported_full: false,
            })),
            max_keys: max_keys.max(1),
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
        match self.count_at(key, rate, now) {
            Ok(_) => Verdict::Allowed,
            Err(retry_after) => Verdict::Throttled { retry_after },
        }
    }

    /// `hit_at`, with the ticket of the counted request.
    pub fn reserve_at(&self, key: &str, rate: Rate, now: Instant) -> Reservation {
        match self.count_at(key, rate, now) {
            Ok(id) => Reservation::Granted(Ticket {
                key: key.to_owned(),
                id: id.to_string(),
            }),
            Err(retry_after) => Reservation::Throttled { retry_after },
        }
    }

    /// Counts a request for `key` if its window has room: its ticket number, or the
    /// wait until the oldest request leaves the window.
    fn count_at(&self, key: &str, rate: Rate, now: Instant) -> Result<u64, Duration> {
        let mut state = self.lock();
        state.sweep(now);
        let used = state.next();
        let scope = scope_of(key);
        // The key's entry in its scope's recency moves to `used` (its string reused).
        let entry = match state.buckets.get_mut(key) {
            Some(bucket) => {
                let previous = std::mem::replace(&mut bucket.last_used, used);
                state
                    .recency
                    .get_mut(scope)
                    .and_then(|keys| keys.remove(&previous))
            }
            None => None,
        };
        let entry = match entry {
            Some(entry) => entry,
            None => {
                let in_scope = state.recency.get(scope).map_or(0, BTreeMap::len);
                if in_scope >= self.max_keys {
                    state.evict_one(scope, self.max_keys);
                } else if in_scope + 1 < self.max_keys {
                    state.reported_full = false;
                }
                let bucket = Bucket {
                    period: rate.period,
                    hits: VecDeque::new(),
                    last_used: used,
                };
                state.buckets.insert(key.to_owned(), bucket);
                key.to_owned()
            }
        };
        match state.recency.get_mut(scope) {
            Some(keys) => {
                keys.insert(used, entry);
            }
            None => {
                state
                    .recency
                    .insert(scope.to_owned(), BTreeMap::from([(used, entry)]));
            }
        }
        let bucket = state.buckets.get_mut(key).expect("present or just added");
        bucket.period = rate.period;
        bucket.forget_before(now);
        if bucket.hits.len() >= rate.requests as usize {
            let oldest = bucket.hits.front().map_or(now, |(at, _)| *at);
            return Err(rate.period.saturating_sub(now.duration_since(oldest)));
        }
        bucket.hits.push_back((now, used));
        Ok(used)
    }

    /// Takes a counted request out of its window again.
    pub fn refund_now(&self, ticket: &Ticket) {
        let Ok(id) = ticket.id.parse::<u64>() else {
            return;
        };
        let mut state = self.lock();
        if let Some(bucket) = state.buckets.get_mut(&ticket.key) {
            bucket.hits.retain(|(_, hit)| *hit != id);
        }
    }
}

impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, rate: Rate) -> Result<Verdict, RepositoryError> {
        Ok(self.hit_at(key, rate, Instant::now()))
    }

    async fn reserve(&self, key: &str, rate: Rate) -> Result<Reservation, RepositoryError> {
        Ok(self.reserve_at(key, rate, Instant::now()))
    }

    async fn refund(&self, ticket: Ticket) -> Result<(), RepositoryError> {
        self.refund_now(&ticket);
        Ok(())
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
    fn a_reservation_takes_its_place_at_once_and_a_refund_gives_it_back() {
        let limiter = MemoryRateLimiter::new(100);
        let start = Instant::now();
        let Reservation::Granted(first) = limiter.reserve_at("k", per_minute(2), start) else {
            panic!("the window is empty");
        };
        let Reservation::Granted(second) = limiter.reserve_at("k", per_minute(2), start) else {
            panic!("one place is left");
        };
        assert_ne!(first, second);
        assert!(matches!(
            limiter.reserve_at("k", per_minute(2), start),
            Reservation::Throttled { .. }
        ));
        limiter.refund_now(&first);
        limiter.refund_now(&first);
        assert!(matches!(
            limiter.reserve_at("k", per_minute(2), start),
            Reservation::Granted(_)
        ));
        assert!(
            matches!(
                limiter.reserve_at("k", per_minute(2), start),
                Reservation::Throttled { .. }
            ),
            "a second refund of one ticket frees nothing more"
        );
    }

    #[test]
    fn a_full_store_forgets_the_least_recently_used_key_and_locks_nobody_out() {
        // The size the service runs with (`MEMORY_KEYS`).
        let limiter = MemoryRateLimiter::new(100_000);
        let start = Instant::now();
        // A flood fills the store with made-up clients, each at its limit.
        for i in 0..100_000 {
            let key = format!("login_account:flood-{i}");
            assert_eq!(limiter.hit_at(&key, per_minute(1), start), Verdict::Allowed);
        }
        assert_eq!(limiter.len(), 100_000);
        // Every new client still gets its own window, at its own limit.
        for i in 0..500 {
            let key = format!("login_account:new-{i}");
            assert_eq!(
                limiter.hit_at(&key, per_minute(1), start),
                Verdict::Allowed,
                "{key}"
            );
            assert!(matches!(
                limiter.hit_at(&key, per_minute(1), start),
                Verdict::Throttled { .. }
            ));
        }
        assert_eq!(limiter.len(), 100_000, "bounded");
        // The oldest flood keys made room; the newest of them are still counted.
        assert_eq!(
            limiter.hit_at("login_account:flood-0", per_minute(1), start),
            Verdict::Allowed
        );
        assert!(matches!(
            limiter.hit_at("login_account:flood-99999", per_minute(1), start),
            Verdict::Throttled { .. }
        ));
    }

    #[test]
    fn a_flood_in_one_scope_evicts_nothing_of_another() {
        let limiter = MemoryRateLimiter::new(100);
        let start = Instant::now();
        assert_eq!(
            limiter.hit_at("login_account_user:7", per_minute(1), start),
            Verdict::Allowed
        );
        for i in 0..1000 {
            let key = format!("login_account:made-up-{i}");
            assert_eq!(limiter.hit_at(&key, per_minute(1), start), Verdict::Allowed);
        }
        assert_eq!(limiter.len(), 101, "100 of the flood and the account");
        assert!(
            matches!(
                limiter.hit_at("login_account_user:7", per_minute(1), start),
                Verdict::Throttled { .. }
            ),
            "the account's budget is still spent"
        );
    }

    #[test]
    fn a_key_in_use_is_not_the_one_evicted() {
        let limiter = MemoryRateLimiter::new(2);
        let start = Instant::now();
        assert_eq!(
            limiter.hit_at("s:a", per_minute(1), start),
            Verdict::Allowed
        );
        assert_eq!(
            limiter.hit_at("s:b", per_minute(1), start),
            Verdict::Allowed
        );
        // `s:a` is used again (and refused): `s:b` is now the least recent.
        assert!(matches!(
            limiter.hit_at("s:a", per_minute(1), start),
            Verdict::Throttled { .. }
        ));
        assert_eq!(
            limiter.hit_at("s:c", per_minute(1), start),
            Verdict::Allowed
        );
        assert!(matches!(
            limiter.hit_at("s:a", per_minute(1), start),
            Verdict::Throttled { .. }
        ));
        assert_eq!(limiter.len(), 2);
        // Once their windows pass, the sweep drops the old keys.
        let later = start + SWEEP_INTERVAL + Duration::from_secs(61);
        assert_eq!(
            limiter.hit_at("s:d", per_minute(1), later),
            Verdict::Allowed
        );
        assert_eq!(limiter.len(), 1);
    }
}
