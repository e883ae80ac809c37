//! What the benchmarks share: one line of statistics per measured operation.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use api::settings::{Environment, Settings, load_from};
use api::startup::Application;
use infrastructure::testing::TestDatabase;

/// The `test` environment's settings, on `db`, on a free port.
pub fn settings_on(db: &TestDatabase) -> Settings {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../config"));
    let mut settings = load_from(&dir, Environment::Test, &HashMap::new()).expect("settings");
    settings.database.url = Some(db.url.clone());
    settings.server.port = 0;
    settings
}

/// Starts a server with `settings`; returns its base URL.
pub async fn serve(settings: &Settings) -> String {
    let application = Application::build(settings).await.expect("application");
    let base = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    base
}

/// A benchmark's knob: the variable `name` when it is set and parses, else `default`.
pub fn knob<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Prints count, mean, median, p95 and max of `samples` in milliseconds.
pub fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<40} n={:<4} mean={mean:>8.2}ms median={:>8.2}ms p95={:>8.2}ms min={:>8.2}ms max={:>8.2}ms",
        samples.len(),
        ms(at(0.5)),
        ms(at(0.95)),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
    );
}
