//! Swagger UI (`GET /api/docs/`) over the OpenAPI document, served by the binary: its
//! files are embedded at build time (utoipa-swagger-ui's `vendored` feature), so the
//! page works offline and asks no other host for anything.

use std::sync::{Arc, LazyLock};

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa_swagger_ui::Config;

use crate::errors::ApiError;
use crate::startup::AppState;

/// Where the page and its files are served, below the service's own base path.
const DOCS_PATH: &str = "/api/docs/";
const SCHEMA_PATH: &str = "/api/schema/";

/// The path `server.public_url` puts the service under (`""` at the root): Swagger UI
/// asks for its files and the document with absolute paths, since its page answers
/// with and without the trailing slash.
fn base_path(req: &HttpRequest) -> String {
    let base = match req.app_data::<web::Data<AppState>>() {
        Some(state) => state.forwarded.base_url(req),
        None => String::new(),
    };
    url::Url::parse(&base)
        .map(|url| url.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// Swagger UI's settings: our document, deep links to operations, and no online
/// validator (by default Swagger UI sends the document's URL to swagger.io for a badge).
fn config(base: &str) -> Config<'static> {
    Config::new([format!("{base}{SCHEMA_PATH}")])
        .validator_url("none")
        .deep_linking(true)
        .display_request_duration(true)
}

/// Swagger UI's configuration written into its initializer for the root base path, the
/// common case; another base path gets its own.
static ROOT_CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| Arc::new(config("")));

/// `GET /api/docs/` (the page) and `GET /api/docs/{file}` (its scripts, styles, icons).
///
/// # Responses
/// 200 the page or the file; 404 `Not found.` for a file Swagger UI does not have.
#[utoipa::path(
    get, path = "/api/docs/", tag = "operations", operation_id = "docs",
    summary = "Swagger UI over this document (offline: every file is served from here)",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)),
)]
pub(crate) async fn swagger_ui(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let file = req.match_info().get("file").unwrap_or("index.html");
    let base = base_path(&req);
    let config = if base.is_empty() {
        ROOT_CONFIG.clone()
    } else {
        Arc::new(config(&base))
    };
    let served = utoipa_swagger_ui::serve(file, config)
        .map_err(|error| ApiError::Internal(anyhow::anyhow!("while serving Swagger UI: {error}")))?
        .ok_or(ApiError::NotFound)?;
    let mut bytes = served.bytes.into_owned();
    if file == "index.html" {
        // Its files are named relative to the page: anchor them below the docs path,
        // whether the page was asked for with the trailing slash or without.
        let page = String::from_utf8_lossy(&bytes).replacen(
            "<head>",
            &format!("<head>\n    <base href=\"{base}{DOCS_PATH}\">"),
            1,
        );
        bytes = page.into_bytes();
    }
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, served.content_type))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(bytes))
}
