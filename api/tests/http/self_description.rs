//! Self-description (issue 15): `/api/schema/` read by an independent OpenAPI 3.1
//! validator (openapi-spec-validator, `tests/tools/openapi_check.py`); Swagger UI at
//! `/api/docs/` driven in headless Chromium (`scripts/browser.sh`) with every other
//! host unreachable, logging a real user in through "Try it out"; and the running
//! binary fuzzed against its own document by schemathesis.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use infrastructure::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const OPENAPI_CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/openapi_check.py");
const CHROMIUM: &str = "/usr/bin/chromium";

/// A directory of the test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------- the document

#[tokio::test]
async fn the_schema_is_an_openapi_3_1_document_that_a_validator_accepts() {
    let app = spawn_app().await;
    let reply = app.get("/api/schema/", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.body["openapi"], "3.1.0");
    assert_eq!(app.get("/api/schema", None).await.body, reply.body);

    let scratch = Scratch::new("openapi");
    let file = scratch.path().join("schema.json");
    std::fs::write(&file, &reply.text).expect("write the document");
    let checked = finish(
        Command::new(python())
            .arg(OPENAPI_CHECK)
            .arg(&file)
            .stdin(Stdio::null()),
    )
    .await;
    assert!(checked.succeeded(), "{}", checked.output());
    let summary: Value = serde_json::from_str(&checked.stdout).expect("JSON from openapi_check");
    assert_eq!(summary["openapi"], "3.1.0");
    assert!(summary["operations"].as_u64().unwrap() >= 40, "{summary}");
}

#[tokio::test]
async fn the_document_shows_drf_error_shapes_and_both_credentials() {
    let app = spawn_app().await;
    let document = app.get("/api/schema/", None).await.body;
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["FieldErrors"]["additionalProperties"]["items"]["type"],
        "string"
    );
    assert_eq!(schemas["Detail"]["required"], json!(["detail"]));
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["jwtAuth"]["scheme"], "bearer");
    assert_eq!(schemes["tokenAuth"]["in"], "header");

    let login = &document["paths"]["/auth/token/"]["post"];
    for media_type in [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        assert_eq!(
            login["requestBody"]["content"][media_type]["schema"]["$ref"],
            "#/components/schemas/TokenObtainRequest",
            "{media_type}"
        );
    }
    for status in ["200", "400", "401", "415", "429"] {
        assert!(
            login["responses"][status].is_object(),
            "no {status} for login"
        );
    }
    let me = &document["paths"]["/auth/me/"];
    assert_eq!(
        me["get"]["security"],
        json!([{"jwtAuth": []}, {"tokenAuth": []}])
    );
    assert_eq!(
        me["get"]["responses"]["401"]["headers"]["WWW-Authenticate"]["required"],
        true
    );
    assert_ne!(
        me["put"]["operationId"], me["patch"]["operationId"],
        "one handler, two operations"
    );
}

// ---------------------------------------------------------------- Swagger UI in a browser

/// chromedriver on a free port, stopped when dropped.
struct ChromeDriver {
    _child: Child,
    url: String,
}

impl ChromeDriver {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = reqwest::get(format!("{url}/status")).await;
            if let Ok(status) = status
                && let Ok(body) = status.json::<Value>().await
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ChromeDriver { _child: child, url }
    }

    /// A headless Chromium for which every host but 127.0.0.1 resolves to nothing.
    async fn browser(&self, profile: &Path) -> Client {
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                    "--window-size=1280,2400",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// Waits (at most 20 s) for `script` to return a truthy value; returns it.
async fn eventually(browser: &Client, script: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let value = browser.execute(script, vec![]).await.expect("run a script");
        if !(value.is_null() || value == false || value == "") {
            return value;
        }
        assert!(Instant::now() < deadline, "never true: {script}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_works_offline_and_logs_a_real_user_in() {
    let db = TestDatabase::create().await;
    let served = Served::start(&url_of(&db), &[]).await;
    let email = "swagger@example.com";
    let registered = served.post("/auth/register/", credentials(email)).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );

    let driver = ChromeDriver::start().await;
    let profile = Scratch::new("chromium");
    let browser = driver.browser(profile.path()).await;
    // Without the trailing slash, as a user may type it.
    browser
        .goto(&served.url("/api/docs"))
        .await
        .expect("open /api/docs");

    // The token operations are listed.
    let login = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#operations-tokens-token_obtain"))
        .await
        .expect("the login operation");
    for id in ["token_refresh", "token_verify", "token_blacklist", "logout"] {
        browser
            .find(Locator::Css(&format!("#operations-tokens-{id}")))
            .await
            .unwrap_or_else(|_| panic!("no operation {id}"));
    }
    let paths = eventually(
        &browser,
        "return [...document.querySelectorAll('#operations-tag-tokens ~ * .opblock-summary-path, .opblock-summary-path')].map(e => e.textContent.replace(/\\u200b/g, ''))",
    )
    .await;
    for path in [
        "/auth/token/",
        "/auth/token/refresh/",
        "/auth/token/verify/",
    ] {
        assert!(
            paths.as_array().unwrap().iter().any(|p| p == path),
            "{path} not listed: {paths}"
        );
    }

    // "Try it out" → the body → Execute.
    login
        .find(Locator::Css(".opblock-summary-control"))
        .await
        .expect("the summary")
        .click()
        .await
        .expect("open the operation");
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(
            "#operations-tokens-token_obtain .try-out__btn",
        ))
        .await
        .expect("Try it out")
        .click()
        .await
        .expect("click Try it out");
    let body = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(
            "#operations-tokens-token_obtain textarea.body-param__text",
        ))
        .await
        .expect("the body editor");
    body.clear().await.expect("clear the example body");
    body.send_keys(&json!({"email": email, "password": PASSWORD}).to_string())
        .await
        .expect("type the body");
    browser
        .find(Locator::Css(
            "#operations-tokens-token_obtain button.execute",
        ))
        .await
        .expect("Execute")
        .click()
        .await
        .expect("click Execute");

    let status = eventually(
        &browser,
        "const s = document.querySelector('#operations-tokens-token_obtain .live-responses-table tbody .response-col_status'); return s && s.textContent.trim()",
    )
    .await;
    assert_eq!(status, "200");
    let shown = eventually(
        &browser,
        "return [...document.querySelectorAll('#operations-tokens-token_obtain .live-responses-table tbody .response-col_description pre')].map(p => p.textContent).find(t => t.includes('\"access\"'))",
    )
    .await;
    let tokens: Value = serde_json::from_str(shown.as_str().unwrap()).expect("the body shown");
    let access = tokens["access"].as_str().expect("an access token shown");
    assert!(tokens["refresh"].is_string(), "{tokens}");
    let me = served.get("/auth/me/", Some(access)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["email"], email);

    // Everything the page loaded came from the service itself.
    let loaded = browser
        .execute(
            "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name))",
            vec![],
        )
        .await
        .expect("the resources");
    let loaded: Vec<&str> = loaded
        .as_array()
        .unwrap()
        .iter()
        .map(|url| url.as_str().unwrap())
        .collect();
    let origin = format!("{}/", served.address);
    assert!(
        loaded.iter().all(|url| url.starts_with(&origin)),
        "requests to other hosts: {loaded:?}"
    );
    for expected in [
        "/api/docs/swagger-ui-bundle.js",
        "/api/docs/swagger-ui.css",
        "/api/schema/",
        "/auth/token/",
    ] {
        assert!(
            loaded.iter().any(|url| url.ends_with(expected)),
            "{expected} was not loaded: {loaded:?}"
        );
    }

    browser.close().await.expect("close the browser");
    served.stop().await;
}

// ---------------------------------------------------------------- contract fuzzing

/// The checks schemathesis runs on every answer: no 500, and every status code,
/// content type, header and body as the document describes them.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// A superuser of its own for one run; his access token.
async fn fuzzing_superuser(served: &Served, db: &TestDatabase, name: &str) -> String {
    let email = format!("fuzz-{name}@example.com");
    let registered = served.post("/auth/register/", credentials(&email)).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    db.execute(&format!(
        "UPDATE users SET is_staff = true, is_superuser = true WHERE email = '{email}'"
    ))
    .await;
    token_pair(&served.post("/auth/token/", credentials(&email)).await).0
}

/// A number of schemathesis's summary: the one `offset` words from `word` on the
/// first line that has it (`Tested: 8`, `316 generated, 316 passed`).
fn summary_count(output: &str, word: &str, offset: isize) -> u64 {
    output
        .lines()
        .find_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| w.trim_end_matches(',') == word)?;
            words.get(at.checked_add_signed(offset)?)?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no count at {word:?} in:\n{output}"))
}

/// schemathesis against the running binary, one run per tag of the document, each
/// with a fresh superuser: an operation that ends its caller's sessions (log out
/// everywhere, an admin setting his own password) cuts short only its own group.
/// Every phase (examples, coverage, fuzzing, and stateful sequences along the links
/// schemathesis infers), seeded, at most 10 generated cases per operation and phase,
/// within two minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_nothing_the_document_does_not_say() {
    let db = TestDatabase::create().await;
    let served = Served::start(&url_of(&db), &[]).await;
    let document = served.get("/api/schema/", None).await.body;
    let tags: Vec<&str> = document["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|tag| tag["name"].as_str().expect("a tag name"))
        .collect();
    let schemathesis = Path::new(python()).with_file_name("schemathesis");
    let scratch = Scratch::new("schemathesis");
    let started = Instant::now();
    let (mut operations, mut cases) = (0, 0);
    for tag in &tags {
        let access = fuzzing_superuser(&served, &db, tag).await;
        let run = finish_within(
            Command::new(&schemathesis)
                .current_dir(scratch.path())
                .args(["run", &served.url("/api/schema/")])
                .args(["--checks", CHECKS])
                .args(["--include-tag", tag])
                .args(["--phases", "examples,coverage,fuzzing,stateful"])
                .args(["--max-examples", "10", "--seed", "15"])
                .args(["--generation-database", "none", "--workers", "1"])
                .args(["--request-timeout", "10", "--no-color"])
                .args(["-H", &format!("Authorization: Bearer {access}")])
                .stdin(Stdio::null()),
            Duration::from_secs(120),
        )
        .await;
        assert!(
            run.succeeded(),
            "schemathesis found failures in the {tag} operations:\n{}",
            run.output()
        );
        operations += summary_count(&run.stdout, "Tested:", 1);
        cases += summary_count(&run.stdout, "generated", -1);
    }
    eprintln!(
        "schemathesis: {operations} operations, {cases} cases, no failure, in {:?}",
        started.elapsed()
    );
    let documented = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().keys())
        .filter(|key| ["get", "put", "post", "delete", "patch"].contains(&key.as_str()))
        .count() as u64;
    assert_eq!(operations, documented, "every operation was tested");
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "the fuzzing took {:?}",
        started.elapsed()
    );
    served.stop().await;
}
