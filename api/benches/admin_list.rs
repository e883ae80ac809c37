//! `make bench`: latency of `GET /auth/users/` over 100 000 users (BENCH_USERS), seeded
//! with `scripts/seed-users.sql`: page 1, page 1000, and a search.

mod support;

use support::{knob, report, serve, settings_on};

use std::time::Instant;

use infrastructure::testing::TestDatabase;
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let users: usize = knob("BENCH_USERS", 100_000);
    let iterations: usize = knob("BENCH_ITERATIONS", 30);
    let db = TestDatabase::create().await;
    let seeding = Instant::now();
    let seed = include_str!("../../scripts/seed-users.sql")
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(":count", &users.to_string());
    for statement in seed.split(';').filter(|s| !s.trim().is_empty()) {
        db.execute(statement).await;
    }
    println!(
        "seeded {users} users in {:.1}s",
        seeding.elapsed().as_secs_f64()
    );

    let settings = settings_on(&db);
    let base = serve(&settings).await;
    let client = reqwest::Client::new();
    let body = json!({ "email": "bench-admin@example.com", "password": "correct horse battery" });
    client
        .post(format!("{base}/auth/register/"))
        .json(&body)
        .send()
        .await
        .expect("register");
    db.execute("UPDATE users SET is_staff = true, is_superuser = true WHERE email = 'bench-admin@example.com'")
        .await;
    let tokens: Value = client
        .post(format!("{base}/auth/token/"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access"].as_str().expect("access").to_owned();

    println!(
        "GET /auth/users/ over {} users, page_size 20, {iterations} sequential requests each",
        users + 1
    );
    for (name, path) in [
        ("page 1", "/auth/users/"),
        ("page 1000", "/auth/users/?page=1000"),
        ("search=user4242", "/auth/users/?search=user4242"),
        (
            "search=first42 last4 (two terms)",
            "/auth/users/?search=first42%20last4",
        ),
        (
            "is_active=false, -date_joined, page 50",
            "/auth/users/?is_active=false&ordering=-date_joined&page=50",
        ),
    ] {
        let mut samples = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let started = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(&access)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            let page: Value = response.json().await.unwrap();
            samples.push(started.elapsed());
            std::hint::black_box(page);
        }
        report(name, samples);
    }
}
