//! `validate`: parse files and trees without touching any database, and report what would
//! become of each: ok, ok with warnings (by code), or failed (by code), with every problem.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::extract::packed::Limits;
use crate::extract::FileFilter;
use crate::parse::{parse_tree, Parsed, TreeEntry};
use crate::transform::ParseOptions;

/// One problem found in one file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub path: String,
    /// `error` (the file would be quarantined) or `warning`.
    pub severity: &'static str,
    pub code: String,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub files: u64,
    pub ok: u64,
    pub with_warnings: u64,
    pub failed: u64,
    pub warnings_by_code: BTreeMap<String, u64>,
    pub failed_by_code: BTreeMap<String, u64>,
    /// Sorted by path.
    pub problems: Vec<Problem>,
}

impl Summary {
    fn merge(mut self, other: Summary) -> Summary {
        self.files += other.files;
        self.ok += other.ok;
        self.with_warnings += other.with_warnings;
        self.failed += other.failed;
        for (k, v) in other.warnings_by_code {
            *self.warnings_by_code.entry(k).or_default() += v;
        }
        for (k, v) in other.failed_by_code {
            *self.failed_by_code.entry(k).or_default() += v;
        }
        self.problems.extend(other.problems);
        self
    }

    fn add_failure(&mut self, problem: Problem) {
        self.files += 1;
        self.failed += 1;
        *self.failed_by_code.entry(problem.code.clone()).or_default() += 1;
        self.problems.push(problem);
    }
}

/// Parses every file under `paths` (a file named on the command line is always taken; files
/// found in directories when `filter` accepts their name) in parallel and sums up.
pub fn validate(
    paths: &[PathBuf],
    filter: &FileFilter,
    limits: &Limits,
    opts: &ParseOptions,
) -> Summary {
    let summaries = parse_tree(
        paths,
        filter,
        None,
        limits,
        opts,
        None,
        &|| false,
        Summary::default,
        |s, entry| match entry {
            TreeEntry::Parsed(file, parsed) => check_file(&file.location(), parsed, s),
            TreeEntry::Unreadable {
                path,
                code,
                message,
            } => s.add_failure(Problem {
                path: path.to_owned(),
                severity: "error",
                code: code.to_owned(),
                line: None,
                message: message.to_owned(),
            }),
        },
    );
    let mut summary = summaries
        .into_iter()
        .fold(Summary::default(), Summary::merge);
    summary.problems.sort();
    summary
}

fn check_file(path: &str, parsed: Parsed, s: &mut Summary) {
    match parsed {
        Ok(article) => {
            s.files += 1;
            s.ok += 1;
            if !article.warnings.is_empty() {
                s.with_warnings += 1;
            }
            for w in article.warnings {
                *s.warnings_by_code.entry(w.code.clone()).or_default() += 1;
                s.problems.push(Problem {
                    path: path.to_owned(),
                    severity: "warning",
                    code: w.code,
                    line: None,
                    message: w.detail,
                });
            }
        }
        Err(e) => s.add_failure(Problem {
            path: path.to_owned(),
            severity: "error",
            code: e.code().to_owned(),
            line: e.line,
            message: e.kind.to_string(),
        }),
    }
}
