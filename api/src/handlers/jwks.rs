//! The JSON Web Key Set of the public keys that verify our tokens.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::{Bytes, Data};
use infrastructure::JwtTokenCodec;
use serde::Deserialize;

use crate::startup::AppState;

/// `jwt.jwks_max_age`: how long verifiers may cache the key set, so how long after a
/// key is added a verifier is sure to know it.
#[derive(Debug, Clone, Deserialize)]
pub struct JwksSettings {
    #[serde(deserialize_with = "application::config::duration")]
    pub jwks_max_age: Duration,
}

/// A JSON Web Key Set (RFC 7517).
#[allow(dead_code)] // Describes the body; the codec writes it (`JwtTokenCodec::jwks`).
#[derive(utoipa::ToSchema)]
pub(crate) struct JwkSet {
    /// Each public key with `kty`, `use: sig`, `alg`, `kid` and its parameters.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// The key set, written once at start-up: the keys change only with a restart.
pub(crate) struct JwksDocument {
    body: Bytes,
    cache_control: String,
}

impl JwksDocument {
    pub(crate) fn new(codec: &JwtTokenCodec, settings: &JwksSettings) -> Self {
        let body = serde_json::to_vec(codec.jwks()).expect("a JWK Set serializes");
        Self {
            body: Bytes::from(body),
            cache_control: format!("public, max-age={}", settings.jwks_max_age.as_secs()),
        }
    }
}

/// `GET /.well-known/jwks.json`: the public keys of the signing key and of every extra
/// verification key (RFC 7517), each with `kid`, `alg` and `use: sig`. Secrets are
/// never published: under HS256 alone the set is empty.
///
/// # Responses
/// 200 `{"keys": [...]}`, cacheable for `jwt.jwks_max_age`.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "operations", operation_id = "jwks",
    summary = "The public keys that verify tokens (RFC 7517); empty under HS256 alone",
    responses((status = 200, description = "The JWK Set", body = JwkSet)),
)]
pub(crate) async fn jwks(state: Data<AppState>) -> HttpResponse {
    let document = &state.jwks;
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, document.cache_control.as_str()))
        .body(document.body.clone())
}
