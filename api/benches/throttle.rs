//! `cargo bench -p api --bench throttle`: what throttling costs a cheap request.
//! Requests per second of `POST /auth/token/verify/` with a valid access token, at a
//! fixed number of requests in flight, against the real server with throttling off,
//! counted in process (`backend = "memory"`) and counted in Redis
//! (`backend = "redis"`, `REDIS_URL`, default `redis://127.0.0.1:6379`). The rates are
//! so high that nothing is refused: every response must be a 200. The first line has
//! `metrics.enabled = false` too, the process then having no metrics recorder at all
//! (it is installed by the first server that serves `/metrics`): against the second
//! line, what metrics cost. Then, throttling off, the same with tokens signed by each asymmetric algorithm (`jwt.algorithm` =
//! EdDSA, ES256, RS256, keys from `gatehouse keys generate`) beside HS256's first line.
//!
//! `BENCH_SECONDS` (default 5) per configuration after a 1 s warm-up;
//! `BENCH_CONCURRENCY` (default 32) requests in flight. Client and server share the
//! machine. Prints one line per configuration: requests per second, then count,
//! mean, median, p95, min, max (ms).

mod support;

use support::{knob, report, serve, settings_on};

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::ports::RateLimiter;
use domain::throttle::{Rate, Verdict};
use infrastructure::testing::TestDatabase;
use infrastructure::throttle::RedisRateLimiter;
use infrastructure::throttle::ThrottleBackend;
use infrastructure::{JwtAlgorithm, generate_key_pair};
use secrecy::SecretString;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const WARM_UP: Duration = Duration::from_secs(1);

/// `concurrency` clients each sending verifies back to back until `until`; the
/// latency of every request.
async fn load(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    concurrency: usize,
    until: Instant,
) -> Vec<Duration> {
    let body = Arc::new(body.clone());
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            let url = url.to_owned();
            let body = body.clone();
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    let response = client
                        .post(&url)
                        .json(&*body)
                        .send()
                        .await
                        .expect("request");
                    let status = response.status();
                    let _ = response.bytes().await.expect("response body");
                    assert_eq!(status, reqwest::StatusCode::OK, "verify must be allowed");
                    samples.push(started.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.expect("client task"));
    }
    samples
}

/// The bench user's access token from a login at `base`.
async fn access_token(client: &reqwest::Client, base: &str) -> String {
    let tokens: Value = client
        .post(format!("{base}/auth/token/"))
        .json(&json!({ "email": "bench@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login reply");
    tokens["access"].as_str().expect("access token").to_owned()
}

#[tokio::main]
async fn main() {
    let seconds: f64 = knob("BENCH_SECONDS", 5.0);
    let concurrency: usize = knob("BENCH_CONCURRENCY", 32);
    let redis_url: String = knob("REDIS_URL", "redis://127.0.0.1:6379".to_owned());
    let period = Duration::from_secs_f64(seconds);

    let db = TestDatabase::create().await;
    let mut base_settings = settings_on(&db);
    let unlimited = Rate::parse("1000000000/second").expect("rate");
    base_settings.throttle.rates.anon = unlimited;
    base_settings.throttle.rates.user = unlimited;
    base_settings.throttle.rates.login = unlimited;
    base_settings.throttle.rates.register = unlimited;
    // No recorder until the configurations that measure with one.
    base_settings.metrics.enabled = false;
    // Eight servers stay up in this process, each with its pool and the auth cache's
    // listener: at the default 16 connections they would need more than PostgreSQL's
    // 100, and the last ones would answer 503. A verify answered from the auth cache
    // needs no connection at all.
    base_settings.database.max_connections = 4;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");

    // One user and one access token, valid on every server (same key, same database).
    let setup = serve(&base_settings).await;
    let registered: Value = client
        .post(format!("{setup}/auth/register/"))
        .json(&json!({ "email": "bench@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("registration reply");
    assert!(
        registered["id"].is_i64(),
        "registration failed: {registered}"
    );
    let access = access_token(&client, &setup).await;
    let body = json!({ "token": access });
    let signed_by = |token: &str| -> String {
        use base64::Engine as _;
        let header = token.split('.').next().expect("token header");
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64url header");
        let header: Value = serde_json::from_slice(&header).expect("JSON header");
        header["alg"].as_str().expect("alg").to_owned()
    };
    assert_eq!(signed_by(&access), "HS256");

    let workers = base_settings
        .server
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    println!(
        "POST /auth/token/verify/ (valid access token), {concurrency} in flight, {seconds} s each after a {} s warm-up, {workers} server workers, loopback",
        WARM_UP.as_secs()
    );

    let key_prefix = format!("gh-bench:{}:", uuid::Uuid::new_v4().simple());
    let configurations = [
        ("throttle off, no metrics", None, false),
        ("throttle off", None, true),
        ("throttle: memory", Some(ThrottleBackend::Memory), true),
        ("throttle: redis", Some(ThrottleBackend::Redis), true),
    ];
    for (label, backend, metrics) in configurations {
        let mut settings = base_settings.clone();
        settings.metrics.enabled = metrics;
        settings.throttle.store.enabled = backend.is_some();
        if let Some(backend) = backend {
            settings.throttle.store.backend = backend;
        }
        settings.throttle.store.redis_url = Some(SecretString::from(redis_url.clone()));
        settings.throttle.store.key_prefix = key_prefix.clone();
        let base = serve(&settings).await;
        let expected = match backend {
            None => "off",
            Some(ThrottleBackend::Memory) => "memory",
            Some(ThrottleBackend::Redis) => "ok",
        };
        let ready: Value = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("readyz reply");
        assert_eq!(ready["throttle"], expected, "{label}: {ready}");

        let url = format!("{base}/auth/token/verify/");
        load(&client, &url, &body, concurrency, Instant::now() + WARM_UP).await;
        let started = Instant::now();
        let samples = load(&client, &url, &body, concurrency, started + period).await;
        let elapsed = started.elapsed();
        let rps = samples.len() as f64 / elapsed.as_secs_f64();
        report(&format!("verify, {label:<22} {rps:>6.0} req/s"), samples);

        if backend == Some(ThrottleBackend::Redis) {
            // The requests were counted in Redis, not let through by a failing store.
            let check =
                RedisRateLimiter::new(&redis_url, &key_prefix, Duration::from_secs(2)).unwrap();
            let one_per_minute = Rate::parse("1/minute").expect("rate");
            let verdict = check.hit("anon:127.0.0.1", one_per_minute).await;
            assert!(
                matches!(verdict, Ok(Verdict::Throttled { .. })),
                "{label}: nothing counted in Redis under {key_prefix}: {verdict:?}"
            );
        }
    }

    // HS256 is the "throttle off" line above; the same server with each asymmetric key.
    let keys = std::env::temp_dir().join(format!("gh-bench-keys-{}", uuid::Uuid::new_v4()));
    for algorithm in [
        JwtAlgorithm::EdDSA,
        JwtAlgorithm::ES256,
        JwtAlgorithm::RS256,
    ] {
        let key = generate_key_pair(algorithm, &keys).expect("key pair");
        let mut settings = base_settings.clone();
        settings.metrics.enabled = true;
        settings.jwt.codec.algorithm = algorithm;
        settings.jwt.codec.private_key_file = Some(key.private_key_file);
        let base = serve(&settings).await;
        let access = access_token(&client, &base).await;
        assert_eq!(signed_by(&access), algorithm.to_string());
        let body = json!({ "token": access });

        let url = format!("{base}/auth/token/verify/");
        load(&client, &url, &body, concurrency, Instant::now() + WARM_UP).await;
        let started = Instant::now();
        let samples = load(&client, &url, &body, concurrency, started + period).await;
        let rps = samples.len() as f64 / started.elapsed().as_secs_f64();
        let label = format!("throttle off, {algorithm}");
        report(&format!("verify, {label:<22} {rps:>6.0} req/s"), samples);
    }
    std::fs::remove_dir_all(&keys).expect("remove the bench's keys");
}
