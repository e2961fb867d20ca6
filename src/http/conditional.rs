//! Entity tags and `If-None-Match` on reads (RFC 9110 §8.8.3, §13.1.2).
//!
//! A handler tags its answer with the record's `version` (`"7"`); here the
//! tag gets a digest of the answer's body (`"7.1c2d3e4f"`). The version alone
//! is not a validator of the representation: a card's figures, CPR stage,
//! tier, loyalty and satisfaction, a segment's member count change without
//! it, and a review got a 304 for a card that had taken a new order.
//! `If-Match` compares the version part only (`precondition`): what it
//! guards is the client's edit, which those figures do not touch.
//!
//! A GET or HEAD whose answer carries the entity tag the client already
//! holds is a 304 without a body, with the answer's other headers (ETag,
//! RateLimit-*) kept. The handler still runs; what the client saves is the
//! transfer and the parsing.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;

pub async fn not_modified(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let wanted = (req.method() == Method::GET || req.method() == Method::HEAD)
        .then(|| if_none_match(&req))
        .flatten();
    let res = with_digest(next.call(req).await?.map_into_boxed_body());
    let Some(wanted) = wanted else {
        return Ok(res);
    };
    let held = res.status() == StatusCode::OK
        && res
            .headers()
            .get(header::ETAG)
            .and_then(|tag| tag.to_str().ok())
            .is_some_and(|tag| matches(&wanted, tag));
    if !held {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let mut out = HttpResponse::NotModified().finish();
    for (name, value) in res.headers() {
        if !name.as_str().starts_with("content-") {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, out))
}

/// `If-None-Match` on a write under `/api/v1` is refused, not ignored.
/// RFC 9110 has it evaluated there too (a 412 when the tag or `*` matches),
/// and a client sending it means to guard its write: ignored, the write went
/// through unguarded without a word (an outside review). Writes that are
/// guarded take `If-Match` (`precondition`), checked under the record's
/// lock; no write creates at a URL a client chooses, where
/// `If-None-Match: *` would guard a PUT, and "unless it is still at version
/// 3" guards nothing a client needs.
///
/// Wrapped outside the idempotency middleware: a request refused unread
/// must not claim its key (on SQLite, a claim takes the single writer's
/// turn). Inside the rate limit and the role refusals (`read_only`,
/// `closed_routes`), as before; before the handler judges the token and the
/// router the path (a 400, not a 401, under `/api/v1`). A method the path
/// does not answer keeps its 405 (and an unknown path its 404): the 400
/// answered schemathesis's undeclared `PUT` with the header. Other paths
/// (`/metrics`, `/healthz`) answer a write as they did, a 405.
pub async fn refuse_on_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = super::routed_path(req.request());
    if !req.method().is_safe()
        && req.headers().contains_key(header::IF_NONE_MATCH)
        && path.starts_with("/api/v1/")
        && super::fallback::allowed_methods(path)
            .iter()
            .any(|m| m == req.method().as_str())
    {
        return Ok(req.into_response(unsafe_if_none_match().error_response()));
    }
    next.call(req).await.map(|r| r.map_into_boxed_body())
}

/// Not every write takes `If-Match` (a pin, a restore, a create do not):
/// the answer must not promise a guard where there is none.
fn unsafe_if_none_match() -> ApiError {
    ApiError::BadRequest(
        "If-None-Match is not supported on writes (it is evaluated on GET and HEAD only); where \
         an operation documents If-Match, send that with the ETag you read to guard the write \
         (412 if the record is no longer at that version)"
            .into(),
    )
}

/// The `If-None-Match` list, over one header line or several: they are one
/// comma-separated list (RFC 9110 §5.3), as `If-Match` reads them; only the
/// first line was read, and a tag held on the second was a 200. A line that
/// is not text holds no tag of ours.
fn if_none_match(req: &ServiceRequest) -> Option<String> {
    let lines: Vec<&str> = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!lines.is_empty()).then(|| lines.join(", "))
}

/// A successful answer tagged with a bare version gets the digest of its
/// body in the tag. Bodies are whole JSON documents here; a streamed one
/// (none carries a tag today) would keep its tag as it is.
fn with_digest(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let version = res
        .headers()
        .get(header::ETAG)
        .and_then(|tag| tag.to_str().ok())
        .and_then(|tag| tag.strip_prefix('"')?.strip_suffix('"'))
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string);
    let Some(version) = version.filter(|_| res.status().is_success()) else {
        return res;
    };
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let body = match body.try_into_bytes() {
        Ok(bytes) => {
            let tag = tag(&version, &bytes);
            if let Ok(value) = HeaderValue::from_str(&tag) {
                head.headers_mut().insert(header::ETAG, value);
            }
            BoxBody::new(bytes)
        }
        Err(body) => body,
    };
    ServiceResponse::new(req, head.set_body(body))
}

/// `"<version>.<CRC-32 of the body, 8 hex digits>"`.
fn tag(version: &str, body: &[u8]) -> String {
    format!("\"{version}.{:08x}\"", crc32fast::hash(body))
}

/// Whether `If-None-Match` (a list of tags, or `*`) holds `etag`, by the weak
/// comparison RFC 9110 §13.1.2 asks for (`W/"3"` matches `"3"`).
fn matches(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    if_none_match.trim() == "*" || if_none_match.split(',').any(|t| opaque(t) == opaque(etag))
}

#[cfg(test)]
mod tests {
    use super::{matches, tag};

    #[test]
    fn the_tag_is_the_version_and_a_digest_of_the_body() {
        let one = tag("7", br#"{"id":1,"purchase_count":1}"#);
        assert_eq!(one.len(), "\"7.\"".len() + 8, "{one}");
        assert!(one.starts_with("\"7."), "{one}");
        assert_eq!(one, tag("7", br#"{"id":1,"purchase_count":1}"#));
        assert_ne!(one, tag("7", br#"{"id":1,"purchase_count":2}"#));
    }

    #[test]
    fn weak_comparison_over_a_list() {
        assert!(matches("\"3\"", "\"3\""));
        assert!(matches("W/\"3\"", "\"3\""));
        assert!(matches("\"1\", W/\"3\"", "\"3\""));
        assert!(matches("*", "\"3\""));
        assert!(!matches("\"4\"", "\"3\""));
        assert!(!matches("\"13\"", "\"3\""));
        assert!(!matches("3", "\"3\""));
    }
}
