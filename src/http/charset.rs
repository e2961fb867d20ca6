//! Character sets of request and response bodies. JSON is UTF-8 (RFC 8259);
//! a CSV file may come in the legacy encoding the ERP or spreadsheet wrote it
//! in (in China usually GBK/GB18030), named by `Content-Type`'s `charset`.

use std::borrow::Cow;

use actix_web::http::header;
use actix_web::HttpRequest;
use encoding_rs::{DecoderResult, EncoderResult, Encoding, GB18030, REPLACEMENT, UTF_8};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// The `charset` parameter of the request's `Content-Type`, if any.
fn declared(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    value.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

/// The request's media type as it bears on the body's meaning: the essence
/// in lower case, and the charset when it is not UTF-8 (`text/csv;
/// charset=gbk`). An idempotency key's request hash holds it, so that a
/// retry declaring other bytes (another charset, another type) is not given
/// the first request's answer.
pub fn meaning(req: &HttpRequest) -> String {
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match declared(req) {
        Some(label) if Encoding::for_label(label.as_bytes()) != Some(UTF_8) => {
            format!("{essence};charset={}", label.trim().to_ascii_lowercase())
        }
        _ => essence,
    }
}

/// `Content-Type` is a singleton field (RFC 9110 §5.3): two of them (as two
/// lines, or as a list on one) say two things about one body, and neither
/// is taken. Every reader of a body checks it first, before the media type
/// and the charset, so that the answer does not depend on which comes first.
pub fn single_header(req: &HttpRequest) -> Result<(), ApiError> {
    let mut lines = req.headers().get_all(header::CONTENT_TYPE);
    let first = lines.next().map(|v| v.as_bytes()).unwrap_or_default();
    let mut quoted = false;
    let list = first.iter().any(|&b| {
        quoted ^= b == b'"';
        b == b',' && !quoted
    });
    if list || lines.next().is_some() {
        return Err(ApiError::BadRequest(
            "send one Content-Type header, not several".into(),
        ));
    }
    Ok(())
}

/// The encoding a body is declared in: UTF-8 when no charset is given; a
/// label the Encoding Standard does not know (or one it maps to its
/// `replacement` encoding, such as ISO-2022-CN) is a 415.
pub fn of_request(req: &HttpRequest) -> Result<&'static Encoding, ApiError> {
    let Some(label) = declared(req) else {
        return Ok(UTF_8);
    };
    match Encoding::for_label(label.as_bytes()) {
        Some(encoding) if encoding != REPLACEMENT => Ok(encoding),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "charset {label:?} is not supported: send UTF-8, or name an encoding of the \
             WHATWG Encoding Standard (gb18030, gbk, big5, shift_jis, windows-1252, ...)"
        ))),
    }
}

/// A JSON body's declared charset, which must be UTF-8 (RFC 8259; US-ASCII
/// is a part of it): a body in another encoding would otherwise fail as a
/// syntax error.
pub fn require_utf8(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(label) = declared(req) else {
        return Ok(());
    };
    let ascii = ["us-ascii", "ascii"]
        .iter()
        .any(|a| label.trim().eq_ignore_ascii_case(a));
    if ascii || Encoding::for_label(label.as_bytes()) == Some(UTF_8) {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "JSON bodies are UTF-8 (RFC 8259), not charset {label:?}: drop the charset or send \
         charset=utf-8"
    )))
}

/// `body` as UTF-8 text. A byte order mark names the encoding and is dropped
/// (as browsers do: it wins over the label). A byte sequence the encoding does
/// not define is a 400 naming its line, never a silent U+FFFD.
pub fn decode<'a>(encoding: &'static Encoding, body: &'a [u8]) -> Result<Cow<'a, [u8]>, ApiError> {
    let (encoding, body) = match Encoding::for_bom(body) {
        Some((bom, length)) => (bom, body.get(length..).unwrap_or_default()),
        None => (encoding, body),
    };
    if encoding == UTF_8 {
        return match std::str::from_utf8(body) {
            Ok(_) => Ok(Cow::Borrowed(body)),
            Err(e) => Err(not_valid(encoding, line_at(body, e.valid_up_to()))),
        };
    }
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(body.len())
        .ok_or_else(|| ApiError::PayloadTooLarge("the body is too large to decode".into()))?;
    let mut text = String::with_capacity(capacity);
    let (result, _) = decoder.decode_to_string_without_replacement(body, &mut text, true);
    match result {
        DecoderResult::InputEmpty => Ok(Cow::Owned(text.into_bytes())),
        // Counted in the text decoded so far: in UTF-16 a line end is two
        // bytes each (`0D 00 0A 00`), and a character's bytes may be 0x0A.
        DecoderResult::Malformed(_, _) => {
            Err(not_valid(encoding, line_at(text.as_bytes(), text.len())))
        }
        // The buffer is sized for the worst case: never short.
        DecoderResult::OutputFull => {
            Err(ApiError::Internal("the CSV decoder ran out of room".into()))
        }
    }
}

fn not_valid(encoding: &'static Encoding, line: usize) -> ApiError {
    ApiError::BadRequest(format!(
        "the body is not valid {name} text: line {line} holds a byte sequence {name} does not \
         define (is the charset of the Content-Type right?)",
        name = encoding.name()
    ))
}

/// The line (from 1) of `body` that byte `at` is on; CRLF, LF and a lone CR
/// (Excel's "CSV (Macintosh)") each end a line.
fn line_at(body: &[u8], at: usize) -> usize {
    let before = body.get(..at).unwrap_or(body);
    let mut line = 1;
    let mut bytes = before.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        line += usize::from(b == b'\n' || b == b'\r');
    }
    line
}

/// The character set of a CSV answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
pub enum CsvCharset {
    /// UTF-8 without BOM (RFC 4180's default and every tool's reading).
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// GB18030, which Excel on a Chinese Windows reads as its own (GBK)
    /// encoding; it holds every Unicode character, so nothing is lost.
    #[serde(rename = "gb18030")]
    Gb18030,
}

impl CsvCharset {
    /// The character set a `charset` label names, as the Encoding Standard
    /// reads labels (any case; `utf8`, `unicode-1-1-utf-8`, ...). GBK is
    /// answered as GB18030, its superset: a reader of GBK reads it, and
    /// characters beyond GBK are not lost.
    pub fn from_label(label: &str) -> Option<CsvCharset> {
        match Encoding::for_label(label.trim().as_bytes())? {
            e if e == UTF_8 => Some(CsvCharset::Utf8),
            e if e == GB18030 || e == encoding_rs::GBK => Some(CsvCharset::Gb18030),
            _ => None,
        }
    }

    /// The `charset` of the answer's `Content-Type`.
    pub fn label(self) -> &'static str {
        match self {
            CsvCharset::Utf8 => "utf-8",
            CsvCharset::Gb18030 => "gb18030",
        }
    }

    /// UTF-8 text in this character set.
    pub fn encode(self, text: Vec<u8>) -> Result<Vec<u8>, ApiError> {
        if self == CsvCharset::Utf8 {
            return Ok(text);
        }
        let text = String::from_utf8(text).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut encoder = GB18030.new_encoder();
        let capacity = encoder
            .max_buffer_length_from_utf8_without_replacement(text.len())
            .ok_or_else(|| ApiError::Internal("the CSV page is too large to encode".into()))?;
        let mut out = Vec::with_capacity(capacity);
        let mut rest = text.as_str();
        loop {
            let (result, read) =
                encoder.encode_from_utf8_to_vec_without_replacement(rest, &mut out, true);
            rest = rest.get(read..).unwrap_or_default();
            match result {
                EncoderResult::InputEmpty => return Ok(out),
                // The Encoding Standard's encoder refuses one character,
                // U+E5E5 (private use), which GB18030-2005 wrote A3 A0 and
                // Windows' code page 936 still reads so: written that way,
                // never a failed (cut) export. Nothing else is unmappable.
                EncoderResult::Unmappable(c) => {
                    out.extend_from_slice(if c == '\u{E5E5}' { b"\xA3\xA0" } else { b"?" })
                }
                EncoderResult::OutputFull => out.reserve(rest.len() * 4 + 16),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_decodes_and_names_the_bad_line() {
        let (gbk, _, _) = encoding_rs::GBK.encode("name\n王芳\n");
        let text = decode(encoding_rs::GBK, &gbk).unwrap_or_default();
        assert_eq!(&*text, "name\n王芳\n".as_bytes());

        let mut bad = gbk.into_owned();
        bad.extend_from_slice(b"x\xff\n");
        match decode(encoding_rs::GBK, &bad) {
            Err(ApiError::BadRequest(detail)) => assert!(detail.contains("line 3"), "{detail}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn utf8_is_checked_too_and_lines_end_as_excel_ends_them() {
        for (body, line) in [
            (&b"a\nb\n\xff\n"[..], 3),
            (b"a\r\nb\r\n\xff", 3),
            (b"a\rb\r\xff\r", 3),
            (b"\xff", 1),
        ] {
            match decode(UTF_8, body) {
                Err(ApiError::BadRequest(detail)) => {
                    assert!(
                        detail.contains(&format!("UTF-8 text: line {line} ")),
                        "{detail}"
                    )
                }
                other => panic!("{body:?}: {other:?}"),
            }
        }
        let (gbk, _, _) = encoding_rs::GBK.encode("a\rb\r");
        let mut bad = gbk.into_owned();
        bad.extend_from_slice(b"\xff");
        let r = decode(encoding_rs::GBK, &bad);
        assert!(
            matches!(r, Err(ApiError::BadRequest(ref d)) if d.contains("line 3 ")),
            "{r:?}"
        );
    }

    #[test]
    fn a_bom_wins_over_the_label() {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice("王".as_bytes());
        let text = decode(encoding_rs::GBK, &body).unwrap_or_default();
        assert_eq!(&*text, "王".as_bytes());
    }

    #[test]
    fn the_one_character_the_standard_refuses_is_written_as_gb18030_2005_did() {
        let out = CsvCharset::Gb18030
            .encode("a\u{E5E5}b王".as_bytes().to_vec())
            .unwrap_or_default();
        assert_eq!(out, b"a\xA3\xA0b\xCD\xF5");
        let (back, _, errors) = GB18030.decode(&out);
        assert!(!errors, "{back}");
    }

    #[test]
    fn export_labels_are_read_as_the_standard_reads_them() {
        for label in ["utf-8", "UTF-8", "utf8", " Unicode-1-1-UTF-8 "] {
            assert_eq!(
                CsvCharset::from_label(label),
                Some(CsvCharset::Utf8),
                "{label}"
            );
        }
        for label in ["gb18030", "GB18030", "gbk", "GB2312", "x-gbk"] {
            assert_eq!(
                CsvCharset::from_label(label),
                Some(CsvCharset::Gb18030),
                "{label}"
            );
        }
        for label in ["big5", "latin1", "", "klingon", "utf-16le"] {
            assert_eq!(CsvCharset::from_label(label), None, "{label}");
        }
    }

    #[test]
    fn gb18030_encodes_every_character() {
        // 王 is CD F5 in GBK and GB18030; U+1F600 needs GB18030's four bytes.
        let out = CsvCharset::Gb18030
            .encode("王😀".as_bytes().to_vec())
            .unwrap_or_default();
        assert_eq!(out, b"\xCD\xF5\x94\x39\xFC\x36");
        let (back, _, errors) = GB18030.decode(&out);
        assert!(!errors);
        assert_eq!(back, "王😀");
    }
}
