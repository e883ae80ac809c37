//! The OpenAPI 3.1 document of the canonical routes (`GET /api/schema/`). Each
//! handler describes its operation (`#[utoipa::path]`) with the types it reads and
//! answers (`ToSchema`); the route table completes what is the same for many: who may
//! call an operation (its security and 401), which ones are throttled (429), and the
//! three body formats every endpoint parses with the errors of reading a body.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::body::MEDIA_TYPES;
use crate::errors::{Detail, ErrorBody, FieldErrors};
use crate::handlers::{
    accounts, admin_groups, admin_users, api_keys, audit, docs, health, jwks, me, metrics,
    register, sessions, tokens,
};
use crate::routes::{self, Access, CanonicalOperation};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse",
        description = "JWT login, refresh and logout, registration and account flows, and an \
            admin API over users, groups and permissions: the endpoints of Django REST \
            framework with SimpleJWT and Djoser, with their bodies, status codes and error \
            shapes. Every path also works without its trailing slash. The compatibility \
            aliases of SimpleJWT, Djoser and seed 002 (README, \"Migrating from SimpleJWT / \
            Djoser\") are served but not listed here.",
    ),
    paths(
        tokens::obtain,
        tokens::refresh,
        tokens::verify,
        tokens::blacklist,
        api_keys::login,
        api_keys::logout,
        tokens::logout,
        tokens::logout_all,
        register::register,
        accounts::resend_activation,
        accounts::activate,
        accounts::change_password,
        accounts::request_reset,
        accounts::confirm_reset,
        me::get,
        me::update,
        me::delete,
        sessions::list,
        sessions::end,
        admin_users::list,
        admin_users::create,
        admin_users::retrieve,
        admin_users::update,
        admin_users::partial_update,
        admin_users::destroy,
        admin_users::set_password,
        admin_users::logout,
        admin_groups::list_groups,
        admin_groups::create_group,
        admin_groups::retrieve_group,
        admin_groups::update_group,
        admin_groups::partial_update_group,
        admin_groups::destroy_group,
        admin_groups::list_permissions,
        admin_groups::create_permission,
        admin_groups::retrieve_permission,
        admin_groups::destroy_permission,
        audit::list,
        jwks::jwks,
        health::healthz,
        health::readyz,
        metrics::metrics,
        schema,
        docs::swagger_ui,
    ),
    components(schemas(ErrorBody, FieldErrors, Detail)),
    tags(
        (name = "tokens", description = "JWT sessions (SimpleJWT) and API keys (DRF token authentication)"),
        (name = "accounts", description = "Registration, activation, password change and reset"),
        (name = "me", description = "The caller's own account"),
        (name = "sessions", description = "The caller's sessions"),
        (name = "users", description = "Admin: users (staff with `auth.*_user`)"),
        (name = "groups", description = "Admin: groups (staff with `auth.*_group`)"),
        (name = "permissions", description = "Admin: permissions (staff with `auth.*_permission`)"),
        (name = "audit", description = "Admin: the audit trail (`auth.view_auditevent`)"),
        (name = "operations", description = "Probes, keys and this document"),
    ),
)]
struct ApiDoc;

/// The operations that answer without the database or any other dependency: they
/// never answer 503.
const SELF_CONTAINED: [&str; 4] = [
    "/healthz",
    "/.well-known/jwks.json",
    "/api/schema",
    "/api/docs",
];

/// The document, completed from the route table.
pub(crate) fn document() -> Value {
    let mut document =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    document["components"]["securitySchemes"] = json!({
        "jwtAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token: `Authorization: Bearer <access>`.",
        },
        "tokenAuth": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API key of `POST /auth/token/login/` with its prefix \
                (DRF's token authentication): `Token <key>`.",
        },
    });
    for operation in routes::canonical_operations() {
        let method = operation.method.as_str().to_ascii_lowercase();
        if let Some(described) = document["paths"]
            .as_object_mut()
            .and_then(|paths| documented_path(paths, operation.path))
            .and_then(|item| item.get_mut(&method))
            .and_then(Value::as_object_mut)
        {
            complete(described, &operation);
        }
    }
    distinct_operation_ids(&mut document);
    document
}

/// The path item of a table path (which has no trailing slash; the document's have).
fn documented_path<'a>(paths: &'a mut Map<String, Value>, path: &str) -> Option<&'a mut Value> {
    paths
        .iter_mut()
        .find(|(documented, _)| documented.trim_end_matches('/') == path)
        .map(|(_, item)| item)
}

/// A response with a JSON body of a schema of ours, and headers.
fn response(description: &str, schema: &str, headers: Value) -> Value {
    let mut response = json!({
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}},
        },
    });
    if headers.as_object().is_some_and(|h| !h.is_empty()) {
        response["headers"] = headers;
    }
    response
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "required": true, "schema": schema})
}

/// Adds to one operation what the route table and the body reader say about it;
/// what the handler described stays as it is.
fn complete(described: &mut Map<String, Value>, operation: &CanonicalOperation) {
    let mut extra = Vec::new();
    if let Some(body) = described.get_mut("requestBody") {
        let json_content = body["content"]["application/json"].clone();
        for media_type in &MEDIA_TYPES[1..] {
            body["content"][*media_type] = json_content.clone();
        }
        extra.push((
            "400",
            response(
                "Field errors, or a body that does not parse (`JSON parse error - …`)",
                "ErrorBody",
                json!({}),
            ),
        ));
        extra.push((
            "408",
            response(
                "`The request body did not arrive in time.` (`server.body_timeout`)",
                "Detail",
                json!({}),
            ),
        ));
        extra.push((
            "413",
            response(
                "`Request body is too large.` (over 64 KiB)",
                "Detail",
                json!({}),
            ),
        ));
        extra.push((
            "415",
            response(
                "`Unsupported media type \"…\" in request.`",
                "Detail",
                json!({}),
            ),
        ));
    }
    if operation.access == Access::SignedIn {
        described.insert(
            "security".to_owned(),
            json!([{"jwtAuth": []}, {"tokenAuth": []}]),
        );
        extra.push(("401", response(
            "No valid credentials: `Authentication credentials were not provided.`, or why \
             the token (`code`, `messages`) or the key was refused",
            "Detail",
            json!({"WWW-Authenticate": header("`Bearer realm=\"api\"`", json!({"type": "string"}))}),
        )));
    }
    if operation.throttled {
        extra.push((
            "429",
            response(
                "`Request was throttled. Expected available in N seconds.`",
                "Detail",
                json!({"Retry-After": header("Seconds to wait", json!({"type": "integer"}))}),
            ),
        ));
    }
    if !SELF_CONTAINED.contains(&operation.path) {
        extra.push(("503", response(
            "`Service temporarily unavailable, try again later.` (the database did not answer in time)",
            "Detail",
            json!({"Retry-After": header("Seconds to wait", json!({"type": "integer"}))}),
        )));
    }
    let responses = described
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for (status, response) in extra {
        responses.entry(status).or_insert(response);
    }
    responses.sort_keys();
}

/// One handler may serve two methods (`PUT` and `PATCH` of `/auth/me/`); each operation
/// gets an id of its own, suffixed with its method.
fn distinct_operation_ids(document: &mut Value) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let operations = || {
        ["get", "put", "post", "delete", "patch"]
            .into_iter()
            .map(str::to_owned)
    };
    for item in document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for method in operations() {
            if let Some(id) = item[&method]["operationId"].as_str() {
                *seen.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    for item in document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for method in operations() {
            let Some(id) = item[&method]["operationId"].as_str().map(str::to_owned) else {
                continue;
            };
            if seen.get(&id).is_some_and(|count| *count > 1) {
                item[&method]["operationId"] = json!(format!("{id}_{method}"));
            }
        }
    }
}

/// The document as served, written once.
static DOCUMENT: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec(&document()).expect("the OpenAPI document serializes"));

/// `GET /api/schema/`: this service's OpenAPI 3.1 document.
///
/// # Responses
/// 200 the document (JSON).
#[utoipa::path(
    get, path = "/api/schema/", tag = "operations", operation_id = "schema",
    summary = "This OpenAPI document",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)),
)]
pub(crate) async fn schema() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(DOCUMENT.as_slice())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every (path without its trailing slash, method) the document describes.
    fn documented(document: &Value) -> BTreeSet<(String, String)> {
        document["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("a path item")
                    .keys()
                    .filter(|key| ["get", "put", "post", "delete", "patch"].contains(&key.as_str()))
                    .map(|method| (path.trim_end_matches('/').to_owned(), method.to_uppercase()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_canonical_route_of_the_table_is_in_the_document_and_nothing_else() {
        let documented = documented(&document());
        let served: BTreeSet<(String, String)> = routes::canonical_operations()
            .into_iter()
            .map(|op| (op.path.to_owned(), op.method.as_str().to_owned()))
            .collect();
        let missing: Vec<_> = served.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "served but not in /api/schema/: {missing:?}"
        );
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            unserved.is_empty(),
            "in /api/schema/ but not a canonical route: {unserved:?}"
        );
    }

    #[test]
    fn signed_in_routes_name_both_credentials_and_answer_401() {
        let document = document();
        let me = &document["paths"]["/auth/me/"]["get"];
        assert_eq!(me["security"], json!([{"jwtAuth": []}, {"tokenAuth": []}]));
        assert!(me["responses"]["401"].is_object());
        let login = &document["paths"]["/auth/token/"]["post"];
        assert!(login.get("security").is_none());
        let content = login["requestBody"]["content"].as_object().unwrap();
        assert_eq!(
            content.keys().collect::<BTreeSet<_>>(),
            MEDIA_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect::<BTreeSet<_>>()
                .iter()
                .collect()
        );
    }

    #[test]
    fn operation_ids_are_distinct() {
        let document = document();
        let ids: Vec<&str> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|operation| operation["operationId"].as_str())
            .collect();
        let distinct: BTreeSet<_> = ids.iter().collect();
        assert_eq!(ids.len(), distinct.len(), "{ids:?}");
        assert_eq!(document["openapi"], "3.1.0");
    }
}
