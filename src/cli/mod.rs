//! The command line: flags and subcommands (README, "Commands"), logging, and the exit codes
//! every command ends with. One module per group of commands:
//! - `run`, `daemon`, `replay`, and the one path every run takes, in [`ingest`];
//! - `backfill`, its dry run and progress, in [`backfill`];
//! - `inspect`, `validate`, `status`, `show`, in [`query`];
//! - SIGINT and SIGTERM, in [`signals`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use article_etl::settings::{Settings, SettingsError};

mod backfill;
mod ingest;
mod progress;
mod query;
mod signals;

/// Exit codes (README, "Exit codes").
pub mod exit {
    pub const OK: u8 = 0;
    pub const FILES_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CANNOT_START: u8 = 3;
}

/// An error that ends the command with a given exit code.
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Exit {}

#[derive(Parser, Debug)]
#[command(
    name = "article-etl",
    version,
    about = "Ingest archived newspaper articles into MongoDB, deduplicated on the content id"
)]
struct Cli {
    /// Settings file (default: config/default.toml when it exists).
    #[arg(long, global = true, env = "ARTICLE_ETL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// MongoDB connection string; overrides the settings (prefer the environment for passwords).
    #[arg(long, global = true, value_name = "URI", hide_env_values = true)]
    mongodb_uri: Option<String>,
    /// Log and summary format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging (errors only).
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the documents these files become, one JSON per line, without touching any database.
    Inspect(query::InspectArgs),
    /// Parse files or trees, print a summary and every problem; exit 1 when any file failed.
    Validate(query::ValidateArgs),
    /// Process the inboxes: with --once, drain what is there now and exit (cron, timers);
    /// without it, keep watching.
    Run(ingest::RunArgs),
    /// Watch the inboxes without end and serve /healthz, /readyz and /metrics.
    Daemon(ingest::DaemonArgs),
    /// Load archive trees in place: resumable, with a progress bar, shardable across machines.
    Backfill(backfill::BackfillArgs),
    /// Move quarantined files of an inbox pipeline back through it (by code), then process
    /// them like `run --once`; those that fail again go back to quarantine.
    Replay(ingest::ReplayArgs),
    /// Recent ingest runs, collection counts, parser versions and quarantines.
    Status(query::StatusArgs),
    /// Print one stored article (by `_id`, e.g. laibin-daily:156059) as JSON.
    Show(query::ShowArgs),
}

/// Parses the flags, runs the command, and maps its result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = if let Some(Exit(code, _)) = err.downcast_ref::<Exit>() {
                *code
            } else if err.downcast_ref::<SettingsError>().is_some() {
                exit::USAGE
            } else {
                exit::FILES_FAILED
            };
            let message = article_etl::redact::redact_text(&format!("{err:#}"));
            eprintln!("article-etl: error: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    article_etl::redact::install_panic_hook();
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(uri) = &cli.mongodb_uri {
        settings.mongodb.uri = uri.clone();
    }
    article_etl::redact::register_uri(&settings.mongodb.uri);
    let format = cli.log_format.unwrap_or(if settings.log.format == "json" {
        LogFormat::Json
    } else {
        LogFormat::Pretty
    });
    // Runs that end draw a progress bar on a terminal.
    let bar = match &cli.command {
        Command::Backfill(_) | Command::Replay(_) => true,
        Command::Run(args) => args.once(),
        _ => false,
    };
    init_logging(&settings, format, cli.verbose, cli.quiet, bar);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    // A diagnostic for the promise that a panic never prints the password: the panic
    // message carries the configured URI, and the hook must mask it.
    if std::env::var_os("ARTICLE_ETL_TEST_PANIC").is_some() {
        panic!(
            "test panic requested; configured URI is {}",
            settings.mongodb.uri
        );
    }
    match cli.command {
        Command::Inspect(args) => query::inspect(&settings, args),
        Command::Validate(args) => query::validate(&settings, args, format),
        Command::Run(args) => ingest::run(&settings, args, format == LogFormat::Json),
        Command::Daemon(args) => ingest::daemon(&settings, args, format == LogFormat::Json),
        Command::Backfill(args) => backfill::backfill(&settings, args, format == LogFormat::Json),
        Command::Replay(args) => ingest::replay(&settings, args, format == LogFormat::Json),
        Command::Status(args) => query::status(&settings, args, format == LogFormat::Json),
        Command::Show(args) => query::show(&settings, args),
    }
}

/// Logging to stderr. A run that draws a progress bar on a terminal logs only warnings (the
/// quarantines among them) above it unless `-v` asks for the per-file events.
fn init_logging(settings: &Settings, format: LogFormat, verbose: u8, quiet: bool, bar: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error".to_owned(),
        (false, 0) if bar && progress::on_terminal(format == LogFormat::Json) => "warn".to_owned(),
        (false, 0) => settings.log.level.clone(),
        (false, 1) => "debug".to_owned(),
        (false, _) => "trace".to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::LogWriter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
