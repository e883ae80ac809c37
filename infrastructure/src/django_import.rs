//! `gatehouse import-django`: a Django auth database (read-only, in one snapshot) into
//! Gatehouse's, in batches of users, each batch one transaction. Which users, and what
//! a later run writes over an earlier one, is `application::django_import`'s to say.
//!
//! Carried over: users with their ids, permissions (by app label and codename),
//! groups, memberships and grants, DRF `authtoken` keys (stored hashed) and SimpleJWT's
//! outstanding refresh tokens, blacklisted or not. The import remembers what it wrote
//! (`django_imported_*`): a run that stopped half-way is finished by running it again,
//! and a later run writes only what changed in Django since, over what Gatehouse
//! changed meanwhile.

use std::collections::{BTreeSet, HashMap, HashSet};

use anyhow::Context;
use application::django_import::{
    Conflict, ConflictPolicy, ExistingUser, GroupAction, GroupConflict, GroupPlan, StoredUser,
    UserPlan, UserRecord, UserWrite, base_of, merge, merge_links, plan_groups, plan_users,
};
use chrono::{DateTime, Utc};
use domain::ports::TokenGenerator;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

use crate::Sha256TokenGenerator;
use crate::pg_connect::PgConnectOptions;

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

/// The parts of an import, in order. (Before them, the id sequences are moved past
/// Django's ids, so that a Gatehouse user created meanwhile never takes one.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Permissions, groups and the groups' grants: one transaction.
    PermissionsAndGroups,
    /// Users, with their memberships, grants, API keys and refresh tokens: one
    /// transaction per batch.
    Users,
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
    pub group_conflicts: Vec<GroupConflict>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Conflicts under `ConflictPolicy::Abort`: nothing was written.
    #[error(
        "{} user(s) and {} group(s) in conflict; nothing was imported",
        .0.conflicts.len(),
        .0.group_conflicts.len()
    )]
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
    let started_at: DateTime<Utc> = target
        .query_one("SELECT now()", &[])
        .await
        .context("while reading the time of Gatehouse's database")?
        .get(0);
    let mut run = Run {
        django,
        target: &target,
        options,
        started_at,
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
    let (client, connection) = PgConnectOptions::parse(url.expose_secret())
        .with_context(|| format!("while reading the URL of {what}"))?
        .connect()
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
    /// When this run started, by Gatehouse's database: SimpleJWT access tokens signed
    /// before then are accepted for the users it carries over.
    started_at: DateTime<Utc>,
    report: ImportReport,
}

/// What an import remembers of a user (`django_imported_users.imported`): Django's
/// row as last imported ([`base_of`]) and his groups and grants then (Gatehouse ids).
#[derive(serde::Serialize, serde::Deserialize)]
struct Imported {
    user: UserRecord,
    groups: BTreeSet<i64>,
    permissions: BTreeSet<i64>,
}

/// What the plans of a run need to know of Gatehouse's database.
struct Known {
    users: Vec<ExistingUser>,
    imported_users: HashSet<i64>,
    groups: Vec<(i64, String)>,
    /// Django's group id to Gatehouse's, and its grants as last imported.
    imported_groups: HashMap<i64, (i64, BTreeSet<i64>)>,
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
        let django_groups: Vec<(i64, String)> = self
            .django
            .query(
                "SELECT id, name FROM auth_group ORDER BY id",
                &[],
                "the groups",
            )
            .await?
            .iter()
            .map(|row| (id(row, 0), row.get(1)))
            .collect();
        let known = self.known().await?;
        let plan = plan_users(
            &keys,
            &known.users,
            &known.imported_users,
            self.options.conflicts,
        );
        let imported_groups: HashMap<i64, i64> = known
            .imported_groups
            .iter()
            .map(|(django_id, (id, _))| (*django_id, *id))
            .collect();
        let group_plan = plan_groups(
            &django_groups,
            &known.groups,
            &imported_groups,
            self.options.conflicts,
        );
        self.report.conflicts.clone_from(&plan.conflicts);
        self.report
            .group_conflicts
            .clone_from(&group_plan.conflicts);
        if plan.aborted() || group_plan.aborted() {
            return Err(ImportError::Aborted(Box::new(self.report.clone())));
        }

        // Past Django's highest ids, imported or not, before anything is written: a
        // user Gatehouse creates during the import, or after one that stopped, never
        // takes an id Django gave. (A sequence does not roll back: not in a dry run.)
        if !self.options.dry_run {
            let highest_user = keys.last().map_or(0, |(id, ..)| *id);
            let highest_group = django_groups.iter().map(|(id, _)| *id).max().unwrap_or(0);
            self.sequences(highest_user, highest_group).await?;
        }

        progress.stage(Stage::PermissionsAndGroups, 1);
        self.begin().await?;
        let outcome = self
            .permissions_and_groups(&group_plan, &known.imported_groups)
            .await;
        let (permissions, groups) = self.end("the permissions and groups", outcome).await?;
        progress.advance(1);

        progress.stage(Stage::Users, keys.len() as u64);
        for batch in keys.chunks(self.options.batch_size.max(1)) {
            let (first, last) = (batch[0].0, batch[batch.len() - 1].0);
            self.begin().await?;
            let outcome = self
                .users(
                    first,
                    last,
                    &plan,
                    &known.imported_users,
                    &permissions,
                    &groups,
                )
                .await;
            self.end(&format!("users {first} to {last}"), outcome)
                .await?;
            progress.advance(batch.len() as u64);
            if !progress.keep_going() {
                return Err(ImportError::Interrupted(Box::new(self.report.clone())));
            }
        }
        Ok(())
    }

    /// Gatehouse's users and groups, and which of them earlier imports wrote.
    async fn known(&self) -> anyhow::Result<Known> {
        let users = self
            .query("SELECT id, username, email FROM users", &[], "the users")
            .await?
            .iter()
            .map(|row| ExistingUser {
                id: row.get(0),
                username: row.get(1),
                email: row.get(2),
            })
            .collect();
        let imported_users = self
            .query(
                "SELECT user_id FROM django_imported_users",
                &[],
                "the users",
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let groups = self
            .query("SELECT id, name FROM groups", &[], "the groups")
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let imported_groups = self
            .query(
                "SELECT django_id, group_id, permissions FROM django_imported_groups",
                &[],
                "the groups",
            )
            .await?
            .iter()
            .map(|row| {
                let grants: Vec<i64> = row.get(2);
                (row.get(0), (row.get(1), grants.into_iter().collect()))
            })
            .collect();
        Ok(Known {
            users,
            imported_users,
            groups,
            imported_groups,
        })
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

    /// Permissions by (app label, codename), and the groups as `plan` says; returns the
    /// maps from Django's ids to Gatehouse's (groups in conflict left out).
    async fn permissions_and_groups(
        &mut self,
        plan: &GroupPlan,
        imported: &HashMap<i64, (i64, BTreeSet<i64>)>,
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

        let mut groups = HashMap::new();
        let mut tally = Tally::default();
        for (django_id, name, action) in &plan.actions {
            let id = match action {
                GroupAction::Keep { id } => {
                    tally.unchanged += 1;
                    *id
                }
                GroupAction::Rename { id } => {
                    tally.updated += 1;
                    self.query(
                        "UPDATE groups SET name = $2 WHERE id = $1",
                        &[id, name],
                        "a renamed group",
                    )
                    .await?;
                    *id
                }
                GroupAction::Create { id } => {
                    tally.created += 1;
                    let row = self
                        .query(
                            "INSERT INTO groups (id, name) \
                             VALUES (COALESCE($1, nextval(pg_get_serial_sequence('groups', 'id'))), $2) \
                             RETURNING id",
                            &[id, name],
                            "a new group",
                        )
                        .await?;
                    row[0].get(0)
                }
            };
            groups.insert(*django_id, id);
        }
        self.report.groups = tally;

        let grants = self
            .django
            .query(
                "SELECT group_id, permission_id FROM auth_group_permissions",
                &[],
                "the groups' permissions",
            )
            .await?;
        let mut in_django: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for row in &grants {
            if let Some(group) = groups.get(&id(row, 0)) {
                in_django
                    .entry(*group)
                    .or_default()
                    .insert(permissions[&id(row, 1)]);
            }
        }
        let owners: Vec<i64> = groups.values().copied().collect();
        let now = self
            .current_links(Links::GROUP_PERMISSIONS, &owners)
            .await?;
        let mut pairs = Vec::new();
        let (mut django_ids, mut group_ids, mut bases) = (Vec::new(), Vec::new(), Vec::new());
        for (django_id, group) in &groups {
            let django = in_django.remove(group).unwrap_or_default();
            let base = imported.get(django_id).map(|(_, base)| base);
            let merged = merge_links(&django, base, &now.get(group).cloned().unwrap_or_default());
            pairs.extend(merged.iter().map(|permission| (*group, *permission)));
            django_ids.push(*django_id);
            group_ids.push(*group);
            bases.push(format!(
                "{{{}}}",
                django
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        self.report.group_grants =
            sync_links(self.target, Links::GROUP_PERMISSIONS, &owners, pairs).await?;
        self.query(
            "INSERT INTO django_imported_groups (django_id, group_id, permissions) \
             SELECT d, g, p::int8[] FROM unnest($1::int8[], $2::int8[], $3::text[]) AS t(d, g, p) \
             ON CONFLICT (django_id) DO UPDATE \
             SET group_id = EXCLUDED.group_id, permissions = EXCLUDED.permissions",
            &[&django_ids, &group_ids, &bases],
            "the import's bookkeeping",
        )
        .await?;
        Ok((permissions, groups))
    }

    /// The links Gatehouse holds for `owners`, by owner.
    async fn current_links(
        &self,
        links: Links,
        owners: &[i64],
    ) -> anyhow::Result<HashMap<i64, BTreeSet<i64>>> {
        let mut current: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for row in self
            .query(
                &format!(
                    "SELECT {owner}, {other} FROM {table} WHERE {owner} = ANY($1)",
                    owner = links.owner,
                    other = links.other,
                    table = links.table
                ),
                &[&owners],
                links.table,
            )
            .await?
        {
            current.entry(row.get(0)).or_default().insert(row.get(1));
        }
        Ok(current)
    }

    /// The users with ids in `first..=last`, and everything that is theirs.
    async fn users(
        &mut self,
        first: i64,
        last: i64,
        plan: &UserPlan,
        imported: &HashSet<i64>,
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
        // Gatehouse's lock on each user's sessions (as a login takes it), then his row:
        // a login or a password change committing meanwhile waits, or wins.
        let known: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| imported.contains(id))
            .collect();
        self.query(
            "SELECT pg_advisory_xact_lock(id) FROM unnest($1::int8[]) AS id ORDER BY id",
            &[&known],
            "the users' locks",
        )
        .await?;
        let stored: HashMap<i64, (StoredUser, Imported)> = self
            .query(
                "SELECT u.id, u.username, u.email, u.password, u.first_name, u.last_name, \
                 u.is_active, u.is_staff, u.is_superuser, u.date_joined, u.last_login, \
                 d.imported \
                 FROM users u JOIN django_imported_users d ON d.user_id = u.id \
                 WHERE u.id = ANY($1) FOR UPDATE OF u",
                &[&known],
                "the users",
            )
            .await?
            .iter()
            .map(|row| {
                let imported: Imported = serde_json::from_value(row.get(11))
                    .context("the import's bookkeeping is unreadable")?;
                let stored = StoredUser {
                    record: user_record(row),
                    base: imported.user.clone(),
                };
                Ok((stored.record.id, (stored, imported)))
            })
            .collect::<anyhow::Result<_>>()?;

        let (mut created, mut updated, mut changed_passwords) =
            (Vec::new(), Vec::new(), Vec::new());
        let mut bases = HashMap::new();
        for user in &users {
            let email = plan.email_of(user.id).expect("filtered above");
            let digest = hex::encode(Sha256::digest(user.password.as_bytes()));
            let before = stored.get(&user.id);
            match merge(user, email, &digest, before.map(|(s, _)| s)) {
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
                UserWrite::Unchanged => {}
            }
            bases.insert(user.id, base_of(user, email, &digest));
        }
        self.report.users.created += created.len() as u64;
        self.report.users.updated += updated.len() as u64;
        self.report.users.unchanged += (users.len() - created.len() - updated.len()) as u64;
        let targets: Vec<&UserRecord> = created
            .iter()
            .chain(updated.iter().map(|(u, _)| u))
            .collect();
        self.make_room(&targets).await?;
        self.create_users(&created).await?;
        self.update_users(&updated).await?;
        if !changed_passwords.is_empty() {
            self.password_changed(&changed_passwords).await?;
        }

        let in_range: HashSet<i64> = ids.iter().copied().collect();
        let links_of = |rows: Vec<Row>, map: &HashMap<i64, i64>| {
            let mut links: HashMap<i64, BTreeSet<i64>> = HashMap::new();
            for row in rows.iter().filter(|r| in_range.contains(&id(r, 0))) {
                if let Some(link) = map.get(&id(row, 1)) {
                    links.entry(id(row, 0)).or_default().insert(*link);
                }
            }
            links
        };
        let memberships = links_of(
            self.django
                .query(
                    "SELECT user_id, group_id FROM auth_user_groups \
                     WHERE user_id BETWEEN $1::int8 AND $2::int8",
                    &range,
                    "the memberships",
                )
                .await?,
            groups,
        );
        let grants = links_of(
            self.django
                .query(
                    "SELECT user_id, permission_id FROM auth_user_user_permissions \
                     WHERE user_id BETWEEN $1::int8 AND $2::int8",
                    &range,
                    "the users' permissions",
                )
                .await?,
            permissions,
        );
        let base_links = |user: i64, pick: fn(&Imported) -> &BTreeSet<i64>| {
            stored.get(&user).map(|(_, imported)| pick(imported))
        };
        let now_groups = self.current_links(Links::USER_GROUPS, &ids).await?;
        let now_grants = self.current_links(Links::USER_PERMISSIONS, &ids).await?;
        let (mut group_pairs, mut grant_pairs) = (Vec::new(), Vec::new());
        let mut records = Vec::new();
        for user in &ids {
            let django_groups = memberships.get(user).cloned().unwrap_or_default();
            let django_grants = grants.get(user).cloned().unwrap_or_default();
            let merged = merge_links(
                &django_groups,
                base_links(*user, |i| &i.groups),
                &now_groups.get(user).cloned().unwrap_or_default(),
            );
            group_pairs.extend(merged.into_iter().map(|g| (*user, g)));
            let merged = merge_links(
                &django_grants,
                base_links(*user, |i| &i.permissions),
                &now_grants.get(user).cloned().unwrap_or_default(),
            );
            grant_pairs.extend(merged.into_iter().map(|p| (*user, p)));
            let imported = Imported {
                user: bases.remove(user).expect("one per user"),
                groups: django_groups,
                permissions: django_grants,
            };
            records.push(serde_json::to_value(imported).context("while recording the import")?);
        }
        let tallied = sync_links(self.target, Links::USER_GROUPS, &ids, group_pairs).await?;
        self.report.memberships.added += tallied.added;
        self.report.memberships.removed += tallied.removed;
        let tallied = sync_links(self.target, Links::USER_PERMISSIONS, &ids, grant_pairs).await?;
        self.report.user_grants.added += tallied.added;
        self.report.user_grants.removed += tallied.removed;
        self.query(
            "INSERT INTO django_imported_users (user_id, imported, imported_at) \
             SELECT id, imported, $3 FROM unnest($1::int8[], $2::jsonb[]) AS d(id, imported) \
             ON CONFLICT (user_id) DO UPDATE \
             SET imported = EXCLUDED.imported, imported_at = EXCLUDED.imported_at",
            &[&ids, &records, &self.started_at],
            "the import's bookkeeping",
        )
        .await?;

        if self.django.authtoken {
            self.api_keys(&range, &in_range).await?;
        }
        if self.django.token_blacklist {
            self.refresh_tokens(&range, &in_range).await?;
        }
        Ok(())
    }

    /// Moves out of the way the username or address another Django user is about to
    /// take from a user an earlier import wrote (two that swapped, one that moved and
    /// was reused): he gets `~django-user-<id>` / `django-user-<id>@example.invalid`
    /// until his own batch gives him his new ones. The plan let through only such
    /// holders: Gatehouse's own users are conflicts.
    async fn make_room(&self, targets: &[&UserRecord]) -> anyhow::Result<()> {
        let ids: Vec<i64> = targets.iter().map(|u| u.id).collect();
        let names: Vec<&str> = targets.iter().map(|u| u.username.as_str()).collect();
        let emails: Vec<&str> = targets.iter().map(|u| u.email.as_str()).collect();
        self.query(
            "UPDATE users u SET username = '~django-user-' || u.id \
             FROM unnest($1::int8[], $2::text[]) AS t(id, username) \
             WHERE u.username = t.username AND u.id <> t.id \
             AND u.id IN (SELECT user_id FROM django_imported_users)",
            &[&ids, &names],
            "the usernames that move",
        )
        .await?;
        self.query(
            "UPDATE users u SET email = 'django-user-' || u.id || '@example.invalid' \
             FROM unnest($1::int8[], $2::text[]) AS t(id, email) \
             WHERE lower(u.email) = lower(t.email) AND u.id <> t.id \
             AND u.id IN (SELECT user_id FROM django_imported_users)",
            &[&ids, &emails],
            "the addresses that move",
        )
        .await?;
        Ok(())
    }

    /// A password changed in Django since the last import is a password change here:
    /// the user's sessions, API keys and emailed links end, as `change_password` ends
    /// them. (His lock is held: see `users`.)
    async fn password_changed(&mut self, users: &[i64]) -> anyhow::Result<()> {
        let ended = self
            .query(
                "UPDATE refresh_tokens SET revoked_at = now() \
                 WHERE user_id = ANY($1) AND revoked_at IS NULL RETURNING family_id",
                &[&users],
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
            &[&users],
            "the API keys of users whose password changed",
        )
        .await?;
        self.query(
            "UPDATE one_time_tokens SET used_at = now() \
             WHERE user_id = ANY($1) AND used_at IS NULL",
            &[&users],
            "the links of users whose password changed",
        )
        .await?;
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
        // A key is imported once: one Gatehouse deleted since (a logout, a password
        // change) stays deleted.
        let written = self
            .query(
                "INSERT INTO api_tokens (key_hash, user_id, created_at) \
                 SELECT k.* FROM unnest($1::bytea[], $2::int8[], $3::timestamptz[]) \
                     AS k(key_hash, user_id, created_at) \
                 WHERE NOT EXISTS (SELECT 1 FROM django_imported_keys i \
                                   WHERE i.key_hash = k.key_hash) \
                 ON CONFLICT (key_hash) DO NOTHING RETURNING true",
                &[&digests, &users, &created],
                "the DRF tokens",
            )
            .await?;
        self.query(
            "INSERT INTO django_imported_keys (key_hash) SELECT unnest($1::bytea[]) \
             ON CONFLICT DO NOTHING",
            &[&digests],
            "the import's bookkeeping",
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
