//! Routes only some roles may call (users and webhooks: admins; settings,
//! surveys, recomputes and CPR pins: admins and managers; the change feed:
//! admins, managers and integrations). The handlers check the same rule; it
//! is applied here too, before anything of the request is read, so that
//! another role gets its 403 and not a 400 about the query, a 422 about the
//! body or the `Idempotency-Key`, or the replay of an answer it was given
//! when its role still allowed the call.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::ResponseError;

use crate::domain::codes::Role;

const ADMIN: &[Role] = &[Role::Admin];
const EDITORS: &[Role] = &[Role::Admin, Role::Manager];
const FEED: &[Role] = &[Role::Admin, Role::Manager, Role::Integration];

/// (method, path under `/api/v1` with `{}` for one segment, roles allowed).
/// `GET` covers `HEAD`. `GET /users/{id}` is not here: a user reads itself.
pub const CLOSED: &[(&str, &str, &[Role])] = &[
    // Managers hand cards over: they pick the new owner from the users.
    ("GET", "/users", EDITORS),
    ("POST", "/users", ADMIN),
    ("PATCH", "/users/{}", ADMIN),
    ("GET", "/webhooks", ADMIN),
    ("POST", "/webhooks", ADMIN),
    ("GET", "/webhooks/{}", ADMIN),
    ("PATCH", "/webhooks/{}", ADMIN),
    ("DELETE", "/webhooks/{}", ADMIN),
    ("GET", "/webhooks/{}/deliveries", ADMIN),
    ("POST", "/webhooks/{}/replay", ADMIN),
    ("GET", "/changes", FEED),
    ("GET", "/changes/head", FEED),
    ("PUT", "/settings/cpr", EDITORS),
    ("PUT", "/settings/tiers", EDITORS),
    ("PUT", "/settings/loyalty", EDITORS),
    ("PUT", "/settings/churn", EDITORS),
    ("POST", "/surveys", EDITORS),
    ("PATCH", "/surveys/{}", EDITORS),
    ("DELETE", "/surveys/{}", EDITORS),
    ("PUT", "/customers/{}/cpr/pin", EDITORS),
    ("DELETE", "/customers/{}/cpr/pin", EDITORS),
    ("POST", "/cpr/recompute", EDITORS),
    ("POST", "/tiers/recompute", EDITORS),
];

/// The roles allowed to call `method path`, if the route is closed to some.
pub fn allowed(method: &Method, path: &str) -> Option<&'static [Role]> {
    let path = path.strip_prefix("/api/v1/")?;
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    // Every request passes here: the first segment rejects most patterns
    // before any is split (splitting the path once per pattern was ~2.9 k
    // instructions of a card read's ~168 k, docs/BENCHMARKS.md session 40).
    let first = path.split_once('/').map_or(path, |(first, _)| first);
    CLOSED
        .iter()
        .find(|(m, pattern, _)| {
            *m == method && starts_with_segment(pattern, first) && matches(pattern, path)
        })
        .map(|(_, _, roles)| *roles)
}

/// Whether `pattern` (`/first/...`) begins with the segment `first`.
fn starts_with_segment(pattern: &str, first: &str) -> bool {
    pattern
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(first))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `pattern` (without its leading `/`) against the path's segments.
fn matches(pattern: &str, path: &str) -> bool {
    let mut wanted = pattern.trim_start_matches('/').split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some("{}"), Some(segment)) if !segment.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // A request without a valid token is left to the handler's 401.
    if let Some(roles) = allowed(req.method(), super::routed_path(req.request())) {
        let user = crate::auth::extract::authenticate(req.request()).await;
        if let Ok(user) = user {
            if let Err(refusal) = user.require_any(roles) {
                return Ok(req.into_response(refusal.error_response()));
            }
        }
    }
    next.call(req).await.map(|r| r.map_into_boxed_body())
}

/// The sentence the spec adds to a closed operation's description.
pub fn spec_note(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    format!(
        "Roles: {} only; any other gets 403 before its request is read.",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_by_method_and_segment() {
        let get = Method::GET;
        assert_eq!(allowed(&get, "/api/v1/users"), Some(EDITORS));
        assert_eq!(allowed(&Method::HEAD, "/api/v1/users"), Some(EDITORS));
        assert_eq!(allowed(&Method::POST, "/api/v1/users"), Some(ADMIN));
        assert_eq!(
            allowed(&get, "/api/v1/users/7"),
            None,
            "a user reads itself"
        );
        assert_eq!(allowed(&Method::PATCH, "/api/v1/users/7"), Some(ADMIN));
        assert_eq!(allowed(&Method::PATCH, "/api/v1/users/"), None);
        assert_eq!(allowed(&Method::PATCH, "/api/v1/users/7/x"), None);
        assert_eq!(allowed(&get, "/api/v1/changes/head"), Some(FEED));
        assert_eq!(
            allowed(&Method::PUT, "/api/v1/customers/3/cpr/pin"),
            Some(EDITORS)
        );
        assert_eq!(allowed(&get, "/api/v1/customers/3/cpr"), None);
        assert_eq!(allowed(&get, "/api/v1/customers"), None);
        assert_eq!(allowed(&Method::POST, "/users"), None);
        assert_eq!(allowed(&Method::DELETE, "/api/v1/users/7"), None);
        // A first segment that only begins like a closed one.
        assert_eq!(allowed(&get, "/api/v1/usersx"), None);
        assert_eq!(allowed(&get, "/api/v1/changesx/head"), None);
        assert_eq!(allowed(&get, "/api/v1/"), None);
    }
}
