//! `make bench`: switching from Django.
//!
//! 1. The import rate: the Django database of the fixture plus 100 000 users
//!    (BENCH_USERS) with Django's default hash, half of them in a group, one in ten with
//!    a DRF key, one in five with an outstanding refresh token; imported once, then a
//!    second time with nothing changed.
//! 2. The login time for each of Django's hashers at Django 5.2's default costs
//!    (`infrastructure/tests/fixtures/django_password_hashes_default_cost.json`, hashed by
//!    real Django): a user's first login verifies his Django hash and upgrades it to
//!    bcrypt_sha256 at cost 12 (BENCH_BCRYPT_COST); later logins verify that.

mod support;

use support::{knob, report, serve, settings_on};

use std::time::{Duration, Instant};

use application::django_import::ConflictPolicy;
use infrastructure::django_import::{ImportOptions, ImportProgress, Stage, import};
use infrastructure::testing::{DjangoHash, TestDatabase, django_database};
use serde_json::json;

struct Quiet;

impl ImportProgress for Quiet {
    fn stage(&mut self, _stage: Stage, _total: u64) {}
    fn advance(&mut self, _done: u64) {}
}

const SEED: &str = "
INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name,
                       email, is_staff, is_active, date_joined)
SELECT 'pbkdf2_sha256$1000000$' || substr(md5(n::text), 1, 22) || '$'
           || encode(sha256(n::text::bytea), 'base64'),
       now() - make_interval(mins => n), false, 'bench' || n, 'First' || (n % 997),
       'Last' || (n % 1009), 'bench' || n || '@example.com', false, n % 10 <> 0,
       now() - make_interval(hours => n)
FROM generate_series(1, :count) AS n;
INSERT INTO auth_user_groups (user_id, group_id)
SELECT u.id, g.id FROM auth_user u CROSS JOIN auth_group g
WHERE u.username LIKE 'bench%' AND u.id % 2 = 0 AND g.name = 'readers';
INSERT INTO authtoken_token (key, created, user_id)
SELECT substr(md5('key' || id) || md5('yek' || id), 1, 40), now(), id
FROM auth_user WHERE username LIKE 'bench%' AND id % 10 = 0;
INSERT INTO token_blacklist_outstandingtoken (jti, token, created_at, expires_at, user_id)
SELECT replace(gen_random_uuid()::text, '-', ''), 'bench', now(), now() + interval '1 day', id
FROM auth_user WHERE username LIKE 'bench%' AND id % 5 = 0;
ANALYZE";

#[tokio::main]
async fn main() {
    let users: usize = knob("BENCH_USERS", 100_000);
    let cost: u32 = knob("BENCH_BCRYPT_COST", 12);

    let django = django_database().await;
    django
        .batch(&SEED.replace(":count", &users.to_string()))
        .await;
    let gatehouse = TestDatabase::create().await;
    let options = ImportOptions {
        conflicts: ConflictPolicy::Skip,
        dry_run: false,
        batch_size: 1000,
    };
    for run in ["first import", "second import (nothing changed)"] {
        let started = Instant::now();
        let report = import(&django.url, &gatehouse.url, options, &mut Quiet)
            .await
            .expect("the import succeeds");
        let elapsed = started.elapsed().as_secs_f64();
        let total = report.users.created + report.users.updated + report.users.unchanged;
        println!(
            "{run:<32} {total} users in {elapsed:.1}s: {:.0} users/s \
             ({} created, {} unchanged; {} DRF keys, {} refresh tokens)",
            total as f64 / elapsed,
            report.users.created,
            report.users.unchanged,
            report.api_keys.created,
            report.refresh_tokens.created,
        );
    }

    logins(&gatehouse, cost).await;
}

/// A few users per hasher on the imported database; each signs in twice.
async fn logins(db: &TestDatabase, cost: u32) {
    let hashes: Vec<DjangoHash> = serde_json::from_str(include_str!(
        "../../infrastructure/tests/fixtures/django_password_hashes_default_cost.json"
    ))
    .expect("the fixture is JSON");
    let per_hasher = 3;
    for hash in &hashes {
        for n in 0..per_hasher {
            db.execute(&format!(
                "INSERT INTO users (username, email, password) VALUES \
                 ('{0}-{n}', '{0}-{n}@example.com', '{1}')",
                hash.hasher, hash.encoded
            ))
            .await;
        }
    }
    let mut settings = settings_on(db);
    settings.passwords.hashing.bcrypt_cost = cost;
    let base = serve(&settings).await;
    let client = reqwest::Client::new();
    println!(
        "POST /auth/token/ per Django hasher at Django's default cost, {per_hasher} users each; \
         the first login upgrades to bcrypt_sha256 cost {cost}"
    );
    for hash in &hashes {
        let (mut first, mut later): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
        for n in 0..per_hasher {
            for samples in [&mut first, &mut later] {
                let body = json!({ "username": format!("{}-{n}", hash.hasher), "password": hash.password });
                let started = Instant::now();
                let response = client
                    .post(format!("{base}/auth/token/"))
                    .json(&body)
                    .send()
                    .await
                    .expect("the login request");
                samples.push(started.elapsed());
                assert_eq!(response.status(), 200, "{}", hash.hasher);
            }
        }
        report(&format!("{} first login", hash.hasher), first);
        report(&format!("{} later login", hash.hasher), later);
    }
}
