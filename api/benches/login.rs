//! `make bench`: wall time of one login at bcrypt cost 12 (the production default)
//! against the real server and PostgreSQL, beside the two failures that must cost the
//! same (wrong password, unknown user), and the cheap token operations for scale.
//!
//! Prints one line per operation: iterations, mean, median, p95, min, max (ms).

mod support;

use support::{knob, report, serve, settings_on};

use std::time::{Duration, Instant};

use infrastructure::testing::TestDatabase;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

async fn time<F, Fut>(iterations: usize, mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        std::hint::black_box(call().await);
        samples.push(started.elapsed());
    }
    samples
}

#[tokio::main]
async fn main() {
    let cost: u32 = knob("BENCH_BCRYPT_COST", 12);
    let iterations: usize = knob("BENCH_ITERATIONS", 30);
    let db = TestDatabase::create().await;
    let mut settings = settings_on(&db);
    settings.passwords.hashing.bcrypt_cost = cost;
    let base = serve(&settings).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = client.post(format!("{base}{path}")).json(&body);
        async move {
            request
                .send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .unwrap_or(Value::Null)
        }
    };

    let registered = post(
        "/auth/register/",
        json!({ "email": "bench@example.com", "password": PASSWORD }),
    )
    .await;
    assert!(
        registered["id"].is_i64(),
        "registration failed: {registered}"
    );
    println!("bcrypt cost {cost}, {iterations} iterations each, sequential, one client, loopback");

    let good = json!({ "email": "bench@example.com", "password": PASSWORD });
    report(
        "login (200)",
        time(iterations, || post("/auth/token/", good.clone())).await,
    );
    let wrong = json!({ "email": "bench@example.com", "password": "wrong password!" });
    report(
        "login wrong password (401)",
        time(iterations, || post("/auth/token/", wrong.clone())).await,
    );
    let unknown = json!({ "email": "nobody@example.com", "password": PASSWORD });
    report(
        "login unknown user (401)",
        time(iterations, || post("/auth/token/", unknown.clone())).await,
    );

    let tokens = post("/auth/token/", good.clone()).await;
    let access = tokens["access"].as_str().expect("access").to_owned();
    let verify = json!({ "token": access });
    report(
        "verify access token",
        time(iterations * 10, || {
            post("/auth/token/verify/", verify.clone())
        })
        .await,
    );
    let mut refresh = tokens["refresh"].as_str().expect("refresh").to_owned();
    let mut samples = Vec::new();
    for _ in 0..iterations * 10 {
        let started = Instant::now();
        let reply = post("/auth/token/refresh/", json!({ "refresh": refresh })).await;
        samples.push(started.elapsed());
        refresh = reply["refresh"]
            .as_str()
            .expect("rotated refresh")
            .to_owned();
    }
    report("refresh (rotation)", samples);
}
