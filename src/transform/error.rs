//! Why a file could not become a document. Every variant has a stable machine code
//! (`code()`): it goes into quarantine reports, run records, metrics and `validate`'s summary,
//! so renaming one is a breaking change for operators.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformErrorKind {
    #[error("the file is empty or holds only whitespace")]
    Empty,
    #[error("the file looks binary ({0})")]
    Binary(String),
    #[error("the bytes are neither UTF-8, GB18030 nor UTF-16 with a BOM ({0})")]
    Undecodable(String),
    #[error("the file is {size} bytes, over max_file_bytes = {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("no content id: no trailer URL and none in the file name")]
    MissingContentId,
    #[error("malformed trailer: {0}")]
    MalformedTrailer(String),
    #[error("more than one trailer (lines {first} and {second}): two articles in one file?")]
    MultipleTrailers { first: usize, second: usize },
    #[error("no article text: nothing is left after the header")]
    NoBody,
    #[error("cannot read the file: {0}")]
    Io(String),
}

impl TransformErrorKind {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            TransformErrorKind::Empty => "empty",
            TransformErrorKind::Binary(_) => "binary",
            TransformErrorKind::Undecodable(_) => "undecodable",
            TransformErrorKind::TooLarge { .. } => "too_large",
            TransformErrorKind::MissingContentId => "missing_content_id",
            TransformErrorKind::MalformedTrailer(_) => "malformed_trailer",
            TransformErrorKind::MultipleTrailers { .. } => "multiple_trailers",
            TransformErrorKind::NoBody => "no_body",
            TransformErrorKind::Io(_) => "io",
        }
    }

    /// Every code, for documentation and for tests that each one is reachable.
    pub const ALL_CODES: &'static [&'static str] = &[
        "empty",
        "binary",
        "undecodable",
        "too_large",
        "missing_content_id",
        "malformed_trailer",
        "multiple_trailers",
        "no_body",
        "io",
    ];
}

/// A file that could not be transformed: which file, why, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError {
    pub file: String,
    pub kind: TransformErrorKind,
    /// 1-based line of the input, where one applies.
    pub line: Option<usize>,
}

impl TransformError {
    pub fn new(file: impl Into<String>, kind: TransformErrorKind, line: Option<usize>) -> Self {
        TransformError {
            file: file.into(),
            kind,
            line,
        }
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {} [{}]", self.file, line, self.kind, self.code()),
            None => write!(f, "{}: {} [{}]", self.file, self.kind, self.code()),
        }
    }
}

impl std::error::Error for TransformError {}
