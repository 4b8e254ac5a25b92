//! The `article-etl` command: flags → library calls → exit codes (CLI.md). Everything that
//! does work lives in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use article_etl::settings::{Settings, SettingsError};
use article_etl::transform::transform_path;
use article_etl::validate::{validate, Summary};

mod commands;

/// Exit codes of CLI.md.
mod exit {
    pub const OK: u8 = 0;
    pub const FILES_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CANNOT_START: u8 = 3;
}

/// An error that ends the command with a given exit code.
#[derive(Debug)]
struct Exit(u8, String);

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
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the documents these files become, one JSON per line, without touching any database.
    Inspect(InspectArgs),
    /// Parse files or trees, print a summary and every problem; exit 1 when any file failed.
    Validate(ValidateArgs),
    /// Process the inboxes: with --once, drain what is there now and exit (cron, timers);
    /// without it, keep watching.
    Run(commands::RunArgs),
    /// Watch the inboxes without end and serve /healthz, /readyz and /metrics.
    Daemon(commands::DaemonArgs),
    /// Load archive trees in place: resumable, with a progress bar, shardable across machines.
    Backfill(commands::BackfillArgs),
    /// Move quarantined files of an inbox pipeline back through it (by code), then process
    /// them like `run --once`; those that fail again go back to quarantine.
    Replay(commands::ReplayArgs),
    /// Recent ingest runs, collection counts, parser versions and quarantines.
    Status(commands::StatusArgs),
    /// Print one stored article (by `_id`, e.g. laibin-daily:156059) as JSON.
    Show(commands::ShowArgs),
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The pipeline whose rules apply (may be left out when only one is configured).
    #[arg(long)]
    pipeline: Option<String>,
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct ValidateArgs {
    #[arg(long)]
    pipeline: Option<String>,
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    tune_malloc();
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

/// glibc's defaults suit short-lived buffers badly here: the load stage's megabyte-sized write
/// commands went to `mmap` and back to the kernel after every send, and freed heap was trimmed
/// and faulted in again (a tenth of a run's CPU time in page faults), while one arena per
/// thread kept memory the other threads could not reuse. Larger thresholds keep those pages;
/// two arenas bound the memory held for the worker threads.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters, and runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
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
    init_logging(&settings, format, cli.verbose, cli.quiet);
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
        Command::Inspect(args) => inspect(&settings, args),
        Command::Validate(args) => validate_cmd(&settings, args, format),
        Command::Run(args) => commands::run(&settings, args, format == LogFormat::Json),
        Command::Daemon(args) => commands::daemon(&settings, args, format == LogFormat::Json),
        Command::Backfill(args) => commands::backfill(&settings, args, format == LogFormat::Json),
        Command::Replay(args) => commands::replay(&settings, args, format == LogFormat::Json),
        Command::Status(args) => commands::status(&settings, args, format == LogFormat::Json),
        Command::Show(args) => commands::show(&settings, args),
    }
}

fn init_logging(settings: &Settings, format: LogFormat, verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error".to_owned(),
        (false, 0) => settings.log.level.clone(),
        (false, 1) => "debug".to_owned(),
        (false, _) => "trace".to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

fn inspect(settings: &Settings, args: InspectArgs) -> anyhow::Result<u8> {
    let pipeline = settings.select_one(args.pipeline.as_deref())?;
    let opts = pipeline.parse_options("inspect");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for file in &args.files {
        match transform_path(file, &opts) {
            Ok(article) => {
                serde_json::to_writer(&mut out, &article)?;
                writeln!(out)?;
            }
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    Ok(if failed { exit::FILES_FAILED } else { exit::OK })
}

fn validate_cmd(settings: &Settings, args: ValidateArgs, format: LogFormat) -> anyhow::Result<u8> {
    let pipeline = settings.select_one(args.pipeline.as_deref())?;
    let summary = validate(
        &args.paths,
        &pipeline.filter,
        &pipeline.parse_options("validate"),
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        LogFormat::Json => {
            serde_json::to_writer(&mut out, &summary)?;
            writeln!(out)?;
        }
        LogFormat::Pretty => print_summary(&mut out, &summary)?,
    }
    Ok(if summary.failed > 0 {
        exit::FILES_FAILED
    } else {
        exit::OK
    })
}

fn print_summary(out: &mut impl Write, s: &Summary) -> std::io::Result<()> {
    for p in &s.problems {
        match p.line {
            Some(line) => writeln!(
                out,
                "{}:{}: {} {}: {}",
                p.path, line, p.severity, p.code, p.message
            )?,
            None => writeln!(out, "{}: {} {}: {}", p.path, p.severity, p.code, p.message)?,
        }
    }
    if !s.problems.is_empty() {
        writeln!(out)?;
    }
    writeln!(
        out,
        "{} files: {} ok ({} with warnings), {} failed",
        s.files, s.ok, s.with_warnings, s.failed
    )?;
    for (title, counts) in [
        ("warnings", &s.warnings_by_code),
        ("failed", &s.failed_by_code),
    ] {
        if !counts.is_empty() {
            writeln!(out, "{title} by code:")?;
            for (code, n) in counts {
                writeln!(out, "  {code:<24} {n}")?;
            }
        }
    }
    Ok(())
}
