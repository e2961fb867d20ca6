//! `ETag` / `If-Match` with the resource's `version`.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::error::ApiError;

/// The tag a handler gives its answer: the version, to which
/// `conditional::with_digest` adds the digest of the body sent.
pub fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// The versions the client accepts, from `If-Match` (RFC 9110 §13.1.1): one
/// tag (`"3"`, or `W/"3"` as a proxy that weakens tags passes it on), a
/// comma-separated list of them (also over several header lines), or `*`
/// (`None` when absent or `*`). Anything else is a 400: a client that sends
/// an unquoted or mangled tag has a bug we should not guess around.
pub fn if_match(req: &HttpRequest) -> Result<Option<Vec<i64>>, ApiError> {
    let mut lines = req.headers().get_all(header::IF_MATCH).peekable();
    if lines.peek().is_none() {
        return Ok(None);
    }
    let text = lines
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The header as sent, between backticks: quoted, `1` showed as "1",
    // the very form the message asks for (QA).
    let bad = || {
        // Quotes kept (they are what is in question); control characters
        // escaped, so the message stays one line.
        let shown: String = text
            .chars()
            .flat_map(|c| match c.is_control() {
                true => c.escape_default().collect::<Vec<_>>(),
                false => vec![c],
            })
            .collect();
        let shown = super::wording::excerpt(&shown, 80);
        ApiError::BadRequest(format!(
            "If-Match `{shown}` is not an ETag returned by this API: an ETag is quoted, \
             such as \"3\" or W/\"3\"; or send a comma-separated list of them, or *"
        ))
    };
    if text.trim() == "*" {
        return Ok(None);
    }
    // Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
    let tags = text
        .split(',')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(|tag| parse_etag(tag).ok_or_else(bad))
        .collect::<Result<Vec<_>, _>>()?;
    if tags.is_empty() {
        return Err(bad());
    }
    Ok(Some(tags))
}

/// `"3.1c2d3e4f"` as answered, or the version alone (`"3"`), either also
/// weak (`W/"3"`): at most 18 digits, no leading zero, and when there, a
/// digest of 8 lowercase hex digits (the spec's pattern). Only the version
/// is compared: the digest changes with figures the client does not edit.
fn parse_etag(text: &str) -> Option<i64> {
    let quoted = text.strip_prefix("W/").unwrap_or(text);
    let opaque = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let digits = match opaque.split_once('.') {
        Some((digits, digest)) => {
            let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
            if digest.len() != 8 || !digest.bytes().all(hex) {
                return None;
            }
            digits
        }
        None => opaque,
    };
    // Versions are written without leading zeros: `"012"` is no tag of ours
    // (compared as text, as RFC 9110 compares tags, it is not `"12"`).
    let leading_zero = digits.len() > 1 && digits.starts_with('0');
    if digits.is_empty()
        || digits.len() > 18
        || leading_zero
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

/// 412 unless the current version is one the client accepts.
pub fn check(expected: Option<&[i64]>, current: i64) -> Result<(), ApiError> {
    match expected {
        Some(versions) if !versions.contains(&current) => {
            Err(ApiError::PreconditionFailed { current })
        }
        _ => Ok(()),
    }
}

/// The 412 of a compare-and-set save (`saved` false) that found its row no
/// longer at `before`: another write came first between the read and it.
pub fn require_saved(saved: bool, before: i64) -> Result<(), ApiError> {
    if saved {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed {
            current: before + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{if_match, parse_etag};
    use actix_web::test::TestRequest;

    fn tags(lines: &[&str]) -> Result<Option<Vec<i64>>, String> {
        let mut req = TestRequest::default();
        for line in lines {
            req = req.append_header(("If-Match", *line));
        }
        if_match(&req.to_http_request()).map_err(|e| e.to_string())
    }

    #[test]
    fn if_match_reads_one_tag_a_list_or_a_star() {
        assert_eq!(tags(&[]), Ok(None));
        assert_eq!(tags(&["*"]), Ok(None));
        assert_eq!(tags(&["\"3\""]), Ok(Some(vec![3])));
        assert_eq!(tags(&["\"3\", W/\"5\""]), Ok(Some(vec![3, 5])));
        assert_eq!(tags(&["\"3\"", "\"4\",,"]), Ok(Some(vec![3, 4])));
        for bad in [
            &["\"3\", *"][..],
            &["*", "\"3\""],
            &["\"3\"", "*"],
            &["*", "*"],
            &[","],
            &["\"012\""],
            &["\"3\" \"4\""],
            &["3"],
        ] {
            assert!(tags(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_quoted_version_tags_parse() {
        assert_eq!(parse_etag("\"3\""), Some(3));
        assert_eq!(parse_etag("W/\"12\""), Some(12));
        assert_eq!(
            parse_etag("\"999999999999999999\""),
            Some(999_999_999_999_999_999)
        );
        // As answered: the version and the body's digest.
        assert_eq!(parse_etag("\"3.0a1b2c3d\""), Some(3));
        assert_eq!(parse_etag("W/\"3.0a1b2c3d\""), Some(3));
        for bad in [
            "\"3.\"",
            "\"3.0a1b2c3\"",
            "\"3.0a1b2c3d4\"",
            "\"3.0A1B2C3D\"",
            "\".0a1b2c3d\"",
            "\"03.0a1b2c3d\"",
            "\"3.0a1b2c3d.0a1b2c3d\"",
            "3",
            "\"3",
            "3\"",
            "\"\"",
            "\"-1\"",
            "\" 3\"",
            "w/\"3\"",
            "\"1\", \"2\"",
            "\"9999999999999999999\"",
        ] {
            assert_eq!(parse_etag(bad), None, "{bad}");
        }
    }
}
