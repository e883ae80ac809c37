//! `make bench`: the response time of `POST /auth/reset-password/` with the mail
//! server up and with it down (the request never waits on SMTP), and how long queued
//! messages wait once the server is back (the outbox's backoff, default settings:
//! 1 s, 2 s, 4 s… up to `email.max_retry_interval` = 1 min).

mod support;

use support::{knob, report, serve, settings_on};

use std::time::{Duration, Instant};

use infrastructure::testing::{SmtpCatcher, TestDatabase};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let iterations: usize = knob("BENCH_ITERATIONS", 30);
    let outage = Duration::from_secs(knob("BENCH_OUTAGE_SECONDS", 20));
    let db = TestDatabase::create().await;
    let catcher = SmtpCatcher::start().await;
    let mut settings = settings_on(&db);
    settings.email.smtp.host = Some("127.0.0.1".to_owned());
    settings.email.smtp.port = catcher.port();
    settings.email.outbox.max_backoff = Duration::from_secs(60);
    let base = serve(&settings).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = client.post(format!("{base}{path}")).json(&body);
        async move {
            let response = request.send().await.expect("request");
            assert!(response.status().is_success(), "{}", response.status());
        }
    };
    post(
        "/auth/register/",
        json!({ "email": "bench@example.com", "password": "correct horse battery" }),
    )
    .await;
    let reset = json!({ "email": "bench@example.com" });
    println!(
        "POST /auth/reset-password/ for a known, active user; {iterations} sequential requests"
    );

    let mut up = Vec::new();
    for _ in 0..iterations {
        let started = Instant::now();
        post("/auth/reset-password/", reset.clone()).await;
        up.push(started.elapsed());
    }
    report("reset request, SMTP up", up);
    catcher.wait_for(iterations, Duration::from_secs(60)).await;

    catcher.stop();
    let mut down = Vec::new();
    for _ in 0..iterations {
        let started = Instant::now();
        post("/auth/reset-password/", reset.clone()).await;
        down.push(started.elapsed());
    }
    report("reset request, SMTP down", down);
    tokio::time::sleep(outage).await;
    let back = Instant::now();
    catcher.resume().await;
    catcher
        .wait_for(2 * iterations, Duration::from_secs(180))
        .await;
    println!(
        "after a {}s outage: all {iterations} queued messages delivered {:.2}s after SMTP came back",
        outage.as_secs(),
        back.elapsed().as_secs_f64()
    );
}
