//! Settings (`config/default.toml` + `ARTICLE_ETL__…` environment variables) and pipeline
//! files (`pipelines/*.toml`), read with the `config` crate and validated once, here.
//!
//! Relative paths in the settings file are relative to the settings file's directory;
//! relative paths in a pipeline file are relative to the pipeline file's directory, so each
//! file means the same thing wherever the command is started from.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::extract::packed::Limits;
use crate::load::WriteApi;

mod pipeline;
mod writers;
pub use pipeline::Pipeline;
pub use writers::Writers;

/// The settings file used when `--config` is not given, relative to the working directory.
pub const DEFAULT_SETTINGS_FILE: &str = "config/default.toml";
/// Prefix of the environment overrides: `ARTICLE_ETL__MONGODB__URI`.
pub const ENV_PREFIX: &str = "ARTICLE_ETL";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("settings file {path}: {source}")]
    Settings {
        path: String,
        source: config::ConfigError,
    },
    #[error("pipeline file {path}: {source}")]
    PipelineFile {
        path: String,
        source: config::ConfigError,
    },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    #[error("cannot read the pipelines directory {path}: {source}")]
    PipelinesDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Selection(String),
}

impl SettingsError {
    fn invalid(file: &Path, key: &str, message: impl Into<String>) -> Self {
        SettingsError::Invalid {
            file: file.display().to_string(),
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// The settings file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Every `*.toml` in this directory is a pipeline.
    #[serde(default = "default_pipelines_dir")]
    pub pipelines_dir: PathBuf,
    #[serde(default)]
    pub mongodb: MongoSettings,
    #[serde(default)]
    pub load: LoadSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub daemon: DaemonSettings,
    #[serde(default)]
    pub archive: ArchiveSettings,
    /// The file these settings came from, when one was read.
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// Problems worth a warning once logging is up (e.g. a password in a file others can read).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSettings {
    /// Credentials belong in the environment (`ARTICLE_ETL__MONGODB__URI`), not in the file.
    #[serde(default = "default_uri")]
    pub uri: String,
    #[serde(default = "default_database")]
    pub database: String,
    #[serde(default = "default_collection")]
    pub collection: String,
    /// How long to wait for a usable server before an operation fails (and, at startup, before
    /// giving up with exit code 3). A `serverSelectionTimeoutMS` in the URI wins.
    #[serde(default = "default_server_selection_timeout_ms")]
    pub server_selection_timeout_ms: u64,
}

impl std::fmt::Debug for MongoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoSettings")
            .field("uri", &crate::redact::redact_uri(&self.uri))
            .field("database", &self.database)
            .field("collection", &self.collection)
            .field(
                "server_selection_timeout_ms",
                &self.server_selection_timeout_ms,
            )
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSettings {
    /// Documents per bulk write.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// A batch is also closed when its encoded documents reach this many bytes: with the
    /// writers and the batch being filled, it bounds the memory held by the load stage,
    /// whatever the articles' size.
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: usize,
    /// Longest wait to fill a batch before writing what there is.
    #[serde(default = "default_batch_linger_ms")]
    pub batch_linger_ms: u64,
    /// Batches written at the same time: a number, or `auto` (adapted as the run goes, up
    /// to `max_writers`).
    #[serde(default)]
    pub writers: Writers,
    /// With `writers = "auto"`: the most batches written at the same time.
    #[serde(default = "default_max_writers")]
    pub max_writers: usize,
    /// `run --once`: how long to keep retrying a failing batch before giving up (exit 1, the
    /// unfinished files back in the inbox). 0 gives up at the first transient error.
    #[serde(default = "default_retry_budget_ms")]
    pub retry_budget_ms: u64,
    /// `auto` (by the server's version), `bulk-write` (MongoDB 8.0+) or `legacy` (6.0/7.0).
    #[serde(default)]
    pub write_api: WriteApi,
}

impl LoadSettings {
    pub fn retry_budget(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_millis(self.retry_budget_ms))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// A tracing filter: `info`, `debug`, `article_etl=debug,mongodb=warn`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Where the daemon serves `/healthz`, `/readyz` and `/metrics`.
    #[serde(default = "default_listen")]
    pub listen: String,
}

/// Bounds on one packed input (a zip, a tar…): a decompression bomb stops there, with a
/// reason, and what was read before it loads.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSettings {
    /// Entries one archive may hold.
    #[serde(default = "default_archive_max_members")]
    pub max_members: u64,
    /// Uncompressed bytes one archive may hold, in all.
    #[serde(default = "default_archive_max_total_bytes")]
    pub max_total_bytes: u64,
    /// Uncompressed bytes per byte of the archive on disk.
    #[serde(default = "default_archive_max_ratio")]
    pub max_ratio: u64,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        ArchiveSettings {
            max_members: default_archive_max_members(),
            max_total_bytes: default_archive_max_total_bytes(),
            max_ratio: default_archive_max_ratio(),
        }
    }
}

impl ArchiveSettings {
    /// The limits of a pipeline's packed inputs: a member is a file, bounded like one.
    pub fn limits(&self, max_file_bytes: u64) -> Limits {
        Limits {
            max_members: self.max_members,
            max_total_bytes: self.max_total_bytes,
            max_ratio: self.max_ratio,
            max_member_bytes: max_file_bytes,
        }
    }
}

fn default_archive_max_members() -> u64 {
    1_000_000
}
fn default_archive_max_total_bytes() -> u64 {
    64 << 30
}
fn default_archive_max_ratio() -> u64 {
    100
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSettings {
    /// After SIGINT/SIGTERM, how long to wait for the batches in flight before exiting anyway
    /// (unwritten files then stay in `processing/` for the next start).
    #[serde(default = "default_shutdown_timeout_ms")]
    pub shutdown_timeout_ms: u64,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            shutdown_timeout_ms: default_shutdown_timeout_ms(),
        }
    }
}

fn default_shutdown_timeout_ms() -> u64 {
    30_000
}

fn default_pipelines_dir() -> PathBuf {
    PathBuf::from("pipelines")
}
fn default_uri() -> String {
    "mongodb://127.0.0.1:27017".into()
}
fn default_database() -> String {
    "article_etl".into()
}
fn default_collection() -> String {
    "articles".into()
}
fn default_batch_size() -> usize {
    500
}
fn default_batch_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_batch_linger_ms() -> u64 {
    200
}
fn default_server_selection_timeout_ms() -> u64 {
    10_000
}
fn default_max_writers() -> usize {
    4
}

fn default_retry_budget_ms() -> u64 {
    60_000
}
fn default_log_format() -> String {
    "pretty".into()
}
fn default_log_level() -> String {
    "info".into()
}
fn default_listen() -> String {
    "127.0.0.1:9464".into()
}

impl Default for MongoSettings {
    fn default() -> Self {
        MongoSettings {
            uri: default_uri(),
            database: default_database(),
            collection: default_collection(),
            server_selection_timeout_ms: default_server_selection_timeout_ms(),
        }
    }
}
impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            batch_size: default_batch_size(),
            batch_bytes: default_batch_bytes(),
            batch_linger_ms: default_batch_linger_ms(),
            writers: Writers::Auto,
            max_writers: default_max_writers(),
            retry_budget_ms: default_retry_budget_ms(),
            write_api: WriteApi::default(),
        }
    }
}
impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}
impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: default_listen(),
        }
    }
}

impl Settings {
    /// Reads the settings: `file` when given (it must exist), else `config/default.toml` when it
    /// exists, else built-in defaults; then the `ARTICLE_ETL__…` environment on top.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let default = Path::new(DEFAULT_SETTINGS_FILE);
        let chosen = match file {
            Some(f) => Some(f.to_path_buf()),
            None if default.is_file() => Some(default.to_path_buf()),
            None => None,
        };
        let mut builder = config::Config::builder();
        if let Some(f) = &chosen {
            builder = builder.add_source(
                config::File::from(f.as_path())
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .separator("__")
                .try_parsing(true),
        );
        let shown = chosen.as_ref().map_or_else(
            || "(built-in defaults)".to_owned(),
            |f| f.display().to_string(),
        );
        let mut settings: Settings =
            builder
                .build()
                .and_then(|c| c.try_deserialize())
                .map_err(|source| SettingsError::Settings {
                    path: shown.clone(),
                    source,
                })?;
        let base = chosen
            .as_ref()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        settings.pipelines_dir = resolve(&base, &settings.pipelines_dir);
        if let Some(f) = &chosen {
            if let Some(w) = exposed_password_warning(f) {
                settings.warnings.push(w);
            }
        }
        settings.file = chosen;
        settings.validate(Path::new(&shown))?;
        Ok(settings)
    }

    fn validate(&self, file: &Path) -> Result<(), SettingsError> {
        if self.load.batch_size == 0 || self.load.batch_size > 100_000 {
            return Err(SettingsError::invalid(
                file,
                "load.batch_size",
                "must be between 1 and 100000",
            ));
        }
        if self.load.batch_bytes < 1024 * 1024 {
            return Err(SettingsError::invalid(
                file,
                "load.batch_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(SettingsError::invalid(
                file,
                "log.format",
                "must be \"pretty\" or \"json\"",
            ));
        }
        if !self.mongodb.uri.starts_with("mongodb://")
            && !self.mongodb.uri.starts_with("mongodb+srv://")
        {
            return Err(SettingsError::invalid(
                file,
                "mongodb.uri",
                "must start with mongodb:// or mongodb+srv://",
            ));
        }
        let fixed = match self.load.writers {
            Writers::Fixed(n) => n,
            Writers::Auto => 1,
        };
        if fixed == 0 || fixed > 64 || self.load.max_writers == 0 || self.load.max_writers > 64 {
            return Err(SettingsError::invalid(
                file,
                "load.writers",
                "load.writers (a number) and load.max_writers must be between 1 and 64",
            ));
        }
        let a = &self.archive;
        if a.max_members == 0 || a.max_total_bytes == 0 || a.max_ratio == 0 {
            return Err(SettingsError::invalid(
                file,
                "archive",
                "max_members, max_total_bytes and max_ratio must be positive",
            ));
        }
        if self.mongodb.database.is_empty() || self.mongodb.collection.is_empty() {
            return Err(SettingsError::invalid(
                file,
                "mongodb",
                "database and collection must not be empty",
            ));
        }
        Ok(())
    }

    /// Every pipeline in `pipelines_dir`, sorted by name.
    pub fn pipelines(&self) -> Result<Vec<Pipeline>, SettingsError> {
        let dir = &self.pipelines_dir;
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SettingsError::PipelinesDir {
                    path: dir.display().to_string(),
                    source,
                })
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        files.sort();
        let mut pipelines = files
            .iter()
            .map(|f| Pipeline::load(f))
            .collect::<Result<Vec<_>, _>>()?;
        for p in &mut pipelines {
            p.packed = self.archive.limits(p.max_file_bytes);
        }
        pipelines.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in pipelines.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(SettingsError::invalid(
                    &pair[1].file,
                    "name",
                    format!(
                        "pipeline {:?} is also defined in {}",
                        pair[1].name,
                        pair[0].file.display()
                    ),
                ));
            }
        }
        Ok(pipelines)
    }

    /// The one pipeline a command works on: `name`, or the only one configured.
    pub fn select_one(&self, name: Option<&str>) -> Result<Pipeline, SettingsError> {
        let names: Vec<String> = name.map(str::to_owned).into_iter().collect();
        self.select_pipelines(&names, true)?
            .into_iter()
            .next()
            .ok_or_else(|| SettingsError::Selection("no pipeline selected".into()))
    }

    /// The pipelines a command works on: those named, or every one; `exactly_one` for commands
    /// that take a single pipeline (it may be left out when only one is configured).
    pub fn select_pipelines(
        &self,
        names: &[String],
        exactly_one: bool,
    ) -> Result<Vec<Pipeline>, SettingsError> {
        let all = self.pipelines()?;
        if all.is_empty() {
            return Err(SettingsError::Selection(format!(
                "no pipeline configured: no *.toml in {}",
                self.pipelines_dir.display()
            )));
        }
        if names.is_empty() {
            if exactly_one && all.len() > 1 {
                let known: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
                return Err(SettingsError::Selection(format!(
                    "several pipelines are configured ({}): choose one with --pipeline",
                    known.join(", ")
                )));
            }
            return Ok(all);
        }
        let mut chosen = Vec::new();
        for name in names {
            match all.iter().find(|p| &p.name == name) {
                Some(p) => chosen.push(p.clone()),
                None => {
                    let known: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
                    return Err(SettingsError::Selection(format!(
                        "no pipeline named {name:?} (configured: {})",
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(chosen)
    }
}

/// A settings file that others may read must not hold a MongoDB password.
fn exposed_password_warning(file: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).ok()?.permissions().mode();
    if mode & 0o044 == 0 {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let holds_password = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .any(|l| crate::redact::redact_uri(l) != l);
    holds_password.then(|| {
        format!(
            "{} holds a MongoDB password and is readable by group or others (mode {:o}): `chmod 600` it, or put the URI in ARTICLE_ETL__MONGODB__URI",
            file.display(),
            mode & 0o777
        )
    })
}

/// `p`, relative to `base` unless absolute.
fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
