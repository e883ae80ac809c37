//! In-memory fakes of every port and a builder that wires them into a `Gatehouse`
//! (feature `testing`): what the use-case tests run on, and what the contract suites
//! in `infrastructure`'s tests hold side by side with the PostgreSQL adapters so the
//! two cannot drift apart.
#![allow(
    clippy::missing_panics_doc,
    reason = "test support: a panic is a failed test"
)]

mod doubles;
mod repositories;
mod store;

use std::sync::{Mutex, MutexGuard};

use domain::ports::{Clock, UserRepository};
use domain::{AuditEvent, AuditKind, Claims, OneTimeTokenRecord, Password, User, UserId};
use uuid::Uuid;

pub use doubles::{FakeClock, FakeHasher, FakeTokenCodec, FakeTokenGenerator, InMemoryRateLimiter};
pub use repositories::{
    InMemoryAccounts, InMemoryApiKeys, InMemoryAudit, InMemoryGroups, InMemoryOneTimeTokens,
    InMemoryPermissions, InMemorySessions, InMemoryUserAdmin, InMemoryUsers,
};
pub use store::{Failure, InMemoryStore, MAX_IP_CHARS, MAX_USER_AGENT_CHARS};

use crate::use_cases::login::{LoginCommand, LoginIdentifier};
use crate::use_cases::refresh::{RefreshCommand, RefreshError, Refreshed};
use crate::{Adapters, ClientInfo, Deps, Gatehouse, Settings, TokenPair};

/// Runs an admin use case as the HTTP edge does: authorizes `caller` for the
/// permission the use case's grant names, then calls it with that grant. A refused
/// authorization is the answer. `as_admin!(gatehouse, &staff, list_groups(0, 10))`.
#[macro_export]
macro_rules! as_admin {
    ($gatehouse:expr, $caller:expr, $method:ident ( $($arg:expr),* $(,)? )) => {
        async {
            let gatehouse = &$gatehouse;
            match gatehouse.authorize(($caller).into()).await {
                Ok(grant) => gatehouse.$method(&grant, $($arg),*).await,
                Err(error) => Err(error),
            }
        }
    };
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

/// The fakes, as the adapters of a `Gatehouse`.
pub struct TestDeps;

impl Deps for TestDeps {
    type Users = InMemoryUsers;
    type Sessions = InMemorySessions;
    type ApiKeys = InMemoryApiKeys;
    type OneTimeTokens = InMemoryOneTimeTokens;
    type Accounts = InMemoryAccounts;
    type UserAdmin = InMemoryUserAdmin;
    type Groups = InMemoryGroups;
    type Permissions = InMemoryPermissions;
    type Audit = InMemoryAudit;
    type RateLimiter = InMemoryRateLimiter;
    type RandomTokens = FakeTokenGenerator;
    type Hasher = FakeHasher;
    type Jwt = FakeTokenCodec;
    type Clock = FakeClock;
}

/// The fakes behind a test's `Gatehouse`, for arranging and inspecting.
#[derive(Debug, Clone)]
pub struct Fakes {
    pub store: InMemoryStore,
    pub limiter: InMemoryRateLimiter,
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
        Uuid::try_parse(self.claims(token).sid.as_deref().expect("a sid")).expect("a uuid sid")
    }

    /// Another `Gatehouse` over these same fakes, as after a configuration change.
    pub fn gatehouse(&self, settings: Settings) -> Gatehouse<TestDeps> {
        Gatehouse::new(
            Adapters {
                users: self.store.users(),
                sessions: self.store.sessions(),
                api_keys: self.store.api_keys_port(),
                one_time_tokens: self.store.one_time_tokens(),
                accounts: self.store.accounts(),
                user_admin: self.store.user_admin(),
                groups: self.store.groups(),
                permissions: self.store.permissions(),
                audit: self.store.audit(),
                rate_limiter: self.limiter.clone(),
                random_tokens: self.one_time_tokens.clone(),
                hasher: self.hasher.clone(),
                jwt: self.tokens.clone(),
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
        limiter: InMemoryRateLimiter::new(clock.clone()),
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
