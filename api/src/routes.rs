//! The route table: every path Gatehouse serves, in one place. Paths are matched with
//! and without their trailing slash (`NormalizePath` trims it before routing).

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
}

impl Endpoint {
    pub fn new(path: &str, name: &'static str) -> Self {
        Self {
            name,
            resource: web::resource(path),
            methods: Vec::new(),
            authenticated: false,
        }
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
type Build = fn(&str) -> Resource;

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
    ROUTES.iter().map(|(path, build)| build(path)).collect()
}

fn obtain_pair(path: &str) -> Resource {
    Endpoint::new(path, "Token Obtain Pair")
        .post(tokens::obtain)
        .build()
}

fn refresh(path: &str) -> Resource {
    Endpoint::new(path, "Token Refresh")
        .post(tokens::refresh)
        .build()
}

fn verify(path: &str) -> Resource {
    Endpoint::new(path, "Token Verify")
        .post(tokens::verify)
        .build()
}

fn blacklist(path: &str) -> Resource {
    Endpoint::new(path, "Token Blacklist")
        .post(tokens::blacklist)
        .build()
}

fn api_key_login(path: &str) -> Resource {
    Endpoint::new(path, "Token Create")
        .post(api_keys::login)
        .build()
}

fn api_key_logout(path: &str) -> Resource {
    Endpoint::new(path, "Token Destroy")
        .authenticated()
        .post(api_keys::logout)
        .build()
}

fn logout(path: &str) -> Resource {
    Endpoint::new(path, "Logout").post(tokens::logout).build()
}

fn logout_all(path: &str) -> Resource {
    Endpoint::new(path, "Logout All")
        .authenticated()
        .post(tokens::logout_all)
        .build()
}

fn register(path: &str) -> Resource {
    Endpoint::new(path, "Register")
        .post(register::register)
        .build()
}

fn resend_activation(path: &str) -> Resource {
    Endpoint::new(path, "Resend Activation")
        .post(accounts::resend_activation)
        .build()
}

fn activate(path: &str) -> Resource {
    Endpoint::new(path, "Activate")
        .post(accounts::activate)
        .build()
}

fn change_password(path: &str) -> Resource {
    Endpoint::new(path, "Change Password")
        .authenticated()
        .post(accounts::change_password)
        .build()
}

fn reset_password(path: &str) -> Resource {
    Endpoint::new(path, "Reset Password")
        .post(accounts::request_reset)
        .build()
}

fn reset_password_confirm(path: &str) -> Resource {
    Endpoint::new(path, "Reset Password Confirm")
        .post(accounts::confirm_reset)
        .build()
}

fn sessions(path: &str) -> Resource {
    Endpoint::new(path, "Sessions")
        .authenticated()
        .get(sessions::list)
        .build()
}

fn session(path: &str) -> Resource {
    Endpoint::new(path, "Session")
        .authenticated()
        .delete(sessions::end)
        .build()
}

fn me(path: &str) -> Resource {
    Endpoint::new(path, "Me")
        .authenticated()
        .get(me::get)
        .put(me::update)
        .patch(me::update)
        .delete(me::delete)
        .build()
}

fn djoser_set_password(path: &str) -> Resource {
    Endpoint::new(path, "Set Password")
        .authenticated()
        .post(djoser::set_password)
        .build()
}

fn djoser_reset_password(path: &str) -> Resource {
    Endpoint::new(path, "Reset Password")
        .post(djoser::reset_password)
        .build()
}

fn djoser_reset_password_confirm(path: &str) -> Resource {
    Endpoint::new(path, "Reset Password Confirm")
        .post(djoser::reset_password_confirm)
        .build()
}

fn djoser_activation(path: &str) -> Resource {
    Endpoint::new(path, "Activation")
        .post(djoser::activation)
        .build()
}

fn djoser_resend_activation(path: &str) -> Resource {
    Endpoint::new(path, "Resend Activation")
        .post(djoser::resend_activation)
        .build()
}

fn user_list(path: &str) -> Resource {
    Endpoint::new(path, "User List")
        .authenticated()
        .get(admin_users::list)
        .post(admin_users::create)
        .build()
}

fn user_set_password(path: &str) -> Resource {
    Endpoint::new(path, "Set Password")
        .authenticated()
        .post(admin_users::set_password)
        .build()
}

fn user_logout(path: &str) -> Resource {
    Endpoint::new(path, "Logout User")
        .authenticated()
        .post(admin_users::logout)
        .build()
}

fn user_instance(path: &str) -> Resource {
    Endpoint::new(path, "User Instance")
        .authenticated()
        .get(admin_users::retrieve)
        .put(admin_users::update)
        .patch(admin_users::partial_update)
        .delete(admin_users::destroy)
        .build()
}

fn group_list(path: &str) -> Resource {
    Endpoint::new(path, "Group List")
        .authenticated()
        .get(admin_groups::list_groups)
        .post(admin_groups::create_group)
        .build()
}

fn group_instance(path: &str) -> Resource {
    Endpoint::new(path, "Group Instance")
        .authenticated()
        .get(admin_groups::retrieve_group)
        .put(admin_groups::update_group)
        .patch(admin_groups::partial_update_group)
        .delete(admin_groups::destroy_group)
        .build()
}

fn permission_list(path: &str) -> Resource {
    Endpoint::new(path, "Permission List")
        .authenticated()
        .get(admin_groups::list_permissions)
        .post(admin_groups::create_permission)
        .build()
}

fn permission_instance(path: &str) -> Resource {
    Endpoint::new(path, "Permission Instance")
        .authenticated()
        .get(admin_groups::retrieve_permission)
        .delete(admin_groups::destroy_permission)
        .build()
}

fn audit_list(path: &str) -> Resource {
    Endpoint::new(path, "Audit Event List")
        .authenticated()
        .get(audit::list)
        .build()
}

fn v1_register(path: &str) -> Resource {
    Endpoint::new(path, "Register Credentials")
        .post(credentials::register)
        .build()
}

fn v1_access_token(path: &str) -> Resource {
    Endpoint::new(path, "Access Token")
        .post(credentials::access_token)
        .build()
}

fn v1_reset_password(path: &str) -> Resource {
    Endpoint::new(path, "Reset Password")
        .post(credentials::reset_password)
        .build()
}

fn v1_change_password(path: &str) -> Resource {
    Endpoint::new(path, "Change Password")
        .authenticated()
        .post(credentials::change_password)
        .build()
}

fn v1_logout(path: &str) -> Resource {
    Endpoint::new(path, "Logout")
        .post(credentials::logout)
        .build()
}

fn v1_session(path: &str) -> Resource {
    Endpoint::new(path, "Session")
        .authenticated()
        .get(credentials::session)
        .build()
}

fn v1_tokens(path: &str) -> Resource {
    Endpoint::new(path, "Tokens")
        .authenticated()
        .get(credentials::tokens)
        .build()
}

fn jwks(path: &str) -> Resource {
    Endpoint::new(path, "JWKS").get(jwks::jwks).build()
}

fn healthz(path: &str) -> Resource {
    Endpoint::new(path, "Health").get(health::healthz).build()
}

fn readyz(path: &str) -> Resource {
    Endpoint::new(path, "Readiness").get(health::readyz).build()
}

/// Unknown paths: DRF's 404.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
