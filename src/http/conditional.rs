//! `If-None-Match` on reads (RFC 9110 §13.1.2): a GET or HEAD whose answer
//! carries the entity tag the client already holds is a 304 without a body,
//! with the answer's other headers (ETag, RateLimit-*) kept. The handler
//! still runs (the tag is the stored version, read with the record); what
//! the client saves is the transfer and the parsing. A review found the
//! header ignored on every record, though each read sends an ETag.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::HttpResponse;

pub async fn not_modified(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let wanted = (req.method() == Method::GET || req.method() == Method::HEAD)
        .then(|| req.headers().get(header::IF_NONE_MATCH).cloned())
        .flatten();
    let res = next.call(req).await?;
    let Some(wanted) = wanted else {
        return Ok(res.map_into_boxed_body());
    };
    let held = res.status() == StatusCode::OK
        && res
            .headers()
            .get(header::ETAG)
            .and_then(|tag| tag.to_str().ok())
            .zip(wanted.to_str().ok())
            .is_some_and(|(tag, wanted)| matches(wanted, tag));
    if !held {
        return Ok(res.map_into_boxed_body());
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

/// Whether `If-None-Match` (a list of tags, or `*`) holds `etag`, by the weak
/// comparison RFC 9110 §13.1.2 asks for (`W/"3"` matches `"3"`).
fn matches(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    if_none_match.trim() == "*" || if_none_match.split(',').any(|t| opaque(t) == opaque(etag))
}

#[cfg(test)]
mod tests {
    use super::matches;

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
