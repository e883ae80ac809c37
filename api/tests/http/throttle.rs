//! Throttling (SPEC §8) from the outside: DRF's anon, user and scoped rates, the
//! per-account login limit, X-Forwarded-For from trusted proxies only, counters shared
//! through Redis by two processes, Redis going away and coming back, and no limits at
//! all when throttling is off.

use std::time::Duration;

use crate::common::*;
use api::settings::Settings;
use domain::throttle::Rate;
use infrastructure::testing::TestDatabase;
use infrastructure::throttle::ThrottleBackend;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

const REDIS: &str = "127.0.0.1:6379";
const WRONG: &str = "not the password";
const NO_ACCOUNT: &str = "No active account found with the given credentials";
const UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";

// ---------------------------------------------------------------- helpers

fn rate(raw: &str) -> Rate {
    Rate::parse(raw).expect("a rate")
}

/// A Redis key prefix no other test (or run) shares.
fn unique_prefix() -> String {
    format!("gh-test:{}:", uuid::Uuid::new_v4().simple())
}

/// An app with throttling on, in memory, every rate generous and no trusted proxy;
/// `configure` then tightens what the test is about.
async fn throttled_app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        let t = &mut s.throttle;
        t.store.enabled = true;
        t.store.backend = ThrottleBackend::Memory;
        t.store.key_prefix = unique_prefix();
        t.rates.anon = rate("1000/minute");
        t.rates.user = rate("1000/minute");
        t.rates.login = rate("1000/minute");
        t.rates.register = rate("1000/minute");
        t.rates.password_reset = rate("1000/minute");
        t.rates.password_check = rate("1000/minute");
        t.rates.trusted_proxies = Vec::new();
        t.login.login_account = rate("1000/minute");
        t.login.fail_closed_login = false;
        configure(s);
    })
    .await
}

/// `POST path` with a JSON body, from `X-Forwarded-For: forwarded` when given.
async fn post_from(app: &TestApp, path: &str, body: Value, forwarded: Option<&str>) -> Reply {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(forwarded) = forwarded {
        request = request.header("X-Forwarded-For", forwarded);
    }
    Reply::read(request.send().await.expect("request")).await
}

/// A login by email with a wrong password.
async fn wrong_login(app: &TestApp, path: &str, email: &str) -> Reply {
    app.post(path, json!({ "email": email, "password": WRONG }))
        .await
}

fn assert_rejected(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": NO_ACCOUNT }),
        "{}",
        reply.text
    );
}

/// A 429 whose `Retry-After` is within `min..=max` seconds and whose detail names
/// the same number; returns it.
fn assert_throttled(reply: &Reply, min: u64, max: u64) -> u64 {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text
    );
    let wait: u64 = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", reply.headers))
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (min..=max).contains(&wait),
        "Retry-After {wait} not within {min}..={max}"
    );
    let unit = if wait == 1 { "second" } else { "seconds" };
    assert_eq!(
        reply.body,
        json!({ "detail": format!("Request was throttled. Expected available in {wait} {unit}.") }),
        "{}",
        reply.text
    );
    wait
}

fn assert_unavailable(reply: &Reply) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(
        reply.body,
        json!({ "detail": UNAVAILABLE }),
        "{}",
        reply.text
    );
}

fn ready(throttle: &str) -> Value {
    json!({ "status": "ready", "database": "ok", "throttle": throttle })
}

/// Registers `username` / `email` with `PASSWORD`.
async fn register_named(app: &TestApp, username: &str, email: &str) {
    let reply = app
        .post(
            "/auth/register/",
            json!({ "username": username, "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

/// The `ip` of each of the user's sessions, newest first.
async fn session_ips(app: &TestApp, access: &str) -> Vec<String> {
    let reply = app
        .get("/auth/sessions/", Some(&format!("Bearer {access}")))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply
        .body
        .as_array()
        .expect("a list of sessions")
        .iter()
        .map(|session| str_of(session, "ip"))
        .collect()
}

// ---------------------------------------------------------------- scopes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_scope_allows_its_rate_then_answers_429_with_retry_after() {
    let app = throttled_app(|s| s.throttle.rates.login = rate("3/minute")).await;
    app.register("alice@example.com").await;

    for _ in 0..3 {
        assert_rejected(&wrong_login(&app, "/auth/token/", "alice@example.com").await);
    }
    let fourth = wrong_login(&app, "/auth/token/", "alice@example.com").await;
    assert_throttled(&fourth, 58, 60);

    let right = app
        .post(
            "/auth/token/",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    assert_throttled(&right, 58, 60);
    assert!(right.body.get("access").is_none());
    // Other routes are not in the scope.
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_percent_encoded_path_counts_against_its_route_s_scope() {
    let app = throttled_app(|s| {
        s.throttle.rates.login = rate("2/minute");
        s.throttle.rates.register = rate("1/minute");
    })
    .await;
    app.register("alice@example.com").await;

    // `/auth/%74oken/` is routed to `/auth/token/`: it must be counted there too.
    assert_rejected(&wrong_login(&app, "/auth/%74oken/", "alice@example.com").await);
    assert_rejected(&wrong_login(&app, "/auth/tok%65n", "alice@example.com").await);
    assert_throttled(
        &wrong_login(&app, "/auth/token/", "alice@example.com").await,
        58,
        60,
    );
    assert_throttled(
        &wrong_login(&app, "/api/%74oken/", "alice@example.com").await,
        58,
        60,
    );
    let register = app
        .post(
            "/auth/regist%65r/",
            json!({ "email": "bob@example.com", "password": PASSWORD }),
        )
        .await;
    assert_throttled(&register, 58, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alias_of_a_login_route_counts_against_the_same_bucket() {
    let app = throttled_app(|s| s.throttle.rates.login = rate("3/minute")).await;
    app.register("alice@example.com").await;

    assert_rejected(&wrong_login(&app, "/auth/token/", "alice@example.com").await);
    assert_rejected(&wrong_login(&app, "/auth/token/", "alice@example.com").await);
    assert_rejected(&wrong_login(&app, "/api/token/", "alice@example.com").await);

    assert_throttled(
        &wrong_login(&app, "/auth/jwt/create/", "alice@example.com").await,
        58,
        60,
    );
    for path in [
        "/auth/token/login/",
        "/api/v1/auth/login_credentials",
        "/api/v1/auth/refresh_token",
        "/auth/token",
        "/api/token",
    ] {
        let reply = app
            .post(
                path,
                json!({ "email": "alice@example.com", "password": PASSWORD }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: {}",
            reply.text
        );
        assert_throttled(&reply, 58, 60);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_passes_and_requests_are_allowed_again() {
    // DRF's shortest window: every wait in it is under a second, so Retry-After is 1
    // (the wait rounded up) however fast or slow the requests.
    let app = throttled_app(|s| s.throttle.rates.login = rate("2/second")).await;
    app.register("alice@example.com").await;

    // Sent together, the three are counted as they arrive, within moments of each
    // other, not one database round trip after another: they fall in one window
    // however slow the database.
    let (a, b, c) = tokio::join!(
        wrong_login(&app, "/auth/token/", "alice@example.com"),
        wrong_login(&app, "/auth/token/", "alice@example.com"),
        wrong_login(&app, "/auth/token/", "alice@example.com"),
    );
    let mut burst = [a, b, c];
    burst.sort_by_key(|reply| reply.status.as_u16());
    let [first, second, third] = &burst;
    assert_rejected(first);
    assert_rejected(second);
    assert_eq!(assert_throttled(third, 1, 1), 1);
    assert_eq!(third.header("retry-after"), Some("1"));
    assert_eq!(
        third.body,
        json!({ "detail": "Request was throttled. Expected available in 1 second." })
    );

    // All three were counted before they were answered: half a second more than the
    // window after the answers, every hit has left it.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Two places again: a wrong password and the right one, together.
    let (wrong, (access, _)) = tokio::join!(
        wrong_login(&app, "/auth/token/", "alice@example.com"),
        app.login("alice@example.com"),
    );
    assert_rejected(&wrong);
    // Full again: both were counted on arrival, one round trip ago.
    assert_throttled(
        &wrong_login(&app, "/auth/token/", "alice@example.com").await,
        1,
        1,
    );
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_password_reset_have_their_own_rates_and_scopes_are_independent() {
    let app = throttled_app(|s| {
        s.throttle.rates.login = rate("2/minute");
        s.throttle.rates.register = rate("2/minute");
        s.throttle.rates.password_reset = rate("2/minute");
    })
    .await;

    // Login exhausted first: it blocks neither registration nor resets.
    assert_rejected(&wrong_login(&app, "/auth/token/", "nobody@example.com").await);
    assert_rejected(&wrong_login(&app, "/auth/token/", "nobody@example.com").await);
    assert_throttled(
        &wrong_login(&app, "/auth/token/", "nobody@example.com").await,
        58,
        60,
    );

    app.register("alice@example.com").await;
    let v1 = app
        .post(
            "/api/v1/auth/register_credentials",
            json!({ "username": "bob", "email": "bob@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(v1.status, StatusCode::CREATED, "{}", v1.text);
    let third = app
        .post(
            "/auth/register/",
            json!({ "email": "carol@example.com", "password": PASSWORD }),
        )
        .await;
    assert_throttled(&third, 58, 60);
    let v1_again = app
        .post(
            "/api/v1/auth/register_credentials",
            json!({ "username": "dan", "email": "dan@example.com", "password": PASSWORD }),
        )
        .await;
    assert_throttled(&v1_again, 58, 60);

    let reset = app
        .post(
            "/auth/reset-password/",
            json!({ "email": "alice@example.com" }),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let djoser = app
        .post(
            "/auth/users/reset_password/",
            json!({ "email": "alice@example.com" }),
        )
        .await;
    assert_eq!(djoser.status, StatusCode::NO_CONTENT, "{}", djoser.text);
    for path in [
        "/auth/activate/resend/",
        "/auth/users/resend_activation/",
        "/api/v1/auth/forgot_password",
        "/auth/reset-password/",
    ] {
        let reply = app
            .post(path, json!({ "email": "alice@example.com" }))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: {}",
            reply.text
        );
        assert_throttled(&reply, 58, 60);
    }

    // Routes outside every scope still answer.
    let verify = app
        .post("/auth/token/verify/", json!({ "token": "not-a-token" }))
        .await;
    assert_eq!(verify.status, StatusCode::UNAUTHORIZED, "{}", verify.text);
    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- anon and user

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_count_by_address_and_users_by_their_id() {
    // Users and tokens made by an unthrottled app on the same database, so that the
    // setup spends nothing of the throttled app's anonymous rate.
    let setup = spawn_app().await;
    let (uma, uma_access, _) = setup.signed_in_user("uma@example.com").await;
    let (vic, vic_access, _) = setup.signed_in_user("vic@example.com").await;
    let database = setup.db.url.clone();
    let app = throttled_app(move |s| {
        s.database.url = Some(database);
        s.throttle.rates.anon = rate("3/minute");
        s.throttle.rates.user = rate("5/minute");
    })
    .await;
    let forged = forge(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &claims(&uma_access),
        Some("not-the-signing-key-but-just-as-long-0123456789"),
    );
    let forged = format!("Bearer {forged}");

    // Credentials that are not a validly signed access token count as anonymous.
    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.status,
        StatusCode::OK
    );
    let garbage = app
        .get("/.well-known/jwks.json", Some("Bearer not.a.token"))
        .await;
    assert_eq!(garbage.status, StatusCode::OK, "{}", garbage.text);
    let forged_health = app.get("/.well-known/jwks.json", Some(&forged)).await;
    assert_eq!(
        forged_health.status,
        StatusCode::OK,
        "{}",
        forged_health.text
    );
    assert_throttled(&app.get("/.well-known/jwks.json", None).await, 58, 60);
    assert_throttled(&app.get("/auth/me/", Some(&forged)).await, 58, 60);
    assert_throttled(
        &app.get("/.well-known/jwks.json", Some("Bearer garbage"))
            .await,
        58,
        60,
    );

    // Uma is counted by her id, not against the exhausted anonymous rate.
    for _ in 0..4 {
        let me = app.me(&uma_access).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert_eq!(me.body["id"], json!(uma));
    }
    let health = app
        .get(
            "/.well-known/jwks.json",
            Some(&format!("Bearer {uma_access}")),
        )
        .await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    assert_throttled(&app.me(&uma_access).await, 58, 60);
    assert_throttled(
        &app.get(
            "/.well-known/jwks.json",
            Some(&format!("Bearer {uma_access}")),
        )
        .await,
        58,
        60,
    );

    // Vic has a bucket of his own.
    for _ in 0..5 {
        let me = app.me(&vic_access).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert_eq!(me.body["id"], json!(vic));
    }
    assert_throttled(&app.me(&vic_access).await, 58, 60);
    assert_throttled(&app.get("/.well-known/jwks.json", None).await, 50, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_api_keys_count_as_anonymous() {
    let app = throttled_app(|s| s.throttle.rates.anon = rate("2/minute")).await;

    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.status,
        StatusCode::OK
    );
    assert_throttled(&app.get("/.well-known/jwks.json", None).await, 58, 60);
    for i in 0..3 {
        let key = format!("Token made-up-key-{i}-{}", uuid::Uuid::new_v4().simple());
        assert_throttled(&app.get("/.well-known/jwks.json", Some(&key)).await, 58, 60);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_api_key_counts_by_its_user_and_still_authenticates() {
    let app = throttled_app(|s| {
        // Registering and the token login spend the two anonymous requests.
        s.throttle.rates.anon = rate("2/minute");
        s.throttle.rates.user = rate("2/minute");
    })
    .await;
    app.register("kay@example.com").await;
    let login = app
        .post(
            "/auth/token/login/",
            json!({ "email": "kay@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let key = format!("Token {}", str_of(&login.body, "auth_token"));
    assert_throttled(&app.get("/.well-known/jwks.json", None).await, 58, 60);

    // The anon budget is spent; the key's user has his own, and /auth/me/ knows him.
    for _ in 0..2 {
        let me = app.get("/auth/me/", Some(&key)).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert_eq!(me.body["email"], "kay@example.com");
    }
    assert_throttled(&app.get("/auth/me/", Some(&key)).await, 58, 60);
}

// ---------------------------------------------------------------- login_account

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_logins_count_against_the_account() {
    let app = throttled_app(|s| {
        s.throttle.rates.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.throttle.login.login_account = rate("2/hour");
    })
    .await;
    register_named(&app, "alice", "alice@example.com").await;
    let as_alice = |password: &str| json!({ "username": "alice", "password": password });

    // Her own sign-ins, however many, spend none of the budget of guesses.
    for i in 0..4 {
        let address = format!("10.1.0.{i}");
        let signed_in = post_from(&app, "/auth/token/", as_alice(PASSWORD), Some(&address)).await;
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
    }
    let key = post_from(
        &app,
        "/auth/token/login/",
        as_alice(PASSWORD),
        Some("10.1.0.9"),
    )
    .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.text);
    // Two failures fill it; then even the right password waits.
    for address in ["10.2.0.1", "10.2.0.2"] {
        assert_rejected(&post_from(&app, "/auth/token/", as_alice(WRONG), Some(address)).await);
    }
    let right = post_from(&app, "/auth/token/", as_alice(PASSWORD), Some("10.2.0.3")).await;
    assert_throttled(&right, 3598, 3600);
    // A failed token login counts too.
    let app = throttled_app(|s| {
        s.throttle.rates.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.throttle.login.login_account = rate("1/hour");
    })
    .await;
    register_named(&app, "carol", "carol@example.com").await;
    let wrong_key = json!({ "username": "carol", "password": WRONG });
    let refused = post_from(&app, "/auth/token/login/", wrong_key, Some("10.3.0.1")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    let next = json!({ "username": "carol", "password": PASSWORD });
    assert_throttled(
        &post_from(&app, "/auth/token/", next, Some("10.3.0.2")).await,
        3598,
        3600,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_naming_one_account_are_limited_from_any_address() {
    let app = throttled_app(|s| {
        s.throttle.rates.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.throttle.login.login_account = rate("3/hour");
    })
    .await;
    register_named(&app, "alice", "alice@example.com").await;
    register_named(&app, "bob", "bob@example.com").await;
    let as_alice = |password: &str| json!({ "username": "alice", "password": password });

    for address in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        assert_rejected(&post_from(&app, "/auth/token/", as_alice(WRONG), Some(address)).await);
    }
    let fourth = post_from(&app, "/auth/token/", as_alice(WRONG), Some("10.0.0.4")).await;
    assert_throttled(&fourth, 3598, 3600);
    let right = post_from(&app, "/auth/token/", as_alice(PASSWORD), Some("10.0.0.5")).await;
    assert_throttled(&right, 3598, 3600);
    let key_login = post_from(
        &app,
        "/auth/token/login/",
        as_alice(PASSWORD),
        Some("10.0.0.6"),
    )
    .await;
    assert_throttled(&key_login, 3598, 3600);

    // Bob is another account.
    let bob_wrong = post_from(
        &app,
        "/auth/token/",
        json!({ "username": "bob", "password": WRONG }),
        Some("10.0.0.7"),
    )
    .await;
    assert_rejected(&bob_wrong);
    let bob = post_from(
        &app,
        "/auth/token/",
        json!({ "username": "bob", "password": PASSWORD }),
        Some("10.0.0.7"),
    )
    .await;
    assert_eq!(bob.status, StatusCode::OK, "{}", bob.text);

    // By email, however it is capitalised, it is the same account: one budget.
    for (email, address) in [
        ("alice@example.com", "10.0.1.1"),
        ("Alice@Example.com", "10.0.1.2"),
        ("ALICE@EXAMPLE.COM", "10.0.1.3"),
    ] {
        let reply = post_from(
            &app,
            "/auth/token/",
            json!({ "email": email, "password": PASSWORD }),
            Some(address),
        )
        .await;
        assert_throttled(&reply, 3598, 3600);
    }
    let bob_by_email = post_from(
        &app,
        "/auth/token/",
        json!({ "email": "Bob@Example.com", "password": PASSWORD }),
        Some("10.0.1.5"),
    )
    .await;
    assert_eq!(bob_by_email.status, StatusCode::OK, "{}", bob_by_email.text);
}

/// Twelve wrong guesses at alice's password at once, from twelve addresses and under
/// four spellings of her name: the statuses they get.
async fn twelve_concurrent_guesses(app: &TestApp) -> Vec<StatusCode> {
    let names = [
        json!({ "username": "alice" }),
        json!({ "email": "alice@example.com" }),
        json!({ "email": "ALICE@example.com" }),
        json!({ "email": "Alice@Example.COM" }),
    ];
    let mut guesses = JoinSet::new();
    for i in 0..12 {
        let mut body = names[i % names.len()].clone();
        body["password"] = json!(format!("guess number {i}"));
        let request = app
            .client
            .post(app.url("/auth/token/"))
            .header("X-Forwarded-For", format!("10.9.0.{i}"))
            .json(&body);
        guesses.spawn(async move { request.send().await.expect("request").status() });
    }
    let mut statuses = guesses.join_all().await;
    statuses.sort();
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_from_many_addresses_get_no_more_checks_than_the_account_allows() {
    let redis = format!("redis://{REDIS}");
    for backend in [ThrottleBackend::Memory, ThrottleBackend::Redis] {
        let url = redis.clone();
        let app = throttled_app(move |s| {
            s.throttle.rates.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            s.throttle.login.login_account = rate("3/minute");
            s.throttle.store.backend = backend;
            s.throttle.store.redis_url = Some(SecretString::from(url));
            // A real hash's cost: every guess is in flight before the first is judged.
            s.passwords.hashing.bcrypt_cost = 10;
        })
        .await;
        register_named(&app, "alice", "alice@example.com").await;
        let statuses = twelve_concurrent_guesses(&app).await;
        let mut expected = vec![StatusCode::UNAUTHORIZED; 3];
        expected.extend([StatusCode::TOO_MANY_REQUESTS; 9]);
        assert_eq!(statuses, expected, "{backend:?}");
        assert_eq!(
            app.db
                .scalar(
                    "SELECT count(*) AS value FROM audit_events WHERE event_type = 'login.failed'"
                )
                .await,
            3,
            "{backend:?}: three passwords were checked"
        );
        // Her own sign-in, by either name, waits too: the budget is the account's.
        let right = post_from(
            &app,
            "/auth/token/",
            json!({ "username": "alice", "password": PASSWORD }),
            Some("10.9.1.1"),
        )
        .await;
        assert_throttled(&right, 50, 60);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_that_checks_a_password_spends_the_accounts_budget_of_guesses() {
    let app = throttled_app(|s| {
        s.throttle.rates.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.throttle.login.login_account = rate("3/hour");
    })
    .await;
    register_named(&app, "alice", "alice@example.com").await;
    let (access, _) = app.login("alice@example.com").await;
    let wrong = |field: &str, current: &str| json!({ field: current, "new_password": "a new passphrase 42" });
    let guesses = [
        ("POST", "/auth/change-password/", "old_password"),
        ("POST", "/auth/users/set_password/", "current_password"),
        ("POST", "/api/v1/auth/change_password", "current_password"),
    ];
    for (method, path, field) in guesses {
        let reply = call(
            &app,
            method.parse().unwrap(),
            path,
            &access,
            Some(wrong(field, "not it")),
        )
        .await;
        assert_eq!(
            (reply.status, &reply.body),
            (
                StatusCode::BAD_REQUEST,
                &json!({ field: ["Invalid password."] })
            ),
            "{path}"
        );
    }
    // Three wrong guesses through three routes: the fourth check waits, on any route
    // that checks a password, the right password too, and a login as well.
    for (method, path) in [
        ("DELETE", "/auth/me/"),
        ("POST", "/auth/change-password/"),
        ("POST", "/auth/users/set_password/"),
        ("POST", "/api/v1/auth/change_password"),
    ] {
        let field = match path {
            "/auth/change-password/" => "old_password",
            _ => "current_password",
        };
        let reply = call(
            &app,
            method.parse().unwrap(),
            path,
            &access,
            Some(wrong(field, PASSWORD)),
        )
        .await;
        assert_throttled(&reply, 3590, 3600);
    }
    assert_throttled(
        &post_from(
            &app,
            "/auth/token/",
            json!({ "username": "alice", "password": PASSWORD }),
            Some("10.4.0.1"),
        )
        .await,
        3590,
        3600,
    );
    assert_eq!(
        app.db
            .scalar(
                "SELECT count(*) AS value FROM audit_events \
                 WHERE event_type = 'password.check_failed' AND actor_id = subject_user_id"
            )
            .await,
        3,
        "each wrong guess is on the trail"
    );
    assert_eq!(
        app.db
            .scalar("SELECT count(*) AS value FROM users WHERE username = 'alice'")
            .await,
        1,
        "nothing was changed or deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_passwords_spend_nothing_and_the_password_check_scope_limits_an_address() {
    let app = throttled_app(|s| {
        s.throttle.login.login_account = rate("1/hour");
        s.throttle.rates.password_check = rate("3/minute");
    })
    .await;
    register_named(&app, "alice", "alice@example.com").await;
    let (mut access, mut refresh) = app.login("alice@example.com").await;
    let mut current = PASSWORD.to_owned();
    for i in 0..3 {
        let next = format!("the next passphrase {i}");
        let reply = call(
            &app,
            reqwest::Method::POST,
            "/auth/change-password/",
            &access,
            Some(json!({ "old_password": current, "new_password": next })),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "change {i}: {}", reply.text);
        current = next;
        // The change ends access tokens from an earlier second; the session goes on.
        let refreshed = app.refresh(&refresh).await;
        assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
        access = str_of(&refreshed.body, "access");
        refresh = str_of(&refreshed.body, "refresh");
    }
    // The address's `password_check` budget is spent; reading oneself is not scoped.
    let fourth = call(
        &app,
        reqwest::Method::DELETE,
        "/auth/me/",
        &access,
        Some(json!({ "current_password": current })),
    )
    .await;
    assert_throttled(&fourth, 50, 60);
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
}

// ---------------------------------------------------------------- X-Forwarded-For

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = throttled_app(|s| s.throttle.rates.login = rate("3/minute")).await;
    let credentials = json!({ "email": "carol@example.com", "password": PASSWORD });
    let wrong = json!({ "email": "carol@example.com", "password": WRONG });
    let registered = post_from(
        &app,
        "/auth/register/",
        credentials.clone(),
        Some("203.0.113.7"),
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );

    let login = post_from(
        &app,
        "/auth/token/",
        credentials.clone(),
        Some("203.0.113.8"),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let access = str_of(&login.body, "access");
    assert_rejected(&post_from(&app, "/auth/token/", wrong.clone(), Some("203.0.113.9")).await);
    assert_rejected(&post_from(&app, "/auth/token/", wrong.clone(), Some("203.0.113.10")).await);
    let fourth = post_from(&app, "/auth/token/", wrong, Some("203.0.113.11")).await;
    assert_throttled(&fourth, 58, 60);

    assert_eq!(session_ips(&app, &access).await, ["127.0.0.1", "127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_from_a_trusted_proxy_names_the_client() {
    let app = throttled_app(|s| {
        s.throttle.rates.login = rate("3/minute");
        s.throttle.rates.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let credentials = json!({ "email": "dave@example.com", "password": PASSWORD });
    let wrong = json!({ "email": "dave@example.com", "password": WRONG });
    let registered = post_from(
        &app,
        "/auth/register/",
        credentials.clone(),
        Some("198.51.100.7"),
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let login = post_from(&app, "/auth/token/", credentials, Some("198.51.100.8")).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let access = str_of(&login.body, "access");

    // A bucket per forwarded address.
    for last in 20..25 {
        let address = format!("198.51.100.{last}");
        assert_rejected(&post_from(&app, "/auth/token/", wrong.clone(), Some(&address)).await);
    }
    for _ in 0..3 {
        let reply = post_from(&app, "/auth/token/", wrong.clone(), Some("198.51.100.30")).await;
        assert_rejected(&reply);
    }
    let fourth = post_from(&app, "/auth/token/", wrong.clone(), Some("198.51.100.30")).await;
    assert_throttled(&fourth, 58, 60);
    // What the client prepends is not believed: the nearest untrusted hop is.
    let spoofed = post_from(
        &app,
        "/auth/token/",
        wrong.clone(),
        Some("192.0.2.1, 198.51.100.30"),
    )
    .await;
    assert_throttled(&spoofed, 58, 60);
    // Trusted hops are walked over.
    let chained = post_from(
        &app,
        "/auth/token/",
        wrong,
        Some("198.51.100.31, 127.0.0.1"),
    )
    .await;
    assert_rejected(&chained);

    assert_eq!(
        session_ips(&app, &access).await,
        ["198.51.100.8", "198.51.100.7"]
    );
}

// ---------------------------------------------------------------- two processes, one Redis

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_limit_through_redis() {
    let db = TestDatabase::create().await;
    let url = url_of(&db);
    let prefix = unique_prefix();
    let env = [
        ("GATEHOUSE__THROTTLE__ENABLED", "true"),
        ("GATEHOUSE__THROTTLE__BACKEND", "redis"),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("GATEHOUSE__THROTTLE__KEY_PREFIX", prefix.as_str()),
        ("GATEHOUSE__THROTTLE__LOGIN", "4/minute"),
        ("GATEHOUSE__THROTTLE__ANON", "1000/minute"),
        ("GATEHOUSE__THROTTLE__LOGIN_ACCOUNT", "1000/minute"),
    ];
    let (one, two) = tokio::join!(Served::start(&url, &env), Served::start(&url, &env));
    let registered = one
        .post(
            "/auth/register/",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let wrong = json!({ "email": "alice@example.com", "password": WRONG });

    for served in [&one, &two, &one, &two] {
        assert_rejected(&served.post("/auth/token/", wrong.clone()).await);
    }
    assert_throttled(&one.post("/auth/token/", wrong.clone()).await, 58, 60);
    assert_throttled(&two.post("/auth/token/", wrong).await, 58, 60);
    let right = two
        .post(
            "/auth/token/",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    assert_throttled(&right, 58, 60);

    for served in [&one, &two] {
        let readiness = served.get("/readyz", None).await;
        assert_eq!(readiness.status, StatusCode::OK, "{}", readiness.text);
        assert_eq!(readiness.body, ready("ok"));
    }
    drop((one, two));
}

// ---------------------------------------------------------------- Redis goes away

/// A TCP proxy in front of Redis that a test can cut (refusing new connections and
/// killing the ones it carries) and restore on the same port.
struct Proxy {
    port: u16,
    upstream: String,
    task: Option<JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn listen_on(port: u16) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(([127, 0, 0, 1], port).into())
        .expect("bind the proxy port");
    socket.listen(64).expect("listen")
}

async fn forward(listener: TcpListener, upstream: String) {
    // Dropping this future (abort) drops the set, which aborts every forwarded
    // connection with it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut inbound, _)) = accepted else { continue };
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let port = free_port();
        let listener = listen_on(port);
        let task = Some(tokio::spawn(forward(listener, upstream.to_owned())));
        Proxy {
            port,
            upstream: upstream.to_owned(),
            task,
        }
    }

    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    fn restart(&mut self) {
        assert!(self.task.is_none(), "the proxy is running");
        let listener = listen_on(self.port);
        self.task = Some(tokio::spawn(forward(listener, self.upstream.clone())));
    }
}

/// An app counting in Redis through `proxy`.
async fn app_behind(proxy: &Proxy, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let url = format!("redis://127.0.0.1:{}", proxy.port);
    throttled_app(move |s| {
        s.throttle.store.backend = ThrottleBackend::Redis;
        s.throttle.store.redis_url = Some(SecretString::from(url));
        configure(s);
    })
    .await
}

/// Polls `/readyz` until its `throttle` is `status` (at most ~10 s); the database is
/// up throughout, so every answer is a 200.
async fn throttle_becomes(app: &TestApp, status: &str) -> Reply {
    let mut last = None;
    for _ in 0..40 {
        let reply = app.get("/readyz", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        if reply.body["throttle"] == status {
            return reply;
        }
        last = Some(reply);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("/readyz never said throttle {status}; last: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_unreachable_requests_go_through_and_readyz_says_so() {
    let mut proxy = Proxy::start(REDIS);
    let app = app_behind(&proxy, |s| s.throttle.rates.login = rate("3/minute")).await;
    app.register("alice@example.com").await;
    for _ in 0..3 {
        assert_rejected(&wrong_login(&app, "/auth/token/", "alice@example.com").await);
    }
    assert_throttled(
        &wrong_login(&app, "/auth/token/", "alice@example.com").await,
        58,
        60,
    );
    let up = app.get("/readyz", None).await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.text);
    assert_eq!(up.body, ready("ok"));

    proxy.stop().await;

    for _ in 0..5 {
        assert_rejected(&wrong_login(&app, "/auth/token/", "alice@example.com").await);
    }
    let (access, _) = app.login("alice@example.com").await;
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
    // Readiness answers from a probe at most a second old.
    let down = throttle_becomes(&app, "unreachable").await;
    assert_eq!(down.body, ready("unreachable"));

    proxy.restart();

    let back = throttle_becomes(&app, "ok").await;
    assert_eq!(back.body, ready("ok"));
    // The window of the first three attempts is still full.
    assert_throttled(
        &wrong_login(&app, "/auth/token/", "alice@example.com").await,
        50,
        60,
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_login_refuses_logins_while_redis_is_unreachable() {
    let mut proxy = Proxy::start(REDIS);
    let app = app_behind(&proxy, |s| s.throttle.login.fail_closed_login = true).await;
    app.register("alice@example.com").await;
    let (access, _) = app.login("alice@example.com").await;

    proxy.stop().await;

    for path in ["/auth/token/", "/auth/jwt/create/", "/auth/token/login/"] {
        let login = app
            .post(
                path,
                json!({ "email": "alice@example.com", "password": PASSWORD }),
            )
            .await;
        assert_unavailable(&login);
        assert_eq!(login.header("retry-after"), Some("5"), "{path}");
    }
    let verify = app
        .post("/auth/token/verify/", json!({ "token": access }))
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.text);
    assert_eq!(verify.body, json!({}));
    let me = app.me(&access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let readiness = throttle_becomes(&app, "unreachable").await;
    assert_eq!(readiness.body, ready("unreachable"));

    proxy.restart();

    throttle_becomes(&app, "ok").await;
    let (access, _) = app.login("alice@example.com").await;
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_are_never_throttled() {
    let app = throttled_app(|s| s.throttle.rates.anon = rate("2/minute")).await;
    for _ in 0..2 {
        let jwks = app.get("/.well-known/jwks.json", None).await;
        assert_eq!(jwks.status, StatusCode::OK, "{}", jwks.text);
    }
    assert_throttled(&app.get("/.well-known/jwks.json", None).await, 58, 60);
    // A load balancer asking often must never see its instance refuse a probe.
    for _ in 0..10 {
        assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
        assert_eq!(app.get("/readyz/", None).await.status, StatusCode::OK);
    }
}

// ---------------------------------------------------------------- off

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_throttling_off_nothing_is_limited() {
    let app = spawn_app().await;
    assert!(
        !app.settings.throttle.store.enabled,
        "config/test.toml turns it off"
    );
    app.register("alice@example.com").await;

    for _ in 0..50 {
        assert_rejected(&wrong_login(&app, "/auth/token/", "alice@example.com").await);
    }
    let (access, _) = app.login("alice@example.com").await;
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
    let readiness = app.get("/readyz", None).await;
    assert_eq!(readiness.status, StatusCode::OK, "{}", readiness.text);
    assert_eq!(readiness.body, ready("off"));
}
