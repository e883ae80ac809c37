//! `gatehouse import-django` against a database real Django wrote
//! (`scripts/django/auth_database.sh`): what it carries over, that a second run
//! changes nothing, that a dry run writes nothing, that an interrupted run is finished
//! by the next, and the conflict policies.

use application::django_import::{ConflictPolicy, ConflictReason, GroupConflictReason, Resolution};
use infrastructure::django_import::{
    ImportError, ImportOptions, ImportProgress, ImportReport, LinkTally, Stage, Tally, import,
};
use infrastructure::testing::{TestDatabase, django_database, django_fixture};
use sha2::{Digest, Sha256};

/// Counts what it is told; stops the import after `stop_after` batches of users.
#[derive(Default)]
struct Recorder {
    stages: Vec<(Stage, u64)>,
    batches: usize,
    stop_after: Option<usize>,
}

impl ImportProgress for Recorder {
    fn stage(&mut self, stage: Stage, total: u64) {
        self.stages.push((stage, total));
    }

    fn advance(&mut self, _done: u64) {
        if self.stages.last().is_some_and(|(s, _)| *s == Stage::Users) {
            self.batches += 1;
        }
    }

    fn keep_going(&mut self) -> bool {
        self.stop_after.is_none_or(|n| self.batches < n)
    }
}

fn options(conflicts: ConflictPolicy) -> ImportOptions {
    ImportOptions {
        conflicts,
        dry_run: false,
        batch_size: 4,
    }
}

async fn run(
    django: &TestDatabase,
    gatehouse: &TestDatabase,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    import(
        &django.url,
        &gatehouse.url,
        options,
        &mut Recorder::default(),
    )
    .await
}

/// An import (`skip`) stopped after its first batch of users, as Ctrl-C stops it.
async fn stopped_after_one_batch(
    django: &TestDatabase,
    gatehouse: &TestDatabase,
) -> Result<ImportReport, ImportError> {
    let mut stopping = Recorder {
        stop_after: Some(1),
        ..Recorder::default()
    };
    import(
        &django.url,
        &gatehouse.url,
        options(ConflictPolicy::Skip),
        &mut stopping,
    )
    .await
}

async fn skip(django: &TestDatabase, gatehouse: &TestDatabase) -> ImportReport {
    run(django, gatehouse, options(ConflictPolicy::Skip))
        .await
        .expect("the import succeeds")
}

/// Every row an import writes, as one text: equal texts, equal databases.
async fn contents(db: &TestDatabase) -> String {
    let mut all = String::new();
    for query in [
        "SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', id, username, email, \
         password, first_name, last_name, is_active, is_staff, is_superuser, date_joined, \
         last_login, password_changed_at), E'\\n' ORDER BY id) AS value FROM users",
        "SELECT string_agg(format('%s|%s', id, name), ',' ORDER BY id) AS value FROM groups",
        "SELECT string_agg(format('%s|%s|%s', app_label, codename, name), ',' \
         ORDER BY app_label, codename) AS value FROM permissions",
        "SELECT string_agg(format('%s|%s', user_id, group_id), ',' ORDER BY user_id, group_id) AS value \
         FROM user_groups",
        "SELECT string_agg(format('%s|%s', user_id, permission_id), ',' ORDER BY user_id, permission_id) AS value \
         FROM user_permissions",
        "SELECT string_agg(format('%s|%s', group_id, permission_id), ',' ORDER BY group_id, permission_id) AS value \
         FROM group_permissions",
        "SELECT string_agg(format('%s|%s', encode(key_hash, 'hex'), user_id), ',' ORDER BY key_hash) \
         AS value FROM api_tokens",
        "SELECT string_agg(format('%s|%s|%s|%s|%s|%s', jti, user_id, family_id, expires_at, \
         revoked_at, from_simplejwt), ',' ORDER BY jti) AS value FROM refresh_tokens",
    ] {
        all.push_str(&db.text(query).await.unwrap_or_default());
        all.push('\n');
    }
    all
}

/// A boolean as `format('%s', …)` writes it.
fn pg_bool(value: bool) -> &'static str {
    if value { "t" } else { "f" }
}

fn user_count_sql() -> &'static str {
    "SELECT count(*) AS value FROM users"
}

#[tokio::test]
async fn an_import_carries_over_users_groups_permissions_keys_and_sessions() {
    let fixture = django_fixture();
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;

    let report = skip(&django, &gatehouse).await;

    // The users Django allows and Gatehouse does not are listed, each with why.
    let mut listed: Vec<(&str, &ConflictReason)> = report
        .conflicts
        .iter()
        .map(|c| (c.username.as_str(), &c.reason))
        .collect();
    listed.sort_by_key(|(name, _)| *name);
    let twin_upper = fixture.user("twin-upper").id;
    assert_eq!(
        listed,
        [
            ("bad-email", &ConflictReason::InvalidEmail),
            ("no-email-1", &ConflictReason::EmptyEmail),
            ("no-email-2", &ConflictReason::EmptyEmail),
            (
                "twin-lower",
                &ConflictReason::SameEmailAs { id: twin_upper }
            ),
        ]
    );
    assert!(
        report
            .conflicts
            .iter()
            .all(|c| c.resolution == Resolution::NotImported)
    );
    let imported = fixture.users.len() - 4;
    assert_eq!(
        report.users,
        Tally {
            created: imported as u64,
            updated: 0,
            unchanged: 0
        }
    );
    assert_eq!(gatehouse.scalar(user_count_sql()).await, imported as i64);

    // Ids, names and flags are Django's.
    for user in &fixture.users {
        if report.conflicts.iter().any(|c| c.id == user.id) {
            continue;
        }
        let row = gatehouse
            .text(&format!(
                "SELECT format('%s|%s|%s|%s', username, is_active, is_staff, is_superuser) \
                 AS value FROM users WHERE id = {}",
                user.id
            ))
            .await;
        assert_eq!(
            row.as_deref(),
            Some(&*format!(
                "{}|{}|{}|{}",
                user.username,
                pg_bool(user.is_active),
                pg_bool(user.is_staff),
                pg_bool(user.is_superuser)
            ))
        );
    }
    assert_eq!(
        gatehouse
            .text(&format!(
                "SELECT password AS value FROM users WHERE id = {}",
                fixture.user("pbkdf2-sha256").id
            ))
            .await
            .unwrap()
            .split('$')
            .next(),
        Some("pbkdf2_sha256"),
        "the hash is carried over as Django wrote it"
    );

    // Permissions by app label and codename, groups with their grants, memberships.
    assert_eq!(
        gatehouse
            .text(
                "SELECT name AS value FROM permissions \
                 WHERE app_label = 'library' AND codename = 'publish_book'"
            )
            .await
            .as_deref(),
        Some("Can publish book")
    );
    let grants_of = |group: &str| {
        format!(
            "SELECT string_agg(p.app_label || '.' || p.codename, ',' \
             ORDER BY p.app_label, p.codename) AS value \
             FROM group_permissions gp JOIN groups g ON g.id = gp.group_id \
             JOIN permissions p ON p.id = gp.permission_id WHERE g.name = '{group}'"
        )
    };
    assert_eq!(
        gatehouse.text(&grants_of("editors")).await.as_deref(),
        Some("auth.view_user,library.change_book,library.publish_book,library.view_book")
    );
    assert_eq!(
        gatehouse.text(&grants_of("readers")).await.as_deref(),
        Some("library.view_book")
    );
    let groups_of = |user: &str| {
        format!(
            "SELECT string_agg(g.name, ',' ORDER BY g.name) AS value FROM user_groups ug \
             JOIN groups g ON g.id = ug.group_id JOIN users u ON u.id = ug.user_id \
             WHERE u.username = '{user}'"
        )
    };
    assert_eq!(
        gatehouse.text(&groups_of("pbkdf2-sha256")).await.as_deref(),
        Some("editors,readers")
    );
    assert_eq!(
        gatehouse.text(&groups_of("staff")).await.as_deref(),
        Some("editors")
    );
    assert_eq!(
        gatehouse
            .text(
                "SELECT string_agg(u.username || ':' || p.app_label || '.' || p.codename, ',' \
                 ORDER BY u.username, p.app_label, p.codename) AS value FROM user_permissions up \
                 JOIN users u ON u.id = up.user_id JOIN permissions p ON p.id = up.permission_id"
            )
            .await
            .as_deref(),
        Some("bcrypt:library.publish_book,staff:auth.change_user")
    );

    // DRF keys, hashed.
    for key in &fixture.drf_tokens {
        let digest = hex::encode(Sha256::digest(key.key.as_bytes()));
        assert_eq!(
            gatehouse
                .scalar(&format!(
                    "SELECT user_id AS value FROM api_tokens \
                     WHERE key_hash = decode('{digest}', 'hex')"
                ))
                .await,
            key.user_id
        );
    }
    assert_eq!(
        gatehouse
            .scalar("SELECT count(*) AS value FROM api_tokens")
            .await,
        fixture.drf_tokens.len() as i64
    );

    // Outstanding refresh tokens that have not expired, each a session of its own;
    // the blacklisted one revoked.
    for token in &fixture.refresh_tokens {
        let row = gatehouse
            .text(&format!(
                "SELECT (SELECT format('%s|%s|%s', user_id, family_id = jti, \
                 revoked_at IS NOT NULL) FROM refresh_tokens \
                 WHERE from_simplejwt AND jti = '{}') AS value",
                token.jti
            ))
            .await;
        let expected = match token.state.as_str() {
            "outstanding" => Some(format!("{}|t|f", token.user_id)),
            "blacklisted" => Some(format!("{}|t|t", token.user_id)),
            _ => None,
        };
        assert_eq!(row, expected, "{} ({})", token.username, token.state);
    }
    assert!(report.refresh_tokens_left >= 1, "the expired one");

    // New users and groups never take an id Django gave, imported or left out.
    let max_id = fixture.users.iter().map(|u| u.id).max().unwrap();
    gatehouse
        .execute(
            "INSERT INTO users (username, email, password) \
             VALUES ('new', 'new@example.com', '!')",
        )
        .await;
    assert!(
        gatehouse
            .scalar("SELECT id AS value FROM users WHERE username = 'new'")
            .await
            > max_id
    );
    gatehouse
        .execute("INSERT INTO groups (name) VALUES ('new')")
        .await;
    assert!(
        gatehouse
            .scalar("SELECT id AS value FROM groups WHERE name = 'new'")
            .await
            > gatehouse
                .scalar("SELECT max(id) AS value FROM groups WHERE name <> 'new'")
                .await
    );
}

#[tokio::test]
async fn a_second_import_changes_nothing() {
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;
    let first = skip(&django, &gatehouse).await;
    let before = contents(&gatehouse).await;

    let second = skip(&django, &gatehouse).await;

    assert_eq!(contents(&gatehouse).await, before);
    let nothing = |first: Tally| Tally {
        created: 0,
        updated: 0,
        unchanged: first.created + first.updated + first.unchanged,
    };
    assert!(first.users.created > 0 && first.refresh_tokens.created > 0);
    assert_eq!(second.users, nothing(first.users));
    assert_eq!(second.permissions, nothing(first.permissions));
    assert_eq!(second.groups, nothing(first.groups));
    assert_eq!(second.api_keys, nothing(first.api_keys));
    assert_eq!(second.refresh_tokens, nothing(first.refresh_tokens));
    for links in [second.memberships, second.user_grants, second.group_grants] {
        assert_eq!(links, LinkTally::default());
    }
    assert_eq!(second.conflicts, first.conflicts);
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_reports_what_the_import_will_write() {
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;
    let empty = contents(&gatehouse).await;

    let dry = run(
        &django,
        &gatehouse,
        ImportOptions {
            dry_run: true,
            ..options(ConflictPolicy::Skip)
        },
    )
    .await
    .expect("the dry run succeeds");

    assert!(dry.dry_run);
    assert_eq!(contents(&gatehouse).await, empty);
    assert_eq!(gatehouse.scalar(user_count_sql()).await, 0);
    let real = skip(&django, &gatehouse).await;
    assert!(real.users.created > 0);
    assert_eq!(
        format!(
            "{:?}",
            ImportReport {
                dry_run: false,
                ..dry
            }
        ),
        format!("{real:?}")
    );
}

#[tokio::test]
async fn an_interrupted_import_is_finished_by_running_it_again() {
    let django = django_database().await;
    let interrupted = TestDatabase::create().await;

    let outcome = stopped_after_one_batch(&django, &interrupted).await;

    let Err(ImportError::Interrupted(partial)) = outcome else {
        panic!("expected an interruption, got {outcome:?}")
    };
    let written = interrupted.scalar(user_count_sql()).await;
    assert_eq!(written as u64, partial.users.created);
    assert!(written > 0, "the first batch is committed");
    let total = django_fixture().users.len() as u64;
    assert!((written as u64) < total - 4, "the rest is not");

    skip(&django, &interrupted).await;
    let clean = TestDatabase::create().await;
    skip(&django, &clean).await;
    let (finished, expected) = (contents(&interrupted).await, contents(&clean).await);
    // The two databases differ only in when the import stamped its rows.
    assert_eq!(finished.lines().count(), expected.lines().count());
    assert_eq!(
        interrupted.scalar(user_count_sql()).await,
        clean.scalar(user_count_sql()).await
    );
    assert_eq!(finished, expected);
}

#[tokio::test]
async fn under_the_default_policy_conflicts_are_listed_and_nothing_is_written() {
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;
    let empty = contents(&gatehouse).await;

    let outcome = run(&django, &gatehouse, options(ConflictPolicy::default())).await;

    let Err(ImportError::Aborted(report)) = outcome else {
        panic!("expected an abort, got {outcome:?}")
    };
    assert_eq!(report.conflicts.len(), 4);
    assert!(
        report
            .conflicts
            .iter()
            .all(|c| c.resolution == Resolution::Aborted)
    );
    assert_eq!(contents(&gatehouse).await, empty);
}

#[tokio::test]
async fn the_placeholder_policy_imports_users_whose_email_is_the_conflict() {
    let fixture = django_fixture();
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;

    let report = run(&django, &gatehouse, options(ConflictPolicy::Placeholder))
        .await
        .expect("the import succeeds");

    assert_eq!(report.users.created, fixture.users.len() as u64);
    for name in ["bad-email", "no-email-1", "no-email-2", "twin-lower"] {
        let id = fixture.user(name).id;
        let placeholder = format!("django-user-{id}@example.invalid");
        let conflict = report.conflicts.iter().find(|c| c.id == id).unwrap();
        assert_eq!(
            conflict.resolution,
            Resolution::Placeholder(placeholder.clone())
        );
        assert_eq!(
            gatehouse
                .text(&format!("SELECT email AS value FROM users WHERE id = {id}"))
                .await,
            Some(placeholder)
        );
    }
}

#[tokio::test]
async fn a_later_run_carries_over_what_changed_in_django_and_keeps_what_gatehouse_learnt() {
    let fixture = django_fixture();
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;
    skip(&django, &gatehouse).await;
    let alice = fixture.user("pbkdf2-sha256").id;
    let argon2 = fixture.user("argon2").id;
    let argon2_token = &fixture
        .refresh_tokens
        .iter()
        .find(|t| t.username == "argon2" && t.state == "outstanding")
        .unwrap()
        .jti;
    // Since then, in Gatehouse: argon2 signed in and his hash was upgraded.
    let upgraded = "bcrypt_sha256$$2b$04$upgradedupgradedupgradeuupgradedupgradedupgradedupgr";
    gatehouse
        .execute(&format!(
            "UPDATE users SET password = '{upgraded}', last_login = now() WHERE id = {argon2}"
        ))
        .await;
    // And in Django: alice renamed, her password changed, out of "readers"; argon2's
    // token blacklisted.
    django
        .batch(&format!(
            "UPDATE auth_user SET first_name = 'Alicia', \
                 password = 'pbkdf2_sha256$1000$newsalt$bmV3aGFzaA==' WHERE id = {alice}; \
             DELETE FROM auth_user_groups WHERE user_id = {alice} \
                 AND group_id = (SELECT id FROM auth_group WHERE name = 'readers'); \
             INSERT INTO token_blacklist_blacklistedtoken (blacklisted_at, token_id) \
                 SELECT now(), id FROM token_blacklist_outstandingtoken \
                 WHERE jti = '{argon2_token}'"
        ))
        .await;

    let report = skip(&django, &gatehouse).await;

    assert_eq!(report.users.updated, 1, "{report:?}");
    assert_eq!(report.sessions_ended, 1, "alice's outstanding session");
    assert_eq!(report.refresh_tokens.updated, 1, "argon2's, blacklisted");
    assert_eq!(
        report.memberships,
        LinkTally {
            added: 0,
            removed: 1
        }
    );
    assert_eq!(
        gatehouse
            .text(&format!(
                "SELECT format('%s|%s|%s', first_name, password, password_changed_at > now() - interval '1 minute') \
                 AS value FROM users WHERE id = {alice}"
            ))
            .await
            .as_deref(),
        Some("Alicia|pbkdf2_sha256$1000$newsalt$bmV3aGFzaA==|t")
    );
    assert_eq!(
        gatehouse
            .scalar(&format!(
                "SELECT count(*) AS value FROM refresh_tokens \
                 WHERE user_id = {alice} AND revoked_at IS NULL"
            ))
            .await,
        0
    );
    assert_eq!(
        gatehouse
            .text(&format!(
                "SELECT format('%s|%s', password, last_login > now() - interval '1 minute') \
                 AS value FROM users WHERE id = {argon2}"
            ))
            .await
            .as_deref(),
        Some(&*format!("{upgraded}|t")),
        "the upgraded hash and the later login are kept"
    );
    assert_eq!(
        gatehouse
            .scalar(&format!(
                "SELECT count(*) AS value FROM refresh_tokens \
                 WHERE jti = '{argon2_token}' AND revoked_at IS NOT NULL"
            ))
            .await,
        1
    );
}

#[tokio::test]
async fn gatehouses_own_users_keep_their_id_name_and_email() {
    let fixture = django_fixture();
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;
    let admin = fixture.user("admin");
    let staff = fixture.user("staff");
    gatehouse
        .execute(&format!(
            "INSERT INTO users (id, username, email, password) VALUES \
             ({}, 'root', 'root@example.com', '!'), \
             (900001, 'other', '{}', '!')",
            admin.id,
            staff.email.to_uppercase()
        ))
        .await;

    let report = skip(&django, &gatehouse).await;

    let reason_of = |id: i64| {
        report
            .conflicts
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.reason.clone())
    };
    assert_eq!(
        reason_of(admin.id),
        Some(ConflictReason::IdTakenInGatehouse {
            username: "root".into()
        })
    );
    assert_eq!(
        reason_of(staff.id),
        Some(ConflictReason::EmailTakenInGatehouse { id: 900001 })
    );
    assert_eq!(
        gatehouse
            .text(&format!(
                "SELECT username AS value FROM users WHERE id = {}",
                admin.id
            ))
            .await
            .as_deref(),
        Some("root")
    );
}

#[tokio::test]
async fn a_later_run_leaves_what_gatehouse_did_since_as_it_is() {
    let fixture = django_fixture();
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;
    skip(&django, &gatehouse).await;
    let deleted = fixture.user("pbkdf2-sha256");
    let admin = fixture.user("admin").id;
    let staff = fixture.user("staff").id;
    let inactive = fixture.user("inactive").id;
    // In Gatehouse, since: a user deleted (with his key and his session), the admin
    // demoted and deactivated, the staff user taken out of "editors", the inactive
    // user's DRF key deleted (a logout).
    gatehouse
        .batch(&format!(
            "DELETE FROM users WHERE id = {};
             UPDATE users SET is_superuser = false, is_staff = false, is_active = false
                 WHERE id = {admin};
             DELETE FROM user_groups WHERE user_id = {staff};
             DELETE FROM api_tokens WHERE user_id = {inactive};",
            deleted.id
        ))
        .await;
    let before = contents(&gatehouse).await;

    let report = skip(&django, &gatehouse).await;

    assert_eq!(contents(&gatehouse).await, before, "{report:?}");
    let conflict = report
        .conflicts
        .iter()
        .find(|c| c.id == deleted.id)
        .unwrap();
    assert_eq!(conflict.reason, ConflictReason::DeletedInGatehouse);
    assert_eq!(conflict.resolution, Resolution::NotImported);
    assert_eq!(report.users.created, 0);
    assert_eq!(report.users.updated, 0);
    assert_eq!(report.api_keys.created, 0);
    assert_eq!(report.memberships, LinkTally::default());

    // The deletion stands under the strictest policy too, without being an abort's
    // reason (the fixture's own conflicts are).
    let strict = run(&django, &gatehouse, options(ConflictPolicy::Abort)).await;
    let Err(ImportError::Aborted(strict)) = strict else {
        panic!("expected an abort, got {strict:?}")
    };
    let conflict = strict
        .conflicts
        .iter()
        .find(|c| c.id == deleted.id)
        .unwrap();
    assert_eq!(conflict.resolution, Resolution::NotImported);
}

#[tokio::test]
async fn users_who_swapped_usernames_and_addresses_in_django_swap_them_here() {
    let fixture = django_fixture();
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;
    skip(&django, &gatehouse).await;
    let (a, b) = (fixture.user("md5").id, fixture.user("sha1").id);
    // Swapped in Django, and user 3's old address taken by a new Django user.
    let argon2 = fixture.user("argon2").id;
    django
        .batch(&format!(
            "UPDATE auth_user SET username = 'swap-tmp', email = 'tmp@example.com' WHERE id = {a};
             UPDATE auth_user SET username = 'md5', email = 'md5@example.com' WHERE id = {b};
             UPDATE auth_user SET username = 'sha1', email = 'sha1@example.com' WHERE id = {a};
             UPDATE auth_user SET email = 'argon2-new@example.com' WHERE id = {argon2};
             INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,
                                    email, is_staff, is_active, date_joined)
                 VALUES ('!', false, 'newcomer', '', '', 'argon2@example.com', false, true,
                         now());"
        ))
        .await;

    let report = skip(&django, &gatehouse).await;

    assert_eq!(report.users.created, 1, "{report:?}");
    assert_eq!(report.users.updated, 3, "{report:?}");
    let row =
        |id: i64| format!("SELECT username || ' ' || email AS value FROM users WHERE id = {id}");
    assert_eq!(
        gatehouse.text(&row(a)).await.as_deref(),
        Some("sha1 sha1@example.com")
    );
    assert_eq!(
        gatehouse.text(&row(b)).await.as_deref(),
        Some("md5 md5@example.com")
    );
    assert_eq!(
        gatehouse.text(&row(argon2)).await.as_deref(),
        Some("argon2 argon2-new@example.com")
    );
    assert_eq!(
        gatehouse
            .text("SELECT username AS value FROM users WHERE email = 'argon2@example.com'")
            .await
            .as_deref(),
        Some("newcomer")
    );
}

#[tokio::test]
async fn a_gatehouse_group_of_the_same_name_is_not_merged_with_djangos() {
    let django = django_database().await;
    let gatehouse = TestDatabase::create().await;
    gatehouse
        .batch(
            "INSERT INTO groups (id, name) VALUES (500, 'editors');
             INSERT INTO group_permissions (group_id, permission_id)
                 SELECT 500, id FROM permissions WHERE codename = 'view_group';",
        )
        .await;
    let grants = "SELECT string_agg(p.codename, ',' ORDER BY p.codename) AS value \
                  FROM group_permissions gp JOIN permissions p ON p.id = gp.permission_id \
                  WHERE gp.group_id = 500";

    let aborted = run(&django, &gatehouse, options(ConflictPolicy::Abort)).await;
    let Err(ImportError::Aborted(report)) = aborted else {
        panic!("expected an abort, got {aborted:?}")
    };
    assert_eq!(report.group_conflicts.len(), 1);
    assert_eq!(report.group_conflicts[0].name, "editors");
    assert_eq!(report.group_conflicts[0].resolution, Resolution::Aborted);

    let report = skip(&django, &gatehouse).await;
    assert_eq!(
        report.group_conflicts[0].reason,
        GroupConflictReason::NameTakenInGatehouse { id: 500 }
    );
    assert_eq!(gatehouse.text(grants).await.as_deref(), Some("view_group"));
    assert_eq!(
        gatehouse
            .scalar("SELECT count(*) AS value FROM user_groups WHERE group_id = 500")
            .await,
        0,
        "Django's editors are not members of Gatehouse's"
    );
}

#[tokio::test]
async fn ids_are_reserved_before_the_first_batch_and_not_by_a_dry_run() {
    let fixture = django_fixture();
    let django = django_database().await;
    let highest = fixture.users.iter().map(|u| u.id).max().unwrap();
    let next_user = "SELECT nextval(pg_get_serial_sequence('users', 'id')) AS value";

    let dry = TestDatabase::create().await;
    run(
        &django,
        &dry,
        ImportOptions {
            dry_run: true,
            ..options(ConflictPolicy::Skip)
        },
    )
    .await
    .unwrap();
    assert!(
        dry.scalar(next_user).await < highest,
        "a dry run moves no sequence"
    );

    let interrupted = TestDatabase::create().await;
    let outcome = stopped_after_one_batch(&django, &interrupted).await;
    assert!(matches!(outcome, Err(ImportError::Interrupted(_))));
    assert!(interrupted.scalar(next_user).await > highest);
}
