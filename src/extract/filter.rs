//! Which files a pipeline takes: `include` minus `exclude`, glob patterns matched against file
//! names (never paths), the same for inboxes, archive walks and `validate`.

use std::ffi::OsStr;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};

/// `include` minus `exclude`, matched against file names.
#[derive(Debug, Clone)]
pub struct FileFilter {
    include: GlobSet,
    exclude: GlobSet,
}

impl FileFilter {
    /// On a bad pattern: the setting's key (`include` or `exclude`) and what is wrong.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, (&'static str, String)> {
        let build = |key: &'static str, patterns: &[String]| {
            let mut b = GlobSetBuilder::new();
            for p in patterns {
                b.add(Glob::new(p).map_err(|e| (key, format!("{p:?}: {e}")))?);
            }
            b.build().map_err(|e| (key, e.to_string()))
        };
        Ok(FileFilter {
            include: build("include", include)?,
            exclude: build("exclude", exclude)?,
        })
    }

    pub fn accepts(&self, file_name: &OsStr) -> bool {
        let name = Path::new(file_name);
        self.include.is_match(name) && !self.exclude.is_match(name)
    }

    /// Whether a file is taken: accepted, or a packed input not excluded (its members are
    /// what `include` then applies to).
    pub fn takes(&self, file_name: &OsStr) -> bool {
        self.accepts(file_name)
            || (!self.exclude.is_match(Path::new(file_name))
                && super::packed::has_packed_extension(&file_name.to_string_lossy()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_minus_exclude_on_names() {
        let f = FileFilter::new(
            &["*.txt".to_owned()],
            &[".*".to_owned(), "*.tmp".to_owned(), "*.part".to_owned()],
        )
        .unwrap();
        assert!(f.accepts("a.txt".as_ref()));
        assert!(!f.accepts(".a.txt".as_ref()));
        assert!(!f.accepts("a.txt.part".as_ref()));
        assert!(!f.accepts("a.md".as_ref()));
    }
}
