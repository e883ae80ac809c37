//! The route table: every path Gatehouse serves, in one place. Paths are matched with
//! and without their trailing slash (`NormalizePath` trims it before routing).

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::http::header::ALLOW;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};
use serde_json::json;

use crate::auth::Authenticated;
use crate::errors::ApiError;
use crate::handlers::{
    accounts, admin_groups, admin_users, api_keys, audit, credentials, djoser, health, jwks, me,
    register, sessions, tokens,
};
use crate::throttle::{RouteThrottle, Scope};

/// DRF's order for the `Allow` header.
const METHOD_ORDER: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

/// Parsers every endpoint accepts, as DRF's OPTIONS metadata lists them.
const PARSES: [&str; 3] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// One path with its methods; other methods get DRF's 405 with `Allow`, and OPTIONS
/// answers DRF's metadata.
pub struct Endpoint {
    name: &'static str,
    resource: Resource,
    methods: Vec<Method>,
    authenticated: bool,
    scope: Option<RouteThrottle>,
}

impl Endpoint {
    pub fn new(path: &str, name: &'static str) -> Self {
        Self {
            name,
            resource: web::resource(path),
            methods: Vec::new(),
            authenticated: false,
            scope: None,
        }
    }

    /// Requests also count against the rate of `scope` (DRF's `throttle_scope`).
    pub fn throttled(mut self, scope: Scope) -> Self {
        self.scope = Some(RouteThrottle::Scoped(scope));
        self
    }

    /// Requests are never throttled: health probes must not fail because a load
    /// balancer asks often.
    pub fn unthrottled(mut self) -> Self {
        self.scope = Some(RouteThrottle::Exempt);
        self
    }

    /// Every method needs a signed-in caller. As in DRF, authentication comes before
    /// method dispatch: an anonymous caller gets 401 even for a method not allowed.
    pub fn authenticated(mut self) -> Self {
        self.authenticated = true;
        self
    }

    fn route<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if method == Method::GET {
            self.resource = self.resource.route(web::head().to(handler.clone()));
            self.methods.push(Method::HEAD);
        }
        self.resource = self.resource.route(web::method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }

    pub fn get<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, handler)
    }

    pub fn post<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, handler)
    }

    pub fn put<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::PUT, handler)
    }

    pub fn patch<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::PATCH, handler)
    }

    pub fn delete<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, handler)
    }

    pub fn build(mut self) -> Resource {
        self.methods.push(Method::OPTIONS);
        let allow = METHOD_ORDER
            .iter()
            .filter(|m| self.methods.contains(m))
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let (name, authenticated) = (self.name, self.authenticated);
        let options_allow = allow.clone();
        self.resource
            .route(web::method(Method::OPTIONS).to(move |req: HttpRequest| {
                let allow = options_allow.clone();
                async move {
                    if authenticated {
                        Authenticated::extract(&req).await?;
                    }
                    Ok::<_, ApiError>(HttpResponse::Ok().insert_header((ALLOW, allow)).json(
                        json!({
                            "name": name,
                            "description": "",
                            "renders": ["application/json"],
                            "parses": PARSES,
                        }),
                    ))
                }
            }))
            .default_service(web::to(move |req: HttpRequest| {
                let allow = allow.clone();
                async move {
                    if authenticated {
                        Authenticated::extract(&req).await?;
                    }
                    Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
                        method: req.method().to_string(),
                        allow,
                    })
                }
            }))
    }
}

/// Builds the endpoint serving one path.
type Build = fn(&str) -> Endpoint;

/// Every route: SPEC §5.1's canonical paths and §5.2's aliases, each a path and the
/// endpoint that serves it, so an alias is one line that reuses its canonical
/// endpoint (or a thin adapter where its library answers differently). Routes match in
/// this order: fixed segments come before a `{…}` segment at the same place.
const ROUTES: &[(&str, Build)] = &[
    // Tokens (SimpleJWT), with SimpleJWT's default paths and Djoser's `jwt/…`.
    ("/auth/token", obtain_pair),
    ("/api/token", obtain_pair),
    ("/auth/jwt/create", obtain_pair),
    ("/auth/token/refresh", refresh),
    ("/api/token/refresh", refresh),
    ("/auth/jwt/refresh", refresh),
    ("/auth/token/verify", verify),
    ("/api/token/verify", verify),
    ("/auth/jwt/verify", verify),
    ("/auth/token/blacklist", blacklist),
    ("/api/token/blacklist", blacklist),
    // DRF token authentication (Djoser's `token/login`, `token/logout`).
    ("/auth/token/login", api_key_login),
    ("/auth/token/logout", api_key_logout),
    ("/auth/logout", logout),
    ("/auth/logout/all", logout_all),
    ("/auth/register", register),
    ("/auth/activate/resend", resend_activation),
    ("/auth/activate/{token}", activate),
    ("/auth/change-password", change_password),
    ("/auth/reset-password", reset_password),
    ("/auth/reset-password/{token}", reset_password_confirm),
    ("/auth/sessions", sessions),
    ("/auth/sessions/{id}", session),
    ("/auth/me", me),
    // Djoser's `users/…` routes, before the admin's `users/{id}`.
    ("/auth/users/me", me),
    ("/auth/users/set_password", djoser_set_password),
    ("/auth/users/reset_password", djoser_reset_password),
    (
        "/auth/users/reset_password_confirm",
        djoser_reset_password_confirm,
    ),
    ("/auth/users/activation", djoser_activation),
    ("/auth/users/resend_activation", djoser_resend_activation),
    ("/auth/users", user_list),
    ("/auth/users/{id}/set-password", user_set_password),
    ("/auth/users/{id}/logout", user_logout),
    ("/auth/users/{id}", user_instance),
    ("/auth/groups", group_list),
    ("/auth/groups/{id}", group_instance),
    ("/auth/permissions", permission_list),
    ("/auth/permissions/{id}", permission_instance),
    ("/auth/audit", audit_list),
    // Seed 002.
    ("/api/v1/auth/login_credentials", obtain_pair),
    ("/api/v1/auth/register_credentials", v1_register),
    ("/api/v1/auth/access_token", v1_access_token),
    ("/api/v1/auth/refresh_token", obtain_pair),
    ("/api/v1/auth/forgot_password", reset_password),
    ("/api/v1/auth/reset_password", v1_reset_password),
    ("/api/v1/auth/change_password", v1_change_password),
    ("/api/v1/auth/logout", v1_logout),
    ("/api/v1/auth/session", v1_session),
    ("/api/v1/auth/tokens", v1_tokens),
    ("/.well-known/jwks.json", jwks),
    ("/healthz", healthz),
    ("/readyz", readyz),
];

/// Every route, ready to mount.
pub fn endpoints() -> Vec<Resource> {
    ROUTES
        .iter()
        .map(|(path, build)| build(path).build())
        .collect()
}

/// The throttling of each route that has a scope or is exempt, by route pattern: an
/// alias counts against its canonical route's scope because it is built by the same
/// function.
pub fn scopes() -> HashMap<&'static str, RouteThrottle> {
    ROUTES
        .iter()
        .filter_map(|(path, build)| build(path).scope.map(|scope| (*path, scope)))
        .collect()
}

fn obtain_pair(path: &str) -> Endpoint {
    Endpoint::new(path, "Token Obtain Pair")
        .throttled(Scope::Login)
        .post(tokens::obtain)
}

fn refresh(path: &str) -> Endpoint {
    Endpoint::new(path, "Token Refresh").post(tokens::refresh)
}

fn verify(path: &str) -> Endpoint {
    Endpoint::new(path, "Token Verify").post(tokens::verify)
}

fn blacklist(path: &str) -> Endpoint {
    Endpoint::new(path, "Token Blacklist").post(tokens::blacklist)
}

fn api_key_login(path: &str) -> Endpoint {
    Endpoint::new(path, "Token Create")
        .throttled(Scope::Login)
        .post(api_keys::login)
}

fn api_key_logout(path: &str) -> Endpoint {
    Endpoint::new(path, "Token Destroy")
        .authenticated()
        .post(api_keys::logout)
}

fn logout(path: &str) -> Endpoint {
    Endpoint::new(path, "Logout").post(tokens::logout)
}

fn logout_all(path: &str) -> Endpoint {
    Endpoint::new(path, "Logout All")
        .authenticated()
        .post(tokens::logout_all)
}

fn register(path: &str) -> Endpoint {
    Endpoint::new(path, "Register")
        .throttled(Scope::Register)
        .post(register::register)
}

fn resend_activation(path: &str) -> Endpoint {
    Endpoint::new(path, "Resend Activation")
        .throttled(Scope::PasswordReset)
        .post(accounts::resend_activation)
}

fn activate(path: &str) -> Endpoint {
    Endpoint::new(path, "Activate").post(accounts::activate)
}

fn change_password(path: &str) -> Endpoint {
    Endpoint::new(path, "Change Password")
        .authenticated()
        .post(accounts::change_password)
}

fn reset_password(path: &str) -> Endpoint {
    Endpoint::new(path, "Reset Password")
        .throttled(Scope::PasswordReset)
        .post(accounts::request_reset)
}

fn reset_password_confirm(path: &str) -> Endpoint {
    Endpoint::new(path, "Reset Password Confirm").post(accounts::confirm_reset)
}

fn sessions(path: &str) -> Endpoint {
    Endpoint::new(path, "Sessions")
        .authenticated()
        .get(sessions::list)
}

fn session(path: &str) -> Endpoint {
    Endpoint::new(path, "Session")
        .authenticated()
        .delete(sessions::end)
}

fn me(path: &str) -> Endpoint {
    Endpoint::new(path, "Me")
        .authenticated()
        .get(me::get)
        .put(me::update)
        .patch(me::update)
        .delete(me::delete)
}

fn djoser_set_password(path: &str) -> Endpoint {
    Endpoint::new(path, "Set Password")
        .authenticated()
        .post(djoser::set_password)
}

fn djoser_reset_password(path: &str) -> Endpoint {
    Endpoint::new(path, "Reset Password")
        .throttled(Scope::PasswordReset)
        .post(djoser::reset_password)
}

fn djoser_reset_password_confirm(path: &str) -> Endpoint {
    Endpoint::new(path, "Reset Password Confirm").post(djoser::reset_password_confirm)
}

fn djoser_activation(path: &str) -> Endpoint {
    Endpoint::new(path, "Activation").post(djoser::activation)
}

fn djoser_resend_activation(path: &str) -> Endpoint {
    Endpoint::new(path, "Resend Activation")
        .throttled(Scope::PasswordReset)
        .post(djoser::resend_activation)
}

fn user_list(path: &str) -> Endpoint {
    Endpoint::new(path, "User List")
        .authenticated()
        .get(admin_users::list)
        .post(admin_users::create)
}

fn user_set_password(path: &str) -> Endpoint {
    Endpoint::new(path, "Set Password")
        .authenticated()
        .post(admin_users::set_password)
}

fn user_logout(path: &str) -> Endpoint {
    Endpoint::new(path, "Logout User")
        .authenticated()
        .post(admin_users::logout)
}

fn user_instance(path: &str) -> Endpoint {
    Endpoint::new(path, "User Instance")
        .authenticated()
        .get(admin_users::retrieve)
        .put(admin_users::update)
        .patch(admin_users::partial_update)
        .delete(admin_users::destroy)
}

fn group_list(path: &str) -> Endpoint {
    Endpoint::new(path, "Group List")
        .authenticated()
        .get(admin_groups::list_groups)
        .post(admin_groups::create_group)
}

fn group_instance(path: &str) -> Endpoint {
    Endpoint::new(path, "Group Instance")
        .authenticated()
        .get(admin_groups::retrieve_group)
        .put(admin_groups::update_group)
        .patch(admin_groups::partial_update_group)
        .delete(admin_groups::destroy_group)
}

fn permission_list(path: &str) -> Endpoint {
    Endpoint::new(path, "Permission List")
        .authenticated()
        .get(admin_groups::list_permissions)
        .post(admin_groups::create_permission)
}

fn permission_instance(path: &str) -> Endpoint {
    Endpoint::new(path, "Permission Instance")
        .authenticated()
        .get(admin_groups::retrieve_permission)
        .delete(admin_groups::destroy_permission)
}

fn audit_list(path: &str) -> Endpoint {
    Endpoint::new(path, "Audit Event List")
        .authenticated()
        .get(audit::list)
}

fn v1_register(path: &str) -> Endpoint {
    Endpoint::new(path, "Register Credentials")
        .throttled(Scope::Register)
        .post(credentials::register)
}

fn v1_access_token(path: &str) -> Endpoint {
    Endpoint::new(path, "Access Token").post(credentials::access_token)
}

fn v1_reset_password(path: &str) -> Endpoint {
    Endpoint::new(path, "Reset Password").post(credentials::reset_password)
}

fn v1_change_password(path: &str) -> Endpoint {
    Endpoint::new(path, "Change Password")
        .authenticated()
        .post(credentials::change_password)
}

fn v1_logout(path: &str) -> Endpoint {
    Endpoint::new(path, "Logout").post(credentials::logout)
}

fn v1_session(path: &str) -> Endpoint {
    Endpoint::new(path, "Session")
        .authenticated()
        .get(credentials::session)
}

fn v1_tokens(path: &str) -> Endpoint {
    Endpoint::new(path, "Tokens")
        .authenticated()
        .get(credentials::tokens)
}

fn jwks(path: &str) -> Endpoint {
    Endpoint::new(path, "JWKS").get(jwks::jwks)
}

fn healthz(path: &str) -> Endpoint {
    Endpoint::new(path, "Health")
        .unthrottled()
        .get(health::healthz)
}

fn readyz(path: &str) -> Endpoint {
    Endpoint::new(path, "Readiness")
        .unthrottled()
        .get(health::readyz)
}

/// Unknown paths: DRF's 404.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
