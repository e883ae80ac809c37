//! The route table: every path Gatehouse serves, in one place. Paths are matched with
//! and without their trailing slash (`NormalizePath` trims it before routing).

use actix_web::dev::HttpServiceFactory;
use actix_web::http::Method;
use actix_web::http::header::ALLOW;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};
use serde_json::json;

use crate::auth::Authenticated;
use crate::errors::ApiError;
use crate::handlers::{
    accounts, admin_groups, admin_users, audit, health, jwks, me, register, sessions, tokens,
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

/// Every endpoint of SPEC §5.1 served so far.
pub fn endpoints() -> Vec<impl HttpServiceFactory> {
    vec![
        Endpoint::new("/auth/token", "Token Obtain Pair")
            .post(tokens::obtain)
            .build(),
        Endpoint::new("/auth/token/refresh", "Token Refresh")
            .post(tokens::refresh)
            .build(),
        Endpoint::new("/auth/token/verify", "Token Verify")
            .post(tokens::verify)
            .build(),
        Endpoint::new("/auth/token/blacklist", "Token Blacklist")
            .post(tokens::blacklist)
            .build(),
        Endpoint::new("/auth/logout", "Logout")
            .post(tokens::logout)
            .build(),
        Endpoint::new("/auth/logout/all", "Logout All")
            .authenticated()
            .post(tokens::logout_all)
            .build(),
        Endpoint::new("/auth/register", "Register")
            .post(register::register)
            .build(),
        // `resend` before `{token}`: routes match in the order they are registered.
        Endpoint::new("/auth/activate/resend", "Resend Activation")
            .post(accounts::resend_activation)
            .build(),
        Endpoint::new("/auth/activate/{token}", "Activate")
            .post(accounts::activate)
            .build(),
        Endpoint::new("/auth/change-password", "Change Password")
            .authenticated()
            .post(accounts::change_password)
            .build(),
        Endpoint::new("/auth/reset-password", "Reset Password")
            .post(accounts::request_reset)
            .build(),
        Endpoint::new("/auth/reset-password/{token}", "Reset Password Confirm")
            .post(accounts::confirm_reset)
            .build(),
        Endpoint::new("/auth/sessions", "Sessions")
            .authenticated()
            .get(sessions::list)
            .build(),
        Endpoint::new("/auth/sessions/{id}", "Session")
            .authenticated()
            .delete(sessions::end)
            .build(),
        Endpoint::new("/auth/users", "User List")
            .authenticated()
            .get(admin_users::list)
            .post(admin_users::create)
            .build(),
        Endpoint::new("/auth/users/{id}/set-password", "Set Password")
            .authenticated()
            .post(admin_users::set_password)
            .build(),
        Endpoint::new("/auth/users/{id}/logout", "Logout User")
            .authenticated()
            .post(admin_users::logout)
            .build(),
        Endpoint::new("/auth/users/{id}", "User Instance")
            .authenticated()
            .get(admin_users::retrieve)
            .put(admin_users::update)
            .patch(admin_users::partial_update)
            .delete(admin_users::destroy)
            .build(),
        Endpoint::new("/auth/groups", "Group List")
            .authenticated()
            .get(admin_groups::list_groups)
            .post(admin_groups::create_group)
            .build(),
        Endpoint::new("/auth/groups/{id}", "Group Instance")
            .authenticated()
            .get(admin_groups::retrieve_group)
            .put(admin_groups::update_group)
            .patch(admin_groups::partial_update_group)
            .delete(admin_groups::destroy_group)
            .build(),
        Endpoint::new("/auth/permissions", "Permission List")
            .authenticated()
            .get(admin_groups::list_permissions)
            .post(admin_groups::create_permission)
            .build(),
        Endpoint::new("/auth/permissions/{id}", "Permission Instance")
            .authenticated()
            .get(admin_groups::retrieve_permission)
            .delete(admin_groups::destroy_permission)
            .build(),
        Endpoint::new("/auth/audit", "Audit Event List")
            .authenticated()
            .get(audit::list)
            .build(),
        Endpoint::new("/auth/me", "Me")
            .authenticated()
            .get(me::get)
            .put(me::update)
            .patch(me::update)
            .delete(me::delete)
            .build(),
        Endpoint::new("/.well-known/jwks.json", "JWKS")
            .get(jwks::jwks)
            .build(),
        Endpoint::new("/healthz", "Health")
            .get(health::healthz)
            .build(),
        Endpoint::new("/readyz", "Readiness")
            .get(health::readyz)
            .build(),
    ]
}

/// Unknown paths: DRF's 404.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
