//! The audit trail on PostgreSQL: each event commits with its change or not at all,
//! outlives the users it names, and lists newest first through every filter.

use chrono::{Duration, TimeZone, Utc};
use domain::admin::UserPatch;
use domain::authorization::Authority;
use domain::ports::{
    AccountRepository, AuditLog, CreateGroupError, CreateUserError, GroupRepository,
    PasswordChange, SaveUserError, SessionRepository, SessionRevocation, UserAdminRepository,
    UserRepository,
};
use domain::{
    AuditEvent, AuditKind, AuditQuery, EmailAddress, EmailKind, NewRefreshToken, NewUser,
    RepositoryError, RotateOutcome, UserId, Username,
};
use infrastructure::db::{PoolSettings, build_pool};
use infrastructure::email::{EmailComposer, EmailTemplates, Outbox};
use infrastructure::testing::TestDatabase;
use infrastructure::{
    PgAccountRepository, PgAuditLog, PgGroupRepository, PgSessionRepository, PgUserAdminRepository,
    PgUserRepository,
};
use uuid::Uuid;

struct Fixture {
    db: TestDatabase,
    users: PgUserRepository,
    sessions: PgSessionRepository,
    accounts: PgAccountRepository,
    user_admin: PgUserAdminRepository,
    groups: PgGroupRepository,
    audit: PgAuditLog,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create().await;
    let pool = build_pool(&PoolSettings {
        url: Some(db.url.clone()),
        max_connections: 4,
        acquire_timeout: std::time::Duration::from_secs(5),
    })
    .unwrap();
    let outbox = Outbox::new(EmailComposer::new(EmailTemplates {
        site_name: "Gatehouse".to_owned(),
        frontend_url: "http://frontend.test".to_owned(),
        reset_url_template: "reset-password/{token}".to_owned(),
        activation_url_template: "activate/{token}".to_owned(),
    }));
    Fixture {
        users: PgUserRepository::new(pool.clone(), outbox.clone()),
        sessions: PgSessionRepository::new(pool.clone()),
        accounts: PgAccountRepository::new(pool.clone(), outbox),
        user_admin: PgUserAdminRepository::new(pool.clone()),
        groups: PgGroupRepository::new(pool.clone()),
        audit: PgAuditLog::new(pool),
        db,
    }
}

fn event(kind: AuditKind) -> AuditEvent {
    AuditEvent::new(kind, Utc::now()).from(Some("203.0.113.9".to_owned()), Some("probe".to_owned()))
}

async fn create(f: &Fixture, username: &str) -> UserId {
    let user = NewUser {
        username: Username::parse(username).unwrap(),
        email: EmailAddress::parse(&format!("{username}@example.com")).unwrap(),
        password_hash: "bcrypt_sha256$old".to_owned(),
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

fn token(user_id: UserId) -> NewRefreshToken {
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

async fn everything(f: &Fixture) -> Vec<AuditEvent> {
    let page = f
        .audit
        .list(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.count as usize, page.items.len());
    page.items.into_iter().rev().map(|r| r.event).collect()
}

fn kinds(events: &[AuditEvent]) -> Vec<AuditKind> {
    events.iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn each_write_records_its_event_only_when_the_change_happens() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;
    let events = everything(&f).await;
    assert_eq!(kinds(&events), [AuditKind::AccountRegistered]);
    assert_eq!(
        events[0].subject,
        Some(alice),
        "the store names the new user"
    );
    assert_eq!(events[0].ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(events[0].user_agent.as_deref(), Some("probe"));

    // A clash creates nobody, and so records nothing.
    let clash = NewUser {
        username: Username::parse("alice").unwrap(),
        email: EmailAddress::parse("other@example.com").unwrap(),
        password_hash: "x".to_owned(),
        first_name: String::new(),
        last_name: String::new(),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        now: Utc::now(),
    };
    let refused = f
        .users
        .create(clash, None, event(AuditKind::AccountRegistered))
        .await;
    assert!(
        matches!(refused, Err(CreateUserError::DuplicateUsername)),
        "{refused:?}"
    );

    // A login against a password changed meanwhile opens no session and records nothing.
    let login = event(AuditKind::LoginSucceeded).by_self(alice);
    let stale = Some("bcrypt_sha256$stale".to_owned());
    assert!(
        !f.sessions
            .start(token(alice), stale, Some(login.clone()))
            .await
            .unwrap()
    );
    let first = token(alice);
    let current = Some("bcrypt_sha256$old".to_owned());
    assert!(
        f.sessions
            .start(first.clone(), current, Some(login))
            .await
            .unwrap()
    );

    // A rotation records nothing; presenting the rotated token again is reuse.
    let reuse = event(AuditKind::RefreshTokenReused).subject(alice);
    let successor = NewRefreshToken {
        jti: Uuid::new_v4(),
        parent_jti: Some(first.jti),
        ..first.clone()
    };
    let zero = Duration::zero();
    let outcome = f
        .sessions
        .rotate(first.jti, successor.clone(), zero, reuse.clone())
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Rotated);
    let again = NewRefreshToken {
        jti: Uuid::new_v4(),
        ..successor.clone()
    };
    let outcome = f
        .sessions
        .rotate(first.jti, again, zero, reuse)
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Reused);

    // Ending a session that is not live records nothing.
    let nothing = event(AuditKind::SessionRevoked).by_self(alice);
    let unknown = Uuid::new_v4();
    assert!(
        !f.sessions
            .revoke_session(alice, unknown, Utc::now(), nothing)
            .await
            .unwrap()
    );

    assert_eq!(
        kinds(&everything(&f).await),
        [
            AuditKind::AccountRegistered,
            AuditKind::LoginSucceeded,
            AuditKind::RefreshTokenReused
        ]
    );
}

#[tokio::test]
async fn the_trail_outlives_the_users_it_names() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;
    let gone = event(AuditKind::UserDeleted).subject(alice);
    assert!(f.users.delete(alice, gone.clone()).await.unwrap());
    assert!(
        !f.users.delete(alice, gone).await.unwrap(),
        "nothing to delete twice"
    );
    let events = everything(&f).await;
    assert_eq!(
        kinds(&events),
        [AuditKind::AccountRegistered, AuditKind::UserDeleted]
    );
    assert!(events.iter().all(|e| e.subject == Some(alice)));
    assert_eq!(events[1].details["username"], "alice");
}

#[tokio::test]
async fn a_failed_audit_write_undoes_the_change_it_records() {
    let f = fixture().await;
    let alice = create(&f, "alice").await;
    let session = token(alice);
    f.sessions.start(session.clone(), None, None).await.unwrap();
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

    let logout = event(AuditKind::LogoutAll).by_self(alice);
    let revoked = f
        .sessions
        .revoke_all_for_user(alice, None, Utc::now(), logout)
        .await;
    assert!(
        matches!(revoked, Err(RepositoryError::Unexpected(_))),
        "{revoked:?}"
    );
    let live = "SELECT count(*) AS value FROM refresh_tokens WHERE revoked_at IS NULL";
    assert_eq!(f.db.scalar(live).await, 1, "the session is still live");

    let change = PasswordChange {
        user_id: alice,
        password_hash: "bcrypt_sha256$new".to_owned(),
        at: Utc::now(),
        revoke: SessionRevocation::All,
        consume_token: None,
        replaces_hash: None,
        email: Some(EmailKind::PasswordChanged),
        audit: event(AuditKind::PasswordChanged).by_self(alice),
    };
    let changed = f.accounts.set_password(change).await;
    assert!(
        matches!(changed, Err(RepositoryError::Unexpected(_))),
        "{changed:?}"
    );
    let old = "SELECT count(*) AS value FROM users WHERE password = 'bcrypt_sha256$old'";
    assert_eq!(f.db.scalar(old).await, 1, "the password is unchanged");
    assert_eq!(f.db.scalar(live).await, 1);
    let queued = "SELECT count(*) AS value FROM email_outbox";
    assert_eq!(f.db.scalar(queued).await, 0, "no notification went out");

    let patch = UserPatch {
        is_staff: Some(true),
        ..UserPatch::default()
    };
    let promote = event(AuditKind::UserUpdated).subject(alice);
    let promoted = f
        .user_admin
        .update(alice, patch, &Authority::Superuser, Utc::now(), promote)
        .await;
    assert!(
        matches!(
            promoted,
            Err(SaveUserError::Repository(RepositoryError::Unexpected(_)))
        ),
        "{promoted:?}"
    );
    let staff = "SELECT count(*) AS value FROM users WHERE is_staff";
    assert_eq!(f.db.scalar(staff).await, 0);

    let gone = event(AuditKind::UserDeleted).subject(alice);
    let deleted = f.users.delete(alice, gone).await;
    assert!(
        matches!(deleted, Err(RepositoryError::Unexpected(_))),
        "{deleted:?}"
    );
    assert_eq!(f.db.scalar("SELECT count(*) AS value FROM users").await, 1);

    let group = event(AuditKind::GroupCreated);
    let created = f.groups.create("ops".to_owned(), vec![], group).await;
    assert!(
        matches!(
            created,
            Err(CreateGroupError::Repository(RepositoryError::Unexpected(_)))
        ),
        "{created:?}"
    );
    assert_eq!(f.db.scalar("SELECT count(*) AS value FROM groups").await, 0);
}

#[tokio::test]
async fn the_log_lists_newest_first_through_every_filter() {
    let f = fixture().await;
    let at = |minute: u32| Utc.with_ymd_and_hms(2026, 5, 1, 12, minute, 0).unwrap();
    let (ann, bob, root) = (UserId(101), UserId(102), UserId(1));
    let recorded = [
        AuditEvent::new(AuditKind::LoginFailed, at(0)).subject(ann),
        AuditEvent::new(AuditKind::LoginSucceeded, at(1)).by_self(ann),
        AuditEvent::new(AuditKind::UserUpdated, at(2))
            .actor(root)
            .subject(bob),
        AuditEvent::new(AuditKind::UserUpdated, at(3))
            .actor(root)
            .subject(ann),
        AuditEvent::new(AuditKind::Logout, at(4)).by_self(bob),
    ];
    for event in recorded.iter().cloned() {
        f.audit.record(event).await.unwrap();
    }
    let minutes = |query: AuditQuery| {
        let audit = f.audit.clone();
        async move {
            let page = audit.list(&query).await.unwrap();
            let found: Vec<u32> = page
                .items
                .iter()
                .map(|r| (r.event.at - at(0)).num_minutes() as u32)
                .collect();
            (page.count, found)
        }
    };
    let all = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    assert_eq!(minutes(all.clone()).await, (5, vec![4, 3, 2, 1, 0]));
    let by_ann = AuditQuery {
        user: Some(ann),
        ..all.clone()
    };
    assert_eq!(
        minutes(by_ann).await,
        (3, vec![3, 1, 0]),
        "actor or subject"
    );
    let actor = AuditQuery {
        actor: Some(root),
        ..all.clone()
    };
    assert_eq!(minutes(actor).await, (2, vec![3, 2]));
    let subject = AuditQuery {
        subject: Some(bob),
        ..all.clone()
    };
    assert_eq!(minutes(subject).await, (2, vec![4, 2]));
    let kinds = AuditQuery {
        kinds: vec![AuditKind::LoginFailed, AuditKind::Logout],
        ..all.clone()
    };
    assert_eq!(minutes(kinds).await, (2, vec![4, 0]));
    let window = AuditQuery {
        since: Some(at(1)),
        until: Some(at(3)),
        ..all.clone()
    };
    assert_eq!(
        minutes(window).await,
        (3, vec![3, 2, 1]),
        "both ends inclusive"
    );
    let combined = AuditQuery {
        user: Some(ann),
        kinds: vec![AuditKind::UserUpdated],
        since: Some(at(1)),
        ..all.clone()
    };
    assert_eq!(minutes(combined).await, (1, vec![3]));
    let second_page = AuditQuery {
        offset: 2,
        limit: 2,
        ..AuditQuery::default()
    };
    assert_eq!(minutes(second_page).await, (5, vec![2, 1]));

    let stored = f.audit.list(&all).await.unwrap().items;
    assert_eq!(stored[4].event, recorded[0], "every field reads back");
    assert!(stored[0].id > stored[4].id);
}

#[tokio::test]
async fn client_details_longer_than_their_columns_are_cut_not_refused() {
    let f = fixture().await;
    let long = AuditEvent::new(AuditKind::LoginFailed, Utc::now())
        .from(Some("9".repeat(100)), Some("é".repeat(2000)));
    f.audit.record(long).await.unwrap();
    let stored = everything(&f).await;
    assert_eq!(stored[0].ip.as_deref().map(str::len), Some(45));
    assert_eq!(
        stored[0].user_agent.as_deref().map(|ua| ua.chars().count()),
        Some(512)
    );
}
