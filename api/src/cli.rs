//! The `gatehouse` command line (SPEC §10).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use application::django_import::{ConflictPolicy, Resolution};
use application::use_cases::create_superuser::{CreateSuperuserCommand, CreateSuperuserError};
use clap::{Parser, Subcommand};
use domain::Password;
use indicatif::{ProgressBar, ProgressStyle};
use infrastructure::django_import::{
    self, ImportError, ImportOptions, ImportProgress, ImportReport, LinkTally, Stage, Tally,
};
use infrastructure::email::SmtpMailer;
use infrastructure::{JwtAlgorithm, JwtTokenCodec, db, generate_key_pair};
use secrecy::{ExposeSecret, SecretString};

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
    /// Import users, groups, permissions, DRF keys and SimpleJWT sessions from a
    /// Django database (read-only); run it again to finish or to catch up.
    ImportDjango {
        /// The Django database, e.g. postgres://user@host/django_db.
        #[arg(
            long = "from",
            env = "DJANGO_DATABASE_URL",
            value_name = "URL",
            hide_env_values = true
        )]
        from: SecretString,
        /// Report what would be written, and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Users Gatehouse cannot take as they are (an empty, invalid or duplicate
        /// email; an id, username or email a Gatehouse user already has): abort
        /// (write nothing), skip (leave them out), or placeholder (import them with
        /// django-user-<id>@example.invalid when the email is the conflict).
        #[arg(long, default_value = "abort", value_name = "POLICY")]
        email_conflicts: ConflictPolicy,
        /// Users per transaction.
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
    },
    /// Signing keys for jwt.algorithm EdDSA, ES256 or RS256.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new key pair into a directory (<alg>-<kid>.private.pem with mode 0600,
    /// and <alg>-<kid>.public.pem) and print its kid.
    Generate {
        /// EdDSA (Ed25519), ES256 (P-256) or RS256 (RSA, 2048 bits).
        #[arg(long, value_name = "ALGORITHM", value_parser = asymmetric_algorithm)]
        algorithm: JwtAlgorithm,
        /// The directory the key files go to; made when missing.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

fn asymmetric_algorithm(name: &str) -> Result<JwtAlgorithm, String> {
    match name.parse()? {
        JwtAlgorithm::HS256 => Err(
            "HS256 signs with a secret, not a key pair: set SECRET_KEY to 32 or more random bytes"
                .into(),
        ),
        algorithm => Ok(algorithm),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Making keys needs no configuration, so a broken one does not stand in its way.
    if let Some(Command::Keys {
        command: KeysCommand::Generate { algorithm, out },
    }) = &cli.command
    {
        return generate_keys(*algorithm, out);
    }
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
        Command::Check => check(&settings, environment).await,
        Command::Keys { .. } => unreachable!("handled before the settings are read"),
        Command::ImportDjango {
            from,
            dry_run,
            email_conflicts,
            batch_size,
        } => {
            let options = ImportOptions {
                conflicts: email_conflicts,
                dry_run,
                batch_size,
            };
            import_django(&settings, &from, options).await
        }
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

fn generate_keys(algorithm: JwtAlgorithm, out: &Path) -> anyhow::Result<()> {
    let key = generate_key_pair(algorithm, out)?;
    println!("{}", key.kid);
    eprintln!(
        "Wrote a new {} key pair:\n  private key: {} (mode 0600; keep it secret)\n  public key:  {}\n\
         To sign with it: jwt.algorithm = {}, jwt.private_key_file = the private key.\n\
         To rotate without logging anyone out, first list the public key in\n\
         jwt.extra_verification_keys everywhere (README: Rotating signing keys).",
        key.algorithm,
        key.private_key_file.display(),
        key.public_key_file.display(),
        key.algorithm,
    );
    Ok(())
}

async fn check(settings: &Settings, environment: Environment) -> anyhow::Result<()> {
    println!(
        "Configuration (GATEHOUSE_ENV={}; secrets redacted):",
        environment.as_str()
    );
    for line in settings.effective.lines() {
        println!("  {line}");
    }
    let state = build_state(settings).await?;
    db::ping(&state.pool)
        .await
        .context("the database is unreachable")?;
    let sslmode = db::PgConnectOptions::parse(settings.database.url()?.expose_secret())?.ssl_mode();
    match db::tls_version(&state.pool)
        .await
        .context("the database is unreachable")?
    {
        Some(version) => println!("Database: reachable, encrypted ({version}; sslmode={sslmode})"),
        None => println!("Database: reachable, NOT encrypted (sslmode={sslmode})"),
    }
    if settings.email.smtp.host.is_some() {
        // Reads email.smtp_ca_file; connects to nothing.
        SmtpMailer::new(&settings.email.smtp)?;
    }
    let codec = JwtTokenCodec::new(&settings.jwt.codec)?;
    let keys = codec.keys();
    let jwt = &settings.jwt.codec;
    println!("JWT signing: {} with kid {}", jwt.algorithm, keys[0].kid);
    match (&jwt.private_key_file, &jwt.public_key_file) {
        (Some(private), Some(public)) => {
            println!("  {} matches {}", public.display(), private.display())
        }
        (Some(private), None) => println!(
            "  public key derived from {} (jwt.public_key_file unset)",
            private.display()
        ),
        _ => {}
    }
    for key in &keys {
        println!(
            "JWT verification: kid {} {} ({}; {})",
            key.kid,
            key.algorithm,
            if key.signs { "signing key" } else { "extra" },
            if key.published {
                "published in /.well-known/jwks.json"
            } else {
                "secret, never published"
            },
        );
    }
    println!("System check identified no issues (0 silenced).");
    Ok(())
}

async fn import_django(
    settings: &Settings,
    from: &SecretString,
    options: ImportOptions,
) -> anyhow::Result<()> {
    let target = settings.database.url()?;
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.store(true, Ordering::SeqCst);
            eprintln!("stopping after this batch (Ctrl-C again to stop at once)");
            if tokio::signal::ctrl_c().await.is_ok() {
                // The batch in hand rolls back with the connection.
                std::process::exit(130);
            }
        }
    });
    let mut progress = Progress::new(stop);
    let outcome = django_import::import(from, target, options, &mut progress).await;
    progress.finish();
    match outcome {
        Ok(report) => {
            print_report(&report);
            Ok(())
        }
        Err(ImportError::Aborted(report)) => {
            print_conflicts(&report);
            bail!(
                "{} user(s) and {} group(s) in conflict: nothing was imported. Fix them in \
                 Django, or choose --email-conflicts skip or placeholder (README, \"Switching \
                 from Django\").",
                report.conflicts.len(),
                report.group_conflicts.len()
            )
        }
        Err(ImportError::Interrupted(report)) => {
            print_report(&report);
            bail!(
                "interrupted: what is printed above is committed; run the import again to finish it"
            )
        }
        Err(ImportError::Failed(error)) => Err(error),
    }
}

/// A progress bar on a terminal, a line per stage and every tenth of the users
/// otherwise; stops the import between two batches after Ctrl-C.
struct Progress {
    bar: Option<ProgressBar>,
    stage: &'static str,
    total: u64,
    done: u64,
    last_line: u64,
    stop: Arc<AtomicBool>,
}

impl Progress {
    fn new(stop: Arc<AtomicBool>) -> Self {
        Self {
            bar: None,
            stage: "",
            total: 0,
            done: 0,
            last_line: 0,
            stop,
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

impl ImportProgress for Progress {
    fn stage(&mut self, stage: Stage, total: u64) {
        self.finish();
        self.stage = match stage {
            Stage::PermissionsAndGroups => "permissions and groups",
            Stage::Users => "users",
        };
        (self.total, self.done, self.last_line) = (total, 0, 0);
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total).with_message(self.stage);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>22} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            self.bar = Some(bar);
        } else {
            eprintln!("importing {} ({total})", self.stage);
        }
    }

    fn advance(&mut self, done: u64) {
        self.done += done;
        match &self.bar {
            Some(bar) => bar.inc(done),
            None if self.total > 0
                && (self.done - self.last_line) * 10 >= self.total
                && self.done < self.total =>
            {
                self.last_line = self.done;
                eprintln!("  {}: {}/{}", self.stage, self.done, self.total);
            }
            None => {}
        }
    }

    fn keep_going(&mut self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }
}

fn print_conflicts(report: &ImportReport) {
    let outcome = |resolution: &Resolution| match resolution {
        Resolution::Aborted => "nothing imported".to_owned(),
        Resolution::NotImported => "not imported".to_owned(),
        Resolution::Placeholder(email) => format!("imported as {email}"),
    };
    if !report.group_conflicts.is_empty() {
        println!("Groups in conflict ({}):", report.group_conflicts.len());
        for conflict in &report.group_conflicts {
            println!(
                "  group {} {:?}: {} -> {}",
                conflict.id,
                conflict.name,
                conflict.reason,
                outcome(&conflict.resolution)
            );
        }
    }
    if !report.conflicts.is_empty() {
        println!("Users in conflict ({}):", report.conflicts.len());
        for conflict in &report.conflicts {
            println!(
                "  user {} {:?} <{}>: {} -> {}",
                conflict.id,
                conflict.username,
                conflict.email,
                conflict.reason,
                outcome(&conflict.resolution)
            );
        }
    }
}

fn print_report(report: &ImportReport) {
    let tally = |Tally {
                     created,
                     updated,
                     unchanged,
                 }: Tally| {
        format!("{created} created, {updated} updated, {unchanged} unchanged")
    };
    let links =
        |LinkTally { added, removed }: LinkTally| format!("{added} added, {removed} removed");
    print_conflicts(report);
    let heading = if report.dry_run {
        "Dry run, nothing written; an import would write:"
    } else {
        "Imported:"
    };
    println!("{heading}");
    println!("  permissions     {}", tally(report.permissions));
    println!("  groups          {}", tally(report.groups));
    println!("  group grants    {}", links(report.group_grants));
    println!("  users           {}", tally(report.users));
    println!("  memberships     {}", links(report.memberships));
    println!("  user grants     {}", links(report.user_grants));
    println!("  DRF keys        {}", tally(report.api_keys));
    println!(
        "  refresh tokens  {} (updated: blacklisted in Django since); {} left out (expired, or of a user not imported)",
        tally(report.refresh_tokens),
        report.refresh_tokens_left
    );
    if report.sessions_ended > 0 {
        println!(
            "  sessions ended  {} (passwords changed in Django since the last run)",
            report.sessions_ended
        );
    }
}
