//! BSON written straight into one buffer: write commands, the articles in them, progress pages.
//!
//! The `bson` crate's builders copy a nested document into its parent at every level, so a
//! command of N articles built with them copied each article three times (into its operation,
//! the operation into the array, the array into the command), every copy growing a buffer by
//! doubling; with two writers that was half of the process's peak memory. This writer lays a
//! command out once, in a buffer sized beforehand (the driver copies it once more into the
//! wire message). It writes only the few element types the loader's commands use.

use bson::spec::ElementType;
use bson::{RawDocument, RawDocumentBuf};

pub(crate) struct CommandWriter {
    buf: Vec<u8>,
    /// Where each open document's length goes.
    open: Vec<usize>,
}

impl CommandWriter {
    /// A command of about `capacity` bytes (a guess: more only costs a reallocation).
    pub(crate) fn with_capacity(capacity: usize) -> CommandWriter {
        let mut w = CommandWriter {
            buf: Vec::with_capacity(capacity),
            open: Vec::with_capacity(4),
        };
        w.open_document();
        w
    }

    pub(crate) fn int32(&mut self, key: &str, value: i32) -> &mut Self {
        self.key(ElementType::Int32, key);
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn boolean(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(ElementType::Boolean, key);
        self.buf.push(u8::from(value));
        self
    }

    pub(crate) fn int64(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(ElementType::Int64, key);
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(ElementType::String, key);
        self.string_value(value);
        self
    }

    /// A string, or null for `None`.
    pub(crate) fn opt_string(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.string(key, v),
            None => self.null(key),
        }
    }

    pub(crate) fn null(&mut self, key: &str) -> &mut Self {
        self.key(ElementType::Null, key);
        self
    }

    pub(crate) fn datetime(&mut self, key: &str, value: bson::DateTime) -> &mut Self {
        self.key(ElementType::DateTime, key);
        self.buf
            .extend_from_slice(&value.timestamp_millis().to_le_bytes());
        self
    }

    /// Opens an embedded document under `key`; `end` closes it.
    pub(crate) fn document(&mut self, key: &str) -> &mut Self {
        self.key(ElementType::EmbeddedDocument, key);
        self.open_document();
        self
    }

    /// Opens an array under `key`; its elements are keyed by `index`; `end` closes it.
    pub(crate) fn array(&mut self, key: &str) -> &mut Self {
        self.key(ElementType::Array, key);
        self.open_document();
        self
    }

    /// Opens the `i`-th document of the array being written.
    pub(crate) fn document_at(&mut self, i: usize) -> &mut Self {
        self.index(ElementType::EmbeddedDocument, i);
        self.open_document();
        self
    }

    /// The `i`-th element of the array being written, a string.
    pub(crate) fn string_at(&mut self, i: usize, value: &str) -> &mut Self {
        self.index(ElementType::String, i);
        self.string_value(value);
        self
    }

    /// The `i`-th element of the array being written, a 64-bit integer.
    pub(crate) fn int64_at(&mut self, i: usize, value: i64) -> &mut Self {
        self.index(ElementType::Int64, i);
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Copies the elements of `doc` into the document being written.
    pub(crate) fn fields_of(&mut self, doc: &RawDocument) -> &mut Self {
        let bytes = doc.as_bytes();
        // A document is its length (4 bytes), its elements, and a 0.
        if bytes.len() > 5 {
            self.buf.extend_from_slice(&bytes[4..bytes.len() - 1]);
        }
        self
    }

    /// Closes the innermost open document or array.
    pub(crate) fn end(&mut self) -> &mut Self {
        self.buf.push(0);
        if let Some(start) = self.open.pop() {
            let len = i32::try_from(self.buf.len() - start).unwrap_or(i32::MAX);
            self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        }
        self
    }

    pub(crate) fn finish(self) -> Result<RawDocumentBuf, bson::raw::Error> {
        RawDocumentBuf::from_bytes(self.into_bytes())
    }

    /// The document's bytes, every open document and array closed.
    pub(crate) fn into_bytes(mut self) -> Vec<u8> {
        while !self.open.is_empty() {
            self.end();
        }
        self.buf
    }

    /// The bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    fn open_document(&mut self) {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0; 4]);
    }

    fn key(&mut self, kind: ElementType, key: &str) {
        self.buf.push(kind as u8);
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.push(0);
    }

    /// An array element's key: its index in decimal.
    fn index(&mut self, kind: ElementType, i: usize) {
        self.buf.push(kind as u8);
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = i;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[at..]);
        self.buf.push(0);
    }

    fn string_value(&mut self, value: &str) {
        let len = i32::try_from(value.len() + 1).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, rawdoc, Document};

    #[test]
    fn writes_what_the_bson_crate_reads() {
        let article = rawdoc! { "_id": "a:1", "text": "正文", "n": 3_i64 };
        let when = bson::DateTime::from_millis(1_700_000_000_000);
        let mut w = CommandWriter::with_capacity(16);
        w.string("insert", "articles").array("documents");
        for i in 0..2 {
            w.document_at(i)
                .fields_of(&article)
                .int32("revision", i as i32 + 1)
                .datetime("updated_at", when)
                .end();
        }
        w.end().boolean("ordered", false);
        w.document("writeConcern").string("w", "majority").end();
        let command: Document = w.finish().unwrap().to_document().unwrap();
        let expected = doc! {
            "insert": "articles",
            "documents": [
                { "_id": "a:1", "text": "正文", "n": 3_i64, "revision": 1, "updated_at": when },
                { "_id": "a:1", "text": "正文", "n": 3_i64, "revision": 2, "updated_at": when },
            ],
            "ordered": false,
            "writeConcern": { "w": "majority" },
        };
        assert_eq!(command, expected);
    }

    #[test]
    fn an_empty_command_is_a_valid_document() {
        let empty = CommandWriter::with_capacity(0).finish().unwrap();
        assert_eq!(empty.as_bytes(), &[5, 0, 0, 0, 0]);
    }
}
