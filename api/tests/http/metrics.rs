//! `GET /metrics` (issue 15): scraped over HTTP, parsed by prometheus_client's own
//! parser (`tests/tools/prom_parse.py`, from `scripts/test-tools.sh`), and checked to
//! move with the requests that should move it. Counts are compared before and after,
//! so other tests recording into the same process's recorder change nothing.

use std::process::Stdio;

use crate::common::*;
use domain::throttle::Rate;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const PROM_PARSE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/prom_parse.py");

/// One scrape, as prometheus_client read it.
struct Scrape(Vec<Value>);

impl Scrape {
    /// The sample `name` with exactly these labels among its own (others may be there).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s["name"] == name)
            .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
            .map(|s| s["value"].as_f64().expect("a number"))
            .sum()
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|s| s["name"] == name)
    }

    fn family_type(&self, family: &str) -> String {
        self.0
            .iter()
            .find(|s| s["family"] == family)
            .map(|s| s["type"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no family {family}"))
    }

    /// Every value the label takes on the sample `name`.
    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .0
            .iter()
            .filter(|s| s["name"] == name)
            .filter_map(|s| s["labels"][label].as_str().map(str::to_owned))
            .collect();
        values.sort();
        values.dedup();
        values
    }
}

/// Parses an exposition with prometheus_client; panics if it refuses it.
async fn parse(text: &str) -> Scrape {
    let mut child = Command::new(test_tools_python())
        .arg(PROM_PARSE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run prom_parse.py");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    Scrape(serde_json::from_slice(&output.stdout).expect("JSON from prom_parse.py"))
}

async fn scrape_at(
    app: &TestApp,
    url: &str,
    authorization: Option<&str>,
) -> (Reply, Option<Scrape>) {
    let mut request = app.client.get(url);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let reply = Reply::read(request.send().await.expect("scrape")).await;
    let scrape = match reply.status {
        StatusCode::OK => Some(parse(&reply.text).await),
        _ => None,
    };
    (reply, scrape)
}

async fn scrape(app: &TestApp) -> Scrape {
    let (reply, scrape) = scrape_at(app, &app.url("/metrics"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    scrape.unwrap()
}

#[tokio::test]
async fn requests_count_by_route_pattern_method_and_status_with_latency_histograms() {
    let app = spawn_app().await;
    let (_, admin) = superuser(&app, "root@example.com").await;
    let before = scrape(&app).await;
    let user_id = app.register("alice@example.com").await["id"]
        .as_i64()
        .unwrap();
    for _ in 0..3 {
        let reply = app
            .get(
                &format!("/auth/users/{user_id}/"),
                Some(&format!("Bearer {admin}")),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let missing = app
        .get("/auth/users/999999/", Some(&format!("Bearer {admin}")))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // A path no route matches, with a token in it: never a label.
    let stray = app.get("/no/such/eyJhbGciOi.secret/", None).await;
    assert_eq!(stray.status, StatusCode::NOT_FOUND);
    let odd = app
        .client
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            app.url("/auth/me/"),
        )
        .send()
        .await
        .unwrap();
    assert!(odd.status().is_client_error());
    let after = scrape(&app).await;

    let requests = "gatehouse_http_requests_total";
    let detail = [("route", "/auth/users/{id}"), ("method", "GET")];
    let moved =
        |labels: &[(&str, &str)]| after.value(requests, labels) - before.value(requests, labels);
    assert_eq!(moved(&[detail[0], detail[1], ("status", "200")]), 3.0);
    assert_eq!(moved(&[detail[0], detail[1], ("status", "404")]), 1.0);
    assert_eq!(
        moved(&[
            ("route", "/auth/register"),
            ("method", "POST"),
            ("status", "201")
        ]),
        1.0
    );
    assert_eq!(moved(&[("route", "<unmatched>"), ("status", "404")]), 1.0);
    assert_eq!(moved(&[("method", "OTHER")]), 1.0);
    let routes = after.label_values(requests, "route");
    assert!(
        routes
            .iter()
            .all(|r| !r.contains("secret") && !r.contains(&user_id.to_string())),
        "a raw path became a label: {routes:?}"
    );
    let methods = after.label_values(requests, "method");
    assert!(!methods.iter().any(|m| m == "BREW"), "{methods:?}");

    // Latency: a real histogram per route and method, its count moving with requests.
    assert_eq!(
        after.family_type("gatehouse_http_request_duration_seconds"),
        "histogram"
    );
    let count = "gatehouse_http_request_duration_seconds_count";
    assert_eq!(
        after.value(count, &detail) - before.value(count, &detail),
        4.0
    );
    let inf = [detail[0], detail[1], ("le", "+Inf")];
    let bucket = "gatehouse_http_request_duration_seconds_bucket";
    assert_eq!(after.value(bucket, &inf) - before.value(bucket, &inf), 4.0);
    assert!(after.value("gatehouse_http_request_duration_seconds_sum", &detail) > 0.0);
}

#[tokio::test]
async fn logins_refreshes_and_refused_tokens_count_by_outcome() {
    let app = spawn_app_with(|s| {
        // A rotated token presented again is reuse at once.
        s.jwt.tokens.reuse_interval = chrono::TimeDelta::zero();
    })
    .await;
    app.register("alice@example.com").await;
    let bob = app.register("bob@example.com").await["id"]
        .as_i64()
        .unwrap();
    app.db
        .execute(&format!(
            "UPDATE users SET is_active = false WHERE id = {bob}"
        ))
        .await;
    let before = scrape(&app).await;

    let (access, refresh) = app.login("alice@example.com").await;
    let wrong = app
        .post(
            "/auth/token/",
            json!({"email": "alice@example.com", "password": "nope"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let unknown = app
        .post("/auth/token/", credentials("nobody@example.com"))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let inactive = app
        .post("/auth/token/", credentials("bob@example.com"))
        .await;
    assert_eq!(inactive.status, StatusCode::UNAUTHORIZED);

    let rotated = app.refresh(&refresh).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let reused = app.refresh(&refresh).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    let garbage = app.refresh("not-a-token").await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);

    // The reuse revoked the session: its access token is refused as revoked.
    assert_eq!(app.me(&access).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me("garbage").await.status, StatusCode::UNAUTHORIZED);
    let verify = app
        .post("/auth/token/verify/", json!({"token": "garbage"}))
        .await;
    assert_eq!(verify.status, StatusCode::UNAUTHORIZED);
    let key = app.get("/auth/me/", Some("Token 0123456789abcdef")).await;
    assert_eq!(key.status, StatusCode::UNAUTHORIZED);
    let after = scrape(&app).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let logins = "gatehouse_logins_total";
    assert_eq!(moved(logins, &[("outcome", "success")]), 1.0);
    assert_eq!(moved(logins, &[("outcome", "bad_credentials")]), 2.0);
    assert_eq!(moved(logins, &[("outcome", "inactive")]), 1.0);
    let refreshes = "gatehouse_refreshes_total";
    assert_eq!(moved(refreshes, &[("outcome", "rotated")]), 1.0);
    assert_eq!(moved(refreshes, &[("outcome", "reuse_detected")]), 1.0);
    assert_eq!(moved(refreshes, &[("outcome", "refused")]), 1.0);
    let refused = "gatehouse_tokens_refused_total";
    assert_eq!(
        moved(refused, &[("kind", "access"), ("reason", "revoked")]),
        1.0
    );
    assert_eq!(
        moved(refused, &[("kind", "access"), ("reason", "invalid")]),
        2.0
    );
    assert_eq!(
        moved(refused, &[("kind", "api_key"), ("reason", "unknown_key")]),
        1.0
    );

    // Every password checked went through the hashing threads' queue.
    let waits = "gatehouse_password_hash_wait_seconds_count";
    assert!(moved(waits, &[]) >= 4.0, "{}", moved(waits, &[]));
    assert_eq!(after.value("gatehouse_password_hash_queue_depth", &[]), 0.0);
}

#[tokio::test]
async fn the_readings_of_pool_outbox_and_throttle_are_exposed() {
    let app = spawn_app_with(|s| {
        s.throttle.store.enabled = true;
        s.throttle.store.backend = infrastructure::throttle::ThrottleBackend::Redis;
        s.throttle.store.redis_url = Some(SecretString::from("redis://127.0.0.1:6379"));
        s.throttle.store.key_prefix = format!("gatehouse-test:{}:", uuid::Uuid::new_v4().simple());
        s.throttle.rates.login = Rate::parse("2/minute").unwrap();
    })
    .await;
    app.register("alice@example.com").await;
    // Three messages wait in the outbox: the worker is not asked to deliver them (a
    // date in the future), so the backlog and its age are what the table holds.
    app.db
        .execute(
            "INSERT INTO email_outbox (recipient, subject, body_text, body_html, created_at, next_attempt_at) \
             SELECT 'x@example.com', 's', 't', 'h', now() - interval '90 seconds', now() + interval '1 hour' \
             FROM generate_series(1, 3)",
        )
        .await;
    let before = scrape(&app).await;
    let statuses: Vec<StatusCode> = {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(
                app.post("/auth/token/", credentials("alice@example.com"))
                    .await
                    .status,
            );
        }
        statuses
    };
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let after = scrape(&app).await;

    assert_eq!(after.value("gatehouse_outbox_backlog", &[]), 3.0);
    let age = after.value("gatehouse_outbox_oldest_pending_age_seconds", &[]);
    assert!((89.0..400.0).contains(&age), "{age}");

    let connections = "gatehouse_db_pool_connections";
    assert!(after.value(connections, &[("state", "idle")]) >= 1.0);
    assert!(after.has(connections));
    assert_eq!(after.value("gatehouse_db_pool_waiting", &[]), 0.0);
    assert!(
        after.value("gatehouse_db_pool_wait_seconds_count", &[])
            > before.value("gatehouse_db_pool_wait_seconds_count", &[])
    );

    let decisions = "gatehouse_throttle_decisions_total";
    let moved =
        |labels: &[(&str, &str)]| after.value(decisions, labels) - before.value(decisions, labels);
    assert_eq!(moved(&[("scope", "login"), ("decision", "allowed")]), 2.0);
    assert_eq!(moved(&[("scope", "login"), ("decision", "throttled")]), 1.0);
    assert_eq!(moved(&[("scope", "anon"), ("decision", "allowed")]), 3.0);
    let throttled_logins = after.value("gatehouse_logins_total", &[("outcome", "throttled")])
        - before.value("gatehouse_logins_total", &[("outcome", "throttled")]);
    assert_eq!(throttled_logins, 1.0);
    assert_eq!(after.value("gatehouse_redis_up", &[]), 1.0);
    // The scrapes themselves are never throttled.
    assert_eq!(moved(&[("scope", "anon"), ("decision", "throttled")]), 0.0);
}

#[tokio::test]
async fn delivered_emails_count_as_sent() {
    let (app, mail) = spawn_app_with_mail(|_| {}).await;
    let before = scrape(&app).await;
    app.register("alice@example.com").await;
    let reply = app
        .post(
            "/auth/users/reset_password/",
            json!({"email": "alice@example.com"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    mail.wait_for(1, std::time::Duration::from_secs(10)).await;
    let sent = "gatehouse_outbox_deliveries_total";
    let mut after = scrape(&app).await;
    // The worker counts a delivery once it has recorded it, a moment after the mail.
    for _ in 0..50 {
        if after.value(sent, &[("result", "sent")]) > before.value(sent, &[("result", "sent")]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = scrape(&app).await;
    }
    assert_eq!(
        after.value(sent, &[("result", "sent")]) - before.value(sent, &[("result", "sent")]),
        1.0
    );
    // Read afresh: the scrape that saw the count may have read the table just before.
    let after = scrape(&app).await;
    assert_eq!(after.value("gatehouse_outbox_backlog", &[]), 0.0);
    assert_eq!(
        after.value("gatehouse_outbox_oldest_pending_age_seconds", &[]),
        0.0
    );
}

#[tokio::test]
async fn a_bearer_token_guards_the_metrics_when_set() {
    let app = spawn_app_with(|s| {
        s.metrics.bearer_token = Some(SecretString::from("scrape-token-0123456789"));
    })
    .await;
    let url = app.url("/metrics");
    for wrong in [
        None,
        Some("Bearer nope"),
        Some("Bearer scrape-token-012345678"),
        Some("scrape-token-0123456789"),
    ] {
        let (reply, _) = scrape_at(&app, &url, wrong).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert_eq!(reply.body["detail"], "Invalid or missing metrics token.");
        assert!(!reply.text.contains("gatehouse_"), "{}", reply.text);
    }
    let (reply, scrape) = scrape_at(&app, &url, Some("Bearer scrape-token-0123456789")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(scrape.unwrap().has("gatehouse_http_requests_total"));
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own_or_be_off() {
    let port = free_port();
    let app = spawn_app_with(|s| {
        s.metrics.listen = Some(format!("127.0.0.1:{port}"));
    })
    .await;
    // Not on the service's port, where the public may reach it.
    let here = app.get("/metrics", None).await;
    assert_eq!(here.status, StatusCode::NOT_FOUND);
    assert_eq!(here.body, json!({"detail": "Not found."}));
    // On its own, /metrics only.
    let apart = format!("http://127.0.0.1:{port}");
    let (reply, scrape) = scrape_at(&app, &format!("{apart}/metrics"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(scrape.unwrap().has("gatehouse_db_pool_connections"));
    let (other, _) = scrape_at(&app, &format!("{apart}/auth/me/"), None).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);

    let off = spawn_app_with(|s| s.metrics.enabled = false).await;
    let reply = off.get("/metrics", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
