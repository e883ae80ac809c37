//! What Gatehouse counts, named in one place. Every layer records through the
//! `metrics` facade, which does nothing until `gatehouse serve` installs its
//! Prometheus recorder (`GET /metrics`); the names, their labels and their help text
//! are here, so that a dashboard has one list to read.

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram};

use crate::TokenRejection;
use crate::use_cases::authenticate::AuthenticateError;

pub const HTTP_REQUESTS: &str = "gatehouse_http_requests_total";
pub const HTTP_DURATION: &str = "gatehouse_http_request_duration_seconds";
pub const LOGINS: &str = "gatehouse_logins_total";
pub const REFRESHES: &str = "gatehouse_refreshes_total";
pub const TOKENS_REFUSED: &str = "gatehouse_tokens_refused_total";
pub const HASH_QUEUE: &str = "gatehouse_password_hash_queue_depth";
pub const HASH_WAIT: &str = "gatehouse_password_hash_wait_seconds";
pub const OUTBOX_BACKLOG: &str = "gatehouse_outbox_backlog";
pub const OUTBOX_OLDEST: &str = "gatehouse_outbox_oldest_pending_age_seconds";
pub const OUTBOX_DELIVERIES: &str = "gatehouse_outbox_deliveries_total";
pub const POOL_CONNECTIONS: &str = "gatehouse_db_pool_connections";
pub const POOL_WAITING: &str = "gatehouse_db_pool_waiting";
pub const POOL_WAIT: &str = "gatehouse_db_pool_wait_seconds";
pub const THROTTLE_DECISIONS: &str = "gatehouse_throttle_decisions_total";
pub const REDIS_UP: &str = "gatehouse_redis_up";
pub const AUTH_CACHE_LISTENING: &str = "gatehouse_auth_cache_listening";
pub const AUTH_CACHE_ENTRIES: &str = "gatehouse_auth_cache_entries";

/// Gives every metric its help text and unit; called once, with the recorder.
pub fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route pattern (never the raw path), method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from a request's arrival to its answer, by route pattern and method"
    );
    describe_counter!(
        LOGINS,
        "Sign-ins (password logins and API-key logins), by outcome: success, bad_credentials, inactive, throttled"
    );
    describe_counter!(
        REFRESHES,
        "Refresh-token presentations, by outcome: rotated, refreshed (rotation off), grace_successor, reuse_detected (the session is revoked), refused"
    );
    describe_counter!(
        TOKENS_REFUSED,
        "Credentials refused when authenticating or verifying, by kind (access, refresh, api_key) and reason"
    );
    describe_gauge!(HASH_QUEUE, "Password hashes waiting for a hashing thread");
    describe_histogram!(
        HASH_WAIT,
        Unit::Seconds,
        "Time a password hash waited for a hashing thread"
    );
    describe_gauge!(
        OUTBOX_BACKLOG,
        "Emails queued and not yet delivered nor given up (read at scrape)"
    );
    describe_gauge!(
        OUTBOX_OLDEST,
        Unit::Seconds,
        "Age of the oldest email waiting for delivery, 0 when none waits (read at scrape)"
    );
    describe_counter!(
        OUTBOX_DELIVERIES,
        "Email delivery attempts, by result: sent, retry (refused for now), failed (given up)"
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        "PostgreSQL pool connections, by state: in_use, idle"
    );
    describe_gauge!(
        POOL_WAITING,
        "Requests waiting for a PostgreSQL pool connection (read at scrape)"
    );
    describe_histogram!(
        POOL_WAIT,
        Unit::Seconds,
        "Time a checkout waited for a PostgreSQL pool connection"
    );
    describe_counter!(
        THROTTLE_DECISIONS,
        "Throttle checks, by scope (anon, user, login, register, password_reset, password_check) and decision (allowed, throttled, store_unavailable)"
    );
    describe_gauge!(
        REDIS_UP,
        "1 when the last call to the throttle store (Redis) succeeded, else 0; absent without Redis"
    );
    describe_gauge!(
        AUTH_CACHE_LISTENING,
        "1 while the auth cache's LISTEN connection is live (the cache answers), else 0"
    );
    describe_gauge!(AUTH_CACHE_ENTRIES, "Entries held by the auth cache");
}

/// How a sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Success,
    /// Unknown user, wrong password, or a password changed under the login.
    BadCredentials,
    Inactive,
    /// Refused before any password was checked: the account's budget of guesses, or
    /// the login route's rate.
    Throttled,
}

pub fn login(outcome: LoginOutcome) {
    let outcome = match outcome {
        LoginOutcome::Success => "success",
        LoginOutcome::BadCredentials => "bad_credentials",
        LoginOutcome::Inactive => "inactive",
        LoginOutcome::Throttled => "throttled",
    };
    counter!(LOGINS, "outcome" => outcome).increment(1);
}

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    Rotated,
    /// Rotation is off: a new access token only.
    Refreshed,
    /// A token rotated within the grace window: its successor again.
    GraceSuccessor,
    /// A token rotated before the grace window: the session is revoked.
    ReuseDetected,
    Refused,
}

pub fn refresh(outcome: RefreshOutcome) {
    let outcome = match outcome {
        RefreshOutcome::Rotated => "rotated",
        RefreshOutcome::Refreshed => "refreshed",
        RefreshOutcome::GraceSuccessor => "grace_successor",
        RefreshOutcome::ReuseDetected => "reuse_detected",
        RefreshOutcome::Refused => "refused",
    };
    counter!(REFRESHES, "outcome" => outcome).increment(1);
}

/// The kind of credential refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Access,
    Refresh,
    ApiKey,
}

/// Counts a refused credential; a fault (the store did not answer) refuses nothing.
pub fn refused(credential: CredentialKind, error: &AuthenticateError) {
    let reason = match error {
        AuthenticateError::Token(rejection) => rejection_reason(*rejection),
        AuthenticateError::UserNotFound => "user_not_found",
        AuthenticateError::UserInactive => "user_inactive",
        AuthenticateError::PasswordChanged => "password_changed",
        AuthenticateError::InvalidApiKey => "unknown_key",
        AuthenticateError::ApiKeyUserInactive => "user_inactive",
        AuthenticateError::Fault(_) => return,
    };
    let kind = match credential {
        CredentialKind::Access => "access",
        CredentialKind::Refresh => "refresh",
        CredentialKind::ApiKey => "api_key",
    };
    counter!(TOKENS_REFUSED, "kind" => kind, "reason" => reason).increment(1);
}

fn rejection_reason(rejection: TokenRejection) -> &'static str {
    match rejection {
        TokenRejection::Invalid => "invalid",
        TokenRejection::Expired => "expired",
        TokenRejection::Blacklisted => "revoked",
        TokenRejection::WrongType => "wrong_type",
    }
}
