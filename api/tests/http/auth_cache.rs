//! The auth cache (`database.auth_cache_size`): token checks answered from memory,
//! forgotten at once on this instance when it writes, within milliseconds on every
//! other instance through `LISTEN/NOTIFY`, and not served at all while the listener is
//! down. Statement counts come from `Server-Timing` (`server.server_timing`).

use std::time::{Duration, Instant};

use crate::common::*;
use infrastructure::auth_cache::LISTENER_APPLICATION_NAME;
use infrastructure::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// How many listeners of this service are connected to `db`, and their pids.
async fn listeners(db: &TestDatabase) -> Vec<i64> {
    let rows = db
        .text(&format!(
            "SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') AS value \
             FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = '{LISTENER_APPLICATION_NAME}'"
        ))
        .await
        .unwrap_or_default();
    rows.split(',')
        .filter(|pid| !pid.is_empty())
        .map(|pid| pid.parse().expect("a pid"))
        .collect()
}

/// Calls `check` every 2 ms until it is true; the time it took. Panics after `limit`.
async fn within<F: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> Duration {
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn cached_app() -> TestApp {
    spawn_app_with(|settings| settings.auth_cache.auth_cache_size = 1000).await
}

/// Waits until `access` is answered from memory (the listener listens, the entry is
/// kept).
async fn until_cached(app: &TestApp, access: &str) {
    within(Duration::from_secs(10), "GET me from memory", || async {
        let me = app.me(access).await;
        assert_eq!(me.status, StatusCode::OK, "{me:?}");
        me.statements() == 0
    })
    .await;
}

#[tokio::test]
async fn a_token_check_is_answered_from_memory_until_this_instance_writes() {
    let app = cached_app().await;
    let (_, access, refresh) = app.signed_in_user("alice@example.com").await;
    until_cached(&app, &access).await;

    let verified = app
        .post("/auth/token/verify/", json!({ "token": access }))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
    assert_eq!(verified.statements(), 0, "verify from memory");

    // A change through this instance is seen by the very next request.
    let renamed = call(
        &app,
        Method::PATCH,
        "/auth/me/",
        &access,
        Some(json!({ "first_name": "Alys" })),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
    let me = app.me(&access).await;
    assert_eq!(me.body["first_name"], "Alys", "{me:?}");
    assert_eq!(me.statements(), 1, "read again after the write");
    until_cached(&app, &access).await;

    let logout = app
        .post("/auth/logout/", json!({ "refresh": refresh }))
        .await;
    assert_eq!(logout.status, StatusCode::RESET_CONTENT, "{logout:?}");
    assert_access_token_rejected(&app.me(&access).await, "Token is blacklisted");
}

/// Two `gatehouse serve` processes on one database: what one of them does is refused
/// by the other within 100 ms, though the other answered that token from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_a_deactivation_and_a_password_change_on_one_instance_reach_the_other_within_100_ms()
 {
    let db = TestDatabase::create().await;
    let url = url_of(&db);
    let cache = [("GATEHOUSE__DATABASE__AUTH_CACHE_SIZE", "1000")];
    let a = Served::start(&url, &cache).await;
    let b = Served::start(&url, &cache).await;
    let signed_in = |email: &'static str| {
        let a = &a;
        async move {
            let registered = a.post("/auth/register/", credentials(email)).await;
            assert_eq!(registered.status, StatusCode::CREATED, "{registered:?}");
            token_pair(&a.post("/auth/token/", credentials(email)).await)
        }
    };
    let (alice, alice_refresh) = signed_in("alice@example.com").await;
    let (bob, _) = signed_in("bob@example.com").await;
    let (carol, _) = signed_in("carol@example.com").await;
    // Her other session, which her password change ends (a token of the session she
    // changes it from stays good when it dates from the same second).
    let (carol_elsewhere, _) = token_pair(
        &a.post("/auth/token/", credentials("carol@example.com"))
            .await,
    );
    db.execute(
        "UPDATE users SET is_staff = true, is_superuser = true WHERE email = 'alice@example.com'",
    )
    .await;
    let (admin, _) = token_pair(
        &a.post("/auth/token/", credentials("alice@example.com"))
            .await,
    );
    let bob_id = db
        .scalar("SELECT id AS value FROM users WHERE email = 'bob@example.com'")
        .await;

    // B answers each token from memory.
    for access in [&alice, &bob, &carol_elsewhere] {
        within(Duration::from_secs(10), "B answers from memory", || async {
            let me = b.get("/auth/me/", Some(access)).await;
            assert_eq!(me.status, StatusCode::OK, "{me:?}");
            me.statements() == 0
        })
        .await;
    }
    let refused_on_b = |access: &str| {
        let access = access.to_owned();
        let b = &b;
        move || {
            let access = access.clone();
            async move { b.get("/auth/me/", Some(&access)).await.status == StatusCode::UNAUTHORIZED }
        }
    };
    let limit = Duration::from_millis(100);

    let logout = a
        .post("/auth/logout/", json!({ "refresh": alice_refresh }))
        .await;
    assert_eq!(logout.status, StatusCode::RESET_CONTENT, "{logout:?}");
    let after_logout = within(limit, "a logout on A, on B", refused_on_b(&alice)).await;

    let deactivated = a
        .send(
            Method::PATCH,
            &format!("/auth/users/{bob_id}/"),
            &admin,
            json!({ "is_active": false }),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{deactivated:?}");
    let after_deactivation = within(limit, "a deactivation on A, on B", refused_on_b(&bob)).await;

    let changed = a
        .send(
            Method::POST,
            "/auth/change-password/",
            &carol,
            json!({ "old_password": PASSWORD, "new_password": "another long passphrase" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    let after_change = within(
        limit,
        "a password change on A, on B",
        refused_on_b(&carol_elsewhere),
    )
    .await;

    println!(
        "refused on B after: logout {after_logout:?}, deactivation {after_deactivation:?}, password change {after_change:?}"
    );
    a.stop().await;
    b.stop().await;
}

/// While the listener is down, a change it cannot hear of is still seen at once:
/// nothing is answered from memory until a new listener listens, and what was kept
/// before is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_empties_the_cache_instead_of_serving_stale_answers() {
    let app = cached_app().await;
    let (id, access, _) = app.signed_in_user("alice@example.com").await;
    until_cached(&app, &access).await;
    let before = listeners(&app.db).await;
    assert_eq!(before.len(), 1, "one listener: {before:?}");

    let terminated = app
        .db
        .scalar(&format!(
            "SELECT count(pg_terminate_backend({})) AS value",
            before[0]
        ))
        .await;
    assert_eq!(terminated, 1);
    // Until it is back (a second later), every check reads the database.
    within(
        Duration::from_millis(500),
        "the cache stops serving",
        || async { app.me(&access).await.statements() == 1 },
    )
    .await;
    assert!(
        listeners(&app.db).await.is_empty(),
        "no listener yet: the window this test needs"
    );
    // A change made now is announced to no one.
    app.db
        .execute(&format!(
            "UPDATE users SET is_active = false WHERE id = {id}"
        ))
        .await;
    let me = app.me(&access).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{me:?}");

    // A new listener comes; the stale answer does not come back with it.
    within(Duration::from_secs(10), "a new listener", || async {
        listeners(&app.db)
            .await
            .iter()
            .any(|pid| !before.contains(pid))
    })
    .await;
    for _ in 0..3 {
        let me = app.me(&access).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{me:?}");
    }
}
