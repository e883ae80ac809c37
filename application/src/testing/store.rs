//! The in-memory store behind every repository fake: one state under one mutex, so
//! each port method is one transaction and every port sees the others' writes as the
//! database does (a deleted user's sessions go with him, an access token's session is
//! looked up among the user's own). Tests arrange and inspect it directly, and can make
//! any port method fail.
//!
//! Text orders by code point (`str`'s `Ord`: usernames, emails, group names, permission
//! codes), which is PostgreSQL's `C` collation, the one `infrastructure`'s test
//! databases are created with; case-insensitive matches fold with `to_lowercase`, as
//! `lower()` does under a UTF-8 character type.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use domain::admin::{AdminUser, Group, NewPermission, Permission, UserListQuery};
use domain::authorization::effective_permissions;
use domain::{
    AuditEvent, AuditRecord, EmailAddress, EmailKind, NewOneTimeToken, NewRefreshToken,
    OneTimeTokenRecord, RefreshTokenRecord, RepositoryError, TokenPurpose, User, UserId,
    UserProfile, Username,
};
use uuid::Uuid;

use super::lock;
use super::repositories::{
    InMemoryAccounts, InMemoryApiKeys, InMemoryAudit, InMemoryGroups, InMemoryOneTimeTokens,
    InMemoryPermissions, InMemorySessions, InMemoryUserAdmin, InMemoryUsers,
};

/// The widths of the audit trail's client columns.
pub const MAX_IP_CHARS: usize = 45;
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// How a failing port method fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// As when the database cannot be reached in time.
    Unavailable,
    /// As a bug or a broken invariant.
    Unexpected,
}

impl Failure {
    fn error(self, method: &str) -> RepositoryError {
        let cause = format!("{method} failed as the test asked").into();
        match self {
            Failure::Unavailable => RepositoryError::Unavailable(cause),
            Failure::Unexpected => RepositoryError::Unexpected(cause),
        }
    }
}

/// The permissions table: rows by id, seeded as the migration seeds it.
#[derive(Debug, Clone)]
pub(super) struct PermissionTable {
    next_id: i64,
    pub(super) rows: BTreeMap<i64, Permission>,
}

impl Default for PermissionTable {
    fn default() -> Self {
        let mut table = Self {
            next_id: 0,
            rows: BTreeMap::new(),
        };
        for action in ["add", "change", "delete", "view"] {
            for model in ["user", "group", "permission"] {
                table.insert(NewPermission {
                    name: format!("Can {action} {model}"),
                    app_label: "auth".to_owned(),
                    codename: format!("{action}_{model}"),
                });
            }
        }
        table.insert(NewPermission {
            name: "Can view audit event".to_owned(),
            app_label: "auth".to_owned(),
            codename: "view_auditevent".to_owned(),
        });
        table
    }
}

impl PermissionTable {
    pub(super) fn insert(&mut self, new: NewPermission) -> Permission {
        self.next_id += 1;
        let row = Permission {
            id: self.next_id,
            name: new.name,
            app_label: new.app_label,
            codename: new.codename,
        };
        self.rows.insert(row.id, row.clone());
        row
    }

    pub(super) fn find(&self, app_label: &str, codename: &str) -> Option<&Permission> {
        self.rows
            .values()
            .find(|p| p.app_label == app_label && p.codename == codename)
    }

    pub(super) fn find_code(&self, code: &str) -> Option<&Permission> {
        self.rows.values().find(|p| p.code() == code)
    }

    /// The row of `app_label.codename`, created (named after its code) if need be.
    pub(super) fn ensure(&mut self, code: &str) -> Permission {
        if let Some(row) = self.find_code(code) {
            return row.clone();
        }
        let (app_label, codename) = code.split_once('.').unwrap_or(("", code));
        self.insert(NewPermission {
            name: format!("Can {}", codename.replace('_', " ")),
            app_label: app_label.to_owned(),
            codename: codename.to_owned(),
        })
    }

    pub(super) fn codes(&self) -> BTreeSet<String> {
        self.rows.values().map(Permission::code).collect()
    }
}

/// A stored one-time token: its record and the digest it is stored under.
#[derive(Debug, Clone)]
pub(super) struct StoredOneTimeToken {
    pub(super) digest: Vec<u8>,
    pub(super) record: OneTimeTokenRecord,
}

/// Runs once, right after the next `find_token`, outside the store's lock: a
/// concurrent request slipping in between a use case's read and its write.
pub(super) type TokenLookupHook = Box<dyn FnOnce(&InMemoryStore) + Send>;

/// Runs once, right after the next `get_group`, outside the store's lock: another
/// admin's write slipping in between a use case's read of a group and its write.
pub(super) type GroupLookupHook = Box<dyn FnOnce(&InMemoryStore) + Send>;

/// Runs once, right after the next `record_login`, outside the store's lock: a
/// password change slipping in between a login's check and its session.
pub(super) type LoginRecordHook = Box<dyn FnOnce(&InMemoryStore) + Send>;

#[derive(Default)]
pub(super) struct StoreState {
    pub(super) next_user_id: i64,
    pub(super) users: BTreeMap<UserId, User>,
    pub(super) user_groups: HashMap<UserId, BTreeSet<String>>,
    pub(super) user_permissions: HashMap<UserId, BTreeSet<String>>,
    pub(super) group_permissions: HashMap<String, BTreeSet<String>>,
    pub(super) next_group_id: i64,
    /// The groups table: name → id.
    pub(super) groups: BTreeMap<String, i64>,
    /// The permissions table; every code granted to a user or group has a row.
    pub(super) permissions: PermissionTable,
    /// Refresh-token rows in the order they were stored.
    pub(super) tokens: Vec<RefreshTokenRecord>,
    pub(super) next_one_time_token_id: i64,
    /// One-time token rows in the order they were stored.
    pub(super) one_time_tokens: Vec<StoredOneTimeToken>,
    /// Queued emails in the order they were queued, with their recipient.
    pub(super) outbox: Vec<(UserId, EmailKind)>,
    pub(super) after_next_token_lookup: Option<TokenLookupHook>,
    pub(super) after_next_group_lookup: Option<GroupLookupHook>,
    pub(super) after_next_login_record: Option<LoginRecordHook>,
    pub(super) next_audit_id: i64,
    /// The audit trail, in the order it was written.
    pub(super) audit: Vec<AuditRecord>,
    /// API keys: digest and owner.
    pub(super) api_keys: Vec<(Vec<u8>, UserId)>,
    /// Users an import carried over from Django, and when it started.
    pub(super) imported_from_django: HashMap<UserId, DateTime<Utc>>,
    /// Port methods (`"users.create"`…) that fail, and how.
    pub(super) failing: HashMap<&'static str, Failure>,
}

impl std::fmt::Debug for StoreState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreState")
            .field("users", &self.users)
            .field("tokens", &self.tokens)
            .field("one_time_tokens", &self.one_time_tokens)
            .field("outbox", &self.outbox)
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

impl StoreState {
    pub(super) fn delete_api_keys_where(
        &mut self,
        doomed: impl Fn(&(Vec<u8>, UserId)) -> bool,
    ) -> u64 {
        let before = self.api_keys.len();
        self.api_keys.retain(|key| !doomed(key));
        (before - self.api_keys.len()) as u64
    }

    /// Appends an event to the audit trail, in the transaction of the caller's write;
    /// the client's ip and user agent are cut to their columns' widths.
    pub(super) fn record(&mut self, mut event: AuditEvent) {
        let cut = |value: Option<String>, max: usize| value.map(|v| v.chars().take(max).collect());
        event.ip = cut(event.ip, MAX_IP_CHARS);
        event.user_agent = cut(event.user_agent, MAX_USER_AGENT_CHARS);
        self.next_audit_id += 1;
        self.audit.push(AuditRecord {
            id: self.next_audit_id,
            event,
        });
    }

    pub(super) fn profile(&self, id: UserId) -> Option<UserProfile> {
        let user = self.users.get(&id)?.clone();
        let groups = self.user_groups.get(&id).cloned().unwrap_or_default();
        let existing = self.known_permissions();
        let permissions = effective_permissions(
            user.is_superuser,
            existing.iter().map(String::as_str),
            self.user_permissions
                .get(&id)
                .into_iter()
                .flatten()
                .map(String::as_str),
            groups
                .iter()
                .filter_map(|group| self.group_permissions.get(group))
                .flatten()
                .map(String::as_str),
        );
        Some(UserProfile {
            user,
            groups: groups.into_iter().collect(),
            permissions,
        })
    }

    /// The codes of the permissions table: the seeded ones, those created, and any a
    /// test granted.
    pub(super) fn known_permissions(&self) -> BTreeSet<String> {
        self.permissions.codes()
    }

    /// The group with this id, with its permissions.
    pub(super) fn group(&self, id: i64) -> Option<Group> {
        let (name, _) = self.groups.iter().find(|(_, gid)| **gid == id)?;
        Some(self.group_named(name))
    }

    /// The named group, which must exist, with its permissions.
    pub(super) fn group_named(&self, name: &str) -> Group {
        Group {
            id: self.groups[name],
            name: name.to_owned(),
            permissions: self
                .group_permissions
                .get(name)
                .map(|codes| codes.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// The id of the named group, created if it does not exist yet.
    pub(super) fn ensure_group(&mut self, name: &str) -> i64 {
        if let Some(id) = self.groups.get(name) {
            return *id;
        }
        self.next_group_id += 1;
        self.groups.insert(name.to_owned(), self.next_group_id);
        self.next_group_id
    }

    /// The user as the admin API shows him.
    pub(super) fn admin_user(&self, id: UserId) -> Option<AdminUser> {
        let profile = self.profile(id)?;
        let user_permissions = self
            .user_permissions
            .get(&id)
            .map(|codes| codes.iter().cloned().collect())
            .unwrap_or_default();
        Some(AdminUser {
            profile,
            user_permissions,
        })
    }

    /// Whether the user passes the query's search terms and filters.
    pub(super) fn selected_by(&self, user: &User, query: &UserListQuery) -> bool {
        // The four fields joined by spaces, as the database's search expression.
        let text = format!(
            "{} {} {} {}",
            user.username.as_str(),
            user.email.as_str(),
            user.first_name,
            user.last_name
        )
        .to_lowercase();
        let found = |term: &String| text.contains(&term.to_lowercase());
        let member = |group: i64| {
            self.groups
                .iter()
                .find(|(_, id)| **id == group)
                .is_some_and(|(name, _)| {
                    self.user_groups
                        .get(&user.id)
                        .is_some_and(|groups| groups.contains(name))
                })
        };
        query.search_terms.iter().all(found)
            && query.is_active.is_none_or(|v| user.is_active == v)
            && query.is_staff.is_none_or(|v| user.is_staff == v)
            && query.is_superuser.is_none_or(|v| user.is_superuser == v)
            && query.group.is_none_or(member)
    }

    /// The names among `names` no group has, in the order given.
    pub(super) fn unknown_groups(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter(|name| !self.groups.contains_key(*name))
            .cloned()
            .collect()
    }

    /// The codes among `codes` no permission has, in the order given.
    pub(super) fn unknown_permissions(&self, codes: &[String]) -> Vec<String> {
        let known = self.known_permissions();
        codes
            .iter()
            .filter(|code| !known.contains(*code))
            .cloned()
            .collect()
    }

    pub(super) fn email_taken(&self, email: &str, except: Option<UserId>) -> bool {
        let email = email.to_lowercase();
        self.users
            .values()
            .any(|u| Some(u.id) != except && u.email.as_str().to_lowercase() == email)
    }

    pub(super) fn username_taken(&self, username: &str, except: Option<UserId>) -> bool {
        self.users
            .values()
            .any(|u| Some(u.id) != except && u.username.as_str() == username)
    }

    /// The refresh-token column is unique: random ids never collide, so a clash is a
    /// bug, `Unexpected` as in the database.
    pub(super) fn check_jti_free(&self, jti: Uuid) -> Result<(), RepositoryError> {
        match self.tokens.iter().any(|t| t.jti == jti) {
            true => Err(RepositoryError::Unexpected(
                format!("a refresh token {jti} is stored already").into(),
            )),
            false => Ok(()),
        }
    }

    /// The one-time token digest column is unique: a clash is a bug, `Unexpected` as in
    /// the database.
    pub(super) fn check_digest_free(&self, digest: &[u8]) -> Result<(), RepositoryError> {
        match self.one_time_tokens.iter().any(|t| t.digest == digest) {
            true => Err(RepositoryError::Unexpected(
                "a one-time token with this digest is stored already".into(),
            )),
            false => Ok(()),
        }
    }

    pub(super) fn token_mut(&mut self, jti: Uuid) -> Option<&mut RefreshTokenRecord> {
        self.tokens.iter_mut().find(|t| t.jti == jti)
    }

    /// Retires the user's unused tokens of the token's purpose and stores it.
    pub(super) fn store_one_time_token(&mut self, user_id: UserId, token: &NewOneTimeToken) {
        self.retire_one_time_tokens(user_id, token.purpose, token.created_at);
        self.next_one_time_token_id += 1;
        self.one_time_tokens.push(StoredOneTimeToken {
            digest: token.digest.clone(),
            record: OneTimeTokenRecord {
                id: self.next_one_time_token_id,
                user_id,
                purpose: token.purpose,
                created_at: token.created_at,
                expires_at: token.expires_at,
                used_at: None,
            },
        });
    }

    pub(super) fn retire_one_time_tokens(
        &mut self,
        user_id: UserId,
        purpose: TokenPurpose,
        at: DateTime<Utc>,
    ) {
        for token in self.one_time_tokens.iter_mut().filter(|t| {
            t.record.user_id == user_id && t.record.purpose == purpose && t.record.used_at.is_none()
        }) {
            token.record.used_at = Some(at);
        }
    }

    /// Marks one token used; `false` when it already was, has expired by `at`, or is
    /// not stored.
    pub(super) fn consume_one_time_token(&mut self, id: i64, at: DateTime<Utc>) -> bool {
        match self
            .one_time_tokens
            .iter_mut()
            .find(|t| t.record.id == id && t.record.used_at.is_none() && t.record.expires_at > at)
        {
            Some(token) => {
                token.record.used_at = Some(at);
                true
            }
            None => false,
        }
    }

    /// Queues an email to an existing user, as the outbox row's join would demand.
    pub(super) fn queue_email(
        &mut self,
        user_id: UserId,
        kind: EmailKind,
    ) -> Result<(), RepositoryError> {
        if !self.users.contains_key(&user_id) {
            return Err(RepositoryError::Unexpected(
                format!("no user {user_id} to email").into(),
            ));
        }
        self.outbox.push((user_id, kind));
        Ok(())
    }

    pub(super) fn revoke_where(
        &mut self,
        at: DateTime<Utc>,
        which: impl Fn(&RefreshTokenRecord) -> bool,
    ) -> u64 {
        let mut revoked = 0;
        for token in self
            .tokens
            .iter_mut()
            .filter(|t| t.revoked_at.is_none() && which(t))
        {
            token.revoked_at = Some(at);
            revoked += 1;
        }
        revoked
    }

    /// Revokes a family and every session opened from it, recursively.
    pub(super) fn revoke_family_tree(&mut self, at: DateTime<Utc>, family_id: Uuid) -> u64 {
        let mut ended = std::collections::HashSet::from([family_id]);
        loop {
            let children: Vec<Uuid> = self
                .tokens
                .iter()
                .filter(|t| t.parent_session.is_some_and(|p| ended.contains(&p)))
                .map(|t| t.family_id)
                .filter(|f| !ended.contains(f))
                .collect();
            if children.is_empty() {
                break;
            }
            ended.extend(children);
        }
        self.revoke_where(at, |t| ended.contains(&t.family_id))
    }

    /// Whether the user has a token in this family that is not revoked and, with `at`,
    /// not expired then.
    pub(super) fn session_live(
        &self,
        user_id: UserId,
        family_id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> bool {
        self.tokens.iter().any(|t| {
            t.user_id == user_id
                && t.family_id == family_id
                && t.revoked_at.is_none()
                && at.is_none_or(|at| t.expires_at > at)
        })
    }
}

pub(super) fn record_of(token: NewRefreshToken) -> RefreshTokenRecord {
    RefreshTokenRecord {
        jti: token.jti,
        user_id: token.user_id,
        family_id: token.family_id,
        parent_jti: token.parent_jti,
        created_at: token.created_at,
        expires_at: token.expires_at,
        session_started_at: token.session_started_at,
        revoked_at: None,
        replaced_by: None,
        last_used_at: None,
        user_agent: token.user_agent,
        ip: token.ip,
        parent_session: token.parent_session,
        from_simplejwt: false,
    }
}

/// The shared state behind `InMemoryUsers` and `InMemorySessions`, with the
/// helpers tests use to arrange and inspect it.
#[derive(Debug, Clone, Default)]
pub struct InMemoryStore(Arc<Mutex<StoreState>>);

impl InMemoryStore {
    pub fn users(&self) -> InMemoryUsers {
        InMemoryUsers(self.clone())
    }

    pub fn sessions(&self) -> InMemorySessions {
        InMemorySessions(self.clone())
    }

    pub fn api_keys_port(&self) -> InMemoryApiKeys {
        InMemoryApiKeys(self.clone())
    }

    pub fn one_time_tokens(&self) -> InMemoryOneTimeTokens {
        InMemoryOneTimeTokens(self.clone())
    }

    pub fn accounts(&self) -> InMemoryAccounts {
        InMemoryAccounts(self.clone())
    }

    pub fn user_admin(&self) -> InMemoryUserAdmin {
        InMemoryUserAdmin(self.clone())
    }

    pub fn groups(&self) -> InMemoryGroups {
        InMemoryGroups(self.clone())
    }

    pub fn permissions(&self) -> InMemoryPermissions {
        InMemoryPermissions(self.clone())
    }

    pub fn audit(&self) -> InMemoryAudit {
        InMemoryAudit(self.clone())
    }

    /// From now on `method` (`"sessions.rotate"`, `"audit.record"`…) fails as
    /// `failure` says, changing nothing, until `heal`.
    pub fn fail_on(&self, method: &'static str, failure: Failure) {
        self.state().failing.insert(method, failure);
    }

    /// Every method answers again.
    pub fn heal(&self) {
        self.state().failing.clear();
    }

    /// The state for one call of `method`, or the failure a test asked of it.
    pub(super) fn call(
        &self,
        method: &'static str,
    ) -> Result<MutexGuard<'_, StoreState>, RepositoryError> {
        let state = self.state();
        match state.failing.get(method) {
            Some(failure) => Err(failure.error(method)),
            None => Ok(state),
        }
    }

    /// Every audit event written so far, oldest first.
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.state()
            .audit
            .iter()
            .map(|record| record.event.clone())
            .collect()
    }

    /// Every audit record written so far, oldest first.
    pub fn audit_records(&self) -> Vec<AuditRecord> {
        self.state().audit.clone()
    }

    /// Writes an event straight to the trail, as an earlier request would have.
    pub fn insert_audit_event(&self, event: AuditEvent) -> AuditRecord {
        let mut state = self.state();
        state.record(event);
        state.audit.last().expect("just recorded").clone()
    }

    pub(super) fn state(&self) -> MutexGuard<'_, StoreState> {
        lock(&self.0)
    }

    /// Stores an active, unprivileged user with the given password hash.
    pub fn insert_user(
        &self,
        username: &str,
        email: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> User {
        let mut state = self.state();
        state.next_user_id += 1;
        let user = User {
            id: UserId(state.next_user_id),
            username: Username::parse(username).expect("a valid test username"),
            email: EmailAddress::parse(email).expect("a valid test email"),
            password_hash: password_hash.to_owned(),
            first_name: String::new(),
            last_name: String::new(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: now,
            last_login: None,
            password_changed_at: now,
            pending_activation: false,
        };
        state.users.insert(user.id, user.clone());
        user
    }

    pub fn user(&self, id: UserId) -> Option<User> {
        self.state().users.get(&id).cloned()
    }

    pub fn user_by_username(&self, username: &str) -> Option<User> {
        self.state()
            .users
            .values()
            .find(|u| u.username.as_str() == username)
            .cloned()
    }

    pub fn user_count(&self) -> usize {
        self.state().users.len()
    }

    /// Changes a stored user in place, as an admin or another request would.
    pub fn update_user(&self, id: UserId, change: impl FnOnce(&mut User)) {
        let mut state = self.state();
        change(state.users.get_mut(&id).expect("the user exists"));
    }

    /// Adds the user to the group, which is created if need be.
    pub fn add_to_group(&self, id: UserId, group: &str) {
        let mut state = self.state();
        state.ensure_group(group);
        state
            .user_groups
            .entry(id)
            .or_default()
            .insert(group.to_owned());
    }

    /// Grants the group a permission; the group and the permission are created if
    /// need be.
    pub fn grant_group_permission(&self, group: &str, permission: &str) {
        let mut state = self.state();
        state.ensure_group(group);
        state.permissions.ensure(permission);
        state
            .group_permissions
            .entry(group.to_owned())
            .or_default()
            .insert(permission.to_owned());
    }

    /// Creates a group with no permissions (or finds it) and gives its id.
    pub fn create_group(&self, name: &str) -> i64 {
        self.state().ensure_group(name)
    }

    pub fn group_id(&self, name: &str) -> Option<i64> {
        self.state().groups.get(name).copied()
    }

    /// Creates a custom permission (`app_label.codename`), or finds it, and gives its
    /// row.
    pub fn create_permission(&self, code: &str) -> Permission {
        self.state().permissions.ensure(code)
    }

    /// The row of the permission `app_label.codename`, if it exists.
    pub fn permission(&self, code: &str) -> Option<Permission> {
        self.state().permissions.find_code(code).cloned()
    }

    /// Every permission's code, sorted.
    pub fn permission_codes(&self) -> Vec<String> {
        self.state().known_permissions().into_iter().collect()
    }

    /// The stored group with this id, with its permissions.
    pub fn group(&self, id: i64) -> Option<Group> {
        self.state().group(id)
    }

    /// Every group's name, sorted.
    pub fn group_names(&self) -> Vec<String> {
        self.state().groups.keys().cloned().collect()
    }

    /// The permissions granted to the named group, sorted.
    pub fn permissions_of_group(&self, name: &str) -> Vec<String> {
        self.state()
            .group_permissions
            .get(name)
            .map(|codes| codes.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The names of the user's groups, sorted.
    pub fn groups_of(&self, id: UserId) -> Vec<String> {
        self.state()
            .user_groups
            .get(&id)
            .map(|groups| groups.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The permissions granted to the user directly, sorted.
    pub fn direct_permissions_of(&self, id: UserId) -> Vec<String> {
        self.state()
            .user_permissions
            .get(&id)
            .map(|codes| codes.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Grants the user a permission directly; the permission is created if need be.
    pub fn grant_user_permission(&self, id: UserId, permission: &str) {
        let mut state = self.state();
        state.permissions.ensure(permission);
        state
            .user_permissions
            .entry(id)
            .or_default()
            .insert(permission.to_owned());
    }

    /// Marks a user as carried over from Django by an import that started `at`.
    pub fn mark_imported(&self, id: UserId, at: DateTime<Utc>) {
        self.state().imported_from_django.insert(id, at);
    }

    /// Stores a refresh token as it is, as `gatehouse import-django` stores the
    /// outstanding tokens of SimpleJWT.
    pub fn insert_refresh_token(&self, record: RefreshTokenRecord) {
        self.state().tokens.push(record);
    }

    pub fn token(&self, jti: Uuid) -> Option<RefreshTokenRecord> {
        self.state().tokens.iter().find(|t| t.jti == jti).cloned()
    }

    /// Every stored refresh token of the user, in the order they were issued.
    pub fn tokens_of(&self, id: UserId) -> Vec<RefreshTokenRecord> {
        self.state()
            .tokens
            .iter()
            .filter(|t| t.user_id == id)
            .cloned()
            .collect()
    }

    /// Every stored one-time token of the user, in the order they were issued.
    pub fn one_time_tokens_of(&self, id: UserId) -> Vec<OneTimeTokenRecord> {
        self.state()
            .one_time_tokens
            .iter()
            .filter(|t| t.record.user_id == id)
            .map(|t| t.record.clone())
            .collect()
    }

    /// The one-time token stored under this digest.
    pub fn one_time_token(&self, digest: &[u8]) -> Option<OneTimeTokenRecord> {
        self.state()
            .one_time_tokens
            .iter()
            .find(|t| t.digest == digest)
            .map(|t| t.record.clone())
    }

    /// Stores a one-time token as `issue` does, without queueing its email.
    pub fn insert_one_time_token(&self, user_id: UserId, token: &NewOneTimeToken) {
        self.state().store_one_time_token(user_id, token);
    }

    /// Every queued email, with its recipient, in the order they were queued.
    pub fn outbox(&self) -> Vec<(UserId, EmailKind)> {
        self.state().outbox.clone()
    }

    /// The emails queued to the user, in order.
    pub fn sent_to(&self, id: UserId) -> Vec<EmailKind> {
        self.state()
            .outbox
            .iter()
            .filter(|(to, _)| *to == id)
            .map(|(_, kind)| kind.clone())
            .collect()
    }

    /// The token in the last activation or reset link queued to the user.
    pub fn last_link_token(&self, id: UserId) -> Option<String> {
        self.sent_to(id)
            .into_iter()
            .rev()
            .find_map(|kind| match kind {
                EmailKind::Activation { token } | EmailKind::PasswordReset { token } => Some(token),
                EmailKind::ActivationConfirmed | EmailKind::PasswordChanged => None,
            })
    }

    /// Runs `hook` once, right after the next one-time token lookup.
    pub fn after_next_token_lookup(&self, hook: impl FnOnce(&InMemoryStore) + Send + 'static) {
        self.state().after_next_token_lookup = Some(Box::new(hook));
    }

    /// Runs `hook` once, right after the next `get_group`.
    pub fn after_next_group_lookup(&self, hook: impl FnOnce(&InMemoryStore) + Send + 'static) {
        self.state().after_next_group_lookup = Some(Box::new(hook));
    }

    /// Runs `hook` once, right after the next `record_login`.
    pub fn after_next_login_record(&self, hook: impl FnOnce(&InMemoryStore) + Send + 'static) {
        self.state().after_next_login_record = Some(Box::new(hook));
    }

    /// Replaces the named group's permissions, as another admin's write would; the
    /// group and the permissions must exist.
    pub fn set_group_permissions(&self, group: &str, permissions: &[&str]) {
        let mut state = self.state();
        assert!(state.groups.contains_key(group), "no group {group:?}");
        let codes: BTreeSet<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
        assert!(
            codes.is_subset(&state.known_permissions()),
            "unknown permissions in {codes:?}"
        );
        state.group_permissions.insert(group.to_owned(), codes);
    }

    /// Marks the one-time token stored under `digest` used, as a concurrent request
    /// consuming it would.
    pub fn use_one_time_token(&self, digest: &[u8], at: DateTime<Utc>) {
        let mut state = self.state();
        let token = state
            .one_time_tokens
            .iter_mut()
            .find(|t| t.digest == digest)
            .expect("the token is stored");
        token.record.used_at = Some(at);
    }

    /// Every stored refresh token of one session, in the order they were issued.
    pub fn family(&self, family_id: Uuid) -> Vec<RefreshTokenRecord> {
        self.state()
            .tokens
            .iter()
            .filter(|t| t.family_id == family_id)
            .cloned()
            .collect()
    }

    /// Every stored API key: its digest and its owner, in the order they were stored.
    pub fn api_keys(&self) -> Vec<(Vec<u8>, UserId)> {
        self.state().api_keys.clone()
    }

    /// The digests of the user's stored API keys, in the order they were stored.
    pub fn api_keys_of(&self, id: UserId) -> Vec<Vec<u8>> {
        self.state()
            .api_keys
            .iter()
            .filter(|(_, owner)| *owner == id)
            .map(|(digest, _)| digest.clone())
            .collect()
    }
}
