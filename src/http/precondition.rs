//! `ETag` / `If-Match` with the resource's `version`.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::error::ApiError;

pub fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// The version the client expects, from `If-Match` (`"3"`, `W/"3"`, `3` or
/// `*`); `None` when absent or `*`.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("If-Match must be an ETag such as \"3\"".into()))?
        .trim();
    if text == "*" {
        return Ok(None);
    }
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "If-Match {text:?} is not an ETag returned by this API"
        ))
    })
}

/// 412 when the client's expected version is not the current one.
pub fn check(expected: Option<i64>, current: i64) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != current => Err(ApiError::PreconditionFailed { current }),
        _ => Ok(()),
    }
}
