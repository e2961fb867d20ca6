//! Per-user rate limits: 429 with Retry-After and RateLimit-* headers.

use patron::config::Config;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

fn limited(config: &mut Config) {
    config.rate_limit_per_min = 5;
    config.rate_limit_integration_per_min = 20;
}

async fn over_the_limit_is_429_with_headers(app: TestApp) {
    let token = app.admin_token().await;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = app.get("/api/v1/customers", &token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
        remaining.push(
            r.header("ratelimit-remaining")
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
        assert!(r.header("ratelimit-reset").unwrap().parse::<u64>().is_ok());
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    let r = app.get("/api/v1/customers", &token).await;
    let body = r.problem(429);
    assert_eq!(body["type"], "/problems/rate-limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "retry after {retry}");
    assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
    // Limits are per user, not per token: logging in (not counted) again
    // does not reset them.
    let again = app
        .token(&app.admin_email.clone(), &app.admin_password.clone())
        .await;
    let r = app.get("/api/v1/customers", &again).await;
    assert_eq!(
        r.status, 429,
        "the same user with a new token is still limited"
    );
    // Nor is a login counted when it carries the limited user's token, as an
    // SDK sending it on every call does (review).
    let login = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .bearer_auth(&token)
        .json(&json!({"email": app.admin_email.clone(), "password": app.admin_password.clone()}));
    let r = app.send(login).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("ratelimit-limit").is_none(),
        "{:?}",
        r.header("ratelimit-limit")
    );
    // Unauthenticated requests are not counted against anyone (401 as usual).
    app.get("/api/v1/customers", "").await.problem(401);
    // Health checks are never limited.
    assert_eq!(app.get("/healthz", &token).await.status, 200);
}

async fn integration_users_get_the_higher_limit(app: TestApp) {
    let (_, integration) = app.user_with_role("integration").await;
    for _ in 0..6 {
        let r = app.get("/api/v1/customers", &integration).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("20"));
    }
    let (_, viewer) = app.user_with_role("viewer").await;
    let r = app.get("/api/v1/customers", &viewer).await;
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
}

/// The limit follows the user's current role, not the one in the token: a
/// user moved out of `integration` gets the ordinary limit at once.
async fn the_limit_follows_a_role_change_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_role("integration").await;
    let r = app.get("/api/v1/customers", &token).await;
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("20"));
    let moved = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            &serde_json::json!({"role": "manager"}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let r = app.get("/api/v1/customers", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
}

backend_tests!(configured by limited;
    over_the_limit_is_429_with_headers,
    integration_users_get_the_higher_limit,
    the_limit_follows_a_role_change_at_once,
    the_headers_of_a_success_are_in_the_spec,
);

/// Headers HTTP itself sends, and the ones every answer carries (CORS,
/// `nosniff`); every other header of an answer is the operation's and must be
/// declared on its response in the spec.
const TRANSPORT: [&str; 9] = [
    "access-control-expose-headers",
    "x-content-type-options",
    "content-type",
    "content-length",
    "date",
    "vary",
    "connection",
    "transfer-encoding",
    "content-encoding",
];

/// Each answer's own headers that its operation's response does not declare.
fn undeclared(spec: &Value, method: &str, path: &str, r: &Resp) -> Vec<String> {
    let response = &spec["paths"][path][method]["responses"][r.status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} {} is not in the spec",
        r.status
    );
    let declared: Vec<String> = response["headers"]
        .as_object()
        .map(|h| h.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    r.headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| !TRANSPORT.contains(&k.as_str()) && !declared.contains(k))
        .collect()
}

/// Found by a review: the rate limiter's headers went on every counted
/// answer but the spec named them on the 429 only, and a churn record's
/// `Location` was not in the spec at all.
async fn the_headers_of_a_success_are_in_the_spec(app: TestApp) {
    let spec = app.get("/openapi.json", "").await.body;
    let (_, token) = app.user_with_role("integration").await;
    let create = || {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "headers-1")
            .json(&json!({"kind": "individual", "name": "Headers"}))
    };
    let created = app.send(create()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let replayed = app.send(create()).await;
    assert_eq!(
        replayed.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    let id = created.id();
    let card = format!("/api/v1/customers/{id}");
    let read = app.get(&card, &token).await;
    let list = app.get("/api/v1/customers", &token).await;
    let churned = app
        .post(
            &format!("{card}/churn"),
            &token,
            &json!({"reason": "natural"}),
        )
        .await;
    assert_eq!(churned.status, 201, "{}", churned.text);
    assert!(
        churned.header("location").is_some(),
        "{:?}",
        churned.headers
    );
    for (method, path, r) in [
        ("post", "/api/v1/customers", &created),
        ("post", "/api/v1/customers", &replayed),
        ("get", "/api/v1/customers/{id}", &read),
        ("get", "/api/v1/customers", &list),
        ("post", "/api/v1/customers/{id}/churn", &churned),
    ] {
        assert!(
            r.header("ratelimit-limit").is_some(),
            "{method} {path}: {:?}",
            r.headers
        );
        assert_eq!(
            undeclared(&spec, method, path, r),
            Vec::<String>::new(),
            "{method} {path}"
        );
    }
}
