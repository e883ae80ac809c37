//! In-memory fakes of the domain ports, and a builder that wires them into a
//! `Gatehouse`, for the use-case tests.
#![allow(
    dead_code,
    reason = "every test file compiles this module and uses a different part of it"
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use application::use_cases::login::{LoginCommand, LoginIdentifier};
use application::use_cases::refresh::{RefreshCommand, RefreshError, Refreshed};
use application::{Adapters, ClientInfo, Deps, Gatehouse, Settings, TokenPair};
use chrono::{DateTime, Duration, Utc};
use domain::admin::{
    AdminUser, Group, NewPermission, Page, Permission, UserDraft, UserListQuery, UserOrder,
    UserPatch,
};
use domain::ports::{
    AccountRepository, AdminRepository, AdminWriteError, AuditLog, AuthState, Clock,
    CreateUserError, HashError, PasswordChange, PasswordCheck, PasswordHasher, Rehash,
    SessionRepository, SessionRevocation, TokenCodec, TokenGenerator, UpdateUserError,
    UserRepository,
};
use domain::{
    AuditEvent, AuditKind, AuditQuery, AuditRecord, Claims, EmailAddress, EmailKind,
    NewOneTimeToken, NewRefreshToken, NewUser, OneTimeTokenRecord, Password, ProfileChanges,
    RefreshTokenRecord, RepositoryError, RotateOutcome, SessionSummary, TokenError, TokenPurpose,
    User, UserId, UserProfile, Username,
};
use uuid::Uuid;

/// A password every validator accepts.
pub const PASSWORD: &str = "correct horse battery staple";

/// The permissions the migration seeds: what a superuser holds (and, in a store
/// where no permission was created or deleted, every permission there is).
pub const SEEDED_PERMISSIONS: [&str; 13] = [
    "auth.add_group",
    "auth.add_permission",
    "auth.add_user",
    "auth.change_group",
    "auth.change_permission",
    "auth.change_user",
    "auth.delete_group",
    "auth.delete_permission",
    "auth.delete_user",
    "auth.view_auditevent",
    "auth.view_group",
    "auth.view_permission",
    "auth.view_user",
];

/// The widths of the audit trail's client columns.
pub const MAX_IP_CHARS: usize = 45;
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// The permissions table: rows by id, seeded as the migration seeds it.
#[derive(Debug, Clone)]
struct PermissionTable {
    next_id: i64,
    rows: BTreeMap<i64, Permission>,
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
    fn insert(&mut self, new: NewPermission) -> Permission {
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

    fn find(&self, app_label: &str, codename: &str) -> Option<&Permission> {
        self.rows
            .values()
            .find(|p| p.app_label == app_label && p.codename == codename)
    }

    fn find_code(&self, code: &str) -> Option<&Permission> {
        self.rows.values().find(|p| p.code() == code)
    }

    /// The row of `app_label.codename`, created (named after its code) if need be.
    fn ensure(&mut self, code: &str) -> Permission {
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

    fn codes(&self) -> BTreeSet<String> {
        self.rows.values().map(Permission::code).collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// Clock

/// A clock that moves only when a test moves it.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl FakeClock {
    /// Starts on a whole second, so `iat`/`exp` round-trip exactly.
    pub fn new() -> Self {
        let start = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .expect("a valid start time")
            .with_timezone(&Utc);
        Self(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.0) += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *lock(&self.0) = to;
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Users, sessions and accounts: one store, three port handles, so that
// `auth_state`, `delete` and the account changes see the sessions, the one-time
// tokens and the outbox as the database does.

/// A stored one-time token: its record and the digest it is stored under.
#[derive(Debug, Clone)]
struct StoredOneTimeToken {
    digest: Vec<u8>,
    record: OneTimeTokenRecord,
}

/// Runs once, right after the next `find_token`, outside the store's lock: a
/// concurrent request slipping in between a use case's read and its write.
type TokenLookupHook = Box<dyn FnOnce(&InMemoryStore) + Send>;

/// Runs once, right after the next `get_group`, outside the store's lock: another
/// admin's write slipping in between a use case's read of a group and its write.
type GroupLookupHook = Box<dyn FnOnce(&InMemoryStore) + Send>;

/// Runs once, right after the next `record_login`, outside the store's lock: a
/// password change slipping in between a login's check and its session.
type LoginRecordHook = Box<dyn FnOnce(&InMemoryStore) + Send>;

#[derive(Default)]
struct StoreState {
    next_user_id: i64,
    users: BTreeMap<UserId, User>,
    user_groups: HashMap<UserId, BTreeSet<String>>,
    user_permissions: HashMap<UserId, BTreeSet<String>>,
    group_permissions: HashMap<String, BTreeSet<String>>,
    next_group_id: i64,
    /// The groups table: name → id.
    groups: BTreeMap<String, i64>,
    /// The permissions table; every code granted to a user or group has a row.
    permissions: PermissionTable,
    /// Refresh-token rows in the order they were stored.
    tokens: Vec<RefreshTokenRecord>,
    next_one_time_token_id: i64,
    /// One-time token rows in the order they were stored.
    one_time_tokens: Vec<StoredOneTimeToken>,
    /// Queued emails in the order they were queued, with their recipient.
    outbox: Vec<(UserId, EmailKind)>,
    after_next_token_lookup: Option<TokenLookupHook>,
    after_next_group_lookup: Option<GroupLookupHook>,
    after_next_login_record: Option<LoginRecordHook>,
    next_audit_id: i64,
    /// The audit trail, in the order it was written.
    audit: Vec<AuditRecord>,
    /// API keys: digest and owner.
    api_keys: Vec<(Vec<u8>, UserId)>,
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
    fn delete_api_keys_where(&mut self, doomed: impl Fn(&(Vec<u8>, UserId)) -> bool) -> u64 {
        let before = self.api_keys.len();
        self.api_keys.retain(|key| !doomed(key));
        (before - self.api_keys.len()) as u64
    }

    /// Appends an event to the audit trail, in the transaction of the caller's write;
    /// the client's ip and user agent are cut to their columns' widths.
    fn record(&mut self, mut event: AuditEvent) {
        let cut = |value: Option<String>, max: usize| value.map(|v| v.chars().take(max).collect());
        event.ip = cut(event.ip, MAX_IP_CHARS);
        event.user_agent = cut(event.user_agent, MAX_USER_AGENT_CHARS);
        self.next_audit_id += 1;
        self.audit.push(AuditRecord {
            id: self.next_audit_id,
            event,
        });
    }

    fn profile(&self, id: UserId) -> Option<UserProfile> {
        let user = self.users.get(&id)?.clone();
        let groups = self.user_groups.get(&id).cloned().unwrap_or_default();
        let permissions: BTreeSet<String> = if user.is_superuser {
            self.known_permissions()
        } else {
            let direct = self.user_permissions.get(&id).into_iter().flatten();
            let from_groups = groups
                .iter()
                .filter_map(|group| self.group_permissions.get(group))
                .flatten();
            direct.chain(from_groups).cloned().collect()
        };
        Some(UserProfile {
            user,
            groups: groups.into_iter().collect(),
            permissions: permissions.into_iter().collect(),
        })
    }

    /// The codes of the permissions table: the seeded ones, those created, and any a
    /// test granted.
    fn known_permissions(&self) -> BTreeSet<String> {
        self.permissions.codes()
    }

    /// The group with this id, with its permissions.
    fn group(&self, id: i64) -> Option<Group> {
        let (name, _) = self.groups.iter().find(|(_, gid)| **gid == id)?;
        Some(self.group_named(name))
    }

    /// The named group, which must exist, with its permissions.
    fn group_named(&self, name: &str) -> Group {
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
    fn ensure_group(&mut self, name: &str) -> i64 {
        if let Some(id) = self.groups.get(name) {
            return *id;
        }
        self.next_group_id += 1;
        self.groups.insert(name.to_owned(), self.next_group_id);
        self.next_group_id
    }

    /// The user as the admin API shows him.
    fn admin_user(&self, id: UserId) -> Option<AdminUser> {
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
    fn selected_by(&self, user: &User, query: &UserListQuery) -> bool {
        let fields = [
            user.username.as_str().to_lowercase(),
            user.email.as_str().to_lowercase(),
            user.first_name.to_lowercase(),
            user.last_name.to_lowercase(),
        ];
        let found = |term: &String| {
            let term = term.to_lowercase();
            fields.iter().any(|field| field.contains(&term))
        };
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
    fn unknown_groups(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter(|name| !self.groups.contains_key(*name))
            .cloned()
            .collect()
    }

    /// The codes among `codes` no permission has, in the order given.
    fn unknown_permissions(&self, codes: &[String]) -> Vec<String> {
        let known = self.known_permissions();
        codes
            .iter()
            .filter(|code| !known.contains(*code))
            .cloned()
            .collect()
    }

    /// The checks a write of these groups and permissions must pass, as the foreign
    /// keys would make them.
    fn check_relations(
        &self,
        groups: Option<&[String]>,
        permissions: Option<&[String]>,
    ) -> Result<(), AdminWriteError> {
        if let Some(names) = groups {
            let unknown = self.unknown_groups(names);
            if !unknown.is_empty() {
                return Err(AdminWriteError::UnknownGroups(unknown));
            }
        }
        if let Some(codes) = permissions {
            let unknown = self.unknown_permissions(codes);
            if !unknown.is_empty() {
                return Err(AdminWriteError::UnknownPermissions(unknown));
            }
        }
        Ok(())
    }

    fn email_taken(&self, email: &str, except: Option<UserId>) -> bool {
        let email = email.to_lowercase();
        self.users
            .values()
            .any(|u| Some(u.id) != except && u.email.as_str().to_lowercase() == email)
    }

    fn username_taken(&self, username: &str, except: Option<UserId>) -> bool {
        self.users
            .values()
            .any(|u| Some(u.id) != except && u.username.as_str() == username)
    }

    fn token_mut(&mut self, jti: Uuid) -> Option<&mut RefreshTokenRecord> {
        self.tokens.iter_mut().find(|t| t.jti == jti)
    }

    /// Retires the user's unused tokens of the token's purpose and stores it.
    fn store_one_time_token(&mut self, user_id: UserId, token: &NewOneTimeToken) {
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

    fn retire_one_time_tokens(
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

    /// Marks one token used; `false` when it already was, or is not stored.
    fn consume_one_time_token(&mut self, id: i64, at: DateTime<Utc>) -> bool {
        match self
            .one_time_tokens
            .iter_mut()
            .find(|t| t.record.id == id && t.record.used_at.is_none())
        {
            Some(token) => {
                token.record.used_at = Some(at);
                true
            }
            None => false,
        }
    }

    /// Queues an email to an existing user, as the outbox row's join would demand.
    fn queue_email(&mut self, user_id: UserId, kind: EmailKind) -> Result<(), RepositoryError> {
        if !self.users.contains_key(&user_id) {
            return Err(RepositoryError::Unexpected(
                format!("no user {user_id} to email").into(),
            ));
        }
        self.outbox.push((user_id, kind));
        Ok(())
    }

    fn revoke_where(
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
}

/// The email that carries a token's link.
pub fn link_email(token: &NewOneTimeToken) -> EmailKind {
    match token.purpose {
        TokenPurpose::Reset => EmailKind::PasswordReset {
            token: token.raw.clone(),
        },
        TokenPurpose::Activation => EmailKind::Activation {
            token: token.raw.clone(),
        },
    }
}

fn record_of(token: NewRefreshToken) -> RefreshTokenRecord {
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

    pub fn accounts(&self) -> InMemoryAccounts {
        InMemoryAccounts(self.clone())
    }

    pub fn admin(&self) -> InMemoryAdmin {
        InMemoryAdmin(self.clone())
    }

    pub fn audit(&self) -> InMemoryAudit {
        InMemoryAudit(self.clone())
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

    fn state(&self) -> MutexGuard<'_, StoreState> {
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

    /// Stores a one-time token as `issue_token` does, without queueing its email.
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

/// `UserRepository` over the in-memory store.
#[derive(Debug, Clone)]
pub struct InMemoryUsers(InMemoryStore);

impl UserRepository for InMemoryUsers {
    async fn create(
        &self,
        user: NewUser,
        activation: Option<NewOneTimeToken>,
        audit: AuditEvent,
    ) -> Result<UserProfile, CreateUserError> {
        let mut state = self.0.state();
        if state.email_taken(user.email.as_str(), None) {
            return Err(CreateUserError::DuplicateEmail);
        }
        if state.username_taken(user.username.as_str(), None) {
            return Err(CreateUserError::DuplicateUsername);
        }
        state.next_user_id += 1;
        let id = UserId(state.next_user_id);
        state.users.insert(
            id,
            User {
                id,
                username: user.username,
                email: user.email,
                password_hash: user.password_hash,
                first_name: user.first_name,
                last_name: user.last_name,
                is_active: user.is_active,
                is_staff: user.is_staff,
                is_superuser: user.is_superuser,
                date_joined: user.now,
                last_login: None,
                password_changed_at: user.now,
                pending_activation: activation.is_some(),
            },
        );
        if let Some(token) = activation {
            state.store_one_time_token(id, &token);
            state.queue_email(id, link_email(&token))?;
        }
        state.record(audit.subject(id));
        Ok(state.profile(id).expect("the user was just stored"))
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        Ok(self.0.user(id))
    }

    async fn by_api_key(&self, digest: Vec<u8>) -> Result<Option<User>, RepositoryError> {
        let state = self.0.state();
        let owner = state.api_keys.iter().find(|(d, _)| *d == digest);
        Ok(owner.and_then(|(_, user)| state.users.get(user).cloned()))
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, RepositoryError> {
        Ok(self.0.user_by_username(username))
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, RepositoryError> {
        let email = email.to_lowercase();
        Ok(self
            .0
            .state()
            .users
            .values()
            .find(|u| u.email.as_str().to_lowercase() == email)
            .cloned())
    }

    async fn profile(&self, id: UserId) -> Result<Option<UserProfile>, RepositoryError> {
        Ok(self.0.state().profile(id))
    }

    async fn auth_state(
        &self,
        id: UserId,
        sid: Uuid,
    ) -> Result<Option<AuthState>, RepositoryError> {
        let state = self.0.state();
        Ok(state.users.get(&id).map(|user| AuthState {
            user: user.clone(),
            session_live: state
                .tokens
                .iter()
                .any(|t| t.family_id == sid && t.revoked_at.is_none()),
        }))
    }

    async fn update_profile(
        &self,
        id: UserId,
        changes: ProfileChanges,
        audit: AuditEvent,
    ) -> Result<UserProfile, UpdateUserError> {
        let mut state = self.0.state();
        if !state.users.contains_key(&id) {
            return Err(UpdateUserError::NotFound);
        }
        if let Some(username) = &changes.username
            && state.username_taken(username.as_str(), Some(id))
        {
            return Err(UpdateUserError::DuplicateUsername);
        }
        let user = state.users.get_mut(&id).expect("checked above");
        if let Some(username) = changes.username {
            user.username = username;
        }
        if let Some(first_name) = changes.first_name {
            user.first_name = first_name;
        }
        if let Some(last_name) = changes.last_name {
            user.last_name = last_name;
        }
        state.record(audit);
        Ok(state.profile(id).expect("checked above"))
    }

    async fn record_login(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        rehash: Option<Rehash>,
    ) -> Result<(), RepositoryError> {
        let hook = {
            let mut state = self.0.state();
            if let Some(user) = state.users.get_mut(&id) {
                user.last_login = Some(at);
                if let Some(rehash) = rehash
                    && user.password_hash == rehash.verified
                {
                    user.password_hash = rehash.new;
                }
            }
            state.after_next_login_record.take()
        };
        if let Some(hook) = hook {
            hook(&self.0);
        }
        Ok(())
    }

    async fn delete(&self, id: UserId, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.0.state();
        let Some(deleted) = state.users.remove(&id) else {
            return Ok(false);
        };
        state.user_groups.remove(&id);
        state.user_permissions.remove(&id);
        state.tokens.retain(|t| t.user_id != id);
        state.one_time_tokens.retain(|t| t.record.user_id != id);
        state.record(audit.detail("username", deleted.username.as_str()));
        Ok(true)
    }
}

/// `AccountRepository` over the in-memory store; each method changes the state and
/// queues its email under the one mutex, as one transaction.
#[derive(Debug, Clone)]
pub struct InMemoryAccounts(InMemoryStore);

impl AccountRepository for InMemoryAccounts {
    async fn issue_token(
        &self,
        user_id: UserId,
        token: NewOneTimeToken,
        cooldown: Duration,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.state();
        if !state.users.contains_key(&user_id) {
            return Err(RepositoryError::Unexpected(
                format!("no user {user_id} to issue a token to").into(),
            ));
        }
        let recent = state.one_time_tokens.iter().any(|stored| {
            stored.record.user_id == user_id
                && stored.record.purpose == token.purpose
                && stored.record.created_at > token.created_at - cooldown
        });
        if recent {
            return Ok(false);
        }
        state.store_one_time_token(user_id, &token);
        state.queue_email(user_id, link_email(&token))?;
        Ok(true)
    }

    async fn find_token(
        &self,
        digest: &[u8],
    ) -> Result<Option<OneTimeTokenRecord>, RepositoryError> {
        let (found, hook) = {
            let mut state = self.0.state();
            let found = state
                .one_time_tokens
                .iter()
                .find(|t| t.digest == digest)
                .map(|t| t.record.clone());
            (found, state.after_next_token_lookup.take())
        };
        if let Some(hook) = hook {
            hook(&self.0);
        }
        Ok(found)
    }

    async fn activate(
        &self,
        token_id: i64,
        user_id: UserId,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.state();
        if !state.users.contains_key(&user_id) {
            return Err(RepositoryError::Unexpected(
                format!("no user {user_id} to activate").into(),
            ));
        }
        if !state.users[&user_id].pending_activation {
            return Ok(false);
        }
        if !state.consume_one_time_token(token_id, at) {
            return Ok(false);
        }
        let user = state.users.get_mut(&user_id).expect("checked above");
        user.is_active = true;
        user.pending_activation = false;
        state.queue_email(user_id, EmailKind::ActivationConfirmed)?;
        state.record(audit);
        Ok(true)
    }

    async fn set_password(&self, change: PasswordChange) -> Result<bool, RepositoryError> {
        let mut state = self.0.state();
        let user_id = change.user_id;
        if !state.users.contains_key(&user_id) {
            return Err(RepositoryError::Unexpected(
                format!("no user {user_id} to change the password of").into(),
            ));
        }
        if change
            .replaces_hash
            .as_ref()
            .is_some_and(|old| *old != state.users[&user_id].password_hash)
        {
            return Ok(false);
        }
        if let Some(token_id) = change.consume_token
            && !state.consume_one_time_token(token_id, change.at)
        {
            return Ok(false);
        }
        let user = state.users.get_mut(&user_id).expect("checked above");
        user.password_hash = change.password_hash;
        user.password_changed_at = change.at;
        state.retire_one_time_tokens(user_id, TokenPurpose::Reset, change.at);
        match change.revoke {
            SessionRevocation::None => 0,
            SessionRevocation::AllBut(keep) => {
                state.revoke_where(change.at, |t| t.user_id == user_id && t.family_id != keep)
            }
            SessionRevocation::All => state.revoke_where(change.at, |t| t.user_id == user_id),
        };
        state.queue_email(user_id, EmailKind::PasswordChanged)?;
        state.delete_api_keys_where(|(_, owner)| *owner == user_id);
        state.record(change.audit);
        Ok(true)
    }
}

/// `AdminRepository` over the in-memory store; every write runs under the one mutex
/// and checks everything before changing anything, as one transaction.
#[derive(Debug, Clone)]
pub struct InMemoryAdmin(InMemoryStore);

impl AdminRepository for InMemoryAdmin {
    async fn list_users(&self, query: &UserListQuery) -> Result<Page<AdminUser>, RepositoryError> {
        let state = self.0.state();
        let mut selected: Vec<&User> = state
            .users
            .values()
            .filter(|user| state.selected_by(user, query))
            .collect();
        selected.sort_by(|a, b| {
            query
                .ordering
                .iter()
                .map(|(key, descending)| {
                    let order = match key {
                        UserOrder::Id => a.id.cmp(&b.id),
                        UserOrder::Username => a.username.as_str().cmp(b.username.as_str()),
                        UserOrder::Email => a.email.as_str().cmp(b.email.as_str()),
                        UserOrder::DateJoined => a.date_joined.cmp(&b.date_joined),
                        // `None` first ascending, last descending: NULLS FIRST / LAST.
                        UserOrder::LastLogin => a.last_login.cmp(&b.last_login),
                    };
                    if *descending { order.reverse() } else { order }
                })
                .find(|order| order.is_ne())
                .unwrap_or_else(|| a.id.cmp(&b.id))
        });
        let count = i64::try_from(selected.len()).expect("a small store");
        let offset = usize::try_from(query.offset.max(0)).expect("a small offset");
        let limit = usize::try_from(query.limit.max(0)).expect("a small limit");
        let items = selected
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|user| state.admin_user(user.id).expect("listed users exist"))
            .collect();
        Ok(Page { count, items })
    }

    async fn get_user(&self, id: UserId) -> Result<Option<AdminUser>, RepositoryError> {
        Ok(self.0.state().admin_user(id))
    }

    async fn permissions_of_groups(
        &self,
        groups: &[String],
    ) -> Result<Vec<String>, RepositoryError> {
        let state = self.0.state();
        let union: BTreeSet<String> = groups
            .iter()
            .filter_map(|name| state.group_permissions.get(name))
            .flatten()
            .cloned()
            .collect();
        Ok(union.into_iter().collect())
    }

    async fn create_user(
        &self,
        draft: UserDraft,
        audit: AuditEvent,
    ) -> Result<AdminUser, AdminWriteError> {
        let mut state = self.0.state();
        if state.email_taken(draft.email.as_str(), None) {
            return Err(AdminWriteError::DuplicateEmail);
        }
        if state.username_taken(draft.username.as_str(), None) {
            return Err(AdminWriteError::DuplicateUsername);
        }
        state.check_relations(Some(&draft.groups[..]), Some(&draft.user_permissions[..]))?;
        state.next_user_id += 1;
        let id = UserId(state.next_user_id);
        let password_hash = draft
            .password_hash
            .unwrap_or_else(|| format!("!{}", Uuid::new_v4().simple()));
        state.users.insert(
            id,
            User {
                id,
                username: draft.username,
                email: draft.email,
                password_hash,
                first_name: draft.first_name,
                last_name: draft.last_name,
                is_active: draft.is_active,
                is_staff: draft.is_staff,
                is_superuser: draft.is_superuser,
                date_joined: draft.now,
                last_login: None,
                password_changed_at: draft.now,
                pending_activation: false,
            },
        );
        state
            .user_groups
            .insert(id, draft.groups.into_iter().collect());
        state
            .user_permissions
            .insert(id, draft.user_permissions.into_iter().collect());
        state.record(audit.subject(id));
        Ok(state.admin_user(id).expect("the user was just stored"))
    }

    async fn update_user(
        &self,
        id: UserId,
        patch: UserPatch,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<AdminUser, AdminWriteError> {
        let mut state = self.0.state();
        if !state.users.contains_key(&id) {
            return Err(AdminWriteError::NotFound);
        }
        if let Some(email) = &patch.email
            && state.email_taken(email.as_str(), Some(id))
        {
            return Err(AdminWriteError::DuplicateEmail);
        }
        if let Some(username) = &patch.username
            && state.username_taken(username.as_str(), Some(id))
        {
            return Err(AdminWriteError::DuplicateUsername);
        }
        state.check_relations(patch.groups.as_deref(), patch.user_permissions.as_deref())?;
        let user = state.users.get_mut(&id).expect("checked above");
        if let Some(username) = patch.username {
            user.username = username;
        }
        if let Some(email) = patch.email {
            user.email = email;
        }
        if let Some(first_name) = patch.first_name {
            user.first_name = first_name;
        }
        if let Some(last_name) = patch.last_name {
            user.last_name = last_name;
        }
        if let Some(is_staff) = patch.is_staff {
            user.is_staff = is_staff;
        }
        if let Some(is_superuser) = patch.is_superuser {
            user.is_superuser = is_superuser;
        }
        if let Some(is_active) = patch.is_active {
            // An admin's word on activity settles any pending activation.
            user.is_active = is_active;
            user.pending_activation = false;
            state.retire_one_time_tokens(id, TokenPurpose::Activation, at);
            if !is_active {
                state.revoke_where(at, |t| t.user_id == id);
                state.delete_api_keys_where(|(_, owner)| *owner == id);
            }
        }
        if let Some(groups) = patch.groups {
            state.user_groups.insert(id, groups.into_iter().collect());
        }
        if let Some(codes) = patch.user_permissions {
            state
                .user_permissions
                .insert(id, codes.into_iter().collect());
        }
        state.record(audit);
        Ok(state.admin_user(id).expect("checked above"))
    }

    async fn list_groups(&self, offset: i64, limit: i64) -> Result<Page<Group>, RepositoryError> {
        let state = self.0.state();
        // The map is keyed by name: it iterates in the order the port promises.
        let items = state
            .groups
            .keys()
            .skip(window(offset))
            .take(window(limit))
            .map(|name| state.group_named(name))
            .collect();
        Ok(Page {
            count: i64::try_from(state.groups.len()).expect("a small store"),
            items,
        })
    }

    async fn get_group(&self, id: i64) -> Result<Option<Group>, RepositoryError> {
        let (found, hook) = {
            let mut state = self.0.state();
            (state.group(id), state.after_next_group_lookup.take())
        };
        if let Some(hook) = hook {
            hook(&self.0);
        }
        Ok(found)
    }

    async fn create_group(
        &self,
        name: String,
        permissions: Vec<String>,
        audit: AuditEvent,
    ) -> Result<Group, AdminWriteError> {
        let mut state = self.0.state();
        if state.groups.contains_key(&name) {
            return Err(AdminWriteError::DuplicateGroupName);
        }
        state.check_relations(None, Some(&permissions[..]))?;
        let id = state.ensure_group(&name);
        state
            .group_permissions
            .insert(name.clone(), permissions.into_iter().collect());
        state.record(audit.detail("id", id));
        Ok(state.group_named(&name))
    }

    async fn update_group(
        &self,
        id: i64,
        name: Option<String>,
        permissions: Option<Vec<String>>,
        grantable: Option<Vec<String>>,
        audit: AuditEvent,
    ) -> Result<Group, AdminWriteError> {
        let mut state = self.0.state();
        let group = state.group(id).ok_or(AdminWriteError::NotFound)?;
        // Judged against the group as it is now, under the same lock as the write.
        if let (Some(wanted), Some(grantable)) = (&permissions, &grantable)
            && wanted
                .iter()
                .any(|p| !group.permissions.contains(p) && !grantable.contains(p))
        {
            return Err(AdminWriteError::BeyondGrant);
        }
        let current = group.name;
        if let Some(new_name) = &name
            && state.groups.get(new_name).is_some_and(|other| *other != id)
        {
            return Err(AdminWriteError::DuplicateGroupName);
        }
        state.check_relations(None, permissions.as_deref())?;
        let name = match name {
            Some(new_name) if new_name != current => {
                // The rows link by id: a rename moves the name, not the links.
                state.groups.remove(&current);
                state.groups.insert(new_name.clone(), id);
                if let Some(codes) = state.group_permissions.remove(&current) {
                    state.group_permissions.insert(new_name.clone(), codes);
                }
                for groups in state.user_groups.values_mut() {
                    if groups.remove(&current) {
                        groups.insert(new_name.clone());
                    }
                }
                new_name
            }
            _ => current,
        };
        if let Some(codes) = permissions {
            state
                .group_permissions
                .insert(name.clone(), codes.into_iter().collect());
        }
        state.record(audit);
        Ok(state.group_named(&name))
    }

    async fn delete_group(&self, id: i64, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.0.state();
        let Some(name) = state.group(id).map(|group| group.name) else {
            return Ok(false);
        };
        state.groups.remove(&name);
        state.group_permissions.remove(&name);
        for groups in state.user_groups.values_mut() {
            groups.remove(&name);
        }
        state.record(audit.detail("name", name));
        Ok(true)
    }

    async fn list_permissions(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<Page<Permission>, RepositoryError> {
        let state = self.0.state();
        let mut rows: Vec<&Permission> = state.permissions.rows.values().collect();
        rows.sort_by(|a, b| (&a.app_label, &a.codename).cmp(&(&b.app_label, &b.codename)));
        Ok(Page {
            count: i64::try_from(rows.len()).expect("a small store"),
            items: rows
                .into_iter()
                .skip(window(offset))
                .take(window(limit))
                .cloned()
                .collect(),
        })
    }

    async fn get_permission(&self, id: i64) -> Result<Option<Permission>, RepositoryError> {
        Ok(self.0.state().permissions.rows.get(&id).cloned())
    }

    async fn create_permission(
        &self,
        permission: NewPermission,
        audit: AuditEvent,
    ) -> Result<Permission, AdminWriteError> {
        let mut state = self.0.state();
        if state
            .permissions
            .find(&permission.app_label, &permission.codename)
            .is_some()
        {
            return Err(AdminWriteError::DuplicatePermission);
        }
        let row = state.permissions.insert(permission);
        state.record(audit.detail("id", row.id));
        Ok(row)
    }

    async fn delete_permission(&self, id: i64, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.0.state();
        let Some(row) = state.permissions.rows.remove(&id) else {
            return Ok(false);
        };
        let code = row.code();
        for codes in state.group_permissions.values_mut() {
            codes.remove(&code);
        }
        for codes in state.user_permissions.values_mut() {
            codes.remove(&code);
        }
        state.record(audit.detail("permission", code));
        Ok(true)
    }
}

/// An offset or limit as a count of rows; a negative one counts as none.
fn window(n: i64) -> usize {
    usize::try_from(n.max(0)).expect("a small window")
}

/// `SessionRepository` over the in-memory store; every method runs under the one
/// mutex, which makes `rotate` atomic as the port demands.
#[derive(Debug, Clone)]
pub struct InMemorySessions(InMemoryStore);

impl SessionRepository for InMemorySessions {
    async fn start(
        &self,
        token: NewRefreshToken,
        password_hash: Option<String>,
        audit: Option<AuditEvent>,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.state();
        if let Some(hash) = password_hash {
            let current = state.users.get(&token.user_id);
            if !current.is_some_and(|u| u.is_active && u.password_hash == hash) {
                return Ok(false);
            }
        }
        state.tokens.push(record_of(token));
        if let Some(event) = audit {
            state.record(event);
        }
        Ok(true)
    }

    async fn find(&self, jti: Uuid) -> Result<Option<RefreshTokenRecord>, RepositoryError> {
        Ok(self.0.token(jti))
    }

    async fn rotate(
        &self,
        presented: Uuid,
        successor: NewRefreshToken,
        reuse_interval: Duration,
        on_reuse: AuditEvent,
    ) -> Result<RotateOutcome, RepositoryError> {
        let mut state = self.0.state();
        let now = successor.created_at;
        let Some(row) = state.token_mut(presented) else {
            return Ok(RotateOutcome::Unknown);
        };
        match (row.revoked_at, row.replaced_by) {
            (None, _) => {
                row.revoked_at = Some(now);
                row.replaced_by = Some(successor.jti);
                row.last_used_at = Some(now);
                state.tokens.push(record_of(successor));
                Ok(RotateOutcome::Rotated)
            }
            (Some(rotated_at), Some(next)) => {
                let family_id = row.family_id;
                // A zero interval means no grace at all (SPEC §3: of two concurrent
                // refreshes exactly one succeeds), even within the same instant.
                let in_grace =
                    reuse_interval > Duration::zero() && now - rotated_at <= reuse_interval;
                let live_successor = state
                    .tokens
                    .iter()
                    .find(|t| t.jti == next && t.revoked_at.is_none())
                    .cloned();
                match live_successor {
                    Some(successor) if in_grace => Ok(RotateOutcome::AlreadyRotated(successor)),
                    _ => {
                        state.revoke_where(now, |t| t.family_id == family_id);
                        state.record(on_reuse);
                        Ok(RotateOutcome::Reused)
                    }
                }
            }
            (Some(_), None) => Ok(RotateOutcome::Revoked),
        }
    }

    async fn touch(&self, jti: Uuid, at: DateTime<Utc>) -> Result<(), RepositoryError> {
        if let Some(token) = self.0.state().token_mut(jti) {
            token.last_used_at = Some(at);
        }
        Ok(())
    }

    async fn revoke_family(
        &self,
        family_id: Uuid,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let mut state = self.0.state();
        let revoked = state.revoke_where(at, |t| t.family_id == family_id);
        // Recorded only when something was still live, as the real store does.
        if revoked > 0 {
            state.record(audit);
        }
        Ok(revoked)
    }

    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        keep: Option<Uuid>,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let mut state = self.0.state();
        let revoked = state.revoke_where(at, |t| t.user_id == user_id && Some(t.family_id) != keep);
        state.delete_api_keys_where(|(_, owner)| *owner == user_id);
        state.record(audit);
        Ok(revoked)
    }

    async fn add_api_key(
        &self,
        user_id: UserId,
        digest: Vec<u8>,
        password_hash: Option<String>,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.state();
        if let Some(hash) = password_hash {
            let current = state.users.get(&user_id);
            if !current.is_some_and(|u| u.is_active && u.password_hash == hash) {
                return Ok(false);
            }
        }
        state.api_keys.push((digest, user_id));
        state.record(audit);
        Ok(true)
    }

    async fn delete_api_keys(
        &self,
        owner: UserId,
        only: Option<Vec<u8>>,
        audit: AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let mut state = self.0.state();
        let deleted = state.delete_api_keys_where(|(digest, user)| {
            *user == owner && only.as_ref().is_none_or(|d| d == digest)
        });
        if deleted > 0 {
            state.record(audit);
        }
        Ok(deleted)
    }

    async fn list_live(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionSummary>, RepositoryError> {
        let state = self.0.state();
        let mut live: Vec<SessionSummary> = state
            .tokens
            .iter()
            .filter(|t| t.user_id == user_id && t.revoked_at.is_none() && t.expires_at > now)
            .map(|t| SessionSummary {
                id: t.family_id,
                created: t.session_started_at,
                last_used: t.last_used_at.map_or(t.created_at, |u| u.max(t.created_at)),
                user_agent: t.user_agent.clone(),
                ip: t.ip.clone(),
            })
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(live)
    }

    async fn revoke_session(
        &self,
        user_id: UserId,
        family_id: Uuid,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.state();
        let revoked = state.revoke_where(at, |t| t.user_id == user_id && t.family_id == family_id);
        if revoked == 0 {
            return Ok(false);
        }
        state.record(audit);
        Ok(true)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let mut state = self.0.state();
        let before = state.tokens.len();
        state.tokens.retain(|t| t.expires_at >= now);
        Ok((before - state.tokens.len()) as u64)
    }
}

// ---------------------------------------------------------------------------
// Audit log

/// `AuditLog` over the in-memory store: the events that go with no other write, and
/// the reads of the whole trail, filtered, newest first, as the real store lists them.
#[derive(Debug, Clone)]
pub struct InMemoryAudit(InMemoryStore);

/// Whether an event passes a query's filters; `user` matches the actor or the subject.
fn selected_by(query: &AuditQuery, event: &AuditEvent) -> bool {
    query
        .user
        .is_none_or(|user| event.actor == Some(user) || event.subject == Some(user))
        && query.actor.is_none_or(|actor| event.actor == Some(actor))
        && query
            .subject
            .is_none_or(|subject| event.subject == Some(subject))
        && (query.kinds.is_empty() || query.kinds.contains(&event.kind))
        && query.since.is_none_or(|since| event.at >= since)
        && query.until.is_none_or(|until| event.at <= until)
}

impl AuditLog for InMemoryAudit {
    async fn record(&self, event: AuditEvent) -> Result<(), RepositoryError> {
        self.0.state().record(event);
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, RepositoryError> {
        let state = self.0.state();
        let mut selected: Vec<&AuditRecord> = state
            .audit
            .iter()
            .filter(|record| selected_by(query, &record.event))
            .collect();
        // Newest first; the later write first within one instant.
        selected.sort_by_key(|record| std::cmp::Reverse((record.event.at, record.id)));
        Ok(Page {
            count: i64::try_from(selected.len()).expect("a small store"),
            items: selected
                .into_iter()
                .skip(window(query.offset))
                .take(window(query.limit))
                .cloned()
                .collect(),
        })
    }
}

// ---------------------------------------------------------------------------
// Password hasher

#[derive(Debug)]
struct HasherState {
    cost: u32,
    hash_calls: usize,
    verify_calls: usize,
    dummy_calls: usize,
    /// Every `verify`: the password presented and the hash it was checked against.
    verified: Vec<(String, String)>,
}

/// Hashes `pw` as `fake$<cost>$pw`; a hash of another cost, or in the `legacy$pw`
/// format of an older algorithm, verifies with `needs_rehash`. Counts every call.
#[derive(Debug, Clone)]
pub struct FakeHasher(Arc<Mutex<HasherState>>);

impl Default for FakeHasher {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(HasherState {
            cost: Self::DEFAULT_COST,
            hash_calls: 0,
            verify_calls: 0,
            dummy_calls: 0,
            verified: Vec::new(),
        })))
    }
}

impl FakeHasher {
    pub const DEFAULT_COST: u32 = 12;

    /// The hash a hasher at the default cost gives `password`.
    pub fn hash_of(password: &str) -> String {
        Self::hash_at_cost(Self::DEFAULT_COST, password)
    }

    pub fn hash_at_cost(cost: u32, password: &str) -> String {
        format!("fake${cost}${password}")
    }

    /// A hash of `password` made by an older algorithm.
    pub fn legacy_hash_of(password: &str) -> String {
        format!("legacy${password}")
    }

    /// Changes the cost new hashes get, as a configuration change would.
    pub fn set_cost(&self, cost: u32) {
        lock(&self.0).cost = cost;
    }

    pub fn hash_calls(&self) -> usize {
        lock(&self.0).hash_calls
    }

    pub fn verify_calls(&self) -> usize {
        lock(&self.0).verify_calls
    }

    /// Every `verify` so far: the password presented and the hash checked against.
    pub fn verified(&self) -> Vec<(String, String)> {
        lock(&self.0).verified.clone()
    }

    pub fn dummy_calls(&self) -> usize {
        lock(&self.0).dummy_calls
    }

    /// `verify` and `verify_dummy` calls together: the expensive work done so far.
    pub fn verifications(&self) -> usize {
        let state = lock(&self.0);
        state.verify_calls + state.dummy_calls
    }
}

impl PasswordHasher for FakeHasher {
    async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let mut state = lock(&self.0);
        state.hash_calls += 1;
        Ok(Self::hash_at_cost(state.cost, password.expose()))
    }

    async fn verify(&self, password: &Password, hash: &str) -> Result<PasswordCheck, HashError> {
        let mut state = lock(&self.0);
        state.verify_calls += 1;
        state
            .verified
            .push((password.expose().to_owned(), hash.to_owned()));
        if hash == Self::legacy_hash_of(password.expose()) {
            return Ok(PasswordCheck::Match { needs_rehash: true });
        }
        let parsed = hash
            .strip_prefix("fake$")
            .and_then(|rest| rest.split_once('$'))
            .and_then(|(cost, plain)| Some((cost.parse::<u32>().ok()?, plain)));
        Ok(match parsed {
            Some((cost, plain)) if plain == password.expose() => PasswordCheck::Match {
                needs_rehash: cost != state.cost,
            },
            _ => PasswordCheck::Mismatch,
        })
    }

    async fn verify_dummy(&self, _password: &Password) -> Result<(), HashError> {
        lock(&self.0).dummy_calls += 1;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Token codec

/// Signs by remembering: a token is `tok.` followed by its claims' debug form, and
/// only strings this codec issued decode (anything else is a bad signature). The
/// same claims always give the same string, as a deterministic signature does.
/// `exp` is checked against the shared clock with no leeway, as jsonwebtoken does.
#[derive(Debug, Clone)]
pub struct FakeTokenCodec {
    issued: Arc<Mutex<HashMap<String, Claims>>>,
    clock: FakeClock,
}

impl FakeTokenCodec {
    pub fn new(clock: FakeClock) -> Self {
        Self {
            issued: Arc::default(),
            clock,
        }
    }

    /// The claims of an issued token, whether or not it has expired.
    pub fn peek(&self, token: &str) -> Claims {
        lock(&self.issued)
            .get(token)
            .cloned()
            .unwrap_or_else(|| panic!("{token:?} was not issued by this codec"))
    }
}

impl TokenCodec for FakeTokenCodec {
    fn encode(&self, claims: &Claims) -> Result<String, TokenError> {
        let token = format!("tok.{claims:?}");
        lock(&self.issued).insert(token.clone(), claims.clone());
        Ok(token)
    }

    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = lock(&self.issued)
            .get(token)
            .cloned()
            .ok_or(TokenError::Invalid)?;
        if self.clock.now().timestamp() > claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

// ---------------------------------------------------------------------------
// One-time token generator

/// Numbers its tokens (`tok-1`, `tok-2`, …), so each is unique and a test can tell
/// which is which; the digest is `digest:` followed by the token.
#[derive(Debug, Clone, Default)]
pub struct FakeTokenGenerator(Arc<AtomicU64>);

impl FakeTokenGenerator {
    pub fn digest_of(raw: &str) -> Vec<u8> {
        format!("digest:{raw}").into_bytes()
    }

    /// How many tokens were generated so far.
    pub fn generated(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl TokenGenerator for FakeTokenGenerator {
    fn generate(&self) -> (String, Vec<u8>) {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        let raw = format!("tok-{n}");
        let digest = Self::digest_of(&raw);
        (raw, digest)
    }

    fn digest(&self, raw: &str) -> Vec<u8> {
        Self::digest_of(raw)
    }
}

// ---------------------------------------------------------------------------
// Wiring

pub struct TestDeps;

impl Deps for TestDeps {
    type Users = InMemoryUsers;
    type Sessions = InMemorySessions;
    type Accounts = InMemoryAccounts;
    type Admin = InMemoryAdmin;
    type Audit = InMemoryAudit;
    type OneTimeTokens = FakeTokenGenerator;
    type Hasher = FakeHasher;
    type Tokens = FakeTokenCodec;
    type Clock = FakeClock;
}

/// The fakes behind a test's `Gatehouse`, for arranging and inspecting.
#[derive(Debug, Clone)]
pub struct Fakes {
    pub store: InMemoryStore,
    pub hasher: FakeHasher,
    pub tokens: FakeTokenCodec,
    pub one_time_tokens: FakeTokenGenerator,
    pub clock: FakeClock,
}

impl Fakes {
    /// An active user whose password is `PASSWORD`.
    pub fn add_user(&self, username: &str, email: &str) -> User {
        self.add_user_with_password(username, email, PASSWORD)
    }

    pub fn add_user_with_password(&self, username: &str, email: &str, password: &str) -> User {
        self.store.insert_user(
            username,
            email,
            &FakeHasher::hash_of(password),
            self.clock.now(),
        )
    }

    /// An inactive user whose password is `PASSWORD`, as after a registration
    /// awaiting activation or a deactivation by an admin.
    /// An account registered under activation and not activated yet.
    pub fn add_inactive_user(&self, username: &str, email: &str) -> User {
        let user = self.add_user(username, email);
        self.store.update_user(user.id, |u| {
            u.is_active = false;
            u.pending_activation = true;
        });
        self.store.user(user.id).expect("just stored")
    }

    /// Deletes the user through the port, as his own request would; `false` when he
    /// did not exist.
    pub async fn delete_user(&self, id: UserId) -> bool {
        let audit = AuditEvent::new(AuditKind::AccountDeleted, self.clock.now()).by_self(id);
        self.store
            .users()
            .delete(id, audit)
            .await
            .expect("the store is available")
    }

    /// The stored user, which must exist.
    pub fn user(&self, id: UserId) -> User {
        self.store.user(id).expect("the user exists")
    }

    /// The stored one-time token a raw token stands for, which must exist.
    pub fn one_time_token(&self, raw: &str) -> OneTimeTokenRecord {
        self.store
            .one_time_token(&FakeTokenGenerator::digest_of(raw))
            .unwrap_or_else(|| panic!("no one-time token {raw:?} is stored"))
    }

    /// The claims of a token this test's codec issued, expired or not.
    pub fn claims(&self, token: &str) -> Claims {
        self.tokens.peek(token)
    }

    pub fn jti(&self, token: &str) -> Uuid {
        Uuid::try_parse(&self.claims(token).jti).expect("a uuid jti")
    }

    pub fn sid(&self, token: &str) -> Uuid {
        Uuid::try_parse(&self.claims(token).sid).expect("a uuid sid")
    }

    /// Another `Gatehouse` over these same fakes, as after a configuration change.
    pub fn gatehouse(&self, settings: Settings) -> Gatehouse<TestDeps> {
        Gatehouse::new(
            Adapters {
                users: self.store.users(),
                sessions: self.store.sessions(),
                accounts: self.store.accounts(),
                admin: self.store.admin(),
                audit: self.store.audit(),
                one_time_tokens: self.one_time_tokens.clone(),
                hasher: self.hasher.clone(),
                tokens: self.tokens.clone(),
                clock: self.clock.clone(),
            },
            settings,
        )
    }
}

pub fn gatehouse(settings: Settings) -> (Gatehouse<TestDeps>, Fakes) {
    let clock = FakeClock::new();
    let fakes = Fakes {
        store: InMemoryStore::default(),
        hasher: FakeHasher::default(),
        tokens: FakeTokenCodec::new(clock.clone()),
        one_time_tokens: FakeTokenGenerator::default(),
        clock,
    };
    (fakes.gatehouse(settings), fakes)
}

/// A `Gatehouse` with default settings.
pub fn default_gatehouse() -> (Gatehouse<TestDeps>, Fakes) {
    gatehouse(Settings::default())
}

pub fn login_command(username: &str, password: &str) -> LoginCommand {
    LoginCommand {
        identifier: LoginIdentifier::Username(username.to_owned()),
        password: Password::new(password),
        client: ClientInfo::default(),
    }
}

/// Logs in with `PASSWORD`, which must succeed.
pub async fn log_in(gatehouse: &Gatehouse<TestDeps>, username: &str) -> TokenPair {
    gatehouse
        .login(login_command(username, PASSWORD))
        .await
        .expect("the login succeeds")
}

pub async fn refresh(
    gatehouse: &Gatehouse<TestDeps>,
    refresh_token: &str,
) -> Result<Refreshed, RefreshError> {
    gatehouse
        .refresh(RefreshCommand {
            refresh: refresh_token.to_owned(),
            client: ClientInfo::default(),
        })
        .await
}
