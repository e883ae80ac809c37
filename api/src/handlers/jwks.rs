//! The JSON Web Key Set of the public keys that verify our tokens.

use actix_web::HttpResponse;
use serde_json::json;

/// `GET /.well-known/jwks.json`: with HS256, the only algorithm configured so far,
/// there is no public key to publish, so the set is empty.
///
/// # Responses
/// 200 `{"keys": []}`.
pub(crate) async fn jwks() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "keys": [] }))
}
