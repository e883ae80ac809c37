//! SPEC §4 over HTTP: trailing slashes, DRF's 404/405/415/400 shapes, body parsing,
//! limits, hostile input, request ids, probes and the 401 challenge.

use crate::common::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const ME_ALLOW: &str = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS";
const LEAKS: [&str; 8] = [
    "panicked",
    "diesel",
    "sql",
    "stack",
    "backtrace",
    "postgres",
    "thread '",
    "src/",
];

/// Sends `body` as is, with `content_type` when given.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = app.client.request(method, app.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    Reply::read(request.send().await.expect("request")).await
}

async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Vec<u8>>,
) -> Reply {
    send(app, Method::POST, path, content_type, body.into()).await
}

async fn post_json_text(app: &TestApp, path: &str, json_text: impl Into<Vec<u8>>) -> Reply {
    post_raw(app, path, Some("application/json"), json_text).await
}

/// A client error in DRF's shape (a JSON object) that gives nothing away.
fn assert_clean_client_error(reply: &Reply, case: &str) {
    assert!(
        reply.status.is_client_error(),
        "{case}: {} {}",
        reply.status,
        reply.text
    );
    assert!(
        reply.body.is_object(),
        "{case}: not a JSON object: {}",
        reply.text
    );
    let text = reply.text.to_lowercase();
    for leak in LEAKS {
        assert!(
            !text.contains(leak),
            "{case}: response mentions {leak:?}: {}",
            reply.text
        );
    }
}

fn assert_drf_detail(reply: &Reply, status: StatusCode, detail: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.body, json!({ "detail": detail }), "{}", reply.text);
}

#[tokio::test]
async fn paths_work_with_and_without_the_trailing_slash() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("slash@example.com").await;

    for path in ["/auth/token", "/auth/token/"] {
        let reply = app
            .post(
                path,
                json!({ "email": "slash@example.com", "password": PASSWORD }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        assert!(reply.body["access"].is_string(), "{path}");
    }
    for path in ["/auth/me", "/auth/me/"] {
        let reply = app.get(path, Some(&format!("Bearer {access}"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        assert_eq!(reply.body["email"], "slash@example.com", "{path}");
    }
    for path in ["/healthz", "/healthz/"] {
        assert_eq!(app.get(path, None).await.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_method_not_allowed_is_405_with_allow_in_drf_order() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("method@example.com").await;

    for path in ["/auth/token/", "/auth/token"] {
        let reply = app.get(path, None).await;
        assert_drf_detail(
            &reply,
            StatusCode::METHOD_NOT_ALLOWED,
            "Method \"GET\" not allowed.",
        );
        assert_eq!(reply.header("allow"), Some("POST, OPTIONS"), "{path}");
    }
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let reply = send(
            &app,
            method.clone(),
            "/auth/token/refresh/",
            None,
            Vec::new(),
        )
        .await;
        assert_drf_detail(
            &reply,
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("Method \"{method}\" not allowed."),
        );
        assert_eq!(reply.header("allow"), Some("POST, OPTIONS"));
    }
    let request = app
        .client
        .post(app.url("/auth/me/"))
        .bearer_auth(&access)
        .json(&json!({}));
    let reply = Reply::read(request.send().await.unwrap()).await;
    assert_drf_detail(
        &reply,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method \"POST\" not allowed.",
    );
    assert_eq!(reply.header("allow"), Some(ME_ALLOW));
    let reply = send(&app, Method::POST, "/healthz", None, Vec::new()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[tokio::test]
async fn an_unauthenticated_disallowed_method_on_an_authenticated_endpoint_is_401() {
    let app = spawn_app().await;
    let reply = app.post("/auth/me/", json!({})).await;
    assert_drf_detail(&reply, StatusCode::UNAUTHORIZED, NOT_PROVIDED);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
}

#[tokio::test]
async fn options_answers_200_with_the_same_allow_header() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in_user("options@example.com").await;

    let request = app
        .client
        .request(Method::OPTIONS, app.url("/auth/me/"))
        .bearer_auth(&access);
    let reply = Reply::read(request.send().await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("allow"), Some(ME_ALLOW));
    assert_eq!(reply.body["name"], "Me");
    assert_eq!(reply.body["renders"], json!(["application/json"]));

    let reply = send(&app, Method::OPTIONS, "/auth/token", None, Vec::new()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("allow"), Some("POST, OPTIONS"));
    assert_eq!(
        reply.body["parses"],
        json!([
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data"
        ])
    );
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_app().await;
    let get = app.get("/healthz", None).await;
    let reply = send(&app, Method::HEAD, "/healthz", None, Vec::new()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.status, get.status);
    assert_eq!(reply.header("content-type"), get.header("content-type"));
    assert!(!get.text.is_empty());
    assert!(reply.text.is_empty());
}

#[tokio::test]
async fn an_unknown_path_is_drfs_404() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/auth/",
        "/auth/token/extra/",
        "/auth/%00",
        "/.env",
        "/auth/me/../../etc/passwd",
    ] {
        let reply = app.get(path, None).await;
        assert_drf_detail(&reply, StatusCode::NOT_FOUND, "Not found.");
    }
    let reply = post_json_text(&app, "/nope/", "{}").await;
    assert_drf_detail(&reply, StatusCode::NOT_FOUND, "Not found.");
}

#[tokio::test]
async fn an_unsupported_content_type_is_415_naming_the_header_sent() {
    let app = spawn_app().await;
    for content_type in [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/xml",
        "application/octet-stream",
    ] {
        let reply = post_raw(
            &app,
            "/auth/token/",
            Some(content_type),
            "email=a&password=b",
        )
        .await;
        assert_drf_detail(
            &reply,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Unsupported media type \"{content_type}\" in request."),
        );
    }
}

#[tokio::test]
async fn malformed_json_is_a_400_parse_error() {
    let app = spawn_app().await;
    for body in [
        &b"{"[..],
        b"{\"email\": }",
        b"{'email': 'a'}",
        b"{\"email\": \"a\",}",
        b"\xff\xfe",
        b"{\"email\": \"\xff\"}",
    ] {
        let reply = post_json_text(&app, "/auth/token/", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        let detail = reply.body["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail: {}", reply.text));
        assert!(detail.starts_with("JSON parse error - "), "{detail}");
        assert_eq!(reply.body.as_object().unwrap().len(), 1, "{}", reply.text);
    }
}

#[tokio::test]
async fn a_json_body_that_is_not_an_object_is_a_non_field_error() {
    let app = spawn_app().await;
    for (body, type_name) in [
        ("[]", "list"),
        ("[{\"email\": \"a@example.com\"}]", "list"),
        ("\"email\"", "str"),
        ("42", "int"),
        ("4.2", "float"),
        ("true", "bool"),
    ] {
        let reply = post_json_text(&app, "/auth/token/", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            reply.body,
            json!({ "non_field_errors": [format!("Invalid data. Expected a dictionary, but got {type_name}.")] }),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_json_null_body_is_no_data_provided() {
    let app = spawn_app().await;
    let reply = post_json_text(&app, "/auth/token/", "null").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        json!({ "non_field_errors": ["No data provided"] })
    );
}

#[tokio::test]
async fn an_empty_body_is_an_empty_payload_whatever_its_content_type() {
    let app = spawn_app().await;
    let required =
        json!({ "email": ["This field is required."], "password": ["This field is required."] });
    for content_type in [
        None,
        Some("application/json"),
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
    ] {
        let reply = post_raw(&app, "/auth/token/", content_type, Vec::new()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{content_type:?}: {}",
            reply.text
        );
        assert_eq!(reply.body, required, "{content_type:?}");
    }
}

#[tokio::test]
async fn a_body_without_a_content_type_is_415() {
    let app = spawn_app().await;
    let body = json!({ "email": "a@example.com", "password": PASSWORD }).to_string();
    let reply = post_raw(&app, "/auth/token/", None, body).await;
    assert_drf_detail(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type \"\" in request.",
    );
}

#[tokio::test]
async fn registration_works_as_multipart_and_as_a_url_encoded_form() {
    let app = spawn_app().await;

    let form = reqwest::multipart::Form::new()
        .text("email", "multi@example.com")
        .text("password", PASSWORD)
        .text("first_name", "Multi");
    let response = app
        .client
        .post(app.url("/auth/register/"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let reply = Reply::read(response).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["email"], "multi@example.com");
    assert_eq!(reply.body["first_name"], "Multi");

    let reply = app
        .post_form(
            "/auth/register",
            &[
                ("email", "form@example.com"),
                ("password", PASSWORD),
                ("last_name", "Form"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["email"], "form@example.com");
    assert_eq!(reply.body["last_name"], "Form");
    assert!(reply.body.get("password").is_none());

    let users = app.db.scalar("SELECT count(*) AS value FROM users").await;
    assert_eq!(users, 2);
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_in_json() {
    let app = spawn_app().await;
    let big = "a".repeat(65 * 1024);

    let json_body = json!({ "email": "big@example.com", "password": big }).to_string();
    let form_body = format!("email=big%40example.com&password={big}");
    for (content_type, body) in [
        ("application/json", json_body),
        ("application/x-www-form-urlencoded", form_body),
    ] {
        let reply = post_raw(&app, "/auth/register/", Some(content_type), body).await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{content_type}: {}",
            reply.text
        );
        assert_eq!(
            reply.body,
            json!({ "detail": "Request body is too large." }),
            "{content_type}: {}",
            reply.text
        );
        assert!(reply.header("x-request-id").is_some());
    }

    let form = reqwest::multipart::Form::new()
        .text("email", "big@example.com")
        .text("password", big.clone());
    let response = app
        .client
        .post(app.url("/auth/register/"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let reply = Reply::read(response).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "multipart: {}",
        reply.text
    );
    assert_eq!(
        reply.body,
        json!({ "detail": "Request body is too large." }),
        "multipart: {}",
        reply.text
    );

    let users = app.db.scalar("SELECT count(*) AS value FROM users").await;
    assert_eq!(users, 0);
}

#[tokio::test]
async fn a_body_just_under_64_kib_is_read() {
    let app = spawn_app().await;
    let padding = "p".repeat(60 * 1024);
    let body = json!({ "email": "under@example.com", "password": PASSWORD, "ignored": padding })
        .to_string();
    let reply = post_json_text(&app, "/auth/register/", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

#[tokio::test]
async fn hostile_input_never_yields_a_server_error() {
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in_user("victim@example.com").await;
    let long_email = format!("{}@example.com", "a".repeat(10_000));
    let long_password = "1".repeat(60_000);
    let deep_list = "[".repeat(10_000);
    let deep_field = format!("{{\"email\": {}", "[".repeat(10_000));
    let deep_object = "{\"a\":".repeat(10_000);

    let json_cases: Vec<(&str, &str, Value)> = vec![
        (
            "register long email",
            "/auth/register/",
            json!({ "email": long_email, "password": PASSWORD }),
        ),
        (
            "login long email",
            "/auth/token/",
            json!({ "email": long_email, "password": PASSWORD }),
        ),
        (
            "login long username",
            "/auth/token/",
            json!({ "username": "u".repeat(10_000), "password": PASSWORD }),
        ),
        (
            "register long password",
            "/auth/register/",
            json!({ "email": "lp@example.com", "password": long_password }),
        ),
        (
            "login long password",
            "/auth/token/",
            json!({ "email": "victim@example.com", "password": long_password }),
        ),
        (
            "register NUL email",
            "/auth/register/",
            json!({ "email": "nul\u{0}@example.com", "password": PASSWORD }),
        ),
        (
            "register NUL password",
            "/auth/register/",
            json!({ "email": "n@example.com", "password": "a\u{0}b" }),
        ),
        (
            "register NUL username",
            "/auth/register/",
            json!({ "email": "n@example.com", "username": "a\u{0}", "password": PASSWORD }),
        ),
        (
            "login NUL email",
            "/auth/token/",
            json!({ "email": "victim\u{0}@example.com", "password": PASSWORD }),
        ),
        (
            "login NUL username",
            "/auth/token/",
            json!({ "username": "\u{0}", "password": PASSWORD }),
        ),
        (
            "refresh NUL",
            "/auth/token/refresh/",
            json!({ "refresh": format!("{refresh}\u{0}") }),
        ),
        (
            "verify NUL",
            "/auth/token/verify/",
            json!({ "token": "\u{0}" }),
        ),
        ("logout NUL", "/auth/logout/", json!({ "refresh": "\u{0}" })),
        (
            "verify long token",
            "/auth/token/verify/",
            json!({ "token": "a".repeat(60_000) }),
        ),
        (
            "refresh long token",
            "/auth/token/refresh/",
            json!({ "refresh": "a.b.".repeat(10_000) }),
        ),
        (
            "register bool email",
            "/auth/register/",
            json!({ "email": true, "password": PASSWORD }),
        ),
        (
            "register list password",
            "/auth/register/",
            json!({ "email": "t@example.com", "password": ["x"] }),
        ),
        (
            "register object username",
            "/auth/register/",
            json!({ "email": "t@example.com", "username": { "$ne": "" }, "password": PASSWORD }),
        ),
        (
            "login object email",
            "/auth/token/",
            json!({ "email": { "$gt": "" }, "password": PASSWORD }),
        ),
        (
            "login number email",
            "/auth/token/",
            json!({ "email": 42, "password": 4.2 }),
        ),
        (
            "login big number",
            "/auth/token/",
            json!({ "email": 1e300, "password": u64::MAX }),
        ),
        (
            "refresh number",
            "/auth/token/refresh/",
            json!({ "refresh": 7 }),
        ),
        (
            "refresh list",
            "/auth/token/refresh/",
            json!({ "refresh": [refresh] }),
        ),
        (
            "register emoji username",
            "/auth/register/",
            json!({ "email": "e@example.com", "username": "😀", "password": PASSWORD }),
        ),
        (
            "register RTL override",
            "/auth/register/",
            json!({ "email": "r\u{202e}@example.com", "password": PASSWORD }),
        ),
        (
            "register zero-width email",
            "/auth/register/",
            json!({ "email": "z\u{200b}@example.com", "password": PASSWORD }),
        ),
        (
            "register SQL-ish email",
            "/auth/register/",
            json!({ "email": "x'--@example.com'; DROP TABLE users;--", "password": PASSWORD }),
        ),
        (
            "login SQL-ish username",
            "/auth/token/",
            json!({ "username": "' OR '1'='1", "password": "' OR '1'='1" }),
        ),
        (
            "register unicode domain",
            "/auth/register/",
            json!({ "email": "u@exämple.com", "password": "" }),
        ),
    ];
    for (case, path, body) in json_cases {
        assert_clean_client_error(&app.post(path, body).await, case);
    }

    let raw_cases: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        ("deep list", "/auth/token/", "application/json", deep_list.into_bytes()),
        ("deep field", "/auth/register/", "application/json", deep_field.into_bytes()),
        ("deep object", "/auth/token/", "application/json", deep_object.into_bytes()),
        ("number out of range", "/auth/token/", "application/json", b"{\"email\": 1e999}".to_vec()),
        ("lone surrogate", "/auth/token/", "application/json", br#"{"email": "\ud800@example.com", "password": "x"}"#.to_vec()),
        ("invalid UTF-8 in JSON", "/auth/token/", "application/json", b"{\"email\": \"\xc3\x28\"}".to_vec()),
        ("invalid UTF-8 in a form", "/auth/register/", "application/x-www-form-urlencoded", b"email=\xff\xfe%40example.com&password=\xc3\x28".to_vec()),
        ("percent-encoded invalid UTF-8", "/auth/register/", "application/x-www-form-urlencoded", b"email=%FF%FE%40example.com&password=%C3%28".to_vec()),
        ("NUL in a form", "/auth/token/", "application/x-www-form-urlencoded", b"email=victim%00%40example.com&password=%00".to_vec()),
        ("form garbage", "/auth/token/", "application/x-www-form-urlencoded", b"&&==&%%%&=x&email".to_vec()),
        ("multipart without boundary", "/auth/token/", "multipart/form-data", b"--x\r\n\r\n".to_vec()),
        (
            "multipart broken",
            "/auth/token/",
            "multipart/form-data; boundary=XYZ",
            b"--XYZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nunterminated".to_vec(),
        ),
        (
            "multipart invalid UTF-8",
            "/auth/register/",
            "multipart/form-data; boundary=XYZ",
            b"--XYZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n\xff\xfe\r\n--XYZ--\r\n".to_vec(),
        ),
        ("json with charset garbage", "/auth/token/", "application/json; charset=klingon", b"{\"email\": 1}".to_vec()),
    ];
    for (case, path, content_type, body) in raw_cases {
        assert_clean_client_error(&post_raw(&app, path, Some(content_type), body).await, case);
    }

    let patch = app
        .client
        .patch(app.url("/auth/me/"))
        .bearer_auth(&access)
        .json(&json!({ "username": "u".repeat(10_000), "first_name": "\u{0}", "last_name": ["x"] }))
        .send()
        .await
        .unwrap();
    assert_clean_client_error(&Reply::read(patch).await, "patch me hostile");
    let query = app
        .get(
            "/auth/me/?page=%FF%00&page_size=-1",
            Some(&format!("Bearer {access}")),
        )
        .await;
    assert_eq!(
        query.status,
        StatusCode::OK,
        "a stray query string is ignored: {}",
        query.text
    );

    let users = app.db.scalar("SELECT count(*) AS value FROM users").await;
    assert_eq!(users, 1, "no hostile registration went through");
    assert_eq!(
        app.me(&access).await.status,
        StatusCode::OK,
        "the service still serves"
    );
}

#[tokio::test]
async fn hostile_values_get_drfs_field_messages() {
    let app = spawn_app().await;

    let reply = app
        .post(
            "/auth/register/",
            json!({ "email": format!("{}@example.com", "a".repeat(10_000)), "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "email": [
            "Ensure this field has no more than 254 characters.",
            "Enter a valid email address.",
        ] }),
        "{}",
        reply.text
    );

    let reply = app
        .post(
            "/auth/token/",
            json!({ "email": "a\u{0}@example.com", "password": "b\u{0}" }),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({ "email": ["Null characters are not allowed."], "password": ["Null characters are not allowed."] })
    );

    let reply = app
        .post("/auth/token/", json!({ "email": true, "password": ["x"] }))
        .await;
    assert_eq!(
        reply.body,
        json!({ "email": ["Not a valid string."], "password": ["Not a valid string."] })
    );
    let reply = app
        .post(
            "/auth/token/",
            json!({ "username": { "a": 1 }, "password": false }),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({ "username": ["Not a valid string."], "password": ["Not a valid string."] })
    );
    let reply = app
        .post("/auth/token/refresh/", json!({ "refresh": {} }))
        .await;
    assert_eq!(reply.body, json!({ "refresh": ["Not a valid string."] }));

    // Numbers are strings to DRF's CharField.
    let reply = app
        .post("/auth/token/", json!({ "email": 42, "password": 42 }))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": "No active account found with the given credentials" })
    );
    let reply = app
        .post(
            "/auth/register/",
            json!({ "email": 42, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({ "email": ["Enter a valid email address."] }),
        "{}",
        reply.text
    );

    let reply = app
        .post(
            "/auth/register/",
            json!({ "email": "p@example.com", "username": ["p"], "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.body, json!({ "username": ["Not a valid string."] }));
}

#[tokio::test]
async fn a_non_string_email_at_registration_is_not_a_valid_email() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/auth/register/",
            json!({ "email": true, "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        json!({ "email": ["Enter a valid email address."] })
    );
}

#[tokio::test]
async fn unicode_usernames_are_accepted_as_django_accepts_them() {
    let app = spawn_app().await;
    for (email, username) in [
        ("zoe@example.com", "Zoë_99"),
        ("kanji@example.com", "日本語"),
        ("arabic@example.com", "مستخدم"),
    ] {
        let reply = app
            .post(
                "/auth/register/",
                json!({ "email": email, "username": username, "password": PASSWORD }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{username}: {}",
            reply.text
        );
        assert_eq!(reply.body["username"], username);
        let login = app
            .post(
                "/auth/token/",
                json!({ "username": username, "password": PASSWORD }),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{username}: {}", login.text);
        assert_eq!(claims(&str_of(&login.body, "access"))["username"], username);
    }

    let invalid = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
    for username in ["smile😀", "with space", "semi;colon", "a\u{202e}b"] {
        let reply = app
            .post(
                "/auth/register/",
                json!({ "email": "bad@example.com", "username": username, "password": PASSWORD }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{username}");
        assert_eq!(reply.body, json!({ "username": [invalid] }), "{username}");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let replies = [
        app.get("/healthz", None).await,
        app.get("/nope", None).await,
        app.get("/auth/token/", None).await,
        app.get("/auth/me/", None).await,
        app.post("/auth/token/", json!({})).await,
        post_raw(&app, "/auth/token/", Some("text/plain"), "x").await,
        post_json_text(&app, "/auth/token/", "{").await,
    ];
    let mut seen = std::collections::HashSet::new();
    for reply in &replies {
        let id = reply
            .header("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id: {} {}", reply.status, reply.text));
        assert!(
            uuid::Uuid::try_parse(id).is_ok(),
            "a fresh id is a UUID: {id}"
        );
        assert!(seen.insert(id.to_owned()), "ids are unique: {id}");
    }
}

#[tokio::test]
async fn a_plain_client_request_id_is_echoed_and_a_hostile_one_replaced() {
    let app = spawn_app().await;
    let with_id = |id: &str| {
        app.client
            .get(app.url("/healthz"))
            .header("X-Request-Id", id)
    };

    for id in ["abc-123", "A_b-9", &"x".repeat(64)] {
        let reply = Reply::read(with_id(id).send().await.unwrap()).await;
        assert_eq!(reply.header("x-request-id"), Some(id));
    }
    let long_with_spaces = "evil id ".repeat(25);
    assert_eq!(long_with_spaces.len(), 200);
    for id in [
        long_with_spaces.as_str(),
        &"y".repeat(65),
        "abc 123",
        "a\"b",
        "<script>",
        "id;rm -rf",
    ] {
        let reply = Reply::read(with_id(id).send().await.unwrap()).await;
        let echoed = reply.header("x-request-id").expect("a request id");
        assert_ne!(echoed, id);
        assert!(
            uuid::Uuid::try_parse(echoed).is_ok(),
            "replaced by a fresh id: {echoed}"
        );
    }
    let reply = Reply::read(with_id("abc-123").send().await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let error = Reply::read(
        app.client
            .get(app.url("/nope"))
            .header("X-Request-Id", "err-1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        error.header("x-request-id"),
        Some("err-1"),
        "echoed on errors too"
    );
}

#[tokio::test]
async fn health_and_readiness_probes_answer() {
    let app = spawn_app().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, json!({ "status": "ok" }));
    assert_eq!(health.header("content-type"), Some("application/json"));
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(
        ready.body,
        json!({ "status": "ready", "database": "ok", "throttle": "off" })
    );
}

#[tokio::test]
async fn every_401_carries_the_bearer_challenge() {
    let app = spawn_app().await;
    let (id, access, refresh) = app.signed_in_user("challenge@example.com").await;
    let (_, inactive_access, _) = app.signed_in_user("sleeper@example.com").await;
    app.db
        .execute("UPDATE users SET is_active = false WHERE email = 'sleeper@example.com'")
        .await;
    let mut expired_claims = claims(&access);
    expired_claims["exp"] = json!(1);
    let expired = forge(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &expired_claims,
        Some(TEST_SIGNING_KEY),
    );

    let replies = [
        ("no credentials", app.get("/auth/me/", None).await),
        ("garbage token", app.me("garbage").await),
        ("expired token", app.me(&expired).await),
        ("refresh as access", app.me(&refresh).await),
        (
            "malformed header",
            app.get("/auth/me/", Some("Bearer a b")).await,
        ),
        ("inactive user", app.me(&inactive_access).await),
        (
            "bad login",
            app.post(
                "/auth/token/",
                json!({ "email": "challenge@example.com", "password": "wrong" }),
            )
            .await,
        ),
        ("bad refresh", app.refresh("garbage").await),
        (
            "bad verify",
            app.post("/auth/token/verify/", json!({ "token": "garbage" }))
                .await,
        ),
        (
            "bad blacklist",
            app.post("/auth/token/blacklist/", json!({ "refresh": "garbage" }))
                .await,
        ),
        (
            "bad logout",
            app.post("/auth/logout/", json!({ "refresh": "garbage" }))
                .await,
        ),
        (
            "anonymous logout all",
            app.post("/auth/logout/all/", json!({})).await,
        ),
        (
            "anonymous patch me",
            send(&app, Method::PATCH, "/auth/me/", None, Vec::new()).await,
        ),
        (
            "anonymous delete me",
            send(&app, Method::DELETE, "/auth/me/", None, Vec::new()).await,
        ),
    ];
    for (case, reply) in &replies {
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {}",
            reply.text
        );
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer realm=\"api\""),
            "{case}"
        );
        assert!(reply.body["detail"].is_string(), "{case}: {}", reply.text);
    }
    assert_eq!(replies[0].1.body, json!({ "detail": NOT_PROVIDED }));

    app.db
        .execute(&format!("DELETE FROM users WHERE id = {id}"))
        .await;
    let gone = app.me(&access).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        gone.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );

    // Other statuses carry no challenge.
    let ok = app.get("/healthz", None).await;
    assert!(ok.header("www-authenticate").is_none());
    let bad = app.post("/auth/token/", json!({})).await;
    assert!(bad.header("www-authenticate").is_none());
}

/// Found by `make fuzz FUZZ_TARGET=body`: actix-multipart slices lines before the first
/// boundary without checking their length, so a short boundary and a short line made
/// its parser panic inside the request.
#[tokio::test]
async fn a_multipart_body_that_trips_the_parser_is_a_400_and_the_server_goes_on() {
    let app = spawn_app().await;
    for (boundary, body) in [("a", "\n--a--\r\n"), ("XyZ", "--\n--XyZ--\r\n")] {
        let reply = Reply::read(
            app.client
                .post(app.url("/auth/token/"))
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
                .send()
                .await
                .expect("an answer, not a dropped connection"),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body:?}: {}",
            reply.text
        );
        assert_eq!(
            reply.body,
            json!({ "detail": "Multipart form parse error - Invalid multipart body" }),
            "{body:?}"
        );
    }
    let (access, _) = {
        app.register("after@example.com").await;
        app.login("after@example.com").await
    };
    assert_eq!(app.me(&access).await.status, StatusCode::OK);
}
