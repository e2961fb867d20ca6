//! `ETag` / `If-Match` with the resource's `version`.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::error::ApiError;

pub fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// The version the client expects, from `If-Match`: `"3"`, `W/"3"` or `*`
/// (`None` when absent or `*`). Anything else is a 400: a client that sends
/// an unquoted or mangled tag has a bug we should not guess around.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    parse_etag(text).map(Some).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "If-Match {text:?} is not an ETag returned by this API (such as \"3\", W/\"3\" or *)"
        ))
    })
}

/// `"3"` or `W/"3"`, at most 18 digits (the pattern in the spec).
fn parse_etag(text: &str) -> Option<i64> {
    let quoted = text.strip_prefix("W/").unwrap_or(text);
    let digits = quoted.strip_prefix('"')?.strip_suffix('"')?;
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// 412 when the client's expected version is not the current one.
pub fn check(expected: Option<i64>, current: i64) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != current => Err(ApiError::PreconditionFailed { current }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_etag;

    #[test]
    fn only_quoted_version_tags_parse() {
        assert_eq!(parse_etag("\"3\""), Some(3));
        assert_eq!(parse_etag("W/\"12\""), Some(12));
        assert_eq!(
            parse_etag("\"999999999999999999\""),
            Some(999_999_999_999_999_999)
        );
        for bad in [
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
