//! Throttling (SPEC §8) as DRF's throttle classes do it, before the handler: every
//! request counts against the `anon` rate (by client address) or the `user` rate (by
//! the verified identity of its credentials); the routes of a scope (`login`,
//! `register`, `password_reset`, `password_check`) also count against the scope's rate
//! by address. Past a limit: 429 with `Retry-After`. (The per-account limit on wrong
//! passwords is the use cases' own: `application::guesses`.)
//!
//! The counters live behind the `RateLimiter` port: in this process, or in Redis so
//! that every instance shares them. If Redis cannot be reached the requests go through
//! (a login is then refused by its use case under `fail_closed_login`), and `/readyz`
//! says so.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ::metrics::counter;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use application::config;
use application::metrics::{self, LoginOutcome};
use domain::ports::RateLimiter;
use domain::throttle::{Rate, Verdict};
use infrastructure::throttle::RateLimiterStore;

use crate::auth::{Presented, VerifiedApiKey, presented};
use crate::errors::ApiError;
use crate::startup::AppState;

/// The throttled scopes of DRF's `ScopedRateThrottle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Login,
    Register,
    /// Reset requests and activation resends: the routes that send mail.
    PasswordReset,
    /// The routes that check a signed-in user's current password (besides the
    /// account's own budget of guesses, which the use cases keep).
    PasswordCheck,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Login => "login",
            Scope::Register => "register",
            Scope::PasswordReset => "password_reset",
            Scope::PasswordCheck => "password_check",
        }
    }
}

/// How a route is throttled besides the `anon`/`user` rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteThrottle {
    Scoped(Scope),
    /// Scoped for this method only (the route's other methods are not).
    ScopedMethod(&'static str, Scope),
    /// Not at all (health probes).
    Exempt,
}

/// The rates of the HTTP edge (`throttle.*`), and whom forwarding headers are believed
/// from (see `forwarded`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ThrottleRates {
    #[serde(deserialize_with = "config::rate")]
    pub anon: Rate,
    #[serde(deserialize_with = "config::rate")]
    pub user: Rate,
    #[serde(deserialize_with = "config::rate")]
    pub login: Rate,
    #[serde(deserialize_with = "config::rate")]
    pub register: Rate,
    /// Reset requests and activation resends.
    #[serde(deserialize_with = "config::rate")]
    pub password_reset: Rate,
    /// Password changes and account deletions, which check the current password.
    #[serde(deserialize_with = "config::rate")]
    pub password_check: Rate,
    #[serde(deserialize_with = "proxies")]
    pub trusted_proxies: Vec<IpAddr>,
}

fn proxies<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<IpAddr>, D::Error> {
    config::list(deserializer)?
        .iter()
        .map(|raw| {
            raw.trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("invalid IP address {raw:?}")))
        })
        .collect()
}

pub(crate) struct Throttle {
    store: RateLimiterStore,
    settings: ThrottleRates,
    /// The throttling of each route pattern that has a scope or is exempt.
    scopes: HashMap<&'static str, RouteThrottle>,
}

impl Throttle {
    pub(crate) fn new(
        settings: &ThrottleRates,
        store: RateLimiterStore,
        scopes: HashMap<&'static str, RouteThrottle>,
    ) -> Self {
        Self {
            store,
            settings: settings.clone(),
            scopes,
        }
    }

    /// `"off"`, `"memory"`, or whether Redis answers: for `/readyz`.
    pub(crate) async fn status(&self) -> &'static str {
        self.store.probe().await
    }

    fn scope_rate(&self, scope: Scope) -> Rate {
        match scope {
            Scope::Login => self.settings.login,
            Scope::Register => self.settings.register,
            Scope::PasswordReset => self.settings.password_reset,
            Scope::PasswordCheck => self.settings.password_check,
        }
    }

    /// Counts the request against every check and refuses it if any is exhausted,
    /// naming the longest wait, as DRF does.
    async fn check(&self, checks: &[Check]) -> Result<(), ApiError> {
        let mut wait = None::<Duration>;
        for check in checks {
            let decision = match self.store.hit(&check.key, check.rate).await {
                Ok(Verdict::Allowed) => "allowed",
                Ok(Verdict::Throttled { retry_after }) => {
                    wait = Some(wait.map_or(retry_after, |w| w.max(retry_after)));
                    if check.scope == Scope::Login.name() {
                        metrics::login(LoginOutcome::Throttled);
                    }
                    "throttled"
                }
                Err(error) => {
                    tracing::debug!(error = %error, key = %check.key, "throttle store failed: the request goes ahead");
                    "store_unavailable"
                }
            };
            counter!(metrics::THROTTLE_DECISIONS, "scope" => check.scope, "decision" => decision)
                .increment(1);
        }
        match wait {
            Some(wait) => Err(throttled(wait)),
            None => Ok(()),
        }
    }
}

/// One rate a request counts against: its scope's name, its bucket, the rate.
struct Check {
    scope: &'static str,
    key: String,
    rate: Rate,
}

/// DRF's `Throttled`: the wait in whole seconds, rounded up.
pub(crate) fn throttled(wait: Duration) -> ApiError {
    ApiError::Throttled {
        wait: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// The address a bucket counts: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber's block; counting single IPv6 addresses would give him 2^64 buckets).
fn bucket_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// The user the request's credentials verifiably name: a validly signed access
/// token's (checked without the database), or a stored API key's (one lookup: a
/// made-up key must not buy a bucket of its own). `None` counts as anonymous.
async fn identity(state: &AppState, req: &ServiceRequest) -> Option<String> {
    let header = req.headers().get(AUTHORIZATION)?;
    let user = match presented(header.as_bytes(), &state.auth.auth_header_types).ok()? {
        Presented::Jwt(token) => state.gatehouse.identify(std::str::from_utf8(token).ok()?)?,
        Presented::ApiKey(key) => {
            let key = std::str::from_utf8(key).ok()?;
            let principal = state.gatehouse.authenticate_api_key(key).await.ok()?;
            let user = principal.profile.user.id;
            // Authentication will find the key looked up already.
            req.extensions_mut().insert(VerifiedApiKey(principal));
            user
        }
    };
    Some(format!("user:{user}"))
}

/// The middleware: every route, before its handler.
pub(crate) async fn throttle(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let throttle = &state.throttle;
    if throttle.store.is_off() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let ip = state
        .forwarded
        .client_ip(req.request())
        .map_or_else(|| "unknown".to_owned(), bucket_of);
    // Routing has not happened yet: match the path as the router will, decoded
    // (`/auth/%74oken` is `/auth/token`), not as it was sent.
    let scope = match req
        .resource_map()
        .match_pattern(req.match_info().as_str())
        .and_then(|pattern| throttle.scopes.get(pattern.as_str()).copied())
    {
        Some(RouteThrottle::Exempt) => return Ok(next.call(req).await?.map_into_left_body()),
        Some(RouteThrottle::Scoped(scope)) => Some(scope),
        Some(RouteThrottle::ScopedMethod(method, scope)) => {
            (req.method().as_str() == method).then_some(scope)
        }
        None => None,
    };
    let mut checks = Vec::with_capacity(2);
    if let Some(scope) = scope {
        checks.push(Check {
            scope: scope.name(),
            key: format!("{}:{ip}", scope.name()),
            rate: throttle.scope_rate(scope),
        });
    }
    checks.push(match identity(&state, &req).await {
        Some(identity) => Check {
            scope: "user",
            key: identity,
            rate: throttle.settings.user,
        },
        None => Check {
            scope: "anon",
            key: format!("anon:{ip}"),
            rate: throttle.settings.anon,
        },
    });
    if let Err(error) = throttle.check(&checks).await {
        let response = actix_web::ResponseError::error_response(&error);
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64_block() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket_of(a), "2001:db8:1:2::/64");
        assert_eq!(bucket_of(a), bucket_of(b));
        assert_ne!(bucket_of(a), bucket_of(other));
        assert_eq!(bucket_of("203.0.113.7".parse().unwrap()), "203.0.113.7");
        assert_eq!(
            bucket_of("::ffff:203.0.113.7".parse().unwrap()),
            "203.0.113.7"
        );
    }
}
