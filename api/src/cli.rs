//! The `gatehouse` command line (SPEC §10).

use std::io::IsTerminal;

use anyhow::{Context, bail};
use application::use_cases::create_superuser::{CreateSuperuserCommand, CreateSuperuserError};
use clap::{Parser, Subcommand};
use domain::Password;
use infrastructure::db;

use crate::settings::{self, Environment, Settings};
use crate::startup::{Application, build_state};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: authentication and user management over HTTP"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Create an active staff superuser; the password comes from
    /// GATEHOUSE_SUPERUSER_PASSWORD, else from a hidden prompt.
    Createsuperuser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
    /// Delete refresh tokens whose expiry has passed.
    Flushexpiredtokens,
    /// Validate the configuration and the database connection.
    Check,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let environment = Environment::from_env()?;
    let settings = settings::load(&settings::config_dir(), environment)?;
    telemetry::init(&settings.logging);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&settings).await,
        Command::Migrate => migrate(&settings).await,
        Command::Createsuperuser { username, email } => {
            create_superuser(&settings, username, email).await
        }
        Command::Flushexpiredtokens => {
            let state = build_state(&settings).await?;
            let deleted = state
                .gatehouse
                .flush_expired_tokens()
                .await
                .context("while flushing tokens")?;
            println!("Deleted {deleted} expired refresh token(s).");
            Ok(())
        }
        Command::Check => check(&settings).await,
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let application = Application::build(settings).await?;
    tracing::info!(
        host = %settings.server.host,
        port = application.port(),
        "gatehouse is listening"
    );
    application
        .run_until_stopped()
        .await
        .context("while serving")?;
    tracing::info!("gatehouse stopped");
    Ok(())
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database.url()?;
    if db::create_database_if_missing(url).await? {
        println!("Created the database.");
    }
    let applied = db::run_migrations(url).await?;
    if applied.is_empty() {
        println!("No migrations to apply.");
    }
    for version in applied {
        println!("Applied migration {version}.");
    }
    Ok(())
}

fn read_password() -> anyhow::Result<Password> {
    if let Ok(password) = std::env::var("GATEHOUSE_SUPERUSER_PASSWORD") {
        return Ok(Password::new(password));
    }
    if !std::io::stdin().is_terminal() {
        bail!("set GATEHOUSE_SUPERUSER_PASSWORD or run createsuperuser in a terminal");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password (again): ")?;
    if first != second {
        bail!("Error: Your passwords didn't match.");
    }
    Ok(Password::new(first))
}

async fn create_superuser(
    settings: &Settings,
    username: String,
    email: String,
) -> anyhow::Result<()> {
    let password = read_password()?;
    let state = build_state(settings).await?;
    let command = CreateSuperuserCommand {
        username,
        email,
        password,
    };
    match state.gatehouse.create_superuser(command).await {
        Ok(profile) => {
            println!(
                "Superuser {} created (id {}).",
                profile.user.username, profile.user.id
            );
            Ok(())
        }
        Err(CreateSuperuserError::Invalid(errors)) => {
            let lines: Vec<String> = errors
                .fields()
                .flat_map(|(field, messages)| messages.iter().map(move |m| format!("{field}: {m}")))
                .collect();
            bail!("Error: {}", lines.join("\n"))
        }
        Err(CreateSuperuserError::Fault(fault)) => Err(anyhow::Error::new(fault)),
    }
}

async fn check(settings: &Settings) -> anyhow::Result<()> {
    let state = build_state(settings).await?;
    db::ping(&state.pool)
        .await
        .context("the database is unreachable")?;
    println!("System check identified no issues (0 silenced).");
    Ok(())
}
