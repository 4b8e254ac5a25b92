//! A pipeline file (`pipelines/*.toml`): a source key, an inbox and the rules for its files.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;

use super::{resolve, SettingsError};
use crate::extract::packed::Limits;
use crate::extract::{AfterLoad, FileFilter, InboxSpec, WatchRules};
use crate::transform::{EncodingSetting, OnMissingId, ParseOptions, DEFAULT_MAX_FILE_BYTES};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    name: String,
    source: String,
    paper: Option<String>,
    inbox: PathBuf,
    work_dir: PathBuf,
    #[serde(default = "default_include")]
    include: Vec<String>,
    #[serde(default = "default_exclude")]
    exclude: Vec<String>,
    #[serde(default = "default_timezone")]
    timezone: String,
    #[serde(default)]
    encoding: EncodingSetting,
    #[serde(default)]
    on_missing_id: OnMissingId,
    #[serde(default)]
    after_load: AfterLoad,
    #[serde(default = "default_max_file_bytes")]
    max_file_bytes: u64,
    #[serde(default = "default_rescan_interval_ms")]
    rescan_interval_ms: u64,
    #[serde(default = "default_settle_ms")]
    settle_ms: u64,
    schedule: Option<String>,
}

fn default_rescan_interval_ms() -> u64 {
    60_000
}
fn default_settle_ms() -> u64 {
    2_000
}

fn default_include() -> Vec<String> {
    vec!["*.txt".into()]
}
fn default_exclude() -> Vec<String> {
    vec![".*".into(), "*.tmp".into(), "*.part".into()]
}
fn default_timezone() -> String {
    "Asia/Shanghai".into()
}
fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}

/// One pipeline: a source key, an inbox, and the rules for its files. Validated on load.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    /// The namespace of the content ids: `_id = "<source>:<content_id>"`.
    pub source: String,
    pub paper: Option<String>,
    pub inbox: PathBuf,
    /// Holds `processing/`, `done/`, `quarantine/`.
    pub work_dir: PathBuf,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub timezone: Tz,
    pub encoding: EncodingSetting,
    pub on_missing_id: OnMissingId,
    pub after_load: AfterLoad,
    pub max_file_bytes: u64,
    /// Watch mode: rules for finding finished files (full rescans, settling, cron rescans).
    pub watch: WatchRules,
    /// Matches file names (not paths) against `include` minus `exclude`.
    pub filter: FileFilter,
    /// Bounds on a packed input and its members (the settings' `archive` section).
    pub packed: Limits,
    /// The pipeline file.
    pub file: PathBuf,
}

impl Pipeline {
    pub fn load(file: &Path) -> Result<Pipeline, SettingsError> {
        let raw: PipelineFile = config::Config::builder()
            .add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            )
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|source| SettingsError::PipelineFile {
                path: file.display().to_string(),
                source,
            })?;
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let invalid = |key: &str, msg: String| SettingsError::invalid(file, key, msg);
        if raw.name.is_empty() || raw.name.contains(['/', '\\']) {
            return Err(invalid("name", "must be non-empty, without slashes".into()));
        }
        if raw.source.is_empty()
            || !raw
                .source
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                "source",
                format!(
                    "{:?}: use letters, digits, '-', '_' or '.' (it prefixes every _id)",
                    raw.source
                ),
            ));
        }
        let timezone: Tz = raw.timezone.parse().map_err(|_| {
            invalid(
                "timezone",
                format!("{:?} is not an IANA time zone", raw.timezone),
            )
        })?;
        if raw.max_file_bytes == 0 {
            return Err(invalid("max_file_bytes", "must be positive".into()));
        }
        let filter =
            FileFilter::new(&raw.include, &raw.exclude).map_err(|(key, msg)| invalid(key, msg))?;
        if raw.rescan_interval_ms < 100 {
            return Err(invalid("rescan_interval_ms", "must be at least 100".into()));
        }
        let schedule = match &raw.schedule {
            None => None,
            Some(expr) => Some(croner::Cron::new(expr).parse().map_err(|e| {
                invalid(
                    "schedule",
                    format!("{expr:?} is not a cron expression: {e}"),
                )
            })?),
        };
        let watch = WatchRules {
            rescan_interval: std::time::Duration::from_millis(raw.rescan_interval_ms),
            settle: std::time::Duration::from_millis(raw.settle_ms),
            schedule,
        };
        Ok(Pipeline {
            name: raw.name,
            source: raw.source,
            paper: raw.paper.filter(|p| !p.is_empty()),
            inbox: resolve(&base, &raw.inbox),
            work_dir: resolve(&base, &raw.work_dir),
            include: raw.include,
            exclude: raw.exclude,
            timezone,
            encoding: raw.encoding,
            on_missing_id: raw.on_missing_id,
            after_load: raw.after_load,
            max_file_bytes: raw.max_file_bytes,
            watch,
            filter,
            packed: super::ArchiveSettings::default().limits(raw.max_file_bytes),
            file: file.to_path_buf(),
        })
    }

    pub fn parse_options(&self, mode: &str) -> ParseOptions {
        ParseOptions {
            source: self.source.clone(),
            pipeline: self.name.clone(),
            paper: self.paper.clone(),
            timezone: self.timezone,
            encoding: self.encoding,
            on_missing_id: self.on_missing_id,
            max_file_bytes: self.max_file_bytes,
            mode: mode.to_owned(),
        }
    }

    /// What the inbox protocol needs to know of this pipeline.
    pub fn inbox_spec(&self) -> InboxSpec {
        InboxSpec {
            name: self.name.clone(),
            inbox: self.inbox.clone(),
            work_dir: self.work_dir.clone(),
            after_load: self.after_load,
            filter: self.filter.clone(),
        }
    }
}
