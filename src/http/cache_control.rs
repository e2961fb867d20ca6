//! `Cache-Control: private, no-cache` and `Vary: Authorization` on every
//! answer under `/api/v1` that does not set its own (`POST /auth/token`
//! keeps its `no-store`).
//!
//! The answers hold personal data (cards with phone and e-mail, user lists,
//! the CSV export) and carried no directive: a private cache (a browser
//! behind a CORS frontend, an integrator's HTTP client) could keep one and
//! reuse it heuristically (RFC 9111 §4.2.2), and, without `Authorization` in
//! `Vary`, hand it to the next user logged in on the same machine (a
//! review). `no-cache` still lets a client store a copy, but only to
//! revalidate it: the ETag / `If-None-Match` / 304 path keeps its savings.
//! Shared caches already do not store answers to requests with
//! `Authorization` (RFC 9111 §3.5); `private` says so to the others.
//!
//! Errors, 304s and answers made by the middlewares (429, 405, 404 of an
//! unrouted path) get it too: the middleware sits outside all of them.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;

pub const DEFAULT: &str = "private, no-cache";

pub async fn private(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let api = under_api(super::routed_path(req.request()));
    match next.call(req).await {
        Ok(mut res) => {
            if api {
                mark(res.headers_mut());
            }
            Ok(res.map_into_boxed_body())
        }
        // An error an inner layer passes on (the handlers' own are answers
        // by now) is answered by actix further out: its answer, marked,
        // goes with it.
        Err(e) if api => {
            let mut answer = e.error_response();
            mark(answer.headers_mut());
            Err(actix_web::error::InternalError::from_response(e, answer).into())
        }
        Err(e) => Err(e),
    }
}

/// The directive and `Vary`, unless the answer set its own directive.
fn mark(headers: &mut HeaderMap) {
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(DEFAULT));
        vary_authorization(headers);
    }
}

/// `/api/v1` and below (as routed: `/api/v%31/...` is the API too).
fn under_api(path: &str) -> bool {
    path.strip_prefix("/api/v1")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Adds `Authorization` to `Vary`, kept as one line (CORS writes `Origin, …`
/// there), unless it is listed already or `Vary` is `*`.
fn vary_authorization(headers: &mut HeaderMap) {
    // Most answers (no CORS request) have no `Vary`: no list to build.
    if !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
        return;
    }
    let listed: Vec<String> = headers
        .get_all(header::VARY)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect();
    if listed
        .iter()
        .any(|name| name == "*" || name.eq_ignore_ascii_case("authorization"))
    {
        return;
    }
    let mut names = listed;
    names.push("Authorization".to_string());
    if let Ok(value) = HeaderValue::from_str(&names.join(", ")) {
        headers.insert(header::VARY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vary(lines: &[&'static str]) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(header::VARY, HeaderValue::from_static(line));
        }
        vary_authorization(&mut headers);
        headers
            .get_all(header::VARY)
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn authorization_is_added_to_vary_once() {
        assert_eq!(vary(&[]), ["Authorization"]);
        assert_eq!(
            vary(&["Origin, Access-Control-Request-Method"]),
            ["Origin, Access-Control-Request-Method, Authorization"]
        );
        assert_eq!(
            vary(&["Origin", "Accept"]),
            ["Origin, Accept, Authorization"]
        );
        assert_eq!(vary(&["origin, authorization"]), ["origin, authorization"]);
        assert_eq!(vary(&["*"]), ["*"]);
    }

    #[test]
    fn only_the_api_is_marked() {
        assert!(under_api("/api/v1"));
        assert!(under_api("/api/v1/customers/1"));
        assert!(!under_api("/api/v10/customers"));
        assert!(!under_api("/healthz"));
        assert!(!under_api("/openapi.json"));
    }
}
