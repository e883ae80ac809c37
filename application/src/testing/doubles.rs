//! Test doubles of the ports that are not storage: a clock tests move by hand, a
//! hasher that counts its work, a codec that signs by remembering, a token generator
//! that numbers its tokens and a rate limiter on the fake clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use domain::ports::{
    Clock, HashError, PasswordCheck, PasswordHasher, RateLimiter, TokenCodec, TokenGenerator,
};
use domain::throttle::{Rate, Reservation, Ticket, Verdict};
use domain::{Claims, Password, RepositoryError, TokenError};

use super::lock;

/// A clock that moves only when a test moves it.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl FakeClock {
    /// Starts on a whole second, so `iat`/`exp` round-trip exactly.
    pub fn new() -> Self {
        let start = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .expect("a valid start time")
            .with_timezone(&Utc);
        Self(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.0) += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *lock(&self.0) = to;
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}

#[derive(Debug)]
struct HasherState {
    cost: u32,
    hash_calls: usize,
    verify_calls: usize,
    dummy_calls: usize,
    /// Every `verify`: the password presented and the hash it was checked against.
    verified: Vec<(String, String)>,
}

/// Hashes `pw` as `fake$<cost>$pw`; a hash of another cost, or in the `legacy$pw`
/// format of an older algorithm, verifies with `needs_rehash`. Counts every call.
#[derive(Debug, Clone)]
pub struct FakeHasher(Arc<Mutex<HasherState>>);

impl Default for FakeHasher {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(HasherState {
            cost: Self::DEFAULT_COST,
            hash_calls: 0,
            verify_calls: 0,
            dummy_calls: 0,
            verified: Vec::new(),
        })))
    }
}

impl FakeHasher {
    pub const DEFAULT_COST: u32 = 12;

    /// The hash a hasher at the default cost gives `password`.
    pub fn hash_of(password: &str) -> String {
        Self::hash_at_cost(Self::DEFAULT_COST, password)
    }

    pub fn hash_at_cost(cost: u32, password: &str) -> String {
        format!("fake${cost}${password}")
    }

    /// A hash of `password` made by an older algorithm.
    pub fn legacy_hash_of(password: &str) -> String {
        format!("legacy${password}")
    }

    /// Changes the cost new hashes get, as a configuration change would.
    pub fn set_cost(&self, cost: u32) {
        lock(&self.0).cost = cost;
    }

    pub fn hash_calls(&self) -> usize {
        lock(&self.0).hash_calls
    }

    pub fn verify_calls(&self) -> usize {
        lock(&self.0).verify_calls
    }

    /// Every `verify` so far: the password presented and the hash checked against.
    pub fn verified(&self) -> Vec<(String, String)> {
        lock(&self.0).verified.clone()
    }

    pub fn dummy_calls(&self) -> usize {
        lock(&self.0).dummy_calls
    }

    /// `verify` and `verify_dummy` calls together: the expensive work done so far.
    pub fn verifications(&self) -> usize {
        let state = lock(&self.0);
        state.verify_calls + state.dummy_calls
    }
}

impl PasswordHasher for FakeHasher {
    async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let mut state = lock(&self.0);
        state.hash_calls += 1;
        Ok(Self::hash_at_cost(state.cost, password.expose()))
    }

    async fn verify(&self, password: &Password, hash: &str) -> Result<PasswordCheck, HashError> {
        let mut state = lock(&self.0);
        state.verify_calls += 1;
        state
            .verified
            .push((password.expose().to_owned(), hash.to_owned()));
        if hash == Self::legacy_hash_of(password.expose()) {
            return Ok(PasswordCheck::Match { needs_rehash: true });
        }
        let parsed = hash
            .strip_prefix("fake$")
            .and_then(|rest| rest.split_once('$'))
            .and_then(|(cost, plain)| Some((cost.parse::<u32>().ok()?, plain)));
        Ok(match parsed {
            Some((cost, plain)) if plain == password.expose() => PasswordCheck::Match {
                needs_rehash: cost != state.cost,
            },
            _ => PasswordCheck::Mismatch,
        })
    }

    async fn verify_dummy(&self, _password: &Password) -> Result<(), HashError> {
        lock(&self.0).dummy_calls += 1;
        Ok(())
    }
}

/// Signs by remembering: a token is `tok.` followed by its claims' debug form, and
/// only strings this codec issued decode (anything else is a bad signature). The
/// same claims always give the same string, as a deterministic signature does.
/// `exp` is checked against the shared clock with no leeway, as jsonwebtoken does.
#[derive(Debug, Clone)]
pub struct FakeTokenCodec {
    issued: Arc<Mutex<HashMap<String, Claims>>>,
    clock: FakeClock,
}

impl FakeTokenCodec {
    pub fn new(clock: FakeClock) -> Self {
        Self {
            issued: Arc::default(),
            clock,
        }
    }

    /// The claims of an issued token, whether or not it has expired.
    pub fn peek(&self, token: &str) -> Claims {
        lock(&self.issued)
            .get(token)
            .cloned()
            .unwrap_or_else(|| panic!("{token:?} was not issued by this codec"))
    }
}

impl TokenCodec for FakeTokenCodec {
    fn encode(&self, claims: &Claims) -> Result<String, TokenError> {
        let token = format!("tok.{claims:?}");
        lock(&self.issued).insert(token.clone(), claims.clone());
        Ok(token)
    }

    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = lock(&self.issued)
            .get(token)
            .cloned()
            .ok_or(TokenError::Invalid)?;
        if self.clock.now().timestamp() > claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Numbers its tokens (`tok-1`, `tok-2`, …), so each is unique and a test can tell
/// which is which; the digest is `digest:` followed by the token.
#[derive(Debug, Clone, Default)]
pub struct FakeTokenGenerator(Arc<AtomicU64>);

impl FakeTokenGenerator {
    pub fn digest_of(raw: &str) -> Vec<u8> {
        format!("digest:{raw}").into_bytes()
    }

    /// How many tokens were generated so far.
    pub fn generated(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl TokenGenerator for FakeTokenGenerator {
    fn generate(&self) -> (String, Vec<u8>) {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        let raw = format!("tok-{n}");
        let digest = Self::digest_of(&raw);
        (raw, digest)
    }

    fn digest(&self, raw: &str) -> Vec<u8> {
        Self::digest_of(raw)
    }
}

/// Per key, the counted requests' times and ticket numbers.
type Windows = HashMap<String, Vec<(DateTime<Utc>, u64)>>;

/// DRF's sliding window on the fake clock, as the real stores count: a refused hit is
/// not counted. It can be made to fail, as an unreachable shared store does.
#[derive(Debug, Clone)]
pub struct InMemoryRateLimiter {
    hits: Arc<Mutex<Windows>>,
    tickets: Arc<AtomicU64>,
    clock: FakeClock,
    down: Arc<AtomicBool>,
}

impl InMemoryRateLimiter {
    pub fn new(clock: FakeClock) -> Self {
        Self {
            hits: Arc::default(),
            tickets: Arc::default(),
            clock,
            down: Arc::default(),
        }
    }

    /// From now on every call fails as an unreachable store does (`false`: answers
    /// again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many hits the window of `key` holds now.
    pub fn count(&self, key: &str, rate: Rate) -> usize {
        self.window(&mut lock(&self.hits), key, rate).len()
    }

    /// Every key counted so far.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.hits).keys().cloned().collect()
    }

    fn window<'a>(
        &self,
        hits: &'a mut Windows,
        key: &str,
        rate: Rate,
    ) -> &'a mut Vec<(DateTime<Utc>, u64)> {
        let now = self.clock.now();
        let period = Duration::from_std(rate.period).expect("a small period");
        let window = hits.entry(key.to_owned()).or_default();
        window.retain(|(at, _)| *at > now - period);
        window
    }

    fn reachable(&self) -> Result<(), RepositoryError> {
        match self.down.load(Ordering::SeqCst) {
            true => Err(RepositoryError::Unavailable(
                "the rate limiter is down".into(),
            )),
            false => Ok(()),
        }
    }
}

impl RateLimiter for InMemoryRateLimiter {
    async fn hit(&self, key: &str, rate: Rate) -> Result<Verdict, RepositoryError> {
        Ok(self.reserve(key, rate).await?.verdict())
    }

    async fn reserve(&self, key: &str, rate: Rate) -> Result<Reservation, RepositoryError> {
        self.reachable()?;
        let now = self.clock.now();
        let mut hits = lock(&self.hits);
        let window = self.window(&mut hits, key, rate);
        if window.len() < rate.requests as usize {
            let id = self.tickets.fetch_add(1, Ordering::SeqCst);
            window.push((now, id));
            return Ok(Reservation::Granted(Ticket {
                key: key.to_owned(),
                id: id.to_string(),
            }));
        }
        let period = Duration::from_std(rate.period).expect("a small period");
        let oldest = window.first().map_or(now, |(at, _)| *at);
        let wait = (oldest + period - now)
            .to_std()
            .unwrap_or(StdDuration::ZERO);
        Ok(Reservation::Throttled { retry_after: wait })
    }

    async fn refund(&self, ticket: Ticket) -> Result<(), RepositoryError> {
        self.reachable()?;
        if let Some(window) = lock(&self.hits).get_mut(&ticket.key) {
            window.retain(|(_, id)| id.to_string() != ticket.id);
        }
        Ok(())
    }
}
