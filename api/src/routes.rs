//! The route table: every path Gatehouse serves, in one place, one row per endpoint
//! with its name (DRF's view name), who may call it, how it is throttled and its
//! methods. `ROUTES` holds the canonical routes (SPEC §5.1): a row's first path is the
//! canonical one, the others are SPEC §5.2's aliases of it; `ALIASES` holds the alias
//! routes that answer differently (Djoser's, seed 002's). The OpenAPI document
//! (`openapi`) describes the canonical paths, and a test holds it to this table. Paths
//! are matched with and without their trailing slash (`NormalizePath` trims it before
//! routing).

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::{HttpResponse, Resource};

use crate::endpoint::Endpoint;
use crate::errors::ApiError;
use crate::handlers::{
    accounts, admin_groups, admin_users, api_keys, audit, credentials, djoser, docs, health, jwks,
    me, metrics, register, sessions, tokens,
};
use crate::openapi;
use crate::throttle::{RouteThrottle, Scope};

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Anyone,
    /// A caller signed in with an access token or an API key; checked before the
    /// method (DRF's order).
    SignedIn,
}

/// One endpoint: the paths it serves, and its columns.
struct Route {
    paths: &'static [&'static str],
    name: &'static str,
    access: Access,
    /// Besides the `anon`/`user` rates: a scope's rate, or no throttling at all.
    throttle: Option<RouteThrottle>,
    methods: fn(Endpoint) -> Endpoint,
}

use Access::{Anyone, SignedIn};

const LOGIN: Option<RouteThrottle> = Some(RouteThrottle::Scoped(Scope::Login));
const REGISTER: Option<RouteThrottle> = Some(RouteThrottle::Scoped(Scope::Register));
const MAILING: Option<RouteThrottle> = Some(RouteThrottle::Scoped(Scope::PasswordReset));
/// The routes that check the current password.
const PASSWORD_CHECK: Option<RouteThrottle> = Some(RouteThrottle::Scoped(Scope::PasswordCheck));
/// Health probes must not fail because a load balancer asks often.
const EXEMPT: Option<RouteThrottle> = Some(RouteThrottle::Exempt);

#[rustfmt::skip]
const ROUTES: &[Route] = &[
    // Tokens (SimpleJWT), with SimpleJWT's default paths, Djoser's `jwt/…` and seed 002.
    Route { paths: &["/auth/token", "/api/token", "/auth/jwt/create", "/api/v1/auth/login_credentials", "/api/v1/auth/refresh_token"],
        name: "Token Obtain Pair", access: Anyone, throttle: LOGIN, methods: |e| e.post(tokens::obtain) },
    Route { paths: &["/auth/token/refresh", "/api/token/refresh", "/auth/jwt/refresh"],
        name: "Token Refresh", access: Anyone, throttle: None, methods: |e| e.post(tokens::refresh) },
    Route { paths: &["/auth/token/verify", "/api/token/verify", "/auth/jwt/verify"],
        name: "Token Verify", access: Anyone, throttle: None, methods: |e| e.post(tokens::verify) },
    Route { paths: &["/auth/token/blacklist", "/api/token/blacklist"],
        name: "Token Blacklist", access: Anyone, throttle: None, methods: |e| e.post(tokens::blacklist) },
    // DRF token authentication (Djoser's `token/login`, `token/logout`).
    Route { paths: &["/auth/token/login"],
        name: "Token Create", access: Anyone, throttle: LOGIN, methods: |e| e.post(api_keys::login) },
    Route { paths: &["/auth/token/logout"],
        name: "Token Destroy", access: SignedIn, throttle: None, methods: |e| e.post(api_keys::logout) },
    Route { paths: &["/auth/logout"],
        name: "Logout", access: Anyone, throttle: None, methods: |e| e.post(tokens::logout) },
    Route { paths: &["/auth/logout/all"],
        name: "Logout All", access: SignedIn, throttle: None, methods: |e| e.post(tokens::logout_all) },
    Route { paths: &["/auth/register"],
        name: "Register", access: Anyone, throttle: REGISTER, methods: |e| e.post(register::register) },
    Route { paths: &["/auth/activate/resend"],
        name: "Resend Activation", access: Anyone, throttle: MAILING, methods: |e| e.post(accounts::resend_activation) },
    Route { paths: &["/auth/activate/{token}"],
        name: "Activate", access: Anyone, throttle: None, methods: |e| e.post(accounts::activate) },
    Route { paths: &["/auth/change-password"],
        name: "Change Password", access: SignedIn, throttle: PASSWORD_CHECK, methods: |e| e.post(accounts::change_password) },
    Route { paths: &["/auth/reset-password", "/api/v1/auth/forgot_password"],
        name: "Reset Password", access: Anyone, throttle: MAILING, methods: |e| e.post(accounts::request_reset) },
    Route { paths: &["/auth/reset-password/{token}"],
        name: "Reset Password Confirm", access: Anyone, throttle: None, methods: |e| e.post(accounts::confirm_reset) },
    Route { paths: &["/auth/sessions"],
        name: "Sessions", access: SignedIn, throttle: None, methods: |e| e.get(sessions::list) },
    Route { paths: &["/auth/sessions/{id}"],
        name: "Session", access: SignedIn, throttle: None, methods: |e| e.delete(sessions::end) },
    Route { paths: &["/auth/me", "/auth/users/me"],
        name: "Me", access: SignedIn, throttle: Some(RouteThrottle::ScopedMethod("DELETE", Scope::PasswordCheck)),
        methods: |e| e.get(me::get).put(me::update).patch(me::update).delete(me::delete) },
    // The admin API.
    Route { paths: &["/auth/users"],
        name: "User List", access: SignedIn, throttle: None,
        methods: |e| e.get(admin_users::list).post(admin_users::create) },
    Route { paths: &["/auth/users/{id}/set-password"],
        name: "Set Password", access: SignedIn, throttle: None, methods: |e| e.post(admin_users::set_password) },
    Route { paths: &["/auth/users/{id}/logout"],
        name: "Logout User", access: SignedIn, throttle: None, methods: |e| e.post(admin_users::logout) },
    Route { paths: &["/auth/users/{id}"],
        name: "User Instance", access: SignedIn, throttle: None,
        methods: |e| e.get(admin_users::retrieve).put(admin_users::update)
            .patch(admin_users::partial_update).delete(admin_users::destroy) },
    Route { paths: &["/auth/groups"],
        name: "Group List", access: SignedIn, throttle: None,
        methods: |e| e.get(admin_groups::list_groups).post(admin_groups::create_group) },
    Route { paths: &["/auth/groups/{id}"],
        name: "Group Instance", access: SignedIn, throttle: None,
        methods: |e| e.get(admin_groups::retrieve_group).put(admin_groups::update_group)
            .patch(admin_groups::partial_update_group).delete(admin_groups::destroy_group) },
    Route { paths: &["/auth/permissions"],
        name: "Permission List", access: SignedIn, throttle: None,
        methods: |e| e.get(admin_groups::list_permissions).post(admin_groups::create_permission) },
    Route { paths: &["/auth/permissions/{id}"],
        name: "Permission Instance", access: SignedIn, throttle: None,
        methods: |e| e.get(admin_groups::retrieve_permission).delete(admin_groups::destroy_permission) },
    Route { paths: &["/auth/audit"],
        name: "Audit Event List", access: SignedIn, throttle: None, methods: |e| e.get(audit::list) },
    // Operations.
    Route { paths: &["/.well-known/jwks.json"],
        name: "JWKS", access: Anyone, throttle: None, methods: |e| e.get(jwks::jwks) },
    Route { paths: &["/healthz"],
        name: "Health", access: Anyone, throttle: EXEMPT, methods: |e| e.get(health::healthz) },
    Route { paths: &["/readyz"],
        name: "Readiness", access: Anyone, throttle: EXEMPT, methods: |e| e.get(health::readyz) },
    Route { paths: &["/metrics"],
        name: "Metrics", access: Anyone, throttle: EXEMPT, methods: |e| e.get(metrics::metrics) },
    Route { paths: &["/api/schema"],
        name: "Schema", access: Anyone, throttle: None, methods: |e| e.get(openapi::schema) },
    // Swagger UI's page, then its files.
    Route { paths: &["/api/docs", "/api/docs/{file}"],
        name: "Docs", access: Anyone, throttle: None, methods: |e| e.get(docs::swagger_ui) },
];

/// The alias routes that answer differently from the canonical ones (SPEC §5.2).
#[rustfmt::skip]
const ALIASES: &[Route] = &[
    // Djoser's `users/…` routes where they answer differently from the canonical ones.
    Route { paths: &["/auth/users/set_password"],
        name: "Set Password", access: SignedIn, throttle: PASSWORD_CHECK, methods: |e| e.post(djoser::set_password) },
    Route { paths: &["/auth/users/reset_password"],
        name: "Reset Password", access: Anyone, throttle: MAILING, methods: |e| e.post(djoser::reset_password) },
    Route { paths: &["/auth/users/reset_password_confirm"],
        name: "Reset Password Confirm", access: Anyone, throttle: None, methods: |e| e.post(djoser::reset_password_confirm) },
    Route { paths: &["/auth/users/activation"],
        name: "Activation", access: Anyone, throttle: None, methods: |e| e.post(djoser::activation) },
    Route { paths: &["/auth/users/resend_activation"],
        name: "Resend Activation", access: Anyone, throttle: MAILING, methods: |e| e.post(djoser::resend_activation) },
    // Seed 002 where it answers differently from the canonical routes.
    Route { paths: &["/api/v1/auth/register_credentials"],
        name: "Register Credentials", access: Anyone, throttle: REGISTER, methods: |e| e.post(credentials::register) },
    Route { paths: &["/api/v1/auth/access_token"],
        name: "Access Token", access: Anyone, throttle: None, methods: |e| e.post(credentials::access_token) },
    Route { paths: &["/api/v1/auth/reset_password"],
        name: "Reset Password", access: Anyone, throttle: None, methods: |e| e.post(credentials::reset_password) },
    Route { paths: &["/api/v1/auth/change_password"],
        name: "Change Password", access: SignedIn, throttle: PASSWORD_CHECK, methods: |e| e.post(credentials::change_password) },
    Route { paths: &["/api/v1/auth/logout"],
        name: "Logout", access: Anyone, throttle: None, methods: |e| e.post(credentials::logout) },
    Route { paths: &["/api/v1/auth/session"],
        name: "Session", access: SignedIn, throttle: None, methods: |e| e.get(credentials::session) },
    Route { paths: &["/api/v1/auth/tokens"],
        name: "Tokens", access: SignedIn, throttle: None, methods: |e| e.get(credentials::tokens) },
];

/// Every (path, route) pair, fixed paths first: actix matches resources in the order
/// they are registered, and `/auth/users/me` must not be taken for `/auth/users/{id}`.
fn paths() -> impl Iterator<Item = (&'static str, &'static Route)> {
    let all = || {
        ROUTES
            .iter()
            .chain(ALIASES)
            .flat_map(|route| route.paths.iter().map(move |path| (*path, route)))
    };
    let fixed = all().filter(|(path, _)| !path.contains('{'));
    fixed.chain(all().filter(|(path, _)| path.contains('{')))
}

/// Every route, ready to mount.
pub(crate) fn endpoints() -> Vec<Resource> {
    paths()
        .map(|(path, route)| {
            let endpoint = Endpoint::new(path, route.name, route.access == SignedIn);
            (route.methods)(endpoint).build()
        })
        .collect()
}

/// One method of a canonical path, as the OpenAPI document must describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CanonicalOperation {
    /// As in the table: no trailing slash.
    pub(crate) path: &'static str,
    pub(crate) method: Method,
    pub(crate) access: Access,
    /// Whether the request counts against a rate (every route but the exempt ones).
    pub(crate) throttled: bool,
}

/// Every method of every canonical path (`HEAD` and `OPTIONS`, which every GET and
/// every path answer, left out).
pub(crate) fn canonical_operations() -> Vec<CanonicalOperation> {
    ROUTES
        .iter()
        .flat_map(|route| {
            let endpoint = (route.methods)(Endpoint::new(route.paths[0], route.name, false));
            endpoint
                .methods()
                .iter()
                .filter(|method| **method != Method::HEAD && **method != Method::OPTIONS)
                .map(|method| CanonicalOperation {
                    path: route.paths[0],
                    method: method.clone(),
                    access: route.access,
                    throttled: route.throttle != EXEMPT,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The throttling of each path that has a scope or is exempt.
pub(crate) fn scopes() -> HashMap<&'static str, RouteThrottle> {
    paths()
        .filter_map(|(path, route)| route.throttle.map(|throttle| (path, throttle)))
        .collect()
}

/// Unknown paths: DRF's 404.
pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_path_is_served_once() {
        let mut seen = HashSet::new();
        for (path, _) in paths() {
            assert!(seen.insert(path), "{path} is in the table twice");
        }
        assert_eq!(
            seen.len(),
            ROUTES
                .iter()
                .chain(ALIASES)
                .map(|r| r.paths.len())
                .sum::<usize>()
        );
    }

    #[test]
    fn every_login_route_counts_against_the_login_scope() {
        let scopes = scopes();
        for path in [
            "/auth/token",
            "/api/token",
            "/auth/jwt/create",
            "/api/v1/auth/login_credentials",
            "/api/v1/auth/refresh_token",
            "/auth/token/login",
        ] {
            assert_eq!(
                scopes.get(path),
                Some(&RouteThrottle::Scoped(Scope::Login)),
                "{path}"
            );
        }
    }
}
