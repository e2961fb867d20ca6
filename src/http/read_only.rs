//! Viewers read only (API.md): their writes are refused here, before the
//! handler's extractors read the body and the path ids, so a viewer gets the
//! 403 it is owed and not the 422 or 404 of a request it had no right to
//! make. In the handlers it would depend on which extractor finished first.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::ResponseError;

use crate::domain::codes::Role;
use crate::error::ApiError;

/// The POSTs that change nothing: a query too large for a URL, and logging in
/// (which any token may carry along).
const READ_POSTS: [&str; 3] = [
    "/api/v1/segments/preview",
    "/api/v1/analytics/customer-share",
    "/api/v1/auth/token",
];

/// Is this a POST that changes nothing (a query too large for a URL, or
/// logging in)?
pub fn reads_only(method: &Method, path: &str) -> bool {
    method == Method::POST && READ_POSTS.contains(&path)
}

/// Does this request ask to change data? Any write method under the API
/// does, routed or not: telling a viewer's 404 or 405 from its 403 would
/// need the route table, which is built from the OpenAPI document, and
/// that is built on first use only (its CPU and memory stay out of a server
/// that never serves it; docs/BENCHMARKS.md, session 22).
/// The spec lists a 403 by the same rule (`openapi::complete`).
pub fn writes(method: &Method, path: &str) -> bool {
    let changes = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method);
    changes
        && path.starts_with("/api/v1/")
        && !(reads_only(method, path) || (method == Method::POST && path == OWN_PASSWORD))
}

/// A viewer's own password is its own to change: it writes no CRM data.
const OWN_PASSWORD: &str = super::auth_password::PATH;

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // A request without a valid token is left to the handler's 401.
    if writes(req.method(), super::routed_path(req.request())) {
        let user = crate::auth::extract::authenticate(req.request()).await;
        if matches!(user, Ok(ref u) if u.role == Role::Viewer) {
            let refusal = ApiError::Forbidden("viewers have read-only access".into());
            return Ok(req.into_response(refusal.error_response()));
        }
    }
    next.call(req).await.map(|r| r.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_under_the_api_are_writes() {
        assert!(writes(&Method::POST, "/api/v1/customers"));
        assert!(writes(&Method::DELETE, "/api/v1/customers/7"));
        assert!(writes(&Method::PUT, "/api/v1/settings/tiers"));
        assert!(writes(&Method::PATCH, "/api/v1/users/3"));
        assert!(!writes(&Method::GET, "/api/v1/customers"));
        assert!(!writes(&Method::HEAD, "/api/v1/customers"));
        assert!(!writes(&Method::OPTIONS, "/api/v1/customers"));
        assert!(!writes(&Method::POST, "/api/v1/segments/preview"));
        assert!(!writes(&Method::POST, "/api/v1/analytics/customer-share"));
        assert!(!writes(&Method::POST, "/api/v1/auth/token"));
        assert!(writes(&Method::POST, "/api/v1/segments/7/members"));
        assert!(writes(&Method::POST, "/api/v1/segments/preview/x"));
        assert!(writes(&Method::DELETE, "/api/v1/segments/preview"));
        assert!(!writes(&Method::POST, "/metrics"));
    }
}
