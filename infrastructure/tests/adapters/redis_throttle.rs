//! The Redis `RateLimiter` against a real Redis (`GATEHOUSE_TEST_REDIS_URL`, by default
//! `redis://127.0.0.1:6379`): DRF's sliding window, refused hits not counted,
//! reservations taken atomically and refunded, keys
//! under their prefix with an expiry, one atomic decision per hit however many
//! instances share the store, a bounded wait when Redis is gone, and the same verdicts
//! as the in-process store.
//!
//! The server is shared: every test works under a prefix of its own and never flushes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use domain::RepositoryError;
use domain::ports::RateLimiter;
use domain::throttle::{Rate, Reservation, Verdict};
use infrastructure::throttle::{MemoryRateLimiter, RateLimiterStore, RedisRateLimiter};
use redis::aio::MultiplexedConnection;
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT: Duration = Duration::from_millis(250);

fn redis_url() -> String {
    std::env::var("GATEHOUSE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn unique_prefix() -> String {
    format!("gh-test:{}:", uuid::Uuid::new_v4().simple())
}

fn limiter(prefix: &str) -> RedisRateLimiter {
    RedisRateLimiter::new(&redis_url(), prefix, TIMEOUT).expect("a valid Redis URL")
}

/// A plain connection, to look at what the limiter stored.
async fn inspect() -> MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("a valid Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at GATEHOUSE_TEST_REDIS_URL (default 127.0.0.1:6379)")
}

async fn query(connection: &mut MultiplexedConnection, command: &str, key: &str) -> i64 {
    redis::cmd(command)
        .arg(key)
        .query_async(connection)
        .await
        .unwrap_or_else(|e| panic!("{command} {key}: {e}"))
}

fn rate(requests: u32, period: Duration) -> Rate {
    Rate { requests, period }
}

fn per_minute(requests: u32) -> Rate {
    rate(requests, Duration::from_secs(60))
}

/// The window of the tests that wait for hits to leave it: wide enough that a loaded
/// machine, late by a second, still makes each hit on the side of the window the test
/// means.
const WINDOW: Duration = Duration::from_secs(4);

/// How far past the window a test waits for a hit to have left it.
const PAST: Duration = Duration::from_millis(500);

/// Redis counts in whole milliseconds of its own clock; the tests measure on theirs.
const CLOCK_SLACK: Duration = Duration::from_millis(10);

async fn verdict(limiter: &impl RateLimiter, key: &str, rate: Rate) -> Verdict {
    limiter.hit(key, rate).await.expect("Redis answers")
}

fn retry_after(verdict: Verdict) -> Duration {
    match verdict {
        Verdict::Throttled { retry_after } => retry_after,
        Verdict::Allowed => panic!("expected Throttled, got Allowed"),
    }
}

/// When a call was made, as the test saw it: the store decided somewhere between
/// `sent` and `answered`.
#[derive(Debug, Clone, Copy)]
struct Span {
    sent: Instant,
    answered: Instant,
}

async fn timed<T>(call: impl Future<Output = T>) -> (T, Span) {
    let sent = Instant::now();
    let outcome = call.await;
    let answered = Instant::now();
    (outcome, Span { sent, answered })
}

/// Asserts that `wait` is what a full window of `period` gives at `now` when its oldest
/// hit was made at `oldest`: the rest of the period from that hit, within what the
/// test could measure of both moments (however slow the machine, the range is right).
fn assert_wait_from(wait: Duration, period: Duration, oldest: Span, now: Span) {
    let longest = period.saturating_sub(now.sent.saturating_duration_since(oldest.answered));
    let shortest = period.saturating_sub(now.answered.duration_since(oldest.sent));
    assert!(
        wait + CLOCK_SLACK >= shortest && wait <= longest + CLOCK_SLACK,
        "wait {wait:?}, expected {shortest:?}..={longest:?} (the rest of {period:?} from the oldest hit)"
    );
}

#[tokio::test]
async fn n_requests_pass_then_the_wait_is_the_rest_of_the_period() {
    let limiter = limiter(&unique_prefix());
    for i in 0..3 {
        assert_eq!(
            verdict(&limiter, "client", per_minute(3)).await,
            Verdict::Allowed,
            "hit {i}"
        );
    }
    let wait = retry_after(verdict(&limiter, "client", per_minute(3)).await);
    assert!(
        wait >= Duration::from_secs(59) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
}

#[tokio::test]
async fn concurrent_reservations_take_only_the_free_places_and_a_refund_gives_one_back() {
    let prefix = unique_prefix();
    let redis_limiter = limiter(&prefix);
    let mut redis = inspect().await;
    let key = format!("{prefix}k");
    for store in [
        RateLimiterStore::Redis(Box::new(redis_limiter.clone())),
        RateLimiterStore::Memory(MemoryRateLimiter::new(100)),
    ] {
        let attempts: Vec<_> = (0..12)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.reserve("k", per_minute(3)).await })
            })
            .collect();
        let mut granted = Vec::new();
        for attempt in attempts {
            match attempt.await.unwrap().expect("the store answers") {
                Reservation::Granted(ticket) => granted.push(ticket),
                Reservation::Throttled { retry_after } => {
                    assert!(retry_after > Duration::from_secs(58), "{retry_after:?}");
                }
            }
        }
        assert_eq!(granted.len(), 3, "3 of 12 concurrent reservations");
        // A refund frees its place, once.
        store.refund(granted[0].clone()).await.unwrap();
        store.refund(granted[0].clone()).await.unwrap();
        assert!(matches!(
            store.reserve("k", per_minute(3)).await.unwrap(),
            Reservation::Granted(_)
        ));
        assert!(matches!(
            store.hit("k", per_minute(3)).await.unwrap(),
            Verdict::Throttled { .. }
        ));
    }
    assert_eq!(query(&mut redis, "ZCARD", &key).await, 3);
}

#[tokio::test]
async fn a_refused_hit_is_not_counted() {
    let prefix = unique_prefix();
    let limiter = limiter(&prefix);
    let mut redis = inspect().await;
    let rate = rate(2, WINDOW);
    let (first, at_first) = timed(verdict(&limiter, "k", rate)).await;
    assert_eq!(first, Verdict::Allowed);
    let (second, at_second) = timed(verdict(&limiter, "k", rate)).await;
    assert_eq!(second, Verdict::Allowed);
    // Half a window later the refusals come: had they been counted, they would keep the
    // window full after the first two hits leave it.
    tokio::time::sleep_until((at_second.answered + WINDOW / 2).into()).await;
    for _ in 0..5 {
        let (refused, at_refusal) = timed(verdict(&limiter, "k", rate)).await;
        assert_wait_from(retry_after(refused), WINDOW, at_first, at_refusal);
    }
    assert_eq!(query(&mut redis, "ZCARD", &format!("{prefix}k")).await, 2);
    // The first two hits have left the window; the refusals, half a window younger,
    // would not have.
    tokio::time::sleep_until((at_second.answered + WINDOW + PAST).into()).await;
    let (third, at_third) = timed(verdict(&limiter, "k", rate)).await;
    assert_eq!(third, Verdict::Allowed);
    assert_eq!(verdict(&limiter, "k", rate).await, Verdict::Allowed);
    let (refused, at_refusal) = timed(verdict(&limiter, "k", rate)).await;
    assert_wait_from(retry_after(refused), WINDOW, at_third, at_refusal);
}

#[tokio::test]
async fn the_window_slides() {
    let limiter = limiter(&unique_prefix());
    let rate = rate(2, WINDOW);
    let (first, at_first) = timed(verdict(&limiter, "k", rate)).await;
    assert_eq!(first, Verdict::Allowed);
    tokio::time::sleep_until((at_first.answered + WINDOW / 2).into()).await;
    let (second, at_second) = timed(verdict(&limiter, "k", rate)).await;
    assert_eq!(second, Verdict::Allowed);
    // Full: the wait is until the first hit leaves the window, about half a window from
    // now, not a whole window from the second hit.
    let (full, at_full) = timed(verdict(&limiter, "k", rate)).await;
    assert_wait_from(retry_after(full), WINDOW, at_first, at_full);
    // Just past the window after the first hit, it has left the window and the second
    // (half a window younger) has not: one place, not a fresh window of two.
    tokio::time::sleep_until((at_first.answered + WINDOW + PAST).into()).await;
    assert_eq!(verdict(&limiter, "k", rate).await, Verdict::Allowed);
    let (refused, at_refusal) = timed(verdict(&limiter, "k", rate)).await;
    assert!(
        matches!(refused, Verdict::Throttled { .. }),
        "{refused:?} {:?} after the second hit",
        at_refusal.answered - at_second.sent
    );
    assert_wait_from(retry_after(refused), WINDOW, at_second, at_refusal);
}

#[tokio::test]
async fn keys_are_independent_and_live_under_the_prefix_with_an_expiry() {
    let prefix = unique_prefix();
    let other_prefix = unique_prefix();
    let limiter = limiter(&prefix);
    let mut redis = inspect().await;
    for _ in 0..3 {
        assert_eq!(
            verdict(&limiter, "anon:10.0.0.1", per_minute(3)).await,
            Verdict::Allowed
        );
    }
    assert!(matches!(
        verdict(&limiter, "anon:10.0.0.1", per_minute(3)).await,
        Verdict::Throttled { .. }
    ));
    assert_eq!(
        verdict(&limiter, "anon:10.0.0.2", per_minute(3)).await,
        Verdict::Allowed
    );

    let key = format!("{prefix}anon:10.0.0.1");
    assert_eq!(query(&mut redis, "EXISTS", &key).await, 1);
    let kind: String = redis::cmd("TYPE")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(kind, "zset");
    assert_eq!(query(&mut redis, "ZCARD", &key).await, 3);
    let ttl = query(&mut redis, "PTTL", &key).await;
    assert!(ttl > 0 && ttl <= 60_000, "PTTL {ttl}");
    assert_eq!(
        query(&mut redis, "ZCARD", &format!("{prefix}anon:10.0.0.2")).await,
        1
    );
    // Nothing was written without the prefix, nor under another one.
    assert_eq!(query(&mut redis, "EXISTS", "anon:10.0.0.1").await, 0);
    let elsewhere = format!("{other_prefix}anon:10.0.0.1");
    assert_eq!(query(&mut redis, "EXISTS", &elsewhere).await, 0);

    // Another prefix (another deployment on the same Redis) counts on its own.
    let other = self::limiter(&other_prefix);
    for _ in 0..3 {
        assert_eq!(
            verdict(&other, "anon:10.0.0.1", per_minute(3)).await,
            Verdict::Allowed
        );
    }
    assert_eq!(query(&mut redis, "ZCARD", &key).await, 3);
    assert_eq!(query(&mut redis, "ZCARD", &elsewhere).await, 3);
}

/// `hits` concurrent hits on one key, spread round-robin over `limiters`.
async fn concurrent_allowed(limiters: &[RedisRateLimiter], hits: usize, rate: Rate) -> usize {
    let tasks: Vec<_> = (0..hits)
        .map(|i| {
            let limiter = limiters[i % limiters.len()].clone();
            tokio::spawn(async move { limiter.hit("shared", rate).await })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        match task.await.expect("task").expect("Redis answers") {
            Verdict::Allowed => allowed += 1,
            Verdict::Throttled { .. } => {}
        }
    }
    allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_hits_on_one_instance_never_exceed_the_limit() {
    let prefix = unique_prefix();
    let allowed = concurrent_allowed(&[limiter(&prefix)], 50, per_minute(10)).await;
    assert_eq!(allowed, 10);
    let mut redis = inspect().await;
    assert_eq!(
        query(&mut redis, "ZCARD", &format!("{prefix}shared")).await,
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_hits_from_two_instances_share_one_limit() {
    let prefix = unique_prefix();
    // Two service instances: separate clients, connections and script caches.
    let instances = [limiter(&prefix), limiter(&prefix)];
    let allowed = concurrent_allowed(&instances, 50, per_minute(10)).await;
    assert_eq!(allowed, 10);
    let mut redis = inspect().await;
    assert_eq!(
        query(&mut redis, "ZCARD", &format!("{prefix}shared")).await,
        10
    );
}

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Accepts connections and never answers: a Redis that hangs.
async fn silent_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (address, task)
}

fn assert_unavailable(outcome: Result<Verdict, RepositoryError>) {
    assert!(
        matches!(outcome, Err(RepositoryError::Unavailable(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_unavailable_within_the_timeout() {
    for url in [
        "redis://127.0.0.1:1".to_owned(),
        format!("redis://127.0.0.1:{}", closed_port()),
    ] {
        let limiter = RedisRateLimiter::new(&url, &unique_prefix(), TIMEOUT).unwrap();
        let store = RateLimiterStore::Redis(Box::new(limiter.clone()));
        let started = Instant::now();
        assert_unavailable(limiter.hit("k", per_minute(3)).await);
        assert!(started.elapsed() < Duration::from_secs(2), "{url}");
        assert!(!limiter.reachable(), "{url}");
        assert_eq!(store.status(), "unreachable");
        assert_eq!(store.probe().await, "unreachable");
    }
}

#[tokio::test]
async fn a_redis_that_never_answers_is_unavailable_within_the_timeout() {
    let (address, server) = silent_server().await;
    let limiter =
        RedisRateLimiter::new(&format!("redis://{address}"), &unique_prefix(), TIMEOUT).unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        assert_unavailable(limiter.hit("k", per_minute(3)).await);
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
    assert!(!limiter.reachable());
    assert_eq!(
        RateLimiterStore::Redis(Box::new(limiter)).status(),
        "unreachable"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_hits_on_a_silent_redis_each_give_up_after_the_timeout() {
    let (address, server) = silent_server().await;
    let limiter =
        RedisRateLimiter::new(&format!("redis://{address}"), &unique_prefix(), TIMEOUT).unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let outcome = limiter.hit("k", per_minute(3)).await;
                (outcome, started.elapsed())
            })
        })
        .collect();
    for task in tasks {
        let (outcome, elapsed) = task.await.unwrap();
        assert_unavailable(outcome);
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    }
    server.abort();
}

/// Forwards every connection to `to`: Redis coming back on the limiter's address.
async fn forward(listener: TcpListener, to: String) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let to = to.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test]
async fn the_status_follows_the_last_call() {
    // A fresh limiter has not failed yet.
    let prefix = unique_prefix();
    let store = RateLimiterStore::Redis(Box::new(limiter(&prefix)));
    assert_eq!(store.status(), "ok");
    assert_eq!(
        store.hit("k", per_minute(3)).await.unwrap(),
        Verdict::Allowed
    );
    assert_eq!(store.status(), "ok");
    assert_eq!(store.probe().await, "ok");

    // Down, then back on the same address.
    let port = closed_port();
    let limiter =
        RedisRateLimiter::new(&format!("redis://127.0.0.1:{port}"), &prefix, TIMEOUT).unwrap();
    let store = RateLimiterStore::Redis(Box::new(limiter.clone()));
    assert_unavailable(store.hit("k", per_minute(3)).await);
    assert_eq!(store.status(), "unreachable");
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let redis_address = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = tokio::spawn(forward(listener, redis_address));
    assert_eq!(store.probe().await, "ok");
    assert!(limiter.reachable());
    // The same counter as before the outage: one hit was made through the other
    // limiter under this prefix.
    for _ in 0..2 {
        assert_eq!(
            store.hit("k", per_minute(3)).await.unwrap(),
            Verdict::Allowed
        );
    }
    assert!(matches!(
        store.hit("k", per_minute(3)).await.unwrap(),
        Verdict::Throttled { .. }
    ));
    assert_eq!(store.status(), "ok");
    proxy.abort();
}

/// One step of a scenario: a hit and the verdict both stores must give, or a pause
/// until that long after the scenario's first hit.
#[derive(Debug, Clone, Copy)]
enum Step {
    Allowed,
    /// The exact wait in memory, whose clock the test sets; in Redis, within what the
    /// test measured of how late its calls were.
    Throttled(Duration),
    At(Duration),
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Plays `steps` on both stores: on the memory store at exactly the planned moments, on
/// Redis in real time, at the planned moments or a little later. Every pause keeps a
/// second or more between a hit and the edge of the window it is tested against, so
/// no lateness short of that can change a verdict.
async fn same_verdicts(
    memory: MemoryRateLimiter,
    redis: RedisRateLimiter,
    name: &'static str,
    rate: Rate,
    steps: Vec<Step>,
) {
    let start = Instant::now();
    let mut planned = Duration::ZERO;
    // How late, at most, Redis has answered so far: each hit reached it between its
    // planned moment and that much later, so its waits may differ from the exact ones
    // by that much.
    let mut late = Duration::ZERO;
    for (i, step) in steps.into_iter().enumerate() {
        let expected = match step {
            Step::At(at) => {
                planned = at;
                tokio::time::sleep_until((start + at).into()).await;
                continue;
            }
            Step::Allowed => Verdict::Allowed,
            Step::Throttled(retry_after) => Verdict::Throttled { retry_after },
        };
        let from_memory = memory.hit_at(name, rate, start + planned);
        assert_eq!(from_memory, expected, "{name}, step {i}: memory");
        let from_redis = verdict(&redis, name, rate).await;
        late = late.max(start.elapsed().saturating_sub(planned));
        match (from_memory, from_redis) {
            (Verdict::Allowed, Verdict::Allowed) => {}
            (Verdict::Throttled { retry_after: exact }, Verdict::Throttled { retry_after }) => {
                assert!(
                    retry_after.abs_diff(exact) <= late + CLOCK_SLACK,
                    "{name}, step {i}: redis gave {retry_after:?}, memory {exact:?} (Redis answered up to {late:?} late)"
                );
            }
            _ => panic!(
                "{name}, step {i}: redis gave {from_redis:?}, memory {from_memory:?} (Redis answered up to {late:?} late)"
            ),
        }
    }
}

#[tokio::test]
async fn memory_and_redis_give_the_same_verdicts() {
    use Step::{Allowed, At, Throttled};
    let minute = ms(60_000);
    let scenarios: Vec<(&str, Rate, Vec<Step>)> = vec![
        (
            "3/minute",
            per_minute(3),
            vec![
                Allowed,
                Allowed,
                Allowed,
                Throttled(minute),
                Throttled(minute),
            ],
        ),
        ("1/minute", per_minute(1), vec![Allowed, Throttled(minute)]),
        (
            "0/minute",
            per_minute(0),
            vec![Throttled(minute), Throttled(minute)],
        ),
        (
            "2 per 4 s, whole window passes",
            rate(2, WINDOW),
            vec![
                Allowed,
                Allowed,
                Throttled(ms(4000)),
                At(ms(5000)),
                Allowed,
                Allowed,
                Throttled(ms(4000)),
            ],
        ),
        (
            "2 per 4 s, sliding",
            rate(2, WINDOW),
            vec![
                Allowed,
                At(ms(2000)),
                Allowed,
                Throttled(ms(2000)),
                // The first hit left a second ago; the second leaves in a second.
                At(ms(5000)),
                Allowed,
                Throttled(ms(1000)),
            ],
        ),
        (
            "2 per 4 s, refusals not counted",
            rate(2, WINDOW),
            vec![
                Allowed,
                Allowed,
                At(ms(2000)),
                Throttled(ms(2000)),
                Throttled(ms(2000)),
                Throttled(ms(2000)),
                // Counted, these refusals would fill the window for another second.
                At(ms(5000)),
                Allowed,
                Allowed,
                Throttled(ms(4000)),
            ],
        ),
    ];
    let memory = MemoryRateLimiter::new(1000);
    let redis = limiter(&unique_prefix());
    // Side by side, each on its own key: the slowest takes five seconds.
    let runs = scenarios.into_iter().map(|(name, rate, steps)| {
        tokio::spawn(same_verdicts(
            memory.clone(),
            redis.clone(),
            name,
            rate,
            steps,
        ))
    });
    for outcome in futures_util::future::join_all(runs).await {
        if let Err(failed) = outcome {
            std::panic::resume_unwind(failed.into_panic());
        }
    }
}
