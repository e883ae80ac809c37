//! The repository ports over the in-memory store, each method one transaction under
//! the store's mutex, checking everything before changing anything.

use chrono::{DateTime, Duration, Utc};
use domain::admin::{
    AdminUser, Group, GroupChanges, NewPermission, Page, Permission, UserDraft, UserListQuery,
    UserOrder, UserPatch,
};
use domain::authorization::Authority;
use domain::ports::{
    AccountRepository, ApiKeyRepository, AuditLog, AuthState, CreateGroupError,
    CreatePermissionError, CreateUserError, GroupRepository, ImportedUser, OneTimeTokenRepository,
    PasswordChange, PermissionRepository, Rehash, SaveUserError, SessionRepository,
    SessionRevocation, UpdateGroupError, UpdateUserError, UserAdminRepository, UserRepository,
};
use domain::{
    AuditEvent, AuditQuery, AuditRecord, EmailKind, MailedToken, NewRefreshToken, NewUser,
    OneTimeTokenRecord, ProfileChanges, RefreshTokenRecord, RepositoryError, RotateOutcome,
    SessionSummary, TokenPurpose, User, UserId, UserProfile,
};
use uuid::Uuid;

use super::store::{InMemoryStore, StoreState, record_of};

/// `UserRepository` over the in-memory store.
#[derive(Debug, Clone)]
pub struct InMemoryUsers(pub(super) InMemoryStore);

impl UserRepository for InMemoryUsers {
    async fn create(
        &self,
        user: NewUser,
        activation: Option<MailedToken>,
        audit: AuditEvent,
    ) -> Result<UserProfile, CreateUserError> {
        let mut state = self.0.call("users.create")?;
        // The username first: PostgreSQL checks its unique index before the email's.
        if state.username_taken(user.username.as_str(), None) {
            return Err(CreateUserError::DuplicateUsername);
        }
        if state.email_taken(user.email.as_str(), None) {
            return Err(CreateUserError::DuplicateEmail);
        }
        if let Some(link) = &activation {
            state.check_digest_free(&link.token.digest)?;
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
        if let Some(link) = activation {
            state.store_one_time_token(id, &link.token);
            state.queue_email(id, link.email)?;
        }
        state.record(audit.subject(id));
        Ok(state.profile(id).expect("the user was just stored"))
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        Ok(self.0.call("users.find_by_id")?.users.get(&id).cloned())
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, RepositoryError> {
        Ok(self
            .0
            .call("users.find_by_username")?
            .users
            .values()
            .find(|u| u.username.as_str() == username)
            .cloned())
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, RepositoryError> {
        let email = email.to_lowercase();
        Ok(self
            .0
            .call("users.find_by_email")?
            .users
            .values()
            .find(|u| u.email.as_str().to_lowercase() == email)
            .cloned())
    }

    async fn profile(&self, id: UserId) -> Result<Option<UserProfile>, RepositoryError> {
        Ok(self.0.call("users.profile")?.profile(id))
    }

    async fn auth_state(
        &self,
        id: UserId,
        sid: Uuid,
    ) -> Result<Option<AuthState>, RepositoryError> {
        let state = self.0.call("users.auth_state")?;
        Ok(state.profile(id).map(|profile| AuthState {
            profile,
            session_live: state
                .tokens
                .iter()
                .any(|t| t.family_id == sid && t.user_id == id && t.revoked_at.is_none()),
        }))
    }

    async fn imported_from_django(
        &self,
        id: UserId,
    ) -> Result<Option<ImportedUser>, RepositoryError> {
        let state = self.0.call("users.imported_from_django")?;
        Ok(state.users.get(&id).and_then(|user| {
            state.imported_from_django.get(&id).map(|at| ImportedUser {
                user: user.clone(),
                imported_at: *at,
            })
        }))
    }

    async fn update_profile(
        &self,
        id: UserId,
        changes: ProfileChanges,
        audit: AuditEvent,
    ) -> Result<UserProfile, UpdateUserError> {
        let mut state = self.0.call("users.update_profile")?;
        if !state.users.contains_key(&id) {
            return Err(UpdateUserError::NotFound);
        }
        if changes.is_empty() {
            return Ok(state.profile(id).expect("checked above"));
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
            let mut state = self.0.call("users.record_login")?;
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
        let mut state = self.0.call("users.delete")?;
        let Some(deleted) = state.users.remove(&id) else {
            return Ok(false);
        };
        state.user_groups.remove(&id);
        state.user_permissions.remove(&id);
        state.tokens.retain(|t| t.user_id != id);
        state.one_time_tokens.retain(|t| t.record.user_id != id);
        state.api_keys.retain(|(_, owner)| *owner != id);
        state.record(audit.detail("username", deleted.username.as_str()));
        Ok(true)
    }
}

/// `OneTimeTokenRepository` over the in-memory store.
#[derive(Debug, Clone)]
pub struct InMemoryOneTimeTokens(pub(super) InMemoryStore);

impl OneTimeTokenRepository for InMemoryOneTimeTokens {
    async fn issue(
        &self,
        user_id: UserId,
        link: MailedToken,
        cooldown: Duration,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.call("one_time_tokens.issue")?;
        if !state.users.contains_key(&user_id) {
            return Ok(false);
        }
        let token = &link.token;
        let recent = state.one_time_tokens.iter().any(|stored| {
            stored.record.user_id == user_id
                && stored.record.purpose == token.purpose
                && stored.record.created_at > token.created_at - cooldown
        });
        if recent {
            return Ok(false);
        }
        state.check_digest_free(&token.digest)?;
        state.store_one_time_token(user_id, token);
        state.queue_email(user_id, link.email)?;
        Ok(true)
    }

    async fn find(&self, digest: &[u8]) -> Result<Option<OneTimeTokenRecord>, RepositoryError> {
        let (found, hook) = {
            let mut state = self.0.call("one_time_tokens.find")?;
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
}

/// `AccountRepository` over the in-memory store; each method changes the state and
/// queues its email under the one mutex, as one transaction.
#[derive(Debug, Clone)]
pub struct InMemoryAccounts(pub(super) InMemoryStore);

impl AccountRepository for InMemoryAccounts {
    async fn activate(
        &self,
        token_id: i64,
        user_id: UserId,
        at: DateTime<Utc>,
        email: EmailKind,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.call("accounts.activate")?;
        if !state
            .users
            .get(&user_id)
            .is_some_and(|u| u.pending_activation)
        {
            return Ok(false);
        }
        if !state.consume_one_time_token(token_id, at) {
            return Ok(false);
        }
        let user = state.users.get_mut(&user_id).expect("checked above");
        user.is_active = true;
        user.pending_activation = false;
        state.queue_email(user_id, email)?;
        state.record(audit);
        Ok(true)
    }

    async fn set_password(&self, change: PasswordChange) -> Result<bool, RepositoryError> {
        let mut state = self.0.call("accounts.set_password")?;
        let user_id = change.user_id;
        if !state.users.contains_key(&user_id) {
            return Ok(false);
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
        if let Some(email) = change.email {
            state.queue_email(user_id, email)?;
        }
        state.delete_api_keys_where(|(_, owner)| *owner == user_id);
        state.record(change.audit);
        Ok(true)
    }
}

/// `UserAdminRepository` over the in-memory store; every write runs under the one
/// mutex and checks everything before changing anything, as one transaction.
#[derive(Debug, Clone)]
pub struct InMemoryUserAdmin(pub(super) InMemoryStore);

impl UserAdminRepository for InMemoryUserAdmin {
    async fn list(&self, query: &UserListQuery) -> Result<Page<AdminUser>, RepositoryError> {
        let state = self.0.call("user_admin.list")?;
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

    async fn get(&self, id: UserId) -> Result<Option<AdminUser>, RepositoryError> {
        Ok(self.0.call("user_admin.get")?.admin_user(id))
    }

    async fn create(
        &self,
        draft: UserDraft,
        authority: &Authority,
        audit: AuditEvent,
    ) -> Result<AdminUser, SaveUserError> {
        let mut state = self.0.call("user_admin.create")?;
        // The username first: PostgreSQL checks its unique index before the email's.
        if state.username_taken(draft.username.as_str(), None) {
            return Err(SaveUserError::DuplicateUsername);
        }
        if state.email_taken(draft.email.as_str(), None) {
            return Err(SaveUserError::DuplicateEmail);
        }
        check_relations(
            &state,
            Some(&draft.groups),
            Some(&draft.user_permissions),
            authority,
        )?;
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

    async fn update(
        &self,
        id: UserId,
        patch: UserPatch,
        authority: &Authority,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<Option<AdminUser>, SaveUserError> {
        let mut state = self.0.call("user_admin.update")?;
        let Some(target) = state.admin_user(id) else {
            return Ok(None);
        };
        if patch.reaches_account() && !authority.may_manage(&target.profile) {
            return Err(SaveUserError::Forbidden);
        }
        if let Some(username) = &patch.username
            && state.username_taken(username.as_str(), Some(id))
        {
            return Err(SaveUserError::DuplicateUsername);
        }
        if let Some(email) = &patch.email
            && state.email_taken(email.as_str(), Some(id))
        {
            return Err(SaveUserError::DuplicateEmail);
        }
        check_relations(
            &state,
            patch.groups.as_ref(),
            patch.user_permissions.as_ref(),
            authority,
        )?;
        let user = state.users.get_mut(&id).expect("checked above");
        if let Some(username) = patch.username {
            user.username = username;
        }
        let email_changed = patch.email.as_ref().is_some_and(|e| *e != user.email);
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
        if email_changed {
            // Sent to the old address: whoever reads it no longer owns the account.
            state.retire_one_time_tokens(id, TokenPurpose::Reset, at);
            state.retire_one_time_tokens(id, TokenPurpose::Activation, at);
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
        Ok(state.admin_user(id))
    }
}

/// The groups and permissions a user write names must exist, as the foreign keys
/// demand.
fn check_relations(
    state: &StoreState,
    groups: Option<&Vec<String>>,
    permissions: Option<&Vec<String>>,
    authority: &Authority,
) -> Result<(), SaveUserError> {
    if let Some(unknown) = groups.map(|names| state.unknown_groups(names))
        && !unknown.is_empty()
    {
        return Err(SaveUserError::UnknownGroups(unknown));
    }
    let granted = groups
        .into_iter()
        .flatten()
        .filter_map(|name| state.group_permissions.get(name))
        .flatten();
    if !authority.may_grant(granted) {
        return Err(SaveUserError::Forbidden);
    }
    if let Some(unknown) = permissions.map(|codes| state.unknown_permissions(codes))
        && !unknown.is_empty()
    {
        return Err(SaveUserError::UnknownPermissions(unknown));
    }
    Ok(())
}

/// `GroupRepository` over the in-memory store.
#[derive(Debug, Clone)]
pub struct InMemoryGroups(pub(super) InMemoryStore);

impl GroupRepository for InMemoryGroups {
    async fn list(&self, offset: i64, limit: i64) -> Result<Page<Group>, RepositoryError> {
        let state = self.0.call("groups.list")?;
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

    async fn get(&self, id: i64) -> Result<Option<Group>, RepositoryError> {
        let (found, hook) = {
            let mut state = self.0.call("groups.get")?;
            (state.group(id), state.after_next_group_lookup.take())
        };
        if let Some(hook) = hook {
            hook(&self.0);
        }
        Ok(found)
    }

    async fn create(
        &self,
        name: String,
        permissions: Vec<String>,
        audit: AuditEvent,
    ) -> Result<Group, CreateGroupError> {
        let mut state = self.0.call("groups.create")?;
        if state.groups.contains_key(&name) {
            return Err(CreateGroupError::DuplicateName);
        }
        let unknown = state.unknown_permissions(&permissions);
        if !unknown.is_empty() {
            return Err(CreateGroupError::UnknownPermissions(unknown));
        }
        let id = state.ensure_group(&name);
        state
            .group_permissions
            .insert(name.clone(), permissions.into_iter().collect());
        state.record(audit.detail("id", id));
        Ok(state.group_named(&name))
    }

    async fn update(
        &self,
        id: i64,
        changes: GroupChanges,
        authority: &Authority,
        audit: AuditEvent,
    ) -> Result<Option<Group>, UpdateGroupError> {
        let GroupChanges { name, permissions } = changes;
        let mut state = self.0.call("groups.update")?;
        let Some(group) = state.group(id) else {
            return Ok(None);
        };
        // Judged against the group as it is now, under the same lock as the write.
        if let Some(wanted) = &permissions
            && !authority.may_grant(wanted.iter().filter(|p| !group.permissions.contains(p)))
        {
            return Err(UpdateGroupError::BeyondGrant);
        }
        let current = group.name;
        if let Some(new_name) = &name
            && state.groups.get(new_name).is_some_and(|other| *other != id)
        {
            return Err(UpdateGroupError::DuplicateName);
        }
        if let Some(unknown) = permissions
            .as_ref()
            .map(|codes| state.unknown_permissions(codes))
            && !unknown.is_empty()
        {
            return Err(UpdateGroupError::UnknownPermissions(unknown));
        }
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
        Ok(Some(state.group_named(&name)))
    }

    async fn delete(&self, id: i64, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.0.call("groups.delete")?;
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
}

/// `PermissionRepository` over the in-memory store.
#[derive(Debug, Clone)]
pub struct InMemoryPermissions(pub(super) InMemoryStore);

impl PermissionRepository for InMemoryPermissions {
    async fn list(&self, offset: i64, limit: i64) -> Result<Page<Permission>, RepositoryError> {
        let state = self.0.call("permissions.list")?;
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

    async fn get(&self, id: i64) -> Result<Option<Permission>, RepositoryError> {
        Ok(self
            .0
            .call("permissions.get")?
            .permissions
            .rows
            .get(&id)
            .cloned())
    }

    async fn create(
        &self,
        permission: NewPermission,
        audit: AuditEvent,
    ) -> Result<Permission, CreatePermissionError> {
        let mut state = self.0.call("permissions.create")?;
        if state
            .permissions
            .find(&permission.app_label, &permission.codename)
            .is_some()
        {
            return Err(CreatePermissionError::Duplicate);
        }
        let row = state.permissions.insert(permission);
        state.record(audit.detail("id", row.id));
        Ok(row)
    }

    async fn delete(&self, id: i64, audit: AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.0.call("permissions.delete")?;
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
pub struct InMemorySessions(pub(super) InMemoryStore);

impl SessionRepository for InMemorySessions {
    async fn start(
        &self,
        token: NewRefreshToken,
        password_hash: Option<String>,
        audit: Option<AuditEvent>,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.call("sessions.start")?;
        let Some(user) = state.users.get(&token.user_id) else {
            return Ok(false);
        };
        if password_hash.is_some_and(|hash| !(user.is_active && user.password_hash == hash)) {
            return Ok(false);
        }
        if token.parent_session.is_some_and(|parent| {
            !state.session_live(token.user_id, parent, Some(token.created_at))
        }) {
            return Ok(false);
        }
        state.check_jti_free(token.jti)?;
        state.tokens.push(record_of(token));
        if let Some(event) = audit {
            state.record(event);
        }
        Ok(true)
    }

    async fn find(&self, jti: Uuid) -> Result<Option<RefreshTokenRecord>, RepositoryError> {
        let state = self.0.call("sessions.find")?;
        Ok(state.tokens.iter().find(|t| t.jti == jti).cloned())
    }

    async fn find_with_profile(
        &self,
        jti: Uuid,
    ) -> Result<Option<(RefreshTokenRecord, UserProfile)>, RepositoryError> {
        let state = self.0.call("sessions.find_with_profile")?;
        let token = state.tokens.iter().find(|t| t.jti == jti).cloned();
        Ok(token.and_then(|token| state.profile(token.user_id).map(|p| (token, p))))
    }

    async fn session_started_at(
        &self,
        user_id: UserId,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, RepositoryError> {
        let state = self.0.call("sessions.session_started_at")?;
        Ok(state
            .tokens
            .iter()
            .find(|t| {
                t.user_id == user_id
                    && t.family_id == family_id
                    && t.revoked_at.is_none()
                    && t.expires_at > now
            })
            .map(|t| t.session_started_at))
    }

    async fn rotate(
        &self,
        presented: Uuid,
        successor: NewRefreshToken,
        reuse_interval: Duration,
        on_reuse: AuditEvent,
    ) -> Result<RotateOutcome, RepositoryError> {
        let mut state = self.0.call("sessions.rotate")?;
        let now = successor.created_at;
        let jti_taken = state.check_jti_free(successor.jti);
        let Some(row) = state.token_mut(presented) else {
            return Ok(RotateOutcome::Unknown);
        };
        match (row.revoked_at, row.replaced_by) {
            (None, _) => {
                jti_taken?;
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
                        state.revoke_family_tree(now, family_id);
                        state.record(on_reuse);
                        Ok(RotateOutcome::Reused)
                    }
                }
            }
            (Some(_), None) => Ok(RotateOutcome::Revoked),
        }
    }

    async fn touch(&self, jti: Uuid, at: DateTime<Utc>) -> Result<(), RepositoryError> {
        if let Some(token) = self.0.call("sessions.touch")?.token_mut(jti) {
            token.last_used_at = Some(at);
        }
        Ok(())
    }

    async fn revoke_family(
        &self,
        _owner: UserId,
        family_id: Uuid,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let mut state = self.0.call("sessions.revoke_family")?;
        let revoked = state.revoke_family_tree(at, family_id);
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
        let mut state = self.0.call("sessions.revoke_all_for_user")?;
        let revoked = state.revoke_where(at, |t| t.user_id == user_id && Some(t.family_id) != keep);
        state.delete_api_keys_where(|(_, owner)| *owner == user_id);
        state.record(audit);
        Ok(revoked)
    }

    async fn list_live(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionSummary>, RepositoryError> {
        let state = self.0.call("sessions.list_live")?;
        let mut live: Vec<&RefreshTokenRecord> = state
            .tokens
            .iter()
            .filter(|t| t.user_id == user_id && t.revoked_at.is_none() && t.expires_at > now)
            .collect();
        live.sort_by_key(|t| (std::cmp::Reverse(t.session_started_at), t.jti));
        Ok(live
            .into_iter()
            .map(|t| SessionSummary {
                id: t.family_id,
                created: t.session_started_at,
                last_used: t.last_used_at.map_or(t.created_at, |u| u.max(t.created_at)),
                user_agent: t.user_agent.clone(),
                ip: t.ip.clone(),
            })
            .collect())
    }

    async fn revoke_session(
        &self,
        user_id: UserId,
        family_id: Uuid,
        at: DateTime<Utc>,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.call("sessions.revoke_session")?;
        if !state.session_live(user_id, family_id, None) {
            return Ok(false);
        }
        state.revoke_family_tree(at, family_id);
        state.record(audit);
        Ok(true)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, RepositoryError> {
        let mut state = self.0.call("sessions.purge_expired")?;
        let before = state.tokens.len();
        state.tokens.retain(|t| t.expires_at >= now);
        Ok((before - state.tokens.len()) as u64)
    }
}

/// `ApiKeyRepository` over the in-memory store.
#[derive(Debug, Clone)]
pub struct InMemoryApiKeys(pub(super) InMemoryStore);

impl ApiKeyRepository for InMemoryApiKeys {
    async fn add(
        &self,
        user_id: UserId,
        digest: Vec<u8>,
        password_hash: Option<String>,
        audit: AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.0.call("api_keys.add")?;
        let Some(user) = state.users.get(&user_id) else {
            return Ok(false);
        };
        if password_hash.is_some_and(|hash| !(user.is_active && user.password_hash == hash)) {
            return Ok(false);
        }
        // The column is unique: random keys never collide, so a clash is a bug.
        if state.api_keys.iter().any(|(stored, _)| *stored == digest) {
            return Err(RepositoryError::Unexpected(
                "an API key with this digest is stored already".into(),
            ));
        }
        state.api_keys.push((digest, user_id));
        state.record(audit);
        Ok(true)
    }

    async fn owner(&self, digest: &[u8]) -> Result<Option<UserProfile>, RepositoryError> {
        let state = self.0.call("api_keys.owner")?;
        let owner = state.api_keys.iter().find(|(d, _)| d == digest);
        Ok(owner.and_then(|(_, user)| state.profile(*user)))
    }

    async fn delete(
        &self,
        owner: UserId,
        only: Option<Vec<u8>>,
        audit: AuditEvent,
    ) -> Result<u64, RepositoryError> {
        let mut state = self.0.call("api_keys.delete")?;
        let deleted = state.delete_api_keys_where(|(digest, user)| {
            *user == owner && only.as_ref().is_none_or(|d| d == digest)
        });
        if deleted > 0 {
            state.record(audit);
        }
        Ok(deleted)
    }
}

/// `AuditLog` over the in-memory store: the events that go with no other write, and
/// the reads of the whole trail, filtered, newest first, as the real store lists them.
#[derive(Debug, Clone)]
pub struct InMemoryAudit(pub(super) InMemoryStore);

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
        self.0.call("audit.record")?.record(event);
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditRecord>, RepositoryError> {
        let state = self.0.call("audit.list")?;
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
