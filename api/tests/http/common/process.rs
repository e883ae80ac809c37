//! The real `gatehouse` binary as a child process: one-shot commands run to their end,
//! and `gatehouse serve` on a free port, stopped with SIGTERM.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use infrastructure::testing::TestDatabase;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::Reply;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const CONFIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config");
const TEST_TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/test-tools.sh");

/// `gatehouse` in the `test` environment with a clean environment of its own, so
/// nothing of this process (`RUST_LOG`, `DATABASE_URL`, …) leaks in; killed when the
/// command's child is dropped.
pub fn gatehouse(database_url: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("GATEHOUSE_ENV", "test")
        .env("GATEHOUSE_CONFIG_DIR", CONFIG_DIR)
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The URL of a test database, in the clear.
pub fn url_of(db: &TestDatabase) -> String {
    db.url.expose_secret().to_owned()
}

/// How a process ended and everything it wrote.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }

    /// Everything the process wrote.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs a command to its end (at most a minute) and captures its output.
pub async fn finish(command: &mut Command) -> Finished {
    finish_within(command, Duration::from_secs(60)).await
}

/// Runs a command to its end (at most `limit`) and captures its output.
pub async fn finish_within(command: &mut Command, limit: Duration) -> Finished {
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} still ran after {limit:?}"))
        .expect("run the command");
    Finished {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The python of the test tools' venv (PyJWT, jwcrypto, prometheus_client…:
/// `scripts/test-tools.sh`), provisioned once per test process.
pub fn test_tools_python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = std::process::Command::new("bash")
            .arg(TEST_TOOLS)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/test-tools.sh");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "scripts/test-tools.sh failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
            .lines()
            .last()
            .expect("the python path on the last line")
            .to_owned()
    })
}

/// A port that was free a moment ago, below Linux's ephemeral range (32768-60999) so
/// that no outgoing connection of a concurrent test takes it before it is bound again.
pub fn free_port() -> u16 {
    let start = u16::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..2].try_into().unwrap());
    (0..12_000u16)
        .map(|i| 20_000 + (start.wrapping_add(i) % 12_000))
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port")
}

/// Reads a pipe to its end in a task of its own, so that it never fills up.
pub fn read_all(pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> JoinHandle<String> {
    tokio::spawn(async move {
        let mut pipe = pipe;
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes).await;
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `gatehouse serve` running as a child process, its output read as it comes; killed
/// when dropped (a failed assertion included), stopped cleanly with [`Served::stop`].
pub struct Served {
    child: Child,
    pub address: String,
    pub client: reqwest::Client,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

impl Served {
    /// Starts `gatehouse serve` over `database_url` on a free port, with `env` added
    /// to its environment, and waits until `/healthz` answers.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Served {
        let port = free_port();
        let mut command = gatehouse(database_url);
        command
            .arg("serve")
            .env("GATEHOUSE__SERVER__PORT", port.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start gatehouse serve");
        let stdout = read_all(child.stdout.take().expect("stdout"));
        let stderr = read_all(child.stderr.take().expect("stderr"));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        let mut served = Served {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client,
            stdout,
            stderr,
        };
        served.wait_until_healthy().await;
        served
    }

    /// Polls `/healthz` for at most 30 s; panics with the process's stderr if it
    /// exits first.
    async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let stderr = (&mut self.stderr).await.unwrap_or_default();
                panic!("gatehouse serve exited early with {status}: {stderr}");
            }
            let probe = self.client.get(self.url("/healthz")).send().await;
            if probe.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gatehouse serve never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit, which must be clean
    /// (status 0); returns everything the process wrote.
    pub async fn stop(mut self) -> Finished {
        let pid = self.child.id().expect("a running child");
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -TERM {pid} failed");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("gatehouse stopped within 30 s of SIGTERM")
            .expect("wait for gatehouse");
        let finished = Finished {
            code: status.code(),
            stdout: self.stdout.await.unwrap_or_default(),
            stderr: self.stderr.await.unwrap_or_default(),
        };
        assert!(finished.succeeded(), "{finished:?}");
        finished
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path`, with a bearer token when `access` is given.
    pub async fn get(&self, path: &str, access: Option<&str>) -> Reply {
        let mut request = self.client.get(self.url(path));
        if let Some(access) = access {
            request = request.bearer_auth(access);
        }
        Reply::read(request.send().await.expect("request")).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        let request = self.client.post(self.url(path)).json(&body);
        Reply::read(request.send().await.expect("request")).await
    }

    /// `method path` with a bearer token and a JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        access: &str,
        body: Value,
    ) -> Reply {
        let request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(access)
            .json(&body);
        Reply::read(request.send().await.expect("request")).await
    }
}
