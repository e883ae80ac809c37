//! The outside tools some tests run, each provisioned once per test process by the
//! project's own scripts: the Python venv of `scripts/test-tools.sh` (PyJWT, jwcrypto,
//! openapi-spec-validator, schemathesis) and the headless browser of
//! `scripts/browser.sh` (Debian's chromium and chromedriver).

use std::process::Stdio;
use std::sync::OnceLock;

const TEST_TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/test-tools.sh");
const BROWSER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/browser.sh");

/// Runs a provisioning script; the last line it prints.
fn provision(script: &str) -> String {
    let output = std::process::Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("run {script}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{script} printed nothing"))
        .to_owned()
}

/// The venv python of `scripts/test-tools.sh`.
pub fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| provision(TEST_TOOLS))
}

/// The chromedriver of `scripts/browser.sh` (chromium beside it).
pub fn chromedriver() -> &'static str {
    static CHROMEDRIVER: OnceLock<String> = OnceLock::new();
    CHROMEDRIVER.get_or_init(|| provision(BROWSER))
}
