//! Bytes → text (docs/format.md §3.1): UTF-8 with or without BOM, UTF-16 with a BOM, GB18030 when
//! the bytes are not UTF-8. Binary files are refused before any decoding is attempted.

use std::borrow::Cow;

use encoding_rs::{DecoderResult, Encoding, GB18030, UTF_16BE, UTF_16LE};
use serde::{Deserialize, Serialize};

use super::error::TransformErrorKind;

/// The pipeline's `encoding` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncodingSetting {
    /// Detect: BOM, then UTF-8, then GB18030.
    #[default]
    Auto,
    #[serde(alias = "utf8")]
    Utf8,
    #[serde(alias = "gbk", alias = "gb2312")]
    Gb18030,
}

#[derive(Debug)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    /// What the document records in `source_file.encoding`.
    pub encoding: &'static str,
}

/// A decoding failure and the 1-based line it was found on.
pub type DecodeFailure = (TransformErrorKind, Option<usize>);

/// How many leading bytes the control-character test looks at: enough to catch every binary
/// format we have seen, without a second pass over large text files.
const BINARY_SNIFF_BYTES: usize = 8192;

pub fn decode(bytes: &[u8], setting: EncodingSetting) -> Result<Decoded<'_>, DecodeFailure> {
    if bytes.is_empty() {
        return Err((TransformErrorKind::Empty, None));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest, "utf-8-bom", bytes);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, UTF_16LE, "utf-16le");
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, UTF_16BE, "utf-16be");
    }
    sniff_binary(bytes)?;
    match setting {
        EncodingSetting::Utf8 => utf8(bytes, "utf-8", bytes),
        EncodingSetting::Gb18030 => gb18030(bytes),
        EncodingSetting::Auto => match from_utf8(bytes) {
            Ok(text) => Ok(Decoded {
                text: Cow::Borrowed(text),
                encoding: "utf-8",
            }),
            Err(utf8_err) => gb18030(bytes).map_err(|(kind, gb_line)| match kind {
                TransformErrorKind::Undecodable(gb) => {
                    // Report where the text stops making sense: the decoder that got further.
                    let utf8_line = line_of(bytes, utf8_err.valid_up_to());
                    let line = gb_line.map_or(utf8_line, |g| g.max(utf8_line));
                    (
                        TransformErrorKind::Undecodable(format!(
                            "not UTF-8 at byte {}; {gb}",
                            utf8_err.valid_up_to()
                        )),
                        Some(line),
                    )
                }
                other => (other, gb_line),
            }),
        },
    }
}

fn utf8<'a>(
    body: &'a [u8],
    encoding: &'static str,
    whole: &[u8],
) -> Result<Decoded<'a>, DecodeFailure> {
    sniff_binary(body)?;
    match from_utf8(body) {
        Ok(text) => Ok(Decoded {
            text: Cow::Borrowed(text),
            encoding,
        }),
        Err(e) => {
            let offset = e.valid_up_to() + (whole.len() - body.len());
            Err((
                TransformErrorKind::Undecodable(format!("invalid UTF-8 at byte {offset}")),
                Some(line_of(whole, offset)),
            ))
        }
    }
}

fn utf16<'a>(
    body: &'a [u8],
    encoding: &'static Encoding,
    name: &'static str,
) -> Result<Decoded<'a>, DecodeFailure> {
    let text = encoding
        .decode_without_bom_handling_and_without_replacement(body)
        .ok_or_else(|| {
            (
                TransformErrorKind::Undecodable(format!("invalid {name}")),
                None,
            )
        })?;
    if let Some(pos) = text.find('\0') {
        return Err((
            TransformErrorKind::Binary(format!("NUL character after decoding {name}")),
            Some(line_of(text.as_bytes(), pos)),
        ));
    }
    Ok(Decoded {
        text: Cow::Owned(text.into_owned()),
        encoding: name,
    })
}

fn gb18030(bytes: &[u8]) -> Result<Decoded<'_>, DecodeFailure> {
    let mut decoder = GB18030.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len() * 3);
    let mut out = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
    match result {
        DecoderResult::InputEmpty => Ok(Decoded {
            text: Cow::Owned(out),
            encoding: "gb18030",
        }),
        DecoderResult::Malformed(bad, _) => {
            let offset = read.saturating_sub(bad as usize);
            Err((
                TransformErrorKind::Undecodable(format!("not GB18030 at byte {offset}")),
                Some(line_of(bytes, offset)),
            ))
        }
        // Capacity came from the decoder itself, so it cannot run out of room.
        DecoderResult::OutputFull => Err((
            TransformErrorKind::Undecodable("GB18030 decoder ran out of room".into()),
            None,
        )),
    }
}

/// UTF-8 validation: SIMD on the happy path (valid text, the common case, is several times
/// faster than `std::str::from_utf8` on CJK text), std's error with its position otherwise.
fn from_utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(_) => std::str::from_utf8(bytes),
    }
}

/// Refuses files with NUL bytes (anywhere) or with many control characters near the start:
/// text exports have neither, and decoding them would only produce garbage documents.
fn sniff_binary(bytes: &[u8]) -> Result<(), DecodeFailure> {
    if let Some(pos) = memchr::memchr(0, bytes) {
        return Err((
            TransformErrorKind::Binary(format!("NUL byte at byte {pos}")),
            Some(line_of(bytes, pos)),
        ));
    }
    let head = &bytes[..bytes.len().min(BINARY_SNIFF_BYTES)];
    // Byte-wide counters over chunks of at most 255 bytes: branch-free, so the compiler
    // vectorizes it 32 bytes at a time.
    let controls: usize = head
        .chunks(255)
        .map(|chunk| {
            chunk.iter().fold(0u8, |n, &b| {
                let control = (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r') & (b != 0x0c);
                n + u8::from(control | (b == 0x7f))
            }) as usize
        })
        .sum();
    // A few stray control characters happen in real exports; a tenth of them does not.
    if controls > 8 && controls * 10 > head.len() {
        return Err((
            TransformErrorKind::Binary(format!(
                "{controls} control bytes in the first {} bytes",
                head.len()
            )),
            None,
        ));
    }
    Ok(())
}

/// 1-based line number of a byte offset.
pub fn line_of(bytes: &[u8], offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &bytes[..offset.min(bytes.len())]).count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_plain_and_bom() {
        let d = decode("标题\n".as_bytes(), EncodingSetting::Auto).unwrap();
        assert_eq!(d.encoding, "utf-8");
        assert_eq!(d.text, "标题\n");
        let d = decode("\u{feff}标题".as_bytes(), EncodingSetting::Auto).unwrap();
        assert_eq!(d.encoding, "utf-8-bom");
        assert_eq!(d.text, "标题");
    }

    #[test]
    fn gb18030_fallback() {
        let (bytes, _, _) = GB18030.encode("来宾日报\n兴宾区");
        let d = decode(&bytes, EncodingSetting::Auto).unwrap();
        assert_eq!(d.encoding, "gb18030");
        assert_eq!(d.text, "来宾日报\n兴宾区");
    }

    #[test]
    fn utf16_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "来宾\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let d = decode(&bytes, EncodingSetting::Auto).unwrap();
        assert_eq!((d.encoding, &*d.text), ("utf-16le", "来宾\n"));
    }

    #[test]
    fn nul_is_binary_with_line() {
        let (kind, line) = decode(b"a\nb\n\0c", EncodingSetting::Auto).unwrap_err();
        assert_eq!(kind.code(), "binary");
        assert_eq!(line, Some(3));
    }

    #[test]
    fn forced_utf8_reports_line() {
        let (kind, line) = decode(b"ok\nbad \xff\n", EncodingSetting::Utf8).unwrap_err();
        assert_eq!(kind.code(), "undecodable");
        assert_eq!(line, Some(2));
    }

    #[test]
    fn neither_utf8_nor_gb18030() {
        // 0xFF is never valid in GB18030, and alone it is not UTF-8.
        let (kind, line) = decode(b"line one\n\xff\xff\xff\n", EncodingSetting::Auto).unwrap_err();
        assert_eq!(kind.code(), "undecodable");
        assert_eq!(line, Some(2));
    }
}
