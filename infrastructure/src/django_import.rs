//! `gatehouse import-django`: a Django auth database (read-only, in one snapshot) into
//! Gatehouse's, in batches of users, each batch one transaction. Which users, and what
//! a later run writes over an earlier one, is `application::django_import`'s to say.
//!
//! Carried over: users with their ids, permissions (by app label and codename),
//! groups (by name), memberships and grants, DRF `authtoken` keys (stored hashed) and
//! SimpleJWT's outstanding refresh tokens, blacklisted or not. Every write is an
//! upsert, so a run that stopped half-way is finished by running it again, and a
//! second run changes only what changed in Django.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use application::django_import::{
    Conflict, ConflictPolicy, ExistingUser, StoredUser, UserPlan, UserRecord, UserWrite, merge,
    plan_users,
};
use chrono::{DateTime, Utc};
use domain::ports::TokenGenerator;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};
use uuid::Uuid;

use crate::Sha256TokenGenerator;

/// `import-django`'s flags.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub conflicts: ConflictPolicy,
    /// Do everything in one transaction and roll it back: the report says what a real
    /// run would write.
    pub dry_run: bool,
    /// Users per transaction.
    pub batch_size: usize,
}

/// The parts of an import, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Permissions, groups and the groups' grants: one transaction.
    PermissionsAndGroups,
    /// Users, with their memberships, grants, API keys and refresh tokens: one
    /// transaction per batch.
    Users,
    /// Identity sequences moved past the imported ids.
    Sequences,
}

/// Told how far an import has got (a progress bar, log lines, a test).
pub trait ImportProgress {
    fn stage(&mut self, stage: Stage, total: u64);
    /// `done` more items of the stage are written.
    fn advance(&mut self, done: u64);
    /// Asked after each committed batch; `false` stops the import there (Ctrl-C).
    fn keep_going(&mut self) -> bool {
        true
    }
}

/// Rows an import created, changed, or found as they should be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Links (memberships, grants) an import added and removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkTally {
    pub added: u64,
    pub removed: u64,
}

/// What an import did, or, dry, would do.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub dry_run: bool,
    pub permissions: Tally,
    pub groups: Tally,
    pub group_grants: LinkTally,
    pub users: Tally,
    pub memberships: LinkTally,
    pub user_grants: LinkTally,
    /// DRF keys; `updated` is never counted (a key is its own identity).
    pub api_keys: Tally,
    /// Outstanding SimpleJWT refresh tokens; `updated` counts those blacklisted in
    /// Django since an earlier run.
    pub refresh_tokens: Tally,
    /// Refresh tokens not carried over: expired, or of a user not imported.
    pub refresh_tokens_left: u64,
    /// Sessions ended because a password changed in Django since an earlier run.
    pub sessions_ended: u64,
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Conflicts under `ConflictPolicy::Abort`: nothing was written.
    #[error("{} user(s) in conflict; nothing was imported", .0.conflicts.len())]
    Aborted(Box<ImportReport>),
    /// Stopped between two batches; what is committed stays, a new run finishes it.
    #[error("interrupted; run the import again to finish it")]
    Interrupted(Box<ImportReport>),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Imports the Django database at `source` into Gatehouse's at `target`.
pub async fn import(
    source: &SecretString,
    target: &SecretString,
    options: ImportOptions,
    progress: &mut dyn ImportProgress,
) -> Result<ImportReport, ImportError> {
    let source = connect(source, "the Django database").await?;
    let target = connect(target, "Gatehouse's database").await?;
    // One snapshot of Django's tables for the whole run, and no way to write to them.
    source
        .batch_execute(
            "SET default_transaction_read_only = on; \
             BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .await
        .context("while opening a snapshot of the Django database")?;
    let django = Django::open(&source).await?;
    let mut run = Run {
        django,
        target: &target,
        options,
        report: ImportReport {
            dry_run: options.dry_run,
            ..ImportReport::default()
        },
    };
    if options.dry_run {
        target
            .batch_execute("BEGIN")
            .await
            .context("while starting the dry run")?;
    }
    let outcome = run.all(progress).await;
    if options.dry_run {
        // Whatever happened, a dry run leaves nothing behind.
        let _ = target.batch_execute("ROLLBACK").await;
    }
    let _ = source.batch_execute("COMMIT").await;
    outcome.map(|()| run.report)
}

async fn connect(url: &SecretString, what: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url.expose_secret(), NoTls)
        .await
        .with_context(|| format!("while connecting to {what}"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "import connection closed");
        }
    });
    Ok(client)
}

/// The Django database: which optional apps' tables it has.
struct Django<'a> {
    client: &'a Client,
    authtoken: bool,
    token_blacklist: bool,
}

impl<'a> Django<'a> {
    async fn open(client: &'a Client) -> anyhow::Result<Self> {
        let has = async |table: &str| -> anyhow::Result<bool> {
            let row = client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                .await
                .context("while reading the Django database's tables")?;
            Ok(row.get(0))
        };
        for table in [
            "auth_user",
            "auth_group",
            "auth_permission",
            "django_content_type",
        ] {
            if !has(table).await? {
                anyhow::bail!("the source has no table {table}: is it a migrated Django database?");
            }
        }
        Ok(Self {
            client,
            authtoken: has("authtoken_token").await?,
            token_blacklist: has("token_blacklist_outstandingtoken").await?,
        })
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        what: &str,
    ) -> anyhow::Result<Vec<Row>> {
        self.client
            .query(sql, params)
            .await
            .with_context(|| format!("while reading {what} from Django"))
    }
}

struct Run<'a> {
    django: Django<'a>,
    target: &'a Client,
    options: ImportOptions,
    report: ImportReport,
}

impl Run<'_> {
    async fn all(&mut self, progress: &mut dyn ImportProgress) -> Result<(), ImportError> {
        let keys = self
            .django
            .query(
                "SELECT id, username, email FROM auth_user ORDER BY id",
                &[],
                "the users",
            )
            .await?;
        let keys: Vec<(i64, String, String)> = keys
            .iter()
            .map(|row| (id(row, 0), row.get(1), row.get(2)))
            .collect();
        let existing = self
            .query(
                "SELECT u.id, u.username, u.email, d.user_id IS NOT NULL \
                 FROM users u LEFT JOIN django_imported_users d ON d.user_id = u.id",
                &[],
                "the users",
            )
            .await?
            .iter()
            .map(|row| ExistingUser {
                id: row.get(0),
                username: row.get(1),
                email: row.get(2),
                imported: row.get(3),
            })
            .collect::<Vec<_>>();
        let plan = plan_users(&keys, &existing, self.options.conflicts);
        self.report.conflicts.clone_from(&plan.conflicts);
        if plan.aborted() {
            return Err(ImportError::Aborted(Box::new(self.report.clone())));
        }

        progress.stage(Stage::PermissionsAndGroups, 1);
        self.begin().await?;
        let outcome = self.permissions_and_groups().await;
        let (permissions, groups) = self.end("the permissions and groups", outcome).await?;
        progress.advance(1);

        progress.stage(Stage::Users, keys.len() as u64);
        for batch in keys.chunks(self.options.batch_size.max(1)) {
            let (first, last) = (batch[0].0, batch[batch.len() - 1].0);
            self.begin().await?;
            let outcome = self.users(first, last, &plan, &permissions, &groups).await;
            self.end(&format!("users {first} to {last}"), outcome)
                .await?;
            progress.advance(batch.len() as u64);
            if !progress.keep_going() {
                return Err(ImportError::Interrupted(Box::new(self.report.clone())));
            }
        }

        progress.stage(Stage::Sequences, 1);
        // Past Django's highest ids, imported or not: a user left out now keeps his id
        // for the run that imports him once he is fixed.
        let highest_user = keys.last().map_or(0, |(id, ..)| *id);
        let highest_group = groups.keys().copied().max().unwrap_or(0);
        self.begin().await?;
        let outcome = self.sequences(highest_user, highest_group).await;
        self.end("the id sequences", outcome).await?;
        progress.advance(1);
        Ok(())
    }

    /// Opens the transaction of one step (a savepoint of the dry run's).
    async fn begin(&self) -> anyhow::Result<()> {
        let begin = if self.options.dry_run {
            "SAVEPOINT step"
        } else {
            "BEGIN"
        };
        self.target
            .batch_execute(begin)
            .await
            .context("while starting a transaction")
    }

    /// Commits the step's transaction if it went well, rolls it back if not.
    async fn end<T>(&self, what: &str, outcome: anyhow::Result<T>) -> anyhow::Result<T> {
        let (commit, rollback) = if self.options.dry_run {
            ("RELEASE SAVEPOINT step", "ROLLBACK TO SAVEPOINT step")
        } else {
            ("COMMIT", "ROLLBACK")
        };
        match outcome {
            Ok(value) => {
                self.target
                    .batch_execute(commit)
                    .await
                    .with_context(|| format!("while committing {what}"))?;
                Ok(value)
            }
            Err(error) => {
                let _ = self.target.batch_execute(rollback).await;
                Err(error.context(format!("while importing {what}")))
            }
        }
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        what: &str,
    ) -> anyhow::Result<Vec<Row>> {
        self.target
            .query(sql, params)
            .await
            .with_context(|| format!("while writing {what}"))
    }

    /// Permissions by (app label, codename), groups by name; returns the maps from
    /// Django's ids to Gatehouse's.
    async fn permissions_and_groups(
        &mut self,
    ) -> anyhow::Result<(HashMap<i64, i64>, HashMap<i64, i64>)> {
        let rows = self
            .django
            .query(
                "SELECT p.id, p.name, ct.app_label, p.codename FROM auth_permission p \
                 JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY p.id",
                &[],
                "the permissions",
            )
            .await?;
        let names: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
        let labels: Vec<String> = rows.iter().map(|r| r.get(2)).collect();
        let codenames: Vec<String> = rows.iter().map(|r| r.get(3)).collect();
        let written = self
            .query(
                "INSERT INTO permissions (name, app_label, codename) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) \
                 ON CONFLICT (app_label, codename) DO UPDATE SET name = EXCLUDED.name \
                 WHERE permissions.name IS DISTINCT FROM EXCLUDED.name \
                 RETURNING xmax = 0",
                &[&names, &labels, &codenames],
                "the permissions",
            )
            .await?;
        self.report.permissions = tally(rows.len(), &written);
        let by_code: HashMap<(String, String), i64> = self
            .query(
                "SELECT app_label, codename, id FROM permissions",
                &[],
                "the permissions",
            )
            .await?
            .iter()
            .map(|r| ((r.get(0), r.get(1)), r.get(2)))
            .collect();
        let permissions: HashMap<i64, i64> = rows
            .iter()
            .map(|r| {
                let code = (r.get::<_, String>(2), r.get::<_, String>(3));
                (id(r, 0), by_code[&code])
            })
            .collect();

        let rows = self
            .django
            .query(
                "SELECT id, name FROM auth_group ORDER BY id",
                &[],
                "the groups",
            )
            .await?;
        let existing: Vec<(i64, String)> = self
            .query("SELECT id, name FROM groups", &[], "the groups")
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let taken_ids: HashSet<i64> = existing.iter().map(|(id, _)| *id).collect();
        let taken_names: HashSet<&str> = existing.iter().map(|(_, n)| n.as_str()).collect();
        // A new group keeps its Django id where that id is free.
        let (mut with_id, mut without_id) = (Vec::new(), Vec::new());
        for row in &rows {
            let (group, name): (i64, String) = (id(row, 0), row.get(1));
            if taken_names.contains(name.as_str()) {
                continue;
            }
            if taken_ids.contains(&group) {
                without_id.push(name);
            } else {
                with_id.push((group, name));
            }
        }
        let (ids, names): (Vec<i64>, Vec<String>) = with_id.into_iter().unzip();
        self.query(
            "INSERT INTO groups (id, name) SELECT * FROM unnest($1::int8[], $2::text[])",
            &[&ids, &names],
            "the groups",
        )
        .await?;
        self.query(
            "INSERT INTO groups (name) SELECT * FROM unnest($1::text[])",
            &[&without_id],
            "the groups",
        )
        .await?;
        let created = (ids.len() + without_id.len()) as u64;
        self.report.groups = Tally {
            created,
            updated: 0,
            unchanged: rows.len() as u64 - created,
        };
        let by_name: HashMap<String, i64> = self
            .query("SELECT name, id FROM groups", &[], "the groups")
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let groups: HashMap<i64, i64> = rows
            .iter()
            .map(|r| (id(r, 0), by_name[&r.get::<_, String>(1)]))
            .collect();

        let grants = self
            .django
            .query(
                "SELECT group_id, permission_id FROM auth_group_permissions",
                &[],
                "the groups' permissions",
            )
            .await?;
        let pairs = grants
            .iter()
            .map(|r| (groups[&id(r, 0)], permissions[&id(r, 1)]))
            .collect();
        let owners: Vec<i64> = groups.values().copied().collect();
        self.report.group_grants =
            sync_links(self.target, Links::GROUP_PERMISSIONS, &owners, pairs).await?;
        Ok((permissions, groups))
    }

    /// The users with ids in `first..=last`, and everything that is theirs.
    async fn users(
        &mut self,
        first: i64,
        last: i64,
        plan: &UserPlan,
        permissions: &HashMap<i64, i64>,
        groups: &HashMap<i64, i64>,
    ) -> anyhow::Result<()> {
        let range: [&(dyn ToSql + Sync); 2] = [&first, &last];
        let rows = self
            .django
            .query(
                "SELECT id, username, email, password, first_name, last_name, is_active, \
                 is_staff, is_superuser, date_joined, last_login \
                 FROM auth_user WHERE id BETWEEN $1::int8 AND $2::int8 ORDER BY id",
                &range,
                "the users",
            )
            .await?;
        let users: Vec<UserRecord> = rows
            .iter()
            .map(user_record)
            .filter(|user| plan.email_of(user.id).is_some())
            .collect();
        let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
        let stored: HashMap<i64, StoredUser> = self
            .query(
                "SELECT u.id, u.username, u.email, u.password, u.first_name, u.last_name, \
                 u.is_active, u.is_staff, u.is_superuser, u.date_joined, u.last_login, \
                 d.password_digest \
                 FROM users u JOIN django_imported_users d ON d.user_id = u.id \
                 WHERE u.id = ANY($1) FOR UPDATE OF u",
                &[&ids],
                "the users",
            )
            .await?
            .iter()
            .map(|row| {
                let stored = StoredUser {
                    record: user_record(row),
                    imported_digest: row.get(11),
                };
                (stored.record.id, stored)
            })
            .collect();

        let (mut created, mut updated, mut changed_passwords) =
            (Vec::new(), Vec::new(), Vec::new());
        let mut digests = Vec::new();
        for user in &users {
            let email = plan.email_of(user.id).expect("filtered above");
            let digest = Sha256::digest(user.password.as_bytes()).to_vec();
            match merge(user, email, &digest, stored.get(&user.id)) {
                UserWrite::Create(record) => created.push(record),
                UserWrite::Update {
                    record,
                    password_changed,
                } => {
                    if password_changed {
                        changed_passwords.push(record.id);
                    }
                    updated.push((record, password_changed));
                }
                UserWrite::Unchanged => continue,
            }
            digests.push((user.id, digest));
        }
        self.report.users.created += created.len() as u64;
        self.report.users.updated += updated.len() as u64;
        self.report.users.unchanged += (users.len() - created.len() - updated.len()) as u64;
        self.create_users(&created).await?;
        self.update_users(&updated).await?;
        if !changed_passwords.is_empty() {
            // A password changed in Django is a password change here: his sessions
            // and keys end, as `change_password` ends them.
            let ended = self
                .query(
                    "UPDATE refresh_tokens SET revoked_at = now() \
                     WHERE user_id = ANY($1) AND revoked_at IS NULL RETURNING family_id",
                    &[&changed_passwords],
                    "the sessions of users whose password changed",
                )
                .await?;
            self.report.sessions_ended += ended
                .iter()
                .map(|r| r.get::<_, Uuid>(0))
                .collect::<HashSet<_>>()
                .len() as u64;
            self.query(
                "DELETE FROM api_tokens WHERE user_id = ANY($1)",
                &[&changed_passwords],
                "the API keys of users whose password changed",
            )
            .await?;
        }
        let (digest_ids, digests): (Vec<i64>, Vec<Vec<u8>>) = digests.into_iter().unzip();
        self.query(
            "INSERT INTO django_imported_users (user_id, password_digest, imported_at) \
             SELECT id, digest, now() FROM unnest($1::int8[], $2::bytea[]) AS d(id, digest) \
             ON CONFLICT (user_id) DO UPDATE \
             SET password_digest = EXCLUDED.password_digest, imported_at = EXCLUDED.imported_at",
            &[&digest_ids, &digests],
            "the import's bookkeeping",
        )
        .await?;

        let imported: HashSet<i64> = ids.iter().copied().collect();
        let links = |rows: Vec<Row>, map: &HashMap<i64, i64>| -> Vec<(i64, i64)> {
            rows.iter()
                .filter(|r| imported.contains(&id(r, 0)))
                .map(|r| (id(r, 0), map[&id(r, 1)]))
                .collect()
        };
        let memberships = self
            .django
            .query(
                "SELECT user_id, group_id FROM auth_user_groups WHERE user_id BETWEEN $1::int8 AND $2::int8",
                &range,
                "the memberships",
            )
            .await?;
        let tallied = sync_links(
            self.target,
            Links::USER_GROUPS,
            &ids,
            links(memberships, groups),
        )
        .await?;
        self.report.memberships.added += tallied.added;
        self.report.memberships.removed += tallied.removed;
        let grants = self
            .django
            .query(
                "SELECT user_id, permission_id FROM auth_user_user_permissions \
                 WHERE user_id BETWEEN $1::int8 AND $2::int8",
                &range,
                "the users' permissions",
            )
            .await?;
        let tallied = sync_links(
            self.target,
            Links::USER_PERMISSIONS,
            &ids,
            links(grants, permissions),
        )
        .await?;
        self.report.user_grants.added += tallied.added;
        self.report.user_grants.removed += tallied.removed;

        if self.django.authtoken {
            self.api_keys(&range, &imported).await?;
        }
        if self.django.token_blacklist {
            self.refresh_tokens(&range, &imported).await?;
        }
        Ok(())
    }

    async fn create_users(&self, users: &[UserRecord]) -> anyhow::Result<()> {
        let columns = Columns::of(users.iter());
        self.query(
            "INSERT INTO users (id, username, email, password, first_name, last_name, \
             is_active, is_staff, is_superuser, date_joined, last_login, password_changed_at) \
             SELECT *, date_joined FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], \
             $5::text[], $6::text[], $7::bool[], $8::bool[], $9::bool[], $10::timestamptz[], \
             $11::timestamptz[]) AS u(id, username, email, password, first_name, last_name, \
             is_active, is_staff, is_superuser, date_joined, last_login)",
            &columns.params(),
            "the new users",
        )
        .await?;
        Ok(())
    }

    async fn update_users(&self, users: &[(UserRecord, bool)]) -> anyhow::Result<()> {
        let columns = Columns::of(users.iter().map(|(user, _)| user));
        let password_changed: Vec<bool> = users.iter().map(|(_, changed)| *changed).collect();
        let mut params = columns.params();
        params.push(&password_changed);
        self.query(
            "UPDATE users SET username = v.username, email = v.email, password = v.password, \
             first_name = v.first_name, last_name = v.last_name, is_active = v.is_active, \
             is_staff = v.is_staff, is_superuser = v.is_superuser, \
             date_joined = v.date_joined, last_login = v.last_login, \
             password_changed_at = CASE WHEN v.password_changed THEN now() \
                                        ELSE users.password_changed_at END \
             FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::bool[], $8::bool[], $9::bool[], $10::timestamptz[], \
             $11::timestamptz[], $12::bool[]) AS v(id, username, email, password, first_name, \
             last_name, is_active, is_staff, is_superuser, date_joined, last_login, \
             password_changed) WHERE users.id = v.id",
            &params,
            "the changed users",
        )
        .await?;
        Ok(())
    }

    /// DRF keys, stored as Gatehouse stores its own: as their SHA-256.
    async fn api_keys(
        &mut self,
        range: &[&(dyn ToSql + Sync); 2],
        imported: &HashSet<i64>,
    ) -> anyhow::Result<()> {
        let rows = self
            .django
            .query(
                "SELECT key, user_id, created FROM authtoken_token WHERE user_id BETWEEN $1::int8 AND $2::int8",
                range,
                "the DRF tokens",
            )
            .await?;
        let rows: Vec<&Row> = rows
            .iter()
            .filter(|r| imported.contains(&id(r, 1)))
            .collect();
        let digests: Vec<Vec<u8>> = rows
            .iter()
            .map(|r| Sha256TokenGenerator.digest(r.get::<_, &str>(0)))
            .collect();
        let users: Vec<i64> = rows.iter().map(|r| id(r, 1)).collect();
        let created: Vec<DateTime<Utc>> = rows.iter().map(|r| r.get(2)).collect();
        let written = self
            .query(
                "INSERT INTO api_tokens (key_hash, user_id, created_at) \
                 SELECT * FROM unnest($1::bytea[], $2::int8[], $3::timestamptz[]) \
                 ON CONFLICT (key_hash) DO NOTHING RETURNING true",
                &[&digests, &users, &created],
                "the DRF tokens",
            )
            .await?;
        let tallied = tally(rows.len(), &written);
        self.report.api_keys.created += tallied.created;
        self.report.api_keys.unchanged += tallied.unchanged;
        Ok(())
    }

    /// SimpleJWT's outstanding refresh tokens that have not expired: each a session of
    /// its own (family = jti), revoked if blacklisted.
    async fn refresh_tokens(
        &mut self,
        range: &[&(dyn ToSql + Sync); 2],
        imported: &HashSet<i64>,
    ) -> anyhow::Result<()> {
        let rows = self
            .django
            .query(
                "SELECT o.jti, o.user_id, COALESCE(o.created_at, now()), o.expires_at, \
                 b.blacklisted_at \
                 FROM token_blacklist_outstandingtoken o \
                 LEFT JOIN token_blacklist_blacklistedtoken b ON b.token_id = o.id \
                 WHERE o.user_id BETWEEN $1::int8 AND $2::int8",
                range,
                "the outstanding refresh tokens",
            )
            .await?;
        let now = Utc::now();
        let mut tokens = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let jti = Uuid::try_parse(row.get::<_, &str>(0));
            let expires_at: DateTime<Utc> = row.get(3);
            match jti {
                Ok(jti) if imported.contains(&id(row, 1)) && expires_at > now => {
                    tokens.0.push(jti);
                    tokens.1.push(id(row, 1));
                    tokens.2.push(row.get::<_, DateTime<Utc>>(2));
                    tokens.3.push(expires_at);
                    tokens.4.push(row.get::<_, Option<DateTime<Utc>>>(4));
                }
                _ => self.report.refresh_tokens_left += 1,
            }
        }
        let written = self
            .query(
                "INSERT INTO refresh_tokens (jti, user_id, family_id, created_at, expires_at, \
                 session_started_at, revoked_at, from_simplejwt) \
                 SELECT jti, user_id, jti, created_at, expires_at, created_at, revoked_at, true \
                 FROM unnest($1::uuid[], $2::int8[], $3::timestamptz[], $4::timestamptz[], \
                 $5::timestamptz[]) AS t(jti, user_id, created_at, expires_at, revoked_at) \
                 ON CONFLICT (jti) DO UPDATE SET revoked_at = EXCLUDED.revoked_at \
                 WHERE refresh_tokens.from_simplejwt AND refresh_tokens.revoked_at IS NULL \
                 AND EXCLUDED.revoked_at IS NOT NULL \
                 RETURNING xmax = 0",
                &[&tokens.0, &tokens.1, &tokens.2, &tokens.3, &tokens.4],
                "the refresh tokens",
            )
            .await?;
        let tallied = tally(tokens.0.len(), &written);
        self.report.refresh_tokens.created += tallied.created;
        self.report.refresh_tokens.updated += tallied.updated;
        self.report.refresh_tokens.unchanged += tallied.unchanged;
        Ok(())
    }

    /// Moves the id sequences past every id in use and every id Django gave, so new
    /// users and groups never take one.
    async fn sequences(&mut self, highest_user: i64, highest_group: i64) -> anyhow::Result<()> {
        for (table, highest) in [("users", highest_user), ("groups", highest_group)] {
            self.query(
                &format!(
                    "SELECT setval(s::regclass, GREATEST($1, \
                         COALESCE((SELECT max(id) FROM {table}), 1), \
                         COALESCE(pg_sequence_last_value(s::regclass), 1))) \
                     FROM pg_get_serial_sequence('{table}', 'id') AS s"
                ),
                &[&highest],
                "the id sequences",
            )
            .await?;
        }
        Ok(())
    }
}

/// Django ids are `integer` or `bigint` (`DEFAULT_AUTO_FIELD`); Gatehouse's `bigint`.
fn id(row: &Row, column: usize) -> i64 {
    row.try_get::<_, i64>(column)
        .unwrap_or_else(|_| i64::from(row.get::<_, i32>(column)))
}

/// An `auth_user` or `users` row, in the column order both queries use.
fn user_record(row: &Row) -> UserRecord {
    UserRecord {
        id: id(row, 0),
        username: row.get(1),
        email: row.get(2),
        password: row.get(3),
        first_name: row.get(4),
        last_name: row.get(5),
        is_active: row.get(6),
        is_staff: row.get(7),
        is_superuser: row.get(8),
        date_joined: row.get(9),
        last_login: row.get(10),
    }
}

/// Upserts that `RETURNING xmax = 0` (true: inserted, false: updated): the rows not
/// returned were already as they should be.
fn tally(total: usize, written: &[Row]) -> Tally {
    let created = written.iter().filter(|r| r.get::<_, bool>(0)).count();
    let updated = written.len() - created;
    Tally {
        created: created as u64,
        updated: updated as u64,
        unchanged: (total - written.len()) as u64,
    }
}

/// Users as parallel arrays, one per column, for `unnest`.
struct Columns {
    ids: Vec<i64>,
    usernames: Vec<String>,
    emails: Vec<String>,
    passwords: Vec<String>,
    first_names: Vec<String>,
    last_names: Vec<String>,
    active: Vec<bool>,
    staff: Vec<bool>,
    superuser: Vec<bool>,
    joined: Vec<DateTime<Utc>>,
    last_login: Vec<Option<DateTime<Utc>>>,
}

impl Columns {
    fn of<'u>(users: impl Iterator<Item = &'u UserRecord>) -> Self {
        let mut columns = Columns {
            ids: Vec::new(),
            usernames: Vec::new(),
            emails: Vec::new(),
            passwords: Vec::new(),
            first_names: Vec::new(),
            last_names: Vec::new(),
            active: Vec::new(),
            staff: Vec::new(),
            superuser: Vec::new(),
            joined: Vec::new(),
            last_login: Vec::new(),
        };
        for user in users {
            columns.ids.push(user.id);
            columns.usernames.push(user.username.clone());
            columns.emails.push(user.email.clone());
            columns.passwords.push(user.password.clone());
            columns.first_names.push(user.first_name.clone());
            columns.last_names.push(user.last_name.clone());
            columns.active.push(user.is_active);
            columns.staff.push(user.is_staff);
            columns.superuser.push(user.is_superuser);
            columns.joined.push(user.date_joined);
            columns.last_login.push(user.last_login);
        }
        columns
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.ids,
            &self.usernames,
            &self.emails,
            &self.passwords,
            &self.first_names,
            &self.last_names,
            &self.active,
            &self.staff,
            &self.superuser,
            &self.joined,
            &self.last_login,
        ]
    }
}

/// A link table: (owner, other) pairs, e.g. a user's groups.
struct Links {
    table: &'static str,
    owner: &'static str,
    other: &'static str,
}

impl Links {
    const USER_GROUPS: Links = Links {
        table: "user_groups",
        owner: "user_id",
        other: "group_id",
    };
    const USER_PERMISSIONS: Links = Links {
        table: "user_permissions",
        owner: "user_id",
        other: "permission_id",
    };
    const GROUP_PERMISSIONS: Links = Links {
        table: "group_permissions",
        owner: "group_id",
        other: "permission_id",
    };
}

/// Makes `owners`' links exactly `pairs`: adds the missing, removes the others.
async fn sync_links(
    target: &Client,
    links: Links,
    owners: &[i64],
    pairs: Vec<(i64, i64)>,
) -> anyhow::Result<LinkTally> {
    let Links {
        table,
        owner,
        other,
    } = links;
    let (left, right): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
    let row = target
        .query_one(
            &format!(
                "WITH desired AS (SELECT * FROM unnest($1::int8[], $2::int8[]) AS d(a, b)), \
                 removed AS (DELETE FROM {table} t WHERE t.{owner} = ANY($3) \
                     AND NOT EXISTS (SELECT 1 FROM desired d \
                                     WHERE d.a = t.{owner} AND d.b = t.{other}) \
                     RETURNING 1), \
                 added AS (INSERT INTO {table} ({owner}, {other}) SELECT a, b FROM desired \
                     ON CONFLICT DO NOTHING RETURNING 1) \
                 SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM removed)"
            ),
            &[&left, &right, &owners],
        )
        .await
        .with_context(|| format!("while writing {table}"))?;
    Ok(LinkTally {
        added: row.get::<_, i64>(0) as u64,
        removed: row.get::<_, i64>(1) as u64,
    })
}
