//! One path's resource as DRF's views answer: its methods, 405 with `Allow` for the
//! others, and OPTIONS with DRF's metadata.

use actix_web::http::Method;
use actix_web::http::header::ALLOW;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};
use serde_json::json;

use crate::auth::Authenticated;
use crate::errors::ApiError;

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
const PARSES: [&str; 3] = crate::body::MEDIA_TYPES;

/// One path with its methods; other methods get DRF's 405 with `Allow`, and OPTIONS
/// answers DRF's metadata.
pub(crate) struct Endpoint {
    name: &'static str,
    resource: Resource,
    methods: Vec<Method>,
    authenticated: bool,
}

impl Endpoint {
    /// `authenticated`: every method needs a signed-in caller. As in DRF,
    /// authentication comes before method dispatch: an anonymous caller gets 401 even
    /// for a method not allowed.
    pub(crate) fn new(path: &str, name: &'static str, authenticated: bool) -> Self {
        Self {
            name,
            resource: web::resource(path),
            methods: Vec::new(),
            authenticated,
        }
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

    pub(crate) fn get<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, handler)
    }

    pub(crate) fn post<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, handler)
    }

    pub(crate) fn put<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::PUT, handler)
    }

    pub(crate) fn patch<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::PATCH, handler)
    }

    pub(crate) fn delete<F: Handler<Args>, Args: FromRequest + 'static>(self, handler: F) -> Self
    where
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, handler)
    }

    /// The methods routed so far (`HEAD` with each `GET`).
    pub(crate) fn methods(&self) -> &[Method] {
        &self.methods
    }

    pub(crate) fn build(mut self) -> Resource {
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
