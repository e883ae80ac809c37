//! API keys on PostgreSQL: stored by digest in `api_tokens`, found by it, deleted one
//! or all at a time, and gone with a password change, a deactivation, "log out
//! everywhere" and the user himself; a key is refused to a stale password or an
//! inactive user; audit rows are written only when something changed.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::admin::UserPatch;
use domain::authorization::Authority;
use domain::ports::{
    AccountRepository, ApiKeyRepository, PasswordChange, SessionRepository, SessionRevocation,
    UserAdminRepository, UserRepository,
};
use domain::{
    AuditEvent, AuditKind, EmailAddress, EmailKind, NewRefreshToken, NewUser, UserId, Username,
};
use infrastructure::db::{PgPool, PoolSettings, build_pool};
use infrastructure::email::{EmailComposer, EmailTemplates, Outbox};
use infrastructure::testing::TestDatabase;
use infrastructure::{
    PgAccountRepository, PgApiKeyRepository, PgSessionRepository, PgUserAdminRepository,
    PgUserRepository,
};
use uuid::Uuid;

const OLD_HASH: &str = "bcrypt_sha256$old";
const NEW_HASH: &str = "bcrypt_sha256$new";

struct Fixture {
    db: TestDatabase,
    users: PgUserRepository,
    sessions: PgSessionRepository,
    accounts: PgAccountRepository,
    api_keys: PgApiKeyRepository,
    user_admin: PgUserAdminRepository,
}

fn pool(db: &TestDatabase) -> PgPool {
    build_pool(&PoolSettings {
        url: Some(db.url.clone()),
        max_connections: 8,
        acquire_timeout: std::time::Duration::from_secs(10),
    })
    .unwrap()
}

fn outbox() -> Outbox {
    Outbox::new(EmailComposer::new(EmailTemplates {
        site_name: "Gatehouse".to_owned(),
        frontend_url: "http://frontend.test".to_owned(),
        reset_url_template: "reset-password/{token}".to_owned(),
        activation_url_template: "activate/{token}".to_owned(),
    }))
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create().await;
    let pool = pool(&db);
    let outbox = outbox();
    Fixture {
        users: PgUserRepository::new(pool.clone(), outbox.clone()),
        sessions: PgSessionRepository::new(pool.clone()),
        accounts: PgAccountRepository::new(pool.clone(), outbox),
        api_keys: PgApiKeyRepository::new(pool.clone()),
        user_admin: PgUserAdminRepository::new(pool),
        db,
    }
}

/// A whole second, so that it reads back exactly.
fn second() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 30, 0).unwrap()
}

fn event(kind: AuditKind) -> AuditEvent {
    AuditEvent::new(kind, second()).from(Some("203.0.113.9".to_owned()), Some("probe".to_owned()))
}

fn key_login(user: UserId) -> AuditEvent {
    event(AuditKind::LoginSucceeded)
        .by_self(user)
        .detail("via", "api_key")
}

fn key_logout(user: UserId) -> AuditEvent {
    event(AuditKind::Logout)
        .by_self(user)
        .detail("via", "api_key")
}

/// An active user with `OLD_HASH`.
async fn create(f: &Fixture, username: &str) -> UserId {
    let user = NewUser {
        username: Username::parse(username).unwrap(),
        email: EmailAddress::parse(&format!("{username}@example.com")).unwrap(),
        password_hash: OLD_HASH.to_owned(),
        first_name: String::new(),
        last_name: String::new(),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        now: Utc::now(),
    };
    f.users
        .create(user, None, event(AuditKind::AccountRegistered))
        .await
        .unwrap()
        .user
        .id
}

/// A digest with bytes no text encoding would carry: a NUL, a lone 0xff.
fn digest(n: u8) -> Vec<u8> {
    vec![0, 0xff, n, 0x80, n, 0]
}

fn bytea(digest: &[u8]) -> String {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("'\\x{hex}'::bytea")
}

/// Stores a key with the user's current password hash, which must succeed.
async fn add(f: &Fixture, user: UserId, digest: &[u8]) {
    assert!(
        f.api_keys
            .add(
                user,
                digest.to_vec(),
                Some(OLD_HASH.to_owned()),
                key_login(user)
            )
            .await
            .unwrap(),
        "the key is stored"
    );
}

async fn keys_of(f: &Fixture, user: UserId) -> i64 {
    f.db.scalar(&format!(
        "SELECT count(*) AS value FROM api_tokens WHERE user_id = {}",
        user.0
    ))
    .await
}

async fn all_keys(f: &Fixture) -> i64 {
    f.db.scalar("SELECT count(*) AS value FROM api_tokens")
        .await
}

async fn events(f: &Fixture, event_type: &str) -> i64 {
    f.db.scalar(&format!(
        "SELECT count(*) AS value FROM audit_events WHERE event_type = '{event_type}'"
    ))
    .await
}

async fn owner(f: &Fixture, digest: &[u8]) -> Option<UserId> {
    f.api_keys.owner(digest).await.unwrap().map(|u| u.user.id)
}

fn session(user_id: UserId) -> NewRefreshToken {
    let now = Utc::now();
    NewRefreshToken {
        jti: Uuid::new_v4(),
        user_id,
        family_id: Uuid::new_v4(),
        parent_jti: None,
        created_at: now,
        expires_at: now + Duration::days(1),
        session_started_at: now,
        user_agent: None,
        ip: None,
        parent_session: None,
    }
}

fn password_change(user: UserId, replaces: Option<&str>) -> PasswordChange {
    PasswordChange {
        user_id: user,
        password_hash: NEW_HASH.to_owned(),
        at: Utc::now(),
        revoke: SessionRevocation::All,
        consume_token: None,
        replaces_hash: replaces.map(str::to_owned),
        email: Some(EmailKind::PasswordChanged),
        audit: event(AuditKind::PasswordChanged).by_self(user),
    }
}

fn deactivation() -> UserPatch {
    UserPatch {
        is_active: Some(false),
        ..UserPatch::default()
    }
}

/// Alice with keys 1 and 2, Bob with key 9.
async fn alice_and_bob(f: &Fixture) -> (UserId, UserId) {
    let alice = create(f, "alice").await;
    let bob = create(f, "bob").await;
    add(f, alice, &digest(1)).await;
    add(f, alice, &digest(2)).await;
    add(f, bob, &digest(9)).await;
    (alice, bob)
}

/// Alice's keys are gone, Bob's is untouched.
async fn assert_only_alices_keys_died(f: &Fixture, alice: UserId, bob: UserId) {
    assert_eq!(keys_of(f, alice).await, 0);
    assert_eq!(owner(f, &digest(1)).await, None);
    assert_eq!(owner(f, &digest(2)).await, None);
    assert_eq!(keys_of(f, bob).await, 1);
    assert_eq!(owner(f, &digest(9)).await, Some(bob));
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_key_is_stored_as_its_digest_found_by_it_and_its_login_recorded() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;

    add(&f, alice, &digest(1)).await;

    let stored = format!(
        "SELECT count(*) AS value FROM api_tokens WHERE key_hash = {} AND user_id = {} \
         AND created_at = '2026-11-21T09:30:00Z'",
        bytea(&digest(1)),
        alice.0
    );
    assert_eq!(f.db.scalar(&stored).await, 1);
    assert_eq!(all_keys(&f).await, 1);
    let found = f
        .api_keys
        .owner(&digest(1))
        .await
        .unwrap()
        .expect("the key's owner")
        .user;
    assert_eq!(found.id, alice);
    assert_eq!(found.username.as_str(), "alice");
    assert!(found.is_active);
    assert_eq!(owner(&f, &digest(2)).await, None);
    assert_eq!(owner(&f, &[]).await, None);
    let recorded = format!(
        "SELECT count(*) AS value FROM audit_events WHERE event_type = 'login.succeeded' \
         AND actor_id = {0} AND subject_user_id = {0} AND details->>'via' = 'api_key' \
         AND ip = '203.0.113.9' AND user_agent = 'probe'",
        alice.0
    );
    assert_eq!(f.db.scalar(&recorded).await, 1);
    assert_eq!(events(&f, "login.succeeded").await, 1);
}

#[tokio::test]
async fn each_key_finds_its_own_user() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;

    assert_eq!(owner(&f, &digest(1)).await, Some(alice));
    assert_eq!(owner(&f, &digest(2)).await, Some(alice));
    assert_eq!(owner(&f, &digest(9)).await, Some(bob));
    assert_eq!(keys_of(&f, alice).await, 2);
    assert_eq!(keys_of(&f, bob).await, 1);
    assert_eq!(events(&f, "login.succeeded").await, 3);
}

#[tokio::test]
async fn a_stale_password_hash_stores_nothing_and_records_nothing() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;

    let added = f
        .api_keys
        .add(
            alice,
            digest(1),
            Some("bcrypt_sha256$stale".to_owned()),
            key_login(alice),
        )
        .await
        .unwrap();

    assert!(!added);
    assert_eq!(all_keys(&f).await, 0);
    assert_eq!(owner(&f, &digest(1)).await, None);
    assert_eq!(events(&f, "login.succeeded").await, 0);
}

#[tokio::test]
async fn an_inactive_user_gets_no_key_and_nothing_is_recorded() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;
    f.db.execute(&format!(
        "UPDATE users SET is_active = false WHERE id = {}",
        alice.0
    ))
    .await;

    let added = f
        .api_keys
        .add(
            alice,
            digest(1),
            Some(OLD_HASH.to_owned()),
            key_login(alice),
        )
        .await
        .unwrap();

    assert!(!added);
    assert_eq!(all_keys(&f).await, 0);
    assert_eq!(events(&f, "login.succeeded").await, 0);
}

#[tokio::test]
async fn without_a_hash_to_check_the_key_is_stored() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;

    let added = f
        .api_keys
        .add(alice, digest(1), None, key_login(alice))
        .await
        .unwrap();

    assert!(added);
    assert_eq!(owner(&f, &digest(1)).await, Some(alice));
    assert_eq!(events(&f, "login.succeeded").await, 1);
}

#[tokio::test]
async fn the_owner_of_a_key_is_found_even_when_inactive() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;
    add(&f, alice, &digest(1)).await;
    f.db.execute(&format!(
        "UPDATE users SET is_active = false WHERE id = {}",
        alice.0
    ))
    .await;

    let found = f
        .api_keys
        .owner(&digest(1))
        .await
        .unwrap()
        .expect("the key's owner")
        .user;
    assert_eq!(found.id, alice);
    assert!(!found.is_active, "the use case refuses him, not the store");
}

#[tokio::test]
async fn deleting_one_key_leaves_the_others_and_records_one_logout() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;

    let deleted = f
        .api_keys
        .delete(alice, Some(digest(1)), key_logout(alice))
        .await
        .unwrap();

    assert_eq!(deleted, 1);
    assert_eq!(owner(&f, &digest(1)).await, None);
    assert_eq!(owner(&f, &digest(2)).await, Some(alice));
    assert_eq!(owner(&f, &digest(9)).await, Some(bob));
    let recorded = format!(
        "SELECT count(*) AS value FROM audit_events WHERE event_type = 'logout' \
         AND actor_id = {0} AND subject_user_id = {0} AND details->>'via' = 'api_key'",
        alice.0
    );
    assert_eq!(f.db.scalar(&recorded).await, 1);
    assert_eq!(events(&f, "logout").await, 1);
}

#[tokio::test]
async fn deleting_all_keys_deletes_only_the_owners_and_records_one_logout() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;
    add(&f, alice, &digest(3)).await;

    let deleted = f
        .api_keys
        .delete(alice, None, key_logout(alice))
        .await
        .unwrap();

    assert_eq!(deleted, 3);
    assert_only_alices_keys_died(&f, alice, bob).await;
    assert_eq!(events(&f, "logout").await, 1);
}

#[tokio::test]
async fn deleting_nothing_records_nothing() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;
    let carol = create(&f, "carol").await;

    // Bob's key named by Alice, an unknown key, and all the keys of a user with none.
    let outcomes = [
        f.api_keys
            .delete(alice, Some(digest(9)), key_logout(alice))
            .await
            .unwrap(),
        f.api_keys
            .delete(alice, Some(digest(7)), key_logout(alice))
            .await
            .unwrap(),
        f.api_keys
            .delete(carol, None, key_logout(carol))
            .await
            .unwrap(),
    ];

    assert_eq!(outcomes, [0, 0, 0]);
    assert_eq!(events(&f, "logout").await, 0);
    assert_eq!(owner(&f, &digest(9)).await, Some(bob));
    assert_eq!(keys_of(&f, alice).await, 2);
    assert_eq!(all_keys(&f).await, 3);
}

#[tokio::test]
async fn deleting_a_key_twice_records_one_logout() {
    let f = fixture().await;
    let (alice, _bob) = alice_and_bob(&f).await;

    let first = f
        .api_keys
        .delete(alice, Some(digest(1)), key_logout(alice))
        .await
        .unwrap();
    let second = f
        .api_keys
        .delete(alice, Some(digest(1)), key_logout(alice))
        .await
        .unwrap();

    assert_eq!((first, second), (1, 0));
    assert_eq!(events(&f, "logout").await, 1);
}

#[tokio::test]
async fn a_password_change_deletes_every_key_of_the_user() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;

    assert!(
        f.accounts
            .set_password(password_change(alice, Some(OLD_HASH)))
            .await
            .unwrap()
    );

    assert_only_alices_keys_died(&f, alice, bob).await;
    assert_eq!(events(&f, "password.changed").await, 1);
}

#[tokio::test]
async fn a_password_set_without_checking_the_old_one_deletes_every_key_too() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;

    assert!(
        f.accounts
            .set_password(PasswordChange {
                revoke: SessionRevocation::None,
                ..password_change(alice, None)
            })
            .await
            .unwrap()
    );

    assert_only_alices_keys_died(&f, alice, bob).await;
}

#[tokio::test]
async fn a_refused_password_change_keeps_the_keys() {
    let f = fixture().await;
    let (alice, _bob) = alice_and_bob(&f).await;

    assert!(
        !f.accounts
            .set_password(password_change(alice, Some("bcrypt_sha256$stale")))
            .await
            .unwrap()
    );

    assert_eq!(keys_of(&f, alice).await, 2);
    assert_eq!(owner(&f, &digest(1)).await, Some(alice));
    assert_eq!(events(&f, "password.changed").await, 0);
}

#[tokio::test]
async fn a_key_refused_after_a_password_change_with_the_old_hash() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;
    assert!(
        f.accounts
            .set_password(password_change(alice, Some(OLD_HASH)))
            .await
            .unwrap()
    );

    let with_old = f
        .api_keys
        .add(
            alice,
            digest(1),
            Some(OLD_HASH.to_owned()),
            key_login(alice),
        )
        .await
        .unwrap();
    let with_new = f
        .api_keys
        .add(
            alice,
            digest(2),
            Some(NEW_HASH.to_owned()),
            key_login(alice),
        )
        .await
        .unwrap();

    assert_eq!((with_old, with_new), (false, true));
    assert_eq!(owner(&f, &digest(1)).await, None);
    assert_eq!(owner(&f, &digest(2)).await, Some(alice));
    assert_eq!(events(&f, "login.succeeded").await, 1);
}

#[tokio::test]
async fn a_deactivation_by_an_admin_deletes_every_key_of_the_user() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;

    let updated = f
        .user_admin
        .update(
            alice,
            deactivation(),
            &Authority::Superuser,
            Utc::now(),
            event(AuditKind::UserUpdated).subject(alice),
        )
        .await
        .unwrap()
        .expect("alice exists");

    assert!(!updated.profile.user.is_active);
    assert_only_alices_keys_died(&f, alice, bob).await;
    // Reactivated, he has no key until he signs in again.
    let reactivation = UserPatch {
        is_active: Some(true),
        ..UserPatch::default()
    };
    f.user_admin
        .update(
            alice,
            reactivation,
            &Authority::Superuser,
            Utc::now(),
            event(AuditKind::UserUpdated).subject(alice),
        )
        .await
        .unwrap();
    assert_eq!(keys_of(&f, alice).await, 0);
}

#[tokio::test]
async fn other_admin_edits_keep_the_keys() {
    let f = fixture().await;
    let (alice, _bob) = alice_and_bob(&f).await;

    for patch in [
        UserPatch {
            first_name: Some("Alicia".to_owned()),
            ..UserPatch::default()
        },
        UserPatch {
            is_active: Some(true),
            is_staff: Some(true),
            ..UserPatch::default()
        },
    ] {
        f.user_admin
            .update(
                alice,
                patch,
                &Authority::Superuser,
                Utc::now(),
                event(AuditKind::UserUpdated).subject(alice),
            )
            .await
            .unwrap();
    }

    assert_eq!(keys_of(&f, alice).await, 2);
    assert_eq!(owner(&f, &digest(1)).await, Some(alice));
}

#[tokio::test]
async fn logging_out_everywhere_deletes_every_key_of_the_user() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;
    f.sessions.start(session(alice), None, None).await.unwrap();

    let revoked = f
        .sessions
        .revoke_all_for_user(
            alice,
            None,
            Utc::now(),
            event(AuditKind::LogoutAll).by_self(alice),
        )
        .await
        .unwrap();

    assert_eq!(revoked, 1, "the count is of sessions");
    assert_only_alices_keys_died(&f, alice, bob).await;
    assert_eq!(events(&f, "logout.all").await, 1);
}

#[tokio::test]
async fn logging_out_every_other_session_deletes_every_key_too() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;
    let kept = session(alice);
    f.sessions.start(kept.clone(), None, None).await.unwrap();

    let revoked = f
        .sessions
        .revoke_all_for_user(
            alice,
            Some(kept.family_id),
            Utc::now(),
            event(AuditKind::UserLoggedOut).subject(alice),
        )
        .await
        .unwrap();

    assert_eq!(revoked, 0);
    assert_only_alices_keys_died(&f, alice, bob).await;
}

#[tokio::test]
async fn deleting_the_user_deletes_his_keys() {
    let f = fixture().await;
    let (alice, bob) = alice_and_bob(&f).await;

    assert!(
        f.users
            .delete(alice, event(AuditKind::AccountDeleted).by_self(alice))
            .await
            .unwrap()
    );

    assert_only_alices_keys_died(&f, alice, bob).await;
    assert_eq!(all_keys(&f).await, 1);
}

#[tokio::test]
async fn a_failed_audit_write_stores_and_deletes_no_key() {
    let f = fixture().await;
    let (alice, _bob) = alice_and_bob(&f).await;
    f.db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'audit trail unavailable'; END $$",
    )
    .await;
    f.db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON audit_events \
         FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    .await;

    let added = f
        .api_keys
        .add(
            alice,
            digest(3),
            Some(OLD_HASH.to_owned()),
            key_login(alice),
        )
        .await;
    let deleted = f.api_keys.delete(alice, None, key_logout(alice)).await;

    // A raised exception is no lost connection: unexpected, not unavailable.
    assert!(
        matches!(added, Err(domain::RepositoryError::Unexpected(_))),
        "{added:?}"
    );
    assert!(
        matches!(deleted, Err(domain::RepositoryError::Unexpected(_))),
        "{deleted:?}"
    );
    assert_eq!(owner(&f, &digest(3)).await, None);
    assert_eq!(keys_of(&f, alice).await, 2);
}

/// 24 keys asked for with the old hash, eight at a time, while `write` runs on its
/// own connection: what each add answered.
async fn add_keys_during<T>(
    f: &Fixture,
    alice: UserId,
    write: impl Future<Output = T>,
) -> (Vec<bool>, T) {
    // Warm connections on both sides, so that the write lands among the adds.
    let unknown = digest(0);
    futures_util::future::join_all((0..8).map(|_| f.api_keys.owner(&unknown))).await;
    let adds = (0..24u8).map(|n| {
        let api_keys = f.api_keys.clone();
        async move {
            api_keys
                .add(
                    alice,
                    digest(n),
                    Some(OLD_HASH.to_owned()),
                    key_login(alice),
                )
                .await
                .unwrap()
        }
    });
    let write = async {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        write.await
    };
    tokio::join!(futures_util::future::join_all(adds), write)
}

/// Keys asked for with the old hash while the password changes: each is refused, or
/// stored before the change and deleted by it. None survives.
#[tokio::test]
async fn no_key_outlives_a_concurrent_password_change() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;
    let accounts = PgAccountRepository::new(pool(&f.db), outbox());
    // A connection of its own, opened before the race.
    let bystander = PgUserRepository::new(pool(&f.db), outbox());
    bystander.find_by_id(alice).await.unwrap();

    let (added, changed) = add_keys_during(
        &f,
        alice,
        accounts.set_password(password_change(alice, Some(OLD_HASH))),
    )
    .await;

    assert!(changed.unwrap());
    assert_eq!(keys_of(&f, alice).await, 0);
    let stored = added.iter().filter(|added| **added).count();
    assert_eq!(events(&f, "login.succeeded").await, stored as i64);
}

/// The same, against a deactivation by an admin.
#[tokio::test]
async fn no_key_outlives_a_concurrent_deactivation() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;
    let user_admin = PgUserAdminRepository::new(pool(&f.db));
    user_admin.get(alice).await.unwrap();

    let (added, updated) = add_keys_during(
        &f,
        alice,
        user_admin.update(
            alice,
            deactivation(),
            &Authority::Superuser,
            Utc::now(),
            event(AuditKind::UserUpdated).subject(alice),
        ),
    )
    .await;

    assert!(
        !updated
            .unwrap()
            .expect("alice exists")
            .profile
            .user
            .is_active
    );
    assert_eq!(keys_of(&f, alice).await, 0);
    let stored = added.iter().filter(|added| **added).count();
    assert_eq!(events(&f, "login.succeeded").await, stored as i64);
}
