//! The PostgreSQL adapters against a real, fresh database per test.

use chrono::{Duration, Utc};
use domain::authorization::Authority;
use domain::ports::{CreateUserError, Rehash, SessionRepository, UpdateUserError, UserRepository};
use domain::{
    AuditEvent, AuditKind, EmailAddress, NewRefreshToken, NewUser, ProfileChanges, RotateOutcome,
    UserId, Username,
};
use infrastructure::db::{PoolSettings, build_pool, run_migrations};
use infrastructure::email::{EmailComposer, EmailTemplates, Outbox};
use infrastructure::testing::TestDatabase;
use infrastructure::{PgPool, PgSessionRepository, PgUserRepository};
use uuid::Uuid;

async fn pool(db: &TestDatabase) -> PgPool {
    build_pool(&PoolSettings {
        url: Some(db.url.clone()),
        max_connections: 8,
        acquire_timeout: std::time::Duration::from_secs(5),
    })
    .unwrap()
}

/// A new user `<username>` with address `<username>@example.com`; his id.
async fn signed_up(f: &Fixture, username: &str) -> UserId {
    f.users
        .create(
            new_user(username, &format!("{username}@example.com")),
            None,
            audit(),
        )
        .await
        .unwrap()
        .user
        .id
}

fn new_user(username: &str, email: &str) -> NewUser {
    NewUser {
        username: Username::parse(username).unwrap(),
        email: EmailAddress::parse(email).unwrap(),
        password_hash: "bcrypt_sha256$x".to_owned(),
        first_name: String::new(),
        last_name: String::new(),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        now: Utc::now(),
    }
}

/// An event for the writes whose audit trail is not what a test is about.
fn audit() -> AuditEvent {
    AuditEvent::new(AuditKind::UserUpdated, Utc::now())
}

fn first_token(user_id: UserId) -> NewRefreshToken {
    let now = Utc::now();
    NewRefreshToken {
        jti: Uuid::new_v4(),
        user_id,
        family_id: Uuid::new_v4(),
        parent_jti: None,
        created_at: now,
        expires_at: now + Duration::days(1),
        session_started_at: now,
        user_agent: Some("test".to_owned()),
        ip: Some("127.0.0.1".to_owned()),
        parent_session: None,
    }
}

fn successor_of(token: &NewRefreshToken) -> NewRefreshToken {
    NewRefreshToken {
        jti: Uuid::new_v4(),
        parent_jti: Some(token.jti),
        created_at: Utc::now(),
        ..token.clone()
    }
}

fn outbox() -> Outbox {
    Outbox::new(EmailComposer::new(EmailTemplates {
        site_name: "Gatehouse".to_owned(),
        frontend_url: "http://frontend.test".to_owned(),
        reset_url_template: "reset-password/{token}".to_owned(),
        activation_url_template: "activate/{token}".to_owned(),
    }))
}

struct Fixture {
    db: TestDatabase,
    pool: PgPool,
    users: PgUserRepository,
    sessions: PgSessionRepository,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create().await;
    let pool = pool(&db).await;
    Fixture {
        users: PgUserRepository::new(pool.clone(), outbox()),
        sessions: PgSessionRepository::new(pool.clone()),
        pool,
        db,
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_seed_the_auth_permissions() {
    let f = fixture().await;
    assert!(run_migrations(&f.db.url).await.unwrap().is_empty());
    assert_eq!(
        f.db.scalar("SELECT count(*) AS value FROM permissions WHERE app_label = 'auth'")
            .await,
        13
    );
    let audit = "SELECT count(*) AS value FROM permissions WHERE codename = 'view_auditevent'";
    assert_eq!(f.db.scalar(audit).await, 1);
}

#[tokio::test]
async fn a_test_database_sorts_text_by_code_point_and_lowers_every_letter() {
    let f = fixture().await;
    let collation = "SELECT count(*) AS value FROM pg_database \
                     WHERE datname = current_database() AND datcollate = 'C'";
    assert_eq!(f.db.scalar(collation).await, 1);
    // In `en_US` the order would be a, B, é, Z.
    let order = "SELECT (string_agg(x, '' ORDER BY x) = 'BZaé')::int::bigint AS value \
                 FROM unnest(ARRAY['a', 'é', 'Z', 'B']) AS x";
    assert_eq!(f.db.scalar(order).await, 1);
    let folded = "SELECT (lower('ÉMILE Ærø') = 'émile ærø')::int::bigint AS value";
    assert_eq!(f.db.scalar(folded).await, 1);
}

#[tokio::test]
async fn emails_are_unique_case_insensitively_and_usernames_exactly() {
    let f = fixture().await;
    f.users
        .create(new_user("alice", "alice@example.com"), None, audit())
        .await
        .unwrap();
    let clash = f
        .users
        .create(new_user("alice2", "ALICE@example.com"), None, audit())
        .await;
    assert!(
        matches!(clash, Err(CreateUserError::DuplicateEmail)),
        "{clash:?}"
    );
    let clash = f
        .users
        .create(new_user("alice", "other@example.com"), None, audit())
        .await;
    assert!(
        matches!(clash, Err(CreateUserError::DuplicateUsername)),
        "{clash:?}"
    );
    let other_case = f
        .users
        .create(new_user("Alice", "third@example.com"), None, audit())
        .await
        .expect("a username differing in case is another username");
    assert_eq!(other_case.user.username.as_str(), "Alice");
    let found = f
        .users
        .find_by_email("Alice@EXAMPLE.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.username.as_str(), "alice");
    assert!(f.users.find_by_username("ALICE").await.unwrap().is_none());
}

#[tokio::test]
async fn a_profile_has_group_names_and_effective_permissions_in_one_query() {
    let f = fixture().await;
    let id = signed_up(&f, "bob").await;
    f.db.execute("INSERT INTO groups (name) VALUES ('b-group'), ('a-group')")
        .await;
    f.db.execute(&format!(
        "INSERT INTO user_groups SELECT {id}, id FROM groups"
    ))
    .await;
    f.db.execute(
        "INSERT INTO group_permissions SELECT g.id, p.id FROM groups g, permissions p \
         WHERE g.name = 'a-group' AND p.codename IN ('view_user', 'add_user')",
    )
    .await;
    f.db.execute(&format!(
        "INSERT INTO user_permissions SELECT {id}, id FROM permissions WHERE codename IN ('view_user', 'view_group')"
    ))
    .await;

    let profile = f.users.profile(id).await.unwrap().unwrap();

    assert_eq!(profile.groups, ["a-group", "b-group"]);
    assert_eq!(
        profile.permissions,
        ["auth.add_user", "auth.view_group", "auth.view_user"]
    );
    f.db.execute(&format!(
        "UPDATE users SET is_superuser = true WHERE id = {id}"
    ))
    .await;
    assert_eq!(
        f.users
            .profile(id)
            .await
            .unwrap()
            .unwrap()
            .permissions
            .len(),
        13
    );
}

#[tokio::test]
async fn profile_changes_refuse_a_taken_username_and_keep_other_fields() {
    let f = fixture().await;
    f.users
        .create(new_user("carol", "carol@example.com"), None, audit())
        .await
        .unwrap();
    let id = signed_up(&f, "dave").await;
    let taken = ProfileChanges {
        username: Some(Username::parse("carol").unwrap()),
        ..Default::default()
    };
    assert!(matches!(
        f.users.update_profile(id, taken, audit()).await,
        Err(UpdateUserError::DuplicateUsername)
    ));
    let rename = ProfileChanges {
        first_name: Some("Dave".to_owned()),
        ..Default::default()
    };
    let profile = f.users.update_profile(id, rename, audit()).await.unwrap();
    assert_eq!(
        (
            profile.user.first_name.as_str(),
            profile.user.username.as_str()
        ),
        ("Dave", "dave")
    );
    let missing = f
        .users
        .update_profile(UserId(9_999), ProfileChanges::default(), audit())
        .await;
    assert!(matches!(missing, Err(UpdateUserError::NotFound)));
}

#[tokio::test]
async fn rotation_outcomes_follow_the_token_state() {
    let f = fixture().await;
    let user = signed_up(&f, "erin").await;
    let first = first_token(user);
    f.sessions.start(first.clone(), None, None).await.unwrap();
    let second = successor_of(&first);

    let outcome = f
        .sessions
        .rotate(first.jti, second.clone(), Duration::seconds(10), audit())
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated);
    let rotated = f.sessions.find(first.jti).await.unwrap().unwrap();
    assert_eq!(rotated.replaced_by, Some(second.jti));
    assert!(rotated.revoked_at.is_some());

    let again = f
        .sessions
        .rotate(
            first.jti,
            successor_of(&first),
            Duration::seconds(10),
            audit(),
        )
        .await
        .unwrap();
    let RotateOutcome::AlreadyRotated(current) = again else {
        panic!("{again:?}")
    };
    assert_eq!(current.jti, second.jti);

    let reuse = f
        .sessions
        .rotate(first.jti, successor_of(&first), Duration::zero(), audit())
        .await
        .unwrap();
    assert_eq!(reuse, RotateOutcome::Reused);
    let live = format!(
        "SELECT count(*) AS value FROM refresh_tokens WHERE family_id = '{}' AND revoked_at IS NULL",
        first.family_id
    );
    assert_eq!(
        f.db.scalar(&live).await,
        0,
        "reuse revokes the newest token too"
    );

    let unknown = f
        .sessions
        .rotate(
            Uuid::new_v4(),
            successor_of(&first),
            Duration::zero(),
            audit(),
        )
        .await
        .unwrap();
    assert_eq!(unknown, RotateOutcome::Unknown);
}

#[tokio::test]
async fn a_logged_out_token_is_revoked_not_reused() {
    let f = fixture().await;
    let user = signed_up(&f, "finn").await;
    let token = first_token(user);
    f.sessions.start(token.clone(), None, None).await.unwrap();
    assert_eq!(
        f.sessions
            .revoke_family(token.user_id, token.family_id, Utc::now(), audit())
            .await
            .unwrap(),
        1
    );
    let outcome = f
        .sessions
        .rotate(
            token.jti,
            successor_of(&token),
            Duration::seconds(10),
            audit(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Revoked);
    let state = f
        .users
        .auth_state(user, token.family_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!state.session_live);
}

#[tokio::test]
async fn concurrent_rotations_of_one_token_rotate_it_exactly_once() {
    let f = fixture().await;
    let user = signed_up(&f, "gwen").await;
    let token = first_token(user);
    f.sessions.start(token.clone(), None, None).await.unwrap();

    let outcomes = futures_util::future::join_all((0..16).map(|_| {
        let sessions = f.sessions.clone();
        let successor = successor_of(&token);
        tokio::spawn(async move {
            sessions
                .rotate(token.jti, successor, Duration::seconds(10), audit())
                .await
                .unwrap()
        })
    }))
    .await;

    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o.as_ref().unwrap(), RotateOutcome::Rotated))
        .count();
    let replayed = outcomes
        .iter()
        .filter(|o| matches!(o.as_ref().unwrap(), RotateOutcome::AlreadyRotated(_)))
        .count();
    assert_eq!((rotated, replayed), (1, 15));
    let rows = format!(
        "SELECT count(*) AS value FROM refresh_tokens WHERE family_id = '{}'",
        token.family_id
    );
    assert_eq!(f.db.scalar(&rows).await, 2);
}

/// A rotation racing "end every session" (a password change, a deactivation, logout
/// everywhere) never leaves a live successor behind: whichever takes the user's
/// session lock first, the other sees what it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_successor_outlives_a_concurrent_revocation_of_every_session() {
    let f = fixture().await;
    let user = signed_up(&f, "rhea").await;
    let live = format!(
        "SELECT count(*) AS value FROM refresh_tokens WHERE user_id = {} AND revoked_at IS NULL",
        user.0
    );
    for round in 0..60 {
        let token = first_token(user);
        f.sessions.start(token.clone(), None, None).await.unwrap();
        let rotation = {
            let sessions = f.sessions.clone();
            let successor = successor_of(&token);
            tokio::spawn(async move {
                sessions
                    .rotate(token.jti, successor, Duration::seconds(10), audit())
                    .await
                    .unwrap()
            })
        };
        let revocation = {
            let sessions = f.sessions.clone();
            tokio::spawn(async move {
                sessions
                    .revoke_all_for_user(user, None, Utc::now(), audit())
                    .await
                    .unwrap()
            })
        };
        let rotated = rotation.await.unwrap();
        revocation.await.unwrap();
        assert_eq!(f.db.scalar(&live).await, 0, "round {round}: {rotated:?}");
    }
}

#[tokio::test]
async fn concurrent_rotations_with_no_reuse_interval_rotate_once_and_revoke_the_family() {
    let f = fixture().await;
    let user = signed_up(&f, "gail").await;
    let token = first_token(user);
    f.sessions.start(token.clone(), None, None).await.unwrap();

    let outcomes = futures_util::future::join_all((0..16).map(|_| {
        let sessions = f.sessions.clone();
        let successor = successor_of(&token);
        tokio::spawn(async move {
            sessions
                .rotate(token.jti, successor, Duration::zero(), audit())
                .await
                .unwrap()
        })
    }))
    .await;

    let count = |wanted: RotateOutcome| {
        outcomes
            .iter()
            .filter(|o| *o.as_ref().unwrap() == wanted)
            .count()
    };
    assert_eq!(
        (count(RotateOutcome::Rotated), count(RotateOutcome::Reused)),
        (1, 15)
    );
    let rows = format!(
        "SELECT count(*) AS value FROM refresh_tokens WHERE family_id = '{}'",
        token.family_id
    );
    assert_eq!(f.db.scalar(&rows).await, 2, "one successor was stored");
    let live = format!("{rows} AND revoked_at IS NULL");
    assert_eq!(f.db.scalar(&live).await, 0, "and revoked with the family");
}

#[tokio::test]
async fn logout_everywhere_can_keep_one_session_and_deleting_a_user_drops_his_tokens() {
    let f = fixture().await;
    let user = signed_up(&f, "hugo").await;
    let (kept, dropped) = (first_token(user), first_token(user));
    f.sessions.start(kept.clone(), None, None).await.unwrap();
    f.sessions.start(dropped.clone(), None, None).await.unwrap();
    assert_eq!(
        f.sessions
            .revoke_all_for_user(user, Some(kept.family_id), Utc::now(), audit())
            .await
            .unwrap(),
        1
    );
    assert!(
        f.users
            .auth_state(user, kept.family_id)
            .await
            .unwrap()
            .unwrap()
            .session_live
    );
    assert!(
        !f.users
            .auth_state(user, dropped.family_id)
            .await
            .unwrap()
            .unwrap()
            .session_live
    );

    let tokens = "SELECT count(*) AS value FROM refresh_tokens";
    assert_eq!(f.db.scalar(tokens).await, 2);
    assert!(f.users.delete(user, audit()).await.unwrap());
    assert_eq!(f.db.scalar(tokens).await, 0);
    assert!(!f.users.delete(user, audit()).await.unwrap());
}

#[tokio::test]
async fn purging_deletes_only_expired_rows_and_login_records_a_rehash() {
    let f = fixture().await;
    let user = signed_up(&f, "ivy").await;
    let live = first_token(user);
    let expired = NewRefreshToken {
        expires_at: Utc::now() - Duration::seconds(1),
        ..first_token(user)
    };
    f.sessions.start(live.clone(), None, None).await.unwrap();
    f.sessions.start(expired.clone(), None, None).await.unwrap();
    assert_eq!(f.sessions.purge_expired(Utc::now()).await.unwrap(), 1);
    assert!(f.sessions.find(live.jti).await.unwrap().is_some());
    assert!(f.sessions.find(expired.jti).await.unwrap().is_none());

    f.users
        .record_login(
            user,
            Utc::now(),
            Some(Rehash {
                verified: "bcrypt_sha256$x".to_owned(),
                new: "bcrypt_sha256$new".to_owned(),
            }),
        )
        .await
        .unwrap();
    let stored = f.users.find_by_id(user).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "bcrypt_sha256$new");
    assert!(stored.last_login.is_some());
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_not_unexpected() {
    let pool = build_pool(&PoolSettings {
        url: Some(secrecy::SecretString::from(
            "postgres://postgres@127.0.0.1:1/nowhere",
        )),
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_millis(500),
    })
    .unwrap();
    let error = PgUserRepository::new(pool, outbox())
        .find_by_id(UserId(1))
        .await
        .unwrap_err();
    assert!(
        matches!(error, domain::RepositoryError::Unavailable(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_revocation_racing_a_rotation_leaves_no_live_token() {
    let f = fixture().await;
    let user = signed_up(&f, "jade").await;
    for _ in 0..40 {
        let token = first_token(user);
        f.sessions.start(token.clone(), None, None).await.unwrap();
        let (sessions, successor) = (f.sessions.clone(), successor_of(&token));
        let rotation = tokio::spawn(async move {
            sessions
                .rotate(token.jti, successor, Duration::seconds(10), audit())
                .await
                .unwrap()
        });
        let sessions = f.sessions.clone();
        let revocation = tokio::spawn(async move {
            sessions
                .revoke_all_for_user(user, None, Utc::now(), audit())
                .await
        });
        rotation.await.unwrap();
        revocation.await.unwrap().unwrap();
        let live = "SELECT count(*) AS value FROM refresh_tokens WHERE revoked_at IS NULL";
        assert_eq!(
            f.db.scalar(live).await,
            0,
            "a successor outlived logout everywhere"
        );
    }
}

#[tokio::test]
async fn two_outbox_workers_deliver_every_message_exactly_once() {
    use infrastructure::email::{OutboxSettings, OutboxWorker, SmtpMailer, SmtpSettings, SmtpTls};
    use infrastructure::testing::SmtpCatcher;

    let f = fixture().await;
    let catcher = SmtpCatcher::start().await;
    f.db.execute(
        "INSERT INTO email_outbox (recipient, subject, body_text, body_html) \
         SELECT 'user' || n || '@example.com', 'Message ' || n, 'text ' || n, '<p>html</p>' \
         FROM generate_series(1, 40) AS n",
    )
    .await;
    let worker = || {
        let mailer = SmtpMailer::new(&SmtpSettings {
            host: Some("127.0.0.1".to_owned()),
            port: catcher.port(),
            username: None,
            password: None,
            tls: SmtpTls::None,
            ca_file: None,
            from: "no-reply@gatehouse.test".to_owned(),
            timeout: std::time::Duration::from_secs(5),
        })
        .unwrap();
        let settings = OutboxSettings {
            batch: 3,
            ..OutboxSettings::default()
        };
        OutboxWorker::new(f.pool.clone(), mailer, &outbox(), settings)
    };
    let (first, second) = (worker(), worker());
    let drain = async |worker: &OutboxWorker<SmtpMailer>| {
        let mut claimed = 0;
        loop {
            match worker.deliver_due().await.unwrap() {
                0 => return claimed,
                n => claimed += n,
            }
        }
    };

    let (a, b) = tokio::join!(drain(&first), drain(&second));

    assert_eq!(a + b, 40);
    assert!(a > 0 && b > 0, "both workers took part: {a} + {b}");
    let mut recipients: Vec<String> = catcher.received().into_iter().flat_map(|m| m.to).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 40);
    assert_eq!(
        catcher.received().len(),
        40,
        "no message was delivered twice"
    );
    let pending =
        "SELECT count(*) AS value FROM email_outbox WHERE sent_at IS NULL OR body_text <> ''";
    assert_eq!(f.db.scalar(pending).await, 0);
}

#[tokio::test]
async fn a_login_racing_a_password_change_opens_no_session_and_reverts_nothing() {
    let f = fixture().await;
    let user = signed_up(&f, "kai").await;
    // The password was verified against "bcrypt_sha256$x"; then a reset set another.
    f.db.execute(&format!(
        "UPDATE users SET password = 'bcrypt_sha256$reset' WHERE id = {user}"
    ))
    .await;

    let stale = Rehash {
        verified: "bcrypt_sha256$x".to_owned(),
        new: "bcrypt_sha256$rehashed-old".to_owned(),
    };
    f.users
        .record_login(user, Utc::now(), Some(stale))
        .await
        .unwrap();
    let opened = f
        .sessions
        .start(first_token(user), Some("bcrypt_sha256$x".to_owned()), None)
        .await
        .unwrap();

    assert!(!opened, "no session with the old password");
    assert_eq!(
        f.users
            .find_by_id(user)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "bcrypt_sha256$reset"
    );
    assert_eq!(
        f.db.scalar("SELECT count(*) AS value FROM refresh_tokens")
            .await,
        0
    );
    let current = f
        .sessions
        .start(
            first_token(user),
            Some("bcrypt_sha256$reset".to_owned()),
            None,
        )
        .await
        .unwrap();
    assert!(current);
}

#[tokio::test]
async fn a_user_list_page_costs_one_query_for_the_rows_and_one_for_the_count() {
    use domain::admin::{UserListQuery, UserOrder};
    use domain::ports::UserAdminRepository;
    use infrastructure::PgUserAdminRepository;
    use infrastructure::db::counting_statements;

    let db = TestDatabase::create().await;
    db.execute(
        "INSERT INTO users (username, email, password) \
         SELECT 'u' || n, 'u' || n || '@example.com', '!' FROM generate_series(1, 60) AS n",
    )
    .await;
    db.execute("INSERT INTO groups (name) VALUES ('one'), ('two'), ('three')")
        .await;
    db.execute("INSERT INTO user_groups SELECT u.id, g.id FROM users u, groups g")
        .await;
    db.execute(
        "INSERT INTO group_permissions SELECT g.id, p.id FROM groups g, permissions p WHERE p.codename LIKE 'view_%'",
    )
    .await;
    db.execute("INSERT INTO user_permissions SELECT u.id, p.id FROM users u, permissions p WHERE p.codename LIKE 'add_%'")
        .await;
    let admin = PgUserAdminRepository::new(pool(&db).await);
    let group = db
        .scalar("SELECT id AS value FROM groups WHERE name = 'two'")
        .await;
    let queries = [
        UserListQuery {
            limit: 50,
            ..UserListQuery::default()
        },
        UserListQuery {
            search_terms: vec!["u1".to_owned(), "example".to_owned()],
            is_active: Some(true),
            group: Some(group),
            ordering: vec![(UserOrder::Email, true)],
            offset: 5,
            limit: 50,
            ..UserListQuery::default()
        },
    ];

    for query in queries {
        let (page, spent) = counting_statements(admin.list(&query)).await;
        let page = page.unwrap();

        assert_eq!(spent, 2, "rows + count, whatever the page holds: {query:?}");
        assert!(!page.items.is_empty());
        let first = &page.items[0];
        assert_eq!(first.profile.groups, ["one", "three", "two"]);
        assert_eq!(
            first.user_permissions.len(),
            3,
            "add_user, add_group, add_permission"
        );
        assert_eq!(
            first.profile.permissions.len(),
            7,
            "3 direct + 4 view through groups"
        );
    }
}

#[tokio::test]
async fn a_group_gains_only_grantable_permissions_judged_at_the_write() {
    use domain::admin::GroupChanges;
    use domain::ports::{GroupRepository, UpdateGroupError};
    use infrastructure::PgGroupRepository;

    let f = fixture().await;
    let groups = PgGroupRepository::new(f.pool.clone());
    let replace = |permissions: Vec<String>| GroupChanges {
        name: None,
        permissions: Some(permissions),
    };
    let codes = |list: &[&str]| list.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
    let group = groups
        .create("ops".to_owned(), codes(&["auth.delete_user"]), audit())
        .await
        .unwrap();
    let staff_may = Authority::of(false, codes(&["auth.view_user"]));

    // Keeping what the group holds and adding what he may grant is allowed.
    let kept = codes(&["auth.delete_user", "auth.view_user"]);
    let updated = groups
        .update(group.id, replace(kept.clone()), &staff_may, audit())
        .await
        .unwrap()
        .expect("the group exists");
    assert_eq!(updated.permissions, kept);

    // Another admin takes `delete_user` out; the same list now gains it: refused,
    // and nothing changes.
    groups
        .update(
            group.id,
            replace(codes(&["auth.view_user"])),
            &Authority::Superuser,
            audit(),
        )
        .await
        .unwrap();
    let renaming = GroupChanges {
        name: Some("renamed".to_owned()),
        permissions: Some(kept),
    };
    let stale = groups.update(group.id, renaming, &staff_may, audit()).await;
    assert!(
        matches!(stale, Err(UpdateGroupError::BeyondGrant)),
        "{stale:?}"
    );
    let now = groups.get(group.id).await.unwrap().unwrap();
    assert_eq!(now.name, "ops");
    assert_eq!(now.permissions, codes(&["auth.view_user"]));
}
