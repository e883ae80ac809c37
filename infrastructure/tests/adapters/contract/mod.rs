//! The contract of every repository port, run against the in-memory fake and the
//! PostgreSQL adapter alike, so the two cannot drift apart: a case is a generic async
//! fn over a `Harness`, and `contract!` makes two tests of it, one per store.
//!
//! Set-up goes through the ports themselves; a harness adds only what no port reads
//! back (the emails queued to a user, his one-time tokens, his live refresh tokens).
//! Times are whole seconds from `T0`, so they read back from PostgreSQL exactly.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::ports::{
    AccountRepository, ApiKeyRepository, AuditLog, GroupRepository, OneTimeTokenRepository,
    PermissionRepository, SessionRepository, UserAdminRepository, UserRepository,
};
use domain::{
    AuditEvent, AuditKind, AuditQuery, EmailAddress, EmailKind, MailedToken, NewOneTimeToken,
    NewRefreshToken, NewUser, OneTimeTokenRecord, TokenPurpose, User, UserId, Username,
};
use uuid::Uuid;

mod memory;
mod postgres;

pub use memory::Memory;
pub use postgres::Postgres;

/// Two tests per case, `in_memory::case` and `postgres::case`, each on a fresh store.
macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case::<$crate::contract::Memory>().await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case::<$crate::contract::Postgres>().await;
                }
            )+
        }
    };
}

mod accounts;
mod api_keys;
mod audit;
mod groups;
mod one_time_tokens;
mod permissions;
mod sessions;
mod user_admin;
mod users;

/// An email queued to a user, as both stores can tell it: which one, and the token its
/// link carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// `EmailKind::name`.
    pub kind: &'static str,
    pub token: Option<String>,
}

impl Mail {
    pub fn of(kind: &EmailKind) -> Self {
        let token = match kind {
            EmailKind::Activation { token } | EmailKind::PasswordReset { token } => {
                Some(token.clone())
            }
            EmailKind::ActivationConfirmed | EmailKind::PasswordChanged => None,
        };
        Mail {
            kind: kind.name(),
            token,
        }
    }
}

/// A fresh store: its port handles, and the few inspections no port offers.
#[allow(
    async_fn_in_trait,
    reason = "test support, awaited in place and never sent"
)]
pub trait Harness: Sized {
    type Users: UserRepository;
    type Sessions: SessionRepository;
    type ApiKeys: ApiKeyRepository;
    type OneTimeTokens: OneTimeTokenRepository;
    type Accounts: AccountRepository;
    type UserAdmin: UserAdminRepository;
    type Groups: GroupRepository;
    type Permissions: PermissionRepository;
    type Audit: AuditLog;

    /// An empty store, with the permissions the migration seeds.
    async fn start() -> Self;

    fn users(&self) -> Self::Users;
    fn sessions(&self) -> Self::Sessions;
    fn api_keys(&self) -> Self::ApiKeys;
    fn one_time_tokens(&self) -> Self::OneTimeTokens;
    fn accounts(&self) -> Self::Accounts;
    fn user_admin(&self) -> Self::UserAdmin;
    fn groups(&self) -> Self::Groups;
    fn permissions(&self) -> Self::Permissions;
    fn audit(&self) -> Self::Audit;

    /// The emails queued to the user, oldest first.
    async fn mails_to(&self, user: &User) -> Vec<Mail>;

    /// The user's one-time tokens, in the order they were stored.
    async fn one_time_tokens_of(&self, user: UserId) -> Vec<OneTimeTokenRecord>;

    /// The jtis of the user's refresh tokens that are not revoked.
    async fn live_refresh_tokens_of(&self, user: UserId) -> BTreeSet<Uuid>;
}

/// The instant every case starts from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 30, 0).unwrap()
}

/// `T0` plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

pub const HASH: &str = "bcrypt_sha256$current";
pub const OTHER_HASH: &str = "bcrypt_sha256$other";

/// An active, unprivileged user with `HASH`, joined at `T0`.
pub fn new_user(username: &str, email: &str) -> NewUser {
    NewUser {
        username: Username::parse(username).unwrap(),
        email: EmailAddress::parse(email).unwrap(),
        password_hash: HASH.to_owned(),
        first_name: String::new(),
        last_name: String::new(),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        now: t0(),
    }
}

/// An event at `T0`.
pub fn event(kind: AuditKind) -> AuditEvent {
    AuditEvent::new(kind, t0())
}

/// Creates `new` through the port, which must succeed.
pub async fn create<H: Harness>(h: &H, new: NewUser) -> User {
    h.users()
        .create(new, None, event(AuditKind::AccountRegistered))
        .await
        .expect("the user is created")
        .user
}

/// Creates an active user `username` with `username@example.com`.
pub async fn user<H: Harness>(h: &H, username: &str) -> User {
    create(h, new_user(username, &format!("{username}@example.com"))).await
}

/// Creates an inactive user awaiting activation through `link`.
pub async fn pending_user<H: Harness>(h: &H, username: &str, link: MailedToken) -> User {
    let new = NewUser {
        is_active: false,
        ..new_user(username, &format!("{username}@example.com"))
    };
    h.users()
        .create(new, Some(link), event(AuditKind::AccountRegistered))
        .await
        .expect("the user is created")
        .user
}

/// The stored user, who must exist.
pub async fn reload<H: Harness>(h: &H, id: UserId) -> User {
    h.users()
        .find_by_id(id)
        .await
        .unwrap()
        .expect("the user exists")
}

/// A one-time token of `purpose`, its raw form `raw` and digest the bytes of `raw`,
/// issued at `created` for an hour.
pub fn one_time_token(raw: &str, purpose: TokenPurpose, created: DateTime<Utc>) -> NewOneTimeToken {
    NewOneTimeToken {
        raw: raw.to_owned(),
        digest: digest(raw),
        purpose,
        created_at: created,
        expires_at: created + Duration::hours(1),
    }
}

/// The digest a token `raw` is stored under in these cases.
pub fn digest(raw: &str) -> Vec<u8> {
    raw.as_bytes().to_vec()
}

/// An activation link for `raw`, issued at `created` for an hour.
pub fn activation_link(raw: &str, created: DateTime<Utc>) -> MailedToken {
    MailedToken {
        token: one_time_token(raw, TokenPurpose::Activation, created),
        email: EmailKind::Activation {
            token: raw.to_owned(),
        },
    }
}

/// A reset link for `raw`, issued at `created` for an hour.
pub fn reset_link(raw: &str, created: DateTime<Utc>) -> MailedToken {
    MailedToken {
        token: one_time_token(raw, TokenPurpose::Reset, created),
        email: EmailKind::PasswordReset {
            token: raw.to_owned(),
        },
    }
}

/// The first token of a new session, issued at `started` for a day.
pub fn first_token(user: UserId, started: DateTime<Utc>) -> NewRefreshToken {
    NewRefreshToken {
        jti: Uuid::new_v4(),
        user_id: user,
        family_id: Uuid::new_v4(),
        parent_jti: None,
        created_at: started,
        expires_at: started + Duration::days(1),
        session_started_at: started,
        user_agent: Some("contract".to_owned()),
        ip: Some("192.0.2.1".to_owned()),
        parent_session: None,
    }
}

/// The successor of `token`, issued at `at`.
pub fn successor_of(token: &NewRefreshToken, at: DateTime<Utc>) -> NewRefreshToken {
    NewRefreshToken {
        jti: Uuid::new_v4(),
        parent_jti: Some(token.jti),
        created_at: at,
        ..token.clone()
    }
}

/// Starts a session with `token`, which must succeed.
pub async fn start<H: Harness>(h: &H, token: &NewRefreshToken) {
    assert!(
        h.sessions().start(token.clone(), None, None).await.unwrap(),
        "the session starts"
    );
}

/// Stores an API key for `user` without a password check, which must succeed.
pub async fn add_key<H: Harness>(h: &H, user: UserId, digest: &[u8]) {
    assert!(
        h.api_keys()
            .add(
                user,
                digest.to_vec(),
                None,
                event(AuditKind::LoginSucceeded)
            )
            .await
            .unwrap(),
        "the key is stored"
    );
}

/// The owner of the key with this digest, if any.
pub async fn key_owner<H: Harness>(h: &H, digest: &[u8]) -> Option<UserId> {
    h.api_keys().owner(digest).await.unwrap().map(|u| u.user.id)
}

/// The whole audit trail, oldest first.
pub async fn trail<H: Harness>(h: &H) -> Vec<AuditEvent> {
    let page = h
        .audit()
        .list(&AuditQuery {
            limit: 1_000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    page.items.into_iter().rev().map(|r| r.event).collect()
}

/// The kinds of the whole audit trail, oldest first.
pub async fn trail_kinds<H: Harness>(h: &H) -> Vec<AuditKind> {
    trail(h).await.into_iter().map(|e| e.kind).collect()
}

/// Codes as owned strings.
pub fn codes(codes: &[&str]) -> Vec<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}
