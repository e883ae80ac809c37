//! Black-box harness: the real application on port 0 over a fresh database, and a
//! client speaking to it over HTTP.
#![allow(dead_code)]

use std::collections::HashMap;

use api::settings::{self, Environment, Settings};
use api::startup::Application;
use base64::Engine;
use infrastructure::testing::TestDatabase;
use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

mod process;
mod tools;
pub use process::*;
pub use tools::*;

pub const PASSWORD: &str = "correct horse battery";
/// The signing key of `config/test.toml`, for tests that forge tokens.
pub const TEST_SIGNING_KEY: &str = "gatehouse-test-signing-key-0123456789abcdef";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    pub settings: Settings,
}

/// The settings of the `test` environment, untouched by this process's variables.
pub fn test_settings() -> Settings {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../config"));
    settings::load_from(&dir, Environment::Test, &HashMap::new()).expect("test settings")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDatabase::create().await;
    let url = db.url.expose_secret().to_owned();
    spawn_app_over(db, &url, configure).await
}

/// The app over `db`, reached through `url` (e.g. the same database over TLS).
pub async fn spawn_app_over(
    db: TestDatabase,
    url: &str,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = test_settings();
    settings.database.url = Some(secrecy::SecretString::from(url.to_owned()));
    settings.server.port = 0;
    settings.server.workers = Some(2);
    configure(&mut settings);
    let application = Application::build(&settings)
        .await
        .expect("build the application");
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    TestApp {
        address,
        client,
        db,
        settings,
    }
}

/// A response read whole: status, headers and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub async fn read(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The statements the answer says it sent to PostgreSQL: its
    /// `Server-Timing: db;desc="N statements"` (`server.server_timing`).
    pub fn statements(&self) -> u32 {
        self.header("server-timing")
            .and_then(|header| header.strip_prefix("db;desc=\""))
            .and_then(|rest| rest.strip_suffix(" statements\""))
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("no db;desc=\"N statements\": {self:?}"))
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        Reply::read(
            self.client
                .post(self.url(path))
                .json(&body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        Reply::read(
            self.client
                .post(self.url(path))
                .form(form)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn post_authed(&self, path: &str, access: &str, body: Value) -> Reply {
        let request = self
            .client
            .post(self.url(path))
            .bearer_auth(access)
            .json(&body);
        Reply::read(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, authorization: Option<&str>) -> Reply {
        let mut request = self.client.get(self.url(path));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        Reply::read(request.send().await.expect("request")).await
    }

    pub async fn me(&self, access: &str) -> Reply {
        self.get("/auth/me/", Some(&format!("Bearer {access}")))
            .await
    }

    /// Registers `email` with `PASSWORD`; returns the 201 body.
    pub async fn register(&self, email: &str) -> Value {
        let reply = self.post("/auth/register/", credentials(email)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.body
    }

    /// Logs in by email with `PASSWORD`; returns `(access, refresh)`.
    pub async fn login(&self, email: &str) -> (String, String) {
        token_pair(&self.post("/auth/token/", credentials(email)).await)
    }

    /// Registers and logs in; returns `(user id, access, refresh)`.
    pub async fn signed_in_user(&self, email: &str) -> (i64, String, String) {
        let registered = self.register(email).await;
        let (access, refresh) = self.login(email).await;
        (registered["id"].as_i64().expect("id"), access, refresh)
    }

    pub async fn refresh(&self, refresh: &str) -> Reply {
        self.post("/auth/token/refresh/", json!({ "refresh": refresh }))
            .await
    }
}

/// The login body for `email` with `PASSWORD`.
pub fn credentials(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD })
}

/// The `(access, refresh)` of an answer from a token endpoint, which must be a 200.
pub fn token_pair(reply: &Reply) -> (String, String) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    (
        str_of(&reply.body, "access"),
        str_of(&reply.body, "refresh"),
    )
}

pub fn str_of(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {body}"))
        .to_owned()
}

/// The decoded payload of a JWT (no verification).
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Encodes a JWT from raw header and payload JSON, signed with HMAC-SHA256 under `key`
/// (or unsigned with `signature = ""`).
pub fn forge(header: &Value, payload: &Value, key: Option<&str>) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = match key {
        Some(key) => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
            mac.update(message.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        None => String::new(),
    };
    format!("{message}.{signature}")
}

pub fn assert_token_not_valid(reply: &Reply, detail: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "detail": detail, "code": "token_not_valid" }),
        "{}",
        reply.text
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
}

pub fn assert_access_token_rejected(reply: &Reply, message: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({
            "detail": "Given token not valid for any token type",
            "code": "token_not_valid",
            "messages": [{ "token_class": "AccessToken", "token_type": "access", "message": message }],
        }),
        "{}",
        reply.text
    );
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"api\"")
    );
}

/// An app whose outbox delivers over SMTP to a catcher the test owns; links point at
/// `http://frontend.test`, and retries back off at most 1 s.
pub async fn spawn_app_with_mail(
    configure: impl FnOnce(&mut Settings),
) -> (TestApp, infrastructure::testing::SmtpCatcher) {
    let catcher = infrastructure::testing::SmtpCatcher::start().await;
    let port = catcher.port();
    let app = spawn_app_with(|s| {
        s.email.smtp.host = Some("127.0.0.1".to_owned());
        s.email.smtp.port = port;
        s.email.templates.frontend_url = "http://frontend.test".to_owned();
        s.email.smtp.from = "Gatehouse <no-reply@gatehouse.test>".to_owned();
        s.email.outbox.max_backoff = std::time::Duration::from_secs(1);
        configure(s);
    })
    .await;
    (app, catcher)
}

/// The token at the end of the first link of an email.
pub fn link_token(email: &infrastructure::testing::ReceivedEmail) -> String {
    let links = email.links();
    let link = links
        .first()
        .unwrap_or_else(|| panic!("no link in {}", email.text()));
    link.trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("a token")
        .to_owned()
}

/// Registers `email` and makes him staff with these permissions; returns (id, access).
pub async fn staff_with(app: &TestApp, email: &str, permissions: &[&str]) -> (i64, String) {
    let id = app.register(email).await["id"].as_i64().unwrap();
    app.db
        .execute(&format!("UPDATE users SET is_staff = true WHERE id = {id}"))
        .await;
    for code in permissions {
        let (app_label, codename) = code.split_once('.').unwrap();
        app.db
            .execute(&format!(
                "INSERT INTO user_permissions SELECT {id}, id FROM permissions \
                 WHERE app_label = '{app_label}' AND codename = '{codename}'"
            ))
            .await;
    }
    (id, app.login(email).await.0)
}

/// Registers `email` as a staff superuser; returns (id, access).
pub async fn superuser(app: &TestApp, email: &str) -> (i64, String) {
    let id = app.register(email).await["id"].as_i64().unwrap();
    app.db
        .execute(&format!(
            "UPDATE users SET is_staff = true, is_superuser = true WHERE id = {id}"
        ))
        .await;
    (id, app.login(email).await.0)
}

/// Sends `method path` with a bearer token and an optional JSON body.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    access: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(access);
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::read(request.send().await.unwrap()).await
}
